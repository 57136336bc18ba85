/*
** vfs.c: one instance's filesystem (eryx__vfs_*): the mount table, the
** descriptor table, path resolution, and the WASI operations over
** in-memory storages (storage.c) and host mounts (host.c).
**
** Paths resolve lexically: a guest path is joined to its directory
** descriptor's path and "." and ".." are folded before anything is looked
** up, so ".." never climbs out of where the path says (docs/filesystem.md
** lists this among the differences from POSIX).  Symlinks in storages are
** followed here (at most 40); those in host mounts by the kernel, beneath
** the mount's root.  A descriptor on a directory keeps that directory's
** guest path.
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vfs/vfs.h"

/* WASI flags. */
#define O_CREAT_W     1
#define O_DIRECTORY_W 2
#define O_EXCL_W      4
#define O_TRUNC_W     8
#define FD_APPEND_W   1
#define R_FD_READ     (1ull << 1)
#define R_FD_WRITE    (1ull << 6)
#define R_ALL         0x1fffffffull
#define LOOKUP_FOLLOW 1
#define FST_ATIM      1
#define FST_ATIM_NOW  2
#define FST_MTIM      4
#define FST_MTIM_NOW  8

#define MAX_FDS      1024
#define MAX_SYMLINKS 40
#define ROOT_FD      3

enum { K_STDIO, K_SYNTH, K_MEM, K_HOST };

typedef struct mount {
    char *path; /* normalized guest path, not "/" */
    size_t len;
    eryx_storage *mem; /* K_MEM */
    int hostfd;        /* K_HOST: a directory (O_PATH) or a file */
    bool is_file, read_only;
} mount;

typedef struct listent {
    char *name;
    uint64_t ino;
    uint8_t type;
} listent;

typedef struct ofile {
    int kind;
    mount *m;
    char *gpath;      /* directories: their guest path */
    eryx__node *node; /* K_MEM: held open */
    int hfd;          /* K_HOST */
    bool dir, rd, wr;
    uint16_t fdflags;
    uint64_t pos;
    listent *list; /* K_HOST and K_SYNTH directories: read at cookie 0 */
    size_t nlist;
} ofile;

struct eryx__vfs {
    mount *mounts;
    size_t nmounts;
    ofile **fds;
    uint32_t nfds;
    char *workdir;
    eryx_storage *data, *tmp;
};

/* ---------------------------------------------------------------- paths */

/* The result of resolving a path. */
typedef struct where {
    int kind; /* K_SYNTH, K_MEM, K_HOST */
    mount *m;
    char path[ERYX__VFS_PATH_MAX + 1]; /* normalized guest path */
    size_t plen;
    bool slash; /* the guest's path ended in '/': must be a directory */
    /* K_MEM (the storage is locked until done()): */
    eryx__node *parent; /* holds the last component; NULL at the root */
    eryx__node *node;   /* NULL when absent */
    uint32_t idx;       /* its entry in parent, or where it would go */
    const char *name;   /* the last component, in path */
    size_t nlen;
    /* K_HOST: */
    const char *rel; /* path below the mount's root; "" for the root */
    /* K_SYNTH: */
    bool exists;
} where;

static void
done(where *w)
{
    if (w->kind == K_MEM && w->m != NULL)
        eryx__storage_unlock(w->m->mem);
    w->kind = -1;
}

