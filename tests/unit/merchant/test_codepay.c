/*
 * test_codepay.c — payment codes at the server (src/merchant/paycode.c) on
 * a real ledger with the manual clock: the window to the millisecond at
 * step boundaries, the lock expiring after its time, the password-free
 * count rolling over at midnight, a USERPAYING order revoked exactly at
 * its deadline (on read and by the worker), reversal's one entry, after
 * which the whole stored ledger still verifies (wx_free), and the day's
 * count of devices added ending to the millisecond.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/luhn.h"
#include "merchant/paycode.h"
#include "store/pool.h"
#include "unit/merchant/merchant_fixture.h"


/* Submits the code of (step, counter) for total; answers the stored status
 * and the outcome, the order into *out. */
static int S_codepay_code(struct mx_shop *f, const char *code, int64_t total, enum qb_error *outcome,
                          struct merchant_order *out)
{
    struct merchant_codepay_cmd c;
    merchant_codepay_cmd_init(&c, &f->wx->env);
    struct merchant_order *o = &c.order;
    snprintf(o->mchid, sizeof o->mchid, "%s", f->m.mchid);
    snprintf(o->appid, sizeof o->appid, "%s", f->m.appid);
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "unit-%06d", ++f->seq);
    snprintf(o->description, sizeof o->description, "水");
    o->currency = currency_find("CNY");
    o->total_minor = total;
    memset(o->request_hash, f->seq & 0xff, sizeof o->request_hash);
    snprintf(c.auth_code, sizeof c.auth_code, "%s", code);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    int status = 0;
    const char *body;
    size_t size;
    ASSERT(domain_response_get(&c.cmd, &status, &body, &size));
    *outcome = c.outcome;
    if (out != NULL)
        *out = c.order;
    ledger_cmd_release(&c.cmd);
    return status;
}

static int S_codepay(struct mx_shop *f, int64_t step, int counter, int64_t total,
                     enum qb_error *outcome, struct merchant_order *out)
{
    char code[PAYCODE_TEXT_SIZE];
    paycode_format(f->seed, step, f->slot, (uint8_t)counter, code);
    return S_codepay_code(f, code, total, outcome, out);
}

static int64_t S_now(struct mx_shop *f) { return clock_now_ms(&f->wx->clock); }

TEST(the_window_holds_to_the_millisecond)
{
    // A code of step s is accepted until the last millisecond of step s + 1 and refused from
    // the first of s + 2; a code of s + 1 is accepted from the first millisecond of s.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    int64_t s = paycode_step(S_now(&f)) + 1;
    wx_clock_to(f.wx, s * PAYCODE_STEP_MS); /* the first millisecond of s */
    enum qb_error outcome;
    ASSERT_EQ_INT(S_codepay(&f, s + 1, 0, 100, &outcome, NULL), 200);
    ASSERT_EQ_INT(S_codepay(&f, s + 2, 0, 100, &outcome, NULL), 400);
    ASSERT_EQ_INT(outcome, QB_E_AUTH_CODE_INVALID);
    wx_clock_to(f.wx, (s + 2) * PAYCODE_STEP_MS - 1); /* the last millisecond of s + 1 */
    ASSERT_EQ_INT(S_codepay(&f, s, 1, 100, &outcome, NULL), 200);
    wx_clock_to(f.wx, (s + 2) * PAYCODE_STEP_MS); /* s is two steps behind now */
    ASSERT_EQ_INT(S_codepay(&f, s, 2, 100, &outcome, NULL), 400);
    ASSERT_EQ_INT(outcome, QB_E_AUTH_CODE_INVALID);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 200);
    wx_free(f.wx);
}

