/*
 * sms.c — issuing and consuming SMS verification codes, and reading the outbox.
 *
 * Both halves run on the ledger's writer thread, inside the savepoint of the
 * command that called them, so the limits are checked and the counters
 * moved one command at a time: two parallel requests for the same phone
 * cannot both slip under the cooldown, and parallel guesses at a code are
 * counted one after the other.
 *
 * Every accepted request to send leaves one row in sms_codes, whether or not
 * a message goes out. When the purpose does not apply to the phone (a login
 * code for a phone nobody registered, a register or change_phone code for
 * one somebody did)
 * the row is a decoy: random bytes for a hash and used = 1, so it can never
 * be consumed, and no outbox row. The decoy counts toward the cooldown and
 * the daily cap exactly like a real code, which is what keeps the answers
 * (QB_OK, or RATE_LIMITED with the same retry_after_ms) identical for
 * registered and unknown phones. docs/sms.md has the rules.
 *
 * Only the newest code of a (phone, purpose, target) is live: asking again
 * supersedes the code before, as WeChat and Alipay do, so a user who asked
 * twice types the last code received. Superseded codes are not rewritten;
 * consume simply never looks past the newest row.
 *
 * Every message says what its code authorises and warns against telling
 * it (sms_message_text): a bare code is what a fraudster asks its holder to
 * read out. What a bind_card message names besides the purpose (the card's
 * last four digits, the asking wallet's masked phone) is sealed in the
 * outbox row beside the code; the text is made when it is read or sent.
 *
 * Statements are prepared per call: the writer's connection belongs to the
 * ledger, and an SMS is rare enough that the prepare costs nothing worth a
 * cache.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "sms/sms.h"
#include "sms/sms_int.h"

#define SMS_CODE_HASH_INPUT_SIZE_MAX (SMS_PHONE_SIZE_MAX + 16 + SMS_TARGET_SIZE_MAX + 16)
#define SMS_DAY_MS (24LL * 60 * 60 * 1000)

static const char *const sms_purpose_names[] = {
    [SMS_PURPOSE_REGISTER] = "register",
    [SMS_PURPOSE_LOGIN] = "login",
    [SMS_PURPOSE_BIND_CARD] = "bind_card",
    [SMS_PURPOSE_RESET_PAYMENT_PASSWORD] = "reset_payment_password",
    [SMS_PURPOSE_NEW_DEVICE] = "new_device",
    [SMS_PURPOSE_UNFREEZE] = "unfreeze",
    [SMS_PURPOSE_RESET_PASSWORD] = "reset_password",
    [SMS_PURPOSE_CHANGE_PHONE] = "change_phone",
    [SMS_PURPOSE_CLOSE_ACCOUNT] = "close_account",
    [SMS_PURPOSE_NOTICE_PHONE_CHANGED] = "notice_phone_changed",
    [SMS_PURPOSE_NOTICE_PASSWORD_CHANGED] = "notice_password_changed",
    [SMS_PURPOSE_NOTICE_PAYMENT_PASSWORD_RESET] = "notice_payment_password_reset",
    [SMS_PURPOSE_NOTICE_CARD_BOUND] = "notice_card_bound",
};

bool sms_purpose_is_valid(int64_t purpose)
{
    return purpose >= SMS_PURPOSE_REGISTER && purpose <= SMS_NOTICE_LAST;
}

bool sms_purpose_is_notice(int64_t purpose)
{
    return purpose >= SMS_NOTICE_FIRST && purpose <= SMS_NOTICE_LAST;
}

/* A purpose a code is for. */
static bool sms_purpose_is_code(int64_t purpose)
{
    return purpose >= SMS_PURPOSE_REGISTER && purpose <= SMS_PURPOSE_LAST;
}

bool sms_purpose_parse(const char *text, enum sms_purpose *out)
{
    QB_ASSERT(out != NULL);
    if (text == NULL)
        return false;
    for (int p = SMS_PURPOSE_REGISTER; p <= SMS_PURPOSE_LAST; p++) {
        if (strcmp(text, sms_purpose_names[p]) == 0) {
            *out = (enum sms_purpose)p;
            return true;
        }
    }
    return false;
}

/* Never NULL, so that it is safe in a log line: "unknown" outside the enum. */
const char *sms_purpose_name(enum sms_purpose purpose)
{
    if (!sms_purpose_is_valid((int64_t)purpose))
        return "unknown";
    return sms_purpose_names[purpose];
}

void sms_phone_mask(const char *phone, char out[SMS_PHONE_MASKED_SIZE])
{
    QB_ASSERT(phone_is_valid(phone));
    memcpy(out, phone, 3);
    memcpy(out + 3, "****", 4);
    memcpy(out + 7, phone + 7, 4);
    out[11] = '\0';
}

/* --- what a message says --------------------------------------------------- */

static bool sms_digits_are(const char *text, size_t size)
{
    return strspn(text, "0123456789") == size;
}

