/*
** storage.c: eryx_storage, an in-memory tree of directories, files and
** symlinks (eryx__storage_*, eryx__node_*), its quota, and its public
** API: snapshot, restore, fork.  A storage is reference-counted and
** locked, so several sessions on several threads may share one; nodes
** are freed when no directory names them and no descriptor holds them.
*/
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "vfs/vfs.h"

#define DEFAULT_LIMIT (64ull << 20)

struct eryx__quota {
    uint64_t used, limit; /* used: atomic */
    unsigned refs;        /* atomic */
};

struct eryx_storage {
    pthread_mutex_t mu;
    unsigned refs; /* atomic */
    eryx__quota *quota;
    eryx__node *root;
    uint64_t next_ino;
    bool read_only;
};

uint64_t
eryx__vfs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- quota ---- */

eryx__quota *
eryx__quota_new(uint64_t limit)
{
    eryx__quota *q = eryx__calloc(1, sizeof *q);
    if (q != NULL) {
        q->limit = limit ? limit : DEFAULT_LIMIT;
        q->refs = 1;
    }
    return q;
}

void
eryx__quota_unref(eryx__quota *q)
{
    if (q != NULL && __atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0)
        eryx__free(q);
}

uint64_t
eryx__quota_used(const eryx__quota *q)
{
    return __atomic_load_n(&q->used, __ATOMIC_RELAXED);
}

