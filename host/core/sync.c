/*
** sync.c: condition variables on the monotonic clock, and short spins
** (eryx__sync_*).
*/
#include <time.h>

#include "core/sync.h"

void
eryx__sync_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

void
eryx__sync_cond_wait_until(pthread_cond_t *cv,
                           pthread_mutex_t *mu,
                           uint64_t wake_us)
{
    if (wake_us == UINT64_MAX) {
        pthread_cond_wait(cv, mu);
        return;
    }
    struct timespec ts;
    ts.tv_sec = (time_t)(wake_us / 1000000u);
    ts.tv_nsec = (long)(wake_us % 1000000u) * 1000;
    pthread_cond_timedwait(cv, mu, &ts);
}

bool
eryx__sync_spin_while(const unsigned *word, unsigned seen, uint64_t max_us)
{
    uint64_t until = eryx__clock_now_us() + max_us;
    for (unsigned i = 0;; i++) {
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
            return true;
        if ((i & 63u) == 63u && eryx__clock_now_us() >= until)
            return false;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}
