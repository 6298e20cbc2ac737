/*
 * test_topup.c — the pure parts of money in and out: the withdrawal fee's
 * rounding, the one shape every payment answer has, and the SMS target
 * that ties a bind_card code to one card; and the payments a database made
 * before migrations 14 and 15 holds.
 */
#include <string.h>

#include "test.h"
#include "unit/schema_at.h"
#include "unit/store_int.h"
#include "wallet/cards.h"
#include "wallet/topup.h"

static int64_t S_fee(int64_t ppm, int64_t min_minor, int64_t amount_minor)
{
    struct domain_settings s;
    domain_settings_default(&s);
    s.withdrawal_fee_ppm = ppm;
    s.withdrawal_fee_min_minor = min_minor;
    int64_t fee = -1;
    if (!wallet_withdrawal_fee(&s, amount_minor, &fee))
        return -1;
    return fee;
}

TEST(withdrawal_fee_rounds_up_and_has_a_floor)
{
    // fee = max(min, ceil(amount * ppm / 10^6)): a fen short is never given away, and small
    // withdrawals pay the minimum.
    ASSERT_EQ_INT(S_fee(1000, 10, 50000), 50);     /* exactly 0.1 % */
    ASSERT_EQ_INT(S_fee(1000, 10, 50001), 51);     /* 50.001 rounds up */
    ASSERT_EQ_INT(S_fee(1000, 10, 10001), 11);
    ASSERT_EQ_INT(S_fee(1000, 10, 10000), 10);     /* 10.000: not rounded */
    ASSERT_EQ_INT(S_fee(1000, 10, 100), 10);       /* 0.1 fen: the minimum */
    ASSERT_EQ_INT(S_fee(1000, 10, 1), 10);
    ASSERT_EQ_INT(S_fee(1000, 0, 1), 1);           /* no minimum: still rounded up */
    ASSERT_EQ_INT(S_fee(0, 0, 123456), 0);         /* free withdrawals */
    ASSERT_EQ_INT(S_fee(0, 25, 123456), 25);
    ASSERT_EQ_INT(S_fee(6000, 10, 2000000), 12000); /* 0.6 % of the cap */
    ASSERT_EQ_INT(S_fee(1, 0, 999999), 1);
    ASSERT_EQ_INT(S_fee(1, 0, 1000000), 1);
    ASSERT_EQ_INT(S_fee(1, 0, 1000001), 2);
    ASSERT_EQ_INT(S_fee(1000, 10, 0), -1);          /* no fee for nothing */
    ASSERT_EQ_INT(S_fee(1000, 10, -5), -1);
    ASSERT_EQ_INT(S_fee(100000, 10, INT64_MAX / 10), -1); /* overflow is refused */
}

/* The largest withdrawal from available under the settings, found by walking down from the
 * top: what wallet_withdrawal_max must agree with. */
static int64_t S_max_by_walking(const struct domain_settings *s, int64_t available)
{
    int64_t top = available < s->limit_per_payment_minor ? available : s->limit_per_payment_minor;
    for (int64_t amount = top; amount > 0; amount--) {
        int64_t fee;
        if (wallet_withdrawal_fee(s, amount, &fee) && amount + fee <= available)
            return amount;
    }
    return 0;
}

