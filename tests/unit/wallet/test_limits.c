/*
 * test_limits.c — every spending limit, its rollover and the user's own
 * settings, through wallet_txn_limits_check exactly as a payment command
 * calls it (a tiny command below), and through transfers where the two
 * must agree.
 *
 * The manual clock walks across UTC+8 midnights and New Year: a limit that
 * rolled over at UTC midnight, or never, fails here.
 */
#include "unit/schema_at.h"
#include "transfer_fixture.h"

/* 2027-01-01T00:00:00+08:00. */
#define NEW_YEAR_2027_MS INT64_C(1798732800000)

/* The smallest payment command: checks the limits and, when they allow it,
 * posts a payment (code WALLET_CODE_TRANSFER) to a system account, which
 * counts it (what transfers, order payments and red packets do inside their
 * own commands). The payer is funded with the amount first. */
struct charge_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    struct identity_user user;
    int64_t sink_id;
    int64_t amount_minor;
    enum qb_error outcome;
    const char *refused_limit;
};

static enum qb_error charge_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct charge_cmd *c = (struct charge_cmd *)cmd;
    enum qb_error err =
        wallet_txn_limits_check(txn, c->env, &c->user, c->amount_minor, &c->refused_limit, NULL);
    c->outcome = err;
    if (err != QB_OK)
        return err == QB_E_LIMIT_EXCEEDED || err == QB_E_OVERFLOW ? QB_OK : err;
    const struct ledger_leg legs[2] = {{c->user.account_id, -c->amount_minor},
                                       {c->sink_id, c->amount_minor}};
    int64_t entry_id = 0;
    return ledger_txn_post(txn, WALLET_CODE_TRANSFER, "limits-test", legs, 2, &entry_id);
}

/* Charges amount to user (re-read, so KYC changes count): the outcome; the
 * refused limit's name into refused ("" when none). */
static enum qb_error charge(struct wx *wx, const char *user_id, int64_t amount_minor,
                            char refused[32])
{
    struct charge_cmd c;
    memset(&c, 0, sizeof c);
    ledger_cmd_init(&c.cmd, charge_run, NULL);
    c.env = &wx->env;
    c.user = wx_user_get(wx, user_id);
    c.sink_id = wx->sys_id;
    c.amount_minor = amount_minor;
    wx_fund(wx, c.user.account_id, amount_minor);
    enum qb_error rc = ledger_execute(wx->ledger, &c.cmd);
    ledger_cmd_release(&c.cmd);
    if (rc != QB_OK || c.cmd.result != QB_OK)
        TEST_FAIL_("charge: %s %s", error_name(rc), error_name(c.cmd.result));
    snprintf(refused, 32, "%s", c.refused_limit != NULL ? c.refused_limit : "");
    return c.outcome;
}

#define EXPECT_REFUSED(wx, user_id, amount, name)                                                  \
    do {                                                                                           \
        char refused_[32];                                                                         \
        ASSERT_EQ_INT(charge((wx), (user_id), (amount), refused_), QB_E_LIMIT_EXCEEDED);          \
        ASSERT_EQ_STR(refused_, (name));                                                           \
    } while (0)

#define EXPECT_CHARGED(wx, user_id, amount)                                                        \
    do {                                                                                           \
        char refused_[32];                                                                         \
        ASSERT_EQ_INT(charge((wx), (user_id), (amount), refused_), QB_OK);                        \
    } while (0)

static struct wallet_spending spending(struct wx *wx, const char *user_id)
{
    struct wallet_spending s;
    struct identity_user user = wx_user_get(wx, user_id);
    ASSERT_EQ_INT(wx_spending(wx, &user, &s), QB_OK);
    return s;
}

