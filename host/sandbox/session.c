/*
** session.c: eryx_session, one interpreter whose namespace persists
** between executes; its whole-interpreter images and its state
** snapshots.
*/
#include <pthread.h>
#include <string.h>

#include "sandbox/sandbox.h"

struct eryx_session {
    eryx_engine *engine;
    eryx__settings settings;
    eryx__interrupt interrupt;
    eryx__instance instance;
    eryx__instance_fs fs; /* /data (unless the config's) and /tmp: kept */
    uint64_t execution_count;
};

/* One of the session's own storages: a copy of the image's, or empty. */
static eryx_status
own_storage(eryx__quota *q,
            const eryx_image *image,
            int which,
            eryx_storage **out,
            eryx_error *err)
{
    eryx_storage *from = image ? eryx__image_files(image, which) : NULL;
    if (from != NULL)
        return eryx__storage_fork(from, q, out, err);
    *out = eryx__storage_new(q, 0);
    return *out ? ERYX_OK : eryx__fail_nomem(err);
}

/* The session's own storages: /data (when the config brings none) and
   /tmp, under one quota, as the image had them; they outlive its
   instances.  An image's packages are the session's too. */
static eryx_status
make_storages(eryx_session *ss, const eryx_image *image, eryx_error *err)
{
    eryx__settings *set = &ss->settings;
    if (image != NULL && set->packages == NULL && set->packages_dir == NULL) {
        const char *dir = eryx__image_packages_dir(image);
        set->packages =
            eryx__storage_ref(eryx__image_files(image, ERYX__IMAGE_PACKAGES));
        if (dir != NULL && (set->packages_dir = eryx__strdup(dir)) == NULL)
            return eryx__fail_nomem(err);
    }
    eryx__quota *q = eryx__quota_new(set->vfs_limit_bytes);
    if (q == NULL)
        return eryx__fail_nomem(err);
    eryx_status s = ERYX_OK;
    if (set->storage == NULL)
        s = own_storage(q, image, ERYX__IMAGE_DATA, &ss->fs.data, err);
    if (s == ERYX_OK)
        s = own_storage(q, image, ERYX__IMAGE_TMP, &ss->fs.tmp, err);
    eryx__quota_unref(q);
    return s;
}

static eryx_status
session_create(eryx_engine *engine,
               const eryx_config *config,
               const eryx_image *image,
               eryx_session **out,
               eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx_session *ss = eryx__calloc(1, sizeof *ss);
    if (ss == NULL)
        return eryx__fail_nomem(err);
    pthread_mutex_init(&ss->interrupt.mu, NULL);
    eryx_status s = eryx__sandbox_init(engine, config, &ss->settings, err);
    if (s == ERYX_OK)
        s = make_storages(ss, image, err);
    /* A compiled image is instantiated as it is (its memory mapped
       copy-on-write); otherwise the guest is, and the image copied in. */
    eryx__instance_fs start = ss->fs;
    start.pre = image && ss->settings.fuel == 0 ? eryx__image_pre(image) : NULL;
    if (s == ERYX_OK && start.pre != NULL &&
        eryx_image_memory_size(image) > ss->settings.memory_limit_bytes)
        s = eryx__fail(err, ERYX_E_MEMORY_LIMIT,
                       "the image's %llu bytes of memory exceed the "
                       "session's memory limit",
                       (unsigned long long)eryx_image_memory_size(image));
    if (s == ERYX_OK) {
        ss->engine = engine;
        /* An image's pages replace a ready interpreter's: its faulted-in
           pages would only be dropped again. */
        s = eryx__instance_obtain(&ss->instance, engine, &ss->settings, &start,
                                  &ss->interrupt,
                                  image != NULL ? ERYX__OBTAIN_FRESH : 0, err);
    }
    if (s == ERYX_OK && start.pre != NULL)
        ss->execution_count = eryx__image_execution_count(image);
    else if (s == ERYX_OK && image != NULL)
        s = eryx__image_apply(&ss->instance, image, ss->settings.fuel == 0,
                              &ss->execution_count, err);
    if (s != ERYX_OK) {
        eryx_session_free(ss);
        return s;
    }
    *out = ss;
    return ERYX_OK;
}

