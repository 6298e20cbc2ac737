/*
 * merchant.c — the merchants table and the onboarding command.
 *
 * The keys are made before the command (merchant_credentials_make, on the
 * calling thread: RSA key generation takes tens of milliseconds and must
 * never run on the ledger's writer). The command only checks and writes:
 * the owner's count, that the new ids are free, the settlement account and
 * the row, all or nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "identity/identity.h"
#include "merchant/merchant.h"
#include "merchant/paycode.h"
#include "wallet/limits.h"
#include "wallet/topup.h"
#include "wallet/wallet.h"

#define S_COLUMNS                                                                                  \
    "mchid, appid, name, owner_user_id, status, public_key_pem, serial_no, apiv3_key_sealed,"     \
    " fee_ppm, account_id, created_at_ms"
/* What ties a merchant's row to the chain key (domain/rowtag.h): who may
 * act for it, its settlement account, the keys its requests are signed
 * with, whether it may take money, and what Qianbao keeps of it. S_tied
 * gives them from a struct merchant, in this order. */
#define S_TIED                                                                                     \
    "mchid, owner_user_id, account_id, public_key_pem, serial_no, previous_public_key_pem,"        \
    " previous_serial_no, previous_valid_until_ms, status, fee_ppm"
const struct domain_tagged merchant_tagged = {"merchant", "merchants", S_TIED, "ttittttiii"};
/* What a read takes: the columns onboarding writes, then those it leaves
 * to their defaults. */
#define S_ROW_COLUMNS                                                                              \
    S_COLUMNS ", seq, suspended_at_ms, suspend_reason, closed_at_ms, apiv3_key_reset_at_ms,"       \
              " certificate_replaced_at_ms, previous_serial_no, previous_valid_until_ms,"          \
              " previous_public_key_pem"
enum { S_ROW_TAG = 20 }; /* the tag, when a read asks for it: after S_ROW_COLUMNS */

/* m's tied columns (S_TIED) as a command writes them. */
static void S_tied(const struct merchant *m, struct domain_tag_field out[10])
{
    out[0] = DOMAIN_TAG_TEXT(m->mchid);
    out[1] = DOMAIN_TAG_TEXT(m->owner_user_id);
    out[2] = DOMAIN_TAG_INT(m->account_id);
    out[3] = DOMAIN_TAG_TEXT(m->public_key_pem);
    out[4] = DOMAIN_TAG_TEXT(m->serial_no);
    out[5] = DOMAIN_TAG_TEXT(m->previous_public_key_pem);
    out[6] = DOMAIN_TAG_TEXT(m->previous_serial_no);
    out[7] = DOMAIN_TAG_INT(m->previous_valid_until_ms);
    out[8] = DOMAIN_TAG_INT((int64_t)m->status);
    out[9] = DOMAIN_TAG_INT(m->fee_ppm);
}

/* Tags m's row as m says it now is, in the writer's transaction: after a
 * write of any tied column. */
static enum qb_error S_tag_write(struct store *store, const struct domain_env *env,
                                 const struct merchant *m)
{
    QB_ASSERT(env != NULL);
    struct domain_tag_field tied[10];
    S_tied(m, tied);
    return domain_row_tag_write(store, env->chain_key, &merchant_tagged, tied);
}

static bool S_mchid_shape(const char *mchid)
{
    return mchid != NULL && strlen(mchid) == MERCHANT_MCHID_SIZE - 1 &&
           strspn(mchid, "0123456789") == MERCHANT_MCHID_SIZE - 1;
}

bool merchant_mchid_is_valid(const char *text) { return S_mchid_shape(text); }

const char *merchant_status_name(enum merchant_status status)
{
    return status == MERCHANT_SUSPENDED       ? "SUSPENDED"
           : status == MERCHANT_STATUS_CLOSED ? "CLOSED"
                                              : "ACTIVE";
}

/* The row st stands on (S_ROW_COLUMNS) into out: QB_E_INTERNAL for one no
 * writer made. */
static enum qb_error S_row(struct store_stmt *st, struct merchant *out)
{
    enum qb_error err = QB_OK;
    store_column_text_copy(st, 0, out->mchid, sizeof out->mchid);
    store_column_text_copy(st, 1, out->appid, sizeof out->appid);
    store_column_text_copy(st, 2, out->name, sizeof out->name);
    store_column_text_copy(st, 3, out->owner_user_id, sizeof out->owner_user_id);
    int64_t status = store_column_int64(st, 4);
    out->status = (enum merchant_status)status;
    store_column_text_copy(st, 5, out->public_key_pem, sizeof out->public_key_pem);
    store_column_text_copy(st, 6, out->serial_no, sizeof out->serial_no);
    if (store_column_size(st, 7) == sizeof out->apiv3_key_sealed)
        memcpy(out->apiv3_key_sealed, store_column_blob(st, 7), sizeof out->apiv3_key_sealed);
    else
        err = QB_E_INTERNAL;
    out->fee_ppm = store_column_int64(st, 8);
    out->account_id = store_column_int64(st, 9);
    out->created_at_ms = store_column_int64(st, 10);
    out->seq = store_column_int64(st, 11);
    out->suspended_at_ms = store_column_int64(st, 12);
    store_column_text_copy(st, 13, out->suspend_reason, sizeof out->suspend_reason);
    out->closed_at_ms = store_column_int64(st, 14);
    out->apiv3_key_reset_at_ms = store_column_int64(st, 15);
    out->certificate_replaced_at_ms = store_column_int64(st, 16);
    store_column_text_copy(st, 17, out->previous_serial_no, sizeof out->previous_serial_no);
    out->previous_valid_until_ms = store_column_int64(st, 18);
    store_column_text_copy(st, 19, out->previous_public_key_pem,
                           sizeof out->previous_public_key_pem);
    if (out->fee_ppm < 0 || out->fee_ppm > MERCHANT_FEE_PPM_MAX || out->account_id <= 0 ||
        out->seq <= 0 || status < MERCHANT_ACTIVE || status > MERCHANT_STATUS_CLOSED)
        err = QB_E_INTERNAL;
    return err;
}

