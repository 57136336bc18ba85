/*
** sandbox.h: the public objects that run code, private to liberyx:
** sandboxes (sandbox.c), sessions (session.c), state snapshots (snapshot.c,
** declared in snapshot.h) and the pool (pool.c).  The
** top layer: it depends on everything below and nothing depends on it.
*/
#ifndef ERYX_SANDBOX_H
#define ERYX_SANDBOX_H

#include "instance/instance.h"
#include "sandbox/snapshot.h"

/* ---- sandbox.c: what sandboxes and sessions share ---- */
/* Check `engine` and copy the config's settings into `settings`. */
eryx_status eryx__sandbox_init(eryx_engine *engine,
                               const eryx_config *config,
                               eryx__settings *settings,
                               eryx_error *err);
/* An execute begins: check the arguments and the code, make the result.
   ERYX_OK with *out set when the guest should run; otherwise the status to
   return, with *out set when it holds the reason. */
eryx_status eryx__sandbox_begin(const char *code,
                                size_t code_len,
                                eryx_result **out,
                                eryx_error *err);
/* An execute ends: its duration, and the caller's error. */
eryx_status eryx__sandbox_finish(eryx_result *r, eryx_error *err);
/* An execute of the owner of `intr` begins or ends: a cancel only ever
   reaches the execute that is running. */
void eryx__sandbox_running(eryx__interrupt *intr, bool running);
/* Stop it (keyboard false), or raise KeyboardInterrupt in it. */
void eryx__sandbox_cancel(eryx__interrupt *intr, bool keyboard);

/* ---- session.c, for pool.c ---- */
/* Give `session` a new interpreter now (not at its next execute). */
eryx_status eryx__session_renew(eryx_session *session, eryx_error *err);

#endif /* ERYX_SANDBOX_H */
