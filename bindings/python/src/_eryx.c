/*
** _eryx.c: the extension module eryx._eryx, CPython's limited API (abi3,
** 3.10 on) over liberyx.  It is the low layer of the package: one engine
** per process, sandboxes and sessions that execute with the GIL released,
** callbacks and output handlers that take the GIL only while in Python.
** The public API (eryx/__init__.py and friends) is Python over this.
**
** Objects:
**   _eryx.configure(runtime, stdlib, cache)  where the guest's files are
**   _eryx.Core(session, limits, result_variable, callbacks, on_output,
**              on_trace=None)
**       .execute(code) -> (status, stdout, stderr, error, result_json,
**                          result_error, duration_us, callback_invocations,
**                          peak_memory_bytes, fuel_consumed)
**       .cancel(), and for sessions: .reset(), .clear_state(),
**       .snapshot_state() -> bytes, .restore_state(bytes),
**       .execution_count
**   _eryx.Call: one callback call; .ok(json) or .fail(message), once.
**
** Threads: a Core is used by one thread at a time (a mutex serializes
** callers; waiting for it releases the GIL).  Callback handlers run on the
** engine's worker threads and take the GIL with PyGILState_Ensure; output
** handlers run on the executing thread, which has released the GIL.
*/
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030A0000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eryx.h"

/* ------------------------------------------------------------ module state */

/* The one engine of the process, made on first use from the paths set by
   configure().  Created and read with the GIL held. */
static eryx_engine *engine;
static char *runtime_path, *stdlib_dir, *cache_dir;
static PyObject *CallType; /* _eryx.Call */

/* The UTF-8 of a str, owned by it (PyUnicode_AsUTF8 is not in the limited
   API of 3.10). */
static const char *
utf8(PyObject *s)
{
    return PyUnicode_AsUTF8AndSize(s, NULL);
}

static char *
dup_utf8(PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL)
        return NULL;
    if ((Py_ssize_t)strlen(u) != n) {
        PyErr_SetString(PyExc_ValueError, "embedded NUL character");
        return NULL;
    }
    char *d = malloc((size_t)n + 1);
    if (d == NULL)
        return (char *)PyErr_NoMemory();
    memcpy(d, u, (size_t)n + 1);
    return d;
}

static PyObject *
mod_configure(PyObject *self, PyObject *args)
{
    PyObject *rt, *sl, *cd;
    if (!PyArg_ParseTuple(args, "UUO:configure", &rt, &sl, &cd))
        return NULL;
    if (cd != Py_None && !PyUnicode_Check(cd)) {
        PyErr_SetString(PyExc_TypeError, "cache must be a str or None");
        return NULL;
    }
    if (engine != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the engine is already started");
        return NULL;
    }
    char *a = dup_utf8(rt), *b = a ? dup_utf8(sl) : NULL, *c = NULL;
    if (b != NULL && cd != Py_None)
        c = dup_utf8(cd);
    if (b == NULL || (cd != Py_None && c == NULL)) {
        free(a);
        free(b);
        return NULL;
    }
    free(runtime_path);
    free(stdlib_dir);
    free(cache_dir);
    runtime_path = a, stdlib_dir = b, cache_dir = c;
    Py_RETURN_NONE;
}

/* Raises InitializationError-to-be: the Python layer maps RuntimeError
   with this prefix. */
static PyObject *
init_error(const char *what, const eryx_error *err)
{
    PyErr_Format(PyExc_RuntimeError, "eryx-init: %s: %s", what,
                 err->message[0] ? err->message : eryx_status_str(err->status));
    return NULL;
}

/* Applies the module's paths to `cfg`. */
static int
apply_paths(eryx_config *cfg, eryx_error *err)
{
    if (runtime_path &&
        eryx_config_set_runtime_path(cfg, runtime_path, err) != ERYX_OK)
        return -1;
    if (stdlib_dir &&
        eryx_config_set_stdlib_dir(cfg, stdlib_dir, err) != ERYX_OK)
        return -1;
    if (cache_dir && eryx_config_set_cache_dir(cfg, cache_dir, err) != ERYX_OK)
        return -1;
    return 0;
}

static eryx_engine *
get_engine(void)
{
    if (engine != NULL)
        return engine;
    eryx_config *cfg = NULL;
    eryx_error err = {0};
    eryx_engine *e = NULL;
    if (eryx_config_new(&cfg, &err) != ERYX_OK || apply_paths(cfg, &err) != 0) {
        eryx_config_free(cfg);
        return (eryx_engine *)init_error("cannot configure the engine", &err);
    }
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_engine_new(cfg, &e, &err);
    Py_END_ALLOW_THREADS
    eryx_config_free(cfg);
    if (st != ERYX_OK)
        return (eryx_engine *)init_error("cannot load the guest", &err);
    if (engine == NULL) /* another thread may have won while we waited */
        engine = e;
    else
        eryx_engine_free(e);
    return engine;
}

static PyObject *
mod_precompile(PyObject *self, PyObject *args)
{
    const char *out = NULL;
    int fuel = 0;
    if (!PyArg_ParseTuple(args, "zp:precompile", &out, &fuel))
        return NULL;
    eryx_config *cfg = NULL;
    eryx_error err = {0};
    eryx_status st = eryx_config_new(&cfg, &err);
    if (st == ERYX_OK && apply_paths(cfg, &err) != 0)
        st = err.status ? err.status : ERYX_E_INVALID_ARG;
    if (st == ERYX_OK) {
        Py_BEGIN_ALLOW_THREADS
        st = eryx_engine_precompile(cfg, out, fuel, &err);
        Py_END_ALLOW_THREADS
    }
    eryx_config_free(cfg);
    if (st != ERYX_OK)
        return init_error("cannot precompile the guest", &err);
    Py_RETURN_NONE;
}

static PyObject *
mod_engine_info(PyObject *self, PyObject *unused)
{
    eryx_engine *e = get_engine();
    return e ? PyUnicode_FromString(eryx_engine_info(e)) : NULL;
}

/* ------------------------------------------------------------------ Call */

typedef struct {
    PyObject_HEAD
    eryx_call *call;     /* NULL once completed */
    unsigned long index; /* eryx_call_index */
} CallObject;

/* How a call is completed. */
enum { CALL_OK, CALL_FAIL, CALL_SUSPEND };

static PyObject *
call_complete(CallObject *self, PyObject *arg, int how)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (s == NULL)
        return NULL;
    eryx_call *c = self->call;
    if (c == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the call is already completed");
        return NULL;
    }
    self->call = NULL;
    Py_BEGIN_ALLOW_THREADS
    if (how == CALL_OK)
        eryx_call_return(c, s, (size_t)n);
    else if (how == CALL_FAIL)
        eryx_call_fail(c, s, (size_t)n);
    else
        eryx_call_suspend(c, s, (size_t)n);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
call_suspend(PyObject *self, PyObject *arg)
{
    return call_complete((CallObject *)self, arg, CALL_SUSPEND);
}

static PyObject *
call_ok(PyObject *self, PyObject *arg)
{
    return call_complete((CallObject *)self, arg, CALL_OK);
}

static PyObject *
call_fail(PyObject *self, PyObject *arg)
{
    return call_complete((CallObject *)self, arg, CALL_FAIL);
}

