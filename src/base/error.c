/*
 * error.c — accessors over the error table in error.h.
 *
 * The table is expanded into four parallel arrays at compile time, so a
 * lookup is one bounds check and one load. Values outside the enum (a cast
 * from a corrupted int, say) answer the QB_E_INTERNAL entry rather than
 * reading out of bounds: the HTTP layer must always have a response to send.
 */
#include "base/error.h"

#include <stddef.h>

static const int error_statuses[] = {
#define X(name, status, code, message) status,
    QB_ERROR_TABLE(X)
#undef X
};

static const char *const error_codes[] = {
#define X(name, status, code, message) code,
    QB_ERROR_TABLE(X)
#undef X
};

static const char *const error_messages[] = {
#define X(name, status, code, message) message,
    QB_ERROR_TABLE(X)
#undef X
};

static const char *const error_names[] = {
#define X(name, status, code, message) #name,
    QB_ERROR_TABLE(X)
#undef X
};

_Static_assert(sizeof error_statuses / sizeof error_statuses[0] == QB_ERROR_COUNT,
               "one status per error");
_Static_assert(QB_OK == 0, "QB_OK must be zero so that `if (err)` means failure");

static size_t error_index(enum qb_error err)
{
    unsigned int value = (unsigned int)err;
    return value < (unsigned int)QB_ERROR_COUNT ? (size_t)value : (size_t)QB_E_INTERNAL;
}

int error_http_status(enum qb_error err) { return error_statuses[error_index(err)]; }

const char *error_api_code(enum qb_error err) { return error_codes[error_index(err)]; }

const char *error_message(enum qb_error err) { return error_messages[error_index(err)]; }

const char *error_name(enum qb_error err) { return error_names[error_index(err)]; }
