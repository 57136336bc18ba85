/*
** factory.c: eryx_image_build, a pre-initialized interpreter with
** packages installed and imports done.  Packages are installed by
** sandboxed code (install.py, embedded at build time): each archive or
** directory is mounted read-only into an installer session whose data
** mount is the new packages storage at /site-packages, so a hostile
** archive is parsed where it can hurt nothing.  The storage is then made
** read-only and shared by every session made from the image.
*/
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "install_py.h" /* eryx__install_py: host/sandbox/install.py */
#include "sandbox/sandbox.h"

/* The packages storage's own limit: packages are the caller's choice. */
#define PACKAGES_LIMIT (1ull << 30)

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Run `code` in `ss`; a failure becomes `err` with the exception's last
   line (what the installer or the user's imports raised). */
static eryx_status
run(eryx_session *ss, const char *code, const char *what, eryx_error *err)
{
    eryx_result *r = NULL;
    eryx_error e;
    eryx_status s = eryx_session_execute(ss, code, strlen(code), &r, &e);
    if (s == ERYX_OK) {
        eryx_result_free(r);
        return ERYX_OK;
    }
    const char *msg = r ? eryx_result_error(r, NULL) : e.message;
    /* The last non-empty line of a traceback names the exception. */
    const char *end = msg + strlen(msg);
    while (end > msg && end[-1] == '\n')
        end--;
    const char *line = end;
    while (line > msg && line[-1] != '\n')
        line--;
    s = eryx__fail(err, s == ERYX_E_PYTHON ? ERYX_E_INVALID_INPUT : s,
                   "%s failed: %.*s", what, (int)(end - line), line);
    eryx_result_free(r);
    return s;
}

/* A Python string literal of `s` (repr-safe: only the path's bytes that
   need escaping are escaped). */
static char *
py_literal(const char *s)
{
    size_t n = strlen(s);
    char *out = eryx__malloc(4 * n + 3), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '\'';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '\'' || *p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\x%02x", *p);
        } else
            *o++ = (char)*p;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* Install package `path` into `store` with a one-package installer. */
static eryx_status
install_one(eryx_engine *engine,
            eryx_storage *store,
            const char *path,
            eryx_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return eryx__fail(err, ERYX_E_IO, "package %s: cannot read it", path);
    const char *kind = S_ISDIR(st.st_mode)          ? "dir"
                       : ends_with(path, ".whl")    ? "wheel"
                       : ends_with(path, ".zip")    ? "wheel"
                       : ends_with(path, ".tar.gz") ? "sdist"
                       : ends_with(path, ".tgz")    ? "sdist"
                                                    : NULL;
    if (kind == NULL)
        return eryx__fail(err, ERYX_E_INVALID_INPUT,
                          "package %s: not a .whl, .tar.gz, .tgz or "
                          "directory",
                          path);
    eryx_config *c = NULL;
    eryx_status s = eryx__config_clone(NULL, &c, err);
    if (s != ERYX_OK)
        return s;
    /* The installer's data mount is the storage, at /site-packages. */
    eryx__settings *set = &c->settings;
    set->storage = eryx__storage_ref(store);
    eryx__free(set->data_path);
    set->data_path = eryx__strdup("/site-packages");
    set->timeout_ms = 300000;
    set->memory_limit_bytes = 1ull << 30;
    s = set->data_path ? eryx_config_add_volume(c, path,
                                                strcmp(kind, "dir") == 0
                                                    ? "/eryx-package-dir"
                                                    : "/eryx-package",
                                                1, err)
                       : eryx__fail_nomem(err);
    eryx_session *ss = NULL;
    if (s == ERYX_OK)
        s = eryx_session_new(engine, c, &ss, err);
    if (s == ERYX_OK)
        s = run(ss, eryx__install_py, "the installer", err);
    const char *base = strrchr(path, '/');
    base = base && base[1] ? base + 1 : path;
    char *lpath = py_literal(path), *lbase = py_literal(base);
    size_t n = 64 + (lpath ? strlen(lpath) : 0) + (lbase ? strlen(lbase) : 0);
    char *call = eryx__malloc(n);
    if (s == ERYX_OK && (lpath == NULL || lbase == NULL || call == NULL))
        s = eryx__fail_nomem(err);
    if (s == ERYX_OK) {
        snprintf(call, n, "install('%s', %s, %s)\n", kind, lpath, lbase);
        s = run(ss, call, "installing a package", err);
    }
    eryx__free(call);
    eryx__free(lpath);
    eryx__free(lbase);
    eryx_session_free(ss);
    eryx_config_free(c);
    return s;
}

/* `import a, b` and the setup code, as one program. */
static char *
prelude(const eryx_build_options *o, eryx_error *err)
{
    size_t n = 1 + (o->setup_code ? strlen(o->setup_code) + 1 : 0);
    for (size_t i = 0; i < o->nimports; i++)
        n += strlen(o->imports[i]) + 8;
    char *code = eryx__malloc(n), *p = code;
    if (code == NULL) {
        eryx__fail_nomem(err);
        return NULL;
    }
    for (size_t i = 0; i < o->nimports; i++)
        p += sprintf(p, "import %s\n", o->imports[i]);
    if (o->setup_code)
        p += sprintf(p, "%s\n", o->setup_code);
    *p = '\0';
    return code;
}

/* A module name: dotted identifiers, nothing else to smuggle code in. */
static bool
module_name_ok(const char *m)
{
    bool start = true;
    if (*m == '\0')
        return false;
    for (; *m; m++) {
        char c = *m;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (unsigned char)c >= 0x80;
        if (c == '.') {
            if (start)
                return false;
            start = true;
        } else if (alpha || (!start && c >= '0' && c <= '9'))
            start = false;
        else
            return false;
    }
    return !start;
}

eryx_status
eryx_image_build(eryx_engine *engine,
                 const eryx_config *config,
                 const eryx_build_options *options,
                 eryx_image **out,
                 eryx_error *err)
{
    if (engine == NULL || out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "engine or out is NULL");
    *out = NULL;
    eryx_build_options none = {0};
    const eryx_build_options *o = options ? options : &none;
    for (size_t i = 0; i < o->nimports; i++)
        if (o->imports[i] == NULL || !module_name_ok(o->imports[i]))
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "invalid module name in imports: %.200s",
                              o->imports[i] ? o->imports[i] : "(null)");
    if ((o->npackages && o->packages == NULL) ||
        (o->nimports && o->imports == NULL))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "packages or imports is NULL");

    eryx_storage *store = NULL;
    eryx_status s = ERYX_OK;
    /* With packages, a site-packages directory is installed like one. */
    bool copy_dir = o->npackages > 0 && o->site_packages != NULL;
    if (o->npackages > 0) {
        store = eryx__storage_new(NULL, PACKAGES_LIMIT);
        if (store == NULL)
            return eryx__fail_nomem(err);
        for (size_t i = 0; i < o->npackages && s == ERYX_OK; i++)
            s = o->packages[i] ? install_one(engine, store, o->packages[i], err)
                               : eryx__fail(err, ERYX_E_INVALID_ARG,
                                            "package %zu is NULL", i);
        if (s == ERYX_OK && copy_dir)
            s = install_one(engine, store, o->site_packages, err);
        eryx__storage_set_read_only(store, true);
    }
    eryx_config *c = NULL;
    if (s == ERYX_OK)
        s = eryx__config_clone(config, &c, err);
    if (s == ERYX_OK && store != NULL) {
        eryx__storage_unref(c->settings.packages);
        c->settings.packages = eryx__storage_ref(store);
        eryx__free(c->settings.packages_dir);
        c->settings.packages_dir = NULL;
    } else if (s == ERYX_OK && o->site_packages != NULL)
        s = eryx_config_set_site_packages(c, o->site_packages, err);
    char *code = s == ERYX_OK ? prelude(o, err) : NULL;
    if (s == ERYX_OK && code == NULL)
        s = ERYX_E_NOMEM;
    eryx_session *ss = NULL;
    if (s == ERYX_OK)
        s = eryx_session_new(engine, c, &ss, err);
    if (s == ERYX_OK && *code)
        s = run(ss, code, "the imports and setup code", err);
    if (s == ERYX_OK)
        s = eryx_session_capture(ss, out, err);
    eryx__free(code);
    eryx_session_free(ss);
    eryx_config_free(c);
    eryx__storage_unref(store);
    return s;
}
