/*
 * test_fundflow.c — the fund-flow bill (src/merchant/bill.c) on a real
 * ledger with the manual clock: each line names the movement as WeChat's
 * bill does (a payment's transaction_id, a refund's refund_id and "REF"
 * with the order's transaction_id, a reversal's order), and the walk that
 * finds a day's movements reads that day's entries, not every one the
 * merchant made since; and the trade bill's rows of payment-code sales.
 * The files' layout, sums and download are checked end to end in
 * tests/api/test_merchant_fundflow.c and test_merchant_bill.c.
 */
#include <stdio.h>
#include <string.h>

#include "merchant/analytics.h"
#include "merchant/bill.h"
#include "merchant/paycode.h"
#include "merchant/refund.h"
#include "unit/merchant/merchant_fixture.h"

#define S_LATER_ORDERS 150 /* paid on the days after the bill's day */


/* A native order of total, paid by the payer with the payment password. */
static struct merchant_order S_paid(struct mx_shop *f, int64_t total)
{
    char number[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
    snprintf(number, sizeof number, "flow-%06d", ++f->seq);
    struct merchant_order out =
        mx_native_order(f->wx, &f->m, number, total, (uint8_t)(f->seq & 0xff));
    mx_order_pay(f->wx, &f->payer, out.pay_token);
    ASSERT_EQ_INT(merchant_order_get(f->wx->reader, f->m.mchid, number, NULL, &out), QB_OK);
    ASSERT_EQ_INT(out.state, MERCHANT_SUCCESS);
    return out;
}

/* A payment-code order of total, paid at once (under the password-free
 * amount). */
static struct merchant_order S_codepaid(struct mx_shop *f, int64_t total)
{
    struct merchant_codepay_cmd c;
    merchant_codepay_cmd_init(&c, &f->wx->env);
    struct merchant_order *o = &c.order;
    snprintf(o->mchid, sizeof o->mchid, "%s", f->m.mchid);
    snprintf(o->appid, sizeof o->appid, "%s", f->m.appid);
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "flow-%06d", ++f->seq);
    snprintf(o->description, sizeof o->description, "水");
    o->currency = currency_find("CNY");
    o->total_minor = total;
    memset(o->request_hash, f->seq & 0xff, sizeof o->request_hash);
    char code[PAYCODE_TEXT_SIZE];
    paycode_format(f->seed, paycode_step(clock_now_ms(&f->wx->clock)), f->slot, 0, code);
    snprintf(c.auth_code, sizeof c.auth_code, "%s", code);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct merchant_order out = c.order;
    ledger_cmd_release(&c.cmd);
    ASSERT_EQ_INT(out.state, MERCHANT_SUCCESS);
    return out;
}

/* The merchant reverses payment-code order o. */
static void S_reverse(struct mx_shop *f, const struct merchant_order *o)
{
    struct merchant_reverse_cmd r;
    merchant_reverse_cmd_init(&r, &f->wx->env);
    snprintf(r.mchid, sizeof r.mchid, "%s", f->m.mchid);
    snprintf(r.out_trade_no, sizeof r.out_trade_no, "%s", o->out_trade_no);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &r.cmd), QB_OK);
    ASSERT_EQ_INT(r.outcome, QB_OK);
    ledger_cmd_release(&r.cmd);
}

/* A payment-code order of total, paid, then reversed by the merchant. */
static struct merchant_order S_reversed(struct mx_shop *f, int64_t total)
{
    struct merchant_order out = S_codepaid(f, total);
    S_reverse(f, &out);
    return out;
}

static struct merchant_refund S_refund(struct mx_shop *f, const struct merchant_order *o,
                                       int64_t refund)
{
    struct merchant_refund_create_cmd c;
    merchant_refund_create_cmd_init(&c, &f->wx->env);
    struct merchant_refund *r = &c.refund;
    snprintf(r->mchid, sizeof r->mchid, "%s", f->m.mchid);
    snprintf(r->out_trade_no, sizeof r->out_trade_no, "%s", o->out_trade_no);
    snprintf(r->out_refund_no, sizeof r->out_refund_no, "R-%s", o->out_trade_no);
    snprintf(r->reason, sizeof r->reason, "缺货");
    memset(r->request_hash, 7, sizeof r->request_hash);
    r->total_minor = o->total_minor;
    r->refund_minor = refund;
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct merchant_refund out = c.refund;
    ledger_cmd_release(&c.cmd);
    return out;
}