enum qb_error merchant_get(const struct domain_env *env, struct store *reader, const char *mchid,
                           struct merchant *out)
{
    QB_ASSERT(reader != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (!S_mchid_shape(mchid))
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    /* The tag only when it is checked: --verify reads a database an
     * earlier version left, which has no tag column yet. */
    if (store_prepare(reader,
                      env != NULL ? "SELECT " S_ROW_COLUMNS ", tag FROM merchants WHERE mchid = $1"
                                  : "SELECT " S_ROW_COLUMNS " FROM merchants WHERE mchid = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, mchid, strlen(mchid));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            err = S_row(st, out);
            if (err != QB_OK) /* named, as a broken tag is: the operator's to repair */
                log_event(LOG_ERROR, "merchant.row_damaged",
                          "mchid=%s note=\"a column is out of its range: not acted on\"", mchid);
        } else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    if (err == QB_OK && env != NULL) {
        /* The tag of the row as read into out: what acts on it is what
         * was tagged. */
        struct domain_tag_field tied[10];
        S_tied(out, tied);
        uint8_t want[CRYPTO_SHA256_SIZE];
        domain_row_tag_fields(env->chain_key, &merchant_tagged, tied, want);
        if (store_column_size(st, S_ROW_TAG) != sizeof want ||
            !crypto_equal(store_column_blob(st, S_ROW_TAG), want, sizeof want)) {
            log_event(LOG_ERROR, "domain.row_tag_broken",
                      "table=merchants key=%s tag=%s note=\"the row is not as written: not acted "
                      "on\"",
                      mchid, store_column_size(st, S_ROW_TAG) > 0 ? "wrong" : "none");
            err = QB_E_INTERNAL;
        }
    }
    store_finalize(st);
    if (err != QB_OK)
        memset(out, 0, sizeof *out);
    return err;
}

static bool S_serial_is(const char *serial_no, const char *named)
{
    return named[0] != '\0' && strlen(serial_no) == strlen(named) &&
           strncasecmp(serial_no, named, MERCHANT_SERIAL_SIZE) == 0;
}

enum qb_error merchant_request_key(const struct merchant *m, const char *serial_no, int64_t now_ms,
                                   const char **pem, const char **reason)
{
    QB_ASSERT(m != NULL && serial_no != NULL && pem != NULL && reason != NULL);
    *pem = NULL;
    *reason = "";
    if (S_serial_is(serial_no, m->serial_no)) {
        *pem = m->public_key_pem;
        return QB_OK;
    }
    if (!S_serial_is(serial_no, m->previous_serial_no) || now_ms >= m->previous_valid_until_ms ||
        m->previous_public_key_pem[0] == '\0') {
        *reason = "serial_no is not the merchant's certificate";
        return QB_E_SIGN_ERROR;
    }
    *pem = m->previous_public_key_pem;
    return QB_OK;
}

enum qb_error merchant_list(struct store *reader, const char *owner_user_id, int64_t before_seq,
                            struct merchant_summary *items, size_t count_max, size_t *count)
{
    QB_ASSERT(reader != NULL && count != NULL && (items != NULL || count_max == 0));
    *count = 0;
    if (count_max == 0)
        return QB_OK;
    /* Keyset paging on seq, newest first; an owner's through merchants_owner. */
#define S_SUMMARY_COLUMNS                                                                          \
    "SELECT mchid, appid, name, owner_user_id, status, fee_ppm, account_id, created_at_ms, seq"    \
    " FROM merchants WHERE seq < $2"
    const char *sql = owner_user_id == NULL ? S_SUMMARY_COLUMNS " ORDER BY seq DESC LIMIT $1"
                                            : S_SUMMARY_COLUMNS
                          " AND owner_user_id = $3 ORDER BY seq DESC LIMIT $1";
#undef S_SUMMARY_COLUMNS
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, (int64_t)count_max);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, before_seq > 0 ? before_seq : INT64_MAX);
    if (err == QB_OK && owner_user_id != NULL)
        err = store_bind_text(st, 3, owner_user_id, strlen(owner_user_id));
    while (err == QB_OK && *count < count_max) {
        int rc = store_step(st);
        if (rc == STORE_STEP_DONE)
            break;
        if (rc != STORE_STEP_ROW) {
            err = QB_E_STORAGE;
            break;
        }
        struct merchant_summary *m = &items[*count];
        memset(m, 0, sizeof *m);
        store_column_text_copy(st, 0, m->mchid, sizeof m->mchid);
        store_column_text_copy(st, 1, m->appid, sizeof m->appid);
        store_column_text_copy(st, 2, m->name, sizeof m->name);
        store_column_text_copy(st, 3, m->owner_user_id, sizeof m->owner_user_id);
        int64_t status = store_column_int64(st, 4);
        m->status = (enum merchant_status)status;
        m->fee_ppm = store_column_int64(st, 5);
        m->account_id = store_column_int64(st, 6);
        m->created_at_ms = store_column_int64(st, 7);
        m->seq = store_column_int64(st, 8);
        if (m->seq <= 0 || m->account_id <= 0 || status < MERCHANT_ACTIVE ||
            status > MERCHANT_STATUS_CLOSED)
            err = QB_E_INTERNAL;
        else
            (*count)++;
    }
    store_finalize(st);
    if (err != QB_OK)
        *count = 0;
    return err;
}

bool merchant_apiv3_key(const struct domain_env *env, const struct merchant *m,
                        char out[MERCHANT_APIV3_KEY_SIZE + 1])
{
    bool ok = domain_unseal(env, m->apiv3_key_sealed, sizeof m->apiv3_key_sealed, out);
    out[ok ? MERCHANT_APIV3_KEY_SIZE : 0] = '\0';
    return ok;
}

