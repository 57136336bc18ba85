/*
** test_state.c: session state snapshots: a round trip across two sessions
** (variables, functions, classes, instances, closures, module references,
** None and other falsy values), skipped values named, clear_state, and
** corrupt, truncated, foreign or oversized snapshots refused with the
** session left as it was.
*/
#include <stdlib.h>

#include "sandbox_fixture.h"

static const char setup[] =
    "import json as j\n"
    "import collections\n"
    "base = 10\n"
    "data = {'k': [1, 2, {'n': None}], 't': (1, 'x')}\n"
    "def add(x, y=1):\n    return base + x + y\n"
    "def counter():\n    n = 0\n"
    "    def step():\n        nonlocal n\n        n += 1\n        return n\n"
    "    return step\n"
    "step = counter()\nstep()\n"
    "square = lambda v: v * v\n"
    "class Point:\n    scale = 2\n"
    "    def __init__(self, x):\n        self.x = x\n"
    "    def scaled(self):\n        return self.x * self.scale + base\n"
    "p = Point(4)\n"
    "gen = (i for i in range(3))\n"
    "Pair = collections.namedtuple('Pair', 'a b')\n";

ERYX_TEST(round_trip_across_two_sessions)
{
    eryx_session *a = new_session(NULL), *b = new_session(NULL);
    session_expect(a, setup, "");
    eryx_snapshot *snap = NULL;
    eryx_error err;
    if (eryx_session_snapshot_state(a, &snap, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("snapshot: %s", err.message);
    /* The generator cannot be pickled; namedtuple classes made at run time
       cannot either (pickle finds them by a name that does not exist). */
    ASSERT_STR_EQ(eryx_snapshot_skipped(snap), "[\"gen\", \"Pair\"]");
    size_t len;
    const uint8_t *data = eryx_snapshot_data(snap, &len);
    ASSERT(len > 28);
    session_expect(b, "base = 100", "");
    if (eryx_session_restore_state(b, data, len, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("restore: %s", err.message);
    /* Functions see the restoring session's globals (base = 10 came back
       with the snapshot), closures keep their state, classes work. */
    session_expect(b,
                   "print(add(1), j.dumps(data['k']), step(), square(7))\n"
                   "print(p.scaled(), Point(1).scaled(), type(p) is Point)\n"
                   "base = 1000\nprint(add(0, 0), 'gen' in globals())\n",
                   "12 [1, 2, {\"n\": null}] 2 49\n18 12 True\n1000 False\n");
    /* The two sessions are independent afterwards. */
    session_expect(a, "print(base, step())", "10 2\n");
    eryx_snapshot_free(snap);
    eryx_session_free(a);
    eryx_session_free(b);
}

/* Falsy values, empty containers and every kind of user code survive a
   round trip; none is skipped (None was once dropped without a word: it
   compared identical to the runtime's answer for a name it did not
   offer). */
ERYX_TEST(none_falsy_and_empty_values_round_trip)
{
    eryx_session *a = new_session(NULL), *b = new_session(NULL);
    session_expect(a,
                   "v_none = None\nv_false = False\nv_zero = 0\n"
                   "v_float = 0.0\nv_str = ''\nv_bytes = b''\nv_list = []\n"
                   "v_dict = {}\nv_tuple = ()\nv_set = set()\n"
                   "v_frozen = frozenset()\n"
                   "def v_func(x):\n    return x + 1\n"
                   "v_lambda = lambda: 'lambda'\n"
                   "class V:\n    pass\n"
                   "v_inst = V()\nv_inst.attr = 7\n",
                   "");
    eryx_snapshot *snap = NULL;
    eryx_error err;
    if (eryx_session_snapshot_state(a, &snap, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("snapshot: %s", err.message);
    ASSERT_STR_EQ(eryx_snapshot_skipped(snap), "[]");
    size_t len;
    const uint8_t *data = eryx_snapshot_data(snap, &len);
    if (eryx_session_restore_state(b, data, len, &err) != ERYX_OK)
        ERYX_TEST_FAIL_("restore: %s", err.message);
    session_expect(
        b,
        "plain = (v_none, v_false, v_zero, v_float, v_str, v_bytes, v_list,\n"
        "         v_dict, v_tuple, v_set, v_frozen)\n"
        "print(repr(plain))\n"
        "print(' '.join(type(v).__name__ for v in plain))\n"
        "print(v_func(1), v_lambda(), v_lambda.__name__, V.__name__,\n"
        "      type(v_inst) is V, v_inst.attr)\n",
        "(None, False, 0, 0.0, '', b'', [], {}, (), set(), frozenset())\n"
        "NoneType bool int float str bytes list dict tuple set frozenset\n"
        "2 lambda <lambda> V True 7\n");
    eryx_snapshot_free(snap);
    eryx_session_free(a);
    eryx_session_free(b);
}

ERYX_TEST(clear_state_empties_the_namespace)
{
    eryx_session *ss = new_session(NULL);
    session_expect(ss, "x = 1\ndef f(): pass", "");
    ASSERT_EQ(eryx_session_clear_state(ss, NULL), ERYX_OK);
    session_expect(ss, "print('x' in globals(), 'f' in globals(), __name__)",
                   "False False __main__\n");
    eryx_session_free(ss);
}

/* Snapshot a session holding x = 41; returns a copy of its bytes. */
static uint8_t *
snapshot_of_x(size_t *len)
{
    eryx_session *ss = new_session(NULL);
    session_expect(ss, "x = 41", "");
    eryx_snapshot *snap = NULL;
    ASSERT_EQ(eryx_session_snapshot_state(ss, &snap, NULL), ERYX_OK);
    const uint8_t *data = eryx_snapshot_data(snap, len);
    uint8_t *copy = malloc(*len);
    memcpy(copy, data, *len);
    eryx_snapshot_free(snap);
    eryx_session_free(ss);
    return copy;
}

/* `data` must be refused with a message containing `why`, and the session
   must be unchanged and usable. */
static void
expect_refused(const uint8_t *data, size_t len, const char *why)
{
    eryx_session *ss = new_session(NULL);
    session_expect(ss, "y = 'kept'", "");
    eryx_error err;
    eryx_status s = eryx_session_restore_state(ss, data, len, &err);
    ASSERT_EQ(s, ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(err.message, why);
    session_expect(ss, "print(y, 'x' in globals())", "kept False\n");
    eryx_session_free(ss);
}

ERYX_TEST(corrupt_snapshot_is_refused_and_the_session_unchanged)
{
    size_t len;
    uint8_t *good = snapshot_of_x(&len);
    uint8_t *bad = malloc(len);
    memcpy(bad, good, len);
    bad[len - 3] ^= 0x55;
    expect_refused(bad, len, "checksum");
    expect_refused(good, len - 5, "truncated");
    expect_refused(good, 10, "not an eryx state snapshot");
    expect_refused((const uint8_t *)"garbage garbage garbage garbage", 31,
                   "not an eryx state snapshot");
    memcpy(bad, good, len);
    bad[14] = 99; /* another Python minor version */
    expect_refused(bad, len, "made by Python");
    /* And the good one still restores. */
    eryx_session *ss = new_session(NULL);
    ASSERT_EQ(eryx_session_restore_state(ss, good, len, NULL), ERYX_OK);
    session_expect(ss, "print(x + 1)", "42\n");
    eryx_session_free(ss);
    free(bad);
    free(good);
}

/* The IEEE CRC-32, to forge a snapshot whose header checks but whose
   payload is not a pickle: the guest must refuse it too. */
static uint32_t
crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

ERYX_TEST(well_formed_snapshot_with_a_bad_pickle_is_refused)
{
    size_t len;
    uint8_t *good = snapshot_of_x(&len);
    static const char junk[] = "\x80\x05this is not a pickle";
    size_t n = 28 + sizeof junk - 1;
    uint8_t *forged = malloc(n);
    memcpy(forged, good, 28);
    memcpy(forged + 28, junk, sizeof junk - 1);
    for (int i = 0; i < 8; i++)
        forged[16 + i] = (uint8_t)((uint64_t)(sizeof junk - 1) >> (8 * i));
    uint32_t crc = crc32_ieee(forged + 28, sizeof junk - 1);
    for (int i = 0; i < 4; i++)
        forged[24 + i] = (uint8_t)(crc >> (8 * i));
    expect_refused(forged, n, "cannot restore the snapshot");
    free(forged);
    free(good);
}

ERYX_TEST(snapshot_size_is_capped)
{
    eryx_config *cfg = NULL;
    ASSERT_EQ(eryx_config_new(&cfg, NULL), ERYX_OK);
    ASSERT_EQ(eryx_config_set_snapshot_limit(cfg, 4096, NULL), ERYX_OK);
    eryx_session *ss = new_session(cfg);
    session_expect(ss, "blob = 'z' * 10000", "");
    eryx_snapshot *snap = NULL;
    eryx_error err;
    ASSERT_EQ(eryx_session_snapshot_state(ss, &snap, &err),
              ERYX_E_INVALID_INPUT);
    ASSERT_NULL(snap);
    ASSERT_CONTAINS(err.message, "over the limit of 4096 bytes");
    session_expect(ss, "print(len(blob))", "10000\n");
    uint8_t big[8192] = "ERYXSNAP";
    ASSERT_EQ(eryx_session_restore_state(ss, big, sizeof big, &err),
              ERYX_E_INVALID_INPUT);
    ASSERT_CONTAINS(err.message, "over the limit");
    eryx_session_free(ss);
    eryx_config_free(cfg);
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(round_trip_across_two_sessions),
        ERYX_TEST_ENTRY(none_falsy_and_empty_values_round_trip),
        ERYX_TEST_ENTRY(clear_state_empties_the_namespace),
        ERYX_TEST_ENTRY(corrupt_snapshot_is_refused_and_the_session_unchanged),
        ERYX_TEST_ENTRY(well_formed_snapshot_with_a_bad_pickle_is_refused),
        ERYX_TEST_ENTRY(snapshot_size_is_capped),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
