/*
 * test_orders_check.c — the operator's check of the merchant payments
 * (merchant_orders_check, run by wallet_verify) on a real ledger: orders
 * paid, refunded and reversed pass it, and each kind of row edited behind
 * the daemon's back (an order's amount, an order said paid that no entry
 * paid, a refund said done that moved nothing, a refund deleted, a
 * reversal undone in its row, a payment moved to another day) is named by
 * it, as the payments of the other codes are by their own checks.
 */
#include <stdio.h>
#include <string.h>

#include "merchant/paycode.h"
#include "merchant/refund.h"
#include "unit/merchant/merchant_fixture.h"

/* A shop with orders of each kind: PAID00001 paid; REFD00001 paid and
 * refunded twice (RFND00001, RFND00002); a payment-code order paid and
 * reversed (f.seq 1: "unit-000001"); OPEN00001 not paid. */
struct fx {
    struct mx_shop shop;
    struct merchant_order paid, refunded, reversed, open;
};

static void S_refund(struct fx *f, const char *out_refund_no, int64_t refund)
{
    struct merchant_refund_create_cmd c;
    merchant_refund_create_cmd_init(&c, &f->shop.wx->env);
    struct merchant_refund *r = &c.refund;
    snprintf(r->mchid, sizeof r->mchid, "%s", f->shop.m.mchid);
    snprintf(r->out_trade_no, sizeof r->out_trade_no, "%s", f->refunded.out_trade_no);
    snprintf(r->out_refund_no, sizeof r->out_refund_no, "%s", out_refund_no);
    memset(r->request_hash, out_refund_no[8], sizeof r->request_hash);
    r->total_minor = f->refunded.total_minor;
    r->refund_minor = refund;
    ASSERT_EQ_INT(ledger_execute(f->shop.wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    ledger_cmd_release(&c.cmd);
}

static void S_codepay_reversed(struct fx *f, int64_t total)
{
    struct mx_shop *s = &f->shop;
    struct merchant_codepay_cmd c;
    merchant_codepay_cmd_init(&c, &s->wx->env);
    struct merchant_order *o = &c.order;
    snprintf(o->mchid, sizeof o->mchid, "%s", s->m.mchid);
    snprintf(o->appid, sizeof o->appid, "%s", s->m.appid);
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "unit-%06d", ++s->seq);
    snprintf(o->description, sizeof o->description, "水");
    o->currency = currency_find("CNY");
    o->total_minor = total;
    memset(o->request_hash, s->seq & 0xff, sizeof o->request_hash);
    paycode_format(s->seed, paycode_step(clock_now_ms(&s->wx->clock)), s->slot, 0, c.auth_code);
    ASSERT_EQ_INT(ledger_execute(s->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    ASSERT_EQ_INT(c.order.state, MERCHANT_SUCCESS);
    ledger_cmd_release(&c.cmd);

    struct merchant_reverse_cmd r;
    merchant_reverse_cmd_init(&r, &s->wx->env);
    snprintf(r.mchid, sizeof r.mchid, "%s", s->m.mchid);
    snprintf(r.out_trade_no, sizeof r.out_trade_no, "unit-%06d", s->seq);
    ASSERT_EQ_INT(ledger_execute(s->wx->ledger, &r.cmd), QB_OK);
    ASSERT_EQ_INT(r.cmd.result, QB_OK);
    ASSERT_EQ_INT(r.outcome, QB_OK);
    ASSERT_EQ_INT(r.order.state, MERCHANT_REVOKED);
    f->reversed = r.order;
    ledger_cmd_release(&r.cmd);
}

static void S_fx_open(struct fx *f)
{
    memset(f, 0, sizeof *f);
    mx_shop_open(&f->shop, "面馆", 1000000);
    struct wx *wx = f->shop.wx;
    f->paid = mx_native_order(wx, &f->shop.m, "PAID00001", 10000, 1);
    mx_order_pay(wx, &f->shop.payer, f->paid.pay_token);
    f->refunded = mx_native_order(wx, &f->shop.m, "REFD00001", 20000, 2);
    mx_order_pay(wx, &f->shop.payer, f->refunded.pay_token);
    S_refund(f, "RFND00001", 1000);
    S_refund(f, "RFND00002", 2500);
    S_codepay_reversed(f, 3000);
    f->open = mx_native_order(wx, &f->shop.m, "OPEN00001", 4000, 4);
    ASSERT_EQ_INT(merchant_order_get(wx->reader, f->shop.m.mchid, "PAID00001", NULL, &f->paid),
                  QB_OK);
}

/* Runs the operator's whole check: QB_OK, or what it found in problem. */
static enum qb_error S_verify(struct fx *f, char *problem, size_t problem_size)
{
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    enum qb_error rc =
        wallet_verify(f->shop.wx->reader, NULL, false, 0, &report, &packets, NULL, NULL);
    snprintf(problem, problem_size, "%s", report.problem);
    return rc;
}

/* Edits the database by hand, expects the check to fail naming each of
 * named (NULL-terminated), then undoes the edit and expects it to pass. */
static void S_expect_found(struct fx *f, const char *edit, const char *undo, const char *named[])
{
    char problem[sizeof((struct ledger_verify_report *)0)->problem];
    wx_hand_edit(f->shop.wx, edit);
    ASSERT_EQ_INT(S_verify(f, problem, sizeof problem), QB_E_INTERNAL);
    for (size_t i = 0; named[i] != NULL; i++)
        if (strstr(problem, named[i]) == NULL)
            TEST_FAIL_("after %s: \"%s\" not in the problem \"%s\"", edit, named[i], problem);
    int64_t orders = 0;
    char again[512];
    ASSERT_EQ_INT(merchant_orders_check(f->shop.wx->reader, &orders, again, sizeof again),
                  QB_E_INTERNAL);
    ASSERT_EQ_STR(again, problem);
    wx_hand_edit(f->shop.wx, undo);
    ASSERT_EQ_INT(S_verify(f, problem, sizeof problem), QB_OK);
}

TEST(paid_refunded_reversed_and_open_orders_pass_the_check)
{
    // Each kind of order as its commands leave it passes: the check counts every order, and the
    // whole check of the books passes.
    struct fx f;
    S_fx_open(&f);
    int64_t orders = -1;
    char problem[sizeof((struct ledger_verify_report *)0)->problem];
    ASSERT_EQ_INT(merchant_orders_check(f.shop.wx->reader, &orders, problem, sizeof problem),
                  QB_OK);
    ASSERT_EQ_STR(problem, "");
    ASSERT_EQ_INT(orders, 4);
    ASSERT_EQ_INT(S_verify(&f, problem, sizeof problem), QB_OK);
    wx_free(f.shop.wx);
}

TEST(an_order_whose_amount_was_edited_is_named)
{
    // An order's total raised after it was paid (the merchant's books then claim more than the
    // payer paid), or its fee, or its payer changed: the entry it names says otherwise.
    struct fx f;
    S_fx_open(&f);
    const char *named[] = {"PAID00001", f.shop.m.mchid, NULL};
    S_expect_found(&f, "UPDATE orders SET total_minor = 100000 WHERE out_trade_no = 'PAID00001'",
                   "UPDATE orders SET total_minor = 10000 WHERE out_trade_no = 'PAID00001'", named);
    char edit[256], undo[256];
    snprintf(edit, sizeof edit, "UPDATE orders SET fee_minor = 0 WHERE out_trade_no = 'PAID00001'");
    snprintf(undo, sizeof undo,
             "UPDATE orders SET fee_minor = %lld WHERE out_trade_no = 'PAID00001'",
             (long long)f.paid.fee_minor);
    S_expect_found(&f, edit, undo, named);
    struct identity_user other = wx_user(f.shop.wx, "小红", true);
    snprintf(edit, sizeof edit,
             "UPDATE orders SET payer_user_id = '%s' WHERE out_trade_no = 'PAID00001'", other.id);
    snprintf(undo, sizeof undo,
             "UPDATE orders SET payer_user_id = '%s' WHERE out_trade_no = 'PAID00001'",
             f.shop.payer.id);
    S_expect_found(&f, edit, undo, named);
    wx_free(f.shop.wx);
}

TEST(a_payment_moved_to_another_day_is_named)
{
    // The merchant's daily bills count a payment, a refund and a reversal on the day its row
    // says it happened: a time moved a day back (a sale out of the day it was made) is named,
    // each row's time being its entry's.
    struct fx f;
    S_fx_open(&f);
    S_expect_found(&f,
                   "UPDATE orders SET success_at_ms = success_at_ms - 86400000"
                   " WHERE out_trade_no = 'PAID00001'",
                   "UPDATE orders SET success_at_ms = success_at_ms + 86400000"
                   " WHERE out_trade_no = 'PAID00001'",
                   (const char *[]){"PAID00001", f.shop.m.mchid, NULL});
    S_expect_found(&f,
                   "UPDATE refunds SET success_at_ms = success_at_ms - 86400000"
                   " WHERE out_refund_no = 'RFND00002'",
                   "UPDATE refunds SET success_at_ms = success_at_ms + 86400000"
                   " WHERE out_refund_no = 'RFND00002'",
                   (const char *[]){"RFND00002", f.shop.m.mchid, NULL});
    S_expect_found(&f,
                   "UPDATE orders SET closed_at_ms = closed_at_ms - 86400000"
                   " WHERE out_trade_no = 'unit-000001'",
                   "UPDATE orders SET closed_at_ms = closed_at_ms + 86400000"
                   " WHERE out_trade_no = 'unit-000001'",
                   (const char *[]){"unit-000001", f.shop.m.mchid, NULL});
    wx_free(f.shop.wx);
}

TEST(an_order_said_paid_without_its_entry_is_named)
{
    // An open order marked SUCCESS that no entry paid; and a paid order whose row was made to
    // look open again, its entry then named by no order.
    struct fx f;
    S_fx_open(&f);
    const char *open[] = {"OPEN00001", f.shop.m.mchid, NULL};
    S_expect_found(&f, "UPDATE orders SET state = 2 WHERE out_trade_no = 'OPEN00001'",
                   "UPDATE orders SET state = 1 WHERE out_trade_no = 'OPEN00001'", open);
    const char *uncounted[] = {"the journal holds 3 order payments, the orders 2", NULL};
    char undo[512];
    snprintf(undo, sizeof undo,
             "UPDATE orders SET state = 2, entry_id = %lld, payment_id = '%s',"
             " success_at_ms = %lld WHERE out_trade_no = 'PAID00001'",
             (long long)f.paid.entry_id, f.paid.payment_id, (long long)f.paid.success_at_ms);
    S_expect_found(&f,
                   "UPDATE orders SET state = 1, entry_id = 0, payment_id = '', success_at_ms = 0"
                   " WHERE out_trade_no = 'PAID00001'",
                   undo, uncounted);
    wx_free(f.shop.wx);
}

TEST(a_refund_said_done_that_moved_nothing_is_named)
{
    // A refund row written by hand beside the real ones (status SUCCESS, naming the entry of
    // another refund or none): the merchant's refunded sum would count money nobody got back.
    struct fx f;
    S_fx_open(&f);
    const char *named[] = {"RFND00003", f.shop.m.mchid, NULL};
    S_expect_found(&f,
                   "INSERT INTO refunds (refund_id, mchid, out_refund_no, transaction_id,"
                   " out_trade_no, request_hash, currency, total_minor, refund_minor,"
                   " fee_refund_minor, status, payment_id, entry_id, created_at_ms, success_at_ms)"
                   " SELECT refund_id || '9', mchid, 'RFND00003', transaction_id, out_trade_no,"
                   " request_hash, currency, total_minor, 500, 3, 1, payment_id, entry_id,"
                   " created_at_ms, success_at_ms FROM refunds WHERE out_refund_no = 'RFND00001'",
                   "DELETE FROM refunds WHERE out_refund_no = 'RFND00003'", named);
    S_expect_found(&f, "UPDATE refunds SET refund_minor = 1500 WHERE out_refund_no = 'RFND00001'",
                   "UPDATE refunds SET refund_minor = 1000 WHERE out_refund_no = 'RFND00001'",
                   (const char *[]){"RFND00001", f.shop.m.mchid, NULL});
    wx_free(f.shop.wx);
}

TEST(a_refund_row_deleted_is_found)
{
    // A refund's row deleted: the order's refunded sum then lies (more seems left to refund),
    // and the journal holds a refund no row names.
    struct fx f;
    S_fx_open(&f);
    const char *named[] = {"the journal holds 2 refunds, the refunds 1", NULL};
    S_expect_found(&f,
                   "CREATE TABLE kept AS SELECT * FROM refunds WHERE out_refund_no = 'RFND00002';"
                   "DELETE FROM refunds WHERE out_refund_no = 'RFND00002'",
                   "INSERT INTO refunds SELECT * FROM kept; DROP TABLE kept", named);
    /* Both gone: the order still says REFUND. */
    const char *order[] = {"REFD00001", f.shop.m.mchid, NULL};
    S_expect_found(&f, "CREATE TABLE kept AS SELECT * FROM refunds; DELETE FROM refunds",
                   "INSERT INTO refunds SELECT * FROM kept; DROP TABLE kept", order);
    wx_free(f.shop.wx);
}

TEST(a_reversal_undone_in_its_row_is_named)
{
    // A reversed payment-code order marked paid again (the merchant's bill then keeps a sale the
    // payer got back), or open, or its reversal's amount changed: the reversal is found.
    struct fx f;
    S_fx_open(&f);
    const char *stray[] = {f.reversed.payment_id, NULL};
    S_expect_found(&f, "UPDATE orders SET state = 2 WHERE out_trade_no = 'unit-000001'",
                   "UPDATE orders SET state = 7 WHERE out_trade_no = 'unit-000001'", stray);
    const char *named[] = {"unit-000001", f.shop.m.mchid, NULL};
    char undo[256];
    snprintf(undo, sizeof undo,
             "UPDATE orders SET success_at_ms = %lld WHERE out_trade_no = 'unit-000001'",
             (long long)f.reversed.success_at_ms);
    S_expect_found(&f, "UPDATE orders SET success_at_ms = 0 WHERE out_trade_no = 'unit-000001'",
                   undo, named);
    S_expect_found(&f, "UPDATE orders SET trade_type = 1 WHERE out_trade_no = 'unit-000001'",
                   "UPDATE orders SET trade_type = 5 WHERE out_trade_no = 'unit-000001'", named);
    wx_free(f.shop.wx);
}

int main(void)
{
    RUN(paid_refunded_reversed_and_open_orders_pass_the_check);
    RUN(an_order_whose_amount_was_edited_is_named);
    RUN(a_payment_moved_to_another_day_is_named);
    RUN(an_order_said_paid_without_its_entry_is_named);
    RUN(a_refund_said_done_that_moved_nothing_is_named);
    RUN(a_refund_row_deleted_is_found);
    RUN(a_reversal_undone_in_its_row_is_named);
    return test_summary();
}