/* How many rows match sql with one text parameter. */
static enum qb_error S_count(struct store *store, const char *sql, const char *value, int64_t *count)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, value, strlen(value));
    if (err == QB_OK)
        err = store_step(st) == STORE_STEP_ROW ? QB_OK : QB_E_STORAGE;
    if (err == QB_OK)
        *count = store_column_int64(st, 0);
    store_finalize(st);
    return err;
}

static enum qb_error S_app_insert(struct store *store, const char *appid, const char *mchid,
                                  int64_t now_ms)
{
    const struct store_param params[] = {STORE_TEXT(appid), STORE_TEXT(mchid), STORE_INT(now_ms)};
    return store_run(store,
                     "INSERT INTO merchant_apps (appid, mchid, created_at_ms) VALUES ($1, $2, $3)",
                     params, QB_ARRAY_COUNT(params)) == QB_OK
               ? QB_OK
               : QB_E_STORAGE;
}

bool merchant_appid_is_valid(const char *text)
{
    return text != NULL && strlen(text) == MERCHANT_APPID_SIZE - 1 && strncmp(text, "wx", 2) == 0 &&
           strspn(text + 2, "0123456789abcdef") == MERCHANT_APPID_SIZE - 3;
}

enum qb_error merchant_app_check(struct store *reader, const char *mchid, const char *appid)
{
    QB_ASSERT(reader != NULL);
    if (!S_mchid_shape(mchid) || !merchant_appid_is_valid(appid))
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT mchid FROM merchant_apps WHERE appid = $1", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, appid, strlen(appid));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            char owner[MERCHANT_MCHID_SIZE + 1];
            store_column_text_copy(st, 0, owner, sizeof owner);
            err = strcmp(owner, mchid) == 0 ? QB_OK : QB_E_NOT_FOUND;
        } else {
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
        }
    }
    store_finalize(st);
    return err;
}

enum qb_error merchant_openid_issued(const struct domain_env *env, struct store *store,
                                     const char *appid, const char *openid, char *user_id)
{
    QB_ASSERT(store != NULL && appid != NULL && openid != NULL);
    char owner[ID_TEXT_SIZE_MAX];
    if (user_id == NULL)
        user_id = owner;
    struct store_stmt *st = NULL;
    if (store_prepare(store, "SELECT user_id FROM openids WHERE appid = $1 AND openid = $2", &st) !=
        QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, appid, strlen(appid));
    if (err == QB_OK)
        err = store_bind_text(st, 2, openid, strlen(openid));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            store_column_text_copy(st, 0, user_id, ID_TEXT_SIZE_MAX);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err == QB_OK && env != NULL) {
        char expected[MERCHANT_OPENID_SIZE];
        bool sound = merchant_appid_is_valid(appid) && user_id[0] != '\0' &&
                     strlen(user_id) < ID_TEXT_SIZE_MAX;
        if (sound) {
            merchant_openid(env, appid, user_id, expected);
            sound = strcmp(expected, openid) == 0;
        }
        if (!sound) {
            log_event(LOG_ERROR, "merchant.openid_row_damaged",
                      "appid=%s openid=%s user_id=%s: the row is not the user's openid", appid,
                      openid, user_id);
            err = QB_E_NOT_FOUND;
        }
    }
    return err;
}

enum qb_error merchant_txn_openid_record(struct ledger_txn *txn, const char *appid,
                                         const char *openid, const char *user_id)
{
    QB_ASSERT(merchant_appid_is_valid(appid) && strlen(openid) == MERCHANT_OPENID_SIZE - 1);
    QB_ASSERT(user_id[0] != '\0');
    const struct store_param params[] = {STORE_TEXT(appid), STORE_TEXT(openid), STORE_TEXT(user_id),
                                         STORE_INT(ledger_txn_now_ms(txn))};
    return store_run(ledger_txn_store(txn),
                     "INSERT INTO openids (appid, openid, user_id, created_at_ms)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                     params, QB_ARRAY_COUNT(params)) == QB_OK
               ? QB_OK
               : QB_E_STORAGE;
}

static enum qb_error S_openid_issue_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_openid_issue_cmd *c = (struct merchant_openid_issue_cmd *)cmd;
    c->outcome = QB_E_NOT_FOUND;
    int64_t apps = 0;
    enum qb_error err =
        S_count(ledger_txn_store(txn), "SELECT count(*) FROM merchant_apps WHERE appid = $1",
                c->appid, &apps);
    if (err != QB_OK || apps == 0)
        return err;
    merchant_openid(c->env, c->appid, c->user_id, c->openid);
    err = merchant_txn_openid_record(txn, c->appid, c->openid, c->user_id);
    if (err == QB_OK)
        c->outcome = QB_OK;
    return err;
}

void merchant_openid_issue_cmd_init(struct merchant_openid_issue_cmd *c,
                                    const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_openid_issue_run, NULL);
    c->env = env;
}

enum qb_error merchant_apps_list(struct store *reader, const char *mchid,
                                 char out[MERCHANT_APPS_MAX][MERCHANT_APPID_SIZE], size_t *count)
{
    QB_ASSERT(reader != NULL && out != NULL && count != NULL);
    *count = 0;
    if (!S_mchid_shape(mchid))
        return QB_OK;
    struct store_stmt *st = NULL;
    /* The default app first: merchants.appid, then the others by age. */
    if (store_prepare(reader,
                      "SELECT a.appid FROM merchant_apps a JOIN merchants m ON m.mchid = a.mchid"
                      " WHERE a.mchid = $1 ORDER BY a.appid != m.appid, a.created_at_ms, a.rowid",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, mchid, strlen(mchid));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < MERCHANT_APPS_MAX && (rc = store_step(st)) == STORE_STEP_ROW)
        store_column_text_copy(st, 0, out[(*count)++], MERCHANT_APPID_SIZE);
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        *count = 0;
    return err;
}

