/*
** runtime.c: the guest runtime, the C around CPython that runtime.wasm is.
** Implements the exports of guest/runtime.wit (world eryx:sandbox) in the
** canonical-ABI lowering declared by abi/eryx_abi.h.  Built as a WASI reactor.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "eryx_abi.h"
#include "runtime_py.h" /* eryx_runtime_py[]: guest/runtime.py's source */

#define EXPORT(name) __attribute__((export_name(name)))

/* Where the host mounts the stdlib (read-only).  The name must match the
   host's preopen in host/sandbox.c. */
#define STDLIB_DIR                   "/lib/python" PY_STRINGIFY_VERSION
#define PY_STRINGIFY_VERSION_(a, b)  #a "." #b
#define PY_STRINGIFY_VERSION_X(a, b) PY_STRINGIFY_VERSION_(a, b)
#define PY_STRINGIFY_VERSION \
    PY_STRINGIFY_VERSION_X(PY_MAJOR_VERSION, PY_MINOR_VERSION)

/* The functions of runtime.py, held from initialization on, so that user
   code that rebinds names in module _eryx_runtime cannot redirect them. */
static PyObject *fn_begin, *fn_run_coroutine, *fn_format_exception, *fn_finish;
static PyObject *namespace; /* the user's globals */
static int initialized;

static eryx_abi_unit_ret unit_ret;
static eryx_abi_execute_ret execute_ret;

/* ---- memory the host hands in ---- */

/* The canonical ABI's allocator: the host calls it to place arguments. */
EXPORT("cabi_realloc")
void *
cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)old_size;
    (void)align; /* malloc's alignment (16) covers every ABI type */
    if (new_size == 0) {
        free(ptr);
        return (void *)align;
    }
    return realloc(ptr, new_size);
}

EXPORT("eryx_abi_version")
int32_t
eryx_abi_version(void)
{
    return ERYX_ABI_VERSION;
}

/* ---- strings out ---- */

/* Copies `len` bytes into a fresh guest allocation the host will see; on
   allocation failure the string is empty rather than missing. */
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

/* A Python str as UTF-8.  Lone surrogates (which UTF-8 cannot carry) become
   backslash escapes, so what the host receives is always valid UTF-8. */
static eryx_abi_string
abi_pystring(PyObject *str)
{
    if (str == NULL || !PyUnicode_Check(str))
        return abi_string("", 0);
    PyObject *bytes =
        PyUnicode_AsEncodedString(str, "utf-8", "backslashreplace");
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

/* The message of the exception being handled, cleared; for failures inside
   the runtime itself, where no traceback machinery may be usable. */
static eryx_abi_string
current_error_text(const char *what)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *text = exc ? PyObject_Str(exc) : NULL;
    const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
    PyErr_Clear();
    char buf[512];
    snprintf(buf, sizeof buf, "%s: %s", what, msg ? msg : "unknown error");
    Py_XDECREF(text);
    Py_XDECREF(exc);
    return abi_cstring(buf);
}

/* ---- initialize ---- */

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
    fn_begin = PyObject_GetAttrString(glue, "begin");
    fn_run_coroutine = PyObject_GetAttrString(glue, "run_coroutine");
    fn_format_exception = PyObject_GetAttrString(glue, "format_exception");
    fn_finish = PyObject_GetAttrString(glue, "finish");
    Py_DECREF(glue);
    return fn_begin && fn_run_coroutine && fn_format_exception && fn_finish
               ? 0
               : -1;
}

EXPORT("initialize")
eryx_abi_unit_ret *
initialize(void)
{
    memset(&unit_ret, 0, sizeof unit_ret);
    if (initialized)
        return &unit_ret;
    const char *why = init_python();
    if (why != NULL) {
        unit_ret.tag = ERYX_ABI_ERR;
        unit_ret.err = abi_cstring(why);
        return &unit_ret;
    }
    if (load_glue() < 0 || (namespace = new_namespace()) == NULL) {
        unit_ret.tag = ERYX_ABI_ERR;
        unit_ret.err = current_error_text("runtime initialization failed");
        return &unit_ret;
    }
    initialized = 1;
    return &unit_ret;
}

