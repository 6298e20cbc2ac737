/*
 * text.c — strict UTF-8 and the rule for shown text (text.h).
 */
#include "base/text.h"

#include "base/assert.h"

size_t text_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    if (avail == 0)
        return 0;
    unsigned char c = s[0];
    size_t size;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        size = 2, min = 0x80, *cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        size = 3, min = 0x800, *cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        size = 4, min = 0x10000, *cp = c & 0x07u;
    } else {
        return 0;
    }
    if (avail < size)
        return 0;
    for (size_t i = 1; i < size; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3Fu);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return size;
}

/* A run of code points, first..last inclusive. */
struct text_range {
    uint32_t first;
    uint32_t last;
};

/* The code points past the controls that hide or reorder what is shown, in order: Unicode's
 * Default_Ignorable_Code_Point (DerivedCoreProperties.txt) less the joiners and variation
 * selectors, which emoji and some scripts are written with, plus the separators and annotation
 * marks that rearrange lines, the format characters that span or arrange the characters after
 * them (the prepended concatenation marks drawn around the digits that follow, the Egyptian
 * hieroglyph format controls), and the braille blank. Reserved code points in the ignorable ranges
 * count: a renderer shows them as nothing today, so they may not be text tomorrow. */
static const struct text_range S_hidden_ranges[] = {
    {0x00AD, 0x00AD},   /* soft hyphen */
    {0x034F, 0x034F},   /* combining grapheme joiner */
    {0x0600, 0x0605},   /* Arabic number signs: drawn around the digits after them */
    {0x061C, 0x061C},   /* Arabic letter mark */
    {0x06DD, 0x06DD},   /* Arabic end of ayah, the same */
    {0x070F, 0x070F},   /* Syriac abbreviation mark, the same */
    {0x0890, 0x0891},   /* Arabic pound and piastre marks above, the same */
    {0x08E2, 0x08E2},   /* Arabic disputed end of ayah, the same */
    {0x115F, 0x1160},   /* Hangul fillers */
    {0x17B4, 0x17B5},   /* Khmer inherent vowels */
    {0x180E, 0x180E},   /* Mongolian vowel separator */
    {0x200B, 0x200B},   /* zero-width space */
    {0x200E, 0x200F},   /* LRM, RLM */
    {0x2028, 0x202E},   /* LS, PS, LRE..RLO */
    {0x2060, 0x206F},   /* word joiner, invisible operators, LRI..PDI, deprecated format */
    {0x2800, 0x2800},   /* braille pattern blank: a name of it looks empty */
    {0x3164, 0x3164},   /* Hangul filler */
    {0xFEFF, 0xFEFF},   /* BOM */
    {0xFFA0, 0xFFA0},   /* halfwidth Hangul filler */
    {0xFFF0, 0xFFFB},   /* reserved, interlinear annotation */
    {0x110BD, 0x110BD}, /* Kaithi number sign, the same */
    {0x110CD, 0x110CD}, /* Kaithi number sign above, the same */
    {0x13430, 0x1343F}, /* Egyptian hieroglyph format controls: arrange what follows */
    {0x1BCA0, 0x1BCA3}, /* shorthand format controls */
    {0x1D173, 0x1D17A}, /* musical format controls */
    {0xE0000, 0xE00FF}, /* tags, an invisible copy of ASCII (but in a flag, text_is_clean) */
    {0xE01F0, 0xE0FFF}, /* reserved, past the variation selectors supplement */
};

bool text_codepoint_is_hidden(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) /* controls */
        return true;
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_hidden_ranges); i++) {
        if (cp < S_hidden_ranges[i].first)
            return false;
        if (cp <= S_hidden_ranges[i].last)
            return true;
    }
    return false;
}

/* The subdivision code of a flag tag sequence: a region (two letters or three digits) and one
 * to four letters or digits more (CLDR's unicode_subdivision_id), "gbeng" for England. */
enum {
    S_FLAG_CODE_SIZE_MIN = 3,
    S_FLAG_CODE_SIZE_MAX = 7,
};

/* The size of the tags at s (avail bytes there) that end a flag begun by U+1F3F4: the tags of
 * a lower-case subdivision code (U+E0030..U+E0039, U+E0061..U+E007A), then U+E007F CANCEL TAG.
 * 0 when they are not such tags. Held to the shape and length of a code so that a flag cannot
 * carry a hidden message. */
static size_t S_flag_tags_size(const unsigned char *s, size_t avail)
{
    size_t at = 0;
    for (size_t code_size = 0; code_size <= S_FLAG_CODE_SIZE_MAX; code_size++) {
        uint32_t cp;
        size_t step = text_utf8_decode(s + at, avail - at, &cp);
        if (step == 0)
            return 0;
        at += step;
        if (cp == 0xE007F) {
            QB_ASSERT(at <= avail);
            return code_size >= S_FLAG_CODE_SIZE_MIN ? at : 0;
        }
        if (!(cp >= 0xE0030 && cp <= 0xE0039) && !(cp >= 0xE0061 && cp <= 0xE007A))
            return 0;
    }
    return 0;
}

bool text_is_clean(const char *text, size_t size)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t at = 0;
    while (at < size) {
        if (s[at] >= 0x20 && s[at] < 0x7F) { /* most text is printable ASCII */
            at++;
            continue;
        }
        uint32_t cp;
        size_t step = text_utf8_decode(s + at, size - at, &cp);
        if (step == 0 || text_codepoint_is_hidden(cp))
            return false;
        at += step;
        if (cp == 0x1F3F4) /* waving black flag: perhaps a subdivision's flag */
            at += S_flag_tags_size(s + at, size - at);
    }
    QB_ASSERT(at == size);
    return true;
}

/* Whether cp, shown, leaves nothing to see: white space (Unicode's White_Space), a joiner or
 * variation selector with nothing to join or vary, or a hidden code point. */
static bool S_codepoint_is_blank(uint32_t cp)
{
    bool white_space = (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
                       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
                       cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    bool modifier = cp == 0x200C || cp == 0x200D || (cp >= 0x180B && cp <= 0x180F) ||
                    (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF);
    return white_space || modifier || text_codepoint_is_hidden(cp);
}

bool text_is_blank(const char *text, size_t size)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t at = 0;
    while (at < size) {
        uint32_t cp;
        size_t step = text_utf8_decode(s + at, size - at, &cp);
        if (step == 0 || !S_codepoint_is_blank(cp)) /* a broken byte shows as U+FFFD */
            return false;
        at += step;
    }
    return true;
}
