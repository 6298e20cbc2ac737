/*
 * test_collection.c — group collections (群收款, src/wallet/collection.c)
 * against a real ledger: each payment a transfer to the asker with the
 * title as its memo, one from each payer and no more than asked, the last
 * completing it; a refused transfer leaving the collection as it was; a
 * retry under the same key answered the same; the asker's close and the
 * end of its time refusing more; a payment its asker sent back counting no
 * more, alone or in a batch with new payments.
 *
 * Every test ends with wx_free, which verifies the whole journal.
 */
#include "transfer_fixture.h"

#include "wallet/collection.h"

/* creator asks count payers for amount each: the collection. */
static struct wallet_collection S_create(struct wx *wx, const struct identity_user *creator,
                                         const char *title, int64_t amount, int64_t count)
{
    struct wallet_collection_create_cmd c;
    wallet_collection_create_cmd_init(&c, &wx->env);
    snprintf(c.creator_id, sizeof c.creator_id, "%s", creator->id);
    snprintf(c.title, sizeof c.title, "%s", title);
    c.amount_minor = amount;
    c.count = count;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct wallet_collection r = c.collection;
    ledger_cmd_release(&c.cmd);
    return r;
}

/* payer pays collection id with password (NULL: none) under key (NULL:
 * none): what the command answered. */
static struct wx_answer S_pay_key(struct wx *wx, const struct identity_user *payer, const char *id,
                                  const char *password, const char *key)
{
    struct wallet_collection_pay_cmd c;
    wallet_collection_pay_cmd_init(&c, &wx->env);
    char principal[64];
    snprintf(principal, sizeof principal, "user:%s", payer->id);
    if (key != NULL) {
        c.transfer.cmd.idem_principal = principal;
        c.transfer.cmd.idem_key = key;
        memset(c.transfer.cmd.request_hash, 7, sizeof c.transfer.cmd.request_hash);
    }
    snprintf(c.collection_id, sizeof c.collection_id, "%s", id);
    snprintf(c.transfer.payer_id, sizeof c.transfer.payer_id, "%s", payer->id);
    if (password != NULL) {
        c.transfer.has_payment_password = true;
        snprintf(c.transfer.payment_password, sizeof c.transfer.payment_password, "%s", password);
    }
    return wx_command_answer(wx, &c.transfer.cmd, &c.transfer.outcome, &c.transfer.payment);
}

static struct wx_answer S_pay(struct wx *wx, const struct identity_user *payer, const char *id)
{
    return S_pay_key(wx, payer, id, WX_PAY_PASSWORD, NULL);
}

static struct wallet_collection S_get(struct wx *wx, const char *id)
{
    struct wallet_collection r;
    ASSERT_EQ_INT(wallet_collection_get(wx->reader, id, &r), QB_OK);
    return r;
}

/* creator closes collection id: the outcome. */
static enum qb_error S_close(struct wx *wx, const struct identity_user *creator, const char *id)
{
    struct wallet_collection_close_cmd c;
    wallet_collection_close_cmd_init(&c, &wx->env);
    snprintf(c.creator_id, sizeof c.creator_id, "%s", creator->id);
    snprintf(c.id, sizeof c.id, "%s", id);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

TEST(each_payer_pays_once_and_the_last_completes_it)
{
    // Two friends are asked for 50.00 each: each pays it to the asker as a transfer with the
    // title as memo; a second payment from one is refused naming the first; the asker cannot pay
    // their own; the second payer completes it, and a third is refused.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true);
    struct identity_user a = wx_user(wx, "李娜", true), b = wx_user(wx, "王芳", true),
                         c = wx_user(wx, "刘洋", true);
    wx_fund(wx, a.account_id, 10000);
    wx_fund(wx, b.account_id, 10000);
    wx_fund(wx, c.account_id, 10000);
    struct wallet_collection r = S_create(wx, &asker, "周五火锅", 5000, 2);
    ASSERT_EQ_STR(wallet_collection_state_name(wallet_collection_state(&r, r.created_at_ms)),
                  "OPEN");
    ASSERT_EQ_INT(r.expires_at_ms - r.created_at_ms, WALLET_COLLECTION_OPEN_MS);

    struct wx_answer first = S_pay(wx, &a, r.id);
    ASSERT_EQ_INT(first.outcome, QB_OK);
    ASSERT_EQ_INT(first.status, 201);
    ASSERT_EQ_INT(first.payment.kind, WALLET_TRANSFER);
    ASSERT_EQ_STR(first.payment.counterparty_id, asker.id);
    ASSERT_EQ_STR(first.payment.memo, "周五火锅");
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);
    ASSERT_EQ_INT(wx_balance(wx, asker.account_id), 5000);

