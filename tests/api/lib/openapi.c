/*
 * openapi.c — checking answers against docs/openapi.json (openapi.h).
 */
#include "api/lib/openapi.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "test.h"

#define S_ERR_SIZE 1024
#define S_SEEN_MAX 256 /* distinct mismatches remembered, so each prints once */
#define S_DEPTH_MAX 32 /* of nested schemas: a $ref cycle stops here */

static pthread_once_t S_once = PTHREAD_ONCE_INIT;
static json_t *S_doc;
static char S_doc_err[S_ERR_SIZE];

static pthread_mutex_t S_seen_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t S_seen[S_SEEN_MAX];
static size_t S_seen_count;

static void S_load(void)
{
    const char *dir = getenv("QB_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/openapi.json", dir != NULL && dir[0] ? dir : ".");
    json_error_t error;
    S_doc = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (S_doc == NULL)
        snprintf(S_doc_err, sizeof S_doc_err, "%s:%d: %s", path, error.line, error.text);
}

const void *openapi_document(char *err, size_t err_size)
{
    pthread_once(&S_once, S_load);
    if (S_doc == NULL)
        snprintf(err, err_size, "%s", S_doc_err);
    return S_doc;
}

static bool S_fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return false;
}

/* "#/components/schemas/Name" (or responses) in the document; NULL if none. */
static const json_t *S_ref(const char *ref)
{
    static const char prefix[] = "#/components/";
    if (strncmp(ref, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *kind = ref + sizeof prefix - 1;
    const char *slash = strchr(kind, '/');
    if (slash == NULL || strchr(slash + 1, '/') != NULL)
        return NULL;
    char kind_name[32];
    if ((size_t)(slash - kind) >= sizeof kind_name)
        return NULL;
    memcpy(kind_name, kind, (size_t)(slash - kind));
    kind_name[slash - kind] = '\0';
    return json_object_get(json_object_get(json_object_get(S_doc, "components"), kind_name),
                           slash + 1);
}

/* ---- the schema keywords ---------------------------------------------- */

static const char *const S_keywords[] = {
    "type",       "properties", "required",  "additionalProperties",
    "items",      "enum",       "const",     "$ref",
    "oneOf",      "anyOf",      "allOf",     "format",
    "pattern",    "minimum",    "maximum",   "minLength",
    "maxLength",  "minItems",   "maxItems",  "description",
    "title",      "example",    "examples",  "default",
    "deprecated", "readOnly",   "writeOnly", "$comment",
};

static bool S_keyword_known(const char *key)
{
    for (size_t i = 0; i < sizeof S_keywords / sizeof S_keywords[0]; i++)
        if (strcmp(key, S_keywords[i]) == 0)
            return true;
    return false;
}

static bool S_regex_match(const char *pattern, const char *text, bool *matched)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    *matched = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return true;
}

static size_t S_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool S_type_is(const char *type, const json_t *value)
{
    if (strcmp(type, "null") == 0)
        return json_is_null(value);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(value);
    if (strcmp(type, "object") == 0)
        return json_is_object(value);
    if (strcmp(type, "array") == 0)
        return json_is_array(value);
    if (strcmp(type, "string") == 0)
        return json_is_string(value);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(value);
    if (strcmp(type, "number") == 0)
        return json_is_number(value);
    return false;
}

static const char *S_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static bool S_validate(const json_t *schema, const json_t *value, const char *where, int depth,
                       bool open, char *err, size_t err_size);

/* Whether name is a property of schema or of one of its allOf branches
 * (through $refs): allOf extends an object, and the closed rule holds for
 * the union. */
static bool S_names(const json_t *schema, const char *name, int depth)
{
    if (depth > S_DEPTH_MAX || !json_is_object(schema))
        return false;
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (ref != NULL && S_names(S_ref(ref), name, depth + 1))
        return true;
    if (json_object_get(json_object_get(schema, "properties"), name) != NULL)
        return true;
    size_t i;
    const json_t *branch;
    json_array_foreach(json_object_get(schema, "allOf"), i, branch)
    {
        if (S_names(branch, name, depth + 1))
            return true;
    }
    return false;
}

static bool S_validate_object(const json_t *schema, const json_t *value, const char *where,
                              int depth, bool open, char *err, size_t err_size)
{
    const json_t *properties = json_object_get(schema, "properties");
    const json_t *additional = json_object_get(schema, "additionalProperties");
    const json_t *required = json_object_get(schema, "required");
    size_t i;
    const json_t *name;
    json_array_foreach(required, i, name)
    {
        if (json_object_get(value, json_string_value(name)) == NULL)
            return S_fail(err, err_size, "%s: required field \"%s\" is missing", where,
                          json_string_value(name));
    }
    const char *key;
    const json_t *field;
    json_object_foreach((json_t *)value, key, field)
    {
        char child[512];
        snprintf(child, sizeof child, "%s.%s", where, key);
        const json_t *sub = json_object_get(properties, key);
        if (sub == NULL) {
            bool closed = json_is_false(additional) ||
                          (additional == NULL && !open &&
                           (properties != NULL || json_object_get(schema, "allOf") != NULL) &&
                           !S_names(schema, key, depth));
            if (closed)
                return S_fail(err, err_size, "%s: a field the document does not name", child);
            if (!json_is_object(additional))
                continue;
            sub = additional;
        }
        if (!S_validate(sub, field, child, depth + 1, false, err, err_size))
            return false;
    }
    return true;
}

static bool S_validate_string(const json_t *schema, const json_t *value, const char *where,
                              char *err, size_t err_size)
{
    const char *text = json_string_value(value);
    const json_t *min = json_object_get(schema, "minLength");
    const json_t *max = json_object_get(schema, "maxLength");
    size_t length = S_utf8_length(text);
    if (min != NULL && (json_int_t)length < json_integer_value(min))
        return S_fail(err, err_size, "%s: \"%.80s\" is shorter than %lld", where, text,
                      (long long)json_integer_value(min));
    if (max != NULL && (json_int_t)length > json_integer_value(max))
        return S_fail(err, err_size, "%s: \"%.80s\" is longer than %lld", where, text,
                      (long long)json_integer_value(max));
    const char *pattern = json_string_value(json_object_get(schema, "pattern"));
    bool matched;
    if (pattern != NULL) {
        if (!S_regex_match(pattern, text, &matched))
            return S_fail(err, err_size, "%s: pattern %s is not a POSIX extended regex", where,
                          pattern);
        if (!matched)
            return S_fail(err, err_size, "%s: \"%.80s\" does not match %s", where, text, pattern);
    }
    const char *format = json_string_value(json_object_get(schema, "format"));
    const char *format_re = NULL;
    if (format != NULL && strcmp(format, "date-time") == 0)
        format_re = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
                    "(Z|[+-][0-9]{2}:[0-9]{2})$";
    else if (format != NULL && strcmp(format, "date") == 0)
        format_re = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
    if (format_re != NULL && (!S_regex_match(format_re, text, &matched) || !matched))
        return S_fail(err, err_size, "%s: \"%.80s\" is not a %s", where, text, format);
    return true;
}

static bool S_validate_number(const json_t *schema, const json_t *value, const char *where,
                              char *err, size_t err_size)
{
    const json_t *min = json_object_get(schema, "minimum");
    const json_t *max = json_object_get(schema, "maximum");
    bool exact = json_is_integer(value);
    if (min != NULL &&
        (exact && json_is_integer(min) ? json_integer_value(value) < json_integer_value(min)
                                       : json_number_value(value) < json_number_value(min)))
        return S_fail(err, err_size, "%s: %g is below the minimum %g", where,
                      json_number_value(value), json_number_value(min));
    if (max != NULL &&
        (exact && json_is_integer(max) ? json_integer_value(value) > json_integer_value(max)
                                       : json_number_value(value) > json_number_value(max)))
        return S_fail(err, err_size, "%s: %g is above the maximum %g", where,
                      json_number_value(value), json_number_value(max));
    return true;
}

/* oneOf (exactly one branch), anyOf (at least one), allOf (every one). */
static bool S_validate_branches(const json_t *schema, const json_t *value, const char *where,
                                int depth, bool open, char *err, size_t err_size)
{
    const char *const kinds[] = {"oneOf", "anyOf", "allOf"};
    for (size_t k = 0; k < 3; k++) {
        const json_t *branches = json_object_get(schema, kinds[k]);
        if (branches == NULL)
            continue;
        size_t passed = 0, i;
        const json_t *branch;
        char first[S_ERR_SIZE] = "";
        json_array_foreach(branches, i, branch)
        {
            char why[S_ERR_SIZE];
            if (S_validate(branch, value, where, depth + 1, k == 2 || open, why, sizeof why))
                passed++;
            else if (k == 2)
                return S_fail(err, err_size, "%s", why);
            else if (first[0] == '\0')
                snprintf(first, sizeof first, "%s", why);
        }
        if (k == 0 && passed != 1)
            return S_fail(err, err_size, "%s: matches %zu of oneOf's branches, not one (%s)", where,
                          passed, passed == 0 ? first : "ambiguous");
        if (k == 1 && passed == 0)
            return S_fail(err, err_size, "%s: matches none of anyOf's branches (%s)", where, first);
    }
    return true;
}

static bool S_validate(const json_t *schema, const json_t *value, const char *where, int depth,
                       bool open, char *err, size_t err_size)
{
    if (depth > S_DEPTH_MAX)
        return S_fail(err, err_size, "%s: schemas nested too deep (a $ref cycle?)", where);
    if (json_is_true(schema))
        return true;
    if (!json_is_object(schema))
        return S_fail(err, err_size, "%s: the schema is not an object", where);
    const char *key;
    const json_t *unused;
    json_object_foreach((json_t *)schema, key, unused)
    {
        if (!S_keyword_known(key))
            return S_fail(err, err_size,
                          "%s: the schema uses \"%s\", which the check does not know", where, key);
    }
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (ref != NULL) {
        const json_t *target = S_ref(ref);
        if (target == NULL)
            return S_fail(err, err_size, "%s: $ref %s does not resolve", where, ref);
        if (!S_validate(target, value, where, depth + 1, open, err, err_size))
            return false;
    }
    const json_t *type = json_object_get(schema, "type");
    if (type != NULL) {
        bool ok = false;
        if (json_is_string(type)) {
            ok = S_type_is(json_string_value(type), value);
        } else {
            size_t i;
            const json_t *t;
            json_array_foreach(type, i, t) ok = ok || S_type_is(json_string_value(t), value);
        }
        if (!ok) {
            char *text = json_dumps(type, JSON_COMPACT | JSON_ENCODE_ANY);
            bool r = S_fail(err, err_size, "%s: a %s where the document says %s", where,
                            S_type_name(value), text != NULL ? text : "?");
            free(text);
            return r;
        }
    }
    const json_t *choices = json_object_get(schema, "enum");
    if (choices != NULL) {
        bool found = false;
        size_t i;
        const json_t *choice;
        json_array_foreach(choices, i, choice) found = found || json_equal(choice, value);
        if (!found) {
            char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            bool r = S_fail(err, err_size, "%s: %.80s is none of the enum's values", where,
                            text != NULL ? text : "?");
            free(text);
            return r;
        }
    }
    const json_t *constant = json_object_get(schema, "const");
    if (constant != NULL && !json_equal(constant, value))
        return S_fail(err, err_size, "%s: not the const value", where);
    if (json_is_object(value) &&
        !S_validate_object(schema, value, where, depth, open, err, err_size))
        return false;
    if (json_is_array(value)) {
        const json_t *items = json_object_get(schema, "items");
        const json_t *min = json_object_get(schema, "minItems");
        const json_t *max = json_object_get(schema, "maxItems");
        if (min != NULL && (json_int_t)json_array_size(value) < json_integer_value(min))
            return S_fail(err, err_size, "%s: fewer than %lld items", where,
                          (long long)json_integer_value(min));
        if (max != NULL && (json_int_t)json_array_size(value) > json_integer_value(max))
            return S_fail(err, err_size, "%s: more than %lld items", where,
                          (long long)json_integer_value(max));
        size_t i;
        const json_t *item;
        json_array_foreach(value, i, item)
        {
            char child[512];
            snprintf(child, sizeof child, "%s[%zu]", where, i);
            if (items != NULL && !S_validate(items, item, child, depth + 1, false, err, err_size))
                return false;
        }
    }
    if (json_is_string(value) && !S_validate_string(schema, value, where, err, err_size))
        return false;
    if (json_is_number(value) && !S_validate_number(schema, value, where, err, err_size))
        return false;
    return S_validate_branches(schema, value, where, depth, open, err, err_size);
}

/* ---- finding the operation and the answer ----------------------------- */

/* The path template matching path (no query), the most literal segments
 * winning; NULL if none. */
static const char *S_template(const char *path, const json_t **item)
{
    const char *best = NULL;
    int best_literal = -1;
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(S_doc, "paths"), key, value)
    {
        const char *t = key, *p = path;
        int literal = 0;
        bool ok = true;
        while (ok && *t != '\0' && *p != '\0') {
            if (*t != '/' || *p != '/') {
                ok = false;
                break;
            }
            t++, p++;
            size_t tn = strcspn(t, "/"), pn = strcspn(p, "/");
            if (t[0] == '{' && t[tn - 1] == '}') {
                ok = pn > 0;
            } else {
                ok = tn == pn && memcmp(t, p, tn) == 0;
                literal++;
            }
            t += tn, p += pn;
        }
        if (ok && *t == '\0' && *p == '\0' && literal > best_literal) {
            best = key;
            best_literal = literal;
            *item = value;
        }
    }
    return best;
}

