/*
** test_packages.c: eryx_image_build with real packages from PyPI (brought
** and checked by scripts/deps.sh: jinja2 with markupsafe's pure-Python
** fallback, attrs, python-dateutil with six, tabulate, networkx), each
** imported and used; directories and sdists of both layouts; an image
** saved and loaded; and what is refused: native code, paths leaving the
** archive, broken archives, bad module names, failing imports.
*/
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_fixture.h"

#define PKG(f) ERYX_TEST_PACKAGES_DIR "/" f

static const char *const pypi[] = {
    PKG("jinja2-3.1.6-py3-none-any.whl"),
    PKG("markupsafe-3.0.2.tar.gz"),
    PKG("attrs-25.3.0-py3-none-any.whl"),
    PKG("python_dateutil-2.9.0.post0-py2.py3-none-any.whl"),
    PKG("six-1.17.0-py2.py3-none-any.whl"),
    PKG("tabulate-0.9.0-py3-none-any.whl"),
    PKG("networkx-3.4.2-py3-none-any.whl"),
};

static const char use_them[] =
    "import jinja2, markupsafe, attrs, tabulate, networkx as nx, six\n"
    "from dateutil import parser, relativedelta\n"
    "t = jinja2.Environment(autoescape=True).from_string(\n"
    "    '<p>{{ n }}</p>{% for i in xs %}{{ i }},{% endfor %}')\n"
    "print(t.render(n='<b>', xs=[1, 2]))\n"
    "print(markupsafe.escape('<a>'), hasattr(markupsafe, '_speedups'))\n"
    "@attrs.define\nclass P:\n    x: int\n    y: int = 0\n"
    "print(P(1), attrs.asdict(P(2, 3)))\n"
    "print(parser.parse('2024-02-29T12:30:00+02:00') + "
    "relativedelta.relativedelta(years=1))\n"
    "print(tabulate.tabulate([['a', 1]], headers=['k', 'v']))\n"
    "g = nx.karate_club_graph()\n"
    "print(g.number_of_nodes(), nx.shortest_path_length(g, 0, 33), "
    "six.PY3)\n";

static const char expected[] =
    "<p>&lt;b&gt;</p>1,2,\n&lt;a&gt; False\nP(x=1, y=0) {'x': 2, 'y': 3}\n"
    "2025-02-28 12:30:00+02:00\nk      v\n---  ---\na      1\n34 2 True\n";

static eryx_status
build(const char *const *pkgs,
      size_t n,
      const char *const *imports,
      size_t nimports,
      eryx_image **out,
      eryx_error *err)
{
    eryx_build_options o = {pkgs, n, NULL, imports, nimports, NULL};
    return eryx_image_build(test_engine(), NULL, &o, out, err);
}

static void
image_expect(const eryx_image *img, const char *code, const char *out)
{
    eryx_session *ss = NULL;
    eryx_error err;
    if (eryx_session_new_from_image(test_engine(), NULL, img, &ss, &err) !=
        ERYX_OK)
        ERYX_TEST_FAIL_("session: %s", err.message);
    session_expect(ss, code, out);
    eryx_session_free(ss);
}