    struct wx_answer again = S_pay(wx, &a, r.id);
    WX_EXPECT_REFUSAL(again, QB_E_COLLECTION_PAID, 409);
    ASSERT(strstr(again.body, first.payment.id) != NULL);
    WX_EXPECT_REFUSAL(S_pay(wx, &asker, r.id), QB_E_SELF_TRANSFER, 400);
    ASSERT_EQ_INT(S_get(wx, r.id).paid_count, 1);

    struct wx_answer second = S_pay(wx, &b, r.id);
    ASSERT_EQ_INT(second.outcome, QB_OK);
    struct wallet_collection now = S_get(wx, r.id);
    ASSERT_EQ_INT(now.state, WALLET_COLLECTION_COMPLETED);
    ASSERT_EQ_INT(now.paid_count, 2);
    ASSERT_EQ_INT(now.paid_minor, 10000);
    ASSERT_EQ_INT(now.closed_at_ms, second.payment.created_at_ms);
    WX_EXPECT_REFUSAL(S_pay(wx, &c, r.id), QB_E_COLLECTION_CLOSED, 409);
    ASSERT_EQ_INT(wx_balance(wx, c.account_id), 10000);
    ASSERT_EQ_INT(wx_balance(wx, asker.account_id), 10000);

    struct wallet_collection_payment paid[4];
    size_t count = 0;
    ASSERT_EQ_INT(wallet_collection_payments(wx->reader, r.id, paid, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(paid[0].payer_id, a.id);
    ASSERT_EQ_STR(paid[0].payment_id, first.payment.id);
    ASSERT_EQ_STR(paid[1].payer_id, b.id);
    ASSERT_EQ_INT(paid[1].amount_minor, 5000);
    wx_free(wx);
}

TEST(a_refused_transfer_leaves_it_as_it_was_and_a_retry_is_answered_the_same)
{
    // The transfer's own checks refuse as they refuse a transfer, and leave no payer's row: a
    // wrong payment password, a balance too low. The same key again answers the same bytes and
    // moves nothing more.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true);
    struct wallet_collection r = S_create(wx, &asker, "电影票", 4500, 3);
    WX_EXPECT_REFUSAL(S_pay(wx, &a, r.id), QB_E_INSUFFICIENT_BALANCE, 402);
    wx_fund(wx, a.account_id, 4500);
    WX_EXPECT_REFUSAL(S_pay_key(wx, &a, r.id, "999999", NULL), QB_E_PASSWORD_WRONG, 403);
    ASSERT_EQ_INT(S_get(wx, r.id).paid_count, 0);

    struct wx_answer ok = S_pay_key(wx, &a, r.id, WX_PAY_PASSWORD, "collect-0001");
    ASSERT_EQ_INT(ok.outcome, QB_OK);
    struct wx_answer replay = S_pay_key(wx, &a, r.id, WX_PAY_PASSWORD, "collect-0001");
    ASSERT(replay.replayed);
    ASSERT_EQ_STR(replay.body, ok.body);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 0);
    ASSERT_EQ_INT(wx_balance(wx, asker.account_id), 4500);
    struct wallet_collection now = S_get(wx, r.id);
    ASSERT_EQ_INT(now.paid_count, 1);
    ASSERT_EQ_INT(now.state, WALLET_COLLECTION_OPEN);
    wx_free(wx);
}

TEST(the_askers_close_and_the_end_of_its_time_take_no_more)
{
    // Only its asker closes a collection (another user finds none); a closed one, and an open
    // one past its 30 days, refuse payments; closing again changes nothing.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true);
    wx_fund(wx, a.account_id, 10000);
    struct wallet_collection r = S_create(wx, &asker, "团建", 1000, 5);
    struct wallet_collection later = S_create(wx, &asker, "礼物", 2000, 5);
    ASSERT(later.seq > r.seq);

    ASSERT_EQ_INT(S_close(wx, &a, r.id), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_close(wx, &asker, "gc_nothing"), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_close(wx, &asker, r.id), QB_OK);
    struct wallet_collection closed = S_get(wx, r.id);
    ASSERT_EQ_INT(closed.state, WALLET_COLLECTION_CLOSED);
    ASSERT(closed.closed_at_ms > 0);
    ASSERT_EQ_INT(S_close(wx, &asker, r.id), QB_OK);
    ASSERT_EQ_INT(S_get(wx, r.id).closed_at_ms, closed.closed_at_ms);
    WX_EXPECT_REFUSAL(S_pay(wx, &a, r.id), QB_E_COLLECTION_CLOSED, 409);

    wx_clock_to(wx, later.expires_at_ms - 1);
    ASSERT_EQ_INT(S_pay(wx, &a, later.id).outcome, QB_OK);
    wx_clock_to(wx, later.expires_at_ms);
    struct identity_user b = wx_user(wx, "王芳", true);
    wx_fund(wx, b.account_id, 10000);
    WX_EXPECT_REFUSAL(S_pay(wx, &b, later.id), QB_E_COLLECTION_CLOSED, 409);
    ASSERT_EQ_INT(wallet_collection_state(&later, later.expires_at_ms), WALLET_COLLECTION_EXPIRED);
    WX_EXPECT_REFUSAL(S_pay(wx, &a, "gc_nothing"), QB_E_NOT_FOUND, 404);

    // The asker's list, newest first, in pages.
    struct wallet_collection rows[4];
    size_t count = 0;
    ASSERT_EQ_INT(wallet_collections_of(wx->reader, asker.id, 0, rows, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(rows[0].id, later.id);
    ASSERT_EQ_INT(wallet_collections_of(wx->reader, asker.id, rows[0].seq, rows, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(rows[0].id, r.id);
    ASSERT_EQ_INT(wallet_collections_of(wx->reader, a.id, 0, rows, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 0);
    wx_free(wx);
}

TEST(the_check_finds_figures_or_payments_that_do_not_add_up)
{
    // The operator's check holds each collection to its payments' rows and each row to the
    // transfer it names: a sum edited by hand, a row naming another payment, are found.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true);
    wx_fund(wx, a.account_id, 10000);
    struct wallet_collection r = S_create(wx, &asker, "团建", 1000, 3);
    struct wx_answer paid = S_pay(wx, &a, r.id);
    ASSERT_EQ_INT(paid.outcome, QB_OK);
    struct wx_answer other = wx_transfer(wx, &a, asker.id, 1000); /* not the collection's */
    ASSERT_EQ_INT(other.outcome, QB_OK);
    int64_t checked = -1;
    char problem[256] = "";
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(checked, 1);

    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE collection_payments SET payment_id = '%s'", other.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, other.payment.id) != NULL);
    snprintf(sql, sizeof sql, "UPDATE collection_payments SET payment_id = '%s'", paid.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);

    wx_hand_edit(wx, "UPDATE collections SET paid_count = 2, paid_minor = 2000");
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, r.id) != NULL);
    wx_hand_edit(wx, "UPDATE collections SET paid_count = 1, paid_minor = 1000");
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);

    /* A collection deleted leaves its payments' rows naming none: found too. */
    wx_hand_edit(wx, "DELETE FROM collections");
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, "does not exist") != NULL);
    wx_free(wx);
}

TEST(a_payer_who_paid_is_told_so_after_it_closed_too)
{
    // A payer whose phone lost the answer asks again from another device, under a new key: they
    // paid, so they are told so with their payment, though their payment completed the
    // collection, its asker closed it since, or its time is up. Told only that it is closed,
    // they would not know whether their money went.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true),
                         b = wx_user(wx, "王芳", true);
    wx_fund(wx, a.account_id, 10000);
    wx_fund(wx, b.account_id, 10000);
    struct wallet_collection full = S_create(wx, &asker, "周五火锅", 2000, 1);
    struct wallet_collection closed = S_create(wx, &asker, "电影票", 3000, 5);
    struct wx_answer last = S_pay(wx, &a, full.id);
    ASSERT_EQ_INT(last.outcome, QB_OK);
    ASSERT_EQ_INT(S_get(wx, full.id).state, WALLET_COLLECTION_COMPLETED);
    struct wx_answer early = S_pay(wx, &a, closed.id);
    ASSERT_EQ_INT(early.outcome, QB_OK);
    ASSERT_EQ_INT(S_close(wx, &asker, closed.id), QB_OK);

    struct wx_answer again = S_pay_key(wx, &a, full.id, WX_PAY_PASSWORD, "other-device-1");
    WX_EXPECT_REFUSAL(again, QB_E_COLLECTION_PAID, 409);
    ASSERT(strstr(again.body, last.payment.id) != NULL);
    again = S_pay_key(wx, &a, closed.id, WX_PAY_PASSWORD, "other-device-2");
    WX_EXPECT_REFUSAL(again, QB_E_COLLECTION_PAID, 409);
    ASSERT(strstr(again.body, early.payment.id) != NULL);
    wx_clock_to(wx, closed.expires_at_ms);
    again = S_pay(wx, &a, closed.id);
    WX_EXPECT_REFUSAL(again, QB_E_COLLECTION_PAID, 409);
    ASSERT(strstr(again.body, early.payment.id) != NULL);
    // Whoever did not pay is still told it is closed, and pays nothing.
    WX_EXPECT_REFUSAL(S_pay(wx, &b, full.id), QB_E_COLLECTION_CLOSED, 409);
    WX_EXPECT_REFUSAL(S_pay(wx, &b, closed.id), QB_E_COLLECTION_CLOSED, 409);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);
    ASSERT_EQ_INT(wx_balance(wx, b.account_id), 10000);
    ASSERT_EQ_INT(wx_balance(wx, asker.account_id), 5000);
    wx_free(wx);
}

