/*
** init.c: the start of the guest runtime.  Initializes CPython (isolated,
** the stdlib mounted read-only), runs guest/runtime.py as module
** _eryx_runtime and keeps its functions, makes the user namespace and
** imports the PREIMPORT modules: the exports initialize and, at build
** time, wizer-initialize.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_socket_py.h" /* eryx_net_socket_py[]: guest/net_socket.py */
#include "net_ssl_py.h"    /* eryx_net_ssl_py[]: guest/net_ssl.py */
#include "runtime.h"
#include "runtime_py.h" /* eryx_runtime_py[]: guest/runtime.py's source */

/* Where the host mounts the stdlib (read-only).  The name must match the
   host's preopen in host/instance.c. */
#define PY_MM_(a, b) #a "." #b
#define PY_MM(a, b)  PY_MM_(a, b)
#define STDLIB_DIR   "/lib/python" PY_MM(PY_MAJOR_VERSION, PY_MINOR_VERSION)

/* Declared, with what they are, in runtime.h. */
PyObject *rt_fn_begin, *rt_fn_run_coroutine, *rt_fn_format_exception,
    *rt_fn_finish, *rt_fn_compile_interactive;
PyObject *rt_fn_snapshot, *rt_fn_restore, *rt_fn_clear;
PyObject *rt_namespace;
int rt_initialized;

/* The modules imported at initialization, so that they are in the
   pre-initialized snapshot: a comma-separated list, set by the build
   (make PREIMPORT=...). */
#ifndef ERYX_PREIMPORT
#define ERYX_PREIMPORT "asyncio,json,re"
#endif

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

/* CPython's own _uuid module, compiled by the Makefile over guest/uuid.c. */
PyMODINIT_FUNC PyInit__uuid(void);

static const char *
init_python(void)
{
    if (PyImport_AppendInittab("_eryx_host", rt_host_module_init) < 0)
        return "cannot register module _eryx_host";
    if (PyImport_AppendInittab("_uuid", PyInit__uuid) < 0)
        return "cannot register module _uuid";
    /* UTF-8 mode: files, names and stdio are UTF-8, as native CPython
       treats them even under the C locale (WASI's is ASCII). */
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.utf8_mode = 1;
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st))
        return st.err_msg ? st.err_msg : "Python pre-initialization failed";
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    /* The stdlib from its files, not the frozen copies: modules get their
       __file__, inspect finds their source, tracebacks show their lines.
       Pre-initialization pays the imports once, at build time. */
    config.use_frozen_modules = 0;
    config.site_import = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.pathconfig_warnings = 0;
    config.parse_argv = 0;
    config.user_site_directory = 0;
    config.module_search_paths_set = 1;
    st = PyConfig_SetString(&config, &config.home, L"/");
    if (!PyStatus_Exception(st))
        st = PyConfig_SetString(&config, &config.stdlib_dir, L"" STDLIB_DIR);
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

/* Run embedded source `src` as module `name` (in sys.modules). */
static PyObject *
exec_module(const unsigned char *src, const char *name, const char *file)
{
    PyObject *code = Py_CompileString((const char *)src, file, Py_file_input);
    if (code == NULL)
        return NULL;
    PyObject *m = PyImport_ExecCodeModule(name, code);
    Py_DECREF(code);
    return m;
}

/* The network modules, before anything imports socket or ssl: _socket
   (under the stdlib's socket.py) and ssl, over the host's net-* imports;
   select learns their sockets. */
static int
load_net(void)
{
    PyObject *sock =
        exec_module(eryx_net_socket_py, "_socket", "<eryx-socket>");
    if (sock == NULL)
        return -1;
    PyObject *r = PyObject_CallMethod(sock, "install_select_patch", NULL);
    Py_DECREF(sock);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    PyObject *ssl = exec_module(eryx_net_ssl_py, "ssl", "<eryx-ssl>");
    Py_XDECREF(ssl);
    return ssl ? 0 : -1;
}

