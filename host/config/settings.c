/*
** settings.c: what a sandbox, session or pool copies of a config
** (eryx__settings_*), and the defaults when there is none.
*/
#include <string.h>

#include "config/config.h"

static const eryx__settings default_settings = {
    .hub = {.callback_timeout_ms = 10000, .max_callback_invocations = 1000},
    .output_limit_bytes = 10u << 20,
    .snapshot_limit_bytes = 10u << 20,
    .memory_limit_bytes = 128u << 20,
    .timeout_ms = 30000,
    .fuel = 0,
    .vfs_limit_bytes = 64u << 20,
    .scrub = ERYX_SCRUB_STDOUT | ERYX_SCRUB_STDERR | ERYX_SCRUB_FILES,
};

eryx_status
eryx__settings_copy(eryx__settings *dst,
                    const eryx_config *config,
                    eryx_error *err)
{
    const eryx__settings *src = config ? &config->settings : &default_settings;
    *dst = *src;
    dst->callbacks = (eryx__registry){NULL, 0, NULL};
    dst->volumes = NULL;
    dst->nvolumes = 0;
    dst->storage = eryx__storage_ref(src->storage);
    dst->packages = eryx__storage_ref(src->packages);
    dst->net = eryx__netpolicy_ref(src->net);
    dst->secrets = eryx__secrets_ref(src->secrets);
    dst->result_variable =
        eryx__strdup(src->result_variable ? src->result_variable : "result");
    dst->data_path = eryx__strdup(src->data_path ? src->data_path : "/data");
    dst->packages_dir =
        src->packages_dir ? eryx__strdup(src->packages_dir) : NULL;
    bool ok = dst->result_variable && dst->data_path &&
              (dst->packages_dir || !src->packages_dir);
    if (ok && src->nvolumes) {
        dst->volumes = eryx__calloc(src->nvolumes, sizeof *dst->volumes);
        ok = dst->volumes != NULL;
        for (size_t i = 0; ok && i < src->nvolumes; i++) {
            eryx__volume *v = &dst->volumes[i];
            v->read_only = src->volumes[i].read_only;
            v->host = eryx__strdup(src->volumes[i].host);
            v->guest = eryx__strdup(src->volumes[i].guest);
            dst->nvolumes = i + 1;
            ok = v->host && v->guest;
        }
    }
    if (!ok) {
        dst->trace = dst->output = NULL;
        eryx__settings_clear(dst);
        return eryx__fail_nomem(err);
    }
    eryx_status s = eryx__registry_copy(&dst->callbacks, &src->callbacks, err);
    eryx__hook_ref(dst->trace);
    eryx__hook_ref(dst->output);
    if (s != ERYX_OK)
        eryx__settings_clear(dst);
    return s;
}

void
eryx__settings_clear(eryx__settings *s)
{
    eryx__free(s->result_variable);
    eryx__registry_clear(&s->callbacks);
    eryx__hook_unref(s->trace);
    eryx__hook_unref(s->output);
    eryx__free(s->data_path);
    eryx__free(s->packages_dir);
    for (size_t i = 0; i < s->nvolumes; i++) {
        eryx__free(s->volumes[i].host);
        eryx__free(s->volumes[i].guest);
    }
    eryx__free(s->volumes);
    eryx__storage_unref(s->storage);
    eryx__storage_unref(s->packages);
    eryx__netpolicy_unref(s->net);
    eryx__secrets_unref(s->secrets);
    memset(s, 0, sizeof *s);
}

bool
eryx__settings_guest_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n < 2 || n > 1024 || path[0] != '/' || path[n - 1] == '/')
        return false;
    for (const char *p = path + 1;;) {
        const char *q = strchr(p, '/');
        size_t c = q ? (size_t)(q - p) : strlen(p);
        if (c == 0 || c > ERYX__VFS_NAME_MAX || (c == 1 && p[0] == '.') ||
            (c == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (q == NULL)
            return true;
        p = q + 1;
    }
}