TEST(a_codes_use_is_kept_a_day_not_for_ever)
{
    // paycode_used remembers a code's use so that it pays once; it can come again only in its
    // two steps, yet every use ever made was kept: a row per payment by code, for ever. Uses a
    // day old go with the next payment, and a code still cannot pay twice.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    enum qb_error outcome;
    int64_t s = paycode_step(S_now(&f));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(S_codepay(&f, s, i, 100, &outcome, NULL), 200);
    int64_t used = -1;
    ASSERT_EQ_INT(store_int64(f.wx->reader, "SELECT count(*) FROM paycode_used", NULL, 0, &used),
                  QB_OK);
    ASSERT_EQ_INT(used, 3);
    wx_clock_to(f.wx, S_now(&f) + 2LL * 24 * 3600 * 1000);
    s = paycode_step(S_now(&f));
    ASSERT_EQ_INT(S_codepay(&f, s, 0, 100, &outcome, NULL), 200);
    ASSERT_EQ_INT(store_int64(f.wx->reader, "SELECT count(*) FROM paycode_used", NULL, 0, &used),
                  QB_OK);
    ASSERT_EQ_INT(used, 1);
    ASSERT_EQ_INT(S_codepay(&f, s, 0, 100, &outcome, NULL), 400);
    ASSERT_EQ_INT(outcome, QB_E_AUTH_CODE_INVALID);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 400);
    wx_free(f.wx);
}

TEST(a_locked_slot_opens_again_after_its_lock)
{
    // Five wrong codes lock the slot for 15 minutes: a right code is refused one millisecond
    // before the end and accepted at it; a right code in between resets nothing it should not.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    int64_t s = paycode_step(S_now(&f));
    char wrong[PAYCODE_TEXT_SIZE];
    enum qb_error outcome;
    for (int i = 0; i < 5; i++) {
        paycode_format(f.seed, s, f.slot, 0, wrong);
        wrong[10] = (char)('0' + (wrong[10] - '0' + 1 + i) % 10);
        wrong[17] = (char)('0' + luhn_check_digit(wrong, 17));
        ASSERT_EQ_INT(S_codepay_code(&f, wrong, 100, &outcome, NULL), 400);
    }
    int64_t locked_at = S_now(&f);
    int64_t lock_end = locked_at + f.wx->env.settings.paycode_lock_ms;
    wx_clock_to(f.wx, lock_end - 1);
    ASSERT_EQ_INT(S_codepay(&f, paycode_step(S_now(&f)), 0, 100, &outcome, NULL), 400);
    wx_clock_to(f.wx, lock_end);
    ASSERT_EQ_INT(S_codepay(&f, paycode_step(S_now(&f)), 1, 100, &outcome, NULL), 200);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 100);
    wx_free(f.wx);
}

TEST(four_wrong_codes_and_a_right_one_reset_the_count)
{
    // The count is of wrong codes in a row: a right code in between starts it again.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    int64_t s = paycode_step(S_now(&f));
    char wrong[PAYCODE_TEXT_SIZE];
    enum qb_error outcome;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++) {
            paycode_format(f.seed, s, f.slot, 9, wrong);
            wrong[10] = (char)('0' + (wrong[10] - '0' + 1 + i) % 10);
            wrong[17] = (char)('0' + luhn_check_digit(wrong, 17));
            ASSERT_EQ_INT(S_codepay_code(&f, wrong, 100, &outcome, NULL), 400);
        }
        ASSERT_EQ_INT(S_codepay(&f, s, round, 100, &outcome, NULL), 200);
    }
    wx_free(f.wx);
}

TEST(the_password_free_count_rolls_over_at_midnight)
{
    // Five password-free code payments today; the sixth waits; after midnight (UTC+8) five
    // more go through without the password.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    enum qb_error outcome;
    int64_t s = paycode_step(S_now(&f));
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(S_codepay(&f, s, i, 100, &outcome, NULL), 200);
    ASSERT_EQ_INT(S_codepay(&f, s, 5, 100, &outcome, NULL), 202);
    wx_clock_to(f.wx, domain_day_start_ms(S_now(&f)) + WX_DAY_MS);
    s = paycode_step(S_now(&f));
    ASSERT_EQ_INT(S_codepay(&f, s, 0, 100, &outcome, NULL), 200);
    // A payment above ¥200 always waits.
    ASSERT_EQ_INT(S_codepay(&f, s, 1, 20001, &outcome, NULL), 202);
    ASSERT_EQ_INT(S_codepay(&f, s, 2, 20000, &outcome, NULL), 200);
    wx_free(f.wx);
}

