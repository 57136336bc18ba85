/*
** net.h: the network, private to liberyx.  The policy (policy.c:
** eryx_netconfig, frozen into an eryx__netpolicy that settings share;
** host patterns, CIDRs, the check of every resolved address), secrets
** (secrets.c: placeholders, substitution into HTTP/1.x header values,
** scrubbing), TLS (tls.c: OpenSSL) and connections (conn.c: eryx__net,
** one per store: the connections the guest drives without blocking, and
** the wait on their readiness).  Depends on core and callbacks (the hub
** wakes a waiting guest when a connect finishes).  Errors are WASI errno
** values (vfs.h's ERYX__E*), or ERYX_ABI_NET_TLS*.
*/
#ifndef ERYX_NET_H
#define ERYX_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "callbacks/callbacks.h"
#include "core/internal.h"
#include "eryx_abi.h"

/* WASI errno values the network uses besides vfs.h's. */
enum {
    ERYX__NET_EAGAIN = 6,
    ERYX__NET_ECONNREFUSED = 14,
    ERYX__NET_ECONNRESET = 15,
    ERYX__NET_EHOSTUNREACH = 23,
    ERYX__NET_ENETUNREACH = 40,
    ERYX__NET_ENOTCONN = 53,
    ERYX__NET_EPIPE = 64,
    ERYX__NET_EPROTO = 65,
    ERYX__NET_ETIMEDOUT = 73,
};

/* ---- policy.c ---- */

/* A CIDR: 16 bytes (IPv4 as ::ffff:a.b.c.d) and the prefix length over
   them. */
typedef struct eryx__cidr {
    uint8_t addr[16];
    unsigned bits;
} eryx__cidr;

typedef struct eryx__strlist {
    char **items;
    size_t count;
} eryx__strlist;

/* A policy as sandboxes use it: immutable, shared by reference. */
typedef struct eryx__netpolicy {
    int refs; /* atomic */
    eryx__strlist allowed_hosts, blocked_hosts, internal_hosts;
    eryx__cidr *blocked, *allowed;
    size_t nblocked, nallowed;
    eryx__strlist resolve_names, resolve_addrs; /* eryx_netconfig_resolve */
    uint32_t max_connections, connect_timeout_ms, io_timeout_ms;
    void *tls_roots; /* extra roots: an OpenSSL STACK_OF(X509), or NULL */
    void *tls_ctx;   /* SSL_CTX, made on first use (tls.c) */
    int tls_once;    /* atomic: 0 not made, 1 making, 2 made */
    char tls_error[160];
} eryx__netpolicy;

/* A frozen copy of `nc` for sandboxes to share; NULL without memory. */
eryx__netpolicy *eryx__netconfig_freeze(const eryx_netconfig *nc);
eryx__netpolicy *eryx__netpolicy_ref(eryx__netpolicy *p); /* NULL-safe */
void eryx__netpolicy_unref(eryx__netpolicy *p);           /* NULL-safe */
/* Does `host` (any case) match the '*' glob `pattern`? */
bool eryx__net_host_match(const char *pattern, const char *host);
/* Is the host name (lower case, no trailing dot) allowed to be tried?
   false with a message in why. */
bool eryx__netpolicy_host_ok(const eryx__netpolicy *p,
                             const char *host,
                             char *why,
                             size_t why_len);
/* May `host` connect to address `sa`?  false with a message in why. */
bool eryx__netpolicy_addr_ok(const eryx__netpolicy *p,
                             const char *host,
                             const struct sockaddr *sa,
                             char *why,
                             size_t why_len);
/* The address eryx_netconfig_resolve set for `host`, or NULL. */
const char *eryx__netpolicy_resolved(const eryx__netpolicy *p,
                                     const char *host);
/* Parse "addr[/bits]" into *out; false when it is not one. */
bool eryx__cidr_parse(const char *text, eryx__cidr *out);

/* ---- secrets.c ---- */

typedef struct eryx__secret {
    char *name, *value, *placeholder;
    size_t value_len;
    eryx__strlist hosts;
} eryx__secret;

/* What a config's secrets become: immutable, shared by reference. */
typedef struct eryx__secrets {
    int refs; /* atomic */
    eryx__secret *items;
    size_t count;
    char *env;      /* "NAME=PLACEHOLDER\n" lines */
    char **needles; /* what scrubbing replaces, longest first */
    size_t *needle_lens;
    size_t nneedles;
    size_t longest; /* the longest needle */
} eryx__secrets;

#define ERYX__REDACTED     "[REDACTED]"
#define ERYX__REDACTED_LEN 10

/* A copy of `old` (NULL: none) with one more secret (replacing one of
   the same name) into *out. */
eryx_status eryx__secrets_add(const eryx__secrets *old,
                              const char *name,
                              const char *value,
                              const char *const *hosts,
                              size_t n,
                              eryx__secrets **out,
                              eryx_error *err);
eryx__secrets *eryx__secrets_ref(eryx__secrets *s); /* NULL-safe */
void eryx__secrets_unref(eryx__secrets *s);         /* NULL-safe */
/* `in` with every needle replaced by [REDACTED]: a new buffer (*out_len
   its length, NUL added) when something was replaced, else NULL (also
   when memory runs out: *nomem set). */
char *eryx__secrets_scrub(const eryx__secrets *s,
                          const char *in,
                          size_t len,
                          size_t *out_len,
                          bool *nomem);
/* The length of the longest suffix of data[0, len) that is a proper
   prefix of a needle (what a stream holds back until more comes). */
size_t eryx__secrets_tail(const eryx__secrets *s, const char *data, size_t len);