eryx_status
eryx_session_new(eryx_engine *engine,
                 const eryx_config *config,
                 eryx_session **out,
                 eryx_error *err)
{
    return session_create(engine, config, NULL, out, err);
}

void
eryx_session_free(eryx_session *ss)
{
    if (ss == NULL)
        return;
    eryx__instance_retire(&ss->instance, ss->engine);
    eryx__storage_unref(ss->fs.data);
    eryx__storage_unref(ss->fs.tmp);
    eryx__settings_clear(&ss->settings);
    pthread_mutex_destroy(&ss->interrupt.mu);
    eryx__free(ss);
}

void
eryx_session_reset(eryx_session *ss)
{
    if (ss == NULL)
        return;
    eryx__instance_retire(&ss->instance, ss->engine);
    ss->execution_count = 0;
}

uint64_t
eryx_session_execution_count(const eryx_session *ss)
{
    return ss ? ss->execution_count : 0;
}

void
eryx_session_cancel(eryx_session *ss)
{
    if (ss != NULL)
        eryx__sandbox_cancel(&ss->interrupt, false);
}

void
eryx_session_interrupt(eryx_session *ss)
{
    if (ss != NULL)
        eryx__sandbox_cancel(&ss->interrupt, true);
}

/* Start a new interpreter when the last one was reset (by a failure or by
   eryx_session_reset). */
static eryx_status
ensure_live(eryx_session *ss, eryx_error *err)
{
    if (ss->instance.live)
        return ERYX_OK;
    ss->execution_count = 0;
    return eryx__instance_obtain(&ss->instance, ss->engine, &ss->settings,
                                 &ss->fs, &ss->interrupt, ERYX__OBTAIN_EXECUTE,
                                 err);
}

