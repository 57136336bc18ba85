/*
** eryx.h: the whole public C API of liberyx, a sandbox for untrusted Python.
**
** Anything not declared here is not API.  The library keeps no global state:
** everything hangs off an eryx_engine.
**
** Conventions, once for every function:
**   - Fallible calls return eryx_status and take a trailing `eryx_error *err`
**     that may be NULL; on failure it receives the status and a message.
**     Nothing is allocated on the error path.
**   - Inputs are borrowed for the call and copied if kept.  Ownership never
**     depends on whether the call succeeded.
**   - Every _new has a _free; _free(NULL) does nothing.
**
** Threads.  These objects may be used from several threads at once: an
** eryx_engine (everything that takes one, even as non-const: sandboxes,
** sessions and pools of one engine run in parallel) and an eryx_pool
** (acquire, release and stats from any thread).  eryx_sandbox_cancel,
** eryx_session_cancel and eryx_session_interrupt may be called from any
** thread.  Every other object
** (config, sandbox, session, result, snapshot, image) is used by one thread
** at a time; a const one (a finished result, a snapshot, an image) may be
** read by several at once.  Handlers run on the threads each one's
** documentation names.
**
** Stacks.  The guest runs on stacks of the engine's own (8 MiB for the
** guest, as CPython expects, plus 2 MiB for the host), switched to on the
** calling thread: any thread may call, whatever its stack size.  An engine
** runs at most 128 calls into guests at once per variant (plain, fuel);
** past that an execute fails with ERYX_E_TRAP.
*/
#ifndef ERYX_H
#define ERYX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ERYX_API marks what the shared library exports; everything else in it is
   hidden.  The library's own build defines ERYX_BUILDING; define
   ERYX_STATIC when linking liberyx.a on a platform that needs to know. */
#if defined(_WIN32) && !defined(ERYX_STATIC)
#ifdef ERYX_BUILDING
#define ERYX_API __declspec(dllexport)
#else
#define ERYX_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define ERYX_API __attribute__((visibility("default")))
#else
#define ERYX_API
#endif

/* Versions.  The API is unstable while MAJOR is 0; from 1.0 on, a MINOR bump
   only adds, and a PATCH bump changes no declaration. */
#define ERYX_VERSION_MAJOR  0
#define ERYX_VERSION_MINOR  1
#define ERYX_VERSION_PATCH  0
#define ERYX_VERSION_STRING "0.1.0"
#define ERYX_VERSION_NUMBER                                     \
    (ERYX_VERSION_MAJOR * 1000000 + ERYX_VERSION_MINOR * 1000 + \
     ERYX_VERSION_PATCH)

/** \brief The library's ERYX_VERSION_NUMBER, to check against the header. */
ERYX_API int eryx_version_number(void);
/** \brief The library's version, e.g. "0.1.0" (static string). */
ERYX_API const char *eryx_version(void);
/** \brief The guest's CPython version, e.g. "3.13.15" (static string). */
ERYX_API const char *eryx_python_version(void);

/*
** Status codes.  Append-only, never renumbered.  Codes below 32 mean the
** library could not carry the call out; codes from 32 on mean the sandbox
** ran and the code did not finish normally.  When each is produced:
**
**   ERYX_OK              the call did what it says.
**   ERYX_E_NOMEM         the host ran out of memory (in any call; during an
**                        execute, also when it lost output or a callback's
**                        answer for want of memory).
**   ERYX_E_INVALID_ARG   the caller broke a function's contract: a NULL
**                        that may not be NULL, a value out of its range,
**                        an image of another engine.
**   ERYX_E_IO            a file could not be found, read or written: the
**                        guest, its stdlib, a precompiled file.
**   ERYX_E_ENGINE        Wasmtime could not compile, link or instantiate
**                        the guest (e.g. more instances than
**                        max_instances), or the guest failed to start.
**   ERYX_E_ABI           the guest broke the host-guest contract (a bad
**                        pointer, an unknown stream); it is stopped.
**   ERYX_E_INVALID_INPUT data the caller passed is not acceptable: code
**                        with a NUL byte or invalid UTF-8; a corrupt,
**                        foreign or oversized snapshot.
**   ERYX_E_BUSY          eryx_pool_acquire: no session came free within
**                        acquire_timeout_ms.
**   ERYX_E_PYTHON        the code raised an exception it did not catch
**                        (SystemExit included); the message is the
**                        traceback.
**   ERYX_E_TIMEOUT       the execute passed its timeout_ms.
**   ERYX_E_FUEL          the execute used up its fuel budget.
**   ERYX_E_MEMORY_LIMIT  the code ran out of guest memory: an uncaught
**                        MemoryError (the guest's memory is capped at
**                        memory_limit_bytes), or a session image too big
**                        for the limit.
**   ERYX_E_OUTPUT_LIMIT  a stream passed output_limit_bytes while the
**                        overflow mode is ERYX_OUTPUT_FAIL.
**   ERYX_E_TRAP          the guest trapped: a stack overflow, an abort,
**                        os._exit; it is stopped.
**   ERYX_E_CANCELLED     eryx_sandbox_cancel or eryx_session_cancel.
**   ERYX_E_SUSPENDED     a callback handler suspended the execute
**                        (eryx_call_suspend); see journals.
**   ERYX_E_INCOMPLETE    eryx_session_execute_interactive: the statement is
**                        unfinished (a block not yet ended); nothing ran.
*/
#define ERYX_STATUS_MAP(X)                                  \
    X(ERYX_OK, 0, "ok")                                     \
    X(ERYX_E_NOMEM, 1, "out of memory")                     \
    X(ERYX_E_INVALID_ARG, 2, "invalid argument")            \
    X(ERYX_E_IO, 3, "i/o error")                            \
    X(ERYX_E_ENGINE, 4, "engine error")                     \
    X(ERYX_E_ABI, 5, "guest broke the host-guest contract") \
    X(ERYX_E_INVALID_INPUT, 6, "invalid input")             \
    X(ERYX_E_BUSY, 7, "no pooled session available")        \
    X(ERYX_E_PYTHON, 32, "python exception")                \
    X(ERYX_E_TIMEOUT, 33, "execution timeout")              \
    X(ERYX_E_FUEL, 34, "fuel exhausted")                    \
    X(ERYX_E_MEMORY_LIMIT, 35, "memory limit")              \
    X(ERYX_E_OUTPUT_LIMIT, 36, "output limit")              \
    X(ERYX_E_TRAP, 37, "sandbox failure")                   \
    X(ERYX_E_CANCELLED, 38, "cancelled")                    \
    X(ERYX_E_SUSPENDED, 39, "suspended by a callback")      \
    X(ERYX_E_INCOMPLETE, 40, "incomplete statement")

