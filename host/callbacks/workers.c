/*
** workers.c: the engine's worker threads, which run callback handlers.  The
** set grows when every worker is busy (handlers may block, e.g. on each
** other), up to a cap, and workers stay for the engine's lifetime.
*/
#include <pthread.h>

#include "callbacks/callbacks.h"
#include "core/sync.h"

#define POOL_MAX_THREADS 256

typedef struct job {
    void (*fn)(void *);
    void *arg;
    int cpu; /* where the submitting thread ran */
    struct job *next;
} job;

struct eryx__workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t queued, idle, nthreads; /* idle: waiting or polling for work */
    unsigned submitted;            /* jobs ever queued (atomic) */
    bool shutdown;
    pthread_t threads[POOL_MAX_THREADS];
};

static void *
worker(void *arg)
{
    eryx__workers *p = arg;
    int peer = -1; /* the CPU of the last job's submitter */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->head == NULL && !p->shutdown) {
            /* Idle: poll for a moment (a guest's next call often follows
               within microseconds), then sleep.  Not when the guest that
               submitted the last job runs on this CPU: it is waiting for
               this one, and polling would keep it waiting. */
            p->idle++;
            unsigned seen = __atomic_load_n(&p->submitted, __ATOMIC_ACQUIRE);
            pthread_mutex_unlock(&p->mu);
            if (peer < 0 || peer != eryx__sync_cpu())
                eryx__sync_spin_while(&p->submitted, seen, ERYX__SPIN_US);
            pthread_mutex_lock(&p->mu);
            while (p->head == NULL && !p->shutdown)
                pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (p->head == NULL)
            break; /* shut down, and nothing left to run */
        job *j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued--;
        peer = j->cpu;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        eryx__free(j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

eryx__workers *
eryx__workers_new(void)
{
    eryx__workers *p = eryx__calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
}

void
eryx__workers_free(eryx__workers *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    eryx__free(p);
}

void
eryx__workers_fork(eryx__workers *p, int phase)
{
    if (phase == ERYX__FORK_PREPARE) {
        pthread_mutex_lock(&p->mu);
        return;
    }
    if (phase == ERYX__FORK_CHILD) {
        /* The workers are the parent's, and so are the executes waiting
           for the queued handlers: those are not run here. */
        while (p->head != NULL) {
            job *j = p->head;
            p->head = j->next;
            eryx__free(j);
        }
        p->tail = NULL;
        p->queued = p->idle = p->nthreads = 0;
        pthread_cond_init(&p->cv, NULL);
    }
    pthread_mutex_unlock(&p->mu);
}

bool
eryx__workers_submit(eryx__workers *p, void (*fn)(void *), void *arg)
{
    job *j = eryx__malloc(sizeof *j);
    if (j == NULL)
        return false;
    j->fn = fn;
    j->arg = arg;
    j->cpu = eryx__sync_cpu();
    j->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->queued + 1 > p->idle && p->nthreads < POOL_MAX_THREADS &&
        pthread_create(&p->threads[p->nthreads], NULL, worker, p) == 0)
        p->nthreads++;
    if (p->nthreads == 0) {
        pthread_mutex_unlock(&p->mu);
        eryx__free(j);
        return false;
    }
    if (p->tail != NULL)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    __atomic_add_fetch(&p->submitted, 1u, __ATOMIC_RELEASE);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return true;
}
