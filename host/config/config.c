/*
** config.c: eryx_config, the options builder; the defaults are documented
** in include/eryx.h and kept in settings.c.
*/
#include <string.h>

#include "config/config.h"

eryx_status
eryx_config_new(eryx_config **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx__alloc_init();
    eryx_config *c = eryx__calloc(1, sizeof *c);
    if (c == NULL)
        return eryx__fail_nomem(err);
    eryx_status s = eryx__settings_copy(&c->settings, NULL, err);
    if (s != ERYX_OK) {
        eryx__free(c);
        return s;
    }
    c->ready_count = ERYX__READY_DEFAULT_COUNT;
    c->ready_max_bytes = ERYX__READY_DEFAULT_BYTES;
    *out = c;
    return ERYX_OK;
}

void
eryx_config_free(eryx_config *c)
{
    if (c == NULL)
        return;
    eryx__free(c->runtime_path);
    eryx__free(c->stdlib_dir);
    eryx__free(c->cache_dir);
    eryx__settings_clear(&c->settings);
    eryx__free(c);
}

/* Replace *slot by a copy of `value`. */
static eryx_status
set_string(char **slot, const char *value, eryx_error *err)
{
    char *copy = eryx__strdup(value);
    if (copy == NULL)
        return eryx__fail_nomem(err);
    eryx__free(*slot);
    *slot = copy;
    return ERYX_OK;
}

eryx_status
eryx_config_set_runtime_path(eryx_config *c, const char *path, eryx_error *err)
{
    if (c == NULL || path == NULL || *path == '\0')
        return eryx__fail(err, ERYX_E_INVALID_ARG, "runtime path is empty");
    return set_string(&c->runtime_path, path, err);
}

eryx_status
eryx_config_set_ready_instances(eryx_config *c,
                                uint32_t count,
                                uint64_t max_bytes,
                                eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    if (count > ERYX__READY_MAX)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "ready instances: at most %u", ERYX__READY_MAX);
    c->ready_count = count;
    c->ready_max_bytes = max_bytes;
    return ERYX_OK;
}

eryx_status
eryx_config_set_stdlib_dir(eryx_config *c, const char *path, eryx_error *err)
{
    if (c == NULL || path == NULL || *path == '\0')
        return eryx__fail(err, ERYX_E_INVALID_ARG, "stdlib dir is empty");
    return set_string(&c->stdlib_dir, path, err);
}

eryx_status
eryx_config_set_max_instances(eryx_config *c, uint32_t count, eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    if (count == 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "max_instances must be at least 1");
    c->max_instances = count;
    return ERYX_OK;
}

eryx_status
eryx_config_set_cache_dir(eryx_config *c, const char *path, eryx_error *err)
{
    if (c == NULL || path == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "cache dir is NULL");
    return set_string(&c->cache_dir, path, err);
}

static bool
is_identifier(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    }
    return true;
}

eryx_status
eryx_config_set_result_variable(eryx_config *c,
                                const char *name,
                                eryx_error *err)
{
    if (c == NULL || name == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "name is NULL");
    if (*name != '\0' && !is_identifier(name))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "result variable '%.64s' is not an ASCII identifier",
                          name);
    return set_string(&c->settings.result_variable, name, err);
}

eryx_status
eryx_config_set_callback_timeout_ms(eryx_config *c,
                                    uint32_t ms,
                                    eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    c->settings.hub.callback_timeout_ms = ms;
    return ERYX_OK;
}

eryx_status
eryx_config_set_max_callback_invocations(eryx_config *c,
                                         uint32_t count,
                                         eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    c->settings.hub.max_callback_invocations = count;
    return ERYX_OK;
}

eryx_status
eryx_config_set_output_limit(eryx_config *c, uint64_t bytes, eryx_error *err)
{
    if (c == NULL || bytes < 1024)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the output limit must be at least 1024 bytes");
    c->settings.output_limit_bytes = bytes;
    return ERYX_OK;
}

eryx_status
eryx_config_set_output_overflow(eryx_config *c,
                                eryx_output_overflow mode,
                                eryx_error *err)
{
    if (c == NULL || (mode != ERYX_OUTPUT_TRUNCATE && mode != ERYX_OUTPUT_FAIL))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the output overflow mode must be "
                          "ERYX_OUTPUT_TRUNCATE or ERYX_OUTPUT_FAIL");
    c->settings.output_limit_fails = mode == ERYX_OUTPUT_FAIL;
    return ERYX_OK;
}