/* Join `base` (normalized) and `rel` into w->path, folding "." and "..". */
static int
join(where *w, const char *base, const char *rel, size_t rlen)
{
    size_t n = strlen(base);
    if (n > ERYX__VFS_PATH_MAX)
        return ERYX__ENAMETOOLONG;
    memcpy(w->path, base, n + 1);
    if (n == 1)
        n = 0; /* "/" is the empty prefix */
    w->slash = rlen > 0 && rel[rlen - 1] == '/';
    size_t i = 0;
    while (i < rlen) {
        while (i < rlen && rel[i] == '/')
            i++;
        size_t j = i;
        while (j < rlen && rel[j] != '/')
            j++;
        size_t c = j - i;
        if (c == 0 || (c == 1 && rel[i] == '.')) {
        } else if (c == 2 && rel[i] == '.' && rel[i + 1] == '.') {
            while (n > 0 && w->path[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            if (c > ERYX__VFS_NAME_MAX || n + 1 + c > ERYX__VFS_PATH_MAX)
                return ERYX__ENAMETOOLONG;
            w->path[n++] = '/';
            memcpy(w->path + n, rel + i, c);
            n += c;
        }
        i = j;
    }
    if (n == 0)
        w->path[n++] = '/';
    w->path[n] = '\0';
    w->plen = n;
    return ERYX__EOK;
}

/* The mount holding normalized `path`: the longest whose path is it or an
   ancestor of it. */
static mount *
find_mount(eryx__vfs *v, const char *path, size_t plen)
{
    mount *best = NULL;
    for (size_t i = 0; i < v->nmounts; i++) {
        mount *m = &v->mounts[i];
        if (plen >= m->len && memcmp(path, m->path, m->len) == 0 &&
            (plen == m->len || path[m->len] == '/') &&
            (best == NULL || m->len > best->len))
            best = m;
    }
    return best;
}

/* Is `path` (not in a mount) "/" or an ancestor of a mount point? */
static bool
synth_exists(eryx__vfs *v, const char *path, size_t plen)
{
    if (plen == 1)
        return true;
    for (size_t i = 0; i < v->nmounts; i++) {
        const mount *m = &v->mounts[i];
        if (m->len > plen && memcmp(m->path, path, plen) == 0 &&
            m->path[plen] == '/')
            return true;
    }
    return false;
}

static ofile *
get(eryx__vfs *v, uint32_t fd)
{
    return fd < v->nfds ? v->fds[fd] : NULL;
}

/* Resolve `path` under directory descriptor `dirfd`.  (Defined below.) */
static int resolve(eryx__vfs *v,
                   uint32_t dirfd,
                   const char *path,
                   size_t len,
                   bool follow,
                   eryx_storage *held,
                   where *w);

/* The node at in-memory directory descriptor `f`'s path (a directory
   descriptor keeps its path, not its node): EOK with the storage locked
   (done(w) unlocks), or ENOENT when nothing of a storage is there now. */
static int
dir_node(eryx__vfs *v, const ofile *f, where *w)
{
    int e =
        resolve(v, ROOT_FD, f->gpath + 1, strlen(f->gpath + 1), true, NULL, w);
    if (e != ERYX__EOK)
        return e;
    if (w->kind != K_MEM || w->node == NULL) {
        done(w);
        return ERYX__ENOENT;
    }
    return ERYX__EOK;
}

/* Resolve `path` under directory descriptor `dirfd`.  `follow`: a symlink
   at the end is followed.  `held`: the storage the caller has locked
   already (a rename's or link's second path), or NULL; a path that needs
   another storage then fails with EXDEV. */
static int
resolve(eryx__vfs *v,
        uint32_t dirfd,
        const char *path,
        size_t len,
        bool follow,
        eryx_storage *held,
        where *w)
{
    w->kind = -1;
    ofile *d = get(v, dirfd);
    if (d == NULL)
        return ERYX__EBADF;
    if (!d->dir)
        return ERYX__ENOTDIR;
    if (len == 0)
        return ERYX__ENOENT;
    if (memchr(path, '\0', len) != NULL)
        return ERYX__EINVAL;
    if (path[0] == '/')
        return ERYX__ENOTCAPABLE; /* WASI paths are relative */
    int e = join(w, d->gpath, path, len);
    if (e != ERYX__EOK)
        return e;
    for (int hops = 0;; hops++) {
        mount *m = find_mount(v, w->path, w->plen);
        w->m = m;
        if (m == NULL) {
            if (held != NULL)
                return ERYX__EXDEV;
            w->kind = K_SYNTH;
            w->exists = synth_exists(v, w->path, w->plen);
            const char *s = strrchr(w->path, '/');
            w->name = s + 1;
            w->nlen = w->plen - (size_t)(w->name - w->path);
            return ERYX__EOK;
        }
        if (m->mem == NULL) {
            if (held != NULL)
                return ERYX__EXDEV;
            w->kind = K_HOST;
            w->rel = w->plen == m->len ? "" : w->path + m->len + 1;
            if (m->is_file && *w->rel)
                return ERYX__ENOTDIR;
            return ERYX__EOK;
        }
        if (held != NULL && m->mem != held)
            return ERYX__EXDEV;
        if (held == NULL)
            eryx__storage_lock(m->mem);
        w->kind = K_MEM;
        w->parent = NULL;
        w->node = eryx__storage_root(m->mem);
        w->name = w->path + w->plen;
        w->nlen = 0;
        /* Walk the components below the mount point. */
        const char *p = w->path + m->len;
        const char *end = w->path + w->plen;
        int walked = ERYX__EOK;
        const char *link_at = NULL; /* end of the component that is a link */
        while (p < end) {
            p++; /* the '/' */
            const char *q = memchr(p, '/', (size_t)(end - p));
            if (q == NULL)
                q = end;
            eryx__node *dir = w->node;
            if (dir->type != ERYX__FT_DIR) {
                walked = ERYX__ENOTDIR;
                break;
            }
            w->parent = dir;
            w->name = p;
            w->nlen = (size_t)(q - p);
            uint32_t idx;
            if (!eryx__node_find(dir, p, w->nlen, &idx)) {
                w->idx = idx;
                w->node = NULL;
                if (q != end)
                    walked = ERYX__ENOENT;
                break;
            }
            w->idx = idx;
            w->node = dir->ents[idx].node;
            if (w->node->type == ERYX__FT_SYMLINK &&
                (q != end || follow || w->slash)) {
                link_at = q;
                break;
            }
            p = q;
        }
        if (link_at == NULL) {
            if (walked != ERYX__EOK) {
                if (held == NULL)
                    eryx__storage_unlock(m->mem);
                w->kind = -1;
            }
            return walked;
        }
        /* A symlink: its target replaces the path up to it. */
        if (hops == MAX_SYMLINKS) {
            if (held == NULL)
                eryx__storage_unlock(m->mem);
            w->kind = -1;
            return ERYX__ELOOP;
        }
        char rest[ERYX__VFS_PATH_MAX + 1];
        size_t rlen = (size_t)(end - link_at);
        memcpy(rest, link_at, rlen);
        char target[ERYX__VFS_PATH_MAX + 1];
        size_t tlen = (size_t)w->node->len;
        memcpy(target, w->node->data, tlen);
        bool slash = w->slash;
        if (held == NULL)
            eryx__storage_unlock(m->mem);
        w->kind = -1;
        /* The base: the link's directory, or "/" for an absolute target. */
        char base[ERYX__VFS_PATH_MAX + 1];
        size_t blen = (size_t)(w->name - w->path);
        if (target[0] == '/') {
            strcpy(base, "/");
        } else {
            memcpy(base, w->path, blen);
            base[blen > 1 ? blen - 1 : 1] = '\0';
            if (blen <= 1)
                base[0] = '/';
        }
        if (tlen + rlen > ERYX__VFS_PATH_MAX)
            return ERYX__ENAMETOOLONG;
        memcpy(target + tlen, rest, rlen);
        e = join(w, base, target, tlen + rlen);
        if (e != ERYX__EOK)
            return e;
        w->slash = w->slash || slash;
    }
}

/* ----------------------------------------------------------- descriptors */

static int
add_fd(eryx__vfs *v, ofile *f, uint32_t *out)
{
    uint32_t fd = ROOT_FD + 1;
    while (fd < v->nfds && v->fds[fd] != NULL)
        fd++;
    if (fd >= MAX_FDS)
        return ERYX__EMFILE;
    if (fd >= v->nfds) {
        uint32_t n = v->nfds * 2 > fd + 1 ? v->nfds * 2 : fd + 1;
        if (n > MAX_FDS)
            n = MAX_FDS;
        ofile **fds = eryx__realloc(v->fds, n * sizeof *fds);
        if (fds == NULL)
            return ERYX__ENOMEM;
        memset(fds + v->nfds, 0, (n - v->nfds) * sizeof *fds);
        v->fds = fds;
        v->nfds = n;
    }
    v->fds[fd] = f;
    *out = fd;
    return ERYX__EOK;
}

static void
free_list(ofile *f)
{
    for (size_t i = 0; f->list != NULL && i < f->nlist; i++)
        eryx__free(f->list[i].name);
    eryx__free(f->list);
    f->list = NULL;
    f->nlist = 0;
}

static void
ofile_free(ofile *f)
{
    if (f == NULL)
        return;
    if (f->kind == K_MEM && f->node != NULL) {
        eryx__storage_lock(f->m->mem);
        eryx__node_close(f->m->mem, f->node);
        eryx__storage_unlock(f->m->mem);
    }
    if (f->kind == K_HOST && f->hfd >= 0)
        close(f->hfd);
    free_list(f);
    eryx__free(f->gpath);
    eryx__free(f);
}

static ofile *
ofile_new(int kind, mount *m)
{
    ofile *f = eryx__calloc(1, sizeof *f);
    if (f != NULL) {
        f->kind = kind;
        f->m = m;
        f->hfd = -1;
    }
    return f;
}

/* A directory descriptor at w->path. */
static int
open_dir(eryx__vfs *v, where *w, int kind, int hfd, uint32_t *fd)
{
    ofile *f = ofile_new(kind, w->m);
    if (f == NULL || (f->gpath = eryx__strdup(w->path)) == NULL) {
        eryx__free(f);
        if (hfd >= 0)
            close(hfd);
        return ERYX__ENOMEM;
    }
    f->dir = f->rd = true;
    f->hfd = hfd;
    int e = add_fd(v, f, fd);
    if (e != ERYX__EOK)
        ofile_free(f);
    return e;
}

/* ------------------------------------------------------------ lifecycle */

static int
add_mount(eryx__vfs *v,
          const char *path,
          eryx_storage *mem,
          int hostfd,
          bool is_file,
          bool ro)
{
    mount *ms = eryx__realloc(v->mounts, (v->nmounts + 1) * sizeof *ms);
    if (ms == NULL)
        return -1;
    v->mounts = ms;
    mount *m = &ms[v->nmounts];
    memset(m, 0, sizeof *m);
    m->path = eryx__strdup(path);
    if (m->path == NULL)
        return -1;
    m->len = strlen(path);
    m->mem = eryx__storage_ref(mem);
    m->hostfd = hostfd;
    m->is_file = is_file;
    m->read_only = ro;
    v->nmounts++;
    return 0;
}

/* Mount volume `vol`: its host directory or file, opened now. */
static eryx_status
add_volume(
    eryx__vfs *v, const char *host, const char *guest, bool ro, eryx_error *err)
{
    int fd = open(host, O_PATH | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return eryx__fail(err, ERYX_E_IO, "cannot open volume %s: %s", host,
                          strerror(e));
    }
    bool is_file = S_ISREG(st.st_mode);
    if (!is_file && !S_ISDIR(st.st_mode)) {
        close(fd);
        return eryx__fail(err, ERYX_E_IO,
                          "volume %s is neither a directory nor a file", host);
    }
    if (is_file) {
        /* A file volume is served by pread/pwrite on this descriptor. */
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        int rw = open(self, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        close(fd);
        if (rw < 0)
            return eryx__fail(err, ERYX_E_IO, "cannot open volume %s: %s", host,
                              strerror(errno));
        fd = rw;
    }
    if (add_mount(v, guest, NULL, fd, is_file, ro) != 0) {
        close(fd);
        return eryx__fail_nomem(err);
    }
    return ERYX_OK;
}

eryx_status
eryx__vfs_new(const eryx__vfs_spec *spec, eryx__vfs **out, eryx_error *err)
{
    *out = NULL;
    eryx__vfs *v = eryx__calloc(1, sizeof *v);
    if (v == NULL)
        return eryx__fail_nomem(err);
    eryx_status s = ERYX_OK;
    eryx__quota *q = NULL;
    if (spec->data == NULL || spec->tmp == NULL) {
        q = eryx__quota_new(spec->quota_bytes);
        if (q == NULL)
            goto nomem;
    }
    v->data =
        spec->data ? eryx__storage_ref(spec->data) : eryx__storage_new(q, 0);
    v->tmp = spec->tmp ? eryx__storage_ref(spec->tmp) : eryx__storage_new(q, 0);
    eryx__quota_unref(q);
    v->workdir = eryx__strdup(spec->data_path);
    v->fds = eryx__calloc(8, sizeof *v->fds);
    v->nfds = v->fds ? 8 : 0;
    if (v->data == NULL || v->tmp == NULL || v->workdir == NULL ||
        v->fds == NULL)
        goto nomem;
    for (uint32_t fd = 0; fd <= ROOT_FD; fd++) {
        ofile *f = ofile_new(fd == ROOT_FD ? K_SYNTH : K_STDIO, NULL);
        if (f == NULL)
            goto nomem;
        v->fds[fd] = f;
        if (fd == ROOT_FD) {
            f->dir = f->rd = true;
            if ((f->gpath = eryx__strdup("/")) == NULL)
                goto nomem;
        } else {
            f->rd = fd == 0;
            f->wr = fd != 0;
        }
    }
    /* The stdlib's descriptor is the engine's: kept encoded (host_root),
       so that freeing, even half-made, never closes it. */
    if (add_mount(v, spec->stdlib_path, NULL, -spec->stdlib_fd - 2, false,
                  true) ||
        add_mount(v, spec->data_path, v->data, -1, false, false) ||
        add_mount(v, "/tmp", v->tmp, -1, false, false))
        goto nomem;
    if (spec->packages != NULL &&
        add_mount(v, "/site-packages", spec->packages, -1, false, true))
        goto nomem;
    if (spec->packages_dir != NULL) {
        if ((s = add_volume(v, spec->packages_dir, "/site-packages", true,
                            err)) != ERYX_OK)
            goto fail;
    }
    for (size_t i = 0; i < spec->nvolumes; i++)
        if ((s = add_volume(v, spec->volumes[i].host, spec->volumes[i].guest,
                            spec->volumes[i].read_only, err)) != ERYX_OK)
            goto fail;
    *out = v;
    return ERYX_OK;
nomem:
    s = eryx__fail_nomem(err);
fail:
    eryx__vfs_free(v);
    return s;
}

/* The stdlib mount keeps the engine's descriptor encoded (-fd - 2) so that
   freeing never closes it; this decodes any mount's. */
static int
host_root(const mount *m)
{
    return m->hostfd <= -2 ? -m->hostfd - 2 : m->hostfd;
}

void
eryx__vfs_free(eryx__vfs *v)
{
    if (v == NULL)
        return;
    for (uint32_t i = 0; i < v->nfds; i++)
        ofile_free(v->fds[i]);
    eryx__free(v->fds);
    for (size_t i = 0; i < v->nmounts; i++) {
        mount *m = &v->mounts[i];
        if (m->hostfd >= 0)
            close(m->hostfd);
        eryx__storage_unref(m->mem);
        eryx__free(m->path);
    }
    eryx__free(v->mounts);
    eryx__storage_unref(v->data);
    eryx__storage_unref(v->tmp);
    eryx__free(v->workdir);
    eryx__free(v);
}

const char *
eryx__vfs_workdir(const eryx__vfs *v)
{
    return v->workdir;
}

eryx_storage *
eryx__vfs_storage(const eryx__vfs *v, bool tmp)
{
    return tmp ? v->tmp : v->data;
}

/* ------------------------------------------------------------ stat */

static uint64_t
dev_of(eryx__vfs *v, const mount *m)
{
    return m ? (uint64_t)(m - v->mounts) + 2 : 1;
}

static void
put_stat(uint8_t out[64],
         uint64_t dev,
         uint64_t ino,
         int type,
         uint64_t nlink,
         uint64_t size,
         uint64_t atim,
         uint64_t mtim,
         uint64_t ctim)
{
    memset(out, 0, 64);
    eryx__le_put(out, dev, 8);
    eryx__le_put(out + 8, ino, 8);
    out[16] = (uint8_t)type;
    eryx__le_put(out + 24, nlink, 8);
    eryx__le_put(out + 32, size, 8);
    eryx__le_put(out + 40, atim, 8);
    eryx__le_put(out + 48, mtim, 8);
    eryx__le_put(out + 56, ctim, 8);
}

static uint64_t
ts_ns(struct timespec t)
{
    return t.tv_sec < 0
               ? 0
               : (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int
host_type(mode_t mode)
{
    return S_ISDIR(mode)   ? ERYX__FT_DIR
           : S_ISREG(mode) ? ERYX__FT_FILE
           : S_ISLNK(mode) ? ERYX__FT_SYMLINK
                           : ERYX__FT_UNKNOWN;
}

static void
put_host_stat(eryx__vfs *v,
              const mount *m,
              const struct stat *st,
              uint8_t out[64])
{
    put_stat(out, dev_of(v, m), (uint64_t)st->st_ino, host_type(st->st_mode),
             (uint64_t)st->st_nlink, (uint64_t)st->st_size, ts_ns(st->st_atim),
             ts_ns(st->st_mtim), ts_ns(st->st_ctim));
}

static void
put_node_stat(eryx__vfs *v,
              const mount *m,
              const eryx__node *n,
              uint8_t out[64])
{
    uint64_t nlink = n->type == ERYX__FT_DIR ? 2 : n->nlink;
    put_stat(out, dev_of(v, m), n->ino, n->type, nlink,
             n->type == ERYX__FT_DIR ? 4096 : n->len, n->atim, n->mtim,
             n->ctim);
}

static void
put_synth_stat(eryx__vfs *v, const char *path, uint8_t out[64])
{
    uint64_t ino = eryx__fnv1a(0xcbf29ce484222325ull, path, strlen(path));
    (void)v;
    put_stat(out, 1, ino, ERYX__FT_DIR, 2, 4096, 0, 0, 0);
}

int
eryx__vfs_stat(eryx__vfs *v,
               uint32_t dirfd,
               uint32_t lookup,
               const char *path,
               size_t len,
               uint8_t out[64])
{
    where w;
    int e = resolve(v, dirfd, path, len, lookup & LOOKUP_FOLLOW, NULL, &w);
    if (e != ERYX__EOK)
        return e;
    switch (w.kind) {
    case K_SYNTH:
        if (!w.exists)
            return ERYX__ENOENT;
        put_synth_stat(v, w.path, out);
        return ERYX__EOK;
    case K_MEM:
        if (w.node == NULL)
            e = ERYX__ENOENT;
        else if (w.slash && w.node->type != ERYX__FT_DIR)
            e = ERYX__ENOTDIR;
        else
            put_node_stat(v, w.m, w.node, out);
        done(&w);
        return e;
    default: {
        struct stat st;
        if (w.m->is_file) {
            if (fstat(w.m->hostfd, &st) != 0)
                return eryx__host_errno(errno);
        } else {
            int fd;
            e = eryx__host_open(host_root(w.m), w.rel, O_PATH, 0,
                                lookup & LOOKUP_FOLLOW, &fd);
            if (e != ERYX__EOK)
                return e;
            int r = fstat(fd, &st);
            int er = errno;
            close(fd);
            if (r != 0)
                return eryx__host_errno(er);
        }
        if (w.slash && !S_ISDIR(st.st_mode))
            return ERYX__ENOTDIR;
        put_host_stat(v, w.m, &st, out);
        return ERYX__EOK;
    }
    }
}

int
eryx__vfs_fstat(eryx__vfs *v, uint32_t fd, uint8_t out[64])
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    switch (f->kind) {
    case K_STDIO:
        memset(out, 0, 64);
        return ERYX__EOK;
    case K_SYNTH:
        put_synth_stat(v, f->gpath, out);
        return ERYX__EOK;
    case K_MEM:
        if (f->dir) {
            where w;
            int e = dir_node(v, f, &w);
            if (e != ERYX__EOK)
                return e;
            put_node_stat(v, w.m, w.node, out);
            done(&w);
            return ERYX__EOK;
        }
        eryx__storage_lock(f->m->mem);
        put_node_stat(v, f->m, f->node, out);
        eryx__storage_unlock(f->m->mem);
        return ERYX__EOK;
    default: {
        struct stat st;
        if (fstat(f->hfd, &st) != 0)
            return eryx__host_errno(errno);
        put_host_stat(v, f->m, &st, out);
        return ERYX__EOK;
    }
    }
}

int
eryx__vfs_fdstat(eryx__vfs *v, uint32_t fd, uint8_t out[24])
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    memset(out, 0, 24);
    uint64_t base, inherit = 0;
    if (f->dir) {
        out[0] = ERYX__FT_DIR;
        base = inherit = R_ALL;
    } else {
        out[0] = f->kind == K_STDIO ? ERYX__FT_UNKNOWN : ERYX__FT_FILE;
        base = R_ALL & ~(R_FD_READ | R_FD_WRITE);
        if (f->rd)
            base |= R_FD_READ;
        if (f->wr)
            base |= R_FD_WRITE;
    }
    eryx__le_put(out + 2, f->fdflags, 2);
    eryx__le_put(out + 8, base, 8);
    eryx__le_put(out + 16, inherit, 8);
    return ERYX__EOK;
}

int
eryx__vfs_set_fdflags(eryx__vfs *v, uint32_t fd, uint16_t flags)
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    f->fdflags = flags & 0x1f;
    return ERYX__EOK;
}

int
eryx__vfs_prestat(eryx__vfs *v, uint32_t fd, uint32_t *name_len)
{
    if (fd != ROOT_FD || get(v, fd) == NULL)
        return ERYX__EBADF;
    *name_len = 1;
    return ERYX__EOK;
}

int
eryx__vfs_prestat_name(eryx__vfs *v, uint32_t fd, char *buf, size_t len)
{
    if (fd != ROOT_FD || get(v, fd) == NULL)
        return ERYX__EBADF;
    if (len < 1)
        return ERYX__ENAMETOOLONG;
    buf[0] = '/';
    return ERYX__EOK;
}

/* ------------------------------------------------------------ open */

static bool
read_only(const where *w)
{
    return w->kind == K_MEM
               ? w->m->read_only || eryx__storage_is_read_only(w->m->mem)
               : w->m->read_only;
}

static int
open_mem(eryx__vfs *v,
         where *w,
         uint16_t oflags,
         bool rd,
         bool wr,
         uint16_t fdflags,
         uint32_t *fd)
{
    eryx_storage *s = w->m->mem;
    eryx__node *n = w->node;
    if (n != NULL) {
        if ((oflags & O_CREAT_W) && (oflags & O_EXCL_W))
            return ERYX__EEXIST;
        if (n->type == ERYX__FT_SYMLINK)
            return ERYX__ELOOP;
        if (n->type == ERYX__FT_DIR) {
            if (wr)
                return ERYX__EISDIR;
            return open_dir(v, w, K_MEM, -1, fd);
        }
        if ((oflags & O_DIRECTORY_W) || w->slash)
            return ERYX__ENOTDIR;
        if ((wr || (oflags & O_TRUNC_W)) && read_only(w))
            return ERYX__EROFS;
        if ((oflags & O_TRUNC_W) && n->len != 0) {
            int e = eryx__node_resize(s, n, 0);
            if (e != ERYX__EOK)
                return e;
        }
    } else {
        if (!(oflags & O_CREAT_W))
            return ERYX__ENOENT;
        if (w->slash || (oflags & O_DIRECTORY_W))
            return ERYX__EISDIR;
        if (read_only(w))
            return ERYX__EROFS;
        int e = eryx__node_create(s, w->parent, w->name, w->nlen, ERYX__FT_FILE,
                                  NULL, 0, &n);
        if (e != ERYX__EOK)
            return e;
    }
    ofile *f = ofile_new(K_MEM, w->m);
    if (f == NULL)
        return ERYX__ENOMEM;
    f->node = n;
    f->rd = rd;
    f->wr = wr;
    f->fdflags = fdflags;
    eryx__node_open(n);
    int e = add_fd(v, f, fd);
    if (e != ERYX__EOK) {
        /* The storage is locked here, and ofile_free would lock it again:
           let go of the node first. */
        eryx__node_close(s, n);
        f->node = NULL;
        ofile_free(f);
    }
    return e;
}

static int
open_host(eryx__vfs *v,
          where *w,
          uint32_t lookup,
          uint16_t oflags,
          bool rd,
          bool wr,
          uint16_t fdflags,
          uint32_t *fd)
{
    bool creat = oflags & O_CREAT_W;
    if ((wr || (oflags & O_TRUNC_W)) && read_only(w))
        return ERYX__EROFS;
    int hfd;
    int flags = O_NONBLOCK | (wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY);
    if (w->m->is_file) {
        if ((oflags & O_DIRECTORY_W) || w->slash)
            return ERYX__ENOTDIR;
        if (creat && (oflags & O_EXCL_W))
            return ERYX__EEXIST;
        hfd = dup(w->m->hostfd);
        if (hfd < 0)
            return eryx__host_errno(errno);
        if ((oflags & O_TRUNC_W) && ftruncate(hfd, 0) != 0) {
            int e = errno;
            close(hfd);
            return eryx__host_errno(e);
        }
    } else {
        if (creat && read_only(w)) {
            /* Creating nothing new is still allowed to read. */
            int probe;
            if (eryx__host_open(host_root(w->m), w->rel, O_PATH, 0,
                                lookup & LOOKUP_FOLLOW, &probe) != ERYX__EOK)
                return ERYX__EROFS;
            close(probe);
            if (oflags & O_EXCL_W)
                return ERYX__EEXIST;
            creat = false;
        }
        if (creat)
            flags |= O_CREAT | ((oflags & O_EXCL_W) ? O_EXCL : 0);
        if (oflags & O_TRUNC_W)
            flags |= O_TRUNC;
        if ((oflags & O_DIRECTORY_W) || w->slash)
            flags |= O_DIRECTORY;
        int e = eryx__host_open(host_root(w->m), w->rel, flags, 0666,
                                lookup & LOOKUP_FOLLOW, &hfd);
        if (e != ERYX__EOK)
            return e;
    }
    struct stat st;
    if (fstat(hfd, &st) != 0) {
        int e = errno;
        close(hfd);
        return eryx__host_errno(e);
    }
    if (S_ISDIR(st.st_mode)) {
        if (wr) {
            close(hfd);
            return ERYX__EISDIR;
        }
        return open_dir(v, w, K_HOST, hfd, fd);
    }
    if (!S_ISREG(st.st_mode)) {
        /* FIFOs, devices, sockets: nothing the guest may block the host on. */
        close(hfd);
        return ERYX__EACCES;
    }
    ofile *f = ofile_new(K_HOST, w->m);
    if (f == NULL) {
        close(hfd);
        return ERYX__ENOMEM;
    }
    f->hfd = hfd;
    f->rd = rd;
    f->wr = wr;
    f->fdflags = fdflags;
    int e = add_fd(v, f, fd);
    if (e != ERYX__EOK)
        ofile_free(f);
    return e;
}

int
eryx__vfs_open(eryx__vfs *v,
               uint32_t dirfd,
               uint32_t lookup,
               const char *path,
               size_t len,
               uint16_t oflags,
               uint64_t rights,
               uint16_t fdflags,
               uint32_t *fd)
{
    where w;
    int e = resolve(v, dirfd, path, len, lookup & LOOKUP_FOLLOW, NULL, &w);
    if (e != ERYX__EOK)
        return e;
    bool rd = rights & R_FD_READ, wr = rights & R_FD_WRITE;
    switch (w.kind) {
    case K_SYNTH:
        if (!w.exists)
            return (oflags & O_CREAT_W) ? ERYX__EACCES : ERYX__ENOENT;
        if ((oflags & O_CREAT_W) && (oflags & O_EXCL_W))
            return ERYX__EEXIST;
        if (wr)
            return ERYX__EISDIR;
        return open_dir(v, &w, K_SYNTH, -1, fd);
    case K_MEM:
        e = open_mem(v, &w, oflags, rd, wr, fdflags, fd);
        done(&w);
        return e;
    default:
        return open_host(v, &w, lookup, oflags, rd, wr, fdflags, fd);
    }
}

int
eryx__vfs_close(eryx__vfs *v, uint32_t fd)
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    if (fd <= 2)
        return ERYX__EOK; /* stdio stays: it is the host's */
    v->fds[fd] = NULL;
    ofile_free(f);
    return ERYX__EOK;
}

/* ------------------------------------------------------------ data */

static int
file_of(eryx__vfs *v, uint32_t fd, ofile **out)
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    if (f->dir)
        return ERYX__EISDIR;
    *out = f;
    return ERYX__EOK;
}

