/*
 * test_merchant_apps.c — a merchant's apps (src/merchant/merchant.c): onboarding
 * with extra appids, merchant_app_add_cmd (its owner only, at most
 * MERCHANT_APPS_MAX, a taken appid refused), merchant_app_check and
 * merchant_apps_list, on a real ledger and database; and the migration
 * that gives every merchant made before it its appid as its first app.
 * The operator's side of merchants too: merchant_list's pages and
 * merchant_status_cmd (suspend, resume), and the migration that added the
 * suspension's columns.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "merchant/merchant.h"
#include "merchant/order.h"
#include "store/schema.h"
#include "unit/schema_at.h"
#include "unit/wallet/transfer_fixture.h"

#define S_OWNER "u_owner0000000000000001"

/* Onboards mchid with first and the extra appids, owned by owner; answers the outcome. */
static enum qb_error S_onboard(struct wx *wx, const char *mchid, const char *owner,
                               const char *first, const char *const *extra, size_t extra_count)
{
    struct merchant_create_cmd c;
    merchant_create_cmd_init(&c, &wx->env);
    snprintf(c.merchant.mchid, sizeof c.merchant.mchid, "%s", mchid);
    snprintf(c.merchant.appid, sizeof c.merchant.appid, "%s", first);
    snprintf(c.merchant.owner_user_id, sizeof c.merchant.owner_user_id, "%s", owner);
    snprintf(c.merchant.name, sizeof c.merchant.name, "面馆");
    snprintf(c.merchant.public_key_pem, sizeof c.merchant.public_key_pem, "unused");
    snprintf(c.merchant.serial_no, sizeof c.merchant.serial_no, "AB");
    domain_seal(&wx->env, "0123456789abcdefghijABCDEFGHIJ01", 32, c.merchant.apiv3_key_sealed);
    c.extra_count = extra_count;
    for (size_t i = 0; i < extra_count; i++)
        snprintf(c.extra_appids[i], sizeof c.extra_appids[i], "%s", extra[i]);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

static enum qb_error S_add(struct wx *wx, const char *owner, const char *mchid, const char *appid,
                           size_t *app_count)
{
    struct merchant_app_add_cmd c;
    merchant_app_add_cmd_init(&c, &wx->env);
    snprintf(c.owner_user_id, sizeof c.owner_user_id, "%s", owner);
    snprintf(c.mchid, sizeof c.mchid, "%s", mchid);
    snprintf(c.appid, sizeof c.appid, "%s", appid);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    *app_count = c.app_count;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

TEST(onboarding_records_every_appid_and_refuses_a_taken_or_repeated_one)
{
    struct wx *wx = wx_new();
    const char *const extra[] = {"wx00000000000000b1", "wx00000000000000b2"};
    ASSERT_EQ_INT(S_onboard(wx, "1900000001", S_OWNER, "wx00000000000000a1", extra, 2), QB_OK);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000a1"), QB_OK);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000b2"), QB_OK);
    char apps[MERCHANT_APPS_MAX][MERCHANT_APPID_SIZE];
    size_t count = 0;
    ASSERT_EQ_INT(merchant_apps_list(wx->reader, "1900000001", apps, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 3);
    ASSERT_EQ_STR(apps[0], "wx00000000000000a1");
    ASSERT_EQ_STR(apps[1], "wx00000000000000b1");
    ASSERT_EQ_STR(apps[2], "wx00000000000000b2");

    /* Another merchant may not take any of them, as its first or an extra one. */
    ASSERT_EQ_INT(S_onboard(wx, "1900000002", "", "wx00000000000000b1", NULL, 0), QB_E_CONFLICT);
    const char *const taken[] = {"wx00000000000000c1", "wx00000000000000a1"};
    ASSERT_EQ_INT(S_onboard(wx, "1900000002", "", "wx00000000000000c0", taken, 2), QB_E_CONFLICT);
    /* Nor name one twice. */
    const char *const twice[] = {"wx00000000000000c1", "wx00000000000000c1"};
    ASSERT_EQ_INT(S_onboard(wx, "1900000002", "", "wx00000000000000c0", twice, 2), QB_E_CONFLICT);
    const char *const first_again[] = {"wx00000000000000c0"};
    ASSERT_EQ_INT(S_onboard(wx, "1900000002", "", "wx00000000000000c0", first_again, 1),
                  QB_E_CONFLICT);
    /* None of the refusals left a merchant or an app behind. */
    struct merchant m;
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000002", &m), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000002", "wx00000000000000c0"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000002", "wx00000000000000c1"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_onboard(wx, "1900000002", "", "wx00000000000000c0", NULL, 0), QB_OK);
    ASSERT_EQ_INT(merchant_apps_list(wx->reader, "1900000002", apps, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_STR(apps[0], "wx00000000000000c0");

    /* An appid belongs to its merchant only; text that is no appid or mchid belongs nowhere. */
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000002", "wx00000000000000a1"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000c0"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "WX00000000000000A1"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000a1' OR 1=1"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "19000000", "wx00000000000000a1"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_apps_list(wx->reader, "1999999999", apps, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 0);
    wx_free(wx);
}

TEST(the_owner_adds_apps_up_to_the_limit)
{
    struct wx *wx = wx_new();
    ASSERT_EQ_INT(S_onboard(wx, "1900000001", S_OWNER, "wx00000000000000a1", NULL, 0), QB_OK);
    ASSERT_EQ_INT(S_onboard(wx, "1900000002", "", "wx00000000000000a2", NULL, 0), QB_OK);
    size_t count = 0;
    /* Not the owner, nobody's merchant: not found, nothing added. */
    ASSERT_EQ_INT(S_add(wx, "u_other0000000000000001", "1900000001", "wx00000000000000d1", &count),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_add(wx, S_OWNER, "1900000003", "wx00000000000000d1", &count), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_add(wx, S_OWNER, "1900000002", "wx00000000000000d1", &count), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000d1"),
                  QB_E_NOT_FOUND);
    /* A taken appid: CONFLICT below the limit. */
    ASSERT_EQ_INT(S_add(wx, S_OWNER, "1900000001", "wx00000000000000a2", &count), QB_E_CONFLICT);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_INT(S_add(wx, S_OWNER, "1900000001", "wx00000000000000a1", &count), QB_E_CONFLICT);
    /* The operator ("" owner) may add to any merchant. */
    ASSERT_EQ_INT(S_add(wx, "", "1900000002", "wx00000000000000e1", &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 2);

    const char *const add[] = {"wx00000000000000d1", "wx00000000000000d2", "wx00000000000000d3",
                               "wx00000000000000d4"};
    for (size_t i = 0; i < 4; i++) {
        ASSERT_EQ_INT(S_add(wx, S_OWNER, "1900000001", add[i], &count), QB_OK);
        ASSERT_EQ_INT((long long)count, (long long)i + 2);
        ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", add[i]), QB_OK);
    }
    ASSERT_EQ_INT(S_add(wx, S_OWNER, "1900000001", "wx00000000000000d5", &count), QB_E_CONFLICT);
    ASSERT_EQ_INT((long long)count, MERCHANT_APPS_MAX);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000d5"),
                  QB_E_NOT_FOUND);
    char apps[MERCHANT_APPS_MAX][MERCHANT_APPID_SIZE];
    ASSERT_EQ_INT(merchant_apps_list(wx->reader, "1900000001", apps, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, MERCHANT_APPS_MAX);
    ASSERT_EQ_STR(apps[0], "wx00000000000000a1");
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ_STR(apps[i + 1], add[i]);
    wx_free(wx);
}

TEST(appids_have_one_shape)
{
    ASSERT(merchant_appid_is_valid("wx0123456789abcdef"));
    ASSERT(!merchant_appid_is_valid("wx0123456789abcde"));
    ASSERT(!merchant_appid_is_valid("wx0123456789abcdef0"));
    ASSERT(!merchant_appid_is_valid("wx0123456789ABCDEF"));
    ASSERT(!merchant_appid_is_valid("wy0123456789abcdef"));
    ASSERT(!merchant_appid_is_valid(""));
    ASSERT(!merchant_appid_is_valid(NULL));
}

/* The migration that made merchant_apps (migration 9, index 8). */
#define S_APPS_MIGRATION 8

TEST(merchants_made_before_the_migration_keep_their_appid)
{
    // A database at the version before merchant_apps, with two merchants in it: opening it
    // migrates, and each merchant's appid is its one app.
    struct test_old_db old;
    test_old_db_open(&old, S_APPS_MIGRATION, "merchant_apps",
                       "INSERT INTO merchants (mchid, appid, name, public_key_pem,"
                       " serial_no, apiv3_key_sealed, fee_ppm, account_id, created_at_ms)"
                       " VALUES ('1900000001', 'wx00000000000000a1', 'a', '', 'AB', x'00',"
                       " 6000, 1, 10), ('1900000002', 'wx00000000000000a2', 'b', '', 'AB',"
                       " x'00', 6000, 2, 20)");

    struct store *store = old.store;
    ASSERT_EQ_INT(store_schema_version(store), (int64_t)store_sqlite_migration_count);
    ASSERT_EQ_INT(merchant_app_check(store, "1900000001", "wx00000000000000a1"), QB_OK);
    ASSERT_EQ_INT(merchant_app_check(store, "1900000002", "wx00000000000000a2"), QB_OK);
    ASSERT_EQ_INT(merchant_app_check(store, "1900000001", "wx00000000000000a2"), QB_E_NOT_FOUND);
    char apps[MERCHANT_APPS_MAX][MERCHANT_APPID_SIZE];
    size_t count = 0;
    ASSERT_EQ_INT(merchant_apps_list(store, "1900000002", apps, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_STR(apps[0], "wx00000000000000a2");
    test_old_db_close(&old);
}

/* The migration that made the openids table (migration 27, index 26). */
#define S_OPENIDS_MIGRATION 26

TEST(openids_paid_under_before_the_migration_are_recorded)
{
    // Before the openids table, an openid was on record only on the orders paid under it. The
    // migration records those (one row for an openid on several orders), and no openid of an
    // unpaid JSAPI order, which any merchant could have made up.
    struct test_old_db old;
    test_old_db_open(&old, S_OPENIDS_MIGRATION, "CREATE TABLE openids",
                     "INSERT INTO orders (transaction_id, mchid, out_trade_no, appid, trade_type,"
                     " request_hash, description, notify_url, currency, total_minor, payer_openid,"
                     " payer_user_id, state, pay_token, created_at_ms, expires_at_ms,"
                     " success_at_ms, updated_at_ms) VALUES"
                     " ('t1', '1900000001', 'n1', 'wx00000000000000a1', 1, x'00', 'd', '', 'CNY',"
                     "  100, 'oPAIDPAIDPAIDPAIDPAIDPAIDPAI', 'u1', 1, 'p1', 10, 99, 30, 30),"
                     " ('t2', '1900000001', 'n2', 'wx00000000000000a1', 1, x'00', 'd', '', 'CNY',"
                     "  100, 'oPAIDPAIDPAIDPAIDPAIDPAIDPAI', 'u1', 1, 'p2', 10, 99, 20, 20),"
                     " ('t3', '1900000001', 'n3', 'wx00000000000000a1', 2, x'00', 'd', '', 'CNY',"
                     "  100, 'oMADEUPMADEUPMADEUPMADEUPMAD', '', 0, 'p3', 10, 99, 0, 10)");
    struct store *store = old.store;
    ASSERT_EQ_INT(store_schema_version(store), (int64_t)store_sqlite_migration_count);
    ASSERT_EQ_INT(merchant_openid_issued(NULL, store, "wx00000000000000a1",
                                         "oPAIDPAIDPAIDPAIDPAIDPAIDPAI", NULL),
                  QB_OK);
    ASSERT_EQ_INT(merchant_openid_issued(NULL, store, "wx00000000000000a2",
                                         "oPAIDPAIDPAIDPAIDPAIDPAIDPAI", NULL),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_openid_issued(NULL, store, "wx00000000000000a1",
                                         "oMADEUPMADEUPMADEUPMADEUPMAD", NULL),
                  QB_E_NOT_FOUND);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store,
                                "SELECT count(*), min(user_id), min(created_at_ms)"
                                " FROM openids",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 1);
    char user[8];
    store_column_text_copy(st, 1, user, sizeof user);
    ASSERT_EQ_STR(user, "u1");
    ASSERT_EQ_INT(store_column_int64(st, 2), 20);
    store_finalize(st);
    test_old_db_close(&old);
}

/* Runs merchant_status_cmd; answers the outcome, the row after in *m. */
static enum qb_error S_status(struct wx *wx, const char *mchid, enum merchant_status status,
                              const char *reason, bool *changed, struct merchant *m)
{
    struct merchant_status_cmd c;
    merchant_status_cmd_init(&c, &wx->env, status);
    snprintf(c.mchid, sizeof c.mchid, "%s", mchid);
    snprintf(c.reason, sizeof c.reason, "%s", reason);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    *changed = c.changed;
    *m = c.merchant;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

TEST(a_suspension_keeps_its_time_and_reason_until_the_resume)
{
    // Suspending writes the status, when and why on the row; asking again changes nothing (the
    // first time and reason stay, so that they say when the money stopped); resuming clears them.
    struct wx *wx = wx_new();
    ASSERT_EQ_INT(S_onboard(wx, "1900000001", S_OWNER, "wx00000000000000a1", NULL, 0), QB_OK);
    struct merchant m, read;
    bool changed = false;
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &read), QB_OK);
    ASSERT_EQ_INT(read.status, MERCHANT_ACTIVE);
    ASSERT_EQ_INT((long long)read.suspended_at_ms, 0);

    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_SUSPENDED, "工单 42: 欺诈", &changed, &m),
                  QB_OK);
    ASSERT(changed);
    ASSERT_EQ_INT(m.status, MERCHANT_SUSPENDED);
    ASSERT(m.suspended_at_ms > 0);
    ASSERT_EQ_STR(m.suspend_reason, "工单 42: 欺诈");
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &read), QB_OK);
    ASSERT_EQ_INT(read.status, MERCHANT_SUSPENDED);
    ASSERT_EQ_INT((long long)read.suspended_at_ms, (long long)m.suspended_at_ms);
    ASSERT_EQ_STR(read.suspend_reason, "工单 42: 欺诈");
    ASSERT_EQ_STR(merchant_status_name(read.status), "SUSPENDED");

    int64_t first_at_ms = m.suspended_at_ms;
    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_SUSPENDED, "again", &changed, &m), QB_OK);
    ASSERT(!changed);
    ASSERT_EQ_INT((long long)m.suspended_at_ms, (long long)first_at_ms);
    ASSERT_EQ_STR(m.suspend_reason, "工单 42: 欺诈");

    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_ACTIVE, "cleared", &changed, &m), QB_OK);
    ASSERT(changed);
    ASSERT_EQ_INT(m.status, MERCHANT_ACTIVE);
    ASSERT_EQ_INT((long long)m.suspended_at_ms, 0);
    ASSERT_EQ_STR(m.suspend_reason, "");
    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_ACTIVE, "", &changed, &m), QB_OK);
    ASSERT(!changed);

    ASSERT_EQ_INT(S_status(wx, "1900000009", MERCHANT_SUSPENDED, "", &changed, &m), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_status(wx, "19", MERCHANT_SUSPENDED, "", &changed, &m), QB_E_NOT_FOUND);
    wx_free(wx);
}
/* The owner's closing of mchid with password; the command's outcome, the
 * row after in *m and the refusal's reason in *not_empty. */
