/*
** journal.c: callback journals (eryx_journal, eryx__journal_*).  A journal
** records each callback call of an execute (name, canonical arguments,
** result or error), replays the calls of an earlier run that match, in the
** order the code starts them, and carries a suspension.  The hub consults
** it at each start (on the executing thread, so in start order) and at each
** completion (any thread): a mutex guards it.
**
** The text (eryx_journal_json) is
**   {"version":1,"code":"...","entries":[{"index":0,"name":"...",
**    "args_hash":"<16 hex>","args":{...},"result":...} or "error":"..."]}
** A journal given back is untrusted in form (checked whole by
** eryx_journal_new) but trusted in content: replayed results reach the code.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "callbacks/callbacks.h"

#define JOURNAL_VERSION 1

typedef struct entry {
    char *name;
    char *canon;   /* canonical arguments */
    char *payload; /* result JSON, or error message */
    bool ok;
    bool done; /* recorded: replayed, or finished live */
} entry;

struct eryx_journal {
    pthread_mutex_t mu;
    entry *replay; /* from the journal given */
    size_t nreplay;
    entry *rec; /* this run's, by call index */
    size_t nrec, caprec;
    bool live; /* a call did not match: no more replay */
    uint32_t replayed;
    bool suspended;
    char *s_name, *s_canon, *s_reason;
    char *code;
    char *json; /* eryx_journal_json's text */
    size_t json_len;
};

static void
entry_clear(entry *e)
{
    eryx__free(e->name);
    eryx__free(e->canon);
    eryx__free(e->payload);
    memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------- canonical JSON */

static int
cmp_members(const void *a, const void *b)
{
    const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* Sort the members of every object under `item` by key (stable), in
   place; false when memory runs out. */
static bool
sort_object(cJSON *item)
{
    for (cJSON *c = item->child; c != NULL; c = c->next) {
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !sort_object(c))
            return false;
    }
    if (!cJSON_IsObject(item) || item->child == NULL)
        return true;
    size_t n = 0;
    for (cJSON *c = item->child; c != NULL; c = c->next)
        n++;
    cJSON **v = eryx__malloc(n * sizeof *v);
    if (v == NULL)
        return false;
    size_t i = 0;
    for (cJSON *c = item->child; c != NULL; c = c->next)
        v[i++] = c;
    /* insertion sort: stable, and objects of arguments are small */
    for (size_t a = 1; a < n; a++) {
        cJSON *key = v[a];
        size_t b = a;
        while (b > 0 && cmp_members(&v[b - 1], &key) > 0) {
            v[b] = v[b - 1];
            b--;
        }
        v[b] = key;
    }
    for (i = 0; i < n; i++) {
        v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: child->prev = last */
        v[i]->next = i + 1 < n ? v[i + 1] : NULL;
    }
    item->child = v[0];
    eryx__free(v);
    return true;
}

/* The canonical text of `item`, whose objects it sorts in place; NULL when
   memory runs out. */
static char *
canonical_print(cJSON *item)
{
    return sort_object(item) ? cJSON_PrintUnformatted(item) : NULL;
}

char *
eryx__json_canonical(const char *json, size_t len, bool *nomem)
{
    *nomem = false;
    unsigned failed = eryx__alloc_failures();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        *nomem = eryx__alloc_failures() != failed;
        return NULL;
    }
    char *out = canonical_print(root);
    cJSON_Delete(root);
    if (out == NULL)
        *nomem = true;
    return out;
}

static uint64_t
args_hash(const char *canon)
{
    return eryx__checksum((const uint8_t *)canon, strlen(canon));
}

/* ------------------------------------------------------------ parsing */

static eryx_status
bad(eryx_error *err, size_t i, const char *what)
{
    if (i == SIZE_MAX)
        return eryx__fail(err, ERYX_E_INVALID_INPUT, "invalid journal: %s",
                          what);
    return eryx__fail(err, ERYX_E_INVALID_INPUT,
                      "invalid journal: entry %zu %s", i, what);
}

/* Entry `i` of a journal's parse tree (which this may reorder: the tree is
   the parser's own and freed after). */
static eryx_status
parse_entry(cJSON *e, size_t i, entry *out, eryx_error *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(e, "result");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(e, "error");
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(e, "index");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(e, "args_hash");
    if (!cJSON_IsObject(e))
        return bad(err, i, "is not an object");
    if (!cJSON_IsString(name))
        return bad(err, i, "has no name");
    if (args == NULL)
        return bad(err, i, "has no args");
    if ((result == NULL) == (error == NULL))
        return bad(err, i, "must have exactly one of result and error");
    if (error != NULL && !cJSON_IsString(error))
        return bad(err, i, "has an error that is not a string");
    if (index != NULL &&
        (!cJSON_IsNumber(index) || index->valuedouble != (double)i))
        return bad(err, i, "has the wrong index");
    out->canon = canonical_print(args);
    out->name = eryx__strdup(name->valuestring);
    out->payload = error ? eryx__strdup(error->valuestring)
                         : cJSON_PrintUnformatted(result);
    out->ok = error == NULL;
    if (out->canon == NULL || out->name == NULL || out->payload == NULL)
        return eryx__fail_nomem(err);
    if (hash != NULL) {
        char want[17];
        snprintf(want, sizeof want, "%016llx",
                 (unsigned long long)args_hash(out->canon));
        if (!cJSON_IsString(hash) || strcmp(hash->valuestring, want) != 0)
            return bad(err, i, "has an args_hash that does not match its args");
    }
    return ERYX_OK;
}

