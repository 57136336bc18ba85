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
};

eryx_status
eryx__settings_copy(eryx__settings *dst,
                    const eryx_config *config,
                    eryx_error *err)
{
    const eryx__settings *src = config ? &config->settings : &default_settings;
    *dst = *src;
    dst->callbacks = (eryx__registry){NULL, 0, NULL};
    dst->result_variable =
        eryx__strdup(src->result_variable ? src->result_variable : "result");
    if (dst->result_variable == NULL) {
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
    memset(s, 0, sizeof *s);
}
