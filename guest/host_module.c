/*
** host_module.c: the host's imports (guest/runtime.wit's, lowered as
** abi/eryx_abi.h declares them), and the built-in module _eryx_host that
** offers them to Python: runtime.py's streams, event loop, callback proxies
** and tracing call these.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

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
IMPORT(ERYX_ABI_IMPORT_WORKDIR)
uint32_t eryx_workdir(char *buf, size_t len);
IMPORT(ERYX_ABI_IMPORT_ENVIRONMENT)
uint32_t eryx_environment(char *buf, size_t len);
IMPORT(ERYX_ABI_IMPORT_NET_CONNECT)
int32_t eryx_net_connect(const char *host, size_t len, uint32_t port);
IMPORT(ERYX_ABI_IMPORT_NET_STATE)
int32_t eryx_net_state(uint32_t handle);
IMPORT(ERYX_ABI_IMPORT_NET_SEND)
int32_t eryx_net_send(uint32_t handle, const void *p, size_t len);
IMPORT(ERYX_ABI_IMPORT_NET_RECV)
int32_t eryx_net_recv(uint32_t handle, void *p, size_t len);
IMPORT(ERYX_ABI_IMPORT_NET_TLS)
int32_t eryx_net_tls(uint32_t handle,
                     const char *name,
                     size_t name_len,
                     const void *alpn,
                     size_t alpn_len);
IMPORT(ERYX_ABI_IMPORT_NET_SHUTDOWN)
int32_t eryx_net_shutdown(uint32_t handle, uint32_t how);
IMPORT(ERYX_ABI_IMPORT_NET_CLOSE)
void eryx_net_close(uint32_t handle);
IMPORT(ERYX_ABI_IMPORT_NET_POLL)
int32_t eryx_net_poll(eryx_abi_net_poll *items,
                      size_t n,
                      int64_t timeout_ns,
                      uint32_t flags);
IMPORT(ERYX_ABI_IMPORT_NET_ERROR)
uint32_t eryx_net_error(uint32_t handle, char *buf, size_t len);
IMPORT(ERYX_ABI_IMPORT_NET_INFO)
int32_t eryx_net_info(uint32_t handle, char *buf, size_t len);
IMPORT(ERYX_ABI_IMPORT_REPORT_TRACE)
void eryx_report_trace(uint32_t lineno, const char *json, size_t len);
IMPORT(ERYX_ABI_IMPORT_REPORT_OUTPUT)
void eryx_report_output(uint32_t stream, const void *data, size_t len);

/* ------------------------------------------------------- module _eryx_host */

/* The rehearsal's stand-in host (runtime.h): calls it "started" and not
   yet handed back by a wait.  Zero at run time: the export that sets
   rt_rehearsal runs at build time only. */
int rt_rehearsal;
static uint32_t rehearsal_started, rehearsal_done;