static enum qb_error S_close(struct wx *wx, const char *mchid, const char *owner,
                             const char *password, const char **not_empty, struct merchant *m)
{
    struct merchant_status_cmd c;
    merchant_status_cmd_init(&c, &wx->env, MERCHANT_STATUS_CLOSED);
    c.env = &wx->env;
    snprintf(c.mchid, sizeof c.mchid, "%s", mchid);
    snprintf(c.owner_user_id, sizeof c.owner_user_id, "%s", owner);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", password);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    *not_empty = c.not_empty;
    *m = c.merchant;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

/* merchant_user_close_blockers of user_id, read as GET /v1/me/closing reads it. */
static uint32_t S_user_close_blockers(struct wx *wx, const char *user_id)
{
    struct identity_user user = wx_user_get(wx, user_id);
    struct ledger_account_view view;
    ASSERT_EQ_INT(ledger_account_view(wx->ledger, user.account_id, &view), QB_OK);
    uint32_t blockers = 0;
    ASSERT_EQ_INT(merchant_user_close_blockers(&wx->env, wx->reader, &user, &view, &blockers),
                  QB_OK);
    return blockers;
}

TEST(an_owner_closes_an_empty_merchant_for_good)
{
    // Only its owner, only empty (asked before the password, which is then counted), and then
    // for good: the settlement account closed in the ledger, nothing changes the row again, and
    // the owner's wallet is no longer held by it.
    struct wx *wx = wx_new();
    struct identity_user owner = wx_user(wx, "店主", true);
    struct identity_user other = wx_user(wx, "路人", true);
    ASSERT_EQ_INT(S_onboard(wx, "1900000001", owner.id, "wx00000000000000a1", NULL, 0), QB_OK);
    struct merchant m;
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_OK);
    wx_fund(wx, m.account_id, 500);
    const char *not_empty = NULL;
    struct merchant after;
    bool changed;

    ASSERT_EQ_INT(S_close(wx, "1900000001", other.id, WX_PAY_PASSWORD, &not_empty, &after),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_close(wx, "1900000001", owner.id, WX_WRONG_PASSWORD, &not_empty, &after),
                  QB_E_ACCOUNT_NOT_EMPTY);
    ASSERT_EQ_STR(not_empty, "balance");
    ASSERT_EQ_INT(wx_user_get(wx, owner.id).payment_password_failures, 0);
    ASSERT(S_user_close_blockers(wx, owner.id) & DOMAIN_CLOSE_MERCHANT);

    /* 5 fen are left, which no withdrawal can take (a fen and its fee are 11): they go to the
     * owner's wallet at the closing. Not while the owner is frozen: whoever holds the phone
     * may not be the owner, and nothing closes then, nor is the password counted. */
    struct wx_raw drain = {
        .kind = 3, .account_id = m.account_id, .other_id = wx->sys_id, .amount_minor = 495};
    ASSERT_EQ_INT(wx_raw_exec(wx, &drain), QB_OK);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_FREEZE, owner.id, 0, NULL), QB_OK);
    ASSERT_EQ_INT(S_close(wx, "1900000001", owner.id, WX_WRONG_PASSWORD, &not_empty, &after),
                  QB_E_ACCOUNT_FROZEN);
    ASSERT_EQ_INT(wx_user_get(wx, owner.id).payment_password_failures, 0);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_UNFREEZE, owner.id, 0, NULL), QB_OK);
    ASSERT_EQ_INT(S_close(wx, "1900000001", owner.id, WX_WRONG_PASSWORD, &not_empty, &after),
                  QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(wx_user_get(wx, owner.id).payment_password_failures, 1);
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &after), QB_OK);
    ASSERT_EQ_INT(after.status, MERCHANT_ACTIVE);

    ASSERT_EQ_INT(S_close(wx, "1900000001", owner.id, WX_PAY_PASSWORD, &not_empty, &after), QB_OK);
    ASSERT_EQ_INT(after.status, MERCHANT_STATUS_CLOSED);
    ASSERT(after.closed_at_ms > 0);
    ASSERT_EQ_INT(wx_balance(wx, m.account_id), 0);
    ASSERT_EQ_INT(wx_balance(wx, owner.account_id), 5);
    ASSERT_EQ_STR(merchant_status_name(after.status), "CLOSED");
    struct ledger_account_view view;
    ASSERT_EQ_INT(ledger_account_view(wx->ledger, m.account_id, &view), QB_OK);
    ASSERT(view.flags & LEDGER_ACCOUNT_CLOSED);
    ASSERT_EQ_INT(S_user_close_blockers(wx, owner.id) & DOMAIN_CLOSE_MERCHANT, 0);

    /* For good: closing again, suspending or resuming changes nothing. */
    ASSERT_EQ_INT(S_close(wx, "1900000001", owner.id, WX_PAY_PASSWORD, &not_empty, &after),
                  QB_E_CONFLICT);
    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_SUSPENDED, "", &changed, &after),
                  QB_E_CONFLICT);
    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_ACTIVE, "", &changed, &after), QB_E_CONFLICT);
    ASSERT(!changed);
    /* Nor does it take a new app, its owner's or an operator's: an appid orders could name but
     * never pay. */
    size_t count = 0;
    ASSERT_EQ_INT(S_add(wx, owner.id, "1900000001", "wx00000000000000c1", &count), QB_E_CONFLICT);
    ASSERT_EQ_INT(S_add(wx, "", "1900000001", "wx00000000000000c2", &count), QB_E_CONFLICT);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000c1"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_app_check(wx->reader, "1900000001", "wx00000000000000c2"),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &after), QB_OK);
    ASSERT_EQ_INT(after.status, MERCHANT_STATUS_CLOSED);

    /* The operator's check holds the remainder to the closing: a row made to look open again,
     * or another owner, is named. */
    int64_t orders = -1;
    char problem[512];
    ASSERT_EQ_INT(merchant_orders_check(wx->reader, &orders, problem, sizeof problem), QB_OK);
    const char *edits[][2] = {
        {"UPDATE merchants SET status = 1 WHERE mchid = '1900000001'",
         "UPDATE merchants SET status = 3 WHERE mchid = '1900000001'"},
        {"UPDATE merchants SET owner_user_id = (SELECT id FROM users WHERE id <> owner_user_id"
         " LIMIT 1) WHERE mchid = '1900000001'",
         NULL},
    };
    char undo[256];
    snprintf(undo, sizeof undo,
             "UPDATE merchants SET owner_user_id = '%s' WHERE mchid = '1900000001'", owner.id);
    edits[1][1] = undo;
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        wx_hand_edit(wx, edits[i][0]);
        ASSERT_EQ_INT(merchant_orders_check(wx->reader, &orders, problem, sizeof problem),
                      QB_E_INTERNAL);
        ASSERT(strstr(problem, "remainder of closed merchant 1900000001") != NULL);
        struct ledger_verify_report report;
        struct wallet_verify_counts packets;
        ASSERT_EQ_INT(wallet_verify(wx->reader, NULL, false, 0, &report, &packets, NULL, NULL),
                      QB_E_INTERNAL);
        wx_hand_edit(wx, edits[i][1]);
        ASSERT_EQ_INT(merchant_orders_check(wx->reader, &orders, problem, sizeof problem), QB_OK);
    }
    wx_free(wx);
}