/* The limit named name of user now, or fails. */
static struct wallet_limit limit_of(struct wx *wx, const char *user_id, const char *name)
{
    struct identity_user u = wx_user_get(wx, user_id);
    struct wallet_spending s = spending(wx, user_id);
    struct wallet_limit limits[WALLET_LIMITS_MAX];
    size_t count =
        wallet_limits_list(&wx->env.settings, &s, u.kyc_level, clock_now_ms(&wx->clock), limits);
    for (size_t i = 0; i < count; i++)
        if (strcmp(limits[i].name, name) == 0)
            return limits[i];
    TEST_FAIL_("no limit \"%s\"", name);
}

static bool has_limit(struct wx *wx, const char *user_id, const char *name)
{
    struct identity_user u = wx_user_get(wx, user_id);
    struct wallet_spending s = spending(wx, user_id);
    struct wallet_limit limits[WALLET_LIMITS_MAX];
    size_t count =
        wallet_limits_list(&wx->env.settings, &s, u.kyc_level, clock_now_ms(&wx->clock), limits);
    for (size_t i = 0; i < count; i++)
        if (strcmp(limits[i].name, name) == 0)
            return true;
    return false;
}

/* PUT /v1/me/limits as a command: the outcome. daily or free < 0: keep. */
static enum qb_error limits_set(struct wx *wx, const char *user_id, const char *password,
                                int64_t daily_minor, int64_t free_minor, int *tries_left)
{
    struct wallet_limits_set_cmd c;
    wallet_limits_set_cmd_init(&c, &wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", password);
    c.set_daily_limit = daily_minor >= 0;
    c.daily_limit_minor = daily_minor;
    c.set_password_free_limit = free_minor >= 0;
    c.password_free_limit_minor = free_minor;
    enum qb_error rc = ledger_execute(wx->ledger, &c.cmd);
    ledger_cmd_release(&c.cmd);
    if (rc != QB_OK || c.cmd.result != QB_OK)
        TEST_FAIL_("limits_set: %s %s", error_name(rc), error_name(c.cmd.result));
    if (tries_left != NULL)
        *tries_left = c.password_try.tries_left;
    return c.outcome;
}

TEST(year_of_ms_follows_beijing_time)
{
    /* The yearly limits roll over at midnight in UTC+8, eight hours before
     * UTC's New Year; leap days and far dates must come out right too. */
    ASSERT_EQ_INT(wallet_year_of_ms(NEW_YEAR_2027_MS - 1), 2026);
    ASSERT_EQ_INT(wallet_year_of_ms(NEW_YEAR_2027_MS), 2027);
    ASSERT_EQ_INT(wallet_year_of_ms(WX_START_MS), 2026);
    ASSERT_EQ_INT(wallet_year_of_ms(0), 1970);
    ASSERT_EQ_INT(wallet_year_of_ms(-8 * WX_HOUR_MS), 1970);
    ASSERT_EQ_INT(wallet_year_of_ms(-8 * WX_HOUR_MS - 1), 1969);
    /* 2028-12-31T23:59:59.999+08:00 and 2029-01-01T00:00+08:00: 2028 is a
     * leap year of 366 days. */
    int64_t ny2029 = NEW_YEAR_2027_MS + (365 + 366) * WX_DAY_MS;
    ASSERT_EQ_INT(wallet_year_of_ms(ny2029 - 1), 2028);
    ASSERT_EQ_INT(wallet_year_of_ms(ny2029), 2029);
    /* A century year that is not a leap year. */
    ASSERT_EQ_INT(wallet_year_of_ms(INT64_C(4102416000000)), 2100); /* +08:00 */
    ASSERT_EQ_INT(wallet_year_of_ms(INT64_C(4102416000000) - 1), 2099);
}

TEST(kyc1_lifetime_limit_never_rolls_over)
{
    /* A level 1 account may pay ¥1,000 in its whole life: neither a new
     * day nor a new year gives any of it back; verifying the real name
     * (level 2) replaces it with the yearly limit. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    EXPECT_CHARGED(wx, a.id, 60000);
    EXPECT_CHARGED(wx, a.id, 40000);
    EXPECT_REFUSED(wx, a.id, 1, "kyc_lifetime");
    ASSERT_EQ_INT(limit_of(wx, a.id, "kyc_lifetime").remaining_minor, 0);
    wx_clock_to(wx, NEW_YEAR_2027_MS + WX_DAY_MS);
    EXPECT_REFUSED(wx, a.id, 1, "kyc_lifetime");
    ASSERT_EQ_INT(spending(wx, a.id).lifetime_used_minor, 100000);

    /* An operator raises a verified wallet only. */
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_SET_KYC_LEVEL, a.id, 3, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(wx_user_verify(wx, a.id, "张三", "11010519491231002X"), QB_OK);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_SET_KYC_LEVEL, a.id, 1, NULL), QB_OK);
    ASSERT(has_limit(wx, a.id, "kyc_lifetime"));
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_SET_KYC_LEVEL, a.id, 2, NULL), QB_OK);
    ASSERT(!has_limit(wx, a.id, "kyc_lifetime"));
    ASSERT_EQ_INT(limit_of(wx, a.id, "kyc_yearly").amount_minor, 10000000);
    EXPECT_CHARGED(wx, a.id, 1);
    wx_free(wx);
}

