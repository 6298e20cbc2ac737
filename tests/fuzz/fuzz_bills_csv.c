/*
 * fuzz_bills_csv.c — a bill line as CSV, whatever its texts hold. A memo is
 * written by the payer and read in the payee's export, often in a
 * spreadsheet: no text may add a row or a column to it, or be run there
 * as a formula.
 *
 * The input is the line's texts, each ended by a NUL byte: the memo, the
 * counterparty's name, its id and the payment's id (missing ones empty);
 * the bytes left after the fourth NUL set the amounts. The line written
 * by bills_csv_line is read back by an RFC 4180 reader written here: it
 * must be one record of the header's fourteen fields ending in CR LF, each
 * text field exactly its text, with a ' before it when the text, past its
 * leading spaces, begins with = + - @, a tab, a carriage return or a '.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/money.h"
#include "wallet/bills.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_FIELDS 14
#define S_FIELD_SIZE_MAX 1024

static void S_fail(const char *what, const struct buf *csv)
{
    fprintf(stderr, "fuzz_bills_csv: %s: %.*s\n", what, (int)csv->size, (const char *)csv->data);
    abort();
}

/* The fields of the one record at text[0..size), or false when it is not
 * exactly one well-formed record ending in CR LF. */
static bool S_read_record(const char *text, size_t size, char fields[S_FIELDS][S_FIELD_SIZE_MAX],
                          size_t *count)
{
    size_t at = 0, n = 0;
    for (;;) {
        if (n == S_FIELDS)
            return false;
        size_t o = 0;
        if (at < size && text[at] == '"') {
            at++;
            for (;;) {
                if (at >= size)
                    return false; /* an unclosed quote */
                if (text[at] == '"') {
                    if (at + 1 < size && text[at + 1] == '"') {
                        at += 2;
                        if (o + 1 >= S_FIELD_SIZE_MAX)
                            return false;
                        fields[n][o++] = '"';
                        continue;
                    }
                    at++;
                    break;
                }
                if (o + 1 >= S_FIELD_SIZE_MAX)
                    return false;
                fields[n][o++] = text[at++];
            }
        } else {
            while (at < size && text[at] != ',' && text[at] != '\r' && text[at] != '\n') {
                if (text[at] == '"' || o + 1 >= S_FIELD_SIZE_MAX)
                    return false; /* a quote inside an unquoted field */
                fields[n][o++] = text[at++];
            }
        }
        fields[n++][o] = '\0';
        if (at < size && text[at] == ',') {
            at++;
            continue;
        }
        *count = n;
        return at + 2 == size && text[at] == '\r' && text[at + 1] == '\n';
    }
}

/* text as its cell must read back. */
static void S_expected(const char *text, char *out, size_t out_size)
{
    const char *first = text + strspn(text, " ");
    bool formula = *first != '\0' && strchr("=+-@\t\r'", *first) != NULL;
    snprintf(out, out_size, "%s%s", formula ? "'" : "", text);
}

/* The next NUL-ended text of the input into out (cut to out_size - 1
 * bytes); "" once the input is used up. */
static void S_take(const uint8_t **p, const uint8_t *end, char *out, size_t out_size)
{
    const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
    size_t size = (size_t)((nul != NULL ? nul : end) - *p);
    size_t kept = size < out_size - 1 ? size : out_size - 1;
    memcpy(out, *p, kept);
    out[kept] = '\0';
    *p = nul != NULL ? nul + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char fields[S_FIELDS][S_FIELD_SIZE_MAX];
    struct bills_line line;
    memset(&line, 0, sizeof line);
    const uint8_t *p = data, *end = data + size;
    S_take(&p, end, line.memo, sizeof line.memo);
    S_take(&p, end, line.counterparty.name, sizeof line.counterparty.name);
    S_take(&p, end, line.counterparty.id, sizeof line.counterparty.id);
    S_take(&p, end, line.id, sizeof line.id);
    uint64_t bits = 0;
    for (; p < end; p++)
        bits = bits << 8 | *p;
    line.currency = currency_at(bits % currency_count());
    line.type = (enum bills_type)(bits >> 8) % BILLS_TYPE_COUNT;
    line.direction = (bits >> 16) & 1 ? BILLS_IN : BILLS_OUT;
    line.amount_minor = (int64_t)((bits >> 17) % 100000000000) + 1;
    line.fee_minor = (int64_t)((bits >> 20) % 1000);
    line.balance_after_minor = (int64_t)((bits >> 24) % 1000000000000);
    line.counterparty.kind = BILLS_PARTY_USER;
    line.created_at_ms = line.updated_at_ms = INT64_C(1796558400000);

    struct buf csv;
    buf_init(&csv, 64 * 1024);
    if (bills_csv_line(&csv, &line) != QB_OK)
        S_fail("a line not written", &csv);
    size_t count = 0;
    if (!S_read_record((const char *)csv.data, csv.size, fields, &count))
        S_fail("not one record ending in CR LF", &csv);
    if (count != S_FIELDS)
        S_fail("a record of another number of fields than the header's", &csv);
    const struct {
        size_t field;
        const char *text;
    } texts[] = {
        {0, line.id}, {7, line.counterparty.name}, {8, line.counterparty.id}, {9, line.memo}};
    char want[S_FIELD_SIZE_MAX];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        S_expected(texts[i].text, want, sizeof want);
        if (strcmp(fields[texts[i].field], want) != 0)
            S_fail("a text cell that does not read back as its text", &csv);
    }
    /* The amounts read back as the amounts. */
    const struct {
        size_t field;
        int64_t amount;
    } amounts[] = {{4, line.amount_minor}, {5, line.fee_minor}, {11, line.balance_after_minor}};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        int64_t read = -1;
        const char *cell = fields[amounts[i].field];
        if (money_parse(cell, strlen(cell), line.currency, &read) != QB_OK ||
            read != amounts[i].amount)
            S_fail("an amount that does not read back", &csv);
    }
    buf_release(&csv);
    return 0;
}