bool sms_detail_is_valid(const struct sms_detail *detail)
{
    QB_ASSERT(detail != NULL);
    const char *last4 = detail->card_last4, *wallet = detail->wallet_phone;
    size_t last4_size = strnlen(last4, sizeof detail->card_last4);
    size_t wallet_size = strnlen(wallet, sizeof detail->wallet_phone);
    bool last4_ok = last4_size == 0 || (last4_size == 4 && sms_digits_are(last4, 4));
    bool wallet_ok =
        wallet_size == 0 || (wallet_size == 11 && wallet[0] == '1' && sms_digits_are(wallet, 3) &&
                             strncmp(wallet + 3, "****", 4) == 0 && sms_digits_are(wallet + 7, 4));
    return last4_ok && wallet_ok;
}

/* What each purpose authorises, in the words of the message. A bind_card
 * message names the card and the wallet where it has them, a change_phone
 * one the wallet. */
static const char *const sms_purpose_deeds[] = {
    [SMS_PURPOSE_REGISTER] = "您正在注册钱包账号",
    [SMS_PURPOSE_LOGIN] = "您正在登录钱包",
    [SMS_PURPOSE_BIND_CARD] = "您正在绑定银行卡",
    [SMS_PURPOSE_RESET_PAYMENT_PASSWORD] = "您正在重置钱包的支付密码",
    [SMS_PURPOSE_NEW_DEVICE] = "您正在新设备上登录钱包",
    [SMS_PURPOSE_UNFREEZE] = "您正在解除钱包的冻结",
    [SMS_PURPOSE_RESET_PASSWORD] = "您正在重置钱包的登录密码",
    [SMS_PURPOSE_CHANGE_PHONE] = "您正在将钱包账号换绑到本手机号",
    [SMS_PURPOSE_CLOSE_ACCOUNT] = "您正在注销钱包账号，注销后不可恢复",
    [SMS_PURPOSE_NOTICE_PHONE_CHANGED] = "您的钱包账号已换绑到其他手机号，本手机号不再能登录",
    [SMS_PURPOSE_NOTICE_PASSWORD_CHANGED] = "您的钱包登录密码已修改，其他设备上的登录已退出",
    [SMS_PURPOSE_NOTICE_PAYMENT_PASSWORD_RESET] = "您的钱包支付密码已重置",
    [SMS_PURPOSE_NOTICE_CARD_BOUND] = "有银行卡已绑定到您的钱包",
};

void sms_message_detail(enum sms_purpose purpose, const struct sms_detail *detail,
                        char out[SMS_DETAIL_TEXT_SIZE_MAX])
{
    QB_ASSERT(out != NULL);
    if (!sms_purpose_is_valid((int64_t)purpose)) {
        out[0] = '\0';
        return;
    }
    int n;
    if (purpose == SMS_PURPOSE_BIND_CARD && detail != NULL && detail->card_last4[0] != '\0' &&
        detail->wallet_phone[0] != '\0')
        n = snprintf(out, SMS_DETAIL_TEXT_SIZE_MAX, "您正在将尾号 %s 的银行卡绑定到钱包账号 %s",
                     detail->card_last4, detail->wallet_phone);
    else if (purpose == SMS_PURPOSE_CHANGE_PHONE && detail != NULL &&
             detail->wallet_phone[0] != '\0')
        n = snprintf(out, SMS_DETAIL_TEXT_SIZE_MAX, "您正在将钱包账号 %s 换绑到本手机号",
                     detail->wallet_phone);
    else if (purpose == SMS_PURPOSE_NOTICE_PHONE_CHANGED && detail != NULL &&
             detail->wallet_phone[0] != '\0')
        n = snprintf(out, SMS_DETAIL_TEXT_SIZE_MAX,
                     "您的钱包账号已换绑到手机号 %s，本手机号不再能登录", detail->wallet_phone);
    else if (purpose == SMS_PURPOSE_NOTICE_CARD_BOUND && detail != NULL &&
             detail->card_last4[0] != '\0')
        n = snprintf(out, SMS_DETAIL_TEXT_SIZE_MAX, "尾号 %s 的银行卡已绑定到您的钱包",
                     detail->card_last4);
    else
        n = snprintf(out, SMS_DETAIL_TEXT_SIZE_MAX, "%s", sms_purpose_deeds[purpose]);
    QB_ASSERT(n > 0 && n < SMS_DETAIL_TEXT_SIZE_MAX);
}

void sms_message_text(enum sms_purpose purpose, const char *code, const struct sms_detail *detail,
                      char out[SMS_TEXT_SIZE_MAX])
{
    QB_ASSERT(code != NULL && out != NULL);
    char deed[SMS_DETAIL_TEXT_SIZE_MAX];
    sms_message_detail(purpose, detail, deed);
    int n =
        sms_purpose_is_notice(purpose)
            ? snprintf(out, SMS_TEXT_SIZE_MAX, "%s。如非本人操作，请立即冻结钱包并联系客服。", deed)
            : snprintf(out, SMS_TEXT_SIZE_MAX, "验证码 %s：%s，切勿告诉任何人。", code, deed);
    QB_ASSERT(n > 0 && n < SMS_TEXT_SIZE_MAX);
}

