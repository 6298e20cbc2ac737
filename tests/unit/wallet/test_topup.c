/*
 * test_topup.c — the pure parts of money in and out: the withdrawal fee's
 * rounding, the one shape every payment answer has, and the SMS target
 * that ties a bind_card code to one card number; the payments a database made
 * before migrations 14 and 15 holds; and, against a real ledger, the
 * operator's check of every top-up and withdrawal against the journal.
 */
#include <string.h>

#include "transfer_fixture.h"

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
    if (!wallet_withdrawal_fee(&s, amount_minor, 0, &fee))
        return -1;
    return fee;
}

/* The fee at the defaults (0.1 %, at least 10 fen) with free_minor left of the allowance. */
static int64_t S_fee_free(int64_t free_minor, int64_t amount_minor)
{
    struct domain_settings s;
    domain_settings_default(&s);
    int64_t fee = -1;
    if (!wallet_withdrawal_fee(&s, amount_minor, free_minor, &fee))
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

TEST(withdrawal_fee_is_on_the_part_over_the_free_allowance)
{
    // What is left of the free allowance carries no fee; the part of an amount over it pays the
    // rate, with the minimum, as a whole withdrawal would.
    ASSERT_EQ_INT(S_fee_free(100000, 100000), 0); /* all of it free */
    ASSERT_EQ_INT(S_fee_free(100000, 1), 0);
    ASSERT_EQ_INT(S_fee_free(100000, 100001), 10); /* a fen over: the minimum */
    ASSERT_EQ_INT(S_fee_free(100000, 150000), 50); /* 0.1 % of the ¥500 over */
    ASSERT_EQ_INT(S_fee_free(100000, 150001), 51);
    ASSERT_EQ_INT(S_fee_free(1, 10001), 10); /* the over part, not the amount, is rated */
    ASSERT_EQ_INT(S_fee_free(0, 10001), 11);
    ASSERT_EQ_INT(S_fee_free(INT64_MAX, 2000000), 0);
    ASSERT_EQ_INT(S_fee_free(100000, 0), -1); /* still nothing for nothing */
}

/* The largest withdrawal from available under the settings, found by walking down from the
 * top: what wallet_withdrawal_max must agree with. */
static int64_t S_max_by_walking(const struct domain_settings *s, int64_t available,
                                int64_t free_minor)
{
    int64_t top = available < s->limit_per_payment_minor ? available : s->limit_per_payment_minor;
    for (int64_t amount = top; amount > 0; amount--) {
        int64_t fee;
        if (wallet_withdrawal_fee(s, amount, free_minor, &fee) && amount + fee <= available)
            return amount;
    }
    return 0;
}

/* wallet_withdrawal_max of available under cap with free_minor left of the allowance gives
 * amount and fee. */
static void S_expect_max(const struct domain_settings *s, int64_t available, int64_t cap,
                         int64_t free_minor, int64_t amount, int64_t fee)
{
    int64_t got_amount = -1, got_fee = -1;
    wallet_withdrawal_max(s, available, cap, free_minor, &got_amount, &got_fee);
    ASSERT_EQ_INT(got_amount, amount);
    ASSERT_EQ_INT(got_fee, fee);
}

TEST(withdrawal_max_is_the_largest_amount_the_balance_covers_with_its_fee)
{
    // "Withdraw all": the amount whose amount + fee is the balance or just under it, never over,
    // and never over the per-payment cap; checked against a walk down from the top for every
    // balance up to ¥30 and a few fee settings, and at the edges of the defaults.
    struct domain_settings s;
    domain_settings_default(&s);
    int64_t amount = -1, fee = -1;
    /* ¥100.10: ¥100 and the ¥0.10 minimum */
    S_expect_max(&s, 10010, s.limit_per_payment_minor, 0, 10000, 10);
    S_expect_max(&s, 10009, s.limit_per_payment_minor, 0, 9999, 10);
    /* 0.1 % of ¥10,000 is ¥10.00 */
    S_expect_max(&s, 1001000, s.limit_per_payment_minor, 0, 1000000, 1000);
    /* a fen less: 999,999 pays ¥10.00 too */
    S_expect_max(&s, 1000999, s.limit_per_payment_minor, 0, 999999, 1000);
    /* the fee alone: nothing can go */
    S_expect_max(&s, 10, s.limit_per_payment_minor, 0, 0, 0);
    S_expect_max(&s, 0, s.limit_per_payment_minor, 0, 0, 0);
    wallet_withdrawal_max(&s, INT64_MAX, s.limit_per_payment_minor, 0, &amount,
                          &fee); /* the per-payment cap */
    ASSERT_EQ_INT(amount, s.limit_per_payment_minor);
    ASSERT(wallet_withdrawal_fee(&s, amount, 0, &fee) && fee > 0);
    /* A lower cap (what is left of a KYC level 1 wallet's lifetime limit) binds the same way. */
    S_expect_max(&s, 1001000, 50000, 0, 50000, 50);
    S_expect_max(&s, 1001000, 0, 0, 0, 0);

    /* With a free allowance: ¥100.05 with ¥100 of it left goes whole, the 5 fen over it paying
     * the minimum only if the amount passes the allowance. */
    S_expect_max(&s, 10005, s.limit_per_payment_minor, 10000, 10000, 0);
    S_expect_max(&s, 10010, s.limit_per_payment_minor, 10000, 10000, 0);
    S_expect_max(&s, 10011, s.limit_per_payment_minor, 10000, 10001, 10);
    /* A fen left free: a fen goes without a fee, two would pay the minimum on one. */
    S_expect_max(&s, 5, s.limit_per_payment_minor, 1, 1, 0);

    const int64_t settings[][3] = {
        {1000, 10, 2000}, {0, 0, 2000}, {6000, 25, 1500}, {1, 0, 2000}, {999999, 1, 2000}};
    const int64_t frees[] = {0, 37, 1000};
    for (size_t i = 0; i < QB_ARRAY_COUNT(settings); i++) {
        s.withdrawal_fee_ppm = settings[i][0];
        s.withdrawal_fee_min_minor = settings[i][1];
        s.limit_per_payment_minor = settings[i][2];
        for (size_t f = 0; f < QB_ARRAY_COUNT(frees); f++) {
            for (int64_t available = 0; available <= 3000; available++) {
                wallet_withdrawal_max(&s, available, s.limit_per_payment_minor, frees[f], &amount,
                                      &fee);
                ASSERT_EQ_INT(amount, S_max_by_walking(&s, available, frees[f]));
                int64_t want_fee = 0;
                ASSERT(amount == 0 || wallet_withdrawal_fee(&s, amount, frees[f], &want_fee));
                ASSERT_EQ_INT(fee, want_fee);
            }
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

TEST(sms_target_is_the_whole_card_number_keyed)
{
    // A bind_card code is kept with its target: the whole card number's keyed hash and the wallet
    // that asked, so that a code asked for one card binds no other, not even one with the same
    // first six and last four digits, nor the same card in another wallet, and the number itself
    // is never kept with the code.
    struct domain_env env;
    memset(&env, 0, sizeof env);
    memset(env.card_hash_key, 0x5a, sizeof env.card_hash_key);
    char user[ID_TEXT_SIZE_MAX], other_user[ID_TEXT_SIZE_MAX];
    snprintf(user, sizeof user, "u_%s", "0123456789abcdefghjkmnpqrs");
    snprintf(other_user, sizeof other_user, "u_%s", "0123456789abcdefghjkmnpqrt");
    ASSERT(id_is_valid(user, strlen(user), "u") &&
           id_is_valid(other_user, strlen(other_user), "u"));
    char out[WALLET_CARD_TARGET_SIZE_MAX], other[WALLET_CARD_TARGET_SIZE_MAX];
    ASSERT(wallet_card_sms_target(&env, user, "9999000000000012", out));
    ASSERT(wallet_card_sms_target(&env, user, "9999000000180012", other));
    ASSERT(strcmp(out, other) != 0);
    /* "card:", the keyed hash in hex, "/", the wallet: no digit of the card. */
    ASSERT(strncmp(out, "card:", 5) == 0 &&
           strlen(out) == 5 + 2 * CRYPTO_SHA256_SIZE + 1 + strlen(user));
    ASSERT(strspn(out + 5, "0123456789abcdef") == 2 * CRYPTO_SHA256_SIZE);
    ASSERT(out[5 + 2 * CRYPTO_SHA256_SIZE] == '/');
    ASSERT_EQ_STR(out + 5 + 2 * CRYPTO_SHA256_SIZE + 1, user);
    ASSERT(wallet_card_sms_target(&env, user, "9999000000000012", other));
    ASSERT_EQ_STR(out, other); /* the same card and wallet, the same target */
    ASSERT(wallet_card_sms_target(&env, other_user, "9999000000000012", other));
    ASSERT(strcmp(out, other) != 0); /* the same card asked for by another wallet */
    env.card_hash_key[0] ^= 1;
    ASSERT(wallet_card_sms_target(&env, user, "9999000000000012", other));
    ASSERT(strcmp(out, other) != 0); /* keyed: no key, no guessing the number from it */
    ASSERT(!wallet_card_sms_target(&env, user, "622202000000018", out)); /* 15 digits */
    ASSERT_EQ_STR(out, "");
    ASSERT(!wallet_card_sms_target(&env, user, "62220200000000000189", out)); /* 20 */
    ASSERT(!wallet_card_sms_target(&env, user, "622202000000000001x", out));
    ASSERT(!wallet_card_sms_target(&env, user, "622202*********0018", out)); /* masked */
    ASSERT(!wallet_card_sms_target(&env, user, NULL, out));
    ASSERT(!wallet_card_sms_target(&env, NULL, "9999000000000012", out)); /* no wallet */
    ASSERT(!wallet_card_sms_target(&env, "", "9999000000000012", out));
    ASSERT(!wallet_card_sms_target(&env, "m_0123456789abcdefghjkmnpqrs", "9999000000000012", out));
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

/* --- the operator's check against the journal ---------------------------------------- */

#define S_MERCHANT_LABEL "merchant:1900000001"

/* A merchant's settlement account as the merchant module opens one, under
 * S_MERCHANT_LABEL, funded with amount_minor from the fixture's system
 * account. */
struct S_merchant_cmd {
    struct ledger_cmd cmd;
    int64_t funding_id;
    int64_t amount_minor;
    int64_t account_id;
};

static enum qb_error S_merchant_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct S_merchant_cmd *c = (struct S_merchant_cmd *)cmd;
    struct ledger_account_spec spec = {S_MERCHANT_LABEL, currency_find("CNY"),
                                       LEDGER_ACCOUNT_MERCHANT, 0, 0};
    enum qb_error err = ledger_txn_account_create(txn, &spec, &c->account_id);
    if (err != QB_OK)
        return err;
    const struct ledger_leg legs[2] = {{c->funding_id, -c->amount_minor},
                                       {c->account_id, c->amount_minor}};
    int64_t entry_id;
    return ledger_txn_post(txn, 1, "merchant-funding", legs, 2, &entry_id);
}

static int64_t S_merchant_account(struct wx *wx, int64_t amount_minor)
{
    struct S_merchant_cmd c = {.funding_id = wx->sys_id, .amount_minor = amount_minor};
    ledger_cmd_init(&c.cmd, S_merchant_run, NULL);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ledger_cmd_release(&c.cmd);
    return c.account_id;
}

/* A ledger with the wallet's accounts and a user, 张三, with a payment
 * password and a bound card: into *u and card_id. */
static struct wx *S_wx_with_card(struct identity_user *u, char card_id[ID_TEXT_SIZE_MAX])
{
    struct wx *wx = wx_new();
    ASSERT_EQ_INT(wallet_accounts_setup(wx->ledger, &wx->env), QB_OK);
    *u = wx_user(wx, "张三", true);
    char code[SMS_CODE_DIGITS + 1];
    wx_card_code(wx, u->id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, u->id, code, card_id), QB_OK);
    return wx;
}

/* Asserts the operator's whole check passes on wx's books. */
static void S_books_pass(struct wx *wx)
{
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    enum qb_error rc = wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL);
    if (rc != QB_OK)
        TEST_FAIL_("%s: %s", error_name(rc), report.problem);
}

/* Step 1, the start command, of a top-up or withdrawal of amount_minor to
 * or from card_id (from merchant_account_id when not 0): the payment,
 * PROCESSING. */
static struct wallet_payment S_start(struct wx *wx, const char *user_id, const char *card_id,
                                     enum wallet_payment_kind kind, int64_t amount_minor,
                                     int64_t merchant_account_id)
{
    struct wallet_pay_cmd c;
    wallet_pay_cmd_init(&c, &wx->env, kind);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.card_id, sizeof c.card_id, "%s", card_id);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", WX_PAY_PASSWORD);
    c.currency = currency_find("CNY");
    c.amount_minor = amount_minor;
    if (merchant_account_id != 0) {
        c.account_id = merchant_account_id;
        snprintf(c.account_label, sizeof c.account_label, "%s", S_MERCHANT_LABEL);
    }
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct wallet_payment p = c.payment;
    wallet_pay_cmd_release(&c);
    ASSERT_EQ_INT(p.status, WALLET_PROCESSING);
    return p;
}

/* Step 3, the finish command, with the bank's answer status (a failure
 * CARD_DECLINED): the payment as it is now. */
static struct wallet_payment S_finish(struct wx *wx, const char *payment_id,
                                      enum bank_status status)
{
    struct wallet_bank_answer answer;
    memset(&answer, 0, sizeof answer);
    answer.answered = true;
    answer.result.status = status;
    answer.result.failure =
        status == BANK_FAILED || status == BANK_RETURNED ? QB_E_CARD_DECLINED : QB_OK;
    struct wallet_finish_cmd c;
    wallet_finish_cmd_init(&c, &wx->env, payment_id, &answer);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    struct wallet_payment p = c.payment;
    ledger_cmd_release(&c.cmd);
    return p;
}

TEST(the_free_allowance_is_the_owners_across_their_wallet_and_merchant)
{
    /* With ¥100 of free allowance: a withdrawal from the owner's merchant uses it as one from
     * the wallet does (both reach the owner's card, and both are in the count it is measured
     * by); the one across its end pays the minimum on the part over it; a failed one gives its
     * part back, which the wallet's next withdrawal then gets, and the parts that paid the fee
     * take none of it. The books pass the check. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    wx->env.settings.withdrawal_free_quota_minor = 10000;
    int64_t merchant = S_merchant_account(wx, 50000);
    struct wallet_payment in = S_start(wx, u.id, card_id, WALLET_TOPUP, 30000, 0);
    ASSERT_EQ_INT(S_finish(wx, in.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);

    struct wallet_payment m1 = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 6000, merchant);
    ASSERT_EQ_INT(m1.fee_minor, 0);
    struct wallet_payment m2 = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 6000, merchant);
    ASSERT_EQ_INT(m2.fee_minor, 10); /* ¥20 over what was left: its 2 fen, the minimum 10 */
    struct wallet_payment w1 = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 1, 0);
    ASSERT_EQ_INT(w1.fee_minor, 10); /* all of it used, by the merchant's */
    ASSERT_EQ_INT(S_finish(wx, m1.id, BANK_FAILED).status, WALLET_FAILED);
    /* m1's ¥60 back, all of it: m2 used ¥40 and paid on its ¥20 over, w1 paid on its fen. */
    struct wallet_payment w2 = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 6000, 0);
    ASSERT_EQ_INT(w2.fee_minor, 0);
    struct wallet_payment w3 = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 1, 0);
    ASSERT_EQ_INT(w3.fee_minor, 10);
    ASSERT_EQ_INT(S_finish(wx, m2.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(S_finish(wx, w1.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(S_finish(wx, w2.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(S_finish(wx, w3.id, BANK_FAILED).status, WALLET_FAILED);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000 - 1 - 10 - 6000);
    ASSERT_EQ_INT(wx_balance(wx, merchant), 50000 - 6000 - 10);

    S_books_pass(wx);
    wx_free(wx);
}

TEST(a_part_over_the_allowance_edited_by_hand_stops_its_withdrawal_not_the_daemon)
{
    /* A withdrawal's part over the free allowance made larger than the withdrawal by hand (the
     * user's count raised to match, so the sums agree): its failure settles nothing, the
     * payment left PROCESSING for an operator to mend, its next question to the bank a minute
     * away (not at the worker's next pass), and nothing taken back off the counts; the process
     * goes on (it once failed an assertion, at every start, as the worker asked the bank
     * again). The operator's check names the row. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    wx->env.settings.withdrawal_free_quota_minor = 1000;
    struct wallet_payment in = S_start(wx, u.id, card_id, WALLET_TOPUP, 30000, 0);
    ASSERT_EQ_INT(S_finish(wx, in.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    struct wallet_payment w = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 5000, 0);
    ASSERT_EQ_INT(w.status, WALLET_PROCESSING);
    char edit[512];
    snprintf(edit, sizeof edit,
             "UPDATE withdrawals_over SET over_minor = 9000 WHERE seq = %lld;"
             " UPDATE spending SET withdrawn_over_minor = withdrawn_over_minor + 5000"
             " WHERE user_id = '%s'",
             (long long)w.seq, u.id);
    wx_hand_edit(wx, edit);

    struct wallet_bank_answer answer;
    memset(&answer, 0, sizeof answer);
    answer.answered = true;
    answer.result.status = BANK_FAILED;
    answer.result.failure = QB_E_CARD_DECLINED;
    struct wallet_finish_cmd c;
    wallet_finish_cmd_init(&c, &wx->env, w.id, &answer);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_E_INTERNAL);
    ASSERT(!c.changed);
    ledger_cmd_release(&c.cmd);
    struct wallet_payment now;
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, w.id, u.id, &now), QB_OK);
    ASSERT_EQ_INT(now.status, WALLET_PROCESSING);
    ASSERT(now.next_check_at_ms >= clock_now_ms(&wx->clock) + WALLET_UNPOSTABLE_RETRY_MS);
    const struct store_param who[] = {STORE_TEXT(u.id)};
    int64_t withdrawn = 0;
    ASSERT_EQ_INT(store_int64(wx->reader, "SELECT withdrawn_minor FROM spending WHERE user_id = $1",
                              who, QB_ARRAY_COUNT(who), &withdrawn),
                  QB_OK);
    ASSERT_EQ_INT(withdrawn, 5000);

    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                  QB_E_INTERNAL);
    ASSERT(strstr(report.problem, "does not fit a withdrawal") != NULL);
    wx_free(wx);
}

TEST(an_open_payment_is_asked_about_ever_more_rarely)
{
    /* The worker asks about a payment the bank left open after an eighth of its age, no sooner
     * than the floor (2 s after PENDING, the 6 s grace after no answer) and no later than
     * 10 minutes: a payment the bank keeps over a weekend is not asked about every 2 s. */
    const int64_t pending = 2000, grace = WALLET_BANK_GRACE_MS;
    ASSERT_EQ_INT(wallet_bank_next_check_ms(0, 1000, pending), 3000);
    ASSERT_EQ_INT(wallet_bank_next_check_ms(0, 16000, pending), 18000);
    ASSERT_EQ_INT(wallet_bank_next_check_ms(0, 80000, pending), 90000);
    ASSERT_EQ_INT(wallet_bank_next_check_ms(0, 7200000, pending), 7200000 + 600000);
    ASSERT_EQ_INT(wallet_bank_next_check_ms(5000, 10000, grace), 10000 + grace);
    ASSERT_EQ_INT(wallet_bank_next_check_ms(0, 80000, grace), 90000);
    ASSERT_EQ_INT(wallet_bank_next_check_ms(9000, 5000, pending), 7000); /* a clock set back */
    ASSERT_EQ_INT(wallet_bank_next_check_ms(0, 100000000, 700000), 100700000); /* floor rules */
    /* Over 60 hours of a bank saying PENDING: a few hundred queries, not 108,000. */
    int queries = 0;
    for (int64_t at = 0; at < 60LL * 3600 * 1000; at = wallet_bank_next_check_ms(0, at, pending))
        queries++;
    ASSERT(queries > 300 && queries < 450);

    /* The finish command schedules by it, answered PENDING or not answered at all. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    struct wallet_payment in = S_start(wx, u.id, card_id, WALLET_TOPUP, 30000, 0);
    ASSERT_EQ_INT(S_finish(wx, in.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    struct wallet_payment out = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 10000, 0);
    wx_clock_to(wx, out.created_at_ms + 3000);
    struct wallet_payment p = S_finish(wx, out.id, BANK_PENDING);
    ASSERT_EQ_INT(p.status, WALLET_PROCESSING);
    ASSERT_EQ_INT(p.next_check_at_ms, out.created_at_ms + 3000 + pending);
    wx_clock_to(wx, out.created_at_ms + 3600000);
    p = S_finish(wx, out.id, BANK_PENDING);
    ASSERT_EQ_INT(p.next_check_at_ms, out.created_at_ms + 3600000 + 450000);
    wx_clock_to(wx, out.created_at_ms + 4000000);
    struct wallet_bank_answer none;
    memset(&none, 0, sizeof none);
    struct wallet_finish_cmd c;
    wallet_finish_cmd_init(&c, &wx->env, out.id, &none);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.payment.status, WALLET_PROCESSING);
    ASSERT_EQ_INT(c.payment.next_check_at_ms, out.created_at_ms + 4000000 + 500000);
    ledger_cmd_release(&c.cmd);
    wx_free(wx);
}

/* Runs sql by hand (%s: payment_id), then asserts the operator's whole
 * check finds it, naming want in its problem, then runs undo (%s as well)
 * and asserts the check passes again. */
/* The count of the last withdrawal's part over the allowance moved by it (sign + or -). */
#define S_OVER_COUNTED(sign)                                                                       \
    "UPDATE spending SET withdrawn_over_minor = withdrawn_over_minor " sign                        \
    " (SELECT over_minor FROM withdrawals_over ORDER BY seq DESC LIMIT 1)"                         \
    " WHERE user_id = (SELECT p.user_id FROM payments p"                                           \
    " WHERE p.seq = (SELECT max(seq) FROM withdrawals_over))"

static void S_tamper(struct wx *wx, const char *sql, const char *undo, const char *payment_id,
                     const char *want)
{
    char edit[512];
    snprintf(edit, sizeof edit, sql, payment_id);
    wx_hand_edit(wx, edit);
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    enum qb_error rc = wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL);
    if (rc != QB_E_INTERNAL || strstr(report.problem, want) == NULL)
        TEST_FAIL_("after \"%s\": %s, \"%s\", not \"%s\"", edit, error_name(rc),
                   rc == QB_OK ? "" : report.problem, want);
    snprintf(edit, sizeof edit, undo, payment_id);
    wx_hand_edit(wx, edit);
    rc = wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL);
    if (rc != QB_OK)
        TEST_FAIL_("after \"%s\": %s: %s", edit, error_name(rc), report.problem);
}

TEST(the_check_finds_a_bank_payment_its_journal_does_not_bear_out)
{
    /* Top-ups and withdrawals (a user's and a merchant's) made through the
     * real start and finish commands, in each state the bank can leave
     * them, pass the operator's check; a payment row edited behind the
     * ledger's back (another amount, fee, status or account than its
     * entries and hold say), or gone while its entries stay, is named by
     * it, since the bank is paid or owed by what those rows say. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    int64_t merchant = S_merchant_account(wx, 50000);

    struct wallet_payment topup_ok = S_start(wx, u.id, card_id, WALLET_TOPUP, 30000, 0);
    ASSERT_EQ_INT(S_finish(wx, topup_ok.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    struct wallet_payment topup_failed = S_start(wx, u.id, card_id, WALLET_TOPUP, 2000, 0);
    ASSERT_EQ_INT(S_finish(wx, topup_failed.id, BANK_FAILED).status, WALLET_FAILED);
    struct wallet_payment topup_pending = S_start(wx, u.id, card_id, WALLET_TOPUP, 3000, 0);
    ASSERT_EQ_INT(S_finish(wx, topup_pending.id, BANK_PENDING).status, WALLET_PROCESSING);
    struct wallet_payment out_ok = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 10000, 0);
    ASSERT(out_ok.fee_minor > 0);
    ASSERT_EQ_INT(S_finish(wx, out_ok.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    struct wallet_payment out_failed = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 4000, 0);
    ASSERT_EQ_INT(S_finish(wx, out_failed.id, BANK_FAILED).status, WALLET_FAILED);
    struct wallet_payment out_pending = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 5000, 0);
    struct wallet_payment merchant_ok =
        S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 20000, merchant);
    ASSERT_EQ_INT(S_finish(wx, merchant_ok.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    struct wallet_payment merchant_pending =
        S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 6000, merchant);
    /* the user's balance: 30000 in, 10000 + fee out, 5000 + fee held */
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000 - 10000 - out_ok.fee_minor);

    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    enum qb_error rc = wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL);
    if (rc != QB_OK)
        TEST_FAIL_("untampered: %s: %s", error_name(rc), report.problem);

    /* Top-ups: credited another amount than the row says; a failed or
     * pending one said to have succeeded, with nothing posted; a
     * succeeded one said to have failed, with its posting standing; one
     * gone, its posting standing. */
    S_tamper(wx, "UPDATE payments SET amount_minor = amount_minor + 1 WHERE id = '%s'",
             "UPDATE payments SET amount_minor = amount_minor - 1 WHERE id = '%s'", topup_ok.id,
             topup_ok.id);
    S_tamper(wx, "UPDATE payments SET status = 2 WHERE id = '%s'",
             "UPDATE payments SET status = 3 WHERE id = '%s'", topup_failed.id, topup_failed.id);
    S_tamper(wx, "UPDATE payments SET status = 2 WHERE id = '%s'",
             "UPDATE payments SET status = 1 WHERE id = '%s'", topup_pending.id, topup_pending.id);
    S_tamper(wx, "UPDATE payments SET status = 3 WHERE id = '%s'",
             "UPDATE payments SET status = 2 WHERE id = '%s'", topup_ok.id, topup_ok.id);
    S_tamper(wx, "UPDATE payments SET kind = 3 WHERE id = '%s'",
             "UPDATE payments SET kind = 1 WHERE id = '%s'", topup_ok.id, "top-up");
    /* One naming another entry, a user who is not one, or a status no
     * version writes. */
    S_tamper(wx, "UPDATE payments SET entry_id = entry_id + 1 WHERE id = '%s'",
             "UPDATE payments SET entry_id = entry_id - 1 WHERE id = '%s'", topup_ok.id,
             topup_ok.id);
    S_tamper(wx, "UPDATE payments SET user_id = 'u_' || user_id WHERE id = '%s'",
             "UPDATE payments SET user_id = substr(user_id, 3) WHERE id = '%s'", topup_ok.id,
             topup_ok.id);
    S_tamper(wx, "UPDATE payments SET status = 9 WHERE id = '%s'",
             "UPDATE payments SET status = 2 WHERE id = '%s'", topup_ok.id, topup_ok.id);
    /* A succeeded one said to be a withdrawal: no hold of it. */
    S_tamper(wx, "UPDATE payments SET kind = 2 WHERE id = '%s'",
             "UPDATE payments SET kind = 1 WHERE id = '%s'", topup_ok.id, topup_ok.id);

    /* Withdrawals: a pending one held for another amount; a captured one
     * said to have failed, or to have paid another fee, or the same total
     * split otherwise between amount and fee; a released one
     * said to be pending still; a pending one said paid; one gone, its
     * hold standing. */
    S_tamper(wx, "UPDATE payments SET amount_minor = amount_minor - 1 WHERE id = '%s'",
             "UPDATE payments SET amount_minor = amount_minor + 1 WHERE id = '%s'", out_pending.id,
             out_pending.id);
    S_tamper(wx, "UPDATE payments SET status = 3 WHERE id = '%s'",
             "UPDATE payments SET status = 2 WHERE id = '%s'", out_ok.id, out_ok.id);
    S_tamper(wx, "UPDATE payments SET fee_minor = fee_minor + 1 WHERE id = '%s'",
             "UPDATE payments SET fee_minor = fee_minor - 1 WHERE id = '%s'", out_ok.id, out_ok.id);
    /* The same amount + fee held and captured, more of it said to be the
     * fee than fee income got. */
    S_tamper(wx,
             "UPDATE payments SET amount_minor = amount_minor - 1, fee_minor = fee_minor + 1"
             " WHERE id = '%s'",
             "UPDATE payments SET amount_minor = amount_minor + 1, fee_minor = fee_minor - 1"
             " WHERE id = '%s'",
             out_ok.id, out_ok.id);
    S_tamper(wx, "UPDATE payments SET status = 1 WHERE id = '%s'",
             "UPDATE payments SET status = 3 WHERE id = '%s'", out_failed.id, out_failed.id);
    S_tamper(wx, "UPDATE payments SET status = 2 WHERE id = '%s'",
             "UPDATE payments SET status = 1 WHERE id = '%s'", out_pending.id, out_pending.id);
    S_tamper(wx, "UPDATE payments SET kind = 7 WHERE id = '%s'",
             "UPDATE payments SET kind = 2 WHERE id = '%s'", out_failed.id, "withdrawal");

    /* A merchant's withdrawal said to have come from its owner's own
     * balance, or the other way round. */
    S_tamper(wx, "UPDATE payments SET counterparty_id = '' WHERE id = '%s'",
             "UPDATE payments SET counterparty_id = '" S_MERCHANT_LABEL "' WHERE id = '%s'",
             merchant_pending.id, merchant_pending.id);
    S_tamper(wx, "UPDATE payments SET counterparty_id = '" S_MERCHANT_LABEL "' WHERE id = '%s'",
             "UPDATE payments SET counterparty_id = '' WHERE id = '%s'", out_ok.id, out_ok.id);
    S_tamper(wx, "UPDATE payments SET amount_minor = amount_minor + 1 WHERE id = '%s'",
             "UPDATE payments SET amount_minor = amount_minor - 1 WHERE id = '%s'", merchant_ok.id,
             merchant_ok.id);

    /* What the user withdrew, counted for a KYC level 1 wallet's lifetime limit and the free
     * allowance, lowered or cleared by hand. */
    S_tamper(wx, "UPDATE spending SET withdrawn_minor = withdrawn_minor - 1 WHERE user_id = '%s'",
             "UPDATE spending SET withdrawn_minor = withdrawn_minor + 1 WHERE user_id = '%s'", u.id,
             "counted as having withdrawn");
    /* The part over the free allowance raised by hand (which would give the allowance back),
     * in the count or as a withdrawal's; or made more than its withdrawal, the count raised to
     * match. */
    S_tamper(wx,
             "UPDATE spending SET withdrawn_over_minor = withdrawn_over_minor + 1"
             " WHERE user_id = '%s'",
             "UPDATE spending SET withdrawn_over_minor = withdrawn_over_minor - 1"
             " WHERE user_id = '%s'",
             u.id, "over their free allowance");
    S_tamper(wx,
             "INSERT INTO withdrawals_over (seq, over_minor)"
             " SELECT seq, 1 FROM payments WHERE id = '%s'",
             "DELETE FROM withdrawals_over WHERE seq = (SELECT seq FROM payments WHERE id = '%s')",
             out_ok.id, "over their free allowance");
    S_tamper(wx,
             "INSERT INTO withdrawals_over (seq, over_minor)"
             " SELECT seq, amount_minor + 1 FROM payments WHERE id = '%s';" S_OVER_COUNTED("+"),
             S_OVER_COUNTED("-") "; DELETE FROM withdrawals_over"
                                 " WHERE seq = (SELECT seq FROM payments WHERE id = '%s')",
             out_ok.id, "does not fit a withdrawal");
    wx_free(wx);
}

TEST(a_withdrawal_the_bank_takes_back_is_returned_once_and_checked)
{
    /* The bank's RETURNED (退票) for a paid withdrawal, a user's or a merchant's: amount and fee
     * back to the account it left, RETURNED with the bank's reason, once however often it is
     * said. For one still PROCESSING it is paid and returned at once; for a top-up it is a
     * failure; a failed withdrawal is left alone. The books pass the check, and a row edited
     * behind the ledger's back (the return's status, fee or entry) is named by it. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    int64_t merchant = S_merchant_account(wx, 50000);
    struct wallet_payment in = S_start(wx, u.id, card_id, WALLET_TOPUP, 30000, 0);
    ASSERT_EQ_INT(S_finish(wx, in.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);

    struct wallet_payment paid = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 10000, 0);
    ASSERT_EQ_INT(paid.fee_minor, 10);
    ASSERT_EQ_INT(S_finish(wx, paid.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000 - 10010);
    struct wallet_payment back = S_finish(wx, paid.id, BANK_RETURNED);
    ASSERT_EQ_INT(back.status, WALLET_RETURNED);
    ASSERT_EQ_STR(back.failure_code, "CARD_DECLINED");
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000);
    ASSERT_EQ_INT(S_finish(wx, paid.id, BANK_RETURNED).status, WALLET_RETURNED);
    ASSERT_EQ_INT(S_finish(wx, paid.id, BANK_SUCCEEDED).status, WALLET_RETURNED);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000);

    struct wallet_payment open = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 5000, 0);
    ASSERT_EQ_INT(S_finish(wx, open.id, BANK_RETURNED).status, WALLET_RETURNED);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000);
    struct wallet_payment topup = S_start(wx, u.id, card_id, WALLET_TOPUP, 2000, 0);
    ASSERT_EQ_INT(S_finish(wx, topup.id, BANK_RETURNED).status, WALLET_FAILED);
    struct wallet_payment failed = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 1000, 0);
    ASSERT_EQ_INT(S_finish(wx, failed.id, BANK_FAILED).status, WALLET_FAILED);
    ASSERT_EQ_INT(S_finish(wx, failed.id, BANK_RETURNED).status, WALLET_FAILED);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000);

    /* A merchant's, paid an hour after it was made and taken back a day later: what it held
     * at a moment is what it held then, the hour between its start and its capture, whatever
     * became of it since (the merchant's day-end balance). */
    struct wallet_payment mine = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 20000, merchant);
    int64_t made_ms = clock_now_ms(&wx->clock);
    clock_manual_advance(&wx->clock, WX_HOUR_MS);
    ASSERT_EQ_INT(S_finish(wx, mine.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    int64_t paid_ms = clock_now_ms(&wx->clock);
    ASSERT_EQ_INT(wx_balance(wx, merchant), 50000 - 20020);
    clock_manual_advance(&wx->clock, WX_DAY_MS);
    ASSERT_EQ_INT(S_finish(wx, mine.id, BANK_RETURNED).status, WALLET_RETURNED);
    ASSERT_EQ_INT(wx_balance(wx, merchant), 50000);
    int64_t held = -1;
    ASSERT_EQ_INT(wallet_withdrawals_held_at(wx->reader, S_MERCHANT_LABEL, made_ms + 1, &held),
                  QB_OK);
    ASSERT_EQ_INT(held, 20020);
    ASSERT_EQ_INT(wallet_withdrawals_held_at(wx->reader, S_MERCHANT_LABEL, paid_ms, &held), QB_OK);
    ASSERT_EQ_INT(held, 20020);
    ASSERT_EQ_INT(wallet_withdrawals_held_at(wx->reader, S_MERCHANT_LABEL, paid_ms + 1, &held),
                  QB_OK);
    ASSERT_EQ_INT(held, 0);
    ASSERT_EQ_INT(wallet_withdrawals_held_at(wx->reader, S_MERCHANT_LABEL,
                                             clock_now_ms(&wx->clock) + 1, &held),
                  QB_OK);
    ASSERT_EQ_INT(held, 0);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 30000);
    S_books_pass(wx);

    S_tamper(wx, "UPDATE payments SET status = 2 WHERE id = '%s'",
             "UPDATE payments SET status = 4 WHERE id = '%s'", paid.id, paid.id);
    S_tamper(wx, "UPDATE payments SET fee_minor = fee_minor + 1 WHERE id = '%s'",
             "UPDATE payments SET fee_minor = fee_minor - 1 WHERE id = '%s'", paid.id, paid.id);
    S_tamper(wx, "UPDATE payments SET entry_id = entry_id - 1 WHERE id = '%s'",
             "UPDATE payments SET entry_id = entry_id + 1 WHERE id = '%s'", mine.id, mine.id);
    S_tamper(wx, "UPDATE payments SET failure_code = '' WHERE id = '%s'",
             "UPDATE payments SET failure_code = 'CARD_DECLINED' WHERE id = '%s'", open.id,
             open.id);
    S_tamper(wx, "UPDATE payments SET counterparty_id = '' WHERE id = '%s'",
             "UPDATE payments SET counterparty_id = '" S_MERCHANT_LABEL "' WHERE id = '%s'",
             mine.id, mine.id);
    /* A paid one said to be returned, with no return in the journal. */
    S_tamper(wx, "UPDATE payments SET status = 4, failure_code = 'CARD_DECLINED' WHERE id = '%s'",
             "UPDATE payments SET status = 2, failure_code = '' WHERE id = '%s'", in.id, in.id);
    wx_free(wx);
}

TEST(a_withdrawal_taken_back_after_its_merchant_closed_goes_to_its_owners_wallet)
{
    /* The owner withdrew all of the merchant and closed it; the bank then took the withdrawal
     * back. The closed account takes nothing, for good: the money goes to the owner's wallet,
     * as what was left of the merchant at its closing did, and the books pass. A wallet that
     * takes nothing either (frozen that way) leaves it waiting in bank clearing. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    int64_t merchant = S_merchant_account(wx, 50000);
    struct wallet_payment all = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 49950, merchant);
    ASSERT_EQ_INT(all.fee_minor, 50);
    ASSERT_EQ_INT(S_finish(wx, all.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, merchant), 0);
    wx_flags_set(wx, merchant, LEDGER_ACCOUNT_CLOSED);
    wx_flags_set(wx, u.account_id, LEDGER_ACCOUNT_CREDIT_FROZEN);
    ASSERT_EQ_INT(S_finish(wx, all.id, BANK_RETURNED).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 0);
    wx_flags_set(wx, u.account_id, 0);
    struct wallet_payment back = S_finish(wx, all.id, BANK_RETURNED);
    ASSERT_EQ_INT(back.status, WALLET_RETURNED);
    ASSERT_EQ_INT(wx_balance(wx, merchant), 0);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 50000);
    ASSERT_EQ_INT(S_finish(wx, all.id, BANK_RETURNED).status, WALLET_RETURNED);
    ASSERT_EQ_INT(wx_balance(wx, u.account_id), 50000);
    S_books_pass(wx);
    wx_free(wx);
}

/* The send command (wallet_send_cmd) of payment_id: whether it lets the
 * payment go, and the payment as it is then into out. */
static bool S_send(struct wx *wx, const char *payment_id, struct wallet_payment *out)
{
    struct wallet_send_cmd c;
    wallet_send_cmd_init(&c, &wx->env, payment_id);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    *out = c.payment;
    ledger_cmd_release(&c.cmd);
    return c.send;
}

static bool S_merchant_suspended;

/* env.payout_check as a suspended merchant answers it. */
static enum qb_error S_payout_check(struct ledger_txn *txn, const struct domain_env *env,
                                    const char *account_label)
{
    (void)txn;
    (void)env;
    ASSERT_EQ_STR(account_label, S_MERCHANT_LABEL);
    return S_merchant_suspended ? QB_E_ACCOUNT_FROZEN : QB_OK;
}

TEST(a_payment_is_sent_only_while_its_account_is_as_its_start_found_it)
{
    /* Between a payment's start and its submission the wallet may be
     * frozen or the merchant suspended. The last word before sending lets
     * a payment go only while its start's rules still hold; else it fails
     * it there, ACCOUNT_FROZEN, a withdrawal's hold released, and the
     * books still bear every payment out. One resolved already is left as
     * it is, and not sent. */
    struct identity_user u;
    char card_id[ID_TEXT_SIZE_MAX];
    struct wx *wx = S_wx_with_card(&u, card_id);
    wx->env.payout_check = S_payout_check;
    S_merchant_suspended = false;
    int64_t merchant = S_merchant_account(wx, 50000);
    struct wallet_payment topup = S_start(wx, u.id, card_id, WALLET_TOPUP, 30000, 0);
    ASSERT_EQ_INT(S_finish(wx, topup.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    int64_t balance = wx_balance(wx, u.account_id);

    struct wallet_payment p, sent = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 1000, 0);
    ASSERT(S_send(wx, sent.id, &p));
    ASSERT_EQ_INT(p.status, WALLET_PROCESSING);
    struct wallet_payment own = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 2000, 0);
    struct wallet_payment shop = S_start(wx, u.id, card_id, WALLET_WITHDRAWAL, 3000, merchant);
    struct wallet_payment in = S_start(wx, u.id, card_id, WALLET_TOPUP, 4000, 0);

    /* The merchant suspended: its withdrawal stays, the owner's own go. */
    S_merchant_suspended = true;
    ASSERT(!S_send(wx, shop.id, &p));
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "ACCOUNT_FROZEN");
    ASSERT_EQ_INT(wx_balance(wx, merchant), 50000);
    S_merchant_suspended = false;

    /* The owner frozen by an operator: neither their withdrawal nor their
     * top-up goes; the one let go before resolves as the bank says. */
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_FREEZE, u.id, 0, NULL), QB_OK);
    ASSERT(!S_send(wx, own.id, &p));
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "ACCOUNT_FROZEN");
    ASSERT(!S_send(wx, in.id, &p));
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "ACCOUNT_FROZEN");
    ASSERT_EQ_INT(S_finish(wx, sent.id, BANK_SUCCEEDED).status, WALLET_SUCCESS);
    ASSERT(!S_send(wx, sent.id, &p)); /* resolved: nothing to send, nothing changed */
    ASSERT_EQ_INT(p.status, WALLET_SUCCESS);
    struct ledger_account_view view;
    ASSERT_EQ_INT(ledger_account_view(wx->ledger, u.account_id, &view), QB_OK);
    ASSERT_EQ_INT(view.held_minor, 0);
    ASSERT(view.balance_minor < balance - 1000); /* the sent one and its fee, no more */
    ASSERT(view.balance_minor >= balance - 1000 - 1000);

    S_books_pass(wx);
    wx_free(wx);
}