static const json_t *S_answer(const json_t *operation, long status)
{
    const json_t *responses = json_object_get(operation, "responses");
    char code[24], range[24];
    snprintf(code, sizeof code, "%ld", status);
    snprintf(range, sizeof range, "%ldXX", status / 100);
    const json_t *answer = json_object_get(responses, code);
    if (answer == NULL)
        answer = json_object_get(responses, range);
    if (answer == NULL)
        answer = json_object_get(responses, "default");
    const char *ref = json_string_value(json_object_get(answer, "$ref"));
    return ref != NULL ? S_ref(ref) : answer;
}

bool openapi_response_valid(const char *method, const char *path, const struct client_response *res,
                            char *err, size_t err_size)
{
    if (openapi_document(err, err_size) == NULL)
        return false;
    char bare[2048];
    snprintf(bare, sizeof bare, "%.*s", (int)strcspn(path, "?#"), path);
    const json_t *item = NULL;
    const char *template = S_template(bare, &item);
    if (template == NULL)
        return true; /* the daemon's own 404: no operation to check */
    bool head = strcmp(method, "HEAD") == 0;
    char lower[16];
    size_t n = 0;
    for (const char *m = head ? "get" : method; *m != '\0' && n + 1 < sizeof lower; m++)
        lower[n++] = (char)tolower((unsigned char)*m);
    lower[n] = '\0';
    const json_t *operation = json_object_get(item, lower);
    if (operation == NULL)
        return true; /* the daemon's own 405 */
    const json_t *answer = S_answer(operation, res->status);
    if (answer == NULL)
        return S_fail(err, err_size, "%s %s: status %ld is not documented", method, template,
                      res->status);
    const json_t *content = json_object_get(answer, "content");
    if (head)
        return true;
    if (content == NULL) {
        if (res->body.size != 0)
            return S_fail(err, err_size, "%s %s %ld: a body where the document says none", method,
                          template, res->status);
        return true;
    }
    char type_buf[128];
    const char *type = client_response_header(res, "Content-Type", type_buf, sizeof type_buf);
    if (type == NULL)
        return S_fail(err, err_size, "%s %s %ld: no Content-Type", method, template, res->status);
    type_buf[strcspn(type_buf, "; ")] = '\0';
    for (char *c = type_buf; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    const json_t *media = json_object_get(content, type_buf);
    if (media == NULL)
        return S_fail(err, err_size, "%s %s %ld: Content-Type %s is not documented", method,
                      template, res->status, type_buf);
    const json_t *schema = json_object_get(media, "schema");
    if (schema == NULL || strcmp(type_buf, "application/json") != 0)
        return true;
    json_error_t error;
    json_t *body = json_loadb(res->body.data != NULL ? res->body.data : "", res->body.size,
                              JSON_DECODE_ANY, &error);
    if (body == NULL)
        return S_fail(err, err_size, "%s %s %ld: the body is not JSON: %s", method, template,
                      res->status, error.text);
    char where[300];
    snprintf(where, sizeof where, "%s %s %ld: $", method, template, res->status);
    bool ok = S_validate(schema, body, where, 0, false, err, err_size);
    json_decref(body);
    return ok;
}

static uint64_t S_hash(const char *text)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *text != '\0'; text++)
        h = (h ^ (unsigned char)*text) * 1099511628211ULL;
    return h;
}

