/*
** hook.c: hooks, a handler and its userdata shared by reference between
** configs, sandboxes and the calls in flight (eryx__hook_*).
*/
#include "callbacks/callbacks.h"

eryx__hook *
eryx__hook_new(void (*fn)(void), void *userdata, void (*free_userdata)(void *))
{
    eryx__hook *h = eryx__malloc(sizeof *h);
    if (h == NULL)
        return NULL;
    h->fn = fn;
    h->userdata = userdata;
    h->free_userdata = free_userdata;
    h->refs = 1;
    return h;
}

eryx__hook *
eryx__hook_ref(eryx__hook *h)
{
    if (h != NULL)
        __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
    return h;
}

void
eryx__hook_unref(eryx__hook *h)
{
    if (h == NULL || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (h->free_userdata != NULL)
        h->free_userdata(h->userdata);
    eryx__free(h);
}
