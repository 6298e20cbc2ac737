/*
 * bills.h — the user's bills (账单), monthly statements and their CSV form.
 *
 * Owns: nothing stored. A bill line is read back from the ledger: the walk
 * along the user's account chain (ledger_history_read, newest first, one
 * point read per entry, no index), joined by the entry's ref to its row in
 * payments for the memo, counterparty and status. There is no second copy
 * of history to drift from the books.
 *
 * One line per payment:
 *   top-up      its one entry (clearing → user): "in"
 *   transfer    its one entry: "out" for the payer, "in" for the payee
 *   transfer_return  a transfer its payee sent back (transfer.h), its own
 *               payment and entry: "out" for the payee, "in" for the
 *               payer, the memo the return's
 *   withdrawal  the HOLD entry anchors the line: it is when the money left
 *               the user's available balance and what the user did. The
 *               CAPTURE that settles it is walked past (it is no line of
 *               its own); the line's status is the payment's: PROCESSING,
 *               then SUCCESS or FAILED. The fee entry after a capture
 *               moves clearing → fee income and is not on the user's
 *               chain. The VOID of a failed one gives amount + fee back to
 *               the available balance: a withdrawal_refund line "in" (the
 *               payment's id, its card, SUCCESS), so that every line's
 *               balance_after is the one before it plus or minus what it
 *               moved. A statement counts neither the failed withdrawal
 *               nor its refund. One the bank paid and then took back
 *               (退票) says RETURNED, and its return entry (amount + fee
 *               back, naming the capture) is a withdrawal_return line
 *               "in", counted in no statement either.
 *   order       an order payment's one entry (user → merchant and fee
 *               income): "out", the merchant as counterparty
 *   red packet  its own entry on each side (redpacket.h), ref the packet
 *               id: red_packet_sent "out" (the whole total, to escrow),
 *               red_packet_received "in" (one share, counterparty the
 *               sender), red_packet_refund "in" (the unclaimed rest); the
 *               memo is the packet's greeting
 *   merchant_remainder  what was left of the owner's merchant when it
 *               closed, too little for a withdrawal: "in", id and
 *               counterparty the merchant (no payment of its own)
 *   other       an entry of a code this module does not know yet (later
 *               modules' orders) that changed the available balance: a
 *               line of type "other", "out" for what a hold or a payment
 *               took, "in" for what came or a capture or void gave back of
 *               a hold (a capture's captured part moved nothing available),
 *               so the balances still add up.
 *
 * balance_after is the available balance (balance - held) right after the
 * line's anchor entry: what the user's 零钱 showed at that moment. The walk
 * starts from a ledger_account_view (its balance, held amount and newest
 * entry, read together) and rebuilds the held amount at each older entry
 * from the postings' held deltas. A withdrawal's line therefore shows the
 * balance with the withdrawal taken out; when it later fails, the money
 * comes back at the VOID and the lines after that show it.
 *
 * Bounds: a page reads at most scan_max entries (BILLS_SCAN_MAX for the
 * API). A sparse filter over a long history answers a partial page (fewer
 * lines, even none) with a cursor to go on from, never an unbounded scan.
 * The walk stops for good at the first entry older than the filter's from.
 *
 * The cursor is opaque: base64url of (version, next entry, held amount
 * there) and a 16-byte keyed tag over those, the account and the filter.
 * A cursor altered, made for another account or another filter is
 * QB_E_PARAM; one that passes is still checked by the ledger walk to be on
 * the account's chain.
 *
 * Reads only, any thread, with a read connection from the pool. Must never
 * write, and never call the ledger's writer.
 */
#ifndef QB_WALLET_BILLS_H
#define QB_WALLET_BILLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "domain/domain.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "wallet/wallet.h"

#define BILLS_SCAN_MAX 2000            /* entries one API page may read */
#define BILLS_CSV_LINES_MAX 1000       /* lines of one CSV answer */
#define BILLS_CSV_SCAN_MAX 20000       /* entries one CSV answer may read */
#define BILLS_STATEMENT_SCAN_MAX 200000 /* entries one statement may read */
#define BILLS_CURSOR_SIZE_MAX 64       /* 44 characters + NUL, with room */
#define BILLS_NAME_SIZE_MAX 129        /* a merchant's name (MERCHANT_NAME_SIZE_MAX), the longest */
#define BILLS_TOP_COUNTERPARTIES 10    /* by_counterparty in a statement */
#define BILLS_SEARCH_SIZE_MAX 65       /* a search text: 64 bytes of UTF-8 + NUL */

