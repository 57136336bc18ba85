/*
** conn.c: the connections of one store (eryx__net).  The guest drives
** them without blocking: net-connect hands the name to a worker thread,
** which resolves it, checks every address against the policy and
** connects (with the connect timeout); everything else runs on the
** guest's thread, non-blocking, and net-poll is the one wait, with the
** execute's deadline and cancellation in force.  Bytes the guest sends go
** out at once when the socket takes them and are buffered (up to
** OUT_HIGH) when it does not; with secrets, they pass the HTTP filter
** first.
*/
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "net/net.h"
#include "vfs/vfs.h" /* ERYX__E* and eryx__host_errno */

#define OUT_HIGH  (256u << 10) /* buffered bytes: sends wait past this */
#define RECV_MAX  (4u << 20)   /* read per net-recv */
#define MAX_CONNS 4096         /* handles a store keeps, whatever the policy */

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_FAILED };

typedef struct conn {
    uint32_t handle;
    int refs;   /* atomic: the table, and the connect worker while it runs */
    int state;  /* C_*; set by the worker under net->mu while connecting */
    int closed; /* atomic: the guest let go of it */
    int err;    /* when C_FAILED: a WASI errno or ERYX_ABI_NET_TLS* */
    char msg[256];
    int fd;
    char *host;
    uint16_t port;
    bool want_tls; /* net-tls came while connecting */
    char *tls_name;
    uint8_t *alpn;
    size_t alpn_len;
    void *ssl;
    uint8_t *out; /* buffered bytes [out_off, out_len) */
    size_t out_len, out_cap, out_off;
    eryx__http_filter filter;
    bool eof, shut_wr;
    struct sockaddr_storage peer;
    struct eryx__net *net;
} conn;

struct eryx__net {
    pthread_mutex_t mu;
    int refs; /* atomic: the store, and each connect worker */
    int wake_fd;
    eryx__netpolicy *policy;
    eryx__secrets *secrets;
    eryx__hub *hub;
    eryx__workers *workers;
    conn **conns;
    size_t count, cap;
    uint32_t next_handle;
    int inflight; /* atomic: connect workers still running */
    char last_error[256];
};

/* ------------------------------------------------------------ lifetime */

eryx__net *
eryx__net_new(eryx__netpolicy *policy,
              eryx__secrets *secrets,
              eryx__hub *hub,
              eryx__workers *workers)
{
    eryx__net *net = eryx__calloc(1, sizeof *net);
    if (net == NULL)
        return NULL;
    net->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (net->wake_fd < 0) {
        eryx__free(net);
        return NULL;
    }
    pthread_mutex_init(&net->mu, NULL);
    net->refs = 1;
    net->policy = eryx__netpolicy_ref(policy);
    net->secrets = eryx__secrets_ref(secrets);
    net->hub = hub;
    net->workers = workers;
    net->next_handle = 1;
    eryx__hub_set_notify_fd(hub, net->wake_fd);
    return net;
}