int main(void)
{
    RUN(withdrawal_fee_rounds_up_and_has_a_floor);
    RUN(withdrawal_fee_is_on_the_part_over_the_free_allowance);
    RUN(withdrawal_max_is_the_largest_amount_the_balance_covers_with_its_fee);
    RUN(payment_json_has_one_shape);
    RUN(sms_target_is_the_whole_card_number_keyed);
    RUN(payments_made_before_they_were_keyed_by_id_are_kept);
    RUN(payments_made_before_they_were_keyed_by_seq_are_found_by_id);
    RUN(what_withdrawals_held_at_a_days_end);
    RUN(the_check_finds_a_bank_payment_its_journal_does_not_bear_out);
    RUN(the_free_allowance_is_the_owners_across_their_wallet_and_merchant);
    RUN(a_part_over_the_allowance_edited_by_hand_stops_its_withdrawal_not_the_daemon);
    RUN(an_open_payment_is_asked_about_ever_more_rarely);
    RUN(a_withdrawal_the_bank_takes_back_is_returned_once_and_checked);
    RUN(a_withdrawal_taken_back_after_its_merchant_closed_goes_to_its_owners_wallet);
    RUN(a_payment_is_sent_only_while_its_account_is_as_its_start_found_it);
    return test_summary();
}
