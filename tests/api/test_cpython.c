/*
** test_cpython.c: the guest behaves like CPython where ordinary code
** notices (issue 10's defects, each with its case): text is UTF-8 as under
** native CPython, and the stdlib is loaded from its files, so modules have
** __file__, inspect finds their source and tracebacks show their lines.
*/
#include "sandbox_fixture.h"

/* It was ASCII: reading the stdlib's own UTF-8 files raised
   UnicodeDecodeError. */
ERYX_TEST(text_is_utf8)
{
    run_expect("import sys, locale\n"
               "print(sys.flags.utf8_mode, sys.getfilesystemencoding(),\n"
               "      locale.getpreferredencoding(False))\n"
               "text = open(locale.__file__).read()\n"
               "print(len(text) > 1000, '\\u00e9'.encode() == b'\\xc3\\xa9')\n",
               "1 utf-8 utf-8\nTrue True\n");
}

/* Frozen stdlib modules had no __file__ and sys._stdlib_dir was None. */
ERYX_TEST(stdlib_modules_have_their_files)
{
    run_expect("import os, sys, abc, inspect, posixpath\n"
               "print(os.__file__, sys._stdlib_dir)\n"
               "print('class ABCMeta' in inspect.getsource(abc.ABCMeta))\n"
               "print(posixpath.__file__.endswith('posixpath.py'))\n",
               "/lib/python" ERYX_TEST_PY_MM
               "/os.py /lib/python" ERYX_TEST_PY_MM "\nTrue\nTrue\n");
}

ERYX_TEST(tracebacks_through_the_stdlib_show_source_lines)
{
    eryx_result *r = run("import posixpath\nposixpath.join(1, 2)\n");
    ASSERT_EQ(eryx_result_status(r), ERYX_E_PYTHON);
    const char *tb = eryx_result_error(r, NULL);
    ASSERT_CONTAINS(tb, "File \"/lib/python" ERYX_TEST_PY_MM "/posixpath.py\"");
    ASSERT_CONTAINS(tb, "    a = os.fspath(a)\n");
    ASSERT(strstr(tb, "<frozen") == NULL);
    eryx_result_free(r);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(text_is_utf8),
        ERYX_TEST_ENTRY(stdlib_modules_have_their_files),
        ERYX_TEST_ENTRY(tracebacks_through_the_stdlib_show_source_lines),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
