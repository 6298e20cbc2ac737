/*
 * test_transfer.c — the transfer command against a real ledger: money
 * moves once and only when every check allows it, every refusal moves
 * nothing and is stored as the answer, a wrong payment password still
 * counts, and a replayed key answers the same bytes.
 *
 * Every test ends with wx_free, which runs ledger_verify over the whole
 * stored journal: the books must balance after each scenario.
 */
#include "transfer_fixture.h"

TEST(transfer_moves_money_and_records_one_payment)
{
    /* The ordinary case, end to end: the balance moves payer → payee in one
     * entry coded WALLET_CODE_TRANSFER whose ref is the payment id, the
     * payments row says SUCCESS with that entry, and the answer shows the
     * payee's masked name. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);

    struct wx_transfer_args args = {b.phone, 1234, WX_PAY_PASSWORD, "午饭", NULL, 0, NULL};
    struct wx_answer ans = wx_transfer_args(wx, &a, &args);
    ASSERT_EQ_INT(ans.result, QB_OK);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(ans.status, 201);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000 - 1234);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1234);

    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, ans.payment.id, NULL, &p), QB_OK);
    ASSERT_EQ_INT(p.kind, WALLET_TRANSFER);
    ASSERT_EQ_INT(p.status, WALLET_SUCCESS);
    ASSERT_EQ_STR(p.user_id, a.id);
    ASSERT_EQ_STR(p.counterparty_id, b.id);
    ASSERT_EQ_INT(p.amount_minor, 1234);
    ASSERT_EQ_STR(p.memo, "午饭");
    ASSERT(p.entry_id > 0);
    struct ledger_entry e;
    ASSERT_EQ_INT(ledger_entry_read(wx->reader, p.entry_id, &e), QB_OK);
    ASSERT_EQ_INT(e.code, WALLET_CODE_TRANSFER);
    ASSERT_EQ_STR(e.ref, p.id);
    ASSERT_EQ_INT(e.posting_count, 2);
    ASSERT_EQ_INT(ledger_entry_posting(&e, a.account_id)->amount_minor, -1234);
    ASSERT_EQ_INT(ledger_entry_posting(&e, b.account_id)->amount_minor, 1234);

    json_t *body = json_loads(ans.body, 0, NULL);
    ASSERT(body != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "id")), p.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "status")), "SUCCESS");
    ASSERT_EQ_INT(json_integer_value(json_object_get(body, "amount")), 1234);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "currency")), "CNY");
    json_t *to = json_object_get(body, "to");
    ASSERT_EQ_STR(json_string_value(json_object_get(to, "user_id")), b.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(to, "display_name")), "*明");
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "memo")), "午饭");
    ASSERT(json_string_value(json_object_get(body, "created_at")) != NULL);
    json_decref(body);
    ASSERT(strstr(ans.body, WX_PAY_PASSWORD) == NULL);

    /* The payee is found by user id as well as by phone; the payee's row is
     * readable by the payee and by nobody else. */
    ans = wx_transfer(wx, &a, b.id, 100);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1334);
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, ans.payment.id, b.id, &p), QB_OK);
    struct identity_user c = wx_user(wx, "王五", true);
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, ans.payment.id, c.id, &p), QB_E_NOT_FOUND);
    wx_free(wx);
}