TEST(a_wallet_that_takes_no_money_asks_for_none)
{
    // A frozen wallet, or one barred from taking money, cannot ask friends for it: each friend
    // would read an open collection, enter their payment password, and only then be refused
    // (PAYEE_UNAVAILABLE). It is refused when asking, and nothing is made.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, asker.id, 0, NULL), QB_OK);
    struct wallet_collection_create_cmd c;
    wallet_collection_create_cmd_init(&c, &wx->env);
    snprintf(c.creator_id, sizeof c.creator_id, "%s", asker.id);
    snprintf(c.title, sizeof c.title, "%s", "周五火锅");
    c.amount_minor = 5000;
    c.count = 3;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_E_ACCOUNT_FROZEN);
    ledger_cmd_release(&c.cmd);
    struct wallet_collection rows[2];
    size_t count = 9;
    ASSERT_EQ_INT(wallet_collections_of(wx->reader, asker.id, 0, rows, 2, &count), QB_OK);
    ASSERT_EQ_INT(count, 0);
    wx_free(wx);
}

TEST(a_returned_payment_no_longer_counts_and_its_payer_may_pay_again)
{
    // The asker sends one payment back (a friend paid who should not have, or paid from the
    // wrong wallet): the collection shows it returned, not paid, its figures drop by it, the one
    // it completed takes payments again, and the payer may pay anew, under a new key. A retry of
    // the first payment's key still answers the first payment; a second return of it is refused
    // and changes nothing. The operator's check passes every step.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true),
                         b = wx_user(wx, "王芳", true);
    wx_fund(wx, a.account_id, 10000);
    wx_fund(wx, b.account_id, 10000);
    struct wallet_collection r = S_create(wx, &asker, "周五火锅", 5000, 2);
    struct wx_answer first = S_pay_key(wx, &a, r.id, WX_PAY_PASSWORD, "collect-a-1");
    ASSERT_EQ_INT(first.outcome, QB_OK);
    ASSERT_EQ_INT(S_pay(wx, &b, r.id).outcome, QB_OK);
    ASSERT_EQ_INT(S_get(wx, r.id).state, WALLET_COLLECTION_COMPLETED);

    struct wx_answer back = wx_return(wx, &asker, first.payment.id, "不用你付");
    ASSERT_EQ_INT(back.outcome, QB_OK);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);
    struct wallet_collection now = S_get(wx, r.id);
    ASSERT_EQ_INT(now.paid_count, 1);
    ASSERT_EQ_INT(now.paid_minor, 5000);
    ASSERT_EQ_INT(now.state, WALLET_COLLECTION_OPEN);
    ASSERT_EQ_INT(now.closed_at_ms, 0);
    struct wallet_collection_payment rows[4];
    size_t count = 0;
    ASSERT_EQ_INT(wallet_collection_payments(wx->reader, r.id, rows, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(rows[0].payment_id, first.payment.id);
    ASSERT_EQ_INT(rows[0].returned_at_ms, back.payment.created_at_ms);
    ASSERT_EQ_INT(rows[1].returned_at_ms, 0);
    int64_t checked = -1;
    char problem[256] = "";
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);

    // Sent back once only: the second return moves nothing and the figures stay.
    WX_EXPECT_REFUSAL(wx_return(wx, &asker, first.payment.id, NULL), QB_E_TRANSFER_RETURNED, 409);
    ASSERT_EQ_INT(S_get(wx, r.id).paid_count, 1);
    // The first key answers the first payment; a new one pays again and completes it again.
    struct wx_answer replay = S_pay_key(wx, &a, r.id, WX_PAY_PASSWORD, "collect-a-1");
    ASSERT(replay.replayed);
    ASSERT_EQ_STR(replay.body, first.body);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 10000);
    struct wx_answer anew = S_pay_key(wx, &a, r.id, WX_PAY_PASSWORD, "collect-a-2");
    ASSERT_EQ_INT(anew.outcome, QB_OK);
    ASSERT(strcmp(anew.payment.id, first.payment.id) != 0);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);
    now = S_get(wx, r.id);
    ASSERT_EQ_INT(now.paid_count, 2);
    ASSERT_EQ_INT(now.paid_minor, 10000);
    ASSERT_EQ_INT(now.state, WALLET_COLLECTION_COMPLETED);
    struct wx_answer twice = S_pay_key(wx, &a, r.id, WX_PAY_PASSWORD, "collect-a-3");
    WX_EXPECT_REFUSAL(twice, QB_E_COLLECTION_PAID, 409);
    ASSERT(strstr(twice.body, anew.payment.id) != NULL);
    ASSERT_EQ_INT(wallet_collection_payments(wx->reader, r.id, rows, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(rows[2].payment_id, anew.payment.id);
    ASSERT_EQ_INT(rows[2].returned_at_ms, 0);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);

    // A closed collection's figures drop too, and it stays closed.
    ASSERT_EQ_INT(S_close(wx, &asker, r.id), QB_OK); /* completed: answered as it is */
    struct wallet_collection closed = S_create(wx, &asker, "电影票", 3000, 5);
    struct wx_answer early = S_pay(wx, &b, closed.id);
    ASSERT_EQ_INT(early.outcome, QB_OK);
    ASSERT_EQ_INT(S_close(wx, &asker, closed.id), QB_OK);
    ASSERT_EQ_INT(wx_return(wx, &asker, early.payment.id, NULL).outcome, QB_OK);
    now = S_get(wx, closed.id);
    ASSERT_EQ_INT(now.paid_count, 0);
    ASSERT_EQ_INT(now.state, WALLET_COLLECTION_CLOSED);
    WX_EXPECT_REFUSAL(S_pay(wx, &b, closed.id), QB_E_COLLECTION_CLOSED, 409);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(checked, 2);
    wx_free(wx);
}

