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
#define ERYX_ABI_VERSION 1

/* ---- export names (world sandbox) ---- */
#define ERYX_ABI_EXPORT_MEMORY          "memory"
#define ERYX_ABI_EXPORT_REALLOC         "cabi_realloc"
#define ERYX_ABI_EXPORT_VERSION         "eryx_abi_version"
#define ERYX_ABI_EXPORT_INITIALIZE      "initialize"
#define ERYX_ABI_EXPORT_POST_INITIALIZE "cabi_post_initialize"
#define ERYX_ABI_EXPORT_EXECUTE         "execute"
#define ERYX_ABI_EXPORT_POST_EXECUTE    "cabi_post_execute"

/** Discriminants of result<T, E> and option<T>. */
#define ERYX_ABI_OK   0
#define ERYX_ABI_ERR  1
#define ERYX_ABI_NONE 0
#define ERYX_ABI_SOME 1

/** A string in guest memory: offset and length in bytes (UTF-8). */
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
    eryx_abi_string stdout_text;
    eryx_abi_string stderr_text;
    eryx_abi_option_string result_json;
    eryx_abi_option_string result_error;
} eryx_abi_execute_output;

/** record execute-error */
typedef struct eryx_abi_execute_error {
    eryx_abi_string message;
    eryx_abi_string stdout_text;
    eryx_abi_string stderr_text;
} eryx_abi_execute_error;

/**
 * The return area of `execute`: result<execute-output, execute-error>.
 * `execute(code_ptr, code_len, var_ptr, var_len) -> i32` returns its offset;
 * the host reads it, then calls `cabi_post_execute(offset)`.
 */
typedef struct eryx_abi_execute_ret {
    uint8_t tag; /* ERYX_ABI_OK or ERYX_ABI_ERR */
    uint8_t pad_[3];
    union {
        eryx_abi_execute_output ok;
        eryx_abi_execute_error err;
    } u;
} eryx_abi_execute_ret;

/** The return area of `initialize`: result<_, string>. */
typedef struct eryx_abi_unit_ret {
    uint8_t tag;
    uint8_t pad_[3];
    eryx_abi_string err;
} eryx_abi_unit_ret;

/* The canonical ABI fixes these offsets; the host reads fields by them. */
_Static_assert(sizeof(eryx_abi_string) == 8, "string is (ptr, len)");
_Static_assert(sizeof(eryx_abi_option_string) == 12, "option<string>");
_Static_assert(sizeof(eryx_abi_execute_output) == 40, "execute-output");
_Static_assert(sizeof(eryx_abi_execute_error) == 24, "execute-error");
_Static_assert(sizeof(eryx_abi_execute_ret) == 44, "result return area");
_Static_assert(sizeof(eryx_abi_unit_ret) == 12, "result<_, string>");

#define ERYX_ABI_EXECUTE_RET_SIZE 44u
#define ERYX_ABI_UNIT_RET_SIZE    12u

#endif /* ERYX_ABI_H */
