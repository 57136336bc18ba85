/*
** secrets.c: secrets the guest uses without seeing them.  Each has a
** random placeholder, which the guest's environment holds; the host puts
** the value in place of the placeholder only in header values of HTTP/1.x
** requests to an allowed host (eryx__http_filter_run, on a connection's
** outgoing plaintext), and replaces placeholders and values by
** [REDACTED] where the guest's data leaves the sandbox
** (eryx__secrets_scrub).
*/
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "net/net.h"
#include "vfs/vfs.h" /* ERYX__E* */

#define PLACEHOLDER_PREFIX "ERYX_SECRET_PLACEHOLDER_"
#define SCRUB_MIN_VALUE    4    /* shorter values are not scrubbed */
#define TAIL_MAX           1024 /* the most a stream holds back */
#define LINE_MAX_BYTES     65536

eryx__secrets *
eryx__secrets_ref(eryx__secrets *s)
{
    if (s != NULL)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

static void
secret_clear(eryx__secret *x)
{
    eryx__free(x->name);
    if (x->value != NULL)
        memset(x->value, 0, x->value_len);
    eryx__free(x->value);
    eryx__free(x->placeholder);
    for (size_t i = 0; i < x->hosts.count; i++)
        eryx__free(x->hosts.items[i]);
    eryx__free(x->hosts.items);
}

static void
secrets_free(eryx__secrets *s)
{
    for (size_t i = 0; i < s->count; i++)
        secret_clear(&s->items[i]);
    eryx__free(s->items);
    eryx__free(s->env);
    for (size_t i = 0; i < s->nneedles; i++)
        eryx__free(s->needles[i]);
    eryx__free(s->needles);
    eryx__free(s->needle_lens);
    eryx__free(s);
}

void
eryx__secrets_unref(eryx__secrets *s)
{
    if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        secrets_free(s);
}

static bool
copy_secret(eryx__secret *dst,
            const char *name,
            const char *value,
            const char *placeholder,
            const char *const *hosts,
            size_t n)
{
    memset(dst, 0, sizeof *dst);
    dst->name = eryx__strdup(name);
    dst->value = eryx__strdup(value);
    dst->value_len = strlen(value);
    dst->placeholder = eryx__strdup(placeholder);
    dst->hosts.items = n ? eryx__calloc(n, sizeof(char *)) : NULL;
    if (!dst->name || !dst->value || !dst->placeholder ||
        (n && !dst->hosts.items))
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((dst->hosts.items[i] = eryx__strdup(hosts[i])) == NULL)
            return false;
        dst->hosts.count = i + 1;
    }
    return true;
}

/* `v` escaped as Python's json.dumps escapes a string (ASCII only),
   without the quotes; NULL when memory runs out. */
static char *
json_escaped(const char *v)
{
    size_t n = strlen(v);
    char *out = eryx__malloc(n * 12 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)v; *p;) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            p++;
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' ||
                   c == '\f') {
            *o++ = '\\';
            *o++ = c == '\n'   ? 'n'
                   : c == '\r' ? 'r'
                   : c == '\t' ? 't'
                   : c == '\b' ? 'b'
                               : 'f';
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            *o++ = (char)c;
            p++;
        } else {
            /* Decode one UTF-8 sequence; invalid bytes stay as they are. */
            unsigned cp = 0, extra = c >= 0xf0   ? 3
                                     : c >= 0xe0 ? 2
                                     : c >= 0xc0 ? 1
                                                 : 0;
            bool ok = extra > 0;
            for (unsigned k = 1; ok && k <= extra; k++)
                ok = (p[k] & 0xc0) == 0x80;
            if (!ok) {
                *o++ = (char)c;
                p++;
                continue;
            }
            cp = c & (0x3fu >> extra);
            for (unsigned k = 1; k <= extra; k++)
                cp = (cp << 6) | (p[k] & 0x3fu);
            p += extra + 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                o += sprintf(o, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
                             0xdc00 + (cp & 0x3ff));
            } else {
                o += sprintf(o, "\\u%04x", cp);
            }
        }
    }
    *o = '\0';
    return out;
}