TEST(payee_checks_refuse_and_move_nothing)
{
    /* Unknown, self, frozen and closed payees are each refused with their
     * own code, before the password is even looked at: the payer's
     * password count stays untouched. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    wx_fund(wx, a.account_id, 5000);

    struct wx_answer ans = wx_transfer(wx, &a, "13999999999", 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_NOT_FOUND, 404);
    ans = wx_transfer(wx, &a, "u_0000000000000000000000000a", 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_NOT_FOUND, 404);
    ans = wx_transfer(wx, &a, a.phone, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_SELF_TRANSFER, 400);
    ans = wx_transfer(wx, &a, a.id, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_SELF_TRANSFER, 400);

    /* A payee who froze their wallet takes nothing, and nor does a closed
     * or credit-frozen account. */
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, b.id, 0, NULL), QB_OK);
    ans = wx_transfer(wx, &a, b.phone, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_UNAVAILABLE, 403);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, b.id, 0, NULL), QB_OK);
    struct identity_user closed = wx_user(wx, "王五", true);
    wx_flags_set(wx, closed.account_id, LEDGER_ACCOUNT_CLOSED); /* closed for good */
    ans = wx_transfer(wx, &a, closed.id, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_UNAVAILABLE, 403);
    wx_flags_set(wx, b.account_id, LEDGER_ACCOUNT_CREDIT_FROZEN);
    ans = wx_transfer(wx, &a, b.phone, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_UNAVAILABLE, 403);
    wx_flags_set(wx, b.account_id, 0);

    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    ASSERT_EQ_INT(wx_user_get(wx, a.id).payment_password_failures, 0);

    /* Once open again, the same transfer goes through. */
    ans = wx_transfer(wx, &a, b.phone, 100);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 100);
    wx_free(wx);
}

TEST(frozen_payer_and_bad_amounts_are_refused)
{
    /* A frozen payer cannot send; zero, negative, oversize and non-CNY
     * amounts are refused with their codes; none of it moves money. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", false);
    wx_fund(wx, a.account_id, 5000);

    struct wx_answer ans = wx_transfer(wx, &a, b.phone, 0);
    WX_EXPECT_REFUSAL(ans, QB_E_BAD_AMOUNT, 400);
    ans = wx_transfer(wx, &a, b.phone, -5);
    WX_EXPECT_REFUSAL(ans, QB_E_BAD_AMOUNT, 400);
    ans = wx_transfer(wx, &a, b.phone, INT64_MIN);
    WX_EXPECT_REFUSAL(ans, QB_E_BAD_AMOUNT, 400);
    ans = wx_transfer(wx, &a, b.phone, WALLET_TRANSFER_AMOUNT_MAX_MINOR + 1);
    WX_EXPECT_REFUSAL(ans, QB_E_OVERFLOW, 400);
    ans = wx_transfer(wx, &a, b.phone, INT64_MAX);
    WX_EXPECT_REFUSAL(ans, QB_E_OVERFLOW, 400);
    struct wx_transfer_args usd = {b.phone, 100, WX_PAY_PASSWORD, NULL, NULL, 0,
                                   currency_find("USD")};
    ans = wx_transfer_args(wx, &a, &usd);
    WX_EXPECT_REFUSAL(ans, QB_E_BAD_CURRENCY, 400);

    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, a.id, 0, NULL), QB_OK);
    ans = wx_transfer(wx, &a, b.phone, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_ACCOUNT_FROZEN, 403);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    wx_free(wx);
}

TEST(wrong_payment_password_is_counted_and_moves_nothing)
{
    /* The failure count must survive the refusal (the command commits it),
     * or guesses would be free; five wrong ones lock the password, and the
     * lock refuses even the right one. A payer without a payment password
     * is told to set one. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", false);
    wx_fund(wx, a.account_id, 5000);

    struct wx_transfer_args wrong = {b.phone, 100, WX_WRONG_PASSWORD, NULL, NULL, 0, NULL};
    for (int i = 1; i <= 4; i++) {
        struct wx_answer ans = wx_transfer_args(wx, &a, &wrong);
        WX_EXPECT_REFUSAL(ans, QB_E_PASSWORD_WRONG, 403);
        ASSERT_EQ_INT(ans.tries_left, 5 - i);
        ASSERT_EQ_INT(wx_user_get(wx, a.id).payment_password_failures, i);
        ASSERT(strstr(ans.body, "tries left") != NULL || strstr(ans.body, "try left") != NULL);
    }
    struct wx_answer ans = wx_transfer_args(wx, &a, &wrong);
    WX_EXPECT_REFUSAL(ans, QB_E_PASSWORD_LOCKED, 423);
    ans = wx_transfer(wx, &a, b.phone, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PASSWORD_LOCKED, 423);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);

    /* After the lock runs out the right password pays again. */
    clock_manual_advance(&wx->clock, wx->env.settings.payment_password_lock_ms + 1);
    ans = wx_transfer(wx, &a, b.phone, 100);
    ASSERT_EQ_INT(ans.outcome, QB_OK);

    /* b never set one. */
    wx_fund(wx, b.account_id, 1000);
    ans = wx_transfer(wx, &b, a.phone, 100);
    WX_EXPECT_REFUSAL(ans, QB_E_PASSWORD_NOT_SET, 403);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1100);
    wx_free(wx);
}

