/*
 * phone.c — mainland China mobile numbers (phone.h).
 */
#include <string.h>

#include "base/phone.h"

bool phone_is_valid(const char *phone)
{
    if (phone == NULL || strlen(phone) != 11)
        return false;
    if (phone[0] != '1' || phone[1] < '3' || phone[1] > '9')
        return false;
    for (size_t i = 2; i < 11; i++)
        if (phone[i] < '0' || phone[i] > '9')
            return false;
    return true;
}

bool phone_normalize(const char *text, char out[PHONE_SIZE_MAX])
{
    char digits[24];
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = text; p != NULL && *p != '\0'; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (n + 1 >= sizeof digits)
            return false;
        digits[n++] = *p;
    }
    digits[n] = '\0';
    const char *number = digits;
    if (n == 14 && strncmp(digits, "+86", 3) == 0)
        number += 3;
    else if (n == 15 && strncmp(digits, "0086", 4) == 0)
        number += 4;
    else if (n == 13 && strncmp(digits, "86", 2) == 0)
        number += 2;
    if (!phone_is_valid(number))
        return false;
    memcpy(out, number, 12);
    return true;
}
