/*
** sync.h: waiting between threads (prefix eryx__sync_): condition
** variables on the monotonic clock, a short spin for news expected
** within microseconds, and the phases of fork().
*/
#ifndef ERYX_SYNC_H
#define ERYX_SYNC_H

#include <pthread.h>

#include "core/internal.h"

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
void eryx__sync_cond_init(pthread_cond_t *cv);
/* Wait on `cv` (with `mu` held) until woken or until `wake_us` on
   eryx__clock_now_us's clock; UINT64_MAX waits without a time limit. */
void eryx__sync_cond_wait_until(pthread_cond_t *cv,
                                pthread_mutex_t *mu,
                                uint64_t wake_us);

/* How long a thread that expects news within microseconds (a guest waiting
   for a callback, a worker just done with one) polls before it sleeps on a
   condition variable: waking a sleeping thread costs more than this on a
   busy machine. */
#define ERYX__SPIN_US 50u
/* How long a waiter polls before it checks that the thread it waits for
   has started on its work (a worker that polls for jobs takes one within
   a microsecond). */
#define ERYX__SPIN_START_US 5u
/* Poll `*word` (atomic) until it differs from `seen` or `max_us` pass;
   true when it changed.  A process confined to one CPU does not poll (the
   thread it waits for could not run meanwhile): one look. */
bool
eryx__sync_spin_while(const unsigned *word, unsigned seen, uint64_t max_us);
/* The CPU the calling thread runs on (-1: unknown), so that a thread can
   leave out polling for a thread that runs on the same one. */
int eryx__sync_cpu(void);

/* fork(): the phases of pthread_atfork, passed to the parts of an engine
   that have threads (engine/engine.c calls them).  Before the fork each
   part waits for its thread to be out of Wasmtime and of its locks, and
   holds the locks; the parent lets go of them; the child, which has none
   of the threads, makes the locks and condition variables anew and starts
   the threads again when they are next needed. */
enum { ERYX__FORK_PREPARE, ERYX__FORK_PARENT, ERYX__FORK_CHILD };

#endif /* ERYX_SYNC_H */
