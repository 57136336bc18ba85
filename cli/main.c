/*
** main.c: the `eryx` command, which runs Python code in a sandbox, or
** (repl.c) an interactive session on a terminal.  Uses only <eryx.h>.
** `eryx serve` and `--mcp` are the Python package's (python -m eryx),
** which speaks MCP through the official SDK: this command runs it.  Exit
** status: 0 success, 1 the code failed (an exception, or the sandbox
** stopped it), 2 usage error.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: eryx [options] [FILE | -c CODE | -]\n"
    "       eryx serve [options]      (an MCP server; see eryx serve -h)\n"
    "       eryx precompile [-o FILE] [--fuel]\n"
    "       eryx info\n"
    "\n"
    "Run Python code in a WebAssembly sandbox.  Without FILE or -c, on a\n"
    "terminal: an interactive session (Ctrl-D leaves, Ctrl-C interrupts;\n"
    "history in $ERYX_HISTORY, default ~/.eryx_history); otherwise the\n"
    "code read from standard input.\n"
    "\n"
    "  FILE        run the code in FILE\n"
    "  -c CODE     run CODE\n"
    "  -           run the code read from standard input\n"
    "  --trace     print trace events of the code as JSON lines on stderr\n"
    "  --timeout MS        stop the code after MS milliseconds (default "
    "30000,\n"
    "                      interactive: none; 0: none)\n"
    "  --max-memory BYTES  largest guest memory (default 134217728)\n"
    "  --fuel N            instruction budget (default: none)\n"
    "  -v, --volume SRC:DST[:ro|:rw]\n"
    "              mount host file or directory SRC at DST (read-only\n"
    "              unless :rw)\n"
    "  --vfs-limit BYTES   quota of /data and /tmp (default 67108864)\n"
    "  --package PATH      install a .whl, .tar.gz/.tgz or directory of\n"
    "                      pure-Python code at /site-packages (repeatable)\n"
    "  --site-packages DIR mount DIR at /site-packages\n"
    "  --import MOD        import MOD before the code (repeatable)\n"
    "  --net               give the code the network: public hosts only\n"
    "                      (every resolved address is checked)\n"
    "  --allow-host PATTERN  only hosts matching PATTERN ('*' globs;\n"
    "                      repeatable; implies --net)\n"
    "  --allow-network CIDR  also allow addresses in CIDR, e.g.\n"
    "                      10.0.0.0/8 (repeatable; implies --net)\n"
    "  --allow-localhost   also allow localhost and 127.0.0.0/8, ::1\n"
    "  --root-cert FILE    also trust the CA certificate(s) in FILE (PEM\n"
    "                      or DER) for TLS (repeatable)\n"
    "  --secret NAME=VALUE[@HOST,...]\n"
    "              $NAME holds a placeholder; VALUE replaces it only in\n"
    "              HTTP headers sent to HOST (patterns), and is scrubbed\n"
    "              from the output (repeatable)\n"
    "  --mcp       give the code the tools of the MCP servers configured\n"
    "              for Claude Desktop, Cursor, VS Code, ... as callbacks\n"
    "              (runs python -m eryx; $ERYX_PYTHON names the Python)\n"
    "  --mcp-config FILE   the MCP servers of FILE instead (repeatable;\n"
    "                      implies --mcp)\n"
    "  --version   print the eryx and CPython versions\n"
    "  -h, --help  print this help\n"
    "\n"
    "eryx precompile compiles the guest (runtime.wasm, or $ERYX_RUNTIME) to\n"
    "FILE, by default runtime.cwasm next to it (runtime.fuel.cwasm with\n"
    "--fuel: the variant for fuel budgets); engines then load it instead of\n"
    "compiling.  eryx info prints the versions and where the engine's\n"
    "compiled guest comes from.\n"
    "\n"
    "The sandbox's stdout and stderr stream to eryx's own as the code\n"
    "writes them.  Exit status: 0 on\n"
    "success, 1 if the code raised an exception (SystemExit included) or\n"
    "the sandbox stopped it (a limit hit prints a one-line reason naming the\n"
    "limit), 2 on a usage error.\n";

#define MAX_LIST 64

/* Split "SRC:DST[:ro|:rw]" into its parts (in place); 0 when malformed. */
static int
parse_volume(char *spec, char **src, char **dst, int *read_only)
{
    char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec)
        return 0;
    *colon = '\0';
    *src = spec;
    *dst = colon + 1;
    *read_only = 1;
    char *mode = strrchr(*dst, ':');
    if (mode != NULL) {
        if (strcmp(mode, ":ro") != 0 && strcmp(mode, ":rw") != 0)
            return 0;
        *read_only = mode[2] == 'o';
        *mode = '\0';
    }
    return **dst == '/';
}

