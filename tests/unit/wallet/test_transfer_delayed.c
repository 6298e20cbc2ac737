/*
 * test_transfer_delayed.c — transfers that arrive 2 or 24 hours later
 * (延时到账, transfer.h: wallet_arrival) against a real ledger: the money is
 * held at once and the limits charged then, the payee sees nothing until
 * the worker's arrival captures it, the payer may cancel before, and a
 * payee who cannot take money then never gets it.
 *
 * Every test ends with wx_free, which runs ledger_verify over the whole
 * stored journal, spending sums included: the books must balance after
 * each scenario.
 */
#include <unistd.h>

#include "transfer_fixture.h"

#include "store/pool.h"
#include "wallet/bills.h"
#include "wallet/topup.h"

static struct ledger_account_view S_view(struct wx *wx, int64_t account_id)
{
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(wx->ledger, account_id, &v), QB_OK);
    return v;
}

static int64_t S_day_used(struct wx *wx, const struct identity_user *u)
{
    struct wallet_spending s;
    ASSERT_EQ_INT(wx_spending(wx, u, &s), QB_OK);
    return s.day_used_minor;
}

/* The newest bill lines of account_id, up to cap, into lines: their count. */
static size_t S_bills(struct wx *wx, int64_t account_id, struct bills_line *lines, size_t cap)
{
    struct ledger_account_view view = S_view(wx, account_id);
    uint8_t key[DOMAIN_KEY_SIZE];
    bills_cursor_key(&wx->env, key);
    struct bills_query q;
    memset(&q, 0, sizeof q);
    q.account_id = account_id;
    q.limit = cap;
    q.scan_max = BILLS_SCAN_MAX;
    q.cursor = "";
    struct bills_page page;
    ASSERT_EQ_INT(bills_list(wx->reader, &view, key, &q, lines, &page), QB_OK);
    return page.count;
}

TEST(a_delayed_transfer_is_held_then_arrives)
{
    /* Sent: the payer's available balance drops by a hold (the balance
     * itself does not), the payee gets nothing and cannot see it, and the
     * day's spending counts it. Before its time the worker leaves it; at
     * its time the hold is captured: SUCCESS, the payee paid, the spending
     * counted once. Then the payee may send it back. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);

    struct wx_answer t = wx_transfer_at(wx, &a, b.id, 1000, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(t.result, QB_OK);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    ASSERT_EQ_INT(t.status, 201);
    const char *id = t.payment.id;
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, id, NULL, &p), QB_OK);
    ASSERT_EQ_INT(p.status, WALLET_PROCESSING);
    ASSERT_EQ_INT(p.arrives_at_ms, p.created_at_ms + 2 * WX_HOUR_MS);
    ASSERT_EQ_INT(p.next_check_at_ms, p.arrives_at_ms);
    ASSERT(p.hold_id > 0 && p.entry_id == 0);
    struct ledger_entry e;
    ASSERT_EQ_INT(ledger_entry_read(wx->reader, p.hold_id, &e), QB_OK);
    ASSERT_EQ_INT(e.kind, LEDGER_ENTRY_HOLD);
    ASSERT_EQ_INT(e.code, WALLET_CODE_TRANSFER);
    ASSERT_EQ_STR(e.ref, id);

    json_t *body = json_loads(t.body, 0, NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "status")), "PROCESSING");
    ASSERT(json_string_value(json_object_get(body, "arrives_at")) != NULL);
    ASSERT(json_is_null(json_object_get(body, "failure_code")));
    json_decref(body);

    ASSERT_EQ_INT(S_view(wx, a.account_id).balance_minor, 10000);
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 9000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    ASSERT_EQ_INT(S_day_used(wx, &a), 1000);
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, id, b.id, &p), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, id, a.id, &p), QB_OK);
    struct wx_answer r = wx_return(wx, &b, id, NULL);
    WX_EXPECT_REFUSAL(r, QB_E_NOT_FOUND, 404);

    wx_clock_to(wx, p.arrives_at_ms - 1);
    ASSERT_EQ_INT(wx_arrive(wx, id).status, WALLET_PROCESSING);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    char notices[512], want[512];
    ASSERT_EQ_STR(wx_notices(wx, a.id, notices, sizeof notices), "");

    wx_clock_to(wx, p.arrives_at_ms);
    p = wx_arrive(wx, id);
    ASSERT_EQ_INT(p.status, WALLET_SUCCESS);
    ASSERT_EQ_INT(p.next_check_at_ms, 0);
    ASSERT_EQ_INT(p.updated_at_ms, p.arrives_at_ms);
    ASSERT_EQ_INT(ledger_entry_read(wx->reader, p.entry_id, &e), QB_OK);
    ASSERT_EQ_INT(e.kind, LEDGER_ENTRY_CAPTURE);
    ASSERT_EQ_INT(ledger_entry_posting(&e, b.account_id)->amount_minor, 1000);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 9000);
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, 0);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1000);
    ASSERT_EQ_INT(S_day_used(wx, &a), 1000);
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, id, b.id, &p), QB_OK);

    /* Arriving again moves nothing, and tells nobody again. The payer is
     * told it arrived; the payee, as of any money received, by the bills. */
    ASSERT_EQ_INT(wx_arrive(wx, id).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1000);
    snprintf(want, sizeof want, "transfer_arrived %s 1000", id);
    ASSERT_EQ_STR(wx_notices(wx, a.id, notices, sizeof notices), want);
    snprintf(want, sizeof want, "1 %s *明 | ", b.id);
    ASSERT_EQ_STR(wx_notice_detail(wx, a.id, notices, sizeof notices), want);
    ASSERT_EQ_STR(wx_notices(wx, b.id, notices, sizeof notices), "");

    /* Sent back: the payer is told, of the return's payment. */
    r = wx_return(wx, &b, id, "转错了");
    ASSERT_EQ_INT(r.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);
    snprintf(want, sizeof want, "transfer_arrived %s 1000; transfer_returned %s 1000", id,
             r.payment.id);
    ASSERT_EQ_STR(wx_notices(wx, a.id, notices, sizeof notices), want);
    snprintf(want, sizeof want, "1 %s *明 | 转错了", b.id); /* who sent it back, and why */
    ASSERT_EQ_STR(wx_notice_detail(wx, a.id, notices, sizeof notices), want);
    ASSERT_EQ_STR(wx_notices(wx, b.id, notices, sizeof notices), "");
    wx_free(wx);
}