typedef enum eryx_status {
#define ERYX_STATUS_ENUM_(name, value, text) name = (value),
    ERYX_STATUS_MAP(ERYX_STATUS_ENUM_)
#undef ERYX_STATUS_ENUM_
} eryx_status;

/** \brief A short description of `status` (static, never NULL). */
ERYX_API const char *eryx_status_str(eryx_status status);

/** What failed, filled in by a failing call when the caller passes one. */
typedef struct eryx_error {
    eryx_status status;
    char message[256]; /* NUL-terminated, may be truncated */
} eryx_error;

/* ------------------------------------------------------------------ config */

/*
** A builder of options, read by eryx_engine_new and the sandbox and session
** constructors (each reads the options that concern it and copies them).
** Defaults, used when no config is given:
**
**   option           default
**   runtime_path     $ERYX_RUNTIME, else ../share/eryx/runtime.wasm from
**                    the directory of liberyx.so (or of the program that
**                    linked liberyx.a), else, for a library still in its
**                    build tree, the build's runtime.wasm
**   stdlib_dir       $ERYX_STDLIB, else ../share/eryx/lib/pythonX.Y
**                    likewise, else the build's stdlib
**   cache_dir        $ERYX_CACHE/compiled, else ~/.cache/eryx/compiled;
**                    "" turns the compiled-code cache off
**   result_variable  "result"
**   callback_timeout_ms       10000 per callback call
**   max_callback_invocations  1000 per execute
**   output_limit_bytes        10 MiB per stream per execute
**   output_overflow           ERYX_OUTPUT_TRUNCATE
**   snapshot_limit_bytes      10 MiB per session state snapshot
**   memory_limit_bytes        128 MiB of guest linear memory
**   timeout_ms                30000 per execute (wall time, waits included)
**   fuel                      none (no instruction budget)
*/
typedef struct eryx_config eryx_config;

/** \brief A config holding the defaults.  Owned by the caller. */
ERYX_API eryx_status eryx_config_new(eryx_config **out, eryx_error *err);
ERYX_API void eryx_config_free(eryx_config *config);

/** \brief Path of the guest module, runtime.wasm (engine). */
ERYX_API eryx_status eryx_config_set_runtime_path(eryx_config *config,
                                                  const char *path,
                                                  eryx_error *err);
/** \brief Host directory with the guest's stdlib (engine).  It is mounted
    read-only at /lib/pythonX.Y and is all of the host the guest sees. */
ERYX_API eryx_status eryx_config_set_stdlib_dir(eryx_config *config,
                                                const char *path,
                                                eryx_error *err);
/** \brief Directory for compiled guest code (engine); "" disables it. */
ERYX_API eryx_status eryx_config_set_cache_dir(eryx_config *config,
                                               const char *path,
                                               eryx_error *err);
/** \brief How many instances (sandboxes executing, sessions, pooled
    sessions) an engine keeps alive at once (engine; default 1000).  Each
    reserves address space, not memory; past the limit, creating one fails
    with ERYX_E_ENGINE. */
ERYX_API eryx_status eryx_config_set_max_instances(eryx_config *config,
                                                   uint32_t count,
                                                   eryx_error *err);
/** \brief Ready interpreters (engine): how many instances of the guest
    the engine keeps started, with the pages a first execute writes already
    faulted in, for sandbox executes, new sessions and session resets to
    take instead of starting one (default 2; 0 turns the stock and its
    thread off), and the most memory they may hold together (default 64
    MiB; each holds about what one session holds after an execute).  One
    background thread per engine, started by the first execute, refills
    the stock and deletes the instances executes are done with.  A ready
    instance has run nothing but the pre-initialized guest: nothing of one
    sandbox reaches another. */
ERYX_API eryx_status eryx_config_set_ready_instances(eryx_config *config,
                                                     uint32_t count,
                                                     uint64_t max_bytes,
                                                     eryx_error *err);
/** \brief Name of the variable captured as JSON after each execute
    (sandbox, session): a Python identifier; "" captures nothing. */
ERYX_API eryx_status eryx_config_set_result_variable(eryx_config *config,
                                                     const char *name,
                                                     eryx_error *err);

/** \brief How long one callback call may take before Python sees a
    timeout error (sandbox, session); 0 means no limit. */
ERYX_API eryx_status eryx_config_set_callback_timeout_ms(eryx_config *config,
                                                         uint32_t ms,
                                                         eryx_error *err);
/** \brief Callback calls allowed per execute (sandbox, session); the call
    past the limit raises in Python. */
ERYX_API eryx_status eryx_config_set_max_callback_invocations(
    eryx_config *config, uint32_t count, eryx_error *err);
/** \brief Bytes kept per output stream per execute; past it the output is
    cut, a marker is appended and the result says so.  At least 1024.  The
    cut never splits a UTF-8 character: it may keep up to 3 bytes fewer
    than the limit (raw bytes that happen to look like the start of one
    too). */
ERYX_API eryx_status eryx_config_set_output_limit(eryx_config *config,
                                                  uint64_t bytes,
                                                  eryx_error *err);
/** What happens when a stream passes the output limit. */
typedef enum eryx_output_overflow {
    ERYX_OUTPUT_TRUNCATE = 0, /* keep running; the output is cut */
    ERYX_OUTPUT_FAIL = 1      /* stop the execute with ERYX_E_OUTPUT_LIMIT */
} eryx_output_overflow;
/** \brief Truncate (the default) or stop at the output limit (sandbox,
    session). */
ERYX_API eryx_status eryx_config_set_output_overflow(eryx_config *config,
                                                     eryx_output_overflow mode,
                                                     eryx_error *err);
/** \brief Largest session state snapshot, in bytes. */
ERYX_API eryx_status eryx_config_set_snapshot_limit(eryx_config *config,
                                                    uint64_t bytes,
                                                    eryx_error *err);

