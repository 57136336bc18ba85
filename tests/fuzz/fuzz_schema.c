/*
** fuzz_schema.c: libFuzzer entry point over the check of a callback's
** arguments (host/callbacks/schema.c).  The input is a JSON Schema, a
** newline, and the arguments: both untrusted in the check's eyes (the
** arguments come from the guest).  Besides "no crash, no sanitizer report"
** it checks that a rejection always says why.  The whole input is also a
** callback journal's text for eryx_journal_new (host/callbacks/journal.c),
** and the arguments are canonicalized twice: the second pass must change
** nothing.
*/
#include <string.h>

#include <cjson/cJSON.h>

#include "callbacks/callbacks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t schema_len = nl ? (size_t)(nl - text) : 0;
    const char *args = nl ? nl + 1 : text;
    size_t args_len = size - (size_t)(args - text);
    cJSON *schema = nl ? cJSON_ParseWithLength(text, schema_len) : NULL;
    char why[200];
    bool nomem;
    why[0] = '\0';
    bool ok = eryx__schema_check(args, args_len,
                                 cJSON_IsObject(schema) ? schema : NULL, why,
                                 sizeof why, &nomem);
    if (!ok && why[0] == '\0')
        __builtin_trap();
    cJSON_Delete(schema);

    eryx_journal *j = NULL;
    eryx_error err;
    if (eryx_journal_new(text, size, &j, &err) == ERYX_OK) {
        if (eryx__journal_begin(j, "x", 1) == ERYX_OK)
            (void)eryx__journal_finish(j);
        eryx_journal_free(j);
    } else if (err.message[0] == '\0') {
        __builtin_trap();
    }
    char *c1 = eryx__json_canonical(args, args_len, &nomem);
    if (c1 != NULL) {
        char *c2 = eryx__json_canonical(c1, strlen(c1), &nomem);
        if (c2 != NULL && strcmp(c1, c2) != 0)
            __builtin_trap();
        cJSON_free(c2);
    }
    cJSON_free(c1);
    return 0;
}
