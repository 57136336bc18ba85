/*
** schema.c: the check of a call's arguments, untrusted JSON from the guest,
** against its callback's JSON Schema (eryx__schema_check): the subset
** eryx documents (required, type, additionalProperties: false).
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "callbacks/callbacks.h"

static bool
has_type(const cJSON *v, const char *type)
{
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(type, "integer") == 0) {
        /* Any whole number, however large, without casting a double the
           guest chose to an integer type (undefined out of range). */
        return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
               v->valuedouble == floor(v->valuedouble);
    }
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(type, "null") == 0)
        return cJSON_IsNull(v);
    return true; /* a type we do not know does not reject */
}

/* Does `v` match the schema's "type" (a name or a list of names)? */
static bool
matches_type(const cJSON *v, const cJSON *prop_schema)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(prop_schema, "type");
    if (cJSON_IsString(type))
        return has_type(v, type->valuestring);
    if (cJSON_IsArray(type)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, type)
        {
            if (cJSON_IsString(t) && has_type(v, t->valuestring))
                return true;
        }
        return false;
    }
    return true;
}

/* Check `args` (a parsed object) against the schema's properties,
   required and additionalProperties; a message in `why` on failure. */
static bool
check_parsed(const cJSON *args, const cJSON *schema, char *why, size_t why_len)
{
    if (!cJSON_IsObject(args)) {
        snprintf(why, why_len, "the arguments are not a JSON object");
        return false;
    }
    if (schema == NULL)
        return true;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *required =
        cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *extra =
        cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    const cJSON *r;
    if (cJSON_IsArray(required)) {
        cJSON_ArrayForEach(r, required)
        {
            if (cJSON_IsString(r) &&
                !cJSON_HasObjectItem(args, r->valuestring)) {
                snprintf(why, why_len, "missing required argument '%.64s'",
                         r->valuestring);
                return false;
            }
        }
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, args)
    {
        const cJSON *p =
            cJSON_IsObject(props)
                ? cJSON_GetObjectItemCaseSensitive(props, a->string)
                : NULL;
        if (p == NULL) {
            if (cJSON_IsFalse(extra)) {
                snprintf(why, why_len, "unexpected argument '%.64s'",
                         a->string);
                return false;
            }
        } else if (!matches_type(a, p)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
            snprintf(why, why_len, "argument '%.64s' must be of type %.64s",
                     a->string, cJSON_IsString(t) ? t->valuestring : "listed");
            return false;
        }
    }
    return true;
}

bool
eryx__schema_check(const char *args,
                   size_t len,
                   const void *schema,
                   char *why,
                   size_t why_len,
                   bool *nomem)
{
    unsigned failed = eryx__alloc_failures();
    cJSON *parsed = cJSON_ParseWithLength(args, len);
    *nomem = eryx__alloc_failures() != failed;
    if (parsed == NULL) {
        /* cJSON says not why it failed; the funnel does. */
        snprintf(why, why_len, "%s",
                 *nomem ? "out of memory" : "not valid JSON");
        return false;
    }
    bool ok = check_parsed(parsed, schema, why, why_len);
    cJSON_Delete(parsed);
    return ok;
}
