/*
 * luhn.c — the Luhn check digit (luhn.h).
 */
#include "base/luhn.h"

int luhn_check_digit(const char *body, size_t size)
{
    if (body == NULL || size == 0)
        return -1;
    /* From the right, every other digit is doubled, starting with the one
     * the check digit will sit beside. */
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++) {
        char c = body[size - 1 - i];
        if (c < '0' || c > '9')
            return -1;
        unsigned d = (unsigned)(c - '0');
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (int)((10 - sum % 10) % 10);
}

bool luhn_is_valid(const char *digits, size_t size)
{
    if (digits == NULL || size == 0)
        return false;
    char last = digits[size - 1];
    return last >= '0' && last <= '9' && luhn_check_digit(digits, size - 1) == last - '0';
}