/* The bill of kind for [start_ms, end_ms) into out, from the account's
 * newest entry as the route reads it; the cursor's count of entries read
 * into *walked. */
static enum qb_error S_bill_of(struct mx_shop *f, enum merchant_bill_type kind, int64_t start_ms,
                               int64_t end_ms, struct buf *out, int64_t *walked)
{
    struct ledger_account_view view;
    ASSERT_EQ_INT(ledger_account_view(f->wx->ledger, f->m.account_id, &view), QB_OK);
    static struct merchant_bill_cursor c; /* the notes of 1,024 pages: 8 KiB */
    merchant_bill_cursor_init(&c, &f->m, kind, start_ms, end_ms, view.last_entry_id);
    enum qb_error err = QB_OK;
    while (err == QB_OK && !c.done)
        err = merchant_bill_next(&c, f->wx->reader, out);
    *walked = c.walked;
    return err;
}

/* The fund-flow bill. */
static enum qb_error S_bill(struct mx_shop *f, int64_t start_ms, int64_t end_ms, struct buf *out,
                            int64_t *walked)
{
    return S_bill_of(f, MERCHANT_BILL_FUNDFLOW, start_ms, end_ms, out, walked);
}

/* The line of out whose 业务名称 is name and whose 微信支付业务单号 is
 * business: its 备注 and 业务凭证号 must be remark and voucher. */
static void S_line_expect(const struct buf *out, const char *business, const char *name,
                          const char *remark, const char *voucher)
{
    char head[160], tail[200];
    snprintf(head, sizeof head, ",`%s,`", business);
    snprintf(tail, sizeof tail, ",`system,`%s,`%s\r\n", remark, voucher);
    char name_field[64];
    snprintf(name_field, sizeof name_field, ",`%s,", name);
    const char *text = (const char *)out->data;
    for (const char *p = strstr(text, head); p != NULL; p = strstr(p + 1, head)) {
        const char *end = strstr(p, "\r\n");
        ASSERT(end != NULL);
        size_t line = (size_t)(end + 2 - p);
        char copy[512];
        ASSERT(line < sizeof copy);
        memcpy(copy, p, line);
        copy[line] = '\0';
        if (strstr(copy, name_field) != NULL) {
            ASSERT(strstr(copy, tail) != NULL);
            return;
        }
    }
    TEST_FAIL_("no line \"%s\" of %s in the bill", name, business);
}

/* The next Beijing day's bounds; the clock moves to 10:00 that day. */
static void S_tomorrow_at_ten(struct mx_shop *f, int64_t *start_ms, int64_t *end_ms)
{
    int64_t day = (clock_now_ms(&f->wx->clock) + 8 * WX_HOUR_MS) / WX_DAY_MS;
    *start_ms = (day + 1) * WX_DAY_MS - 8 * WX_HOUR_MS;
    *end_ms = *start_ms + WX_DAY_MS;
    wx_clock_to(f->wx, *start_ms + 10 * WX_HOUR_MS);
}

TEST(each_line_names_the_order_refund_or_reversal_as_wechat_does)
{
    // A payment and its fee name the order's transaction_id; a refund and the fee it gives back
    // name the refund's refund_id, its reason and "REF" with the order's transaction_id; a
    // reversed payment-code order names its transaction_id, with "REF" on the voucher. No line
    // names the ledger's payment ids.
    struct mx_shop f;
    mx_shop_open(&f, "面馆", 10000000);
    int64_t start_ms, end_ms;
    S_tomorrow_at_ten(&f, &start_ms, &end_ms);
    struct merchant_order paid = S_paid(&f, 30000);
    struct merchant_refund refund = S_refund(&f, &paid, 10000);
    struct merchant_order reversed = S_reversed(&f, 1000);
    wx_clock_to(f.wx, end_ms + WX_HOUR_MS);

    struct buf out;
    buf_init(&out, MERCHANT_BILL_PIECE_SIZE_MAX);
    int64_t walked = 0;
    ASSERT_EQ_INT(S_bill(&f, start_ms, end_ms, &out, &walked), QB_OK);
    ASSERT_EQ_INT(buf_append(&out, "", 1), QB_OK); /* a C string */
    char ref[40];
    snprintf(ref, sizeof ref, "REF%s", paid.transaction_id);
    S_line_expect(&out, paid.transaction_id, "交易", "", paid.transaction_id);
    S_line_expect(&out, paid.transaction_id, "扣除交易手续费", "", paid.transaction_id);
    S_line_expect(&out, refund.refund_id, "退款", "缺货", ref);
    S_line_expect(&out, refund.refund_id, "退还交易手续费", "缺货", ref);
    snprintf(ref, sizeof ref, "REF%s", reversed.transaction_id);
    S_line_expect(&out, reversed.transaction_id, "交易", "", reversed.transaction_id);
    S_line_expect(&out, reversed.transaction_id, "撤销", "", ref);
    ASSERT(strstr((const char *)out.data, "`p_") == NULL);
    buf_release(&out);
    wx_free(f.wx);
}