eryx_status
eryx_config_set_snapshot_limit(eryx_config *c, uint64_t bytes, eryx_error *err)
{
    if (c == NULL || bytes == 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the snapshot limit must be positive");
    c->settings.snapshot_limit_bytes = bytes;
    return ERYX_OK;
}

eryx_status
eryx_config_set_memory_limit(eryx_config *c, uint64_t bytes, eryx_error *err)
{
    if (c == NULL || bytes < (32u << 20))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the memory limit must be at least 32 MiB");
    c->settings.memory_limit_bytes = bytes;
    return ERYX_OK;
}

eryx_status
eryx_config_set_timeout_ms(eryx_config *c, uint32_t ms, eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    c->settings.timeout_ms = ms;
    return ERYX_OK;
}

eryx_status
eryx_config_set_fuel(eryx_config *c, uint64_t fuel, eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    c->settings.fuel = fuel;
    return ERYX_OK;
}

/* Replace the hook in *slot by a new one for fn (NULL fn: none).  A NULL
   slot (no config) is misuse; the userdata is freed either way. */
static eryx_status
set_hook(eryx__hook **slot,
         void (*fn)(void),
         void *userdata,
         void (*free_userdata)(void *),
         eryx_error *err)
{
    eryx__hook *hook = NULL;
    if (slot != NULL && fn != NULL) {
        hook = eryx__hook_new(fn, userdata, free_userdata);
        if (hook == NULL) {
            if (free_userdata != NULL)
                free_userdata(userdata);
            return eryx__fail_nomem(err);
        }
    } else if (free_userdata != NULL) {
        free_userdata(userdata);
    }
    if (slot == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    eryx__hook_unref(*slot);
    *slot = hook;
    return ERYX_OK;
}

eryx_status
eryx_config_set_trace_handler(eryx_config *c,
                              eryx_trace_fn fn,
                              void *userdata,
                              void (*free_userdata)(void *),
                              eryx_error *err)
{
    return set_hook(c ? &c->settings.trace : NULL, (void (*)(void))fn, userdata,
                    free_userdata, err);
}

eryx_status
eryx_config_set_output_handler(eryx_config *c,
                               eryx_output_fn fn,
                               void *userdata,
                               void (*free_userdata)(void *),
                               eryx_error *err)
{
    return set_hook(c ? &c->settings.output : NULL, (void (*)(void))fn,
                    userdata, free_userdata, err);
}

eryx_status
eryx_config_add_callback(eryx_config *c,
                         const char *name,
                         const char *description,
                         const char *parameters_schema,
                         eryx_callback_fn fn,
                         void *userdata,
                         void (*free_userdata)(void *),
                         eryx_error *err)
{
    eryx__hook *hook = NULL;
    eryx_status s;
    if (c == NULL || name == NULL || fn == NULL) {
        s = eryx__fail(err, ERYX_E_INVALID_ARG,
                       "config, name and handler are required");
    } else if ((hook = eryx__hook_new((void (*)(void))fn, userdata,
                                      free_userdata)) == NULL) {
        s = eryx__fail_nomem(err);
    } else {
        s = eryx__registry_add(&c->settings.callbacks, name,
                               description ? description : "",
                               parameters_schema, hook, err);
        eryx__hook_unref(hook); /* the registry holds its own reference */
        return s;
    }
    if (free_userdata != NULL)
        free_userdata(userdata);
    return s;
}

/* ---- the filesystem ---- */

/* Guest paths a volume or the data mount may not take. */
static const char *
path_taken(const eryx_config *c, const char *path, bool data)
{
    static const char *const reserved[] = {"/tmp", "/site-packages", "/lib"};
    for (size_t i = 0; i < ERYX__COUNT(reserved); i++) {
        size_t n = strlen(reserved[i]);
        if (strncmp(path, reserved[i], n) == 0 &&
            (path[n] == '\0' || path[n] == '/'))
            return reserved[i];
    }
    if (!data && strcmp(path, c->settings.data_path) == 0)
        return c->settings.data_path;
    for (size_t i = 0; i < c->settings.nvolumes; i++)
        if (strcmp(path, c->settings.volumes[i].guest) == 0)
            return c->settings.volumes[i].guest;
    return NULL;
}

eryx_status
eryx_config_set_data_path(eryx_config *c, const char *path, eryx_error *err)
{
    if (c == NULL || path == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config or path is NULL");
    if (!eryx__settings_guest_path_ok(path))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "data path %.200s is not an absolute, normalized "
                          "path other than /",
                          path);
    const char *taken = path_taken(c, path, true);
    if (taken != NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "data path %.200s conflicts with %s", path, taken);
    return set_string(&c->settings.data_path, path, err);
}

eryx_status
eryx_config_set_vfs_limit(eryx_config *c, uint64_t bytes, eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    c->settings.vfs_limit_bytes = bytes ? bytes : 64u << 20;
    return ERYX_OK;
}

eryx_status
eryx_config_set_storage(eryx_config *c, eryx_storage *storage, eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    eryx__storage_ref(storage);
    eryx__storage_unref(c->settings.storage);
    c->settings.storage = storage;
    return ERYX_OK;
}

eryx_status
eryx_config_set_site_packages(eryx_config *c, const char *dir, eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    if (dir == NULL) {
        eryx__free(c->settings.packages_dir);
        c->settings.packages_dir = NULL;
        return ERYX_OK;
    }
    if (*dir == '\0')
        return eryx__fail(err, ERYX_E_INVALID_ARG, "site-packages is empty");
    return set_string(&c->settings.packages_dir, dir, err);
}

eryx_status
eryx_config_add_volume(eryx_config *c,
                       const char *host_path,
                       const char *guest_path,
                       int read_only,
                       eryx_error *err)
{
    if (c == NULL || host_path == NULL || guest_path == NULL ||
        *host_path == '\0')
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "config, host path or guest path is missing");
    if (!eryx__settings_guest_path_ok(guest_path))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "volume path %.200s is not an absolute, normalized "
                          "path other than /",
                          guest_path);
    const char *taken = path_taken(c, guest_path, false);
    if (taken != NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "volume path %.200s conflicts with %s", guest_path,
                          taken);
    if (c->settings.nvolumes >= 64)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "at most 64 volumes");
    eryx__volume *v = eryx__realloc(c->settings.volumes,
                                    (c->settings.nvolumes + 1) * sizeof *v);
    if (v == NULL)
        return eryx__fail_nomem(err);
    c->settings.volumes = v;
    v += c->settings.nvolumes;
    v->host = eryx__strdup(host_path);
    v->guest = eryx__strdup(guest_path);
    v->read_only = read_only != 0;
    if (v->host == NULL || v->guest == NULL) {
        eryx__free(v->host);
        eryx__free(v->guest);
        return eryx__fail_nomem(err);
    }
    c->settings.nvolumes++;
    return ERYX_OK;
}