/** \brief Largest guest linear memory, in bytes (sandbox, session); an
    allocation past it raises MemoryError inside Python.  At least 32 MiB
    (the interpreter's own floor). */
ERYX_API eryx_status eryx_config_set_memory_limit(eryx_config *config,
                                                  uint64_t bytes,
                                                  eryx_error *err);
/** \brief Wall time one execute may take, waits and callbacks included,
    before it stops with ERYX_E_TIMEOUT (sandbox, session); 0: no limit. */
ERYX_API eryx_status eryx_config_set_timeout_ms(eryx_config *config,
                                                uint32_t ms,
                                                eryx_error *err);
/** \brief Instruction budget per execute; past it the execute stops with
    ERYX_E_FUEL (sandbox, session); 0: no budget.  Fuel needs a second
    compilation of the guest, made (and cached) the first time it is used;
    without fuel no metering code runs. */
ERYX_API eryx_status eryx_config_set_fuel(eryx_config *config,
                                          uint64_t fuel,
                                          eryx_error *err);

/* -------------------------------------------------------------- filesystem */

/*
** The guest's filesystem is the host's (docs/filesystem.md):
**   /lib/python3.13  the stdlib, read-only
**   /data            in memory, writable, the working directory (the path
**                    is eryx_config_set_data_path's)
**   /tmp             in memory, writable
**   /site-packages   a factory's packages, or eryx_config_set_site_packages's
**                    directory, read-only, on sys.path
**   volumes          host directories or files (eryx_config_add_volume)
** /data and /tmp share one quota (eryx_config_set_vfs_limit, 64 MiB by
** default): past it writes fail with ENOSPC (Python: OSError).  A
** sandbox's are new and empty for every execute; a session's persist
** across executes and eryx_session_reset.  eryx_config_set_storage puts a
** storage of the caller's at /data instead: several sessions may share one.
*/
typedef struct eryx_storage eryx_storage;

/** \brief An empty in-memory storage of at most `limit_bytes` (0: 64 MiB):
    file contents, plus 256 bytes and the name of every file, directory
    and symlink.  Thread-safe: sessions on several threads may use one at
    once.  `*out` is the caller's reference (eryx_storage_free). */
ERYX_API eryx_status eryx_storage_new(uint64_t limit_bytes,
                                      eryx_storage **out,
                                      eryx_error *err);
/** \brief Drop the caller's reference; the files go with the last one
    (configs and sessions using the storage hold their own). */
ERYX_API void eryx_storage_free(eryx_storage *storage);
/** \brief Bytes charged to the storage's quota now. */
ERYX_API uint64_t eryx_storage_used(const eryx_storage *storage);
/** \brief The storage's files as bytes (`*out`, freed with eryx_free). */
ERYX_API eryx_status eryx_storage_snapshot(eryx_storage *storage,
                                           uint8_t **out,
                                           size_t *len,
                                           eryx_error *err);
/** \brief Replace the storage's files by a snapshot's.  Bytes that are not
    an intact snapshot, or whose files exceed the storage's limit, fail with
    ERYX_E_INVALID_INPUT and leave the storage as it was.  Files open in a
    running session keep their old contents until closed. */
ERYX_API eryx_status eryx_storage_restore(eryx_storage *storage,
                                          const uint8_t *data,
                                          size_t len,
                                          eryx_error *err);
/** \brief A new storage holding a copy of `storage`'s files, with the same
    limit; independent afterwards. */
ERYX_API eryx_status eryx_storage_fork(eryx_storage *storage,
                                       eryx_storage **out,
                                       eryx_error *err);

/** \brief Where the writable data mount is (and the working directory):
    an absolute, normalized path other than / and outside /lib, /tmp and
    /site-packages.  Default "/data". */
ERYX_API eryx_status eryx_config_set_data_path(eryx_config *config,
                                               const char *path,
                                               eryx_error *err);
/** \brief The quota of a sandbox's or session's own /data and /tmp
    together; 0: the default, 64 MiB. */
ERYX_API eryx_status eryx_config_set_vfs_limit(eryx_config *config,
                                               uint64_t bytes,
                                               eryx_error *err);
/** \brief Mount `storage` at the data path of sandboxes and sessions made
    with this config (they take references); NULL: each its own. */
ERYX_API eryx_status eryx_config_set_storage(eryx_config *config,
                                             eryx_storage *storage,
                                             eryx_error *err);
/** \brief Mount host directory `dir` read-only at /site-packages, on
    sys.path; NULL: none. */
ERYX_API eryx_status eryx_config_set_site_packages(eryx_config *config,
                                                   const char *dir,
                                                   eryx_error *err);
/** \brief Mount host directory or file `host_path` at `guest_path`
    (absolute, normalized; not /, the data path, /tmp, /lib or
    /site-packages), read-only unless `read_only` is 0.  Nothing the guest
    does reaches outside it: paths, symlinks and renames resolve beneath it
    (openat2 RESOLVE_BENEATH), and the guest can make neither symlinks nor
    hard links in it.  The host path is opened when an instance starts: one
    that is missing then fails the execute with ERYX_E_IO.  At most 64. */
ERYX_API eryx_status eryx_config_add_volume(eryx_config *config,
                                            const char *host_path,
                                            const char *guest_path,
                                            int read_only,
                                            eryx_error *err);

/* ----------------------------------------------------------------- network */

/*
** The guest has no network unless a config carries a network policy
** (eryx_config_set_network).  Then Python's socket and ssl modules reach
** the host, which resolves names, connects and does TLS (OpenSSL, the
** system's roots plus eryx_netconfig_add_root_cert's, hostname verified
** always) under the policy (docs/network.md):
**   - blocked host patterns first, then allowed ones (none: every host);
**     patterns are '*' globs, case-insensitive ("*.example.com" does not
**     match "example.com");
**   - every address a name resolves to is checked against the blocked
**     networks (by default every non-public range), unless it lies in an
**     allowed network or the name matches an internal host pattern;
**   - at most max_connections open at once; connect and I/O timeouts.
*/

/** A network policy under construction; used by one thread at a time. */
typedef struct eryx_netconfig eryx_netconfig;

