/*
** fuzz_net.c: libFuzzer entry point over what the network parses of the
** guest's bytes (host/net/secrets.c, policy.c): the HTTP filter that puts
** secrets into header values, scrubbing, host patterns and CIDRs.  The
** first byte splits the rest into two writes.  Properties: the value
** leaves only where a placeholder came in (never more often than the
** input carried placeholders and values), and scrubbed text holds no
** placeholder or value.
*/
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static eryx__secrets *secrets;

static size_t
count(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), c = 0;
    for (size_t i = 0; k && i + k <= n; i++)
        c += memcmp(hay + i, needle, k) == 0;
    return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (secrets == NULL) {
        const char *hosts[] = {"*.example.com"};
        if (eryx__secrets_add(NULL, "T", "zq-secret-value", hosts, 1, &secrets,
                              NULL) != ERYX_OK)
            __builtin_trap();
    }
    if (size == 0)
        return 0;
    size_t cut = data[0] % (size);
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    cut = cut < n ? cut : n;
    /* The filter, in two writes; the placeholders of the input (ours are
       random, so the input names them by a marker: "@P" becomes the
       placeholder). */
    size_t ph_len = strlen(secrets->items[0].placeholder);
    uint8_t *expanded = eryx__malloc(n * ph_len + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && in[i] == '@' && in[i + 1] == 'P') {
            memcpy(expanded + m, secrets->items[0].placeholder, ph_len);
            m += ph_len;
            i++;
        } else {
            expanded[m++] = in[i];
        }
    }
    eryx__http_filter f;
    eryx__http_filter_init(&f);
    uint8_t *out = NULL;
    size_t len = 0, cap = 0;
    size_t first = cut < m ? cut : m;
    int e = eryx__http_filter_run(&f, secrets, "api.example.com", expanded,
                                  first, &out, &len, &cap);
    if (e == 0)
        e = eryx__http_filter_run(&f, secrets, "api.example.com",
                                  expanded + first, m - first, &out, &len,
                                  &cap);
    if (e == 0 && count(out, len, "zq-secret-value") >
                      count(expanded, m, secrets->items[0].placeholder) +
                          count(expanded, m, "zq-secret-value"))
        __builtin_trap();
    eryx__http_filter_free(&f);
    eryx__free(out);
    /* Scrubbing. */
    bool nomem;
    size_t slen = 0;
    char *s =
        eryx__secrets_scrub(secrets, (const char *)expanded, m, &slen, &nomem);
    const uint8_t *t = s ? (const uint8_t *)s : expanded;
    size_t tl = s ? slen : m;
    if (!nomem && (count(t, tl, "zq-secret-value") ||
                   count(t, tl, secrets->items[0].placeholder)))
        __builtin_trap();
    (void)eryx__secrets_tail(secrets, (const char *)t, tl);
    eryx__free(s);
    eryx__free(expanded);
    /* Patterns and CIDRs of the input's text. */
    char text[300];
    size_t k = n < sizeof text - 1 ? n : sizeof text - 1;
    memcpy(text, in, k);
    text[k] = '\0';
    char *mid = strchr(text, '|');
    if (mid != NULL) {
        *mid = '\0';
        (void)eryx__net_host_match(text, mid + 1);
    }
    eryx__cidr c;
    (void)eryx__cidr_parse(text, &c);
    return 0;
}
