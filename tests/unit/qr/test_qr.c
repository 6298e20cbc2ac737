/*
 * test_qr.c — QR payloads: what the encoder writes the parser reads back,
 * and nothing else gets through (tampering, another key, non-canonical
 * spellings, bounds); the renderers make images of the right shape.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "qr/qr.h"
#include "test.h"

static const uint8_t S_key[QR_KEY_SIZE] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                           12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                           23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
#define S_USER "u_0123456789abcdefghjkmnpqrs"
#define S_COLLECTION "gc_0123456789abcdefghjkmnpqrs"

static struct qr_payload S_transfer(bool amount, const char *memo)
{
    struct qr_payload p;
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_TRANSFER;
    snprintf(p.payee, sizeof p.payee, "%s", S_USER);
    if (amount) {
        p.has_amount = true;
        p.amount_minor = 1234;
        p.currency = currency_find("CNY");
    }
    snprintf(p.memo, sizeof p.memo, "%s", memo);
    return p;
}

static enum qb_error S_parse(const char *text, struct qr_payload *out)
{
    return qr_payload_parse(S_key, text, strlen(text), out);
}

/* Every kind and option survives a round trip, and the text has the
 * documented shape (docs/qr.md). */
TEST(round_trip_of_every_kind)
{
    char text[QR_PAYLOAD_SIZE_MAX];
    struct qr_payload back;
    struct qr_payload p = S_transfer(true, "午饭 AA");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT(strncmp(text,
                   "qianbao://pay?v=1&k=u&id=" S_USER "&a=1234&c=CNY&m=%E5%8D%88%E9%A5%AD%20AA&s=",
                   strlen("qianbao://pay?v=1&k=u&id=" S_USER
                          "&a=1234&c=CNY&m=%E5%8D%88%E9%A5%AD%20AA&s=")) == 0);
    ASSERT_EQ_INT(strlen(text), strlen("qianbao://pay?v=1&k=u&id=" S_USER
                                       "&a=1234&c=CNY&m=%E5%8D%88%E9%A5%AD%20AA&s=") +
                                    QR_MAC_TEXT_SIZE);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT_EQ_INT(back.kind, QR_KIND_TRANSFER);
    ASSERT_EQ_STR(back.payee, S_USER);
    ASSERT(back.has_amount && back.amount_minor == 1234 && back.currency == currency_find("CNY"));
    ASSERT_EQ_STR(back.memo, "午饭 AA");

    p = S_transfer(false, "");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT(!back.has_amount && back.currency == NULL && back.memo[0] == '\0');

    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_MERCHANT;
    snprintf(p.payee, sizeof p.payee, "1900000109");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT(back.kind == QR_KIND_MERCHANT && !back.has_amount);
    ASSERT_EQ_STR(back.payee, "1900000109");
    p.has_amount = true;
    p.amount_minor = QR_AMOUNT_MAX_MINOR;
    p.currency = currency_find("CNY");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT(back.has_amount && back.amount_minor == QR_AMOUNT_MAX_MINOR);

    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_ORDER;
    snprintf(p.payee, sizeof p.payee, "0123456789abcdef0123456789abcdef");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_STR(text, "qianbao://pay?pr=0123456789abcdef0123456789abcdef");
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT(back.kind == QR_KIND_ORDER);
    ASSERT_EQ_STR(back.payee, p.payee);

    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_COLLECTION;
    snprintf(p.payee, sizeof p.payee, "%s", S_COLLECTION);
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT(back.kind == QR_KIND_COLLECTION && !back.has_amount && back.memo[0] == '\0');
    ASSERT_EQ_STR(back.payee, S_COLLECTION);
    ASSERT_EQ_STR(qr_kind_name(back.kind), "collection");
}

/* The test vectors of docs/qr.md, so that the page and the code agree. */
TEST(the_documented_test_vectors)
{
    char text[QR_PAYLOAD_SIZE_MAX];
    struct qr_payload p = S_transfer(false, "");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_STR(text, "qianbao://pay?v=1&k=u&id=" S_USER "&s=Rj8X3tgD6XKYwFG4qtmLvw");
    p = S_transfer(true, "房租");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_STR(text, "qianbao://pay?v=1&k=u&id=" S_USER
                        "&a=1234&c=CNY&m=%E6%88%BF%E7%A7%9F&s=nCXz_e5pHWfIDIV0LyZPlA");
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_MERCHANT;
    snprintf(p.payee, sizeof p.payee, "1900000109");
    p.has_amount = true;
    p.amount_minor = 2500;
    p.currency = currency_find("CNY");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_STR(text,
                  "qianbao://pay?v=1&k=m&id=1900000109&a=2500&c=CNY&s=ID2DgR3cQ4h2CfXBjWv2Gw");
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_COLLECTION;
    snprintf(p.payee, sizeof p.payee, "%s", S_COLLECTION);
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_STR(text, "qianbao://pay?v=1&k=g&id=" S_COLLECTION "&s=ydgSqJ_5BNn1UpyFdFkC9Q");
}

/* Changing, dropping or adding any single byte of a signed payload is
 * refused: the MAC covers all of it and the MAC itself is exact. */