static PyObject *
rehearsal_wait(PyObject *timeout)
{
    PyObject *list = PyList_New(0);
    if (list == NULL ||
        (rt_rehearsal == 2 && timeout != Py_None && PyFloat_Check(timeout) &&
         PyFloat_AS_DOUBLE(timeout) > 0))
        return list;
    while (rehearsal_done < rehearsal_started) {
        PyObject *item = Py_BuildValue("(kks)", (unsigned long)++rehearsal_done,
                                       (unsigned long)ERYX_ABI_CALL_OK, "null");
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

/* rehearse(mode): switch the rehearsal's mode; an error at run time. */
static PyObject *
host_rehearse(PyObject *self, PyObject *arg)
{
    long mode = PyLong_AsLong(arg);
    if (mode == -1 && PyErr_Occurred())
        return NULL;
    if (rt_rehearsal == 0 || (mode != 1 && mode != 2)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "rehearse: only during pre-initialization");
        return NULL;
    }
    rt_rehearsal = (int)mode;
    Py_RETURN_NONE;
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
    if (rt_rehearsal)
        return PyLong_FromUnsignedLong(++rehearsal_started);
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
    if (rt_rehearsal)
        return rehearsal_wait(arg);
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
    if (rt_rehearsal)
        return PyUnicode_FromString("[{\"name\": \"rehearsal\", "
                                    "\"description\": \"\", "
                                    "\"parameters_schema\": null}]");
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

void
rt_enter_workdir(void)
{
    char want[4097], cur[4097];
    uint32_t len = eryx_workdir(want, sizeof want - 1);
    if (len >= sizeof want)
        return; /* longer than any path the host resolves */
    want[len] = '\0';
    if (getcwd(cur, sizeof cur) == NULL || strcmp(cur, want) != 0)
        (void)chdir(want);
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

/* output(stream, data): `data` goes to the host as it is.  A str is
   encoded as sys.stdout encodes it, UTF-8 with lone surrogates back to the
   bytes they escape; anything else must be bytes-like. */
static PyObject *
host_output(PyObject *self, PyObject *args)
{
    unsigned int stream;
    PyObject *data, *copy = NULL;
    if (!PyArg_ParseTuple(args, "IO:output", &stream, &data))
        return NULL;
    if (PyUnicode_Check(data)) {
        copy = PyUnicode_AsEncodedString(data, "utf-8", "surrogateescape");
        if (copy == NULL)
            return NULL;
        data = copy;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        if (copy != NULL || !PyObject_CheckBuffer(data))
            goto fail; /* not bytes-like */
        /* A buffer that is not contiguous: write a contiguous copy. */
        PyErr_Clear();
        copy = PyBytes_FromObject(data);
        if (copy == NULL || PyObject_GetBuffer(copy, &view, PyBUF_SIMPLE) < 0)
            goto fail;
    }
    if (!rt_rehearsal)
        eryx_report_output(stream, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    Py_XDECREF(copy);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(copy);
    return NULL;
}

/* ------------------------------------------------------------ network */

/* A Python str from an import that copies at most `len` bytes and returns
   the full length (fetched twice when the first buffer is short). */
static PyObject *
fetch_text(int32_t (*get)(uint32_t, char *, size_t), uint32_t arg)
{
    char small[512];
    int32_t n = get(arg, small, sizeof small);
    if (n < 0) {
        errno = -n;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if ((size_t)n <= sizeof small)
        return PyUnicode_DecodeUTF8(small, n, "replace");
    char *buf = malloc((size_t)n);
    if (buf == NULL)
        return PyErr_NoMemory();
    int32_t m = get(arg, buf, (size_t)n);
    PyObject *text =
        PyUnicode_DecodeUTF8(buf, m < n ? (m < 0 ? 0 : m) : n, "replace");
    free(buf);
    return text;
}

static int32_t
error_text(uint32_t handle, char *buf, size_t len)
{
    return (int32_t)eryx_net_error(handle, buf, len);
}

/* Raise OSError(code, the host's message) for failure -code of `handle`
   (0: a refused connect); OSError picks the subclass (BlockingIOError,
   ConnectionRefusedError, ...) from the errno. */
static PyObject *
net_fail(int32_t code, uint32_t handle)
{
    int e = -code;
    PyObject *msg = e == EAGAIN
                        ? PyUnicode_FromString("the operation would block")
                        : fetch_text(error_text, handle);
    if (msg == NULL)
        return NULL;
    if (PyUnicode_GET_LENGTH(msg) == 0) {
        Py_DECREF(msg);
        msg = PyUnicode_FromString(e < 1000 ? strerror(e) : "TLS error");
        if (msg == NULL)
            return NULL;
    }
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "iO", e, msg);
    Py_DECREF(msg);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *
host_net_connect(PyObject *self, PyObject *args)
{
    PyObject *host;
    unsigned int port;
    if (!PyArg_ParseTuple(args, "UI:net_connect", &host, &port))
        return NULL;
    Py_ssize_t len;
    const char *h = PyUnicode_AsUTF8AndSize(host, &len);
    if (h == NULL)
        return NULL;
    if (memchr(h, '\0', (size_t)len) != NULL) {
        PyErr_SetString(PyExc_ValueError, "host name contains a NUL byte");
        return NULL;
    }
    int32_t r = eryx_net_connect(h, (size_t)len, port);
    return r < 0 ? net_fail(r, 0) : PyLong_FromLong(r);
}

static PyObject *
host_net_state(PyObject *self, PyObject *args)
{
    unsigned int h;
    if (!PyArg_ParseTuple(args, "I:net_state", &h))
        return NULL;
    int32_t r = eryx_net_state(h);
    return r < 0 ? net_fail(r, h) : PyLong_FromLong(r);
}

static PyObject *
host_net_send(PyObject *self, PyObject *args)
{
    unsigned int h;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "Iy*:net_send", &h, &b))
        return NULL;
    int32_t r = eryx_net_send(h, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    return r < 0 ? net_fail(r, h) : PyLong_FromLong(r);
}

static PyObject *
host_net_recv_into(PyObject *self, PyObject *args)
{
    unsigned int h;
    Py_buffer b;
    Py_ssize_t n = -1;
    if (!PyArg_ParseTuple(args, "Iw*|n:net_recv_into", &h, &b, &n))
        return NULL;
    if (n < 0 || n > b.len)
        n = b.len;
    int32_t r = eryx_net_recv(h, b.buf, (size_t)n);
    PyBuffer_Release(&b);
    return r < 0 ? net_fail(r, h) : PyLong_FromLong(r);
}

static PyObject *
host_net_tls(PyObject *self, PyObject *args)
{
    unsigned int h;
    PyObject *name, *alpn = Py_None;
    if (!PyArg_ParseTuple(args, "IU|O:net_tls", &h, &name, &alpn))
        return NULL;
    Py_ssize_t len;
    const char *n = PyUnicode_AsUTF8AndSize(name, &len);
    if (n == NULL)
        return NULL;
    if (memchr(n, '\0', (size_t)len) != NULL) {
        PyErr_SetString(PyExc_ValueError, "server name contains a NUL byte");
        return NULL;
    }
    unsigned char wire[512];
    size_t w = 0;
    if (alpn != Py_None) {
        PyObject *seq = PySequence_Fast(alpn, "alpn must be a list of str");
        if (seq == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
            Py_ssize_t l;
            const char *p = PyUnicode_Check(item)
                                ? PyUnicode_AsUTF8AndSize(item, &l)
                                : NULL;
            if (p == NULL || l == 0 || l > 255 ||
                w + 1 + (size_t)l > sizeof wire) {
                Py_DECREF(seq);
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "bad ALPN protocol list");
                return NULL;
            }
            wire[w++] = (unsigned char)l;
            memcpy(wire + w, p, (size_t)l);
            w += (size_t)l;
        }
        Py_DECREF(seq);
    }
    int32_t r = eryx_net_tls(h, n, (size_t)len, wire, w);
    if (r < 0)
        return net_fail(r, h);
    Py_RETURN_NONE;
}

static PyObject *
host_net_shutdown(PyObject *self, PyObject *args)
{
    unsigned int h, how;
    if (!PyArg_ParseTuple(args, "II:net_shutdown", &h, &how))
        return NULL;
    int32_t r = eryx_net_shutdown(h, how);
    if (r < 0)
        return net_fail(r, h);
    Py_RETURN_NONE;
}

static PyObject *
host_net_close(PyObject *self, PyObject *args)
{
    unsigned int h;
    if (!PyArg_ParseTuple(args, "I:net_close", &h))
        return NULL;
    eryx_net_close(h);
    Py_RETURN_NONE;
}

/* net_poll(items, timeout, calls=False): [(handle, revents)] ready. */
static PyObject *
host_net_poll(PyObject *self, PyObject *args)
{
    PyObject *items, *timeout = Py_None;
    int calls = 0;
    if (!PyArg_ParseTuple(args, "O|Op:net_poll", &items, &timeout, &calls))
        return NULL;
    int64_t ns = -1;
    if (timeout != Py_None) {
        double s = PyFloat_AsDouble(timeout);
        if (s == -1.0 && PyErr_Occurred())
            return NULL;
        ns = s <= 0 ? 0 : s >= 9e9 ? (int64_t)9e18 : (int64_t)(s * 1e9);
    }
    PyObject *seq = PySequence_Fast(items, "items must be a list");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > (Py_ssize_t)ERYX_ABI_NET_POLL_MAX) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many sockets to wait on");
        return NULL;
    }
    eryx_abi_net_poll *e = PyMem_Malloc(sizeof *e * (size_t)(n ? n : 1));
    if (e == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned int h, ev;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "II", &h,
                              &ev)) {
            PyMem_Free(e);
            Py_DECREF(seq);
            return NULL;
        }
        e[i] = (eryx_abi_net_poll){h, ev, 0};
    }
    Py_DECREF(seq);
    int32_t r =
        eryx_net_poll(e, (size_t)n, ns, calls ? ERYX_ABI_NET_POLL_CALLS : 0);
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && r > 0 && i < n; i++) {
        if (e[i].revents == 0)
            continue;
        PyObject *t = Py_BuildValue("(kk)", (unsigned long)e[i].handle,
                                    (unsigned long)e[i].revents);
        if (t == NULL || PyList_Append(out, t) < 0)
            Py_CLEAR(out);
        Py_XDECREF(t);
    }
    PyMem_Free(e);
    if (r < 0 && out != NULL) {
        Py_CLEAR(out);
        errno = -r;
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return out;
}

