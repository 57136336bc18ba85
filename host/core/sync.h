/*
** sync.h: waiting between threads (prefix eryx__sync_): condition
** variables on the monotonic clock, and a short spin for news expected
** within microseconds.
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
/* Poll `*word` (atomic) until it differs from `seen` or `max_us` pass;
   true when it changed. */
bool
eryx__sync_spin_while(const unsigned *word, unsigned seen, uint64_t max_us);

#endif /* ERYX_SYNC_H */
