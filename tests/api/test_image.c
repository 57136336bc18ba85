/*
** test_image.c: whole-interpreter images.  A session started from an
** image sees everything the captured one had (imports, data, a generator
** mid-way, a lambda); afterwards the two, and any other fork, are
** independent.  Images of another engine, or too big for the memory
** limit, are refused.  Mapped forks (an image's pages mapped
** copy-on-write) leave nothing in the instance slots they used.  An image
** of a fork (mapped, or of a compiled image) holds what the fork had from
** its own image as well as what it changed: capture reads only the pages
** that can differ, and must not take the fork's unwritten pages for the
** guest's.
*/
#include <stdio.h>

#include "sandbox_fixture.h"

static eryx_session *
fork_of(eryx_image *img, const eryx_config *cfg)
{
    eryx_session *ss = NULL;
    eryx_error err;
    if (eryx_session_new_from_image(test_engine(), cfg, img, &ss, &err) !=
        ERYX_OK)
        ERYX_TEST_FAIL_("new_from_image: %s", err.message);
    return ss;
}

ERYX_TEST(a_fork_has_everything_and_is_independent_afterwards)
{
    eryx_session *a = new_session(NULL);
    session_expect(a,
                   "import sys, tomllib\n"
                   "data = [1, 2, 3]\n"
                   "g = (i for i in range(10))\n"
                   "next(g)\n"
                   "double = lambda v: v * 2\n",
                   "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    eryx_session *b = fork_of(img, NULL);
    eryx_session *c = fork_of(img, NULL);
    const char *probe = "print(data, next(g), double(21), "
                        "'tomllib' in sys.modules)";
    session_expect(b, probe, "[1, 2, 3] 1 42 True\n");
    session_expect(b, "data.append(4); print(data, next(g))",
                   "[1, 2, 3, 4] 2\n");
    /* The original and a second fork did not see b's changes. */
    session_expect(a, probe, "[1, 2, 3] 1 42 True\n");
    session_expect(c, probe, "[1, 2, 3] 1 42 True\n");
    ASSERT_EQ(eryx_session_execution_count(c), 2);
    /* The original goes on after the capture, and the image stays usable. */
    session_expect(a, "data.clear(); print(data)", "[]\n");
    eryx_session *d = fork_of(img, NULL);
    session_expect(d, "print(data)", "[1, 2, 3]\n");
    eryx_session_free(d);
    eryx_session_free(c);
    eryx_session_free(b);
    eryx_session_free(a);
    eryx_image_free(img);
}

ERYX_TEST(image_sizes_are_reported)
{
    eryx_session *a = new_session(NULL);
    session_expect(a, "blob = bytes(range(256)) * 40000", ""); /* ~10 MB */
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    uint64_t mem = eryx_image_memory_size(img);
    uint64_t stored = eryx_image_stored_size(img);
    ASSERT(mem % 65536 == 0);
    ASSERT(stored >= 10240000 && stored <= mem);
    eryx_session *b = fork_of(img, NULL);
    session_expect(b, "print(len(blob), blob[-1])", "10240000 255\n");
    eryx_session_free(b);
    eryx_session_free(a);
    eryx_image_free(img);
}

ERYX_TEST(an_image_too_big_for_the_memory_limit_is_refused)
{
    eryx_session *a = new_session(NULL);
    session_expect(a, "big = bytearray(80 * 2**20)", "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_memory_limit(cfg, 48u << 20, NULL), ERYX_OK);
    eryx_session *b = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_session_new_from_image(test_engine(), cfg, img, &b, &err),
              ERYX_E_MEMORY_LIMIT);
    ASSERT_NULL(b);
    ASSERT(strstr(err.message, "memory limit") != NULL);
    eryx_config_free(cfg);
    eryx_session_free(a);
    eryx_image_free(img);
}

ERYX_TEST(an_image_of_another_engine_is_refused)
{
    eryx_session *a = new_session(NULL);
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    eryx_engine *other = NULL;
    ASSERT_EQ(eryx_engine_new(NULL, &other, NULL), ERYX_OK);
    eryx_session *b = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_session_new_from_image(other, NULL, img, &b, &err),
              ERYX_E_INVALID_ARG);
    ASSERT(strstr(err.message, "another engine") != NULL);
    ASSERT_EQ(eryx_session_new_from_image(other, NULL, NULL, &b, &err),
              ERYX_E_INVALID_ARG);
    eryx_engine_free(other);
    eryx_session_free(a);
    eryx_image_free(img);
}