TEST(the_check_ties_each_return_to_its_payments_row)
{
    // A payment sent back must show so, and only one sent back: a row not marked though its
    // transfer went back (the figures would count money the asker no longer has), or marked
    // though it did not, is found.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true),
                         b = wx_user(wx, "王芳", true);
    wx_fund(wx, a.account_id, 10000);
    wx_fund(wx, b.account_id, 10000);
    struct wallet_collection r = S_create(wx, &asker, "团建", 1000, 3);
    struct wx_answer paid = S_pay(wx, &a, r.id), kept = S_pay(wx, &b, r.id);
    ASSERT_EQ_INT(paid.outcome, QB_OK);
    ASSERT_EQ_INT(kept.outcome, QB_OK);
    struct wx_answer back = wx_return(wx, &asker, paid.payment.id, NULL);
    ASSERT_EQ_INT(back.outcome, QB_OK);
    int64_t checked = -1;
    char problem[256] = "", sql[320];
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);

    snprintf(sql, sizeof sql,
             "UPDATE collection_payments SET returned_at_ms = 0 WHERE payment_id = '%s';"
             "UPDATE collections SET paid_count = 2, paid_minor = 2000",
             paid.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, paid.payment.id) != NULL);
    snprintf(sql, sizeof sql,
             "UPDATE collection_payments SET returned_at_ms = %lld WHERE payment_id = '%s';"
             "UPDATE collections SET paid_count = 1, paid_minor = 1000",
             (long long)back.payment.created_at_ms, paid.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);

    snprintf(sql, sizeof sql,
             "UPDATE collection_payments SET returned_at_ms = %lld WHERE payment_id = '%s';"
             "UPDATE collections SET paid_count = 0, paid_minor = 0",
             (long long)back.payment.created_at_ms, kept.payment.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, kept.payment.id) != NULL);
    wx_free(wx);
}