static enum qb_error S_app_add_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_app_add_cmd *c = (struct merchant_app_add_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    QB_ASSERT(merchant_appid_is_valid(c->appid));
    c->outcome = QB_E_INTERNAL;
    c->closed = false;
    c->app_count = 0;
    struct merchant m;
    enum qb_error err = merchant_get(c->env, store, c->mchid, &m);
    if (err == QB_OK && c->owner_user_id[0] != '\0' &&
        strcmp(m.owner_user_id, c->owner_user_id) != 0)
        err = QB_E_NOT_FOUND;
    if (err == QB_E_NOT_FOUND) {
        c->outcome = QB_E_NOT_FOUND;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    int64_t apps = 0, taken = 0;
    err = S_count(store, "SELECT count(*) FROM merchant_apps WHERE mchid = $1", m.mchid, &apps);
    /* Closed is for good: an app would only name orders nobody may pay. */
    c->closed = m.status == MERCHANT_STATUS_CLOSED;
    if (err == QB_OK)
        err = S_count(store, "SELECT count(*) FROM merchant_apps WHERE appid = $1", c->appid,
                      &taken);
    if (err == QB_OK && taken == 0)
        err = S_count(store, "SELECT count(*) FROM merchants WHERE appid = $1", c->appid, &taken);
    if (err != QB_OK)
        return err;
    QB_ASSERT(apps >= 1 && apps <= MERCHANT_APPS_MAX);
    c->app_count = (size_t)apps;
    if (c->closed || apps >= MERCHANT_APPS_MAX || taken > 0) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    c->created_at_ms = ledger_txn_now_ms(txn);
    err = S_app_insert(store, c->appid, m.mchid, c->created_at_ms);
    if (err != QB_OK)
        return err;
    c->app_count = (size_t)apps + 1;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_app_add_cmd_init(struct merchant_app_add_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_app_add_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

static enum qb_error S_create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_create_cmd *c = (struct merchant_create_cmd *)cmd;
    struct merchant *m = &c->merchant;
    struct store *store = ledger_txn_store(txn);
    QB_ASSERT(S_mchid_shape(m->mchid) && m->fee_ppm >= 0 && m->fee_ppm <= MERCHANT_FEE_PPM_MAX);
    c->outcome = QB_E_INTERNAL;

    int64_t count = 0;
    enum qb_error err;
    if (m->owner_user_id[0] != '\0') {
        /* A frozen wallet opens no shop: its owner may not be who holds it. */
        struct identity_user owner;
        err = identity_txn_user_get(txn, c->env, m->owner_user_id, &owner);
        if (err == QB_OK && owner.status != IDENTITY_ACTIVE) {
            /* A closed one was open when the caller looked. */
            c->outcome = owner.status == IDENTITY_FROZEN ? QB_E_ACCOUNT_FROZEN : QB_E_PARAM;
            return QB_OK;
        }
        if (err != QB_OK && err != QB_E_NOT_FOUND) /* the caller checked that the owner is */
            return err;
        /* Open ones: a merchant closed for good takes no place. */
        err = S_count(store,
                      "SELECT count(*) FROM merchants WHERE owner_user_id = $1 AND status <> 3",
                      m->owner_user_id, &count);
        if (err != QB_OK)
            return err;
        if (count >= MERCHANT_PER_OWNER_MAX) {
            c->outcome = QB_E_CONFLICT;
            return QB_OK;
        }
    }
    QB_ASSERT(c->extra_count < MERCHANT_APPS_MAX);
    err = S_count(store, "SELECT count(*) FROM merchants WHERE mchid = $1", m->mchid, &count);
    /* Every appid free, in either table (merchants.appid is UNIQUE), and
     * no two of the new ones alike. */
    for (size_t i = 0; err == QB_OK && count == 0 && i <= c->extra_count; i++) {
        const char *appid = i == 0 ? m->appid : c->extra_appids[i - 1];
        QB_ASSERT(merchant_appid_is_valid(appid));
        for (size_t j = 0; j < i; j++)
            if (strcmp(appid, j == 0 ? m->appid : c->extra_appids[j - 1]) == 0)
                count = 1;
        int64_t taken = 0;
        if (count == 0)
            err = S_count(store, "SELECT count(*) FROM merchant_apps WHERE appid = $1", appid,
                          &taken);
        if (err == QB_OK && count == 0 && taken == 0)
            err = S_count(store, "SELECT count(*) FROM merchants WHERE appid = $1", appid, &taken);
        if (taken > 0)
            count = 1;
    }
    if (err != QB_OK)
        return err;
    if (count > 0) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }

    char owner[LEDGER_OWNER_SIZE_MAX];
    merchant_account_owner(m->mchid, owner, sizeof owner);
    struct ledger_account_spec spec = {owner, currency_find("CNY"), LEDGER_ACCOUNT_MERCHANT, 0, 0};
    err = ledger_txn_account_create(txn, &spec, &m->account_id);
    if (err != QB_OK)
        return err == QB_E_CONFLICT ? QB_E_INTERNAL : err;
    m->status = MERCHANT_ACTIVE;
    m->created_at_ms = ledger_txn_now_ms(txn);
    /* Left to the columns' defaults, and tied as those. */
    m->previous_public_key_pem[0] = '\0';
    m->previous_serial_no[0] = '\0';
    m->previous_valid_until_ms = 0;
    const struct store_param params[] = {
        STORE_TEXT(m->mchid),
        STORE_TEXT(m->appid),
        STORE_TEXT(m->name),
        STORE_TEXT(m->owner_user_id),
        STORE_INT(m->status),
        STORE_TEXT(m->public_key_pem),
        STORE_TEXT(m->serial_no),
        STORE_BLOB(m->apiv3_key_sealed, sizeof m->apiv3_key_sealed),
        STORE_INT(m->fee_ppm),
        STORE_INT(m->account_id),
        STORE_INT(m->created_at_ms),
    };
    err = store_run(store,
                    "INSERT INTO merchants (" S_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                    " $9, $10, $11)",
                    params, QB_ARRAY_COUNT(params));
    if (err == QB_OK)
        err = S_tag_write(store, c->env, m);
    if (err != QB_OK)
        return QB_E_STORAGE;
    for (size_t i = 0; i <= c->extra_count; i++) {
        err = S_app_insert(store, i == 0 ? m->appid : c->extra_appids[i - 1], m->mchid,
                           m->created_at_ms);
        if (err != QB_OK)
            return err;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_create_cmd_init(struct merchant_create_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_create_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
    c->merchant.fee_ppm = MERCHANT_FEE_PPM_DEFAULT;
}

enum qb_error merchant_owned_get(const struct domain_env *env, struct store *reader,
                                 const char *owner_user_id, const char *mchid, struct merchant *out)
{
    QB_ASSERT(reader != NULL && owner_user_id != NULL && owner_user_id[0] != '\0');
    memset(out, 0, sizeof *out);
    char found[MERCHANT_MCHID_SIZE] = "";
    if (mchid == NULL) {
        /* The owner's only merchant, or the only one not closed: two
         * rows otherwise are a question to ask back. Open ones first. */
        struct store_stmt *st = NULL;
        if (store_prepare(reader,
                          "SELECT mchid, status = 3 FROM merchants WHERE owner_user_id = $1"
                          " ORDER BY status = 3, seq LIMIT 2",
                          &st) != QB_OK)
            return QB_E_STORAGE;
        enum qb_error err = store_bind_text(st, 1, owner_user_id, strlen(owner_user_id));
        int rows = 0;
        int rc = STORE_STEP_DONE;
        bool closed[2] = {false, false};
        while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
            if (rows == 0)
                store_column_text_copy(st, 0, found, sizeof found);
            closed[rows++] = store_column_int64(st, 1) != 0;
        }
        if (err == QB_OK && rc != STORE_STEP_DONE)
            err = QB_E_STORAGE;
        store_finalize(st);
        if (err != QB_OK)
            return err;
        if (rows == 0)
            return QB_E_NOT_FOUND;
        if (rows > 1 && (closed[0] || !closed[1]))
            return QB_E_PARAM;
        mchid = found;
    }
    enum qb_error err = merchant_get(env, reader, mchid, out);
    if (err == QB_OK && strcmp(out->owner_user_id, owner_user_id) != 0) {
        memset(out, 0, sizeof *out);
        err = QB_E_NOT_FOUND;
    }
    return err;
}

/* --- suspension ---------------------------------------------------------------------------- */

/* The owner's part of closing c's merchant, read before anything is
 * written: the settlement account empty, then the payment password.
 * QB_OK with c->outcome set to a refusal, or to QB_OK when it may close. */
static enum qb_error S_close_check(struct ledger_txn *txn, struct merchant_status_cmd *c)
{
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, c->merchant.account_id, &account) != QB_OK)
        return QB_E_INTERNAL; /* a merchant without its settlement account */
    /* A remainder no withdrawal can take (less than a fen and its fee)
     * goes to the owner's wallet instead, if it takes credits: else the
     * merchant could never be emptied. The fee is reckoned without the
     * owner's free allowance (topup.h), which the close does not read: a
     * remainder under it goes to the wallet, where the allowance applies. */
    int64_t available = account.balance_minor - account.held_minor;
    int64_t most = 0, fee = 0;
    wallet_withdrawal_max(&c->env->settings, available, c->env->settings.limit_per_payment_minor, 0,
                          &most, &fee);
    struct identity_user owner;
    enum qb_error err = identity_txn_user_get(txn, c->env, c->owner_user_id, &owner);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* the owner of a merchant */
    struct ledger_account_view wallet;
    if (ledger_txn_account_get(txn, owner.account_id, &wallet) != QB_OK)
        return QB_E_INTERNAL;
    bool takes = owner.status == IDENTITY_ACTIVE &&
                 (wallet.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) == 0;
    c->not_empty = account.held_minor != 0                  ? "pending"
                   : available != 0 && (most > 0 || !takes) ? "balance"
                                                            : NULL;
    /* What is held may be a transfer to a user (payout.h) rather than a
     * withdrawal: no bank settles that one, its owner cancels it or its
     * 24 hours end it, and the owner must be told which to wait for. */
    if (account.held_minor != 0) {
        const struct store_param p[] = {STORE_TEXT(c->mchid)};
        bool waiting = false;
        /* state = 1 as a literal: the partial index payouts_merchant_waiting's. */
        if (store_exists(ledger_txn_store(txn),
                         "SELECT 1 FROM payouts WHERE mchid = $1 AND state = 1 LIMIT 1", p,
                         QB_ARRAY_COUNT(p), &waiting) != QB_OK)
            return QB_E_STORAGE;
        if (waiting)
            c->not_empty = "payout";
    }
    /* At KYC level 1 a withdrawal, from a merchant too, counts against its
     * owner's lifetime allowance (limits.h). When what is left of it cannot
     * take what a withdrawal must, "withdraw it first" would send the owner
     * round in a circle: the limit is named instead, to be raised. */
    if (c->not_empty != NULL && strcmp(c->not_empty, "balance") == 0 && most > 0 &&
        owner.kyc_level <= 1) {
        struct wallet_spending spending;
        err = wallet_txn_spending_get(txn, &owner, &spending);
        if (err != QB_OK)
            return err;
        if (wallet_kyc_lifetime_keeps(&c->env->settings, &spending, owner.kyc_level, most)) {
            c->not_empty = NULL;
            c->refused_limit = "kyc_lifetime";
            c->outcome = QB_E_LIMIT_EXCEEDED;
            return QB_OK;
        }
    }
    if (c->not_empty != NULL) {
        c->outcome = QB_E_ACCOUNT_NOT_EMPTY;
        return QB_OK;
    }
    c->remainder_minor = available;
    c->owner_account_id = owner.account_id;
    err = identity_txn_payment_password_verify(txn, c->env, c->owner_user_id, c->payment_password,
                                               &c->password_try);
    if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED || err == QB_E_PASSWORD_NOT_SET ||
        err == QB_OK) {
        c->outcome = err;
        return QB_OK;
    }
    return err;
}