ERYX_TEST(real_packages_from_pypi_imported_and_used)
{
    static const char *const imports[] = {"jinja2", "attrs", "tabulate",
                                          "dateutil.parser", "networkx"};
    eryx_image *img = NULL;
    eryx_error err;
    if (build(pypi, ERYX_TEST_COUNT(pypi), imports, 5, &img, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("build: %s", err.message);
    /* The imports are done in the image already. */
    image_expect(img,
                 "import sys\nprint(all(m in sys.modules for m in "
                 "('jinja2', 'attrs', 'networkx', 'dateutil.parser')))\n",
                 "True\n");
    image_expect(img, use_them, expected);
    /* Compiled as a module of its own, it starts sessions that are the
       same, by mapping instead of copying; with fuel, by copying. */
    eryx_error cerr;
    if (eryx_image_compile(test_engine(), img, &cerr) != ERYX_OK)
        ERYX_TEST_FAIL_("compile: %s", cerr.message);
    ASSERT_EQ(eryx_image_compile(test_engine(), img, NULL), ERYX_OK);
    image_expect(img, use_them, expected);
    eryx_config *fuel = NULL;
    ASSERT_EQ(eryx_config_new(&fuel, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_fuel(fuel, 1u << 30, NULL), ERYX_OK);
    eryx_session *fs = NULL;
    ASSERT_EQ(eryx_session_new_from_image(test_engine(), fuel, img, &fs, NULL),
              ERYX_OK);
    session_expect(fs, use_them, expected);
    eryx_session_free(fs);
    eryx_config_free(fuel);
    /* Saved and loaded: the packages travel inside the bytes. */
    uint8_t *bytes = NULL;
    size_t len = 0;
    ASSERT_EQ(eryx_image_serialize(img, &bytes, &len, NULL), ERYX_OK);
    eryx_image *back = NULL;
    ASSERT_EQ(eryx_image_deserialize(test_engine(), bytes, len, &back, NULL),
              ERYX_OK);
    image_expect(back, use_them, expected);
    /* The packages are read-only for the code. */
    image_expect(back,
                 "import errno\ntry:\n"
                 "    open('/site-packages/jinja2/evil.py', 'w')\n"
                 "except OSError as e:\n    print(errno.errorcode[e.errno])\n",
                 "EROFS\n");
    eryx_free(bytes);
    eryx_image_free(back);
    eryx_image_free(img);
}

/* A scratch directory with files made by the system's Python. */
static void
sh(const char *cmd)
{
    if (system(cmd) != 0)
        ERYX_TEST_FAIL_("command failed: %s", cmd);
}

static char scratch_dir[64];

static const char *
scratch(void)
{
    strcpy(scratch_dir, "/tmp/eryx-pkg-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(scratch_dir));
    return scratch_dir;
}

static void
scratch_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    sh(cmd);
}

ERYX_TEST(directories_and_sdists_of_both_layouts)
{
    const char *d = scratch();
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir -p plain/plainpkg src-proj/src/srcpkg "
             "flat-1.0/flatpkg && "
             "echo 'X = \"plain\"' > plain/plainpkg/__init__.py && "
             "echo 'X = \"src\"' > src-proj/src/srcpkg/__init__.py && "
             "echo 'raise SystemExit' > src-proj/setup.py && "
             "echo 'X = \"flat\"' > flat-1.0/flatpkg/__init__.py && "
             "echo 'Y = 1' > flat-1.0/flatmod.py && "
             "echo 'raise SystemExit' > flat-1.0/setup.py && "
             "tar czf flat-1.0.tar.gz flat-1.0 && "
             "tar czf src-proj.tgz src-proj",
             d);
    sh(cmd);
    char p1[128], p2[128], p3[128], p4[128];
    snprintf(p1, sizeof p1, "%s/plain/plainpkg", d);
    snprintf(p2, sizeof p2, "%s/src-proj", d);
    snprintf(p3, sizeof p3, "%s/flat-1.0.tar.gz", d);
    snprintf(p4, sizeof p4, "%s/src-proj.tgz", d);
    const char *pkgs[] = {p1, p2, p3};
    eryx_image *img = NULL;
    eryx_error err;
    if (build(pkgs, 3, NULL, 0, &img, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("build: %s", err.message);
    image_expect(img,
                 "import os, plainpkg, srcpkg, flatpkg, flatmod\n"
                 "print(plainpkg.X, srcpkg.X, flatpkg.X, flatmod.Y)\n"
                 "print(sorted(os.listdir('/site-packages')))\n",
                 "plain src flat 1\n"
                 "['flatmod.py', 'flatpkg', 'plainpkg', 'srcpkg']\n");
    eryx_image_free(img);
    const char *sdist[] = {p4};
    ASSERT_EQ(build(sdist, 1, NULL, 0, &img, &err), ERYX_OK);
    image_expect(img, "import srcpkg\nprint(srcpkg.X)", "src\n");
    eryx_image_free(img);
    scratch_remove();
}

ERYX_TEST(native_code_and_escaping_paths_are_refused)
{
    const char *d = scratch();
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "cd '%s' && python3 -c \""
        "import zipfile, tarfile, io\n"
        "with zipfile.ZipFile('native-1.0-py3-none-any.whl', 'w') as z:\n"
        "    z.writestr('native/__init__.py', '')\n"
        "    z.writestr('native/_fast.cpython-313-x86_64-linux-gnu.so', "
        "'ELF')\n"
        "with zipfile.ZipFile('evil-1.0-py3-none-any.whl', 'w') as z:\n"
        "    z.writestr('../../eryx-escaped.py', 'pwned')\n"
        "t = tarfile.open('evil-2.0.tar.gz', 'w:gz')\n"
        "data = b'pwned'\n"
        "i = tarfile.TarInfo('evil-2.0/../../../eryx-escaped.py')\n"
        "i.size = len(data)\n"
        "t.addfile(i, io.BytesIO(data))\n"
        "t.close()\n"
        "open('broken-1.0-py3-none-any.whl', 'wb').write(b'PK not a zip')\n"
        "\" && mkdir -p dirpkg/withso && touch dirpkg/withso/__init__.py "
        "dirpkg/withso/mod.pyd",
        d);
    sh(cmd);
    struct {
        const char *file, *message;
    } cases[] = {
        {"native-1.0-py3-none-any.whl",
         "carries native code: native/_fast.cpython-313-x86_64-linux-gnu.so"},
        {"evil-1.0-py3-none-any.whl", "unsafe path in the archive"},
        {"evil-2.0.tar.gz", "unsafe path in the archive"},
        {"broken-1.0-py3-none-any.whl", "not a valid archive"},
        {"dirpkg/withso", "carries native code: mod.pyd"},
        {"missing.whl", "cannot read it"},
        {"notes.txt", "not a .whl, .tar.gz, .tgz or directory"},
    };
    snprintf(cmd, sizeof cmd, "touch '%s/notes.txt'", d);
    sh(cmd);
    for (size_t i = 0; i < ERYX_TEST_COUNT(cases); i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", d, cases[i].file);
        const char *pkgs[] = {p};
        eryx_image *img = NULL;
        eryx_error err;
        eryx_status s = build(pkgs, 1, NULL, 0, &img, &err);
        if (s == ERYX_OK)
            ERYX_TEST_FAIL_("%s was accepted", cases[i].file);
        ASSERT_NULL(img);
        ASSERT_CONTAINS(err.message, cases[i].message);
    }
    /* Nothing landed on the host outside the scratch directory. */
    struct stat st;
    ASSERT(stat("/tmp/eryx-escaped.py", &st) != 0);
    ASSERT(stat("/eryx-escaped.py", &st) != 0);
    scratch_remove();
}

ERYX_TEST(imports_and_setup_code)
{
    static const char *const bad_name[] = {"os; import sys"};
    static const char *const missing[] = {"no_such_module_here"};
    eryx_image *img = NULL;
    eryx_error err;
    ASSERT_EQ(build(NULL, 0, bad_name, 1, &img, &err), ERYX_E_INVALID_ARG);
    ASSERT_EQ(build(NULL, 0, missing, 1, &img, &err), ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(err.message, "ModuleNotFoundError");
    static const char *const ok[] = {"json", "email.message"};
    eryx_build_options o = {NULL, 0, NULL, ok, 2, "answer = json.dumps(42)"};
    ASSERT_EQ(eryx_image_build(test_engine(), NULL, &o, &img, &err), ERYX_OK);
    image_expect(img,
                 "import sys\nprint(answer, 'email.message' in "
                 "sys.modules)",
                 "42 True\n");
    eryx_image_free(img);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(real_packages_from_pypi_imported_and_used),
        ERYX_TEST_ENTRY(directories_and_sdists_of_both_layouts),
        ERYX_TEST_ENTRY(native_code_and_escaping_paths_are_refused),
        ERYX_TEST_ENTRY(imports_and_setup_code),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