TEST(a_delayed_transfer_charges_the_limits_when_sent)
{
    /* Held transfers count against the daily cap as they are sent, so that
     * many of them cannot pass it together; a cancel gives back what never
     * left, and only that. */
    struct wx *wx = wx_new();
    wx->env.settings.limit_daily_minor = 5000;
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 20000);

    struct wx_answer t1 = wx_transfer_at(wx, &a, b.id, 3000, WALLET_ARRIVAL_24H);
    ASSERT_EQ_INT(t1.outcome, QB_OK);
    struct wx_answer t2 = wx_transfer_at(wx, &a, b.id, 3000, WALLET_ARRIVAL_2H);
    WX_EXPECT_REFUSAL(t2, QB_E_LIMIT_EXCEEDED, 403);
    ASSERT_EQ_STR(t2.refused_limit, "daily");
    ASSERT_EQ_INT(wx_cancel(wx, &a, t1.payment.id).outcome, QB_OK);
    ASSERT_EQ_INT(S_day_used(wx, &a), 0);
    t2 = wx_transfer_at(wx, &a, b.id, 3000, WALLET_ARRIVAL_INSTANT);
    ASSERT_EQ_INT(t2.outcome, QB_OK);
    ASSERT_EQ_INT(S_day_used(wx, &a), 3000);
    struct wx_answer t3 = wx_transfer_at(wx, &a, b.id, 3000, WALLET_ARRIVAL_INSTANT);
    WX_EXPECT_REFUSAL(t3, QB_E_LIMIT_EXCEEDED, 403);
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 17000);
    wx_free(wx);
}

