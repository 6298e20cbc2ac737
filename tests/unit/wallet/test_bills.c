/*
 * test_bills.c — bill lines, paging, the scan budget, cursors, statements
 * and CSV, read back from a real ledger on a temporary database.
 *
 * The fixture builds the data the way the wallet's commands do: one ledger
 * command inserts a payments row (wallet_txn_payment_insert) and posts its
 * entries with the WALLET_CODE_* codes and the payment id as ref. Users and
 * cards are rows inserted directly (bills only read their names). The clock
 * is manual, so entries land exactly on month boundaries in UTC+8.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/money.h"
#include "identity/identity.h"
#include "test.h"
#include "wallet/bills.h"
#include "wallet/wallet.h"

/* 2026-11-01T00:00:00+08:00 */
#define NOV_MS INT64_C(1793462400000)
#define DEC_MS INT64_C(1796054400000) /* 2026-12-01T00:00:00+08:00 */
#define MINUTE_MS INT64_C(60000)

struct bx {
    char dir[512];
    char db_path[640];
    struct qb_clock clock;
    struct qb_rand rand;
    struct ledger_options options;
    struct store *writer;
    struct store *reader;
    struct ledger *ledger;
    int64_t clearing;
    int64_t fee_income;
    uint8_t key[DOMAIN_KEY_SIZE];
};

struct user {
    char id[ID_TEXT_SIZE_MAX];
    int64_t account;
    char card[ID_TEXT_SIZE_MAX];
};

/* --- raw commands ---------------------------------------------------------------- */

enum op {
    OP_SETUP,         /* system accounts */
    OP_USER,          /* a user row, its account and a card */
    OP_TOPUP,         /* clearing → user */
    OP_TRANSFER,      /* user → other */
    OP_WITHDRAW,      /* hold user → clearing for amount + fee */
    OP_CAPTURE,       /* capture the hold, then the fee entry */
    OP_VOID,          /* void the hold */
    OP_OTHER,         /* an entry of a code bills does not know */
    OP_OTHER_HOLD,    /* a hold of that code: user → clearing */
    OP_OTHER_CAPTURE, /* capture amount of hold_id, the rest released */
    OP_OTHER_VOID,    /* void hold_id */
};

struct raw {
    struct ledger_cmd cmd;
    struct bx *bx;
    enum op op;
    struct user *user;
    struct user *other;
    const char *name; /* OP_USER: display name */
    int64_t amount;
    int64_t fee;
    const char *memo;
    int repeat;       /* OP_TRANSFER: that many payments in one command */
    char payment_id[ID_TEXT_SIZE_MAX]; /* in for CAPTURE/VOID, out for the rest */
    int64_t hold_id;                   /* out for OP_OTHER_HOLD, in for its capture and void */
};

static enum qb_error S_payment(struct ledger_txn *txn, struct raw *r, enum wallet_payment_kind kind,
                               enum wallet_payment_status status, struct wallet_payment *p)
{
    enum qb_error err = wallet_txn_payment_new(txn, &r->bx->rand, p);
    if (err != QB_OK)
        return err;
    p->kind = kind;
    snprintf(p->user_id, sizeof p->user_id, "%s", r->user->id);
    if (kind == WALLET_TRANSFER)
        snprintf(p->counterparty_id, sizeof p->counterparty_id, "%s", r->other->id);
    else
        snprintf(p->card_id, sizeof p->card_id, "%s", r->user->card);
    p->currency = currency_find("CNY");
    p->amount_minor = r->amount;
    p->fee_minor = r->fee;
    snprintf(p->memo, sizeof p->memo, "%s", r->memo != NULL ? r->memo : "");
    p->status = status;
    snprintf(r->payment_id, sizeof r->payment_id, "%s", p->id);
    return wallet_txn_payment_insert(txn, p);
}

