/*
** eryx_abi.h: the host<->guest contract of runtime.wasm, as C.
** guest/runtime.wit is the source of truth; this header is its canonical-ABI
** lowering onto a core wasm module (docs/abi.md explains each entry).  Host
** and guest both include it.  Prefix: eryx_abi_, ERYX_ABI_.
*/
#ifndef ERYX_ABI_H
#define ERYX_ABI_H

#include <stdint.h>

/** Bumped on any change below; the host refuses a guest of another version. */
#define ERYX_ABI_VERSION 6

/* ---- export names (world sandbox) ---- */
#define ERYX_ABI_EXPORT_MEMORY          "memory"
#define ERYX_ABI_EXPORT_REALLOC         "cabi_realloc"
#define ERYX_ABI_EXPORT_VERSION         "eryx_abi_version"
#define ERYX_ABI_EXPORT_INITIALIZE      "initialize"
#define ERYX_ABI_EXPORT_POST_INITIALIZE "cabi_post_initialize"
#define ERYX_ABI_EXPORT_EXECUTE         "execute"
#define ERYX_ABI_EXPORT_POST_EXECUTE    "cabi_post_execute"
#define ERYX_ABI_EXPORT_SNAPSHOT        "snapshot-state"
#define ERYX_ABI_EXPORT_POST_SNAPSHOT   "cabi_post_snapshot-state"
#define ERYX_ABI_EXPORT_RESTORE         "restore-state"
#define ERYX_ABI_EXPORT_POST_RESTORE    "cabi_post_restore-state"
#define ERYX_ABI_EXPORT_CLEAR           "clear-state"
#define ERYX_ABI_EXPORT_INTERRUPT       "eryx_interrupt_target"
/* The C stack pointer (wasm-ld's __stack_pointer), exported so that the
   host can capture and restore a whole interpreter (host/image.c). */
#define ERYX_ABI_EXPORT_STACK_POINTER "__stack_pointer"

/* ---- imports: module "eryx" (the WIT's imports, lowered; docs/abi.md) ---- */
#define ERYX_ABI_IMPORT_MODULE         "eryx"
#define ERYX_ABI_IMPORT_INVOKE_START   "invoke-start"
#define ERYX_ABI_IMPORT_INVOKE_WAIT    "invoke-wait"
#define ERYX_ABI_IMPORT_INVOKE_READ    "invoke-read"
#define ERYX_ABI_IMPORT_LIST_CALLBACKS "list-callbacks"
#define ERYX_ABI_IMPORT_REPORT_TRACE   "report-trace"
#define ERYX_ABI_IMPORT_REPORT_OUTPUT  "report-output"
#define ERYX_ABI_IMPORT_WORKDIR        "workdir"
#define ERYX_ABI_IMPORT_ENVIRONMENT    "environment"
#define ERYX_ABI_IMPORT_NET_CONNECT    "net-connect"
#define ERYX_ABI_IMPORT_NET_STATE      "net-state"
#define ERYX_ABI_IMPORT_NET_SEND       "net-send"
#define ERYX_ABI_IMPORT_NET_RECV       "net-recv"
#define ERYX_ABI_IMPORT_NET_TLS        "net-tls"
#define ERYX_ABI_IMPORT_NET_SHUTDOWN   "net-shutdown"
#define ERYX_ABI_IMPORT_NET_CLOSE      "net-close"
#define ERYX_ABI_IMPORT_NET_POLL       "net-poll"
#define ERYX_ABI_IMPORT_NET_ERROR      "net-error"
#define ERYX_ABI_IMPORT_NET_INFO       "net-info"

/** invoke-wait's return values. */
#define ERYX_ABI_WAIT_DONE    1    /* a call finished; see the out record */
#define ERYX_ABI_WAIT_TIMEOUT 0    /* the timeout passed first */
#define ERYX_ABI_WAIT_IDLE    (-1) /* no call is running and no timeout given */
#define ERYX_ABI_WAIT_STOP    (-2) /* the host stopped the execution */

/** eryx_abi_call_done.ok: how a call ended. */
#define ERYX_ABI_CALL_ERROR   0 /* the payload is an error message */
#define ERYX_ABI_CALL_OK      1 /* the payload is the JSON result */
#define ERYX_ABI_CALL_TIMEOUT 2 /* the callback timeout passed; a message */

/** The network imports' failures: a negative WASI errno, or one of these
    (negated) for TLS. */
#define ERYX_ABI_NET_TLS        1000 /* the TLS layer failed */
#define ERYX_ABI_NET_TLS_VERIFY 1001 /* the peer's certificate was refused */

/** net-poll's event bits (events asked, revents answered). */
#define ERYX_ABI_NET_READ     1u /* data, end of stream or an error to read */
#define ERYX_ABI_NET_WRITE    2u /* connected, with room for more bytes */
#define ERYX_ABI_NET_ERROR    4u /* revents: the next operation fails */
#define ERYX_ABI_NET_TIMEDOUT 8u /* revents: the I/O timeout passed */
/** net-poll's flags. */
#define ERYX_ABI_NET_POLL_CALLS 1u /* also return when a callback finished */
/** The longest net-poll list. */
#define ERYX_ABI_NET_POLL_MAX 1024u