/* A non-negative decimal number, whole; false for anything else. */
static int
parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Read all of `f` into a new buffer; NUL bytes are kept (and rejected by
   the sandbox with a clear error). */
static char *
read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            return NULL;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf != NULL && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Output streams live: each chunk is written through as it arrives. */
static void
on_output(void *userdata, int stream, const char *data, size_t len)
{
    (void)userdata;
    FILE *f = stream == ERYX_STDERR ? stderr : stdout;
    fwrite(data, 1, len, f);
    fflush(f);
}

static void
on_trace(void *userdata,
         eryx_trace_kind kind,
         uint32_t lineno,
         const char *json,
         size_t len)
{
    (void)userdata, (void)kind, (void)lineno;
    fprintf(stderr, "%.*s\n", (int)len, json);
}

/* The network policy of --net, --allow-host, --allow-network and
   --allow-localhost: the default policy, less what they allow.  Every
   resolved address is checked against the blocked networks, so the
   default's IP-literal host patterns ("10.*", ...) go: --allow-network
   decides for addresses. */
static eryx_status
set_network(eryx_config *config,
            const char *const *hosts,
            size_t nhosts,
            const char *const *nets,
            size_t nnets,
            int localhost,
            const char *const *roots,
            size_t nroots,
            eryx_error *err)
{
    eryx_netconfig *nc = NULL;
    eryx_status s = eryx_netconfig_new(&nc, err);
    if (s == ERYX_OK)
        s = eryx_netconfig_clear(nc, ERYX_NET_BLOCKED_HOSTS, err);
    if (s == ERYX_OK && !localhost)
        s = eryx_netconfig_add(nc, ERYX_NET_BLOCKED_HOSTS, "localhost", err);
    if (s == ERYX_OK && !localhost)
        s = eryx_netconfig_add(nc, ERYX_NET_BLOCKED_HOSTS, "*.localhost", err);
    if (s == ERYX_OK && localhost)
        s = eryx_netconfig_add(nc, ERYX_NET_ALLOWED_NETWORKS, "127.0.0.0/8",
                               err);
    if (s == ERYX_OK && localhost)
        s = eryx_netconfig_add(nc, ERYX_NET_ALLOWED_NETWORKS, "::1/128", err);
    for (size_t i = 0; s == ERYX_OK && i < nhosts; i++)
        s = eryx_netconfig_add(nc, ERYX_NET_ALLOWED_HOSTS, hosts[i], err);
    for (size_t i = 0; s == ERYX_OK && i < nnets; i++)
        s = eryx_netconfig_add(nc, ERYX_NET_ALLOWED_NETWORKS, nets[i], err);
    for (size_t i = 0; s == ERYX_OK && i < nroots; i++) {
        size_t len = 0;
        FILE *f = fopen(roots[i], "rb");
        char *pem = f ? read_all(f, &len) : NULL;
        if (f != NULL)
            fclose(f);
        if (pem == NULL) {
            snprintf(err->message, sizeof err->message,
                     "cannot read root certificate %.200s", roots[i]);
            s = err->status = ERYX_E_IO;
            break;
        }
        s = eryx_netconfig_add_root_cert(nc, pem, len, err);
        free(pem);
    }
    if (s == ERYX_OK)
        s = eryx_config_set_network(config, nc, err);
    eryx_netconfig_free(nc);
    return s;
}