TEST(insufficient_balance_charges_no_limit)
{
    /* A payment the balance cannot cover is refused with 402 and leaves the
     * limits as they were: the balance is checked before the charge. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", false);
    wx_fund(wx, a.account_id, 500);

    struct wx_answer ans = wx_transfer(wx, &a, b.phone, 501);
    WX_EXPECT_REFUSAL(ans, QB_E_INSUFFICIENT_BALANCE, 402);
    struct wallet_spending s;
    ASSERT_EQ_INT(wx_spending(wx, &a, &s), QB_OK);
    ASSERT_EQ_INT(s.day_used_minor, 0);
    ASSERT_EQ_INT(s.lifetime_used_minor, 0);

    /* Exactly the balance is fine, and then it is empty. */
    ans = wx_transfer(wx, &a, b.phone, 500);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 0);
    ans = wx_transfer(wx, &a, b.phone, 1);
    WX_EXPECT_REFUSAL(ans, QB_E_INSUFFICIENT_BALANCE, 402);
    ASSERT_EQ_INT(wx_spending(wx, &a, &s), QB_OK);
    ASSERT_EQ_INT(s.day_used_minor, 500);
    wx_free(wx);
}

TEST(limit_refusal_names_the_limit_and_moves_nothing)
{
    /* A KYC level 1 user may spend ¥1,000 in the account's lifetime: the
     * payment that would pass it is refused with LIMIT_EXCEEDED and the
     * body says "limit": "kyc_lifetime"; nothing moves. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", false);
    wx_fund(wx, a.account_id, 500000);

    struct wx_answer ans = wx_transfer(wx, &a, b.phone, 60000);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ans = wx_transfer(wx, &a, b.phone, 40001);
    WX_EXPECT_REFUSAL(ans, QB_E_LIMIT_EXCEEDED, 403);
    ASSERT_EQ_STR(ans.refused_limit, "kyc_lifetime");
    json_t *body = json_loads(ans.body, 0, NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "limit")), "kyc_lifetime");
    json_decref(body);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 60000);

    ans = wx_transfer(wx, &a, b.phone, 40000);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 100000);
    wx_free(wx);
}

TEST(password_free_payments_need_the_users_setting)
{
    /* Off by default: no password, no payment. Once the user sets a
     * password-free amount, payments up to it need none and payments above
     * it still do; an operator lowering the maximum caps what the user set. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", false);
    wx_fund(wx, a.account_id, 50000);

    struct wx_transfer_args free_pay = {b.phone, 5000, NULL, NULL, NULL, 0, NULL};
    struct wx_answer ans = wx_transfer_args(wx, &a, &free_pay);
    WX_EXPECT_REFUSAL(ans, QB_E_PARAM, 400);

    struct wallet_limits_set_cmd c;
    wallet_limits_set_cmd_init(&c, &wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", a.id);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", WX_PAY_PASSWORD);
    c.set_password_free_limit = true;
    c.password_free_limit_minor = 5000;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ledger_cmd_release(&c.cmd);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);

    ans = wx_transfer_args(wx, &a, &free_pay);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    free_pay.amount_minor = 5001;
    ans = wx_transfer_args(wx, &a, &free_pay);
    WX_EXPECT_REFUSAL(ans, QB_E_PARAM, 400);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 5000);

    wx->env.settings.password_free_max_minor = 1000;
    free_pay.amount_minor = 1001;
    ans = wx_transfer_args(wx, &a, &free_pay);
    WX_EXPECT_REFUSAL(ans, QB_E_PARAM, 400);
    free_pay.amount_minor = 1000;
    ans = wx_transfer_args(wx, &a, &free_pay);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 6000);
    wx_free(wx);
}

TEST(a_replayed_key_answers_the_same_bytes_once)
{
    /* The same key and fingerprint must answer the stored bytes without
     * running again — one payment however often it is retried — and a
     * refusal is kept the same way; the same key with another fingerprint
     * is IDEMPOTENCY_MISMATCH and moves nothing. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", false);
    wx_fund(wx, a.account_id, 10000);

    struct wx_transfer_args args = {b.phone, 700, WX_PAY_PASSWORD, NULL, "key-1", 0x42, NULL};
    struct wx_answer first = wx_transfer_args(wx, &a, &args);
    ASSERT_EQ_INT(first.outcome, QB_OK);
    ASSERT(!first.replayed);
    for (int i = 0; i < 5; i++) {
        clock_manual_advance(&wx->clock, 1000);
        struct wx_answer again = wx_transfer_args(wx, &a, &args);
        ASSERT_EQ_INT(again.result, QB_OK);
        ASSERT(again.replayed);
        ASSERT_EQ_INT(again.status, 201);
        ASSERT_EQ_STR(again.body, first.body);
    }
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 700);

    args.hash_byte = 0x43;
    struct wx_answer other = wx_transfer_args(wx, &a, &args);
    ASSERT_EQ_INT(other.result, QB_E_IDEMPOTENCY_MISMATCH);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 700);

    /* A refusal under a key stays the answer even once it would pass. */
    struct wx_transfer_args big = {b.phone, 20000, WX_PAY_PASSWORD, NULL, "key-2", 0x01, NULL};
    struct wx_answer refused = wx_transfer_args(wx, &a, &big);
    WX_EXPECT_REFUSAL(refused, QB_E_INSUFFICIENT_BALANCE, 402);
    wx_fund(wx, a.account_id, 20000);
    struct wx_answer again = wx_transfer_args(wx, &a, &big);
    ASSERT(again.replayed);
    ASSERT_EQ_INT(again.status, 402);
    ASSERT_EQ_STR(again.body, refused.body);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 700);

    /* Keys are per payer: b may use "key-1" for a payment of its own. */
    struct identity_user c = wx_user(wx, "王五", true);
    wx_fund(wx, c.account_id, 300);
    struct wx_transfer_args by_c = {b.phone, 300, WX_PAY_PASSWORD, NULL, "key-1", 0x42, NULL};
    struct wx_answer c_ans = wx_transfer_args(wx, &c, &by_c);
    ASSERT_EQ_INT(c_ans.outcome, QB_OK);
    ASSERT(!c_ans.replayed);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 1000);
    wx_free(wx);
}

