/*
** exports.c: the exports of guest/runtime.wit (world eryx:sandbox) other
** than initialize, in the canonical-ABI lowering that abi/eryx_abi.h
** declares: the allocator, the ABI version, execute, and the session state
** (snapshot-state, restore-state, clear-state), with their cabi_post_*
** functions and the strings they hand the host.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

eryx_abi_unit_ret rt_unit_ret;
static eryx_abi_execute_ret execute_ret;
static eryx_abi_snapshot_ret snapshot_ret;

/* --------------------------------------------------------- memory and ABI */

/* The canonical ABI's allocator: the host calls it to place arguments. */
EXPORT("cabi_realloc")
void *
cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return (void *)align;
    }
    return realloc(ptr, new_size); /* malloc's 16-byte alignment suffices */
}

EXPORT("eryx_abi_version")
int32_t
eryx_abi_version(void)
{
    return ERYX_ABI_VERSION;
}

/* ---------------------------------------------------- strings for the host */

/* UTF-8 of a str; lone surrogates become backslash escapes so that the
   host always receives valid UTF-8.  New reference or NULL. */
static PyObject *
utf8_bytes(PyObject *str)
{
    if (!PyUnicode_Check(str)) {
        PyErr_SetString(PyExc_TypeError, "expected str");
        return NULL;
    }
    return PyUnicode_AsEncodedString(str, "utf-8", "backslashreplace");
}

eryx_abi_string
rt_abi_string(const char *data, size_t len)
{
    eryx_abi_string s = {0, 0};
    char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return s;
    memcpy(copy, data, len);
    s.ptr = (uint32_t)(uintptr_t)copy;
    s.len = (uint32_t)len;
    return s;
}

eryx_abi_string
rt_abi_cstring(const char *text)
{
    return rt_abi_string(text, strlen(text));
}

