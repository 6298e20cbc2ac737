/*
 * text.c — strict UTF-8 and the rule for shown text (text.h).
 */
#include "base/text.h"

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

bool text_codepoint_is_hidden(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) /* controls */
        return true;
    if (cp < 0xAD)
        return false;
    return cp == 0x00AD ||                                 /* soft hyphen */
           cp == 0x034F ||                                 /* combining grapheme joiner */
           cp == 0x061C ||                                 /* Arabic letter mark */
           cp == 0x115F || cp == 0x1160 ||                 /* Hangul fillers */
           cp == 0x17B4 || cp == 0x17B5 ||                 /* Khmer inherent vowels */
           cp == 0x180E ||                                 /* Mongolian vowel separator */
           cp == 0x200B || cp == 0x200E || cp == 0x200F || /* ZWSP, LRM, RLM */
           (cp >= 0x2028 && cp <= 0x202E) ||               /* LS, PS, LRE..RLO */
           (cp >= 0x2060 && cp <= 0x2064) ||               /* word joiner, invisible operators */
           (cp >= 0x2066 && cp <= 0x206F) ||               /* LRI..PDI, deprecated format */
           cp == 0x3164 || cp == 0xFFA0 ||                 /* Hangul fillers */
           cp == 0xFEFF ||                                 /* BOM */
           (cp >= 0xFFF9 && cp <= 0xFFFB);                 /* interlinear annotation */
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
    }
    return true;
}
