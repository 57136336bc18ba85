/*
** vfs.h: the guest's filesystem, private to liberyx (prefix eryx__vfs_,
** eryx__storage_).  The host owns it whole: the WASI preview-1 filesystem
** functions (imports/fs.c) land here, on a mount table per instance:
**
**   /                    a directory of mount points, read-only
**   /lib/python3.13      the stdlib: a host directory, read-only
**   /data (configurable) an eryx_storage: in-memory, writable, the cwd
**   /tmp                 an eryx_storage of the instance, same quota
**   /site-packages       a factory's packages (storage or host dir), ro
**   volumes              host directories or files, ro or rw
**
** storage.c keeps the in-memory trees (eryx_storage: reference-counted,
** locked, shared by sessions); storage_format.c their byte form (pure: no
** Wasmtime, no threads; the fuzz target links it); host.c the host mounts,
** opened beneath their root (openat2 RESOLVE_BENEATH, or a walk that
** refuses symlinks); vfs.c the mounts, the descriptors and path
** resolution.  Every error is a WASI errno (ERYX__E*), never a trap: what
** the guest asks of its filesystem cannot hurt the host.  Depends on core.
*/
#ifndef ERYX_VFS_H
#define ERYX_VFS_H

#include "core/internal.h"

/* WASI errno values (wasi_snapshot_preview1). */
enum {
    ERYX__EOK = 0,
    ERYX__EACCES = 2,
    ERYX__EBADF = 8,
    ERYX__EBUSY = 10,
    ERYX__EEXIST = 20,
    ERYX__EFBIG = 22,
    ERYX__EINVAL = 28,
    ERYX__EIO = 29,
    ERYX__EISDIR = 31,
    ERYX__ELOOP = 32,
    ERYX__EMFILE = 33,
    ERYX__EMLINK = 34,
    ERYX__ENAMETOOLONG = 37,
    ERYX__ENOENT = 44,
    ERYX__ENOMEM = 48,
    ERYX__ENOSPC = 51,
    ERYX__ENOSYS = 52,
    ERYX__ENOTDIR = 54,
    ERYX__ENOTEMPTY = 55,
    ERYX__ENOTSUP = 58,
    ERYX__EOVERFLOW = 61,
    ERYX__EPERM = 63,
    ERYX__EROFS = 69,
    ERYX__ESPIPE = 70,
    ERYX__EXDEV = 75,
    ERYX__ENOTCAPABLE = 76,
};

/* WASI file types. */
enum {
    ERYX__FT_UNKNOWN = 0,
    ERYX__FT_DIR = 3,
    ERYX__FT_FILE = 4,
    ERYX__FT_SYMLINK = 7,
};

#define ERYX__VFS_PATH_MAX  4096 /* a resolved guest path, in bytes */
#define ERYX__VFS_NAME_MAX  255  /* one component */
#define ERYX__VFS_DEPTH_MAX 1024 /* directories below a storage's root */
#define ERYX__VFS_NODE_COST 256  /* quota charged per node, beyond its name */

/* Guest memory the caller has checked, as host pointers. */
typedef struct eryx__iov {
    uint8_t *p;
    size_t n;
} eryx__iov;

/* ---- storage.c: eryx_storage, an in-memory tree ---- */

/* The quota a storage charges: bytes of file content, plus
   ERYX__VFS_NODE_COST and the name of every node.  Several storages may
   share one (an instance's /data and /tmp). */
typedef struct eryx__quota eryx__quota;
eryx__quota *eryx__quota_new(uint64_t limit);
void eryx__quota_unref(eryx__quota *q);
uint64_t eryx__quota_used(const eryx__quota *q);

/* A new empty storage charging `quota` (a reference is taken; NULL: its
   own quota of `limit` bytes).  NULL when memory runs out. */