/* preadv or pwritev of a host file at `pos`, 64 iovecs at a time, until
   all is done or a short count; *done: the bytes moved.  An error after
   some bytes moved ends the transfer short (POSIX's short count). */
static int
host_rw(int fd,
        const eryx__iov *iov,
        size_t n,
        uint64_t pos,
        bool write,
        uint64_t *done)
{
    struct iovec hv[64];
    *done = 0;
    for (size_t i = 0; i < n; i += 64) {
        size_t k = n - i < 64 ? n - i : 64, want = 0;
        for (size_t j = 0; j < k; j++) {
            hv[j].iov_base = iov[i + j].p;
            hv[j].iov_len = iov[i + j].n;
            want += iov[i + j].n;
        }
        off_t at = (off_t)(pos + *done);
        ssize_t r =
            write ? pwritev(fd, hv, (int)k, at) : preadv(fd, hv, (int)k, at);
        if (r < 0)
            return *done == 0 ? eryx__host_errno(errno) : ERYX__EOK;
        *done += (uint64_t)r;
        if ((size_t)r < want)
            break;
    }
    return ERYX__EOK;
}

int
eryx__vfs_read(eryx__vfs *v,
               uint32_t fd,
               const eryx__iov *iov,
               size_t n,
               bool at,
               uint64_t off,
               uint64_t *done_out)
{
    ofile *f;
    int e = file_of(v, fd, &f);
    *done_out = 0;
    if (e != ERYX__EOK)
        return e;
    if (!f->rd)
        return ERYX__EBADF;
    if (f->kind == K_STDIO)
        return at ? ERYX__ESPIPE : ERYX__EOK; /* stdin is empty */
    uint64_t pos = at ? off : f->pos;
    uint64_t got;
    if (f->kind == K_MEM) {
        eryx__storage_lock(f->m->mem);
        got = eryx__node_pread(f->node, pos, iov, n);
        f->node->atim = eryx__vfs_now_ns();
        eryx__storage_unlock(f->m->mem);
    } else if ((e = host_rw(f->hfd, iov, n, pos, false, &got)) != 0)
        return e;
    if (!at)
        f->pos = pos + got;
    *done_out = got;
    return ERYX__EOK;
}