TEST(an_unconfirmed_order_is_revoked_at_its_deadline_on_read_and_by_the_worker)
{
    // USERPAYING until the last millisecond of the confirmation time, REVOKED from its end for
    // every reader; the worker then writes REVOKED once, and a confirmation is refused.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    enum qb_error outcome;
    struct merchant_order o;
    ASSERT_EQ_INT(S_codepay(&f, paycode_step(S_now(&f)), 0, 30000, &outcome, &o), 202);
    ASSERT_EQ_INT(o.state, MERCHANT_USERPAYING);
    ASSERT_EQ_INT(o.expires_at_ms - o.created_at_ms, f.wx->env.settings.paycode_confirm_ms);
    char err[256];
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_pool_open(f.wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    size_t revoked = 0;
    wx_clock_to(f.wx, o.expires_at_ms - 1);
    ASSERT_EQ_INT(merchant_order_state_at(&o, S_now(&f)), MERCHANT_USERPAYING);
    ASSERT_EQ_INT(merchant_paycode_worker_pass(&f.wx->env, pool, &revoked), QB_OK);
    ASSERT_EQ_INT(revoked, 0);
    wx_clock_to(f.wx, o.expires_at_ms);
    ASSERT_EQ_INT(merchant_order_state_at(&o, S_now(&f)), MERCHANT_REVOKED);
    ASSERT_EQ_INT(merchant_paycode_worker_pass(&f.wx->env, pool, &revoked), QB_OK);
    ASSERT_EQ_INT(revoked, 1);
    ASSERT_EQ_INT(merchant_paycode_worker_pass(&f.wx->env, pool, &revoked), QB_OK);
    ASSERT_EQ_INT(revoked, 0);
    struct merchant_order stored;
    ASSERT_EQ_INT(merchant_order_get(f.wx->reader, f.m.mchid, o.out_trade_no, NULL, &stored),
                  QB_OK);
    ASSERT_EQ_INT(stored.state, MERCHANT_REVOKED);

    struct merchant_order_pay_cmd c;
    merchant_order_pay_cmd_init(&c, &f.wx->env);
    snprintf(c.payer_id, sizeof c.payer_id, "%s", f.payer.id);
    snprintf(c.pay_token, sizeof c.pay_token, "%s", o.pay_token);
    c.has_payment_password = true;
    snprintf(c.payment_password, sizeof c.payment_password, WX_PAY_PASSWORD);
    ASSERT_EQ_INT(ledger_execute(f.wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_E_ORDER_CLOSED);
    ledger_cmd_release(&c.cmd);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000);
    store_pool_close(pool);
    wx_free(f.wx);
}

TEST(a_batch_of_orders_that_cannot_be_revoked_holds_up_none_after_them)
{
    // As many unconfirmed orders as the worker reads at a time (64) fail their revokes every
    // time (their rows damaged by hand), all due before a good one. The worker reads on after
    // a full batch, so the good one is still revoked, under a poll of an hour; before, every
    // pass read the same 64 and no order due after them was ever revoked.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    enum qb_error outcome;
    struct merchant_order o;
    ASSERT_EQ_INT(S_codepay(&f, paycode_step(S_now(&f)), 0, 30000, &outcome, &o), 202);
    char sql[16384];
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE bad AS SELECT * FROM orders WHERE transaction_id = '%s';"
             "UPDATE bad SET currency = 'XXX', expires_at_ms = expires_at_ms - 1;",
             o.transaction_id);
    char insert[256];
    for (int i = 0; i < 64; i++) {
        snprintf(insert, sizeof insert,
                 "UPDATE bad SET seq = %d, transaction_id = '%028d', out_trade_no = 'bad-%d',"
                 " pay_token = 'bad-%d';"
                 "INSERT INTO orders SELECT * FROM bad;",
                 1000000 + i, 1000000 + i, i, i);
        ASSERT(strlen(sql) + strlen(insert) < sizeof sql);
        strcat(sql, insert);
    }
    wx_hand_edit(f.wx, sql);
    wx_clock_to(f.wx, o.expires_at_ms);
    char err[256];
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_pool_open(f.wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    f.wx->env.settings.worker_poll_ms = 3600 * 1000;
    struct merchant_paycode_worker *w = NULL;
    ASSERT_EQ_INT(merchant_paycode_worker_start(&f.wx->env, pool, &w), QB_OK);
    struct merchant_order stored = {0};
    for (int waited_ms = 0; waited_ms < 30 * 1000; waited_ms += 10) {
        ASSERT_EQ_INT(merchant_order_get(f.wx->reader, f.m.mchid, o.out_trade_no, NULL, &stored),
                      QB_OK);
        if (stored.state == MERCHANT_REVOKED)
            break;
        usleep(10 * 1000);
    }
    merchant_paycode_worker_stop(w);
    store_pool_close(pool);
    ASSERT_EQ_INT(stored.state, MERCHANT_REVOKED);
    /* The damaged rows go, so that the fixture's whole check has only real orders to read. */
    wx_hand_edit(f.wx, "DELETE FROM orders WHERE seq >= 1000000");
    wx_free(f.wx);
}

TEST(reversal_returns_every_fen_in_one_entry)
{
    // A paid order reversed: the payer gets the total back, the merchant gives up the total less
    // the fee and fee income the fee; the ledger verifies afterwards.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    int64_t fee_before = wx_balance(f.wx, f.wx->env.accounts.fee_income);
    enum qb_error outcome;
    struct merchant_order o;
    ASSERT_EQ_INT(S_codepay(&f, paycode_step(S_now(&f)), 0, 12345, &outcome, &o), 200);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 12345 - 74);
    ASSERT_EQ_INT(wx_balance(f.wx, f.wx->env.accounts.fee_income) - fee_before, 74);
    struct merchant_reverse_cmd r;
    merchant_reverse_cmd_init(&r, &f.wx->env);
    snprintf(r.mchid, sizeof r.mchid, "%s", f.m.mchid);
    snprintf(r.out_trade_no, sizeof r.out_trade_no, "%s", o.out_trade_no);
    ASSERT_EQ_INT(ledger_execute(f.wx->ledger, &r.cmd), QB_OK);
    ASSERT_EQ_INT(r.cmd.result, QB_OK);
    ASSERT_EQ_INT(r.outcome, QB_OK);
    ASSERT_EQ_INT(r.order.state, MERCHANT_REVOKED);
    ledger_cmd_release(&r.cmd);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 0);
    ASSERT_EQ_INT(wx_balance(f.wx, f.wx->env.accounts.fee_income), fee_before);
    wx_free(f.wx);
}