TEST(the_payer_cancels_before_arrival_and_only_then)
{
    /* Each refusal in the order transfer.h gives, each moving nothing: a
     * stranger, the payee before arrival, an id of no transfer; then the
     * cancel: FAILED TRANSFER_CANCELLED, the hold released; asked again,
     * the same state. It never arrives afterwards. An instant transfer and
     * an arrived one have arrived: TRANSFER_ARRIVED to the payer,
     * FORBIDDEN to the payee. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    struct identity_user c = wx_user(wx, "王五", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t = wx_transfer_at(wx, &a, b.id, 1500, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    const char *id = t.payment.id;

    struct wx_answer k = wx_cancel(wx, &c, id);
    WX_EXPECT_REFUSAL(k, QB_E_NOT_FOUND, 404);
    k = wx_cancel(wx, &b, id);
    WX_EXPECT_REFUSAL(k, QB_E_NOT_FOUND, 404);
    k = wx_cancel(wx, &a, "p_0000000000000000000000000a");
    WX_EXPECT_REFUSAL(k, QB_E_NOT_FOUND, 404);
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 8500);

    /* A frozen payer may still cancel: the money goes back only to them. */
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, a.id, 0, NULL), QB_OK);
    k = wx_cancel(wx, &a, id);
    ASSERT_EQ_INT(k.result, QB_OK);
    ASSERT_EQ_INT(k.outcome, QB_OK);
    ASSERT_EQ_INT(k.status, 200);
    json_t *body = json_loads(k.body, 0, NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "status")), "FAILED");
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "failure_code")), "TRANSFER_CANCELLED");
    json_decref(body);
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, id, NULL, &p), QB_OK);
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "TRANSFER_CANCELLED");
    struct ledger_entry e;
    ASSERT_EQ_INT(ledger_entry_read(wx->reader, p.entry_id, &e), QB_OK);
    ASSERT_EQ_INT(e.kind, LEDGER_ENTRY_VOID);
    ASSERT_EQ_INT(e.code, WALLET_CODE_TRANSFER_RELEASE);
    ASSERT_EQ_INT(e.ref_entry_id, p.hold_id);
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 10000);
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, 0);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, a.id, 0, NULL), QB_OK);

    struct wx_answer again = wx_cancel(wx, &a, id);
    ASSERT_EQ_INT(again.outcome, QB_OK);
    ASSERT_EQ_INT(again.status, 200);
    ASSERT_EQ_STR(again.body, k.body);
    wx_clock_to(wx, p.arrives_at_ms + 1);
    ASSERT_EQ_INT(wx_arrive(wx, id).status, WALLET_FAILED);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);

    struct wx_answer instant = wx_transfer(wx, &a, b.id, 100);
    k = wx_cancel(wx, &a, instant.payment.id);
    WX_EXPECT_REFUSAL(k, QB_E_TRANSFER_ARRIVED, 409);
    k = wx_cancel(wx, &b, instant.payment.id);
    WX_EXPECT_REFUSAL(k, QB_E_FORBIDDEN, 403);
    struct wx_answer later = wx_transfer_at(wx, &a, b.id, 200, WALLET_ARRIVAL_2H);
    wx_clock_to(wx, later.payment.arrives_at_ms);
    ASSERT_EQ_INT(wx_arrive(wx, later.payment.id).status, WALLET_SUCCESS);
    k = wx_cancel(wx, &a, later.payment.id);
    WX_EXPECT_REFUSAL(k, QB_E_TRANSFER_ARRIVED, 409);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 300);
    wx_free(wx);
}

TEST(an_operator_stops_a_transfer_of_any_payer_before_arrival)
{
    /* An operator's cancel needs no party: FAILED TRANSFER_STOPPED, the
     * hold released to the payer, the payee given nothing, at arrival
     * either; asked again, or by the payer, as it is. One the payer
     * cancelled stays TRANSFER_CANCELLED; an arrived one is
     * TRANSFER_ARRIVED, a top-up NOT_FOUND. An operator's command that
     * names a user is a caller's bug: PARAM. The books check out. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t = wx_transfer_at(wx, &a, b.id, 1500, WALLET_ARRIVAL_24H);
    struct wx_answer mine = wx_transfer_at(wx, &a, b.id, 500, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    ASSERT_EQ_INT(mine.outcome, QB_OK);
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 8000);

    struct wallet_transfer_cancel_cmd bad;
    wallet_transfer_cancel_cmd_init(&bad, &wx->env);
    bad.by_operator = true;
    snprintf(bad.user_id, sizeof bad.user_id, "%s", a.id);
    snprintf(bad.transfer_id, sizeof bad.transfer_id, "%s", t.payment.id);
    struct wx_answer k = wx_command_answer(wx, &bad.cmd, &bad.outcome, &bad.payment);
    WX_EXPECT_REFUSAL(k, QB_E_PARAM, 400);

    k = wx_cancel(wx, NULL, t.payment.id);
    ASSERT_EQ_INT(k.outcome, QB_OK);
    ASSERT_EQ_INT(k.status, 200);
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, t.payment.id, NULL, &p), QB_OK);
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "TRANSFER_STOPPED");
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 9500);
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, 500);
    struct wx_answer again = wx_cancel(wx, NULL, t.payment.id);
    ASSERT_EQ_INT(again.outcome, QB_OK);
    ASSERT_EQ_STR(again.body, k.body);
    again = wx_cancel(wx, &a, t.payment.id);
    ASSERT_EQ_INT(again.outcome, QB_OK);
    ASSERT_EQ_STR(again.body, k.body);

    ASSERT_EQ_INT(wx_cancel(wx, &a, mine.payment.id).outcome, QB_OK);
    k = wx_cancel(wx, NULL, mine.payment.id);
    ASSERT_EQ_INT(k.outcome, QB_OK);
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, mine.payment.id, NULL, &p), QB_OK);
    ASSERT_EQ_STR(p.failure_code, "TRANSFER_CANCELLED");

    wx_clock_to(wx, t.payment.arrives_at_ms + 1);
    ASSERT_EQ_INT(wx_arrive(wx, t.payment.id).status, WALLET_FAILED);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);

    struct wx_answer instant = wx_transfer(wx, &a, b.id, 100);
    k = wx_cancel(wx, NULL, instant.payment.id);
    WX_EXPECT_REFUSAL(k, QB_E_TRANSFER_ARRIVED, 409);
    k = wx_cancel(wx, NULL, "p_0000000000000000000000000a");
    WX_EXPECT_REFUSAL(k, QB_E_NOT_FOUND, 404);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 100);
    /* The payer is told of the operator's stop, once; not of their own
     * cancel, nor of what they were answered at once. */
    char notices[512], want[512];
    snprintf(want, sizeof want, "transfer_failed %s 1500 TRANSFER_STOPPED", t.payment.id);
    ASSERT_EQ_STR(wx_notices(wx, a.id, notices, sizeof notices), want);
    ASSERT_EQ_STR(wx_notices(wx, b.id, notices, sizeof notices), "");
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL), QB_OK);
    wx_free(wx);
}

