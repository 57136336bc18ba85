/*
** clock.c: the monotonic clock that every deadline and timed wait uses.
*/
#include <time.h>

#include "core/internal.h"

uint64_t
eryx__clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
