/*
 * bills.c — bill lines, statements and CSV, read back from the ledger.
 *
 * Everything here is one walk (struct S_walk): back along the account's
 * chain in batches of point reads, counting every entry against a budget,
 * and carrying the account's held amount backwards so each entry's
 * available balance can be told from its posting alone. bills_list turns
 * the walk into a page of lines; bills_statement into a month's sums. Both
 * see the same lines because both classify entries with S_classify and
 * read payments with S_line_fill.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/log.h"
#include "identity/identity.h"
#include "merchant/merchant.h"
#include "wallet/bills.h"
#include "wallet/redpacket.h"
#include "wallet/transfer.h"

#define S_BATCH 32                 /* entries read per ledger_history_read */
#define S_CURSOR_VERSION 2         /* 1: the payload in clear, refused since */
#define S_CURSOR_PAYLOAD_SIZE 17   /* version, next entry, held there (enciphered) */
#define S_CURSOR_TAG_SIZE 16
#define S_CURSOR_SIZE (S_CURSOR_PAYLOAD_SIZE + S_CURSOR_TAG_SIZE)
#define S_DAY_MS INT64_C(86400000)
#define S_UTC8_MS (8 * INT64_C(3600000))
#define S_PARTY_SLOTS_FIRST 1024 /* the party table's first size, doubled as it fills */
_Static_assert(BILLS_CURSOR_SIZE_MAX > 44, "a cursor's base64url text fits");

/* --- the walk ------------------------------------------------------------------ */

struct S_walk {
    struct store *reader;
    int64_t account_id;
    int64_t next_id;    /* the next entry to read; 0: the chain ended */
    int64_t held_after; /* the account's held amount right after next_id */
    size_t scanned;
    size_t scan_max;
    size_t batch_count;
    size_t batch_index;
    struct ledger_entry batch[S_BATCH];
};

/* The next entry of the walk into *entry (NULL when the chain ended or the
 * budget ran out: w->next_id tells which), with the account's posting and
 * its available balance after the entry. QB_E_INTERNAL when the held
 * amounts do not add up, which only a corrupted journal can do. */
static enum qb_error S_walk_next(struct S_walk *w, const struct ledger_entry **entry,
                                 const struct ledger_posting **posting, int64_t *available_after)
{
    *entry = NULL;
    if (w->next_id == 0 || w->scanned >= w->scan_max)
        return QB_OK;
    if (w->batch_index == w->batch_count) {
        size_t want = w->scan_max - w->scanned < S_BATCH ? w->scan_max - w->scanned : S_BATCH;
        int64_t after = 0;
        size_t count = 0;
        enum qb_error err = ledger_history_read(w->reader, w->account_id, w->next_id, want,
                                                w->batch, &count, &after);
        if (err != QB_OK)
            return err;
        if (count == 0)
            return QB_E_INTERNAL;
        w->batch_count = count;
        w->batch_index = 0;
    }
    const struct ledger_entry *e = &w->batch[w->batch_index++];
    const struct ledger_posting *po = ledger_entry_posting(e, w->account_id);
    /* ledger_history_read starts at next_id and follows the same links. */
    QB_ASSERT(e->id == w->next_id && po != NULL);
    int64_t held_before;
    if (w->held_after < 0 || !money_sub(po->balance_after_minor, w->held_after, available_after) ||
        !money_sub(w->held_after, po->held_delta_minor, &held_before) || held_before < 0)
        return QB_E_INTERNAL;
    w->held_after = held_before;
    w->next_id = po->prev_entry_id;
    w->scanned++;
    *entry = e;
    *posting = po;
    return QB_OK;
}

/* What line an entry makes, if any: false for the entries a line is not
 * anchored on (a withdrawal's capture, a fee, a release). */