TEST(an_owner_may_keep_ten_open_merchants_and_one_closed_frees_a_place)
{
    // Ten merchants open at a time: the eleventh application is CONFLICT, and once one of the
    // ten is closed for good another may be opened.
    struct wx *wx = wx_new();
    struct identity_user owner = wx_user(wx, "店主", true);
    char mchid[24], appid[32]; /* room for any int the formats could print */
    for (int i = 0; i < MERCHANT_PER_OWNER_MAX; i++) {
        snprintf(mchid, sizeof mchid, "19000000%02d", i);
        snprintf(appid, sizeof appid, "wx00000000000000%02d", i);
        ASSERT_EQ_INT(S_onboard(wx, mchid, owner.id, appid, NULL, 0), QB_OK);
    }
    ASSERT_EQ_INT(S_onboard(wx, "1900000099", owner.id, "wx0000000000000099", NULL, 0),
                  QB_E_CONFLICT);
    const char *not_empty = NULL;
    struct merchant after;
    ASSERT_EQ_INT(S_close(wx, "1900000003", owner.id, WX_PAY_PASSWORD, &not_empty, &after), QB_OK);
    ASSERT_EQ_INT(S_onboard(wx, "1900000099", owner.id, "wx0000000000000099", NULL, 0), QB_OK);
    ASSERT_EQ_INT(S_onboard(wx, "1900000098", owner.id, "wx0000000000000098", NULL, 0),
                  QB_E_CONFLICT);
    wx_free(wx);
}

