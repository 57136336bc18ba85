/*
** test_net.c: the network's pure parts (host/net/): host patterns, CIDRs
** and the check of resolved addresses, secrets' scrubbing, and the HTTP
** filter that puts values in place of placeholders in header values only.
*/
#include <arpa/inet.h>
#include <string.h>

#include "eryx_test.h"
#include "net/net.h"

ERYX_TEST(host_patterns)
{
    ASSERT(eryx__net_host_match("*.example.com", "api.example.com"));
    ASSERT(eryx__net_host_match("*.example.com", "a.b.EXAMPLE.com"));
    ASSERT(!eryx__net_host_match("*.example.com", "example.com"));
    ASSERT(!eryx__net_host_match("*.example.com", "example.com.evil"));
    ASSERT(eryx__net_host_match("api.*.com", "api.x.com"));
    ASSERT(eryx__net_host_match("127.*", "127.0.0.1"));
    ASSERT(eryx__net_host_match("*", "anything"));
    ASSERT(!eryx__net_host_match("localhost", "localhost2"));
    ASSERT(eryx__net_host_match("LocalHost", "localhost"));
}

ERYX_TEST(cidrs)
{
    eryx__cidr c;
    ASSERT(eryx__cidr_parse("10.0.0.0/8", &c) && c.bits == 104);
    ASSERT(eryx__cidr_parse("::1/128", &c) && c.bits == 128);
    ASSERT(eryx__cidr_parse("192.168.1.1", &c) && c.bits == 128);
    ASSERT(!eryx__cidr_parse("10.0.0.0/33", &c));
    ASSERT(!eryx__cidr_parse("10.0.0.0/", &c));
    ASSERT(!eryx__cidr_parse("10.0.0/8", &c));
    ASSERT(!eryx__cidr_parse("fe80::/129", &c));
    ASSERT(!eryx__cidr_parse("x", &c));
    ASSERT(!eryx__cidr_parse("", &c));
}

/* May the default policy reach `addr` (an IPv4 or IPv6 literal)? */
static bool
allowed(eryx_netconfig *nc, const char *host, const char *addr)
{
    eryx__netpolicy *p = eryx__netconfig_freeze(nc);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(addr, ':') != NULL) {
        ss.ss_family = AF_INET6;
        inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    } else {
        ss.ss_family = AF_INET;
        inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr);
    }
    char why[256];
    bool ok = eryx__netpolicy_addr_ok(p, host, (struct sockaddr *)&ss, why,
                                      sizeof why);
    eryx__netpolicy_unref(p);
    return ok;
}

ERYX_TEST(every_non_public_address_is_blocked_by_default)
{
    eryx_netconfig *nc;
    ASSERT_EQ(eryx_netconfig_new(&nc, NULL), ERYX_OK);
    static const char *const blocked[] = {
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "::7f00:1",
        "2002:7f00:1::1",
        "fd00:ec2::254",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
        if (allowed(nc, "h.example", blocked[i]))
            ERYX_TEST_FAIL_("%s was allowed", blocked[i]);
    }
    ASSERT(allowed(nc, "h.example", "93.184.216.34"));
    ASSERT(allowed(nc, "h.example", "2606:4700::1"));
    ASSERT(allowed(nc, "h.example", "::ffff:8.8.8.8"));
    /* Exemptions: a network, or a host pattern. */
    ASSERT_EQ(
        eryx_netconfig_add(nc, ERYX_NET_ALLOWED_NETWORKS, "10.9.0.0/16", NULL),
        ERYX_OK);
    ASSERT(allowed(nc, "h.example", "10.9.1.1"));
    ASSERT(!allowed(nc, "h.example", "10.8.1.1"));
    ASSERT_EQ(eryx_netconfig_add(nc, ERYX_NET_INTERNAL_HOSTS, "*.corp", NULL),
              ERYX_OK);
    ASSERT(allowed(nc, "db.corp", "10.8.1.1"));
    ASSERT_EQ(
        eryx_netconfig_add(nc, ERYX_NET_BLOCKED_NETWORKS, "nonsense", NULL),
        ERYX_E_INVALID_ARG);
    eryx_netconfig_free(nc);
}

ERYX_TEST(host_names_before_resolution)
{
    eryx_netconfig *nc;
    ASSERT_EQ(eryx_netconfig_new(&nc, NULL), ERYX_OK);
    ASSERT_EQ(
        eryx_netconfig_add(nc, ERYX_NET_ALLOWED_HOSTS, "*.example.com", NULL),
        ERYX_OK);
    eryx__netpolicy *p = eryx__netconfig_freeze(nc);
    char why[256];
    ASSERT(eryx__netpolicy_host_ok(p, "api.example.com", why, sizeof why));
    ASSERT(!eryx__netpolicy_host_ok(p, "example.org", why, sizeof why));
    ASSERT(strstr(why, "not among") != NULL);
    ASSERT(!eryx__netpolicy_host_ok(p, "localhost", why, sizeof why));
    ASSERT(strstr(why, "blocked") != NULL);
    eryx__netpolicy_unref(p);
    eryx_netconfig_free(nc);
}

static eryx__secrets *
one_secret(const char *value, const char *host)
{
    eryx__secrets *s = NULL;
    const char *hosts[1] = {host};
    ASSERT_EQ(
        eryx__secrets_add(NULL, "TOKEN", value, hosts, host ? 1 : 0, &s, NULL),
        ERYX_OK);
    return s;
}