TEST(payments_sent_back_are_kept_to_a_bound)
{
    // Each payment sent back keeps its row, and its payer may pay again: a payer and an asker
    // paying and sending back in a loop would grow the collection's page without end. After
    // WALLET_COLLECTION_PAYMENTS_MAX rows it takes no more, says why, and shows CLOSED (so that
    // it gets no code to scan), though the last payment completed it before it was sent back.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true);
    wx_fund(wx, a.account_id, 100);
    struct wallet_collection r = S_create(wx, &asker, "奶茶", 100, 1);
    for (int i = 0; i < WALLET_COLLECTION_PAYMENTS_MAX; i++) {
        struct wx_answer paid = S_pay(wx, &a, r.id);
        ASSERT_EQ_INT(paid.outcome, QB_OK);
        ASSERT_EQ_INT(S_get(wx, r.id).state, WALLET_COLLECTION_COMPLETED);
        ASSERT_EQ_INT(wx_return(wx, &asker, paid.payment.id, NULL).outcome, QB_OK);
        ASSERT_EQ_INT(S_get(wx, r.id).state, i + 1 < WALLET_COLLECTION_PAYMENTS_MAX
                                                 ? WALLET_COLLECTION_OPEN
                                                 : WALLET_COLLECTION_CLOSED);
    }
    ASSERT(S_get(wx, r.id).closed_at_ms > 0);
    struct wx_answer more = S_pay(wx, &a, r.id);
    WX_EXPECT_REFUSAL(more, QB_E_COLLECTION_CLOSED, 409);
    ASSERT(strstr(more.body, "sent back") != NULL);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 100);
    struct wallet_collection_payment rows[WALLET_COLLECTION_PAYMENTS_MAX + 1];
    size_t count = 0;
    ASSERT_EQ_INT(wallet_collection_payments(wx->reader, r.id, rows, QB_ARRAY_COUNT(rows), &count),
                  QB_OK);
    ASSERT_EQ_INT(count, WALLET_COLLECTION_PAYMENTS_MAX);
    int64_t checked = -1;
    char problem[256] = "";
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);
    wx_free(wx);
}