static eryx_status
parse(eryx_journal *j, const char *json, size_t len, eryx_error *err)
{
    unsigned failed = eryx__alloc_failures();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL)
        return eryx__alloc_failures() != failed
                   ? eryx__fail_nomem(err)
                   : bad(err, SIZE_MAX, "not JSON");
    eryx_status s = ERYX_OK;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
    if (!cJSON_IsObject(root))
        s = bad(err, SIZE_MAX, "not an object");
    else if (version != NULL && (!cJSON_IsNumber(version) ||
                                 version->valuedouble != JOURNAL_VERSION))
        s = bad(err, SIZE_MAX, "unknown version");
    else if (code != NULL && !cJSON_IsString(code))
        s = bad(err, SIZE_MAX, "code is not a string");
    else if (!cJSON_IsArray(entries))
        s = bad(err, SIZE_MAX, "entries is not a list");
    if (s == ERYX_OK) {
        size_t n = (size_t)cJSON_GetArraySize(entries);
        j->replay = n ? eryx__calloc(n, sizeof *j->replay) : NULL;
        if (n && j->replay == NULL)
            s = eryx__fail_nomem(err);
        size_t i = 0;
        cJSON *e;
        cJSON_ArrayForEach(e, entries)
        {
            if (s != ERYX_OK || j->replay == NULL || i >= n)
                break;
            s = parse_entry(e, i, &j->replay[i], err);
            i++;
            j->nreplay = i;
        }
    }
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------- public */

eryx_status
eryx_journal_new(const char *json,
                 size_t len,
                 eryx_journal **out,
                 eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    eryx_journal *j = eryx__calloc(1, sizeof *j);
    if (j == NULL)
        return eryx__fail_nomem(err);
    pthread_mutex_init(&j->mu, NULL);
    if (json != NULL) {
        eryx_status s = parse(j, json, len, err);
        if (s != ERYX_OK) {
            eryx_journal_free(j);
            return s;
        }
    }
    *out = j;
    return ERYX_OK;
}

static void
clear_run(eryx_journal *j)
{
    for (size_t i = 0; i < j->nrec; i++)
        entry_clear(&j->rec[i]);
    j->nrec = 0;
    j->live = false;
    j->replayed = 0;
    j->suspended = false;
    eryx__free(j->s_name);
    eryx__free(j->s_canon);
    eryx__free(j->s_reason);
    eryx__free(j->code);
    j->s_name = j->s_canon = j->s_reason = j->code = NULL;
}

void
eryx_journal_free(eryx_journal *j)
{
    if (j == NULL)
        return;
    clear_run(j);
    for (size_t i = 0; i < j->nreplay; i++)
        entry_clear(&j->replay[i]);
    eryx__free(j->replay);
    eryx__free(j->rec);
    cJSON_free(j->json);
    pthread_mutex_destroy(&j->mu);
    eryx__free(j);
}

const char *
eryx_journal_json(const eryx_journal *j, size_t *len)
{
    if (len != NULL)
        *len = j && j->json ? j->json_len : 0;
    return j ? j->json : NULL;
}

uint32_t
eryx_journal_replayed(const eryx_journal *j)
{
    return j ? j->replayed : 0;
}

const char *
eryx_journal_suspended(const eryx_journal *j,
                       const char **args_json,
                       const char **reason)
{
    bool s = j != NULL && j->suspended;
    if (args_json != NULL)
        *args_json = s ? j->s_canon : NULL;
    if (reason != NULL)
        *reason = s ? j->s_reason : NULL;
    return s ? j->s_name : NULL;
}

/* --------------------------------------------------- for hub.c and us */

eryx_status
eryx__journal_begin(eryx_journal *j, const char *code, size_t len)
{
    pthread_mutex_lock(&j->mu);
    clear_run(j);
    j->code = eryx__memdup(code, len);
    pthread_mutex_unlock(&j->mu);
    return j->code ? ERYX_OK : ERYX_E_NOMEM;
}

/* The record of call `index` (mu held), grown as needed; NULL on OOM. */
static entry *
rec_at(eryx_journal *j, uint32_t index)
{
    if (index >= j->caprec) {
        size_t cap = j->caprec ? j->caprec : 8;
        while (cap <= index)
            cap *= 2;
        entry *r = eryx__realloc(j->rec, cap * sizeof *r);
        if (r == NULL)
            return NULL;
        memset(r + j->caprec, 0, (cap - j->caprec) * sizeof *r);
        j->rec = r;
        j->caprec = cap;
    }
    if (index >= j->nrec)
        j->nrec = index + 1;
    return &j->rec[index];
}