int
eryx__vfs_write(eryx__vfs *v,
                uint32_t fd,
                const eryx__iov *iov,
                size_t n,
                bool at,
                uint64_t off,
                uint64_t *done_out)
{
    ofile *f;
    int e = file_of(v, fd, &f);
    *done_out = 0;
    if (e != ERYX__EOK)
        return e;
    if (!f->wr || f->kind == K_STDIO)
        return ERYX__EBADF;
    bool append = !at && (f->fdflags & FD_APPEND_W);
    uint64_t pos = at ? off : f->pos;
    uint64_t put = 0;
    if (f->kind == K_MEM) {
        eryx__storage_lock(f->m->mem);
        if (eryx__storage_is_read_only(f->m->mem))
            e = ERYX__EROFS;
        else {
            if (append)
                pos = f->node->len;
            e = eryx__node_pwrite(f->m->mem, f->node, pos, iov, n, &put);
        }
        eryx__storage_unlock(f->m->mem);
        if (e != ERYX__EOK)
            return e;
    } else {
        if (append) {
            struct stat st;
            if (fstat(f->hfd, &st) != 0)
                return eryx__host_errno(errno);
            pos = (uint64_t)st.st_size;
        }
        if ((e = host_rw(f->hfd, iov, n, pos, true, &put)) != 0)
            return e;
    }
    if (!at)
        f->pos = pos + put;
    *done_out = put;
    return ERYX__EOK;
}