static void
call_dealloc(PyObject *self)
{
    CallObject *c = (CallObject *)self;
    if (c->call !=
        NULL) { /* dropped without an answer: the guest must not hang */
        static const char msg[] =
            "RuntimeError: the host callback gave no answer";
        eryx_call_fail(c->call, msg, sizeof msg - 1);
        c->call = NULL;
    }
    PyTypeObject *tp = Py_TYPE(self);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self);
    Py_DECREF(tp);
}

static PyObject *
call_index(PyObject *self, void *closure)
{
    return PyLong_FromUnsignedLong(((CallObject *)self)->index);
}

static PyGetSetDef call_getset[] = {
    {"index", call_index, NULL, "the order in which the code started it", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef call_methods[] = {
    {"ok", call_ok, METH_O, "Complete the call with a JSON text."},
    {"fail", call_fail, METH_O, "Complete the call with an error message."},
    {"suspend", call_suspend, METH_O, "Suspend the run (journals)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot call_slots[] = {
    {Py_tp_dealloc, call_dealloc},
    {Py_tp_methods, call_methods},
    {Py_tp_getset, call_getset},
    {Py_tp_doc, "One callback call from the guest; complete it once."},
    {0, NULL},
};

static PyType_Spec call_spec = {"eryx._eryx.Call", sizeof(CallObject), 0,
                                Py_TPFLAGS_DEFAULT, call_slots};

/* ------------------------------------------------- handlers (any thread) */

/* Handlers run on the engine's worker threads, which outlive each call:
   the first call on a thread takes the GIL with a second, lasting
   PyGILState_Ensure, so that its thread state stays (made and deleted at
   every call, it cost more than the handler).  Once the interpreter
   begins to finalize (atexit, below) no thread enters Python again. */
static int finalizing; /* atomic */
static _Thread_local int pinned;

static int
enter_python(PyGILState_STATE *g)
{
    if (__atomic_load_n(&finalizing, __ATOMIC_ACQUIRE) || !Py_IsInitialized())
        return 0;
    *g = PyGILState_Ensure();
    if (!pinned) {
        pinned = 1;
        (void)PyGILState_Ensure();
    }
    return 1;
}

static PyObject *
mod_finalizing(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    __atomic_store_n(&finalizing, 1, __ATOMIC_RELEASE);
    Py_RETURN_NONE;
}

/* userdata of a callback: the Python handler(call, args_json). */
static void
callback_entry(void *ud, const char *args, size_t len, eryx_call *call)
{
    PyGILState_STATE g;
    if (!enter_python(&g)) {
        static const char msg[] = "RuntimeError: the interpreter is exiting";
        eryx_call_fail(call, msg, sizeof msg - 1);
        return;
    }
    CallObject *c = PyObject_New(CallObject, (PyTypeObject *)CallType);
    PyObject *a =
        c ? PyUnicode_DecodeUTF8(args, (Py_ssize_t)len, "surrogatepass") : NULL;
    PyObject *r = NULL;
    if (c != NULL) {
        c->call = call;
        c->index = eryx_call_index(call);
        call = NULL;
    }
    if (a != NULL)
        r = PyObject_CallFunctionObjArgs((PyObject *)ud, (PyObject *)c, a,
                                         NULL);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)ud);
        if (c != NULL && c->call != NULL) {
            static const char msg[] = "RuntimeError: the host callback failed";
            eryx_call_fail(c->call, msg, sizeof msg - 1);
            c->call = NULL;
        }
    }
    if (call != NULL) { /* no Call object could be made */
        static const char msg[] = "MemoryError: host out of memory";
        eryx_call_fail(call, msg, sizeof msg - 1);
    }
    Py_XDECREF(r);
    Py_XDECREF(a);
    Py_XDECREF((PyObject *)c);
    PyGILState_Release(g);
}

static void
output_entry(void *ud, int stream, const char *data, size_t len)
{
    PyGILState_STATE g;
    if (!enter_python(&g))
        return;
    PyObject *r = PyObject_CallFunction((PyObject *)ud, "iy#", stream, data,
                                        (Py_ssize_t)len);
    if (r == NULL)
        PyErr_WriteUnraisable((PyObject *)ud);
    Py_XDECREF(r);
    PyGILState_Release(g);
}

static void
trace_entry(void *ud,
            eryx_trace_kind kind,
            uint32_t lineno,
            const char *json,
            size_t len)
{
    PyGILState_STATE g;
    if (!enter_python(&g))
        return;
    PyObject *r =
        PyObject_CallFunction((PyObject *)ud, "iIs#", (int)kind,
                              (unsigned int)lineno, json, (Py_ssize_t)len);
    if (r == NULL)
        PyErr_WriteUnraisable((PyObject *)ud);
    Py_XDECREF(r);
    PyGILState_Release(g);
}

static void
release_pyobject(void *ud)
{
    PyGILState_STATE g;
    if (!enter_python(&g))
        return;
    Py_DECREF((PyObject *)ud);
    PyGILState_Release(g);
}

/* ------------------------------------------------------------------ Core */

/* An image (eryx_image), from Core.capture or image_from_bytes. */
typedef struct {
    PyObject_HEAD
    eryx_image *image;
} ImageObject;

static PyObject *ImageType; /* _eryx.Image */

/* A callback journal (eryx_journal). */
typedef struct {
    PyObject_HEAD
    eryx_journal *journal;
} JournalObject;

static PyObject *JournalType; /* _eryx.Journal */

/* An in-memory storage (eryx_storage): VfsStorage's. */
typedef struct {
    PyObject_HEAD
    eryx_storage *storage;
} StorageObject;

static PyObject *StorageType; /* _eryx.Storage */

typedef struct {
    PyObject_HEAD
    eryx_sandbox *sandbox;  /* a plain sandbox, or */
    eryx_session *session;  /* the session (for image sandboxes: the one
                               running now, else NULL) */
    eryx_config *config;    /* kept when sessions are made later */
    PyObject *image;        /* an ImageObject the sessions start from */
    int per_execute;        /* an image sandbox: a session per execute */
    pthread_mutex_t lock;   /* one caller at a time */
    pthread_mutex_t run_mu; /* the session pointer, against cancel */
    int busy;               /* an execute is running */
} CoreObject;

/* The filesystem's part of a config: fs = (data_path or None, vfs_limit
   (0: default), Storage or None, [(host, guest, read_only)], site_packages
   or None).  -1 with a Python error. */
static int
apply_fs(eryx_config *cfg, PyObject *fs, eryx_error *err)
{
    if (fs == Py_None)
        return 0;
    PyObject *path, *storage, *volumes, *site;
    unsigned long long limit;
    if (!PyArg_ParseTuple(fs, "OKOO!O:fs", &path, &limit, &storage,
                          &PyList_Type, &volumes, &site))
        return -1;
    if (storage != Py_None && !PyObject_IsInstance(storage, StorageType)) {
        PyErr_SetString(PyExc_TypeError, "vfs must be a VfsStorage");
        return -1;
    }
    const char *p = path == Py_None ? NULL : utf8(path);
    const char *sp = site == Py_None ? NULL : utf8(site);
    if ((path != Py_None && p == NULL) || (site != Py_None && sp == NULL))
        return -1;
    if ((p && eryx_config_set_data_path(cfg, p, err) != ERYX_OK) ||
        eryx_config_set_vfs_limit(cfg, limit, err) != ERYX_OK ||
        (storage != Py_None &&
         eryx_config_set_storage(cfg, ((StorageObject *)storage)->storage,
                                 err) != ERYX_OK) ||
        (sp && eryx_config_set_site_packages(cfg, sp, err) != ERYX_OK))
        goto bad;
    for (Py_ssize_t i = 0; i < PyList_Size(volumes); i++) {
        const char *host, *guest;
        int ro;
        if (!PyArg_ParseTuple(PyList_GetItem(volumes, i), "ssp:volume", &host,
                              &guest, &ro))
            return -1;
        if (eryx_config_add_volume(cfg, host, guest, ro, err) != ERYX_OK)
            goto bad;
    }
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, err->message);
    return -1;
}

