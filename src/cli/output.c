/*
 * output.c — what qianbao prints: errors with what to do, aligned tables,
 * key-value lists, colours on a terminal only, amounts as decimals.
 *
 * Human output goes to stdout, messages about failures to stderr; --json
 * output is one JSON document on stdout whatever happens, so a script can
 * always parse it. Colours are used only when the stream is a terminal and
 * NO_COLOR is unset (https://no-color.org), so piped output is plain text
 * that golden tests and scripts can compare byte for byte.
 *
 * Everything a server sent is cleaned before it reaches a terminal: a
 * control character in a display name must not be able to rewrite the
 * screen.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rand.h"
#include "base/text.h"
#include "cli/cli_int.h"

#define S_MESSAGE_SIZE_MAX 1024

static const char *S_color_code(enum cli_color color)
{
    switch (color) {
    case CLI_COLOR_BOLD:
        return "\033[1m";
    case CLI_COLOR_GREEN:
        return "\033[32m";
    case CLI_COLOR_RED:
        return "\033[31m";
    case CLI_COLOR_DIM:
        return "\033[2m";
    case CLI_COLOR_NONE:
        break;
    }
    return "";
}

void cli_print_colored(const struct cli *cli, enum cli_color color, const char *text)
{
    if (cli->color_out && color != CLI_COLOR_NONE)
        printf("%s%s\033[0m", S_color_code(color), text);
    else
        fputs(text, stdout);
}

int cli_fail(struct cli *cli, int exit_code, const char *code, const char *fmt, ...)
{
    char message[S_MESSAGE_SIZE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (cli->quiet)
        return exit_code;
    if (cli->color_err)
        fprintf(stderr, "\033[31mqianbao:\033[0m %s\n", message);
    else
        fprintf(stderr, "qianbao: %s\n", message);
    if (cli->json)
        cli_error_json_print(code, message, NULL);
    return exit_code;
}

void cli_error_json_print(const char *code, const char *message, const char *limit)
{
    json_t *error = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (error != NULL && limit != NULL)
        json_object_set_new(error, "limit", json_string(limit));
    char *text = error != NULL ? json_dumps(error, JSON_COMPACT) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(error);
}

int cli_phone_refuse(struct cli *cli, const char *what)
{
    return cli_usage_error(cli, "%s must be a mobile number (11 digits)", what);
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
    char message[S_MESSAGE_SIZE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (cli->command != NULL)
        return cli_fail(cli, CLI_EXIT_USAGE, "USAGE_ERROR",
                        "%s: %s (see `qianbao help %s`)", cli->command->name, message,
                        cli->command->name);
    return cli_fail(cli, CLI_EXIT_USAGE, "USAGE_ERROR", "%s (see `qianbao --help`)", message);
}

void cli_hint(struct cli *cli, const char *fmt, ...)
{
    if (cli->quiet)
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fputs(cli->color_err ? "\033[2mhint:\033[0m " : "hint: ", stderr);
    char word[CLI_SHELL_WORD_SIZE_MAX] = "";
    if (cli->profile_explicit)
        cli_shell_word(cli->profile, word, sizeof word);
    static const char command[] = "qianbao ";
    /* Text, then each `…` span: a command of the user's own gets the
     * profile, unless it names one; someone else's loses its mark. */
    const char *p = text;
    for (const char *open; (open = strchr(p, '`')) != NULL;) {
        fwrite(p, 1, (size_t)(open - p) + 1, stderr);
        p = open + 1;
        const char *close = strchr(p, '`');
        size_t span = close != NULL ? (size_t)(close - p) + 1 : strlen(p);
        const char *named = strstr(p, "--profile");
        if (*p == CLI_OTHERS[0]) {
            p++;
            span--;
        } else if (word[0] != '\0' && strncmp(p, command, sizeof command - 1) == 0 &&
                   (named == NULL || named >= p + span)) {
            fprintf(stderr, "%s--profile %s ", command, word);
            p += sizeof command - 1;
            span -= sizeof command - 1;
        }
        fwrite(p, 1, span, stderr);
        p += span;
    }
    fputs(p, stderr);
    fputc('\n', stderr);
}

/* The size of the code point at p when it is hidden (base/text.h) and no
 * tag of a subdivision's flag, which a name may hold; else 0. */
static size_t S_hidden_at(const unsigned char *p)
{
    uint32_t cp = 0;
    size_t step = text_utf8_decode(p, strnlen((const char *)p, 4), &cp);
    return step > 0 && text_codepoint_is_hidden(cp) && !(cp >= 0xE0000 && cp <= 0xE007F) ? step : 0;
}