TEST(withdrawal_max_is_the_largest_amount_the_balance_covers_with_its_fee)
{
    // "Withdraw all": the amount whose amount + fee is the balance or just under it, never over,
    // and never over the per-payment cap; checked against a walk down from the top for every
    // balance up to ¥30 and a few fee settings, and at the edges of the defaults.
    struct domain_settings s;
    domain_settings_default(&s);
    int64_t amount = -1, fee = -1;
    wallet_withdrawal_max(&s, 10010, s.limit_per_payment_minor, &amount,
                          &fee); /* ¥100.10: ¥100 and the ¥0.10 minimum */
    ASSERT_EQ_INT(amount, 10000);
    ASSERT_EQ_INT(fee, 10);
    wallet_withdrawal_max(&s, 10009, s.limit_per_payment_minor, &amount, &fee);
    ASSERT_EQ_INT(amount, 9999);
    ASSERT_EQ_INT(fee, 10);
    wallet_withdrawal_max(&s, 1001000, s.limit_per_payment_minor, &amount,
                          &fee); /* 0.1 % of ¥10,000 is ¥10.00 */
    ASSERT_EQ_INT(amount, 1000000);
    ASSERT_EQ_INT(fee, 1000);
    wallet_withdrawal_max(&s, 1000999, s.limit_per_payment_minor, &amount,
                          &fee); /* a fen less: 999,999 pays ¥10.00 too */
    ASSERT_EQ_INT(amount, 999999);
    ASSERT_EQ_INT(fee, 1000);
    wallet_withdrawal_max(&s, 10, s.limit_per_payment_minor, &amount,
                          &fee); /* the fee alone: nothing can go */
    ASSERT_EQ_INT(amount, 0);
    ASSERT_EQ_INT(fee, 0);
    wallet_withdrawal_max(&s, 0, s.limit_per_payment_minor, &amount, &fee);
    ASSERT_EQ_INT(amount, 0);
    ASSERT_EQ_INT(fee, 0);
    wallet_withdrawal_max(&s, INT64_MAX, s.limit_per_payment_minor, &amount,
                          &fee); /* the per-payment cap */
    ASSERT_EQ_INT(amount, s.limit_per_payment_minor);
    ASSERT(wallet_withdrawal_fee(&s, amount, &fee) && fee > 0);
    /* A lower cap (what is left of a KYC level 1 wallet's lifetime limit) binds the same way. */
    wallet_withdrawal_max(&s, 1001000, 50000, &amount, &fee);
    ASSERT_EQ_INT(amount, 50000);
    ASSERT_EQ_INT(fee, 50);
    wallet_withdrawal_max(&s, 1001000, 0, &amount, &fee);
    ASSERT_EQ_INT(amount, 0);
    ASSERT_EQ_INT(fee, 0);

    const int64_t settings[][3] = {
        {1000, 10, 2000}, {0, 0, 2000}, {6000, 25, 1500}, {1, 0, 2000}, {999999, 1, 2000}};
    for (size_t i = 0; i < QB_ARRAY_COUNT(settings); i++) {
        s.withdrawal_fee_ppm = settings[i][0];
        s.withdrawal_fee_min_minor = settings[i][1];
        s.limit_per_payment_minor = settings[i][2];
        for (int64_t available = 0; available <= 3000; available++) {
            wallet_withdrawal_max(&s, available, s.limit_per_payment_minor, &amount, &fee);
            ASSERT_EQ_INT(amount, S_max_by_walking(&s, available));
            int64_t want_fee = 0;
            ASSERT(amount == 0 || wallet_withdrawal_fee(&s, amount, &want_fee));
            ASSERT_EQ_INT(fee, want_fee);
        }
    }
}