void openapi_response_check(const char *method, const char *path, const struct client_response *res)
{
    char err[S_ERR_SIZE];
    if (openapi_response_valid(method, path, res, err, sizeof err))
        return;
    uint64_t h = S_hash(err);
    pthread_mutex_lock(&S_seen_lock);
    bool seen = false;
    for (size_t i = 0; i < S_seen_count && !seen; i++)
        seen = S_seen[i] == h;
    if (!seen && S_seen_count < S_SEEN_MAX)
        S_seen[S_seen_count++] = h;
    if (!seen) {
        test_failed_count++;
        fprintf(stderr, "FAIL openapi: %s\n", err);
        if (res->body.size > 0)
            fprintf(stderr, "  body: %.600s\n", res->body.data);
    }
    pthread_mutex_unlock(&S_seen_lock);
}

/* ---- the document's own schemas --------------------------------------- */

static bool S_schema_walk(const json_t *schema, const char *where, int depth, char *err,
                          size_t err_size)
{
    if (depth > S_DEPTH_MAX)
        return S_fail(err, err_size, "%s: nested too deep", where);
    if (json_is_boolean(schema))
        return true;
    if (!json_is_object(schema))
        return S_fail(err, err_size, "%s: the schema is not an object", where);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)schema, key, value)
    {
        char child[512];
        snprintf(child, sizeof child, "%s/%s", where, key);
        if (!S_keyword_known(key))
            return S_fail(err, err_size, "%s: \"%s\" is not a keyword the check knows", where, key);
        if (strcmp(key, "$ref") == 0 && S_ref(json_string_value(value)) == NULL)
            return S_fail(err, err_size, "%s: $ref %s does not resolve", where,
                          json_string_value(value));
        if (strcmp(key, "type") == 0) {
            static const char *const types[] = {"null",   "boolean", "object", "array",
                                                "string", "integer", "number"};
            size_t i, count = json_is_array(value) ? json_array_size(value) : 1;
            for (i = 0; i < count; i++) {
                const char *t =
                    json_string_value(json_is_array(value) ? json_array_get(value, i) : value);
                bool known = false;
                for (size_t k = 0; t != NULL && k < sizeof types / sizeof types[0]; k++)
                    known = known || strcmp(t, types[k]) == 0;
                if (!known)
                    return S_fail(err, err_size, "%s: a type that is none of JSON's", child);
            }
        }
        if (strcmp(key, "pattern") == 0) {
            bool unused;
            if (!json_is_string(value) || !S_regex_match(json_string_value(value), "", &unused))
                return S_fail(err, err_size, "%s: not a POSIX extended regex", child);
        }
        if ((strcmp(key, "items") == 0 || strcmp(key, "additionalProperties") == 0) &&
            !S_schema_walk(value, child, depth + 1, err, err_size))
            return false;
        if (strcmp(key, "properties") == 0) {
            const char *name;
            const json_t *sub;
            json_object_foreach((json_t *)value, name, sub)
            {
                char grand[600];
                snprintf(grand, sizeof grand, "%s/%s", child, name);
                if (!S_schema_walk(sub, grand, depth + 1, err, err_size))
                    return false;
            }
        }
        if (strcmp(key, "oneOf") == 0 || strcmp(key, "anyOf") == 0 || strcmp(key, "allOf") == 0) {
            size_t i;
            const json_t *sub;
            json_array_foreach(value, i, sub)
            {
                if (!S_schema_walk(sub, child, depth + 1, err, err_size))
                    return false;
            }
        }
    }
    return true;
}

