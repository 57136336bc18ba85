/*
** runtime.h: what the files of the guest runtime share (private to guest/,
** prefix rt_).  init.c starts CPython and holds runtime.py's functions and
** the user namespace; exports.c implements the WIT's exports and the
** strings they hand the host; host_module.c offers the host's imports to
** Python as the built-in module _eryx_host.
*/
#ifndef ERYX_GUEST_RUNTIME_H
#define ERYX_GUEST_RUNTIME_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#include "eryx_abi.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* ---- init.c ---- */

/* The functions of runtime.py, held from initialization on, so that user
   code that rebinds names in module _eryx_runtime cannot redirect them. */
extern PyObject *rt_fn_begin, *rt_fn_run_coroutine, *rt_fn_format_exception,
    *rt_fn_finish, *rt_fn_compile_interactive;
extern PyObject *rt_fn_snapshot, *rt_fn_restore, *rt_fn_clear;
extern PyObject *rt_namespace; /* the user's globals */
extern int rt_initialized;
/* Draw a new seed from the host's randomness for `random`'s shared
   generator when the snapshot holds the module: otherwise every instance
   would replay the sequence drawn when the snapshot was made, as a forked
   process would without the module's at-fork reseed.  The C method, not
   random.py's, so that it touches a few pages and not the interpreter's.
   Called by an instance's first execute (not by initialize: a new
   instance's memory must stay the snapshot's, which images are compared
   with). */
void rt_reseed_random(void);

/* ---- host_module.c ---- */

/* Creates the module _eryx_host (an inittab entry). */
PyObject *rt_host_module_init(void);
/* Nonzero only inside pre-initialization's rehearsal of an execute
   (init.c): _eryx_host's callback functions then answer for a host that
   is not there yet.  Mode 1 answers every wait at once; mode 2 (set by
   runtime.py through _eryx_host.rehearse) only waits without a timeout or
   with none left, as when a handler takes a while. */
extern int rt_rehearsal;
/* Enter the directory the host names (workdir import) unless already
   there: the pre-initialized image starts in /data, the default. */
void rt_enter_workdir(void);

/* ---- exports.c: strings for the host, and return areas ---- */

/* The return area of result<_, string> (initialize, restore-state). */
extern eryx_abi_unit_ret rt_unit_ret;

/* Frees the strings of a result<_, string> return area. */
void rt_post_unit(eryx_abi_unit_ret *ret);

/* Copies `len` bytes into a fresh allocation the host will read; empty if
   memory runs out. */
eryx_abi_string rt_abi_string(const char *data, size_t len);
eryx_abi_string rt_abi_cstring(const char *text);
/* The UTF-8 of a str, lone surrogates backslash-escaped so that the host
   always receives valid UTF-8; a fixed text if it fails. */
eryx_abi_string rt_abi_pystring(PyObject *str);
/* Some(str), or None when `str` is NULL or None. */
eryx_abi_option_string rt_abi_option(PyObject *str);
void rt_free_string(eryx_abi_string *s);

/* The message of the pending exception, cleared, prefixed by `what`; for
   failures of the runtime itself. */
eryx_abi_string rt_error_text(const char *what);

#endif /* ERYX_GUEST_RUNTIME_H */
