/*
** runtime.c: the guest runtime, the C around CPython that runtime.wasm is.
** Implements the exports of guest/runtime.wit (world eryx:sandbox) in the
** canonical-ABI lowering declared by abi/eryx_abi.h, and offers the host's
** imports to Python as the built-in module _eryx_host.  A WASI reactor.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eryx_abi.h"
#include "runtime_py.h" /* eryx_runtime_py[]: guest/runtime.py's source */

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) \
    __attribute__((import_module(ERYX_ABI_IMPORT_MODULE), import_name(name)))

/* ---- the host's imports (the WIT's, lowered) ---- */
IMPORT(ERYX_ABI_IMPORT_INVOKE_START)
uint32_t eryx_invoke_start(const char *name,
                           size_t name_len,
                           const char *args,
                           size_t args_len);
IMPORT(ERYX_ABI_IMPORT_INVOKE_WAIT)
int32_t eryx_invoke_wait(int64_t timeout_ns, eryx_abi_call_done *out);
IMPORT(ERYX_ABI_IMPORT_INVOKE_READ)
int32_t eryx_invoke_read(uint32_t handle, char *buf, size_t len);
IMPORT(ERYX_ABI_IMPORT_LIST_CALLBACKS)
uint32_t eryx_list_callbacks(char *buf, size_t len);
IMPORT(ERYX_ABI_IMPORT_REPORT_TRACE)
void eryx_report_trace(uint32_t lineno, const char *json, size_t len);
IMPORT(ERYX_ABI_IMPORT_REPORT_OUTPUT)
void eryx_report_output(uint32_t stream, const char *data, size_t len);

/* Where the host mounts the stdlib (read-only).  The name must match the
   host's preopen in host/instance.c. */
#define PY_MM_(a, b) #a "." #b
#define PY_MM(a, b)  PY_MM_(a, b)
#define STDLIB_DIR   "/lib/python" PY_MM(PY_MAJOR_VERSION, PY_MINOR_VERSION)

/* The functions of runtime.py, held from initialization on, so that user
   code that rebinds names in module _eryx_runtime cannot redirect them. */
static PyObject *fn_begin, *fn_run_coroutine, *fn_format_exception, *fn_finish;
static PyObject *fn_snapshot, *fn_restore, *fn_clear;
static PyObject *namespace; /* the user's globals */
static int initialized;

/* The modules imported at initialization, so that they are in the
   pre-initialized snapshot: a comma-separated list, set by the build
   (make PREIMPORT=...). */
#ifndef ERYX_PREIMPORT
#define ERYX_PREIMPORT "asyncio,json,re"
#endif

static eryx_abi_unit_ret unit_ret;
static eryx_abi_execute_ret execute_ret;
static eryx_abi_snapshot_ret snapshot_ret;

/* ------------------------------------------------------- module _eryx_host */

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

static PyObject *
host_start(PyObject *self, PyObject *args)
{
    PyObject *name, *json;
    if (!PyArg_ParseTuple(args, "UU:start", &name, &json))
        return NULL;
    Py_ssize_t name_len, json_len;
    const char *n = PyUnicode_AsUTF8AndSize(name, &name_len);
    const char *j = PyUnicode_AsUTF8AndSize(json, &json_len);
    if (n == NULL || j == NULL)
        return NULL;
    return PyLong_FromUnsignedLong(
        eryx_invoke_start(n, (size_t)name_len, j, (size_t)json_len));
}

/* One finished call as (handle, status, payload), status one of
   ERYX_ABI_CALL_*; NULL with an error. */
static PyObject *
take_call(const eryx_abi_call_done *done)
{
    char *buf = malloc(done->len ? done->len : 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    PyObject *item = NULL;
    if (eryx_invoke_read(done->handle, buf, done->len) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "the host lost a callback call");
    } else {
        PyObject *payload =
            PyUnicode_DecodeUTF8(buf, (Py_ssize_t)done->len, "replace");
        if (payload != NULL)
            item = Py_BuildValue("(kkN)", (unsigned long)done->handle,
                                 (unsigned long)done->ok, payload);
    }
    free(buf);
    return item;
}

/* wait(timeout): block until callback calls finish (None: without a time
   limit); returns the finished calls, [] on timeout. */