void sms_detail_seal(const struct domain_env *env, const struct sms_detail *detail,
                     uint8_t out[SMS_DETAIL_SEALED_SIZE_MAX], size_t *size)
{
    QB_ASSERT(sms_detail_is_valid(detail));
    *size = 0;
    if (detail->card_last4[0] == '\0' && detail->wallet_phone[0] == '\0')
        return;
    char plain[SMS_DETAIL_PLAIN_SIZE_MAX + 1];
    int n = snprintf(plain, sizeof plain, "%s|%s", detail->card_last4, detail->wallet_phone);
    QB_ASSERT(n > 0 && (size_t)n <= SMS_DETAIL_PLAIN_SIZE_MAX);
    domain_seal(env, plain, (size_t)n, out);
    *size = (size_t)n + DOMAIN_SEAL_OVERHEAD;
    crypto_wipe(plain, sizeof plain);
}

bool sms_detail_unseal(const struct domain_env *env, const uint8_t *sealed, size_t sealed_size,
                       struct sms_detail *detail)
{
    memset(detail, 0, sizeof *detail);
    if (sealed_size == 0)
        return true;
    char plain[SMS_DETAIL_PLAIN_SIZE_MAX + 1];
    memset(plain, 0, sizeof plain);
    if (sealed == NULL || sealed_size <= DOMAIN_SEAL_OVERHEAD ||
        sealed_size > SMS_DETAIL_SEALED_SIZE_MAX || !domain_unseal(env, sealed, sealed_size, plain))
        return false;
    const char *bar = memchr(plain, '|', sealed_size - DOMAIN_SEAL_OVERHEAD);
    bool ok = bar != NULL && (size_t)(bar - plain) < sizeof detail->card_last4 &&
              strlen(bar + 1) < sizeof detail->wallet_phone;
    if (ok) {
        memcpy(detail->card_last4, plain, (size_t)(bar - plain));
        snprintf(detail->wallet_phone, sizeof detail->wallet_phone, "%s", bar + 1);
        ok = sms_detail_is_valid(detail);
    }
    if (!ok)
        memset(detail, 0, sizeof *detail);
    crypto_wipe(plain, sizeof plain);
    return ok;
}

/* True when target is a NUL-terminated text that fits SMS_TARGET_SIZE_MAX. */
static bool sms_target_is_valid(const char *target)
{
    return target != NULL && memchr(target, '\0', SMS_TARGET_SIZE_MAX) != NULL;
}

