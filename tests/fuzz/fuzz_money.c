/*
 * fuzz_money.c — amount parsing: never crashes, and whatever it accepts
 * formats back to text that parses to the same amount.
 *
 * The first byte picks the currency (so exponents 0 and 2 are both
 * explored); the rest is the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const struct currency *cur = currency_at(data[0] % currency_count());
    const char *text = (const char *)data + 1;
    size_t text_size = size - 1;
    int64_t amount = 0;
    enum qb_error err = money_parse(text, text_size, cur, &amount);
    if (err != QB_OK) {
        if (err != QB_E_BAD_AMOUNT && err != QB_E_OVERFLOW)
            abort();
        return 0;
    }
    /* Accepted text holds only '-', digits and one '.'. */
    for (size_t i = 0; i < text_size; i++)
        if (strchr("-.0123456789", text[i]) == NULL || text[i] == '\0')
            abort();
    char formatted[MONEY_TEXT_SIZE_MAX];
    size_t formatted_size = money_format(amount, cur, formatted, sizeof formatted);
    int64_t again = 0;
    if (money_parse(formatted, formatted_size, cur, &again) != QB_OK || again != amount) {
        fprintf(stderr, "round trip: %lld -> %s -> %lld\n", (long long)amount, formatted,
                (long long)again);
        abort();
    }
    return 0;
}