TEST(every_tampered_byte_is_refused)
{
    char text[QR_PAYLOAD_SIZE_MAX];
    struct qr_payload back;
    struct qr_payload p = S_transfer(true, "rent");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    size_t size = strlen(text);
    for (size_t i = 0; i < size; i++) {
        char copy[QR_PAYLOAD_SIZE_MAX + 1];
        memcpy(copy, text, size + 1);
        for (int delta = 1; delta < 256; delta += 37) {
            copy[i] = (char)(text[i] + delta);
            if (qr_payload_parse(S_key, copy, size, &back) != QB_E_QR_INVALID)
                TEST_FAIL_("byte %zu changed by %d was accepted", i, delta);
        }
        /* Dropped. */
        memcpy(copy, text, i);
        memcpy(copy + i, text + i + 1, size - i);
        ASSERT_EQ_INT(qr_payload_parse(S_key, copy, size - 1, &back), QB_E_QR_INVALID);
    }
    char longer[QR_PAYLOAD_SIZE_MAX + 2];
    snprintf(longer, sizeof longer, "%sA", text);
    ASSERT_EQ_INT(S_parse(longer, &back), QB_E_QR_INVALID);
    /* An order code has no MAC, but its token must be exactly 32 hex. */
    ASSERT_EQ_INT(S_parse("qianbao://pay?pr=0123456789abcdef0123456789abcdeF", &back),
                  QB_E_QR_INVALID);
    ASSERT_EQ_INT(S_parse("qianbao://pay?pr=0123456789abcdef0123456789abcde", &back),
                  QB_E_QR_INVALID);
    ASSERT_EQ_INT(S_parse("qianbao://pay?pr=0123456789abcdef0123456789abcdef0", &back),
                  QB_E_QR_INVALID);
}

/* A payload made under another key does not verify. */
TEST(another_key_is_refused)
{
    char text[QR_PAYLOAD_SIZE_MAX];
    struct qr_payload back;
    uint8_t other[QR_KEY_SIZE];
    memcpy(other, S_key, sizeof other);
    other[31] ^= 1;
    struct qr_payload p = S_transfer(true, "");
    ASSERT_EQ_INT(qr_payload_encode(other, &p, text, sizeof text), QB_OK);
    ASSERT_EQ_INT(S_parse(text, &back), QB_E_QR_INVALID);
    ASSERT_EQ_INT(qr_payload_parse(other, text, strlen(text), &back), QB_OK);
}

/* Signs text (everything before "&s=") the way the encoder does, so that
 * the parser's value rules are tested apart from the MAC. */
static void S_sign(const char *body, char *out, size_t out_size)
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)body, strlen(body), S_key);
    char b64[QR_MAC_TEXT_SIZE + 1];
    sodium_bin2base64(b64, sizeof b64, mac, QR_MAC_SIZE, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, out_size, "%s&s=%s", body, b64);
}

/* Correctly signed but not canonical, unknown or out of bounds: refused,
 * because the server never writes such a payload. */
