/*
 * test_json.c — http_json_parse and http_json_object, refusal by refusal.
 *
 * Every handler trusts what this validator lets through, so each refusal in
 * json.h gets a case that must trip it and a neighbour that must pass, and
 * messages are checked to name the field but never echo the client's value.
 */
#include <stdlib.h>
#include <string.h>

#include "http/json.h"
#include "test.h"

#define CT "application/json"

static const struct http_field S_fields[] = {
    {"phone", HTTP_FIELD_STRING, true, 11, 0, 0},
    {"name", HTTP_FIELD_STRING, false, 0, 0, 0},
    {"count", HTTP_FIELD_INTEGER, false, 0, 1, 100},
    {"any", HTTP_FIELD_INTEGER, false, 0, 0, 0},
    {"flag", HTTP_FIELD_BOOLEAN, false, 0, 0, 0},
    {"obj", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"list", HTTP_FIELD_ARRAY, false, 3, 0, 0},
    {"secret", HTTP_FIELD_SECRET, false, 0, 0, 0},
    {"limit", HTTP_FIELD_INTEGER_OR_NULL, false, 0, 0, 10},
    {"scanned", HTTP_FIELD_OPAQUE, false, 8, 0, 0},
};
#define S_FIELD_COUNT (sizeof S_fields / sizeof S_fields[0])

static char S_message[HTTP_JSON_MESSAGE_SIZE_MAX];

static enum qb_error S_parse_ct(const char *content_type, const char *body)
{
    json_t *out = NULL;
    enum qb_error err =
        http_json_parse(content_type, body, strlen(body), S_fields, S_FIELD_COUNT, &out, S_message);
    if (err == QB_OK && out == NULL)
        return QB_E_INTERNAL; /* a success must answer an object */
    if (err != QB_OK && out != NULL)
        return QB_E_INTERNAL; /* a failure must answer nothing */
    json_decref(out);
    return err;
}

static enum qb_error S_parse(const char *body) { return S_parse_ct(CT, body); }

TEST(accepts_a_valid_body)
{
    /* The happy path, with every type present, must pass and keep values. */
    json_t *out = NULL;
    const char *body = "{\"phone\":\"13800138000\",\"name\":\"\xe5\xbc\xa0\",\"count\":5,"
                       "\"any\":-9223372036854775808,\"flag\":true,\"obj\":{},\"list\":[1,2,3]}";
    ASSERT_EQ_INT(http_json_parse(CT, body, strlen(body), S_fields, S_FIELD_COUNT, &out, S_message),
                  QB_OK);
    ASSERT(out != NULL);
    ASSERT_EQ_STR(http_json_string(out, "phone"), "13800138000");
    ASSERT(http_json_string(out, "count") == NULL);
    ASSERT(http_json_string(out, "missing") == NULL);
    json_decref(out);
}

TEST(content_type_must_be_json)
{
    /* 415 for anything but application/json with an optional UTF-8 charset. */
    const char *body = "{\"phone\":\"1\"}";
    ASSERT_EQ_INT(S_parse_ct(NULL, body), QB_E_MEDIA_TYPE);
    ASSERT_EQ_INT(S_parse_ct("text/plain", body), QB_E_MEDIA_TYPE);
    ASSERT_EQ_INT(S_parse_ct("application/jsonx", body), QB_E_MEDIA_TYPE);
    ASSERT_EQ_INT(S_parse_ct("application/json; charset=latin1", body), QB_E_MEDIA_TYPE);
    ASSERT_EQ_INT(S_parse_ct("application/json; boundary=x", body), QB_E_MEDIA_TYPE);
    ASSERT_EQ_INT(S_parse_ct("application/json", body), QB_OK);
    ASSERT_EQ_INT(S_parse_ct("Application/JSON", body), QB_OK);
    ASSERT_EQ_INT(S_parse_ct("application/json; charset=utf-8", body), QB_OK);
    ASSERT_EQ_INT(S_parse_ct("application/json;charset=UTF-8", body), QB_OK);
}

