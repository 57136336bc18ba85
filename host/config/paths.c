/*
** paths.c: where an engine finds its files (eryx__paths_find): the
** guest (runtime.wasm), its stdlib, and the compiled-code cache.  An
** installed library finds the guest relative to its own file, in
** ../share/eryx, so a prefix can be moved; only a library still inside
** its build tree falls back to the build's outputs.
*/
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

#ifndef ERYX_BUILD_DIR /* the build tree; "" in builds made to install */
#define ERYX_BUILD_DIR ""
#endif
#ifndef ERYX_BUILD_RUNTIME_PATH
#define ERYX_BUILD_RUNTIME_PATH ""
#endif
#ifndef ERYX_BUILD_STDLIB_DIR
#define ERYX_BUILD_STDLIB_DIR ""
#endif
#ifndef ERYX_PYTHON_MAJOR_MINOR
#define ERYX_PYTHON_MAJOR_MINOR "3"
#endif

/* The directory of the file this code was loaded from: liberyx.so, or the
   program liberyx.a was linked into.  "" when it cannot be told. */
static void
self_dir(char *out, size_t cap)
{
    char path[PATH_MAX];
    Dl_info info;
    out[0] = '\0';
    bool found = dladdr((void *)self_dir, &info) != 0 &&
                 info.dli_fname != NULL && strchr(info.dli_fname, '/') &&
                 realpath(info.dli_fname, path) != NULL;
    if (!found) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0)
            return;
        path[n] = '\0';
    }
    char *slash = strrchr(path, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(out, cap, "%s", path);
}

/* Is `dir` inside the build tree this library was built in? */
static bool
in_build_tree(const char *dir)
{
    char build[PATH_MAX];
    if (ERYX_BUILD_DIR[0] == '\0' || realpath(ERYX_BUILD_DIR, build) == NULL)
        return false;
    size_t n = strlen(build);
    return strncmp(dir, build, n) == 0 && (dir[n] == '/' || dir[n] == '\0');
}

/* Can the engine use the guest at `path`: the file, or failing that the
   precompiled runtime.cwasm beside it (enough on its own)? */
static bool
readable(const char *path, bool guest)
{
    if (access(path, R_OK) == 0)
        return true;
    size_t n = strlen(path);
    char cwasm[PATH_MAX];
    if (!guest || n < 5 || strcmp(path + n - 5, ".wasm") != 0 ||
        n + 1 > sizeof cwasm)
        return false;
    snprintf(cwasm, sizeof cwasm, "%.*s.cwasm", (int)(n - 5), path);
    return access(cwasm, R_OK) == 0;
}

/* `path` with its directory resolved (no "bin/.." in what eryx_engine_info
   shows), its last component kept as it is: a symlinked runtime.wasm still
   finds the runtime.cwasm beside the link.  `path` itself if that fails. */
static const char *
tidy_dir(const char *path, char *out)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX], real[PATH_MAX];
    if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof dir)
        return path;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (realpath(dir, real) == NULL)
        return path;
    int n = snprintf(out, PATH_MAX, "%s%s", real, slash);
    return n > 0 && n < PATH_MAX ? out : path;
}

/* Pick the first readable candidate for one file; on failure say which
   were tried.  `explicit` (a config value or variable) is the only
   candidate when set. */
static eryx_status
pick(const char *what,
     bool guest,
     const char *explicit_path,
     const char *const *candidates,
     size_t n,
     char **out,
     eryx_error *err)
{
    char tried[200] = "";
    if (explicit_path != NULL) {
        candidates = &explicit_path;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (candidates[i][0] == '\0')
            continue;
        if (readable(candidates[i], guest)) {
            char clean[PATH_MAX];
            *out = eryx__strdup(tidy_dir(candidates[i], clean));
            return *out ? ERYX_OK : eryx__fail_nomem(err);
        }
        size_t used = strlen(tried);
        snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "",
                 candidates[i]);
    }
    return eryx__fail(err, ERYX_E_IO,
                      "cannot find or read the %s; tried: %s (set it in the "
                      "config or the environment)",
                      what, tried[0] ? tried : "nothing configured");
}

static const char *
env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The cache directory: the config's ("" turns it off), else
   $ERYX_CACHE/compiled, else ~/.cache/eryx/compiled. */
static eryx_status
cache_dir(const eryx_config *c, char **out, eryx_error *err)
{
    char path[PATH_MAX];
    *out = NULL;
    if (c != NULL && c->cache_dir != NULL) {
        if (c->cache_dir[0] == '\0')
            return ERYX_OK;
        snprintf(path, sizeof path, "%s", c->cache_dir);
    } else if (env("ERYX_CACHE") != NULL) {
        snprintf(path, sizeof path, "%s/compiled", env("ERYX_CACHE"));
    } else if (env("HOME") != NULL) {
        snprintf(path, sizeof path, "%s/.cache/eryx/compiled", env("HOME"));
    } else {
        return ERYX_OK;
    }
    *out = eryx__strdup(path);
    return *out ? ERYX_OK : eryx__fail_nomem(err);
}

eryx_status
eryx__paths_find(const eryx_config *c, eryx__paths *out, eryx_error *err)
{
    memset(out, 0, sizeof *out);
    char dir[PATH_MAX], rt[PATH_MAX + 32], lib[PATH_MAX + 32];
    self_dir(dir, sizeof dir);
    rt[0] = lib[0] = '\0';
    if (dir[0] != '\0') {
        snprintf(rt, sizeof rt, "%s/../share/eryx/runtime.wasm", dir);
        snprintf(lib, sizeof lib, "%s/../share/eryx/lib/python%s", dir,
                 ERYX_PYTHON_MAJOR_MINOR);
    }
    bool build = dir[0] != '\0' && in_build_tree(dir);
    const char *rts[] = {rt, build ? ERYX_BUILD_RUNTIME_PATH : ""};
    const char *libs[] = {lib, build ? ERYX_BUILD_STDLIB_DIR : ""};
    const char *rt_set =
        c && c->runtime_path ? c->runtime_path : env("ERYX_RUNTIME");
    const char *lib_set =
        c && c->stdlib_dir ? c->stdlib_dir : env("ERYX_STDLIB");
    eryx_status s = pick("guest (runtime.wasm)", true, rt_set, rts,
                         ERYX__COUNT(rts), &out->runtime_path, err);
    if (s == ERYX_OK)
        s = pick("guest's stdlib directory", false, lib_set, libs,
                 ERYX__COUNT(libs), &out->stdlib_dir, err);
    if (s == ERYX_OK)
        s = cache_dir(c, &out->cache_dir, err);
    if (s != ERYX_OK)
        eryx__paths_free(out);
    return s;
}

void
eryx__paths_free(eryx__paths *p)
{
    eryx__free(p->runtime_path);
    eryx__free(p->stdlib_dir);
    eryx__free(p->cache_dir);
    memset(p, 0, sizeof *p);
}