static eryx_status
session_run(eryx_session *ss,
            eryx_journal *journal,
            const char *code,
            size_t code_len,
            bool interactive,
            eryx_result **out,
            eryx_error *err)
{
    if (ss == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session is NULL");
    eryx_status s = eryx__sandbox_begin(code, code_len, out, err);
    if (s != ERYX_OK || *out == NULL)
        return s;
    eryx_error e;
    eryx__sandbox_running(&ss->interrupt, true);
    s = ensure_live(ss, &e);
    if (s == ERYX_OK) {
        s = eryx__instance_execute(&ss->instance, journal, code ? code : "",
                                   code_len, interactive, *out);
        if (s != ERYX_E_INCOMPLETE) /* nothing ran */
            ss->execution_count++;
    } else {
        eryx__result_fail(*out, s, e.message);
    }
    eryx__sandbox_running(&ss->interrupt, false);
    return eryx__sandbox_finish(*out, err);
}

eryx_status
eryx_session_execute(eryx_session *ss,
                     const char *code,
                     size_t code_len,
                     eryx_result **out,
                     eryx_error *err)
{
    return session_run(ss, NULL, code, code_len, false, out, err);
}

eryx_status
eryx_session_execute_interactive(eryx_session *ss,
                                 const char *code,
                                 size_t code_len,
                                 eryx_result **out,
                                 eryx_error *err)
{
    return session_run(ss, NULL, code, code_len, true, out, err);
}

/* Whether an execute that ended with `s` was halted (the interpreter
   stopped mid-way) rather than finished or raised. */
static bool
halted(eryx_status s)
{
    switch (s) {
    case ERYX_E_SUSPENDED:
    case ERYX_E_TIMEOUT:
    case ERYX_E_FUEL:
    case ERYX_E_CANCELLED:
    case ERYX_E_TRAP:
    case ERYX_E_ABI:
    case ERYX_E_OUTPUT_LIMIT:
        return true;
    default:
        return false;
    }
}

eryx_status
eryx_session_execute_journal(eryx_session *ss,
                             const char *code,
                             size_t code_len,
                             eryx_journal *journal,
                             eryx_result **out,
                             eryx_error *err)
{
    if (ss == NULL || journal == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "session or journal is NULL");
    /* The rollback point: the globals as a state snapshot, when callbacks
       could suspend the run (a snapshot that fails, too large say, leaves
       the run unprotected: a halt then loses the state). */
    eryx_snapshot *before = NULL;
    uint64_t count = ss->execution_count;
    if (ss->settings.callbacks.count > 0 && ss->instance.live)
        (void)eryx_session_snapshot_state(ss, &before, NULL);
    eryx_status s = session_run(ss, journal, code, code_len, false, out, err);
    if (halted(s) && before != NULL) {
        size_t len;
        const uint8_t *data = eryx_snapshot_data(before, &len);
        if (eryx_session_restore_state(ss, data, len, NULL) == ERYX_OK)
            ss->execution_count = count + 1;
    }
    eryx_snapshot_free(before);
    return s;
}

eryx_status
eryx__session_renew(eryx_session *ss, eryx_error *err)
{
    /* A pool's reset: the new interpreter's first pages are faulted in now,
       by the releasing thread, not by the next user's execute. */
    eryx__instance_retire(&ss->instance, ss->engine);
    ss->execution_count = 0;
    eryx_status s =
        eryx__instance_obtain(&ss->instance, ss->engine, &ss->settings, &ss->fs,
                              &ss->interrupt, ERYX__OBTAIN_PREFAULT, err);
    /* And its first execute runs now too: `pass`, with the pool's own
       settings (those of the next user), so that the runtime's first-time
       work (entering the working directory, the callback proxies, the
       execute path's first run of each bytecode) and the CPU's first touch
       of the instance's memory are done here.  The next user's first
       execute then runs as a second one: a pool's acquire + execute
       0.19-0.21 -> 0.09-0.11 ms.  Nothing of it is visible: `pass` defines
       nothing and prints nothing, and the session's execution count stays
       0.  Not with a trace hook, which would receive its events.  A failure
       leaves the instance to the next execute (which restarts it when it
       was stopped). */
    if (s == ERYX_OK && ss->settings.trace == NULL) {
        eryx_result *r = eryx__result_new();
        if (r != NULL)
            (void)eryx__instance_execute(&ss->instance, NULL, "pass", 4, false,
                                         r);
        eryx_result_free(r);
    }
    return s;
}

/* ------------------------------------------------------------ images */

eryx_status
eryx_session_capture(eryx_session *ss, eryx_image **out, eryx_error *err)
{
    if (ss == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session or out is NULL");
    *out = NULL;
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    return eryx__image_capture(&ss->instance, ss->engine, &ss->settings,
                               ss->execution_count, out, err);
}

eryx_status
eryx_session_new_from_image(eryx_engine *engine,
                            const eryx_config *config,
                            const eryx_image *image,
                            eryx_session **out,
                            eryx_error *err)
{
    if (out == NULL || image == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "image or out is NULL");
    *out = NULL;
    if (eryx__image_engine(image) != engine)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "the image belongs to another engine");
    return session_create(engine, config, image, out, err);
}

/* ------------------------------------------------------------ state */

eryx_status
eryx_session_snapshot_state(eryx_session *ss,
                            eryx_snapshot **out,
                            eryx_error *err)
{
    if (ss == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session or out is NULL");
    *out = NULL;
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    char *payload = NULL, *skipped = NULL;
    size_t len = 0;
    s = eryx__instance_snapshot(&ss->instance, &payload, &len, &skipped, err);
    if (s != ERYX_OK)
        return s;
    s = eryx__snapshot_new(payload, len, ss->settings.snapshot_limit_bytes,
                           skipped, out, err);
    eryx__free(payload);
    return s;
}

eryx_status
eryx_session_restore_state(eryx_session *ss,
                           const void *data,
                           size_t len,
                           eryx_error *err)
{
    if (ss == NULL || (data == NULL && len != 0))
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session or data is NULL");
    const uint8_t *payload;
    size_t payload_len;
    eryx_status c =
        eryx__snapshot_parse(data, len, ss->settings.snapshot_limit_bytes,
                             &payload, &payload_len, err);
    if (c != ERYX_OK)
        return c;
    eryx_status s = ensure_live(ss, err);
    if (s != ERYX_OK)
        return s;
    return eryx__instance_restore(&ss->instance, payload, payload_len, err);
}

eryx_status
eryx_session_clear_state(eryx_session *ss, eryx_error *err)
{
    if (ss == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "session is NULL");
    eryx_status s = ensure_live(ss, err);
    return s == ERYX_OK ? eryx__instance_clear(&ss->instance, err) : s;
}