void cli_text_clean(const char *text, char *out, size_t out_size)
{
    QB_ASSERT(out_size > 0);
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)text;
    for (; *p != '\0' && n + 1 < out_size; p++) {
        unsigned char c = *p;
        /* C0 controls and DEL; C1 controls are U+0080..U+009F, encoded
         * 0xC2 0x80..0x9F in UTF-8. */
        if (c < 0x20 || c == 0x7f) {
            out[n++] = '?';
        } else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            out[n++] = '?';
            p++;
        } else if (c >= 0xc2 && S_hidden_at(p)) {
            /* Invisible formatting a server should never send (its own
             * input rules refuse it): a right-to-left override would
             * reorder the line, an amount's digits with it. */
            out[n++] = '?';
            p += S_hidden_at(p) - 1;
        } else {
            out[n++] = (char)c;
        }
    }
    /* Cut by the size limit: never end inside a UTF-8 sequence. */
    if (*p != '\0') {
        while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
            n--;
    }
    out[n] = '\0';
}

/* Is this code point East Asian Wide or Fullwidth (two columns)? The ranges
 * of Unicode's EastAsianWidth W and F that names, memos and greetings use:
 * Han, kana, Hangul, fullwidth forms, and the emoji (those of the BMP that
 * are W, and the blocks of pictographs above it). */