EXPORT("cabi_post_initialize")
void
cabi_post_initialize(eryx_abi_unit_ret *ret)
{
    if (ret == &unit_ret && ret->tag == ERYX_ABI_ERR)
        free_string(&ret->err);
}

/* ---- execute ---- */

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
set_execute_error(eryx_abi_string message, PyObject *out, PyObject *err)
{
    execute_ret.tag = ERYX_ABI_ERR;
    execute_ret.u.err.message = message;
    execute_ret.u.err.stdout_text = abi_pystring(out);
    execute_ret.u.err.stderr_text = abi_pystring(err);
}

EXPORT("execute")
eryx_abi_execute_ret *
execute(char *code, size_t code_len, char *var, size_t var_len)
{
    memset(&execute_ret, 0, sizeof execute_ret);
    PyObject *source = NULL, *varname = NULL, *exc = NULL, *outs = NULL;
    char *text = NULL;

    if (!initialized) {
        set_execute_error(abi_cstring("runtime is not initialized"), NULL,
                          NULL);
        goto done;
    }
    /* The host checks these too; the guest does not rely on it. */
    if (memchr(code, '\0', code_len) != NULL) {
        set_execute_error(abi_cstring("code contains a NUL byte"), NULL, NULL);
        goto done;
    }
    text = malloc(code_len + 1);
    if (text == NULL) {
        set_execute_error(abi_cstring("out of memory for the code"), NULL,
                          NULL);
        goto done;
    }
    memcpy(text, code, code_len);
    text[code_len] = '\0';
    source = PyUnicode_DecodeUTF8(text, (Py_ssize_t)code_len, "strict");
    varname = PyUnicode_DecodeUTF8(var, (Py_ssize_t)var_len, "strict");
    if (source == NULL || varname == NULL) {
        set_execute_error(current_error_text("invalid input"), NULL, NULL);
        goto done;
    }

    PyObject *r = PyObject_CallOneArg(fn_begin, source);
    if (r == NULL) {
        set_execute_error(current_error_text("runtime failure"), NULL, NULL);
        goto done;
    }
    Py_DECREF(r);

    exc = run_user_code(text);
    PyObject *message = NULL;
    if (exc != NULL) {
        message = PyObject_CallOneArg(fn_format_exception, exc);
        if (message == NULL) {
            PyErr_Clear();
            message = PyObject_Str(exc);
            PyErr_Clear();
        }
    }
    outs = PyObject_CallFunctionObjArgs(fn_finish, namespace, varname, NULL);
    if (outs == NULL || !PyTuple_Check(outs) || PyTuple_GET_SIZE(outs) != 4) {
        Py_XDECREF(message);
        set_execute_error(current_error_text("runtime failure"), NULL, NULL);
        goto done;
    }
    if (exc != NULL) {
        set_execute_error(abi_pystring(message), PyTuple_GET_ITEM(outs, 0),
                          PyTuple_GET_ITEM(outs, 1));
        Py_XDECREF(message);
    } else {
        execute_ret.tag = ERYX_ABI_OK;
        execute_ret.u.ok.stdout_text = abi_pystring(PyTuple_GET_ITEM(outs, 0));
        execute_ret.u.ok.stderr_text = abi_pystring(PyTuple_GET_ITEM(outs, 1));
        execute_ret.u.ok.result_json = abi_option(PyTuple_GET_ITEM(outs, 2));
        execute_ret.u.ok.result_error = abi_option(PyTuple_GET_ITEM(outs, 3));
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
        free_string(&ret->u.ok.stdout_text);
        free_string(&ret->u.ok.stderr_text);
        free_string(&ret->u.ok.result_json.value);
        free_string(&ret->u.ok.result_error.value);
    } else {
        free_string(&ret->u.err.message);
        free_string(&ret->u.err.stdout_text);
        free_string(&ret->u.err.stderr_text);
    }
    memset(ret, 0, sizeof *ret);
}