/* Whether m's owner may act for it now: *outcome QB_E_ACCOUNT_FROZEN
 * (else untouched) while the owner's wallet is frozen, when whoever holds
 * the phone may not be the owner. QB_OK or the read's error. */
static enum qb_error S_owner_may_act(struct ledger_txn *txn, const struct domain_env *env,
                                     const struct merchant *m, enum qb_error *outcome)
{
    bool pays = true;
    enum qb_error err = merchant_txn_owner_pays(txn, env, m, &pays);
    if (err == QB_OK && !pays)
        *outcome = QB_E_ACCOUNT_FROZEN;
    return err;
}

static enum qb_error S_status_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_status_cmd *c = (struct merchant_status_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    QB_ASSERT(c->status >= MERCHANT_ACTIVE && c->status <= MERCHANT_STATUS_CLOSED);
    QB_ASSERT(memchr(c->reason, '\0', sizeof c->reason) != NULL);
    bool close = c->status == MERCHANT_STATUS_CLOSED;
    QB_ASSERT(c->env != NULL);
    QB_ASSERT(!close || (memchr(c->owner_user_id, '\0', sizeof c->owner_user_id) != NULL &&
                         memchr(c->payment_password, '\0', sizeof c->payment_password) != NULL));
    c->outcome = QB_E_INTERNAL;
    c->changed = false;
    c->not_empty = NULL;
    c->refused_limit = NULL;
    c->remainder_minor = 0;
    c->owner_account_id = 0;
    c->password_try = (struct identity_password_try){0, 0};
    enum qb_error err = merchant_get(c->env, store, c->mchid, &c->merchant);
    if (err == QB_OK && close && strcmp(c->merchant.owner_user_id, c->owner_user_id) != 0)
        err = QB_E_NOT_FOUND; /* another owner's is not found, as one that never was */
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    /* A closed merchant is so for good: nothing changes it. */
    if (c->merchant.status == MERCHANT_STATUS_CLOSED) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    /* The same again is the same answer: a second suspension keeps the
     * first one's time and reason, which say when the money stopped. */
    if (c->merchant.status == c->status) {
        c->outcome = QB_OK;
        return QB_OK;
    }
    if (close) {
        /* Closing is for good: not while the owner's wallet is frozen, when
         * whoever holds the phone may not be the owner. */
        err = S_owner_may_act(txn, c->env, &c->merchant, &c->outcome);
        if (err != QB_OK || c->outcome == QB_E_ACCOUNT_FROZEN)
            return err;
        err = S_close_check(txn, c);
        if (err != QB_OK || c->outcome != QB_OK)
            return err;
        c->outcome = QB_E_INTERNAL;
        if (c->remainder_minor > 0) {
            const struct ledger_leg legs[2] = {{c->merchant.account_id, -c->remainder_minor},
                                               {c->owner_account_id, c->remainder_minor}};
            int64_t entry_id = 0;
            err =
                ledger_txn_post(txn, WALLET_CODE_MERCHANT_REMAINDER, c->mchid, legs, 2, &entry_id);
            if (err != QB_OK)
                return err;
        }
        err = ledger_txn_account_set_flags(txn, c->merchant.account_id, LEDGER_ACCOUNT_CLOSED);
        if (err != QB_OK)
            return err == QB_E_CONFLICT ? QB_E_INTERNAL : err; /* checked empty above */
    }
    bool suspend = c->status == MERCHANT_SUSPENDED;
    int64_t now_ms = ledger_txn_now_ms(txn);
    const struct store_param params[] = {
        STORE_TEXT(c->mchid),
        STORE_INT(c->status),
        STORE_INT(suspend ? now_ms
                  : close ? c->merchant.suspended_at_ms
                          : 0),
        STORE_TEXT(suspend ? c->reason
                   : close ? c->merchant.suspend_reason
                           : ""),
        STORE_INT(close ? now_ms : 0),
    };
    err = store_run(store,
                    "UPDATE merchants SET status = $2, suspended_at_ms = $3, suspend_reason = $4,"
                    " closed_at_ms = $5 WHERE mchid = $1",
                    params, QB_ARRAY_COUNT(params));
    /* The row read above (under its tag) with its new status. */
    c->merchant.status = c->status;
    if (err == QB_OK)
        err = S_tag_write(store, c->env, &c->merchant);
    if (err != QB_OK)
        return QB_E_STORAGE;
    err = merchant_get(c->env, store, c->mchid, &c->merchant);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    QB_ASSERT(c->merchant.status == c->status);
    /* The owner is told in their account's history: their till stopped
     * taking money, or takes it again (the operator's reason is the
     * operator's). Their own close is their own doing; an operator's
     * merchant for nobody has nobody to tell. */
    if (!close && c->merchant.owner_user_id[0] != '\0') {
        char detail[16 + MERCHANT_MCHID_SIZE];
        snprintf(detail, sizeof detail, "mchid=%s", c->mchid);
        err = identity_txn_security_event(txn, c->merchant.owner_user_id,
                                          suspend ? "merchant_suspended" : "merchant_resumed",
                                          detail);
        if (err != QB_OK)
            return err;
    }
    c->changed = true;
    c->outcome = QB_OK;
    return QB_OK;
}