bool
eryx__journal_decide(eryx_journal *j,
                     uint32_t index,
                     const char *name,
                     const char *canon,
                     bool *ok,
                     char **payload,
                     bool *nomem)
{
    *nomem = false;
    *payload = NULL;
    pthread_mutex_lock(&j->mu);
    const entry *e = NULL;
    if (!j->live && index < j->nreplay &&
        strcmp(j->replay[index].name, name) == 0 &&
        strcmp(j->replay[index].canon, canon) == 0)
        e = &j->replay[index];
    else
        j->live = true;
    entry *r = rec_at(j, index);
    if (r == NULL) {
        *nomem = true;
        e = NULL;
    } else if (e != NULL) {
        r->name = eryx__strdup(e->name);
        r->canon = eryx__strdup(e->canon);
        r->payload = eryx__strdup(e->payload);
        *payload = eryx__strdup(e->payload);
        if (!r->name || !r->canon || !r->payload || !*payload) {
            entry_clear(r);
            eryx__free(*payload);
            *payload = NULL;
            *nomem = true;
            j->live = true;
            e = NULL;
        } else {
            r->ok = *ok = e->ok;
            r->done = true;
            j->replayed++;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return e != NULL;
}

void
eryx__journal_record(eryx_journal *j,
                     uint32_t index,
                     const char *name,
                     const char *canon,
                     bool ok,
                     const char *payload,
                     size_t len)
{
    pthread_mutex_lock(&j->mu);
    entry *r = j->suspended ? NULL : rec_at(j, index);
    if (r != NULL && !r->done) {
        r->name = eryx__strdup(name);
        r->canon = eryx__strdup(canon);
        r->payload = eryx__memdup(payload, len);
        r->ok = ok;
        r->done = r->name && r->canon && r->payload;
        if (!r->done)
            entry_clear(r); /* out of memory: the journal stops before it */
    }
    pthread_mutex_unlock(&j->mu);
}

bool
eryx__journal_suspend(eryx_journal *j,
                      const char *name,
                      const char *canon,
                      const char *reason,
                      size_t len)
{
    pthread_mutex_lock(&j->mu);
    bool first = !j->suspended;
    if (first) {
        j->suspended = true;
        j->s_name = eryx__strdup(name);
        j->s_canon = eryx__strdup(canon ? canon : "{}");
        j->s_reason = eryx__memdup(reason ? reason : "", reason ? len : 0);
    }
    pthread_mutex_unlock(&j->mu);
    return first;
}

eryx_status
eryx__journal_finish(eryx_journal *j)
{
    pthread_mutex_lock(&j->mu);
    cJSON_free(j->json);
    j->json = NULL;
    j->json_len = 0;
    eryx_status s = ERYX_OK;
    cJSON *root = cJSON_CreateObject();
    cJSON *entries = root ? cJSON_AddArrayToObject(root, "entries") : NULL;
    if (root == NULL || entries == NULL ||
        cJSON_AddNumberToObject(root, "version", JOURNAL_VERSION) == NULL ||
        cJSON_AddStringToObject(root, "code", j->code ? j->code : "") == NULL)
        s = ERYX_E_NOMEM;
    /* The calls in start order, up to the first that did not finish (a
       suspended one, one cut by a timeout): later ones run again. */
    for (size_t i = 0; s == ERYX_OK && i < j->nrec && j->rec[i].done; i++) {
        const entry *r = &j->rec[i];
        char hash[17];
        snprintf(hash, sizeof hash, "%016llx",
                 (unsigned long long)args_hash(r->canon));
        cJSON *e = cJSON_CreateObject();
        if (e == NULL || !cJSON_AddItemToArray(entries, e)) {
            cJSON_Delete(e);
            s = ERYX_E_NOMEM;
            break;
        }
        /* e belongs to root now; each item below is added or deleted */
        cJSON *args = cJSON_Parse(r->canon);
        cJSON *value =
            r->ok ? cJSON_Parse(r->payload) : cJSON_CreateString(r->payload);
        bool args_in = args != NULL && cJSON_AddItemToObject(e, "args", args);
        bool value_in =
            value != NULL &&
            cJSON_AddItemToObject(e, r->ok ? "result" : "error", value);
        if (!args_in)
            cJSON_Delete(args);
        if (!value_in)
            cJSON_Delete(value);
        if (!args_in || !value_in ||
            cJSON_AddNumberToObject(e, "index", (double)i) == NULL ||
            cJSON_AddStringToObject(e, "name", r->name) == NULL ||
            cJSON_AddStringToObject(e, "args_hash", hash) == NULL)
            s = ERYX_E_NOMEM;
    }
    if (s == ERYX_OK) {
        j->json = cJSON_PrintUnformatted(root);
        if (j->json == NULL)
            s = ERYX_E_NOMEM;
        else
            j->json_len = strlen(j->json);
    }
    cJSON_Delete(root);
    pthread_mutex_unlock(&j->mu);
    return s;
}