TEST(merchants_are_listed_newest_first_a_page_at_a_time)
{
    // Keyset pages on seq, newest first, with or without the owner filter.
    struct wx *wx = wx_new();
    const char *const ids[] = {"1900000001", "1900000002", "1900000003"};
    const char *const apps[] = {"wx00000000000000a1", "wx00000000000000a2", "wx00000000000000a3"};
    const char *const owners[] = {S_OWNER, "", S_OWNER};
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ_INT(S_onboard(wx, ids[i], owners[i], apps[i], NULL, 0), QB_OK);
    struct merchant_summary items[4];
    size_t count = 0;
    ASSERT_EQ_INT(merchant_list(wx->reader, NULL, 0, items, 4, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 3);
    ASSERT_EQ_STR(items[0].mchid, "1900000003");
    ASSERT_EQ_STR(items[2].mchid, "1900000001");
    ASSERT(items[0].seq > items[1].seq && items[1].seq > items[2].seq);
    ASSERT_EQ_INT(merchant_list(wx->reader, NULL, 0, items, 2, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 2);
    ASSERT_EQ_INT(merchant_list(wx->reader, NULL, items[1].seq, items, 4, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_STR(items[0].mchid, "1900000001");
    ASSERT_EQ_INT(merchant_list(wx->reader, S_OWNER, 0, items, 4, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 2);
    ASSERT_EQ_STR(items[0].mchid, "1900000003");
    ASSERT_EQ_STR(items[1].mchid, "1900000001");
    ASSERT_EQ_INT(merchant_list(wx->reader, "u_nobody", 0, items, 4, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 0);
    wx_free(wx);
}

/* The migration that added the suspension's columns (migration 24, index 23). */
#define S_SUSPEND_MIGRATION 23

TEST(merchants_made_before_suspensions_are_active)
{
    // A merchant written before the suspension's columns existed reads back active, with no
    // time and no reason, and can be listed.
    struct test_old_db old;
    test_old_db_open(&old, S_SUSPEND_MIGRATION, "suspend_reason",
                     "INSERT INTO merchants (mchid, appid, name, public_key_pem,"
                     " serial_no, apiv3_key_sealed, fee_ppm, account_id, created_at_ms)"
                     " VALUES ('1900000001', 'wx00000000000000a1', 'a', '', 'AB',"
                     " zeroblob(72), 6000, 1, 10)");
    struct merchant m;
    memset(&m, 0, sizeof m);
    ASSERT_EQ_INT((long long)sizeof m.apiv3_key_sealed, 72); /* the zeroblob above */
    ASSERT_EQ_INT(merchant_get(NULL, old.store, "1900000001", &m), QB_OK);
    ASSERT_EQ_INT(m.status, MERCHANT_ACTIVE);
    ASSERT_EQ_INT((long long)m.suspended_at_ms, 0);
    ASSERT_EQ_STR(m.suspend_reason, "");
    struct merchant_summary item;
    size_t count = 0;
    ASSERT_EQ_INT(merchant_list(old.store, NULL, 0, &item, 1, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_INT(item.status, MERCHANT_ACTIVE);
    test_old_db_close(&old);
}

#define S_GUESSES_MIGRATION 41

/* The wrong codes counted for guesser ("" when none) into *count, its window's start into
 * *start. */
static void S_guesses(struct store *store, const char *guesser, int64_t *count, int64_t *start)
{
    const struct store_param p[] = {STORE_TEXT(guesser)};
    *count = *start = 0;
    enum qb_error err = store_int64(store,
                                    "SELECT wrong_count FROM paycode_guesses"
                                    " WHERE guesser = $1",
                                    p, 1, count);
    if (err == QB_E_NOT_FOUND)
        return;
    ASSERT_EQ_INT(err, QB_OK);
    ASSERT_EQ_INT(store_int64(store,
                              "SELECT window_start_ms FROM paycode_guesses"
                              " WHERE guesser = $1",
                              p, 1, start),
                  QB_OK);
}

TEST(wrong_codes_counted_before_the_migration_become_their_owners)
{
    // The wrong payment codes counted per merchant before the budget became its owner's are
    // not lost by the move: an owner's merchants' counts add up in one window, the latest,
    // which can only stop them sooner; a merchant without an owner keeps its own.
    struct test_old_db old;
    test_old_db_open(&old, S_GUESSES_MIGRATION, "paycode_guesses",
                     "INSERT INTO merchants (mchid, appid, name, public_key_pem, serial_no,"
                     " apiv3_key_sealed, fee_ppm, account_id, created_at_ms, owner_user_id)"
                     " VALUES ('1900000001', 'wx00000000000000a1', 'a', '', 'AB', zeroblob(72),"
                     " 6000, 1, 10, '" S_OWNER "'),"
                     " ('1900000002', 'wx00000000000000a2', 'b', '', 'AC', zeroblob(72),"
                     " 6000, 2, 10, '" S_OWNER "'),"
                     " ('1900000003', 'wx00000000000000a3', 'c', '', 'AD', zeroblob(72),"
                     " 6000, 3, 10, '');"
                     "INSERT INTO paycode_merchant_guesses (mchid, wrong_count, window_start_ms)"
                     " VALUES ('1900000001', 3, 1000), ('1900000002', 4, 2000),"
                     " ('1900000003', 5, 3000)");
    int64_t count, start;
    S_guesses(old.store, "user:" S_OWNER, &count, &start);
    ASSERT_EQ_INT(count, 7);
    ASSERT_EQ_INT(start, 2000);
    S_guesses(old.store, "merchant:1900000003", &count, &start);
    ASSERT_EQ_INT(count, 5);
    ASSERT_EQ_INT(start, 3000);
    int64_t rows = 0;
    ASSERT_EQ_INT(store_int64(old.store, "SELECT count(*) FROM paycode_guesses", NULL, 0, &rows),
                  QB_OK);
    ASSERT_EQ_INT(rows, 2);
    bool gone = false;
    ASSERT_EQ_INT(
        store_exists(old.store,
                     "SELECT 1 FROM sqlite_master WHERE name = 'paycode_merchant_guesses'", NULL, 0,
                     &gone),
        QB_OK);
    ASSERT(!gone);
    test_old_db_close(&old);
}

/* The owner's replacement of m's certificate by one of serial (key "pem"
 * of serial), keeping the old for keep_old_ms: the merchant after. */
static struct merchant S_certificate_replace(struct wx *wx, const char *owner, const char *mchid,
                                             const char *serial, int64_t keep_old_ms)
{
    struct merchant_keys_cmd c;
    merchant_keys_cmd_init(&c, &wx->env);
    snprintf(c.mchid, sizeof c.mchid, "%s", mchid);
    snprintf(c.owner_user_id, sizeof c.owner_user_id, "%s", owner);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", WX_PAY_PASSWORD);
    c.certificate = true;
    snprintf(c.public_key_pem, sizeof c.public_key_pem, "pem of %s", serial);
    snprintf(c.serial_no, sizeof c.serial_no, "%s", serial);
    c.keep_old_ms = keep_old_ms;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct merchant m = c.merchant;
    ledger_cmd_release(&c.cmd);
    return m;
}

/* The key merchant_request_key gives a request of m naming serial at
 * at_ms: its text, or "refused". */
static const char *S_key_for(const struct merchant *m, const char *serial, int64_t at_ms)
{
    const char *pem = NULL, *reason = NULL;
    enum qb_error err = merchant_request_key(m, serial, at_ms, &pem, &reason);
    if (err == QB_E_SIGN_ERROR) {
        ASSERT(pem == NULL && reason != NULL && reason[0] != '\0');
        return "refused";
    }
    ASSERT_EQ_INT(err, QB_OK);
    return pem;
}

TEST(a_replaced_certificate_signs_only_for_the_overlap_asked)
{
    struct wx *wx = wx_new();
    struct identity_user owner = wx_user(wx, "店主", true);
    ASSERT_EQ_INT(S_onboard(wx, "1900000001", owner.id, "wx00000000000000a1", NULL, 0), QB_OK);
    struct merchant m;
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_OK);
    ASSERT_EQ_STR(S_key_for(&m, "ab", m.created_at_ms), "unused");
    ASSERT_EQ_STR(S_key_for(&m, "CD", m.created_at_ms), "refused");

    /* An hour's overlap: the old serial names the old key until it ends, in any case. */
    m = S_certificate_replace(wx, owner.id, "1900000001", "CD", 3600 * 1000);
    const int64_t at = m.certificate_replaced_at_ms;
    ASSERT_EQ_STR(m.previous_serial_no, "AB");
    ASSERT_EQ_INT(m.previous_valid_until_ms, at + 3600 * 1000);
    ASSERT_EQ_STR(S_key_for(&m, "cd", at), "pem of CD");
    ASSERT_EQ_STR(S_key_for(&m, "ab", at), "unused");
    ASSERT_EQ_STR(S_key_for(&m, "AB", at + 3600 * 1000 - 1), "unused");
    ASSERT_EQ_STR(S_key_for(&m, "AB", at + 3600 * 1000), "refused");
    ASSERT_EQ_STR(S_key_for(&m, "EF", at), "refused");
    ASSERT_EQ_STR(S_key_for(&m, "", at), "refused");

    /* Replaced again without an overlap: no old key stays. The keys a request is checked
     * against are the ones read with the merchant, under its tag: a merchant read now reads
     * them all. */
    m = S_certificate_replace(wx, owner.id, "1900000001", "EF", 0);
    ASSERT_EQ_STR(m.previous_serial_no, "");
    ASSERT_EQ_INT(m.previous_valid_until_ms, 0);
    ASSERT_EQ_STR(S_key_for(&m, "AB", at), "refused");
    ASSERT_EQ_STR(S_key_for(&m, "CD", at), "refused");
    ASSERT_EQ_STR(S_key_for(&m, "EF", at), "pem of EF");
    struct merchant read;
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &read), QB_OK);
    ASSERT_EQ_STR(S_key_for(&read, "CD", at), "refused");
    ASSERT_EQ_STR(S_key_for(&read, "EF", at), "pem of EF");
    wx_free(wx);
}

TEST(a_merchant_row_edited_by_hand_is_not_acted_on)
{
    // Whoever can write the database but has not the chain key: a merchant given another owner
    // (who could then take its balance out to their own card) or another signing key (with which
    // anyone could sign its requests) is not found as written, and is not acted on; the
    // operator's check names it. Put back as it was, it is the merchant again.
    struct wx *wx = wx_new();
    struct identity_user owner = wx_user(wx, "店主", true);
    struct identity_user thief = wx_user(wx, "窃贼", true);
    ASSERT_EQ_INT(S_onboard(wx, "1900000001", owner.id, "wx00000000000000a1", NULL, 0), QB_OK);
    struct merchant m;
    ASSERT_EQ_INT(merchant_owned_get(&wx->env, wx->reader, owner.id, "1900000001", &m), QB_OK);
    int64_t rows = 0;
    char problem[256] = "";
    ASSERT_EQ_INT(domain_row_tags_check(wx->reader, wx->env.chain_key, &merchant_tagged, &rows,
                                        problem, sizeof problem),
                  QB_OK);
    ASSERT_EQ_INT(rows, 1);

    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE merchants SET owner_user_id = '%s'", thief.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(merchant_owned_get(&wx->env, wx->reader, thief.id, "1900000001", &m),
                  QB_E_INTERNAL);
    ASSERT_EQ_INT(merchant_owned_get(&wx->env, wx->reader, thief.id, NULL, &m), QB_E_INTERNAL);
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_E_INTERNAL);
    ASSERT_EQ_INT(merchant_get(NULL, wx->reader, "1900000001", &m), QB_OK); /* a name to show */
    ASSERT_EQ_STR(m.owner_user_id, thief.id);
    ASSERT_EQ_INT(domain_row_tags_check(wx->reader, wx->env.chain_key, &merchant_tagged, &rows,
                                        problem, sizeof problem),
                  QB_E_INTERNAL);
    ASSERT(strstr(problem, "merchant 1900000001 is not as written") != NULL);

    snprintf(sql, sizeof sql, "UPDATE merchants SET owner_user_id = '%s'", owner.id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_OK);
    wx_hand_edit(wx, "UPDATE merchants SET public_key_pem = 'the thief''s key'");
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_E_INTERNAL);
    wx_hand_edit(wx, "UPDATE merchants SET public_key_pem = 'unused', previous_serial_no = 'EF',"
                     " previous_public_key_pem = 'the thief''s key',"
                     " previous_valid_until_ms = 9000000000000");
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_E_INTERNAL);
    wx_hand_edit(wx, "UPDATE merchants SET previous_serial_no = '', previous_public_key_pem = '',"
                     " previous_valid_until_ms = 0");
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_OK);
    // Its fee, and whether it may take money: an operator's suspension lifted by hand.
    wx_hand_edit(wx, "UPDATE merchants SET fee_ppm = 0");
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_E_INTERNAL);
    // Out of its range (no writer makes it): not acted on either, and named in the log.
    FILE *log = tmpfile();
    ASSERT(log != NULL);
    log_init(log, LOG_WARN);
    wx_hand_edit(wx, "UPDATE merchants SET fee_ppm = -1");
    enum qb_error damaged = merchant_get(&wx->env, wx->reader, "1900000001", &m);
    log_init(stderr, LOG_WARN);
    ASSERT_EQ_INT(damaged, QB_E_INTERNAL);
    static char logged[4096];
    rewind(log);
    logged[fread(logged, 1, sizeof logged - 1, log)] = '\0';
    fclose(log);
    ASSERT(strstr(logged, "event=merchant.row_damaged mchid=1900000001") != NULL);
    wx_hand_edit(wx, "UPDATE merchants SET fee_ppm = 6000");
    bool changed = false;
    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_SUSPENDED, "工单 7", &changed, &m), QB_OK);
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_OK);
    ASSERT_EQ_INT(m.status, MERCHANT_SUSPENDED);
    wx_hand_edit(wx, "UPDATE merchants SET status = 1");
    ASSERT_EQ_INT(merchant_get(&wx->env, wx->reader, "1900000001", &m), QB_E_INTERNAL);
    wx_hand_edit(wx, "UPDATE merchants SET status = 2");
    ASSERT_EQ_INT(S_status(wx, "1900000001", MERCHANT_ACTIVE, "cleared", &changed, &m), QB_OK);
    ASSERT_EQ_INT(m.status, MERCHANT_ACTIVE);
    ASSERT_EQ_INT(domain_row_tags_check(wx->reader, wx->env.chain_key, &merchant_tagged, &rows,
                                        problem, sizeof problem),
                  QB_OK);
    wx_free(wx);
}

