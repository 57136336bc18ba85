/*
** host_module.c: the host's imports (guest/runtime.wit's, lowered as
** abi/eryx_abi.h declares them), and the built-in module _eryx_host that
** offers them to Python: runtime.py's streams, event loop, callback proxies
** and tracing call these.
*/
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
IMPORT(ERYX_ABI_IMPORT_REPORT_TRACE)
void eryx_report_trace(uint32_t lineno, const char *json, size_t len);
IMPORT(ERYX_ABI_IMPORT_REPORT_OUTPUT)
void eryx_report_output(uint32_t stream, const void *data, size_t len);

/* ------------------------------------------------------- module _eryx_host */

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
    eryx_report_output(stream, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    Py_XDECREF(copy);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(copy);
    return NULL;
}

static PyMethodDef host_methods[] = {
    {"start", host_start, METH_VARARGS, "Start a callback call."},
    {"wait", host_wait, METH_O, "Wait for callback calls to finish."},
    {"callbacks", host_callbacks, METH_NOARGS, "The callbacks, as JSON."},
    {"trace", host_trace, METH_VARARGS, "Report a trace event."},
    {"output", host_output, METH_VARARGS,
     "Write bytes (or str, as UTF-8) to stdout (1) or stderr (2)."},
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
    return PyModule_Create(&host_module);
}