static enum qb_error S_raw_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct raw *r = (struct raw *)cmd;
    struct bx *bx = r->bx;
    const struct currency *cny = currency_find("CNY");
    struct wallet_payment p;
    int64_t entry = 0;
    enum qb_error err = QB_OK;
    switch (r->op) {
    case OP_SETUP: {
        struct ledger_account_spec a = {"system:bank_clearing", cny, LEDGER_ACCOUNT_SYSTEM, 0,
                                        LEDGER_FLOOR_NONE};
        struct ledger_account_spec b = {"system:fee_income", cny, LEDGER_ACCOUNT_SYSTEM, 0,
                                        LEDGER_FLOOR_NONE};
        err = ledger_txn_account_create(txn, &a, &bx->clearing);
        return err == QB_OK ? ledger_txn_account_create(txn, &b, &bx->fee_income) : err;
    }
    case OP_USER: {
        struct user *u = r->user;
        id_new(&bx->rand, "u", u->id, sizeof u->id);
        id_new(&bx->rand, "card", u->card, sizeof u->card);
        char owner[LEDGER_OWNER_SIZE_MAX];
        snprintf(owner, sizeof owner, "user:%s", u->id);
        struct ledger_account_spec spec = {owner, cny, LEDGER_ACCOUNT_USER, 0, 0};
        err = ledger_txn_account_create(txn, &spec, &u->account);
        char phone[16];
        snprintf(phone, sizeof phone, "138%08" PRId64, u->account);
        const struct store_param user[] = {STORE_TEXT(u->id), STORE_TEXT(phone),
                                           STORE_TEXT(r->name), STORE_INT(u->account),
                                           STORE_INT(ledger_txn_now_ms(txn))};
        if (err == QB_OK)
            err = store_run(ledger_txn_store(txn),
                            "INSERT INTO users (id, phone, display_name, password_hash, account_id,"
                            " created_at_ms) VALUES ($1, $2, $3, 'x', $4, $5)",
                            user, QB_ARRAY_COUNT(user));
        const struct store_param card[] = {STORE_TEXT(u->card), STORE_TEXT(u->id),
                                           STORE_TEXT(phone)};
        if (err == QB_OK)
            err = store_run(ledger_txn_store(txn),
                            "INSERT INTO cards (id, user_id, number_sealed, number_hash,"
                            " holder_name_sealed, phone, bank, card_type, last4, created_at_ms)"
                            " VALUES ($1, $2, x'00', x'00', x'00', $3, '招商银行', 'debit',"
                            " '6789', 0)",
                            card, QB_ARRAY_COUNT(card));
        return err;
    }
    case OP_TOPUP: {
        struct ledger_leg legs[2] = {{bx->clearing, -r->amount}, {r->user->account, r->amount}};
        err = S_payment(txn, r, WALLET_TOPUP, WALLET_SUCCESS, &p);
        if (err == QB_OK)
            err = ledger_txn_post(txn, WALLET_CODE_TOPUP, p.id, legs, 2, &entry);
        return err;
    }
    case OP_TRANSFER:
        for (int i = 0; err == QB_OK && i < (r->repeat > 0 ? r->repeat : 1); i++) {
            struct ledger_leg legs[2] = {{r->user->account, -r->amount},
                                         {r->other->account, r->amount}};
            err = S_payment(txn, r, WALLET_TRANSFER, WALLET_SUCCESS, &p);
            if (err == QB_OK)
                err = ledger_txn_post(txn, WALLET_CODE_TRANSFER, p.id, legs, 2, &entry);
        }
        return err;
    case OP_WITHDRAW:
        err = S_payment(txn, r, WALLET_WITHDRAWAL, WALLET_PROCESSING, &p);
        if (err == QB_OK)
            err = ledger_txn_hold(txn, WALLET_CODE_WITHDRAWAL, p.id, r->user->account,
                                  bx->clearing, r->amount + r->fee, 0, &p.hold_id);
        return err == QB_OK ? wallet_txn_payment_update(txn, &p) : err;
    case OP_CAPTURE:
    case OP_VOID:
        err = wallet_txn_payment_get(txn, r->payment_id, &p);
        if (err == QB_OK && r->op == OP_CAPTURE) {
            err = ledger_txn_capture(txn, p.hold_id, p.amount_minor + p.fee_minor,
                                     WALLET_CODE_WITHDRAWAL, p.id, &p.entry_id);
            struct ledger_leg fee[2] = {{bx->clearing, -p.fee_minor}, {bx->fee_income, p.fee_minor}};
            if (err == QB_OK && p.fee_minor > 0)
                err = ledger_txn_post(txn, WALLET_CODE_WITHDRAWAL_FEE, p.id, fee, 2, &entry);
            p.status = WALLET_SUCCESS;
        } else if (err == QB_OK) {
            err = ledger_txn_void(txn, p.hold_id, WALLET_CODE_WITHDRAWAL, p.id, &p.entry_id);
            p.status = WALLET_FAILED;
            snprintf(p.failure_code, sizeof p.failure_code, "CARD_DECLINED");
        }
        p.updated_at_ms = ledger_txn_now_ms(txn);
        return err == QB_OK ? wallet_txn_payment_update(txn, &p) : err;
    case OP_OTHER: {
        struct ledger_leg legs[2] = {{r->user->account, -r->amount}, {bx->clearing, r->amount}};
        return ledger_txn_post(txn, 99, "o_test", legs, 2, &entry);
    }
    case OP_OTHER_HOLD:
        return ledger_txn_hold(txn, 99, "o_hold", r->user->account, bx->clearing, r->amount, 0,
                               &r->hold_id);
    case OP_OTHER_CAPTURE:
        return ledger_txn_capture(txn, r->hold_id, r->amount, 99, "o_hold", &entry);
    case OP_OTHER_VOID:
        return ledger_txn_void(txn, r->hold_id, 99, "o_hold", &entry);
    }
    return QB_E_INTERNAL;
}

static void S_exec(struct bx *bx, struct raw *r)
{
    r->bx = bx;
    ledger_cmd_init(&r->cmd, S_raw_run, NULL);
    enum qb_error rc = ledger_execute(bx->ledger, &r->cmd);
    ledger_cmd_release(&r->cmd);
    if (rc != QB_OK || r->cmd.result != QB_OK)
        TEST_FAIL_("raw op %d: %s %s", (int)r->op, error_name(rc), error_name(r->cmd.result));
}

static struct bx *bx_new(void)
{
    struct bx *bx = calloc(1, sizeof *bx);
    if (bx == NULL)
        TEST_FAIL_("out of memory");
    test_tmpdir(bx->dir, sizeof bx->dir);
    snprintf(bx->db_path, sizeof bx->db_path, "%s/qianbao.db", bx->dir);
    clock_manual_init(&bx->clock, NOV_MS - 10 * MINUTE_MS);
    rand_seeded_init(&bx->rand, test_seed());
    bx->options.clock = &bx->clock;
    char err[256];
    if (store_open(bx->db_path, STORE_MODE_WRITE, &bx->writer, err, sizeof err) != QB_OK ||
        ledger_open(bx->writer, &bx->options, &bx->ledger) != QB_OK ||
        store_open(bx->db_path, STORE_MODE_READ, &bx->reader, err, sizeof err) != QB_OK)
        TEST_FAIL_("cannot open the ledger: %s", err);
    memset(bx->key, 0x42, sizeof bx->key);
    struct raw r = {.op = OP_SETUP};
    S_exec(bx, &r);
    return bx;
}

static void bx_free(struct bx *bx)
{
    ledger_close(bx->ledger);
    store_close(bx->writer);
    store_close(bx->reader);
    test_rmtree(bx->dir);
    free(bx);
}

static void bx_user(struct bx *bx, struct user *u, const char *name)
{
    struct raw r = {.op = OP_USER, .user = u, .name = name};
    S_exec(bx, &r);
}

/* Runs op at the fixture's clock, then moves the clock a minute on. */
static void bx_op(struct bx *bx, enum op op, struct user *u, struct user *other, int64_t amount,
                  int64_t fee, char *payment_id)
{
    struct raw r = {.op = op, .user = u, .other = other, .amount = amount, .fee = fee};
    if (payment_id != NULL)
        snprintf(r.payment_id, sizeof r.payment_id, "%s", payment_id);
    S_exec(bx, &r);
    if (payment_id != NULL)
        snprintf(payment_id, ID_TEXT_SIZE_MAX, "%s", r.payment_id);
    clock_manual_advance(&bx->clock, MINUTE_MS);
}

static struct ledger_account_view bx_view(struct bx *bx, int64_t account)
{
    struct ledger_account_view v;
    if (ledger_account_view(bx->ledger, account, &v) != QB_OK)
        TEST_FAIL_("no account %" PRId64, account);
    return v;
}

/* One page for account with filter; lines has room for limit. */
static enum qb_error bx_page(struct bx *bx, int64_t account, const struct bills_filter *filter,
                             size_t limit, size_t scan_max, const char *cursor,
                             struct bills_line *lines, struct bills_page *page)
{
    struct ledger_account_view v = bx_view(bx, account);
    struct bills_query q = {.account_id = account, .limit = limit, .scan_max = scan_max,
                            .cursor = cursor};
    if (filter != NULL)
        q.filter = *filter;
    return bills_list(bx->reader, &v, bx->key, &q, lines, page);
}

/* --- tests ------------------------------------------------------------------------ */