TEST(arrival_waits_for_a_frozen_payer_and_skips_a_payee_who_cannot_take_it)
{
    /* A payer frozen at arrival time: the transfer waits, asked again a
     * minute later, and arrives once unfrozen. A payee frozen, or whose
     * account takes no credits: the money goes back, FAILED
     * PAYEE_UNAVAILABLE. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    struct identity_user c = wx_user(wx, "王五", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t1 = wx_transfer_at(wx, &a, b.id, 1000, WALLET_ARRIVAL_2H);
    struct wx_answer t2 = wx_transfer_at(wx, &a, b.id, 2000, WALLET_ARRIVAL_2H);
    struct wx_answer t3 = wx_transfer_at(wx, &a, c.id, 3000, WALLET_ARRIVAL_2H);
    ASSERT(t1.outcome == QB_OK && t2.outcome == QB_OK && t3.outcome == QB_OK);

    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, a.id, 0, NULL), QB_OK);
    wx_clock_to(wx, t1.payment.arrives_at_ms);
    struct wallet_payment p = wx_arrive(wx, t1.payment.id);
    ASSERT_EQ_INT(p.status, WALLET_PROCESSING);
    ASSERT_EQ_INT(p.next_check_at_ms, t1.payment.arrives_at_ms + WALLET_UNPOSTABLE_RETRY_MS);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, a.id, 0, NULL), QB_OK);
    wx_clock_to(wx, p.next_check_at_ms);
    ASSERT_EQ_INT(wx_arrive(wx, t1.payment.id).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1000);

    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_FREEZE, b.id, 0, NULL), QB_OK);
    p = wx_arrive(wx, t2.payment.id);
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1000);

    wx_flags_set(wx, c.account_id, LEDGER_ACCOUNT_CREDIT_FROZEN);
    p = wx_arrive(wx, t3.payment.id);
    ASSERT_EQ_INT(p.status, WALLET_FAILED);
    ASSERT_EQ_STR(p.failure_code, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(wx_balance(wx, c.account_id), 0);
    ASSERT_EQ_INT(S_view(wx, a.account_id).available_minor, 9000);
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, 0);
    /* A wait tells nobody; each end, the payer. */
    char notices[512], want[512];
    snprintf(want, sizeof want,
             "transfer_arrived %s 1000; transfer_failed %s 2000 PAYEE_UNAVAILABLE; "
             "transfer_failed %s 3000 PAYEE_UNAVAILABLE",
             t1.payment.id, t2.payment.id, t3.payment.id);
    ASSERT_EQ_STR(wx_notices(wx, a.id, notices, sizeof notices), want);
    ASSERT_EQ_STR(wx_notices(wx, b.id, notices, sizeof notices), "");
    ASSERT_EQ_STR(wx_notices(wx, c.id, notices, sizeof notices), "");
    wx_free(wx);
}

