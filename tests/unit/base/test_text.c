/*
 * test_text.c — strict UTF-8 and the rule for text that is shown (base/text.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/text.h"
#include "test.h"

static bool S_clean(const char *text) { return text_is_clean(text, strlen(text)); }

/* cp as UTF-8 into out (NUL-terminated). */
static void S_encode(uint32_t cp, char out[5])
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp, o[1] = 0;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6)), o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        o[2] = 0;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F)), o[3] = 0;
    } else {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F)), o[4] = 0;
    }
}

TEST(strict_utf8_only)
{
    // One reading per byte string: overlong forms, surrogates, past U+10FFFF, a truncated or
    // broken sequence are not text.
    ASSERT(S_clean("午饭 lunch 🍜"));
    ASSERT(S_clean(""));
    ASSERT(!S_clean("\xC0\xAF"));         /* overlong '/' */
    ASSERT(!S_clean("\xE0\x80\xAF"));     /* overlong, three bytes */
    ASSERT(!S_clean("\xED\xA0\x80"));     /* U+D800, a surrogate */
    ASSERT(!S_clean("\xF4\x90\x80\x80")); /* past U+10FFFF */
    ASSERT(!S_clean("\xE5\x8D"));         /* truncated */
    ASSERT(!S_clean("\xE5\x41\x88"));     /* a broken continuation */
    ASSERT(!S_clean("\xFF"));
    uint32_t cp = 0;
    ASSERT_EQ_INT(text_utf8_decode((const unsigned char *)"\xE5\x8D\x88", 3, &cp), 3);
    ASSERT_EQ_INT(cp, 0x5348); /* 午 */
    ASSERT_EQ_INT(text_utf8_decode((const unsigned char *)"\xE5\x8D\x88", 2, &cp), 0);
}

TEST(hidden_code_points_are_exactly_the_controls_and_invisible_formatting)
{
    // Every code point up to U+FFFF and a few beyond, each alone and between letters: refused
    // exactly when it is a control or one of the formatting characters that reorder or hide.
    for (uint32_t cp = 1; cp < 0x10000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        bool hidden = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD ||
                      cp == 0x34F || cp == 0x61C || cp == 0x115F || cp == 0x1160 || cp == 0x17B4 ||
                      cp == 0x17B5 || cp == 0x180E || cp == 0x200B || cp == 0x200E ||
                      cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
                      (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206F) ||
                      cp == 0x3164 || cp == 0xFFA0 || cp == 0xFEFF ||
                      (cp >= 0xFFF9 && cp <= 0xFFFB);
        ASSERT_EQ_INT(text_codepoint_is_hidden(cp), hidden);
        char one[5], text[16];
        S_encode(cp, one);
        snprintf(text, sizeof text, "a%sb", one);
        ASSERT_EQ_INT(S_clean(text), !hidden);
    }
    ASSERT(S_clean("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9")); /* man ZWJ woman: kept */
    ASSERT(S_clean("\xE2\x9D\xA4\xEF\xB8\x8F"));                     /* a heart with VS16: kept */
    ASSERT(!text_codepoint_is_hidden(0x10FFFF));
    ASSERT(!text_codepoint_is_hidden(0x1F35C));
}

int main(void)
{
    RUN(strict_utf8_only);
    RUN(hidden_code_points_are_exactly_the_controls_and_invisible_formatting);
    return test_summary();
}