/** The lists of a policy. */
typedef enum eryx_net_list {
    ERYX_NET_ALLOWED_HOSTS = 0,    /* host patterns; empty: every host */
    ERYX_NET_BLOCKED_HOSTS = 1,    /* host patterns, checked first */
    ERYX_NET_BLOCKED_NETWORKS = 2, /* CIDRs resolved addresses may not use */
    ERYX_NET_ALLOWED_NETWORKS = 3, /* CIDRs exempt from the blocked ones */
    ERYX_NET_INTERNAL_HOSTS = 4    /* patterns that may resolve anywhere */
} eryx_net_list;

/** \brief A new policy with the defaults: every public host allowed;
    localhost and private names blocked; every non-public network blocked
    (loopback, RFC 1918, link-local and cloud metadata, CGNAT, multicast,
    reserved, unspecified, IPv6 ULA and link-local; IPv4-mapped and
    NAT64 forms are checked as the IPv4 address they carry); 10
    connections, 30 s to connect, 60 s of I/O silence. */
ERYX_API eryx_status eryx_netconfig_new(eryx_netconfig **out, eryx_error *err);
ERYX_API void eryx_netconfig_free(eryx_netconfig *nc);
/** \brief Append to a list.  Host patterns: 1 to 253 bytes, no NUL or
    space; networks: "a.b.c.d/n" or "v6::/n" (a bare address is /32 or
    /128); ERYX_E_INVALID_ARG otherwise. */
ERYX_API eryx_status eryx_netconfig_add(eryx_netconfig *nc,
                                        eryx_net_list list,
                                        const char *item,
                                        eryx_error *err);
/** \brief Empty a list. */
ERYX_API eryx_status eryx_netconfig_clear(eryx_netconfig *nc,
                                          eryx_net_list list,
                                          eryx_error *err);
/** \brief Connections open at once (>= 1), the connect timeout and the
    longest a blocking read or write waits (ms, >= 1). */
ERYX_API eryx_status eryx_netconfig_set_limits(eryx_netconfig *nc,
                                               uint32_t max_connections,
                                               uint32_t connect_timeout_ms,
                                               uint32_t io_timeout_ms,
                                               eryx_error *err);
/** \brief Trust one more root certificate (PEM or DER) besides the
    system's. */
ERYX_API eryx_status eryx_netconfig_add_root_cert(eryx_netconfig *nc,
                                                  const void *cert,
                                                  size_t len,
                                                  eryx_error *err);
/** \brief Resolve `host` to the IP address `address` instead of asking
    DNS (as curl's --resolve).  The address is still checked against the
    policy's networks. */
ERYX_API eryx_status eryx_netconfig_resolve(eryx_netconfig *nc,
                                            const char *host,
                                            const char *address,
                                            eryx_error *err);
/** \brief Give sandboxes made from `config` the network under a copy of
    `nc` (NULL: no network, the default). */
ERYX_API eryx_status eryx_config_set_network(eryx_config *config,
                                             const eryx_netconfig *nc,
                                             eryx_error *err);

/*
** Secrets.  The guest's environment variable `name` holds a random
** placeholder, never the value.  The host puts the value in place of the
** placeholder only in HTTP/1.x header values sent to a host matching one
** of `allowed_hosts` (inside TLS, before encryption); with secrets
** configured, HTTP/2 is refused.  The placeholders and values are
** replaced by "[REDACTED]" in callback arguments and results and trace
** events always, and in stdout, stderr and files written to the guest's
** filesystem as eryx_config_set_scrub says (all three by default), and in
** the result variable when asked (ERYX_SCRUB_RESULT).  Values shorter
** than 4 bytes are substituted but not scrubbed.
*/
#define ERYX_SCRUB_STDOUT 1u
#define ERYX_SCRUB_STDERR 2u
#define ERYX_SCRUB_FILES  4u
#define ERYX_SCRUB_RESULT 8u

/** \brief Add a secret: `name` a valid environment variable name (letters,
    digits, '_', not starting with a digit, at most 128 bytes), `value`
    1 to 65536 bytes without NUL, CR or LF; allowed_hosts patterns as the
    network policy's (n may be 0: substituted nowhere). */
ERYX_API eryx_status eryx_config_add_secret(eryx_config *config,
                                            const char *name,
                                            const char *value,
                                            const char *const *allowed_hosts,
                                            size_t n,
                                            eryx_error *err);
/** \brief Where secrets are scrubbed: ERYX_SCRUB_* flags. */
ERYX_API eryx_status eryx_config_set_scrub(eryx_config *config,
                                           unsigned flags,
                                           eryx_error *err);

/* --------------------------------------------------------------- callbacks */

/*
** Callbacks are host functions that Python awaits:
**     await echo(message="hi")          # a callback named "echo"
**     await http.get(url="...")         # a callback named "http.get"
**     await invoke("echo", message="hi")
**     list_callbacks()                  # [{'name', 'description',
*'parameters_schema'}]
** Each call runs the handler on a worker thread of the engine, so calls
** gathered with asyncio.gather run at the same time.
*/

/** One call of a callback: complete it exactly once. */
typedef struct eryx_call eryx_call;

/**
 * \brief A callback handler.
 *
 * Called on a worker thread with the arguments as a JSON object
 * (`args_json`, `args_len` bytes, NUL-terminated; valid until the call is
 * completed).  It must complete `call` exactly once with eryx_call_return
 * or eryx_call_fail, before it returns or later from any thread.  A call
 * never completed is leaked.  Handlers, and the trace and output handlers
 * below, must not execute in the sandbox or session that called them.
 */
typedef void (*eryx_callback_fn)(void *userdata,
                                 const char *args_json,
                                 size_t args_len,
                                 eryx_call *call);

/**
 * \brief Register a callback (sandbox, session).
 *
 * `name` is a dotted Python name ("echo", "http.get").  `parameters_schema`
 * is a JSON Schema object (may be NULL: no parameters); its `properties`,
 * in order, map positional arguments, and `required`, `type` and
 * `additionalProperties: false` are checked before the handler runs.
 * `free_userdata` (may be NULL) is called once, when no sandbox, session or
 * config holds the callback any longer, or at once if this call fails.
 */
ERYX_API eryx_status eryx_config_add_callback(eryx_config *config,
                                              const char *name,
                                              const char *description,
                                              const char *parameters_schema,
                                              eryx_callback_fn fn,
                                              void *userdata,
                                              void (*free_userdata)(void *),
                                              eryx_error *err);