TEST(kyc2_and_kyc3_yearly_limits_roll_over_at_new_year)
{
    /* Level 2 pays ¥100,000 a calendar year, level 3 ¥200,000. The daily
     * cap is raised here so that only the yearly limit is in play; spending
     * is spread over days so the day never refuses. */
    struct wx *wx = wx_new();
    wx->env.settings.limit_daily_minor = 20000000;
    wx->env.settings.limit_per_payment_minor = 20000000;
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    ASSERT_EQ_INT(wx_user_verify(wx, a.id, "张三", "11010519491231002X"), QB_OK); /* level 2 */
    ASSERT_EQ_INT(wx_user_verify(wx, b.id, "李四", "310101198001010034"), QB_OK);
    ASSERT_EQ_INT(wx_user_op(wx, IDENTITY_OP_ADMIN_SET_KYC_LEVEL, b.id, 3, NULL), QB_OK);

    wx_clock_to(wx, NEW_YEAR_2027_MS - 3 * WX_DAY_MS);
    EXPECT_CHARGED(wx, a.id, 6000000);
    EXPECT_CHARGED(wx, b.id, 15000000);
    wx_clock_to(wx, NEW_YEAR_2027_MS - 1);
    EXPECT_REFUSED(wx, a.id, 4000001, "kyc_yearly");
    EXPECT_CHARGED(wx, a.id, 4000000);
    EXPECT_REFUSED(wx, a.id, 1, "kyc_yearly");
    EXPECT_REFUSED(wx, b.id, 5000001, "kyc_yearly");
    EXPECT_CHARGED(wx, b.id, 5000000);
    ASSERT_EQ_INT(limit_of(wx, b.id, "kyc_yearly").amount_minor, 20000000);
    ASSERT_EQ_INT(limit_of(wx, b.id, "kyc_yearly").remaining_minor, 0);

    /* The first millisecond of 2027 in Beijing: a fresh year for both. */
    wx_clock_to(wx, NEW_YEAR_2027_MS);
    ASSERT_EQ_INT(limit_of(wx, a.id, "kyc_yearly").used_minor, 0);
    EXPECT_CHARGED(wx, a.id, 10000000);
    EXPECT_CHARGED(wx, b.id, 20000000);
    EXPECT_REFUSED(wx, a.id, 1, "kyc_yearly");
    struct wallet_spending s = spending(wx, a.id);
    ASSERT_EQ_INT(s.year, 2027);
    ASSERT_EQ_INT(s.year_used_minor, 10000000);
    ASSERT_EQ_INT(s.lifetime_used_minor, 20000000);
    wx_free(wx);
}