static PyObject *
host_net_info(PyObject *self, PyObject *args)
{
    unsigned int h;
    if (!PyArg_ParseTuple(args, "I:net_info", &h))
        return NULL;
    return fetch_text(eryx_net_info, h);
}

static int32_t
env_text(uint32_t unused, char *buf, size_t len)
{
    return (int32_t)eryx_environment(buf, len);
}

static PyObject *
host_environment(PyObject *self, PyObject *unused)
{
    if (rt_rehearsal)
        return PyUnicode_FromString("");
    return fetch_text(env_text, 0);
}

static PyMethodDef host_methods[] = {
    {"start", host_start, METH_VARARGS, "Start a callback call."},
    {"wait", host_wait, METH_O, "Wait for callback calls to finish."},
    {"callbacks", host_callbacks, METH_NOARGS, "The callbacks, as JSON."},
    {"trace", host_trace, METH_VARARGS, "Report a trace event."},
    {"output", host_output, METH_VARARGS,
     "Write bytes (or str, as UTF-8) to stdout (1) or stderr (2)."},
    {"environment", host_environment, METH_NOARGS,
     "The host's environment variables, as NAME=VALUE lines."},
    {"rehearse", host_rehearse, METH_O,
     "Pre-initialization only: the stand-in host's mode."},
    {"net_connect", host_net_connect, METH_VARARGS, "Start a connection."},
    {"net_state", host_net_state, METH_VARARGS, "0 connecting, 1 ready."},
    {"net_send", host_net_send, METH_VARARGS, "Send bytes."},
    {"net_recv_into", host_net_recv_into, METH_VARARGS, "Receive bytes."},
    {"net_tls", host_net_tls, METH_VARARGS, "Start TLS."},
    {"net_shutdown", host_net_shutdown, METH_VARARGS, "Shut down."},
    {"net_close", host_net_close, METH_VARARGS, "Close."},
    {"net_poll", host_net_poll, METH_VARARGS, "Wait for sockets."},
    {"net_info", host_net_info, METH_VARARGS, "Connection details (JSON)."},
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

PyObject *
rt_host_module_init(void)
{
    PyObject *m = PyModule_Create(&host_module);
    if (m != NULL && PyModule_AddIntConstant(m, "NET_FD_BASE", 0x40000000) < 0)
        Py_CLEAR(m);
    return m;
}
