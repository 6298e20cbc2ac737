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

/* The oracle for the test below, written apart from text.c: the controls, the default-ignorable
 * code points of Unicode's DerivedCoreProperties.txt but the joiners and variation selectors, the
 * separators and annotation marks that rearrange text, and the blanks that look like nothing. */
static bool S_hidden(uint32_t cp)
{
    bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
    bool ignorable = cp == 0xAD || cp == 0x34F || cp == 0x61C || cp == 0x115F || cp == 0x1160 ||
                     cp == 0x17B4 || cp == 0x17B5 || cp == 0x180E ||
                     (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
                     (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3164 || cp == 0xFEFF ||
                     cp == 0xFFA0 || (cp >= 0xFFF0 && cp <= 0xFFF8) ||
                     (cp >= 0x1BCA0 && cp <= 0x1BCA3) || (cp >= 0x1D173 && cp <= 0x1D17A) ||
                     (cp >= 0xE0000 && cp <= 0xE0FFF);
    bool kept = cp == 0x200C || cp == 0x200D || (cp >= 0x180B && cp <= 0x180F && cp != 0x180E) ||
                (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF);
    bool rearranging = cp == 0x2028 || cp == 0x2029 || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
                       (cp >= 0x0600 && cp <= 0x0605) || cp == 0x06DD || cp == 0x070F ||
                       cp == 0x0890 || cp == 0x0891 || cp == 0x08E2 || cp == 0x110BD ||
                       cp == 0x110CD || (cp >= 0x13430 && cp <= 0x1343F);
    bool blank = cp == 0x2800;
    return control || (ignorable && !kept) || rearranging || blank;
}

TEST(hidden_code_points_are_exactly_the_controls_and_invisible_formatting)
{
    // Every code point, each alone and between letters: refused exactly when it is a control or
    // one of the characters that reorder or hide, in every plane (the tag characters, U+E0001,
    // U+E0020..U+E007F, once slipped through as an invisible copy of ASCII).
    uint32_t hidden_wrong_cp = 0, clean_wrong_cp = 0; /* the first code point judged wrongly */
    for (uint32_t cp = 1; cp <= 0x10FFFF && hidden_wrong_cp == 0 && clean_wrong_cp == 0; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        bool hidden = S_hidden(cp);
        char one[5], text[16];
        S_encode(cp, one);
        snprintf(text, sizeof text, "a%sb", one);
        if (text_codepoint_is_hidden(cp) != hidden)
            hidden_wrong_cp = cp;
        if (S_clean(text) == hidden)
            clean_wrong_cp = cp;
    }
    ASSERT_EQ_INT(hidden_wrong_cp, 0);
    ASSERT_EQ_INT(clean_wrong_cp, 0);
    ASSERT(S_clean("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9")); /* man ZWJ woman: kept */
    ASSERT(S_clean("\xE2\x9D\xA4\xEF\xB8\x8F"));                     /* a heart with VS16: kept */
    ASSERT(S_clean("\xE8\x91\x9B\xF3\xA0\x84\x80")); /* 葛 with VS17, an ideographic variant */
    ASSERT(text_codepoint_is_hidden(0xE0001));       /* language tag */
    ASSERT(text_codepoint_is_hidden(0xE0041));       /* tag 'A' */
    ASSERT(text_codepoint_is_hidden(0x2800));        /* braille blank */
    ASSERT(!text_codepoint_is_hidden(0x10FFFF));
    ASSERT(!text_codepoint_is_hidden(0x1F35C));
}

/* U+1F3F4 WAVING BLACK FLAG, and U+E007F CANCEL TAG, which ends a tag sequence. */
#define FLAG "\xF0\x9F\x8F\xB4"
#define CANCEL "\xF3\xA0\x81\xBF"

/* more appended to the NUL-terminated text in text[0..text_size). */
static void S_append(char *text, size_t text_size, const char *more)
{
    size_t at = strlen(text);
    snprintf(text + at, text_size - at, "%s", more);
}

/* Appends U+1F3F4, the tag character (U+E0000 + c) of each ASCII c of spec, and U+E007F when
 * cancel: a flag tag sequence when spec is a subdivision code ("gbeng" for England). */
static void S_flag_append(char *text, size_t text_size, const char *spec, bool cancel)
{
    S_append(text, text_size, FLAG);
    for (const char *c = spec; *c != '\0'; c++) {
        char tag[5];
        S_encode(0xE0000u + (unsigned char)*c, tag);
        S_append(text, text_size, tag);
    }
    if (cancel)
        S_append(text, text_size, CANCEL);
}

/* Whether before, the flag of spec (S_flag_append), then after is clean. */
static bool S_flag_clean(const char *before, const char *spec, bool cancel, const char *after)
{
    char text[128];
    snprintf(text, sizeof text, "%s", before);
    S_flag_append(text, sizeof text, spec, cancel);
    S_append(text, sizeof text, after);
    return S_clean(text);
}

TEST(tags_only_in_a_flag_tag_sequence)
{
    // The subdivision flags (England, Scotland, Wales) are written U+1F3F4, the tags of a
    // lower-case subdivision code, U+E007F: they are text. A tag anywhere else, upper-case, or
    // in a run too long for a subdivision code would carry invisible ASCII, so it is refused.
    ASSERT(S_flag_clean("", "gbeng", true, ""));
    ASSERT(S_flag_clean("go ", "gbsct", true, " go"));
    ASSERT(S_flag_clean("", "gbwls", true, FLAG)); /* then the black flag alone */
    ASSERT(S_flag_clean("", "usca", true, ""));
    ASSERT(S_flag_clean("", "001abcd", true, "")); /* the longest code: 3 digits, 4 more */
    ASSERT(S_flag_clean("", "", false, ""));       /* the black flag alone */
    char two[128] = "";
    S_flag_append(two, sizeof two, "gbeng", true);
    S_flag_append(two, sizeof two, "gbsct", true);
    ASSERT(S_clean(two));

    ASSERT(!S_flag_clean("", "", true, ""));         /* no code */
    ASSERT(!S_flag_clean("", "gb", true, ""));       /* too short for a subdivision */
    ASSERT(!S_flag_clean("", "001abcde", true, "")); /* too long */
    ASSERT(!S_flag_clean("", "gbeng", false, ""));   /* never cancelled */
    ASSERT(!S_flag_clean("", "gbeng", false, "x"));
    ASSERT(!S_flag_clean("", "GBENG", true, ""));  /* upper-case tags */
    ASSERT(!S_flag_clean("", "gb eng", true, "")); /* tag space */
    ASSERT(!S_flag_clean("", "gb-en", true, ""));
    ASSERT(!S_flag_clean("", "gbeng", true, "\xF3\xA0\x81\xA1")); /* a tag after the cancel */
    ASSERT(!S_flag_clean("", "", false, "\xF3\xA0\x80\x81"));     /* U+E0001 LANGUAGE TAG */
    ASSERT(!S_clean("pay\xF3\xA0\x81\xA1"));                      /* a tag after a letter */
    ASSERT(!S_clean(CANCEL));                                     /* a cancel tag alone */
    ASSERT(!S_clean(FLAG CANCEL CANCEL));
    char england[64] = ""; /* cut inside its cancel tag by the size, not by a NUL */
    S_flag_append(england, sizeof england, "gbeng", true);
    ASSERT(text_is_clean(england, strlen(england)));
    ASSERT(!text_is_clean(england, strlen(england) - 2));
}

static bool S_blank(const char *text) { return text_is_blank(text, strlen(text)); }

TEST(blank_text_shows_nothing)
{
    // White space of every width, joiners and variation selectors with nothing to act on show
    // nothing; one letter, digit, mark or emoji among them does.
    ASSERT(S_blank(""));
    ASSERT(S_blank(" \t"));
    ASSERT(
        S_blank("\xC2\xA0\xE3\x80\x80\xE2\x80\x87\xE2\x80\x8A")); /* U+00A0 U+3000 U+2007 U+200A */
    ASSERT(S_blank("\xE2\x80\x8D\xEF\xB8\x8F\xF3\xA0\x84\x80"));  /* U+200D U+FE0F U+E0100 */
    ASSERT(S_blank("\xE2\xA0\x80\xE3\x85\xA4"));                  /* U+2800 U+3164 */
    ASSERT(!S_blank(" . "));
    ASSERT(!S_blank("\xE3\x80\x80\xE3\x80\x87")); /* U+3000 〇 */
    ASSERT(!S_blank("\xE2\x9D\xA4\xEF\xB8\x8F")); /* a heart with VS16 */
    ASSERT(!S_blank(" \xCC\x81"));                /* a combining acute: shown on its own */
    ASSERT(!S_blank(" \xFF"));                    /* not UTF-8: a reader shows U+FFFD */
    ASSERT(!text_is_blank(" x", 2));
    ASSERT(text_is_blank(" x", 1));
}

int main(void)
{
    RUN(strict_utf8_only);
    RUN(hidden_code_points_are_exactly_the_controls_and_invisible_formatting);
    RUN(tags_only_in_a_flag_tag_sequence);
    RUN(blank_text_shows_nothing);
    return test_summary();
}