TEST(one_line_per_payment_with_counterparty_status_and_balance)
{
    // The bill a user reads: each payment once, newest first, with its counterparty, its status and
    // the available balance right after it; a withdrawal's capture is no second line, and a failed
    // one's money coming back is a withdrawal_refund line, so that every line's balance_after is
    // the one below it plus or minus what the line moved.
    struct bx *bx = bx_new();
    struct user a, b;
    bx_user(bx, &a, "张三丰");
    bx_user(bx, &b, "李四");
    char topup[ID_TEXT_SIZE_MAX] = "", ok[ID_TEXT_SIZE_MAX] = "", bad[ID_TEXT_SIZE_MAX] = "",
         pending[ID_TEXT_SIZE_MAX] = "";
    bx_op(bx, OP_TOPUP, &a, NULL, 100000, 0, topup);          /* 1000.00 */
    bx_op(bx, OP_TRANSFER, &a, &b, 2500, 0, NULL);            /* 975.00 */
    bx_op(bx, OP_WITHDRAW, &a, NULL, 10000, 10, ok);          /* 874.90 */
    bx_op(bx, OP_CAPTURE, &a, NULL, 0, 0, ok);                /* no line */
    bx_op(bx, OP_WITHDRAW, &a, NULL, 20000, 20, bad);         /* 674.70 */
    bx_op(bx, OP_TRANSFER, &b, &a, 500, 0, NULL);             /* 679.70 */
    bx_op(bx, OP_VOID, &a, NULL, 0, 0, bad);                  /* back: 879.90 */
    bx_op(bx, OP_WITHDRAW, &a, NULL, 5000, 10, pending);      /* 829.80 */
    bx_op(bx, OP_OTHER, &a, NULL, 80, 0, NULL);               /* 829.00 */

    struct bills_line lines[20];
    struct bills_page page;
    ASSERT_EQ_INT(bx_page(bx, a.account, NULL, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 8);
    ASSERT_EQ_STR(page.next_cursor, "");
    ASSERT(!page.partial);
    ASSERT_EQ_INT(page.scanned, 9);
    for (size_t i = 0; i + 1 < page.count; i++) {
        int64_t moved = lines[i].amount_minor + lines[i].fee_minor;
        ASSERT_EQ_INT(lines[i].balance_after_minor,
                      lines[i + 1].balance_after_minor +
                          (lines[i].direction == BILLS_IN ? moved : -moved));
    }

    ASSERT_EQ_INT(lines[0].type, BILLS_OTHER);
    ASSERT_EQ_INT(lines[0].amount_minor, 80);
    ASSERT_EQ_INT(lines[0].balance_after_minor, 82900);

    ASSERT_EQ_STR(lines[1].id, pending);
    ASSERT_EQ_INT(lines[1].type, BILLS_WITHDRAWAL);
    ASSERT_EQ_INT(lines[1].status, WALLET_PROCESSING);
    ASSERT_EQ_INT(lines[1].amount_minor, 5000);
    ASSERT_EQ_INT(lines[1].fee_minor, 10);
    ASSERT_EQ_INT(lines[1].balance_after_minor, 82980);
    ASSERT_EQ_INT(lines[1].counterparty.kind, BILLS_PARTY_CARD);
    ASSERT_EQ_STR(lines[1].counterparty.name, "招商银行");
    ASSERT_EQ_STR(lines[1].counterparty.last4, "6789");
    ASSERT_EQ_STR(lines[1].counterparty.id, a.card);

    /* The failed withdrawal's amount and fee back, from its card, as it happened. */
    ASSERT_EQ_STR(lines[2].id, bad);
    ASSERT_EQ_INT(lines[2].type, BILLS_WITHDRAWAL_REFUND);
    ASSERT_EQ_INT(lines[2].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[2].status, WALLET_SUCCESS);
    ASSERT_EQ_INT(lines[2].amount_minor, 20020);
    ASSERT_EQ_INT(lines[2].fee_minor, 0);
    ASSERT_EQ_INT(lines[2].counterparty.kind, BILLS_PARTY_CARD);
    ASSERT_EQ_STR(lines[2].counterparty.id, a.card);
    ASSERT_EQ_INT(lines[2].balance_after_minor, 87990);

    ASSERT_EQ_INT(lines[3].type, BILLS_TRANSFER);
    ASSERT_EQ_INT(lines[3].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[3].amount_minor, 500);
    ASSERT_EQ_STR(lines[3].counterparty.id, b.id);
    ASSERT_EQ_STR(lines[3].counterparty.name, "*四");
    ASSERT_EQ_INT(lines[3].balance_after_minor, 67970);

    ASSERT_EQ_STR(lines[4].id, bad);
    ASSERT_EQ_INT(lines[4].type, BILLS_WITHDRAWAL);
    ASSERT_EQ_INT(lines[4].status, WALLET_FAILED);
    ASSERT_EQ_STR(lines[4].failure_code, "CARD_DECLINED");
    ASSERT_EQ_INT(lines[4].balance_after_minor, 67470);
    ASSERT(lines[4].updated_at_ms > lines[4].created_at_ms);

    ASSERT_EQ_STR(lines[5].id, ok);
    ASSERT_EQ_INT(lines[5].status, WALLET_SUCCESS);
    ASSERT_EQ_INT(lines[5].direction, BILLS_OUT);
    ASSERT_EQ_INT(lines[5].balance_after_minor, 87490);

    ASSERT_EQ_INT(lines[6].direction, BILLS_OUT);
    ASSERT_EQ_INT(lines[6].amount_minor, 2500);
    ASSERT_EQ_INT(lines[6].balance_after_minor, 97500);

    ASSERT_EQ_STR(lines[7].id, topup);
    ASSERT_EQ_INT(lines[7].type, BILLS_TOPUP);
    ASSERT_EQ_INT(lines[7].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[7].balance_after_minor, 100000);
    for (size_t i = 1; i < page.count; i++)
        ASSERT(lines[i].created_at_ms < lines[i - 1].created_at_ms);

    /* The newest line's balance is what the account shows now. */
    struct ledger_account_view v = bx_view(bx, a.account);
    ASSERT_EQ_INT(v.available_minor, lines[0].balance_after_minor);

    /* B sees the same transfers from the other side, with A's name masked. */
    ASSERT_EQ_INT(bx_page(bx, b.account, NULL, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 2);
    ASSERT_EQ_INT(lines[0].direction, BILLS_OUT);
    ASSERT_EQ_INT(lines[1].direction, BILLS_IN);
    ASSERT_EQ_STR(lines[1].counterparty.name, "张*丰");
    ASSERT_EQ_INT(lines[0].balance_after_minor, 2000);
    bx_free(bx);
}

TEST(a_hold_of_a_code_bills_does_not_know_adds_up)
{
    // A later module may reserve money (a hold), then take part of it (a capture that releases
    // the rest) or give it all back (a void). Its "other" lines must follow what the available
    // balance did, so that each balance_after is still the one below plus or minus what the line
    // moved: the capture of money already reserved is no second expense, and a release is money
    // back.
    struct bx *bx = bx_new();
    struct user a;
    bx_user(bx, &a, "A");
    bx_op(bx, OP_TOPUP, &a, NULL, 10000, 0, NULL);
    struct raw taken = {.op = OP_OTHER_HOLD, .user = &a, .amount = 1000};
    S_exec(bx, &taken);
    struct raw kept = {.op = OP_OTHER_HOLD, .user = &a, .amount = 500};
    S_exec(bx, &kept);
    struct raw capture = {
        .op = OP_OTHER_CAPTURE, .user = &a, .amount = 600, .hold_id = taken.hold_id};
    S_exec(bx, &capture);
    struct raw release = {.op = OP_OTHER_VOID, .user = &a, .hold_id = kept.hold_id};
    S_exec(bx, &release);

    struct bills_line lines[10];
    struct bills_page page;
    ASSERT_EQ_INT(bx_page(bx, a.account, NULL, 10, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    struct ledger_account_view v = bx_view(bx, a.account);
    ASSERT_EQ_INT(v.available_minor, 9400);
    ASSERT_EQ_INT(lines[0].balance_after_minor, v.available_minor);
    for (size_t i = 0; i + 1 < page.count; i++) {
        int64_t moved = lines[i].amount_minor + lines[i].fee_minor;
        if (lines[i].balance_after_minor !=
            lines[i + 1].balance_after_minor + (lines[i].direction == BILLS_IN ? moved : -moved))
            TEST_FAIL_("line %zu: balance_after %" PRId64 ", below it %" PRId64
                       ", moved %s %" PRId64,
                       i, lines[i].balance_after_minor, lines[i + 1].balance_after_minor,
                       lines[i].direction == BILLS_IN ? "in" : "out", moved);
    }
    /* The top-up, the two holds, the capture's released 400 and the void's 500. */
    ASSERT_EQ_INT(page.count, 5);
    ASSERT_EQ_INT(lines[0].type, BILLS_OTHER);
    ASSERT_EQ_INT(lines[0].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[0].amount_minor, 500);
    ASSERT_EQ_INT(lines[1].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[1].amount_minor, 400);
    ASSERT_EQ_INT(lines[2].direction, BILLS_OUT);
    ASSERT_EQ_INT(lines[2].amount_minor, 500);

    /* The month's statement: 600 went out in the end, and 10000 came in. */
    struct bills_month m;
    ASSERT(bills_month_parse("2026-10", &m));
    struct bills_statement s;
    ASSERT_EQ_INT(bills_statement(bx->reader, &v, a.account, &m, &s), QB_OK);
    ASSERT_EQ_INT(s.total.income_minor - s.total.expense_minor, 10000 - 600);
    bx_free(bx);
}

TEST(payments_are_numbered_by_time_and_found_by_the_seq_their_id_carries)
{
    // A payment's seq is its time in ms shifted left by 15, or one more than the last when that
    // is larger (several in one millisecond, or a clock set back); its id carries the seq, and
    // the seq finds the payment.
    struct bx *bx = bx_new();
    struct user a, b;
    bx_user(bx, &a, "张三");
    bx_user(bx, &b, "李四");
    int64_t t0 = clock_now_ms(&bx->clock);
    bx_op(bx, OP_TOPUP, &a, NULL, 100000, 0, NULL);
    struct raw r = {.op = OP_TRANSFER, .user = &a, .other = &b, .amount = 7, .repeat = 3};
    S_exec(bx, &r); /* three in one millisecond */
    clock_manual_advance(&bx->clock, -10 * MINUTE_MS);
    bx_op(bx, OP_TRANSFER, &b, &a, 1, 0, NULL);
    int64_t t1 = t0 + MINUTE_MS;
    const int64_t want[] = {t0 << 15, t1 << 15, (t1 << 15) + 1, (t1 << 15) + 2, (t1 << 15) + 3};

    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(bx->reader, "SELECT seq, id FROM payments ORDER BY seq", &st),
                  QB_OK);
    size_t n = 0;
    while (store_step(st) == STORE_STEP_ROW) {
        ASSERT(n < QB_ARRAY_COUNT(want));
        char id[ID_TEXT_SIZE_MAX];
        store_column_text_copy(st, 1, id, sizeof id);
        ASSERT_EQ_INT(store_column_int64(st, 0), want[n]);
        ASSERT_EQ_INT(id_sequence(id, strlen(id), "p"), want[n]);
        struct wallet_payment p;
        ASSERT_EQ_INT(wallet_payment_get(bx->reader, id, NULL, &p), QB_OK);
        ASSERT_EQ_INT(p.seq, want[n]);
        ASSERT_EQ_STR(p.id, id);
        /* Another id with this seq is no payment. */
        id[strlen(id) - 1] = id[strlen(id) - 1] == '0' ? '1' : '0';
        ASSERT_EQ_INT(wallet_payment_get(bx->reader, id, NULL, &p), QB_E_NOT_FOUND);
        n++;
    }
    store_finalize(st);
    ASSERT_EQ_INT(n, QB_ARRAY_COUNT(want));
    bx_free(bx);
}

TEST(filters_by_type_direction_counterparty_and_time)
{
    // Each filter keeps exactly the lines it names, and the walk stops at the first entry older
    // than from instead of reading the rest of the history.
    struct bx *bx = bx_new();
    struct user a, b, c;
    bx_user(bx, &a, "A");
    bx_user(bx, &b, "Bob");
    bx_user(bx, &c, "Carol");
    bx_op(bx, OP_TOPUP, &c, NULL, 100000, 0, NULL);
    bx_op(bx, OP_TOPUP, &a, NULL, 100000, 0, NULL);
    for (int i = 0; i < 5; i++) {
        bx_op(bx, OP_TRANSFER, &a, &b, 100 + i, 0, NULL);
        bx_op(bx, OP_TRANSFER, &c, &a, 200 + i, 0, NULL);
    }
    char w[ID_TEXT_SIZE_MAX] = "";
    bx_op(bx, OP_WITHDRAW, &a, NULL, 1000, 10, w);

    struct bills_line lines[20];
    struct bills_page page;
    struct bills_filter f = {.type = BILLS_TRANSFER, .direction = BILLS_OUT};
    ASSERT_EQ_INT(bx_page(bx, a.account, &f, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 5);
    for (size_t i = 0; i < page.count; i++)
        ASSERT_EQ_STR(lines[i].counterparty.id, b.id);

    memset(&f, 0, sizeof f);
    snprintf(f.counterparty_id, sizeof f.counterparty_id, "%s", c.id);
    ASSERT_EQ_INT(bx_page(bx, a.account, &f, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 5);
    ASSERT_EQ_INT(lines[0].amount_minor, 204);
    ASSERT_EQ_INT(lines[0].direction, BILLS_IN);

    memset(&f, 0, sizeof f);
    f.type = BILLS_WITHDRAWAL;
    ASSERT_EQ_INT(bx_page(bx, a.account, &f, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 1);
    ASSERT_EQ_STR(lines[0].id, w);

    /* Entries are a minute apart from NOV_MS - 10 min: the top-ups at -10 and -9, the
     * transfers at -8 .. +1, the withdrawal at +2. [from, to) of -5 .. -1 takes four
     * transfers; the walk stops at the first entry before from. */
    memset(&f, 0, sizeof f);
    f.from_ms = NOV_MS - 5 * MINUTE_MS;
    f.to_ms = NOV_MS - 1 * MINUTE_MS;
    ASSERT_EQ_INT(bx_page(bx, a.account, &f, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 4);
    ASSERT_EQ_INT(lines[0].created_at_ms, NOV_MS - 2 * MINUTE_MS);
    ASSERT_EQ_INT(lines[3].created_at_ms, NOV_MS - 5 * MINUTE_MS);
    ASSERT_EQ_INT(page.scanned, 9); /* +2 .. -1 skipped; four lines; -6 ends the walk */
    ASSERT_EQ_STR(page.next_cursor, "");
    bx_free(bx);
}

TEST(ten_thousand_lines_page_without_gaps_or_repeats)
{
    // Keyset paging over a long history: every line exactly once, newest first, each
    // balance_after continuing the next older one, whatever the page size.
    struct bx *bx = bx_new();
    struct user a, b;
    bx_user(bx, &a, "A");
    bx_user(bx, &b, "B");
    bx_op(bx, OP_TOPUP, &a, NULL, 100000000, 0, NULL);
    for (int i = 0; i < 10; i++) {
        struct raw r = {.op = OP_TRANSFER, .user = &a, .other = &b, .amount = 7, .repeat = 1000};
        S_exec(bx, &r);
        clock_manual_advance(&bx->clock, MINUTE_MS);
    }
    struct bills_line *lines = calloc(100, sizeof *lines);
    ASSERT(lines != NULL);
    size_t limits[] = {100, 37};
    for (size_t l = 0; l < 2; l++) {
        char cursor[BILLS_CURSOR_SIZE_MAX] = "";
        size_t total = 0, pages = 0;
        int64_t last_entry = INT64_MAX, expected_balance = 100000000 - 7 * 10000;
        for (;;) {
            struct bills_page page;
            ASSERT_EQ_INT(bx_page(bx, a.account, NULL, limits[l], BILLS_SCAN_MAX, cursor, lines,
                                  &page),
                          QB_OK);
            pages++;
            for (size_t i = 0; i < page.count; i++) {
                ASSERT(lines[i].entry_id < last_entry);
                last_entry = lines[i].entry_id;
                ASSERT_EQ_INT(lines[i].balance_after_minor, expected_balance);
                expected_balance += lines[i].direction == BILLS_OUT ? lines[i].amount_minor
                                                                    : -lines[i].amount_minor;
            }
            total += page.count;
            if (page.next_cursor[0] == '\0')
                break;
            ASSERT_EQ_INT(page.count, limits[l]);
            snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
        }
        ASSERT_EQ_INT(total, 10001);
        ASSERT_EQ_INT(expected_balance, 0);
        ASSERT(pages >= 10001 / limits[l]);
    }
    free(lines);
    bx_free(bx);
}

TEST(a_sparse_filter_answers_partial_pages_within_the_scan_budget)
{
    // One transfer with C under ten thousand with B: the filter for C must not read the whole
    // history in one request. Each page reads at most the budget, answers what it found (nothing)
    // and a cursor, until the line is found and the history ends.
    struct bx *bx = bx_new();
    struct user a, b, c;
    bx_user(bx, &a, "A");
    bx_user(bx, &b, "B");
    bx_user(bx, &c, "C");
    bx_op(bx, OP_TOPUP, &b, NULL, 1000000, 0, NULL);
    bx_op(bx, OP_TOPUP, &a, NULL, 1000000, 0, NULL);
    bx_op(bx, OP_TRANSFER, &a, &c, 4242, 0, NULL);
    for (int i = 0; i < 10; i++) {
        struct raw r = {.op = OP_TRANSFER, .user = &b, .other = &a, .amount = 1, .repeat = 1000};
        S_exec(bx, &r);
    }
    struct bills_filter f = {0};
    snprintf(f.counterparty_id, sizeof f.counterparty_id, "%s", c.id);
    struct bills_line lines[20];
    char cursor[BILLS_CURSOR_SIZE_MAX] = "";
    size_t pages = 0, found = 0, scanned = 0;
    for (;;) {
        struct bills_page page;
        ASSERT_EQ_INT(bx_page(bx, a.account, &f, 20, 2000, cursor, lines, &page), QB_OK);
        pages++;
        ASSERT(page.scanned <= 2000);
        scanned += page.scanned;
        found += page.count;
        if (page.count == 1) {
            ASSERT_EQ_INT(lines[0].amount_minor, 4242);
            ASSERT_EQ_INT(lines[0].balance_after_minor, 1000000 - 4242);
            ASSERT_EQ_STR(lines[0].counterparty.name, "*");
        }
        if (page.next_cursor[0] == '\0') {
            ASSERT(!page.partial);
            break;
        }
        ASSERT(page.partial);
        ASSERT_EQ_INT(page.count, 0);
        snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
    }
    ASSERT_EQ_INT(found, 1);
    ASSERT_EQ_INT(pages, 6); /* 10,002 entries, 2,000 a page */
    ASSERT_EQ_INT(scanned, 10002);
    bx_free(bx);
}

TEST(a_tampered_or_foreign_cursor_is_a_param_error)
{
    // The cursor is the only client-held state of a walk: changed by one character, reused
    // with another filter or another account, or plain junk, it must be refused as bad input.
    // It tells its holder nothing: not the ledger entry it goes on from (the platform's count
    // of entries, read a day apart, would be its business) nor the amount held there.
    struct bx *bx = bx_new();
    struct user a, b;
    bx_user(bx, &a, "A");
    bx_user(bx, &b, "B");
    bx_op(bx, OP_TOPUP, &a, NULL, 10000, 0, NULL);
    bx_op(bx, OP_TOPUP, &b, NULL, 10000, 0, NULL);
    for (int i = 0; i < 5; i++)
        bx_op(bx, OP_TRANSFER, &a, &b, 10, 0, NULL);
    struct bills_line lines[4];
    struct bills_page page;
    ASSERT_EQ_INT(bx_page(bx, a.account, NULL, 2, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    char good[BILLS_CURSOR_SIZE_MAX];
    snprintf(good, sizeof good, "%s", page.next_cursor);
    ASSERT(strlen(good) > 10);
    unsigned char raw[64];
    size_t raw_size = 0;
    ASSERT_EQ_INT(sodium_base642bin(raw, sizeof raw, good, strlen(good), NULL, &raw_size, NULL,
                                    sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  0);
    ASSERT_EQ_INT(raw_size, 33);
    /* In clear they would be an entry id up to the newest and 0 held (nothing is). */
    ASSERT(buf_read_u64le(raw + 1) > (uint64_t)bx_view(bx, a.account).last_entry_id);
    ASSERT(buf_read_u64le(raw + 9) != 0);
    ASSERT_EQ_INT(bx_page(bx, a.account, NULL, 2, BILLS_SCAN_MAX, good, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 2);

    for (size_t i = 0; i < strlen(good); i++) {
        char bad[BILLS_CURSOR_SIZE_MAX];
        snprintf(bad, sizeof bad, "%s", good);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        ASSERT_EQ_INT(bx_page(bx, a.account, NULL, 2, BILLS_SCAN_MAX, bad, lines, &page),
                      QB_E_PARAM);
    }
    struct bills_filter f = {.type = BILLS_TRANSFER};
    ASSERT_EQ_INT(bx_page(bx, a.account, &f, 2, BILLS_SCAN_MAX, good, lines, &page), QB_E_PARAM);
    ASSERT_EQ_INT(bx_page(bx, b.account, NULL, 2, BILLS_SCAN_MAX, good, lines, &page), QB_E_PARAM);
    const char *junk[] = {"x", "====", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "not a cursor at all!", "%00",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(junk); i++)
        ASSERT_EQ_INT(bx_page(bx, a.account, NULL, 2, BILLS_SCAN_MAX, junk[i], lines, &page),
                      QB_E_PARAM);
    bx_free(bx);
}

TEST(a_statement_ranks_every_counterparty_however_many)
{
    // The top counterparties are the month's largest, however many others it had: a top-up and
    // one large transfer, then 600 transfers of a fen to 600 other users (met first by a walk
    // from the newest). The card and the large payee come first; the fen payees past the top
    // ten are others.
    enum { SMALL = 600 };
    struct bx *bx = bx_new();
    static struct user small[SMALL];
    struct user a, big;
    bx_user(bx, &a, "A");
    bx_user(bx, &big, "Big");
    for (size_t i = 0; i < SMALL; i++)
        bx_user(bx, &small[i], "Small");
    clock_manual_init(&bx->clock, NOV_MS);
    bx_op(bx, OP_TOPUP, &a, NULL, 1000000, 0, NULL);
    bx_op(bx, OP_TRANSFER, &a, &big, 600000, 0, NULL);
    for (size_t i = 0; i < SMALL; i++)
        bx_op(bx, OP_TRANSFER, &a, &small[i], 1, 0, NULL);

    struct bills_month m;
    ASSERT(bills_month_parse("2026-11", &m));
    struct ledger_account_view v = bx_view(bx, a.account);
    struct bills_statement s;
    ASSERT_EQ_INT(bills_statement(bx->reader, &v, a.account, &m, &s), QB_OK);
    ASSERT(s.complete);
    ASSERT_EQ_INT(s.total.count, 2 + SMALL);
    ASSERT_EQ_INT(s.top_count, BILLS_TOP_COUNTERPARTIES);
    ASSERT_EQ_INT(s.top[0].counterparty.kind, BILLS_PARTY_CARD);
    ASSERT_EQ_INT(s.top[0].sums.income_minor, 1000000);
    ASSERT_EQ_STR(s.top[1].counterparty.id, big.id);
    ASSERT_EQ_INT(s.top[1].sums.expense_minor, 600000);
    for (size_t i = 2; i < BILLS_TOP_COUNTERPARTIES; i++) {
        ASSERT_EQ_INT(s.top[i].sums.expense_minor, 1);
        ASSERT_EQ_STR(s.top[i].counterparty.name, "S***l");
    }
    ASSERT_EQ_INT(s.others.income_minor, 0);
    ASSERT_EQ_INT(s.others.expense_minor, SMALL - (BILLS_TOP_COUNTERPARTIES - 2));
    ASSERT_EQ_INT(s.others.count, SMALL - (BILLS_TOP_COUNTERPARTIES - 2));
    bx_free(bx);
}

TEST(statement_sums_a_month_in_utc8)
{
    // A month is UTC+8 midnight to midnight: an entry at 23:59:59.999 on the last day belongs to
    // it, one at 00:00 of the next month does not. Only money that moved counts; a withdrawal's
    // fee is expense; counterparties are ranked by volume.
    struct bx *bx = bx_new();
    struct user a, b, c;
    bx_user(bx, &a, "A");
    bx_user(bx, &b, "Bob");
    bx_user(bx, &c, "Carol");
    clock_manual_init(&bx->clock, NOV_MS - 1);
    bx_op(bx, OP_TOPUP, &a, NULL, 1000000, 0, NULL); /* October: not in */
    clock_manual_init(&bx->clock, NOV_MS);
    bx_op(bx, OP_TOPUP, &a, NULL, 50000, 0, NULL);
    bx_op(bx, OP_TRANSFER, &a, &b, 3000, 0, NULL);
    bx_op(bx, OP_TRANSFER, &a, &b, 2000, 0, NULL);
    bx_op(bx, OP_TRANSFER, &a, &c, 1000, 0, NULL);
    bx_op(bx, OP_TRANSFER, &c, &a, 700, 0, NULL);
    char ok[ID_TEXT_SIZE_MAX] = "", bad[ID_TEXT_SIZE_MAX] = "", pending[ID_TEXT_SIZE_MAX] = "";
    bx_op(bx, OP_WITHDRAW, &a, NULL, 10000, 10, ok);
    bx_op(bx, OP_CAPTURE, &a, NULL, 0, 0, ok);
    bx_op(bx, OP_WITHDRAW, &a, NULL, 20000, 20, bad);
    bx_op(bx, OP_VOID, &a, NULL, 0, 0, bad);
    bx_op(bx, OP_OTHER, &a, NULL, 80, 0, NULL); /* no counterparty: in others */
    clock_manual_init(&bx->clock, DEC_MS - 1);
    bx_op(bx, OP_WITHDRAW, &a, NULL, 100, 10, pending);
    clock_manual_init(&bx->clock, DEC_MS);
    bx_op(bx, OP_TRANSFER, &a, &b, 99, 0, NULL); /* December: not in */

    struct bills_month m;
    ASSERT(bills_month_parse("2026-11", &m));
    ASSERT_EQ_INT(m.start_ms, NOV_MS);
    ASSERT_EQ_INT(m.end_ms, DEC_MS);
    struct ledger_account_view v = bx_view(bx, a.account);
    struct bills_statement s;
    ASSERT_EQ_INT(bills_statement(bx->reader, &v, a.account, &m, &s), QB_OK);
    ASSERT(s.complete);
    ASSERT_EQ_STR(s.currency->code, "CNY");
    ASSERT_EQ_INT(s.total.income_minor, 50000 + 700);
    ASSERT_EQ_INT(s.total.expense_minor, 3000 + 2000 + 1000 + 10010 + 80);
    ASSERT_EQ_INT(s.total.count, 7);
    ASSERT_EQ_INT(s.processing_count, 1);
    ASSERT_EQ_INT(s.by_type[BILLS_TOPUP].income_minor, 50000);
    ASSERT_EQ_INT(s.by_type[BILLS_TRANSFER].expense_minor, 6000);
    ASSERT_EQ_INT(s.by_type[BILLS_TRANSFER].income_minor, 700);
    ASSERT_EQ_INT(s.by_type[BILLS_TRANSFER].count, 4);
    ASSERT_EQ_INT(s.by_type[BILLS_WITHDRAWAL].expense_minor, 10010);
    ASSERT_EQ_INT(s.by_type[BILLS_WITHDRAWAL].count, 1);
    /* The card: 50000 in + 10010 out; Bob 5000; Carol 1700. */
    ASSERT_EQ_INT(s.top_count, 3);
    ASSERT_EQ_INT(s.top[0].counterparty.kind, BILLS_PARTY_CARD);
    ASSERT_EQ_STR(s.top[1].counterparty.id, b.id);
    ASSERT_EQ_STR(s.top[1].counterparty.name, "B*b");
    ASSERT_EQ_INT(s.top[1].sums.expense_minor, 5000);
    ASSERT_EQ_INT(s.top[1].sums.count, 2);
    ASSERT_EQ_STR(s.top[2].counterparty.name, "C***l");
    ASSERT_EQ_INT(s.top[2].sums.income_minor, 700);
    ASSERT_EQ_INT(s.top[2].sums.expense_minor, 1000);
    /* The parts add up to the whole: others is what the top ones leave out. */
    ASSERT_EQ_INT(s.others.expense_minor, 80);
    ASSERT_EQ_INT(s.others.income_minor, 0);
    ASSERT_EQ_INT(s.others.count, 1);

    /* October holds only the first top-up; a month with nothing is all zeros. */
    ASSERT(bills_month_parse("2026-10", &m));
    ASSERT_EQ_INT(bills_statement(bx->reader, &v, a.account, &m, &s), QB_OK);
    ASSERT_EQ_INT(s.total.income_minor, 1000000);
    ASSERT_EQ_INT(s.total.count, 1);
    ASSERT(s.complete);
    ASSERT(bills_month_parse("2025-01", &m));
    ASSERT_EQ_INT(bills_statement(bx->reader, &v, a.account, &m, &s), QB_OK);
    ASSERT_EQ_INT(s.total.count, 0);
    ASSERT_EQ_INT(s.top_count, 0);

    /* The year 2026, UTC+8 January 1 to January 1: October, November and December together. */
    ASSERT(bills_year_parse("2026", &m));
    ASSERT_EQ_INT(m.month, 0);
    ASSERT_EQ_INT(m.start_ms, INT64_C(1767196800000));
    ASSERT_EQ_INT(m.end_ms, INT64_C(1798732800000));
    ASSERT_EQ_INT(bills_statement(bx->reader, &v, a.account, &m, &s), QB_OK);
    ASSERT(s.complete);
    ASSERT_EQ_INT(s.total.income_minor, 1000000 + 50000 + 700);
    ASSERT_EQ_INT(s.total.expense_minor, 3000 + 2000 + 1000 + 10010 + 80 + 99);
    ASSERT_EQ_INT(s.total.count, 1 + 7 + 1);
    ASSERT_EQ_INT(s.processing_count, 1);
    const char *not_years[] = {"1969", "9999", "202", "20261", "2o26", "2026-11", ""};
    for (size_t i = 0; i < QB_ARRAY_COUNT(not_years); i++)
        if (bills_year_parse(not_years[i], &m))
            TEST_FAIL_("\"%s\" read as a year", not_years[i]);
    ASSERT(!bills_month_parse("2026", &m));

    /* The list with the month's dates as from/to gives the same lines. */
    struct bills_filter f = {0};
    ASSERT(bills_time_parse("2026-11-01", false, &f.from_ms));
    ASSERT(bills_time_parse("2026-11-30", true, &f.to_ms));
    ASSERT_EQ_INT(f.from_ms, NOV_MS);
    ASSERT_EQ_INT(f.to_ms, DEC_MS);
    struct bills_line lines[20];
    struct bills_page page;
    ASSERT_EQ_INT(bx_page(bx, a.account, &f, 20, BILLS_SCAN_MAX, NULL, lines, &page), QB_OK);
    ASSERT_EQ_INT(page.count, 10); /* seven that moved, one failed and its refund, one processing */
    ASSERT_EQ_STR(lines[0].id, pending);
    bx_free(bx);
}

TEST(times_and_months_parse_strictly)
{
    // Filters come from query strings: every accepted shape must mean the instant a client meant,
    // and anything else must be refused rather than guessed.
    int64_t t;
    ASSERT(bills_time_parse("2026-11-01T00:00:00+08:00", false, &t));
    ASSERT_EQ_INT(t, NOV_MS);
    ASSERT(bills_time_parse("2026-10-31T16:00:00Z", false, &t));
    ASSERT_EQ_INT(t, NOV_MS);
    ASSERT(bills_time_parse("2026-10-31T16:00:00.250Z", false, &t));
    ASSERT_EQ_INT(t, NOV_MS + 250);
    ASSERT(bills_time_parse("2026-11-01T00:00:00 08:00", false, &t)); /* '+' decoded as space */
    ASSERT_EQ_INT(t, NOV_MS);
    ASSERT(bills_time_parse("2026-10-31T12:00:00-04:00", false, &t));
    ASSERT_EQ_INT(t, NOV_MS);
    ASSERT(bills_time_parse("2026-11-01", false, &t));
    ASSERT_EQ_INT(t, NOV_MS);
    ASSERT(bills_time_parse("2026-10-31", true, &t));
    ASSERT_EQ_INT(t, NOV_MS);
    ASSERT(bills_time_parse("2024-02-29", false, &t));
    /* A leap second, which RFC 3339 allows, is its minute's last millisecond. */
    ASSERT(bills_time_parse("2026-10-31T15:59:60Z", false, &t));
    ASSERT_EQ_INT(t, NOV_MS - 1);
    ASSERT(bills_time_parse("2026-10-31T23:59:60.5+08:00", false, &t));
    ASSERT_EQ_INT(t, NOV_MS - 1);
    const char *bad[] = {"",
                         "2026-11-01T00:00:61Z",
                         "2026-11",
                         "2026-13-01",
                         "2026-02-29",
                         "2026-11-31",
                         "2026-11-01T24:00:00Z",
                         "2026-11-01T00:00:00",
                         "2026-11-01T00:00:00+0800",
                         "2026-11-01T00:00:00+08:00x",
                         "2026-11-01T00:00:00.Z",
                         "1969-12-31",
                         "20261101",
                         "2026-11-01 00:00:00Z",
                         "yesterday"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++)
        if (bills_time_parse(bad[i], false, &t))
            TEST_FAIL_("\"%s\" was accepted", bad[i]);
    struct bills_month m;
    ASSERT(bills_month_parse("2026-12", &m));
    ASSERT_EQ_INT(m.start_ms, DEC_MS);
    ASSERT_EQ_INT(m.end_ms - m.start_ms, 31 * INT64_C(86400000));
    ASSERT(bills_month_parse("2024-02", &m));
    ASSERT_EQ_INT(m.end_ms - m.start_ms, 29 * INT64_C(86400000));
    const char *bad_months[] = {"2026-13", "2026-00", "2026-1", "26-11", "2026/11", "1969-12",
                                "2026-11-01", ""};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad_months); i++)
        ASSERT(!bills_month_parse(bad_months[i], &m));
    ASSERT_EQ_INT(bills_type_parse("transfer"), BILLS_TRANSFER);
    ASSERT_EQ_INT(bills_type_parse("Transfer"), BILLS_ANY);
    ASSERT_EQ_INT(bills_type_parse(NULL), BILLS_ANY);
}

TEST(csv_rows_are_rfc4180_and_formula_safe)
{
    // A downloaded bill is opened in a spreadsheet: quotes and commas must survive, and a memo a
    // payer chose must never run as a formula.
    struct bills_line line;
    memset(&line, 0, sizeof line);
    snprintf(line.id, sizeof line.id, "p_x");
    line.type = BILLS_TRANSFER;
    line.direction = BILLS_OUT;
    line.currency = currency_find("CNY");
    line.amount_minor = 1234;
    line.balance_after_minor = 100;
    line.status = WALLET_SUCCESS;
    line.created_at_ms = NOV_MS;
    line.updated_at_ms = NOV_MS;
    line.counterparty.kind = BILLS_PARTY_USER;
    snprintf(line.counterparty.id, sizeof line.counterparty.id, "u_y");
    snprintf(line.counterparty.name, sizeof line.counterparty.name, "=*四");
    snprintf(line.memo, sizeof line.memo, "lunch, \"team\"");
    struct buf out;
    buf_init(&out, 4096);
    ASSERT_EQ_INT(bills_csv_header(&out), QB_OK);
    ASSERT_EQ_INT(bills_csv_line(&out, &line), QB_OK);
    snprintf(line.memo, sizeof line.memo, "=HYPERLINK(\"http://x\")");
    line.type = BILLS_WITHDRAWAL;
    line.status = WALLET_FAILED; /* why it failed, as the JSON line says */
    snprintf(line.failure_code, sizeof line.failure_code, "CARD_DECLINED");
    line.fee_minor = 5;
    line.counterparty.kind = BILLS_PARTY_CARD;
    snprintf(line.counterparty.name, sizeof line.counterparty.name, "招商银行");
    snprintf(line.counterparty.last4, sizeof line.counterparty.last4, "6789");
    ASSERT_EQ_INT(bills_csv_line(&out, &line), QB_OK);
    /* Spaces first: a spreadsheet that trims them on import would see a formula. */
    snprintf(line.memo, sizeof line.memo, "  =1+1");
    ASSERT_EQ_INT(bills_csv_line(&out, &line), QB_OK);
    /* A memo that starts with the mark gets one more: the memo is the cell less one. */
    snprintf(line.memo, sizeof line.memo, "'=1+1");
    ASSERT_EQ_INT(bills_csv_line(&out, &line), QB_OK);
    const char *expected =
        "id,created_at,type,direction,amount,fee,currency,counterparty,counterparty_id,memo,"
        "status,balance_after,updated_at,failure_code\r\n"
        "p_x,2026-11-01T00:00:00+08:00,transfer,out,12.34,0.00,CNY,'=*四,u_y,"
        "\"lunch, \"\"team\"\"\",SUCCESS,1.00,2026-11-01T00:00:00+08:00,\r\n"
        "p_x,2026-11-01T00:00:00+08:00,withdrawal,out,12.34,0.05,CNY,招商银行(6789),u_y,"
        "\"'=HYPERLINK(\"\"http://x\"\")\",FAILED,1.00,2026-11-01T00:00:00+08:00,CARD_DECLINED\r\n"
        "p_x,2026-11-01T00:00:00+08:00,withdrawal,out,12.34,0.05,CNY,招商银行(6789),u_y,"
        "'  =1+1,FAILED,1.00,2026-11-01T00:00:00+08:00,CARD_DECLINED\r\n"
        "p_x,2026-11-01T00:00:00+08:00,withdrawal,out,12.34,0.05,CNY,招商银行(6789),u_y,"
        "''=1+1,FAILED,1.00,2026-11-01T00:00:00+08:00,CARD_DECLINED\r\n";
    ASSERT_EQ_STR(out.data, expected);
    buf_release(&out);
}

int main(void)
{
    RUN(one_line_per_payment_with_counterparty_status_and_balance);
    RUN(a_hold_of_a_code_bills_does_not_know_adds_up);
    RUN(payments_are_numbered_by_time_and_found_by_the_seq_their_id_carries);
    RUN(filters_by_type_direction_counterparty_and_time);
    RUN(ten_thousand_lines_page_without_gaps_or_repeats);
    RUN(a_sparse_filter_answers_partial_pages_within_the_scan_budget);
    RUN(a_tampered_or_foreign_cursor_is_a_param_error);
    RUN(statement_sums_a_month_in_utc8);
    RUN(a_statement_ranks_every_counterparty_however_many);
    RUN(times_and_months_parse_strictly);
    RUN(csv_rows_are_rfc4180_and_formula_safe);
    return test_summary();
}
