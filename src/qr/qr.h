/*
 * qr.h — Qianbao's QR payloads and their images.
 *
 * Owns: the text a Qianbao QR code carries (docs/qr.md has the format) and
 * the rendering of any text as a QR symbol: SVG, PNG and UTF-8 half blocks
 * for a terminal. Four kinds of payload share the scheme "qianbao://pay?":
 *
 *   transfer  a user's receive code (收款码): the payee's user id, an
 *             optional amount and currency, an optional memo; signed.
 *   merchant  a merchant's static till code: the mchid, an optional amount
 *             (CNY); signed.
 *   order     a native order's code_url, "qianbao://pay?pr=<token>": a
 *             128-bit random reference to an order whose payee and amount
 *             live on the server only, so there is nothing in it to alter;
 *             unsigned, and kept as merchants already print it.
 *   collection  a group collection (群收款): its id, nothing more (the
 *             collection holds the asker, the amount and the title);
 *             signed.
 *
 * A signed payload ends in "&s=" and the first 16 bytes of
 * HMAC-SHA-256(key, everything before "&s="), base64url without padding.
 * The key is the daemon's (domain_env.qr_key, derived from the data
 * directory's data key), never in the database, so nobody else can make or
 * alter a payload that verifies.
 *
 * Parsing is strict: fixed member order, each member once, bounded
 * lengths, one canonical spelling of every value (no leading zeros, upper-
 * case percent escapes only where needed), the signature checked in
 * constant time before anything in the payload is trusted. Anything else is
 * QB_E_QR_INVALID.
 *
 * This module is pure (no storage, no clock, no I/O) and sits just above
 * base, so both the daemon and the CLI use it. Whether the payee exists is
 * the caller's to ask.
 */
#ifndef QB_QR_QR_H
#define QB_QR_QR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/money.h"

#define QR_KEY_SIZE 32
#define QR_SCHEME "qianbao://pay?"
#define QR_ORDER_PREFIX "qianbao://pay?pr="
#define QR_VERSION 1
#define QR_PAYEE_SIZE_MAX 33 /* "u_" + 26 (a user), 10 digits (a merchant), 32 hex (an order) */
#define QR_MEMO_SIZE_MAX 65  /* 64 bytes of UTF-8 + NUL */
#define QR_AMOUNT_MAX_MINOR INT64_C(1000000000000) /* the transfer and order maximum */
#define QR_MAC_SIZE 16                             /* truncated HMAC-SHA-256 */
#define QR_MAC_TEXT_SIZE 22                        /* base64url of 16 bytes, no padding */
#define QR_PAYLOAD_SIZE_MAX 320         /* the longest payload (a 64-byte memo all escaped) + NUL */
#define QR_IMAGE_SIZE_MAX (1024 * 1024) /* the largest SVG or PNG rendered */
/* The most text any QR code holds (version 40, level L, byte mode): what a
 * scan may hand a route that takes a payload, all of it answered
 * QB_E_QR_INVALID but a Qianbao code. */
#define QR_SCANNED_SIZE_MAX 2953

enum qr_kind {
    QR_KIND_TRANSFER = 1,
    QR_KIND_MERCHANT = 2,
    QR_KIND_ORDER = 3,
    QR_KIND_COLLECTION = 4,
};

struct qr_payload {
    enum qr_kind kind;
    char payee[QR_PAYEE_SIZE_MAX]; /* user id, mchid, the order's pay token, collection id */
    bool has_amount;               /* transfer, merchant: fixed amount; order, collection: never */
    int64_t amount_minor;            /* 1..QR_AMOUNT_MAX_MINOR when has_amount */
    const struct currency *currency; /* with the amount; NULL without */
    char memo[QR_MEMO_SIZE_MAX];     /* transfer only; "" for none */
};

/* "transfer", "merchant", "order", "collection". */
const char *qr_kind_name(enum qr_kind kind);

/* Writes p's payload into out (out_size >= QR_PAYLOAD_SIZE_MAX suffices),
 * signed with key (ignored for an order). QB_E_PARAM when p breaks a rule
 * the parser would refuse (a payee of the wrong shape, an amount out of
 * range, an unknown currency, a memo too long, not UTF-8 or with control
 * characters, a memo on a merchant code, an amount on an order or a
 * collection). */
QB_MUST_USE enum qb_error qr_payload_encode(const uint8_t key[QR_KEY_SIZE],
                                            const struct qr_payload *p, char *out, size_t out_size);

/* Parses and verifies text (size bytes, no NUL needed) into out. QB_OK or
 * QB_E_QR_INVALID (out zeroed); never reads past size. */
QB_MUST_USE enum qb_error qr_payload_parse(const uint8_t key[QR_KEY_SIZE], const char *text,
                                           size_t size, struct qr_payload *out);

/* --- images (render.c) --------------------------------------------------------- */

/* text as a QR symbol (libqrencode, byte mode, error correction M, a quiet
 * zone of 4 modules), appended to out:
 *   svg   one <path> of unit squares, viewBox in modules; module_px the
 *         width and height per module;
 *   png   8-bit grey, module_px pixels per module (libpng);
 *   term  UTF-8 upper-half blocks, two rows of modules per line, dark
 *         modules as spaces on a light background so that it scans on a
 *         dark terminal too; lines end in "\n".
 * QB_E_PARAM when text is empty or too long for a QR symbol, QB_E_TOO_LARGE
 * when out's cap is reached, QB_E_INTERNAL when a library fails. */
QB_MUST_USE enum qb_error qr_render_svg(const char *text, int module_px, struct buf *out);
QB_MUST_USE enum qb_error qr_render_png(const char *text, int module_px, struct buf *out);
QB_MUST_USE enum qb_error qr_render_term(const char *text, struct buf *out);

#endif
