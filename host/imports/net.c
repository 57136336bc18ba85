/*
** net.c: the network imports (guest/runtime.wit's net-*) and
** `environment`, over the store's eryx__net (net/), made on first use.
** Everything the guest passes is checked here: handles are looked up (an
** unknown one is -EBADF, never a trap), lengths are bounded, and buffers
** must lie in guest memory (a violation traps).
*/
#include <string.h>

#include <cjson/cJSON.h>

#include "imports/imports.h"

#define ARG_I(i) ((uint32_t)args[i].of.i32)
#define HOST_MAX 1024 /* longer host names are refused before copying */
#define ALPN_MAX 512

static wasm_trap_t *
ret(wasmtime_val_t *results, int32_t v)
{
    results[0].kind = WASMTIME_I32;
    results[0].of.i32 = v;
    return NULL;
}

/* The store's network, made on first use; NULL when memory runs out. */
static eryx__net *
net(eryx__import_env *env)
{
    eryx__store *st = env->st;
    if (st->net == NULL)
        st->net = eryx__net_new(st->settings->net, st->settings->secrets,
                                st->hub, st->workers);
    return st->net;
}

/* Copy `text` (len bytes) into the guest buffer [buf, buf + cap), at
   most cap bytes; the result is the full length. */
static wasm_trap_t *
give(eryx__import_env *env,
     uint32_t buf,
     uint32_t cap,
     const char *text,
     size_t len,
     wasmtime_val_t *results,
     const char *what)
{
    if (!eryx__guest_check(env->ctx, &env->memory, buf, cap))
        return eryx__imports_violation(env->st, what);
    if (len > INT32_MAX)
        len = 0;
    size_t n = len < cap ? len : cap;
    if (eryx__guest_write(env->ctx, &env->memory, buf, text, n) != ERYX_OK)
        return eryx__imports_violation(env->st, what);
    return ret(results, (int32_t)len);
}

/* A guest string of at most `max` bytes without NUL: *out (the caller
   frees it), or NULL with *code set (-EINVAL) and no trap; a trap when
   out of bounds. */
static wasm_trap_t *
small_string(eryx__import_env *env,
             uint32_t ptr,
             uint32_t len,
             size_t max,
             char **out,
             int32_t *code,
             const char *what)
{
    *out = NULL;
    *code = 0;
    if (!eryx__guest_check(env->ctx, &env->memory, ptr, len))
        return eryx__imports_violation(env->st, what);
    if (len > max) {
        *code = -ERYX__EINVAL;
        return NULL;
    }
    size_t n;
    wasm_trap_t *t =
        eryx__imports_copy(env, (int32_t)ptr, (int32_t)len, out, &n, what);
    if (t != NULL)
        return t;
    if (strlen(*out) != n) {
        eryx__free(*out);
        *out = NULL;
        *code = -ERYX__EINVAL;
    }
    return NULL;
}

/* A checked host pointer to guest bytes [ptr, ptr + len). */
static uint8_t *
span(eryx__import_env *env, uint32_t ptr, uint32_t len)
{
    if (!eryx__guest_check(env->ctx, &env->memory, ptr, len))
        return NULL;
    return wasmtime_memory_data(env->ctx, &env->memory) + ptr;
}

/* net-connect(host_ptr, host_len, port) -> handle or -errno */
static wasm_trap_t *
net_connect(eryx__import_env *env,
            const wasmtime_val_t *args,
            wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    if (n == NULL)
        return eryx__imports_nomem(env->st);
    char *host;
    int32_t code; /* unused: eryx__net_connect(NULL) says why */
    wasm_trap_t *t = small_string(env, ARG_I(0), ARG_I(1), HOST_MAX, &host,
                                  &code, "net-connect host");
    if (t != NULL)
        return t;
    if (host == NULL) /* said through net-error 0, as any refusal */
        return ret(results, eryx__net_connect(n, NULL, 0));
    int32_t r = eryx__net_connect(n, host, ARG_I(2));
    eryx__free(host);
    return ret(results, r);
}

static wasm_trap_t *
net_state(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    return n ? ret(results, eryx__net_state(n, ARG_I(0)))
             : eryx__imports_nomem(env->st);
}

/* net-send and net-recv: (handle, ptr, len) over a checked span of guest
   memory, which the host reads from or writes into directly. */
static wasm_trap_t *
net_io(eryx__import_env *env,
       const wasmtime_val_t *args,
       wasmtime_val_t *results,
       bool send)
{
    eryx__net *n = net(env);
    if (n == NULL)
        return eryx__imports_nomem(env->st);
    uint8_t *p = span(env, ARG_I(1), ARG_I(2));
    if (p == NULL)
        return eryx__imports_violation(env->st, send ? "net-send buffer"
                                                     : "net-recv buffer");
    return ret(results, send ? eryx__net_send(n, ARG_I(0), p, ARG_I(2))
                             : eryx__net_recv(n, ARG_I(0), p, ARG_I(2)));
}

static wasm_trap_t *
net_send(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    return net_io(env, args, results, true);
}

static wasm_trap_t *
net_recv(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    return net_io(env, args, results, false);
}

/* net-tls(handle, name_ptr, name_len, alpn_ptr, alpn_len) -> 0 or -errno */
static wasm_trap_t *
net_tls(eryx__import_env *env,
        const wasmtime_val_t *args,
        wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    if (n == NULL)
        return eryx__imports_nomem(env->st);
    char *name;
    int32_t code;
    wasm_trap_t *t = small_string(env, ARG_I(1), ARG_I(2), HOST_MAX, &name,
                                  &code, "net-tls name");
    if (t != NULL || name == NULL)
        return t ? t : ret(results, code);
    uint8_t *alpn = span(env, ARG_I(3), ARG_I(4));
    if (alpn == NULL) {
        eryx__free(name);
        return eryx__imports_violation(env->st, "net-tls alpn");
    }
    int32_t r = ARG_I(4) > ALPN_MAX
                    ? -ERYX__EINVAL
                    : eryx__net_tls(n, ARG_I(0), name, alpn, ARG_I(4));
    eryx__free(name);
    return ret(results, r);
}

