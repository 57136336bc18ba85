/*
** host.c: reaching host files for the stdlib mount and volumes without
** ever leaving the mount's directory.  Paths come here normalized (no
** "..", no leading '/'), and are opened relative to the mount's root
** descriptor: by openat2 with RESOLVE_BENEATH (symlinks inside the volume
** work, any that lead out fail), or, on kernels before 5.6, one component
** at a time with O_NOFOLLOW, refusing every symlink.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vfs/vfs.h"

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

int
eryx__host_errno(int e)
{
    switch (e) {
    case 0:
        return ERYX__EOK;
    case EACCES:
        return ERYX__EACCES;
    case EBADF:
        return ERYX__EBADF;
    case EBUSY:
        return ERYX__EBUSY;
    case EEXIST:
        return ERYX__EEXIST;
    case EFBIG:
        return ERYX__EFBIG;
    case EINVAL:
        return ERYX__EINVAL;
    case EISDIR:
        return ERYX__EISDIR;
    case ELOOP:
        return ERYX__ELOOP;
    case EMFILE:
    case ENFILE:
        return ERYX__EMFILE;
    case EMLINK:
        return ERYX__EMLINK;
    case ENAMETOOLONG:
        return ERYX__ENAMETOOLONG;
    case ENOENT:
        return ERYX__ENOENT;
    case ENOMEM:
        return ERYX__ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return ERYX__ENOSPC;
    case ENOTDIR:
        return ERYX__ENOTDIR;
    case ENOTEMPTY:
        return ERYX__ENOTEMPTY;
    case EOPNOTSUPP:
        return ERYX__ENOTSUP;
    case EOVERFLOW:
        return ERYX__EOVERFLOW;
    case EPERM:
        return ERYX__EPERM;
    case EROFS:
        return ERYX__EROFS;
    case ESPIPE:
        return ERYX__ESPIPE;
    case EXDEV:
        return ERYX__EXDEV;
    case EAGAIN:
        return ERYX__EACCES; /* RESOLVE_* could not be honoured */
    default:
        return ERYX__EIO;
    }
}

/* 1: openat2 works; 0: not known yet; -1: the kernel lacks it. */
static int have_openat2;

/* Did opening `name` in `dir` fail because it is a symlink? */
static bool
is_link(int dir, const char *name)
{
    struct stat st;
    return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISLNK(st.st_mode);
}

/* One component at a time, every symlink refused (EACCES). */
static int
walk_open(int root, const char *rel, int flags, unsigned mode)
{
    int cur = root;
    const char *p = *rel ? rel : ".";
    for (;;) {
        const char *slash = strchr(p, '/');
        char comp[ERYX__VFS_NAME_MAX + 1];
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        int fd = -1, e = ENAMETOOLONG;
        if (n <= ERYX__VFS_NAME_MAX) {
            memcpy(comp, p, n);
            comp[n] = '\0';
            fd = slash ? openat(cur, comp,
                                O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                       : openat(cur, comp, flags | O_NOFOLLOW, mode);
            e = errno;
            if (fd < 0 && (e == ENOTDIR || e == ELOOP) && is_link(cur, comp))
                e = EACCES;
        }
        if (cur != root)
            close(cur);
        if (fd < 0 || slash == NULL) {
            errno = e;
            return fd;
        }
        cur = fd;
        p = slash + 1;
    }
}

int
eryx__host_open(
    int root, const char *rel, int flags, unsigned mode, bool follow, int *out)
{
    flags |= O_CLOEXEC;
    if (!follow)
        flags |= O_NOFOLLOW;
    const char *path = *rel ? rel : ".";
    int fd = -1;
#ifdef SYS_openat2
    /* ERYX_NO_OPENAT2 (tests) takes the path of kernels without it. */
    if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED) == 0 &&
        getenv("ERYX_NO_OPENAT2") != NULL)
        __atomic_store_n(&have_openat2, -1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED) >= 0) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (uint64_t)(unsigned)flags;
        how.mode = (flags & O_CREAT) ? (uint64_t)mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS) {
            __atomic_store_n(&have_openat2, 1, __ATOMIC_RELAXED);
            /* EXDEV: the path tried to leave the root (RESOLVE_BENEATH). */
            if (fd < 0)
                return errno == EXDEV ? ERYX__EACCES : eryx__host_errno(errno);
            *out = fd;
            return ERYX__EOK;
        }
        __atomic_store_n(&have_openat2, -1, __ATOMIC_RELAXED);
    }
#endif
    fd = walk_open(root, rel, flags, mode);
    if (fd < 0)
        return eryx__host_errno(errno);
    *out = fd;
    return ERYX__EOK;
}

int
eryx__host_parent(int root, const char *rel, int *dirfd, const char **name)
{
    const char *slash = strrchr(rel, '/');
    *name = slash ? slash + 1 : rel;
    if (slash == NULL) {
        return eryx__host_open(root, "", O_PATH | O_DIRECTORY, 0, true, dirfd);
    }
    char parent[ERYX__VFS_PATH_MAX + 1];
    size_t n = (size_t)(slash - rel);
    memcpy(parent, rel, n);
    parent[n] = '\0';
    return eryx__host_open(root, parent, O_PATH | O_DIRECTORY, 0, true, dirfd);
}