/* The schemas under a content map ({"media/type": {"schema": ...}}). */
static bool S_content_walk(const json_t *content, const char *where, char *err, size_t err_size)
{
    const char *media;
    const json_t *entry;
    json_object_foreach((json_t *)content, media, entry)
    {
        const json_t *schema = json_object_get(entry, "schema");
        char child[512];
        snprintf(child, sizeof child, "%s/%s", where, media);
        if (schema != NULL && !S_schema_walk(schema, child, 0, err, err_size))
            return false;
    }
    return true;
}

static bool S_responses_walk(const json_t *responses, const char *where, char *err, size_t err_size)
{
    const char *status;
    const json_t *answer;
    json_object_foreach((json_t *)responses, status, answer)
    {
        char child[512];
        snprintf(child, sizeof child, "%s/%s", where, status);
        const char *ref = json_string_value(json_object_get(answer, "$ref"));
        if (ref != NULL && S_ref(ref) == NULL)
            return S_fail(err, err_size, "%s: $ref %s does not resolve", child, ref);
        if (!S_content_walk(json_object_get(answer, "content"), child, err, err_size))
            return false;
    }
    return true;
}

bool openapi_schemas_supported(char *err, size_t err_size)
{
    if (openapi_document(err, err_size) == NULL)
        return false;
    const json_t *components = json_object_get(S_doc, "components");
    const char *name;
    const json_t *schema;
    json_object_foreach(json_object_get(components, "schemas"), name, schema)
    {
        char where[300];
        snprintf(where, sizeof where, "#/components/schemas/%s", name);
        if (!S_schema_walk(schema, where, 0, err, err_size))
            return false;
    }
    if (!S_responses_walk(json_object_get(components, "responses"), "#/components/responses", err,
                          err_size))
        return false;
    const char *path;
    const json_t *item;
    json_object_foreach(json_object_get(S_doc, "paths"), path, item)
    {
        const char *method;
        const json_t *operation;
        json_object_foreach((json_t *)item, method, operation)
        {
            char where[512];
            snprintf(where, sizeof where, "%s %s", method, path);
            size_t i;
            const json_t *parameter;
            json_array_foreach(json_object_get(operation, "parameters"), i, parameter)
            {
                const json_t *s = json_object_get(parameter, "schema");
                if (s != NULL && !S_schema_walk(s, where, 0, err, err_size))
                    return false;
            }
            const json_t *body = json_object_get(operation, "requestBody");
            if (!S_content_walk(json_object_get(body, "content"), where, err, err_size) ||
                !S_responses_walk(json_object_get(operation, "responses"), where, err, err_size))
                return false;
        }
    }
    return true;
}