/* The type of a line; the first three are enum wallet_payment_kind's values. */
enum bills_type {
    BILLS_ANY = 0, /* filters only */
    BILLS_TOPUP = WALLET_TOPUP,
    BILLS_WITHDRAWAL = WALLET_WITHDRAWAL,
    BILLS_TRANSFER = WALLET_TRANSFER,
    BILLS_OTHER = 4,
    BILLS_ORDER_PAYMENT = WALLET_ORDER_PAYMENT, /* paying a merchant order (src/merchant) */
    BILLS_RED_PACKET_SENT = 6,                  /* sender → escrow (redpacket.h): "out" */
    BILLS_RED_PACKET_RECEIVED = 7,              /* a claimed share: "in", from the sender */
    BILLS_RED_PACKET_REFUND = 8,                /* the unclaimed rest back at expiry: "in" */
    BILLS_ORDER_REFUND = 9,        /* a merchant's refund of an order (payments kind 6): "in" */
    BILLS_WITHDRAWAL_REFUND = 10,  /* a failed withdrawal's amount and fee back: "in" */
    BILLS_TRANSFER_RETURN = 11,    /* a transfer sent back by its payee (payments kind 7) */
    BILLS_MERCHANT_REMAINDER = 12, /* a closed merchant's remainder to its owner: "in" */
    BILLS_TRANSFER_REFUND = 13,    /* a delayed transfer's money back to its payer: cancelled, or
                                    * its payee could not take it ("in", the transfer's id) */
    BILLS_MERCHANT_PAYOUT = 14,    /* a merchant's transfer the user confirmed (payments kind 8) */
    BILLS_WITHDRAWAL_RETURN = 15,  /* a paid withdrawal the bank took back (退票): amount and fee
                                    * back, "in", the withdrawal's id */
};
#define BILLS_TYPE_COUNT 16

enum bills_direction {
    BILLS_BOTH = 0, /* filters only */
    BILLS_IN = 1,
    BILLS_OUT = 2,
};

struct bills_filter {
    enum bills_type type;           /* BILLS_ANY: all */
    enum bills_direction direction; /* BILLS_BOTH: both */
    int64_t from_ms;                /* inclusive; 0: the beginning */
    int64_t to_ms;                  /* exclusive; 0: now */
    char counterparty_id[ID_TEXT_SIZE_MAX]; /* a user, card or merchant id; "": anyone */
    /* Lines whose memo or counterparty name (as the line shows it: a
     * merchant's name, a card's bank, a user's masked name) holds this
     * text, ASCII letters in either case; "": any. Clean UTF-8. */
    char search[BILLS_SEARCH_SIZE_MAX];
};

enum bills_counterparty_kind {
    BILLS_PARTY_NONE = 0,
    BILLS_PARTY_USER = 1, /* a transfer's other user */
    BILLS_PARTY_CARD = 2, /* a top-up's or withdrawal's bank card */
    BILLS_PARTY_MERCHANT = 3, /* an order payment's merchant: id the mchid, name its name */
};

struct bills_counterparty {
    enum bills_counterparty_kind kind;
    char id[ID_TEXT_SIZE_MAX];      /* the user's or the card's id */
    char name[BILLS_NAME_SIZE_MAX]; /* USER: the masked display name; CARD: the bank */
    char last4[5];                  /* CARD */
};

struct bills_line {
    char id[LEDGER_REF_SIZE_MAX]; /* the payment id (the entry's ref) */
    enum bills_type type;
    enum bills_direction direction;
    const struct currency *currency;
    int64_t amount_minor;        /* > 0; a withdrawal's amount to the card */
    int64_t fee_minor;           /* a withdrawal's fee, also out of the balance; else 0 */
    struct bills_counterparty counterparty;
    char memo[WALLET_MEMO_SIZE_MAX];
    enum wallet_payment_status status;
    char failure_code[WALLET_FAILURE_SIZE_MAX];
    int64_t created_at_ms;       /* the anchor entry's time */
    int64_t updated_at_ms;       /* the payment's last change; created_at for "other" */
    int64_t balance_after_minor; /* available balance right after the anchor entry */
    int64_t entry_id;            /* the anchor entry */
    char return_id[ID_TEXT_SIZE_MAX]; /* a transfer its payee sent back: the return; else "" */
};

struct bills_query {
    int64_t account_id; /* the user's wallet account; view must be its view */
    struct bills_filter filter;
    size_t limit;       /* lines wanted, >= 1; lines has room for them */
    size_t scan_max;    /* entries read at most, >= 1 */
    const char *cursor; /* a previous page's next_cursor; NULL or "": from the newest */
};

struct bills_page {
    size_t count;    /* lines filled */
    size_t scanned;  /* entries read */
    bool partial;    /* the scan budget ran out before the page filled */
    char next_cursor[BILLS_CURSOR_SIZE_MAX]; /* "" when nothing is left */
};

/* The key of the cursors' tags, derived from the environment's keys. */
void bills_cursor_key(const struct domain_env *env, uint8_t out[DOMAIN_KEY_SIZE]);

/* A page of bills, newest first. QB_E_PARAM for a cursor that is not one
 * this account and filter were given; QB_E_INTERNAL when the ledger and the
 * payments disagree (a wallet entry without its payment); QB_E_STORAGE. */
