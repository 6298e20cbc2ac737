/*
 * test_cards.c — binding a bank card against a real ledger (cards.h): the
 * binding command as it runs after the bank's check of the card, whatever
 * became of the wallet while the bank was asked.
 *
 * Every test ends with wx_free, which runs ledger_verify over the whole
 * stored journal.
 */
#include <sqlite3.h>

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

/* Runs sql on the database with SQLite itself, as someone with the file
 * would. */
static void S_raw_edit(struct wx *wx, const char *sql)
{
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(wx->db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    ASSERT_EQ_INT(rc, SQLITE_OK);
}

/* card_id's number as the bank would get it: QB_OK, or the refusal. */
static enum qb_error S_number(struct wx *wx, const char *card_id)
{
    char number[BANK_CARD_NUMBER_SIZE_MAX];
    enum qb_error err = wallet_card_number(&wx->env, wx->reader, card_id, number);
    if (err == QB_OK)
        ASSERT_EQ_STR(number, WX_CARD);
    crypto_wipe(number, sizeof number);
    return err;
}

static enum qb_error S_cards_check(struct wx *wx, char *problem, size_t size)
{
    int64_t rows = 0;
    return domain_row_tags_check(wx->reader, wx->env.chain_key, &wallet_cards_tagged, &rows,
                                 problem, size);
}

TEST(a_card_row_edited_by_hand_opens_no_number)
{
    // A sealed number opens under the key whatever row it sits in: copied from another wallet's
    // card into this one's (or the card moved to another wallet), a withdrawal would go to the
    // other card while this wallet's list showed its own last four. The row is tied to the chain
    // key: as edited, no bank call gets its number, and the operator's check names it.
    struct wx *wx = wx_new();
    struct identity_user u = wx_user(wx, "张三", true);
    struct identity_user v = wx_user(wx, "李四", true);
    char code[SMS_CODE_DIGITS + 1], mine[ID_TEXT_SIZE_MAX], theirs[ID_TEXT_SIZE_MAX];
    wx_card_code(wx, u.id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, u.id, code, mine), QB_OK);
    wx_card_code(wx, v.id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, v.id, code, theirs), QB_OK);
    ASSERT_EQ_INT(S_number(wx, mine), QB_OK);
    char problem[256] = "";
    ASSERT_EQ_INT(S_cards_check(wx, problem, sizeof problem), QB_OK);

    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE cards SET number_sealed = (SELECT number_sealed FROM cards WHERE id = '%s')"
             " WHERE id = '%s'",
             theirs, mine);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(S_number(wx, mine), QB_E_INTERNAL);
    ASSERT_EQ_INT(S_number(wx, theirs), QB_OK);
    ASSERT_EQ_INT(S_cards_check(wx, problem, sizeof problem), QB_E_INTERNAL);
    char want[128];
    snprintf(want, sizeof want, "card %s is not as written", mine);
    ASSERT(strstr(problem, want) != NULL);

    /* The other wallet's card moved into this one: the same. */
    snprintf(sql, sizeof sql, "UPDATE cards SET user_id = '%s' WHERE id = '%s'", u.id, theirs);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(S_number(wx, theirs), QB_E_INTERNAL);
    wx_free(wx);
}