static bool
add_needle(eryx__secrets *s, const char *text)
{
    size_t n = strlen(text);
    for (size_t i = 0; i < s->nneedles; i++) {
        if (s->needle_lens[i] == n && memcmp(s->needles[i], text, n) == 0)
            return true;
    }
    char *copy = eryx__strdup(text);
    char **nd =
        copy ? eryx__realloc(s->needles, (s->nneedles + 1) * sizeof *nd) : NULL;
    if (nd == NULL) {
        eryx__free(copy);
        return false;
    }
    s->needles = nd;
    size_t *nl = eryx__realloc(s->needle_lens, (s->nneedles + 1) * sizeof *nl);
    if (nl == NULL) {
        eryx__free(copy);
        return false;
    }
    s->needle_lens = nl;
    /* Longest first, so that a longer needle wins where two start. */
    size_t at = s->nneedles;
    while (at > 0 && s->needle_lens[at - 1] < n) {
        s->needles[at] = s->needles[at - 1];
        s->needle_lens[at] = s->needle_lens[at - 1];
        at--;
    }
    s->needles[at] = copy;
    s->needle_lens[at] = n;
    s->nneedles++;
    if (n > s->longest)
        s->longest = n;
    return true;
}

/* The environment text and the needles of `s`'s secrets. */
static bool
derive(eryx__secrets *s)
{
    size_t total = 1;
    for (size_t i = 0; i < s->count; i++)
        total += strlen(s->items[i].name) + strlen(s->items[i].placeholder) + 2;
    if ((s->env = eryx__malloc(total)) == NULL)
        return false;
    char *e = s->env;
    *e = '\0';
    for (size_t i = 0; i < s->count; i++) {
        const eryx__secret *x = &s->items[i];
        e += sprintf(e, "%s=%s\n", x->name, x->placeholder);
        if (!add_needle(s, x->placeholder))
            return false;
        if (x->value_len < SCRUB_MIN_VALUE)
            continue;
        char *esc = json_escaped(x->value);
        bool ok = esc && add_needle(s, x->value) && add_needle(s, esc);
        eryx__free(esc);
        if (!ok)
            return false;
    }
    return true;
}

static bool
name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || isdigit((unsigned char)name[0]))
        return false;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    }
    return true;
}

eryx_status
eryx__secrets_add(const eryx__secrets *old,
                  const char *name,
                  const char *value,
                  const char *const *hosts,
                  size_t n,
                  eryx__secrets **out,
                  eryx_error *err)
{
    *out = NULL;
    if (name == NULL || !name_ok(name)) {
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "a secret's name must be an environment variable "
                          "name");
    }
    size_t vlen = value ? strlen(value) : 0;
    if (vlen == 0 || vlen > 65536 || strpbrk(value, "\r\n") != NULL) {
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "secret '%.64s': the value must be 1 to 65536 "
                          "bytes without CR or LF",
                          name);
    }
    for (size_t i = 0; i < n; i++) {
        if (hosts == NULL || hosts[i] == NULL || hosts[i][0] == '\0' ||
            strlen(hosts[i]) > 253) {
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "secret '%.64s': an allowed host is empty", name);
        }
    }
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        return eryx__fail(err, ERYX_E_IO,
                          "no randomness for a secret's placeholder");
    }
    char placeholder[sizeof PLACEHOLDER_PREFIX + 32];
    int w = snprintf(placeholder, sizeof placeholder, "%s", PLACEHOLDER_PREFIX);
    for (size_t i = 0; i < sizeof rnd; i++)
        w += snprintf(placeholder + w, sizeof placeholder - (size_t)w, "%02x",
                      rnd[i]);
    size_t count = old ? old->count : 0;
    eryx__secrets *s = eryx__calloc(1, sizeof *s);
    if (s == NULL ||
        (s->items = eryx__calloc(count + 1, sizeof *s->items)) == NULL) {
        eryx__free(s);
        return eryx__fail_nomem(err);
    }
    s->refs = 1;
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        const eryx__secret *x = &old->items[i];
        if (strcmp(x->name, name) == 0)
            continue; /* replaced */
        ok = copy_secret(&s->items[s->count++], x->name, x->value,
                         x->placeholder, (const char *const *)x->hosts.items,
                         x->hosts.count);
    }
    if (ok)
        ok = copy_secret(&s->items[s->count++], name, value, placeholder, hosts,
                         n);
    if (!ok || !derive(s)) {
        secrets_free(s);
        return eryx__fail_nomem(err);
    }
    *out = s;
    return ERYX_OK;
}

/* ------------------------------------------------------------ scrubbing */