static bool S_classify(const struct ledger_entry *e, const struct ledger_posting *po,
                       enum bills_type *type, enum bills_direction *direction, int64_t *amount)
{
    *amount = po->amount_minor < 0 ? -po->amount_minor : po->amount_minor;
    *direction = po->amount_minor < 0 ? BILLS_OUT : BILLS_IN;
    switch (e->code) {
    case WALLET_CODE_TOPUP:
        *type = BILLS_TOPUP;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor > 0;
    case WALLET_CODE_TRANSFER:
    case WALLET_CODE_TRANSFER_RELEASE:
        /* A delayed transfer (transfer.h): the payer's line is its hold,
         * the payee's its capture; a release is the payer's money back. */
        *type = BILLS_TRANSFER;
        if (e->kind == LEDGER_ENTRY_HOLD) {
            *direction = BILLS_OUT;
            *amount = po->held_delta_minor;
            return po->held_delta_minor > 0;
        }
        if (e->kind == LEDGER_ENTRY_VOID) {
            *type = BILLS_TRANSFER_REFUND;
            *direction = BILLS_IN;
            *amount = -po->held_delta_minor;
            return po->held_delta_minor < 0;
        }
        if (e->kind == LEDGER_ENTRY_CAPTURE)
            return po->amount_minor > 0;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor != 0;
    case WALLET_CODE_MERCHANT_REMAINDER:
        *type = BILLS_MERCHANT_REMAINDER;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor > 0;
    case WALLET_CODE_MERCHANT_PAYOUT:
        /* The user's line is the capture: a payout nobody confirmed never
         * reached them. */
        *type = BILLS_MERCHANT_PAYOUT;
        return e->kind == LEDGER_ENTRY_CAPTURE && po->amount_minor > 0;
    case WALLET_CODE_TRANSFER_RETURN:
        *type = BILLS_TRANSFER_RETURN;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor != 0;
    case WALLET_CODE_ORDER_PAYMENT:
        *type = BILLS_ORDER_PAYMENT;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor != 0;
    case WALLET_CODE_ORDER_REFUND:
    case WALLET_CODE_ORDER_REVERSAL: /* a code payment the merchant reversed: all of it back */
        *type = BILLS_ORDER_REFUND;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor > 0;
    case WALLET_CODE_WITHDRAWAL:
        if (e->kind == LEDGER_ENTRY_VOID && po->held_delta_minor < 0) {
            *type = BILLS_WITHDRAWAL_REFUND;
            *direction = BILLS_IN;
            *amount = -po->held_delta_minor;
            return true;
        }
        *type = BILLS_WITHDRAWAL;
        *direction = BILLS_OUT;
        *amount = po->held_delta_minor;
        return e->kind == LEDGER_ENTRY_HOLD && po->held_delta_minor > 0;
    case WALLET_CODE_WITHDRAWAL_RETURN:
        *type = BILLS_WITHDRAWAL_RETURN;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor > 0;
    case WALLET_CODE_RED_PACKET_SEND:
        *type = BILLS_RED_PACKET_SENT;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor < 0;
    case WALLET_CODE_RED_PACKET_CLAIM:
        *type = BILLS_RED_PACKET_RECEIVED;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor > 0;
    case WALLET_CODE_RED_PACKET_REFUND:
        *type = BILLS_RED_PACKET_REFUND;
        return e->kind == LEDGER_ENTRY_TRANSFER && po->amount_minor > 0;
    default: {
        /* A later module's code: a line for each change of the available
         * balance, so that balance_after still adds up. A hold takes money
         * out of it; a capture moves money reserved already, and gives
         * back what it leaves of the hold, as a void or an expiry does. */
        *type = BILLS_OTHER;
        int64_t change;
        if (!money_sub(po->amount_minor, po->held_delta_minor, &change) ||
            !money_sub(0, change, amount))
            return false; /* past int64: no posting the ledger accepts */
        *direction = change < 0 ? BILLS_OUT : BILLS_IN;
        if (change > 0)
            *amount = change;
        return change != 0;
    }
    }
}

_Static_assert(BILLS_NAME_SIZE_MAX >= MERCHANT_NAME_SIZE_MAX, "a merchant's name fits whole");

/* src into dst; a text too long is cut before a whole character, never
 * inside one (an answer carries UTF-8 only). */
static void S_copy(char *dst, size_t dst_size, const char *src)
{
    size_t size = strlen(src);
    if (size >= dst_size) {
        size = dst_size - 1;
        while (size > 0 && ((unsigned char)src[size] & 0xC0) == 0x80)
            size--;
    }
    memcpy(dst, src, size);
    dst[size] = '\0';
}

/* A card's bank and last four digits; a card that is gone keeps its id. */
static enum qb_error S_card_read(struct store *reader, struct bills_counterparty *party)
{
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT bank, last4 FROM cards WHERE id = $1", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, party->id, strlen(party->id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            S_copy(party->name, sizeof party->name, store_column_text(st, 0));
            S_copy(party->last4, sizeof party->last4, store_column_text(st, 1));
        } else if (rc != STORE_STEP_DONE) {
            err = QB_E_STORAGE;
        }
    }
    store_finalize(st);
    return err;
}

/* Whether text holds needle (not empty), ASCII letters in either case:
 * bytes compared, so UTF-8 matches whole characters. */
static bool S_contains(const char *text, const char *needle)
{
    size_t size = strlen(needle);
    for (; *text != '\0'; text++) {
        size_t i = 0;
        while (i < size && text[i] != '\0' &&
               (text[i] == needle[i] ||
                ((unsigned char)(text[i] | 0x20) >= 'a' && (unsigned char)(text[i] | 0x20) <= 'z' &&
                 (text[i] | 0x20) == (needle[i] | 0x20))))
            i++;
        if (i == size)
            return true;
    }
    return false;
}