ERYX_TEST(a_fork_that_is_reset_starts_fresh)
{
    eryx_session *a = new_session(NULL);
    session_expect(a, "x = 5", "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    eryx_session *b = fork_of(img, NULL);
    eryx_session_reset(b);
    session_expect(b, "print('x' in globals())", "False\n");
    eryx_session_free(b);
    eryx_session_free(a);
    eryx_image_free(img);
}

/* Serialized: the bytes make the image again in another engine of the same
   guest (as another process would), and a session from it has everything. */
ERYX_TEST(an_image_round_trips_through_bytes_into_another_engine)
{
    eryx_session *a = new_session(NULL);
    session_expect(a,
                   "import json\n"
                   "data = {'k': list(range(1000))}\n"
                   "g = (i for i in range(10))\n"
                   "next(g)\n",
                   "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    uint8_t *bytes = NULL;
    size_t len = 0;
    ASSERT_EQ(eryx_image_serialize(img, &bytes, &len, NULL), ERYX_OK);
    ASSERT(len > eryx_image_stored_size(img));
    eryx_engine *other = NULL;
    ASSERT_EQ(eryx_engine_new(NULL, &other, NULL), ERYX_OK);
    eryx_image *back = NULL;
    eryx_error err;
    if (eryx_image_deserialize(other, bytes, len, &back, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("deserialize: %s", err.message);
    ASSERT_EQ(eryx_image_stored_size(back), eryx_image_stored_size(img));
    eryx_session *b = NULL;
    ASSERT_EQ(eryx_session_new_from_image(other, NULL, back, &b, NULL),
              ERYX_OK);
    session_expect(b, "print(len(data['k']), next(g), json.dumps(1))",
                   "1000 1 1\n");
    eryx_session_free(b);
    eryx_image_free(back);
    eryx_engine_free(other);
    eryx_free(bytes);
    eryx_session_free(a);
    eryx_image_free(img);
}

/* Bytes that are not an intact image of this guest are refused, whole,
   before any of them is used: truncated, one bit flipped anywhere,
   appended to, another magic, garbage, empty. */
ERYX_TEST(damaged_image_bytes_are_refused)
{
    eryx_session *a = new_session(NULL);
    session_expect(a, "x = 'kept'", "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    uint8_t *bytes = NULL;
    size_t len = 0;
    ASSERT_EQ(eryx_image_serialize(img, &bytes, &len, NULL), ERYX_OK);
    uint8_t *copy = malloc(len + 16);
    ASSERT_NOT_NULL(copy);
    eryx_image *back = NULL;
    eryx_error err;
    const size_t flips[] = {0,  9,  17,      33,      41,     45,
                            48, 60, len / 2, len - 9, len - 1};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(copy, bytes, len);
        copy[flips[i]] ^= 0x10;
        ASSERT_EQ(eryx_image_deserialize(test_engine(), copy, len, &back, &err),
                  ERYX_E_INVALID_INPUT);
        ASSERT(back == NULL);
        ASSERT(strstr(err.message, "image") != NULL);
    }
    memcpy(copy, bytes, len);
    ASSERT_EQ(eryx_image_deserialize(test_engine(), copy, len - 1, &back, NULL),
              ERYX_E_INVALID_INPUT);
    memset(copy + len, 0, 16);
    ASSERT_EQ(
        eryx_image_deserialize(test_engine(), copy, len + 16, &back, NULL),
        ERYX_E_INVALID_INPUT);
    ASSERT_EQ(eryx_image_deserialize(test_engine(), copy, 0, &back, NULL),
              ERYX_E_INVALID_INPUT);
    ASSERT_EQ(eryx_image_deserialize(test_engine(), NULL, 10, &back, NULL),
              ERYX_E_INVALID_INPUT);
    memset(copy, 0xAB, len);
    ASSERT_EQ(eryx_image_deserialize(test_engine(), copy, len, &back, NULL),
              ERYX_E_INVALID_INPUT);
    /* The intact bytes still work after all that. */
    ASSERT_EQ(eryx_image_deserialize(test_engine(), bytes, len, &back, NULL),
              ERYX_OK);
    eryx_session *b = NULL;
    ASSERT_EQ(eryx_session_new_from_image(test_engine(), NULL, back, &b, NULL),
              ERYX_OK);
    session_expect(b, "print(x)", "kept\n");
    eryx_session_free(b);
    eryx_image_free(back);
    free(copy);
    eryx_free(bytes);
    eryx_session_free(a);
    eryx_image_free(img);
}

/* A session from an image offers the callbacks of its own config, not
   those of the session the image was captured from. */
ERYX_TEST(a_fork_offers_the_callbacks_of_its_own_config)
{
    eryx_config *with = NULL;
    ASSERT_EQ(eryx_config_new(&with, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(with, "old_one", "", NULL, echo_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    eryx_session *a = new_session(with);
    session_expect(a, "print(await old_one())", "{}\n");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    eryx_config *other = NULL;
    ASSERT_EQ(eryx_config_new(&other, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_add_callback(other, "new_one", "", NULL, echo_handler,
                                       NULL, NULL, NULL),
              ERYX_OK);
    eryx_session *b = fork_of(img, other);
    session_expect(b,
                   "print(await new_one(), 'old_one' in globals(),\n"
                   "      [c['name'] for c in list_callbacks()])",
                   "{} False ['new_one']\n");
    eryx_session_free(b);
    eryx_config_free(other);
    eryx_session_free(a);
    eryx_config_free(with);
    eryx_image_free(img);
}

/* How many mappings of an image's memfd this process has. */
static int
image_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        n += strstr(line, "/memfd:eryx-image") != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

/* The image of a session of `eng` holding a module, a marker, 2 MB of
   bytes and a list of 50,000 ints. */
static eryx_image *
image_with_data(eryx_engine *eng)
{
    eryx_session *a = NULL;
    ASSERT_EQ(eryx_session_new(eng, NULL, &a, NULL), ERYX_OK);
    session_expect(a,
                   "import tomllib\n"
                   "marker = 'IMAGE'\n"
                   "blob = bytes(range(256)) * 8000\n"
                   "nums = list(range(50000))\n",
                   "");
    eryx_image *img = NULL;
    ASSERT_EQ(eryx_session_capture(a, &img, NULL), ERYX_OK);
    eryx_session_free(a);
    return img;
}

ERYX_TEST(mapped_forks_leave_nothing_in_the_slots_they_used)
{
    /* 16 instance slots: forks and plain sessions take turns in them. */
    eryx_config *cfg = NULL;
    eryx_engine *eng = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_max_instances(cfg, 16, NULL), ERYX_OK);
    ASSERT_EQ(eryx_engine_new(cfg, &eng, NULL), ERYX_OK);
    eryx_image *img = image_with_data(eng);
    for (int round = 0; round < 6; round++) {
        eryx_session *f[4];
        for (int i = 0; i < 4; i++) {
            ASSERT_EQ(eryx_session_new_from_image(eng, NULL, img, &f[i], NULL),
                      ERYX_OK);
            session_expect(f[i],
                           "print(marker, len(blob), sum(nums))\n"
                           "nums.append(1); blob = b'changed'",
                           "IMAGE 2048000 1249975000\n");
        }
        /* Mapped, not copied, where this system allows it (Linux, a
           precompiled guest mapped from its file). */
        if (round == 0 &&
            strncmp(eryx_engine_info(eng), "precompiled", 11) == 0)
            ASSERT(image_mappings() > 0);
        session_expect(f[3], "print(len(blob), len(nums))", "7 50001\n");
        session_expect(f[0], "print(len(nums))", "50001\n");
        for (int i = 0; i < 4; i++)
            eryx_session_free(f[i]);
        /* The slots the forks used now start plain interpreters. */
        eryx_session *p[6];
        for (int i = 0; i < 6; i++) {
            ASSERT_EQ(eryx_session_new(eng, NULL, &p[i], NULL), ERYX_OK);
            session_expect(p[i],
                           "import json\n"
                           "print('marker' in dir(), 'tomllib' in "
                           "__import__('sys').modules, json.dumps([sum(range("
                           "1000))]))",
                           "False False [499500]\n");
        }
        for (int i = 0; i < 6; i++)
            eryx_session_free(p[i]);
    }
    /* A fresh fork still sees the image as captured. */
    eryx_session *g = NULL;
    ASSERT_EQ(eryx_session_new_from_image(eng, NULL, img, &g, NULL), ERYX_OK);
    session_expect(g, "print(marker, len(nums))", "IMAGE 50000\n");
    eryx_session_free(g);
    eryx_image_free(img);
    eryx_engine_free(eng);
    eryx_config_free(cfg);
}

/* A fork of `img` that changes one variable; its image, and a fork of
   that, must still have the first image's data. */
static void
expect_image_of_a_fork_keeps_everything(eryx_image *img)
{
    eryx_session *f = fork_of(img, NULL);
    session_expect(f, "extra = len(blob) + 1", "");
    eryx_image *again = NULL;
    ASSERT_EQ(eryx_session_capture(f, &again, NULL), ERYX_OK);
    eryx_session_free(f);
    eryx_session *g = fork_of(again, NULL);
    session_expect(g, "print(marker, len(blob), blob[-1], sum(nums), extra)",
                   "IMAGE 2048000 255 1249975000 2048001\n");
    eryx_session_free(g);
    eryx_image_free(again);
}

ERYX_TEST(an_image_of_a_fork_keeps_what_the_fork_had_from_its_image)
{
    eryx_image *img = image_with_data(test_engine());
    expect_image_of_a_fork_keeps_everything(img); /* mapped (or copied) */
    ASSERT_EQ(eryx_image_compile(test_engine(), img, NULL), ERYX_OK);
    expect_image_of_a_fork_keeps_everything(img); /* its own module */
    eryx_image_free(img);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(a_fork_has_everything_and_is_independent_afterwards),
        ERYX_TEST_ENTRY(
            an_image_of_a_fork_keeps_what_the_fork_had_from_its_image),
        ERYX_TEST_ENTRY(image_sizes_are_reported),
        ERYX_TEST_ENTRY(an_image_too_big_for_the_memory_limit_is_refused),
        ERYX_TEST_ENTRY(an_image_of_another_engine_is_refused),
        ERYX_TEST_ENTRY(a_fork_that_is_reset_starts_fresh),
        ERYX_TEST_ENTRY(an_image_round_trips_through_bytes_into_another_engine),
        ERYX_TEST_ENTRY(damaged_image_bytes_are_refused),
        ERYX_TEST_ENTRY(a_fork_offers_the_callbacks_of_its_own_config),
        ERYX_TEST_ENTRY(mapped_forks_leave_nothing_in_the_slots_they_used),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
