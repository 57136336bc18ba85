/*
** config.h: what liberyx keeps of a configuration: struct eryx_config
** (config.c), the settings sandboxes copy (eryx__settings_* in
** settings.c), and where an engine's files are (eryx__paths_* in
** paths.c).  struct eryx_config is the public builder's state;
** eryx__settings is the part a sandbox, session or pool copies and its
** stores read while they run.  Depends on core, callbacks, net and vfs.
*/
#ifndef ERYX_CONFIG_H
#define ERYX_CONFIG_H

#include "callbacks/callbacks.h"
#include "core/internal.h"
#include "net/net.h"
#include "vfs/vfs.h"

typedef struct eryx__settings {
    char *result_variable; /* never NULL */
    eryx__registry callbacks;
    eryx__hook *trace;  /* eryx_trace_fn, or NULL */
    eryx__hook *output; /* eryx_output_fn, or NULL */
    eryx__hub_limits hub;
    uint64_t output_limit_bytes;
    bool output_limit_fails; /* ERYX_OUTPUT_FAIL: stop at the limit */
    uint64_t snapshot_limit_bytes;
    uint64_t memory_limit_bytes;
    uint32_t timeout_ms; /* 0: none */
    uint64_t fuel;       /* 0: none */
    /* The filesystem (vfs/vfs.h). */
    char *data_path;          /* never NULL: "/data" by default */
    uint64_t vfs_limit_bytes; /* quota of the instance's own storages */
    eryx__volume *volumes;
    size_t nvolumes;
    eryx_storage *storage;  /* /data shared with the caller, or NULL */
    eryx_storage *packages; /* a factory's, at /site-packages, or NULL */
    char *packages_dir;     /* or a host directory there, or NULL */
    /* The network (net/net.h). */
    eryx__netpolicy *net;   /* NULL: no network */
    eryx__secrets *secrets; /* NULL: none */
    unsigned scrub;         /* ERYX_SCRUB_* */
} eryx__settings;

/* Is `path` an absolute, normalized guest path other than "/" (no "."
   or ".." components, no empty ones, no trailing '/')? */
bool eryx__settings_guest_path_ok(const char *path);

/* Ready interpreters: the defaults, and the most an engine keeps. */
#define ERYX__READY_DEFAULT_COUNT 2u
#define ERYX__READY_DEFAULT_BYTES ((uint64_t)64 << 20)
#define ERYX__READY_MAX           64u

struct eryx_config {
    char *runtime_path;       /* NULL: default */
    char *stdlib_dir;         /* NULL: default */
    char *cache_dir;          /* NULL: default; "": off */
    uint32_t max_instances;   /* per engine variant; 0: the default */
    uint32_t ready_count;     /* ready interpreters kept (instance/ready.c) */
    uint64_t ready_max_bytes; /* the most memory they hold together */
    eryx__settings settings;
};

/* A new config with everything `config` (NULL: the defaults) has. */
eryx_status eryx__config_clone(const eryx_config *config,
                               eryx_config **out,
                               eryx_error *err);

/* A deep copy of `config`'s settings (the defaults when it is NULL). */
eryx_status eryx__settings_copy(eryx__settings *dst,
                                const eryx_config *config,
                                eryx_error *err);
void eryx__settings_clear(eryx__settings *s);

/* The engine's files, each a new string on success (cache_dir NULL: the
   cache is off).  The guest and its stdlib are found in this order: the
   config's value; $ERYX_RUNTIME / $ERYX_STDLIB; next to this library's own
   file, in ../share/eryx (the install layout); and, for a library still in
   its build tree, the build's outputs.  A guest found nowhere fails with
   ERYX_E_IO naming every path tried. */
typedef struct eryx__paths {
    char *runtime_path, *stdlib_dir, *cache_dir;
} eryx__paths;
eryx_status
eryx__paths_find(const eryx_config *config, eryx__paths *out, eryx_error *err);
void eryx__paths_free(eryx__paths *paths);

#endif /* ERYX_CONFIG_H */
