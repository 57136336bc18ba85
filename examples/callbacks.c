/*
** callbacks.c: two host callbacks awaited from sandboxed Python with
** asyncio.gather.  get_time answers at once; lookup_user answers later,
** from a thread of its own, as a host with its own event loop would.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <eryx.h>

/* get_time(): answers before returning. */
static void
get_time(void *userdata, const char *args, size_t len, eryx_call *call)
{
    (void)userdata, (void)args, (void)len;
    char json[64];
    int n =
        snprintf(json, sizeof json, "{\"unix\": %lld}", (long long)time(NULL));
    eryx_call_return(call, json, (size_t)n);
}

struct lookup {
    eryx_call *call;
    char args[256];
};

static void *
answer_lookup(void *arg)
{
    struct lookup *job = arg;
    struct timespec pause = {0, 50L * 1000 * 1000};
    nanosleep(&pause, NULL); /* pretend to ask a database */
    char json[384];
    int n = snprintf(json, sizeof json,
                     "{\"query\": %s, \"name\": \"Ada\", \"thread\": "
                     "\"another one\"}",
                     job->args);
    eryx_call_return(job->call, json, (size_t)n);
    free(job);
    return NULL;
}

/* lookup_user(id): hands the call to another thread and returns. */
static void
lookup_user(void *userdata, const char *args, size_t len, eryx_call *call)
{
    (void)userdata;
    struct lookup *job = malloc(sizeof *job);
    pthread_t thread;
    if (job == NULL || len >= sizeof job->args ||
        pthread_create(&thread, NULL, answer_lookup, job) != 0) {
        free(job);
        eryx_call_fail(call, "cannot start the lookup", 23);
        return;
    }
    job->call = call;
    memcpy(job->args, args, len + 1);
    pthread_detach(thread);
}

static const char code[] =
    "import asyncio\n"
    "print([c['name'] for c in list_callbacks()])\n"
    "now, user = await asyncio.gather(get_time(), lookup_user(id=7))\n"
    "print('user:', user['name'], 'from', user['thread'], 'thread')\n"
    "print('time is a number:', isinstance(now['unix'], int))\n"
    "result = {'user': user['query']['id']}\n";

int
main(void)
{
    eryx_error err;
    eryx_config *config = NULL;
    eryx_engine *engine = NULL;
    eryx_sandbox *sandbox = NULL;
    eryx_result *result = NULL;
    int status = 1;

    if (eryx_config_new(&config, &err) != ERYX_OK ||
        eryx_config_add_callback(config, "get_time", "The host's clock.", NULL,
                                 get_time, NULL, NULL, &err) != ERYX_OK ||
        eryx_config_add_callback(
            config, "lookup_user", "Look a user up by id.",
            "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": "
            "\"integer\"}}, \"required\": [\"id\"]}",
            lookup_user, NULL, NULL, &err) != ERYX_OK ||
        eryx_engine_new(config, &engine, &err) != ERYX_OK ||
        eryx_sandbox_new(engine, config, &sandbox, &err) != ERYX_OK ||
        eryx_sandbox_execute(sandbox, code, strlen(code), &result, &err) !=
            ERYX_OK) {
        fprintf(stderr, "callbacks: %s\n", err.message);
        goto done;
    }
    fputs(eryx_result_stdout(result, NULL), stdout);
    printf("result: %s (%u callback calls)\n", eryx_result_json(result, NULL),
           eryx_result_callback_invocations(result));
    status = 0;

done:
    eryx_result_free(result);
    eryx_sandbox_free(sandbox);
    eryx_engine_free(engine);
    eryx_config_free(config);
    return status;
}