QB_MUST_USE enum qb_error bills_list(struct store *reader, const struct ledger_account_view *view,
                                     const uint8_t key[DOMAIN_KEY_SIZE],
                                     const struct bills_query *query, struct bills_line *lines,
                                     struct bills_page *page);

/* The newest entry of the account (view is its view) that its owner is told
 * of, into *entry_id (0: none): view->last_entry_id, or an earlier one when
 * the newest are the payee's side of delayed transfers not arrived, their
 * holds and releases (transfer.h: until it arrives a transfer is its
 * payer's alone). Passes over BILLS_UNTOLD_MAX of them at most. What an app
 * waiting for news of the wallet is woken by (GET /v1/me/changes).
 * QB_E_STORAGE, QB_E_INTERNAL (a broken chain). */
#define BILLS_UNTOLD_MAX 16
QB_MUST_USE enum qb_error
bills_told_entry(struct store *reader, const struct ledger_account_view *view, int64_t *entry_id);

/* --- statements ------------------------------------------------------------- */

/* A statement's period: a month, or a whole year (month 0). */
struct bills_month {
    int year;     /* 1970..9999 */
    int month;    /* 1..12; 0: the whole year */
    int64_t start_ms; /* the first midnight of the period, UTC+8 */
    int64_t end_ms;   /* the first midnight after it, UTC+8 */
};

struct bills_sums {
    int64_t income_minor;
    int64_t expense_minor;
    int64_t count; /* lines */
};

struct bills_party_sums {
    struct bills_counterparty counterparty;
    struct bills_sums sums;
};

/* Only SUCCESS lines count: money that moved. A withdrawal's expense is
 * its amount and its fee. Lines still PROCESSING are counted apart. */
struct bills_statement {
    struct bills_month month;
    const struct currency *currency;
    struct bills_sums total;
    struct bills_sums by_type[BILLS_TYPE_COUNT]; /* indexed by enum bills_type */
    struct bills_party_sums top[BILLS_TOP_COUNTERPARTIES]; /* by income + expense, descending */
    size_t top_count;
    struct bills_sums others; /* total less top: the other counterparties and lines
                               * without one */
    int64_t processing_count;
    size_t scanned;
    bool complete; /* false: BILLS_STATEMENT_SCAN_MAX ran out before the month's start */
};

/* "YYYY-MM" (month 01..12, year 1970..9999), or false. */
bool bills_month_parse(const char *text, struct bills_month *out);
/* "YYYY" (1970..9998) as the period of that year, or false. */
bool bills_year_parse(const char *text, struct bills_month *out);

/* The month's statement of the account (view is its view). The
 * counterparties' sums are heap memory freed before returning. QB_E_STORAGE,
 * QB_E_INTERNAL (as bills_list), QB_E_OVERFLOW (sums past int64). */
QB_MUST_USE enum qb_error bills_statement(struct store *reader,
                                          const struct ledger_account_view *view,
                                          int64_t account_id, const struct bills_month *month,
                                          struct bills_statement *out);

/* --- parsing and presenting ------------------------------------------------- */

/* A time of a filter: RFC 3339 with an offset or Z ("2026-11-22T10:00:00+08:00",
 * fractions of a second allowed) or a calendar date in UTC+8 ("2026-11-22"):
 * its first midnight, or with end_of_day the next one (so that to=2026-11-30
 * takes in the whole of the 30th). Years 1970..9999. False when malformed. */
bool bills_time_parse(const char *text, bool end_of_day, int64_t *at_ms);

/* "topup", "withdrawal", "transfer", "other", "order_payment", "red_packet_sent",
 * "red_packet_received", "red_packet_refund", "order_refund", "withdrawal_refund",
 * "transfer_return", "merchant_remainder", "transfer_refund", "merchant_payout",
 * "withdrawal_return";
 * bills_type_parse answers
 * BILLS_ANY for none of them (and for NULL). */
const char *bills_type_name(enum bills_type type);
enum bills_type bills_type_parse(const char *text);

/* CSV (RFC 4180: comma-separated, CRLF line ends, fields quoted when they
 * hold a comma, a quote or a line break, quotes doubled). The header row,
 * then one row per line: amounts as decimals (money_format), times as RFC
 * 3339 in UTC+8. A text cell starting with = + - @, a tab or a carriage
 * return gets a leading ' so that a spreadsheet never runs it as a formula. */
/* Fills party's name from its kind and id: a user's masked display name, a
 * merchant's name, a card's bank and last four digits (left "" for one that
 * is gone). QB_E_STORAGE. */
QB_MUST_USE enum qb_error bills_counterparty_name(struct store *reader,
                                                  struct bills_counterparty *party);
QB_MUST_USE enum qb_error bills_csv_header(struct buf *out);
QB_MUST_USE enum qb_error bills_csv_line(struct buf *out, const struct bills_line *line);

#endif
