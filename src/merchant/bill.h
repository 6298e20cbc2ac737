/*
 * bill.h — a merchant's daily bills as the CSV files WeChat serves: the
 * trade bill (交易账单) and the fund-flow bill (资金账单), and the token of
 * their download link. Both are made by one path: the same date rules,
 * cursor, pieces, SHA-1, gzip, streaming and token; only the rows differ.
 *
 * Owns: reading one Asia/Shanghai day of a merchant's trades and writing
 * them in WeChat's layout — a header line, one line per trade with every
 * field prefixed by a backtick, then a summary header and a summary line;
 * amounts in yuan, fees to five decimals, times "YYYY-MM-DD HH:MM:SS" in
 * UTC+8 (China has kept one offset, no daylight saving, since 1991).
 *
 * A trade is a row of one of the bill's sources (bill.c, S_sources): a
 * payment (an order whose success_at_ms falls in the day) or a refund (one
 * whose success_at_ms does). The day's rows of every source are read in
 * time order, a page of MERCHANT_BILL_PAGE_ROWS at a time (keyset paging on
 * the time, the kind, the transaction and the refund), so a bill of any
 * size is made in bounded memory: a merchant_bill_cursor hands out the
 * file piece by piece, each piece read on a read connection the caller
 * lends for that piece alone. bill_type picks the kinds written. Rows are
 * read from what is committed; a day that has ended in UTC+8 no longer
 * changes, so the pages read one after the other are one consistent day,
 * and the hash answered with the link matches the file downloaded after it.
 *
 * The fund-flow bill (MERCHANT_BILL_FUNDFLOW, account_type BASIC) is the
 * day's movements of the merchant's settlement account, read from the
 * ledger: the walk back along the account's chain (ledger_history_read)
 * to the day, from its newest entry, given by the caller from a
 * ledger_account_view (head_entry_id), or, when it is older, from the
 * merchant's first payment or refund after the day, which their indexes
 * on (mchid, success_at_ms) find in one read each: the walk reads the
 * day's entries, not every one since (bill.c, S_flow_start). A first
 * pass over the day notes every MERCHANT_BILL_PAGE_ROWS-th entry (at most
 * MERCHANT_FUNDFLOW_PAGES_MAX pages: a bigger day is QB_E_TOO_LARGE);
 * each piece then reads one page from its note and writes it oldest
 * first. Every posting that changed the
 * balance is a line with the balance after it (账户结余); a payment's fee,
 * taken in the same entry, is a line of its own (收入 the order's amount,
 * 支出 the fee), as are a refund's fee given back and a withdrawal's fee.
 * Holds and their release change no balance and are no line. Each line
 * names the movement as WeChat does: 微信支付业务单号 the order's
 * transaction_id (a payment and its fee; a reversal), the refund_id (a
 * refund and the fee it gives back) or the withdrawal's id; 业务凭证号 the
 * same, or "REF" and the order's transaction_id for a refund or reversal;
 * 备注 a refund's reason.
 *
 * Must never: show a user id (only the order's openid), hold more than one
 * page of rows in memory, write more than an out buffer's cap.
 *
 * Who calls it: the /v3/bill/tradebill and /v3/billdownload/file handlers.
 */
#ifndef QB_MERCHANT_BILL_H
#define QB_MERCHANT_BILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merchant/merchant.h"

#define MERCHANT_BILL_PAGE_ROWS 256 /* trades read per query: at most about 256 KiB of CSV */
#define MERCHANT_BILL_PIECE_SIZE_MAX (512 * 1024) /* a buf for one piece: a page always fits */
#define MERCHANT_BILL_DATE_SIZE 11  /* "YYYY-MM-DD" + NUL */
#define MERCHANT_BILL_MONTHS_MAX 3  /* WeChat serves the bills of the last three months */
#define MERCHANT_BILL_TOKEN_TTL_MS (5 * 60 * 1000) /* a download link lives five minutes */
#define MERCHANT_BILL_TOKEN_SIZE 63 /* 62 characters + NUL */

enum merchant_bill_type {
    MERCHANT_BILL_ALL = 1,     /* payments and refunds */
    MERCHANT_BILL_SUCCESS = 2, /* payments */
    MERCHANT_BILL_REFUND = 3,  /* refunds */
    MERCHANT_BILL_FUNDFLOW = 4, /* the fund-flow bill of the BASIC account */
};

#define MERCHANT_FUNDFLOW_PAGES_MAX 1024 /* pages of one day's fund flow: 262,144 entries */

/* A fund-flow bill's account_type: only "BASIC" (the settlement account)
 * exists in Qianbao; false for anything else. */
bool merchant_fundflow_account_is_valid(const char *account_type);

/* The settlement account of m at a day's end (end_ms, the next day's UTC+8
 * midnight), as WeChat's day-end balance (日终余额) tells it: the balance
 * after the account's newest entry before end_ms, split into what the
 * merchant could withdraw and *pending_minor, what its withdrawals still
 * at the bank held then (wallet_withdrawals_held_at). head_entry_id is the
 * account's newest committed entry (a ledger_account_view's
 * last_entry_id); the walk back starts from the merchant's first payment
 * or refund after the day when that is older, as the fund-flow bill's
 * does. QB_E_STORAGE; QB_E_INTERNAL when the chain or the holds do not add
 * up. */
QB_MUST_USE enum qb_error merchant_dayend_balance(struct store *reader, const struct merchant *m,
                                                  int64_t head_entry_id, int64_t end_ms,
                                                  int64_t *available_minor, int64_t *pending_minor);

/* "ALL", "SUCCESS", "REFUND" → the type; false for anything else. */
bool merchant_bill_type_parse(const char *text, enum merchant_bill_type *out);
const char *merchant_bill_type_name(enum merchant_bill_type type);

