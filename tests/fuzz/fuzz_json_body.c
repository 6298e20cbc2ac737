/*
 * fuzz_json_body.c — request bodies: http_json_parse never crashes, answers
 * only the documented errors, and whatever it accepts obeys the field
 * table (no unknown field, every required one present, types and bounds
 * as declared).
 *
 * The table mixes every field type, as a money-moving route's does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_field S_fields[] = {
    {"to", HTTP_FIELD_STRING, true, 64, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, true, 0, 1, 100000000},
    {"memo", HTTP_FIELD_STRING, false, 128, 0, 0},
    {"password_free", HTTP_FIELD_BOOLEAN, false, 0, 0, 0},
    {"payer", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"tags", HTTP_FIELD_ARRAY, false, 4, 0, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    char message[HTTP_JSON_MESSAGE_SIZE_MAX];
    enum qb_error err =
        http_json_parse("application/json", (const char *)data, size, S_fields,
                        sizeof S_fields / sizeof S_fields[0], &body, message);
    if (err != QB_OK) {
        if (body != NULL || (err != QB_E_BAD_JSON && err != QB_E_PARAM && err != QB_E_TOO_LARGE))
            abort();
        if (memchr(message, '\0', sizeof message) == NULL)
            abort();
        return 0;
    }
    if (!json_is_object(body))
        abort();
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        size_t i = 0;
        while (i < sizeof S_fields / sizeof S_fields[0] && strcmp(S_fields[i].name, key) != 0)
            i++;
        if (i == sizeof S_fields / sizeof S_fields[0])
            abort(); /* an unknown field got through */
    }
    const char *to = http_json_string(body, "to");
    json_t *amount = json_object_get(body, "amount");
    if (to == NULL || strlen(to) > 64 || !json_is_integer(amount) ||
        json_integer_value(amount) < 1 || json_integer_value(amount) > 100000000)
        abort();
    json_t *tags = json_object_get(body, "tags");
    if (tags != NULL && !json_is_null(tags) && (!json_is_array(tags) || json_array_size(tags) > 4))
        abort();
    json_decref(body);
    return 0;
}
