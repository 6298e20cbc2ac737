/*
 * text.h — what Qianbao takes as text a person will read: strict UTF-8
 * without the characters that change what is shown.
 *
 * Owns: one decoder of UTF-8 (no overlong forms, no surrogates, nothing
 * past U+10FFFF, so that two decoders never read one byte string as two
 * texts) and one rule for text that is stored and shown to someone else —
 * a memo, a greeting, a name, a merchant's description. Such text holds no
 * control character (C0, DEL, C1) and none of the invisible characters that
 * reorder or hide what is around them: Unicode's default-ignorable code
 * points — the direction marks, embeddings, overrides and isolates (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), the invisible ones
 * (U+00AD, U+034F, U+180E, U+200B, U+2060..U+2065, U+206A..U+206F, U+FEFF,
 * U+FFF0..U+FFF8, the shorthand and musical format controls U+1BCA0..U+1BCA3
 * and U+1D173..U+1D17A), the tag characters and what is reserved around them
 * (U+E0000..U+E00FF, U+E01F0..U+E0FFF) and the blank fillers (U+115F,
 * U+1160, U+17B4, U+17B5, U+3164, U+FFA0) — and besides them the line and
 * paragraph separators (U+2028, U+2029), the interlinear annotation marks
 * (U+FFF9..U+FFFB) and the braille blank U+2800. A memo with U+202E shows
 * its payee the rest of it backwards; a name with U+200B looks like
 * another; tags spell ASCII nobody sees. The zero-width joiners (U+200C,
 * U+200D) and the variation selectors (U+180B..U+180D, U+180F,
 * U+FE00..U+FE0F, U+E0100..U+E01EF) stay: emoji sequences and some scripts
 * are written with them. So do the tags of a subdivision's flag, the one
 * place they are shown: U+1F3F4, the tags of a subdivision code of 3 to 7
 * lower-case letters and digits (U+E0030..U+E0039, U+E0061..U+E007A), then
 * U+E007F, as in the flag of England.
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
 * an invisible character (above). A tag character is, though text_is_clean
 * takes it inside a subdivision's flag. */
bool text_codepoint_is_hidden(uint32_t cp);

/* Whether text[0..size) is strict UTF-8 holding no hidden code point, but
 * for the tags of well-formed subdivision flags. */
bool text_is_clean(const char *text, size_t size);

/* Whether text[0..size) shows nothing: each code point in it is white space
 * (U+0020, U+00A0, U+3000 and the rest of Unicode's White_Space), a joiner,
 * a variation selector or a hidden code point. Clean text can be blank; a
 * name must not be, as it would look empty. Bytes that are not UTF-8 are not
 * blank (a reader shows U+FFFD). */
bool text_is_blank(const char *text, size_t size);

#endif