TEST(a_low_balance_spends_the_code_and_fails_the_order)
{
    // The code is accepted once even when the payment fails: the order is PAYERROR, the answer
    // NOT_ENOUGH, and the same code again is refused as used.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    enum qb_error outcome;
    struct merchant_order o;
    int64_t s = paycode_step(S_now(&f));
    ASSERT_EQ_INT(S_codepay(&f, s, 0, 15000, &outcome, &o), 200);
    ASSERT_EQ_INT(S_codepay(&f, s, 1, 19000, &outcome, &o), 200);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 34000);
    struct wx_raw drain = {.kind = 3, .account_id = f.payer.account_id, .other_id = f.wx->sys_id,
                           .amount_minor = 66000};
    ASSERT_EQ_INT(wx_raw_exec(f.wx, &drain), QB_OK);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 0);
    ASSERT_EQ_INT(S_codepay(&f, s, 2, 100, &outcome, &o), 403);
    ASSERT_EQ_INT(outcome, QB_E_NOT_ENOUGH);
    struct merchant_order stored;
    ASSERT_EQ_INT(merchant_order_get(f.wx->reader, f.m.mchid, o.out_trade_no, NULL, &stored),
                  QB_OK);
    ASSERT_EQ_INT(stored.state, MERCHANT_PAYERROR);
    ASSERT_EQ_INT(S_codepay(&f, s, 2, 100, &outcome, &o), 400);
    ASSERT_EQ_INT(outcome, QB_E_AUTH_CODE_INVALID);
    wx_free(f.wx);
}

/* The payer's count of waiting payments that came or went (merchant_pending_changes). */
static int64_t S_pending(struct mx_shop *f)
{
    int64_t count = -1;
    ASSERT_EQ_INT(merchant_pending_changes(f->wx->reader, f->payer.id, &count), QB_OK);
    return count;
}