/** \brief Complete `call` with a JSON value (`len` bytes).  Text that is
    not JSON completes it with an error instead.  `call` is freed. */
ERYX_API void eryx_call_return(eryx_call *call, const char *json, size_t len);
/** \brief Complete `call` with an error message, raised in Python. */
ERYX_API void eryx_call_fail(eryx_call *call, const char *message, size_t len);
/** \brief Where `call` stands among the calls its execute handed to
    handlers: 0 for the first the code started, 1 for the next, and so on,
    whatever order the handlers run in (they run at once, on several
    threads).  Journals match calls by it (the Python package's
    execute_with_journal). */
ERYX_API uint32_t eryx_call_index(const eryx_call *call);
/** \brief Complete `call` by suspending its execute: the code stops (at
    its next wait, or within a tick of CPU work) and the execute ends with
    ERYX_E_SUSPENDED.  In a journaled execute the journal says which call
    and why (eryx_journal_suspended) and does not record the call, so that
    it runs live again when the journal is replayed.  `call` is freed. */
ERYX_API void
eryx_call_suspend(eryx_call *call, const char *reason, size_t len);

/* ----------------------------------------------------- tracing and output */

/** Kinds of trace events, for the user's code only. */
typedef enum eryx_trace_kind {
    ERYX_TRACE_LINE = 0,           /* a line is about to run */
    ERYX_TRACE_CALL = 1,           /* a function was entered: "name" */
    ERYX_TRACE_RETURN = 2,         /* a function returned: "name" */
    ERYX_TRACE_EXCEPTION = 3,      /* raised: "type", "message" */
    ERYX_TRACE_CALLBACK_START = 4, /* "name", "arguments" */
    ERYX_TRACE_CALLBACK_END = 5    /* "name", "duration_ms", "error" */
} eryx_trace_kind;

/** \brief A trace handler: the event and its JSON form, e.g.
    {"event": "call", "lineno": 1, "name": "f"}.  Called on the thread
    running the execute, in order. */
typedef void (*eryx_trace_fn)(void *userdata,
                              eryx_trace_kind kind,
                              uint32_t lineno,
                              const char *event_json,
                              size_t len);

/** \brief Install a trace handler (sandbox, session).  Without one, no
    trace hook runs in the guest at all. */
ERYX_API eryx_status
eryx_config_set_trace_handler(eryx_config *config,
                              eryx_trace_fn fn,
                              void *userdata,
                              void (*free_userdata)(void *),
                              eryx_error *err);

/** The output streams. */
#define ERYX_STDOUT 1
#define ERYX_STDERR 2

/** \brief An output handler: `stream` is ERYX_STDOUT or ERYX_STDERR; called
    on the thread running the execute as the code writes, in order, with
    the bytes written (not necessarily UTF-8: Python text arrives as UTF-8,
    lone surrogates as the bytes they escape, and binary writes unchanged).
    Output written at the descriptor level (os.write, C code in the guest)
    arrives the same way, on the same thread. */
typedef void (*eryx_output_fn)(void *userdata,
                               int stream,
                               const char *data,
                               size_t len);

/** \brief Install an output handler (sandbox, session). */
ERYX_API eryx_status
eryx_config_set_output_handler(eryx_config *config,
                               eryx_output_fn fn,
                               void *userdata,
                               void (*free_userdata)(void *),
                               eryx_error *err);

/* ------------------------------------------------------------------ engine */

/*
** The engine holds the compiled guest and is shared by every sandbox made
** from it, from any thread.  It loads runtime.cwasm from next to runtime.wasm
** (the build makes it; see eryx_engine_precompile), else a file from the
** cache directory; only when neither is good does it compile, and it keeps
** the result in the cache for the next engine, in this process or another.
**
** An engine, its sandboxes, sessions, pools and images stay usable in the
** child of a fork() made while no other thread is inside the library: the
** child starts the engine's threads (deadlines, callback handlers, ready
** interpreters) again when it first needs them (docs/design.md).
*/
typedef struct eryx_engine eryx_engine;

/** \brief Load (or compile) the guest.  `config` may be NULL; it is only
    read.  On success `*out` is owned by the caller. */
ERYX_API eryx_status eryx_engine_new(const eryx_config *config,
                                     eryx_engine **out,
                                     eryx_error *err);
/** \brief Where the engine's compiled guest came from: "precompiled
    PATH", "cached PATH" or "compiled PATH", followed by any compiled file
    that was passed over and why (corrupt, stale, made by another Wasmtime
    or configuration).  Owned by the engine. */
ERYX_API const char *eryx_engine_info(const eryx_engine *engine);

/** \brief The engine's ready interpreters (eryx_config_set_ready_instances)
    at this moment. */
typedef struct eryx_ready_stats {
    uint32_t ready;          /**< instances in stock now */
    uint64_t taken;          /**< executes and sessions that took one */
    uint64_t made;           /**< instances the stock started */
    uint64_t instance_bytes; /**< memory faulted in per ready instance
                                  beyond what an unused one holds (0: not
                                  measured yet, or the system cannot) */
} eryx_ready_stats;
/** \brief Fill `*out` (all 0 when the stock is off or unused).
    Thread-safe. */
ERYX_API void eryx_engine_ready_stats(eryx_engine *engine,
                                      eryx_ready_stats *out);

/** \brief Compile the guest named by `config` (may be NULL: the defaults)
    and write it to `out_path`, or when that is NULL next to runtime.wasm as
    runtime.cwasm (runtime.fuel.cwasm when `fuel`: the variant used by
    sandboxes with a fuel budget).  Engines then load it instead of
    compiling: Wasmtime maps it, code and the pre-initialized memory image
    alike. */
ERYX_API eryx_status eryx_engine_precompile(const eryx_config *config,
                                            const char *out_path,
                                            int fuel,
                                            eryx_error *err);
/** \brief Free the engine.  Every sandbox and session made from it must have
    been freed before.  Waits for callback handlers still running on the
    engine's worker threads to return (a call they keep and complete later
    is harmless). */
ERYX_API void eryx_engine_free(eryx_engine *engine);

/* ------------------------------------------------------------------ result */

/** What one execute produced.  Owned by the caller of the execute. */
typedef struct eryx_result eryx_result;