static bool
charge(eryx__quota *q, uint64_t n)
{
    uint64_t used = __atomic_load_n(&q->used, __ATOMIC_RELAXED);
    do {
        if (n > q->limit || used > q->limit - n)
            return false;
    } while (!__atomic_compare_exchange_n(&q->used, &used, used + n, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return true;
}

static void
refund(eryx__quota *q, uint64_t n)
{
    __atomic_sub_fetch(&q->used, n, __ATOMIC_RELAXED);
}

/* ---- nodes ---- */

static eryx__node *
node_new(eryx_storage *s, int type)
{
    if (!charge(s->quota, ERYX__VFS_NODE_COST))
        return NULL;
    eryx__node *n = eryx__calloc(1, sizeof *n);
    if (n == NULL) {
        refund(s->quota, ERYX__VFS_NODE_COST);
        return NULL;
    }
    n->type = (uint8_t)type;
    n->ino = ++s->next_ino;
    n->atim = n->mtim = n->ctim = eryx__vfs_now_ns();
    return n;
}

static void
node_free(eryx_storage *s, eryx__node *n)
{
    refund(s->quota, ERYX__VFS_NODE_COST + n->len);
    eryx__free(n->data);
    eryx__free(n->ents);
    eryx__free(n);
}

/* `n` lost a name or a descriptor: free it if nothing holds it.  A
   directory losing its last name lets go of its entries first (a whole
   tree dropped at once: the storage freed, or restored over). */
static void
node_maybe_free(eryx_storage *s, eryx__node *n)
{
    if (n->nlink != 0 || n->opens != 0)
        return;
    while (n->nents > 0)
        eryx__node_detach(s, n, n->nents - 1);
    node_free(s, n);
}

bool
eryx__node_find(const eryx__node *dir,
                const char *name,
                size_t len,
                uint32_t *idx)
{
    uint32_t lo = 0, hi = dir->nents;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const eryx__dirent *e = &dir->ents[mid];
        size_t m = e->len < len ? e->len : len;
        int c = memcmp(e->name, name, m);
        if (c == 0)
            c = e->len < len ? -1 : e->len > len ? 1 : 0;
        if (c == 0) {
            *idx = mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *idx = lo;
    return false;
}

int
eryx__node_attach(eryx_storage *s,
                  eryx__node *dir,
                  const char *name,
                  size_t len,
                  eryx__node *node)
{
    uint32_t idx;
    if (eryx__node_find(dir, name, len, &idx))
        return ERYX__EEXIST;
    if (!charge(s->quota, len))
        return ERYX__ENOSPC;
    if (dir->nents == dir->capents) {
        uint32_t cap = dir->capents ? dir->capents * 2 : 8;
        eryx__dirent *e = eryx__realloc(dir->ents, cap * sizeof *e);
        if (e == NULL) {
            refund(s->quota, len);
            return ERYX__ENOMEM;
        }
        dir->ents = e;
        dir->capents = cap;
    }
    char *copy = eryx__memdup(name, len);
    if (copy == NULL) {
        refund(s->quota, len);
        return ERYX__ENOMEM;
    }
    memmove(&dir->ents[idx + 1], &dir->ents[idx],
            (dir->nents - idx) * sizeof *dir->ents);
    dir->ents[idx] = (eryx__dirent){copy, (uint16_t)len, node};
    dir->nents++;
    node->nlink++;
    if (node->type == ERYX__FT_DIR)
        node->parent = dir;
    dir->mtim = dir->ctim = eryx__vfs_now_ns();
    return ERYX__EOK;
}

void
eryx__node_detach(eryx_storage *s, eryx__node *dir, uint32_t idx)
{
    eryx__dirent e = dir->ents[idx];
    memmove(&dir->ents[idx], &dir->ents[idx + 1],
            (dir->nents - idx - 1) * sizeof *dir->ents);
    dir->nents--;
    refund(s->quota, e.len);
    eryx__free(e.name);
    e.node->nlink--;
    if (e.node->type == ERYX__FT_DIR && e.node->nlink == 0)
        e.node->parent = NULL;
    dir->mtim = dir->ctim = eryx__vfs_now_ns();
    node_maybe_free(s, e.node);
}

int
eryx__node_create(eryx_storage *s,
                  eryx__node *dir,
                  const char *name,
                  size_t len,
                  int type,
                  const char *target,
                  size_t tlen,
                  eryx__node **out)
{
    if (type == ERYX__FT_DIR && eryx__node_depth(dir) + 1 > ERYX__VFS_DEPTH_MAX)
        return ERYX__ENAMETOOLONG;
    eryx__node *n = node_new(s, type);
    if (n == NULL)
        return ERYX__ENOSPC;
    if (type == ERYX__FT_SYMLINK) {
        int e = eryx__node_resize(s, n, tlen);
        if (e != ERYX__EOK) {
            node_free(s, n);
            return e;
        }
        if (tlen != 0)
            memcpy(n->data, target, tlen);
    }
    int e = eryx__node_attach(s, dir, name, len, n);
    if (e != ERYX__EOK) {
        node_free(s, n);
        return e;
    }
    *out = n;
    return ERYX__EOK;
}

void
eryx__node_open(eryx__node *n)
{
    n->opens++;
}

void
eryx__node_close(eryx_storage *s, eryx__node *n)
{
    n->opens--;
    node_maybe_free(s, n);
}

int
eryx__node_resize(eryx_storage *s, eryx__node *n, uint64_t size)
{
    if (size > n->len) {
        if (!charge(s->quota, size - n->len))
            return ERYX__ENOSPC;
        if (size > n->cap) {
            uint64_t cap = n->cap ? n->cap : 64;
            while (cap < size)
                cap = cap > UINT64_MAX / 2 ? size : cap * 2;
            /* Past 1 MiB grow by a quarter: a 50 MB file costs 62 MB, not
               up to twice its size. */
            if (cap > (1u << 20) && cap > size + size / 4)
                cap = size + size / 4;
            uint8_t *d =
                cap > SIZE_MAX ? NULL : eryx__realloc(n->data, (size_t)cap);
            if (d == NULL) {
                refund(s->quota, size - n->len);
                return ERYX__ENOMEM;
            }
            n->data = d;
            n->cap = cap;
        }
        memset(n->data + n->len, 0, (size_t)(size - n->len));
    } else {
        refund(s->quota, n->len - size);
        if (size == 0 && n->cap > (1u << 16)) {
            eryx__free(n->data);
            n->data = NULL;
            n->cap = 0;
        }
    }
    n->len = size;
    n->mtim = n->ctim = eryx__vfs_now_ns();
    return ERYX__EOK;
}

int
eryx__node_pwrite(eryx_storage *s,
                  eryx__node *n,
                  uint64_t off,
                  const eryx__iov *iov,
                  size_t niov,
                  uint64_t *done)
{
    uint64_t total = 0;
    for (size_t i = 0; i < niov; i++)
        total += iov[i].n;
    *done = 0;
    if (total == 0)
        return ERYX__EOK;
    if (off > UINT64_MAX - total || off + total > ((uint64_t)1 << 40))
        return ERYX__EFBIG;
    if (off + total > n->len) {
        int e = eryx__node_resize(s, n, off + total);
        if (e != ERYX__EOK)
            return e;
    }
    for (size_t i = 0; i < niov; i++) {
        memcpy(n->data + off, iov[i].p, iov[i].n);
        off += iov[i].n;
    }
    *done = total;
    n->mtim = n->ctim = eryx__vfs_now_ns();
    return ERYX__EOK;
}

uint64_t
eryx__node_pread(eryx__node *n, uint64_t off, const eryx__iov *iov, size_t niov)
{
    uint64_t done = 0;
    for (size_t i = 0; i < niov && off < n->len; i++) {
        uint64_t k = n->len - off < iov[i].n ? n->len - off : iov[i].n;
        memcpy(iov[i].p, n->data + off, (size_t)k);
        off += k;
        done += k;
    }
    return done;
}

unsigned
eryx__node_depth(const eryx__node *dir)
{
    unsigned d = 0;
    while (dir->parent != NULL)
        dir = dir->parent, d++;
    return d;
}

unsigned
eryx__node_height(const eryx__node *dir)
{
    unsigned h = 0;
    for (uint32_t i = 0; i < dir->nents; i++) {
        const eryx__node *c = dir->ents[i].node;
        if (c->type == ERYX__FT_DIR) {
            unsigned ch = 1 + eryx__node_height(c);
            if (ch > h)
                h = ch;
        }
    }
    return h;
}

/* ---- storages ---- */

eryx_storage *
eryx__storage_new(eryx__quota *quota, uint64_t limit)
{
    eryx_storage *s = eryx__calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (quota != NULL) {
        __atomic_add_fetch(&quota->refs, 1, __ATOMIC_RELAXED);
        s->quota = quota;
    } else if ((s->quota = eryx__quota_new(limit)) == NULL) {
        eryx__free(s);
        return NULL;
    }
    s->refs = 1;
    /* The root is free: an empty storage uses nothing. */
    s->root = eryx__calloc(1, sizeof *s->root);
    if (s->root == NULL) {
        eryx__quota_unref(s->quota);
        eryx__free(s);
        return NULL;
    }
    s->root->type = ERYX__FT_DIR;
    s->root->nlink = 1;
    s->root->ino = ++s->next_ino;
    s->root->atim = s->root->mtim = s->root->ctim = eryx__vfs_now_ns();
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

eryx_storage *
eryx__storage_ref(eryx_storage *s)
{
    if (s != NULL)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

/* Drop the whole tree under `root` (nodes still open stay until closed). */
static void
drop_tree(eryx_storage *s, eryx__node *root)
{
    while (root->nents > 0)
        eryx__node_detach(s, root, root->nents - 1);
    eryx__free(root->ents);
    eryx__free(root);
}

void
eryx__storage_unref(eryx_storage *s)
{
    if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    drop_tree(s, s->root);
    eryx__quota_unref(s->quota);
    pthread_mutex_destroy(&s->mu);
    eryx__free(s);
}

void
eryx__storage_set_read_only(eryx_storage *s, bool ro)
{
    eryx__storage_lock(s);
    s->read_only = ro;
    eryx__storage_unlock(s);
}

void
eryx__storage_lock(eryx_storage *s)
{
    pthread_mutex_lock(&s->mu);
}

void
eryx__storage_unlock(eryx_storage *s)
{
    pthread_mutex_unlock(&s->mu);
}

eryx__node *
eryx__storage_root(eryx_storage *s)
{
    return s->root;
}

bool
eryx__storage_is_read_only(eryx_storage *s)
{
    return s->read_only;
}

/* ---- byte form ---- */

static void
write_dir(eryx__vfs_buf *b, const eryx__node *dir)
{
    for (uint32_t i = 0; i < dir->nents && !b->failed; i++) {
        const eryx__dirent *e = &dir->ents[i];
        const eryx__node *n = e->node;
        eryx__storage_format_record(b, n->type, e->name, e->len, n->mtim,
                                    n->type == ERYX__FT_DIR ? NULL : n->data,
                                    n->type == ERYX__FT_DIR ? 0 : n->len);
        if (n->type == ERYX__FT_DIR) {
            write_dir(b, n);
            eryx__storage_format_record(b, 0, NULL, 0, 0, NULL, 0);
        }
    }
}

eryx_status
eryx__storage_serialize(eryx_storage *s,
                        uint8_t **out,
                        size_t *len,
                        eryx_error *err)
{
    eryx__vfs_buf b;
    eryx__storage_format_begin(&b);
    eryx__storage_lock(s);
    write_dir(&b, s->root);
    eryx__storage_unlock(s);
    if (!eryx__storage_format_end(&b))
        return eryx__fail_nomem(err);
    *out = b.data;
    *len = b.len;
    return ERYX_OK;
}

/* The builder a parse feeds: nodes under a new root. */
typedef struct builder {
    eryx_storage *s;
    eryx__node *dir;
    int failure; /* errno of the first failure */
} builder;

static bool
build_record(void *ctx,
             int type,
             const char *name,
             size_t name_len,
             uint64_t mtime,
             const uint8_t *content,
             uint64_t len)
{
    builder *b = ctx;
    if (type == 0) {
        if (b->dir->parent != NULL)
            b->dir = b->dir->parent;
        return true;
    }
    eryx__node *n;
    int e = eryx__node_create(b->s, b->dir, name, name_len,
                              type == ERYX__FT_SYMLINK ? ERYX__FT_SYMLINK
                              : type == ERYX__FT_DIR   ? ERYX__FT_DIR
                                                       : ERYX__FT_FILE,
                              (const char *)content, (size_t)len, &n);
    if (e == ERYX__EOK && type == ERYX__FT_FILE && len != 0) {
        e = eryx__node_resize(b->s, n, len);
        if (e == ERYX__EOK)
            memcpy(n->data, content, (size_t)len);
    }
    if (e != ERYX__EOK) {
        b->failure = e;
        return false;
    }
    n->mtim = n->atim = mtime;
    if (type == ERYX__FT_DIR)
        b->dir = n;
    return true;
}

/* A new tree from `data`, in storage `s` (whose quota it charges):
   returned as a root not yet installed. */
static eryx_status
build(eryx_storage *s,
      const uint8_t *data,
      size_t len,
      eryx__node **root,
      eryx_error *err)
{
    eryx__node *r = eryx__calloc(1, sizeof *r);
    if (r == NULL)
        return eryx__fail_nomem(err);
    r->type = ERYX__FT_DIR;
    r->nlink = 1;
    r->ino = ++s->next_ino;
    r->atim = r->mtim = r->ctim = eryx__vfs_now_ns();
    builder b = {s, r, ERYX__EOK};
    eryx__vfs_sink sink = {build_record, &b};
    eryx_status st = eryx__storage_format_parse(data, len, &sink, err);
    if (st != ERYX_OK) {
        drop_tree(s, r);
        if (b.failure == ERYX__ENOSPC)
            return eryx__fail(err, ERYX_E_INVALID_INPUT,
                              "the storage snapshot does not fit the "
                              "storage's limit");
        if (b.failure == ERYX__ENOMEM)
            return eryx__fail_nomem(err);
        return st;
    }
    *root = r;
    return ERYX_OK;
}

eryx_status
eryx__storage_fork(eryx_storage *s,
                   eryx__quota *quota,
                   eryx_storage **out,
                   eryx_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    eryx_status st = eryx__storage_serialize(s, &data, &len, err);
    if (st != ERYX_OK)
        return st;
    eryx_storage *f = eryx__storage_new(quota, s->quota->limit);
    if (f == NULL) {
        eryx__free(data);
        return eryx__fail_nomem(err);
    }
    eryx__node *root = NULL;
    st = build(f, data, len, &root, err);
    eryx__free(data);
    if (st != ERYX_OK) {
        eryx__storage_unref(f);
        return st;
    }
    drop_tree(f, f->root);
    f->root = root;
    f->read_only = s->read_only;
    *out = f;
    return ERYX_OK;
}

/* ---- public API ---- */

eryx_status
eryx_storage_new(uint64_t limit_bytes, eryx_storage **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = eryx__storage_new(NULL, limit_bytes);
    return *out ? ERYX_OK : eryx__fail_nomem(err);
}

void
eryx_storage_free(eryx_storage *storage)
{
    eryx__storage_unref(storage);
}

uint64_t
eryx_storage_used(const eryx_storage *storage)
{
    return storage ? eryx__quota_used(storage->quota) : 0;
}

eryx_status
eryx_storage_snapshot(eryx_storage *storage,
                      uint8_t **out,
                      size_t *len,
                      eryx_error *err)
{
    if (storage == NULL || out == NULL || len == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "storage, out and len must not be NULL");
    return eryx__storage_serialize(storage, out, len, err);
}

eryx_status
eryx_storage_restore(eryx_storage *storage,
                     const uint8_t *data,
                     size_t len,
                     eryx_error *err)
{
    if (storage == NULL || (data == NULL && len != 0))
        return eryx__fail(err, ERYX_E_INVALID_ARG, "storage or data is NULL");
    /* Built apart under a quota of its own, then swapped in: a snapshot
       that is broken or too big leaves the storage as it was, and one as
       big as the storage's limit restores over a full storage. */
    eryx_storage *t = eryx__storage_new(NULL, storage->quota->limit);
    if (t == NULL)
        return eryx__fail_nomem(err);
    eryx__node *root = NULL;
    eryx_status st = build(t, data, len, &root, err);
    if (st == ERYX_OK) {
        uint64_t moved =
            __atomic_exchange_n(&t->quota->used, 0, __ATOMIC_RELAXED);
        eryx__storage_lock(storage);
        eryx__node *old = storage->root;
        storage->root = root;
        __atomic_add_fetch(&storage->quota->used, moved, __ATOMIC_RELAXED);
        if (t->next_ino > storage->next_ino)
            storage->next_ino = t->next_ino;
        drop_tree(storage, old);
        eryx__storage_unlock(storage);
    }
    eryx__storage_unref(t);
    return st;
}

eryx_status
eryx_storage_fork(eryx_storage *storage, eryx_storage **out, eryx_error *err)
{
    if (storage == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "storage or out is NULL");
    *out = NULL;
    return eryx__storage_fork(storage, NULL, out, err);
}
