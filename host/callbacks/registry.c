/*
** registry.c: the callbacks a config, sandbox or session offers
** (eryx__registry_*), each immutable and shared by reference
** (eryx__callback_*), and the JSON list the guest reads.  JSON is parsed
** and built with cJSON only.
*/
#include <string.h>

#include <cjson/cJSON.h>

#include "callbacks/callbacks.h"

struct eryx__callback {
    char *name;
    char *description;
    cJSON *schema; /* an object, or NULL: no declared parameters */
    eryx__hook *hook;
    int refs; /* atomic */
};

eryx__callback *
eryx__callback_ref(eryx__callback *cb)
{
    __atomic_add_fetch(&cb->refs, 1, __ATOMIC_RELAXED);
    return cb;
}

void
eryx__callback_unref(eryx__callback *cb)
{
    if (cb == NULL || __atomic_sub_fetch(&cb->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    eryx__free(cb->name);
    eryx__free(cb->description);
    cJSON_Delete(cb->schema);
    eryx__hook_unref(cb->hook);
    eryx__free(cb);
}

/* A dotted Python name: identifiers joined by single dots. */
static bool
valid_name(const char *s)
{
    bool start = true;
    for (; *s; s++) {
        char c = *s;
        bool alpha =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (c == '.') {
            if (start)
                return false;
            start = true;
        } else if (alpha || (!start && c >= '0' && c <= '9')) {
            start = false;
        } else {
            return false;
        }
    }
    return !start;
}

/* Rebuild the list-callbacks answer. */
static eryx_status
build_json(eryx__registry *reg, eryx_error *err)
{
    eryx__free(reg->list_json);
    reg->list_json = NULL;
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; list != NULL && i < reg->count; i++) {
        const eryx__callback *cb = reg->items[i];
        cJSON *o = cJSON_CreateObject();
        if (o != NULL && !cJSON_AddItemToArray(list, o)) {
            cJSON_Delete(o); /* not the list's: ours to free */
            o = NULL;
        }
        cJSON *schema = o == NULL    ? NULL
                        : cb->schema ? cJSON_Duplicate(cb->schema, true)
                                     : cJSON_CreateObject();
        bool ok =
            schema != NULL &&
            cJSON_AddStringToObject(o, "name", cb->name) != NULL &&
            cJSON_AddStringToObject(o, "description", cb->description) != NULL;
        if (ok && !cJSON_AddItemToObject(o, "parameters_schema", schema))
            ok = false;
        else if (ok)
            schema = NULL; /* the object's now */
        if (!ok) {
            cJSON_Delete(schema);
            cJSON_Delete(list); /* with `o` in it */
            list = NULL;
        }
    }
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    if (text == NULL)
        return eryx__fail_nomem(err);
    reg->list_json = eryx__strdup(text);
    cJSON_free(text);
    return reg->list_json ? ERYX_OK : eryx__fail_nomem(err);
}

eryx_status
eryx__registry_add(eryx__registry *reg,
                   const char *name,
                   const char *description,
                   const char *schema,
                   eryx__hook *hook,
                   eryx_error *err)
{
    if (!valid_name(name))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "callback name '%.64s' is not a dotted Python name",
                          name);
    for (size_t i = 0; i < reg->count; i++) {
        if (strcmp(reg->items[i]->name, name) == 0)
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "callback '%.64s' is registered already", name);
    }
    cJSON *parsed = NULL;
    if (schema != NULL) {
        unsigned failed = eryx__alloc_failures();
        parsed = cJSON_Parse(schema);
        if (eryx__alloc_failures() != failed) {
            cJSON_Delete(parsed);
            return eryx__fail_nomem(err);
        }
        if (!cJSON_IsObject(parsed)) {
            cJSON_Delete(parsed);
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "the schema of '%.64s' is not a JSON object",
                              name);
        }
    }
    eryx__callback *cb = eryx__calloc(1, sizeof *cb);
    eryx__callback **items =
        eryx__realloc(reg->items, (reg->count + 1) * sizeof *items);
    if (items != NULL)
        reg->items = items;
    if (cb == NULL || items == NULL ||
        (cb->name = eryx__strdup(name)) == NULL ||
        (cb->description = eryx__strdup(description)) == NULL) {
        if (cb != NULL) {
            eryx__free(cb->name);
            eryx__free(cb);
        }
        cJSON_Delete(parsed);
        return eryx__fail_nomem(err);
    }
    cb->schema = parsed;
    cb->hook = eryx__hook_ref(hook);
    cb->refs = 1;
    reg->items[reg->count++] = cb;
    return build_json(reg, err);
}

eryx_status
eryx__registry_copy(eryx__registry *dst,
                    const eryx__registry *src,
                    eryx_error *err)
{
    dst->items = NULL;
    dst->count = 0;
    dst->list_json = NULL;
    if (src->count == 0)
        return ERYX_OK;
    dst->items = eryx__malloc(src->count * sizeof *dst->items);
    dst->list_json = eryx__strdup(src->list_json ? src->list_json : "[]");
    if (dst->items == NULL || dst->list_json == NULL) {
        eryx__registry_clear(dst);
        return eryx__fail_nomem(err);
    }
    for (size_t i = 0; i < src->count; i++)
        dst->items[i] = eryx__callback_ref(src->items[i]);
    dst->count = src->count;
    return ERYX_OK;
}

void
eryx__registry_clear(eryx__registry *reg)
{
    for (size_t i = 0; i < reg->count; i++)
        eryx__callback_unref(reg->items[i]);
    eryx__free(reg->items);
    eryx__free(reg->list_json);
    reg->items = NULL;
    reg->count = 0;
    reg->list_json = NULL;
}

const char *
eryx__registry_json(const eryx__registry *reg)
{
    return reg->list_json ? reg->list_json : "[]";
}

eryx__callback *
eryx__registry_find(const eryx__registry *reg, const char *name, size_t len)
{
    for (size_t i = 0; i < reg->count; i++) {
        const char *n = reg->items[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return reg->items[i];
    }
    return NULL;
}


eryx__hook *
eryx__callback_hook(const eryx__callback *cb)
{
    return cb->hook;
}

const void *
eryx__callback_schema(const eryx__callback *cb)
{
    return cb->schema;
}