static bool S_wide(unsigned long cp)
{
    static const unsigned long bmp_emoji[][2] = {
        {0x231a, 0x231b}, {0x23e9, 0x23ec}, {0x23f0, 0x23f0}, {0x23f3, 0x23f3}, {0x25fd, 0x25fe},
        {0x2614, 0x2615}, {0x2648, 0x2653}, {0x267f, 0x267f}, {0x2693, 0x2693}, {0x26a1, 0x26a1},
        {0x26aa, 0x26ab}, {0x26bd, 0x26be}, {0x26c4, 0x26c5}, {0x26ce, 0x26ce}, {0x26d4, 0x26d4},
        {0x26ea, 0x26ea}, {0x26f2, 0x26f3}, {0x26f5, 0x26f5}, {0x26fa, 0x26fa}, {0x26fd, 0x26fd},
        {0x2705, 0x2705}, {0x270a, 0x270b}, {0x2728, 0x2728}, {0x274c, 0x274c}, {0x274e, 0x274e},
        {0x2753, 0x2755}, {0x2757, 0x2757}, {0x2795, 0x2797}, {0x27b0, 0x27b0}, {0x27bf, 0x27bf},
        {0x2b1b, 0x2b1c}, {0x2b50, 0x2b50}, {0x2b55, 0x2b55},
    };
    if (cp >= 0x231a && cp <= 0x2b55) {
        for (size_t i = 0; i < QB_ARRAY_COUNT(bmp_emoji); i++)
            if (cp >= bmp_emoji[i][0] && cp <= bmp_emoji[i][1])
                return true;
        return false;
    }
    return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
           (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
           (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
           (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
           (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
           (cp >= 0xffe0 && cp <= 0xffe6) || cp == 0x1f004 || cp == 0x1f0cf || cp == 0x1f18e ||
           (cp >= 0x1f191 && cp <= 0x1f19a) || (cp >= 0x1f200 && cp <= 0x1f64f) ||
           (cp >= 0x1f680 && cp <= 0x1f6ff) || (cp >= 0x1f7e0 && cp <= 0x1f7eb) ||
           (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x1fa70 && cp <= 0x1faff) ||
           (cp >= 0x20000 && cp <= 0x3fffd);
}

/* Does this code point take no column of its own: a combining mark drawn
 * over the one before, a joiner, a variation selector (an emoji's U+FE0F)
 * or a tag? */
static bool S_zero_width(unsigned long cp)
{
    return (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
           (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
           (cp >= 0xfe20 && cp <= 0xfe2f) || cp == 0x200c || cp == 0x200d ||
           (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0020 && cp <= 0xe007f) ||
           (cp >= 0xe0100 && cp <= 0xe01ef);
}

size_t cli_text_width(const char *text)
{
    size_t width = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p != '\0') {
        unsigned long cp;
        size_t length;
        if (p[0] < 0x80) {
            cp = p[0];
            length = 1;
        } else if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
            cp = (unsigned long)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
            length = 2;
        } else if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
            cp = (unsigned long)(p[0] & 0x0f) << 12 | (unsigned long)(p[1] & 0x3f) << 6 |
                 (p[2] & 0x3f);
            length = 3;
        } else if ((p[0] & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
                   (p[3] & 0xc0) == 0x80) {
            cp = (unsigned long)(p[0] & 0x07) << 18 | (unsigned long)(p[1] & 0x3f) << 12 |
                 (unsigned long)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
            length = 4;
        } else {
            cp = '?';
            length = 1;
        }
        width += S_zero_width(cp) ? 0 : S_wide(cp) ? 2 : 1;
        p += length;
    }
    return width;
}

static void S_pad(size_t count)
{
    for (size_t i = 0; i < count; i++)
        putchar(' ');
}

#define S_FIELD_LABEL_WIDTH 18

void cli_shell_word(const char *word, char *out, size_t out_size)
{
    QB_ASSERT(out_size >= CLI_SHELL_WORD_SIZE_MAX);
    char clean[CLI_SHELL_WORD_SIZE_MAX / 4 - 1];
    cli_text_clean(word, clean, sizeof clean);
    bool plain = clean[0] != '\0' && strspn(clean, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                                                   "VWXYZ0123456789_-.:/+=@,") == strlen(clean);
    size_t n = 0;
    if (!plain)
        out[n++] = '\'';
    for (const char *p = clean; *p != '\0'; p++) {
        if (*p == '\'' && !plain) {
            memcpy(out + n, "'\\''", 4); /* close the quotes, a quote, open them again */
            n += 4;
        } else {
            out[n++] = *p;
        }
    }
    if (!plain)
        out[n++] = '\'';
    out[n] = '\0';
}

void cli_print_field(const struct cli *cli, const char *label, const char *value)
{
    char clean[512];
    cli_text_clean(value, clean, sizeof clean);
    cli_print_colored(cli, CLI_COLOR_BOLD, label);
    size_t width = cli_text_width(label);
    S_pad(width < S_FIELD_LABEL_WIDTH ? S_FIELD_LABEL_WIDTH - width : 1);
    printf("%s\n", clean);
}

void cli_balances_text(const json_t *balances, const char *member, char *out, size_t out_size)
{
    size_t i, used = 0;
    const json_t *b;
    out[0] = '\0';
    json_array_foreach(balances, i, b)
    {
        char amount[MONEY_TEXT_SIZE_MAX + 8];
        const char *currency = cli_json_str(b, "currency");
        cli_amount_format(json_integer_value(json_object_get(b, member)), currency, amount,
                          sizeof amount);
        if (used < out_size)
            used += (size_t)snprintf(out + used, out_size - used, "%s%s %s", i > 0 ? ", " : "",
                                     amount, currency);
    }
}

void cli_print_balances(const struct cli *cli, const json_t *balances)
{
    char available[MONEY_TEXT_SIZE_MAX + 16], pending[MONEY_TEXT_SIZE_MAX + 16];
    cli_balances_text(balances, "available", available, sizeof available);
    cli_balances_text(balances, "pending", pending, sizeof pending);
    cli_print_field(cli, "available", available);
    cli_print_field(cli, "pending", pending);
}

void cli_table_init(struct cli_table *table, const char *const *headers, size_t column_count)
{
    QB_ASSERT(column_count > 0 && column_count <= CLI_TABLE_COLUMNS_MAX);
    memset(table, 0, sizeof *table);
    table->column_count = column_count;
    for (size_t i = 0; i < column_count; i++)
        table->headers[i] = headers[i];
    table->row_capacity = 128;
    table->cells = calloc(table->row_capacity * column_count, CLI_TABLE_CELL_SIZE_MAX);
    QB_ASSERT(table->cells != NULL);
}

static char *S_cell(const struct cli_table *table, size_t row, size_t column)
{
    return table->cells + (row * table->column_count + column) * CLI_TABLE_CELL_SIZE_MAX;
}

void cli_table_add(struct cli_table *table, const char *const *cells)
{
    if (table->row_count >= CLI_TABLE_ROWS_MAX)
        return;
    if (table->row_count == table->row_capacity) {
        size_t capacity = table->row_capacity * 2;
        char *grown = realloc(table->cells,
                              capacity * table->column_count * CLI_TABLE_CELL_SIZE_MAX);
        QB_ASSERT(grown != NULL);
        table->cells = grown;
        table->row_capacity = capacity;
    }
    for (size_t i = 0; i < table->column_count; i++)
        cli_text_clean(cells[i], S_cell(table, table->row_count, i), CLI_TABLE_CELL_SIZE_MAX);
    table->row_count++;
}

void cli_table_print(const struct cli *cli, const struct cli_table *table)
{
    size_t widths[CLI_TABLE_COLUMNS_MAX];
    for (size_t c = 0; c < table->column_count; c++) {
        widths[c] = cli_text_width(table->headers[c]);
        for (size_t r = 0; r < table->row_count; r++) {
            size_t w = cli_text_width(S_cell(table, r, c));
            if (w > widths[c])
                widths[c] = w;
        }
    }
    /* The last column is not padded: no trailing spaces on any line. */
    for (size_t c = 0; c < table->column_count; c++) {
        cli_print_colored(cli, CLI_COLOR_BOLD, table->headers[c]);
        if (c + 1 < table->column_count)
            S_pad(widths[c] - cli_text_width(table->headers[c]) + 2);
    }
    putchar('\n');
    for (size_t r = 0; r < table->row_count; r++) {
        /* Nor is a cell with only empty ones after it. */
        size_t last = table->column_count;
        while (last > 1 && S_cell(table, r, last - 1)[0] == '\0')
            last--;
        for (size_t c = 0; c < last; c++) {
            const char *cell = S_cell(table, r, c);
            fputs(cell, stdout);
            if (c + 1 < last)
                S_pad(widths[c] - cli_text_width(cell) + 2);
        }
        putchar('\n');
    }
    if (table->row_count == 0)
        cli_print_colored(cli, CLI_COLOR_DIM, "(none)\n");
}

void cli_table_release(struct cli_table *table)
{
    free(table->cells);
    table->cells = NULL;
    table->row_count = 0;
}

const char *cli_json_str(const json_t *object, const char *name)
{
    const char *value = json_string_value(json_object_get(object, name));
    return value != NULL ? value : "";
}

bool cli_sms_is_notice(const json_t *item)
{
    return strncmp(cli_json_str(item, "purpose"), "notice_", 7) == 0;
}

enum qb_error cli_amount_parse(const char *text, const struct currency *cur,
                               int64_t *amount_minor)
{
    QB_ASSERT(cur != NULL);
    int64_t value;
    enum qb_error err = money_parse(text, strlen(text), cur, &value);
    if (err != QB_OK)
        return err;
    if (value <= 0)
        return QB_E_BAD_AMOUNT;
    *amount_minor = value;
    return QB_OK;
}

void cli_amount_format(int64_t amount_minor, const char *currency_code, char *buf,
                       size_t buf_size)
{
    QB_ASSERT(buf_size >= MONEY_TEXT_SIZE_MAX + 8);
    const struct currency *cur = currency_find(currency_code);
    if (cur == NULL) {
        snprintf(buf, buf_size, "%lld (minor units)", (long long)amount_minor);
        return;
    }
    money_format(amount_minor, cur, buf, buf_size);
}

enum qb_error cli_amount_or_none_parse(const char *text, const struct currency *cur,
                                       int64_t *amount_minor, bool *none)
{
    if (strcmp(text, "none") == 0) {
        *none = true;
        *amount_minor = 0;
        return QB_OK;
    }
    enum qb_error err = cli_amount_parse(text, cur, amount_minor);
    if (err == QB_OK)
        *none = false;
    return err;
}

void cli_amount_signed_format(int64_t amount_minor, bool out, const char *currency_code,
                              char *buf, size_t buf_size)
{
    QB_ASSERT(buf_size >= MONEY_TEXT_SIZE_MAX + 8);
    char text[MONEY_TEXT_SIZE_MAX + 8];
    cli_amount_format(amount_minor, currency_code, text, sizeof text);
    /* Bill amounts are never negative; the sign is the direction. */
    snprintf(buf, buf_size, "%c%s", out ? '-' : '+', text[0] == '-' ? text + 1 : text);
}

bool cli_card_mask(const char *number, char *out, size_t out_size)
{
    size_t size = strlen(number);
    if (size < 16 || size > 19 || strspn(number, "0123456789") != size || out_size <= size)
        return false;
    for (size_t i = 0; i < size; i++)
        out[i] = i < 6 || i >= size - 4 ? number[i] : '*';
    out[size] = '\0';
    return true;
}

bool cli_month_valid(const char *text)
{
    if (strlen(text) != 7 || strspn(text, "0123456789") != 4 || text[4] != '-' ||
        strspn(text + 5, "0123456789") != 2)
        return false;
    int year = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 +
               (text[3] - '0');
    int month = (text[5] - '0') * 10 + (text[6] - '0');
    return year >= 1970 && month >= 1 && month <= 12;
}

bool cli_idempotency_key_valid(const char *key)
{
    size_t size = strlen(key);
    if (size == 0 || size >= CLI_IDEMPOTENCY_KEY_SIZE_MAX)
        return false;
    for (size_t i = 0; i < size; i++) {
        if (key[i] <= 0x20 || key[i] >= 0x7f)
            return false;
    }
    return true;
}

void cli_idempotency_key_new(char *out, size_t out_size)
{
    QB_ASSERT(out_size >= 37);
    uint8_t bytes[16];
    rand_fill(rand_system(), bytes, sizeof bytes);
    bytes[6] = (uint8_t)((bytes[6] & 0x0f) | 0x40); /* version 4 */
    bytes[8] = (uint8_t)((bytes[8] & 0x3f) | 0x80); /* the RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < sizeof bytes; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[n++] = '-';
        out[n++] = hex[bytes[i] >> 4];
        out[n++] = hex[bytes[i] & 0x0f];
    }
    out[n] = '\0';
}
