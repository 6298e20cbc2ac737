/*
 * luhn.h — the Luhn (mod 10) check digit, as ISO/IEC 7812 defines it for
 * card numbers.
 *
 * Owns: the one implementation of it. Bank card numbers end in one (the
 * bank module checks it, and the CLI before it asks for a card's SMS
 * code), and so does a payment code (docs/paycode.md, base/paycode.h).
 */
#ifndef QB_BASE_LUHN_H
#define QB_BASE_LUHN_H

#include <stdbool.h>
#include <stddef.h>

/* The check digit (0..9) that completes the size ASCII digits of body into
 * a number that passes the check; -1 when body is empty or holds anything
 * but digits. */
int luhn_check_digit(const char *body, size_t size);
/* Whether the size ASCII digits pass the check, their last being the check
 * digit; false for fewer than two digits or anything but digits. */
bool luhn_is_valid(const char *digits, size_t size);

#endif