static void S_reverse(struct mx_shop *f, const char *out_trade_no)
{
    struct merchant_reverse_cmd r;
    merchant_reverse_cmd_init(&r, &f->wx->env);
    snprintf(r.mchid, sizeof r.mchid, "%s", f->m.mchid);
    snprintf(r.out_trade_no, sizeof r.out_trade_no, "%s", out_trade_no);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &r.cmd), QB_OK);
    ASSERT_EQ_INT(r.outcome, QB_OK);
    ledger_cmd_release(&r.cmd);
}

TEST(the_waiting_payments_count_changes_when_one_comes_or_goes_and_only_then)
{
    // The part of the wallet's changes cursor for payments waiting at a till: one more for each
    // order that comes to wait and each that leaves (confirmed, reversed, revoked by the
    // worker), so that one leaving while a later one waits shows; none for a code paid at once
    // or refused, which never waited, nor for a reversal of one revoked already.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000);
    enum qb_error outcome;
    struct merchant_order first, second, third, o;
    int64_t s = paycode_step(S_now(&f));
    ASSERT_EQ_INT(S_pending(&f), 0);
    ASSERT_EQ_INT(S_codepay(&f, s, 0, 100, &outcome, &o), 200);
    ASSERT_EQ_INT(S_pending(&f), 0);
    ASSERT_EQ_INT(S_codepay(&f, s, 1, 30000, &outcome, &first), 202);
    ASSERT_EQ_INT(S_codepay(&f, s, 2, 31000, &outcome, &second), 202);
    ASSERT_EQ_INT(S_pending(&f), 2);
    S_reverse(&f, first.out_trade_no); /* the earlier leaves, the later waits */
    ASSERT_EQ_INT(S_pending(&f), 3);
    S_reverse(&f, first.out_trade_no);
    ASSERT_EQ_INT(S_pending(&f), 3);

    struct merchant_order_pay_cmd c;
    merchant_order_pay_cmd_init(&c, &f.wx->env);
    snprintf(c.payer_id, sizeof c.payer_id, "%s", f.payer.id);
    snprintf(c.pay_token, sizeof c.pay_token, "%s", second.pay_token);
    c.has_payment_password = true;
    snprintf(c.payment_password, sizeof c.payment_password, WX_PAY_PASSWORD);
    ASSERT_EQ_INT(ledger_execute(f.wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    ledger_cmd_release(&c.cmd);
    ASSERT_EQ_INT(S_pending(&f), 4);

    ASSERT_EQ_INT(S_codepay(&f, s, 3, 32000, &outcome, &third), 202);
    ASSERT_EQ_INT(S_pending(&f), 5);
    char err[256];
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_pool_open(f.wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    size_t revoked = 0;
    wx_clock_to(f.wx, third.expires_at_ms);
    ASSERT_EQ_INT(merchant_paycode_worker_pass(&f.wx->env, pool, &revoked), QB_OK);
    ASSERT_EQ_INT(revoked, 1);
    store_pool_close(pool);
    ASSERT_EQ_INT(S_pending(&f), 6);
    S_reverse(&f, third.out_trade_no);
    ASSERT_EQ_INT(S_pending(&f), 6);

    struct wx_raw drain = {.kind = 3,
                           .account_id = f.payer.account_id,
                           .other_id = f.wx->sys_id,
                           .amount_minor = wx_balance(f.wx, f.payer.account_id)};
    ASSERT_EQ_INT(wx_raw_exec(f.wx, &drain), QB_OK);
    s = paycode_step(S_now(&f));
    ASSERT_EQ_INT(S_codepay(&f, s, 4, 100, &outcome, &o), 403);
    ASSERT_EQ_INT(outcome, QB_E_NOT_ENOUGH);
    ASSERT_EQ_INT(S_pending(&f), 6);
    wx_free(f.wx);
}

/* A code from the payer's server-held device, made anew when none is
 * active: the outcome, the device into device_id, when the count ends into
 * *until_ms. */
static enum qb_error S_issue(struct mx_shop *f, char device_id[ID_TEXT_SIZE_MAX], int64_t *until_ms)
{
    struct merchant_code_issue_cmd c;
    merchant_code_issue_cmd_init(&c, &f->wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", f->payer.id);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    snprintf(device_id, ID_TEXT_SIZE_MAX, "%s", c.device_id);
    ASSERT_EQ_INT(c.device_adds_spent, c.outcome == QB_E_RATE_LIMITED);
    *until_ms = c.locked_until_ms;
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

static void S_revoke(struct mx_shop *f, const char *device_id)
{
    struct merchant_device_revoke_cmd c;
    merchant_device_revoke_cmd_init(&c, &f->wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", f->payer.id);
    snprintf(c.device_id, sizeof c.device_id, "%s", device_id);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    ledger_cmd_release(&c.cmd);
}

/* POST /v1/me/devices for the payer: the outcome, *until_ms as issued. */
static enum qb_error S_device_add(struct mx_shop *f, int64_t *until_ms)
{
    struct merchant_device_add_cmd c;
    merchant_device_add_cmd_init(&c, &f->wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", f->payer.id);
    snprintf(c.name, sizeof c.name, "watch");
    snprintf(c.payment_password, sizeof c.payment_password, WX_PAY_PASSWORD);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    *until_ms = c.locked_until_ms;
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

TEST(device_additions_are_counted_over_24_hours_to_the_millisecond)
{
    // Each device added takes a slot that stays out of every wallet's pool for a day after its
    // revocation, so a user adds at most ten in any 24 hours, by hand and server-held together:
    // the eleventh is refused until the millisecond the oldest of the ten is 24 hours old, and
    // then only that one leaves the count.
    struct mx_shop f;
    mx_shop_open(&f, "便利店", 100000); /* the first addition, by hand */
    int64_t first_ms = S_now(&f);
    wx_clock_to(f.wx, first_ms + WX_HOUR_MS);
    char id[ID_TEXT_SIZE_MAX];
    int64_t until_ms;
    for (int i = 1; i < 10; i++) {
        ASSERT_EQ_INT(S_issue(&f, id, &until_ms), QB_OK);
        ASSERT_EQ_INT(until_ms, 0);
        S_revoke(&f, id);
    }
    ASSERT_EQ_INT(S_issue(&f, id, &until_ms), QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(until_ms, first_ms + WX_DAY_MS);
    ASSERT_EQ_INT(S_device_add(&f, &until_ms), QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(until_ms, first_ms + WX_DAY_MS);

    wx_clock_to(f.wx, first_ms + WX_DAY_MS - 1);
    ASSERT_EQ_INT(S_device_add(&f, &until_ms), QB_E_RATE_LIMITED);
    wx_clock_to(f.wx, first_ms + WX_DAY_MS);
    ASSERT_EQ_INT(S_device_add(&f, &until_ms), QB_OK);
    ASSERT_EQ_INT(S_issue(&f, id, &until_ms), QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(until_ms, first_ms + WX_HOUR_MS + WX_DAY_MS);
    wx_clock_to(f.wx, first_ms + WX_HOUR_MS + WX_DAY_MS);
    ASSERT_EQ_INT(S_issue(&f, id, &until_ms), QB_OK);
    wx_free(f.wx);
}

int main(void)
{
    RUN(the_window_holds_to_the_millisecond);
    RUN(a_codes_use_is_kept_a_day_not_for_ever);
    RUN(a_locked_slot_opens_again_after_its_lock);
    RUN(four_wrong_codes_and_a_right_one_reset_the_count);
    RUN(the_password_free_count_rolls_over_at_midnight);
    RUN(an_unconfirmed_order_is_revoked_at_its_deadline_on_read_and_by_the_worker);
    RUN(a_batch_of_orders_that_cannot_be_revoked_holds_up_none_after_them);
    RUN(reversal_returns_every_fen_in_one_entry);
    RUN(a_low_balance_spends_the_code_and_fails_the_order);
    RUN(the_waiting_payments_count_changes_when_one_comes_or_goes_and_only_then);
    RUN(device_additions_are_counted_over_24_hours_to_the_millisecond);
    return test_summary();
}