TEST(signed_but_non_canonical_is_refused)
{
    static const char *const bad[] = {
        "qianbao://pay?v=2&k=u&id=" S_USER,                          /* unknown version */
        "qianbao://pay?v=1&k=x&id=" S_USER,                          /* unknown kind */
        "qianbao://pay?v=1&k=u&id=u_0123",                           /* payee shape */
        "qianbao://pay?v=1&k=m&id=0900000109",                       /* mchid leading zero */
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=01234&c=CNY",         /* leading zero */
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=0&c=CNY",             /* zero */
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=1000000000001&c=CNY", /* past the max */
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=99999999999999999999&c=CNY",
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=12",             /* amount without currency */
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=12&c=cny",       /* currency case */
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=12&c=XXX",       /* unknown currency */
        "qianbao://pay?v=1&k=m&id=1900000109&a=12&c=USD",       /* merchants: CNY */
        "qianbao://pay?v=1&k=m&id=1900000109&m=hi",             /* no memo on a till code */
        "qianbao://pay?v=1&k=g&id=" S_COLLECTION "&a=12&c=CNY", /* the collection's amount */
        "qianbao://pay?v=1&k=g&id=" S_COLLECTION "&m=hi",       /* nor a memo */
        "qianbao://pay?v=1&k=g&id=" S_USER,                     /* a user is no collection */
        "qianbao://pay?v=1&k=u&id=" S_COLLECTION,               /* nor the other way */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=%41",            /* escaped unreserved */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=%e5%8d%88",      /* lower-case escape */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=a+b",            /* '+' is not a space */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=%0A",            /* control character */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=%C0%80",         /* overlong UTF-8 */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=%ED%A0%80",      /* surrogate */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=%E5",            /* truncated UTF-8 */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=",               /* empty member */
        "qianbao://pay?v=1&k=u&id=" S_USER "&c=CNY",            /* currency without amount */
        "qianbao://pay?v=1&k=u&id=" S_USER "&m=x&a=1&c=CNY",    /* order of members */
        "qianbao://pay?v=1&k=u&id=" S_USER "&x=1",              /* unknown member */
        "qianbao://pay?k=u&v=1&id=" S_USER,
        "QIANBAO://pay?v=1&k=u&id=" S_USER,
        "qianbao://pay?v=1&k=u&id=" S_USER "&a=1&a=1&c=CNY",
        /* 65 bytes of memo: one too many. */
        "qianbao://pay?v=1&k=u&id=" S_USER
        "&m=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    char text[QR_PAYLOAD_SIZE_MAX * 2];
    struct qr_payload back;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        S_sign(bad[i], text, sizeof text);
        if (S_parse(text, &back) != QB_E_QR_INVALID)
            TEST_FAIL_("accepted: %s", text);
    }
    /* The control: the same signing makes a good one that passes, and 64
     * bytes of memo are fine. */
    S_sign("qianbao://pay?v=1&k=u&id=" S_USER "&a=12&c=CNY&m=%E5%8D%88", text, sizeof text);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    S_sign("qianbao://pay?v=1&k=u&id=" S_USER
           "&m=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           text, sizeof text);
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT_EQ_INT(strlen(back.memo), 64);
    /* A non-canonical MAC (base64 with stray low bits) is refused too. */
    size_t size = strlen(text);
    text[size - 1] = text[size - 1] == 'A' ? 'B' : 'A';
    ASSERT_EQ_INT(S_parse(text, &back), QB_E_QR_INVALID);
}

/* The encoder refuses what the parser would refuse, and the longest
 * payload fits QR_PAYLOAD_SIZE_MAX. */
TEST(encoder_bounds)
{
    char text[QR_PAYLOAD_SIZE_MAX];
    struct qr_payload p = S_transfer(true, "");
    p.amount_minor = 0;
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_E_PARAM);
    p.amount_minor = QR_AMOUNT_MAX_MINOR + 1;
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_E_PARAM);
    p = S_transfer(false, "line\nbreak");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_E_PARAM);
    p = S_transfer(false, "");
    snprintf(p.payee, sizeof p.payee, "13800138000");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_E_PARAM);
    /* A collection's code carries its id alone. */
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_COLLECTION;
    snprintf(p.payee, sizeof p.payee, "%s", S_COLLECTION);
    p.has_amount = true;
    p.amount_minor = 100;
    p.currency = currency_find("CNY");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_E_PARAM);
    p.has_amount = false;
    p.currency = NULL;
    snprintf(p.memo, sizeof p.memo, "AA");
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_E_PARAM);
    /* 64 bytes that all need escaping: the longest payload. */
    p = S_transfer(true, "");
    p.amount_minor = QR_AMOUNT_MAX_MINOR;
    for (size_t i = 0; i < 21; i++)
        memcpy(p.memo + 3 * i, "\xe5\x8d\x88", 3);
    p.memo[63] = '!';
    p.memo[64] = '\0';
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, sizeof text), QB_OK);
    struct qr_payload back;
    ASSERT_EQ_INT(S_parse(text, &back), QB_OK);
    ASSERT_EQ_STR(back.memo, p.memo);
    ASSERT_EQ_INT(qr_payload_encode(S_key, &p, text, 40), QB_E_TOO_LARGE);
}

/* The images: an SVG and a PNG of the right kind, terminal lines of equal
 * width; nothing for empty text. */
TEST(renderers_make_images)
{
    struct buf out;
    buf_init(&out, QR_IMAGE_SIZE_MAX);
    ASSERT_EQ_INT(qr_render_svg("qianbao://pay?pr=0123456789abcdef0123456789abcdef", 4, &out),
                  QB_OK);
    ASSERT(strncmp(out.data, "<svg ", 5) == 0 && strstr(out.data, "</svg>") != NULL);
    buf_reset(&out);
    ASSERT_EQ_INT(qr_render_png("hello", 2, &out), QB_OK);
    ASSERT(out.size > 8 && memcmp(out.data, "\x89PNG\r\n\x1a\n", 8) == 0);
    buf_reset(&out);
    ASSERT_EQ_INT(qr_render_term("hello", &out), QB_OK);
    /* Version 1 (21 modules) plus the quiet zone: 29 cells a line, 15 lines. */
    size_t lines = 0;
    for (size_t i = 0; i < out.size; i++)
        lines += out.data[i] == '\n';
    ASSERT_EQ_INT(lines, 15);
    buf_reset(&out);
    ASSERT_EQ_INT(qr_render_svg("", 4, &out), QB_E_PARAM);
    ASSERT_EQ_INT(qr_render_png("x", 0, &out), QB_E_PARAM);
    buf_release(&out);
    struct buf small;
    buf_init(&small, 64);
    ASSERT_EQ_INT(qr_render_png("hello", 8, &small), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(qr_render_svg("hello", 8, &small), QB_E_TOO_LARGE);
    buf_release(&small);
}

int main(void)
{
    RUN(round_trip_of_every_kind);
    RUN(the_documented_test_vectors);
    RUN(every_tampered_byte_is_refused);
    RUN(another_key_is_refused);
    RUN(signed_but_non_canonical_is_refused);
    RUN(encoder_bounds);
    RUN(renderers_make_images);
    return test_summary();
}