TEST(empty_body_is_an_empty_object)
{
    /* No body at all reads as {}: required fields then fail, optional pass. */
    static const struct http_field none[] = {{"x", HTTP_FIELD_STRING, false, 0, 0, 0}};
    json_t *out = NULL;
    ASSERT_EQ_INT(http_json_parse(NULL, "", 0, none, 1, &out, S_message), QB_OK);
    ASSERT(json_is_object(out) && json_object_size(out) == 0);
    json_decref(out);
    ASSERT_EQ_INT(S_parse_ct(NULL, ""), QB_E_PARAM);
    ASSERT(strstr(S_message, "\"phone\" is required") != NULL);
}

TEST(refuses_what_is_not_json)
{
    ASSERT_EQ_INT(S_parse("{"), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\"} trailing"), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("{'phone':'1'}"), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"\xff\"}"), QB_E_BAD_JSON);  /* invalid UTF-8 */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"a\x01\"}"), QB_E_BAD_JSON); /* raw control */
    ASSERT_EQ_INT(S_parse("{\"any\":99999999999999999999}"), QB_E_BAD_JSON);
}

TEST(top_level_must_be_an_object)
{
    ASSERT_EQ_INT(S_parse("[]"), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("\"x\""), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("1"), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("null"), QB_E_BAD_JSON);
}

TEST(a_number_out_of_range_is_named_as_one)
{
    /* Valid JSON whose integer no 64 bits hold: the message says so, not
     * that the body is not JSON (a client would look for a syntax error). */
    ASSERT_EQ_INT(S_parse("{\"amount\":{\"total\":9223372036854775808}}"), QB_E_BAD_JSON);
    ASSERT_EQ_STR(S_message, "the body holds a number out of range (line 1, column 38)");
    ASSERT_EQ_INT(S_parse("{\"amount\":-9223372036854775809}"), QB_E_BAD_JSON);
    ASSERT(strstr(S_message, "out of range") != NULL);
}

TEST(refuses_duplicate_keys)
{
    /* Two "phone" keys: which one a handler sees would be jansson's choice. */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"phone\":\"2\"}"), QB_E_BAD_JSON);
    ASSERT(strstr(S_message, "duplicate") != NULL);
}

TEST(refuses_a_nul_byte_in_the_body)
{
    const char body[] = "{\"phone\":\"1\"}\0";
    json_t *out = NULL;
    ASSERT_EQ_INT(
        http_json_parse(CT, body, sizeof body - 1, S_fields, S_FIELD_COUNT, &out, S_message),
        QB_E_BAD_JSON);
    ASSERT(out == NULL);
}

TEST(depth_is_checked_before_parsing)
{
    /* 16 levels pass, 17 do not; brackets inside strings do not count. */
    char deep[256] = "{\"phone\":\"1\",\"obj\":";
    size_t n = strlen(deep);
    for (int i = 0; i < 14; i++)
        deep[n++] = '[';
    for (int i = 0; i < 14; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    ASSERT_EQ_INT(S_parse(deep), QB_E_PARAM); /* 15 levels: parsed; obj is an array */
    char deeper[256] = "{\"phone\":\"1\",\"obj\":";
    n = strlen(deeper);
    for (int i = 0; i < 16; i++)
        deeper[n++] = '[';
    for (int i = 0; i < 16; i++)
        deeper[n++] = ']';
    deeper[n++] = '}';
    deeper[n] = '\0';
    ASSERT_EQ_INT(S_parse(deeper), QB_E_BAD_JSON);
    ASSERT(strstr(S_message, "deeper") != NULL);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"name\":\"[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}"), QB_OK);

    /* A huge unbalanced body is refused without recursion. */
    size_t big = 1000000;
    char *flood = malloc(big + 1);
    ASSERT(flood != NULL);
    memset(flood, '[', big);
    flood[big] = '\0';
    enum qb_error err = S_parse(flood);
    free(flood);
    ASSERT_EQ_INT(err, QB_E_BAD_JSON);
}

TEST(refuses_unknown_fields_naming_them)
{
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"phnoe\":\"1\"}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "unknown field \"phnoe\"") != NULL);
    /* An odd key is not echoed. */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"<script>\":1}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "script") == NULL);
}

TEST(refuses_missing_required_fields)
{
    ASSERT_EQ_INT(S_parse("{}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "\"phone\" is required") != NULL);
    ASSERT_EQ_INT(S_parse("{\"phone\":null}"), QB_E_PARAM);
    /* Optional fields may be absent or null. */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"name\":null}"), QB_OK);
}