eryx_status
eryx__config_clone(const eryx_config *c, eryx_config **out, eryx_error *err)
{
    eryx_status s = eryx_config_new(out, err);
    if (s != ERYX_OK || c == NULL)
        return s;
    eryx_config *d = *out;
    if (d == NULL)
        return eryx__fail_nomem(err);
    eryx__settings_clear(&d->settings);
    s = eryx__settings_copy(&d->settings, c, err);
    d->max_instances = c->max_instances;
    d->ready_count = c->ready_count;
    d->ready_max_bytes = c->ready_max_bytes;
    if (s == ERYX_OK &&
        ((c->runtime_path &&
          !(d->runtime_path = eryx__strdup(c->runtime_path))) ||
         (c->stdlib_dir && !(d->stdlib_dir = eryx__strdup(c->stdlib_dir))) ||
         (c->cache_dir && !(d->cache_dir = eryx__strdup(c->cache_dir)))))
        s = eryx__fail_nomem(err);
    if (s != ERYX_OK) {
        eryx_config_free(d);
        *out = NULL;
    }
    return s;
}

eryx_status
eryx_config_add_secret(eryx_config *c,
                       const char *name,
                       const char *value,
                       const char *const *allowed_hosts,
                       size_t n,
                       eryx_error *err)
{
    if (c == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    eryx__secrets *s;
    eryx_status st = eryx__secrets_add(c->settings.secrets, name, value,
                                       allowed_hosts, n, &s, err);
    if (st != ERYX_OK)
        return st;
    eryx__secrets_unref(c->settings.secrets);
    c->settings.secrets = s;
    return ERYX_OK;
}

eryx_status
eryx_config_set_scrub(eryx_config *c, unsigned flags, eryx_error *err)
{
    if (c == NULL || (flags & ~15u) != 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "bad scrub flags");
    c->settings.scrub = flags;
    return ERYX_OK;
}

eryx_status
eryx_config_set_network(eryx_config *config,
                        const eryx_netconfig *nc,
                        eryx_error *err)
{
    if (config == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "config is NULL");
    eryx__netpolicy *p = NULL;
    if (nc != NULL && (p = eryx__netconfig_freeze(nc)) == NULL)
        return eryx__fail_nomem(err);
    eryx__netpolicy_unref(config->settings.net);
    config->settings.net = p;
    return ERYX_OK;
}