TEST(payment_json_has_one_shape)
{
    // Fresh answers, replays and GET /v1/me/payments/{id} all render with this function, so a
    // client sees the same members whatever the path; the card is named by bank and last4 only.
    struct wallet_payment p;
    memset(&p, 0, sizeof p);
    memcpy(p.id, "p_abc", 6);
    p.kind = WALLET_WITHDRAWAL;
    p.currency = currency_find("CNY");
    p.amount_minor = 1234;
    p.fee_minor = 10;
    p.status = WALLET_PROCESSING;
    memcpy(p.failure_code, "CARD_DECLINED", 14); /* ignored while not FAILED */
    p.created_at_ms = 1790000000000;
    p.updated_at_ms = 1790000000000;
    struct wallet_card card;
    memset(&card, 0, sizeof card);
    memcpy(card.id, "c_xyz", 6);
    memcpy(card.bank, "招商银行", sizeof "招商银行");
    memcpy(card.last4, "0018", 5);
    json_t *j = wallet_payment_json(&p, &card);
    ASSERT(j != NULL);
    const char *members[] = {"id", "type", "status", "amount", "currency", "fee",
                             "card", "failure_code", "created_at", "updated_at"};
    ASSERT_EQ_INT(json_object_size(j), QB_ARRAY_COUNT(members));
    for (size_t i = 0; i < QB_ARRAY_COUNT(members); i++)
        ASSERT(json_object_get(j, members[i]) != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "type")), "withdrawal");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "PROCESSING");
    ASSERT(json_is_null(json_object_get(j, "failure_code")));
    ASSERT_EQ_INT(json_object_size(json_object_get(j, "card")), 3);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "card"), "last4")), "0018");
    json_decref(j);
    p.status = WALLET_FAILED;
    j = wallet_payment_json(&p, NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "failure_code")), "CARD_DECLINED");
    ASSERT(json_is_null(json_object_get(j, "card")));
    json_decref(j);
}

TEST(sms_target_masks_the_middle)
{
    // The target a client passes with a bind_card code: first six and last four digits, one '*'
    // per hidden digit, so it is safe to store and tells one card of a bank from another.
    char out[WALLET_CARD_TARGET_SIZE_MAX];
    ASSERT(wallet_card_sms_target("6222020000000000018", out));
    ASSERT_EQ_STR(out, "622202*********0018");
    ASSERT(wallet_card_sms_target("9999000000000012", out));
    ASSERT_EQ_STR(out, "999900******0012");
    ASSERT(!wallet_card_sms_target("622202000000018", out)); /* 15 digits */
    ASSERT_EQ_STR(out, "");
    ASSERT(!wallet_card_sms_target("62220200000000000189", out)); /* 20 */
    ASSERT(!wallet_card_sms_target("622202000000000001x", out));
    ASSERT(!wallet_card_sms_target(NULL, out));
}

/* Two payments as an older Qianbao wrote them: a transfer and a withdrawal
 * left PROCESSING (the values after each id, in S_OLD_COLUMNS' order). */
#define S_OLD_COLUMNS                                                                              \
    "id, kind, user_id, counterparty_id, card_id, currency, amount_minor, fee_minor, memo,"      \
    " status, failure_code, hold_id, entry_id, bank_ref, created_at_ms, updated_at_ms,"         \
    " next_check_at_ms"
#define S_OLD_TRANSFER "3, 'u_a', 'u_b', '', 'CNY', 1250, 0, 'lunch', 2, '', 0, 7, '', 1000, 1000, 0"
#define S_OLD_WITHDRAWAL                                                                           \
    "2, 'u_a', '', 'c_a', 'CNY', 10000, 10, '', 1, '', 8, 0, 'bank-1', 2000, 2500, 3000"

/* Both read back whole by id, and the worker's index finds the withdrawal. */
static void S_old_payments_are_kept(struct store *store, const char *transfer_id,
                                    const char *withdrawal_id)
{
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(store, transfer_id, "u_b", &p), QB_OK);
    ASSERT_EQ_INT(p.kind, WALLET_TRANSFER);
    ASSERT_EQ_STR(p.counterparty_id, "u_b");
    ASSERT_EQ_INT(p.amount_minor, 1250);
    ASSERT_EQ_STR(p.memo, "lunch");
    ASSERT_EQ_INT(p.status, WALLET_SUCCESS);
    ASSERT_EQ_INT(p.entry_id, 7);
    ASSERT_EQ_INT(wallet_payment_get(store, withdrawal_id, "u_a", &p), QB_OK);
    ASSERT_EQ_INT(p.kind, WALLET_WITHDRAWAL);
    ASSERT_EQ_STR(p.card_id, "c_a");
    ASSERT_EQ_INT(p.fee_minor, 10);
    ASSERT_EQ_INT(p.status, WALLET_PROCESSING);
    ASSERT_EQ_INT(p.hold_id, 8);
    ASSERT_EQ_STR(p.bank_ref, "bank-1");
    ASSERT_EQ_INT(p.created_at_ms, 2000);
    ASSERT_EQ_INT(p.updated_at_ms, 2500);
    ASSERT_EQ_INT(p.next_check_at_ms, 3000);
    ASSERT_EQ_INT(test_store_int(store, "SELECT count(*) FROM payments"), 2);
    ASSERT_EQ_INT(test_store_int(store, "SELECT count(*) FROM payments INDEXED BY payments_pending"
                                        " WHERE status = 1 AND next_check_at_ms <= 3000"),
                  1);
}