TEST(refuses_wrong_types)
{
    ASSERT_EQ_INT(S_parse("{\"phone\":1}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "\"phone\" must be a string") != NULL);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":\"5\"}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":5.0}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":5e0}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"flag\":1}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"obj\":[]}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"list\":{}}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"flag\":false}"), QB_OK);
}

TEST(string_sizes_are_bytes)
{
    /* size_max 11: 11 bytes pass, 12 fail; a CJK character is 3 bytes. */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"12345678901\"}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"123456789012\"}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "longer than 11 bytes") != NULL);
    ASSERT(strstr(S_message, "123456789012") == NULL);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"\xe5\xbc\xa0\xe5\xbc\xa0\xe5\xbc\xa0\xe5\xbc\xa0\"}"),
                  QB_E_PARAM);
    /* The default limit is 256 bytes. */
    char body[600];
    int n = snprintf(body, sizeof body, "{\"phone\":\"1\",\"name\":\"");
    memset(body + n, 'a', 257);
    snprintf(body + n + 257, sizeof body - (size_t)n - 257, "\"}");
    ASSERT_EQ_INT(S_parse(body), QB_E_PARAM);
    body[n + 256] = '"';
    body[n + 257] = '}';
    body[n + 258] = '\0';
    ASSERT_EQ_INT(S_parse(body), QB_OK);
}

TEST(strings_refuse_nul_and_control_characters)
{
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\\u0000\"}"), QB_E_BAD_JSON); /* jansson's refusal */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\\n\"}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "control or invisible formatting character") != NULL);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\\u001b\"}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\\u007f\"}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\\u0085\"}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\\u00e9\"}"), QB_OK);
}

TEST(an_opaque_string_takes_any_character_but_nul)
{
    // What a QR scan held goes to its route as it came, lines and invisible characters too:
    // the route tells that it is not one of its codes. Only its size and NUL are refused here.
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"scanned\":\"a\\nb\\u001b\\u200b\"}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"scanned\":\"12345678\"}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"scanned\":\"123456789\"}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"scanned\":\"1\\u0000\"}"), QB_E_BAD_JSON);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"scanned\":7}"), QB_E_PARAM);
}

TEST(strings_refuse_invisible_formatting_characters)
{
    // A memo or a name that reorders or hides what is shown next to it: the direction marks,
    // embeddings, overrides and isolates, the line and paragraph separators, the zero-width
    // space and the byte order mark; as escapes and as raw UTF-8, at the start, middle and end.
    const char *const refused[] = {"200b", "200e", "200f", "2028", "2029", "202a", "202b", "202c",
                                   "202d", "202e", "2065", "2066", "2067", "2068", "2069", "feff"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(refused); i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"phone\":\"1\",\"name\":\"pay \\u%s lunch\"}", refused[i]);
        ASSERT_EQ_INT(S_parse(body), QB_E_PARAM);
        ASSERT(strstr(S_message, "invisible formatting character") != NULL);
        snprintf(body, sizeof body, "{\"phone\":\"1\",\"name\":\"\\u%s\"}", refused[i]);
        ASSERT_EQ_INT(S_parse(body), QB_E_PARAM);
    }
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"name\":\"x\xe2\x80\xae\"}"),
                  QB_E_PARAM); /* raw U+202E */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"name\":\"\xef\xbb\xbfx\"}"),
                  QB_E_PARAM); /* raw BOM */
    /* Their neighbours stay: U+2027, U+202F (a narrow space), U+2070, the joiners (emoji
     * sequences), other E2 80 xx punctuation such as U+2014, Chinese text. U+2065 does not: it
     * is reserved among them, and a renderer shows it as nothing. */
    const char *const kept[] = {"2027", "202f", "2070", "200c", "200d", "2014", "fefe"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(kept); i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"phone\":\"1\",\"name\":\"a\\u%sb\"}", kept[i]);
        ASSERT_EQ_INT(S_parse(body), QB_OK);
    }
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"name\":\"\xe5\x8d\x88\xe9\xa5\xad\"}"),
                  QB_OK); /* 午饭 */
    /* A secret is compared, never shown: a login password set before this rule may hold one
     * and still logs in; control characters stay refused. */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"secret\":\"pass\\u200bword\\u202e\"}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"secret\":\"pass\\nword\"}"), QB_E_PARAM);
}

