/*
 * limits.c — the spending limits, from the ledger's spending sums and the
 * user's own settings.
 *
 * What a user has spent today, this year and in the account's lifetime are
 * the ledger's sums (struct ledger_spent) of the debits of entries whose
 * code counts as spending (wallet_code_is_spending): posting a payment
 * counts it, in memory, checkpointed and replayed like the balance, so a
 * payment writes no row of its own for its limits; money that comes back
 * unspent is taken off them the same way, by the entry that brings it back
 * (wallet_code_gives_back, limits.h). A sum belongs to the day
 * (UTC+8 midnight) or year it was counted in; reading it on a later day or
 * year yields zero, so rollover needs no background job. The spending table
 * keeps what the user sets: their own daily limit and password-free amount.
 *
 * The check runs inside the paying ledger command, on the writer thread,
 * against the working sums (earlier commands of the batch included), and
 * the same command posts: limits.h says why that makes the limits race-free.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/money.h"
#include "wallet/limits.h"
#include "wallet/wallet.h"

bool wallet_code_is_spending(uint16_t code)
{
    return code == WALLET_CODE_TRANSFER || code == WALLET_CODE_ORDER_PAYMENT ||
           code == WALLET_CODE_RED_PACKET_SEND;
}

bool wallet_code_gives_back(uint16_t code)
{
    return code == WALLET_CODE_TRANSFER_RELEASE || code == WALLET_CODE_RED_PACKET_REFUND;
}

void wallet_spending_period(int64_t at_ms, int64_t *day_start_ms, int64_t *year)
{
    *day_start_ms = domain_day_start_ms(at_ms);
    *year = wallet_year_of_ms(at_ms);
}

void wallet_ledger_options(struct ledger_options *options)
{
    QB_ASSERT(options != NULL);
    options->spending_code = wallet_code_is_spending;
    options->spending_period = wallet_spending_period;
    options->spending_giveback_code = wallet_code_gives_back;
}

int64_t wallet_year_of_ms(int64_t at_ms)
{
    /* Days since 1970-01-01 in UTC+8, then the civil year (H. Hinnant's
     * days_from_civil inverse, exact for every int64 day count we meet). */
    const int64_t day_ms = 24LL * 60 * 60 * 1000;
    int64_t local_ms = domain_day_start_ms(at_ms) + 8LL * 60 * 60 * 1000;
    int64_t z = local_ms / day_ms + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    return yoe + era * 400 + (month <= 2 ? 1 : 0);
}

/* The user's settings row (all zero without one) and the sums of spent. */
static enum qb_error S_spending_read(struct store *store, const char *user_id,
                                     const struct ledger_spent *spent, struct wallet_spending *out)
{
    memset(out, 0, sizeof *out);
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT user_daily_limit_minor, password_free_limit_minor,"
                      " free_day_start_ms, free_day_count, withdrawn_minor, transfer_arrival,"
                      " withdrawn_over_minor"
                      " FROM spending WHERE user_id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            out->user_daily_limit_minor = store_column_int64(st, 0);
            out->password_free_limit_minor = store_column_int64(st, 1);
            out->free_day_start_ms = store_column_int64(st, 2);
            out->free_day_count = store_column_int64(st, 3);
            out->withdrawn_minor = store_column_int64(st, 4);
            out->withdrawn_over_minor = store_column_int64(st, 6);
            int64_t arrival = store_column_int64(st, 5);
            out->transfer_arrival =
                arrival >= WALLET_ARRIVAL_INSTANT && arrival <= WALLET_ARRIVAL_24H
                    ? (enum wallet_arrival)arrival
                    : WALLET_ARRIVAL_24H; /* unknown: the safest */
        } else if (rc != STORE_STEP_DONE) {
            err = QB_E_STORAGE;
        }
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    if (err != QB_OK) {
        memset(out, 0, sizeof *out);
        return err;
    }
    out->day_start_ms = spent->day_start_ms;
    out->day_used_minor = spent->day_minor;
    out->year = spent->year;
    out->year_used_minor = spent->year_minor;
    out->lifetime_used_minor = spent->lifetime_minor;
    return QB_OK;
}