TEST(a_return_sends_the_transfer_back_once)
{
    /* The payee sends a transfer back: one entry coded
     * WALLET_CODE_TRANSFER_RETURN payee → payer whose ref is the return's
     * own payment, linked to the transfer; no limit of the payee's is
     * charged and the payer's spending is not given back. A second return
     * is refused, naming the first, and moves nothing. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "小明", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t = wx_transfer(wx, &a, b.id, 1234);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    struct wallet_payment r;
    ASSERT_EQ_INT(wallet_transfer_return_find(wx->reader, t.payment.id, &r), QB_E_NOT_FOUND);

    struct wx_answer ans = wx_return(wx, &b, t.payment.id, "转错了");
    ASSERT_EQ_INT(ans.result, QB_OK);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(ans.status, 201);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);

    ASSERT_EQ_INT(wallet_transfer_return_find(wx->reader, t.payment.id, &r), QB_OK);
    ASSERT_EQ_STR(r.id, ans.payment.id);
    ASSERT_EQ_INT(r.kind, WALLET_TRANSFER_RETURN);
    ASSERT_EQ_INT(r.status, WALLET_SUCCESS);
    ASSERT_EQ_STR(r.user_id, b.id);
    ASSERT_EQ_STR(r.counterparty_id, a.id);
    ASSERT_EQ_INT(r.amount_minor, 1234);
    ASSERT_EQ_STR(r.memo, "转错了");
    struct ledger_entry e;
    ASSERT_EQ_INT(ledger_entry_read(wx->reader, r.entry_id, &e), QB_OK);
    ASSERT_EQ_INT(e.code, WALLET_CODE_TRANSFER_RETURN);
    ASSERT_EQ_STR(e.ref, r.id);
    ASSERT_EQ_INT(ledger_entry_posting(&e, b.account_id)->amount_minor, -1234);
    ASSERT_EQ_INT(ledger_entry_posting(&e, a.account_id)->amount_minor, 1234);

    json_t *body = json_loads(ans.body, 0, NULL);
    ASSERT(body != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "id")), r.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "transfer_id")), t.payment.id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(body, "amount")), 1234);
    json_t *to = json_object_get(body, "to");
    ASSERT_EQ_STR(json_string_value(json_object_get(to, "user_id")), a.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(to, "display_name")), "*三");
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "memo")), "转错了");
    json_decref(body);

    struct wallet_spending s;
    ASSERT_EQ_INT(wx_spending(wx, &b, &s), QB_OK);
    ASSERT_EQ_INT(s.day_used_minor, 0);
    ASSERT_EQ_INT(wx_spending(wx, &a, &s), QB_OK);
    ASSERT_EQ_INT(s.day_used_minor, 1234);

    ans = wx_return(wx, &b, t.payment.id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_TRANSFER_RETURNED, 409);
    body = json_loads(ans.body, 0, NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "return_id")), r.id);
    json_decref(body);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 0);
    wx_free(wx);
}

TEST(return_refusals_move_nothing)
{
    /* Each refusal in the order transfer.h gives, each moving nothing: a
     * payer, a stranger or an id of no transfer; the payee frozen; the
     * payer unable to take money; a balance spent meanwhile; the window of
     * 30 days, to the millisecond. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    struct identity_user c = wx_user(wx, "王五", true);
    wx_fund(wx, a.account_id, 10000);
    struct wx_answer t = wx_transfer(wx, &a, b.id, 1000);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    const char *id = t.payment.id;

    struct wx_answer ans = wx_return(wx, &a, id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_FORBIDDEN, 403);
    ans = wx_return(wx, &c, id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_NOT_FOUND, 404);
    ans = wx_return(wx, &b, "p_0000000000000000000000000a", NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_NOT_FOUND, 404);
    ans = wx_return(wx, &b, "", NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_NOT_FOUND, 404);

    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, b.id, 0, NULL), QB_OK);
    ans = wx_return(wx, &b, id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_ACCOUNT_FROZEN, 403);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, b.id, 0, NULL), QB_OK);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, a.id, 0, NULL), QB_OK);
    ans = wx_return(wx, &b, id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_UNAVAILABLE, 403);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, a.id, 0, NULL), QB_OK);
    wx_flags_set(wx, a.account_id, LEDGER_ACCOUNT_CREDIT_FROZEN);
    ans = wx_return(wx, &b, id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_PAYEE_UNAVAILABLE, 403);
    wx_flags_set(wx, a.account_id, 0);

    ASSERT_EQ_INT(wx_transfer(wx, &b, c.id, 1).outcome, QB_OK);
    ans = wx_return(wx, &b, id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_INSUFFICIENT_BALANCE, 402);
    /* The return of c's cent is itself no transfer to return. */
    struct wx_answer back = wx_return(wx, &c, wx_transfer(wx, &b, c.id, 1).payment.id, NULL);
    ASSERT_EQ_INT(back.outcome, QB_OK);
    ans = wx_return(wx, &b, back.payment.id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_NOT_FOUND, 404);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 9000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 999);
    struct wallet_payment r;
    ASSERT_EQ_INT(wallet_transfer_return_find(wx->reader, id, &r), QB_E_NOT_FOUND);

    /* On the window's last millisecond it goes back; a millisecond later,
     * another does not. */
    wx_fund(wx, b.account_id, 1);
    struct wx_answer late = wx_transfer(wx, &a, b.id, 500);
    ASSERT_EQ_INT(late.outcome, QB_OK);
    wx_clock_to(wx, t.payment.created_at_ms + WALLET_TRANSFER_RETURN_WINDOW_MS);
    ans = wx_return(wx, &b, id, NULL);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    wx_clock_to(wx, late.payment.created_at_ms + WALLET_TRANSFER_RETURN_WINDOW_MS + 1);
    ans = wx_return(wx, &b, late.payment.id, NULL);
    WX_EXPECT_REFUSAL(ans, QB_E_TRANSFER_RETURN_EXPIRED, 409);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000 - 500);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 500);
    wx_free(wx);
}