TEST(integers_are_bounded)
{
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":1}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":100}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":0}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "between 1 and 100") != NULL);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":101}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"count\":-1}"), QB_E_PARAM);
    /* Both bounds 0: any int64. */
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"any\":9223372036854775807}"), QB_OK);
}

TEST(arrays_are_bounded)
{
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"list\":[]}"), QB_OK);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"list\":[1,2,3,4]}"), QB_E_PARAM);
    ASSERT(strstr(S_message, "more than 3") != NULL);
}

TEST(nested_objects_validate_alike)
{
    /* http_json_object is the same check for a member the handler digs out. */
    static const struct http_field inner[] = {{"total", HTTP_FIELD_INTEGER, true, 0, 1, 10}};
    json_t *obj = json_pack("{s:i}", "total", 5);
    ASSERT_EQ_INT(http_json_object(obj, inner, 1, S_message), QB_OK);
    json_object_set_new(obj, "total", json_integer(11));
    ASSERT_EQ_INT(http_json_object(obj, inner, 1, S_message), QB_E_PARAM);
    json_object_set_new(obj, "extra", json_true());
    ASSERT_EQ_INT(http_json_object(obj, inner, 1, S_message), QB_E_PARAM);
    json_decref(obj);
    json_t *array = json_array();
    ASSERT_EQ_INT(http_json_object(array, inner, 1, S_message), QB_E_PARAM);
    json_decref(array);
}

TEST(a_null_is_dropped_but_where_it_means_something)
{
    /* A handler asks json_object_get whether an optional field was given:
     * null, as client libraries write an unset field, must read as absent,
     * nested too; an INTEGER_OR_NULL's null (a limit removed) is kept. */
    json_t *out = NULL;
    const char *body = "{\"phone\":\"1\",\"name\":null,\"count\":null,\"obj\":null,"
                       "\"limit\":null}";
    ASSERT_EQ_INT(http_json_parse(CT, body, strlen(body), S_fields, S_FIELD_COUNT, &out, S_message),
                  QB_OK);
    ASSERT(json_object_get(out, "name") == NULL);
    ASSERT(json_object_get(out, "count") == NULL);
    ASSERT(json_object_get(out, "obj") == NULL);
    ASSERT(json_is_null(json_object_get(out, "limit")));
    ASSERT_EQ_INT((long long)json_object_size(out), 2);
    json_decref(out);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"limit\":11}"), QB_E_PARAM);
    ASSERT_EQ_INT(S_parse("{\"phone\":\"1\",\"limit\":\"1\"}"), QB_E_PARAM);
    static const struct http_field inner[] = {{"total", HTTP_FIELD_INTEGER, false, 0, 1, 10}};
    json_t *obj = json_pack("{s:n}", "total");
    ASSERT_EQ_INT(http_json_object(obj, inner, 1, S_message), QB_OK);
    ASSERT(json_object_get(obj, "total") == NULL);
    json_decref(obj);
}

int main(void)
{
    RUN(accepts_a_valid_body);
    RUN(a_null_is_dropped_but_where_it_means_something);
    RUN(content_type_must_be_json);
    RUN(empty_body_is_an_empty_object);
    RUN(refuses_what_is_not_json);
    RUN(top_level_must_be_an_object);
    RUN(a_number_out_of_range_is_named_as_one);
    RUN(refuses_duplicate_keys);
    RUN(refuses_a_nul_byte_in_the_body);
    RUN(depth_is_checked_before_parsing);
    RUN(refuses_unknown_fields_naming_them);
    RUN(refuses_missing_required_fields);
    RUN(refuses_wrong_types);
    RUN(string_sizes_are_bytes);
    RUN(strings_refuse_nul_and_control_characters);
    RUN(strings_refuse_invisible_formatting_characters);
    RUN(an_opaque_string_takes_any_character_but_nul);
    RUN(integers_are_bounded);
    RUN(arrays_are_bounded);
    RUN(nested_objects_validate_alike);
    return test_summary();
}