static wasm_trap_t *
net_shutdown(eryx__import_env *env,
             const wasmtime_val_t *args,
             wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    return n ? ret(results, eryx__net_shutdown(n, ARG_I(0), ARG_I(1)))
             : eryx__imports_nomem(env->st);
}

static wasm_trap_t *
net_close(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    (void)results;
    if (env->st->net != NULL)
        eryx__net_close(env->st->net, ARG_I(0));
    return NULL;
}

/* net-poll(entries_ptr, count, timeout_ns, flags) -> ready count */
static wasm_trap_t *
net_poll(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    if (n == NULL)
        return eryx__imports_nomem(env->st);
    uint32_t ptr = ARG_I(0), count = ARG_I(1), flags = (uint32_t)args[3].of.i32;
    if (count > ERYX_ABI_NET_POLL_MAX)
        return ret(results, -ERYX__EINVAL);
    eryx_abi_net_poll items[ERYX_ABI_NET_POLL_MAX];
    uint8_t raw[ERYX_ABI_NET_POLL_SIZE * 64];
    for (uint32_t i = 0; i < count; i += 64) {
        uint32_t k = count - i < 64 ? count - i : 64;
        if (eryx__guest_read(env->ctx, &env->memory,
                             ptr + (uint64_t)i * ERYX_ABI_NET_POLL_SIZE,
                             (uint64_t)k * ERYX_ABI_NET_POLL_SIZE,
                             raw) != ERYX_OK)
            return eryx__imports_violation(env->st, "net-poll entries");
        for (uint32_t j = 0; j < k; j++) {
            const uint8_t *e = raw + (size_t)j * ERYX_ABI_NET_POLL_SIZE;
            items[i + j].handle = (uint32_t)eryx__le_get(e, 4);
            items[i + j].events = (uint32_t)eryx__le_get(e + 4, 4);
            items[i + j].revents = 0;
        }
    }
    int32_t r =
        eryx__net_poll(n, items, count, args[2].of.i64,
                       (flags & ERYX_ABI_NET_POLL_CALLS) != 0, &env->st->stop);
    if (r == ERYX_ABI_WAIT_STOP)
        return eryx__imports_stop(env->st);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t v[4];
        eryx__le_put(v, items[i].revents, 4);
        if (eryx__guest_write(env->ctx, &env->memory,
                              ptr + (uint64_t)i * ERYX_ABI_NET_POLL_SIZE + 8, v,
                              4) != ERYX_OK)
            return eryx__imports_violation(env->st, "net-poll entries");
    }
    return ret(results, r);
}

static wasm_trap_t *
net_error(eryx__import_env *env,
          const wasmtime_val_t *args,
          wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    if (n == NULL)
        return eryx__imports_nomem(env->st);
    const char *msg = eryx__net_error(n, ARG_I(0));
    return give(env, ARG_I(1), ARG_I(2), msg, strlen(msg), results,
                "net-error buffer");
}

static wasm_trap_t *
net_info(eryx__import_env *env,
         const wasmtime_val_t *args,
         wasmtime_val_t *results)
{
    eryx__net *n = net(env);
    if (n == NULL)
        return eryx__imports_nomem(env->st);
    char *json = eryx__net_info(n, ARG_I(0));
    if (json == NULL)
        return ret(results, -ERYX__EBADF);
    wasm_trap_t *t = give(env, ARG_I(1), ARG_I(2), json, strlen(json), results,
                          "net-info buffer");
    cJSON_free(json);
    return t;
}

/* environment(buf, cap) -> full length of the "NAME=VALUE\n" lines */
static wasm_trap_t *
environment(eryx__import_env *env,
            const wasmtime_val_t *args,
            wasmtime_val_t *results)
{
    const eryx__secrets *s = env->st->settings->secrets;
    const char *text = s ? s->env : "";
    return give(env, ARG_I(0), ARG_I(1), text, strlen(text), results,
                "environment buffer");
}

#define M ERYX_ABI_IMPORT_MODULE
const eryx__import eryx__net_imports[] = {
    {M, ERYX_ABI_IMPORT_NET_CONNECT, "iii", "i", net_connect},
    {M, ERYX_ABI_IMPORT_NET_STATE, "i", "i", net_state},
    {M, ERYX_ABI_IMPORT_NET_SEND, "iii", "i", net_send},
    {M, ERYX_ABI_IMPORT_NET_RECV, "iii", "i", net_recv},
    {M, ERYX_ABI_IMPORT_NET_TLS, "iiiii", "i", net_tls},
    {M, ERYX_ABI_IMPORT_NET_SHUTDOWN, "ii", "i", net_shutdown},
    {M, ERYX_ABI_IMPORT_NET_CLOSE, "i", "", net_close},
    {M, ERYX_ABI_IMPORT_NET_POLL, "iiIi", "i", net_poll},
    {M, ERYX_ABI_IMPORT_NET_ERROR, "iii", "i", net_error},
    {M, ERYX_ABI_IMPORT_NET_INFO, "iii", "i", net_info},
    {M, ERYX_ABI_IMPORT_ENVIRONMENT, "ii", "i", environment},
};
const size_t eryx__net_count = ERYX__COUNT(eryx__net_imports);