int
eryx__vfs_seek(
    eryx__vfs *v, uint32_t fd, int64_t off, uint8_t whence, uint64_t *pos)
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    if (f->kind == K_STDIO)
        return ERYX__ESPIPE;
    if (f->dir)
        return ERYX__EISDIR;
    int64_t base;
    if (whence == 0)
        base = 0;
    else if (whence == 1)
        base = (int64_t)f->pos;
    else if (whence == 2) {
        if (f->kind == K_MEM) {
            eryx__storage_lock(f->m->mem);
            base = (int64_t)f->node->len;
            eryx__storage_unlock(f->m->mem);
        } else {
            struct stat st;
            if (fstat(f->hfd, &st) != 0)
                return eryx__host_errno(errno);
            base = (int64_t)st.st_size;
        }
    } else
        return ERYX__EINVAL;
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
        return ERYX__EINVAL;
    f->pos = (uint64_t)(base + off);
    *pos = f->pos;
    return ERYX__EOK;
}

int
eryx__vfs_set_size(eryx__vfs *v, uint32_t fd, uint64_t size)
{
    ofile *f;
    int e = file_of(v, fd, &f);
    if (e != ERYX__EOK)
        return e;
    if (!f->wr || f->kind == K_STDIO)
        return ERYX__EINVAL;
    if (size > ((uint64_t)1 << 40))
        return ERYX__EFBIG;
    if (f->kind == K_HOST)
        return ftruncate(f->hfd, (off_t)size) ? eryx__host_errno(errno)
                                              : ERYX__EOK;
    eryx__storage_lock(f->m->mem);
    e = eryx__storage_is_read_only(f->m->mem)
            ? ERYX__EROFS
            : eryx__node_resize(f->m->mem, f->node, size);
    eryx__storage_unlock(f->m->mem);
    return e;
}