static int
load_glue(void)
{
    if (load_net() < 0)
        return -1;
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
        {&rt_fn_begin, "begin"},
        {&rt_fn_run_coroutine, "run_coroutine"},
        {&rt_fn_format_exception, "format_exception"},
        {&rt_fn_finish, "finish"},
        {&rt_fn_compile_interactive, "compile_interactive"},
        {&rt_fn_snapshot, "snapshot_state"},
        {&rt_fn_restore, "restore_state"},
        {&rt_fn_clear, "clear_state"},
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

/* `random`'s shared generator and the C seed method of its type, when the
   snapshot holds the module (found once, by the initialize that makes the
   snapshot). */
static PyObject *rt_random_inst, *rt_random_seed;

static void
find_random(void)
{
    PyObject *name = PyUnicode_FromString("random");
    PyObject *mod = name ? PyImport_GetModule(name) : NULL;
    PyObject *inst = mod ? PyObject_GetAttrString(mod, "_inst") : NULL;
    PyObject *base = mod ? PyImport_ImportModule("_random") : NULL;
    PyObject *type = base ? PyObject_GetAttrString(base, "Random") : NULL;
    PyObject *seed = type ? PyObject_GetAttrString(type, "seed") : NULL;
    if (inst != NULL && seed != NULL) {
        rt_random_inst = Py_NewRef(inst);
        rt_random_seed = Py_NewRef(seed);
    }
    PyErr_Clear(); /* no `random` in the snapshot: nothing to reseed */
    Py_XDECREF(seed);
    Py_XDECREF(type);
    Py_XDECREF(base);
    Py_XDECREF(inst);
    Py_XDECREF(mod);
    Py_XDECREF(name);
}

void
rt_reseed_random(void)
{
    /* A 256-bit seed: the generator's whole state from the host's
       randomness (the method's default, 2,496 bytes) cost a first execute
       40 us more, this a few. */
    unsigned char key[32];
    if (rt_random_seed == NULL || getentropy(key, sizeof key) != 0)
        return;
    PyObject *n = PyLong_FromUnsignedNativeBytes(
        key, sizeof key, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
    PyObject *r = n ? PyObject_CallFunctionObjArgs(rt_random_seed,
                                                   rt_random_inst, n, NULL)
                    : NULL;
    if (r == NULL)
        PyErr_Clear(); /* the generator is only left as it was */
    Py_XDECREF(r);
    Py_XDECREF(n);
}

EXPORT("initialize")
eryx_abi_unit_ret *
initialize(void)
{
    if (rt_initialized)
        return (eryx_abi_unit_ret *)&unit_ok;
    memset(&rt_unit_ret, 0, sizeof rt_unit_ret);
    const char *why = init_python();
    if (why != NULL) {
        rt_unit_ret.tag = ERYX_ABI_ERR;
        rt_unit_ret.err = rt_abi_cstring(why);
        return &rt_unit_ret;
    }
    if (load_glue() < 0 || (rt_namespace = new_namespace()) == NULL ||
        preimport(ERYX_PREIMPORT) < 0) {
        rt_unit_ret.tag = ERYX_ABI_ERR;
        rt_unit_ret.err = rt_error_text("runtime initialization failed");
        return &rt_unit_ret;
    }
    find_random();
    rt_initialized = 1;
    return &rt_unit_ret;
}

/* The pre-initializer's entry point (build time only: Wizer calls it, then
   snapshots memory and globals into a new module, and removes this export).
   Everything initialize() does is then done before a sandbox starts; the
   host's call to initialize() finds it done.  No descriptor beyond stdio and
   the root preopen (fd 3) may survive into the snapshot: a new instance's
   descriptor table has no others.  The snapshot starts in /data (Wizer's
   "/" has an empty data directory), where most instances work. */
static void
immortalize_all(PyObject *list)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++)
        Py_SET_REFCNT(PyList_GET_ITEM(list, i), _Py_IMMORTAL_REFCNT);
}

/* Make the snapshot's objects immortal: every object the GC tracks and
   every object those refer to (strings, numbers, code, ...).  Their
   reference counts then never change (a 32-bit build checks immortality
   before each increment and decrement), so running code that only reads
   them writes none of their pages: a new instance copies fewer pages of
   the image.  They are never freed, which a snapshot's objects hardly
   ever are anyway. */
static int
immortalize(PyObject *gc)
{
    PyObject *objs = PyObject_CallMethod(gc, "get_objects", NULL);
    PyObject *args = objs ? PySequence_Tuple(objs) : NULL;
    PyObject *get = args ? PyObject_GetAttrString(gc, "get_referents") : NULL;
    PyObject *refs = get ? PyObject_Call(get, args, NULL) : NULL;
    if (refs != NULL && PyList_Check(objs) && PyList_Check(refs)) {
        immortalize_all(objs);
        immortalize_all(refs);
    }
    int ok = refs != NULL ? 0 : -1;
    Py_XDECREF(refs);
    Py_XDECREF(get);
    Py_XDECREF(args);
    Py_XDECREF(objs);
    return ok;
}

/* Forget the path entries that the snapshot's imports found missing
   (sys.path_importer_cache holds None for them, and importlib never looks
   there again): /site-packages, where a factory mounts its packages later,
   is one as soon as a preimported module tries an optional import it
   lacks. */
static int
forget_missing_paths(void)
{
    PyObject *cache = PySys_GetObject("path_importer_cache"); /* borrowed */
    if (cache == NULL || !PyDict_Check(cache))
        return 0;
    PyObject *items = PyDict_Items(cache);
    if (items == NULL)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (PyTuple_GET_ITEM(item, 1) == Py_None)
            rc = PyDict_DelItem(cache, PyTuple_GET_ITEM(item, 0));
    }
    Py_DECREF(items);
    return rc;
}

/* Run runtime.py's rehearse_execute against the stand-in host of
   host_module.c (runtime.h, rt_rehearsal): the first execute of every new
   instance then runs code CPython has already specialized.  The function
   is then taken out of the module: it has no use at run time. */
static int
rehearse(void)
{
    PyObject *glue = PyImport_ImportModule("_eryx_runtime");
    rt_rehearsal = 1;
    PyObject *r =
        glue ? PyObject_CallMethod(glue, "rehearse_execute", NULL) : NULL;
    rt_rehearsal = 0;
    int rc = r != NULL && PyObject_DelAttrString(glue, "rehearse_execute") == 0
                 ? 0
                 : -1;
    Py_XDECREF(glue);
    Py_XDECREF(r);
    return rc;
}

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
    if (rehearse() < 0 || forget_missing_paths() < 0) {
        PyErr_Print();
        abort();
    }
    /* Move every object of the snapshot into the GC's permanent
       generation: collections then never write to their headers, so their
       pages stay shared with the image instead of being copied into each
       instance (gc.freeze exists for exactly this, after fork). */
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *done = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(done);
    if (done != NULL && immortalize(gc) < 0)
        done = NULL;
    done = done ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(gc);
    if (done == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(done);
    (void)chdir("/data");
    for (int fd = 4; fd < 256; fd++)
        (void)close(fd);
}

EXPORT("cabi_post_initialize")
void
cabi_post_initialize(eryx_abi_unit_ret *ret)
{
    rt_post_unit(ret);
}
