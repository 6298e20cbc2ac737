/*
 * text.h — what Qianbao takes as text a person will read: strict UTF-8
 * without the characters that change what is shown.
 *
 * Owns: one decoder of UTF-8 (no overlong forms, no surrogates, nothing
 * past U+10FFFF, so that two decoders never read one byte string as two
 * texts) and one rule for text that is stored and shown to someone else —
 * a memo, a greeting, a name, a merchant's description. Such text holds no
 * control character (C0, DEL, C1) and none of the invisible formatting
 * characters that reorder or hide what is around them: the direction marks,
 * embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069), the line and paragraph separators
 * (U+2028, U+2029), the invisible ones (U+00AD, U+034F, U+180E, U+200B,
 * U+2060..U+2064, U+206A..U+206F, U+FEFF, U+FFF9..U+FFFB) and the blank
 * fillers that make a name look empty (U+115F, U+1160, U+17B4, U+17B5,
 * U+3164, U+FFA0). A memo with U+202E shows its payee the rest of it
 * backwards; a name with U+200B looks like another. The zero-width joiners
 * (U+200C, U+200D) and the variation selectors stay: emoji sequences and
 * some scripts are written with them.
 *
 * Must never: accept text that another decoder reads differently.
 */
#ifndef QB_BASE_TEXT_H
#define QB_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s (avail bytes there): its length (1..4) and
 * *cp, or 0 when the bytes are not strict UTF-8. */
size_t text_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);

/* Whether cp may not appear in text that is shown: a control character or
 * an invisible formatting character (above). */
bool text_codepoint_is_hidden(uint32_t cp);

/* Whether text[0..size) is strict UTF-8 holding no hidden code point. */
bool text_is_clean(const char *text, size_t size);

#endif