static PyObject *
host_wait(PyObject *self, PyObject *arg)
{
    int64_t ns = -1;
    if (arg != Py_None) {
        double s = PyFloat_AsDouble(arg);
        if (s == -1.0 && PyErr_Occurred())
            return NULL;
        ns = s <= 0 ? 0 : s >= 9e9 ? (int64_t)9e18 : (int64_t)(s * 1e9);
    }
    PyObject *list = PyList_New(0);
    eryx_abi_call_done done;
    int32_t r;
    while (list != NULL && (r = eryx_invoke_wait(ns, &done)) != 0) {
        if (r == ERYX_ABI_WAIT_IDLE) {
            if (PyList_GET_SIZE(list) > 0)
                break;
            Py_DECREF(list);
            PyErr_SetString(PyExc_RuntimeError,
                            "deadlock: the event loop waits with no "
                            "callback running and no timer pending");
            return NULL;
        }
        if (r != ERYX_ABI_WAIT_DONE) {
            Py_DECREF(list);
            PyErr_SetString(PyExc_RuntimeError, "stopped by the host");
            return NULL;
        }
        PyObject *item = take_call(&done);
        if (item == NULL || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
        ns = 0; /* then take whatever else has finished, without waiting */
    }
    return list;
}

static PyObject *
host_callbacks(PyObject *self, PyObject *unused)
{
    uint32_t len = eryx_list_callbacks(NULL, 0);
    char *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    uint32_t got = eryx_list_callbacks(buf, len);
    PyObject *text = PyUnicode_DecodeUTF8(
        buf, (Py_ssize_t)(got < len ? got : len), "replace");
    free(buf);
    return text;
}

static PyObject *
host_trace(PyObject *self, PyObject *args)
{
    unsigned int lineno;
    PyObject *json;
    if (!PyArg_ParseTuple(args, "IU:trace", &lineno, &json))
        return NULL;
    Py_ssize_t len;
    const char *j = PyUnicode_AsUTF8AndSize(json, &len);
    if (j == NULL)
        return NULL;
    eryx_report_trace(lineno, j, (size_t)len);
    Py_RETURN_NONE;
}

static PyObject *
host_output(PyObject *self, PyObject *args)
{
    unsigned int stream;
    PyObject *text;
    if (!PyArg_ParseTuple(args, "IO:output", &stream, &text))
        return NULL;
    PyObject *bytes = utf8_bytes(text);
    if (bytes == NULL)
        return NULL;
    eryx_report_output(stream, PyBytes_AS_STRING(bytes),
                       (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    Py_RETURN_NONE;
}

static PyMethodDef host_methods[] = {
    {"start", host_start, METH_VARARGS, "Start a callback call."},
    {"wait", host_wait, METH_O, "Wait for callback calls to finish."},
    {"callbacks", host_callbacks, METH_NOARGS, "The callbacks, as JSON."},
    {"trace", host_trace, METH_VARARGS, "Report a trace event."},
    {"output", host_output, METH_VARARGS, "Write to stdout (1) or stderr (2)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef host_module = {
    PyModuleDef_HEAD_INIT,
    "_eryx_host",
    "The eryx host's imports.",
    -1,
    host_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static PyObject *
init_host_module(void)
{
    return PyModule_Create(&host_module);
}

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

/* Copies `len` bytes into a fresh allocation the host will read; empty if
   memory runs out. */
static eryx_abi_string
abi_string(const char *data, size_t len)
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

static eryx_abi_string
abi_cstring(const char *text)
{
    return abi_string(text, strlen(text));
}

static eryx_abi_string
abi_pystring(PyObject *str)
{
    PyObject *bytes = str ? utf8_bytes(str) : NULL;
    if (bytes == NULL) {
        PyErr_Clear();
        return abi_cstring("<text could not be encoded>");
    }
    eryx_abi_string s =
        abi_string(PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return s;
}

static eryx_abi_option_string
abi_option(PyObject *str)
{
    eryx_abi_option_string o;
    memset(&o, 0, sizeof o);
    if (str != NULL && str != Py_None) {
        o.is_some = ERYX_ABI_SOME;
        o.value = abi_pystring(str);
    }
    return o;
}

static void
free_string(eryx_abi_string *s)
{
    free((void *)(uintptr_t)s->ptr);
    s->ptr = 0;
    s->len = 0;
}

/* The message of the pending exception, cleared, prefixed by `what`; for
   failures of the runtime itself. */
static eryx_abi_string
error_text(const char *what)
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
    return abi_cstring(buf);
}

/* -------------------------------------------------------------- initialize */

static PyObject *
new_namespace(void)
{
    PyObject *ns = PyDict_New();
    PyObject *name = PyUnicode_FromString("__main__");
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (ns == NULL || name == NULL || builtins == NULL ||
        PyDict_SetItemString(ns, "__name__", name) < 0 ||
        PyDict_SetItemString(ns, "__builtins__", builtins) < 0)
        Py_CLEAR(ns);
    Py_XDECREF(name);
    Py_XDECREF(builtins);
    return ns;
}

static const char *
init_python(void)
{
    if (PyImport_AppendInittab("_eryx_host", init_host_module) < 0)
        return "cannot register module _eryx_host";
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.pathconfig_warnings = 0;
    config.parse_argv = 0;
    config.user_site_directory = 0;
    config.module_search_paths_set = 1;
    PyStatus st = PyConfig_SetString(&config, &config.home, L"/");
    if (!PyStatus_Exception(st))
        st = PyWideStringList_Append(&config.module_search_paths,
                                     L"" STDLIB_DIR);
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return st.err_msg ? st.err_msg : "Python initialization failed";
    return NULL;
}

static int
load_glue(void)
{
    PyObject *code = Py_CompileString((const char *)eryx_runtime_py,
                                      "<eryx-runtime>", Py_file_input);
    if (code == NULL)
        return -1;
    PyObject *glue = PyImport_ExecCodeModule("_eryx_runtime", code);
    Py_DECREF(code);
    if (glue == NULL)
        return -1;
    struct {
        PyObject **slot;
        const char *name;
    } fns[] = {
        {&fn_begin, "begin"},
        {&fn_run_coroutine, "run_coroutine"},
        {&fn_format_exception, "format_exception"},
        {&fn_finish, "finish"},
        {&fn_snapshot, "snapshot_state"},
        {&fn_restore, "restore_state"},
        {&fn_clear, "clear_state"},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        *fns[i].slot = PyObject_GetAttrString(glue, fns[i].name);
        if (*fns[i].slot == NULL)
            rc = -1;
    }
    Py_DECREF(glue);
    return rc;
}

/* Import each module of the comma-separated `list`. */
static int
preimport(const char *list)
{
    while (*list != '\0') {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        if (n > 0) {
            PyObject *name = PyUnicode_FromStringAndSize(list, (Py_ssize_t)n);
            PyObject *mod = name ? PyImport_Import(name) : NULL;
            Py_XDECREF(name);
            if (mod == NULL)
                return -1;
            Py_DECREF(mod);
        }
        list += n + (end != NULL);
    }
    return 0;
}

/* The answer of an initialize that finds the work done: read-only, so a
   new instance of the pre-initialized snapshot writes no page to give it. */
static const eryx_abi_unit_ret unit_ok;

EXPORT("initialize")
eryx_abi_unit_ret *
initialize(void)
{
    if (initialized)
        return (eryx_abi_unit_ret *)&unit_ok;
    memset(&unit_ret, 0, sizeof unit_ret);
    const char *why = init_python();
    if (why != NULL) {
        unit_ret.tag = ERYX_ABI_ERR;
        unit_ret.err = abi_cstring(why);
        return &unit_ret;
    }
    if (load_glue() < 0 || (namespace = new_namespace()) == NULL ||
        preimport(ERYX_PREIMPORT) < 0) {
        unit_ret.tag = ERYX_ABI_ERR;
        unit_ret.err = error_text("runtime initialization failed");
        return &unit_ret;
    }
    initialized = 1;
    return &unit_ret;
}

/* The pre-initializer's entry point (build time only: Wizer calls it, then
   snapshots memory and globals into a new module, and removes this export).
   Everything initialize() does is then done before a sandbox starts; the
   host's call to initialize() finds it done.  No descriptor beyond stdio and
   the stdlib preopen (fd 3) may survive into the snapshot: a new instance's
   WASI table has no others. */
EXPORT("wizer-initialize")
void
wizer_initialize(void)
{
    eryx_abi_unit_ret *r = initialize();
    if (r->tag == ERYX_ABI_ERR) {
        fprintf(stderr, "eryx: pre-initialization failed: %.*s\n",
                (int)r->err.len, (const char *)(uintptr_t)r->err.ptr);
        abort();
    }
    /* Move every object of the snapshot into the GC's permanent
       generation: collections then never write to their headers, so their
       pages stay shared with the image instead of being copied into each
       instance (gc.freeze exists for exactly this, after fork). */
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *done = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(done);
    done = done ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(gc);
    if (done == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(done);
    for (int fd = 4; fd < 256; fd++)
        (void)close(fd);
}

/* Frees the strings of a result<_, string> return area. */
static void
post_unit(eryx_abi_unit_ret *ret)
{
    if (ret != &unit_ret)
        return; /* unit_ok, or a pointer the host made up */
    if (ret->tag == ERYX_ABI_ERR)
        free_string(&ret->err);
    memset(&unit_ret, 0, sizeof unit_ret);
}

EXPORT("cabi_post_initialize")
void
cabi_post_initialize(eryx_abi_unit_ret *ret)
{
    post_unit(ret);
}

/* ----------------------------------------------------------------- execute */

/* Runs the user's code; returns NULL on success or a new reference to the
   exception it raised. */
static PyObject *
run_user_code(const char *source)
{
    PyCompilerFlags flags = _PyCompilerFlags_INIT;
    flags.cf_flags = PyCF_ALLOW_TOP_LEVEL_AWAIT;
    PyObject *code =
        Py_CompileStringExFlags(source, "<user>", Py_file_input, &flags, -1);
    if (code == NULL)
        return PyErr_GetRaisedException();
    PyObject *value = PyEval_EvalCode(code, namespace, namespace);
    int is_coroutine = (((PyCodeObject *)code)->co_flags & CO_COROUTINE) != 0;
    Py_DECREF(code);
    if (value != NULL && is_coroutine) {
        PyObject *coro = value;
        value = PyObject_CallOneArg(fn_run_coroutine, coro);
        Py_DECREF(coro);
    }
    if (value == NULL)
        return PyErr_GetRaisedException();
    Py_DECREF(value);
    return NULL;
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

    if (!initialized) {
        set_execute_error(abi_cstring("runtime is not initialized"));
        goto done;
    }
    /* The host checks this too; the guest does not rely on it. */
    if (memchr(code, '\0', code_len) != NULL) {
        set_execute_error(abi_cstring("code contains a NUL byte"));
        goto done;
    }
    text = malloc(code_len + 1);
    if (text == NULL) {
        set_execute_error(abi_cstring("out of memory for the code"));
        goto done;
    }
    memcpy(text, code, code_len);
    text[code_len] = '\0';
    source = PyUnicode_DecodeUTF8(text, (Py_ssize_t)code_len, "strict");
    varname = PyUnicode_DecodeUTF8(var, (Py_ssize_t)var_len, "strict");
    if (source == NULL || varname == NULL) {
        set_execute_error(error_text("invalid input"));
        goto done;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(
        fn_begin, source, namespace,
        (flags & ERYX_ABI_EXEC_TRACE) ? Py_True : Py_False, NULL);
    if (r == NULL) {
        set_execute_error(error_text("runtime failure"));
        goto done;
    }
    Py_DECREF(r);

    exc = run_user_code(text);
    if (exc != NULL) {
        PyObject *message = PyObject_CallOneArg(fn_format_exception, exc);
        if (message == NULL) {
            PyErr_Clear();
            message = PyObject_Str(exc);
        }
        set_execute_error(abi_pystring(message));
        Py_XDECREF(message);
    }
    outs = PyObject_CallFunctionObjArgs(fn_finish, namespace, varname, NULL);
    if (exc != NULL) {
        PyErr_Clear();
    } else if (outs == NULL || !PyTuple_Check(outs) ||
               PyTuple_GET_SIZE(outs) != 2) {
        set_execute_error(error_text("runtime failure"));
    } else {
        execute_ret.tag = ERYX_ABI_OK;
        execute_ret.u.ok.result_json = abi_option(PyTuple_GET_ITEM(outs, 0));
        execute_ret.u.ok.result_error = abi_option(PyTuple_GET_ITEM(outs, 1));
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
        free_string(&ret->u.ok.result_json.value);
        free_string(&ret->u.ok.result_error.value);
    } else {
        free_string(&ret->u.err);
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
        initialized
            ? PyObject_CallOneArg(fn_snapshot, namespace)
            : (PyErr_SetString(PyExc_RuntimeError, "not initialized"), NULL);
    if (r == NULL || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2 ||
        !PyBytes_Check(PyTuple_GET_ITEM(r, 0))) {
        snapshot_ret.tag = ERYX_ABI_ERR;
        snapshot_ret.u.err = error_text("cannot snapshot the state");
    } else {
        PyObject *data = PyTuple_GET_ITEM(r, 0);
        snapshot_ret.u.ok.data =
            abi_string(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
        snapshot_ret.u.ok.skipped = abi_pystring(PyTuple_GET_ITEM(r, 1));
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
        free_string(&ret->u.ok.data);
        free_string(&ret->u.ok.skipped);
    } else {
        free_string(&ret->u.err);
    }
    memset(ret, 0, sizeof *ret);
}

EXPORT("restore-state")
eryx_abi_unit_ret *
restore_state(char *data, size_t len)
{
    memset(&unit_ret, 0, sizeof unit_ret);
    PyObject *bytes = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    free(data); /* ours, from cabi_realloc */
    PyObject *r =
        bytes && initialized
            ? PyObject_CallFunctionObjArgs(fn_restore, bytes, namespace, NULL)
            : NULL;
    if (r == NULL) {
        unit_ret.tag = ERYX_ABI_ERR;
        unit_ret.err = error_text("cannot restore the snapshot");
    }
    Py_XDECREF(r);
    Py_XDECREF(bytes);
    return &unit_ret;
}

EXPORT("cabi_post_restore-state")
void
cabi_post_restore_state(eryx_abi_unit_ret *ret)
{
    post_unit(ret);
}

EXPORT("clear-state")
void
clear_state(void)
{
    if (!initialized)
        return;
    PyObject *r = PyObject_CallOneArg(fn_clear, namespace);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}