eryx_storage *eryx__storage_new(eryx__quota *quota, uint64_t limit);
eryx_storage *eryx__storage_ref(eryx_storage *s);
/* Drop a reference (eryx_storage_free is the public name). */
void eryx__storage_unref(eryx_storage *s);
/* Read-only storages refuse every change (a factory's packages). */
void eryx__storage_set_read_only(eryx_storage *s, bool ro);
/* The tree as bytes (storage_format.c's form), or a new storage made from
   a copy of it, charging `quota` (NULL: the same limit as `s`, its own). */
eryx_status eryx__storage_serialize(eryx_storage *s,
                                    uint8_t **out,
                                    size_t *len,
                                    eryx_error *err);
eryx_status eryx__storage_fork(eryx_storage *s,
                               eryx__quota *quota,
                               eryx_storage **out,
                               eryx_error *err);

/* ---- storage.c: the nodes of a tree, for vfs.c ----
   Every function below is called with the storage locked
   (eryx__storage_lock), and returns a WASI errno where it can fail. */
typedef struct eryx__node eryx__node;
typedef struct eryx__dirent {
    char *name; /* NUL-terminated */
    uint16_t len;
    eryx__node *node;
} eryx__dirent;
struct eryx__node {
    uint8_t type;   /* ERYX__FT_* */
    uint32_t nlink; /* directory entries naming it */
    uint32_t opens; /* descriptors holding it */
    uint64_t ino, atim, mtim, ctim;
    eryx__node *parent; /* directories: the one holding it */
    uint8_t *data;      /* file content, symlink target */
    uint64_t len, cap;
    eryx__dirent *ents; /* directories: sorted by name */
    uint32_t nents, capents;
};
void eryx__storage_lock(eryx_storage *s);
void eryx__storage_unlock(eryx_storage *s);
eryx__node *eryx__storage_root(eryx_storage *s);
bool eryx__storage_is_read_only(eryx_storage *s);
/* The entry `name` of `dir`: true and its index, or false and where it
   would go. */
bool eryx__node_find(const eryx__node *dir,
                     const char *name,
                     size_t len,
                     uint32_t *idx);
/* A new node in `dir` under `name` (absent): a directory, an empty file,
   or a symlink to `target`. */
int eryx__node_create(eryx_storage *s,
                      eryx__node *dir,
                      const char *name,
                      size_t len,
                      int type,
                      const char *target,
                      size_t tlen,
                      eryx__node **out);
/* Name existing `node` in `dir` too (a hard link; a rename's second half). */
int eryx__node_attach(eryx_storage *s,
                      eryx__node *dir,
                      const char *name,
                      size_t len,
                      eryx__node *node);
/* Remove entry `idx` of `dir`; its node goes when nothing holds it. */
void eryx__node_detach(eryx_storage *s, eryx__node *dir, uint32_t idx);
void eryx__node_open(eryx__node *n);
void eryx__node_close(eryx_storage *s, eryx__node *n);
int eryx__node_resize(eryx_storage *s, eryx__node *n, uint64_t size);
int eryx__node_pwrite(eryx_storage *s,
                      eryx__node *n,
                      uint64_t off,
                      const eryx__iov *iov,
                      size_t niov,
                      uint64_t *done);
uint64_t eryx__node_pread(eryx__node *n,
                          uint64_t off,
                          const eryx__iov *iov,
                          size_t niov);
/* Directories above `dir` in its tree, and below it at most. */
unsigned eryx__node_depth(const eryx__node *dir);
unsigned eryx__node_height(const eryx__node *dir);
uint64_t eryx__vfs_now_ns(void);

/* ---- storage_format.c: the byte form of a tree ----
   "ERYXVFS1", u64 payload length, u64 checksum of the payload, then the
   payload: the root directory's children, each a record
     u8 type (3 dir, 4 file, 7 symlink; 0 ends a directory), u16 name
     length, name, u64 mtime ns, u64 length, content (file data or symlink
     target; 0 for a directory, whose children follow, then a 0)
   and a final 0.  Little-endian.  The parser checks everything: names
   (1..255 bytes, no '/', NUL, "." or ".."; no duplicates in a directory),
   lengths against what is left, nesting against ERYX__VFS_DEPTH_MAX. */