/* --secret NAME=VALUE[@HOST,...] (each spec split in place). */
static eryx_status
add_secrets(eryx_config *config, char **specs, size_t n, eryx_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char *name = specs[i], *value = strchr(name, '=');
        *value++ = '\0';
        const char *hosts[MAX_LIST];
        size_t nhosts = 0;
        char *at = strrchr(value, '@');
        if (at != NULL) {
            *at = '\0';
            for (char *h = strtok(at + 1, ","); h && nhosts < MAX_LIST;
                 h = strtok(NULL, ","))
                hosts[nhosts++] = h;
        }
        eryx_status s =
            eryx_config_add_secret(config, name, value, hosts, nhosts, err);
        if (s != ERYX_OK)
            return s;
    }
    return ERYX_OK;
}

static int
fail_usage(const char *msg)
{
    fprintf(stderr, "eryx: %s\n%s", msg, usage);
    return 2;
}

static int
precompile(int argc, char **argv)
{
    const char *out = NULL;
    int fuel = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--fuel") == 0)
            fuel = 1;
        else
            return fail_usage("precompile takes [-o FILE] [--fuel]");
    }
    eryx_error err;
    if (eryx_engine_precompile(NULL, out, fuel, &err) != ERYX_OK) {
        fprintf(stderr, "eryx: %s\n", err.message);
        return 1;
    }
    return 0;
}

static int
info(void)
{
    eryx_error err;
    eryx_engine *engine = NULL;
    if (eryx_engine_new(NULL, &engine, &err) != ERYX_OK) {
        fprintf(stderr, "eryx: %s\n", err.message);
        return 1;
    }
    printf("eryx %s (CPython %s)\nguest: %s\n", eryx_version(),
           eryx_python_version(), eryx_engine_info(engine));
    eryx_engine_free(engine);
    return 0;
}

/* `eryx serve` and `--mcp`: the Python package's, with the same arguments
   (its MCP client and server are the official SDK). */
