/*
 * test_json_out.c — JSON written straight into a buffer.
 *
 * An answer stored with its idempotency key is replayed byte for byte, and
 * the same shapes are written with jansson elsewhere: json_out must write
 * exactly what json_dumps(JSON_COMPACT) writes for the same object. The
 * reference here is jansson itself, over a seeded sample of strings that
 * mix quotes, backslashes, every control character, slashes, DEL and
 * multi-byte characters.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json_out.h"
#include "test.h"

static uint64_t seed;

static uint64_t next(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return *state >> 17;
}

/* A random valid UTF-8 string of up to 24 pieces. */
static void random_text(uint64_t *state, char *out, size_t out_size)
{
    static const char *const pieces[] = {"a", "Z", "0", " ", "\"", "\\", "/", "\x7f", "\xc3\xa9",
                                         "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xef\xbf\xbf",
                                         "\xe2\x80\xa8", "u00", "\\u"};
    size_t at = 0;
    size_t count = next(state) % 25;
    for (size_t i = 0; i < count; i++) {
        char control[2] = {(char)(1 + next(state) % 31), 0};
        const char *piece = next(state) % 4 == 0
                                ? control
                                : pieces[next(state) % (sizeof pieces / sizeof pieces[0])];
        size_t size = strlen(piece);
        if (at + size + 1 > out_size)
            break;
        memcpy(out + at, piece, size);
        at += size;
    }
    out[at] = '\0';
}

TEST(writes_what_jansson_dumps)
{
    // 20,000 objects of random members (strings, integers at the edges and
    // between, nulls, one nested object), written both ways: the same bytes.
    uint64_t state = seed;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int round = 0; round < 20000; round++) {
        buf_reset(&b);
        json_t *want = json_object();
        json_t *nested = NULL;
        struct json_out out;
        json_out_begin(&out, &b);
        size_t members = next(&state) % 8;
        size_t nested_at = next(&state) % 8;
        for (size_t m = 0; m < members; m++) {
            char key[128], text[128];
            snprintf(key, sizeof key, "k%zu", m);
            json_t *into = nested != NULL ? nested : want;
            if (m == nested_at && nested == NULL) {
                nested = json_object();
                json_object_set_new(want, "to", nested);
                json_out_object(&out, "to");
                continue;
            }
            switch (next(&state) % 4) {
            case 0:
            case 1:
                random_text(&state, text, sizeof text);
                json_object_set_new(into, key, json_string(text));
                json_out_string(&out, key, text);
                break;
            case 2: {
                static const int64_t edges[] = {0, -1, 1, 9, 10, INT64_MAX, INT64_MIN, 12345678901};
                int64_t value = next(&state) % 2 ? edges[next(&state) % 8]
                                                 : (int64_t)next(&state) - (int64_t)(1ull << 46);
                json_object_set_new(into, key, json_integer(value));
                json_out_int(&out, key, value);
                break;
            }
            default:
                json_object_set_new(into, key, json_null());
                json_out_null(&out, key);
            }
        }
        if (nested != NULL)
            json_out_end(&out);
        json_out_end(&out);
        ASSERT_EQ_INT(json_out_done(&out), QB_OK);
        char *text = json_dumps(want, JSON_COMPACT);
        ASSERT(text != NULL);
        ASSERT_EQ_STR(b.data, text);
        free(text);
        json_decref(want);
    }
    buf_release(&b);
}

TEST(refuses_what_jansson_refuses)
{
    // Strings jansson will not hold (not UTF-8: a lone continuation byte,
    // an overlong form, a surrogate, past U+10FFFF, a cut sequence) fail
    // the whole answer, as do unbalanced objects and a full buffer.
    static const char *const bad[] = {"\x80", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xe4\xb8", "\xff"};
    struct buf b;
    buf_init(&b, 1 << 10);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT(json_string(bad[i]) == NULL);
        buf_reset(&b);
        struct json_out out;
        json_out_begin(&out, &b);
        json_out_string(&out, "memo", bad[i]);
        json_out_end(&out);
        ASSERT_EQ_INT(json_out_done(&out), QB_E_INTERNAL);
    }
    struct json_out out;
    buf_reset(&b);
    json_out_begin(&out, &b);
    json_out_object(&out, "to");
    json_out_end(&out);
    ASSERT_EQ_INT(json_out_done(&out), QB_E_INTERNAL); /* the top object left open */
    json_out_end(&out);
    ASSERT_EQ_INT(json_out_done(&out), QB_OK);
    ASSERT_EQ_STR(b.data, "{\"to\":{}}");
    json_out_end(&out);
    ASSERT_EQ_INT(json_out_done(&out), QB_E_INTERNAL); /* one end too many */

    struct buf small;
    buf_init(&small, 16);
    json_out_begin(&out, &small);
    json_out_string(&out, "display_name", "longer than sixteen bytes");
    json_out_end(&out);
    ASSERT_EQ_INT(json_out_done(&out), QB_E_INTERNAL);
    buf_release(&small);
    buf_release(&b);
}

int main(void)
{
    seed = test_seed();
    RUN(writes_what_jansson_dumps);
    RUN(refuses_what_jansson_refuses);
    return test_summary();
}
