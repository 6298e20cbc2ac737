/*
 * test_paycode.c — the payment code's codec against the test vectors of
 * docs/paycode.md.
 *
 * The vectors were computed by an independent implementation of the page
 * (a few lines of Python's hmac module), so a change to the byte layout,
 * the truncation or the check digit fails here before any device in the
 * field disagrees with the server. Then the parser's refusals, and the
 * ±1 step window.
 */
#include <string.h>

#include "base/crypto.h"
#include "base/paycode.h"
#include "test.h"

struct S_vector {
    int seed;
    int64_t at_ms;
    uint32_t slot;
    uint8_t counter;
    int64_t step;
    const char *message_hex;
    uint32_t token;
    const char *code;
};

/* Seeds: 0 = bytes 00..1f, 1 = 32 × ff, 2 = SHA-256("qianbao"). */
static const struct S_vector S_vectors[] = {
    {0, 0, 0, 0, 0, "514250430100000000000000000000000000", 1042591, "190000000010425915"},
    {0, 1764400000000, 1234567, 0, 29406666, "51425043010000000001c0b5ca0012d68700", 7118566,
     "191234567071185667"},
    {0, 1764400019999, 1234567, 1, 29406666, "51425043010000000001c0b5ca0012d68701", 4957460,
     "191234567149574603"},
    {0, 1764400020000, 1234567, 1, 29406667, "51425043010000000001c0b5cb0012d68701", 8762920,
     "191234567187629202"},
    {1, 1764400000000, 9999999, 9, 29406666, "51425043010000000001c0b5ca0098967f09", 8593501,
     "199999999985935010"},
    {2, 1764403200000, 42, 3, 29406720, "51425043010000000001c0b6000000002a03", 367154,
     "190000042303671540"},
    {2, 4102444800000, 7654321, 5, 68374080, "51425043010000000004134e400074cbb105", 5745791,
     "197654321557457911"},
};

static void S_seed(int which, uint8_t seed[PAYCODE_SEED_SIZE])
{
    for (int i = 0; i < PAYCODE_SEED_SIZE; i++)
        seed[i] = which == 0 ? (uint8_t)i : 0xff;
    if (which == 2)
        crypto_sha256("qianbao", 7, seed);
}

TEST(vectors_of_the_specification)
{
    // Every vector of docs/paycode.md: the step, the HMAC input, the token and the code.
    for (size_t i = 0; i < sizeof S_vectors / sizeof S_vectors[0]; i++) {
        const struct S_vector *v = &S_vectors[i];
        uint8_t seed[PAYCODE_SEED_SIZE];
        S_seed(v->seed, seed);
        ASSERT_EQ_INT(paycode_step(v->at_ms), v->step);
        uint8_t message[PAYCODE_MESSAGE_SIZE];
        paycode_message(v->step, v->slot, v->counter, message);
        char hex[2 * PAYCODE_MESSAGE_SIZE + 1];
        crypto_hex(message, sizeof message, hex);
        ASSERT_EQ_STR(hex, v->message_hex);
        ASSERT_EQ_INT(paycode_token(seed, v->step, v->slot, v->counter), v->token);
        char code[PAYCODE_TEXT_SIZE];
        paycode_format(seed, v->step, v->slot, v->counter, code);
        ASSERT_EQ_STR(code, v->code);
        struct paycode parsed;
        ASSERT(paycode_parse(code, strlen(code), &parsed));
        ASSERT_EQ_INT(parsed.slot, v->slot);
        ASSERT_EQ_INT(parsed.counter, v->counter);
        ASSERT_EQ_INT(parsed.token, v->token);
    }
}

TEST(parse_refuses_what_is_not_a_code)
{
    // Length, prefix (WeChat's 10-15 and Alipay's 25-30 are not ours), digits and the check digit.
    struct paycode p;
    const char *good = "191234567071185667";
    ASSERT(paycode_parse(good, 18, &p));
    ASSERT(!paycode_parse(good, 17, &p));
    ASSERT(!paycode_parse("1912345670711856670", 19, &p));
    ASSERT(!paycode_parse("", 0, &p));
    ASSERT(!paycode_parse(NULL, 18, &p));
    ASSERT(!paycode_parse("131234567071185667", 18, &p));
    ASSERT(!paycode_parse("281234567071185667", 18, &p));
    ASSERT(!paycode_parse("19123456707118566a", 18, &p));
    ASSERT(!paycode_parse("19 234567071185667", 18, &p));
    // Every single-digit change of the last 16 digits breaks the check digit.
    char text[PAYCODE_TEXT_SIZE];
    for (int i = 2; i < 18; i++) {
        for (char d = '0'; d <= '9'; d++) {
            memcpy(text, good, sizeof text);
            if (text[i] == d)
                continue;
            text[i] = d;
            ASSERT(!paycode_parse(text, 18, &p));
        }
    }
    // A swap of two adjacent different digits is caught too (except 0<->9, Luhn's blind spot).
    memcpy(text, good, sizeof text);
    text[3] = good[4];
    text[4] = good[3];
    ASSERT(!paycode_parse(text, 18, &p));
}

TEST(verify_accepts_one_step_either_way_and_no_further)
{
    // The window: the step before, the step and the step after are accepted; two away is not.
    uint8_t seed[PAYCODE_SEED_SIZE];
    S_seed(2, seed);
    int64_t now_step = paycode_step(1764400000000);
    for (int64_t delta = -3; delta <= 3; delta++) {
        char text[PAYCODE_TEXT_SIZE];
        paycode_format(seed, now_step + delta, 1234567, 4, text);
        struct paycode p;
        ASSERT(paycode_parse(text, 18, &p));
        int64_t matched = -1;
        bool ok = paycode_verify(seed, &p, now_step, &matched);
        ASSERT_EQ_INT(ok, delta >= -1 && delta <= 1);
        if (ok)
            ASSERT_EQ_INT(matched, now_step + delta);
        // Another counter or slot with the same token is not the same code.
        p.counter = 5;
        ASSERT(!paycode_verify(seed, &p, now_step, NULL) || p.token == 0);
    }
    // Another seed does not verify it.
    uint8_t other[PAYCODE_SEED_SIZE];
    S_seed(0, other);
    char text[PAYCODE_TEXT_SIZE];
    paycode_format(seed, now_step, 1234567, 4, text);
    struct paycode p;
    ASSERT(paycode_parse(text, 18, &p));
    ASSERT(!paycode_verify(other, &p, now_step, NULL));
}

int main(void)
{
    if (!crypto_init())
        return 1;
    RUN(vectors_of_the_specification);
    RUN(parse_refuses_what_is_not_a_code);
    RUN(verify_accepts_one_step_either_way_and_no_further);
    return test_summary();
}