static bool
put(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (n == 0)
        return true;
    if (n > *cap - *len) {
        size_t c = *cap ? *cap : 256;
        while (c - *len < n)
            c *= 2;
        char *b = eryx__realloc(*buf, c + 1);
        if (b == NULL)
            return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return true;
}

char *
eryx__secrets_scrub(const eryx__secrets *s,
                    const char *in,
                    size_t len,
                    size_t *out_len,
                    bool *nomem)
{
    *nomem = false;
    if (s == NULL || s->nneedles == 0 || len == 0)
        return NULL;
    char *out = NULL;
    size_t olen = 0, ocap = 0, pos = 0;
    for (;;) {
        size_t best = SIZE_MAX, at = len;
        for (size_t k = 0; k < s->nneedles; k++) {
            size_t nl = s->needle_lens[k];
            if (nl > len - pos)
                continue;
            /* Only occurrences starting before the best so far. */
            size_t region = at < len ? at + nl - 1 - pos : len - pos;
            if (region > len - pos)
                region = len - pos;
            const char *hit = region >= nl
                                  ? memmem(in + pos, region, s->needles[k], nl)
                                  : NULL;
            if (hit != NULL && (size_t)(hit - in) < at) {
                at = (size_t)(hit - in);
                best = k;
            }
        }
        if (best == SIZE_MAX)
            break;
        if (!put(&out, &olen, &ocap, in + pos, at - pos) ||
            !put(&out, &olen, &ocap, ERYX__REDACTED, ERYX__REDACTED_LEN)) {
            eryx__free(out);
            *nomem = true;
            return NULL;
        }
        pos = at + s->needle_lens[best];
    }
    if (out == NULL)
        return NULL;
    if (!put(&out, &olen, &ocap, in + pos, len - pos)) {
        eryx__free(out);
        *nomem = true;
        return NULL;
    }
    out[olen] = '\0';
    *out_len = olen;
    return out;
}

size_t
eryx__secrets_tail(const eryx__secrets *s, const char *data, size_t len)
{
    if (s == NULL || s->nneedles == 0 || len == 0)
        return 0;
    size_t max = s->longest - 1;
    if (max > TAIL_MAX)
        max = TAIL_MAX;
    if (max > len)
        max = len;
    for (size_t l = max; l > 0; l--) {
        const char *t = data + len - l;
        for (size_t k = 0; k < s->nneedles; k++) {
            if (s->needle_lens[k] > l && s->needles[k][0] == t[0] &&
                memcmp(s->needles[k], t, l) == 0)
                return l;
        }
    }
    return 0;
}

/* --------------------------------------------- substitution into headers */

enum {
    F_HEAD,       /* lines of a request head */
    F_BODY,       /* `left` body bytes */
    F_CHUNK_SIZE, /* a chunk-size line */
    F_CHUNK_DATA, /* `left` chunk bytes, then CRLF */
    F_TRAILER,    /* trailer lines until an empty one */
    F_RAW,        /* not HTTP/1.x as parsed: passed on unchanged */
};

typedef struct outbuf {
    uint8_t **p;
    size_t *len, *cap;
    size_t budget; /* bytes substitution may still add in this run */
} outbuf;

static bool
emit(outbuf *o, const void *p, size_t n)
{
    return put((char **)o->p, o->len, o->cap, p, n);
}

static bool
allowed_for(const eryx__secret *x, const char *host)
{
    for (size_t i = 0; i < x->hosts.count; i++) {
        if (eryx__net_host_match(x->hosts.items[i], host))
            return true;
    }
    return false;
}

/* A header line, with the secrets' values in place of their placeholders
   in the value (after the colon) for those allowed to reach `host`. */
static bool
emit_header(outbuf *o,
            const eryx__secrets *s,
            const char *host,
            const char *line,
            size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL || s == NULL)
        return emit(o, line, n);
    size_t head = (size_t)(colon - line) + 1;
    if (!emit(o, line, head))
        return false;
    const char *p = line + head, *end = line + n;
    while (p < end) {
        const eryx__secret *best = NULL;
        const char *at = end;
        for (size_t i = 0; i < s->count; i++) {
            const eryx__secret *x = &s->items[i];
            size_t pl = strlen(x->placeholder);
            const char *hit = memmem(p, (size_t)(end - p), x->placeholder, pl);
            if (hit != NULL && hit < at && allowed_for(x, host)) {
                at = hit;
                best = x;
            }
        }
        if (best == NULL)
            return emit(o, p, (size_t)(end - p));
        size_t pl = strlen(best->placeholder);
        /* A line of placeholders must not make the host's buffer grow
           without bound: past the run's budget they go as they are. */
        size_t grow = best->value_len > pl ? best->value_len - pl : 0;
        bool fits = grow <= o->budget;
        if (fits)
            o->budget -= grow;
        if (!emit(o, p, (size_t)(at - p)) ||
            !(fits ? emit(o, best->value, best->value_len) : emit(o, at, pl)))
            return false;
        p = at + pl;
    }
    return true;
}

static bool
header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

/* A complete line of the head or of the chunk framing: returns a WASI
   errno. */
