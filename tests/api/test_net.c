/*
** test_net.c: the network through the C API, against a loopback server
** this test runs in a thread: the policy's refusals, a name resolved
** (eryx_netconfig_resolve) into a blocked network, a secret substituted
** only for its host, and a blocked read cut by eryx_sandbox_cancel.
** (TLS, requests and httpx: bindings/python/tests/test_net.py.)
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_fixture.h"

/* A server answering every request "ok" (or, for GET /hang, never), and
   keeping every byte it read. */
static struct {
    int fd, port;
    pthread_mutex_t mu;
    char log[1 << 16];
    size_t len;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *
serve_one(void *arg)
{
    int c = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    ssize_t n;
    while (have < sizeof buf - 1 &&
           (n = recv(c, buf + have, sizeof buf - 1 - have, 0)) > 0) {
        pthread_mutex_lock(&srv.mu);
        size_t k = (size_t)n < sizeof srv.log - srv.len
                       ? (size_t)n
                       : sizeof srv.log - srv.len;
        memcpy(srv.log + srv.len, buf + have, k);
        srv.len += k;
        pthread_mutex_unlock(&srv.mu);
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    if (strncmp(buf, "GET /hang", 9) == 0) {
        sleep(5);
    } else {
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: "
                                 "2\r\nConnection: close\r\n\r\nok";
        (void)!send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
    }
    close(c);
    return NULL;
}

static void *
serve(void *unused)
{
    (void)unused;
    for (;;) {
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        pthread_create(&t, NULL, serve_one, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

static void
start_server(void)
{
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(srv.fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(srv.fd, 16), 0);
    socklen_t l = sizeof a;
    getsockname(srv.fd, (struct sockaddr *)&a, &l);
    srv.port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, serve, NULL);
    pthread_detach(t);
}

static char *
received(void)
{
    pthread_mutex_lock(&srv.mu);
    char *copy = strndup(srv.log, srv.len);
    srv.len = 0;
    pthread_mutex_unlock(&srv.mu);
    return copy;
}

/* A config with a policy allowing loopback (and api.test resolving to
   it when `resolve`). */
static eryx_config *
net_config(bool allow_loopback, bool resolve)
{
    eryx_config *cfg = NULL;
    eryx_netconfig *nc = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_netconfig_new(&nc, NULL), ERYX_OK);
    ASSERT_EQ(eryx_netconfig_clear(nc, ERYX_NET_BLOCKED_HOSTS, NULL), ERYX_OK);
    if (allow_loopback)
        ASSERT_EQ(eryx_netconfig_add(nc, ERYX_NET_ALLOWED_NETWORKS,
                                     "127.0.0.0/8", NULL),
                  ERYX_OK);
    if (resolve)
        ASSERT_EQ(eryx_netconfig_resolve(nc, "api.test", "127.0.0.1", NULL),
                  ERYX_OK);
    ASSERT_EQ(eryx_config_set_network(cfg, nc, NULL), ERYX_OK);
    eryx_netconfig_free(nc);
    return cfg;
}

static char *
get_code(const char *host, const char *path)
{
    static char code[1024];
    snprintf(code, sizeof code,
             "import http.client, os\n"
             "try:\n"
             "    c = http.client.HTTPConnection('%s', %d, timeout=10)\n"
             "    c.request('GET', '%s', headers={'X-Token': "
             "os.environ.get('TOKEN', '-')})\n"
             "    print(c.getresponse().read().decode())\n"
             "except OSError as e:\n"
             "    print(type(e).__name__, e)\n",
             host, srv.port, path);
    return code;
}

static void
expect_output(const eryx_config *cfg, const char *code, const char *want)
{
    eryx_result *r = run_with(cfg, code);
    ASSERT_EQ(eryx_result_status(r), ERYX_OK);
    ASSERT_CONTAINS(eryx_result_stdout(r, NULL), want);
    eryx_result_free(r);
}

ERYX_TEST(policy_refuses_and_allows)
{
    start_server();
    expect_output(NULL, get_code("127.0.0.1", "/"),
                  "PermissionError [Errno 2] the sandbox has no network");
    eryx_config *cfg = net_config(false, true);
    expect_output(cfg, get_code("127.0.0.1", "/"),
                  "resolves to 127.0.0.1, in the blocked network 127.0.0.0/8");
    expect_output(cfg, get_code("api.test", "/"),
                  "host 'api.test' resolves to 127.0.0.1");
    eryx_config_free(cfg);
    cfg = net_config(true, true);
    expect_output(cfg, get_code("api.test", "/"), "ok\n");
    expect_output(cfg, get_code("127.0.0.1", "/"), "ok\n");
    eryx_config_free(cfg);
    free(received());
}

ERYX_TEST(secrets_reach_only_their_host)
{
    start_server();
    eryx_config *cfg = net_config(true, true);
    const char *hosts[] = {"api.test"};
    ASSERT_EQ(
        eryx_config_add_secret(cfg, "TOKEN", "s3cr3t-value", hosts, 1, NULL),
        ERYX_OK);
    expect_output(cfg, get_code("api.test", "/"), "ok\n");
    char *log = received();
    ASSERT_CONTAINS(log, "X-Token: s3cr3t-value\r\n");
    free(log);
    expect_output(cfg, get_code("127.0.0.1", "/"), "ok\n");
    log = received();
    ASSERT(strstr(log, "s3cr3t-value") == NULL);
    ASSERT_CONTAINS(log, "X-Token: ERYX_SECRET_PLACEHOLDER_");
    free(log);
    /* The guest prints it: scrubbed. */
    expect_output(cfg,
                  "import os\nprint(os.environ['TOKEN'], 's3cr3t-value')\n",
                  "[REDACTED] [REDACTED]\n");
    eryx_config_free(cfg);
}

struct canceller {
    eryx_sandbox *sandbox;
};

static void *
cancel_soon(void *arg)
{
    struct canceller *c = arg;
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    eryx_sandbox_cancel(c->sandbox);
    return NULL;
}

ERYX_TEST(cancel_cuts_a_blocked_read)
{
    start_server();
    eryx_config *cfg = net_config(true, false);
    struct canceller c = {NULL};
    ASSERT_EQ(eryx_sandbox_new(test_engine(), cfg, &c.sandbox, NULL), ERYX_OK);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, cancel_soon, &c), 0);
    const char *code = get_code("127.0.0.1", "/hang");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    eryx_result *r = NULL;
    ASSERT_EQ(eryx_sandbox_execute(c.sandbox, code, strlen(code), &r, NULL),
              ERYX_E_CANCELLED);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    /* Cut within a second of the cancel, not when the server gives up. */
    ASSERT(t1.tv_sec - t0.tv_sec < 3);
    eryx_result_free(r);
    eryx_sandbox_free(c.sandbox);
    eryx_config_free(cfg);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(policy_refuses_and_allows),
        ERYX_TEST_ENTRY(secrets_reach_only_their_host),
        ERYX_TEST_ENTRY(cancel_cuts_a_blocked_read),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