/* What is wrong with the remainder entry_id, ref mchid (NULL: nothing). */
static enum qb_error S_remainder_check(struct store *reader, const char *mchid, int64_t entry_id,
                                       const char **wrong)
{
    *wrong = NULL;
    struct merchant m;
    struct identity_user owner;
    struct ledger_entry e;
    enum qb_error err = merchant_get(NULL, reader, mchid, &m);
    if (err == QB_E_NOT_FOUND || err == QB_E_INTERNAL) {
        *wrong = "it is no merchant's";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (m.status != MERCHANT_STATUS_CLOSED) {
        *wrong = "its merchant is not closed";
        return QB_OK;
    }
    err = identity_user_get(reader, m.owner_user_id, &owner);
    if (err == QB_OK)
        err = ledger_entry_read(reader, entry_id, &e);
    if (err == QB_E_NOT_FOUND) {
        *wrong = "its merchant's owner is not in the books";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    /* The row keeps no amount: what the entry took from the merchant, its
     * owner got, and nothing else moved. */
    const struct ledger_posting *taken = ledger_entry_posting(&e, m.account_id);
    int64_t amount = taken != NULL ? -taken->amount_minor : 0;
    const struct ledger_leg legs[2] = {{m.account_id, -amount}, {owner.account_id, amount}};
    if (e.kind != LEDGER_ENTRY_TRANSFER || amount <= 0 || !ledger_entry_moves(&e, legs, 2))
        *wrong = "it is not its merchant's account to its owner's wallet";
    return QB_OK;
}

enum qb_error merchant_remainders_check(struct store *reader, int64_t *remainders, char *problem,
                                        size_t problem_size)
{
    QB_ASSERT(reader != NULL && remainders != NULL && problem != NULL && problem_size > 0);
    _Static_assert(WALLET_CODE_MERCHANT_REMAINDER == 33, "the SQL's constant below");
    /* By ref: a merchant's second remainder comes right after its first. */
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT ref, id FROM entries WHERE code = 33 ORDER BY ref, id",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    char previous[LEDGER_REF_SIZE_MAX] = "";
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        char mchid[LEDGER_REF_SIZE_MAX];
        store_column_text_copy(st, 0, mchid, sizeof mchid);
        int64_t entry_id = store_column_int64(st, 1);
        const char *wrong = NULL;
        if (*remainders > 0 && strcmp(mchid, previous) == 0)
            wrong = "its merchant had one already";
        else
            err = S_remainder_check(reader, mchid, entry_id, &wrong);
        if (err == QB_OK && wrong != NULL) {
            snprintf(problem, problem_size,
                     "the remainder of closed merchant %s (entry %" PRId64 "): %s", mchid, entry_id,
                     wrong);
            err = QB_E_INTERNAL;
        }
        if (err == QB_OK)
            (*remainders)++;
        snprintf(previous, sizeof previous, "%s", mchid);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

void merchant_status_cmd_init(struct merchant_status_cmd *c, const struct domain_env *env,
                              enum merchant_status status)
{
    QB_ASSERT(c != NULL && env != NULL && status >= MERCHANT_ACTIVE &&
              status <= MERCHANT_STATUS_CLOSED);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_status_run, NULL);
    c->env = env;
    c->status = status;
    c->outcome = QB_E_INTERNAL;
}

enum qb_error merchant_txn_owner_pays(struct ledger_txn *txn, const struct domain_env *env,
                                      const struct merchant *m, bool *pays)
{
    QB_ASSERT(txn != NULL && env != NULL && m != NULL && pays != NULL);
    *pays = true;
    if (m->owner_user_id[0] == '\0')
        return QB_OK;
    struct identity_user owner;
    enum qb_error err = identity_txn_user_get(txn, env, m->owner_user_id, &owner);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* the owner of a merchant */
    *pays = owner.status == IDENTITY_ACTIVE;
    return QB_OK;
}

/* Replaces what c names, once it is allowed; c->merchant as it is after. */
static enum qb_error S_keys_write(struct ledger_txn *txn, struct merchant_keys_cmd *c)
{
    struct store *store = ledger_txn_store(txn);
    int64_t now_ms = ledger_txn_now_ms(txn);
    const struct store_param key[] = {
        STORE_TEXT(c->mchid),
        STORE_BLOB(c->apiv3_key_sealed, sizeof c->apiv3_key_sealed),
        STORE_INT(now_ms),
    };
    if (c->apiv3 && store_run(store,
                              "UPDATE merchants SET apiv3_key_sealed = $2,"
                              " apiv3_key_reset_at_ms = $3 WHERE mchid = $1",
                              key, QB_ARRAY_COUNT(key)) != QB_OK)
        return QB_E_STORAGE;
    /* The key replaced stays for the overlap asked, in place of any an
     * earlier replacement kept; without one, no old key stays. (The
     * right-hand sides read the row as it was.) */
    const bool keep = c->keep_old_ms > 0;
    const struct store_param certificate[] = {
        STORE_TEXT(c->mchid),     STORE_TEXT(c->public_key_pem),
        STORE_TEXT(c->serial_no), STORE_INT(now_ms),
        STORE_INT(keep ? 1 : 0),  STORE_INT(keep ? now_ms + c->keep_old_ms : 0),
    };
    if (c->certificate &&
        store_run(store,
                  "UPDATE merchants SET public_key_pem = $2, serial_no = $3,"
                  " certificate_replaced_at_ms = $4,"
                  " previous_public_key_pem = CASE WHEN $5 THEN public_key_pem ELSE '' END,"
                  " previous_serial_no = CASE WHEN $5 THEN serial_no ELSE '' END,"
                  " previous_valid_until_ms = $6 WHERE mchid = $1",
                  certificate, QB_ARRAY_COUNT(certificate)) != QB_OK)
        return QB_E_STORAGE;
    if (c->certificate) {
        /* The row read above (under its tag) as the update left it. */
        struct merchant *m = &c->merchant;
        if (keep) {
            memcpy(m->previous_public_key_pem, m->public_key_pem, sizeof m->public_key_pem);
            memcpy(m->previous_serial_no, m->serial_no, sizeof m->serial_no);
        } else {
            m->previous_public_key_pem[0] = '\0';
            m->previous_serial_no[0] = '\0';
        }
        m->previous_valid_until_ms = keep ? now_ms + c->keep_old_ms : 0;
        snprintf(m->public_key_pem, sizeof m->public_key_pem, "%s", c->public_key_pem);
        snprintf(m->serial_no, sizeof m->serial_no, "%s", c->serial_no);
        if (S_tag_write(store, c->env, m) != QB_OK)
            return QB_E_STORAGE;
    }
    enum qb_error err = merchant_get(c->env, store, c->mchid, &c->merchant);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    c->outcome = QB_OK;
    c->changed = true;
    return QB_OK;
}

static enum qb_error S_keys_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_keys_cmd *c = (struct merchant_keys_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    QB_ASSERT(c->env != NULL && memchr(c->owner_user_id, '\0', sizeof c->owner_user_id) != NULL &&
              memchr(c->payment_password, '\0', sizeof c->payment_password) != NULL &&
              (c->apiv3 || c->certificate));
    QB_ASSERT(!c->certificate ||
              (memchr(c->public_key_pem, '\0', sizeof c->public_key_pem) != NULL &&
               memchr(c->serial_no, '\0', sizeof c->serial_no) != NULL && c->serial_no[0] != '\0'));
    QB_ASSERT(c->keep_old_ms >= 0 && c->keep_old_ms <= MERCHANT_CERT_OVERLAP_MS_MAX);
    c->outcome = QB_E_INTERNAL;
    c->password_try = (struct identity_password_try){0, 0};
    enum qb_error err = merchant_get(c->env, store, c->mchid, &c->merchant);
    if (err == QB_OK && !c->by_operator && strcmp(c->merchant.owner_user_id, c->owner_user_id) != 0)
        err = QB_E_NOT_FOUND; /* another owner's is not found, as one that never was */
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    /* An owner replaces their merchant's keys themselves: an operator's
     * hands the secrets to whoever holds the operator's token, so it is
     * only for a merchant no owner can act for. */
    if (c->by_operator && c->merchant.owner_user_id[0] != '\0') {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    if (c->by_operator)
        return S_keys_write(txn, c);
    err = S_owner_may_act(txn, c->env, &c->merchant, &c->outcome);
    if (err != QB_OK || c->outcome == QB_E_ACCOUNT_FROZEN)
        return err;
    err = identity_txn_payment_password_verify(txn, c->env, c->owner_user_id, c->payment_password,
                                               &c->password_try);
    if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED || err == QB_E_PASSWORD_NOT_SET) {
        c->outcome = err; /* a wrong one stays counted */
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    return S_keys_write(txn, c);
}

void merchant_keys_cmd_init(struct merchant_keys_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_keys_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

void merchant_account_owner(const char *mchid, char *out, size_t out_size)
{
    int size = snprintf(out, out_size, "merchant:%s", mchid);
    QB_ASSERT(size > 0 && (size_t)size < out_size);
}

enum qb_error merchant_user_close_blockers(const struct domain_env *env, struct store *store,
                                           const struct identity_user *user,
                                           const struct ledger_account_view *view,
                                           uint32_t *blockers)
{
    QB_ASSERT(env != NULL && store != NULL && user != NULL && view != NULL && blockers != NULL);
    const struct store_param p[] = {STORE_TEXT(user->id)};
    bool owner;
    if (store_exists(store,
                     "SELECT 1 FROM merchants WHERE owner_user_id = $1 AND status <> 3 LIMIT 1", p,
                     QB_ARRAY_COUNT(p), &owner) != QB_OK)
        return QB_E_STORAGE;
    if (owner)
        *blockers |= DOMAIN_CLOSE_MERCHANT;
    return wallet_user_close_blockers(env, store, user, view, blockers);
}

enum qb_error merchant_txn_user_closed(struct ledger_txn *txn, const struct domain_env *env,
                                       const char *user_id)
{
    enum qb_error err = wallet_txn_user_closed(txn, user_id);
    return err == QB_OK ? merchant_txn_user_frozen(txn, env, user_id) : err;
}

enum qb_error merchant_txn_sessions_revoked(struct ledger_txn *txn, const struct domain_env *env,
                                            const char *user_id)
{
    QB_ASSERT(txn != NULL && env != NULL && user_id != NULL);
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn), "SELECT mchid FROM merchants WHERE owner_user_id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        char owner[LEDGER_OWNER_SIZE_MAX];
        merchant_account_owner(store_column_text(st, 0), owner, sizeof owner);
        ledger_txn_owner_changed(txn, owner);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

enum qb_error merchant_txn_payout_check(struct ledger_txn *txn, const struct domain_env *env,
                                        const char *account_label)
{
    QB_ASSERT(txn != NULL && env != NULL && account_label != NULL);
    static const char prefix[] = "merchant:";
    if (strncmp(account_label, prefix, sizeof prefix - 1) != 0)
        return QB_OK;
    struct merchant m;
    enum qb_error err =
        merchant_get(env, ledger_txn_store(txn), account_label + sizeof prefix - 1, &m);
    if (err == QB_E_NOT_FOUND)
        return QB_OK;
    if (err != QB_OK)
        return err;
    return m.status != MERCHANT_ACTIVE ? QB_E_ACCOUNT_FROZEN : QB_OK;
}