TEST(daily_limit_rolls_over_at_beijing_midnight)
{
    /* The daily cap counts one calendar day in UTC+8: still full a
     * millisecond before midnight there (16:00 UTC), empty at midnight. */
    struct wx *wx = wx_new();
    wx->env.settings.limit_daily_minor = 30000;
    struct identity_user a = wx_user(wx, "张三", true);
    int64_t midnight_ms = domain_day_start_ms(clock_now_ms(&wx->clock)) + WX_DAY_MS;
    EXPECT_CHARGED(wx, a.id, 20000);
    EXPECT_REFUSED(wx, a.id, 10001, "daily");
    EXPECT_CHARGED(wx, a.id, 10000);
    EXPECT_REFUSED(wx, a.id, 1, "daily");
    ASSERT_EQ_INT(limit_of(wx, a.id, "daily").remaining_minor, 0);
    wx_clock_to(wx, midnight_ms - 1);
    EXPECT_REFUSED(wx, a.id, 1, "daily");
    wx_clock_to(wx, midnight_ms);
    ASSERT_EQ_INT(limit_of(wx, a.id, "daily").used_minor, 0);
    EXPECT_CHARGED(wx, a.id, 30000);
    EXPECT_REFUSED(wx, a.id, 1, "daily");
    ASSERT_EQ_INT(spending(wx, a.id).lifetime_used_minor, 60000);
    wx_free(wx);
}

TEST(per_payment_limit_refuses_one_large_payment)
{
    /* One payment above the per-payment cap is refused whatever else is
     * left; at the cap it passes. It refuses before any other limit. */
    struct wx *wx = wx_new();
    wx->env.settings.limit_per_payment_minor = 5000;
    struct identity_user a = wx_user(wx, "张三", true);
    EXPECT_REFUSED(wx, a.id, 5001, "per_payment");
    EXPECT_CHARGED(wx, a.id, 5000);
    EXPECT_REFUSED(wx, a.id, 200000, "per_payment");
    ASSERT_EQ_INT(limit_of(wx, a.id, "per_payment").used_minor, 0);
    ASSERT_EQ_INT(limit_of(wx, a.id, "per_payment").remaining_minor, 5000);
    wx_free(wx);
}