/* Append each str of `list` to list `which` of `nc`; -1 with an error. */
static int
add_items(eryx_netconfig *nc,
          eryx_net_list which,
          PyObject *list,
          eryx_error *err)
{
    for (Py_ssize_t i = 0; i < PyList_Size(list); i++) {
        const char *item = utf8(PyList_GetItem(list, i));
        if (item == NULL)
            return -1;
        if (eryx_netconfig_add(nc, which, item, err) != ERYX_OK) {
            PyErr_SetString(PyExc_ValueError, err->message);
            return -1;
        }
    }
    return 0;
}

/* The network's part of a config, as eryx/_net.py's net_args gives it:
   net = (spec or None, [(name, value, [hosts])], scrub flags), spec =
   (max_connections, connect_timeout_ms, io_timeout_ms, allowed_hosts,
   blocked_hosts, blocked_networks, allowed_networks, internal_hosts,
   [root cert bytes], [(host, address)]).  -1 with a Python error. */
static int
apply_net(eryx_config *cfg, PyObject *net, eryx_error *err)
{
    if (net == Py_None)
        return 0;
    PyObject *spec, *secrets;
    unsigned int scrub;
    if (!PyArg_ParseTuple(net, "OO!I:net", &spec, &PyList_Type, &secrets,
                          &scrub))
        return -1;
    if (spec != Py_None) {
        unsigned int maxc, cto, ioto;
        PyObject *lists[5], *roots, *resolve;
        if (!PyArg_ParseTuple(spec, "IIIO!O!O!O!O!O!O!:spec", &maxc, &cto,
                              &ioto, &PyList_Type, &lists[0], &PyList_Type,
                              &lists[1], &PyList_Type, &lists[2], &PyList_Type,
                              &lists[3], &PyList_Type, &lists[4], &PyList_Type,
                              &roots, &PyList_Type, &resolve))
            return -1;
        static const eryx_net_list which[5] = {
            ERYX_NET_ALLOWED_HOSTS, ERYX_NET_BLOCKED_HOSTS,
            ERYX_NET_BLOCKED_NETWORKS, ERYX_NET_ALLOWED_NETWORKS,
            ERYX_NET_INTERNAL_HOSTS};
        eryx_netconfig *nc = NULL;
        int rc = -1;
        if (eryx_netconfig_new(&nc, err) != ERYX_OK ||
            eryx_netconfig_set_limits(nc, maxc, cto, ioto, err) != ERYX_OK)
            goto net_bad;
        for (int i = 0; i < 5; i++) {
            if (eryx_netconfig_clear(nc, which[i], err) != ERYX_OK)
                goto net_bad;
            if (add_items(nc, which[i], lists[i], err) < 0)
                goto net_done;
        }
        for (Py_ssize_t i = 0; i < PyList_Size(roots); i++) {
            char *data;
            Py_ssize_t len;
            if (PyBytes_AsStringAndSize(PyList_GetItem(roots, i), &data, &len) <
                0)
                goto net_done;
            if (eryx_netconfig_add_root_cert(nc, data, (size_t)len, err) !=
                ERYX_OK)
                goto net_bad;
        }
        for (Py_ssize_t i = 0; i < PyList_Size(resolve); i++) {
            const char *host, *addr;
            if (!PyArg_ParseTuple(PyList_GetItem(resolve, i), "ss:resolve",
                                  &host, &addr))
                goto net_done;
            if (eryx_netconfig_resolve(nc, host, addr, err) != ERYX_OK)
                goto net_bad;
        }
        if (eryx_config_set_network(cfg, nc, err) != ERYX_OK)
            goto net_bad;
        rc = 0;
        goto net_done;
net_bad:
        PyErr_SetString(PyExc_ValueError, err->message);
net_done:
        eryx_netconfig_free(nc);
        if (rc < 0)
            return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_Size(secrets); i++) {
        const char *name, *value;
        PyObject *hosts;
        if (!PyArg_ParseTuple(PyList_GetItem(secrets, i), "ssO!:secret", &name,
                              &value, &PyList_Type, &hosts))
            return -1;
        Py_ssize_t n = PyList_Size(hosts);
        const char **h = PyMem_Calloc((size_t)n + 1, sizeof *h);
        if (h == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        int ok = 1;
        for (Py_ssize_t k = 0; ok && k < n; k++)
            ok = (h[k] = utf8(PyList_GetItem(hosts, k))) != NULL;
        eryx_status st =
            ok ? eryx_config_add_secret(cfg, name, value, h, (size_t)n, err)
               : ERYX_E_INVALID_ARG;
        PyMem_Free(h);
        if (!ok)
            return -1;
        if (st != ERYX_OK) {
            PyErr_SetString(PyExc_ValueError, err->message);
            return -1;
        }
    }
    if (eryx_config_set_scrub(cfg, scrub, err) != ERYX_OK) {
        PyErr_SetString(PyExc_ValueError, err->message);
        return -1;
    }
    return 0;
}

/* Builds the config from the Python layer's arguments:
   limits = (timeout_ms, callback_timeout_ms, memory_bytes,
             max_callback_invocations, fuel) with 0 meaning none,
   callbacks = [(name, description, schema_json or None, handler)],
   fs as apply_fs takes it. */
static eryx_config *
make_config(PyObject *limits,
            PyObject *result_variable,
            PyObject *callbacks,
            PyObject *on_output,
            PyObject *on_trace,
            PyObject *fs,
            PyObject *net)
{
    unsigned long long timeout, cb_timeout, memory, invocations, fuel;
    if (!PyArg_ParseTuple(limits, "KKKKK:limits", &timeout, &cb_timeout,
                          &memory, &invocations, &fuel))
        return NULL;
    eryx_config *cfg = NULL;
    eryx_error err = {0};
    if (eryx_config_new(&cfg, &err) != ERYX_OK)
        return (eryx_config *)init_error("config", &err);
    if (timeout > UINT32_MAX)
        timeout = 0;
    if (cb_timeout > UINT32_MAX)
        cb_timeout = 0;
    if (invocations > UINT32_MAX)
        invocations = UINT32_MAX;
    if (eryx_config_set_timeout_ms(cfg, (uint32_t)timeout, &err) != ERYX_OK ||
        eryx_config_set_callback_timeout_ms(cfg, (uint32_t)cb_timeout, &err) !=
            ERYX_OK ||
        eryx_config_set_max_callback_invocations(cfg, (uint32_t)invocations,
                                                 &err) != ERYX_OK ||
        (memory &&
         eryx_config_set_memory_limit(cfg, memory, &err) != ERYX_OK) ||
        eryx_config_set_fuel(cfg, fuel, &err) != ERYX_OK)
        goto bad_value;
    if (result_variable != Py_None) {
        const char *rv = utf8(result_variable);
        if (rv == NULL)
            goto fail;
        if (eryx_config_set_result_variable(cfg, rv, &err) != ERYX_OK)
            goto bad_value;
    }
    Py_ssize_t n = PyList_Size(callbacks);
    if (n < 0)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GetItem(callbacks, i);
        PyObject *name, *desc, *schema, *handler;
        if (item == NULL || !PyArg_ParseTuple(item, "UUOO:callback", &name,
                                              &desc, &schema, &handler))
            goto fail;
        const char *nm = utf8(name), *ds = utf8(desc);
        const char *sc = schema == Py_None ? NULL : utf8(schema);
        if (nm == NULL || ds == NULL || (schema != Py_None && sc == NULL))
            goto fail;
        Py_INCREF(handler);
        if (eryx_config_add_callback(cfg, nm, ds, sc, callback_entry, handler,
                                     release_pyobject, &err) != ERYX_OK)
            goto bad_value;
    }
    if (on_output != Py_None) {
        Py_INCREF(on_output);
        if (eryx_config_set_output_handler(cfg, output_entry, on_output,
                                           release_pyobject, &err) != ERYX_OK)
            goto bad_value;
    }
    if (on_trace != Py_None) {
        Py_INCREF(on_trace);
        if (eryx_config_set_trace_handler(cfg, trace_entry, on_trace,
                                          release_pyobject, &err) != ERYX_OK)
            goto bad_value;
    }
    if (apply_fs(cfg, fs, &err) < 0 || apply_net(cfg, net, &err) < 0)
        goto fail;
    return cfg;
bad_value:
    PyErr_SetString(PyExc_ValueError,
                    err.message[0] ? err.message : eryx_status_str(err.status));
fail:
    eryx_config_free(cfg);
    return NULL;
}