TEST(a_merchant_of_a_database_not_yet_upgraded_is_read_for_the_operators_check)
{
    // qianbaod --verify opens the database as it finds it, without migrating: one an earlier
    // version left has no tag column, and the checks that read its merchants (not their tags)
    // still read them.
    char dir[512], path[600];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/old.db", dir);
    test_db_at_version(path, store_sqlite_migration_count - 1,
                       "INSERT INTO merchants (mchid, appid, name, public_key_pem,"
                       " serial_no, apiv3_key_sealed, fee_ppm, account_id, created_at_ms)"
                       " VALUES ('1900000001', 'wx00000000000000a1', 'a', '', 'AB',"
                       " zeroblob(72), 6000, 1, 10)");
    struct store *reader = NULL;
    char message[256] = "";
    ASSERT_EQ_INT(store_open(path, STORE_MODE_READ_OFFLINE, &reader, message, sizeof message),
                  QB_OK);
    ASSERT_EQ_INT(store_schema_version(reader), (long long)store_sqlite_migration_count - 1);
    struct merchant m;
    ASSERT_EQ_INT(merchant_get(NULL, reader, "1900000001", &m), QB_OK);
    ASSERT_EQ_STR(m.serial_no, "AB");
    store_close(reader);
    test_rmtree(dir);
}

int main(void)
{
    RUN(onboarding_records_every_appid_and_refuses_a_taken_or_repeated_one);
    RUN(the_owner_adds_apps_up_to_the_limit);
    RUN(appids_have_one_shape);
    RUN(merchants_made_before_the_migration_keep_their_appid);
    RUN(openids_paid_under_before_the_migration_are_recorded);
    RUN(an_owner_closes_an_empty_merchant_for_good);
    RUN(an_owner_may_keep_ten_open_merchants_and_one_closed_frees_a_place);
    RUN(a_suspension_keeps_its_time_and_reason_until_the_resume);
    RUN(merchants_are_listed_newest_first_a_page_at_a_time);
    RUN(merchants_made_before_suspensions_are_active);
    RUN(wrong_codes_counted_before_the_migration_become_their_owners);
    RUN(a_replaced_certificate_signs_only_for_the_overlap_asked);
    RUN(a_merchant_row_edited_by_hand_is_not_acted_on);
    RUN(a_merchant_of_a_database_not_yet_upgraded_is_read_for_the_operators_check);
    return test_summary();
}
