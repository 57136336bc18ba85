/*
** sync.c: condition variables on the monotonic clock, and short spins
** (eryx__sync_*).
*/
#define _GNU_SOURCE /* sched_getaffinity, sched_getcpu */
#include <sched.h>
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

/* Whether the process may run on more than one CPU (asked once: 1 yes,
   -1 no, 0 not yet).  With one, a thread that spins only keeps the thread
   it waits for off the CPU. */
static int several_cpus;

static bool
spinning_can_help(void)
{
    int v = __atomic_load_n(&several_cpus, __ATOMIC_RELAXED);
    if (v == 0) {
        cpu_set_t set;
        v = sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) > 1
                ? 1
                : -1;
        __atomic_store_n(&several_cpus, v, __ATOMIC_RELAXED);
    }
    return v > 0;
}

int
eryx__sync_cpu(void)
{
    return sched_getcpu();
}

bool
eryx__sync_spin_while(const unsigned *word, unsigned seen, uint64_t max_us)
{
    if (!spinning_can_help())
        return __atomic_load_n(word, __ATOMIC_ACQUIRE) != seen;
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