ERYX_TEST(scrubbing_and_what_a_stream_holds_back)
{
    eryx__secrets *s = one_secret("hunter2-value", NULL);
    const char *ph = s->items[0].placeholder;
    ASSERT_EQ(strlen(ph), 56u);
    char in[256];
    snprintf(in, sizeof in, "a %s b hunter2-value c \"hunter2-value\"", ph);
    size_t n;
    bool nomem;
    char *out = eryx__secrets_scrub(s, in, strlen(in), &n, &nomem);
    ASSERT(out != NULL);
    ASSERT_STR_EQ(out, "a [REDACTED] b [REDACTED] c \"[REDACTED]\"");
    eryx__free(out);
    ASSERT(eryx__secrets_scrub(s, "clean", 5, &n, &nomem) == NULL && !nomem);
    ASSERT_EQ(eryx__secrets_tail(s, "xx hunter2", 10), 7u);
    ASSERT_EQ(eryx__secrets_tail(s, "xx ERYX_SEC", 11), 8u);
    ASSERT_EQ(eryx__secrets_tail(s, "nothing", 7), 0u);
    ASSERT_EQ(strncmp(s->env, "TOKEN=ERYX_SECRET_PLACEHOLDER_", 30), 0);
    eryx__secrets_unref(s);
    /* Bad secrets. */
    eryx__secrets *bad = NULL;
    ASSERT_EQ(eryx__secrets_add(NULL, "1X", "v", NULL, 0, &bad, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx__secrets_add(NULL, "X", "a\r\nb", NULL, 0, &bad, NULL),
              ERYX_E_INVALID_ARG);
    ASSERT_EQ(eryx__secrets_add(NULL, "X", "", NULL, 0, &bad, NULL),
              ERYX_E_INVALID_ARG);
}

/* Run `in` through a fresh filter for `host`, in pieces of `step` bytes. */
static char *
filter(const eryx__secrets *s,
       const char *host,
       const char *in,
       size_t step,
       int *err)
{
    eryx__http_filter f;
    eryx__http_filter_init(&f);
    uint8_t *out = NULL;
    size_t len = 0, cap = 0, n = strlen(in);
    *err = 0;
    for (size_t i = 0; i < n && *err == 0; i += step) {
        size_t k = n - i < step ? n - i : step;
        *err = eryx__http_filter_run(&f, s, host, (const uint8_t *)in + i, k,
                                     &out, &len, &cap);
    }
    eryx__http_filter_free(&f);
    char *text = eryx__memdup(out ? (char *)out : "", len);
    eryx__free(out);
    return text;
}

ERYX_TEST(http_filter_substitutes_header_values_only)
{
    eryx__secrets *s = one_secret("REAL", "*.example.com");
    const char *ph = s->items[0].placeholder;
    char in[1024], want[1024];
    snprintf(in, sizeof in,
             "POST /%s HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
             "Content-Length: 60\r\n\r\n%s----"
             "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX: %s\r\n\r\n"
             "3c\r\n%s----\r\n0\r\n\r\n"
             "GET / HTTP/1.1\r\nX: %s\r\n\r\n",
             ph, ph, ph, ph, ph, ph);
    snprintf(want, sizeof want,
             "POST /%s HTTP/1.1\r\nAuthorization: Bearer REAL\r\n"
             "Content-Length: 60\r\n\r\n%s----"
             "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX: REAL\r\n\r\n"
             "3c\r\n%s----\r\n0\r\n\r\n"
             "GET / HTTP/1.1\r\nX: REAL\r\n\r\n",
             ph, ph, ph);
    static const size_t steps[] = {1, 7, 64, 100000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int err;
        char *out = filter(s, "api.example.com", in, steps[i], &err);
        ASSERT_EQ(err, 0);
        ASSERT_STR_EQ(out, want);
        eryx__free(out);
    }
    /* Another host: nothing substituted. */
    int err;
    char *out = filter(s, "example.org", in, 5, &err);
    ASSERT_STR_EQ(out, in);
    eryx__free(out);
    /* HTTP/2's preface is refused. */
    out = filter(s, "api.example.com", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 3,
                 &err);
    ASSERT_EQ(err, ERYX__NET_EPROTO);
    eryx__free(out);
    eryx__secrets_unref(s);
}

ERYX_TEST(substitution_cannot_blow_up_the_host_buffer)
{
    /* A 64 KiB value, and a request whose header holds 100 placeholders:
       at most ERYX__HTTP_EXPANSION_MAX is added; the rest go as they
       are. */
    char *value = eryx__malloc(65537);
    memset(value, 'v', 65536);
    value[65536] = '\0';
    eryx__secrets *s = one_secret(value, "*");
    const char *ph = s->items[0].placeholder;
    size_t pl = strlen(ph);
    char *in = eryx__malloc(100 * pl + 64);
    size_t n = (size_t)sprintf(in, "GET / HTTP/1.1\r\nX: ");
    for (int i = 0; i < 100; i++) {
        memcpy(in + n, ph, pl);
        n += pl;
    }
    memcpy(in + n, "\r\n\r\n", 5);
    int err;
    char *out = filter(s, "h", in, 100000, &err);
    ASSERT_EQ(err, 0);
    size_t len = strlen(out);
    ASSERT(len <= strlen(in) + ERYX__HTTP_EXPANSION_MAX);
    ASSERT(strstr(out, ph) != NULL); /* the later ones went as they were */
    ASSERT(strstr(out, "vvvv") != NULL);
    eryx__free(out);
    eryx__free(in);
    eryx__free(value);
    eryx__secrets_unref(s);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(host_patterns),
        ERYX_TEST_ENTRY(cidrs),
        ERYX_TEST_ENTRY(every_non_public_address_is_blocked_by_default),
        ERYX_TEST_ENTRY(host_names_before_resolution),
        ERYX_TEST_ENTRY(scrubbing_and_what_a_stream_holds_back),
        ERYX_TEST_ENTRY(http_filter_substitutes_header_values_only),
        ERYX_TEST_ENTRY(substitution_cannot_blow_up_the_host_buffer),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