TEST(user_daily_limit_is_set_with_the_payment_password)
{
    /* The user's own daily limit is lower than the platform's and refuses
     * with its own name; it cannot exceed the platform's cap; removing it
     * (0) restores the platform's. A change that lets more out (raising or
     * removing it, raising the password-free amount) needs the payment
     * password, whose wrong tries count and change nothing; one that only
     * tightens needs none, and a password given with it is not checked. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user nopw = wx_user(wx, "李四", false);
    ASSERT(!has_limit(wx, a.id, "user_daily"));

    int tries = 0;
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_WRONG_PASSWORD, -1, 100, &tries), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(tries, 4);
    ASSERT_EQ_INT(wx_user_get(wx, a.id).payment_password_failures, 1);
    ASSERT_EQ_INT(spending(wx, a.id).password_free_limit_minor, 0);
    ASSERT_EQ_INT(limits_set(wx, a.id, "", -1, 100, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(spending(wx, a.id).password_free_limit_minor, 0);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD,
                             wx->env.settings.limit_daily_minor + 1, -1, NULL),
                  QB_E_PARAM);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, -5, -1, NULL), QB_OK); /* keeps */
    ASSERT(!has_limit(wx, a.id, "user_daily"));
    ASSERT_EQ_INT(limits_set(wx, nopw.id, WX_PAY_PASSWORD, -1, 100, NULL), QB_E_PASSWORD_NOT_SET);
    ASSERT_EQ_INT(limits_set(wx, nopw.id, "", 100, -1, NULL), QB_OK); /* tightens */

    /* Setting a daily limit where none was tightens: no password needed, a
     * wrong one not even counted. */
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_WRONG_PASSWORD, 20000, -1, NULL), QB_OK);
    ASSERT_EQ_INT(wx_user_get(wx, a.id).payment_password_failures, 1);
    ASSERT_EQ_INT(limit_of(wx, a.id, "user_daily").amount_minor, 20000);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_WRONG_PASSWORD, 20001, -1, NULL), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(limits_set(wx, a.id, "", 0, -1, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(limit_of(wx, a.id, "user_daily").amount_minor, 20000);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, 20000, -1, NULL), QB_OK);
    ASSERT_EQ_INT(wx_user_get(wx, a.id).payment_password_failures, 2);
    EXPECT_CHARGED(wx, a.id, 15000);
    EXPECT_REFUSED(wx, a.id, 5001, "user_daily");
    ASSERT_EQ_INT(limit_of(wx, a.id, "user_daily").remaining_minor, 5000);

    /* Setting the password-free amount keeps the daily limit and the sums. */
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, -1, 3000, NULL), QB_OK);
    struct wallet_spending s = spending(wx, a.id);
    ASSERT_EQ_INT(s.user_daily_limit_minor, 20000);
    ASSERT_EQ_INT(s.password_free_limit_minor, 3000);
    ASSERT_EQ_INT(s.day_used_minor, 15000);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, -1,
                             wx->env.settings.password_free_max_minor + 1, NULL),
                  QB_E_PARAM);

    /* Removed: the platform's daily cap is the only daily limit again. */
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, 0, -1, NULL), QB_OK);
    ASSERT(!has_limit(wx, a.id, "user_daily"));
    EXPECT_CHARGED(wx, a.id, 5001);

    /* The operator lowers the caps below what the user set: the user may still tighten their
     * own settings towards them (a value above a cap that only tightens), never loosen. */
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, 40000, 20000, NULL), QB_OK);
    wx->env.settings.limit_daily_minor = 10000;
    wx->env.settings.password_free_max_minor = 5000;
    ASSERT_EQ_INT(limits_set(wx, a.id, "", 30000, 10000, NULL), QB_OK);
    s = spending(wx, a.id);
    ASSERT_EQ_INT(s.user_daily_limit_minor, 30000);
    ASSERT_EQ_INT(s.password_free_limit_minor, 10000);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, 30001, -1, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(limits_set(wx, a.id, WX_PAY_PASSWORD, -1, 10001, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(limits_set(wx, a.id, "", 9000, 4000, NULL), QB_OK);
    wx_free(wx);
}

TEST(a_refusal_charges_nothing)
{
    /* A refused charge must leave every sum as it was, or a refused payment
     * would eat into tomorrow's allowance. */
    struct wx *wx = wx_new();
    wx->env.settings.limit_daily_minor = 10000;
    struct identity_user a = wx_user(wx, "张三", true);
    EXPECT_CHARGED(wx, a.id, 7000);
    struct wallet_spending before = spending(wx, a.id);
    for (int i = 0; i < 3; i++)
        EXPECT_REFUSED(wx, a.id, 3001, "daily");
    struct wallet_spending after = spending(wx, a.id);
    ASSERT_EQ_INT(after.day_used_minor, before.day_used_minor);
    ASSERT_EQ_INT(after.year_used_minor, before.year_used_minor);
    ASSERT_EQ_INT(after.lifetime_used_minor, before.lifetime_used_minor);
    ASSERT_EQ_INT(after.day_used_minor, 7000);
    wx_free(wx);
}

TEST(transfers_are_charged_top_ups_are_not)
{
    /* A transfer counts against the payer's limits (and only the payer's);
     * money arriving — a top-up, or a transfer received — counts against
     * nothing. */
    struct wx *wx = wx_new();
    struct identity_user a = wx_user(wx, "张三", true);
    struct identity_user b = wx_user(wx, "李四", true);
    wx_fund(wx, a.account_id, 90000);
    ASSERT_EQ_INT(spending(wx, a.id).lifetime_used_minor, 0);
    struct wx_answer ans = wx_transfer(wx, &a, b.phone, 2500);
    ASSERT_EQ_INT(ans.outcome, QB_OK);
    ASSERT_EQ_INT(limit_of(wx, a.id, "daily").used_minor, 2500);
    ASSERT_EQ_INT(limit_of(wx, a.id, "kyc_lifetime").used_minor, 2500);
    ASSERT_EQ_INT(limit_of(wx, b.id, "daily").used_minor, 0);
    ASSERT_EQ_INT(spending(wx, b.id).lifetime_used_minor, 0);
    wx_free(wx);
}

TEST(limits_list_in_the_order_they_are_checked)
{
    /* GET /v1/me/limits shows what refuses first first: per_payment, the
     * user's daily limit when set, the platform's daily, then the KYC one. */
    struct domain_settings settings;
    domain_settings_default(&settings);
    struct wallet_spending s;
    memset(&s, 0, sizeof s);
    struct wallet_limit limits[WALLET_LIMITS_MAX];
    size_t count = wallet_limits_list(&settings, &s, 1, WX_START_MS, limits);
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(limits[0].name, "per_payment");
    ASSERT_EQ_STR(limits[1].name, "daily");
    ASSERT_EQ_STR(limits[2].name, "kyc_lifetime");
    ASSERT_EQ_INT(limits[2].amount_minor, 100000);
    s.user_daily_limit_minor = 7000;
    s.day_start_ms = domain_day_start_ms(WX_START_MS);
    s.day_used_minor = 9000; /* above the user's limit set later: remaining 0, not negative */
    count = wallet_limits_list(&settings, &s, 3, WX_START_MS, limits);
    ASSERT_EQ_INT(count, 4);
    ASSERT_EQ_STR(limits[1].name, "user_daily");
    ASSERT_EQ_INT(limits[1].remaining_minor, 0);
    ASSERT_EQ_STR(limits[3].name, "kyc_yearly");
    ASSERT_EQ_INT(limits[3].amount_minor, 20000000);
    /* Yesterday's sums are not today's. */
    count = wallet_limits_list(&settings, &s, 3, WX_START_MS + WX_DAY_MS, limits);
    ASSERT_EQ_INT(limits[2].used_minor, 0);
    ASSERT_EQ_INT(wallet_password_free_limit(&settings, &s), 0);
    s.password_free_limit_minor = settings.password_free_max_minor + 500;
    ASSERT_EQ_INT(wallet_password_free_limit(&settings, &s), settings.password_free_max_minor);
}

TEST(password_free_payments_are_counted_per_beijing_day)
{
    // Up to the amount, fewer than settings.password_free_daily_max today; yesterday's count is
    // not today's (the day turns at UTC+8 midnight).
    struct domain_settings settings;
    domain_settings_default(&settings);
    struct wallet_spending s;
    memset(&s, 0, sizeof s);
    const char *why = NULL;
    ASSERT(!wallet_password_free_allows(&settings, &s, 1, WX_START_MS, &why)); /* off */
    ASSERT(strstr(why, "amount") != NULL);
    s.password_free_limit_minor = 500;
    ASSERT(wallet_password_free_allows(&settings, &s, 500, WX_START_MS, &why));
    ASSERT(why == NULL);
    ASSERT(!wallet_password_free_allows(&settings, &s, 501, WX_START_MS, &why));
    s.free_day_start_ms = domain_day_start_ms(WX_START_MS);
    s.free_day_count = settings.password_free_daily_max - 1;
    ASSERT_EQ_INT(wallet_password_free_used_today(&s, WX_START_MS), 4);
    ASSERT(wallet_password_free_allows(&settings, &s, 500, WX_START_MS, &why));
    s.free_day_count = settings.password_free_daily_max;
    ASSERT(!wallet_password_free_allows(&settings, &s, 1, WX_START_MS, &why));
    ASSERT(strstr(why, "used up") != NULL);
    int64_t midnight = s.free_day_start_ms + WX_DAY_MS;
    ASSERT(!wallet_password_free_allows(&settings, &s, 1, midnight - 1, &why));
    ASSERT_EQ_INT(wallet_password_free_used_today(&s, midnight), 0);
    ASSERT(wallet_password_free_allows(&settings, &s, 1, midnight, &why));
}

/* The migration that moved the sums to the ledger (migration 11, index 10). */
#define S_SPENT_MIGRATION 10

TEST(sums_spent_before_the_upgrade_are_kept_once)
{
    // A database at the version before the ledger kept the sums: a user who had spent 300 today,
    // 5,000 this year and 9,000 in all, per the spending table, and 12 journal entries. Opening it
    // moves the sums to the user's account, where the ledger reads them, and records that the
    // entries up to 12 are in them, so that a restart's replay does not count them again.
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO accounts (id, owner, currency, kind, flags, floor_minor, created_at_ms)"
             " VALUES (1, 'user:u_a', 'CNY', 1, 0, 0, 1), (2, 'user:u_b', 'CNY', 1, 0, 0, 1);"
             "INSERT INTO users (id, phone, display_name, password_hash, account_id, created_at_ms)"
             " VALUES ('u_a', '13800000001', 'a', 'x', 1, 1), ('u_b', '13800000002', 'b', 'x', 2, 1);"
             "INSERT INTO spending (user_id, day_start_ms, day_used_minor, year, year_used_minor,"
             " lifetime_used_minor, user_daily_limit_minor) VALUES ('u_a', %lld, 300, 2026, 5000,"
             " 9000, 4000);"
             "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 12)"
             " INSERT INTO entries (id, created_at_ms, kind, code, ref_entry_id, expires_at_ms, ref,"
             " postings, hash) SELECT k, 1, 1, 20, 0, 0, '', x'', x'' FROM n;",
             (long long)WX_START_MS);
    struct test_old_db old;
    test_old_db_open(&old, S_SPENT_MIGRATION, "spent_counted_to", sql);

    struct store *store = old.store;
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store,
                                "SELECT id, spent_day_start_ms, spent_day_minor, spent_year,"
                                " spent_year_minor, spent_lifetime_minor FROM accounts ORDER BY id",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 1), WX_START_MS);
    ASSERT_EQ_INT(store_column_int64(st, 2), 300);
    ASSERT_EQ_INT(store_column_int64(st, 3), 2026);
    ASSERT_EQ_INT(store_column_int64(st, 4), 5000);
    ASSERT_EQ_INT(store_column_int64(st, 5), 9000);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW); /* u_b: no row, nothing spent */
    for (int i = 1; i <= 5; i++)
        ASSERT_EQ_INT(store_column_int64(st, i), 0);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_DONE);
    store_finalize(st);
    ASSERT_EQ_INT(store_prepare(store, "SELECT value FROM meta WHERE key = 'spent_counted_to'", &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 12);
    store_finalize(st);
    /* The user's own setting stays where it was. */
    ASSERT_EQ_INT(store_prepare(store, "SELECT user_daily_limit_minor FROM spending", &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 4000);
    store_finalize(st);
    test_old_db_close(&old);
}

int main(void)
{
    RUN(year_of_ms_follows_beijing_time);
    RUN(password_free_payments_are_counted_per_beijing_day);
    RUN(kyc1_lifetime_limit_never_rolls_over);
    RUN(kyc2_and_kyc3_yearly_limits_roll_over_at_new_year);
    RUN(daily_limit_rolls_over_at_beijing_midnight);
    RUN(per_payment_limit_refuses_one_large_payment);
    RUN(user_daily_limit_is_set_with_the_payment_password);
    RUN(a_refusal_charges_nothing);
    RUN(transfers_are_charged_top_ups_are_not);
    RUN(limits_list_in_the_order_they_are_checked);
    RUN(sums_spent_before_the_upgrade_are_kept_once);
    return test_summary();
}
