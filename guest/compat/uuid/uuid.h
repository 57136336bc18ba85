/*
** uuid/uuid.h: the one libuuid function CPython's _uuid module calls,
** provided by guest/uuid.c (WASI has no libuuid).
*/
#ifndef ERYX_GUEST_UUID_H
#define ERYX_GUEST_UUID_H

typedef unsigned char uuid_t[16];

/* A version-1 (time-based) UUID from the sandbox's clock, with a random
   node (multicast bit set: no hardware address) and a random clock
   sequence; timestamps never repeat within an instance. */
void uuid_generate_time(uuid_t out);

#endif /* ERYX_GUEST_UUID_H */