/* Migration 14 keys payments by id alone (WITHOUT ROWID); a database made
 * before it keeps every payment. */
#define S_BY_ID_MIGRATION 13

TEST(payments_made_before_they_were_keyed_by_id_are_kept)
{
    struct test_old_db old;
    test_old_db_open(&old, S_BY_ID_MIGRATION, "CREATE TABLE payments_by_id",
                     "INSERT INTO payments (seq, " S_OLD_COLUMNS ") VALUES"
                     " (1, 'p_00000000000000000000000002', " S_OLD_TRANSFER "),"
                     " (2, 'p_00000000000000000000000001', " S_OLD_WITHDRAWAL ");");
    S_old_payments_are_kept(old.store, "p_00000000000000000000000002",
                            "p_00000000000000000000000001");
    test_old_db_close(&old);
}

/* Migration 15 keys payments by the seq a new payment's id carries; the
 * payments made before it are numbered 1.. in id order and found by id
 * through an index of theirs alone, also when the first bits of an old id
 * read as another payment's seq. */
#define S_BY_SEQ_MIGRATION 14

/* The plan of SQLite for sql: its rows' details, joined by "; ". */
static void S_plan(struct store *store, const char *sql, char *out, size_t size)
{
    char explain[512];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, explain, &st), QB_OK);
    out[0] = '\0';
    while (store_step(st) == STORE_STEP_ROW) {
        char detail[128];
        store_column_text_copy(st, 3, detail, sizeof detail);
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s; ", detail);
    }
    store_finalize(st);
}

TEST(payments_made_before_they_were_keyed_by_seq_are_found_by_id)
{
    struct test_old_db old;
    test_old_db_open(&old, S_BY_SEQ_MIGRATION, "CREATE TABLE payments_by_seq",
                     "INSERT INTO payments (" S_OLD_COLUMNS ") VALUES"
                     /* its first 63 bits read as seq 1, which will be the other one's */
                     " ('p_0000000000001zzzzzzzzzzzzz', " S_OLD_TRANSFER "),"
                     " ('p_00000000000000000000000001', " S_OLD_WITHDRAWAL ");");
    struct store *store = old.store;
    S_old_payments_are_kept(store, "p_0000000000001zzzzzzzzzzzzz", "p_00000000000000000000000001");
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(store, "p_0000000000001zzzzzzzzzzzzz", NULL, &p), QB_OK);
    ASSERT_EQ_INT(p.seq, 2);
    ASSERT_EQ_INT(wallet_payment_get(store, "p_00000000000000000000000001", NULL, &p), QB_OK);
    ASSERT_EQ_INT(p.seq, 1);
    /* Ids of no payment, one of them with an existing payment's seq. */
    ASSERT_EQ_INT(wallet_payment_get(store, "p_00000000000010000000000000", NULL, &p),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(wallet_payment_get(store, "p_00000000000000000000000003", NULL, &p),
                  QB_E_NOT_FOUND);
    /* The lookups wallet.c makes: a new payment's by its seq, an old one's
     * through the index of the old ones (whose WHERE the query repeats). */
    char plan[512];
    S_plan(store, "SELECT kind FROM payments WHERE seq = 5 AND id = 'x'", plan, sizeof plan);
    ASSERT(strstr(plan, "USING INTEGER PRIMARY KEY (rowid=?)") != NULL);
    S_plan(store,
           "SELECT kind FROM payments INDEXED BY payments_made_before_seq"
           " WHERE id = 'x' AND seq < 1099511627776 AND seq <> 5",
           plan, sizeof plan);
    ASSERT(strstr(plan, "USING INDEX payments_made_before_seq (id=?") != NULL);
    test_old_db_close(&old);
}