/* A session of the core's image (GIL released by the caller). */
static eryx_status
image_session(CoreObject *self, eryx_session **out, eryx_error *err)
{
    return eryx_session_new_from_image(
        engine, self->config, ((ImageObject *)self->image)->image, out, err);
}

static int
core_init(PyObject *self_, PyObject *args, PyObject *kwds)
{
    CoreObject *self = (CoreObject *)self_;
    int session;
    PyObject *limits, *result_variable, *callbacks, *on_output,
        *on_trace = Py_None, *image = Py_None, *fs = Py_None, *net = Py_None;
    if (!PyArg_ParseTuple(args, "pOOO!O|OOOO:Core", &session, &limits,
                          &result_variable, &PyList_Type, &callbacks,
                          &on_output, &on_trace, &image, &fs, &net))
        return -1;
    if (self->sandbox || self->session || self->config) {
        PyErr_SetString(PyExc_RuntimeError, "Core is already initialized");
        return -1;
    }
    if (image != Py_None && !PyObject_IsInstance(image, ImageType)) {
        PyErr_SetString(PyExc_TypeError, "image must be an Image");
        return -1;
    }
    eryx_engine *e = get_engine();
    if (e == NULL)
        return -1;
    eryx_config *cfg = make_config(limits, result_variable, callbacks,
                                   on_output, on_trace, fs, net);
    if (cfg == NULL)
        return -1;
    eryx_error err = {0};
    eryx_status st = ERYX_OK;
    if (image != Py_None) {
        Py_INCREF(image);
        self->image = image;
        self->config = cfg;
        self->per_execute = !session;
        if (session) {
            Py_BEGIN_ALLOW_THREADS
            st = image_session(self, &self->session, &err);
            Py_END_ALLOW_THREADS
        }
    } else {
        Py_BEGIN_ALLOW_THREADS
        st = session ? eryx_session_new(e, cfg, &self->session, &err)
                     : eryx_sandbox_new(e, cfg, &self->sandbox, &err);
        Py_END_ALLOW_THREADS
        /* The callbacks' userdata are released once no sandbox or config
           holds them; that may call release_pyobject, which takes the GIL
           we hold (re-entrant). */
        eryx_config_free(cfg);
    }
    if (st != ERYX_OK) {
        init_error(session ? "cannot start a session" : "cannot make a sandbox",
                   &err);
        return -1;
    }
    return 0;
}

static PyObject *
core_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(tp, Py_tp_alloc);
    CoreObject *self = (CoreObject *)alloc(tp, 0);
    if (self == NULL)
        return NULL;
    self->sandbox = NULL, self->session = NULL, self->busy = 0;
    self->config = NULL, self->image = NULL, self->per_execute = 0;
    pthread_mutex_init(&self->lock, NULL);
    pthread_mutex_init(&self->run_mu, NULL);
    return (PyObject *)self;
}

static void
core_dealloc(PyObject *self_)
{
    CoreObject *self = (CoreObject *)self_;
    PyTypeObject *tp = Py_TYPE(self_);
    if (self->sandbox)
        eryx_sandbox_free(self->sandbox);
    if (self->session)
        eryx_session_free(self->session);
    eryx_config_free(self->config);
    Py_XDECREF(self->image);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->run_mu);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self_);
    Py_DECREF(tp);
}

/* Takes the Core's lock, waiting with the GIL released. */
static int
core_lock(CoreObject *self)
{
    if (self->sandbox == NULL && self->session == NULL && !self->per_execute) {
        PyErr_SetString(PyExc_RuntimeError, "Core is not initialized");
        return -1;
    }
    if (pthread_mutex_trylock(&self->lock) == 0)
        return 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    Py_END_ALLOW_THREADS
    return 0;
}

static PyObject *
bytes_or_empty(const char *p, size_t n)
{
    return PyBytes_FromStringAndSize(p ? p : "", p ? (Py_ssize_t)n : 0);
}

static PyObject *
str_or_none(const char *p, size_t n)
{
    if (p == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "replace");
}

/* ------------------------------------------------------------- Ctrl-C */

/*
** While the main thread executes, SIGINT must cut the run at once, not
** when it ends.  Python's own handler only trips a flag that the main
** thread reads when it runs bytecode again, and eryx_*_cancel takes a
** mutex, which a signal handler may not.  So, for the length of an execute
** on the main thread, a handler of ours writes a byte to a pipe and then
** calls the previous handler (Python's: the flag is still tripped); a
** thread of ours reads the pipe and cancels the running core.  When the
** execute returns, PyErr_CheckSignals raises the KeyboardInterrupt.
** Nothing is installed when SIGINT is not handled by a function (SIG_DFL,
** SIG_IGN): the process's choice is kept.
*/
static int sigint_pipe[2] = {-1, -1};
static struct sigaction prev_sigint;
static pthread_mutex_t sigint_mu = PTHREAD_MUTEX_INITIALIZER;
static CoreObject *sigint_target; /* guarded by sigint_mu */
static volatile sig_atomic_t sigint_seen;
static unsigned long main_ident;

static void
on_sigint(int sig)
{
    int saved = errno;
    char c = 1;
    sigint_seen = 1;
    if (write(sigint_pipe[1], &c, 1) < 0) {
        /* the pipe is full: a cancel is already on its way */
    }
    if (prev_sigint.sa_handler != SIG_DFL && prev_sigint.sa_handler != SIG_IGN)
        prev_sigint.sa_handler(sig);
    errno = saved;
}

static void core_cancel_now(CoreObject *self);