enum qb_error bills_counterparty_name(struct store *reader, struct bills_counterparty *party)
{
    if (party->kind == BILLS_PARTY_CARD)
        return S_card_read(reader, party);
    if (party->kind == BILLS_PARTY_MERCHANT) {
        struct merchant m;
        enum qb_error err = merchant_get(NULL, reader, party->id, &m);
        if (err == QB_OK)
            S_copy(party->name, sizeof party->name, m.name);
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    if (party->kind != BILLS_PARTY_USER)
        return QB_OK;
    struct identity_user user;
    enum qb_error err = identity_user_get(reader, party->id, &user);
    if (err == QB_E_NOT_FOUND)
        return QB_OK;
    if (err == QB_OK)
        wallet_name_mask(user.display_name, party->name, sizeof party->name);
    return err;
}

/* Fills a line from its anchor entry and, for the wallet's types, its
 * payment (without the counterparty's name). */
static enum qb_error S_line_fill(struct store *reader, const struct ledger_entry *e,
                                 const struct currency *currency, enum bills_type type,
                                 enum bills_direction direction, int64_t amount,
                                 int64_t available_after, struct bills_line *line)
{
    memset(line, 0, sizeof *line);
    S_copy(line->id, sizeof line->id, e->ref);
    line->type = type;
    line->direction = direction;
    line->currency = currency;
    line->amount_minor = amount;
    line->status = WALLET_SUCCESS;
    line->created_at_ms = e->created_at_ms;
    line->updated_at_ms = e->created_at_ms;
    line->balance_after_minor = available_after;
    line->entry_id = e->id;
    if (type == BILLS_OTHER)
        return QB_OK;
    if (type == BILLS_MERCHANT_REMAINDER) {
        line->counterparty.kind = BILLS_PARTY_MERCHANT;
        S_copy(line->counterparty.id, sizeof line->counterparty.id, e->ref);
        return QB_OK;
    }
    if (type == BILLS_RED_PACKET_SENT || type == BILLS_RED_PACKET_RECEIVED ||
        type == BILLS_RED_PACKET_REFUND) {
        struct redpacket packet;
        enum qb_error err = redpacket_get(reader, e->ref, &packet);
        if (err == QB_E_NOT_FOUND) {
            log_event(LOG_ERROR, "bills.red_packet_missing", "entry=%lld", (long long)e->id);
            return QB_E_INTERNAL;
        }
        if (err != QB_OK)
            return err;
        S_copy(line->memo, sizeof line->memo, packet.greeting);
        if (type == BILLS_RED_PACKET_RECEIVED) {
            line->counterparty.kind = BILLS_PARTY_USER;
            S_copy(line->counterparty.id, sizeof line->counterparty.id, packet.sender_id);
        }
        return QB_OK;
    }

    struct wallet_payment p;
    enum qb_error err = wallet_payment_get(reader, e->ref, NULL, &p);
    /* A refund's entry names the refund; a reversal's names the payment it
     * reverses, and a withdrawal's void the withdrawal: their lines are
     * that payment's money coming back, done. */
    bool reversal = e->code == WALLET_CODE_ORDER_REVERSAL || type == BILLS_WITHDRAWAL_REFUND ||
                    type == BILLS_WITHDRAWAL_RETURN || type == BILLS_TRANSFER_REFUND;
    int kind = e->code == WALLET_CODE_ORDER_REVERSAL ? WALLET_ORDER_PAYMENT
               : type == BILLS_WITHDRAWAL_REFUND || type == BILLS_WITHDRAWAL_RETURN
                   ? WALLET_WITHDRAWAL
               : type == BILLS_TRANSFER_REFUND ? WALLET_TRANSFER
               : type == BILLS_ORDER_REFUND    ? WALLET_ORDER_REFUND
               : type == BILLS_TRANSFER_RETURN ? WALLET_TRANSFER_RETURN
               : type == BILLS_MERCHANT_PAYOUT ? WALLET_MERCHANT_PAYOUT
                                               : (int)type;
    if (err == QB_E_NOT_FOUND || (err == QB_OK && (int)p.kind != kind)) {
        log_event(LOG_ERROR, "bills.payment_missing", "entry=%lld", (long long)e->id);
        return QB_E_INTERNAL;
    }
    if (err != QB_OK)
        return err;
    S_copy(line->memo, sizeof line->memo, p.memo);
    if (!reversal) {
        line->status = p.status;
        S_copy(line->failure_code, sizeof line->failure_code, p.failure_code);
        line->updated_at_ms = p.updated_at_ms;
    }
    if (type == BILLS_WITHDRAWAL) {
        /* The hold reserved amount + fee; the line shows them apart. */
        line->amount_minor = p.amount_minor;
        line->fee_minor = p.fee_minor;
    }
    struct bills_counterparty *party = &line->counterparty;
    if (type == BILLS_ORDER_PAYMENT || type == BILLS_ORDER_REFUND ||
        type == BILLS_MERCHANT_PAYOUT) {
        party->kind = BILLS_PARTY_MERCHANT;
        S_copy(party->id, sizeof party->id, p.counterparty_id);
    } else if (type == BILLS_TRANSFER || type == BILLS_TRANSFER_RETURN ||
               type == BILLS_TRANSFER_REFUND) {
        party->kind = BILLS_PARTY_USER;
        S_copy(party->id, sizeof party->id,
               direction == BILLS_OUT || type == BILLS_TRANSFER_REFUND ? p.counterparty_id
                                                                       : p.user_id);
        if (type == BILLS_TRANSFER) {
            err = wallet_transfer_return_id(reader, p.id, line->return_id);
            if (err != QB_OK && err != QB_E_NOT_FOUND)
                return err;
        }
    } else {
        party->kind = BILLS_PARTY_CARD;
        S_copy(party->id, sizeof party->id, p.card_id);
    }
    return QB_OK;
}

/* --- the cursor ------------------------------------------------------------------- */

void bills_cursor_key(const struct domain_env *env, uint8_t out[DOMAIN_KEY_SIZE])
{
    memcpy(out, env->cursor_key, DOMAIN_KEY_SIZE);
}

/* The tag binds the payload to the account and to every filter value, so
 * a cursor is good for the query that made it and nothing else. */
static void S_cursor_tag(const uint8_t key[DOMAIN_KEY_SIZE], int64_t account_id,
                         const struct bills_filter *f, const unsigned char *payload,
                         unsigned char tag[S_CURSOR_TAG_SIZE])
{
    unsigned char
        msg[16 + 8 + 2 + 16 + ID_TEXT_SIZE_MAX + BILLS_SEARCH_SIZE_MAX + S_CURSOR_PAYLOAD_SIZE];
    unsigned char *p = msg;
    memcpy(p, "qianbao.bills.1", 16); /* with its NUL */
    p += 16;
    buf_write_u64le(p, (uint64_t)account_id);
    p += 8;
    *p++ = (unsigned char)f->type;
    *p++ = (unsigned char)f->direction;
    buf_write_u64le(p, (uint64_t)f->from_ms);
    p += 8;
    buf_write_u64le(p, (uint64_t)f->to_ms);
    p += 8;
    size_t id_size = strnlen(f->counterparty_id, ID_TEXT_SIZE_MAX - 1);
    memcpy(p, f->counterparty_id, id_size);
    p += id_size;
    *p++ = '\0';
    size_t search_size = strnlen(f->search, BILLS_SEARCH_SIZE_MAX - 1);
    memcpy(p, f->search, search_size);
    p += search_size;
    *p++ = '\0';
    memcpy(p, payload, S_CURSOR_PAYLOAD_SIZE);
    p += S_CURSOR_PAYLOAD_SIZE;
    uint8_t mac[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(key, msg, (size_t)(p - msg), mac);
    memcpy(tag, mac, S_CURSOR_TAG_SIZE);
}

/* Enciphers (or deciphers) the payload's entry and amount in place, with
 * a keystream the tag picks (a synthetic IV, as SIV does): the tag is over
 * the payload in clear, so equal cursors stay equal and no nonce is kept,
 * and a holder learns neither the ledger's entry ids (the platform's count
 * of entries, read a day apart, would be its business) nor the amount
 * held. */
static void S_cursor_cipher(const uint8_t key[DOMAIN_KEY_SIZE],
                            const unsigned char tag[S_CURSOR_TAG_SIZE], unsigned char *payload)
{
    unsigned char msg[32 + S_CURSOR_TAG_SIZE];
    memcpy(msg, "qianbao.bills.cursor.keystream.1", 32);
    memcpy(msg + 32, tag, S_CURSOR_TAG_SIZE);
    uint8_t stream[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(key, msg, sizeof msg, stream);
    for (size_t i = 0; i < S_CURSOR_PAYLOAD_SIZE - 1; i++)
        payload[1 + i] ^= stream[i];
    crypto_wipe(stream, sizeof stream);
}

static void S_cursor_encode(const uint8_t key[DOMAIN_KEY_SIZE], int64_t account_id,
                            const struct bills_filter *f, int64_t next_id, int64_t held,
                            char out[BILLS_CURSOR_SIZE_MAX])
{
    QB_ASSERT(next_id > 0 && held >= 0);
    unsigned char raw[S_CURSOR_SIZE];
    raw[0] = S_CURSOR_VERSION;
    buf_write_u64le(raw + 1, (uint64_t)next_id);
    buf_write_u64le(raw + 9, (uint64_t)held);
    S_cursor_tag(key, account_id, f, raw, raw + S_CURSOR_PAYLOAD_SIZE);
    S_cursor_cipher(key, raw + S_CURSOR_PAYLOAD_SIZE, raw);
    sodium_bin2base64(out, BILLS_CURSOR_SIZE_MAX, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static enum qb_error S_cursor_decode(const uint8_t key[DOMAIN_KEY_SIZE], int64_t account_id,
                                     const struct bills_filter *f, const char *text,
                                     int64_t last_entry_id, int64_t *next_id, int64_t *held)
{
    unsigned char raw[S_CURSOR_SIZE + 1];
    size_t size = 0;
    size_t text_size = strnlen(text, BILLS_CURSOR_SIZE_MAX);
    if (text_size >= BILLS_CURSOR_SIZE_MAX ||
        sodium_base642bin(raw, sizeof raw, text, text_size, NULL, &size, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        size != S_CURSOR_SIZE || raw[0] != S_CURSOR_VERSION)
        return QB_E_PARAM;
    S_cursor_cipher(key, raw + S_CURSOR_PAYLOAD_SIZE, raw);
    unsigned char tag[S_CURSOR_TAG_SIZE];
    S_cursor_tag(key, account_id, f, raw, tag);
    if (!crypto_equal(tag, raw + S_CURSOR_PAYLOAD_SIZE, S_CURSOR_TAG_SIZE))
        return QB_E_PARAM;
    *next_id = (int64_t)buf_read_u64le(raw + 1);
    *held = (int64_t)buf_read_u64le(raw + 9);
    /* Made by S_cursor_encode under our key: anything else is a bug. */
    QB_ASSERT(*next_id > 0 && *held >= 0);
    return *next_id <= last_entry_id ? QB_OK : QB_E_PARAM;
}

/* --- a page of lines ------------------------------------------------------------- */

static enum qb_error S_list(struct store *reader, const struct ledger_account_view *view,
                            const uint8_t key[DOMAIN_KEY_SIZE], const struct bills_query *query,
                            struct bills_line *lines, struct bills_page *page)
{
    QB_ASSERT(query->limit >= 1 && query->scan_max >= 1 && view->id == query->account_id);
    memset(page, 0, sizeof *page);
    const struct bills_filter *f = &query->filter;
    struct S_walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return QB_E_INTERNAL;
    w->reader = reader;
    w->account_id = query->account_id;
    w->scan_max = query->scan_max;
    w->next_id = view->last_entry_id;
    w->held_after = view->held_minor;
    enum qb_error err = QB_OK;
    if (query->cursor != NULL && query->cursor[0] != '\0') {
        err = S_cursor_decode(key, query->account_id, f, query->cursor, view->last_entry_id,
                              &w->next_id, &w->held_after);
        if (err != QB_OK)
            goto out;
    }

    while (page->count < query->limit) {
        const struct ledger_entry *e;
        const struct ledger_posting *po;
        int64_t available;
        err = S_walk_next(w, &e, &po, &available);
        if (err != QB_OK || e == NULL)
            break;
        if (f->from_ms != 0 && e->created_at_ms < f->from_ms) {
            w->next_id = 0; /* older still from here on */
            break;
        }
        if (f->to_ms != 0 && e->created_at_ms >= f->to_ms)
            continue;
        enum bills_type type;
        enum bills_direction direction;
        int64_t amount;
        if (!S_classify(e, po, &type, &direction, &amount))
            continue;
        if ((f->type != BILLS_ANY && f->type != type) ||
            (f->direction != BILLS_BOTH && f->direction != direction))
            continue;
        struct bills_line *line = &lines[page->count];
        err = S_line_fill(reader, e, view->currency, type, direction, amount, available, line);
        if (err != QB_OK)
            break;
        if (f->counterparty_id[0] != '\0' && strcmp(line->counterparty.id, f->counterparty_id) != 0)
            continue;
        err = bills_counterparty_name(reader, &line->counterparty);
        if (err != QB_OK)
            break;
        if (f->search[0] != '\0' && !S_contains(line->memo, f->search) &&
            !S_contains(line->counterparty.name, f->search))
            continue;
        page->count++;
    }
    if (err != QB_OK)
        goto out;
    page->scanned = w->scanned;
    page->partial = w->next_id != 0 && page->count < query->limit;
    if (w->next_id != 0)
        S_cursor_encode(key, query->account_id, f, w->next_id, w->held_after, page->next_cursor);
out:
    if (err != QB_OK)
        page->count = 0;
    free(w);
    return err;
}

/* --- statements -------------------------------------------------------------------- */

static int64_t S_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool S_is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int S_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && S_is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n ASCII digits. */
static bool S_digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

bool bills_month_parse(const char *text, struct bills_month *out)
{
    memset(out, 0, sizeof *out);
    int y, m;
    if (text == NULL || strlen(text) != 7 || text[4] != '-' || !S_digits(text, 4, &y) ||
        !S_digits(text + 5, 2, &m) || y < 1970 || m < 1 || m > 12)
        return false;
    if (y == 9999 && m == 12)
        return false; /* its end, 10000-01-01, has no RFC 3339 form */
    out->year = y;
    out->month = m;
    out->start_ms = S_days_from_civil(y, m, 1) * S_DAY_MS - S_UTC8_MS;
    out->end_ms = S_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * S_DAY_MS -
                  S_UTC8_MS;
    QB_ASSERT(out->end_ms > out->start_ms);
    return true;
}

bool bills_year_parse(const char *text, struct bills_month *out)
{
    memset(out, 0, sizeof *out);
    int y;
    if (text == NULL || strlen(text) != 4 || !S_digits(text, 4, &y) || y < 1970 || y > 9998)
        return false; /* 9999's end, 10000-01-01, has no RFC 3339 form */
    out->year = y;
    out->start_ms = S_days_from_civil(y, 1, 1) * S_DAY_MS - S_UTC8_MS;
    out->end_ms = S_days_from_civil(y + 1, 1, 1) * S_DAY_MS - S_UTC8_MS;
    QB_ASSERT(out->end_ms > out->start_ms);
    return true;
}

bool bills_time_parse(const char *text, bool end_of_day, int64_t *at_ms)
{
    *at_ms = 0;
    size_t size = text != NULL ? strnlen(text, 64) : 0;
    int y, mo, d;
    if (size < 10 || text[4] != '-' || text[7] != '-' || !S_digits(text, 4, &y) ||
        !S_digits(text + 5, 2, &mo) || !S_digits(text + 8, 2, &d) || y < 1970 || mo < 1 ||
        mo > 12 || d < 1 || d > S_days_in_month(y, mo))
        return false;
    int64_t day = S_days_from_civil(y, mo, d);
    if (size == 10) {
        *at_ms = (day + (end_of_day ? 1 : 0)) * S_DAY_MS - S_UTC8_MS;
        return true;
    }
    int h, mi, s;
    if (size < 20 || (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':' ||
        !S_digits(text + 11, 2, &h) || !S_digits(text + 14, 2, &mi) ||
        !S_digits(text + 17, 2, &s) || h > 23 || mi > 59 || s > 60)
        return false;
    const char *p = text + 19;
    int64_t ms = 0;
    /* A leap second (RFC 3339 allows :60) is the last millisecond of its
     * minute: the ledger's clock, like the system's, never shows it. */
    bool leap = s == 60;
    if (leap)
        s = 59;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0 || n > 9)
            return false;
        for (; n < 3; n++)
            ms *= 10;
    }
    if (leap)
        ms = 999;
    int64_t offset_ms = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_ms = 0;
    } else if ((*p == '+' || *p == '-' || *p == ' ') && strlen(p) == 6 && p[3] == ':') {
        /* A '+' in a query string arrives as a space unless sent as %2B. */
        int oh, om;
        if (!S_digits(p + 1, 2, &oh) || !S_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_ms = ((int64_t)oh * 60 + om) * 60000 * (*p == '-' ? -1 : 1);
    } else {
        return false;
    }
    *at_ms = day * S_DAY_MS + ((int64_t)h * 3600 + mi * 60 + s) * 1000 + ms - offset_ms;
    return *at_ms > 0;
}

/* A counterparty's sums in a statement; its name is read for the top ones
 * only (bills_counterparty_name). */
struct S_party {
    enum bills_counterparty_kind kind; /* NONE: a free slot */
    char id[ID_TEXT_SIZE_MAX];
    struct bills_sums sums;
};

/* Every counterparty of the lines a statement counts, told apart: open
 * addressing, linear probing, at most 4/5 full; grown by doubling, so
 * that the top ones are the month's, however many it had (at most one a
 * line, BILLS_STATEMENT_SCAN_MAX, some 21 MB at worst). */
struct S_parties {
    struct S_party *slots;
    size_t size; /* a power of two */
    size_t count;
};

static uint32_t S_hash(const char *text)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *text != '\0'; text++)
        h = (h ^ (unsigned char)*text) * 16777619u;
    return h;
}

static bool S_sums_add(struct bills_sums *s, enum bills_direction direction, int64_t amount)
{
    s->count++;
    return money_add(direction == BILLS_IN ? s->income_minor : s->expense_minor, amount,
                     direction == BILLS_IN ? &s->income_minor : &s->expense_minor);
}

static int64_t S_volume(const struct bills_sums *s)
{
    int64_t v;
    return money_add(s->income_minor, s->expense_minor, &v) ? v : INT64_MAX;
}

/* Whether x ranks before y: more money in and out, then more lines, then
 * the id, so that the order is the same at every asking. */
static bool S_party_before(const struct S_party *x, const struct S_party *y)
{
    int64_t vx = S_volume(&x->sums), vy = S_volume(&y->sums);
    if (vx != vy)
        return vx > vy;
    if (x->sums.count != y->sums.count)
        return x->sums.count > y->sums.count;
    return strcmp(x->id, y->id) < 0;
}

/* The slot of (kind, id) in slots: its own, or the free one it would take. */
static struct S_party *S_party_slot(struct S_party *slots, size_t size,
                                    enum bills_counterparty_kind kind, const char *id)
{
    for (size_t i = S_hash(id) & (size - 1);; i = (i + 1) & (size - 1)) {
        struct S_party *p = &slots[i];
        if (p->kind == BILLS_PARTY_NONE || (p->kind == kind && strcmp(p->id, id) == 0))
            return p;
    }
}

/* The sums of counterparty c, made (zero) when new. NULL when the table
 * cannot grow (out of memory). */
static struct bills_sums *S_parties_sums(struct S_parties *t, const struct bills_counterparty *c)
{
    if (t->slots == NULL || (t->count + 1) * 5 > t->size * 4) {
        size_t size = t->slots == NULL ? S_PARTY_SLOTS_FIRST : 2 * t->size;
        struct S_party *slots = calloc(size, sizeof *slots);
        if (slots == NULL)
            return NULL;
        for (size_t i = 0; t->slots != NULL && i < t->size; i++)
            if (t->slots[i].kind != BILLS_PARTY_NONE)
                *S_party_slot(slots, size, t->slots[i].kind, t->slots[i].id) = t->slots[i];
        free(t->slots);
        t->slots = slots;
        t->size = size;
    }
    struct S_party *p = S_party_slot(t->slots, t->size, c->kind, c->id);
    if (p->kind == BILLS_PARTY_NONE) {
        p->kind = c->kind;
        S_copy(p->id, sizeof p->id, c->id);
        t->count++;
    }
    return &p->sums;
}

static enum qb_error S_statement(struct store *reader, const struct ledger_account_view *view,
                                 int64_t account_id, const struct bills_month *month,
                                 struct bills_statement *out)
{
    QB_ASSERT(view->id == account_id && month->end_ms > month->start_ms);
    memset(out, 0, sizeof *out);
    out->month = *month;
    out->currency = view->currency;
    struct S_walk *w = calloc(1, sizeof *w);
    struct S_parties parties = {0};
    enum qb_error err = QB_OK;
    if (w == NULL) {
        err = QB_E_INTERNAL;
        goto out;
    }
    w->reader = reader;
    w->account_id = account_id;
    w->scan_max = BILLS_STATEMENT_SCAN_MAX;
    w->next_id = view->last_entry_id;
    w->held_after = view->held_minor;
    struct bills_line line;
    for (;;) {
        const struct ledger_entry *e;
        const struct ledger_posting *po;
        int64_t available;
        err = S_walk_next(w, &e, &po, &available);
        if (err != QB_OK || e == NULL)
            break;
        if (e->created_at_ms < month->start_ms) {
            w->next_id = 0;
            break;
        }
        enum bills_type type;
        enum bills_direction direction;
        int64_t amount;
        if (e->created_at_ms >= month->end_ms || !S_classify(e, po, &type, &direction, &amount))
            continue;
        err = S_line_fill(reader, e, view->currency, type, direction, amount, available, &line);
        if (err != QB_OK)
            break;
        if (line.status == WALLET_PROCESSING)
            out->processing_count++;
        /* A failed withdrawal or delayed transfer moved nothing in the
         * end: neither it nor the refund of its hold is income or expense;
         * nor a withdrawal the bank took back, nor its return. */
        if (line.status != WALLET_SUCCESS || type == BILLS_WITHDRAWAL_REFUND ||
            type == BILLS_WITHDRAWAL_RETURN || type == BILLS_TRANSFER_REFUND)
            continue;
        /* What moved: a withdrawal took its fee out of the balance too. */
        int64_t moved = line.amount_minor;
        if (!money_add(moved, line.fee_minor, &moved) ||
            !S_sums_add(&out->total, direction, moved) ||
            !S_sums_add(&out->by_type[type], direction, moved)) {
            err = QB_E_OVERFLOW;
            break;
        }
        if (line.counterparty.kind == BILLS_PARTY_NONE)
            continue;
        struct bills_sums *sums = S_parties_sums(&parties, &line.counterparty);
        if (sums == NULL) {
            err = QB_E_INTERNAL;
            break;
        }
        if (!S_sums_add(sums, direction, moved)) {
            err = QB_E_OVERFLOW;
            break;
        }
    }
    if (err != QB_OK)
        goto out;
    out->scanned = w->scanned;
    out->complete = w->next_id == 0;

    /* The top counterparties, kept in order as the table is read once,
     * then their names. */
    const struct S_party *top[BILLS_TOP_COUNTERPARTIES];
    size_t top_count = 0;
    for (size_t i = 0; i < parties.size; i++) {
        const struct S_party *p = &parties.slots[i];
        if (p->kind == BILLS_PARTY_NONE ||
            (top_count == BILLS_TOP_COUNTERPARTIES && !S_party_before(p, top[top_count - 1])))
            continue;
        size_t at = top_count < BILLS_TOP_COUNTERPARTIES ? top_count++ : top_count - 1;
        for (; at > 0 && S_party_before(p, top[at - 1]); at--)
            top[at] = top[at - 1];
        top[at] = p;
    }
    for (size_t i = 0; i < top_count; i++) {
        struct bills_party_sums *t = &out->top[out->top_count++];
        memset(&t->counterparty, 0, sizeof t->counterparty);
        t->counterparty.kind = top[i]->kind;
        S_copy(t->counterparty.id, sizeof t->counterparty.id, top[i]->id);
        t->sums = top[i]->sums;
        err = bills_counterparty_name(reader, &t->counterparty);
        if (err != QB_OK)
            goto out;
    }
    /* Everything the top ones leave out, so that the parts add up to the
     * total: the other counterparties and lines without one (a red packet
     * sent). Each top sum is part of the total: nothing goes below zero. */
    out->others = out->total;
    for (size_t i = 0; i < out->top_count; i++) {
        const struct bills_sums *t = &out->top[i].sums;
        bool ok =
            money_sub(out->others.income_minor, t->income_minor, &out->others.income_minor) &&
            money_sub(out->others.expense_minor, t->expense_minor, &out->others.expense_minor);
        QB_ASSERT(ok && out->others.income_minor >= 0 && out->others.expense_minor >= 0 &&
                  out->others.count >= t->count);
        out->others.count -= t->count;
    }
out:
    free(w);
    free(parties.slots);
    return err;
}

/* --- names ------------------------------------------------------------------------- */

const char *bills_type_name(enum bills_type type)
{
    switch (type) {
    case BILLS_TOPUP:
        return "topup";
    case BILLS_WITHDRAWAL:
        return "withdrawal";
    case BILLS_TRANSFER:
        return "transfer";
    case BILLS_OTHER:
        return "other";
    case BILLS_ORDER_PAYMENT:
        return "order_payment";
    case BILLS_RED_PACKET_SENT:
        return "red_packet_sent";
    case BILLS_RED_PACKET_RECEIVED:
        return "red_packet_received";
    case BILLS_RED_PACKET_REFUND:
        return "red_packet_refund";
    case BILLS_ORDER_REFUND:
        return "order_refund";
    case BILLS_WITHDRAWAL_REFUND:
        return "withdrawal_refund";
    case BILLS_TRANSFER_RETURN:
        return "transfer_return";
    case BILLS_MERCHANT_REMAINDER:
        return "merchant_remainder";
    case BILLS_TRANSFER_REFUND:
        return "transfer_refund";
    case BILLS_MERCHANT_PAYOUT:
        return "merchant_payout";
    case BILLS_WITHDRAWAL_RETURN:
        return "withdrawal_return";
    case BILLS_ANY:
        break;
    }
    return "any";
}

enum bills_type bills_type_parse(const char *text)
{
    for (int t = BILLS_TOPUP; text != NULL && t < BILLS_TYPE_COUNT; t++)
        if (strcmp(text, bills_type_name((enum bills_type)t)) == 0)
            return (enum bills_type)t;
    return BILLS_ANY;
}

/* --- CSV ---------------------------------------------------------------------------- */

enum qb_error bills_csv_header(struct buf *out)
{
    return buf_append_str(out,
                          "id,created_at,type,direction,amount,fee,currency,counterparty,"
                          "counterparty_id,memo,status,balance_after,updated_at,failure_code\r\n");
}

/* One text cell and its separator: quoted when it must be, with a ' before
 * a formula's first character, also after leading spaces, which a
 * spreadsheet may trim on import. */
static enum qb_error S_csv_text(struct buf *out, const char *text, bool last)
{
    const char *first = text + strspn(text, " ");
    /* A cell that starts with the mark itself gets one too: taking one off
     * any cell that starts with it gives the text back. */
    bool formula = *first != '\0' && strchr("=+-@\t\r'", *first) != NULL;
    bool quote = strpbrk(text, ",\"\r\n") != NULL;
    enum qb_error err = QB_OK;
    if (quote)
        err = buf_append(out, "\"", 1);
    if (err == QB_OK && formula)
        err = buf_append(out, "'", 1);
    for (const char *p = text; err == QB_OK && *p != '\0'; p++)
        err = *p == '"' ? buf_append(out, "\"\"", 2) : buf_append(out, p, 1);
    if (err == QB_OK && quote)
        err = buf_append(out, "\"", 1);
    if (err == QB_OK)
        err = buf_append_str(out, last ? "\r\n" : ",");
    return err;
}

static enum qb_error S_csv_amount(struct buf *out, int64_t amount, const struct currency *c)
{
    char text[MONEY_TEXT_SIZE_MAX];
    size_t size = money_format(amount, c, text, sizeof text);
    enum qb_error err = buf_append(out, text, size);
    return err == QB_OK ? buf_append(out, ",", 1) : err;
}

enum qb_error bills_csv_line(struct buf *out, const struct bills_line *line)
{
    QB_ASSERT(line->currency != NULL);
    char created[40], updated[40], party[BILLS_NAME_SIZE_MAX + 16];
    clock_format_rfc3339(line->created_at_ms, 8 * 60, created, (int)sizeof created);
    clock_format_rfc3339(line->updated_at_ms, 8 * 60, updated, (int)sizeof updated);
    const struct bills_counterparty *cp = &line->counterparty;
    if (cp->kind == BILLS_PARTY_CARD && cp->last4[0] != '\0')
        snprintf(party, sizeof party, "%s(%s)", cp->name, cp->last4);
    else
        snprintf(party, sizeof party, "%s", cp->name);
    enum qb_error err = S_csv_text(out, line->id, false);
    if (err == QB_OK)
        err = S_csv_text(out, created, false);
    if (err == QB_OK)
        err = S_csv_text(out, bills_type_name(line->type), false);
    if (err == QB_OK)
        err = S_csv_text(out, line->direction == BILLS_IN ? "in" : "out", false);
    if (err == QB_OK)
        err = S_csv_amount(out, line->amount_minor, line->currency);
    if (err == QB_OK)
        err = S_csv_amount(out, line->fee_minor, line->currency);
    if (err == QB_OK)
        err = S_csv_text(out, line->currency->code, false);
    if (err == QB_OK)
        err = S_csv_text(out, party, false);
    if (err == QB_OK)
        err = S_csv_text(out, cp->id, false);
    if (err == QB_OK)
        err = S_csv_text(out, line->memo, false);
    if (err == QB_OK)
        err = S_csv_text(out, wallet_payment_status_name(line->status), false);
    if (err == QB_OK)
        err = S_csv_amount(out, line->balance_after_minor, line->currency);
    if (err == QB_OK)
        err = S_csv_text(out, updated, false);
    if (err == QB_OK)
        err = S_csv_text(out, line->failure_code, true);
    return err;
}

/* Each in one read transaction: a page of lines and what each names (its
 * payment, its red packet, its counterparty) as of one moment, or a claim
 * or a capture committed between two reads makes them disagree. */
/* Whether entry e, whose posting for the account is po, is one the
 * account's owner is not told of: a delayed transfer's hold or release on
 * its payee's side, which moves nothing there. */
static bool S_untold(const struct ledger_entry *e, const struct ledger_posting *po)
{
    return (e->code == WALLET_CODE_TRANSFER || e->code == WALLET_CODE_TRANSFER_RELEASE) &&
           (e->kind == LEDGER_ENTRY_HOLD || e->kind == LEDGER_ENTRY_VOID) &&
           po->amount_minor == 0 && po->held_delta_minor == 0;
}

enum qb_error bills_told_entry(struct store *reader, const struct ledger_account_view *view,
                               int64_t *entry_id)
{
    QB_ASSERT(reader != NULL && view != NULL && entry_id != NULL);
    *entry_id = view->last_entry_id;
    /* One entry at a time: the newest is nearly always told, and one read
     * is all a wait's every wake-up pays. */
    int64_t id = view->last_entry_id;
    for (size_t i = 0; i < BILLS_UNTOLD_MAX && id != 0; i++) {
        struct ledger_entry e;
        size_t count = 0;
        int64_t after = 0;
        enum qb_error err = ledger_history_read(reader, view->id, id, 1, &e, &count, &after);
        if (err != QB_OK)
            return err == QB_E_PARAM ? QB_E_INTERNAL : err;
        if (count != 1)
            return QB_E_INTERNAL;
        const struct ledger_posting *po = ledger_entry_posting(&e, view->id);
        QB_ASSERT(e.id == id && po != NULL && po->prev_entry_id < id);
        if (!S_untold(&e, po)) {
            *entry_id = id;
            return QB_OK;
        }
        id = po->prev_entry_id;
    }
    /* Past BILLS_UNTOLD_MAX of them the owner is told something came:
     * nothing more, no line, no amount. */
    *entry_id = id == 0 ? 0 : view->last_entry_id;
    return QB_OK;
}

enum qb_error bills_list(struct store *reader, const struct ledger_account_view *view,
                         const uint8_t key[DOMAIN_KEY_SIZE], const struct bills_query *query,
                         struct bills_line *lines, struct bills_page *page)
{
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = S_list(reader, view, key, query, lines, page);
    if (store_rollback(reader) != QB_OK && err == QB_OK)
        err = QB_E_STORAGE;
    return err;
}

enum qb_error bills_statement(struct store *reader, const struct ledger_account_view *view,
                              int64_t account_id, const struct bills_month *month,
                              struct bills_statement *out)
{
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = S_statement(reader, view, account_id, month, out);
    if (store_rollback(reader) != QB_OK && err == QB_OK)
        err = QB_E_STORAGE;
    return err;
}