TEST(the_return_window_runs_from_when_the_money_reached_the_payee)
{
    /* A payee may send a transfer back within 30 days of it reaching
     * them. A delayed transfer held back by its payer's freeze reaches
     * them when the freeze is lifted, not at the arrival it was given:
     * a month's freeze must not leave them no time at all. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t = wx_transfer_at(wx, &a, b.id, 1000, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, a.id, 0, NULL), QB_OK);
    wx_clock_to(wx, t.payment.arrives_at_ms);
    ASSERT_EQ_INT(wx_arrive(wx, t.payment.id).status, WALLET_PROCESSING);
    int64_t unfrozen_at_ms = t.payment.arrives_at_ms + WALLET_TRANSFER_RETURN_WINDOW_MS;
    wx_clock_to(wx, unfrozen_at_ms);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, a.id, 0, NULL), QB_OK);
    ASSERT_EQ_INT(wx_arrive(wx, t.payment.id).status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1000);
    wx_clock_to(wx, unfrozen_at_ms + 3600 * 1000);
    struct wx_answer r = wx_return(wx, &b, t.payment.id, NULL);
    ASSERT_EQ_INT(r.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    wx_free(wx);
}

TEST(bills_show_the_hold_the_refund_and_the_arrival)
{
    /* The payer's line is the hold (PROCESSING, then what became of it),
     * with a transfer_refund line when the money came back; the payee's
     * line is the arrival alone. balance_after is the available balance. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t1 = wx_transfer_at(wx, &a, b.id, 1000, WALLET_ARRIVAL_2H);
    struct wx_answer t2 = wx_transfer_at(wx, &a, b.id, 2000, WALLET_ARRIVAL_2H);
    ASSERT(t1.outcome == QB_OK && t2.outcome == QB_OK);
    struct bills_line lines[8];
    ASSERT_EQ_INT(S_bills(wx, a.account_id, lines, 8), 3); /* two holds and the funding */
    ASSERT_EQ_INT(lines[0].type, BILLS_TRANSFER);
    ASSERT_EQ_INT(lines[0].direction, BILLS_OUT);
    ASSERT_EQ_INT(lines[0].status, WALLET_PROCESSING);
    ASSERT_EQ_INT(lines[0].amount_minor, 2000);
    ASSERT_EQ_INT(lines[0].balance_after_minor, 7000);
    ASSERT_EQ_INT(S_bills(wx, b.account_id, lines, 8), 0);

    ASSERT_EQ_INT(wx_cancel(wx, &a, t2.payment.id).outcome, QB_OK);
    wx_clock_to(wx, t1.payment.arrives_at_ms);
    ASSERT_EQ_INT(wx_arrive(wx, t1.payment.id).status, WALLET_SUCCESS);

    ASSERT_EQ_INT(S_bills(wx, a.account_id, lines, 8), 4);
    ASSERT_EQ_INT(lines[0].type, BILLS_TRANSFER_REFUND);
    ASSERT_EQ_INT(lines[0].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[0].status, WALLET_SUCCESS);
    ASSERT_EQ_INT(lines[0].amount_minor, 2000);
    ASSERT_EQ_INT(lines[0].balance_after_minor, 9000);
    ASSERT_EQ_STR(lines[0].id, t2.payment.id);
    ASSERT_EQ_STR(lines[0].counterparty.id, b.id);
    ASSERT_EQ_INT(lines[1].status, WALLET_FAILED);
    ASSERT_EQ_STR(lines[1].failure_code, "TRANSFER_CANCELLED");
    ASSERT_EQ_INT(lines[2].status, WALLET_SUCCESS);
    ASSERT_EQ_STR(lines[2].id, t1.payment.id);

    ASSERT_EQ_INT(S_bills(wx, b.account_id, lines, 8), 1);
    ASSERT_EQ_INT(lines[0].type, BILLS_TRANSFER);
    ASSERT_EQ_INT(lines[0].direction, BILLS_IN);
    ASSERT_EQ_INT(lines[0].amount_minor, 1000);
    ASSERT_EQ_INT(lines[0].balance_after_minor, 1000);
    ASSERT_EQ_INT(lines[0].created_at_ms, t1.payment.arrives_at_ms);
    ASSERT_EQ_STR(lines[0].counterparty.id, a.id);
    wx_free(wx);
}

/* Sets user's default arrival with password (NULL: none): the outcome. */
static enum qb_error S_default_set(struct wx *wx, const struct identity_user *user,
                                   enum wallet_arrival arrival, const char *password)
{
    struct wallet_limits_set_cmd c;
    wallet_limits_set_cmd_init(&c, &wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", user->id);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", password != NULL ? password : "");
    c.set_transfer_arrival = true;
    c.transfer_arrival = arrival;
    enum qb_error rc = ledger_execute(wx->ledger, &c.cmd);
    if (rc == QB_OK)
        rc = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    return rc == QB_OK ? c.outcome : rc;
}

