/*
** test_schema.c: the check of a call's arguments against its callback's
** JSON Schema (host/callbacks/schema.c), on numbers a guest chooses.  The
** "integer" check once cast the double to long long: undefined behaviour
** for 1e300, which UBSan (the sanitizer job) stops on.
*/
#include <cjson/cJSON.h>

#include "callbacks/callbacks.h"
#include "eryx_test.h"

static bool
check(const char *schema_text, const char *args, char *why)
{
    cJSON *schema = cJSON_Parse(schema_text);
    ASSERT_NOT_NULL(schema);
    bool nomem = true;
    bool ok = eryx__schema_check(args, strlen(args), schema, why, 200, &nomem);
    ASSERT(!nomem);
    cJSON_Delete(schema);
    return ok;
}

static const char integer[] =
    "{\"properties\": {\"n\": {\"type\": \"integer\"}}}";

ERYX_TEST(integers_of_any_size_without_undefined_behaviour)
{
    char why[200];
    ASSERT(check(integer, "{\"n\": 1e300}", why));
    ASSERT(check(integer, "{\"n\": -1e300}", why));
    ASSERT(check(integer, "{\"n\": 9007199254740993}", why));
    ASSERT(check(integer, "{\"n\": 0}", why));
    ASSERT(!check(integer, "{\"n\": 1.5}", why));
    ASSERT_CONTAINS(why, "must be of type integer");
    ASSERT(!check(integer, "{\"n\": 1e-300}", why));
    ASSERT(!check(integer, "{\"n\": \"7\"}", why));
}

ERYX_TEST(required_additional_and_malformed)
{
    char why[200];
    const char *schema = "{\"properties\": {\"a\": {\"type\": "
                         "[\"string\", \"null\"]}}, \"required\": [\"a\"], "
                         "\"additionalProperties\": false}";
    ASSERT(check(schema, "{\"a\": null}", why));
    ASSERT(!check(schema, "{}", why));
    ASSERT_CONTAINS(why, "missing required argument 'a'");
    ASSERT(!check(schema, "{\"a\": \"x\", \"b\": 1}", why));
    ASSERT_CONTAINS(why, "unexpected argument 'b'");
    ASSERT(!check(schema, "[1]", why));
    ASSERT_CONTAINS(why, "not a JSON object");
    ASSERT(!check(schema, "{\"a\": ", why));
    ASSERT_CONTAINS(why, "not valid JSON");
}

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(integers_of_any_size_without_undefined_behaviour),
        ERYX_TEST_ENTRY(required_additional_and_malformed),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