static void *
canceller_main(void *arg)
{
    char buf[64];
    for (;;) {
        ssize_t n = read(sigint_pipe[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        pthread_mutex_lock(&sigint_mu);
        if (sigint_target != NULL)
            core_cancel_now(sigint_target);
        pthread_mutex_unlock(&sigint_mu);
    }
}

/* Arms the handler for an execute of `core` on the main thread; 1 when
   armed (disarm after), 0 when not (another thread, or SIGINT is not
   handled by a function). */
static int
sigint_arm(CoreObject *core)
{
    if (PyThread_get_thread_ident() != main_ident)
        return 0;
    struct sigaction cur;
    if (sigaction(SIGINT, NULL, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) ||
        cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN)
        return 0;
    if (sigint_pipe[0] < 0) {
        pthread_t t;
        if (pipe(sigint_pipe) != 0)
            return 0;
        fcntl(sigint_pipe[1], F_SETFL, O_NONBLOCK);
        fcntl(sigint_pipe[0], F_SETFD, FD_CLOEXEC);
        fcntl(sigint_pipe[1], F_SETFD, FD_CLOEXEC);
        if (pthread_create(&t, NULL, canceller_main, NULL) != 0) {
            close(sigint_pipe[0]);
            close(sigint_pipe[1]);
            sigint_pipe[0] = sigint_pipe[1] = -1;
            return 0;
        }
        pthread_detach(t);
    }
    pthread_mutex_lock(&sigint_mu);
    sigint_target = core;
    pthread_mutex_unlock(&sigint_mu);
    sigint_seen = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    prev_sigint = cur;
    if (sigaction(SIGINT, &sa, NULL) != 0) {
        pthread_mutex_lock(&sigint_mu);
        sigint_target = NULL;
        pthread_mutex_unlock(&sigint_mu);
        return 0;
    }
    return 1;
}

static void
sigint_disarm(void)
{
    sigaction(SIGINT, &prev_sigint, NULL);
    pthread_mutex_lock(&sigint_mu);
    sigint_target = NULL;
    pthread_mutex_unlock(&sigint_mu);
}

/* In a fork's child the canceller thread is not there: the pipe is closed
   and the next armed execute makes both again. */
static void
sigint_after_fork(void)
{
    if (sigint_pipe[0] >= 0) {
        close(sigint_pipe[0]);
        close(sigint_pipe[1]);
        sigint_pipe[0] = sigint_pipe[1] = -1;
    }
    pthread_mutex_init(&sigint_mu, NULL);
    sigint_target = NULL;
}

static PyObject *
core_execute(PyObject *self_, PyObject *args)
{
    CoreObject *self = (CoreObject *)self_;
    PyObject *arg, *jobj = Py_None;
    int interactive = 0; /* a REPL statement (sessions only) */
    if (!PyArg_ParseTuple(args, "O|Op:execute", &arg, &jobj, &interactive))
        return NULL;
    if (interactive &&
        (jobj != Py_None || self->session == NULL || self->per_execute)) {
        PyErr_SetString(PyExc_TypeError,
                        "interactive: a session's, without a journal");
        return NULL;
    }
    if (jobj != Py_None && !PyObject_IsInstance(jobj, JournalType)) {
        PyErr_SetString(PyExc_TypeError, "journal must be a Journal");
        return NULL;
    }
    eryx_journal *jr =
        jobj == Py_None ? NULL : ((JournalObject *)jobj)->journal;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "code must be a str");
        return NULL;
    }
    Py_ssize_t n;
    /* surrogatepass keeps lone surrogates as bytes the guest refuses
       cleanly as invalid UTF-8, rather than failing here */
    PyObject *code = PyUnicode_AsEncodedString(arg, "utf-8", "surrogatepass");
    if (code == NULL)
        return NULL;
    char *p;
    if (PyBytes_AsStringAndSize(code, &p, &n) < 0) {
        Py_DECREF(code);
        return NULL;
    }
    if (core_lock(self) < 0) {
        Py_DECREF(code);
        return NULL;
    }
    eryx_result *r = NULL;
    eryx_error err = {0};
    eryx_status st;
    self->busy = 1;
    int armed = sigint_arm(self);
    Py_BEGIN_ALLOW_THREADS
    if (self->per_execute) {
        eryx_session *ss = NULL;
        st = image_session(self, &ss, &err);
        if (st == ERYX_OK) {
            pthread_mutex_lock(&self->run_mu);
            self->session = ss;
            pthread_mutex_unlock(&self->run_mu);
            st = jr ? eryx_session_execute_journal(ss, p, (size_t)n, jr, &r,
                                                   &err)
                    : eryx_session_execute(ss, p, (size_t)n, &r, &err);
            pthread_mutex_lock(&self->run_mu);
            self->session = NULL;
            pthread_mutex_unlock(&self->run_mu);
            eryx_session_free(ss);
        }
    } else if (self->session) {
        st = jr ? eryx_session_execute_journal(self->session, p, (size_t)n, jr,
                                               &r, &err)
             : interactive
                 ? eryx_session_execute_interactive(self->session, p, (size_t)n,
                                                    &r, &err)
                 : eryx_session_execute(self->session, p, (size_t)n, &r, &err);
    } else {
        st = jr ? eryx_sandbox_execute_journal(self->sandbox, p, (size_t)n, jr,
                                               &r, &err)
                : eryx_sandbox_execute(self->sandbox, p, (size_t)n, &r, &err);
    }
    Py_END_ALLOW_THREADS
    if (armed)
        sigint_disarm();
    self->busy = 0;
    pthread_mutex_unlock(&self->lock);
    Py_DECREF(code);
    if (armed && sigint_seen && PyErr_CheckSignals() < 0) {
        eryx_result_free(r); /* KeyboardInterrupt (or the program's own) */
        return NULL;
    }
    if (r == NULL) {
        if (st == ERYX_E_NOMEM)
            return PyErr_NoMemory();
        return Py_BuildValue("(iyyszzKIKK)", (int)st, "", "",
                             err.message[0] ? err.message : eryx_status_str(st),
                             NULL, NULL, 0ULL, 0U, 0ULL, 0ULL);
    }
    size_t lo, le, lj, lje, lerr;
    const char *out = eryx_result_stdout(r, &lo);
    const char *errout = eryx_result_stderr(r, &le);
    const char *json = eryx_result_json(r, &lj);
    const char *json_err = eryx_result_json_error(r, &lje);
    const char *msg = eryx_result_error(r, &lerr);
    PyObject *t = PyTuple_New(10);
    if (t != NULL) {
        PyObject *items[10] = {
            PyLong_FromLong((long)eryx_result_status(r)),
            bytes_or_empty(out, lo),
            bytes_or_empty(errout, le),
            str_or_none(msg, lerr),
            str_or_none(json, lj),
            str_or_none(json_err, lje),
            PyLong_FromUnsignedLongLong(eryx_result_duration_us(r)),
            PyLong_FromUnsignedLong(eryx_result_callback_invocations(r)),
            PyLong_FromUnsignedLongLong(eryx_result_peak_memory_bytes(r)),
            PyLong_FromUnsignedLongLong(eryx_result_fuel_consumed(r)),
        };
        for (int i = 0; i < 10; i++) {
            if (items[i] == NULL) {
                for (int j = 0; j < 10; j++)
                    Py_XDECREF(items[j]);
                Py_DECREF(t);
                t = NULL;
                break;
            }
        }
        for (int i = 0; t != NULL && i < 10; i++)
            PyTuple_SetItem(t, i, items[i]);
    }
    eryx_result_free(r);
    return t;
}

static void
core_cancel_now(CoreObject *self)
{
    pthread_mutex_lock(&self->run_mu);
    if (self->session)
        eryx_session_cancel(self->session);
    else if (self->sandbox)
        eryx_sandbox_cancel(self->sandbox);
    pthread_mutex_unlock(&self->run_mu);
}