TEST(the_payers_default_applies_and_only_a_password_makes_it_sooner)
{
    /* A payer who set 24 hours as their default: a transfer that names no
     * arrival is held for 24 hours, one that says instant arrives at once.
     * Making it later needs no password (a phone's thief cannot use that);
     * making it sooner needs the right one, a wrong one counted. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);
    ASSERT_EQ_INT(S_default_set(wx, &a, WALLET_ARRIVAL_24H, NULL), QB_OK);
    struct wallet_spending s;
    ASSERT_EQ_INT(wx_spending(wx, &a, &s), QB_OK);
    ASSERT_EQ_INT(s.transfer_arrival, WALLET_ARRIVAL_24H);

    struct wx_answer t = wx_transfer(wx, &a, b.id, 100);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    ASSERT_EQ_INT(t.payment.status, WALLET_PROCESSING);
    ASSERT_EQ_INT(t.payment.arrives_at_ms, t.payment.created_at_ms + 24 * WX_HOUR_MS);
    t = wx_transfer_at(wx, &a, b.id, 200, WALLET_ARRIVAL_INSTANT);
    ASSERT_EQ_INT(t.payment.status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 200);

    ASSERT_EQ_INT(S_default_set(wx, &a, WALLET_ARRIVAL_2H, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(S_default_set(wx, &a, WALLET_ARRIVAL_INSTANT, WX_WRONG_PASSWORD),
                  QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(wx_user_get(wx, a.id).payment_password_failures, 1);
    ASSERT_EQ_INT(S_default_set(wx, &a, WALLET_ARRIVAL_2H, WX_PAY_PASSWORD), QB_OK);
    t = wx_transfer(wx, &a, b.id, 300);
    ASSERT_EQ_INT(t.payment.arrives_at_ms, t.payment.created_at_ms + 2 * WX_HOUR_MS);
    ASSERT_EQ_INT(S_default_set(wx, &a, WALLET_ARRIVAL_INSTANT, WX_PAY_PASSWORD), QB_OK);
    t = wx_transfer(wx, &a, b.id, 400);
    ASSERT_EQ_INT(t.payment.status, WALLET_SUCCESS);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 600);
    wx_free(wx);
}

TEST(the_check_finds_a_delayed_transfer_its_journal_does_not_bear_out)
{
    /* The operator's check passes the books of a delayed transfer pending,
     * one arrived and one cancelled, and names the transfer when its
     * payment was edited (another amount, a status its hold does not
     * say), or counts the holds when a payment lost its hold. None of them
     * is a payment the bank owes: the operator's list of those is empty. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    wx_fund(wx, a.account_id, 5000);
    struct wx_answer pending = wx_transfer_at(wx, &a, b.id, 100, WALLET_ARRIVAL_24H);
    struct wx_answer arrived = wx_transfer_at(wx, &a, b.id, 200, WALLET_ARRIVAL_2H);
    struct wx_answer cancelled = wx_transfer_at(wx, &a, b.id, 300, WALLET_ARRIVAL_2H);
    ASSERT(pending.outcome == QB_OK && arrived.outcome == QB_OK && cancelled.outcome == QB_OK);
    ASSERT_EQ_INT(wx_transfer(wx, &a, b.id, 400).outcome, QB_OK);
    ASSERT_EQ_INT(wx_cancel(wx, &a, cancelled.payment.id).outcome, QB_OK);
    wx_clock_to(wx, arrived.payment.arrives_at_ms);
    ASSERT_EQ_INT(wx_arrive(wx, arrived.payment.id).status, WALLET_SUCCESS);

    /* The operator's backlog: one waiting, to be taken up at its time. */
    struct wallet_backlog backlog;
    ASSERT_EQ_INT(wallet_backlog_read(wx->reader, &backlog), QB_OK);
    ASSERT_EQ_INT(backlog.transfers_delayed, 1);
    ASSERT_EQ_INT(backlog.transfer_next_check_ms, pending.payment.arrives_at_ms);
    ASSERT_EQ_INT(backlog.topups + backlog.withdrawals, 0);

    struct wallet_payment owed[4];
    size_t owed_count = 99;
    ASSERT_EQ_INT(wallet_payments_processing(wx->reader, 0, owed, 4, &owed_count), QB_OK);
    ASSERT_EQ_INT(owed_count, 0);

    int64_t checked = -1;
    char problem[256];
    ASSERT_EQ_INT(wallet_delayed_transfers_check(wx->reader, &checked, problem, sizeof problem),
                  QB_OK);
    ASSERT_EQ_INT(checked, 3);
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL), QB_OK);

    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE payments SET amount_minor = amount_minor + 1 WHERE id = '%s'",
             arrived.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_delayed_transfers_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, arrived.payment.id) != NULL);
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                  QB_E_INTERNAL);
    snprintf(sql, sizeof sql, "UPDATE payments SET amount_minor = amount_minor - 1 WHERE id = '%s'",
             arrived.payment.id);
    wx_hand_edit(wx, sql);

    /* Said to have arrived while its hold is still open. */
    snprintf(sql, sizeof sql, "UPDATE payments SET status = 2 WHERE id = '%s'", pending.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_delayed_transfers_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, pending.payment.id) != NULL);
    snprintf(sql, sizeof sql, "UPDATE payments SET status = 1 WHERE id = '%s'", pending.payment.id);
    wx_hand_edit(wx, sql);
    /* Said to have been cancelled while it arrived. */
    snprintf(sql, sizeof sql, "UPDATE payments SET status = 3 WHERE id = '%s'", arrived.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_delayed_transfers_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, arrived.payment.id) != NULL);
    snprintf(sql, sizeof sql, "UPDATE payments SET status = 2 WHERE id = '%s'", arrived.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_delayed_transfers_check(wx->reader, &checked, problem, sizeof problem),
                  QB_OK);

    snprintf(sql, sizeof sql, "UPDATE payments SET hold_id = 0 WHERE id = '%s'",
             cancelled.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_delayed_transfers_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, "journal holds 3 delayed transfers' holds, the payments 2") != NULL);
    wx_free(wx);
}