ERYX_API void eryx_result_free(eryx_result *result);
/** \brief ERYX_OK, or why the execution failed (same as execute returned). */
ERYX_API eryx_status eryx_result_status(const eryx_result *result);
/** \brief Bytes written to stdout, NUL-terminated (they may hold NULs
    themselves: use `len`).  The view lives as long as `result`; `len` (may
    be NULL) receives its length in bytes; never NULL. */
ERYX_API const char *eryx_result_stdout(const eryx_result *result, size_t *len);
/** \brief The bytes written to stderr (as eryx_result_stdout). */
ERYX_API const char *eryx_result_stderr(const eryx_result *result, size_t *len);
/** \brief The result variable as JSON, or NULL when it was not set or could
    not be serialized. */
ERYX_API const char *eryx_result_json(const eryx_result *result, size_t *len);
/** \brief Why the result variable could not be serialized, or NULL.  A set
    result error does not make the execution fail. */
ERYX_API const char *eryx_result_json_error(const eryx_result *result,
                                            size_t *len);
/** \brief The failure's message, or NULL on success: the traceback for
    ERYX_E_PYTHON (user frames as `File "<user>", line N`). */
ERYX_API const char *eryx_result_error(const eryx_result *result, size_t *len);
/** \brief Wall time of the execution, in microseconds. */
ERYX_API uint64_t eryx_result_duration_us(const eryx_result *result);
/** \brief Fuel the execution used, when a fuel budget was set; else 0. */
ERYX_API uint64_t eryx_result_fuel_consumed(const eryx_result *result);
/** \brief Callback calls the execution started. */
ERYX_API uint32_t eryx_result_callback_invocations(const eryx_result *result);
/** \brief The guest's linear memory at the end of the execution, in bytes
    (it never shrinks, so this is its peak). */
ERYX_API uint64_t eryx_result_peak_memory_bytes(const eryx_result *result);
/** \brief Non-zero when stream ERYX_STDOUT or ERYX_STDERR was cut at the
    output limit. */
ERYX_API int eryx_result_output_truncated(const eryx_result *result,
                                          int stream);

/* ----------------------------------------------------- sandbox and session */

/*
** A sandbox runs each execute in a fresh interpreter: nothing one execute
** defines is seen by the next.  A session keeps one interpreter, so its
** namespace persists between executes.  Both are used by one thread at a
** time; different ones may run in parallel.
*/
typedef struct eryx_sandbox eryx_sandbox;
typedef struct eryx_session eryx_session;

/** \brief A new sandbox of `engine` (borrowed; must outlive the sandbox).
    `config` may be NULL. */
ERYX_API eryx_status eryx_sandbox_new(eryx_engine *engine,
                                      const eryx_config *config,
                                      eryx_sandbox **out,
                                      eryx_error *err);
ERYX_API void eryx_sandbox_free(eryx_sandbox *sandbox);

/**
 * \brief Run Python `code` (UTF-8, `code_len` bytes; top-level await is
 * allowed) in a fresh interpreter.
 *
 * Outcomes:
 *   - ERYX_OK: `*out` is a result with the output.
 *   - ERYX_E_INVALID_INPUT (NUL byte or invalid UTF-8 in `code`; the guest did
 *     not run), ERYX_E_PYTHON (uncaught exception, SystemExit included),
 *     ERYX_E_TRAP, ERYX_E_ABI, ERYX_E_ENGINE and the limit codes: `*out` is
 *     still a result, holding the message and any output written.
 *   - ERYX_E_NOMEM, ERYX_E_INVALID_ARG: `*out` is NULL.
 */
ERYX_API eryx_status eryx_sandbox_execute(eryx_sandbox *sandbox,
                                          const char *code,
                                          size_t code_len,
                                          eryx_result **out,
                                          eryx_error *err);

/** \brief Stop the sandbox's running execute from another thread; it
    returns ERYX_E_CANCELLED soon after (compute is checked every 10 ms,
    waits at once).  Does nothing when no execute runs.  Thread-safe. */
ERYX_API void eryx_sandbox_cancel(eryx_sandbox *sandbox);

/** \brief A new session of `engine` (as eryx_sandbox_new). */
ERYX_API eryx_status eryx_session_new(eryx_engine *engine,
                                      const eryx_config *config,
                                      eryx_session **out,
                                      eryx_error *err);
ERYX_API void eryx_session_free(eryx_session *session);

/** \brief Run `code` in the session's interpreter; outcomes as
    eryx_sandbox_execute.  After ERYX_E_TRAP, ERYX_E_ABI, ERYX_E_TIMEOUT,
    ERYX_E_CANCELLED or ERYX_E_FUEL (the interpreter stopped mid-way) the
    session is reset: its namespace is empty at the next execute, and
    eryx_session_execution_count restarts.  Running out of guest memory
    (ERYX_E_MEMORY_LIMIT, an uncaught MemoryError) is an exception like any
    other and resets nothing. */
ERYX_API eryx_status eryx_session_execute(eryx_session *session,
                                          const char *code,
                                          size_t code_len,
                                          eryx_result **out,
                                          eryx_error *err);
/** \brief As eryx_sandbox_cancel, for a session; the session is then reset
    (its interpreter stopped mid-way cannot be trusted).  Thread-safe. */
ERYX_API void eryx_session_cancel(eryx_session *session);
/** \brief Run one statement as Python's REPL does: compiled in mode
    "single", so that an expression statement's value is echoed through
    sys.displayhook to stdout (and kept as `_`); top-level await allowed.
    ERYX_E_INCOMPLETE, with nothing run, while the statement is unfinished
    (the caller reads another line and tries the whole again; a block ends
    on an empty line).  Otherwise as eryx_session_execute. */
ERYX_API eryx_status eryx_session_execute_interactive(eryx_session *session,
                                                      const char *code,
                                                      size_t code_len,
                                                      eryx_result **out,
                                                      eryx_error *err);
/** \brief Raise KeyboardInterrupt in the session's running execute, as
    Ctrl-C does in Python, from another thread: the code sees it at its next
    bytecode or wait (a sleep, a callback, a socket), may catch it, and the
    session keeps its state.  Code stuck in one long C call (a huge
    regular expression, `sum(range(10**12))`) does not see it until the
    call returns: eryx_session_cancel stops anything.  Does nothing when no
    execute runs.  Thread-safe. */
