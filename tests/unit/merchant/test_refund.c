/*
 * test_refund.c — refunds of paid orders (src/merchant/refund.c) on a real
 * ledger: partial and repeated refunds up to the total, the fee returned in
 * proportion to the cent, out_refund_no answering a retry and refusing
 * another body, the 50-refund and 365-day limits, a merchant short of
 * money, and the outbox rows the payment and each refund leave — with
 * every refusal moving nothing.
 */
#include <stdio.h>
#include <string.h>

#include "merchant/notify.h"
#include "merchant/refund.h"
#include "unit/merchant/merchant_fixture.h"

struct fx {
    struct wx *wx;
    struct merchant m;
    struct identity_user payer;
};

static struct fx S_fx_new(int64_t fee_ppm)
{
    struct fx f;
    memset(&f, 0, sizeof f);
    f.wx = wx_new();
    ASSERT_EQ_INT(wallet_accounts_setup(f.wx->ledger, &f.wx->env), QB_OK);
    f.m = mx_merchant(f.wx, "1900009191", "wx0123456789abcdef", "面馆", fee_ppm);
    f.payer = wx_user(f.wx, "小明", true);
    wx_fund(f.wx, f.payer.account_id, 1000000);
    return f;
}

/* A native order of m for total, paid by the fixture's payer when pay. */
static struct merchant_order S_order(struct fx *f, const struct merchant *m,
                                     const char *out_trade_no, int64_t total, bool pay)
{
    struct merchant_order out = mx_native_order(f->wx, m, out_trade_no, total, 1);
    if (pay)
        mx_order_pay(f->wx, &f->payer, out.pay_token);
    return out;
}

/* Refunds refund of out_trade_no under out_refund_no (hash_byte stands for
 * the body); answers the outcome and fills *out when not NULL. */