TEST(due_transfers_arrive_before_the_bank_is_asked_about_anything)
{
    /* A pass of the wallet's worker takes up to 256 delayed transfers at a
     * time, batch after batch, and 32 of the bank's payments. Forty top-ups
     * wait on a bank that does not answer, all due before forty transfers:
     * the transfers still all arrive in the first pass, since a bank call
     * may take seconds and a transfer needs none, and they are submitted
     * together, sharing the ledger's commits (a batch each would be 40);
     * then one batch of the bank's is asked about, a payment at a time. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 40 * 500);
    struct wx_answer t;
    for (int i = 0; i < 40; i++) {
        t = wx_transfer_at(wx, &a, b.id, 500, WALLET_ARRIVAL_2H);
        ASSERT_EQ_INT(t.outcome, QB_OK);
    }
    for (int64_t seq = 1; seq <= 40; seq++) {
        char id[ID_TEXT_SIZE_MAX], sql[512];
        id_new_sequenced(&wx->rand, seq, "p", id, sizeof id);
        snprintf(sql, sizeof sql,
                 "INSERT INTO payments (seq, id, kind, user_id, counterparty_id, card_id,"
                 " currency, amount_minor, fee_minor, memo, status, failure_code, hold_id,"
                 " entry_id, bank_ref, created_at_ms, updated_at_ms, next_check_at_ms)"
                 " VALUES (%lld, '%s', 1, '%s', '', 'c_none', 'CNY', 100, 0, '', 1, '', 0, 0,"
                 " '', 1, 1, %lld)",
                 (long long)seq, id, a.id, (long long)seq);
        wx_hand_edit(wx, sql);
    }
    wx_clock_to(wx, t.payment.arrives_at_ms);
    struct store_pool *pool = NULL;
    char err[256];
    ASSERT_EQ_INT(store_pool_open(wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    size_t resolved = 0;
    struct ledger_stats before, after;
    ledger_stats_get(wx->ledger, &before);
    ASSERT_EQ_INT(wallet_worker_pass(&wx->env, pool, &resolved), QB_OK);
    ledger_stats_get(wx->ledger, &after);
    store_pool_close(pool);
    ASSERT_EQ_INT(resolved, 40 + 32);
    ASSERT_EQ_INT(after.commands_total - before.commands_total, 40 + 32);
    ASSERT(after.batches_total - before.batches_total <= 32 + 8);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 40 * 500);
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, 0);
    wx_free(wx);
}

TEST(one_transfer_that_cannot_arrive_holds_up_nothing_else)
{
    /* A delayed transfer whose arrival fails in its own command every time
     * (a row damaged by hand here; a bug, in life) is logged and passed
     * over: the transfers due with it arrive, and the bank's payments are
     * still asked about in the same pass. Before, it ended every pass: a
     * top-up or withdrawal would never be resolved again. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 1000);
    struct wx_answer bad = wx_transfer_at(wx, &a, b.id, 100, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(bad.outcome, QB_OK);
    struct wx_answer good = wx_transfer_at(wx, &a, b.id, 200, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(good.outcome, QB_OK);
    char sql[512], topup[ID_TEXT_SIZE_MAX];
    snprintf(sql, sizeof sql,
             "UPDATE payments SET hold_id = hold_id + 1000000, next_check_at_ms ="
             " next_check_at_ms - 1 WHERE id = '%s'",
             bad.payment.id);
    wx_hand_edit(wx, sql);
    id_new_sequenced(&wx->rand, 1000, "p", topup, sizeof topup);
    snprintf(sql, sizeof sql,
             "INSERT INTO payments (seq, id, kind, user_id, counterparty_id, card_id,"
             " currency, amount_minor, fee_minor, memo, status, failure_code, hold_id,"
             " entry_id, bank_ref, created_at_ms, updated_at_ms, next_check_at_ms)"
             " VALUES (1000, '%s', 1, '%s', '', 'c_none', 'CNY', 100, 0, '', 1, '', 0, 0,"
             " '', 1, 1, 1)",
             topup, a.id);
    wx_hand_edit(wx, sql);
    wx_clock_to(wx, good.payment.arrives_at_ms);
    struct store_pool *pool = NULL;
    char err[256];
    ASSERT_EQ_INT(store_pool_open(wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    size_t resolved = 0;
    ASSERT_EQ_INT(wallet_worker_pass(&wx->env, pool, &resolved), QB_OK);
    ASSERT_EQ_INT(resolved, 2); /* the good transfer, and the top-up asked about */
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 200);
    /* Mended, it arrives at the next pass. */
    snprintf(sql, sizeof sql, "UPDATE payments SET hold_id = hold_id - 1000000 WHERE id = '%s'",
             bad.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_worker_pass(&wx->env, pool, &resolved), QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 300);
    store_pool_close(pool);
    wx_free(wx);
}