ERYX_API void eryx_session_interrupt(eryx_session *session);
/** \brief Discard the session's interpreter; the next execute starts fresh. */
ERYX_API void eryx_session_reset(eryx_session *session);
/** \brief Executes run since the session began or was last reset. */
ERYX_API uint64_t eryx_session_execution_count(const eryx_session *session);

/* Session state: a snapshot is the pickled user namespace (variables,
   functions, classes, module references by name).  It carries a header
   and checksum; a corrupt or truncated one is refused and the session is
   left as it was. */
typedef struct eryx_snapshot eryx_snapshot;

/** \brief Snapshot the session's namespace.  Values that cannot be pickled
    are skipped and named by eryx_snapshot_skipped.  `*out` is owned by the
    caller. */
ERYX_API eryx_status eryx_session_snapshot_state(eryx_session *session,
                                                 eryx_snapshot **out,
                                                 eryx_error *err);
/** \brief The snapshot's bytes, valid while `snapshot` lives. */
ERYX_API const uint8_t *eryx_snapshot_data(const eryx_snapshot *snapshot,
                                           size_t *len);
/** \brief The names that were skipped, as a JSON list of strings; the
    string lives as long as `snapshot`. */
ERYX_API const char *eryx_snapshot_skipped(const eryx_snapshot *snapshot);
ERYX_API void eryx_snapshot_free(eryx_snapshot *snapshot);
/** \brief Bring a snapshot's names into the session (this or another one),
    on top of what is there; functions see the session's globals. */
ERYX_API eryx_status eryx_session_restore_state(eryx_session *session,
                                                const void *data,
                                                size_t len,
                                                eryx_error *err);
/** \brief Empty the session's namespace; callbacks stay reachable. */
ERYX_API eryx_status eryx_session_clear_state(eryx_session *session,
                                              eryx_error *err);

/* --------------------------------------------------------------- journals */

/*
** A journal records each callback call of an execute: its name, its
** arguments as canonical JSON (members sorted by key, no spaces) and its
** result or error.  Given the journal of an earlier run, an execute
** replays it: the calls that match the recorded ones, in the order the code
** starts them, are answered from the journal without running their
** handlers; the first call that does not match runs live, and so does
** every call after it.  A handler may suspend the run (eryx_call_suspend):
** the journal then holds the calls before it, and replaying it later
** resumes the run where it stopped.  The journal's text is plain JSON a
** host can store:
**   {"version":1,"code":"...","entries":[{"index":0,"name":"fetch",
**    "args_hash":"<16 hex digits>","args":{...},"result":...}, ...]}
** (an entry has "error":"message" instead of "result" for a failed call).
** Replayed results are trusted: they reach the code as recorded.
** A journal is used by one execute at a time.
*/
typedef struct eryx_journal eryx_journal;

/** \brief A journal that replays `json` (`len` bytes, the text
    eryx_journal_json gave; NULL: nothing to replay, record only).  Text
    that is not a journal: ERYX_E_INVALID_INPUT, naming what is wrong. */
ERYX_API eryx_status eryx_journal_new(const char *json,
                                      size_t len,
                                      eryx_journal **out,
                                      eryx_error *err);
ERYX_API void eryx_journal_free(eryx_journal *journal);
/** \brief Execute with `journal` (replaying what it holds, recording this
    run into it); otherwise as eryx_sandbox_execute.  Afterwards the
    journal's text, replay count and suspension describe this run. */
ERYX_API eryx_status eryx_sandbox_execute_journal(eryx_sandbox *sandbox,
                                                  const char *code,
                                                  size_t code_len,
                                                  eryx_journal *journal,
                                                  eryx_result **out,
                                                  eryx_error *err);
/** \brief The same in a session.  When the run is halted (suspended,
    timed out, out of fuel, cancelled, trapped), the session's globals roll
    back to what they were before the call, as a state snapshot carries
    them, so that resuming does not apply the replayed calls' effects
    twice.  The snapshot is taken only when the session has callbacks. */
ERYX_API eryx_status eryx_session_execute_journal(eryx_session *session,
                                                  const char *code,
                                                  size_t code_len,
                                                  eryx_journal *journal,
                                                  eryx_result **out,
                                                  eryx_error *err);
/** \brief The journal of the last execute that used `journal`, as JSON
    text (NUL-terminated; owned by the journal, valid until its next
    execute or free); NULL before any. */
ERYX_API const char *eryx_journal_json(const eryx_journal *journal,
                                       size_t *len);
/** \brief How many calls of the last execute the journal answered. */
ERYX_API uint32_t eryx_journal_replayed(const eryx_journal *journal);
/** \brief When a handler suspended the last execute: the callback's
    name, with its canonical arguments and the reason in `*args_json` and
    `*reason` (each may be NULL; owned by the journal); NULL otherwise. */
ERYX_API const char *eryx_journal_suspended(const eryx_journal *journal,
                                            const char **args_json,
                                            const char **reason);

/* ------------------------------------------------ whole-interpreter images */

/*
** An image is a session's whole interpreter, captured between executes:
** its linear memory (as the pages that differ from the engine's
** pre-initialized image) and its stack pointer.  Sessions started from it
** begin exactly where the captured one was (imports, objects, open
** generators, lambdas: everything pickle cannot carry), and are independent
** of it and of each other afterwards.  Unlike a state snapshot it is not
** portable: it belongs to the engine that captured it.  Carried besides
** memory: copies of the session's /data and /tmp (each new session gets
** its own) and the packages of an image from eryx_image_build.  Not
** carried: the files the session had open (a new session starts with
** stdio and the root preopen only).  The random module's state is copied
** too, so forks draw the same numbers until reseeded.
*/
typedef struct eryx_image eryx_image;

/** \brief Capture `session`'s interpreter (not while it executes).  The
    session is unchanged.  `*out` is owned by the caller. */
ERYX_API eryx_status eryx_session_capture(eryx_session *session,
                                          eryx_image **out,
                                          eryx_error *err);
/** \brief A new session of `engine` (the one the image was captured from)
    whose interpreter starts as `image`; `config` as eryx_session_new.  The
    image's memory must fit the config's memory limit. */
