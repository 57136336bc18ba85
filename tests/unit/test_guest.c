/*
** test_guest.c: the host's checks of guest data (host/guest.c) and of
** inputs (UTF-8), driven directly with hostile values.
*/
#include "eryx_test.h"
#include "guest/guest.h"

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

ERYX_TEST(execute_ret_decodes_ok_fields)
{
    uint8_t b[ERYX_ABI_EXECUTE_RET_SIZE] = {0};
    b[0] = ERYX_ABI_OK;
    b[4] = 1, put32(b + 8, 300), put32(b + 12, 7); /* result-json: some */
    b[16] = 0;                                     /* result-error: none */
    eryx__execute_ret d;
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_OK);
    ASSERT(d.has_json);
    ASSERT_EQ(d.json.ptr, 300);
    ASSERT_EQ(d.json.len, 7);
    ASSERT(!d.has_json_error);
    b[0] = ERYX_ABI_ERR;
    put32(b + 4, 64), put32(b + 8, 9); /* the message */
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_OK);
    ASSERT_EQ(d.message.ptr, 64);
    ASSERT_EQ(d.message.len, 9);
}

ERYX_TEST(execute_ret_rejects_bad_discriminants)
{
    uint8_t b[ERYX_ABI_EXECUTE_RET_SIZE] = {0};
    eryx__execute_ret d;
    b[0] = ERYX_ABI_ERR_MEMORY; /* the third outcome: out of memory */
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_OK);
    b[0] = ERYX_ABI_ERR_INCOMPLETE; /* interactive: an unfinished block */
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_OK);
    b[0] = 4;
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_E_ABI);
    b[0] = 0xff;
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_E_ABI);
    b[0] = ERYX_ABI_OK;
    b[4] = 7; /* option discriminant other than 0 or 1 */
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_E_ABI);
    b[4] = 0;
    b[16] = 2;
    ASSERT_EQ(eryx__guest_decode_execute(b, &d), ERYX_E_ABI);
    uint8_t u[ERYX_ABI_UNIT_RET_SIZE] = {3};
    uint8_t tag;
    eryx_abi_string s, s2;
    ASSERT_EQ(eryx__guest_decode_unit(u, &tag, &s), ERYX_E_ABI);
    uint8_t snap[ERYX_ABI_SNAPSHOT_RET_SIZE] = {9};
    ASSERT_EQ(eryx__guest_decode_snapshot(snap, &tag, &s, &s2), ERYX_E_ABI);
}

ERYX_TEST(utf8_validation_is_strict)
{
    ASSERT(eryx__utf8_valid("", 0));
    ASSERT(eryx__utf8_valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12));
    ASSERT(!eryx__utf8_valid("\xff", 1));
    ASSERT(!eryx__utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    ASSERT(!eryx__utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    ASSERT(!eryx__utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ASSERT(!eryx__utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ASSERT(!eryx__utf8_valid("\xc3", 1));             /* truncated */
    ASSERT(!eryx__utf8_valid("\xe2\x82", 2));         /* truncated */
    ASSERT(!eryx__utf8_valid("\xc3\x28", 2));         /* bad continuation */
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(execute_ret_decodes_ok_fields),
        ERYX_TEST_ENTRY(execute_ret_rejects_bad_discriminants),
        ERYX_TEST_ENTRY(utf8_validation_is_strict),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