static int
run_python_package(int argc, char **argv)
{
    const char *python = getenv("ERYX_PYTHON");
    if (python == NULL || *python == '\0')
        python = "python3";
    static char dash_m[] = "-m", module[] = "eryx";
    char **args = calloc((size_t)argc + 3, sizeof *args);
    char *name = strdup(python);
    if (args == NULL || name == NULL) {
        free(args);
        free(name);
        return 1;
    }
    args[0] = name;
    args[1] = dash_m;
    args[2] = module;
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    execvp(python, args);
    fprintf(stderr,
            "eryx: %s needs the eryx Python package with MCP support "
            "(pip install 'eryx[mcp]'): cannot run %s: %s\n",
            strcmp(argv[1], "serve") == 0 ? "eryx serve" : "--mcp", python,
            strerror(errno));
    free(name);
    free(args);
    return 2;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "precompile") == 0)
        return precompile(argc, argv);
    if (argc == 2 && strcmp(argv[1], "info") == 0)
        return info();
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return run_python_package(argc, argv);
    for (int i = 1; i < argc && strcmp(argv[i], "-c") != 0; i++)
        if (strcmp(argv[i], "--mcp") == 0 ||
            strcmp(argv[i], "--mcp-config") == 0)
            return run_python_package(argc, argv);
    const char *code_arg = NULL, *file = NULL, *site_packages = NULL;
    const char *packages[MAX_LIST], *imports[MAX_LIST];
    char *vol_src[MAX_LIST], *vol_dst[MAX_LIST];
    int vol_ro[MAX_LIST];
    size_t npackages = 0, nimports = 0, nvolumes = 0;
    const char *allow_hosts[MAX_LIST], *allow_nets[MAX_LIST];
    char *secrets[MAX_LIST];
    const char *roots[MAX_LIST];
    size_t nallow_hosts = 0, nallow_nets = 0, nsecrets = 0, nroots = 0;
    int net = 0, localhost = 0;
    int trace = 0, timeout_given = 0;
    unsigned long long timeout_ms = 30000, max_memory = 128ull << 20, fuel = 0,
                       vfs_limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        unsigned long long *number =
            strcmp(a, "--timeout") == 0      ? &timeout_ms
            : strcmp(a, "--max-memory") == 0 ? &max_memory
            : strcmp(a, "--fuel") == 0       ? &fuel
            : strcmp(a, "--vfs-limit") == 0  ? &vfs_limit
                                             : NULL;
        if (number != NULL) {
            i++;
            if (i >= argc || !parse_u64(argv[i], number)) {
                char msg[96];
                snprintf(msg, sizeof msg, "%s needs a whole number", a);
                return fail_usage(msg);
            }
            timeout_given |= number == &timeout_ms;
        } else if (strcmp(a, "--trace") == 0) {
            trace = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--volume") == 0) {
            i++;
            if (i >= argc || nvolumes == MAX_LIST ||
                !parse_volume(argv[i], &vol_src[nvolumes], &vol_dst[nvolumes],
                              &vol_ro[nvolumes]))
                return fail_usage("-v needs SRC:DST[:ro|:rw] with an "
                                  "absolute DST");
            nvolumes++;
        } else if (strcmp(a, "--package") == 0 || strcmp(a, "--import") == 0) {
            int pkg = a[2] == 'p';
            i++;
            if (i >= argc || (pkg ? npackages : nimports) == MAX_LIST)
                return fail_usage(pkg ? "--package needs a path"
                                      : "--import needs a module name");
            if (pkg)
                packages[npackages++] = argv[i];
            else
                imports[nimports++] = argv[i];
        } else if (strcmp(a, "--net") == 0) {
            net = 1;
        } else if (strcmp(a, "--allow-localhost") == 0) {
            net = localhost = 1;
        } else if (strcmp(a, "--allow-host") == 0 ||
                   strcmp(a, "--allow-network") == 0) {
            int host = a[8] == 'h';
            if (++i >= argc || (host ? nallow_hosts : nallow_nets) == MAX_LIST)
                return fail_usage(host ? "--allow-host needs a pattern"
                                       : "--allow-network needs a CIDR");
            if (host)
                allow_hosts[nallow_hosts++] = argv[i];
            else
                allow_nets[nallow_nets++] = argv[i];
            net = 1;
        } else if (strcmp(a, "--root-cert") == 0) {
            if (++i >= argc || nroots == MAX_LIST)
                return fail_usage("--root-cert needs a file");
            roots[nroots++] = argv[i];
        } else if (strcmp(a, "--secret") == 0) {
            i++;
            if (i >= argc || nsecrets == MAX_LIST ||
                strchr(argv[i], '=') == NULL)
                return fail_usage("--secret needs NAME=VALUE[@HOST,...]");
            secrets[nsecrets++] = argv[i];
        } else if (strcmp(a, "--site-packages") == 0) {
            if (++i >= argc)
                return fail_usage("--site-packages needs a directory");
            site_packages = argv[i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("eryx %s (CPython %s)\n", eryx_version(),
                   eryx_python_version());
            return 0;
        } else if (strcmp(a, "-c") == 0) {
            if (++i >= argc)
                return fail_usage("-c needs an argument");
            code_arg = argv[i];
        } else if (a[0] == '-' && a[1] != '\0') {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown option %.64s", a);
            return fail_usage(msg);
        } else if (file == NULL && code_arg == NULL) {
            file = a;
        } else {
            return fail_usage("give one of FILE, -c CODE or -");
        }
    }
    if (code_arg != NULL && file != NULL)
        return fail_usage("give one of FILE, -c CODE or -");
    /* Neither: a terminal gets the REPL (no timeout unless asked: Ctrl-C
       is there), anything else is a script. */
    int interactive = code_arg == NULL && file == NULL && isatty(0);
    if (code_arg == NULL && file == NULL && !interactive)
        file = "-";
    if (interactive && !timeout_given)
        timeout_ms = 0;

    char *code = NULL;
    size_t code_len = 0;
    if (interactive) {
        repl_block_sigint(); /* before the engine starts its threads */
    } else if (code_arg != NULL) {
        code_len = strlen(code_arg);
    } else if (strcmp(file, "-") == 0) {
        code = read_all(stdin, &code_len);
    } else {
        FILE *f = fopen(file, "rb");
        if (f == NULL) {
            fprintf(stderr, "eryx: cannot open %s: %s\n", file,
                    strerror(errno));
            return 2;
        }
        code = read_all(f, &code_len);
        fclose(f);
    }
    if (!interactive && code_arg == NULL && code == NULL) {
        fprintf(stderr, "eryx: cannot read %s\n", file);
        return 2;
    }

    eryx_error err;
    eryx_engine *engine = NULL;
    eryx_config *config = NULL;
    eryx_sandbox *sandbox = NULL;
    eryx_session *session = NULL;
    eryx_image *image = NULL;
    eryx_result *result = NULL;
    int status = 1;
    if (timeout_ms > UINT32_MAX)
        return fail_usage("--timeout is too large");
    if (eryx_config_new(&config, &err) != ERYX_OK ||
        eryx_config_set_output_handler(config, on_output, NULL, NULL, &err) !=
            ERYX_OK ||
        eryx_config_set_timeout_ms(config, (uint32_t)timeout_ms, &err) !=
            ERYX_OK ||
        eryx_config_set_memory_limit(config, max_memory, &err) != ERYX_OK ||
        eryx_config_set_fuel(config, fuel, &err) != ERYX_OK ||
        (trace && eryx_config_set_trace_handler(config, on_trace, NULL, NULL,
                                                &err) != ERYX_OK) ||
        eryx_config_set_vfs_limit(config, vfs_limit, &err) != ERYX_OK ||
        /* One run, one interpreter: no ready ones in the background. */
        eryx_config_set_ready_instances(config, 0, 0, &err) != ERYX_OK ||
        eryx_engine_new(config, &engine, &err) != ERYX_OK) {
        fprintf(stderr, "eryx: %s\n", err.message);
        goto done;
    }
    for (size_t i = 0; i < nvolumes; i++) {
        if (eryx_config_add_volume(config, vol_src[i], vol_dst[i], vol_ro[i],
                                   &err) != ERYX_OK) {
            fprintf(stderr, "eryx: %s\n", err.message);
            goto done;
        }
    }
    if ((net &&
         set_network(config, allow_hosts, nallow_hosts, allow_nets, nallow_nets,
                     localhost, roots, nroots, &err) != ERYX_OK) ||
        add_secrets(config, secrets, nsecrets, &err) != ERYX_OK) {
        /* A bad pattern, CIDR or secret is a usage error. */
        fprintf(stderr, "eryx: %s\n", err.message);
        if (err.status == ERYX_E_INVALID_ARG)
            status = 2;
        goto done;
    }
    /* Packages and imports: an image prepared with them, run as a session
       made from it. */
    eryx_build_options opts = {packages, npackages, site_packages,
                               imports,  nimports,  NULL};
    if ((npackages || nimports || site_packages) &&
        (eryx_image_build(engine, config, &opts, &image, &err) != ERYX_OK ||
         eryx_session_new_from_image(engine, config, image, &session, &err) !=
             ERYX_OK)) {
        fprintf(stderr, "eryx: %s\n", err.message);
        goto done;
    }
    if (session == NULL && interactive &&
        eryx_session_new(engine, config, &session, &err) != ERYX_OK) {
        fprintf(stderr, "eryx: %s\n", err.message);
        goto done;
    }
    if (interactive) {
        status = repl_run(session);
        goto done;
    }
    if (session == NULL &&
        eryx_sandbox_new(engine, config, &sandbox, &err) != ERYX_OK) {
        fprintf(stderr, "eryx: %s\n", err.message);
        goto done;
    }
    eryx_status s = session
                        ? eryx_session_execute(session, code ? code : code_arg,
                                               code_len, &result, &err)
                        : eryx_sandbox_execute(sandbox, code ? code : code_arg,
                                               code_len, &result, &err);
    if (result == NULL) {
        fprintf(stderr, "eryx: %s\n", err.message);
        goto done;
    }
    size_t n;
    const char *text;
    if (s == ERYX_OK) {
        status = 0;
    } else if (s == ERYX_E_PYTHON || s == ERYX_E_MEMORY_LIMIT) {
        text = eryx_result_error(result, &n);
        fwrite(text, 1, n, stderr);
        if (s == ERYX_E_MEMORY_LIMIT)
            fprintf(stderr,
                    "eryx: memory limit: the code ran out of its %llu bytes "
                    "of memory\n",
                    max_memory);
    } else {
        text = eryx_result_error(result, &n);
        fprintf(stderr, "eryx: %.*s\n", (int)n, text ? text : "");
    }

done:
    eryx_result_free(result);
    eryx_sandbox_free(sandbox);
    eryx_session_free(session);
    eryx_image_free(image);
    eryx_engine_free(engine);
    eryx_config_free(config);
    free(code);
    return status;
}