ERYX_API eryx_status eryx_session_new_from_image(eryx_engine *engine,
                                                 const eryx_config *config,
                                                 const eryx_image *image,
                                                 eryx_session **out,
                                                 eryx_error *err);
/** \brief The guest memory the image describes, and the bytes it holds
    (the pages that differ from the pre-initialized image). */
ERYX_API uint64_t eryx_image_memory_size(const eryx_image *image);
ERYX_API uint64_t eryx_image_stored_size(const eryx_image *image);
ERYX_API void eryx_image_free(eryx_image *image);

/** \brief The image as bytes, to store or send.  eryx_image_deserialize
    makes it again in any process whose engine runs the same guest (the same
    runtime.wasm).  On success `*out` (`*len` bytes) is freed with
    eryx_free. */
ERYX_API eryx_status eryx_image_serialize(const eryx_image *image,
                                          uint8_t **out,
                                          size_t *len,
                                          eryx_error *err);
/** \brief An image of `engine` from eryx_image_serialize's bytes, checked
    whole first: bytes that are not an intact image (truncated, corrupt,
    another format) or that another guest made fail with
    ERYX_E_INVALID_INPUT.  `*out` is owned by the caller. */
ERYX_API eryx_status eryx_image_deserialize(eryx_engine *engine,
                                            const uint8_t *data,
                                            size_t len,
                                            eryx_image **out,
                                            eryx_error *err);
/** What eryx_image_build prepares.  Every member may be zero. */
typedef struct eryx_build_options {
    /** Packages to install at /site-packages: wheels (.whl), sdists of
        pure-Python packages (.tar.gz, .tgz: the packages and modules of
        their src/ or root), and directories (a package, a source tree, or a
        site-packages layout).  Installed by sandboxed code; a package with
        native code (.so, .pyd, .dylib, .dll) or a path leaving its archive
        fails with ERYX_E_INVALID_INPUT naming the file. */
    const char *const *packages;
    size_t npackages;
    /** A host directory laid out as site-packages: mounted read-only at
        /site-packages (with `packages`: installed along with them). */
    const char *site_packages;
    /** Modules to import (dotted names), then `setup_code` to run; both
        are in the image. */
    const char *const *imports;
    size_t nimports;
    const char *setup_code;
} eryx_build_options;

/** \brief A whole-interpreter image, as eryx_session_capture makes, of a
    session that has the packages on sys.path and has run the imports and
    setup code; sessions from it (eryx_session_new_from_image) start there.
    The image holds the installed packages (shared, read-only, saved by
    eryx_image_serialize).  `config` (may be NULL) is the config the
    imports run under.  Import or setup errors: ERYX_E_INVALID_INPUT with
    the exception's last line.  `*out` is owned by the caller. */
ERYX_API eryx_status eryx_image_build(eryx_engine *engine,
                                      const eryx_config *config,
                                      const eryx_build_options *options,
                                      eryx_image **out,
                                      eryx_error *err);
/** \brief Compile `image` as a module of its own, so that sessions made
    from it afterwards (eryx_session_new_from_image, without fuel) map its
    memory copy-on-write instead of copying it: starting one costs about
    what a fresh session does, whatever the image's size.  Seconds the
    first time; the compiled code is kept in the engine's cache directory,
    keyed by the image's bytes, so compiling the same image again (in
    another process too) loads it.  Thread-safe; idempotent. */
ERYX_API eryx_status eryx_image_compile(eryx_engine *engine,
                                        eryx_image *image,
                                        eryx_error *err);

/** \brief Free memory that liberyx handed to the caller as bytes
    (eryx_image_serialize's). */
ERYX_API void eryx_free(void *ptr);

/* ----------------------------------------------------------------- pool */

/*
** A pool of warm sessions, shared by threads: acquire one, execute in it,
** release it.  Released sessions are reset (a new interpreter from the
** pre-initialized image: nothing of one user reaches the next) before they
** are offered again.  All sessions use the pool's config.
*/
typedef struct eryx_pool eryx_pool;

typedef struct eryx_pool_options {
    uint32_t max_size;           /**< sessions alive at most (idle + lent) */
    uint32_t min_idle;           /**< warm sessions kept ready */
    uint32_t acquire_timeout_ms; /**< wait for a session; 0: do not wait */
    uint32_t idle_timeout_ms;    /**< idle ones above min_idle are freed
                                      after this long; 0: never */
} eryx_pool_options;

/** \brief The defaults: max_size 16, min_idle 1, acquire_timeout_ms
    30000, idle_timeout_ms 60000. */
ERYX_API void eryx_pool_options_init(eryx_pool_options *options);

typedef struct eryx_pool_stats {
    uint64_t acquisitions; /**< successful acquires */
    uint64_t creations;    /**< sessions started */
    uint64_t resets;       /**< released sessions given a new interpreter */
    uint64_t waits;        /**< acquires that had to wait */
    uint64_t timeouts;     /**< acquires that gave up */
    uint64_t evictions;    /**< idle sessions freed */
    uint32_t idle, in_use; /**< now */
} eryx_pool_stats;

/** \brief A pool of `engine`'s sessions made with `config` (copied; may be
    NULL) and `options` (may be NULL: the defaults).  min_idle sessions are
    started before it returns; idle ones above min_idle are evicted (at the
    next acquire or release) once idle for idle_timeout_ms. */
ERYX_API eryx_status eryx_pool_new(eryx_engine *engine,
                                   const eryx_config *config,
                                   const eryx_pool_options *options,
                                   eryx_pool **out,
                                   eryx_error *err);
/** \brief Free the pool and its idle sessions; every lent session must
    have been released. */
ERYX_API void eryx_pool_free(eryx_pool *pool);
/** \brief Lend a session: an idle one, else a new one while fewer than
    max_size are alive, else wait up to acquire_timeout_ms for a release
    (ERYX_E_BUSY when none comes).  Thread-safe. */
ERYX_API eryx_status eryx_pool_acquire(eryx_pool *pool,
                                       eryx_session **out,
                                       eryx_error *err);
/** \brief Give `session` back; it is reset before anyone else gets it. */
ERYX_API void eryx_pool_release(eryx_pool *pool, eryx_session *session);
ERYX_API void eryx_pool_get_stats(eryx_pool *pool, eryx_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* ERYX_H */
