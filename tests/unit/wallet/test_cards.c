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
    wx_card_code(wx, u.id, code);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_CLOSE, u.id, 0, NULL), QB_OK);
    ASSERT_EQ_INT(wx_user_get(wx, u.id).status, IDENTITY_CLOSED);
    ASSERT_EQ_INT(wx_card_bind(wx, u.id, code, NULL), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_live_cards(wx, u.id), 0);

    /* An open wallet binds the same card, which the closed one holds
     * nothing of, with a code of its own: the closed wallet's binds only
     * there. */
    struct identity_user v = wx_user(wx, "李四", true);
    ASSERT_EQ_INT(wx_card_bind(wx, v.id, code, NULL), QB_E_SMS_CODE_INVALID);
    wx_card_code(wx, v.id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, v.id, code, NULL), QB_OK);
    ASSERT_EQ_INT(S_live_cards(wx, v.id), 1);
    wx_free(wx);
}

int main(void)
{
    RUN(a_wallet_closed_while_its_bank_was_asked_binds_nothing);
    return test_summary();
}