TEST(a_day_long_ago_reads_that_day_not_every_entry_since)
{
    // A day with three entries of the merchant's account, then 150 payments on the days after:
    // the bill of that day reads about its own entries (each twice, one batch past its start),
    // not the 150 made since; and it is the same bill as the day's alone.
    struct mx_shop f;
    mx_shop_open(&f, "面馆", 10000000);
    int64_t start_ms, end_ms;
    S_tomorrow_at_ten(&f, &start_ms, &end_ms);
    struct merchant_order first = S_paid(&f, 30000);
    S_paid(&f, 20000);
    S_refund(&f, &first, 5000);
    wx_clock_to(f.wx, end_ms + WX_HOUR_MS);

    struct buf alone;
    buf_init(&alone, MERCHANT_BILL_PIECE_SIZE_MAX);
    int64_t walked_alone = 0;
    ASSERT_EQ_INT(S_bill(&f, start_ms, end_ms, &alone, &walked_alone), QB_OK);
    ASSERT_EQ_INT(walked_alone, 2 * 3);

    for (int i = 0; i < S_LATER_ORDERS; i++) {
        if (i % 50 == 0)
            wx_clock_to(f.wx, end_ms + (i / 50) * WX_DAY_MS + 2 * WX_HOUR_MS);
        S_paid(&f, 100 + i);
    }
    struct buf out;
    buf_init(&out, MERCHANT_BILL_PIECE_SIZE_MAX);
    int64_t walked = 0;
    ASSERT_EQ_INT(S_bill(&f, start_ms, end_ms, &out, &walked), QB_OK);
    ASSERT(walked >= 2 * 3 + 1);  /* the day's entries twice and the payment after them */
    ASSERT(walked <= 2 * 3 + 32); /* at most one batch of the walk past the day */
    ASSERT_EQ_INT(out.size, alone.size);
    ASSERT(memcmp(out.data, alone.data, out.size) == 0);
    buf_release(&alone);
    buf_release(&out);
    wx_free(f.wx);
}

/* The trade bill (ALL) of [start_ms, end_ms) as a C string in out. */
static void S_trade_bill(struct mx_shop *f, int64_t start_ms, int64_t end_ms, struct buf *out)
{
    buf_init(out, MERCHANT_BILL_PIECE_SIZE_MAX);
    int64_t walked = 0;
    ASSERT_EQ_INT(S_bill_of(f, MERCHANT_BILL_ALL, start_ms, end_ms, out, &walked), QB_OK);
    ASSERT_EQ_INT(buf_append(out, "", 1), QB_OK);
}

/* The row of bill for o must hold what. */
static void S_row_expect(const struct buf *bill, const struct merchant_order *o, const char *what)
{
    const char *text = (const char *)bill->data;
    for (const char *line = strstr(text, o->transaction_id); line != NULL;
         line = strstr(line + 1, o->transaction_id)) {
        const char *end = strstr(line, "\r\n");
        const char *found = strstr(line, what);
        if (found != NULL && found < end)
            return;
    }
    TEST_FAIL_("no %s in a row of %s:\n%s", what, o->out_trade_no, text);
}

