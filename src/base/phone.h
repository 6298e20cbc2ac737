/*
 * phone.h — mainland China mobile numbers: what one is, and one as people
 * write it.
 *
 * Owns: the one reading of a phone number, which the server (identity,
 * SMS, transfers to a phone) and the CLI (before it sends one, or asks for
 * a password after it) share, so that both take exactly the same numbers.
 */
#ifndef QB_BASE_PHONE_H
#define QB_BASE_PHONE_H

#include <stdbool.h>

#define PHONE_SIZE_MAX 16 /* 11 digits + NUL, with room */

/* A mainland China mobile number: 11 digits, "1" then 3-9. */
bool phone_is_valid(const char *phone);
/* A mobile number as people write it ("+86 139-0000-0002", "8613900000002")
 * as its 11 digits in out: spaces and dashes dropped, then a +86, 0086 or
 * 86 country code; false (out "") when what is left is no valid number,
 * and for NULL. */
bool phone_normalize(const char *text, char out[PHONE_SIZE_MAX]);

#endif
