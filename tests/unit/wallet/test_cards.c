/*
 * test_cards.c — binding a bank card against a real ledger (cards.h): the
 * binding command as it runs after the bank's check of the card, whatever
 * became of the wallet while the bank was asked.
 *
 * Every test ends with wx_free, which runs ledger_verify over the whole
 * stored journal.
 */
#include "transfer_fixture.h"

#include "wallet/cards.h"

#define S_CARD "9999000000000012"
#define S_CARD_PHONE "13900001234"

/* A bind_card code for S_CARD sent to S_CARD_PHONE, read from the outbox. */
static void S_bind_code(struct wx *wx, char code[SMS_CODE_DIGITS + 1])
{
    char target[WALLET_CARD_TARGET_SIZE_MAX];
    ASSERT(wallet_card_sms_target(S_CARD, target));
    clock_manual_advance(&wx->clock, wx->env.settings.sms_cooldown_ms + 1);
    struct sms_send_cmd s;
    sms_send_cmd_init(&s, &wx->env);
    snprintf(s.phone, sizeof s.phone, "%s", S_CARD_PHONE);
    s.purpose = SMS_PURPOSE_BIND_CARD;
    snprintf(s.target, sizeof s.target, "%s", target);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &s.cmd), QB_OK);
    ledger_cmd_release(&s.cmd);
    ASSERT_EQ_INT(s.cmd.result, QB_OK);
    ASSERT_EQ_INT(s.outcome, QB_OK);
    struct sms_outbox_item item;
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&wx->env, wx->reader, S_CARD_PHONE, 0, &item, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    memcpy(code, item.code, SMS_CODE_DIGITS + 1);
}

/* The binding command of S_CARD to user_id with code, the bank having said
 * yes: its outcome. */
static enum qb_error S_bind(struct wx *wx, const char *user_id, const char *code)
{
    struct wallet_card_cmd c;
    wallet_card_cmd_init(&c, &wx->env, WALLET_CARD_BIND);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.card_number, sizeof c.card_number, "%s", S_CARD);
    snprintf(c.holder_name, sizeof c.holder_name, "%s", "张三");
    snprintf(c.phone, sizeof c.phone, "%s", S_CARD_PHONE);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    c.bank_asked = true;
    c.bank_verdict = QB_OK;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    wallet_card_cmd_release(&c);
    return outcome;
}

static int64_t S_live_cards(struct wx *wx, const char *user_id)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cards WHERE user_id = '%s' AND removed_at_ms = 0", user_id);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(wx->reader, sql, &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t count = store_column_int64(st, 0);
    store_finalize(st);
    return count;
}

TEST(a_wallet_closed_while_its_bank_was_asked_binds_nothing)
{
    /* A binding asks the card's bank between its check and the binding; a
     * wallet closed meanwhile (by its owner, or by an operator for a lost
     * phone) must not come out of it with a live card: closing ended its
     * cards, and a live binding in a closed wallet would hold the card's
     * phone against every other wallet for good. The user is gone, as for
     * a user with no row. */
    struct wx *wx = wx_new();
    struct identity_user u = wx_user(wx, "张三", true);
    char code[SMS_CODE_DIGITS + 1];
    S_bind_code(wx, code);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_CLOSE, u.id, 0, NULL), QB_OK);
    ASSERT_EQ_INT(wx_user_get(wx, u.id).status, IDENTITY_CLOSED);
    ASSERT_EQ_INT(S_bind(wx, u.id, code), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_live_cards(wx, u.id), 0);

    /* An open wallet binds the same card with the same code, unspent. */
    struct identity_user v = wx_user(wx, "李四", true);
    ASSERT_EQ_INT(S_bind(wx, v.id, code), QB_OK);
    ASSERT_EQ_INT(S_live_cards(wx, v.id), 1);
    wx_free(wx);
}

int main(void)
{
    RUN(a_wallet_closed_while_its_bank_was_asked_binds_nothing);
    return test_summary();
}