TEST(cards_bound_before_the_tags_are_tagged_at_the_upgrade_only)
{
    // An earlier version's rows have no tag: the start that migrates the database to the tag
    // column tags them as they are; no later start does, so a tag taken off by hand after the
    // upgrade stays damage, to the readers and to the operator's check.
    struct wx *wx = wx_new();
    struct identity_user u = wx_user(wx, "张三", true);
    char code[SMS_CODE_DIGITS + 1], card[ID_TEXT_SIZE_MAX];
    wx_card_code(wx, u.id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, u.id, code, card), QB_OK);
    wx_hand_edit(wx, "UPDATE cards SET tag = x''");
    ASSERT_EQ_INT(S_number(wx, card), QB_E_INTERNAL);
    char problem[256] = "";
    ASSERT_EQ_INT(S_cards_check(wx, problem, sizeof problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "it has no tag") != NULL);

    const struct domain_tagged *const tables[] = {&wallet_cards_tagged};
    int64_t tagged = 0;
    ASSERT_EQ_INT(domain_row_tags_open(wx->ledger, wx->env.chain_key, 54, tables, 1, &tagged),
                  QB_OK);
    ASSERT_EQ_INT(tagged, 1);
    ASSERT_EQ_INT(S_number(wx, card), QB_OK);
    ASSERT_EQ_INT(S_cards_check(wx, problem, sizeof problem), QB_OK);

    wx_hand_edit(wx, "UPDATE cards SET tag = x''");
    ASSERT_EQ_INT(domain_row_tags_open(wx->ledger, wx->env.chain_key, 55, tables, 1, &tagged),
                  QB_OK);
    ASSERT_EQ_INT(tagged, 0);
    ASSERT_EQ_INT(domain_row_tags_open(wx->ledger, wx->env.chain_key, -1, tables, 1, &tagged),
                  QB_OK);
    ASSERT_EQ_INT(tagged, 0);
    ASSERT_EQ_INT(S_number(wx, card), QB_E_INTERNAL);
    // The schema put back before the tag column, to have it tagged as found again: the trail
    // says the rows were tagged, and they are not tagged again.
    ASSERT_EQ_INT(domain_row_tags_open(wx->ledger, wx->env.chain_key, 54, tables, 1, &tagged),
                  QB_E_CONFLICT);
    ASSERT_EQ_INT(tagged, 0);
    ASSERT_EQ_INT(S_number(wx, card), QB_E_INTERNAL);
    // Nor when the trail's row of it was edited so as not to be found: the trail's seals must
    // hold before anything is tagged as found.
    S_raw_edit(wx, "UPDATE operator_actions SET result = 'ok.' WHERE action = 'rows_tagged'");
    ASSERT_EQ_INT(domain_row_tags_open(wx->ledger, wx->env.chain_key, 54, tables, 1, &tagged),
                  QB_E_CONFLICT);
    ASSERT_EQ_INT(tagged, 0);
    ASSERT_EQ_INT(S_number(wx, card), QB_E_INTERNAL);
    S_raw_edit(wx, "UPDATE operator_actions SET result = 'ok' WHERE action = 'rows_tagged'"
                   " AND result = 'ok.'");
    wx_free(wx);
}

TEST(a_trigger_that_edits_a_card_as_it_is_bound_is_not_tagged_with_it)
{
    // The tag is made from what the binding meant to write: a trigger someone put in the
    // database, which runs inside the binding's own insert and puts another wallet's sealed
    // number in the new row, leaves a row its tag does not hold for.
    struct wx *wx = wx_new();
    struct identity_user u = wx_user(wx, "张三", true);
    struct identity_user v = wx_user(wx, "李四", true);
    char code[SMS_CODE_DIGITS + 1], theirs[ID_TEXT_SIZE_MAX], mine[ID_TEXT_SIZE_MAX];
    wx_card_code(wx, v.id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, v.id, code, theirs), QB_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TRIGGER redirect AFTER INSERT ON cards WHEN NEW.user_id = '%s' BEGIN"
             " UPDATE cards SET number_sealed = (SELECT number_sealed FROM cards WHERE id = '%s')"
             " WHERE id = NEW.id; END",
             u.id, theirs);
    S_raw_edit(wx, sql); /* the store refuses to open a file that holds a trigger */
    wx_card_code(wx, u.id, code);
    ASSERT_EQ_INT(wx_card_bind(wx, u.id, code, mine), QB_OK);
    ASSERT_EQ_INT(S_number(wx, mine), QB_E_INTERNAL);
    ASSERT_EQ_INT(S_number(wx, theirs), QB_OK);
    S_raw_edit(wx, "DROP TRIGGER redirect");
    wx_free(wx);
}

int main(void)
{
    RUN(a_wallet_closed_while_its_bank_was_asked_binds_nothing);
    RUN(a_card_row_edited_by_hand_opens_no_number);
    RUN(cards_bound_before_the_tags_are_tagged_at_the_upgrade_only);
    RUN(a_trigger_that_edits_a_card_as_it_is_bound_is_not_tagged_with_it);
    return test_summary();
}