static PyObject *
core_cancel(PyObject *self_, PyObject *unused)
{
    core_cancel_now((CoreObject *)self_);
    Py_RETURN_NONE;
}

/* Raise KeyboardInterrupt in a running execute (sessions keep their
   state); thread-safe like cancel. */
static PyObject *
core_interrupt(PyObject *self_, PyObject *unused)
{
    CoreObject *self = (CoreObject *)self_;
    (void)unused;
    pthread_mutex_lock(&self->run_mu);
    if (self->session)
        eryx_session_interrupt(self->session);
    pthread_mutex_unlock(&self->run_mu);
    Py_RETURN_NONE;
}

static int
need_session(CoreObject *self)
{
    if (self->session == NULL || self->per_execute) {
        PyErr_SetString(PyExc_TypeError, "not a session");
        return -1;
    }
    return core_lock(self);
}

static PyObject *
core_reset(PyObject *self_, PyObject *unused)
{
    CoreObject *self = (CoreObject *)self_;
    if (need_session(self) < 0)
        return NULL;
    eryx_status st = ERYX_OK;
    eryx_error err = {0};
    Py_BEGIN_ALLOW_THREADS
    if (self->image == NULL) {
        eryx_session_reset(self->session);
    } else { /* back to the image, not to the pre-initialized guest */
        eryx_session *ss = NULL;
        st = image_session(self, &ss, &err);
        if (st == ERYX_OK) {
            pthread_mutex_lock(&self->run_mu);
            eryx_session *old = self->session;
            self->session = ss;
            pthread_mutex_unlock(&self->run_mu);
            eryx_session_free(old);
        }
    }
    Py_END_ALLOW_THREADS
    pthread_mutex_unlock(&self->lock);
    if (st != ERYX_OK)
        return init_error("cannot restart the session", &err);
    Py_RETURN_NONE;
}

static PyObject *
image_wrap(eryx_image *img)
{
    ImageObject *o = PyObject_New(ImageObject, (PyTypeObject *)ImageType);
    if (o == NULL) {
        eryx_image_free(img);
        return NULL;
    }
    o->image = img;
    return (PyObject *)o;
}

static PyObject *
core_capture(PyObject *self_, PyObject *unused)
{
    CoreObject *self = (CoreObject *)self_;
    if (need_session(self) < 0)
        return NULL;
    eryx_image *img = NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_session_capture(self->session, &img, &err);
    Py_END_ALLOW_THREADS
    pthread_mutex_unlock(&self->lock);
    if (st != ERYX_OK)
        return init_error("cannot capture the session", &err);
    return image_wrap(img);
}

static PyObject *
state_error(eryx_status st, const eryx_error *err)
{
    PyObject *type = st == ERYX_E_INVALID_INPUT || st == ERYX_E_INVALID_ARG
                         ? PyExc_ValueError
                         : PyExc_RuntimeError;
    PyErr_Format(type, "%s",
                 err->message[0] ? err->message : eryx_status_str(st));
    return NULL;
}

static PyObject *
core_clear_state(PyObject *self_, PyObject *unused)
{
    CoreObject *self = (CoreObject *)self_;
    if (need_session(self) < 0)
        return NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_session_clear_state(self->session, &err);
    Py_END_ALLOW_THREADS
    pthread_mutex_unlock(&self->lock);
    if (st != ERYX_OK)
        return state_error(st, &err);
    Py_RETURN_NONE;
}

static PyObject *
core_snapshot_state(PyObject *self_, PyObject *unused)
{
    CoreObject *self = (CoreObject *)self_;
    if (need_session(self) < 0)
        return NULL;
    eryx_error err = {0};
    eryx_snapshot *snap = NULL;
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_session_snapshot_state(self->session, &snap, &err);
    Py_END_ALLOW_THREADS
    pthread_mutex_unlock(&self->lock);
    if (st != ERYX_OK)
        return state_error(st, &err);
    size_t len;
    const uint8_t *data = eryx_snapshot_data(snap, &len);
    PyObject *b =
        PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    eryx_snapshot_free(snap);
    return b;
}

static PyObject *
core_restore_state(PyObject *self_, PyObject *arg)
{
    CoreObject *self = (CoreObject *)self_;
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &p, &n) < 0)
        return NULL;
    if (need_session(self) < 0)
        return NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_INCREF(arg); /* p stays valid while the GIL is released */
    Py_BEGIN_ALLOW_THREADS
    st = eryx_session_restore_state(self->session, (const uint8_t *)p,
                                    (size_t)n, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(arg);
    pthread_mutex_unlock(&self->lock);
    if (st != ERYX_OK)
        return state_error(st, &err);
    Py_RETURN_NONE;
}

static PyObject *
core_execution_count(PyObject *self_, void *closure)
{
    CoreObject *self = (CoreObject *)self_;
    return PyLong_FromUnsignedLongLong(
        self->session ? eryx_session_execution_count(self->session) : 0);
}