static enum qb_error S_refund(struct fx *f, const struct merchant *m, const char *out_trade_no,
                              const char *out_refund_no, int64_t total, int64_t refund,
                              uint8_t hash_byte, struct merchant_refund *out)
{
    struct merchant_refund_create_cmd c;
    merchant_refund_create_cmd_init(&c, &f->wx->env);
    struct merchant_refund *r = &c.refund;
    snprintf(r->mchid, sizeof r->mchid, "%s", m->mchid);
    snprintf(r->out_trade_no, sizeof r->out_trade_no, "%s", out_trade_no);
    snprintf(r->out_refund_no, sizeof r->out_refund_no, "%s", out_refund_no);
    memset(r->request_hash, hash_byte, sizeof r->request_hash);
    r->total_minor = total;
    r->refund_minor = refund;
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    if (out != NULL)
        *out = c.refund;
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

static int64_t S_count(struct fx *f, const char *sql)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(f->wx->reader, sql, &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t n = store_column_int64(st, 0);
    store_finalize(st);
    return n;
}

TEST(fee_share_is_proportional_cumulative_and_exact)
{
    // The fee goes back in proportion, rounded half up on the running total, so any split of a
    // full refund returns exactly the fee paid, even at amounts whose product overflows int64.
    ASSERT_EQ_INT(merchant_fee_refund(74, 12345, 0, 12345), 74);
    ASSERT_EQ_INT(merchant_fee_refund(74, 12345, 0, 5000), 30);   /* 29.97 → 30 */
    ASSERT_EQ_INT(merchant_fee_refund(74, 12345, 5000, 7345), 44);
    ASSERT_EQ_INT(merchant_fee_refund(1, 3, 0, 1), 0);            /* 0.33 → 0 */
    ASSERT_EQ_INT(merchant_fee_refund(1, 3, 1, 1), 1);            /* 0.67 → 1 in all */
    ASSERT_EQ_INT(merchant_fee_refund(1, 3, 2, 1), 0);
    int64_t total = MERCHANT_ORDER_TOTAL_MAX_MINOR, fee = total / 10;
    ASSERT_EQ_INT(merchant_fee_refund(fee, total, 0, total / 3), 33333333333);
    int64_t sum = 0, refunded = 0;
    for (int i = 0; i < 7; i++) {
        int64_t part = i < 6 ? total / 7 : total - refunded;
        sum += merchant_fee_refund(fee, total, refunded, part);
        refunded += part;
    }
    ASSERT_EQ_INT(sum, fee);
}

TEST(partial_and_repeated_refunds_move_money_up_to_the_total)
{
    // Two partial refunds and the rest: the payer gets each refund, the merchant pays it less
    // the fee share, fee income pays the share; the order reads REFUND; refunding past the total
    // moves nothing; every payment and refund left a notification in the outbox.
    struct fx f = S_fx_new(6000);
    int64_t fee_income = wx_balance(f.wx, f.wx->env.accounts.fee_income);
    S_order(&f, &f.m, "order-0001", 12345, true);
    int64_t payer = wx_balance(f.wx, f.payer.account_id);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 12345 - 74);
    struct merchant_refund r;
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0001", "refund-1", 12345, 5000, 1, &r), QB_OK);
    ASSERT_EQ_INT(r.status, MERCHANT_REFUND_SUCCESS);
    ASSERT_EQ_INT(r.fee_refund_minor, 30);
    ASSERT_EQ_INT(strlen(r.refund_id), 29);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), payer + 5000);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 12345 - 74 - (5000 - 30));
    struct merchant_order o;
    ASSERT_EQ_INT(merchant_order_get(f.wx->reader, f.m.mchid, "order-0001", NULL, &o), QB_OK);
    ASSERT_EQ_INT(o.state, MERCHANT_REFUND);
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(f.wx->reader, r.payment_id, f.payer.id, &p), QB_OK);
    ASSERT_EQ_INT(p.kind, WALLET_ORDER_REFUND);
    ASSERT_EQ_INT(p.amount_minor, 5000);

    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0001", "refund-2", 12345, 7000, 2, NULL), QB_OK);
    /* 345 left: 346 is refused and moves nothing. */
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0001", "refund-3", 12345, 346, 3, NULL),
                  QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), payer + 12000);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0001", "refund-4", 12345, 345, 4, NULL), QB_OK);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), payer + 12345);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 0);
    ASSERT_EQ_INT(wx_balance(f.wx, f.wx->env.accounts.fee_income), fee_income);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0001", "refund-5", 12345, 1, 5, NULL),
                  QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(S_count(&f, "SELECT COUNT(*) FROM refunds"), 3);
    ASSERT_EQ_INT(S_count(&f, "SELECT COUNT(*) FROM notifications"
                              " WHERE event_type = 'TRANSACTION.SUCCESS' AND status = 1"),
                  1);
    ASSERT_EQ_INT(S_count(&f, "SELECT COUNT(*) FROM notifications"
                              " WHERE event_type = 'REFUND.SUCCESS' AND original_type = 'refund'"),
                  3);
    /* The payer is told of each refund, of its payment; the refused ones told nothing. */
    char notices[512], want[512];
    wx_notices(f.wx, f.payer.id, notices, sizeof notices);
    ASSERT_EQ_INT(S_count(&f, "SELECT COUNT(*) FROM notices"), 3);
    snprintf(want, sizeof want, "order_refunded %s 5000; order_refunded p_", r.payment_id);
    ASSERT(strncmp(notices, want, strlen(want)) == 0);
    ASSERT(strstr(notices, " 7000; order_refunded p_") != NULL);
    ASSERT(strcmp(notices + strlen(notices) - 4, " 345") == 0);
    snprintf(want, sizeof want, "3 %s %s | ", f.m.mchid, f.m.name);
    wx_notice_detail(f.wx, f.payer.id, notices, sizeof notices);
    ASSERT(strncmp(notices, want, strlen(want)) == 0);
    wx_free(f.wx);
}

TEST(out_refund_no_answers_a_retry_and_refuses_another_amount)
{
    // The same out_refund_no for the same order and amounts is the same refund (no second
    // payout), whatever else its body changed (its reason, its notify_url); with another amount
    // it is INVALID_REQUEST, as WeChat answers.
    struct fx f = S_fx_new(6000);
    S_order(&f, &f.m, "order-0002", 10000, true);
    int64_t payer = wx_balance(f.wx, f.payer.account_id);
    struct merchant_refund first, again;
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0002", "r-same", 10000, 100, 7, &first), QB_OK);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0002", "r-same", 10000, 100, 7, &again), QB_OK);
    ASSERT_EQ_STR(again.refund_id, first.refund_id);
    ASSERT_EQ_INT(again.created_at_ms, first.created_at_ms);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0002", "r-same", 10000, 100, 9, &again), QB_OK);
    ASSERT_EQ_STR(again.refund_id, first.refund_id);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "order-0002", "r-same", 10000, 200, 8, NULL),
                  QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), payer + 100);
    wx_free(f.wx);
}