enum qb_error wallet_spending_get(struct store *reader, const struct ledger_account_view *account,
                                  const struct identity_user *user, struct wallet_spending *out)
{
    QB_ASSERT(reader != NULL && account != NULL && user != NULL && out != NULL);
    QB_ASSERT(account->id == user->account_id);
    return S_spending_read(reader, user->id, &account->spent, out);
}

enum qb_error wallet_txn_spending_get(struct ledger_txn *txn, const struct identity_user *user,
                                      struct wallet_spending *out)
{
    QB_ASSERT(txn != NULL && user != NULL && out != NULL);
    /* A ledger that does not count spending would never refuse a payment
     * for its limits: that is a daemon put together wrongly. */
    QB_ASSERT(ledger_txn_counts_spending(txn));
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, user->account_id, &account) != QB_OK)
        return QB_E_INTERNAL;
    return S_spending_read(ledger_txn_store(txn), user->id, &account.spent, out);
}

int64_t wallet_password_free_used_today(const struct wallet_spending *s, int64_t now_ms)
{
    int64_t day_start_ms, year;
    wallet_spending_period(now_ms, &day_start_ms, &year);
    return s->free_day_start_ms == day_start_ms ? s->free_day_count : 0;
}

bool wallet_password_free_allows(const struct domain_settings *settings,
                                 const struct wallet_spending *s, int64_t amount_minor,
                                 int64_t now_ms, const char **why)
{
    if (amount_minor > wallet_password_free_limit(settings, s)) {
        *why = "payment_password is required for this amount";
        return false;
    }
    if (wallet_password_free_used_today(s, now_ms) >= settings->password_free_daily_max) {
        *why = "payment_password is required: today's payments without it are used up";
        return false;
    }
    *why = NULL;
    return true;
}

enum qb_error wallet_txn_password_free_check(struct ledger_txn *txn, const struct domain_env *env,
                                             const struct identity_user *payer,
                                             int64_t amount_minor, const char **why)
{
    *why = NULL;
    if (!payer->payment_password_set)
        return QB_E_PASSWORD_NOT_SET;
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (identity_payment_password_locked(payer, now_ms))
        return QB_E_PASSWORD_LOCKED;
    struct wallet_spending spending;
    enum qb_error err = wallet_txn_spending_get(txn, payer, &spending);
    if (err != QB_OK)
        return err;
    return wallet_password_free_allows(&env->settings, &spending, amount_minor, now_ms, why)
               ? QB_OK
               : QB_E_PARAM;
}