TEST(payment_code_sales_are_micropay_rows_of_the_trade_bill_of_their_day)
{
    // A till that takes payment codes asks WeChat's SDK for its day's trade bill like any other
    // merchant: a sale by payment code is a MICROPAY row beside the NATIVE one. A day's bill never
    // changes once the day has ended (its SHA-1 was answered): a sale reversed the next day is
    // still SUCCESS on its own day, and the money the reversal gave back, with its fee, is a
    // REVOKED row of the day after, where the sums count it as refunded.
    struct mx_shop f;
    mx_shop_open(&f, "面馆", 10000000);
    int64_t start_ms, end_ms;
    S_tomorrow_at_ten(&f, &start_ms, &end_ms);
    struct merchant_order native = S_paid(&f, 30000);
    struct merchant_order sale = S_codepaid(&f, 1500);
    wx_clock_to(f.wx, clock_now_ms(&f.wx->clock) + WX_HOUR_MS); /* a code of another minute */
    struct merchant_order reversed = S_codepaid(&f, 1000);
    wx_clock_to(f.wx, end_ms + WX_HOUR_MS);
    struct buf before;
    S_trade_bill(&f, start_ms, end_ms, &before);
    S_row_expect(&before, &native, "`NATIVE,`SUCCESS,");
    S_row_expect(&before, &sale, "`MICROPAY,`SUCCESS,");
    S_row_expect(&before, &reversed, "`MICROPAY,`SUCCESS,");

    S_reverse(&f, &reversed);
    struct buf after, next_day;
    S_trade_bill(&f, start_ms, end_ms, &after);
    ASSERT_EQ_INT(after.size, before.size);
    ASSERT(memcmp(after.data, before.data, before.size) == 0);
    wx_clock_to(f.wx, end_ms + WX_DAY_MS + WX_HOUR_MS);
    S_trade_bill(&f, end_ms, end_ms + WX_DAY_MS, &next_day);
    S_row_expect(&next_day, &reversed, "`MICROPAY,`REVOKED,");
    S_row_expect(&next_day, &reversed, "`10.00,");
    /* The summary: one trade, nothing settled, 10.00 back, the fee (0.6 %: 0.06) given back. */
    ASSERT(strstr((const char *)next_day.data, "`1,`0.00,`10.00,`0.00,`-0.06000,`0.00,`10.00") !=
           NULL);
    buf_release(&before);
    buf_release(&after);
    buf_release(&next_day);
    wx_free(f.wx);
}

TEST(a_reversed_sale_is_a_refund_of_its_day_in_the_analytics)
{
    // The owner's analytics and the trade bill must tell the same takings: a payment-code sale
    // reversed the next day stays a sale of its day, and its money back is a refund of the day
    // of the reversal, so that sales − refunds is what the merchant kept.
    struct mx_shop f;
    mx_shop_open(&f, "面馆", 10000000);
    int64_t start_ms, end_ms;
    S_tomorrow_at_ten(&f, &start_ms, &end_ms);
    struct merchant_order kept = S_codepaid(&f, 1500);
    wx_clock_to(f.wx, clock_now_ms(&f.wx->clock) + WX_HOUR_MS); /* a code of another minute */
    struct merchant_order reversed = S_codepaid(&f, 1000);
    wx_clock_to(f.wx, end_ms + WX_HOUR_MS);
    S_reverse(&f, &reversed);
    char day[32], next[32]; /* the RFC 3339 times' dates, Beijing time */
    clock_format_rfc3339(start_ms, 8 * 60, day, sizeof day);
    clock_format_rfc3339(end_ms, 8 * 60, next, sizeof next);
    day[10] = next[10] = '\0';
    struct merchant_analytics a;
    const char *message = NULL;
    ASSERT_EQ_INT(merchant_analytics_read(f.wx->reader, f.m.mchid, day, next, &a, &message), QB_OK);
    ASSERT_EQ_INT(a.paid_count, 2);
    ASSERT_EQ_INT(a.sales_minor, kept.total_minor + reversed.total_minor);
    ASSERT_EQ_INT(a.refund_count, 1);
    ASSERT_EQ_INT(a.refunds_minor, reversed.total_minor);
    ASSERT_EQ_INT(a.days[0].refunds_minor, 0);
    ASSERT_EQ_INT(a.days[1].refunds_minor, reversed.total_minor);
    wx_free(f.wx);
}

int main(void)
{
    RUN(each_line_names_the_order_refund_or_reversal_as_wechat_does);
    RUN(a_day_long_ago_reads_that_day_not_every_entry_since);
    RUN(payment_code_sales_are_micropay_rows_of_the_trade_bill_of_their_day);
    RUN(a_reversed_sale_is_a_refund_of_its_day_in_the_analytics);
    return test_summary();
}