/* Runs sql on a connection of its own, as an operator editing the books by
 * hand beside the idle daemon would. */
static void S_hand_edit(struct wx *wx, const char *sql)
{
    struct store *s = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(wx->db_path, STORE_MODE_WRITE, &s, err, sizeof err), QB_OK);
    ASSERT_EQ_INT(store_exec(s, sql), QB_OK);
    store_close(s);
}

static enum qb_error S_returns_check(struct wx *wx, int64_t *returns, char *problem)
{
    return wallet_transfer_returns_check(wx->reader, returns, problem, 256);
}

TEST(the_check_finds_a_return_that_does_not_send_its_transfer_back)
{
    /* The operator's check passes the books a return made, and names the
     * transfer when its return was edited to another amount, or when the
     * link between them was lost while the journal still holds the
     * return's entry. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    wx_fund(wx, a.account_id, 5000);
    struct wx_answer t = wx_transfer(wx, &a, b.id, 700);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    ASSERT_EQ_INT(wx_transfer(wx, &a, b.id, 300).outcome, QB_OK);
    ASSERT_EQ_INT(wx_return(wx, &b, t.payment.id, NULL).outcome, QB_OK);
    int64_t returns = -1;
    char problem[256];
    ASSERT_EQ_INT(S_returns_check(wx, &returns, problem), QB_OK);
    ASSERT_EQ_INT(returns, 1);
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL), QB_OK);

    S_hand_edit(wx, "UPDATE payments SET amount_minor = amount_minor - 1 WHERE kind = 7");
    ASSERT_EQ_INT(S_returns_check(wx, &returns, problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, t.payment.id) != NULL);
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                  QB_E_INTERNAL);
    S_hand_edit(wx, "UPDATE payments SET amount_minor = amount_minor + 1 WHERE kind = 7");
    ASSERT_EQ_INT(S_returns_check(wx, &returns, problem), QB_OK);

    S_hand_edit(wx, "DELETE FROM transfer_returns");
    ASSERT_EQ_INT(S_returns_check(wx, &returns, problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "journal holds 1 transfer returns") != NULL);
    wx_free(wx);
}

TEST(the_check_finds_an_instant_transfer_its_journal_does_not_bear_out)
{
    /* A transfer's payment row is what its payer and payee are shown (its
     * amount, status and other party); the journal is what moved. The
     * operator's check passes the books of two transfers and names the
     * transfer once its row was edited to another amount, status, party
     * or entry, or counts the entries when a row was deleted. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    struct identity_user c = wx_user(wx, "王五", true);
    wx_fund(wx, a.account_id, 5000);
    struct wx_answer t = wx_transfer(wx, &a, b.id, 700);
    ASSERT_EQ_INT(t.outcome, QB_OK);
    ASSERT_EQ_INT(wx_transfer(wx, &a, c.id, 300).outcome, QB_OK);
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL), QB_OK);

    ASSERT_EQ_INT(packets.instant_transfers, 2);

    char edits[8][2][256];
    snprintf(edits[0][0], sizeof edits[0][0],
             "UPDATE payments SET amount_minor = 70000 WHERE id = '%s'", t.payment.id);
    snprintf(edits[0][1], sizeof edits[0][1],
             "UPDATE payments SET amount_minor = 700 WHERE id = '%s'", t.payment.id);
    snprintf(edits[1][0], sizeof edits[1][0], "UPDATE payments SET status = %d WHERE id = '%s'",
             (int)WALLET_FAILED, t.payment.id);
    snprintf(edits[1][1], sizeof edits[1][1], "UPDATE payments SET status = %d WHERE id = '%s'",
             (int)WALLET_SUCCESS, t.payment.id);
    snprintf(edits[2][0], sizeof edits[2][0],
             "UPDATE payments SET counterparty_id = '%s' WHERE id = '%s'", c.id, t.payment.id);
    snprintf(edits[2][1], sizeof edits[2][1],
             "UPDATE payments SET counterparty_id = '%s' WHERE id = '%s'", b.id, t.payment.id);
    snprintf(edits[3][0], sizeof edits[3][0],
             "UPDATE payments SET entry_id = entry_id + 1 WHERE id = '%s'", t.payment.id);
    snprintf(edits[3][1], sizeof edits[3][1],
             "UPDATE payments SET entry_id = entry_id - 1 WHERE id = '%s'", t.payment.id);
    snprintf(edits[4][0], sizeof edits[4][0],
             "UPDATE payments SET counterparty_id = 'u_nobody' WHERE id = '%s'", t.payment.id);
    snprintf(edits[4][1], sizeof edits[4][1],
             "UPDATE payments SET counterparty_id = '%s' WHERE id = '%s'", b.id, t.payment.id);
    snprintf(edits[5][0], sizeof edits[5][0],
             "UPDATE payments SET user_id = 'u_nobody' WHERE id = '%s'", t.payment.id);
    snprintf(edits[5][1], sizeof edits[5][1], "UPDATE payments SET user_id = '%s' WHERE id = '%s'",
             a.id, t.payment.id);
    snprintf(edits[6][0], sizeof edits[6][0], "UPDATE payments SET status = 9 WHERE id = '%s'",
             t.payment.id);
    snprintf(edits[6][1], sizeof edits[6][1], "UPDATE payments SET status = %d WHERE id = '%s'",
             (int)WALLET_SUCCESS, t.payment.id);
    snprintf(edits[7][0], sizeof edits[7][0], "DELETE FROM payments WHERE id = '%s'", t.payment.id);
    edits[7][1][0] = '\0';
    for (size_t i = 0; i < 8; i++) {
        S_hand_edit(wx, edits[i][0]);
        ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                      QB_E_INTERNAL);
        fprintf(stderr, "  %s: %s\n", edits[i][0], report.problem);
        ASSERT(strstr(report.problem, i < 7 ? t.payment.id : "the journal holds 2 transfers") !=
               NULL);
        if (edits[i][1][0] == '\0')
            continue;
        S_hand_edit(wx, edits[i][1]);
        ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                      QB_OK);
    }
    wx_free(wx);
}

TEST(the_check_finds_a_wallet_pointed_at_another_users_account)
{
    /* Which account is a user's is their row's account_id, outside the
     * journal: an insider who points their own user at a victim's account
     * spends the victim's money as theirs. The check names the user whose
     * row names an account not its own, and passes once it is put back. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    wx_fund(wx, b.account_id, 5000);
    struct ledger_verify_report report;
    struct wallet_verify_counts packets;
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL), QB_OK);
    char sql[256], want[128];
    snprintf(sql, sizeof sql, "UPDATE users SET account_id = %lld WHERE id = '%s'",
             (long long)b.account_id, a.id);
    S_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                  QB_E_INTERNAL);
    snprintf(want, sizeof want, "user %s names account %lld, which is not its own", a.id,
             (long long)b.account_id);
    fprintf(stderr, "  %s\n", report.problem);
    ASSERT(strstr(report.problem, want) != NULL);
    snprintf(sql, sizeof sql, "UPDATE users SET account_id = %lld WHERE id = '%s'",
             (long long)a.account_id, a.id);
    S_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL), QB_OK);
    wx_free(wx);
}

TEST(the_checks_table_of_accounts_finds_every_id_it_read)
{
    /* The checks look each payment's users up in a table read once
     * (wallet_account_map): it grows past its first thousand slots, finds
     * every id it read with its account, the last one read for an id read
     * twice, and 0 for an id it never read or none. */
    struct wx *wx = wx_new();
    struct wallet_account_map *m = NULL;
    ASSERT_EQ_INT(
        wallet_account_map_read(
            wx->reader,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
            " SELECT 'u_' || i, 7 * i FROM n"
            " UNION ALL SELECT 'u_42', 1 UNION ALL SELECT '', 9",
            &m),
        QB_OK);
    char id[32];
    for (int i = 1; i <= 5000; i++) {
        snprintf(id, sizeof id, "u_%d", i);
        ASSERT_EQ_INT(wallet_account_map_get(m, id), i == 42 ? 1 : 7 * i);
    }
    ASSERT_EQ_INT(wallet_account_map_get(m, "u_5001"), 0);
    ASSERT_EQ_INT(wallet_account_map_get(m, "u_0"), 0);
    ASSERT_EQ_INT(wallet_account_map_get(m, ""), 0);
    wallet_account_map_free(m);
    /* SQL the store refuses reads nothing. */
    m = NULL;
    ASSERT_EQ_INT(wallet_account_map_read(wx->reader, "SELECT id FROM no_such_table", &m),
                  QB_E_STORAGE);
    ASSERT(m == NULL);
    wx_free(wx);
}

