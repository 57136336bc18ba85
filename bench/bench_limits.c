/*
** bench_limits.c: how long each limit takes from its trigger to the error,
** in a session (so interpreter start-up is not counted).  Prints one table
** row per limit: median and worst of a few runs, in milliseconds.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <eryx.h>

#include "bench_util.h"

#define RUNS 5

static void
row(const char *what, const double *t)
{
    printf("| %-52s | %8.1f | %8.1f |\n", what, median(t, RUNS),
           percentile(t, RUNS, 100));
}

static eryx_call *held;

static void
hold(void *ud, const char *a, size_t n, eryx_call *call)
{
    (void)ud, (void)a, (void)n;
    held = call;
}

struct cancel_job {
    eryx_session *ss;
    int interrupt; /* KeyboardInterrupt instead of a cancel */
    double at;
};

static void *
cancel_after(void *arg)
{
    struct cancel_job *j = arg;
    sleep_ms(200);
    j->at = now_ms();
    if (j->interrupt)
        eryx_session_interrupt(j->ss);
    else
        eryx_session_cancel(j->ss);
    return NULL;
}

/* Time from the start of `code` (timeout 1000 ms) past 1000 ms, or, with
   `cancel` (1: a cancel, 2: an interrupt), from the call to the return. */
static double
measure(eryx_engine *eng, const char *code, int cancel)
{
    eryx_config *cfg = NULL;
    eryx_session *ss = NULL;
    eryx_result *r = NULL;
    eryx_config_new(&cfg, NULL);
    eryx_config_set_timeout_ms(cfg, cancel ? 0 : 1000, NULL);
    /* Loopback allowed, for the blocked reads. */
    eryx_netconfig *nc = NULL;
    eryx_netconfig_new(&nc, NULL);
    eryx_netconfig_clear(nc, ERYX_NET_BLOCKED_HOSTS, NULL);
    eryx_netconfig_add(nc, ERYX_NET_ALLOWED_NETWORKS, "127.0.0.0/8", NULL);
    eryx_config_set_network(cfg, nc, NULL);
    eryx_netconfig_free(nc);
    eryx_config_add_callback(cfg, "slow", "", NULL, hold, NULL, NULL, NULL);
    if (eryx_session_new(eng, cfg, &ss, NULL) != ERYX_OK)
        exit(1);
    eryx_session_execute(ss, "pass", 4, &r, NULL); /* warm */
    eryx_result_free(r);
    struct cancel_job job = {ss, cancel == 2, 0};
    pthread_t t;
    if (cancel)
        pthread_create(&t, NULL, cancel_after, &job);
    double t0 = now_ms();
    eryx_session_execute(ss, code, strlen(code), &r, NULL);
    double t1 = now_ms();
    if (cancel)
        pthread_join(t, NULL);
    eryx_result_free(r);
    eryx_session_free(ss);
    eryx_config_free(cfg);
    if (held != NULL) {
        eryx_call_return(held, "null", 4);
        held = NULL;
    }
    return cancel ? t1 - job.at : t1 - t0 - 1000.0;
}

int
main(void)
{
    eryx_engine *eng = NULL;
    eryx_error err;
    if (eryx_engine_new(NULL, &eng, &err) != ERYX_OK) {
        fprintf(stderr, "bench_limits: %s\n", err.message);
        return 1;
    }
    /* A listener that never accepts: connects complete (the kernel's
       backlog), reads wait forever. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        return 1;
    char read_code[160];
    snprintf(read_code, sizeof read_code,
             "import socket\n"
             "socket.create_connection(('127.0.0.1', %d)).recv(1)\n",
             ntohs(a.sin_port));
    const struct {
        const char *what, *code;
        int cancel;
    } cases[] = {
        {"timeout overshoot: compute loop", "while True: pass", 0},
        {"timeout overshoot: time.sleep(10)", "import time\ntime.sleep(10)", 0},
        {"timeout overshoot: waiting on a callback", "await slow()", 0},
        {"cancel to return: compute loop", "while True: pass", 1},
        {"cancel to return: time.sleep(60)", "import time\ntime.sleep(60)", 1},
        {"cancel to return: waiting on a callback", "await slow()", 1},
        {"timeout overshoot: a blocked socket read", read_code, 0},
        {"cancel to return: a blocked socket read", read_code, 1},
        {"interrupt (KeyboardInterrupt): compute loop", "while True: pass", 2},
        {"interrupt (KeyboardInterrupt): time.sleep(60)",
         "import time\ntime.sleep(60)", 2},
        {"interrupt (KeyboardInterrupt): waiting on a callback", "await slow()",
         2},
        {"interrupt (KeyboardInterrupt): a blocked socket read", read_code, 2},
    };
    printf("| %-52s | %8s | %8s |\n", "limit (1000 ms timeout)", "median",
           "worst");
    printf("|------------------------------------------------------|"
           "----------|----------|\n");
    double t[RUNS];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int i = 0; i < RUNS; i++)
            t[i] = measure(eng, cases[c].code, cases[c].cancel);
        row(cases[c].what, t);
    }
    /* Memory: from the start of a 1 GiB allocation to its MemoryError. */
    for (int i = 0; i < RUNS; i++) {
        eryx_sandbox *sb = NULL;
        eryx_result *r = NULL;
        eryx_sandbox_new(eng, NULL, &sb, NULL);
        eryx_sandbox_execute(sb, "pass", 4, &r, NULL);
        eryx_result_free(r);
        const char *code = "import time\nt = time.perf_counter()\n"
                           "try:\n    x = 'A' * (1 << 30)\n"
                           "except MemoryError:\n"
                           "    print((time.perf_counter() - t) * 1e3)\n";
        eryx_sandbox_execute(sb, code, strlen(code), &r, NULL);
        t[i] = atof(eryx_result_stdout(r, NULL));
        eryx_result_free(r);
        eryx_sandbox_free(sb);
    }
    row("memory: 1 GiB allocation to MemoryError (128 MiB)", t);
    close(lfd);
    eryx_engine_free(eng);
    return 0;
}