/* payer's payment of collection id under key, set up to run with others
 * (ledger_execute_all): *c is the command, principal its room. */
static void S_pay_prepare(struct wx *wx, struct wallet_collection_pay_cmd *c, char principal[64],
                          const struct identity_user *payer, const char *id, const char *key)
{
    wallet_collection_pay_cmd_init(c, &wx->env);
    snprintf(principal, 64, "user:%s", payer->id);
    c->transfer.cmd.idem_principal = principal;
    c->transfer.cmd.idem_key = key;
    memset(c->transfer.cmd.request_hash, 7, sizeof c->transfer.cmd.request_hash);
    snprintf(c->collection_id, sizeof c->collection_id, "%s", id);
    snprintf(c->transfer.payer_id, sizeof c->transfer.payer_id, "%s", payer->id);
    c->transfer.has_payment_password = true;
    snprintf(c->transfer.payment_password, sizeof c->transfer.payment_password, "%s",
             WX_PAY_PASSWORD);
}

TEST(a_return_and_new_payments_submitted_together_count_in_their_order)
{
    // The asker sends a payment back while its payer, impatient, pays again from two phones and
    // a friend tries too, all submitted at once so that they share the ledger's batches: each
    // sees what the one before it in the queue did. The payment before the return is told it
    // was paid; the first after it pays anew, completing the collection again; the next is
    // told of that new payment; the friend finds it complete.
    struct wx *wx = wx_new();
    struct identity_user asker = wx_user(wx, "张伟", true), a = wx_user(wx, "李娜", true),
                         b = wx_user(wx, "王芳", true), c = wx_user(wx, "刘洋", true);
    wx_fund(wx, a.account_id, 10000);
    wx_fund(wx, b.account_id, 10000);
    wx_fund(wx, c.account_id, 10000);
    struct wallet_collection r = S_create(wx, &asker, "周五火锅", 5000, 2);
    struct wx_answer old = S_pay(wx, &a, r.id);
    ASSERT_EQ_INT(old.outcome, QB_OK);
    ASSERT_EQ_INT(S_pay(wx, &b, r.id).outcome, QB_OK);

    static struct wallet_collection_pay_cmd pays[4];
    static char principals[4][64];
    struct wallet_transfer_return_cmd back;
    S_pay_prepare(wx, &pays[0], principals[0], &a, r.id, "batch-a-0");
    wallet_transfer_return_cmd_init(&back, &wx->env);
    snprintf(back.user_id, sizeof back.user_id, "%s", asker.id);
    snprintf(back.transfer_id, sizeof back.transfer_id, "%s", old.payment.id);
    S_pay_prepare(wx, &pays[1], principals[1], &a, r.id, "batch-a-1");
    S_pay_prepare(wx, &pays[2], principals[2], &a, r.id, "batch-a-2");
    S_pay_prepare(wx, &pays[3], principals[3], &c, r.id, "batch-c-1");
    struct ledger_cmd *const cmds[] = {&pays[0].transfer.cmd, &back.cmd, &pays[1].transfer.cmd,
                                       &pays[2].transfer.cmd, &pays[3].transfer.cmd};
    ASSERT_EQ_INT(ledger_execute_all(wx->ledger, cmds, QB_ARRAY_COUNT(cmds)), QB_OK);
    for (size_t i = 0; i < QB_ARRAY_COUNT(cmds); i++)
        ASSERT_EQ_INT(cmds[i]->result, QB_OK);
    ASSERT_EQ_INT(pays[0].transfer.outcome, QB_E_COLLECTION_PAID);
    ASSERT_EQ_INT(back.outcome, QB_OK);
    ASSERT_EQ_INT(pays[1].transfer.outcome, QB_OK);
    ASSERT_EQ_INT(pays[2].transfer.outcome, QB_E_COLLECTION_PAID);
    struct wx_answer told;
    memset(&told, 0, sizeof told);
    wx_answer_body(&pays[2].transfer.cmd, &told);
    ASSERT(strstr(told.body, pays[1].transfer.payment.id) != NULL);
    ASSERT_EQ_INT(pays[3].transfer.outcome, QB_E_COLLECTION_CLOSED);
    char renewed[ID_TEXT_SIZE_MAX];
    snprintf(renewed, sizeof renewed, "%s", pays[1].transfer.payment.id);
    for (size_t i = 0; i < QB_ARRAY_COUNT(cmds); i++)
        ledger_cmd_release(cmds[i]);

    struct wallet_collection now = S_get(wx, r.id);
    ASSERT_EQ_INT(now.state, WALLET_COLLECTION_COMPLETED);
    ASSERT_EQ_INT(now.paid_count, 2);
    ASSERT_EQ_INT(now.paid_minor, 10000);
    ASSERT_EQ_INT(wx_balance(wx, a.account_id), 5000);
    ASSERT_EQ_INT(wx_balance(wx, c.account_id), 10000);
    ASSERT_EQ_INT(wx_balance(wx, asker.account_id), 10000);
    struct wallet_collection_payment rows[4];
    size_t count = 0;
    ASSERT_EQ_INT(wallet_collection_payments(wx->reader, r.id, rows, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 3);
    ASSERT(rows[0].returned_at_ms > 0);
    ASSERT_EQ_STR(rows[2].payment_id, renewed);
    int64_t checked = -1;
    char problem[256] = "";
    ASSERT_EQ_INT(wallet_collections_check(wx->reader, &checked, problem, sizeof problem), QB_OK);
    wx_free(wx);
}

int main(void)
{
    RUN(each_payer_pays_once_and_the_last_completes_it);
    RUN(a_refused_transfer_leaves_it_as_it_was_and_a_retry_is_answered_the_same);
    RUN(the_askers_close_and_the_end_of_its_time_take_no_more);
    RUN(the_check_finds_figures_or_payments_that_do_not_add_up);
    RUN(a_payer_who_paid_is_told_so_after_it_closed_too);
    RUN(a_wallet_that_takes_no_money_asks_for_none);
    RUN(a_returned_payment_no_longer_counts_and_its_payer_may_pay_again);
    RUN(the_check_ties_each_return_to_its_payments_row);
    RUN(payments_sent_back_are_kept_to_a_bound);
    RUN(a_return_and_new_payments_submitted_together_count_in_their_order);
    return test_summary();
}
