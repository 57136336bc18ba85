/*
** pool.c: eryx_pool, warm sessions lent to threads.  One mutex guards the
** idle stack and the counts; sessions are started, reset and freed outside
** it.  Idle sessions are a stack (the most recently released is lent
** first, its pages still warm); eviction frees the ones idle longest.
*/
#include <pthread.h>
#include <string.h>

#include "core/sync.h"
#include "sandbox/sandbox.h"

typedef struct idle_slot {
    eryx_session *session;
    uint64_t since_us;
} idle_slot;

struct eryx_pool {
    eryx_engine *engine;
    eryx_config config; /* the sessions' settings; no paths */
    eryx_pool_options opt;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a session was released, or a slot freed */
    idle_slot *idle;   /* max_size slots, bottom = idle longest */
    uint32_t nidle;
    uint32_t alive; /* idle + lent + being started */
    eryx_pool_stats stats;
};

void
eryx_pool_options_init(eryx_pool_options *o)
{
    if (o == NULL)
        return;
    o->max_size = 16;
    o->min_idle = 1;
    o->acquire_timeout_ms = 30000;
    o->idle_timeout_ms = 60000;
}

/* The session idle longest, if it is past the timeout and above
   min_idle: taken out of the stack (mu held), or NULL. */
static eryx_session *
take_expired(eryx_pool *p, uint64_t now)
{
    uint64_t limit = (uint64_t)p->opt.idle_timeout_ms * 1000u;
    if (limit == 0 || p->nidle <= p->opt.min_idle ||
        now - p->idle[0].since_us < limit)
        return NULL;
    eryx_session *ss = p->idle[0].session;
    p->nidle--;
    memmove(p->idle, p->idle + 1, p->nidle * sizeof *p->idle);
    p->alive--;
    p->stats.evictions++;
    pthread_cond_broadcast(&p->cv); /* room for a new session */
    return ss;
}

/* Evict expired sessions, freeing each outside the lock; called on every
   acquire and release. */
static void
evict(eryx_pool *p)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        eryx_session *gone = take_expired(p, eryx__clock_now_us());
        pthread_mutex_unlock(&p->mu);
        if (gone == NULL)
            return;
        eryx_session_free(gone);
    }
}

static void
push_idle(eryx_pool *p, eryx_session *ss)
{
    /* idle has max_size >= 1 slots (eryx_pool_new): */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    p->idle[p->nidle].session = ss;
    p->idle[p->nidle].since_us = eryx__clock_now_us();
    p->nidle++;
    pthread_cond_signal(&p->cv);
}

eryx_status
eryx_pool_new(eryx_engine *engine,
              const eryx_config *config,
              const eryx_pool_options *options,
              eryx_pool **out,
              eryx_error *err)
{
    if (out == NULL || engine == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "engine or out is NULL");
    *out = NULL;
    eryx_pool_options opt;
    if (options != NULL)
        opt = *options;
    else
        eryx_pool_options_init(&opt);
    if (opt.max_size == 0 || opt.min_idle > opt.max_size)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "pool options: need 1 <= max_size and "
                          "min_idle <= max_size");
    eryx_pool *p = eryx__calloc(1, sizeof *p);
    if (p == NULL)
        return eryx__fail_nomem(err);
    p->engine = engine;
    p->opt = opt;
    pthread_mutex_init(&p->mu, NULL);
    eryx__sync_cond_init(&p->cv);
    eryx_status s = eryx__settings_copy(&p->config.settings, config, err);
    if (s == ERYX_OK &&
        (p->idle = eryx__calloc(opt.max_size, sizeof *p->idle)) == NULL)
        s = eryx__fail_nomem(err);
    for (uint32_t i = 0; s == ERYX_OK && i < opt.min_idle; i++) {
        eryx_session *ss = NULL;
        s = eryx_session_new(engine, &p->config, &ss, err);
        if (s == ERYX_OK) {
            push_idle(p, ss);
            p->alive++;
            p->stats.creations++;
        }
    }
    if (s != ERYX_OK) {
        eryx_pool_free(p);
        return s;
    }
    *out = p;
    return ERYX_OK;
}

void
eryx_pool_free(eryx_pool *p)
{
    if (p == NULL)
        return;
    for (uint32_t i = 0; i < p->nidle; i++)
        eryx_session_free(p->idle[i].session);
    eryx__free(p->idle);
    eryx__settings_clear(&p->config.settings);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    eryx__free(p);
}

eryx_status
eryx_pool_acquire(eryx_pool *p, eryx_session **out, eryx_error *err)
{
    if (p == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "pool or out is NULL");
    *out = NULL;
    evict(p);
    uint64_t deadline =
        eryx__clock_now_us() + (uint64_t)p->opt.acquire_timeout_ms * 1000u;
    bool waited = false;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->nidle > 0) {
            *out = p->idle[--p->nidle].session;
            p->stats.acquisitions++;
            pthread_mutex_unlock(&p->mu);
            return ERYX_OK;
        }
        if (p->alive < p->opt.max_size) {
            p->alive++; /* a slot for the session started below */
            pthread_mutex_unlock(&p->mu);
            eryx_status s = eryx_session_new(p->engine, &p->config, out, err);
            pthread_mutex_lock(&p->mu);
            if (s == ERYX_OK) {
                p->stats.creations++;
                p->stats.acquisitions++;
            } else {
                p->alive--;
                pthread_cond_signal(&p->cv);
            }
            pthread_mutex_unlock(&p->mu);
            return s;
        }
        if (!waited) {
            waited = true;
            p->stats.waits++;
        }
        if (eryx__clock_now_us() >= deadline)
            break;
        eryx__sync_cond_wait_until(&p->cv, &p->mu, deadline);
    }
    p->stats.timeouts++;
    pthread_mutex_unlock(&p->mu);
    return eryx__fail(err, ERYX_E_BUSY,
                      "no pooled session came free within %u ms (all %u "
                      "are in use)",
                      p->opt.acquire_timeout_ms, p->opt.max_size);
}

void
eryx_pool_release(eryx_pool *p, eryx_session *ss)
{
    if (p == NULL || ss == NULL)
        return;
    /* Reset: a new interpreter, so nothing of this user reaches the next. */
    eryx_status s = eryx__session_renew(ss, NULL);
    pthread_mutex_lock(&p->mu);
    if (s == ERYX_OK) {
        p->stats.resets++;
        push_idle(p, ss);
        ss = NULL;
    } else {
        p->alive--;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    eryx_session_free(ss); /* NULL unless it could not be reset */
    evict(p);
}

void
eryx_pool_get_stats(eryx_pool *p, eryx_pool_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    out->idle = p->nidle;
    out->in_use = p->alive - p->nidle;
    pthread_mutex_unlock(&p->mu);
}