/* A calendar date "YYYY-MM-DD" (years 1970..9999, a real date) as days
 * since 1970-01-01; its UTC+8 midnight is day * 86400000 - 8 h. */
QB_MUST_USE bool merchant_date_day(const char *text, int64_t *day);

/* Checks bill_date ("YYYY-MM-DD", a real calendar date) against now_ms in
 * UTC+8 and gives the day's bounds [*start_ms, *end_ms). QB_E_PARAM when
 * malformed; QB_E_STATEMENT_CREATING for today (the day has not ended);
 * QB_E_INVALID_REQUEST for a future date or one before the same day
 * MERCHANT_BILL_MONTHS_MAX calendar months ago (the day clamped to the
 * month's length). *message says which, for the client. */
QB_MUST_USE enum qb_error merchant_bill_date_check(const char *bill_date, int64_t now_ms,
                                                   int64_t *start_ms, int64_t *end_ms,
                                                   const char **message);

/* Where a bill being made stands: the merchant, the day, the key of the
 * last row read, the running sums. Plain data: copy it, keep it anywhere,
 * no release. */
struct merchant_bill_cursor {
    char mchid[MERCHANT_MCHID_SIZE];
    int64_t fee_ppm;
    enum merchant_bill_type type;
    int64_t start_ms, end_ms;
    /* The key of the last row read (time, kind, transaction, refund). */
    int64_t last_at_ms;
    int64_t last_kind;
    char last_transaction_id[32];
    char last_refund_id[65];
    /* The fund-flow bill: the merchant's account, its newest entry when
     * the bill was asked for, the noted pages (the first pass) and the
     * next one to write (counting down to 0: oldest first). */
    int64_t account_id;
    int64_t head_entry_id;
    bool planned;
    size_t page_count, page_next;
    int64_t day_entries;
    int64_t day_moves; /* those of them that moved the balance (not a hold): none, no bill */
    int64_t walked; /* entries the walk read, both passes: the cost of the bill */
    int64_t pages[MERCHANT_FUNDFLOW_PAGES_MAX];
    int64_t income_count, income_minor, expense_count, expense_minor;
    bool started; /* the header is written */
    bool done;    /* the summary is written: the file is complete */
    int64_t rows; /* rows read, of every kind */
    int64_t count, settled_minor, refund_minor, fee_minor, order_minor; /* written rows' sums */
};

/* A cursor at the start of the bill of merchant m for the day
 * [start_ms, end_ms). head_entry_id: for MERCHANT_BILL_FUNDFLOW, the
 * last_entry_id of a ledger_account_view of m->account_id read after the
 * day ended (0: the account has no entry); ignored by the trade bills. */
void merchant_bill_cursor_init(struct merchant_bill_cursor *c, const struct merchant *m,
                               enum merchant_bill_type type, int64_t start_ms, int64_t end_ms,
                               int64_t head_entry_id);

/* Appends the next piece of the file to out: the header and the lines of
 * one page of rows; after the last page, the summary, and c->done is set.
 * One query on reader, which the caller may give back to its pool between
 * pieces. QB_E_NO_STATEMENT_EXIST when the merchant had no trade of any
 * kind that day (found on the first piece), QB_E_TOO_LARGE past out's cap,
 * QB_E_OVERFLOW when the sums do not fit, QB_E_STORAGE, QB_E_INTERNAL for
 * a row no writer made. c must not be done. */
QB_MUST_USE enum qb_error merchant_bill_next(struct merchant_bill_cursor *c,
                                             struct store *reader, struct buf *out);

/* The whole bill of merchant m for the day into out, on one reader (whose
 * cap bounds the file: QB_E_TOO_LARGE past it), with merchant_bill_next's
 * errors. */
QB_MUST_USE enum qb_error merchant_bill_write(struct store *reader, const struct merchant *m,
                                              enum merchant_bill_type type, int64_t start_ms,
                                              int64_t end_ms, int64_t head_entry_id,
                                              struct buf *out);

/* The download token: 62 characters [0-9a-f...] naming (mchid, bill_date,
 * type, gzip, expiry) and a MAC under key (env->cursor_key, with a
 * context of its own). Stateless: any node that shares the data key
 * accepts it until it expires. */
void merchant_bill_token_make(const uint8_t key[DOMAIN_KEY_SIZE], const char *mchid,
                              const char *bill_date, enum merchant_bill_type type, bool gzip,
                              int64_t expires_at_ms, char out[MERCHANT_BILL_TOKEN_SIZE]);
/* Opens a token for merchant mchid at now_ms: false when it is malformed,
 * forged, another merchant's, or expired. */
QB_MUST_USE bool merchant_bill_token_open(const uint8_t key[DOMAIN_KEY_SIZE], const char *token,
                                          const char *mchid, int64_t now_ms,
                                          char bill_date[MERCHANT_BILL_DATE_SIZE],
                                          enum merchant_bill_type *type, bool *gzip);

/* gzip (RFC 1952, no file name, time 0) of data appended to out. */
QB_MUST_USE enum qb_error merchant_gzip(const void *data, size_t size, struct buf *out);

/* The same, made piece by piece: open, push each piece (finish on the
 * last: the trailer is written), close (always, also after an error).
 * The compressed bytes of each push are appended to out. */
struct merchant_gzip_stream {
    void *z; /* zlib's state, owned */
};
QB_MUST_USE enum qb_error merchant_gzip_open(struct merchant_gzip_stream *g);
QB_MUST_USE enum qb_error merchant_gzip_push(struct merchant_gzip_stream *g, const void *data,
                                             size_t size, bool finish, struct buf *out);
void merchant_gzip_close(struct merchant_gzip_stream *g);

#endif