static bool sms_code_is_well_formed(const char *code)
{
    if (code == NULL)
        return false;
    for (size_t i = 0; i < SMS_CODE_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return false;
    return code[SMS_CODE_DIGITS] == '\0';
}

/* Purposes whose code only makes sense for a phone that has an account. */
static bool sms_purpose_needs_user(enum sms_purpose purpose)
{
    return purpose == SMS_PURPOSE_LOGIN || purpose == SMS_PURPOSE_RESET_PAYMENT_PASSWORD ||
           purpose == SMS_PURPOSE_NEW_DEVICE || purpose == SMS_PURPOSE_UNFREEZE ||
           purpose == SMS_PURPOSE_RESET_PASSWORD || purpose == SMS_PURPOSE_CLOSE_ACCOUNT;
}

/* HMAC(sms_code_key, phone|purpose|target|code). The phone and purpose
 * hold no '|' and the code is the fixed-width tail, so no two inputs share
 * a text. */
static void sms_code_hash(const struct domain_env *env, const char *phone, enum sms_purpose purpose,
                          const char *target, const char *code, uint8_t out[CRYPTO_SHA256_SIZE])
{
    char input[SMS_CODE_HASH_INPUT_SIZE_MAX];
    int n = snprintf(input, sizeof input, "%s|%d|%s|%s", phone, (int)purpose, target, code);
    QB_ASSERT(n > 0 && (size_t)n < sizeof input); /* callers checked every length */
    domain_keyed_hash(env->sms_code_key, input, (size_t)n, out);
    crypto_wipe(input, sizeof input);
}

/* The error of a failed store_step (which answers -(enum qb_error)). */
static enum qb_error sms_step_error(int rc)
{
    QB_ASSERT(rc < 0);
    return (enum qb_error)(-rc);
}

/* The storage layer's failures (a refused prepare, a busy or broken
 * database) all mean the same to a caller: nothing could be checked. */
static enum qb_error sms_storage_error(enum qb_error err)
{
    if (err == QB_OK || err == QB_E_SMS_CODE_INVALID)
        return err;
    return QB_E_STORAGE;
}

/* --- issuing ------------------------------------------------------------ */

/* How long until phone may be sent another code for purpose: 0 when now,
 * else the longer of the daily cap's wait (until the next UTC+8 midnight)
 * and the cooldown's. */
static enum qb_error sms_limits_check(struct store *store, const struct domain_env *env,
                                      const struct sms_send_cmd *c, int64_t now_ms,
                                      int64_t *retry_after_ms, int64_t *today_count)
{
    const struct domain_settings *settings = &env->settings;
    struct store_stmt *st = NULL;
    *retry_after_ms = 0;
    *today_count = 0;

    /* 1. the daily cap, over every purpose */
    int64_t day_start_ms = domain_day_start_ms(now_ms);
    enum qb_error err = store_prepare(
        store, "SELECT COUNT(*) FROM sms_codes WHERE phone = $1 AND created_at_ms >= $2", &st);
    if (err != QB_OK)
        return err;
    if ((err = store_bind_text(st, 1, c->phone, strlen(c->phone))) != QB_OK ||
        (err = store_bind_int64(st, 2, day_start_ms)) != QB_OK)
        goto out;
    int rc = store_step(st);
    if (rc != STORE_STEP_ROW) {
        err = rc < 0 ? sms_step_error(rc) : QB_E_INTERNAL;
        goto out;
    }
    *today_count = store_column_int64(st, 0);
    store_finalize(st);
    st = NULL;
    if (*today_count >= settings->sms_daily_max)
        *retry_after_ms = day_start_ms + SMS_DAY_MS - now_ms;

    /* 2. the cooldown, per purpose */
    err = store_prepare(store,
                        "SELECT MAX(created_at_ms) FROM sms_codes"
                        " WHERE phone = $1 AND purpose = $2 AND created_at_ms > $3",
                        &st);
    if (err != QB_OK)
        return err;
    if ((err = store_bind_text(st, 1, c->phone, strlen(c->phone))) != QB_OK ||
        (err = store_bind_int64(st, 2, (int64_t)c->purpose)) != QB_OK ||
        (err = store_bind_int64(st, 3, now_ms - settings->sms_cooldown_ms)) != QB_OK)
        goto out;
    rc = store_step(st);
    if (rc != STORE_STEP_ROW) {
        err = rc < 0 ? sms_step_error(rc) : QB_E_INTERNAL;
        goto out;
    }
    if (!store_column_is_null(st, 0)) {
        int64_t wait_ms = store_column_int64(st, 0) + settings->sms_cooldown_ms - now_ms;
        /* A clock that stepped back must not stretch the wait past one cooldown. */
        if (wait_ms > settings->sms_cooldown_ms)
            wait_ms = settings->sms_cooldown_ms;
        if (wait_ms > *retry_after_ms)
            *retry_after_ms = wait_ms;
    }
    err = QB_OK;
out:
    store_finalize(st);
    QB_ASSERT(err != QB_OK || *retry_after_ms >= 0);
    return err;
}

static enum qb_error sms_phone_is_registered(struct store *store, const char *phone,
                                             bool *registered)
{
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(store, "SELECT 1 FROM users WHERE phone = $1", &st);
    if (err != QB_OK)
        return err;
    if ((err = store_bind_text(st, 1, phone, strlen(phone))) != QB_OK)
        goto out;
    int rc = store_step(st);
    if (rc < 0) {
        err = sms_step_error(rc);
        goto out;
    }
    *registered = rc == STORE_STEP_ROW;
out:
    store_finalize(st);
    return err;
}

/* The new code's row id into *id. */
static enum qb_error sms_code_insert(struct store *store, const struct sms_send_cmd *c,
                                     const uint8_t hash[CRYPTO_SHA256_SIZE], int64_t now_ms,
                                     int64_t expires_at_ms, bool used, int64_t *id)
{
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(
        store,
        "INSERT INTO sms_codes (phone, purpose, target, code_hash, created_at_ms,"
        " expires_at_ms, failures, used) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) RETURNING id",
        &st);
    if (err != QB_OK)
        return err;
    if ((err = store_bind_text(st, 1, c->phone, strlen(c->phone))) == QB_OK &&
        (err = store_bind_int64(st, 2, (int64_t)c->purpose)) == QB_OK &&
        (err = store_bind_text(st, 3, c->target, strlen(c->target))) == QB_OK &&
        (err = store_bind_blob(st, 4, hash, CRYPTO_SHA256_SIZE)) == QB_OK &&
        (err = store_bind_int64(st, 5, now_ms)) == QB_OK &&
        (err = store_bind_int64(st, 6, expires_at_ms)) == QB_OK &&
        (err = store_bind_int64(st, 7, used ? 1 : 0)) == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            *id = store_column_int64(st, 0);
        else
            err = rc < 0 ? sms_step_error(rc) : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* A message for phone: a code's (sealed, its sms_codes row code_id) or a
 * notice's (no code: sealed_size 0, code_id 0). */
static enum qb_error sms_outbox_insert(struct store *store, const struct domain_env *env,
                                       const char *phone, enum sms_purpose purpose,
                                       const struct sms_detail *detail, const uint8_t *sealed,
                                       size_t sealed_size, int64_t now_ms, int64_t code_id)
{
    struct store_stmt *st = NULL;
    uint8_t detail_sealed[SMS_DETAIL_SEALED_SIZE_MAX];
    size_t detail_size = 0;
    sms_detail_seal(env, detail, detail_sealed, &detail_size);
    enum qb_error err = store_prepare(
        store,
        "INSERT INTO sms_outbox (phone, purpose, code_sealed, created_at_ms, attempts,"
        " next_attempt_at_ms, delivered_at_ms, code_id, detail_sealed)"
        " VALUES ($1, $2, $3, $4, 0, $4, 0, $5, $6)",
        &st);
    if (err != QB_OK)
        return err;
    if ((err = store_bind_text(st, 1, phone, strlen(phone))) == QB_OK &&
        (err = store_bind_int64(st, 2, (int64_t)purpose)) == QB_OK &&
        (err = store_bind_blob(st, 3, sealed, sealed_size)) == QB_OK &&
        (err = store_bind_int64(st, 4, now_ms)) == QB_OK &&
        (err = store_bind_int64(st, 5, code_id)) == QB_OK &&
        (err = store_bind_blob(st, 6, detail_sealed, detail_size)) == QB_OK)
        err = store_step_done(st);
    store_finalize(st);
    if (err != QB_OK)
        return err;
    /* As sms_codes: a few of the oldest delivered messages go with each
     * new one once delivered two days ago, so that the table holds about
     * two days of them, not every phone ever sent a code. Those never
     * delivered stay: /metrics counts them (qianbao_sms_undelivered, which
     * only rises, as the alert on it expects), and they are few but when
     * the provider fails. */
    const struct store_param old[] = {STORE_INT(now_ms - 2 * SMS_DAY_MS)};
    return store_run(store,
                     "DELETE FROM sms_outbox WHERE id IN (SELECT id FROM sms_outbox"
                     " WHERE delivered_at_ms > 0 AND delivered_at_ms < $1"
                     " ORDER BY delivered_at_ms LIMIT 8)",
                     old, QB_ARRAY_COUNT(old));
}

/* The run function of sms_send_cmd: checks the limits, then writes either a
 * live code and its outbox row, or a decoy row (see the top of the file).
 * RATE_LIMITED is an outcome, not a ledger failure: nothing was written. */
static enum qb_error sms_send_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct sms_send_cmd *c = (struct sms_send_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL && env->rand != NULL);
    c->retry_after_ms = 0;
    c->daily_cap_reached = false;
    if (!phone_is_valid(c->phone) || !sms_purpose_is_code((int64_t)c->purpose) ||
        !sms_target_is_valid(c->target) || !sms_detail_is_valid(&c->detail)) {
        c->outcome = QB_E_PARAM;
        return QB_E_PARAM;
    }
    struct store *store = ledger_txn_store(txn);
    int64_t now_ms = ledger_txn_now_ms(txn);
    char code[SMS_CODE_DIGITS + 1] = "";
    uint8_t hash[CRYPTO_SHA256_SIZE];
    uint8_t sealed[SMS_CODE_DIGITS + DOMAIN_SEAL_OVERHEAD];

    /* 1. the limits, the same for every phone, registered or not */
    int64_t retry_after_ms = 0, today_count = 0;
    enum qb_error err = sms_limits_check(store, env, c, now_ms, &retry_after_ms, &today_count);
    if (err != QB_OK)
        goto out;
    if (retry_after_ms > 0) {
        c->outcome = QB_E_RATE_LIMITED;
        c->retry_after_ms = retry_after_ms;
        return QB_OK;
    }

    /* 2. whether this purpose applies to this phone */
    bool registered = false;
    err = sms_phone_is_registered(store, c->phone, &registered);
    if (err != QB_OK)
        goto out;
    bool live = true;
    if (sms_purpose_needs_user(c->purpose))
        live = registered;
    else if (c->purpose == SMS_PURPOSE_REGISTER || c->purpose == SMS_PURPOSE_CHANGE_PHONE)
        live = !registered;

    /* 3. a code, or a decoy that counts like one and can never match */
    int n = snprintf(code, sizeof code, "%06u", (unsigned)rand_below(env->rand, 1000000));
    QB_ASSERT(n == SMS_CODE_DIGITS);
    if (live)
        sms_code_hash(env, c->phone, c->purpose, c->target, code, hash);
    else
        rand_fill(env->rand, hash, sizeof hash);
    int64_t code_id = 0;
    err = sms_code_insert(store, c, hash, now_ms, now_ms + env->settings.sms_code_ttl_ms, !live,
                          &code_id);
    if (err != QB_OK)
        goto out;
    /* A row counts for a day at most (the cap; a code lives minutes): a
     * few of the oldest go with each new one once two days old, so that
     * requests for random phones cannot fill the disk, and the table
     * holds about two days of sends. */
    const struct store_param old[] = {STORE_INT(now_ms - 2 * SMS_DAY_MS)};
    err = store_run(store,
                    "DELETE FROM sms_codes WHERE id IN (SELECT id FROM sms_codes ORDER BY id"
                    " LIMIT 8) AND created_at_ms < $1",
                    old, QB_ARRAY_COUNT(old));
    if (err != QB_OK)
        goto out;
    c->daily_cap_reached = today_count + 1 >= env->settings.sms_daily_max;

    /* 4. the message, sealed, in the same transaction */
    if (live) {
        domain_seal(env, code, SMS_CODE_DIGITS, sealed);
        err = sms_outbox_insert(store, env, c->phone, c->purpose, &c->detail, sealed, sizeof sealed,
                                now_ms, code_id);
        if (err != QB_OK)
            goto out;
    }
    err = QB_OK;
out:
    crypto_wipe(code, sizeof code);
    err = sms_storage_error(err);
    c->outcome = err;
    return err;
}

void sms_send_cmd_init(struct sms_send_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, sms_send_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL; /* until it ran */
}

/* --- consuming ------------------------------------------------------------ */

enum qb_error sms_txn_code_consume(struct ledger_txn *txn, const struct domain_env *env,
                                   const char *phone, enum sms_purpose purpose, const char *target,
                                   const char *code)
{
    return sms_txn_code_check(txn, env, phone, purpose, target, code, true);
}

enum qb_error sms_txn_code_check(struct ledger_txn *txn, const struct domain_env *env,
                                 const char *phone, enum sms_purpose purpose, const char *target,
                                 const char *code, bool consume)
{
    QB_ASSERT(txn != NULL && env != NULL);
    if (target == NULL)
        target = "";
    /* Malformed input is refused before it can touch a code's tries. */
    if (!sms_code_is_well_formed(code) || !phone_is_valid(phone) ||
        !sms_purpose_is_code((int64_t)purpose) || !sms_target_is_valid(target))
        return QB_E_SMS_CODE_INVALID;
    struct store *store = ledger_txn_store(txn);
    int64_t now_ms = ledger_txn_now_ms(txn);

    /* 1. the newest code of (phone, purpose, target): the only live one */
    struct store_stmt *st = NULL;
    enum qb_error err =
        store_prepare(store,
                      "SELECT id, code_hash, expires_at_ms, failures, used FROM sms_codes"
                      " WHERE phone = $1 AND purpose = $2 AND target = $3"
                      " ORDER BY created_at_ms DESC, id DESC LIMIT 1",
                      &st);
    if (err != QB_OK)
        goto out;
    if ((err = store_bind_text(st, 1, phone, strlen(phone))) != QB_OK ||
        (err = store_bind_int64(st, 2, (int64_t)purpose)) != QB_OK ||
        (err = store_bind_text(st, 3, target, strlen(target))) != QB_OK)
        goto out;
    int rc = store_step(st);
    if (rc < 0) {
        err = sms_step_error(rc);
        goto out;
    }
    if (rc == STORE_STEP_DONE) {
        err = QB_E_SMS_CODE_INVALID;
        goto out;
    }
    int64_t id = store_column_int64(st, 0);
    uint8_t stored[CRYPTO_SHA256_SIZE];
    const void *blob = store_column_blob(st, 1);
    bool hash_ok = store_column_size(st, 1) == sizeof stored;
    if (hash_ok)
        memcpy(stored, blob, sizeof stored);
    int64_t expires_at_ms = store_column_int64(st, 2);
    int64_t failures = store_column_int64(st, 3);
    int64_t used = store_column_int64(st, 4);
    store_finalize(st);
    st = NULL;
    if (!hash_ok || used != 0 || now_ms >= expires_at_ms ||
        failures >= env->settings.sms_failures_max)
        return QB_E_SMS_CODE_INVALID;

    /* 2. compare, and spend the code or one of its tries */
    uint8_t given[CRYPTO_SHA256_SIZE];
    sms_code_hash(env, phone, purpose, target, code, given);
    bool match = crypto_equal(given, stored, sizeof given);
    if (match && !consume)
        return QB_OK;
    err = store_prepare(store,
                        match ? "UPDATE sms_codes SET used = 1 WHERE id = $1"
                              : "UPDATE sms_codes SET failures = failures + 1 WHERE id = $1",
                        &st);
    if (err == QB_OK && (err = store_bind_int64(st, 1, id)) == QB_OK)
        err = store_step_done(st);
    if (err == QB_OK && !match)
        err = QB_E_SMS_CODE_INVALID;
out:
    store_finalize(st);
    return sms_storage_error(err);
}

enum qb_error sms_txn_code_try_spend(struct ledger_txn *txn, const char *phone,
                                     enum sms_purpose purpose, const char *target)
{
    QB_ASSERT(txn != NULL && phone != NULL && target != NULL);
    QB_ASSERT(sms_purpose_is_code((int64_t)purpose));
    const struct store_param p[] = {STORE_TEXT(phone), STORE_INT((int64_t)purpose),
                                    STORE_TEXT(target)};
    enum qb_error err = store_run(ledger_txn_store(txn),
                                  "UPDATE sms_codes SET failures = failures + 1 WHERE id ="
                                  " (SELECT id FROM sms_codes WHERE phone = $1 AND purpose = $2"
                                  " AND target = $3 ORDER BY created_at_ms DESC, id DESC LIMIT 1)",
                                  p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error sms_txn_codes_void(struct ledger_txn *txn, const char *phone)
{
    QB_ASSERT(txn != NULL && phone != NULL);
    const struct store_param p[] = {STORE_TEXT(phone), STORE_INT(ledger_txn_now_ms(txn))};
    enum qb_error err = store_run(ledger_txn_store(txn),
                                  "UPDATE sms_codes SET used = 1"
                                  " WHERE phone = $1 AND used = 0 AND expires_at_ms > $2",
                                  p, QB_ARRAY_COUNT(p));
    /* Their messages not sent yet never will be, as if expired (sms_int.h):
     * a void code only misleads whoever holds the number now. Notices go
     * still: the one of a password changed just before the wallet moved
     * is for this phone's holder, the owner. */
    const struct store_param q[] = {STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS), STORE_TEXT(phone),
                                    STORE_INT(SMS_ATTEMPTS_MAX), STORE_INT(SMS_PURPOSE_LAST)};
    if (err == QB_OK)
        err = store_run(ledger_txn_store(txn),
                        "UPDATE sms_outbox SET next_attempt_at_ms = $1"
                        " WHERE phone = $2 AND delivered_at_ms = 0 AND attempts < $3"
                        " AND purpose <= $4",
                        q, QB_ARRAY_COUNT(q));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error sms_txn_notice(struct ledger_txn *txn, const struct domain_env *env,
                             const char *phone, enum sms_purpose purpose,
                             const struct sms_detail *detail)
{
    QB_ASSERT(txn != NULL && env != NULL && phone != NULL);
    QB_ASSERT(sms_purpose_is_notice(purpose));
    struct sms_detail none;
    memset(&none, 0, sizeof none);
    if (detail == NULL)
        detail = &none;
    QB_ASSERT(sms_detail_is_valid(detail));
    if (!phone_is_valid(phone))
        return QB_E_STORAGE;
    if (env->sms_notices_off)
        return QB_OK;
    enum qb_error err = sms_outbox_insert(ledger_txn_store(txn), env, phone, purpose, detail, NULL,
                                          0, ledger_txn_now_ms(txn), 0);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* --- the outbox ------------------------------------------------------------ */

void sms_gateway_free(struct sms_gateway *gateway)
{
    if (gateway != NULL)
        gateway->ops->free(gateway);
}

static const char *const sms_delivery_names[] = {
    [SMS_DELIVERY_RETRYING] = "retrying",
    [SMS_DELIVERY_DELIVERED] = "delivered",
    [SMS_DELIVERY_GIVEN_UP] = "given_up",
    [SMS_DELIVERY_EXPIRED] = "expired",
};

const char *sms_delivery_name(enum sms_delivery delivery)
{
    if (delivery < SMS_DELIVERY_RETRYING || delivery > SMS_DELIVERY_EXPIRED)
        return "unknown";
    return sms_delivery_names[delivery];
}

/* Where a row stands (sms_int.h), as an SQL expression over its columns,
 * so that the list and the counts cannot disagree. The parameters: the
 * attempts at which a row is given up, SMS_NEXT_ATTEMPT_NEVER_MS, and the
 * creation time at or before which a code has expired (now - TTL). */
#define SMS_DELIVERY_SQL(attempts_max, never, expired_before)                                      \
    "CASE WHEN delivered_at_ms != 0 THEN 2 WHEN attempts >= " attempts_max " THEN 3"               \
    " WHEN next_attempt_at_ms = " never " OR created_at_ms <= " expired_before " THEN 4"           \
    " ELSE 1 END"
_Static_assert(SMS_DELIVERY_RETRYING == 1 && SMS_DELIVERY_DELIVERED == 2 &&
                   SMS_DELIVERY_GIVEN_UP == 3 && SMS_DELIVERY_EXPIRED == 4,
               "SMS_DELIVERY_SQL answers these numbers");

static const char sms_undelivered_sql[] =
    "SELECT " SMS_DELIVERY_SQL("$1", "$2", "$3") " AS delivery, COUNT(*), MIN(created_at_ms)"
                                                 " FROM sms_outbox WHERE delivered_at_ms = 0"
                                                 " GROUP BY delivery";
/* Newest first, from below $1, at most $2, with $6 = phone in the second. */
static const char sms_outbox_list_sql[] =
    "SELECT id, phone, purpose, code_sealed, created_at_ms, delivered_at_ms, " SMS_DELIVERY_SQL(
        "$3", "$4", "$5") ", detail_sealed FROM sms_outbox WHERE id < $1 ORDER BY id DESC LIMIT $2";
static const char sms_outbox_list_phone_sql[] =
    "SELECT id, phone, purpose, code_sealed, created_at_ms, delivered_at_ms, " SMS_DELIVERY_SQL(
        "$3", "$4", "$5") ", detail_sealed FROM sms_outbox WHERE id < $1 AND phone = $6"
                          " ORDER BY id DESC LIMIT $2";

/* The creation time at or before which a code has expired, now. */
static int64_t sms_expired_before_ms(const struct domain_env *env)
{
    QB_ASSERT(env->settings.sms_code_ttl_ms > 0);
    return clock_now_ms(env->clock) - env->settings.sms_code_ttl_ms;
}

enum qb_error sms_outbox_undelivered(const struct domain_env *env, struct store *reader,
                                     int64_t *retrying, int64_t *given_up, int64_t *expired,
                                     int64_t *retrying_oldest_created_at_ms)
{
    QB_ASSERT(env != NULL && reader != NULL);
    *retrying = *given_up = *expired = *retrying_oldest_created_at_ms = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sms_undelivered_sql, &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {STORE_INT(SMS_ATTEMPTS_MAX),
                                         STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS),
                                         STORE_INT(sms_expired_before_ms(env))};
    int rc = store_bind_params(st, params, QB_ARRAY_COUNT(params)) == QB_OK ? STORE_STEP_ROW : -1;
    while (rc == STORE_STEP_ROW && (rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t delivery = store_column_int64(st, 0);
        int64_t count = store_column_int64(st, 1);
        if (delivery == SMS_DELIVERY_GIVEN_UP)
            *given_up = count;
        else if (delivery == SMS_DELIVERY_EXPIRED)
            *expired = count;
        else {
            *retrying = count;
            *retrying_oldest_created_at_ms = store_column_int64(st, 2);
        }
    }
    store_finalize(st);
    return rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

enum qb_error sms_outbox_list(const struct domain_env *env, struct store *reader, const char *phone,
                              int64_t before_id, struct sms_outbox_item *items, size_t count_max, size_t *count)
{
    QB_ASSERT(env != NULL && reader != NULL && count != NULL);
    QB_ASSERT(items != NULL || count_max == 0);
    *count = 0;
    if (phone != NULL && !phone_is_valid(phone))
        return QB_E_PARAM;
    if (count_max == 0)
        return QB_OK;
    if (count_max > (uint64_t)INT64_MAX)
        count_max = (size_t)INT64_MAX;

    struct store_stmt *st = NULL;
    const char *sql = phone != NULL ? sms_outbox_list_phone_sql : sms_outbox_list_sql;
    enum qb_error err = store_prepare(reader, sql, &st);
    if (err != QB_OK)
        return err;
    const struct store_param params[] = {STORE_INT(before_id > 0 ? before_id : INT64_MAX),
                                         STORE_INT((int64_t)count_max), STORE_INT(SMS_ATTEMPTS_MAX),
                                         STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS),
                                         STORE_INT(sms_expired_before_ms(env))};
    if ((err = store_bind_params(st, params, QB_ARRAY_COUNT(params))) != QB_OK)
        goto out;
    if (phone != NULL && (err = store_bind_text(st, 6, phone, strlen(phone))) != QB_OK)
        goto out;

    int rc = STORE_STEP_DONE;
    while (*count < count_max && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct sms_outbox_item *item = &items[*count];
        memset(item, 0, sizeof *item);
        int64_t id = store_column_int64(st, 0);
        item->id = id;
        snprintf(item->phone, sizeof item->phone, "%s", store_column_text(st, 1));
        int64_t purpose = store_column_int64(st, 2);
        item->purpose =
            sms_purpose_is_valid(purpose) ? (enum sms_purpose)purpose : (enum sms_purpose)0;
        const uint8_t *sealed = store_column_blob(st, 3);
        size_t sealed_size = store_column_size(st, 3);
        /* Empty once a provider took it: the code is not kept after delivery.
         * With a provider none is shown before either (waiting for a try,
         * or given up): only the phone may read it. */
        bool notice = sms_purpose_is_notice(purpose);
        bool opened = !env->sms_provider && !notice &&
                      sealed_size == SMS_CODE_DIGITS + DOMAIN_SEAL_OVERHEAD &&
                      domain_unseal(env, sealed, sealed_size, item->code);
        item->code[SMS_CODE_DIGITS] = '\0';
        if (!opened || !sms_code_is_well_formed(item->code)) {
            crypto_wipe(item->code, sizeof item->code);
            if (sealed_size != 0 && !env->sms_provider)
                log_event(LOG_WARN, "sms.outbox.unseal_failed", "outbox_id=%lld size=%zu",
                          (long long)id, sealed_size);
        }
        /* The text only beside its code: without one it would be a
         * message nobody was sent. A notice has no code and always its
         * text. A detail that does not open leaves the purpose's plain
         * words. */
        if (item->code[0] != '\0' || notice) {
            struct sms_detail detail;
            if (!sms_detail_unseal(env, store_column_blob(st, 7), store_column_size(st, 7),
                                   &detail))
                log_event(LOG_WARN, "sms.outbox.unseal_failed", "outbox_id=%lld part=detail",
                          (long long)id);
            sms_message_text(item->purpose, item->code, &detail, item->text);
        }
        item->created_at_ms = store_column_int64(st, 4);
        item->delivered_at_ms = store_column_int64(st, 5);
        item->delivery = (enum sms_delivery)store_column_int64(st, 6);
        QB_ASSERT(item->delivery >= SMS_DELIVERY_RETRYING &&
                  item->delivery <= SMS_DELIVERY_EXPIRED);
        (*count)++;
    }
    if (rc < 0)
        err = sms_step_error(rc);
out:
    store_finalize(st);
    QB_ASSERT(*count <= count_max);
    return err;
}