static int
on_line(eryx__http_filter *f,
        const eryx__secrets *s,
        const char *host,
        outbuf *o)
{
    const char *line = f->line;
    size_t n = f->len;
    bool empty = (n == 1 && line[0] == '\n') ||
                 (n == 2 && line[0] == '\r' && line[1] == '\n');
    bool ok = true;
    switch (f->state) {
    case F_HEAD:
        if (f->first_line) {
            if (n >= 14 && memcmp(line, "PRI * HTTP/2.0", 14) == 0)
                return ERYX__NET_EPROTO;
            if (!empty) {
                f->first_line = false;
                f->has_length = f->chunked = false;
                f->content_length = 0;
            }
            ok = emit(o, line, n);
        } else if (empty) {
            ok = emit(o, line, n);
            f->first_line = true;
            if (f->chunked) {
                f->state = F_CHUNK_SIZE;
            } else if (f->has_length && f->content_length > 0) {
                f->state = F_BODY;
                f->left = f->content_length;
            }
        } else {
            if (header_is(line, n, "content-length")) {
                uint64_t v = 0;
                for (size_t i = 15; i < n; i++) {
                    if (isdigit((unsigned char)line[i]) && v < (1ull << 60))
                        v = v * 10 + (uint64_t)(line[i] - '0');
                }
                f->content_length = v;
                f->has_length = true;
            } else if (header_is(line, n, "transfer-encoding") &&
                       memmem(line, n, "chunked", 7) != NULL) {
                f->chunked = true;
            }
            ok = emit_header(o, s, host, line, n);
        }
        break;
    case F_CHUNK_SIZE: {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < n && isxdigit((unsigned char)line[i]) && v < (1ull << 56);
             i++)
            v = v * 16 +
                (uint64_t)(isdigit((unsigned char)line[i])
                               ? line[i] - '0'
                               : (tolower((unsigned char)line[i]) - 'a' + 10));
        ok = emit(o, line, n);
        if (i == 0)
            f->state = F_RAW; /* not chunked framing after all */
        else if (v == 0)
            f->state = F_TRAILER;
        else {
            f->state = F_CHUNK_DATA;
            f->left = v + 2; /* the data, then its CRLF */
        }
        break;
    }
    case F_TRAILER:
        ok = emit(o, line, n);
        if (empty)
            f->state = F_HEAD;
        break;
    default:
        ok = emit(o, line, n);
    }
    f->len = 0;
    return ok ? 0 : ERYX__ENOMEM;
}

int
eryx__http_filter_run(eryx__http_filter *f,
                      const eryx__secrets *s,
                      const char *host,
                      const uint8_t *data,
                      size_t len,
                      uint8_t **out,
                      size_t *out_len,
                      size_t *out_cap)
{
    outbuf o = {out, out_len, out_cap, ERYX__HTTP_EXPANSION_MAX};
    size_t i = 0;
    while (i < len) {
        if (f->state == F_RAW)
            return emit(&o, data + i, len - i) ? 0 : ERYX__ENOMEM;
        if (f->state == F_BODY || f->state == F_CHUNK_DATA) {
            size_t n = len - i < f->left ? len - i : (size_t)f->left;
            if (!emit(&o, data + i, n))
                return ERYX__ENOMEM;
            i += n;
            f->left -= n;
            if (f->left == 0)
                f->state = f->state == F_BODY ? F_HEAD : F_CHUNK_SIZE;
            continue;
        }
        /* A line: up to and with its LF. */
        const uint8_t *lf = memchr(data + i, '\n', len - i);
        size_t n = lf ? (size_t)(lf - (data + i)) + 1 : len - i;
        if (f->len + n > LINE_MAX_BYTES) {
            /* Longer than any header we parse: pass the rest unchanged
               (placeholders in it reach the server as they are). */
            if (!emit(&o, f->line, f->len))
                return ERYX__ENOMEM;
            f->len = 0;
            f->state = F_RAW;
            continue;
        }
        if (f->len + n > f->cap) {
            size_t c = f->cap ? f->cap : 256;
            while (c < f->len + n)
                c *= 2;
            char *l = eryx__realloc(f->line, c);
            if (l == NULL)
                return ERYX__ENOMEM;
            f->line = l;
            f->cap = c;
        }
        memcpy(f->line + f->len, data + i, n);
        f->len += n;
        i += n;
        if (lf != NULL) {
            int e = on_line(f, s, host, &o);
            if (e != 0)
                return e;
        }
    }
    return 0;
}

void
eryx__http_filter_init(eryx__http_filter *f)
{
    memset(f, 0, sizeof *f);
    f->state = F_HEAD;
    f->first_line = true;
}

void
eryx__http_filter_free(eryx__http_filter *f)
{
    eryx__free(f->line);
    memset(f, 0, sizeof *f);
}