/** One entry of net-poll's list: the guest fills handle and events, the
    host writes revents. */
typedef struct eryx_abi_net_poll {
    uint32_t handle;
    uint32_t events;
    uint32_t revents;
} eryx_abi_net_poll;

/** execute's flags. */
#define ERYX_ABI_EXEC_TRACE       1u /* report trace events */
#define ERYX_ABI_EXEC_INTERACTIVE 2u /* a REPL statement (compile "single") */

/** Discriminants of result<T, E> and option<T>. */
#define ERYX_ABI_OK   0
#define ERYX_ABI_ERR  1
#define ERYX_ABI_NONE 0
#define ERYX_ABI_SOME 1
/** execute's third outcome: the code ended in an uncaught MemoryError (the
    guest ran out of memory); the payload is the traceback, as for ERR. */
#define ERYX_ABI_ERR_MEMORY 2
/** An interactive execute's fourth: the statement is unfinished (a block
    not yet ended); nothing ran.  The payload is a message. */
#define ERYX_ABI_ERR_INCOMPLETE 3

/** A string or list<u8> in guest memory: offset and length in bytes. */
typedef struct eryx_abi_string {
    uint32_t ptr;
    uint32_t len;
} eryx_abi_string;

/** option<string> */
typedef struct eryx_abi_option_string {
    uint8_t is_some;
    uint8_t pad_[3];
    eryx_abi_string value;
} eryx_abi_option_string;

/** record execute-output */
typedef struct eryx_abi_execute_output {
    eryx_abi_option_string result_json;
    eryx_abi_option_string result_error;
} eryx_abi_execute_output;

/**
 * The return area of `execute`: result<execute-output, string>.
 * `execute(code_ptr, code_len, var_ptr, var_len, flags) -> i32` returns its
 * offset; the host reads it, then calls `cabi_post_execute(offset)`.
 */
typedef struct eryx_abi_execute_ret {
    uint8_t tag; /* ERYX_ABI_OK or ERYX_ABI_ERR */
    uint8_t pad_[3];
    union {
        eryx_abi_execute_output ok;
        eryx_abi_string err;
    } u;
} eryx_abi_execute_ret;

/** The return area of `snapshot-state`: result<state-snapshot, string>. */
typedef struct eryx_abi_snapshot_ret {
    uint8_t tag;
    uint8_t pad_[3];
    union {
        struct {
            eryx_abi_string data;    /* list<u8> */
            eryx_abi_string skipped; /* JSON list of names */
        } ok;
        eryx_abi_string err;
    } u;
} eryx_abi_snapshot_ret;

/** What eryx_interrupt_target returns a pointer to: to raise
    KeyboardInterrupt in the running code, the host stores `value` at
    `slot` and ORs `mask` into the 32-bit word at `breaker` (all 0: the
    guest cannot be interrupted). */
typedef struct eryx_abi_interrupt_target {
    uint32_t breaker;
    uint32_t mask;
    uint32_t slot;
    uint32_t value;
} eryx_abi_interrupt_target;
#define ERYX_ABI_INTERRUPT_TARGET_SIZE 16

/** The return area of result<_, string> (initialize, restore-state). */
typedef struct eryx_abi_unit_ret {
    uint8_t tag;
    uint8_t pad_[3];
    eryx_abi_string err;
} eryx_abi_unit_ret;

/** What invoke-wait writes at its out pointer for a finished call. */
typedef struct eryx_abi_call_done {
    uint32_t handle;
    uint32_t ok;  /* ERYX_ABI_CALL_*: what the payload is */
    uint32_t len; /* payload bytes, read with invoke-read */
} eryx_abi_call_done;

/* The canonical ABI fixes these offsets; the host reads fields by them. */
_Static_assert(sizeof(eryx_abi_string) == 8, "string is (ptr, len)");
_Static_assert(sizeof(eryx_abi_option_string) == 12, "option<string>");
_Static_assert(sizeof(eryx_abi_execute_output) == 24, "execute-output");
_Static_assert(sizeof(eryx_abi_execute_ret) == 28, "execute return area");
_Static_assert(sizeof(eryx_abi_snapshot_ret) == 20, "snapshot return area");
_Static_assert(sizeof(eryx_abi_unit_ret) == 12, "result<_, string>");
_Static_assert(sizeof(eryx_abi_call_done) == 12, "call-done record");
_Static_assert(sizeof(eryx_abi_net_poll) == 12, "net-poll entry");

#define ERYX_ABI_EXECUTE_RET_SIZE  28u
#define ERYX_ABI_SNAPSHOT_RET_SIZE 20u
#define ERYX_ABI_UNIT_RET_SIZE     12u
#define ERYX_ABI_CALL_DONE_SIZE    12u
#define ERYX_ABI_NET_POLL_SIZE     12u

#endif /* ERYX_ABI_H */
