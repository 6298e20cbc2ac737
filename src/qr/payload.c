/*
 * payload.c — encoding and strict parsing of QR payloads (qr.h; the format
 * is written down in docs/qr.md).
 *
 * The encoder and the parser share one rule set, so a payload the encoder
 * writes is the only spelling the parser accepts for its values: encode
 * (parse (x)) == x for every x parse accepts. The parser walks the text
 * once, left to right, with every member in its fixed place; it checks the
 * MAC over the signed part before it looks at what the values mean.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "base/crypto.h"
#include "base/rand.h"
#include "base/text.h"
#include "qr/qr.h"

#define S_UNRESERVED "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
#define S_AMOUNT_DIGITS_MAX 13 /* 1000000000000 */

const char *qr_kind_name(enum qr_kind kind)
{
    switch (kind) {
    case QR_KIND_TRANSFER:
        return "transfer";
    case QR_KIND_MERCHANT:
        return "merchant";
    case QR_KIND_ORDER:
        return "order";
    case QR_KIND_COLLECTION:
        return "collection";
    }
    return "unknown";
}

/* --- shared rules ------------------------------------------------------------ */

static bool S_is_lower_hex(const char *s, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static bool S_is_digits(const char *s, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* The payee's shape for its kind. */
static bool S_payee_ok(enum qr_kind kind, const char *s, size_t size)
{
    switch (kind) {
    case QR_KIND_TRANSFER:
        return id_is_valid(s, size, "u") != 0;
    case QR_KIND_MERCHANT:
        return size == 10 && S_is_digits(s, size) && s[0] != '0';
    case QR_KIND_ORDER:
        return size == 32 && S_is_lower_hex(s, size);
    case QR_KIND_COLLECTION:
        return id_is_valid(s, size, "gc") != 0;
    }
    return false;
}

/* The k= letter of a signed kind. */
static const char *S_kind_letter(enum qr_kind kind)
{
    return kind == QR_KIND_TRANSFER ? "u" : kind == QR_KIND_MERCHANT ? "m" : "g";
}

static void S_mac(const uint8_t key[QR_KEY_SIZE], const char *text, size_t size,
                  char out[QR_MAC_TEXT_SIZE + 1])
{
    uint8_t mac[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256(key, QR_KEY_SIZE, text, size, mac);
    sodium_bin2base64(out, QR_MAC_TEXT_SIZE + 1, mac, QR_MAC_SIZE,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_wipe(mac, sizeof mac);
}

/* --- encode ------------------------------------------------------------------ */

enum qb_error qr_payload_encode(const uint8_t key[QR_KEY_SIZE], const struct qr_payload *p,
                                char *out, size_t out_size)
{
    QB_ASSERT(p != NULL && out != NULL && out_size > 0);
    out[0] = '\0';
    size_t payee_size = strnlen(p->payee, sizeof p->payee);
    size_t memo_size = strnlen(p->memo, sizeof p->memo);
    if (payee_size == sizeof p->payee || memo_size == sizeof p->memo ||
        !S_payee_ok(p->kind, p->payee, payee_size))
        return QB_E_PARAM;
    if (p->kind == QR_KIND_ORDER) {
        if (p->has_amount || memo_size > 0)
            return QB_E_PARAM;
        int n = snprintf(out, out_size, QR_ORDER_PREFIX "%s", p->payee);
        return n > 0 && (size_t)n < out_size ? QB_OK : QB_E_TOO_LARGE;
    }
    QB_ASSERT(key != NULL);
    if (p->has_amount && (p->amount_minor < 1 || p->amount_minor > QR_AMOUNT_MAX_MINOR ||
                          p->currency == NULL || currency_find(p->currency->code) != p->currency))
        return QB_E_PARAM;
    if (p->kind == QR_KIND_MERCHANT &&
        (memo_size > 0 || (p->has_amount && strcmp(p->currency->code, "CNY") != 0)))
        return QB_E_PARAM;
    if (p->kind == QR_KIND_COLLECTION && (p->has_amount || memo_size > 0))
        return QB_E_PARAM; /* the collection names both */
    if (!text_is_clean((const char *)p->memo, memo_size))
        return QB_E_PARAM;

    char text[QR_PAYLOAD_SIZE_MAX];
    size_t size = 0;
    int n = snprintf(text, sizeof text, QR_SCHEME "v=%d&k=%s&id=%s", QR_VERSION,
                     S_kind_letter(p->kind), p->payee);
    QB_ASSERT(n > 0 && (size_t)n < sizeof text);
    size = (size_t)n;
    if (p->has_amount) {
        n = snprintf(text + size, sizeof text - size, "&a=%lld&c=%s", (long long)p->amount_minor,
                     p->currency->code);
        QB_ASSERT(n > 0 && (size_t)n < sizeof text - size);
        size += (size_t)n;
    }
    if (memo_size > 0) {
        QB_ASSERT(size + 3 + memo_size * 3 < sizeof text);
        memcpy(text + size, "&m=", 3);
        size += 3;
        for (size_t i = 0; i < memo_size; i++) {
            unsigned char c = (unsigned char)p->memo[i];
            if (strchr(S_UNRESERVED, c) != NULL) {
                text[size++] = (char)c;
            } else {
                static const char hex[] = "0123456789ABCDEF";
                text[size++] = '%';
                text[size++] = hex[c >> 4];
                text[size++] = hex[c & 15];
            }
        }
    }
    char mac[QR_MAC_TEXT_SIZE + 1];
    S_mac(key, text, size, mac);
    QB_ASSERT(size + 3 + QR_MAC_TEXT_SIZE < sizeof text);
    n = snprintf(out, out_size, "%.*s&s=%s", (int)size, text, mac);
    if (n < 0 || (size_t)n >= out_size) {
        out[0] = '\0';
        return QB_E_TOO_LARGE;
    }
    return QB_OK;
}

/* --- parse ------------------------------------------------------------------- */

struct S_cursor {
    const char *at;
    const char *end;
};

/* Consumes literal when the text continues with it. */
static bool S_take(struct S_cursor *c, const char *literal)
{
    size_t size = strlen(literal);
    if ((size_t)(c->end - c->at) < size || memcmp(c->at, literal, size) != 0)
        return false;
    c->at += size;
    return true;
}

/* The value after "name=": up to the next '&' or the end; never empty. */
static bool S_value(struct S_cursor *c, const char **value, size_t *size)
{
    const char *start = c->at;
    while (c->at < c->end && *c->at != '&')
        c->at++;
    *value = start;
    *size = (size_t)(c->at - start);
    return *size > 0;
}

static int S_hex_upper(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the memo canonically: unreserved bytes literal, every
 * other byte as %XX in upper-case hex. */
static bool S_memo_decode(const char *s, size_t size, char out[QR_MEMO_SIZE_MAX])
{
    size_t n = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char c;
        if (s[i] == '%') {
            if (size - i < 3)
                return false;
            int hi = S_hex_upper(s[i + 1]), lo = S_hex_upper(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            if (c == 0 || strchr(S_UNRESERVED, c) != NULL)
                return false;
            i += 2;
        } else if (s[i] != '\0' && strchr(S_UNRESERVED, s[i]) != NULL) {
            c = (unsigned char)s[i];
        } else {
            return false;
        }
        if (n == QR_MEMO_SIZE_MAX - 1)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return text_is_clean((const char *)out, n);
}

static bool S_parse(const uint8_t key[QR_KEY_SIZE], const char *text, size_t size,
                    struct qr_payload *out)
{
    if (size == 0 || size >= QR_PAYLOAD_SIZE_MAX || memchr(text, '\0', size) != NULL)
        return false;
    struct S_cursor c = {text, text + size};
    const char *value;
    size_t value_size;

    /* An order's code_url: the prefix and the token, nothing more. */
    if (S_take(&c, QR_ORDER_PREFIX)) {
        value_size = (size_t)(c.end - c.at);
        if (!S_payee_ok(QR_KIND_ORDER, c.at, value_size))
            return false;
        out->kind = QR_KIND_ORDER;
        memcpy(out->payee, c.at, value_size);
        out->payee[value_size] = '\0';
        return true;
    }

    /* The signed kinds: v, k, id, [a, c] (not g), [m] (u only), s. */
    if (!S_take(&c, QR_SCHEME "v=1&k="))
        return false;
    if (S_take(&c, "u"))
        out->kind = QR_KIND_TRANSFER;
    else if (S_take(&c, "m"))
        out->kind = QR_KIND_MERCHANT;
    else if (S_take(&c, "g"))
        out->kind = QR_KIND_COLLECTION;
    else
        return false;
    if (!S_take(&c, "&id=") || !S_value(&c, &value, &value_size) ||
        value_size >= sizeof out->payee || !S_payee_ok(out->kind, value, value_size))
        return false;
    memcpy(out->payee, value, value_size);
    out->payee[value_size] = '\0';

    const char *amount = NULL, *currency = NULL, *memo = NULL;
    size_t amount_size = 0, currency_size = 0, memo_size = 0;
    if (out->kind != QR_KIND_COLLECTION && S_take(&c, "&a=")) {
        if (!S_value(&c, &amount, &amount_size) || !S_take(&c, "&c=") ||
            !S_value(&c, &currency, &currency_size))
            return false;
    }
    if (out->kind == QR_KIND_TRANSFER && S_take(&c, "&m=")) {
        if (!S_value(&c, &memo, &memo_size))
            return false;
    }
    const char *signed_end = c.at;
    if (!S_take(&c, "&s=") || (size_t)(c.end - c.at) != QR_MAC_TEXT_SIZE)
        return false;
    char mac[QR_MAC_TEXT_SIZE + 1];
    S_mac(key, text, (size_t)(signed_end - text), mac);
    if (sodium_memcmp(mac, c.at, QR_MAC_TEXT_SIZE) != 0)
        return false;

    /* Signed by us; the values must still be canonical. */
    if (amount != NULL) {
        if (amount_size > S_AMOUNT_DIGITS_MAX || !S_is_digits(amount, amount_size) ||
            amount[0] == '0' || currency_size != 3)
            return false;
        int64_t v = 0;
        for (size_t i = 0; i < amount_size; i++)
            v = v * 10 + (amount[i] - '0');
        char code[4];
        memcpy(code, currency, 3);
        code[3] = '\0';
        out->currency = currency_find(code);
        if (v > QR_AMOUNT_MAX_MINOR || out->currency == NULL ||
            strcmp(out->currency->code, code) != 0 ||
            (out->kind == QR_KIND_MERCHANT && strcmp(code, "CNY") != 0))
            return false;
        out->has_amount = true;
        out->amount_minor = v;
    }
    if (memo != NULL && !S_memo_decode(memo, memo_size, out->memo))
        return false;
    return true;
}

enum qb_error qr_payload_parse(const uint8_t key[QR_KEY_SIZE], const char *text, size_t size,
                               struct qr_payload *out)
{
    QB_ASSERT(key != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (text != NULL && S_parse(key, text, size, out))
        return QB_OK;
    memset(out, 0, sizeof *out);
    return QB_E_QR_INVALID;
}