TEST(a_batch_of_transfers_that_cannot_arrive_holds_up_none_after_them)
{
    /* As many delayed transfers as the worker reads at a time (256) fail
     * their arrivals every time, all due before a good one. The worker
     * reads on after a full batch, so the good one still arrives, under a
     * poll of an hour; before, every pass read the same 256 and no
     * transfer due after them ever arrived. */
    enum { S_BAD = 256 };
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, S_BAD + 200);
    for (int i = 0; i < S_BAD; i++)
        ASSERT_EQ_INT(wx_transfer_at(wx, &a, b.id, 1, WALLET_ARRIVAL_2H).outcome, QB_OK);
    struct wx_answer good = wx_transfer_at(wx, &a, b.id, 200, WALLET_ARRIVAL_2H);
    ASSERT_EQ_INT(good.outcome, QB_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE payments SET hold_id = hold_id + 1000000, next_check_at_ms ="
             " next_check_at_ms - 1 WHERE kind = 3 AND id <> '%s'",
             good.payment.id);
    wx_hand_edit(wx, sql);
    wx_clock_to(wx, good.payment.arrives_at_ms);
    struct store_pool *pool = NULL;
    char err[256];
    ASSERT_EQ_INT(store_pool_open(wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    wx->env.settings.worker_poll_ms = 3600 * 1000;
    struct wallet_worker *w = NULL;
    ASSERT_EQ_INT(wallet_worker_start(&wx->env, pool, &w), QB_OK);
    int64_t arrived = wx_balance(wx, b.account_id);
    for (int waited_ms = 0; arrived < 200 && waited_ms < 30 * 1000; waited_ms += 10) {
        usleep(10 * 1000);
        arrived = wx_balance(wx, b.account_id);
    }
    wallet_worker_stop(w);
    store_pool_close(pool);
    ASSERT_EQ_INT(arrived, 200);
    wx_free(wx);
}

TEST(a_backlog_of_due_transfers_arrives_without_waiting_between_passes)
{
    /* 2,148 delayed transfers come due in the same second (a busy hour's,
     * two hours on, or a daemon that was stopped meanwhile): more than one
     * pass takes (eight batches of 256). The worker polls once an hour
     * here, so they all arrive only if a pass that stopped with transfers
     * left is followed at once; one pass per poll would leave 100 payees
     * waiting an hour (in production 2,048 per 0.2 s at best, and a bank
     * batch's calls between). Nothing here waits on the poll: the wait
     * ends at the last arrival, and a sleep with work left would outlast it
     * by far. */
    enum { S_COUNT = 8 * 256 + 100 };
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, S_COUNT);
    struct wx_answer t;
    for (int i = 0; i < S_COUNT; i++) {
        t = wx_transfer_at(wx, &a, b.id, 1, WALLET_ARRIVAL_2H);
        ASSERT_EQ_INT(t.outcome, QB_OK);
    }
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, S_COUNT);
    wx_clock_to(wx, t.payment.arrives_at_ms);

    struct store_pool *pool = NULL;
    char err[256];
    ASSERT_EQ_INT(store_pool_open(wx->db_path, 1, &pool, err, sizeof err), QB_OK);
    wx->env.settings.worker_poll_ms = 3600 * 1000;
    struct wallet_worker *w = NULL;
    ASSERT_EQ_INT(wallet_worker_start(&wx->env, pool, &w), QB_OK);
    int64_t arrived = wx_balance(wx, b.account_id);
    for (int waited_ms = 0; arrived < S_COUNT && waited_ms < 30 * 1000; waited_ms += 10) {
        usleep(10 * 1000);
        arrived = wx_balance(wx, b.account_id);
    }
    wallet_worker_stop(w);
    store_pool_close(pool);
    if (arrived != S_COUNT)
        TEST_FAIL_("%lld of %d due transfers still wait to arrive after 30 s",
                   (long long)(S_COUNT - arrived), S_COUNT);
    ASSERT_EQ_INT(S_view(wx, a.account_id).held_minor, 0);
    wx_free(wx);
}

int main(void)
{
    RUN(a_delayed_transfer_is_held_then_arrives);
    RUN(a_delayed_transfer_charges_the_limits_when_sent);
    RUN(the_payer_cancels_before_arrival_and_only_then);
    RUN(an_operator_stops_a_transfer_of_any_payer_before_arrival);
    RUN(arrival_waits_for_a_frozen_payer_and_skips_a_payee_who_cannot_take_it);
    RUN(the_return_window_runs_from_when_the_money_reached_the_payee);
    RUN(bills_show_the_hold_the_refund_and_the_arrival);
    RUN(the_check_finds_a_delayed_transfer_its_journal_does_not_bear_out);
    RUN(the_payers_default_applies_and_only_a_password_makes_it_sooner);
    RUN(due_transfers_arrive_before_the_bank_is_asked_about_anything);
    RUN(one_transfer_that_cannot_arrive_holds_up_nothing_else);
    RUN(a_batch_of_transfers_that_cannot_arrive_holds_up_none_after_them);
    RUN(a_backlog_of_due_transfers_arrives_without_waiting_between_passes);
    return test_summary();
}
