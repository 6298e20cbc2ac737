/*
 * fuzz_statement_csv.c — the line splitter `qianbao admin reconcile` reads
 * a bank's statement with (cli_csv_fields, src/cli/reconcile.c). A bank's
 * file is whatever its export wrote: no line may crash the splitter or
 * make it read or write past the line, and what it accepts must be what
 * an RFC 4180 writer would have meant. Checked two ways: against a
 * splitter written here from the grammar (a field is quoted, with "" for a
 * quote, and then ends the line or meets a comma; or it is anything up to
 * the next comma), which must accept and refuse the same lines and give the
 * same fields; and by writing the fields out again, quoted where they need
 * it, which must split back into the same fields.
 *
 * The input is one line, its line end already gone (up to its first NUL).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_FIELDS_MAX 64
#define S_LINE_SIZE_MAX 4096

static void S_fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_statement_csv: %s: %.*s\n", what, (int)size, (const char *)data);
    abort();
}

/* The grammar's fields of text into out (each NUL-ended, one after
 * another), their count into *count; false where cli_csv_fields must refuse. */
static bool S_reference(const char *text, char *out, size_t *count)
{
    *count = 0;
    const char *p = text;
    for (;;) {
        if (*count == S_FIELDS_MAX)
            return false;
        (*count)++;
        if (*p == '"') {
            for (p++;; p++) {
                if (*p == '\0')
                    return false;
                if (*p == '"') {
                    if (p[1] != '"')
                        break;
                    p++;
                }
                *out++ = *p;
            }
            p++;
            if (*p != ',' && *p != '\0')
                return false;
        } else {
            size_t n = strcspn(p, ",");
            memcpy(out, p, n);
            out += n;
            p += n;
        }
        *out++ = '\0';
        if (*p == '\0')
            return true;
        p++;
    }
}

/* fields[0..count) as one CSV line into out: a field holding a comma, a
 * quote or a line break quoted, its quotes doubled. */
static size_t S_write(char *const *fields, size_t count, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            out[o++] = ',';
        bool quote = strpbrk(fields[i], ",\"\r\n") != NULL;
        if (quote)
            out[o++] = '"';
        for (const char *p = fields[i]; *p != '\0'; p++) {
            if (*p == '"')
                out[o++] = '"';
            out[o++] = *p;
        }
        if (quote)
            out[o++] = '"';
    }
    out[o] = '\0';
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= S_LINE_SIZE_MAX)
        return 0;
    /* The line in a buffer of exactly its size, so that a read or a write
     * past it is caught by AddressSanitizer. */
    size_t line_size = strnlen((const char *)data, size);
    char *line = malloc(line_size + 1);
    if (line == NULL)
        abort();
    memcpy(line, data, line_size);
    line[line_size] = '\0';
    static char expected[2 * S_LINE_SIZE_MAX];
    size_t expected_count = 0;
    bool expected_ok = S_reference(line, expected, &expected_count);
    char *fields[S_FIELDS_MAX];
    size_t count = 0;
    if (!cli_csv_fields(line, fields, S_FIELDS_MAX, &count)) {
        if (count > S_FIELDS_MAX)
            S_fail("a refused line counted past the room", data, line_size);
        if (expected_ok)
            S_fail("a line the grammar takes refused", data, line_size);
        free(line);
        return 0;
    }
    if (!expected_ok)
        S_fail("a line the grammar refuses taken", data, line_size);
    if (count != expected_count)
        S_fail("another number of fields than the grammar's", data, line_size);
    const char *want = expected;
    for (size_t i = 0; i < count; want += strlen(want) + 1, i++)
        if (strcmp(fields[i], want) != 0)
            S_fail("a field other than the grammar's", data, line_size);
    if (count < 1 || count > S_FIELDS_MAX)
        S_fail("an accepted line of no fields, or of more than the room", data, line_size);
    for (size_t i = 0; i < count; i++)
        if (fields[i] < line || fields[i] > line + line_size ||
            strlen(fields[i]) > (size_t)(line + line_size - fields[i]))
            S_fail("a field outside its line", data, line_size);

    /* Written out again and split again: the same fields. A field is
     * never longer than the line, and quoting at most doubles it and
     * adds two quotes and a comma. */
    char *again = malloc(2 * line_size + 3 * count + 1);
    if (again == NULL)
        abort();
    S_write(fields, count, again);
    char *copy = strdup(again);
    char *fields_again[S_FIELDS_MAX];
    size_t count_again = 0;
    if (copy == NULL)
        abort();
    if (!cli_csv_fields(copy, fields_again, S_FIELDS_MAX, &count_again) || count_again != count)
        S_fail("its fields written out again do not split into as many", data, line_size);
    for (size_t i = 0; i < count; i++)
        if (strcmp(fields[i], fields_again[i]) != 0)
            S_fail("its fields written out again split into others", data, line_size);
    free(copy);
    free(again);
    free(line);
    return 0;
}