eryx_abi_string
rt_abi_pystring(PyObject *str)
{
    PyObject *bytes = str ? utf8_bytes(str) : NULL;
    if (bytes == NULL) {
        PyErr_Clear();
        return rt_abi_cstring("<text could not be encoded>");
    }
    eryx_abi_string s = rt_abi_string(PyBytes_AS_STRING(bytes),
                                      (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return s;
}

eryx_abi_option_string
rt_abi_option(PyObject *str)
{
    eryx_abi_option_string o;
    memset(&o, 0, sizeof o);
    if (str != NULL && str != Py_None) {
        o.is_some = ERYX_ABI_SOME;
        o.value = rt_abi_pystring(str);
    }
    return o;
}

void
rt_free_string(eryx_abi_string *s)
{
    free((void *)(uintptr_t)s->ptr);
    s->ptr = 0;
    s->len = 0;
}

/* The message of the pending exception, cleared, prefixed by `what`; for
   failures of the runtime itself. */
eryx_abi_string
rt_error_text(const char *what)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *text = exc ? PyObject_Str(exc) : NULL;
    const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
    PyErr_Clear();
    char buf[1024];
    snprintf(buf, sizeof buf, "%s: %s%s%s", what,
             exc ? Py_TYPE(exc)->tp_name : "", exc ? ": " : "",
             msg ? msg : "unknown error");
    Py_XDECREF(text);
    Py_XDECREF(exc);
    return rt_abi_cstring(buf);
}

void
rt_post_unit(eryx_abi_unit_ret *ret)
{
    if (ret != &rt_unit_ret)
        return; /* unit_ok, or a pointer the host made up */
    if (ret->tag == ERYX_ABI_ERR)
        rt_free_string(&ret->err);
    memset(&rt_unit_ret, 0, sizeof rt_unit_ret);
}

/* ----------------------------------------------------------------- execute */

/* Runs the user's code; returns NULL on success or a new reference to the
   exception it raised.  Interactive (the REPL): compiled as Python's REPL
   compiles a statement, and *incomplete set, with nothing run, while the
   statement is unfinished. */
static PyObject *
run_user_code(const char *source,
              PyObject *source_obj,
              int interactive,
              int *incomplete)
{
    PyObject *code;
    if (interactive) {
        code = PyObject_CallOneArg(rt_fn_compile_interactive, source_obj);
        if (code == Py_None) {
            Py_DECREF(code);
            *incomplete = 1;
            return NULL;
        }
        if (code != NULL && !PyCode_Check(code)) {
            Py_DECREF(code);
            PyErr_SetString(PyExc_SystemError, "compile_interactive failed");
            code = NULL;
        }
    } else {
        PyCompilerFlags flags = _PyCompilerFlags_INIT;
        flags.cf_flags = PyCF_ALLOW_TOP_LEVEL_AWAIT;
        code = Py_CompileStringExFlags(source, "<user>", Py_file_input, &flags,
                                       -1);
    }
    if (code == NULL)
        return PyErr_GetRaisedException();
    PyObject *value = PyEval_EvalCode(code, rt_namespace, rt_namespace);
    int is_coroutine = (((PyCodeObject *)code)->co_flags & CO_COROUTINE) != 0;
    Py_DECREF(code);
    if (value != NULL && is_coroutine) {
        PyObject *coro = value;
        value = PyObject_CallOneArg(rt_fn_run_coroutine, coro);
        Py_DECREF(coro);
    }
    if (value == NULL)
        return PyErr_GetRaisedException();
    Py_DECREF(value);
    return NULL;
}

/* ------------------------------------------------------------- interrupts */

/* Where the host raises KeyboardInterrupt in the running code (between two
   bytecodes, as CPython's PyThreadState_SetAsyncExc does): it stores
   `value` at `slot` (the thread's pending asynchronous exception) and ORs
   `mask` into the word at `breaker` (its eval breaker).  The host writes
   them only on the guest's own thread, while the guest is paused in an
   epoch check or an import, and checks them against the memory's bounds. */
static eryx_abi_interrupt_target interrupt_target;

/* _PY_ASYNC_EXCEPTION_BIT of CPython's internal pycore_ceval.h. */
#define ASYNC_EXCEPTION_BIT (1u << 3)

EXPORT("eryx_interrupt_target")
eryx_abi_interrupt_target *
eryx_interrupt_target(void)
{
    PyThreadState *ts = PyThreadState_GetUnchecked();
    memset(&interrupt_target, 0, sizeof interrupt_target);
    if (ts != NULL) {
        interrupt_target.breaker = (uint32_t)(uintptr_t)&ts->eval_breaker;
        interrupt_target.mask = ASYNC_EXCEPTION_BIT;
        interrupt_target.slot = (uint32_t)(uintptr_t)&ts->async_exc;
        interrupt_target.value = (uint32_t)(uintptr_t)PyExc_KeyboardInterrupt;
    }
    return &interrupt_target;
}

/* An interrupt that arrived after the user's code ended is dropped, so
   that it cannot fire in the runtime or in the next execute.  (The value
   is an immortal type: nothing to release.) */
static void
drop_interrupt(void)
{
    PyThreadState *ts = PyThreadState_GetUnchecked();
    if (ts != NULL)
        ts->async_exc = NULL;
}

static void
set_execute_error(eryx_abi_string message)
{
    execute_ret.tag = ERYX_ABI_ERR;
    execute_ret.u.err = message;
}

EXPORT("execute")
eryx_abi_execute_ret *
execute(char *code, size_t code_len, char *var, size_t var_len, uint32_t flags)
{
    memset(&execute_ret, 0, sizeof execute_ret);
    PyObject *source = NULL, *varname = NULL, *exc = NULL, *outs = NULL;
    char *text = NULL;

    if (!rt_initialized) {
        set_execute_error(rt_abi_cstring("runtime is not initialized"));
        goto done;
    }
    /* Once per instance: the working directory the host configured, and
       a seed of its own for `random` (a session made from an image goes on
       with the captured one's). */
    static int in_workdir;
    if (!in_workdir) {
        in_workdir = 1;
        rt_enter_workdir();
        rt_reseed_random();
    }
    /* The host checks this too; the guest does not rely on it. */
    if (memchr(code, '\0', code_len) != NULL) {
        set_execute_error(rt_abi_cstring("code contains a NUL byte"));
        goto done;
    }
    text = malloc(code_len + 1);
    if (text == NULL) {
        set_execute_error(rt_abi_cstring("out of memory for the code"));
        goto done;
    }
    memcpy(text, code, code_len);
    text[code_len] = '\0';
    source = PyUnicode_DecodeUTF8(text, (Py_ssize_t)code_len, "strict");
    varname = PyUnicode_DecodeUTF8(var, (Py_ssize_t)var_len, "strict");
    if (source == NULL || varname == NULL) {
        set_execute_error(rt_error_text("invalid input"));
        goto done;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(
        rt_fn_begin, source, rt_namespace,
        (flags & ERYX_ABI_EXEC_TRACE) ? Py_True : Py_False, NULL);
    if (r == NULL) {
        set_execute_error(rt_error_text("runtime failure"));
        goto done;
    }
    Py_DECREF(r);

    int incomplete = 0;
    exc = run_user_code(text, source, (flags & ERYX_ABI_EXEC_INTERACTIVE) != 0,
                        &incomplete);
    drop_interrupt();
    if (incomplete) {
        execute_ret.tag = ERYX_ABI_ERR_INCOMPLETE;
        execute_ret.u.err = rt_abi_cstring("incomplete input");
    } else if (exc != NULL) {
        PyObject *message = PyObject_CallOneArg(rt_fn_format_exception, exc);
        if (message == NULL) {
            PyErr_Clear();
            message = PyObject_Str(exc);
        }
        set_execute_error(rt_abi_pystring(message));
        Py_XDECREF(message);
        /* Running out of memory is the host's to report as a limit. */
        if (PyErr_GivenExceptionMatches(exc, PyExc_MemoryError))
            execute_ret.tag = ERYX_ABI_ERR_MEMORY;
    }
    outs =
        PyObject_CallFunctionObjArgs(rt_fn_finish, rt_namespace, varname, NULL);
    if (exc != NULL || incomplete) {
        PyErr_Clear();
    } else if (outs == NULL || !PyTuple_Check(outs) ||
               PyTuple_GET_SIZE(outs) != 2) {
        set_execute_error(rt_error_text("runtime failure"));
    } else {
        execute_ret.tag = ERYX_ABI_OK;
        execute_ret.u.ok.result_json = rt_abi_option(PyTuple_GET_ITEM(outs, 0));
        execute_ret.u.ok.result_error =
            rt_abi_option(PyTuple_GET_ITEM(outs, 1));
    }

done:
    Py_XDECREF(outs);
    Py_XDECREF(exc);
    Py_XDECREF(source);
    Py_XDECREF(varname);
    free(text);
    /* The arguments were allocated by the host through cabi_realloc and
       handed over to us (canonical ABI: the callee owns them). */
    free(code);
    free(var);
    return &execute_ret;
}

EXPORT("cabi_post_execute")
void
cabi_post_execute(eryx_abi_execute_ret *ret)
{
    if (ret != &execute_ret)
        return;
    if (ret->tag == ERYX_ABI_OK) {
        rt_free_string(&ret->u.ok.result_json.value);
        rt_free_string(&ret->u.ok.result_error.value);
    } else {
        rt_free_string(&ret->u.err);
    }
    memset(ret, 0, sizeof *ret);
}

/* ----------------------------------------------------------- session state */

EXPORT("snapshot-state")
eryx_abi_snapshot_ret *
snapshot_state(void)
{
    memset(&snapshot_ret, 0, sizeof snapshot_ret);
    PyObject *r =
        rt_initialized
            ? PyObject_CallOneArg(rt_fn_snapshot, rt_namespace)
            : (PyErr_SetString(PyExc_RuntimeError, "not initialized"), NULL);
    if (r == NULL || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2 ||
        !PyBytes_Check(PyTuple_GET_ITEM(r, 0))) {
        snapshot_ret.tag = ERYX_ABI_ERR;
        snapshot_ret.u.err = rt_error_text("cannot snapshot the state");
    } else {
        PyObject *data = PyTuple_GET_ITEM(r, 0);
        snapshot_ret.u.ok.data = rt_abi_string(PyBytes_AS_STRING(data),
                                               (size_t)PyBytes_GET_SIZE(data));
        snapshot_ret.u.ok.skipped = rt_abi_pystring(PyTuple_GET_ITEM(r, 1));
    }
    Py_XDECREF(r);
    return &snapshot_ret;
}

EXPORT("cabi_post_snapshot-state")
void
cabi_post_snapshot_state(eryx_abi_snapshot_ret *ret)
{
    if (ret != &snapshot_ret)
        return;
    if (ret->tag == ERYX_ABI_OK) {
        rt_free_string(&ret->u.ok.data);
        rt_free_string(&ret->u.ok.skipped);
    } else {
        rt_free_string(&ret->u.err);
    }
    memset(ret, 0, sizeof *ret);
}

EXPORT("restore-state")
eryx_abi_unit_ret *
restore_state(char *data, size_t len)
{
    memset(&rt_unit_ret, 0, sizeof rt_unit_ret);
    PyObject *bytes = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    free(data); /* ours, from cabi_realloc */
    PyObject *r = bytes && rt_initialized
                      ? PyObject_CallFunctionObjArgs(rt_fn_restore, bytes,
                                                     rt_namespace, NULL)
                      : NULL;
    if (r == NULL) {
        rt_unit_ret.tag = ERYX_ABI_ERR;
        rt_unit_ret.err = rt_error_text("cannot restore the snapshot");
    }
    Py_XDECREF(r);
    Py_XDECREF(bytes);
    return &rt_unit_ret;
}

EXPORT("cabi_post_restore-state")
void
cabi_post_restore_state(eryx_abi_unit_ret *ret)
{
    rt_post_unit(ret);
}

EXPORT("clear-state")
void
clear_state(void)
{
    if (!rt_initialized)
        return;
    PyObject *r = PyObject_CallOneArg(rt_fn_clear, rt_namespace);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}