/* The outgoing HTTP/1.x stream of one connection, parsed just enough to
   find header values (request line, headers, then a body of
   Content-Length bytes or chunks). */
typedef struct eryx__http_filter {
    int state;
    uint64_t left; /* body bytes, or chunk bytes, still to pass */
    char *line;    /* a header line still incomplete */
    size_t len, cap;
    uint64_t content_length;
    bool has_length, chunked, first_line;
} eryx__http_filter;

/* The most one run of the filter adds by substitution (beyond that,
   placeholders go out as they are). */
#define ERYX__HTTP_EXPANSION_MAX (1u << 20)

/* Pass data[0, len) through `f` for a connection to `host`: appends to
   *out (grown with eryx__realloc).  Returns a WASI errno (ERYX__EOK; or
   ERYX__NET_EPROTO for HTTP/2 while secrets exist, ENOMEM). */
int eryx__http_filter_run(eryx__http_filter *f,
                          const eryx__secrets *s,
                          const char *host,
                          const uint8_t *data,
                          size_t len,
                          uint8_t **out,
                          size_t *out_len,
                          size_t *out_cap);
void eryx__http_filter_init(eryx__http_filter *f);
void eryx__http_filter_free(eryx__http_filter *f);

/* ---- tls.c ---- */

/* Extra roots (an OpenSSL STACK_OF(X509) behind void *): add one PEM or
   DER certificate (false with a message), copy, free (NULL-safe). */
bool eryx__tls_roots_add(
    void **roots, const void *cert, size_t len, char *why, size_t why_len);
void *eryx__tls_roots_copy(void *roots);
void eryx__tls_roots_free(void *roots);

/* The policy's SSL_CTX (made once); NULL with a message in why. */
void *eryx__tls_ctx(eryx__netpolicy *p, char *why, size_t why_len);
void eryx__tls_ctx_free(void *ctx);
/* A client SSL over fd for server `name` (SNI unless an IP literal; the
   name or IP verified), offering ALPN `alpn` (wire format; "h2" dropped
   when no_h2); NULL with a message. */
void *eryx__tls_new(void *ctx,
                    int fd,
                    const char *name,
                    const uint8_t *alpn,
                    size_t alpn_len,
                    bool no_h2,
                    char *why,
                    size_t why_len);
/* Send close_notify if it goes at once, and free. */
void eryx__tls_close(void *ssl);
/* One step of the handshake: 0 done; -1 wait (*want: 1 readable, 2
   writable); or ERYX_ABI_NET_TLS* with a message. */
int eryx__tls_handshake(void *ssl, int *want, char *why, size_t why_len);
/* Read or write: bytes (> 0), 0 at the end (read), -1 to wait (*want as
   above), or -(ERYX_ABI_NET_TLS* + 1) with a message. */
long
eryx__tls_read(void *ssl, void *p, size_t n, int *want, char *why, size_t len);
long eryx__tls_write(
    void *ssl, const void *p, size_t n, int *want, char *why, size_t len);
/* Decrypted bytes ready to read. */
size_t eryx__tls_pending(void *ssl);
/* The TLS details of a connection as a cJSON object (version, cipher,
   alpn, cert, cert_der), or NULL. */
void *eryx__tls_info(void *ssl);
/* The host's OpenSSL, e.g. "OpenSSL 3.0.19 27 Jan 2026". */
const char *eryx__tls_version_text(void);
unsigned long eryx__tls_version_number(void);

/* ---- conn.c: the connections of one store ---- */
typedef struct eryx__net eryx__net;

/* A store's network under `policy` and `secrets` (both may be NULL; no
   policy: every connect is refused).  NULL when memory runs out. */
eryx__net *eryx__net_new(eryx__netpolicy *policy,
                         eryx__secrets *secrets,
                         eryx__hub *hub,
                         eryx__workers *workers);
/* Close every connection. */
void eryx__net_free(eryx__net *net);

/* Each returns as the import does (guest/runtime.wit): >= 0, or a negated
   WASI errno / ERYX_ABI_NET_TLS*. */
/* host NULL: a name the import refused (too long, or with NUL). */
int32_t eryx__net_connect(eryx__net *net, const char *host, uint32_t port);
int32_t eryx__net_state(eryx__net *net, uint32_t handle);
int32_t
eryx__net_send(eryx__net *net, uint32_t handle, const uint8_t *p, size_t n);
int32_t eryx__net_recv(eryx__net *net, uint32_t handle, uint8_t *p, size_t n);
int32_t eryx__net_tls(eryx__net *net,
                      uint32_t handle,
                      const char *name,
                      const uint8_t *alpn,
                      size_t alpn_len);
int32_t eryx__net_shutdown(eryx__net *net, uint32_t handle, uint32_t how);
void eryx__net_close(eryx__net *net, uint32_t handle);
/* Wait as net-poll does; ERYX_ABI_WAIT_STOP when `stop` says so (then
   revents are not written).  `calls`: return when the hub has a finished
   call. */
int32_t eryx__net_poll(eryx__net *net,
                       eryx_abi_net_poll *items,
                       size_t n,
                       int64_t timeout_ns,
                       bool calls,
                       const eryx__stop *stop);
/* The message of the handle's last failure (0: of the last refused
   connect): borrowed until the next call. */
const char *eryx__net_error(eryx__net *net, uint32_t handle);
/* The handle's details as JSON (a new string, cJSON_free), or NULL; for
   handle 0, {"openssl": [version text, number]}. */
char *eryx__net_info(eryx__net *net, uint32_t handle);

#endif /* ERYX_NET_H */