enum qb_error wallet_txn_password_free_count(struct ledger_txn *txn, const char *user_id)
{
    int64_t day_start_ms, year;
    wallet_spending_period(ledger_txn_now_ms(txn), &day_start_ms, &year);
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_INT(day_start_ms)};
    enum qb_error err = store_run(
        ledger_txn_store(txn),
        "INSERT INTO spending (user_id, free_day_start_ms, free_day_count) VALUES ($1, $2, 1)"
        " ON CONFLICT (user_id) DO UPDATE SET"
        " free_day_count = CASE WHEN free_day_start_ms = excluded.free_day_start_ms"
        " THEN free_day_count + 1 ELSE 1 END,"
        " free_day_start_ms = excluded.free_day_start_ms",
        p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* Writes the user's settings; the sums are the ledger's. */
static enum qb_error S_settings_write(struct ledger_txn *txn, const char *user_id,
                                      const struct wallet_spending *s)
{
    QB_ASSERT(s->user_daily_limit_minor >= 0 && s->password_free_limit_minor >= 0);
    const struct store_param p[] = {
        STORE_TEXT(user_id),
        STORE_INT(s->user_daily_limit_minor),
        STORE_INT(s->password_free_limit_minor),
        STORE_INT(s->transfer_arrival),
    };
    enum qb_error err = store_run(
        ledger_txn_store(txn),
        "INSERT INTO spending (user_id, user_daily_limit_minor, password_free_limit_minor,"
        " transfer_arrival) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (user_id) DO UPDATE SET"
        " user_daily_limit_minor = excluded.user_daily_limit_minor,"
        " password_free_limit_minor = excluded.password_free_limit_minor,"
        " transfer_arrival = excluded.transfer_arrival",
        p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* The sums of s as they stand at now_ms: a past day or year counts zero. */
static void S_spending_current(struct wallet_spending *s, int64_t now_ms)
{
    int64_t day_start_ms = domain_day_start_ms(now_ms);
    int64_t year = wallet_year_of_ms(now_ms);
    if (s->day_start_ms != day_start_ms) {
        s->day_start_ms = day_start_ms;
        s->day_used_minor = 0;
    }
    if (s->year != year) {
        s->year = year;
        s->year_used_minor = 0;
    }
}

/* What counts against kyc_lifetime: payments and withdrawals (both sums
 * hold at most what ever left the account, far below INT64_MAX; saturated
 * all the same, and a saturated sum refuses everything). */
static int64_t S_kyc1_used(const struct wallet_spending *s)
{
    int64_t used;
    return money_add(s->lifetime_used_minor, s->withdrawn_minor, &used) ? used : INT64_MAX;
}

int64_t wallet_withdrawal_cap(const struct domain_settings *settings,
                              const struct wallet_spending *s, int kyc_level, const char **limit)
{
    int64_t cap = settings->limit_per_payment_minor;
    *limit = "per_payment";
    if (kyc_level <= 1) {
        int64_t used = S_kyc1_used(s);
        int64_t left = settings->limit_kyc1_lifetime_minor > used
                           ? settings->limit_kyc1_lifetime_minor - used
                           : 0;
        if (left < cap) {
            cap = left;
            *limit = "kyc_lifetime";
        }
    }
    return cap;
}

/* Adds delta and over_delta to the user's two counts of what they withdrew. */
static enum qb_error S_withdrawn_add(struct ledger_txn *txn, const char *user_id,
                                     int64_t delta_minor, int64_t over_delta_minor)
{
    QB_ASSERT(delta_minor > 0 ? over_delta_minor >= 0 && over_delta_minor <= delta_minor
                              : over_delta_minor <= 0 && over_delta_minor >= delta_minor);
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_INT(delta_minor),
                                    STORE_INT(over_delta_minor)};
    enum qb_error err = store_run(
        ledger_txn_store(txn),
        "INSERT INTO spending (user_id, withdrawn_minor, withdrawn_over_minor) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET"
        " withdrawn_minor = withdrawn_minor + excluded.withdrawn_minor,"
        " withdrawn_over_minor = withdrawn_over_minor + excluded.withdrawn_over_minor",
        p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error wallet_txn_withdrawal_count(struct ledger_txn *txn, const char *user_id, int64_t seq,
                                          int64_t amount_minor, int64_t over_minor)
{
    QB_ASSERT(seq > 0 && amount_minor > 0 && over_minor >= 0 && over_minor <= amount_minor);
    enum qb_error err = S_withdrawn_add(txn, user_id, amount_minor, over_minor);
    if (err == QB_OK && over_minor > 0) {
        const struct store_param p[] = {STORE_INT(seq), STORE_INT(over_minor)};
        err = store_run(ledger_txn_store(txn),
                        "INSERT INTO withdrawals_over (seq, over_minor) VALUES ($1, $2)", p,
                        QB_ARRAY_COUNT(p)) == QB_OK
                  ? QB_OK
                  : QB_E_STORAGE;
    }
    return err;
}

enum qb_error wallet_txn_withdrawal_over(struct ledger_txn *txn, int64_t seq, int64_t amount_minor,
                                         int64_t *over_minor)
{
    QB_ASSERT(seq > 0 && amount_minor > 0);
    *over_minor = 0;
    int64_t over = 0;
    const struct store_param p[] = {STORE_INT(seq)};
    enum qb_error err =
        store_int64(ledger_txn_store(txn), "SELECT over_minor FROM withdrawals_over WHERE seq = $1",
                    p, QB_ARRAY_COUNT(p), &over);
    if (err == QB_E_NOT_FOUND)
        return QB_OK;
    if (err != QB_OK)
        return QB_E_STORAGE;
    if (over < 1 || over > amount_minor) {
        log_event(LOG_ERROR, "wallet.withdrawal_over_unfit",
                  "seq=%" PRId64 " over=%" PRId64 " amount=%" PRId64
                  " note=\"edited by hand: the withdrawal is not settled until it is mended\"",
                  seq, over, amount_minor);
        return QB_E_INTERNAL;
    }
    *over_minor = over;
    return QB_OK;
}

enum qb_error wallet_txn_withdrawal_uncount(struct ledger_txn *txn, const char *user_id,
                                            int64_t seq, int64_t amount_minor)
{
    int64_t over = 0;
    enum qb_error err = wallet_txn_withdrawal_over(txn, seq, amount_minor, &over);
    return err == QB_OK ? S_withdrawn_add(txn, user_id, -amount_minor, -over) : err;
}

enum qb_error wallet_withdrawn_check(struct store *reader, char *problem, size_t problem_size)
{
    _Static_assert(WALLET_WITHDRAWAL == 2 && WALLET_PROCESSING == 1 && WALLET_SUCCESS == 2,
                   "the kind and statuses spelled below");
    /* kind IN (1, 2): the partial index payments_bank's, so that the pass
     * reads the bank payments, not every payment. Both sides in one
     * grouping, each row read once: a user counted with no withdrawal, or
     * with withdrawals and no count, is a group whose sums differ (joined
     * instead, the sums of one side were indexed on the fly, and SQLite
     * warned of it at every check). */
    bool over = store_schema_version(reader) >= WALLET_OVER_ALLOWANCE_SCHEMA;
    struct store_stmt *st = NULL;
    if (over) {
        /* Each part over the allowance fits a withdrawal, first. */
        if (store_prepare(reader,
                          "SELECT o.seq, o.over_minor FROM withdrawals_over o"
                          " LEFT JOIN payments p ON p.seq = o.seq WHERE p.seq IS NULL"
                          " OR p.kind != 2 OR o.over_minor < 1 OR o.over_minor > p.amount_minor"
                          " LIMIT 1",
                          &st) != QB_OK)
            return QB_E_STORAGE;
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            snprintf(problem, problem_size,
                     "the part over the free allowance of payment seq %" PRId64 ", %" PRId64
                     " fen, does not fit a withdrawal of that seq",
                     store_column_int64(st, 0), store_column_int64(st, 1));
        store_finalize(st);
        if (rc != STORE_STEP_DONE)
            return rc == STORE_STEP_ROW ? QB_E_INTERNAL : QB_E_STORAGE;
    }
    char sql[768];
    int n = snprintf(sql, sizeof sql,
                     "SELECT user_id, sum(counted), sum(withdrawn), sum(counted_over),"
                     " sum(withdrawn_over) FROM"
                     " (SELECT user_id, withdrawn_minor AS counted, 0 AS withdrawn,"
                     " %s AS counted_over, 0 AS withdrawn_over FROM spending"
                     " UNION ALL SELECT p.user_id, 0, p.amount_minor, 0, %s FROM payments p%s"
                     " WHERE p.kind IN (1, 2) AND p.kind = 2 AND p.status IN (1, 2))"
                     " GROUP BY user_id HAVING sum(counted) <> sum(withdrawn)"
                     " OR sum(counted_over) <> sum(withdrawn_over) LIMIT 1",
                     over ? "withdrawn_over_minor" : "0", over ? "coalesce(o.over_minor, 0)" : "0",
                     over ? " LEFT JOIN withdrawals_over o ON o.seq = p.seq" : "");
    QB_ASSERT(n > 0 && (size_t)n < sizeof sql);
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW && store_column_int64(st, 1) != store_column_int64(st, 2))
        snprintf(problem, problem_size,
                 "user %s: counted as having withdrawn %" PRId64 " fen, and their withdrawals "
                 "processing or done come to %" PRId64,
                 store_column_text(st, 0), store_column_int64(st, 1), store_column_int64(st, 2));
    else if (rc == STORE_STEP_ROW)
        snprintf(problem, problem_size,
                 "user %s: counted as having withdrawn %" PRId64 " fen over their free "
                 "allowance, and their withdrawals processing or done say %" PRId64,
                 store_column_text(st, 0), store_column_int64(st, 3), store_column_int64(st, 4));
    store_finalize(st);
    return rc == STORE_STEP_ROW ? QB_E_INTERNAL : rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

static struct wallet_limit S_limit(const char *name, int64_t amount_minor, int64_t used_minor)
{
    struct wallet_limit l = {name, amount_minor, used_minor, 0};
    l.remaining_minor = amount_minor > used_minor ? amount_minor - used_minor : 0;
    return l;
}

size_t wallet_limits_list(const struct domain_settings *settings, const struct wallet_spending *s,
                          int kyc_level, int64_t now_ms, struct wallet_limit *limits)
{
    QB_ASSERT(settings != NULL && s != NULL && limits != NULL);
    struct wallet_spending now = *s;
    S_spending_current(&now, now_ms);
    size_t count = 0;
    limits[count++] = S_limit("per_payment", settings->limit_per_payment_minor, 0);
    if (now.user_daily_limit_minor > 0)
        limits[count++] = S_limit("user_daily", now.user_daily_limit_minor, now.day_used_minor);
    limits[count++] = S_limit("daily", settings->limit_daily_minor, now.day_used_minor);
    if (kyc_level <= 1)
        limits[count++] =
            S_limit("kyc_lifetime", settings->limit_kyc1_lifetime_minor, S_kyc1_used(&now));
    else
        limits[count++] = S_limit("kyc_yearly",
                                  kyc_level == 2 ? settings->limit_kyc2_yearly_minor
                                                 : settings->limit_kyc3_yearly_minor,
                                  now.year_used_minor);
    QB_ASSERT(count <= WALLET_LIMITS_MAX);
    return count;
}

int64_t wallet_password_free_limit(const struct domain_settings *settings,
                                   const struct wallet_spending *s)
{
    int64_t limit = s->password_free_limit_minor;
    if (limit > settings->password_free_max_minor)
        limit = settings->password_free_max_minor;
    return limit > 0 ? limit : 0;
}

enum qb_error wallet_txn_limits_check(struct ledger_txn *txn, const struct domain_env *env,
                                      const struct identity_user *user, int64_t amount_minor,
                                      const char **refused_limit, struct wallet_spending *spending)
{
    QB_ASSERT(txn != NULL && env != NULL && user != NULL && refused_limit != NULL);
    QB_ASSERT(amount_minor > 0);
    *refused_limit = NULL;
    struct wallet_spending s;
    enum qb_error err = wallet_txn_spending_get(txn, user, &s);
    if (err != QB_OK)
        return err;
    if (spending != NULL)
        *spending = s;

    /* Every limit must allow the amount on top of what it counts; the
     * sums it will be added to must hold it (the ledger asserts they do). */
    struct wallet_limit limits[WALLET_LIMITS_MAX];
    size_t count = wallet_limits_list(&env->settings, &s, user->kyc_level,
                                      ledger_txn_now_ms(txn), limits);
    int64_t after_minor;
    if (!money_add(s.day_used_minor, amount_minor, &after_minor) ||
        !money_add(s.year_used_minor, amount_minor, &after_minor) ||
        !money_add(s.lifetime_used_minor, amount_minor, &after_minor))
        return QB_E_OVERFLOW;
    for (size_t i = 0; i < count; i++) {
        if (!money_add(limits[i].used_minor, amount_minor, &after_minor))
            return QB_E_OVERFLOW;
        if (after_minor > limits[i].amount_minor) {
            *refused_limit = limits[i].name;
            return QB_E_LIMIT_EXCEEDED;
        }
    }
    return QB_OK;
}

/* --- PUT /v1/me/limits ---------------------------------------------------------- */

static enum qb_error S_limits_set_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_limits_set_cmd *c = (struct wallet_limits_set_cmd *)cmd;
    QB_ASSERT(c->env != NULL);
    const struct domain_settings *settings = &c->env->settings;
    c->outcome = QB_E_INTERNAL;
    c->password_needed = false;
    c->password_try = (struct identity_password_try){0, 0};
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->payment_password, '\0', sizeof c->payment_password) == NULL) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }

    /* Step 1: the values' shape, before the password is tried, so a bad
     * value costs no try. */
    if ((c->set_daily_limit && c->daily_limit_minor < 0) ||
        (c->set_password_free_limit && c->password_free_limit_minor < 0)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }

    /* Step 2: the settings as they stand. */
    struct identity_user user;
    enum qb_error err = identity_user_get(ledger_txn_store(txn), c->user_id, &user);
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    err = wallet_txn_spending_get(txn, &user, &c->spending);
    if (err != QB_OK)
        return err;
    /* At most the caps; but an operator may have lowered a cap below what
     * the user set, and a value above it that tightens the user's own is
     * still theirs to set (it costs no try either). */
    int64_t daily_now = c->spending.user_daily_limit_minor;
    int64_t free_now = c->spending.password_free_limit_minor;
    if ((c->set_daily_limit && c->daily_limit_minor > settings->limit_daily_minor &&
         (daily_now == 0 || c->daily_limit_minor >= daily_now)) ||
        (c->set_password_free_limit &&
         c->password_free_limit_minor > settings->password_free_max_minor &&
         c->password_free_limit_minor >= free_now)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }

    /* Step 3: a change that lets more money out needs the payment password
     * (a refusal keeps its count); one that only tightens does not, so a
     * user whose password is locked, or who lent the phone, can still
     * close the door. */
    bool loosens = (c->set_daily_limit && daily_now != 0 &&
                    (c->daily_limit_minor == 0 || c->daily_limit_minor > daily_now)) ||
                   (c->set_password_free_limit && c->password_free_limit_minor > free_now) ||
                   (c->set_transfer_arrival && c->transfer_arrival < c->spending.transfer_arrival);
    err = identity_txn_payment_password_gate(txn, c->env, c->user_id, c->payment_password, loosens,
                                             &c->outcome, &c->password_needed, &c->password_try);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;

    /* Step 4: the new settings; the sums are shown as they stand. */
    if (c->set_daily_limit)
        c->spending.user_daily_limit_minor = c->daily_limit_minor;
    if (c->set_password_free_limit)
        c->spending.password_free_limit_minor = c->password_free_limit_minor;
    if (c->set_transfer_arrival)
        c->spending.transfer_arrival = c->transfer_arrival;
    err = S_settings_write(txn, c->user_id, &c->spending);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void wallet_limits_set_cmd_init(struct wallet_limits_set_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_limits_set_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

enum qb_error wallet_limits_refusal(struct ledger_cmd *cmd, enum qb_error err,
                                    const char *refused_limit)
{
    QB_ASSERT(err == QB_E_LIMIT_EXCEEDED || err == QB_E_OVERFLOW);
    if (err == QB_E_OVERFLOW)
        return domain_response_error(cmd, err, NULL, NULL);
    QB_ASSERT(refused_limit != NULL);
    json_t *extra = json_pack("{s:s}", "limit", refused_limit);
    if (extra == NULL)
        return QB_E_INTERNAL;
    char message[96];
    snprintf(message, sizeof message, "the %s limit refused this payment", refused_limit);
    /* Nothing but verifying lifts it, and a user refused a withdrawal or a
     * payment by it has no other way out: say so. */
    static const char kyc_lifetime[] =
        "the kyc_lifetime limit refused this payment: a wallet at KYC level 1 pays and withdraws "
        "only so much in its lifetime (GET /v1/me/limits); verify your identity (POST /v1/me/kyc) "
        "to raise your level";
    enum qb_error rc = domain_response_error(
        cmd, err, strcmp(refused_limit, "kyc_lifetime") == 0 ? kyc_lifetime : message, extra);
    json_decref(extra);
    return rc;
}