typedef struct eryx__vfs_sink {
    /* Called for each record in order; returns false to stop (an error
       already described in the sink's own state).  `name` is not
       NUL-terminated.  type 0: the end of the current directory. */
    bool (*record)(void *ctx,
                   int type,
                   const char *name,
                   size_t name_len,
                   uint64_t mtime,
                   const uint8_t *content,
                   uint64_t len);
    void *ctx;
} eryx__vfs_sink;
/* Check `data` whole and feed its records to `sink` (which may be NULL: a
   check only).  ERYX_E_INVALID_INPUT naming the defect. */
eryx_status eryx__storage_format_parse(const uint8_t *data,
                                       size_t len,
                                       const eryx__vfs_sink *sink,
                                       eryx_error *err);
/* A growing byte buffer for the writer. */
typedef struct eryx__vfs_buf {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* memory ran out */
} eryx__vfs_buf;
void eryx__storage_format_begin(eryx__vfs_buf *b);
void eryx__storage_format_record(eryx__vfs_buf *b,
                                 int type,
                                 const char *name,
                                 size_t name_len,
                                 uint64_t mtime,
                                 const uint8_t *content,
                                 uint64_t len);
/* Seal the header; false when memory ran out (the buffer is freed). */
bool eryx__storage_format_end(eryx__vfs_buf *b);

/* ---- host.c: host directories and files, reached beneath a root ---- */

/* Host errno to WASI errno. */
int eryx__host_errno(int e);
/* Open `rel` (normalized and relative: no "..", no leading '/'; "" is
   the root itself) beneath directory `root`: openat2 with RESOLVE_BENEATH
   and RESOLVE_NO_MAGICLINKS, or where the kernel lacks it a walk that
   refuses every symlink.  `follow`: a symlink at the end is followed
   (beneath).  Returns a WASI errno; *out is the new descriptor. */
int eryx__host_open(
    int root, const char *rel, int flags, unsigned mode, bool follow, int *out);
/* The directory holding `rel`'s last component, opened beneath `root`
   (O_PATH), and that component.  `rel` must not be "". */
int eryx__host_parent(int root, const char *rel, int *dirfd, const char **name);

/* ---- vfs.c: one instance's mounts and descriptors ---- */

typedef struct eryx__vfs eryx__vfs;

/* A host volume as configured. */
typedef struct eryx__volume {
    char *host, *guest; /* guest: absolute, normalized */
    bool read_only;
} eryx__volume;

/* What an instance mounts.  Storages are referenced (not stolen). */
typedef struct eryx__vfs_spec {
    int stdlib_fd;            /* a directory, O_PATH: the engine's */
    const char *stdlib_path;  /* its guest path */
    const char *data_path;    /* guest path of `data`; the cwd */
    eryx_storage *data, *tmp; /* NULL: fresh ones under one quota */
    uint64_t quota_bytes;     /* of fresh ones */
    eryx_storage *packages;   /* NULL, or mounted ro at /site-packages */
    const char *packages_dir; /* or a host directory there, ro */
    const eryx__volume *volumes;
    size_t nvolumes;
} eryx__vfs_spec;

/* The instance's filesystem: descriptors 0-2 (stdio, served by the
   caller), 3 the preopened "/".  ERYX_E_IO naming a volume that cannot be
   opened; ERYX_E_NOMEM. */
eryx_status
eryx__vfs_new(const eryx__vfs_spec *spec, eryx__vfs **out, eryx_error *err);
void eryx__vfs_free(eryx__vfs *v);
/* The guest path the guest starts in (the data mount). */
const char *eryx__vfs_workdir(const eryx__vfs *v);
/* The instance's /data and /tmp (borrowed). */
eryx_storage *eryx__vfs_storage(const eryx__vfs *v, bool tmp);