int
eryx__vfs_sync(eryx__vfs *v, uint32_t fd)
{
    ofile *f = get(v, fd);
    if (f == NULL)
        return ERYX__EBADF;
    if (f->kind == K_HOST && f->wr && fsync(f->hfd) != 0)
        return eryx__host_errno(errno);
    return ERYX__EOK;
}

/* ------------------------------------------------------------ times */

static uint64_t
pick_time(
    uint16_t fst, int set, int now, uint64_t value, uint64_t old, uint64_t t)
{
    return (fst & now) ? t : (fst & set) ? value : old;
}

static int
host_times(int fd,
           const char *name,
           uint64_t atim,
           uint64_t mtim,
           uint16_t fst,
           int flags)
{
    struct timespec ts[2];
    ts[0].tv_sec = (time_t)(atim / 1000000000u);
    ts[0].tv_nsec = (long)(atim % 1000000000u);
    ts[1].tv_sec = (time_t)(mtim / 1000000000u);
    ts[1].tv_nsec = (long)(mtim % 1000000000u);
    if (fst & FST_ATIM_NOW)
        ts[0].tv_nsec = UTIME_NOW;
    else if (!(fst & FST_ATIM))
        ts[0].tv_nsec = UTIME_OMIT;
    if (fst & FST_MTIM_NOW)
        ts[1].tv_nsec = UTIME_NOW;
    else if (!(fst & FST_MTIM))
        ts[1].tv_nsec = UTIME_OMIT;
    int r = name ? utimensat(fd, name, ts, flags) : futimens(fd, ts);
    return r ? eryx__host_errno(errno) : ERYX__EOK;
}

int
eryx__vfs_set_times(eryx__vfs *v,
                    uint32_t fd,
                    uint32_t lookup,
                    const char *path,
                    size_t len,
                    uint64_t atim,
                    uint64_t mtim,
                    uint16_t fst)
{
    if (((fst & FST_ATIM) && (fst & FST_ATIM_NOW)) ||
        ((fst & FST_MTIM) && (fst & FST_MTIM_NOW)))
        return ERYX__EINVAL;
    uint64_t now = eryx__vfs_now_ns();
    eryx__node *n = NULL;
    where w;
    w.kind = -1;
    if (path == NULL) {
        ofile *f = get(v, fd);
        if (f == NULL)
            return ERYX__EBADF;
        if (f->kind == K_HOST) {
            if (f->m->read_only)
                return ERYX__EROFS;
            return host_times(f->hfd, NULL, atim, mtim, fst, 0);
        }
        if (f->kind != K_MEM)
            return ERYX__EACCES;
        if (f->dir) {
            int e = dir_node(v, f, &w);
            if (e != ERYX__EOK)
                return e;
            n = w.node;
        } else {
            eryx__storage_lock(f->m->mem);
            n = f->node;
            w.kind = K_MEM;
            w.m = f->m;
        }
    } else {
        int e = resolve(v, fd, path, len, lookup & LOOKUP_FOLLOW, NULL, &w);
        if (e != ERYX__EOK)
            return e;
        if (w.kind == K_SYNTH)
            return w.exists ? ERYX__EACCES : ERYX__ENOENT;
        if (w.kind == K_HOST) {
            if (w.m->read_only)
                return ERYX__EROFS;
            if (w.m->is_file)
                return host_times(w.m->hostfd, NULL, atim, mtim, fst, 0);
            int pfd;
            const char *name;
            if (*w.rel == '\0') {
                e = eryx__host_open(host_root(w.m), "", O_RDONLY | O_DIRECTORY,
                                    0, true, &pfd);
                if (e != ERYX__EOK)
                    return e;
                e = host_times(pfd, NULL, atim, mtim, fst, 0);
            } else {
                e = eryx__host_parent(host_root(w.m), w.rel, &pfd, &name);
                if (e != ERYX__EOK)
                    return e;
                e = host_times(pfd, name, atim, mtim, fst,
                               (lookup & LOOKUP_FOLLOW) ? 0
                                                        : AT_SYMLINK_NOFOLLOW);
            }
            close(pfd);
            return e;
        }
        if (w.node == NULL) {
            done(&w);
            return ERYX__ENOENT;
        }
        n = w.node;
    }
    int e = ERYX__EOK;
    if (read_only(&w))
        e = ERYX__EROFS;
    else {
        n->atim = pick_time(fst, FST_ATIM, FST_ATIM_NOW, atim, n->atim, now);
        n->mtim = pick_time(fst, FST_MTIM, FST_MTIM_NOW, mtim, n->mtim, now);
        n->ctim = now;
    }
    done(&w);
    return e;
}

/* ------------------------------------------------------------ directories */

/* Write one dirent (24 bytes and the name) at buf[*used], cut at `len`. */
static bool
put_dirent(uint8_t *buf,
           size_t len,
           size_t *used,
           uint64_t next,
           uint64_t ino,
           uint8_t type,
           const char *name,
           size_t nlen)
{
    uint8_t d[24] = {0};
    eryx__le_put(d, next, 8);
    eryx__le_put(d + 8, ino, 8);
    eryx__le_put(d + 16, nlen, 4);
    d[20] = type;
    size_t room = len - *used;
    size_t k = room < 24 ? room : 24;
    memcpy(buf + *used, d, k);
    *used += k;
    if (k < 24)
        return false;
    room = len - *used;
    k = room < nlen ? room : nlen;
    memcpy(buf + *used, name, k);
    *used += k;
    return k == nlen;
}

static int
list_add(ofile *f, size_t *cap, const char *name, uint64_t ino, uint8_t type)
{
    if (f->nlist == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        listent *l = eryx__realloc(f->list, c * sizeof *l);
        if (l == NULL)
            return ERYX__ENOMEM;
        f->list = l;
        *cap = c;
    }
    char *copy = eryx__strdup(name);
    if (copy == NULL)
        return ERYX__ENOMEM;
    f->list[f->nlist++] = (listent){copy, ino, type};
    return ERYX__EOK;
}