static void
net_unref(eryx__net *net)
{
    if (__atomic_sub_fetch(&net->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    close(net->wake_fd);
    eryx__netpolicy_unref(net->policy);
    eryx__secrets_unref(net->secrets);
    pthread_mutex_destroy(&net->mu);
    eryx__free(net->conns);
    eryx__free(net);
}

static void
conn_unref(conn *c)
{
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (c->ssl != NULL)
        eryx__tls_close(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    eryx__http_filter_free(&c->filter);
    eryx__free(c->host);
    eryx__free(c->tls_name);
    eryx__free(c->alpn);
    eryx__free(c->out);
    eryx__free(c);
}

static void
wake(eryx__net *net)
{
    uint64_t one = 1;
    ssize_t w = write(net->wake_fd, &one, sizeof one);
    (void)w; /* a full counter is already a wake-up */
}

static int
get_state(eryx__net *net, conn *c)
{
    pthread_mutex_lock(&net->mu);
    int s = c->state;
    pthread_mutex_unlock(&net->mu);
    return s;
}

/* Mark `c` failed with code `err` (the guest's thread; not while
   connecting). */
static int fail(conn *c, int err, const char *fmt, ...) ERYX__PRINTF(3, 4);

static int
fail(conn *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->net->mu);
    c->state = C_FAILED;
    c->err = err;
    pthread_mutex_unlock(&c->net->mu);
    return err;
}

static conn *
find(eryx__net *net, uint32_t handle)
{
    for (size_t i = 0; i < net->count; i++) {
        if (net->conns[i]->handle == handle)
            return net->conns[i];
    }
    return NULL;
}

static void
drop(eryx__net *net, conn *c)
{
    for (size_t i = 0; i < net->count; i++) {
        if (net->conns[i] == c) {
            net->conns[i] = net->conns[--net->count];
            break;
        }
    }
    __atomic_store_n(&c->closed, 1, __ATOMIC_RELEASE);
    conn_unref(c);
}

void
eryx__net_free(eryx__net *net)
{
    if (net == NULL)
        return;
    eryx__hub_set_notify_fd(net->hub, -1);
    while (net->count > 0)
        drop(net, net->conns[net->count - 1]);
    net_unref(net);
}

/* ------------------------------------------------------------ connect */

/* Connect to one address within the deadline: the socket, or -1 with
 *err (a host errno). */
static int
connect_one(conn *c, const struct addrinfo *ai, uint64_t deadline, int *err)
{
    int fd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    for (;;) {
        uint64_t now = eryx__clock_now_us();
        if (now >= deadline) {
            *err = ETIMEDOUT;
            break;
        }
        if (__atomic_load_n(&c->closed, __ATOMIC_ACQUIRE)) {
            *err = ECONNABORTED;
            break;
        }
        /* Slices, so that a connection the guest dropped frees its
           worker soon. */
        uint64_t left = deadline - now;
        struct pollfd p = {fd, POLLOUT, 0};
        int r = poll(&p, 1, left > 100000 ? 100 : (int)((left + 999) / 1000));
        if (r < 0 && errno != EINTR) {
            *err = errno;
            break;
        }
        if (r > 0) {
            int e = 0;
            socklen_t l = sizeof e;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                e = errno;
            if (e == 0)
                return fd;
            *err = e;
            break;
        }
    }
    close(fd);
    return -1;
}

static int
wasi_net_errno(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return ERYX__NET_ECONNREFUSED;
    case ECONNRESET:
        return ERYX__NET_ECONNRESET;
    case ETIMEDOUT:
        return ERYX__NET_ETIMEDOUT;
    case EHOSTUNREACH:
        return ERYX__NET_EHOSTUNREACH;
    case ENETUNREACH:
        return ERYX__NET_ENETUNREACH;
    case EPIPE:
        return ERYX__NET_EPIPE;
    case ENOTCONN:
        return ERYX__NET_ENOTCONN;
    default:
        return eryx__host_errno(e);
    }
}

/* The connect worker: resolve, check, connect; then tell the guest. */
static void
connect_job(void *arg)
{
    conn *c = arg;
    eryx__net *net = c->net;
    const eryx__netpolicy *p = net->policy;
    uint64_t deadline =
        eryx__clock_now_us() + (uint64_t)p->connect_timeout_ms * 1000u;
    char port[8], why[256] = "";
    snprintf(port, sizeof port, "%u", c->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    const char *fixed = eryx__netpolicy_resolved(p, c->host);
    if (fixed != NULL)
        hints.ai_flags = AI_NUMERICHOST;
    int err = 0, fd = -1;
    int gai = getaddrinfo(fixed ? fixed : c->host, port, &hints, &res);
    if (gai != 0) {
        err = ERYX__NET_EHOSTUNREACH;
        snprintf(why, sizeof why, "cannot resolve '%.200s': %s", c->host,
                 gai_strerror(gai));
    }
    /* Every address first: a name with any blocked address is refused,
       and only the addresses checked here are connected to. */
    for (struct addrinfo *ai = res; err == 0 && ai; ai = ai->ai_next) {
        if (!eryx__netpolicy_addr_ok(p, c->host, ai->ai_addr, why, sizeof why))
            err = ERYX__EACCES;
    }
    int host_err = 0;
    for (struct addrinfo *ai = res; err == 0 && ai && fd < 0;
         ai = ai->ai_next) {
        fd = connect_one(c, ai, deadline, &host_err);
        if (fd >= 0) {
            memcpy(&c->peer, ai->ai_addr,
                   ai->ai_addrlen <= sizeof c->peer ? ai->ai_addrlen
                                                    : sizeof c->peer);
        }
    }
    if (res != NULL)
        freeaddrinfo(res);
    if (err == 0 && fd < 0) {
        err = wasi_net_errno(host_err ? host_err : ECONNREFUSED);
        snprintf(why, sizeof why, "cannot connect to '%.120s' port %u: %.80s",
                 c->host, c->port,
                 host_err == ETIMEDOUT ? "timed out (the connect timeout)"
                                       : strerror(host_err));
    }
    if (fd >= 0) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    pthread_mutex_lock(&net->mu);
    c->fd = fd;
    if (fd >= 0) {
        c->state = c->want_tls ? C_HANDSHAKE : C_OPEN;
    } else {
        c->state = C_FAILED;
        c->err = err;
        snprintf(c->msg, sizeof c->msg, "%s", why);
    }
    pthread_mutex_unlock(&net->mu);
    wake(net);
    conn_unref(c);
    __atomic_sub_fetch(&net->inflight, 1, __ATOMIC_RELEASE);
    net_unref(net);
}

int32_t
eryx__net_connect(eryx__net *net, const char *host, uint32_t port)
{
    char *why = net->last_error;
    size_t why_len = sizeof net->last_error;
    if (host == NULL) {
        snprintf(why, why_len,
                 "bad host name: longer than 1024 bytes, or with a NUL byte");
        return -ERYX__EINVAL;
    }
    if (net->policy == NULL) {
        snprintf(why, why_len,
                 "the sandbox has no network (no network policy is set)");
        return -ERYX__EACCES;
    }
    size_t n = strlen(host);
    if (n == 0 || n > 253 || port == 0 || port > 65535) {
        snprintf(why, why_len, "bad address: host '%.200s', port %u", host,
                 port);
        return -ERYX__EINVAL;
    }
    char name[256];
    for (size_t i = 0; i <= n; i++)
        name[i] =
            (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    if (n > 1 && name[n - 1] == '.')
        name[--n] = '\0';
    if (!eryx__netpolicy_host_ok(net->policy, name, why, why_len))
        return -ERYX__EACCES;
    /* Connections, and lookups still running for connections closed
       before they finished (a guest that connects and closes in a loop
       must not pile up threads waiting on DNS). */
    uint32_t max = net->policy->max_connections;
    if (net->count >= max || net->count >= MAX_CONNS ||
        (uint32_t)__atomic_load_n(&net->inflight, __ATOMIC_ACQUIRE) >= max) {
        snprintf(why, why_len,
                 "too many connections: the network policy allows %u at once",
                 max);
        return -ERYX__EMFILE;
    }
    if (net->count == net->cap) {
        size_t cap = net->cap ? net->cap * 2 : 8;
        conn **cs = eryx__realloc(net->conns, cap * sizeof *cs);
        if (cs == NULL)
            return -ERYX__ENOMEM;
        net->conns = cs;
        net->cap = cap;
    }
    conn *c = eryx__calloc(1, sizeof *c);
    if (c == NULL || (c->host = eryx__strdup(name)) == NULL) {
        eryx__free(c);
        return -ERYX__ENOMEM;
    }
    c->fd = -1;
    c->port = (uint16_t)port;
    c->net = net;
    c->refs = 2; /* the table and the worker */
    c->state = C_CONNECTING;
    eryx__http_filter_init(&c->filter);
    do {
        c->handle = net->next_handle++;
        if (net->next_handle > 0x3fffffff)
            net->next_handle = 1;
    } while (find(net, c->handle) != NULL);
    net->conns[net->count++] = c;
    __atomic_add_fetch(&net->refs, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&net->inflight, 1, __ATOMIC_ACQ_REL);
    if (!eryx__workers_submit(net->workers, connect_job, c)) {
        __atomic_sub_fetch(&net->inflight, 1, __ATOMIC_RELEASE);
        net_unref(net);
        pthread_mutex_lock(&net->mu);
        c->state = C_FAILED;
        c->err = ERYX__ENOMEM;
        snprintf(c->msg, sizeof c->msg, "no thread to connect on");
        pthread_mutex_unlock(&net->mu);
        conn_unref(c);
    }
    return (int32_t)c->handle;
}

/* ---------------------------------------------------------- TLS, I/O */

/* Advance a handshake: 0 done (now open), -1 to wait (*want), or the
   failure code. */
static int
handshake(eryx__net *net, conn *c, int *want)
{
    char why[256];
    if (c->ssl == NULL) {
        void *ctx = eryx__tls_ctx(net->policy, why, sizeof why);
        c->ssl =
            ctx ? eryx__tls_new(ctx, c->fd, c->tls_name, c->alpn, c->alpn_len,
                                net->secrets != NULL, why, sizeof why)
                : NULL;
        if (c->ssl == NULL)
            return fail(c, ERYX_ABI_NET_TLS, "%s", why);
    }
    int r = eryx__tls_handshake(c->ssl, want, why, sizeof why);
    if (r > 0)
        return fail(c, r, "%s", why);
    if (r == 0) {
        pthread_mutex_lock(&net->mu);
        c->state = C_OPEN;
        pthread_mutex_unlock(&net->mu);
    }
    return r;
}

/* The state after advancing what can advance without waiting; *want: what
   the fd must become to go on (POLLIN/POLLOUT, 0: nothing on the fd). */
static int
advance(eryx__net *net, conn *c, short *want)
{
    *want = 0;
    int s = get_state(net, c);
    if (s == C_HANDSHAKE) {
        int w = 0;
        int r = handshake(net, c, &w);
        if (r < 0)
            *want = w == 1 ? POLLIN : POLLOUT;
        s = get_state(net, c);
    }
    return s;
}

/* Write buffered bytes while the socket takes them: 0, or the failure
   code (the connection is then failed). */
static int
flush(conn *c, short *want)
{
    char why[256];
    while (c->out_off < c->out_len) {
        const uint8_t *p = c->out + c->out_off;
        size_t n = c->out_len - c->out_off;
        long w;
        int tw = 0;
        if (c->ssl != NULL) {
            w = eryx__tls_write(c->ssl, p, n, &tw, why, sizeof why);
            if (w < -1)
                return fail(c, (int)(-w - 1), "%s", why);
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 &&
                (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                w = -1;
                tw = 2;
            } else if (w < 0) {
                int e = errno;
                return fail(c, wasi_net_errno(e), "send to '%.200s': %s",
                            c->host, strerror(e));
            }
        }
        if (w < 0) {
            if (want != NULL)
                *want |= tw == 1 ? POLLIN : POLLOUT;
            return 0;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    if (c->shut_wr && c->ssl == NULL)
        (void)shutdown(c->fd, SHUT_WR);
    return 0;
}

/* Append to the buffered bytes (flush empties a drained buffer, so only
   a partly sent one has bytes before out_off to move). */
static bool
buffer(conn *c, const uint8_t *p, size_t n)
{
    if (n > c->out_cap - c->out_len) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 16384;
        while (cap - c->out_len < n)
            cap *= 2;
        if (cap != c->out_cap) {
            uint8_t *b = eryx__realloc(c->out, cap);
            if (b == NULL)
                return false;
            c->out = b;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

/* The code for a connection that cannot do I/O now: -EAGAIN while it
   connects or shakes hands, the failure once failed; 0 when open. */
static int32_t
io_gate(eryx__net *net, conn *c)
{
    short want;
    int s = advance(net, c, &want);
    if (s == C_FAILED)
        return -c->err;
    if (s != C_OPEN)
        return -ERYX__NET_EAGAIN;
    return 0;
}

int32_t
eryx__net_state(eryx__net *net, uint32_t handle)
{
    conn *c = find(net, handle);
    if (c == NULL)
        return -ERYX__EBADF;
    int32_t g = io_gate(net, c);
    return g == -ERYX__NET_EAGAIN ? 0 : g < 0 ? g : 1;
}

int32_t
eryx__net_send(eryx__net *net, uint32_t handle, const uint8_t *p, size_t n)
{
    conn *c = find(net, handle);
    if (c == NULL)
        return -ERYX__EBADF;
    int32_t g = io_gate(net, c);
    if (g != 0)
        return g;
    if (c->shut_wr) {
        snprintf(c->msg, sizeof c->msg,
                 "the connection's writing side is shut");
        return -ERYX__NET_EPIPE;
    }
    if (n == 0)
        return 0;
    int e = flush(c, NULL);
    if (e != 0)
        return -e;
    size_t pending = c->out_len - c->out_off;
    if (pending >= OUT_HIGH)
        return -ERYX__NET_EAGAIN;
    size_t take = n < OUT_HIGH - pending ? n : OUT_HIGH - pending;
    if (net->secrets != NULL) {
        size_t len = c->out_len, cap = c->out_cap;
        e = eryx__http_filter_run(&c->filter, net->secrets, c->host, p, take,
                                  &c->out, &len, &cap);
        c->out_len = len;
        c->out_cap = cap;
        if (e == ERYX__NET_EPROTO)
            return -fail(c, e,
                         "HTTP/2 is refused while secrets are configured");
        if (e != 0)
            return -fail(c, e, "out of memory");
    } else if (!buffer(c, p, take)) {
        return -ERYX__ENOMEM;
    }
    e = flush(c, NULL);
    return e != 0 ? -e : (int32_t)take;
}

int32_t
eryx__net_recv(eryx__net *net, uint32_t handle, uint8_t *p, size_t n)
{
    conn *c = find(net, handle);
    if (c == NULL)
        return -ERYX__EBADF;
    int32_t g = io_gate(net, c);
    if (g != 0)
        return g;
    int e = flush(c, NULL);
    if (e != 0)
        return -e;
    if (n == 0 || c->eof)
        return 0;
    if (n > RECV_MAX)
        n = RECV_MAX;
    long r;
    if (c->ssl != NULL) {
        char why[256];
        int want = 0;
        r = eryx__tls_read(c->ssl, p, n, &want, why, sizeof why);
        if (r < -1)
            return -fail(c, (int)(-r - 1), "%s", why);
        if (r == -1)
            return -ERYX__NET_EAGAIN;
    } else {
        r = recv(c->fd, p, n, MSG_DONTWAIT);
        if (r < 0) {
            int en = errno;
            if (en == EAGAIN || en == EWOULDBLOCK || en == EINTR)
                return -ERYX__NET_EAGAIN;
            return -fail(c, wasi_net_errno(en), "receive from '%.200s': %s",
                         c->host, strerror(en));
        }
    }
    if (r == 0)
        c->eof = true;
    return (int32_t)r;
}

int32_t
eryx__net_tls(eryx__net *net,
              uint32_t handle,
              const char *name,
              const uint8_t *alpn,
              size_t alpn_len)
{
    conn *c = find(net, handle);
    if (c == NULL)
        return -ERYX__EBADF;
    if (c->tls_name != NULL || c->out_len > c->out_off) {
        snprintf(c->msg, sizeof c->msg,
                 c->tls_name ? "TLS was already started on this connection"
                             : "TLS cannot start after unsent bytes");
        return -ERYX__EINVAL;
    }
    size_t n = strlen(name);
    if (n == 0 || n > 253) {
        snprintf(c->msg, sizeof c->msg, "TLS needs a server name");
        return -ERYX__EINVAL;
    }
    c->tls_name = eryx__strdup(name);
    c->alpn = alpn_len ? (uint8_t *)eryx__memdup(alpn, alpn_len) : NULL;
    if (c->tls_name == NULL || (alpn_len && c->alpn == NULL))
        return -ERYX__ENOMEM;
    c->alpn_len = alpn_len;
    pthread_mutex_lock(&net->mu);
    int s = c->state;
    if (s == C_CONNECTING)
        c->want_tls = true;
    else if (s == C_OPEN)
        c->state = C_HANDSHAKE;
    pthread_mutex_unlock(&net->mu);
    if (s == C_FAILED)
        return -c->err;
    return 0;
}

int32_t
eryx__net_shutdown(eryx__net *net, uint32_t handle, uint32_t how)
{
    conn *c = find(net, handle);
    if (c == NULL)
        return -ERYX__EBADF;
    if (how == 0)
        return 0;
    if (how > 2)
        return -ERYX__EINVAL;
    if (get_state(net, c) != C_OPEN)
        return -ERYX__NET_ENOTCONN;
    c->shut_wr = true;
    int e = flush(c, NULL);
    if (how == 2 && c->fd >= 0)
        (void)shutdown(c->fd, SHUT_RD);
    return e != 0 ? -e : 0;
}

/* Give buffered bytes up to a second to leave before a close. */
static void
linger(conn *c)
{
    uint64_t until = eryx__clock_now_us() + 1000000u;
    while (c->out_off < c->out_len && eryx__clock_now_us() < until) {
        short want = 0;
        if (flush(c, &want) != 0 || want == 0)
            return;
        struct pollfd p = {c->fd, want, 0};
        if (poll(&p, 1, 50) < 0 && errno != EINTR)
            return;
    }
}

void
eryx__net_close(eryx__net *net, uint32_t handle)
{
    conn *c = find(net, handle);
    if (c == NULL)
        return;
    if (get_state(net, c) == C_OPEN && c->out_len > c->out_off)
        linger(c);
    drop(net, c);
}

const char *
eryx__net_error(eryx__net *net, uint32_t handle)
{
    if (handle == 0)
        return net->last_error;
    conn *c = find(net, handle);
    return c != NULL ? c->msg : "unknown connection";
}

static cJSON *
addr_json(const struct sockaddr_storage *ss)
{
    char text[INET6_ADDRSTRLEN] = "0.0.0.0";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        port = ntohs(a->sin6_port);
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateString(text));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(port));
    return arr;
}

char *
eryx__net_info(eryx__net *net, uint32_t handle)
{
    if (handle == 0) {
        cJSON *o = cJSON_CreateObject(),
              *v = cJSON_AddArrayToObject(o, "openssl");
        cJSON_AddItemToArray(v, cJSON_CreateString(eryx__tls_version_text()));
        cJSON_AddItemToArray(
            v, cJSON_CreateNumber((double)eryx__tls_version_number()));
        char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return text;
    }
    conn *c = find(net, handle);
    if (c == NULL)
        return NULL;
    int s = get_state(net, c);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "host", c->host);
    if (s == C_OPEN || s == C_HANDSHAKE) {
        struct sockaddr_storage local;
        socklen_t l = sizeof local;
        memset(&local, 0, sizeof local);
        (void)getsockname(c->fd, (struct sockaddr *)&local, &l);
        cJSON_AddItemToObject(o, "peer", addr_json(&c->peer));
        cJSON_AddItemToObject(o, "local", addr_json(&local));
    }
    if (s == C_OPEN && c->ssl != NULL)
        cJSON_AddItemToObject(o, "tls", eryx__tls_info(c->ssl));
    else
        cJSON_AddNullToObject(o, "tls");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* ------------------------------------------------------------- waiting */

/* What `c` offers of `events` without waiting; *want: what to poll its fd
   for. */
static uint32_t
ready(eryx__net *net, conn *c, uint32_t events, short *want)
{
    int s = advance(net, c, want);
    if (s == C_FAILED)
        return (events & (ERYX_ABI_NET_READ | ERYX_ABI_NET_WRITE)) |
               ERYX_ABI_NET_ERROR;
    if (s != C_OPEN)
        return 0; /* connecting: the worker wakes us; handshaking: *want */
    if (c->out_len > c->out_off) {
        if (flush(c, want) != 0)
            return (events & (ERYX_ABI_NET_READ | ERYX_ABI_NET_WRITE)) |
                   ERYX_ABI_NET_ERROR;
    }
    uint32_t r = 0;
    if (events & ERYX_ABI_NET_READ) {
        if (c->eof || (c->ssl != NULL && eryx__tls_pending(c->ssl) > 0))
            r |= ERYX_ABI_NET_READ;
        else
            *want |= POLLIN;
    }
    if (events & ERYX_ABI_NET_WRITE) {
        if (c->out_len - c->out_off < OUT_HIGH)
            r |= ERYX_ABI_NET_WRITE;
        else
            *want |= POLLOUT;
    }
    return r;
}

int32_t
eryx__net_poll(eryx__net *net,
               eryx_abi_net_poll *items,
               size_t n,
               int64_t timeout_ns,
               bool calls,
               const eryx__stop *stop)
{
    uint64_t start = eryx__clock_now_us();
    uint64_t until =
        timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns / 1000u;
    /* A blocking operation's wait (no callbacks to serve) ends at the
       policy's I/O timeout. */
    uint64_t io_until =
        calls || net->policy == NULL
            ? UINT64_MAX
            : start + (uint64_t)net->policy->io_timeout_ms * 1000u;
    struct pollfd fds[ERYX_ABI_NET_POLL_MAX + 1];
    size_t which[ERYX_ABI_NET_POLL_MAX]; /* the entry of each polled fd */
    bool open[ERYX_ABI_NET_POLL_MAX];    /* its connection was open */
    for (int rounds = 0;; rounds++) {
        /* What is ready without asking the sockets (handshakes and
           buffered bytes move on here). */
        int32_t count = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            conn *c = find(net, items[i].handle);
            if (c == NULL) {
                items[i].revents = ERYX_ABI_NET_ERROR;
                count++;
                continue;
            }
            short want = 0;
            items[i].revents = ready(net, c, items[i].events, &want);
            if (items[i].revents != 0)
                count++;
            else if (want != 0 && c->fd >= 0) {
                fds[k] = (struct pollfd){c->fd, want, 0};
                open[k] = get_state(net, c) == C_OPEN;
                which[k++] = i;
            }
        }
        if (count > 0)
            return count;
        uint64_t now = eryx__clock_now_us();
        bool wait = timeout_ns != 0 && now < until;
        if (wait && eryx__stop_due(stop, now))
            return ERYX_ABI_WAIT_STOP;
        if (wait && eryx__stop_keyboard(stop))
            return 0;
        if (wait && calls && eryx__hub_has_done(net->hub))
            return 0;
        if (wait && now >= io_until) {
            for (size_t i = 0; i < n; i++)
                items[i].revents = ERYX_ABI_NET_TIMEDOUT;
            return (int32_t)n;
        }
        uint64_t wake = until;
        if (stop->deadline_us < wake)
            wake = stop->deadline_us;
        if (io_until < wake)
            wake = io_until;
        uint64_t left = !wait || wake <= now ? 0 : wake - now;
        if (left > 3600000000u)
            left = 3600000000u;
        struct timespec ts = {(time_t)(left / 1000000u),
                              (long)(left % 1000000u) * 1000};
        fds[k] = (struct pollfd){net->wake_fd, POLLIN, 0};
        int r =
            ppoll(fds, k + 1, wait && wake == UINT64_MAX ? NULL : &ts, NULL);
        if (r < 0 && errno != EINTR)
            return 0;
        if (fds[k].revents & POLLIN) {
            uint64_t v;
            ssize_t got = read(net->wake_fd, &v, sizeof v);
            (void)got;
        }
        /* A readable open connection is ready to read; anything else the
           sockets report moves a handshake or a flush on: look again. */
        bool moved = false;
        for (size_t j = 0; r > 0 && j < k; j++) {
            eryx_abi_net_poll *it = &items[which[j]];
            short re = fds[j].revents;
            if (re == 0)
                continue;
            moved = true;
            if (open[j] && (it->events & ERYX_ABI_NET_READ) &&
                (re & (POLLIN | POLLHUP | POLLERR))) {
                it->revents |= ERYX_ABI_NET_READ;
                count++;
            }
        }
        if (count > 0)
            return count;
        if (!wait && (!moved || rounds >= 8))
            return 0;
    }
}
