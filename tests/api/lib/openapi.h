/*
 * openapi.h — every answer the API tests receive, checked against
 * docs/openapi.json.
 *
 * The OpenAPI document is part of the contract (../shared/API.md): it must
 * match what the daemon does. client_request() hands each response it
 * receives to openapi_response_check(), which finds the operation by method
 * and path (the document's path templates, the most literal match winning),
 * the answer by status (the operation's own, then its "4XX" range, then
 * "default": every status an operation answers is listed on it, so that
 * client generators see the errors too), the media type by
 * Content-Type, and validates a JSON body against the schema. A mismatch is
 * printed as an "FAIL openapi:" line and counted in test_failed_count, so
 * the test program fails; each distinct mismatch is printed once.
 *
 * The validator knows the JSON Schema keywords the document may use and
 * refuses any other (a keyword it would silently skip is a check not made):
 * type, properties, required, additionalProperties, items, enum, const,
 * $ref (local), oneOf, anyOf, allOf, format ("date-time" is checked),
 * pattern (POSIX extended), minimum, maximum, minLength, maxLength,
 * minItems, maxItems, and the annotations. One rule is stricter than JSON
 * Schema: an object schema with properties and no additionalProperties is
 * closed, so a field the daemon sends and the document does not name fails.
 *
 * A request whose path matches no documented path, or whose method the
 * path does not document (the daemon's own 404 and 405), is not checked.
 */
#ifndef QB_TESTS_API_LIB_OPENAPI_H
#define QB_TESTS_API_LIB_OPENAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "api/lib/client.h"

/* Checks one answer; method and path as sent (path with its query). */
void openapi_response_check(const char *method, const char *path,
                            const struct client_response *res);

/* The same check without the reporting: false with err saying why. The
 * document is read once, from $QB_SOURCE_DIR/docs/openapi.json. */
bool openapi_response_valid(const char *method, const char *path, const struct client_response *res,
                            char *err, size_t err_size);

/* The document itself, loaded (a borrowed jansson json_t *), or NULL with
 * err saying why it cannot be read. */
const void *openapi_document(char *err, size_t err_size);

/* Checks that every schema in the document (components and inline) uses only
 * the keywords the validator knows and that every $ref resolves; false with
 * err naming the first that does not. */
bool openapi_schemas_supported(char *err, size_t err_size);

#endif