/* The WASI operations; each returns a WASI errno.  Paths are the guest's
   bytes (`len` of them, not NUL-terminated), relative to directory
   descriptor `dirfd`.  Output structures are in WASI's layout. */
int eryx__vfs_prestat(eryx__vfs *v, uint32_t fd, uint32_t *name_len);
int eryx__vfs_prestat_name(eryx__vfs *v, uint32_t fd, char *buf, size_t len);
int eryx__vfs_fdstat(eryx__vfs *v, uint32_t fd, uint8_t out[24]);
int eryx__vfs_set_fdflags(eryx__vfs *v, uint32_t fd, uint16_t flags);
int eryx__vfs_fstat(eryx__vfs *v, uint32_t fd, uint8_t out[64]);
int eryx__vfs_set_size(eryx__vfs *v, uint32_t fd, uint64_t size);
/* fd's times, or (path != NULL) those of `path` under `fd`. */
int eryx__vfs_set_times(eryx__vfs *v,
                        uint32_t fd,
                        uint32_t lookup,
                        const char *path,
                        size_t len,
                        uint64_t atim,
                        uint64_t mtim,
                        uint16_t fst);
/* Read or write (at `off` when `at`, else at and moving the position). */
int eryx__vfs_read(eryx__vfs *v,
                   uint32_t fd,
                   const eryx__iov *iov,
                   size_t n,
                   bool at,
                   uint64_t off,
                   uint64_t *done);
int eryx__vfs_write(eryx__vfs *v,
                    uint32_t fd,
                    const eryx__iov *iov,
                    size_t n,
                    bool at,
                    uint64_t off,
                    uint64_t *done);
int eryx__vfs_seek(
    eryx__vfs *v, uint32_t fd, int64_t off, uint8_t whence, uint64_t *pos);
int eryx__vfs_close(eryx__vfs *v, uint32_t fd);
int eryx__vfs_sync(eryx__vfs *v, uint32_t fd);
int eryx__vfs_readdir(eryx__vfs *v,
                      uint32_t fd,
                      uint8_t *buf,
                      size_t len,
                      uint64_t cookie,
                      size_t *used);
int eryx__vfs_open(eryx__vfs *v,
                   uint32_t dirfd,
                   uint32_t lookup,
                   const char *path,
                   size_t len,
                   uint16_t oflags,
                   uint64_t rights,
                   uint16_t fdflags,
                   uint32_t *fd);
int eryx__vfs_stat(eryx__vfs *v,
                   uint32_t dirfd,
                   uint32_t lookup,
                   const char *path,
                   size_t len,
                   uint8_t out[64]);
int eryx__vfs_mkdir(eryx__vfs *v, uint32_t dirfd, const char *path, size_t len);
int eryx__vfs_rmdir(eryx__vfs *v, uint32_t dirfd, const char *path, size_t len);
int
eryx__vfs_unlink(eryx__vfs *v, uint32_t dirfd, const char *path, size_t len);
int eryx__vfs_rename(eryx__vfs *v,
                     uint32_t fd1,
                     const char *p1,
                     size_t l1,
                     uint32_t fd2,
                     const char *p2,
                     size_t l2);
int eryx__vfs_readlink(eryx__vfs *v,
                       uint32_t dirfd,
                       const char *path,
                       size_t len,
                       char *buf,
                       size_t buf_len,
                       size_t *used);
int eryx__vfs_symlink(eryx__vfs *v,
                      const char *target,
                      size_t tlen,
                      uint32_t dirfd,
                      const char *path,
                      size_t len);
int eryx__vfs_link(eryx__vfs *v,
                   uint32_t fd1,
                   uint32_t lookup,
                   const char *p1,
                   size_t l1,
                   uint32_t fd2,
                   const char *p2,
                   size_t l2);

#endif /* ERYX_VFS_H */