/* What a merchant's withdrawals held at a moment (a day's end, 10000 here), from a database
 * made before migration 28 gave them their index: those made before it and settled at or
 * after it, or not yet. Neither one made at that moment, nor one settled the millisecond
 * before, nor another merchant's, nor a user's own withdrawal, nor a top-up counts. */
#define S_HELD_COLUMNS                                                                             \
    "id, kind, user_id, counterparty_id, card_id, currency, amount_minor, fee_minor, status,"      \
    " created_at_ms, updated_at_ms"
TEST(what_withdrawals_held_at_a_days_end)
{
    struct test_old_db old;
    test_old_db_open(&old, 27, "payments_account_withdrawals",
                     "INSERT INTO payments (" S_HELD_COLUMNS ") VALUES"
                     " ('p_1', 2, 'u_a', 'merchant:1900000001', 'c_a', 'CNY', 1000, 10, 1, 5000,"
                     "  5000),"
                     " ('p_2', 2, 'u_a', 'merchant:1900000001', 'c_a', 'CNY', 2000, 20, 2, 5000,"
                     "  10000),"
                     " ('p_3', 2, 'u_a', 'merchant:1900000001', 'c_a', 'CNY', 4000, 40, 3, 5000,"
                     "  9999),"
                     " ('p_4', 2, 'u_a', 'merchant:1900000001', 'c_a', 'CNY', 8000, 80, 1, 10000,"
                     "  10000),"
                     " ('p_5', 2, 'u_b', 'merchant:1900000002', 'c_b', 'CNY', 16000, 160, 1, 5000,"
                     "  5000),"
                     " ('p_6', 2, 'u_a', '', 'c_a', 'CNY', 32000, 320, 1, 5000, 5000),"
                     " ('p_7', 1, 'u_a', 'merchant:1900000001', 'c_a', 'CNY', 64000, 0, 1, 5000,"
                     "  5000);");
    int64_t held = -1;
    ASSERT_EQ_INT(wallet_withdrawals_held_at(old.store, "merchant:1900000001", 10000, &held),
                  QB_OK);
    ASSERT_EQ_INT(held, 1010 + 2020);
    ASSERT_EQ_INT(wallet_withdrawals_held_at(old.store, "merchant:1900000001", 5000, &held), QB_OK);
    ASSERT_EQ_INT(held, 0);
    ASSERT_EQ_INT(wallet_withdrawals_held_at(old.store, "merchant:1900000002", 10000, &held),
                  QB_OK);
    ASSERT_EQ_INT(held, 16160);
    ASSERT_EQ_INT(
        test_store_int(old.store,
                       "SELECT count(*) FROM payments INDEXED BY"
                       " payments_account_withdrawals WHERE kind = 2 AND"
                       " counterparty_id <> '' AND counterparty_id = 'merchant:1900000001'"),
        4);
    test_old_db_close(&old);
}

int main(void)
{
    RUN(withdrawal_fee_rounds_up_and_has_a_floor);
    RUN(withdrawal_max_is_the_largest_amount_the_balance_covers_with_its_fee);
    RUN(payment_json_has_one_shape);
    RUN(sms_target_masks_the_middle);
    RUN(payments_made_before_they_were_keyed_by_id_are_kept);
    RUN(payments_made_before_they_were_keyed_by_seq_are_found_by_id);
    RUN(what_withdrawals_held_at_a_days_end);
    return test_summary();
}