static PyMethodDef core_methods[] = {
    {"execute", core_execute, METH_VARARGS,
     "execute(code, journal=None): run code; a tuple of the outcome."},
    {"cancel", core_cancel, METH_NOARGS, "Stop a running execute."},
    {"interrupt", core_interrupt, METH_NOARGS,
     "Raise KeyboardInterrupt in a running execute."},
    {"reset", core_reset, METH_NOARGS, "A new interpreter (sessions)."},
    {"capture", core_capture, METH_NOARGS, "The interpreter as an Image."},
    {"clear_state", core_clear_state, METH_NOARGS, "Clear the globals."},
    {"snapshot_state", core_snapshot_state, METH_NOARGS,
     "The globals as bytes."},
    {"restore_state", core_restore_state, METH_O, "Restore the globals."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"execution_count", core_execution_count, NULL, "executes so far", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot core_slots[] = {
    {Py_tp_new, core_new},
    {Py_tp_init, core_init},
    {Py_tp_dealloc, core_dealloc},
    {Py_tp_methods, core_methods},
    {Py_tp_getset, core_getset},
    {Py_tp_doc, "A sandbox or a session of liberyx (internal)."},
    {0, NULL},
};

static PyType_Spec core_spec = {"eryx._eryx.Core", sizeof(CoreObject), 0,
                                Py_TPFLAGS_DEFAULT, core_slots};

/* --------------------------------------------------------------- Journal */

static PyObject *
journal_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    PyObject *text = Py_None;
    if (!PyArg_ParseTuple(args, "|O:Journal", &text))
        return NULL;
    const char *p = NULL;
    Py_ssize_t n = 0;
    if (text != Py_None && (p = PyUnicode_AsUTF8AndSize(text, &n)) == NULL)
        return NULL;
    eryx_journal *j = NULL;
    eryx_error err = {0};
    eryx_status st = eryx_journal_new(p, (size_t)n, &j, &err);
    if (st == ERYX_E_NOMEM)
        return PyErr_NoMemory();
    if (st != ERYX_OK) {
        PyErr_SetString(PyExc_ValueError, err.message);
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(tp, Py_tp_alloc);
    JournalObject *self = (JournalObject *)alloc(tp, 0);
    if (self == NULL) {
        eryx_journal_free(j);
        return NULL;
    }
    self->journal = j;
    return (PyObject *)self;
}

static void
journal_dealloc(PyObject *self_)
{
    PyTypeObject *tp = Py_TYPE(self_);
    eryx_journal_free(((JournalObject *)self_)->journal);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self_);
    Py_DECREF(tp);
}

static PyObject *
journal_json(PyObject *self_, PyObject *unused)
{
    size_t len;
    const char *t = eryx_journal_json(((JournalObject *)self_)->journal, &len);
    if (t == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(t, (Py_ssize_t)len, "replace");
}

static PyObject *
journal_suspended(PyObject *self_, PyObject *unused)
{
    const char *args = NULL, *reason = NULL;
    const char *name = eryx_journal_suspended(((JournalObject *)self_)->journal,
                                              &args, &reason);
    if (name == NULL)
        Py_RETURN_NONE;
    return Py_BuildValue("(sss)", name, args ? args : "{}",
                         reason ? reason : "");
}

static PyObject *
journal_replayed(PyObject *self_, void *closure)
{
    return PyLong_FromUnsignedLong(
        eryx_journal_replayed(((JournalObject *)self_)->journal));
}

static PyMethodDef journal_methods[] = {
    {"json", journal_json, METH_NOARGS, "The last run's journal as text."},
    {"suspended", journal_suspended, METH_NOARGS,
     "(name, args_json, reason) of the suspension, or None."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef journal_getset[] = {
    {"replayed", journal_replayed, NULL, "calls answered from the journal",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot journal_slots[] = {
    {Py_tp_new, journal_new},
    {Py_tp_dealloc, journal_dealloc},
    {Py_tp_methods, journal_methods},
    {Py_tp_getset, journal_getset},
    {Py_tp_doc, "A callback journal (eryx_journal; internal)."},
    {0, NULL},
};

static PyType_Spec journal_spec = {"eryx._eryx.Journal", sizeof(JournalObject),
                                   0, Py_TPFLAGS_DEFAULT, journal_slots};

/* ----------------------------------------------------------------- Image */

static PyObject *
image_to_bytes(PyObject *self_, PyObject *unused)
{
    ImageObject *self = (ImageObject *)self_;
    uint8_t *data = NULL;
    size_t len = 0;
    eryx_error err = {0};
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_image_serialize(self->image, &data, &len, &err);
    Py_END_ALLOW_THREADS
    if (st != ERYX_OK)
        return st == ERYX_E_NOMEM ? PyErr_NoMemory()
                                  : init_error("cannot serialize", &err);
    PyObject *b =
        PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    eryx_free(data);
    return b;
}

static PyObject *
image_stored_size(PyObject *self_, void *closure)
{
    return PyLong_FromUnsignedLongLong(
        eryx_image_stored_size(((ImageObject *)self_)->image));
}

static PyObject *
image_memory_size(PyObject *self_, void *closure)
{
    return PyLong_FromUnsignedLongLong(
        eryx_image_memory_size(((ImageObject *)self_)->image));
}

static void
image_dealloc(PyObject *self_)
{
    PyTypeObject *tp = Py_TYPE(self_);
    eryx_image_free(((ImageObject *)self_)->image);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self_);
    Py_DECREF(tp);
}

static PyObject *
image_compile(PyObject *self_, PyObject *unused)
{
    eryx_engine *e = get_engine();
    if (e == NULL)
        return NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_image_compile(e, ((ImageObject *)self_)->image, &err);
    Py_END_ALLOW_THREADS
    if (st != ERYX_OK)
        return init_error("cannot compile the image", &err);
    Py_RETURN_NONE;
}

static PyMethodDef image_methods[] = {
    {"to_bytes", image_to_bytes, METH_NOARGS, "The image as bytes."},
    {"compile", image_compile, METH_NOARGS,
     "Compile the image as a module (sessions then map it)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef image_getset[] = {
    {"stored_size", image_stored_size, NULL, "bytes the image holds", NULL},
    {"memory_size", image_memory_size, NULL, "guest memory it describes", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot image_slots[] = {
    {Py_tp_dealloc, image_dealloc},
    {Py_tp_methods, image_methods},
    {Py_tp_getset, image_getset},
    {Py_tp_doc, "A whole interpreter, captured (internal)."},
    {0, NULL},
};

static PyType_Spec image_spec = {"eryx._eryx.Image", sizeof(ImageObject), 0,
                                 Py_TPFLAGS_DEFAULT, image_slots};

static PyObject *
mod_image_from_bytes(PyObject *self, PyObject *arg)
{
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &p, &n) < 0)
        return NULL;
    eryx_engine *e = get_engine();
    if (e == NULL)
        return NULL;
    eryx_image *img = NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_INCREF(arg);
    Py_BEGIN_ALLOW_THREADS
    st = eryx_image_deserialize(e, (const uint8_t *)p, (size_t)n, &img, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(arg);
    if (st == ERYX_E_INVALID_INPUT || st == ERYX_E_INVALID_ARG) {
        PyErr_SetString(PyExc_ValueError, err.message);
        return NULL;
    }
    if (st != ERYX_OK)
        return init_error("cannot load the image", &err);
    return image_wrap(img);
}

/* --------------------------------------------------------------- Storage */

static PyObject *
storage_wrap(eryx_storage *st)
{
    StorageObject *o = PyObject_New(StorageObject, (PyTypeObject *)StorageType);
    if (o == NULL) {
        eryx_storage_free(st);
        return NULL;
    }
    o->storage = st;
    return (PyObject *)o;
}

static PyObject *
storage_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    unsigned long long limit = 0;
    if (!PyArg_ParseTuple(args, "|K:Storage", &limit))
        return NULL;
    eryx_storage *st = NULL;
    eryx_error err = {0};
    if (eryx_storage_new(limit, &st, &err) != ERYX_OK)
        return PyErr_NoMemory();
    return storage_wrap(st);
}

static void
storage_dealloc(PyObject *self_)
{
    PyTypeObject *tp = Py_TYPE(self_);
    eryx_storage_free(((StorageObject *)self_)->storage);
    freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    f(self_);
    Py_DECREF(tp);
}

static PyObject *
storage_snapshot(PyObject *self_, PyObject *unused)
{
    uint8_t *data = NULL;
    size_t len = 0;
    eryx_error err = {0};
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_storage_snapshot(((StorageObject *)self_)->storage, &data, &len,
                               &err);
    Py_END_ALLOW_THREADS
    if (st != ERYX_OK)
        return PyErr_NoMemory();
    PyObject *b =
        PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    eryx_free(data);
    return b;
}

static PyObject *
storage_restore(PyObject *self_, PyObject *arg)
{
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &p, &n) < 0)
        return NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_INCREF(arg);
    Py_BEGIN_ALLOW_THREADS
    st = eryx_storage_restore(((StorageObject *)self_)->storage,
                              (const uint8_t *)p, (size_t)n, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(arg);
    if (st == ERYX_E_NOMEM)
        return PyErr_NoMemory();
    if (st != ERYX_OK) {
        PyErr_SetString(PyExc_ValueError, err.message);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
storage_fork(PyObject *self_, PyObject *unused)
{
    eryx_storage *st = NULL;
    eryx_error err = {0};
    eryx_status s;
    Py_BEGIN_ALLOW_THREADS
    s = eryx_storage_fork(((StorageObject *)self_)->storage, &st, &err);
    Py_END_ALLOW_THREADS
    if (s != ERYX_OK)
        return PyErr_NoMemory();
    return storage_wrap(st);
}

static PyObject *
storage_used(PyObject *self_, void *closure)
{
    return PyLong_FromUnsignedLongLong(
        eryx_storage_used(((StorageObject *)self_)->storage));
}

static PyMethodDef storage_methods[] = {
    {"snapshot", storage_snapshot, METH_NOARGS, "The files as bytes."},
    {"restore", storage_restore, METH_O,
     "Replace the files by snapshot()'s bytes (ValueError when invalid)."},
    {"fork", storage_fork, METH_NOARGS, "An independent copy."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef storage_getset[] = {
    {"used", storage_used, NULL, "bytes charged to the quota", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot storage_slots[] = {
    {Py_tp_new, storage_new},
    {Py_tp_dealloc, storage_dealloc},
    {Py_tp_methods, storage_methods},
    {Py_tp_getset, storage_getset},
    {Py_tp_doc, "An in-memory filesystem storage (internal)."},
    {0, NULL},
};

static PyType_Spec storage_spec = {"eryx._eryx.Storage", sizeof(StorageObject),
                                   0, Py_TPFLAGS_DEFAULT, storage_slots};

/* build_image(limits, result_variable, callbacks, fs, packages, imports,
   setup_code or None, site_packages or None) -> Image (eryx_image_build);
   ValueError for what the packages, imports or setup code did wrong. */
static PyObject *
mod_build_image(PyObject *self, PyObject *args)
{
    PyObject *limits, *rv, *callbacks, *fs, *packages, *imports, *setup, *site;
    if (!PyArg_ParseTuple(args, "OOO!OO!O!OO:build_image", &limits, &rv,
                          &PyList_Type, &callbacks, &fs, &PyList_Type,
                          &packages, &PyList_Type, &imports, &setup, &site))
        return NULL;
    eryx_engine *e = get_engine();
    if (e == NULL)
        return NULL;
    Py_ssize_t np = PyList_Size(packages), ni = PyList_Size(imports);
    const char **pk = PyMem_Calloc((size_t)np + 1, sizeof *pk);
    const char **im = PyMem_Calloc((size_t)ni + 1, sizeof *im);
    eryx_config *cfg = NULL;
    PyObject *ret = NULL;
    if (pk == NULL || im == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < np; i++)
        if ((pk[i] = utf8(PyList_GetItem(packages, i))) == NULL)
            goto done;
    for (Py_ssize_t i = 0; i < ni; i++)
        if ((im[i] = utf8(PyList_GetItem(imports, i))) == NULL)
            goto done;
    eryx_build_options o = {pk, (size_t)np, NULL, im, (size_t)ni, NULL};
    if ((setup != Py_None && (o.setup_code = utf8(setup)) == NULL) ||
        (site != Py_None && (o.site_packages = utf8(site)) == NULL))
        goto done;
    cfg = make_config(limits, rv, callbacks, Py_None, Py_None, fs, Py_None);
    if (cfg == NULL)
        goto done;
    eryx_image *img = NULL;
    eryx_error err = {0};
    eryx_status st;
    Py_BEGIN_ALLOW_THREADS
    st = eryx_image_build(e, cfg, &o, &img, &err);
    Py_END_ALLOW_THREADS
    if (st == ERYX_OK)
        ret = image_wrap(img);
    else if (st == ERYX_E_INVALID_INPUT || st == ERYX_E_INVALID_ARG ||
             st == ERYX_E_IO)
        PyErr_SetString(PyExc_ValueError, err.message);
    else
        init_error("pre-initialization failed", &err);
done:
    eryx_config_free(cfg);
    PyMem_Free(pk);
    PyMem_Free(im);
    return ret;
}

/* ---------------------------------------------------------------- module */

static PyMethodDef mod_methods[] = {
    {"configure", mod_configure, METH_VARARGS,
     "configure(runtime, stdlib, cache=None): where the guest's files are."},
    {"build_image", mod_build_image, METH_VARARGS,
     "An Image with packages installed, imports done and setup code run."},
    {"image_from_bytes", mod_image_from_bytes, METH_O,
     "An Image from Image.to_bytes()'s bytes (ValueError when invalid)."},
    {"precompile", mod_precompile, METH_VARARGS,
     "precompile(out_path or None, fuel): compile the guest to a file."},
    {"engine_info", mod_engine_info, METH_NOARGS,
     "The engine's description (starts it)."},
    {"finalizing", mod_finalizing, METH_NOARGS,
     "From atexit: no handler enters Python from now on."},
    {NULL, NULL, 0, NULL},
};

/* Make the type of `spec`, add it to `m` as `name` and keep a reference
   in *out. */
static int
add_type(PyObject *m, PyType_Spec *spec, const char *name, PyObject **out)
{
    PyObject *t = PyType_FromSpec(spec);
    if (t == NULL)
        return -1;
    Py_INCREF(t);
    if (PyModule_AddObject(m, name, t) < 0) {
        Py_DECREF(t);
        Py_DECREF(t);
        return -1;
    }
    *out = t;
    return 0;
}

static int
mod_exec(PyObject *m)
{
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *mt =
        threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = mt ? PyObject_GetAttrString(mt, "ident") : NULL;
    Py_XDECREF(threading);
    Py_XDECREF(mt);
    if (ident == NULL)
        return -1;
    main_ident = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    if (PyErr_Occurred())
        return -1;
    static int registered;
    if (!registered && pthread_atfork(NULL, NULL, sigint_after_fork) == 0)
        registered = 1;
    PyObject *core = NULL;
    if (add_type(m, &core_spec, "Core", &core) < 0 ||
        add_type(m, &journal_spec, "Journal", &JournalType) < 0 ||
        add_type(m, &image_spec, "Image", &ImageType) < 0 ||
        add_type(m, &storage_spec, "Storage", &StorageType) < 0 ||
        add_type(m, &call_spec, "Call", &CallType) < 0)
        return -1;
    Py_DECREF(core); /* the module holds it */
#define ADD_INT(name)                                \
    if (PyModule_AddIntConstant(m, #name, name) < 0) \
        return -1;
    ADD_INT(ERYX_OK)
    ADD_INT(ERYX_E_NOMEM)
    ADD_INT(ERYX_E_INVALID_ARG)
    ADD_INT(ERYX_E_IO)
    ADD_INT(ERYX_E_ENGINE)
    ADD_INT(ERYX_E_ABI)
    ADD_INT(ERYX_E_INVALID_INPUT)
    ADD_INT(ERYX_E_BUSY)
    ADD_INT(ERYX_E_PYTHON)
    ADD_INT(ERYX_E_TIMEOUT)
    ADD_INT(ERYX_E_FUEL)
    ADD_INT(ERYX_E_MEMORY_LIMIT)
    ADD_INT(ERYX_E_OUTPUT_LIMIT)
    ADD_INT(ERYX_E_TRAP)
    ADD_INT(ERYX_E_CANCELLED)
    ADD_INT(ERYX_E_SUSPENDED)
    ADD_INT(ERYX_E_INCOMPLETE)
#undef ADD_INT
    if (PyModule_AddStringConstant(m, "LIB_VERSION", eryx_version()) < 0 ||
        PyModule_AddStringConstant(m, "PYTHON_VERSION", eryx_python_version()) <
            0)
        return -1;
    return 0;
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT,
    "eryx._eryx",
    "liberyx for Python (internal; use the eryx package).",
    0,
    mod_methods,
    mod_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__eryx(void)
{
    return PyModuleDef_Init(&moddef);
}