TEST(names_are_masked_by_character)
{
    // One mask wherever another party or a stranger sees a name (a transfer's answer, a scanned
    // code, bills, red packets): the first and last characters, a star for each between, at most
    // four; counted in UTF-8 characters, since masking by byte would cut a Chinese one in half.
    static const char *const cases[][2] = {
        {"王", "*"},
        {"李四", "*四"},
        {"张三丰", "张*丰"},
        {"小明", "*明"},
        {"Alexander", "A****r"},
        {"Bob", "B*b"},
        {"A", "*"},
        {"", "*"},
        {"😀😀😀", "😀*😀"},
    };
    char out[WALLET_MASKED_NAME_SIZE];
    for (size_t i = 0; i < QB_ARRAY_COUNT(cases); i++) {
        wallet_name_mask(cases[i][0], out, sizeof out);
        ASSERT_EQ_STR(out, cases[i][1]);
    }
}

int main(void)
{
    RUN(transfer_moves_money_and_records_one_payment);
    RUN(payee_checks_refuse_and_move_nothing);
    RUN(frozen_payer_and_bad_amounts_are_refused);
    RUN(wrong_payment_password_is_counted_and_moves_nothing);
    RUN(insufficient_balance_charges_no_limit);
    RUN(limit_refusal_names_the_limit_and_moves_nothing);
    RUN(password_free_payments_need_the_users_setting);
    RUN(a_replayed_key_answers_the_same_bytes_once);
    RUN(a_return_sends_the_transfer_back_once);
    RUN(return_refusals_move_nothing);
    RUN(the_check_finds_a_return_that_does_not_send_its_transfer_back);
    RUN(the_check_finds_an_instant_transfer_its_journal_does_not_bear_out);
    RUN(the_check_finds_a_wallet_pointed_at_another_users_account);
    RUN(the_checks_table_of_accounts_finds_every_id_it_read);
    RUN(names_are_masked_by_character);
    return test_summary();
}