TEST(unknown_unpaid_and_other_merchants_orders_are_refused)
{
    // Nothing to refund: an order that never was and another merchant's order are both
    // RESOURCE_NOT_EXISTS (no telling them apart); an unpaid one INVALID_REQUEST; a wrong
    // amount.total PARAM_ERROR.
    struct fx f = S_fx_new(6000);
    struct merchant other = mx_merchant(f.wx, "1900009192", "wx0123456789abcdee", "面馆", 6000);
    S_order(&f, &other, "theirs-001", 1000, true);
    S_order(&f, &f.m, "unpaid-001", 1000, false);
    S_order(&f, &f.m, "paid-00001", 1000, true);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "nobody-001", "r1", 1000, 10, 1, NULL),
                  QB_E_RESOURCE_NOT_EXISTS);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "theirs-001", "r2", 1000, 10, 1, NULL),
                  QB_E_RESOURCE_NOT_EXISTS);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "unpaid-001", "r3", 1000, 10, 1, NULL), QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "paid-00001", "r4", 999, 10, 1, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(S_count(&f, "SELECT COUNT(*) FROM refunds"), 0);
    wx_free(f.wx);
}

TEST(fifty_refunds_at_most_and_a_year_at_most)
{
    // WeChat's limits: the 51st refund of an order is refused, and so is any refund more than
    // 365 days after the payment.
    struct fx f = S_fx_new(0);
    S_order(&f, &f.m, "many-00001", 1000, true);
    char no[16];
    for (int i = 0; i < MERCHANT_REFUNDS_PER_ORDER_MAX; i++) {
        snprintf(no, sizeof no, "m-%d", i);
        ASSERT_EQ_INT(S_refund(&f, &f.m, "many-00001", no, 1000, 1, (uint8_t)i, NULL), QB_OK);
    }
    ASSERT_EQ_INT(S_refund(&f, &f.m, "many-00001", "m-50", 1000, 1, 99, NULL),
                  QB_E_INVALID_REQUEST);
    S_order(&f, &f.m, "old-000001", 1000, true);
    wx_clock_to(f.wx, clock_now_ms(&f.wx->clock) + MERCHANT_REFUND_WINDOW_MS - 1000);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "old-000001", "o-1", 1000, 1, 1, NULL), QB_OK);
    wx_clock_to(f.wx, clock_now_ms(&f.wx->clock) + 2000);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "old-000001", "o-2", 1000, 1, 2, NULL), QB_E_INVALID_REQUEST);
    wx_free(f.wx);
}

TEST(a_merchant_short_of_money_is_not_enough)
{
    // The refund is paid from the merchant's balance: once the money has left (here moved out
    // directly), the refund is NOT_ENOUGH and nothing moves.
    struct fx f = S_fx_new(6000);
    S_order(&f, &f.m, "short-0001", 10000, true);
    int64_t have = wx_balance(f.wx, f.m.account_id);
    struct wx_raw out = {.kind = 3, .account_id = f.m.account_id, .other_id = f.wx->sys_id,
                         .amount_minor = have - 100};
    ASSERT_EQ_INT(wx_raw_exec(f.wx, &out), QB_OK);
    int64_t payer = wx_balance(f.wx, f.payer.account_id);
    ASSERT_EQ_INT(S_refund(&f, &f.m, "short-0001", "s-1", 10000, 5000, 1, NULL), QB_E_NOT_ENOUGH);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), payer);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 100);
    /* 100 fen of merchant money covers a refund of 100 whose fee share is 1. */
    ASSERT_EQ_INT(S_refund(&f, &f.m, "short-0001", "s-2", 10000, 100, 2, NULL), QB_OK);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 1);
    wx_free(f.wx);
}

int main(void)
{
    RUN(fee_share_is_proportional_cumulative_and_exact);
    RUN(partial_and_repeated_refunds_move_money_up_to_the_total);
    RUN(out_refund_no_answers_a_retry_and_refuses_another_amount);
    RUN(unknown_unpaid_and_other_merchants_orders_are_refused);
    RUN(fifty_refunds_at_most_and_a_year_at_most);
    RUN(a_merchant_short_of_money_is_not_enough);
    return test_summary();
}