/* Mount points directly under directory `path` (listed with it). */
static int
list_mounts(eryx__vfs *v, ofile *f, size_t *cap, const char *path)
{
    size_t plen = strlen(path);
    if (plen == 1)
        plen = 0;
    for (size_t i = 0; i < v->nmounts; i++) {
        const mount *m = &v->mounts[i];
        if (m->len <= plen + 1 || memcmp(m->path, path, plen) != 0 ||
            m->path[plen] != '/')
            continue;
        const char *name = m->path + plen + 1;
        const char *slash = strchr(name, '/');
        char comp[ERYX__VFS_NAME_MAX + 1];
        size_t n = slash ? (size_t)(slash - name) : strlen(name);
        memcpy(comp, name, n);
        comp[n] = '\0';
        bool dup = false;
        for (size_t k = 0; k < f->nlist && !dup; k++)
            dup = strcmp(f->list[k].name, comp) == 0;
        if (dup)
            continue;
        int e =
            list_add(f, cap, comp, eryx__fnv1a(0xcbf29ce484222325ull, comp, n),
                     (!slash && m->is_file) ? ERYX__FT_FILE : ERYX__FT_DIR);
        if (e != ERYX__EOK)
            return e;
    }
    return ERYX__EOK;
}

/* Read the whole directory of `f` into its list (at cookie 0). */
static int
fill_list(eryx__vfs *v, ofile *f)
{
    free_list(f);
    size_t cap = 0;
    int e = ERYX__EOK;
    if (f->kind == K_MEM) {
        where w;
        if ((e = dir_node(v, f, &w)) != ERYX__EOK)
            return e;
        if (w.node->type != ERYX__FT_DIR) {
            done(&w);
            return ERYX__ENOENT;
        }
        const eryx__node *d = w.node;
        for (uint32_t i = 0; i < d->nents && e == ERYX__EOK; i++)
            e = list_add(f, &cap, d->ents[i].name, d->ents[i].node->ino,
                         d->ents[i].node->type);
        done(&w);
    } else if (f->kind == K_HOST) {
        int dfd = openat(f->hfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (dir == NULL) {
            e = eryx__host_errno(errno);
            if (dfd >= 0)
                close(dfd);
            return e;
        }
        struct dirent *de;
        while (e == ERYX__EOK && (de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            uint8_t t = de->d_type == DT_DIR   ? ERYX__FT_DIR
                        : de->d_type == DT_REG ? ERYX__FT_FILE
                        : de->d_type == DT_LNK ? ERYX__FT_SYMLINK
                                               : ERYX__FT_UNKNOWN;
            e = list_add(f, &cap, de->d_name, (uint64_t)de->d_ino, t);
        }
        closedir(dir);
    }
    if (e == ERYX__EOK)
        e = list_mounts(v, f, &cap, f->gpath);
    return e;
}

int
eryx__vfs_readdir(eryx__vfs *v,
                  uint32_t fd,
                  uint8_t *buf,
                  size_t len,
                  uint64_t cookie,
                  size_t *used)
{
    ofile *f = get(v, fd);
    *used = 0;
    if (f == NULL)
        return ERYX__EBADF;
    if (!f->dir)
        return ERYX__ENOTDIR;
    if (cookie == 0 || f->list == NULL) {
        int e = fill_list(v, f);
        if (e != ERYX__EOK)
            return e;
    }
    /* Cookies: 0 ".", 1 "..", 2 + i the list's entry i. */
    for (uint64_t c = cookie; c < 2 + (uint64_t)f->nlist; c++) {
        bool whole;
        if (c < 2)
            whole = put_dirent(buf, len, used, c + 1, 0, ERYX__FT_DIR, "..",
                               (size_t)c + 1);
        else {
            const listent *l = &f->list[c - 2];
            whole = put_dirent(buf, len, used, c + 1, l->ino, l->type, l->name,
                               strlen(l->name));
        }
        if (!whole)
            break;
    }
    return ERYX__EOK;
}

/* ------------------------------------------------------------ changes */

/* Where a change may not happen: the error, or EOK. */
static int
refuse_change(const where *w)
{
    if (w->kind == K_SYNTH)
        return w->exists ? ERYX__EBUSY : ERYX__EACCES;
    if (read_only(w))
        return ERYX__EROFS;
    if ((w->kind == K_MEM && w->parent == NULL) ||
        (w->kind == K_HOST && *w->rel == '\0'))
        return ERYX__EBUSY; /* a mount point */
    return ERYX__EOK;
}

int
eryx__vfs_mkdir(eryx__vfs *v, uint32_t dirfd, const char *path, size_t len)
{
    where w;
    int e = resolve(v, dirfd, path, len, false, NULL, &w);
    if (e != ERYX__EOK)
        return e;
    if (w.kind == K_SYNTH)
        return w.exists ? ERYX__EEXIST : ERYX__EACCES;
    if (w.kind == K_MEM) {
        eryx__node *n;
        if (w.node != NULL)
            e = ERYX__EEXIST;
        else if ((e = refuse_change(&w)) == ERYX__EOK)
            e = eryx__node_create(w.m->mem, w.parent, w.name, w.nlen,
                                  ERYX__FT_DIR, NULL, 0, &n);
        done(&w);
        return e;
    }
    if (*w.rel == '\0')
        return ERYX__EEXIST;
    if ((e = refuse_change(&w)) != ERYX__EOK)
        return e;
    int pfd;
    const char *name;
    if ((e = eryx__host_parent(host_root(w.m), w.rel, &pfd, &name)) != 0)
        return e;
    e = mkdirat(pfd, name, 0777) ? eryx__host_errno(errno) : ERYX__EOK;
    close(pfd);
    return e;
}

static int
remove_entry(
    eryx__vfs *v, uint32_t dirfd, const char *path, size_t len, bool dir)
{
    where w;
    int e = resolve(v, dirfd, path, len, false, NULL, &w);
    if (e != ERYX__EOK)
        return e;
    if (w.kind == K_MEM) {
        if (w.node == NULL)
            e = ERYX__ENOENT;
        else if ((e = refuse_change(&w)) != ERYX__EOK) {
        } else if (!dir && w.node->type == ERYX__FT_DIR)
            e = ERYX__EISDIR;
        else if (dir ? w.node->type != ERYX__FT_DIR : w.slash)
            e = ERYX__ENOTDIR;
        else if (dir && w.node->nents != 0)
            e = ERYX__ENOTEMPTY;
        else
            eryx__node_detach(w.m->mem, w.parent, w.idx);
        done(&w);
        return e;
    }
    if (w.kind == K_SYNTH && !w.exists)
        return ERYX__ENOENT;
    if ((e = refuse_change(&w)) != ERYX__EOK)
        return e;
    int pfd;
    const char *name;
    if ((e = eryx__host_parent(host_root(w.m), w.rel, &pfd, &name)) != 0)
        return e;
    e = unlinkat(pfd, name, dir ? AT_REMOVEDIR : 0) ? eryx__host_errno(errno)
                                                    : ERYX__EOK;
    close(pfd);
    return e;
}

int
eryx__vfs_rmdir(eryx__vfs *v, uint32_t dirfd, const char *path, size_t len)
{
    return remove_entry(v, dirfd, path, len, true);
}

int
eryx__vfs_unlink(eryx__vfs *v, uint32_t dirfd, const char *path, size_t len)
{
    return remove_entry(v, dirfd, path, len, false);
}

/* Is `dir` `anc` or below it? */
static bool
below(const eryx__node *dir, const eryx__node *anc)
{
    for (; dir != NULL; dir = dir->parent)
        if (dir == anc)
            return true;
    return false;
}

static int
rename_mem(eryx_storage *s, where *a, where *b)
{
    eryx__node *n = a->node;
    if (n == NULL)
        return ERYX__ENOENT;
    if (b->node == n)
        return ERYX__EOK;
    bool isdir = n->type == ERYX__FT_DIR;
    if (!isdir && (a->slash || b->slash))
        return ERYX__ENOTDIR;
    if (b->node != NULL) {
        if (isdir && b->node->type != ERYX__FT_DIR)
            return ERYX__ENOTDIR;
        if (!isdir && b->node->type == ERYX__FT_DIR)
            return ERYX__EISDIR;
        if (isdir && b->node->nents != 0)
            return ERYX__ENOTEMPTY;
    }
    if (isdir) {
        if (below(b->parent, n))
            return ERYX__EINVAL;
        if (eryx__node_depth(b->parent) + 1 + eryx__node_height(n) >
            ERYX__VFS_DEPTH_MAX)
            return ERYX__ENAMETOOLONG;
    }
    /* Hold the node while it has no name. */
    eryx__node_open(n);
    char name[ERYX__VFS_NAME_MAX + 1];
    memcpy(name, b->name, b->nlen);
    size_t nlen = b->nlen;
    eryx__node_detach(s, a->parent, a->idx);
    uint32_t idx;
    if (eryx__node_find(b->parent, name, nlen, &idx))
        eryx__node_detach(s, b->parent, idx);
    int e = eryx__node_attach(s, b->parent, name, nlen, n);
    if (e != ERYX__EOK) {
        /* Out of memory or quota for the name: put it back. */
        uint32_t back;
        if (!eryx__node_find(a->parent, a->name, a->nlen, &back))
            (void)eryx__node_attach(s, a->parent, a->name, a->nlen, n);
    }
    n->ctim = eryx__vfs_now_ns();
    eryx__node_close(s, n);
    return e;
}

int
eryx__vfs_rename(eryx__vfs *v,
                 uint32_t fd1,
                 const char *p1,
                 size_t l1,
                 uint32_t fd2,
                 const char *p2,
                 size_t l2)
{
    where *a = eryx__malloc(2 * sizeof *a), *b = a + 1;
    if (a == NULL)
        return ERYX__ENOMEM;
    int e = resolve(v, fd1, p1, l1, false, NULL, a);
    if (e != ERYX__EOK)
        goto out;
    if (a->kind == K_MEM) {
        /* The second path must be in the same storage (it is locked). */
        e = resolve(v, fd2, p2, l2, false, a->m->mem, b);
        if (e == ERYX__EOK && b->m != a->m)
            e = ERYX__EXDEV;
        if (e == ERYX__EOK && (e = refuse_change(a)) == ERYX__EOK &&
            (e = refuse_change(b)) == ERYX__EOK)
            e = rename_mem(a->m->mem, a, b);
        done(a);
        goto out;
    }
    e = resolve(v, fd2, p2, l2, false, NULL, b);
    if (e != ERYX__EOK)
        goto out;
    if (b->kind == K_MEM) {
        done(b);
        e = ERYX__EXDEV;
        goto out;
    }
    if (a->kind == K_SYNTH && !a->exists) {
        e = ERYX__ENOENT;
        goto out;
    }
    if ((e = refuse_change(a)) != ERYX__EOK ||
        (e = refuse_change(b)) != ERYX__EOK)
        goto out;
    if (a->m != b->m || a->m->is_file) {
        e = ERYX__EXDEV;
        goto out;
    }
    int pa, pb;
    const char *na, *nb;
    if ((e = eryx__host_parent(host_root(a->m), a->rel, &pa, &na)) != 0)
        goto out;
    if ((e = eryx__host_parent(host_root(b->m), b->rel, &pb, &nb)) != 0) {
        close(pa);
        goto out;
    }
    e = renameat(pa, na, pb, nb) ? eryx__host_errno(errno) : ERYX__EOK;
    close(pa);
    close(pb);
out:
    eryx__free(a);
    return e;
}

int
eryx__vfs_readlink(eryx__vfs *v,
                   uint32_t dirfd,
                   const char *path,
                   size_t len,
                   char *buf,
                   size_t buf_len,
                   size_t *used)
{
    where w;
    *used = 0;
    int e = resolve(v, dirfd, path, len, false, NULL, &w);
    if (e != ERYX__EOK)
        return e;
    if (w.kind == K_SYNTH)
        return w.exists ? ERYX__EINVAL : ERYX__ENOENT;
    if (w.kind == K_MEM) {
        if (w.node == NULL)
            e = ERYX__ENOENT;
        else if (w.node->type != ERYX__FT_SYMLINK)
            e = ERYX__EINVAL;
        else {
            size_t k = w.node->len < buf_len ? (size_t)w.node->len : buf_len;
            memcpy(buf, w.node->data, k);
            *used = k;
        }
        done(&w);
        return e;
    }
    if (*w.rel == '\0')
        return ERYX__EINVAL;
    int pfd;
    const char *name;
    if ((e = eryx__host_parent(host_root(w.m), w.rel, &pfd, &name)) != 0)
        return e;
    ssize_t r = readlinkat(pfd, name, buf, buf_len);
    e = r < 0 ? eryx__host_errno(errno) : ERYX__EOK;
    close(pfd);
    if (r >= 0)
        *used = (size_t)r;
    return e;
}

int
eryx__vfs_symlink(eryx__vfs *v,
                  const char *target,
                  size_t tlen,
                  uint32_t dirfd,
                  const char *path,
                  size_t len)
{
    if (tlen == 0 || memchr(target, '\0', tlen))
        return ERYX__EINVAL;
    if (tlen > ERYX__VFS_PATH_MAX)
        return ERYX__ENAMETOOLONG;
    where w;
    int e = resolve(v, dirfd, path, len, false, NULL, &w);
    if (e != ERYX__EOK)
        return e;
    if (w.kind != K_MEM) {
        if (w.kind == K_SYNTH)
            return w.exists ? ERYX__EEXIST : ERYX__EACCES;
        /* No symlink is ever made on the host: one could point anywhere
           for the host's other programs. */
        return w.m->read_only ? ERYX__EROFS : ERYX__EPERM;
    }
    eryx__node *n;
    if (w.node != NULL)
        e = ERYX__EEXIST;
    else if ((e = refuse_change(&w)) == ERYX__EOK)
        e = eryx__node_create(w.m->mem, w.parent, w.name, w.nlen,
                              ERYX__FT_SYMLINK, target, tlen, &n);
    done(&w);
    return e;
}

int
eryx__vfs_link(eryx__vfs *v,
               uint32_t fd1,
               uint32_t lookup,
               const char *p1,
               size_t l1,
               uint32_t fd2,
               const char *p2,
               size_t l2)
{
    where *a = eryx__malloc(2 * sizeof *a), *b = a + 1;
    if (a == NULL)
        return ERYX__ENOMEM;
    int e = resolve(v, fd1, p1, l1, lookup & LOOKUP_FOLLOW, NULL, a);
    if (e != ERYX__EOK)
        goto out;
    if (a->kind != K_MEM) {
        /* Hard links on the host are refused, like symlinks. */
        e = a->kind == K_SYNTH ? ERYX__EPERM
            : a->m->read_only  ? ERYX__EROFS
                               : ERYX__EPERM;
        goto out;
    }
    e = resolve(v, fd2, p2, l2, false, a->m->mem, b);
    if (e == ERYX__EOK && b->m != a->m)
        e = ERYX__EXDEV;
    if (e == ERYX__EOK) {
        if (a->node == NULL)
            e = ERYX__ENOENT;
        else if (a->node->type == ERYX__FT_DIR)
            e = ERYX__EPERM;
        else if (b->node != NULL)
            e = ERYX__EEXIST;
        else if ((e = refuse_change(b)) == ERYX__EOK)
            e = eryx__node_attach(a->m->mem, b->parent, b->name, b->nlen,
                                  a->node);
    }
    done(a);
out:
    eryx__free(a);
    return e;
}
