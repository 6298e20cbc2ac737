/*
 * test_identity.c — users, sessions, passwords, KYC, freezing and the
 * security centre, against a real ledger on a temporary database.
 *
 * The fixture is a ledger with a manual clock (sessions, locks and SMS
 * codes age without sleeping), a seeded randomness source (printed, so a
 * failure replays with QB_TEST_SEED), and a domain environment whose
 * Argon2id costs are libsodium's minimum so that hashing stays fast. SMS
 * codes are issued through the real sms_send_cmd and read back from the
 * development outbox, exactly as an operator would.
 *
 * Fixtures are heap-allocated and leaked when a test fails half-way (the
 * harness longjmps out while the writer thread may still read the clock).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/money.h"
#include "identity/identity.h"
#include "identity/operator.h"
#include "test.h"
#include "unit/schema_at.h"

#define START_MS INT64_C(1790000000000) /* 2026-09-21 22:13:20 +08:00 */
#define MINUTE_MS INT64_C(60000)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)
#define LOGIN_PASSWORD "correct horse battery"
#define PAY_PASSWORD "135790"

/* Sample identities of docs/sandbox.md. */
#define ID_X "11010519491231002X"       /* 1949-12-31, check character X */
#define ID_SH "310115198506154568"      /* 1985-06-15 */
#define ID_NJ "320102198001010016"      /* 1980-01-01 */
#define ID_REFUSED "110105199003079994" /* sequence 999: the sandbox refuses it */

struct ix {
    char dir[512];
    char db_path[640];
    struct qb_clock clock;
    struct qb_rand rand;
    struct ledger_options options;
    struct store *writer;
    struct store *reader;
    struct ledger *ledger;
    struct domain_env env;
    int64_t sys_id; /* a CNY system account, to fund wallets from */
    /* The device keys sessions were given, by user and device name: a
     * device logs in again with its key, as a client does. */
    struct {
        char user_id[ID_TEXT_SIZE_MAX];
        char name[IDENTITY_DEVICE_NAME_SIZE_MAX];
        char key[IDENTITY_TOKEN_TEXT_SIZE];
    } keys[32];
    size_t key_count;
};

/* The key device `name` of user_id was given, or NULL. */
static char *ix_key(struct ix *ix, const char *user_id, const char *name)
{
    for (size_t i = 0; i < ix->key_count; i++)
        if (strcmp(ix->keys[i].user_id, user_id) == 0 && strcmp(ix->keys[i].name, name) == 0)
            return ix->keys[i].key;
    return NULL;
}

/* Keeps the key a session of device `name` was given. */
static void ix_key_keep(struct ix *ix, const char *user_id, const char *name, const char *key)
{
    char *slot = ix_key(ix, user_id, name);
    if (slot == NULL) {
        QB_ASSERT(ix->key_count < QB_ARRAY_COUNT(ix->keys));
        snprintf(ix->keys[ix->key_count].user_id, sizeof ix->keys[0].user_id, "%s", user_id);
        snprintf(ix->keys[ix->key_count].name, sizeof ix->keys[0].name, "%s", name);
        slot = ix->keys[ix->key_count++].key;
    }
    snprintf(slot, IDENTITY_TOKEN_TEXT_SIZE, "%s", key);
}

static void ix_start(struct ix *ix)
{
    char err[256];
    enum qb_error rc = store_open(ix->db_path, STORE_MODE_WRITE, &ix->writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    rc = ledger_open(ix->writer, &ix->options, &ix->ledger);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_open: %s", error_name(rc));
    rc = store_open(ix->db_path, STORE_MODE_READ, &ix->reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read): %s: %s", error_name(rc), err);
    ix->env.ledger = ix->ledger;
}

static void ix_stop(struct ix *ix)
{
    ledger_close(ix->ledger);
    ix->ledger = NULL;
    ix->env.ledger = NULL;
    store_close(ix->writer);
    store_close(ix->reader);
    ix->writer = ix->reader = NULL;
}

static void ix_settings(struct domain_settings *settings)
{
    domain_settings_default(settings);
    settings->argon2_ops = crypto_pwhash_OPSLIMIT_MIN;
    settings->argon2_memory_size = crypto_pwhash_MEMLIMIT_MIN;
    /* Sessions of many devices without their codes; the tests of a new
     * device's code turn it on. */
    settings->new_device_code = false;
}

static void ix_env_init(struct domain_env *env, struct ix *ix, uint8_t pepper_byte)
{
    struct domain_settings settings;
    ix_settings(&settings);
    uint8_t pepper[DOMAIN_KEY_SIZE], data_key[DOMAIN_KEY_SIZE];
    memset(pepper, pepper_byte, sizeof pepper);
    memset(data_key, 0x5a, sizeof data_key);
    domain_env_init(env, &ix->clock, &ix->rand, ix->ledger, &settings, pepper, data_key);
}

/* --- raw ledger commands: a system account, flags, a posting ------------------ */

struct raw_cmd {
    struct ledger_cmd cmd;
    int kind; /* 1 create system account, 2 set flags, 3 post two legs, 4 hold */
    int64_t account_id;
    int64_t other_id;
    int64_t amount_minor;
    uint32_t flags;
    int64_t out_id;
};

static enum qb_error raw_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct raw_cmd *r = (struct raw_cmd *)cmd;
    switch (r->kind) {
    case 1: {
        struct ledger_account_spec spec = {"system:bank_clearing", currency_find("CNY"),
                                           LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE};
        return ledger_txn_account_create(txn, &spec, &r->out_id);
    }
    case 2:
        return ledger_txn_account_set_flags(txn, r->account_id, r->flags);
    case 3: {
        struct ledger_leg legs[2] = {{r->account_id, -r->amount_minor},
                                     {r->other_id, r->amount_minor}};
        return ledger_txn_post(txn, 1, "test", legs, 2, &r->out_id);
    }
    case 4:
        return ledger_txn_hold(txn, 1, "test", r->account_id, r->other_id, r->amount_minor, 0,
                               &r->out_id);
    }
    return QB_E_INTERNAL;
}

static enum qb_error raw_exec(struct ix *ix, struct raw_cmd *r)
{
    ledger_cmd_init(&r->cmd, raw_run, NULL);
    enum qb_error rc = ledger_execute(ix->ledger, &r->cmd);
    ledger_cmd_release(&r->cmd);
    return rc != QB_OK ? rc : r->cmd.result;
}

/* Moves amount from `from` to `to`: the ledger's answer. */
static enum qb_error ix_move(struct ix *ix, int64_t from, int64_t to, int64_t amount_minor)
{
    struct raw_cmd r = {
        .kind = 3, .account_id = from, .other_id = to, .amount_minor = amount_minor};
    return raw_exec(ix, &r);
}

static struct ix *ix_new(void)
{
    struct ix *ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        TEST_FAIL_("out of memory");
    test_tmpdir(ix->dir, sizeof ix->dir);
    snprintf(ix->db_path, sizeof ix->db_path, "%s/qianbao.db", ix->dir);
    clock_manual_init(&ix->clock, START_MS);
    rand_seeded_init(&ix->rand, test_seed());
    ix->options.clock = &ix->clock;
    ix_env_init(&ix->env, ix, 0x11);
    ix_start(ix);
    struct raw_cmd r = {.kind = 1};
    ASSERT_EQ_INT(raw_exec(ix, &r), QB_OK);
    ix->sys_id = r.out_id;
    return ix;
}

static void ix_free(struct ix *ix)
{
    ix_stop(ix);
    domain_env_release(&ix->env);
    test_rmtree(ix->dir);
    free(ix);
}

/* Runs an identity command; the ledger result must be QB_OK. Answers the outcome. */
static enum qb_error ix_exec(struct ix *ix, struct identity_cmd *c)
{
    enum qb_error rc = ledger_execute(ix->ledger, &c->cmd);
    ledger_cmd_release(&c->cmd);
    if (rc != QB_OK || c->cmd.result != QB_OK)
        TEST_FAIL_("identity op %d: submit %s, ledger result %s", (int)c->op, error_name(rc),
                   error_name(c->cmd.result));
    return c->outcome;
}

/* Issues an SMS code and reads it from the outbox. The clock moves past the
 * cooldown first, so tests may ask for codes back to back. */
static void ix_sms(struct ix *ix, const char *phone, enum sms_purpose purpose, const char *target,
                   char code[SMS_CODE_DIGITS + 1])
{
    clock_manual_advance(&ix->clock, ix->env.settings.sms_cooldown_ms + 1);
    struct sms_send_cmd s;
    sms_send_cmd_init(&s, &ix->env);
    snprintf(s.phone, sizeof s.phone, "%s", phone);
    s.purpose = purpose;
    snprintf(s.target, sizeof s.target, "%s", target);
    enum qb_error rc = ledger_execute(ix->ledger, &s.cmd);
    ledger_cmd_release(&s.cmd);
    if (rc != QB_OK || s.cmd.result != QB_OK || s.outcome != QB_OK)
        TEST_FAIL_("sms_send: %s %s %s", error_name(rc), error_name(s.cmd.result),
                   error_name(s.outcome));
    struct sms_outbox_item item;
    size_t count = 0;
    rc = sms_outbox_list(&ix->env, ix->reader, phone, 0, &item, 1, &count);
    if (rc != QB_OK || count != 1 || item.purpose != purpose ||
        strlen(item.code) != SMS_CODE_DIGITS)
        TEST_FAIL_("sms_outbox_list: %s, %zu items", error_name(rc), count);
    memcpy(code, item.code, SMS_CODE_DIGITS + 1);
}

/* A code that differs from `code` in every digit. */
static void wrong_code(const char *code, char out[SMS_CODE_DIGITS + 1])
{
    for (int i = 0; i < SMS_CODE_DIGITS; i++)
        out[i] = (char)('0' + (code[i] - '0' + 1) % 10);
    out[SMS_CODE_DIGITS] = '\0';
}

static void ix_register(struct ix *ix, const char *phone, struct identity_user *out)
{
    char code[SMS_CODE_DIGITS + 1];
    ix_sms(ix, phone, SMS_PURPOSE_REGISTER, "", code);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_REGISTER);
    snprintf(c.phone, sizeof c.phone, "%s", phone);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    snprintf(c.display_name, sizeof c.display_name, "用户%s", phone + 7);
    ASSERT_EQ_INT(identity_password_hash(&ix->env, LOGIN_PASSWORD, c.password_hash), QB_OK);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    *out = c.user;
}

static enum qb_error ix_session(struct ix *ix, const char *user_id, const char *device,
                                char token[IDENTITY_TOKEN_TEXT_SIZE], struct identity_session *out)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_CREATE);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.device_name, sizeof c.device_name, "%s", device);
    const char *key = ix_key(ix, user_id, device);
    snprintf(c.device_key, sizeof c.device_key, "%s", key != NULL ? key : "");
    enum qb_error outcome = ix_exec(ix, &c);
    if (outcome == QB_OK)
        ix_key_keep(ix, user_id, device, c.device_key);
    if (token != NULL)
        memcpy(token, c.token, IDENTITY_TOKEN_TEXT_SIZE);
    if (out != NULL)
        *out = c.session;
    return outcome;
}

/* The user's logout of session_id (IDENTITY_OP_SESSION_REVOKE): its outcome. */
static enum qb_error ix_revoke(struct ix *ix, const char *user_id, const char *session_id)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_REVOKE);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.session_id, sizeof c.session_id, "%s", session_id);
    return ix_exec(ix, &c);
}

static enum qb_error ix_user_op(struct ix *ix, enum identity_op op, const char *user_id,
                                struct identity_user *out)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, op);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    enum qb_error outcome = ix_exec(ix, &c);
    if (out != NULL)
        *out = c.user;
    return outcome;
}

/* Sets the payment password with a fresh code and id_number (a reset of
 * a verified wallet's needs it; "" for none). */
static enum qb_error ix_pay_set_id(struct ix *ix, const struct identity_user *user, const char *pp,
                                   const char *id_number)
{
    char code[SMS_CODE_DIGITS + 1];
    ix_sms(ix, user->phone, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, "", code);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_PAYMENT_PASSWORD_SET);
    snprintf(c.user_id, sizeof c.user_id, "%s", user->id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", pp);
    snprintf(c.id_number, sizeof c.id_number, "%s", id_number);
    return ix_exec(ix, &c);
}

static enum qb_error ix_pay_set(struct ix *ix, const struct identity_user *user, const char *pp)
{
    return ix_pay_set_id(ix, user, pp, "");
}

static enum qb_error ix_pay_verify(struct ix *ix, const char *user_id, const char *pp,
                                   int *tries_left)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_PAYMENT_PASSWORD_VERIFY);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", pp);
    enum qb_error outcome = ix_exec(ix, &c);
    if (tries_left != NULL)
        *tries_left = c.password_try.tries_left;
    return outcome;
}

static enum qb_error ix_kyc(struct ix *ix, const char *user_id, const char *name,
                            const char *id_number, struct identity_user *out)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_KYC_SUBMIT);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.real_name, sizeof c.real_name, "%s", name);
    snprintf(c.id_number, sizeof c.id_number, "%s", id_number);
    enum qb_error outcome = ix_exec(ix, &c);
    if (out != NULL)
        *out = c.user;
    return outcome;
}

static struct identity_user ix_user(struct ix *ix, const char *user_id)
{
    struct identity_user u;
    enum qb_error rc = identity_user_get(ix->reader, user_id, &u);
    if (rc != QB_OK)
        TEST_FAIL_("identity_user_get(\"%s\"): %s", user_id, error_name(rc));
    return u;
}

/* One integer from a query with one text parameter, on the read connection. */
static int64_t ix_query_int(struct ix *ix, const char *sql, const char *arg)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(ix->reader, sql, &st), QB_OK);
    if (store_bind_text(st, 1, arg, strlen(arg)) != QB_OK || store_step(st) != STORE_STEP_ROW) {
        store_finalize(st);
        TEST_FAIL_("query \"%s\" gave no row", sql);
    }
    int64_t v = store_column_int64(st, 0);
    store_finalize(st);
    return v;
}

static int ix_score(struct ix *ix, const char *user_id, struct identity_security_item *items)
{
    int score = -1;
    ASSERT_EQ_INT(identity_security_status(&ix->env, ix->reader, user_id, items, &score), QB_OK);
    return score;
}

static bool item_ok(const struct identity_security_item *items, const char *name)
{
    for (size_t i = 0; i < IDENTITY_SECURITY_ITEMS; i++)
        if (strcmp(items[i].name, name) == 0)
            return items[i].ok;
    TEST_FAIL_("no security item \"%s\"", name);
}

/* --- the pure checks ------------------------------------------------------------ */

TEST(id_number_check_digit)
{
    /* GB 11643-1999's check character catches one mistyped digit; a number
     * that passes with a wrong one would reach the verification provider. */
    ASSERT(identity_id_number_is_valid(ID_X, START_MS));
    ASSERT(identity_id_number_is_valid(ID_SH, START_MS));
    ASSERT(identity_id_number_is_valid(ID_NJ, START_MS));
    ASSERT(identity_id_number_is_valid(ID_REFUSED, START_MS));
    ASSERT(!identity_id_number_is_valid("110105194912310020", START_MS)); /* X → 0 */
    ASSERT(!identity_id_number_is_valid("11010519491231002x", START_MS)); /* lower-case */
    ASSERT(!identity_id_number_is_valid("310115198506154567", START_MS));
    ASSERT(!identity_id_number_is_valid("320102198001010017", START_MS));
    ASSERT(!identity_id_number_is_valid("320102198001010026", START_MS)); /* digit changed */
    ASSERT(!identity_id_number_is_valid("32010219800101001", START_MS));  /* 17 characters */
    ASSERT(!identity_id_number_is_valid("3201021980010100161", START_MS));
    ASSERT(!identity_id_number_is_valid("3201021980O1010016", START_MS)); /* letter O */
    ASSERT(!identity_id_number_is_valid("", START_MS));
    ASSERT(!identity_id_number_is_valid(NULL, START_MS));
}

TEST(id_number_birth_date)
{
    /* The birth date inside the number must exist and lie between
     * 1900-01-01 and today (in China): a check digit alone is right for one
     * in eleven random strings. Each number below has a correct check digit. */
    ASSERT(!identity_id_number_is_valid("110105189912310015", START_MS)); /* 1899-12-31 */
    ASSERT(identity_id_number_is_valid("11010519000101001X", START_MS));  /* 1900-01-01 */
    ASSERT(!identity_id_number_is_valid("110105190002290017", START_MS)); /* 1900 not leap */
    ASSERT(identity_id_number_is_valid("110105200002290013", START_MS));  /* 2000 leap */
    ASSERT(!identity_id_number_is_valid("110105199902300015", START_MS)); /* 30 February */
    ASSERT(identity_id_number_is_valid("110105202609210015", START_MS));  /* today */
    ASSERT(!identity_id_number_is_valid("110105202609220010", START_MS)); /* tomorrow */
    /* Two hours later it is already 22 September in China (UTC+8). */
    ASSERT(identity_id_number_is_valid("110105202609220010", START_MS + 2 * HOUR_MS));
}

TEST(payment_password_weak_patterns)
{
    /* Each pattern is one a thief tries first with a stolen phone; any of
     * them passing makes the five tries before the lock worth much more. */
    const char *weak[] = {"111111", "000000", "123456", "012345", "654321", "987654", "112233",
                          "998877", "121212", "909090", "123123", "780780", "111222"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(weak); i++)
        if (identity_payment_password_check(weak[i], NULL) != QB_E_PASSWORD_WEAK)
            TEST_FAIL_("\"%s\" was not refused as weak", weak[i]);
    const char *fine[] = {PAY_PASSWORD, "246813", "509172", "123457", "112234"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(fine); i++)
        if (identity_payment_password_check(fine[i], NULL) != QB_OK)
            TEST_FAIL_("\"%s\" was refused", fine[i]);
    ASSERT_EQ_INT(identity_payment_password_check("12345", NULL), QB_E_PARAM);
    ASSERT_EQ_INT(identity_payment_password_check("1357900", NULL), QB_E_PARAM);
    ASSERT_EQ_INT(identity_payment_password_check("13579a", NULL), QB_E_PARAM);
    ASSERT_EQ_INT(identity_payment_password_check("", NULL), QB_E_PARAM);
    ASSERT_EQ_INT(identity_payment_password_check(NULL, NULL), QB_E_PARAM);
}

TEST(payment_password_birth_date_refused)
{
    /* The birth date is printed on the id card a thief finds next to the
     * phone: YYMMDD, MMDDYY and DDMMYY of it are refused, only for its owner. */
    const char *birth[] = {"491231", "123149", "311249"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(birth); i++) {
        ASSERT_EQ_INT(identity_payment_password_check(birth[i], ID_X), QB_E_PASSWORD_WEAK);
        ASSERT_EQ_INT(identity_payment_password_check(birth[i], NULL), QB_OK);
        ASSERT_EQ_INT(identity_payment_password_check(birth[i], ID_SH), QB_OK);
    }
    ASSERT_EQ_INT(identity_payment_password_check("850615", ID_SH), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(identity_payment_password_check(PAY_PASSWORD, ID_X), QB_OK);
}

TEST(login_password_rules)
{
    /* Login passwords: long enough, not all digits, not one character
     * repeated, not one of the passwords every guesser tries first (in
     * any case), valid UTF-8 without control characters, at most 128
     * bytes. */
    ASSERT_EQ_INT(identity_password_check(LOGIN_PASSWORD), QB_OK);
    ASSERT_EQ_INT(identity_password_check("钱包密码很安全"), QB_OK);
    ASSERT_EQ_INT(identity_password_check("abc1234"), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(identity_password_check("1234567890"), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(identity_password_check("aaaaaaaaaa"), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(identity_password_check("密密密密密密密密"), QB_E_PASSWORD_WEAK);
    const char *common[] = {"password", "iloveyou",   "woaini1314", "Password1",
                            "abcdefgh", "QWERTYUIOP", "1qaz2wsx",   "qianbao123"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(common); i++)
        if (identity_password_check(common[i]) != QB_E_PASSWORD_WEAK)
            TEST_FAIL_("\"%s\" is taken", common[i]);
    ASSERT_EQ_INT(identity_password_check("woaini1314 forever"), QB_OK);
    ASSERT_EQ_INT(identity_password_check("abc\tdefgh"), QB_E_PARAM);
    ASSERT_EQ_INT(identity_password_check("abcdefgh\x7f"), QB_E_PARAM);
    ASSERT_EQ_INT(identity_password_check("abcdefgh\xff"), QB_E_PARAM);
    ASSERT_EQ_INT(identity_password_check("abcdefgh\xc0\xaf"), QB_E_PARAM);     /* overlong '/' */
    ASSERT_EQ_INT(identity_password_check("abcdefgh\xed\xa0\x80"), QB_E_PARAM); /* surrogate */
    ASSERT_EQ_INT(identity_password_check(NULL), QB_E_PARAM);
    char longest[IDENTITY_PASSWORD_SIZE_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[0] = 'b';
    longest[IDENTITY_PASSWORD_SIZE_MAX] = '\0';
    ASSERT_EQ_INT(identity_password_check(longest), QB_OK);
    longest[IDENTITY_PASSWORD_SIZE_MAX] = 'a';
    longest[IDENTITY_PASSWORD_SIZE_MAX + 1] = '\0';
    ASSERT_EQ_INT(identity_password_check(longest), QB_E_PARAM);
}

TEST(display_name_rules)
{
    /* Display names are shown to other users: 1..64 bytes of clean UTF-8. */
    ASSERT(identity_display_name_is_valid("张三"));
    ASSERT(identity_display_name_is_valid("Zhang San"));
    ASSERT(!identity_display_name_is_valid(""));
    ASSERT(!identity_display_name_is_valid(NULL));
    ASSERT(!identity_display_name_is_valid("a\nb"));
    ASSERT(!identity_display_name_is_valid("\xe5\xbc"));                 /* cut in a character */
    ASSERT(identity_display_name_is_valid("\xE2\x9D\xA4\xEF\xB8\x8F"));  /* a heart, VS16 */
    ASSERT(identity_display_name_is_valid("\xE3\x80\x80\xE5\xBC\xA0 ")); /* U+3000 张, space */
    char name[IDENTITY_DISPLAY_NAME_SIZE_MAX + 1];
    memset(name, 'n', sizeof name);
    name[IDENTITY_DISPLAY_NAME_SIZE_MAX - 1] = '\0';
    ASSERT(identity_display_name_is_valid(name));
    name[IDENTITY_DISPLAY_NAME_SIZE_MAX - 1] = 'n';
    name[IDENTITY_DISPLAY_NAME_SIZE_MAX] = '\0';
    ASSERT(!identity_display_name_is_valid(name));
}

TEST(display_name_shows_something)
{
    /* A name of blanks looks empty to the payer who reads it: refused however it is spelled. */
    static const char *const blank_names[] = {
        " ",
        "   ",
        "\xC2\xA0",                  /* U+00A0 no-break space */
        "\xE3\x80\x80\xE3\x80\x80",  /* U+3000 ideographic space, twice */
        "\xE2\x80\x87",              /* U+2007 figure space */
        "\xE2\x80\x83 \xE2\x80\xAF", /* U+2003 em space, U+202F */
        "\xE2\x81\x9F",              /* U+205F medium mathematical space */
        "\xE1\x9A\x80",              /* U+1680 ogham space mark */
        "\xE2\xA0\x80",              /* U+2800 braille blank */
        "\xE2\x80\x8D",              /* U+200D zero-width joiner alone */
        "\xEF\xB8\x8F \xE2\x80\x8C", /* U+FE0F, a space, U+200C */
        "\xF3\xA0\x84\x80",          /* U+E0100 variation selector 17 */
    };
    for (size_t i = 0; i < sizeof blank_names / sizeof blank_names[0]; i++)
        ASSERT_EQ_INT(identity_display_name_is_valid(blank_names[i]) ? i + 1 : 0, 0);
    ASSERT(identity_display_name_is_valid(" . "));
    ASSERT(identity_display_name_is_valid("\xE3\x80\x80\xE3\x80\x87")); /* U+3000 〇 */
    /* The England flag, a tag sequence, shows. */
    ASSERT(identity_display_name_is_valid("\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2"
                                          "\xF3\xA0\x81\xA5\xF3\xA0\x81\xAE\xF3\xA0\x81\xA7"
                                          "\xF3\xA0\x81\xBF"));
}

TEST(password_hash_and_verify)
{
    /* The stored hash must accept only the right password, differ per hash
     * (a salt), and be useless under another pepper: a stolen database
     * without the data directory's pepper opens nothing. */
    struct ix *ix = ix_new();
    char a[IDENTITY_PASSWORD_HASH_SIZE_MAX], b[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_password_hash(&ix->env, LOGIN_PASSWORD, a), QB_OK);
    ASSERT_EQ_INT(identity_password_hash(&ix->env, LOGIN_PASSWORD, b), QB_OK);
    ASSERT(strncmp(a, "$argon2id$", 10) == 0);
    ASSERT(strcmp(a, b) != 0);
    ASSERT(strstr(a, LOGIN_PASSWORD) == NULL);
    ASSERT(identity_password_verify(&ix->env, a, LOGIN_PASSWORD));
    ASSERT(identity_password_verify(&ix->env, b, LOGIN_PASSWORD));
    ASSERT(!identity_password_verify(&ix->env, a, "correct horse battery!"));
    ASSERT(!identity_password_verify(&ix->env, a, ""));
    ASSERT(!identity_password_verify(&ix->env, "", LOGIN_PASSWORD));

    struct domain_env other;
    ix_env_init(&other, ix, 0x12);
    ASSERT(!identity_password_verify(&other, a, LOGIN_PASSWORD));
    domain_env_release(&other);

    /* Argon2id over the raw password (no pepper) must not verify either. */
    char raw[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(crypto_pwhash_str(raw, LOGIN_PASSWORD, strlen(LOGIN_PASSWORD),
                                    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN),
                  0);
    ASSERT(!identity_password_verify(&ix->env, raw, LOGIN_PASSWORD));
    ix_free(ix);
}

/* --- registration --------------------------------------------------------------- */

TEST(register_creates_user_and_wallet)
{
    /* Registration makes a level-1 user and, in the same command, a CNY user
     * account with floor 0 owned by "user:<id>" that cannot be overdrawn. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800138000", &u);
    ASSERT(id_is_valid(u.id, strlen(u.id), "u"));
    ASSERT_EQ_STR(u.phone, "13800138000");
    ASSERT_EQ_STR(u.display_name, "用户8000");
    ASSERT_EQ_INT(u.kyc_level, 1);
    ASSERT_EQ_INT(u.status, IDENTITY_ACTIVE);
    ASSERT(!u.payment_password_set);
    ASSERT_EQ_STR(u.id_number_last4, "");
    ASSERT_EQ_INT(u.created_at_ms, clock_now_ms(&ix->clock));

    struct identity_user again = ix_user(ix, u.id);
    ASSERT_EQ_INT(again.account_id, u.account_id);
    struct identity_user by_phone;
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, "13800138000", &by_phone), QB_OK);
    ASSERT_EQ_STR(by_phone.id, u.id);
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, "13800138001", &by_phone),
                  QB_E_NOT_FOUND);
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_user_password_hash(ix->reader, u.id, hash), QB_OK);
    ASSERT(identity_password_verify(&ix->env, hash, LOGIN_PASSWORD));

    char owner[LEDGER_OWNER_SIZE_MAX];
    snprintf(owner, sizeof owner, "user:%s", u.id);
    int64_t found = 0;
    ASSERT_EQ_INT(
        ledger_account_find(ix->reader, owner, currency_find("CNY"), LEDGER_ACCOUNT_USER, &found),
        QB_OK);
    ASSERT_EQ_INT(found, u.account_id);
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(ix->ledger, u.account_id, &v), QB_OK);
    ASSERT_EQ_INT(v.floor_minor, 0);
    ASSERT_EQ_INT(v.kind, LEDGER_ACCOUNT_USER);
    ASSERT_EQ_INT(v.flags, 0);
    ASSERT_EQ_INT(ix_move(ix, ix->sys_id, u.account_id, 500), QB_OK);
    ASSERT_EQ_INT(ix_move(ix, u.account_id, ix->sys_id, 501), QB_E_INSUFFICIENT_BALANCE);
    ix_free(ix);
}

TEST(register_wrong_code_is_counted)
{
    /* A wrong code answers SMS_CODE_INVALID and creates nothing, yet its try
     * must be committed: otherwise six digits could be guessed for free. */
    struct ix *ix = ix_new();
    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1];
    ix_sms(ix, "13900139000", SMS_PURPOSE_REGISTER, "", code);
    wrong_code(code, bad);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_REGISTER);
    snprintf(c.phone, sizeof c.phone, "13900139000");
    snprintf(c.sms_code, sizeof c.sms_code, "%s", bad);
    snprintf(c.display_name, sizeof c.display_name, "小明");
    ASSERT_EQ_INT(identity_password_hash(&ix->env, LOGIN_PASSWORD, c.password_hash), QB_OK);
    struct identity_cmd wrong = c;
    ASSERT_EQ_INT(ix_exec(ix, &wrong), QB_E_SMS_CODE_INVALID);

    struct identity_user u;
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, "13900139000", &u), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT COUNT(*) FROM users WHERE phone = $1", "13900139000"),
                  0);
    ASSERT_EQ_INT(
        ix_query_int(ix, "SELECT failures FROM sms_codes WHERE phone = $1", "13900139000"), 1);
    /* The right code still works after one wrong try. */
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    identity_cmd_init(&wrong, &ix->env, IDENTITY_OP_REGISTER);
    memcpy(wrong.phone, c.phone, sizeof c.phone);
    memcpy(wrong.sms_code, c.sms_code, sizeof c.sms_code);
    memcpy(wrong.display_name, c.display_name, sizeof c.display_name);
    memcpy(wrong.password_hash, c.password_hash, sizeof c.password_hash);
    ASSERT_EQ_INT(ix_exec(ix, &wrong), QB_OK);
    ix_free(ix);
}

TEST(register_phone_taken)
{
    /* A phone registered by the time the code is used answers
     * PHONE_REGISTERED and makes no second user or wallet; the code is spent. */
    struct ix *ix = ix_new();
    char code[SMS_CODE_DIGITS + 1];
    ix_sms(ix, "13700137000", SMS_PURPOSE_REGISTER, "", code);

    /* Another node registers the phone meanwhile: a row written beside the
     * ledger while it is stopped. */
    ix_stop(ix);
    char err[256];
    struct store *w = NULL;
    ASSERT_EQ_INT(store_open(ix->db_path, STORE_MODE_WRITE, &w, err, sizeof err), QB_OK);
    ASSERT_EQ_INT(store_exec(w, "INSERT INTO users (id, phone, display_name, password_hash,"
                                " account_id, created_at_ms) VALUES ('u_other', '13700137000',"
                                " 'x', 'x', 0, 0)"),
                  QB_OK);
    store_close(w);
    ix_start(ix);

    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_REGISTER);
    snprintf(c.phone, sizeof c.phone, "13700137000");
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    snprintf(c.display_name, sizeof c.display_name, "second");
    ASSERT_EQ_INT(identity_password_hash(&ix->env, LOGIN_PASSWORD, c.password_hash), QB_OK);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_PHONE_REGISTERED);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT COUNT(*) FROM users WHERE phone = $1", "13700137000"),
                  1);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT COUNT(*) FROM accounts WHERE owner LIKE $1", "user:%"),
                  0);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT used FROM sms_codes WHERE phone = $1", "13700137000"),
                  1);
    ix_free(ix);
}

/* --- sessions ------------------------------------------------------------------- */

TEST(session_create_and_authenticate)
{
    /* A token is 64 lower-case hex characters that authenticate as its
     * session; a changed, upper-cased or cut token is refused alike. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000001", &u);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session s;
    ASSERT_EQ_INT(ix_session(ix, u.id, "iPhone 15", token, &s), QB_OK);
    ASSERT_EQ_INT(strlen(token), 64);
    ASSERT(id_is_valid(s.id, strlen(s.id), "s"));
    ASSERT_EQ_INT(s.expires_at_ms, clock_now_ms(&ix->clock) + ix->env.settings.session_absolute_ms);

    struct identity_session got;
    bool touch = true;
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);
    ASSERT_EQ_STR(got.id, s.id);
    ASSERT_EQ_STR(got.user_id, u.id);
    ASSERT_EQ_STR(got.device_name, "iPhone 15");
    ASSERT(!touch);

    char bad[IDENTITY_TOKEN_TEXT_SIZE];
    memcpy(bad, token, sizeof bad);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, bad, &got, &touch),
                  QB_E_UNAUTHORIZED);
    memcpy(bad, token, sizeof bad);
    for (int i = 0; i < 64; i++)
        if (bad[i] >= 'a' && bad[i] <= 'f')
            bad[i] = (char)(bad[i] - 'a' + 'A');
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, bad, &got, &touch),
                  QB_E_UNAUTHORIZED);
    bad[63] = '\0';
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, bad, &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, "", &got, &touch),
                  QB_E_UNAUTHORIZED);

    /* A second session gets another token; both list, newest first. */
    char token2[IDENTITY_TOKEN_TEXT_SIZE];
    clock_manual_advance(&ix->clock, 1);
    ASSERT_EQ_INT(ix_session(ix, u.id, "Pixel", token2, NULL), QB_OK);
    ASSERT(strcmp(token, token2) != 0);
    struct identity_session list[4];
    size_t count = 0;
    ASSERT_EQ_INT(identity_sessions_list(ix->reader, u.id, 0, list, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(list[0].device_name, "Pixel");
    ASSERT_EQ_STR(list[1].id, s.id);
    ASSERT_EQ_INT(ix_session(ix, "u_nobody", "Pixel", NULL, NULL), QB_E_NOT_FOUND);
    ix_free(ix);
}

/* A session opened with a code: SESSION_CREATE_BY_CODE (phone, code
 * of purpose login), or SESSION_CREATE with a new_device code. Its outcome. */
static enum qb_error ix_session_code(struct ix *ix, enum identity_op op, const char *who,
                                     const char *device, const char *code,
                                     struct identity_session *out)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, op);
    if (op == IDENTITY_OP_SESSION_CREATE_BY_CODE)
        snprintf(c.phone, sizeof c.phone, "%s", who);
    else
        snprintf(c.user_id, sizeof c.user_id, "%s", who);
    snprintf(c.device_name, sizeof c.device_name, "%s", device);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    enum qb_error outcome = ix_exec(ix, &c);
    if (outcome == QB_OK)
        ix_key_keep(ix, c.session.user_id, device, c.device_key);
    if (out != NULL)
        *out = c.session;
    return outcome;
}

static size_t ix_session_count(struct ix *ix, const char *user_id)
{
    struct identity_session list[8];
    size_t count = 0;
    ASSERT_EQ_INT(identity_sessions_list(ix->reader, user_id, 0, list, 8, &count), QB_OK);
    return count;
}

/* A SESSION_CREATE of user_id from the device "test", its password
 * checked by the caller; the caller sets password_hash_checked. */
static void ix_login_init(struct ix *ix, struct identity_cmd *c, const char *user_id)
{
    identity_cmd_init(c, &ix->env, IDENTITY_OP_SESSION_CREATE);
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
    snprintf(c->device_name, sizeof c->device_name, "%s", "test");
    const char *key = ix_key(ix, user_id, "test");
    snprintf(c->device_key, sizeof c->device_key, "%s", key != NULL ? key : "");
}

TEST(a_password_changed_after_its_check_is_good_for_nothing)
{
    /* The login password is checked on a password thread, before the
     * command; the user may change it in between (the change ends every
     * session of whoever knew the old one). The old password then opens no
     * session, lifts no freeze and sets no password: each command carries
     * the hash its password was checked against, and refuses when that is
     * no longer the user's, writing nothing. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000061", &u);
    char old_hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_user_password_hash(ix->reader, u.id, old_hash), QB_OK);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_PASSWORD_SET);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    memcpy(c.password_hash_checked, old_hash, sizeof old_hash);
    ASSERT_EQ_INT(identity_password_hash(&ix->env, "the owner's new one 1", c.password_hash),
                  QB_OK);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    char new_hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_user_password_hash(ix->reader, u.id, new_hash), QB_OK);
    ASSERT(strcmp(new_hash, old_hash) != 0);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, u.id, NULL), QB_OK);
    size_t sessions = ix_session_count(ix, u.id);

    /* The thief's commands, checked against the old hash. */
    ix_login_init(ix, &c, u.id);
    memcpy(c.password_hash_checked, old_hash, sizeof old_hash);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), sessions);
    char code[SMS_CODE_DIGITS + 1];
    ix_sms(ix, u.phone, SMS_PURPOSE_UNFREEZE, "", code);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_UNFREEZE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    memcpy(c.password_hash_checked, old_hash, sizeof old_hash);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(ix_user(ix, u.id).status, IDENTITY_FROZEN);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_PASSWORD_SET);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    memcpy(c.password_hash_checked, old_hash, sizeof old_hash);
    ASSERT_EQ_INT(identity_password_hash(&ix->env, "the thief's own 2", c.password_hash), QB_OK);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    char now_hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_user_password_hash(ix->reader, u.id, now_hash), QB_OK);
    ASSERT_EQ_STR(now_hash, new_hash);

    /* The owner's, checked against the new one: the code is still good. */
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_UNFREEZE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    memcpy(c.password_hash_checked, new_hash, sizeof new_hash);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    ASSERT_EQ_INT(ix_user(ix, u.id).status, IDENTITY_ACTIVE);
    ix_login_init(ix, &c, u.id);
    memcpy(c.password_hash_checked, new_hash, sizeof new_hash);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    ix_free(ix);
}

TEST(a_login_stores_the_password_hashed_at_the_servers_settings)
{
    /* A login whose password was checked against a hash made at older
     * Argon2id settings carries the password hashed again at today's
     * (password_hash), which replaces the stored one; the password still
     * opens the next session. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000062", &u);
    char old_hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_user_password_hash(ix->reader, u.id, old_hash), QB_OK);
    ASSERT(!identity_password_needs_rehash(&ix->env, old_hash));
    ix->env.settings.argon2_ops++;
    ASSERT(identity_password_needs_rehash(&ix->env, old_hash));
    ASSERT(!identity_password_needs_rehash(&ix->env, "not a hash"));
    struct identity_cmd c;
    ix_login_init(ix, &c, u.id);
    memcpy(c.password_hash_checked, old_hash, sizeof old_hash);
    ASSERT_EQ_INT(identity_password_hash(&ix->env, LOGIN_PASSWORD, c.password_hash), QB_OK);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    ASSERT_EQ_INT(identity_user_password_hash(ix->reader, u.id, hash), QB_OK);
    ASSERT_EQ_STR(hash, c.password_hash);
    ASSERT(!identity_password_needs_rehash(&ix->env, hash));
    ASSERT(identity_password_verify(&ix->env, hash, LOGIN_PASSWORD));
    ix_free(ix);
}

TEST(sessions_long_ended_go_and_a_new_device_still_needs_the_phone)
{
    /* Every login's session was kept for ever: a row each, and every start
     * read them all. A login deletes a few of the oldest once 30 days past
     * their expiry. That the account had a session is remembered apart, so
     * that a password alone still opens none on a device new to it; and a
     * device whose last session goes is trusted no more, since its owner
     * could no longer end its trust through one. */
    struct ix *ix = ix_new();
    ix->env.settings.new_device_code = true;
    struct identity_user u, v;
    ix_register(ix, "13800138000", &u);
    ix_register(ix, "13900139000", &v);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, v.id, "vphone", NULL, NULL), QB_OK);
    clock_manual_advance(&ix->clock,
                         ix->env.settings.session_absolute_ms + IDENTITY_SESSION_KEPT_MS - 1);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 4); /* not yet */
    clock_manual_advance(&ix->clock, 2);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 2);
    ASSERT_EQ_INT(ix_session_count(ix, v.id), 0);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT (SELECT count(*) FROM sessions) -"
                               " (SELECT count(*) FROM session_seen) + length($1) - length($1)",
                               ""),
                  0);
    ASSERT_EQ_INT(ix_session(ix, v.id, "laptop", NULL, NULL), QB_E_SMS_CODE_REQUIRED);
    ASSERT_EQ_INT(ix_session(ix, v.id, "vphone", NULL, NULL), QB_E_SMS_CODE_REQUIRED);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK); /* it has sessions left */
    ix_free(ix);
}

TEST(a_new_device_needs_the_phone_as_well_as_the_password)
{
    /* The first device comes with the code that registered the phone; after
     * it, a password alone opens no session on a device name the account
     * never used, and writes nothing; a new_device code of the user's phone
     * opens it, once, and then the device is known. A wrong code is counted
     * against the code; a code of another purpose or phone does not do. */
    struct ix *ix = ix_new();
    ix->env.settings.new_device_code = true;
    struct identity_user u, v;
    ix_register(ix, "13800138000", &u);
    ix_register(ix, "13900139000", &v);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_E_SMS_CODE_REQUIRED);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 2);

    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1], other[SMS_CODE_DIGITS + 1];
    ix_sms(ix, v.phone, SMS_PURPOSE_NEW_DEVICE, "", other);
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "laptop", other, NULL),
                  QB_E_SMS_CODE_INVALID);
    ix_sms(ix, u.phone, SMS_PURPOSE_UNFREEZE, "", other);
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "laptop", other, NULL),
                  QB_E_SMS_CODE_INVALID);
    ix_sms(ix, u.phone, SMS_PURPOSE_NEW_DEVICE, "", code);
    wrong_code(code, bad);
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "laptop", bad, NULL),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 2);
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "laptop", code, NULL),
                  QB_OK);
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "tablet", code, NULL),
                  QB_E_SMS_CODE_INVALID);
    struct identity_session laptop, phone;
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, &laptop), QB_OK);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 4);

    /* A device's name proves nothing: "phone" without phone's key is a new
     * device, and so is a key of another user's device. */
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "phone", "", NULL),
                  QB_E_SMS_CODE_REQUIRED);
    ASSERT_EQ_INT(ix_session(ix, v.id, "vphone", NULL, NULL), QB_OK);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_CREATE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.device_key, sizeof c.device_key, "%s", ix_key(ix, v.id, "vphone"));
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_SMS_CODE_REQUIRED);

    /* Ending the laptop's session from the phone ends the laptop's trust;
     * a logout (no forget_device) keeps it. */
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, &phone), QB_OK);
    ASSERT_EQ_INT(ix_revoke(ix, u.id, phone.id), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, &phone), QB_OK);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_REVOKE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.session_id, sizeof c.session_id, "%s", laptop.id);
    c.forget_device = true;
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_E_SMS_CODE_REQUIRED);

    /* A freeze from the phone ends every other device's trust. */
    ix_sms(ix, u.phone, SMS_PURPOSE_NEW_DEVICE, "", code);
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE, u.id, "laptop", code, NULL),
                  QB_OK);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_FREEZE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.session_id, sizeof c.session_id, "%s", phone.id);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_E_SMS_CODE_REQUIRED);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);

    /* Off (--trust-new-devices), the password alone opens any device. */
    ix->env.settings.new_device_code = false;
    ASSERT_EQ_INT(ix_session(ix, u.id, "tablet", NULL, NULL), QB_OK);
    ix_free(ix);
}

TEST(a_login_code_opens_a_session_without_the_password)
{
    /* SESSION_CREATE_BY_CODE: a code of purpose login of the phone opens a
     * session of its user, from any device, once, even while wrong
     * passwords lock logging in with the password (and clears that lock);
     * a wrong code, another purpose's code, or a phone nobody has is
     * SMS_CODE_INVALID, and writes no session. */
    struct ix *ix = ix_new();
    ix->env.settings.new_device_code = true;
    struct identity_user u;
    ix_register(ix, "13800138000", &u);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);

    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1];
    ix_sms(ix, u.phone, SMS_PURPOSE_NEW_DEVICE, "", code);
    ASSERT_EQ_INT(
        ix_session_code(ix, IDENTITY_OP_SESSION_CREATE_BY_CODE, u.phone, "web", code, NULL),
        QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(
        ix_session_code(ix, IDENTITY_OP_SESSION_CREATE_BY_CODE, "13700137000", "web", code, NULL),
        QB_E_SMS_CODE_INVALID);
    ix_sms(ix, u.phone, SMS_PURPOSE_LOGIN, "", code);
    wrong_code(code, bad);
    ASSERT_EQ_INT(
        ix_session_code(ix, IDENTITY_OP_SESSION_CREATE_BY_CODE, u.phone, "web", bad, NULL),
        QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 1);

    for (int i = 0; i < 5; i++) {
        struct identity_cmd c;
        identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
        snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
        snprintf(c.phone, sizeof c.phone, "%s", u.phone);
        (void)ix_exec(ix, &c);
    }
    ASSERT_EQ_INT(ix_session(ix, u.id, "another phone", NULL, NULL), QB_E_PASSWORD_LOCKED);

    struct identity_session s;
    ASSERT_EQ_INT(ix_session_code(ix, IDENTITY_OP_SESSION_CREATE_BY_CODE, u.phone, "web", code, &s),
                  QB_OK);
    ASSERT_EQ_STR(s.user_id, u.id);
    ASSERT_EQ_STR(s.device_name, "web");
    ASSERT_EQ_INT(
        ix_session_code(ix, IDENTITY_OP_SESSION_CREATE_BY_CODE, u.phone, "web", code, NULL),
        QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_session(ix, u.id, "phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session_count(ix, u.id), 3);
    ix_free(ix);
}

TEST(session_idle_touch_and_absolute)
{
    /* Idle sessions end after session_idle_ms without a touch; touches keep
     * one alive, but never past its absolute expiry; a touch is asked for
     * only once last_seen is session_touch_ms old. */
    struct ix *ix = ix_new();
    ix->env.settings.session_absolute_ms = 2 * HOUR_MS;
    const struct domain_settings *set = &ix->env.settings;
    struct identity_user u;
    ix_register(ix, "13800000002", &u);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session s, got;
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", token, &s), QB_OK);
    bool touch = false;

    clock_manual_advance(&ix->clock, set->session_touch_ms - 1);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);
    ASSERT(!touch);
    clock_manual_advance(&ix->clock, 1);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);
    ASSERT(touch);

    /* Touch every 20 minutes: alive until the absolute limit. */
    int64_t touches = 0;
    while (clock_now_ms(&ix->clock) + 20 * MINUTE_MS < s.expires_at_ms) {
        clock_manual_advance(&ix->clock, 20 * MINUTE_MS);
        ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                      QB_OK);
        struct identity_cmd c;
        identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_TOUCH);
        snprintf(c.session_id, sizeof c.session_id, "%s", s.id);
        ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
        ASSERT_EQ_INT(c.session.last_seen_at_ms, clock_now_ms(&ix->clock));
        ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                      QB_OK);
        ASSERT_EQ_INT(got.last_seen_at_ms, clock_now_ms(&ix->clock));
        ASSERT(!touch);
        touches++;
    }
    ASSERT(touches >= 5);
    clock_manual_advance(&ix->clock, s.expires_at_ms - clock_now_ms(&ix->clock) - 1);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);
    clock_manual_advance(&ix->clock, 1);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                  QB_E_UNAUTHORIZED);

    /* Idle: last_seen lags real use by up to one touch interval, so a fresh
     * session is refused at last_seen + idle + touch, and a late touch does
     * not revive it. */
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", token, &s), QB_OK);
    clock_manual_advance(&ix->clock, set->session_idle_ms + set->session_touch_ms - 1);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);
    clock_manual_advance(&ix->clock, 1);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                  QB_E_UNAUTHORIZED);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_TOUCH);
    snprintf(c.session_id, sizeof c.session_id, "%s", s.id);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                  QB_E_UNAUTHORIZED);
    ix_free(ix);
}

TEST(session_in_use_outlives_a_short_idle_timeout)
{
    /* At the shortest idle timeout (60 s) a session used every 12 s, with
     * the touches the HTTP layer submits when asked, is alive 61 s after
     * login and 13 s after its last use; one unused since login ends by
     * idle + touch, 66 s. */
    struct ix *ix = ix_new();
    struct domain_settings settings = ix->env.settings;
    settings.session_idle_ms = 60 * 1000;
    domain_env_release(&ix->env);
    uint8_t pepper[DOMAIN_KEY_SIZE], data_key[DOMAIN_KEY_SIZE];
    memset(pepper, 0x11, sizeof pepper);
    memset(data_key, 0x5a, sizeof data_key);
    domain_env_init(&ix->env, &ix->clock, &ix->rand, ix->ledger, &settings, pepper, data_key);
    ASSERT(ix->env.settings.session_touch_ms <= 6 * 1000);

    struct identity_user u;
    ix_register(ix, "13800000003", &u);
    char used[IDENTITY_TOKEN_TEXT_SIZE], idle[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session s, got;
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", used, &s), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", idle, NULL), QB_OK);
    int64_t login_ms = clock_now_ms(&ix->clock);
    bool touch = false;
    for (int i = 1; i * 12 < 60; i++) {
        clock_manual_advance(&ix->clock, login_ms + i * 12 * 1000 - clock_now_ms(&ix->clock));
        ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, used, &got, &touch),
                      QB_OK);
        if (touch) {
            struct identity_cmd c;
            identity_cmd_init(&c, &ix->env, IDENTITY_OP_SESSION_TOUCH);
            snprintf(c.session_id, sizeof c.session_id, "%s", s.id);
            ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
        }
    }
    clock_manual_advance(&ix->clock, login_ms + 61 * 1000 - clock_now_ms(&ix->clock));
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, used, &got, &touch), QB_OK);
    clock_manual_advance(&ix->clock, login_ms + 66 * 1000 - clock_now_ms(&ix->clock));
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, idle, &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, used, &got, &touch), QB_OK);
    ix_free(ix);
}

/* The migration that moved last_seen out of the sessions' rows (0-based). */
#define S_SEEN_MIGRATION 12

TEST(sessions_made_before_last_seen_moved_keep_it)
{
    /* Two sessions of one user, stored the old way with last_seen in their rows. */
    struct test_old_db old;
    test_old_db_open(&old, S_SEEN_MIGRATION, "CREATE TABLE session_seen",
        "INSERT INTO sessions (seq, id, token_hash, user_id, device_name, created_at_ms,"
        " last_seen_at_ms, expires_at_ms) VALUES"
        " (7, 's_00000000000000000000000007', zeroblob(32), 'u_a', 'iPhone', 1000, 5000, 9000),"
        " (9, 's_00000000000000000000000009', randomblob(32), 'u_a', 'iPad', 2000, 6000, 9000);");
    struct store *store = old.store;
    struct identity_session list[4];
    size_t count = 0;
    ASSERT_EQ_INT(identity_sessions_list(store, "u_a", 0, list, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(list[0].id, "s_00000000000000000000000009");
    ASSERT_EQ_INT(list[0].created_at_ms, 2000);
    ASSERT_EQ_INT(list[0].last_seen_at_ms, 6000);
    ASSERT_EQ_STR(list[1].device_name, "iPhone");
    ASSERT_EQ_INT(list[1].last_seen_at_ms, 5000);
    ASSERT_EQ_INT(list[1].expires_at_ms, 9000);
    test_old_db_close(&old);
}

/* The migration that remembers apart who had a session (0-based). */
#define S_SESSION_USERS_MIGRATION 52

TEST(accounts_that_had_sessions_before_they_were_pruned_are_remembered)
{
    /* A database from before session_users: the users its sessions name
     * are the accounts that had one, whatever is pruned later. */
    struct test_old_db old;
    test_old_db_open(&old, S_SESSION_USERS_MIGRATION, "CREATE TABLE session_users",
                     "INSERT INTO sessions (seq, id, token_hash, user_id, device_name,"
                     " created_at_ms, expires_at_ms) VALUES"
                     " (7, 's_00000000000000000000000007', randomblob(32), 'u_a', 'iPhone', 1000,"
                     " 9000),"
                     " (8, 's_00000000000000000000000008', randomblob(32), 'u_b', 'iPad', 1500,"
                     " 9000),"
                     " (9, 's_00000000000000000000000009', randomblob(32), 'u_a', 'iPad', 2000,"
                     " 9000);");
    int64_t count = -1;
    ASSERT_EQ_INT(store_int64(old.store,
                              "SELECT count(*) FROM session_users WHERE user_id IN ('u_a', 'u_b')",
                              NULL, 0, &count),
                  QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_INT(store_int64(old.store, "SELECT count(*) FROM session_users", NULL, 0, &count),
                  QB_OK);
    ASSERT_EQ_INT(count, 2);
    test_old_db_close(&old);
}

TEST(login_lock_counts_wrong_passwords_and_runs_out)
{
    /* login_failures_max wrong passwords in a row lock logging in for
     * login_lock_ms; a session in between resets the count; once the lock
     * runs out the count starts afresh. */
    struct ix *ix = ix_new();
    const struct domain_settings *set = &ix->env.settings;
    struct identity_user u;
    ix_register(ix, "13800000004", &u);
    struct identity_cmd c;
    for (int64_t i = 1; i < set->login_failures_max; i++) {
        identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
        snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
        ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    }
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", NULL, NULL), QB_OK);
    for (int64_t i = 1; i < set->login_failures_max; i++) {
        identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
        snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
        ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    }
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_PASSWORD_LOCKED);
    struct identity_user got;
    ASSERT_EQ_INT(identity_user_get(ix->reader, u.id, &got), QB_OK);
    ASSERT_EQ_INT(got.login_locked_until_ms, clock_now_ms(&ix->clock) + set->login_lock_ms);
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_E_PASSWORD_LOCKED);
    /* The device the account trusts counts apart: the owner still logs in on it, and that
     * does not lift the lock the guesses from elsewhere took. */
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_E_PASSWORD_LOCKED);

    clock_manual_advance(&ix->clock, set->login_lock_ms);
    ASSERT_EQ_INT(ix_session(ix, u.id, "web", NULL, NULL), QB_OK);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_UNAUTHORIZED);
    ix_free(ix);
}

/* login_failures_max wrong passwords for u; the outcome of the last. */
static enum qb_error S_wrong_logins(struct ix *ix, const struct identity_user *u)
{
    enum qb_error last = QB_OK;
    for (int64_t i = 0; i < ix->env.settings.login_failures_max; i++) {
        struct identity_cmd c;
        identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
        snprintf(c.user_id, sizeof c.user_id, "%s", u->id);
        last = ix_exec(ix, &c);
        if (i + 1 < ix->env.settings.login_failures_max && last != QB_E_UNAUTHORIZED)
            return QB_E_INTERNAL;
    }
    return last;
}

TEST(each_login_lock_in_a_row_lasts_twice_the_one_before)
{
    /* Five guesses every 15 minutes is 480 a day against a password. Each
     * lock taken again, with no day free of wrong passwords between, lasts
     * twice the last, up to a day: 15 and 30 minutes, 1, 2, 4, 8 and 16
     * hours, then a day. A day with no wrong password starts afresh, and so
     * does the owner's login. */
    struct ix *ix = ix_new();
    const struct domain_settings *set = &ix->env.settings;
    ASSERT_EQ_INT(set->login_lock_ms, 15 * 60 * 1000);
    struct identity_user u, got;
    ix_register(ix, "13800000044", &u);
    const int64_t minutes[] = {15, 30, 60, 120, 240, 480, 960, 1440, 1440};
    for (size_t i = 0; i < QB_ARRAY_COUNT(minutes); i++) {
        ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
        ASSERT_EQ_INT(identity_user_get(ix->reader, u.id, &got), QB_OK);
        ASSERT_EQ_INT(got.login_locked_until_ms - clock_now_ms(&ix->clock), minutes[i] * 60 * 1000);
        clock_manual_advance(&ix->clock, minutes[i] * 60 * 1000 - 1);
        ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_E_PASSWORD_LOCKED);
        clock_manual_advance(&ix->clock, 1);
    }
    /* The last lock, a day long, left a day with no wrong password. */
    clock_manual_advance(&ix->clock, 1);
    ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(identity_user_get(ix->reader, u.id, &got), QB_OK);
    ASSERT_EQ_INT(got.login_locked_until_ms - clock_now_ms(&ix->clock), set->login_lock_ms);
    clock_manual_advance(&ix->clock, set->login_lock_ms);
    ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(identity_user_get(ix->reader, u.id, &got), QB_OK);
    ASSERT_EQ_INT(got.login_locked_until_ms - clock_now_ms(&ix->clock), 2 * set->login_lock_ms);
    /* The owner logs in once the lock ends: the next guesser starts from 15 minutes. */
    clock_manual_advance(&ix->clock, 2 * set->login_lock_ms);
    ASSERT_EQ_INT(ix_session(ix, u.id, "laptop", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(identity_user_get(ix->reader, u.id, &got), QB_OK);
    ASSERT_EQ_INT(got.login_locked_until_ms - clock_now_ms(&ix->clock), set->login_lock_ms);
    ix_free(ix);
}

/* login_failures_max wrong passwords for u from its trusted device named
 * device; the outcome of the last. */
static enum qb_error S_wrong_logins_on(struct ix *ix, const struct identity_user *u,
                                       const char *device)
{
    int64_t device_seq = 0, locked_until_ms = 0;
    if (identity_login_device_lock(ix->reader, u->id, ix_key(ix, u->id, device), &device_seq,
                                   &locked_until_ms) != QB_OK ||
        device_seq == 0)
        return QB_E_INTERNAL;
    enum qb_error last = QB_OK;
    for (int64_t i = 0; i < ix->env.settings.login_failures_max; i++) {
        struct identity_cmd c;
        identity_cmd_init(&c, &ix->env, IDENTITY_OP_LOGIN_FAILED);
        snprintf(c.user_id, sizeof c.user_id, "%s", u->id);
        c.device_seq = device_seq;
        last = ix_exec(ix, &c);
    }
    return last;
}

TEST(an_operator_lifts_the_accounts_login_lock_and_its_count)
{
    /* A user who lost the phone an SMS code goes to cannot lift a login
     * lock themselves: support verifies them and an operator lifts it. The
     * count starts over too, so the next lock is a first one again (15
     * minutes, not 30), and the user's history says who lifted it. A
     * trusted device's own lock stays: that device may be the lost phone.
     * With no lock holding there is nothing to lift: CONFLICT, nothing
     * written. */
    struct ix *ix = ix_new();
    const struct domain_settings *set = &ix->env.settings;
    struct identity_user u, got;
    ix_register(ix, "13800000045", &u);
    ASSERT_EQ_INT(ix_session(ix, u.id, "lost phone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_LOGIN_UNLOCK, u.id, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_LOGIN_UNLOCK, "u_nobody", NULL), QB_E_NOT_FOUND);

    ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(S_wrong_logins_on(ix, &u, "lost phone"), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(ix_session(ix, u.id, "new phone", NULL, NULL), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_LOGIN_UNLOCK, u.id, &got), QB_OK);
    ASSERT_EQ_INT(got.login_locked_until_ms, 0);
    ASSERT_EQ_INT(ix_user(ix, u.id).login_locked_until_ms, 0);
    struct identity_security_event events[2];
    size_t count = 0;
    ASSERT_EQ_INT(identity_security_events(ix->reader, u.id, 0, events, 2, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(events[0].kind, "login_unlocked");
    ASSERT_EQ_STR(events[0].detail, "operator");
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_LOGIN_UNLOCK, u.id, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(identity_security_events(ix->reader, u.id, 0, events, 2, &count), QB_OK);
    ASSERT_EQ_STR(events[0].kind, "login_unlocked");
    ASSERT_EQ_STR(events[1].kind, "lockout");

    /* Had the count stayed, these would be the tenth wrong password in a row: 30 minutes. */
    ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(ix_user(ix, u.id).login_locked_until_ms - clock_now_ms(&ix->clock),
                  set->login_lock_ms);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_LOGIN_UNLOCK, u.id, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, u.id, "lost phone", NULL, NULL), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(ix_session(ix, u.id, "new phone", NULL, NULL), QB_OK);
    /* A lock that ran out is no lock to lift. */
    ASSERT_EQ_INT(S_wrong_logins(ix, &u), QB_E_PASSWORD_LOCKED);
    clock_manual_advance(&ix->clock, set->login_lock_ms);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_LOGIN_UNLOCK, u.id, NULL), QB_E_CONFLICT);
    ix_free(ix);
}

TEST(touches_in_a_batch_move_last_seen_forward_only)
{
    /* One batch touches several sessions: a live one moves to its time; an
     * older time never moves it back; an idle or revoked one is not
     * revived; an unknown id changes nothing. */
    struct ix *ix = ix_new();
    const struct domain_settings *set = &ix->env.settings;
    struct identity_user u;
    ix_register(ix, "13800000005", &u);
    char live[IDENTITY_TOKEN_TEXT_SIZE], idle[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session s_live, s_idle, got;
    ASSERT_EQ_INT(ix_session(ix, u.id, "a", idle, &s_idle), QB_OK);
    clock_manual_advance(&ix->clock, set->session_idle_ms + set->session_touch_ms);
    ASSERT_EQ_INT(ix_session(ix, u.id, "b", live, &s_live), QB_OK);
    int64_t now_ms = clock_now_ms(&ix->clock);

    struct identity_touch_cmd *c = malloc(sizeof *c);
    ASSERT(c != NULL);
    identity_touch_cmd_init(c, &ix->env);
    c->items[c->count++] = (struct identity_touch){s_live.seq, now_ms + 5000};
    c->items[c->count++] = (struct identity_touch){s_idle.seq, now_ms + 5000};
    c->items[c->count++] = (struct identity_touch){s_live.seq + 1000, now_ms + 5000};
    ASSERT_EQ_INT(ledger_execute(ix->ledger, &c->cmd), QB_OK);
    ASSERT_EQ_INT(c->cmd.result, QB_OK);
    ledger_cmd_release(&c->cmd);
    bool touch;
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, live, &got, &touch), QB_OK);
    ASSERT_EQ_INT(got.last_seen_at_ms, now_ms + 5000);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, idle, &got, &touch),
                  QB_E_UNAUTHORIZED);

    identity_touch_cmd_init(c, &ix->env);
    c->items[c->count++] = (struct identity_touch){s_live.seq, now_ms + 1000};
    ASSERT_EQ_INT(ledger_execute(ix->ledger, &c->cmd), QB_OK);
    ledger_cmd_release(&c->cmd);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, live, &got, &touch), QB_OK);
    ASSERT_EQ_INT(got.last_seen_at_ms, now_ms + 5000);
    free(c);
    ix_free(ix);
}

TEST(session_revoke)
{
    /* Only the session's own user can revoke it (another user's session is
     * "not found"), and a revoked token authenticates no more. */
    struct ix *ix = ix_new();
    struct identity_user a, b;
    ix_register(ix, "13800000003", &a);
    ix_register(ix, "13800000004", &b);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session s, got;
    ASSERT_EQ_INT(ix_session(ix, a.id, "web", token, &s), QB_OK);

    ASSERT_EQ_INT(ix_revoke(ix, b.id, s.id), QB_E_NOT_FOUND);
    bool touch;
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);

    ASSERT_EQ_INT(ix_revoke(ix, a.id, s.id), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                  QB_E_UNAUTHORIZED);
    /* A touch gathered before the revocation committed does not revive it. */
    struct identity_touch_cmd *t = malloc(sizeof *t);
    ASSERT(t != NULL);
    identity_touch_cmd_init(t, &ix->env);
    t->items[t->count++] = (struct identity_touch){s.seq, clock_now_ms(&ix->clock) + 1000};
    ASSERT_EQ_INT(ledger_execute(ix->ledger, &t->cmd), QB_OK);
    ASSERT_EQ_INT(t->cmd.result, QB_OK);
    ledger_cmd_release(&t->cmd);
    free(t);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch),
                  QB_E_UNAUTHORIZED);
    struct identity_session list[2];
    size_t count = 0;
    ASSERT_EQ_INT(identity_sessions_list(ix->reader, a.id, 0, list, 2, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(list[0].revoked_at_ms, clock_now_ms(&ix->clock));

    ASSERT_EQ_INT(ix_revoke(ix, a.id, "s_doesnotexist"), QB_E_NOT_FOUND);
    ix_free(ix);
}

TEST(session_cache_answers_from_memory_until_the_session_is_revoked)
{
    /* With env->sessions set, a session read once is answered from memory;
     * a revocation (logout, the user's freeze, an operator's freeze) makes
     * the revoked sessions, and only those, leave it once its batch has
     * committed; idle and absolute expiry apply to cached sessions as to
     * stored ones; a touch moves the cached last_seen; a full bucket
     * forgets its oldest. */
    struct ix *ix = ix_new();
    ASSERT_EQ_INT(identity_session_cache_new(IDENTITY_SESSION_CACHE_WAYS, &ix->env.sessions), QB_OK);
    const struct domain_settings *set = &ix->env.settings;
    struct identity_user a, b;
    ix_register(ix, "13800000031", &a);
    ix_register(ix, "13800000032", &b);
    char ta[IDENTITY_TOKEN_TEXT_SIZE], ta2[IDENTITY_TOKEN_TEXT_SIZE], tb[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session sa, sa2, got;
    ASSERT_EQ_INT(ix_session(ix, a.id, "web", ta, &sa), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, a.id, "phone", ta2, &sa2), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, b.id, "web", tb, NULL), QB_OK);
    bool touch = true;

    /* Not cached until read; malformed tokens are refused at once. */
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta, &got, &touch), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, "zz", &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, ta, &got, &touch), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, ta2, &got, &touch), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, tb, &got, &touch), QB_OK);
    touch = true;
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta, &got, &touch), QB_OK);
    ASSERT_EQ_STR(got.id, sa.id);
    ASSERT_EQ_STR(got.user_id, a.id);
    ASSERT(!touch);

    /* Touches: asked for after session_touch_ms, then not again. */
    clock_manual_advance(&ix->clock, set->session_touch_ms);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta, &got, &touch), QB_OK);
    ASSERT(touch);
    identity_session_cache_touched(&ix->env, ta, clock_now_ms(&ix->clock));
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta, &got, &touch), QB_OK);
    ASSERT(!touch);
    ASSERT_EQ_INT(got.last_seen_at_ms, clock_now_ms(&ix->clock));

    /* A logout: once committed, the revoked token is not in memory and the
     * table refuses it; the user's other sessions and everyone else's stay
     * cached. */
    ASSERT_EQ_INT(ix_revoke(ix, a.id, sa.id), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta, &got, &touch), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, ta, &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta, &got, &touch), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta2, &got, &touch), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, tb, &got, &touch), QB_OK);

    /* A refused revocation (someone else's session) forgets nothing. */
    ASSERT_EQ_INT(ix_revoke(ix, b.id, sa2.id), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta2, &got, &touch), QB_OK);

    /* An operator's freeze ends every session of the user, and only the
     * user's. */
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_FREEZE, a.id, NULL), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, ta2, &got, &touch),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, ta2, &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, tb, &got, &touch), QB_OK);

    /* Eviction: a bucket of IDENTITY_SESSION_CACHE_WAYS holds tb and as
     * many new sessions again: the first of them (tb) goes. */
    /* The counts /metrics shows move with it: one eviction, a miss for
     * tb, a hit for each of the others. */
    struct identity_session_cache_stats before, after;
    identity_session_cache_stats(ix->env.sessions, &before);
    ASSERT_EQ_INT(before.entries, IDENTITY_SESSION_CACHE_WAYS);
    char t[IDENTITY_SESSION_CACHE_WAYS][IDENTITY_TOKEN_TEXT_SIZE];
    for (int i = 0; i < IDENTITY_SESSION_CACHE_WAYS; i++) {
        ASSERT_EQ_INT(ix_session(ix, b.id, "tablet", t[i], NULL), QB_OK);
        ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, t[i], &got, &touch),
                      QB_OK);
    }
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, tb, &got, &touch),
                  QB_E_NOT_FOUND);
    for (int i = 0; i < IDENTITY_SESSION_CACHE_WAYS; i++)
        ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, t[i], &got, &touch), QB_OK);
    identity_session_cache_stats(ix->env.sessions, &after);
    ASSERT_EQ_INT(after.evictions - before.evictions, 1);
    ASSERT_EQ_INT(after.misses - before.misses, 1);
    ASSERT_EQ_INT(after.hits - before.hits, IDENTITY_SESSION_CACHE_WAYS);

    /* Idle: a cached session not used for session_idle_ms +
     * session_touch_ms ends in memory as in the table. */
    identity_session_cache_touched(&ix->env, t[1], clock_now_ms(&ix->clock) + set->session_touch_ms);
    clock_manual_advance(&ix->clock, set->session_idle_ms + set->session_touch_ms);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, t[2], &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, t[2], &got, &touch),
                  QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, t[1], &got, &touch), QB_OK);

    identity_session_cache_free(ix->env.sessions);
    ix->env.sessions = NULL;
    ix_free(ix);
}

TEST(session_cache_load_reads_the_sessions_in_use_newest_first)
{
    /* The load at start: live sessions only (not revoked, not expired, not
     * idle), and when they outnumber a bucket, the most recently seen. */
    struct ix *ix = ix_new();
    const struct domain_settings *set = &ix->env.settings;
    struct identity_user a;
    ix_register(ix, "13800000033", &a);
    enum { N = IDENTITY_SESSION_CACHE_WAYS + 2 };
    char t[N][IDENTITY_TOKEN_TEXT_SIZE], idle[IDENTITY_TOKEN_TEXT_SIZE];
    char out[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session s_out, got;
    bool touch;
    ASSERT_EQ_INT(ix_session(ix, a.id, "idle", idle, NULL), QB_OK);
    clock_manual_advance(&ix->clock, set->session_idle_ms + set->session_touch_ms);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ_INT(ix_session(ix, a.id, "tablet", t[i], NULL), QB_OK);
        clock_manual_advance(&ix->clock, 1000);
    }
    ASSERT_EQ_INT(ix_session(ix, a.id, "revoked", out, &s_out), QB_OK);
    ASSERT_EQ_INT(ix_revoke(ix, a.id, s_out.id), QB_OK);

    /* One bucket: the N - WAYS oldest live sessions do not fit. */
    ASSERT_EQ_INT(identity_session_cache_new(IDENTITY_SESSION_CACHE_WAYS, &ix->env.sessions), QB_OK);
    size_t loaded = 0;
    ASSERT_EQ_INT(identity_session_cache_load(&ix->env, ix->reader, &loaded), QB_OK);
    ASSERT_EQ_INT(loaded, IDENTITY_SESSION_CACHE_WAYS);
    for (int i = 0; i < N; i++)
        ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, t[i], &got, &touch),
                      i < N - IDENTITY_SESSION_CACHE_WAYS ? QB_E_NOT_FOUND : QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, out, &got, &touch),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, idle, &got, &touch),
                  QB_E_NOT_FOUND);
    identity_session_cache_free(ix->env.sessions);

    /* Room for all: every live one, and still not the others. */
    ASSERT_EQ_INT(identity_session_cache_new(64 * IDENTITY_SESSION_CACHE_WAYS, &ix->env.sessions),
                  QB_OK);
    ASSERT_EQ_INT(identity_session_cache_load(&ix->env, ix->reader, &loaded), QB_OK);
    ASSERT_EQ_INT(loaded, N);
    for (int i = 0; i < N; i++)
        ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, t[i], &got, &touch), QB_OK);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, out, &got, &touch),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(identity_session_authenticate_cached(&ix->env, idle, &got, &touch),
                  QB_E_NOT_FOUND);
    identity_session_cache_free(ix->env.sessions);
    ix->env.sessions = NULL;
    ix_free(ix);
}

/* A command that reads a user through the writer's cache, and optionally
 * first renames it (as every write to users does: identity_user_written)
 * and then fails, so that the batch rolls its write back. */
struct user_read_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    const char *user_id;
    const char *rename_to;  /* NULL: only read */
    bool tell_the_cache;    /* call identity_user_written before renaming */
    bool fail;
    struct identity_user user;
    enum qb_error read;
};

static enum qb_error user_read_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct user_read_cmd *r = (struct user_read_cmd *)cmd;
    if (r->rename_to != NULL) {
        if (r->tell_the_cache)
            identity_user_written(txn, r->env, r->user_id);
        const struct store_param p[] = {STORE_TEXT(r->user_id), STORE_TEXT(r->rename_to)};
        enum qb_error err = store_run(ledger_txn_store(txn),
                                      "UPDATE users SET display_name = $2 WHERE id = $1", p, 2);
        if (err != QB_OK)
            return err;
    }
    r->read = identity_txn_user_get(txn, r->env, r->user_id, &r->user);
    return r->fail ? QB_E_INTERNAL : QB_OK;
}

static struct identity_user user_read(struct ix *ix, const char *user_id, const char *rename_to,
                                      bool tell_the_cache, bool fail)
{
    struct user_read_cmd r = {.env = &ix->env, .user_id = user_id, .rename_to = rename_to,
                              .tell_the_cache = tell_the_cache, .fail = fail};
    ledger_cmd_init(&r.cmd, user_read_run, NULL);
    enum qb_error rc = ledger_execute(ix->ledger, &r.cmd);
    ledger_cmd_release(&r.cmd);
    ASSERT_EQ_INT(rc, fail ? QB_E_INTERNAL : QB_OK);
    ASSERT_EQ_INT(r.read, QB_OK);
    return r.user;
}

TEST(user_cache_holds_committed_rows_only)
{
    /* The writer's user cache answers from memory (a write that does not
     * tell it is not seen: every write to users in the module must); each
     * write through the module is seen by the next read; and a write rolled
     * back leaves nothing of itself in the cache. */
    struct ix *ix = ix_new();
    ASSERT_EQ_INT(identity_user_cache_new(16, &ix->env.users), QB_OK);
    struct identity_user a;
    ix_register(ix, "13800000041", &a);
    ASSERT_EQ_INT(ix_pay_set(ix, &a, "258369"), QB_OK);

    struct identity_user got = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_STR(got.display_name, a.display_name);
    ASSERT(got.payment_password_set);
    /* Behind the cache's back: still the cached row. */
    got = user_read(ix, a.id, "暗改", false, false);
    ASSERT_EQ_STR(got.display_name, a.display_name);
    /* Told: the row as written. */
    got = user_read(ix, a.id, "明改", true, false);
    ASSERT_EQ_STR(got.display_name, "明改");
    got = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_STR(got.display_name, "明改");

    /* A wrong payment password is counted, a freeze is seen. */
    int tries = 0;
    ASSERT_EQ_INT(ix_pay_verify(ix, a.id, "000000", &tries), QB_E_PASSWORD_WRONG);
    got = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_INT(got.payment_password_failures, 1);
    ASSERT_EQ_INT(ix_pay_verify(ix, a.id, "258369", &tries), QB_OK);
    got = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_INT(got.payment_password_failures, 0);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, a.id, NULL), QB_OK);
    got = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_INT(got.status, IDENTITY_FROZEN);

    /* Rolled back: the command read its own rename, then failed. The next
     * batch reads the committed name, not the undone one. */
    got = user_read(ix, a.id, "撤销", true, true);
    got = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_STR(got.display_name, "明改");

    identity_user_cache_free(ix->env.users);
    ix->env.users = NULL;
    ix_free(ix);
}

TEST(user_cache_load_reads_the_users_of_the_sessions_in_use)
{
    /* The load at start: the users of live sessions are answered from
     * memory at once (a rename behind the cache's back is not seen), with
     * their payment password's fingerprint; a user whose only session was
     * revoked, or who has none, is read from the table. */
    struct ix *ix = ix_new();
    struct identity_user a, b, c;
    ix_register(ix, "13800000042", &a);
    ix_register(ix, "13800000043", &b);
    ix_register(ix, "13800000044", &c);
    ASSERT_EQ_INT(ix_pay_set(ix, &a, "258369"), QB_OK);
    char ta[IDENTITY_TOKEN_TEXT_SIZE], tb[IDENTITY_TOKEN_TEXT_SIZE];
    struct identity_session sb;
    ASSERT_EQ_INT(ix_session(ix, a.id, "phone", ta, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, a.id, "web", ta, NULL), QB_OK);
    ASSERT_EQ_INT(ix_session(ix, b.id, "phone", tb, &sb), QB_OK);
    ASSERT_EQ_INT(ix_revoke(ix, b.id, sb.id), QB_OK);

    ASSERT_EQ_INT(identity_user_cache_new(16, &ix->env.users), QB_OK);
    size_t loaded = 0;
    ASSERT_EQ_INT(identity_user_cache_load(ix->ledger, &ix->env, &loaded), QB_OK);
    ASSERT_EQ_INT(loaded, 1);
    struct identity_user got = user_read(ix, a.id, "暗改", false, false);
    ASSERT_EQ_STR(got.display_name, a.display_name);
    ASSERT(got.payment_password_set);
    int tries = 0;
    ASSERT_EQ_INT(ix_pay_verify(ix, a.id, "258369", &tries), QB_OK);
    got = user_read(ix, b.id, "暗改", false, false);
    ASSERT_EQ_STR(got.display_name, "暗改");
    got = user_read(ix, c.id, "暗改", false, false);
    ASSERT_EQ_STR(got.display_name, "暗改");

    identity_user_cache_free(ix->env.users);
    ix->env.users = NULL;
    ix_free(ix);
}

/* --- payment passwords ------------------------------------------------------------ */

TEST(payment_password_set_and_verify)
{
    /* Setting needs a valid code (a wrong one is refused and counted), weak
     * choices are refused before the code is spent; a right guess clears
     * earlier failures. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000005", &u);
    int tries = -1;
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, PAY_PASSWORD, &tries), QB_E_PASSWORD_NOT_SET);
    ASSERT_EQ_INT(ix_pay_verify(ix, "u_nobody", PAY_PASSWORD, &tries), QB_E_NOT_FOUND);

    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1];
    ix_sms(ix, u.phone, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, "", code);
    wrong_code(code, bad);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_PAYMENT_PASSWORD_SET);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", bad);
    snprintf(c.payment_password, sizeof c.payment_password, PAY_PASSWORD);
    struct identity_cmd d = c;
    ASSERT_EQ_INT(ix_exec(ix, &d), QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT failures FROM sms_codes WHERE phone = $1 AND purpose = 4", u.phone), 1);
    ASSERT(!ix_user(ix, u.id).payment_password_set);

    identity_cmd_init(&d, &ix->env, IDENTITY_OP_PAYMENT_PASSWORD_SET);
    memcpy(d.user_id, c.user_id, sizeof d.user_id);
    snprintf(d.sms_code, sizeof d.sms_code, "%s", code);
    snprintf(d.payment_password, sizeof d.payment_password, "123456");
    ASSERT_EQ_INT(ix_exec(ix, &d), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT used FROM sms_codes WHERE phone = $1 AND purpose = 4", u.phone), 0);
    identity_cmd_init(&d, &ix->env, IDENTITY_OP_PAYMENT_PASSWORD_SET);
    memcpy(d.user_id, c.user_id, sizeof d.user_id);
    snprintf(d.sms_code, sizeof d.sms_code, "%s", code);
    snprintf(d.payment_password, sizeof d.payment_password, PAY_PASSWORD);
    ASSERT_EQ_INT(ix_exec(ix, &d), QB_OK);
    ASSERT(d.user.payment_password_set);

    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, "246813", &tries), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(tries, 4);
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, "24681", &tries), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(tries, 3);
    ASSERT_EQ_INT(ix_user(ix, u.id).payment_password_failures, 2);
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, PAY_PASSWORD, &tries), QB_OK);
    ASSERT_EQ_INT(tries, 5);
    ASSERT_EQ_INT(ix_user(ix, u.id).payment_password_failures, 0);
    ix_free(ix);
}

struct guess_batch {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    size_t pending;
};

static void guess_done(struct ledger_cmd *cmd)
{
    struct guess_batch *batch = cmd->ctx;
    pthread_mutex_lock(&batch->mutex);
    batch->pending--;
    pthread_cond_broadcast(&batch->cond);
    pthread_mutex_unlock(&batch->mutex);
}

#define GUESSES 100

TEST(payment_password_lockout_is_atomic)
{
    /* 100 wrong guesses submitted at once are evaluated one at a time: four
     * answer PASSWORD_WRONG (tries 4, 3, 2, 1), the fifth locks, and the other
     * 95 are refused unevaluated, so the stored count ends at exactly 5. The
     * lock is a row: it survives a restart and lifts after the lock time. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000006", &u);
    ASSERT_EQ_INT(ix_pay_set(ix, &u, PAY_PASSWORD), QB_OK);

    struct guess_batch batch;
    memset(&batch, 0, sizeof batch);
    pthread_mutex_init(&batch.mutex, NULL);
    pthread_cond_init(&batch.cond, NULL);
    struct identity_cmd *guesses = calloc(GUESSES, sizeof *guesses);
    ASSERT(guesses != NULL);
    for (size_t i = 0; i < GUESSES; i++) {
        struct identity_cmd *g = &guesses[i];
        identity_cmd_init(g, &ix->env, IDENTITY_OP_PAYMENT_PASSWORD_VERIFY);
        snprintf(g->user_id, sizeof g->user_id, "%s", u.id);
        snprintf(g->payment_password, sizeof g->payment_password, "%06zu", 200000 + i);
        g->cmd.ctx = &batch;
        g->cmd.done = guess_done;
    }
    pthread_mutex_lock(&batch.mutex);
    batch.pending = GUESSES;
    pthread_mutex_unlock(&batch.mutex);
    for (size_t i = 0; i < GUESSES; i++)
        ASSERT_EQ_INT(ledger_submit(ix->ledger, &guesses[i].cmd), QB_OK);
    pthread_mutex_lock(&batch.mutex);
    while (batch.pending > 0)
        pthread_cond_wait(&batch.cond, &batch.mutex);
    pthread_mutex_unlock(&batch.mutex);

    int wrong = 0, locked = 0, tries_seen = 0;
    for (size_t i = 0; i < GUESSES; i++) {
        struct identity_cmd *g = &guesses[i];
        ASSERT_EQ_INT(g->cmd.result, QB_OK);
        if (g->outcome == QB_E_PASSWORD_WRONG) {
            wrong++;
            ASSERT(g->password_try.tries_left >= 1 && g->password_try.tries_left <= 4);
            tries_seen |= 1 << g->password_try.tries_left;
        } else if (g->outcome == QB_E_PASSWORD_LOCKED) {
            locked++;
            ASSERT_EQ_INT(g->password_try.tries_left, 0);
        } else {
            TEST_FAIL_("guess %zu answered %s", i, error_name(g->outcome));
        }
        ledger_cmd_release(&g->cmd);
    }
    free(guesses);
    pthread_mutex_destroy(&batch.mutex);
    pthread_cond_destroy(&batch.cond);
    ASSERT_EQ_INT(wrong, 4);
    ASSERT_EQ_INT(tries_seen, (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4));
    ASSERT_EQ_INT(locked, GUESSES - 4);
    struct identity_user after = ix_user(ix, u.id);
    ASSERT_EQ_INT(after.payment_password_failures, 5);
    int64_t lock_ms = ix->env.settings.payment_password_lock_ms;
    ASSERT_EQ_INT(after.payment_password_locked_until_ms, clock_now_ms(&ix->clock) + lock_ms);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT COUNT(*) FROM security_events WHERE user_id = $1"
                               " AND kind = 'lockout'",
                               u.id),
                  1);

    /* Locked: even the right password is refused, before and after a restart. */
    int tries = -1;
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, PAY_PASSWORD, &tries), QB_E_PASSWORD_LOCKED);
    ix_stop(ix);
    ix_start(ix);
    clock_manual_advance(&ix->clock, lock_ms - 1);
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, PAY_PASSWORD, &tries), QB_E_PASSWORD_LOCKED);
    ASSERT_EQ_INT(ix_user(ix, u.id).payment_password_failures, 5);

    /* The lock runs out: a fresh set of tries, and the right one works. */
    clock_manual_advance(&ix->clock, 1);
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, "246813", &tries), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(tries, 4);
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, PAY_PASSWORD, &tries), QB_OK);
    after = ix_user(ix, u.id);
    ASSERT_EQ_INT(after.payment_password_failures, 0);
    ASSERT_EQ_INT(after.payment_password_locked_until_ms, 0);
    ix_free(ix);
}

/* --- KYC -------------------------------------------------------------------------- */

TEST(kyc_levels)
{
    /* Level 2 needs a valid number the verification sandbox accepts; a
     * refused identity stays at level 1; level 3 is the operators' only. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000007", &u);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", "110105194912310020", NULL), QB_E_PARAM);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "", ID_X, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "测试失败", ID_X, NULL), QB_E_IDENTITY_MISMATCH);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", ID_REFUSED, NULL), QB_E_IDENTITY_MISMATCH);
    ASSERT_EQ_INT(ix_user(ix, u.id).kyc_level, 1);
    ASSERT_EQ_INT(ix_kyc(ix, "u_nobody", "张三", ID_X, NULL), QB_E_NOT_FOUND);

    struct identity_user out;
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", ID_X, &out), QB_OK);
    ASSERT_EQ_INT(out.kyc_level, 2);
    ASSERT_EQ_STR(out.id_number_last4, "002X");
    ASSERT_EQ_STR(ix_user(ix, u.id).id_number_last4, "002X");
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "李四", ID_SH, NULL), QB_E_CONFLICT);

    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_ADMIN_SET_KYC_LEVEL);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    c.kyc_level = 4;
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_PARAM);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_ADMIN_SET_KYC_LEVEL);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    c.kyc_level = 3;
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    ASSERT_EQ_INT(c.user.kyc_level, 3);
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_ADMIN_SET_KYC_LEVEL);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    c.kyc_level = 3;
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_CONFLICT);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", ID_X, NULL), QB_E_CONFLICT);
    ix_free(ix);
}

TEST(payment_password_refuses_birth_date_after_kyc)
{
    /* Once the id number is known, the birth date in it is refused as a
     * payment password (read back from the sealed number); before KYC the
     * same digits are allowed, since nothing ties them to the user. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000008", &u);
    ASSERT_EQ_INT(ix_pay_set(ix, &u, "491231"), QB_OK);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", ID_X, NULL), QB_OK);
    ASSERT_EQ_INT(ix_pay_set_id(ix, &u, "491231", ID_X), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(ix_pay_set_id(ix, &u, "311249", ID_X), QB_E_PASSWORD_WEAK);
    ASSERT_EQ_INT(ix_pay_set_id(ix, &u, "246813", ID_X), QB_OK);
    int tries;
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, "246813", &tries), QB_OK);
    ix_free(ix);
}

TEST(a_verified_wallets_payment_password_is_reset_with_its_id_number)
{
    /* The phone alone (a swapped SIM: an SMS login, then a reset code)
     * must not open a verified wallet's money: resetting its payment
     * password takes the id number it was verified with, its check
     * character X in either case. Without one nothing is spent; a wrong
     * one spends the code, so each guess costs a new code. A wallet that
     * never set one, or never verified a name, sets it with the code. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000018", &u);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", ID_X, NULL), QB_OK);
    ASSERT_EQ_INT(ix_pay_set(ix, &u, "246813"), QB_OK); /* the first one */
    ASSERT_EQ_INT(ix_pay_set(ix, &u, "135790"), QB_E_PARAM);
    char wrong[IDENTITY_ID_NUMBER_SIZE];
    snprintf(wrong, sizeof wrong, "%s", ID_X);
    wrong[3] = wrong[3] == '1' ? '2' : '1';
    ASSERT_EQ_INT(ix_pay_set_id(ix, &u, "135790", wrong), QB_E_IDENTITY_MISMATCH);
    int tries;
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, "246813", &tries), QB_OK);
    char lower[IDENTITY_ID_NUMBER_SIZE];
    snprintf(lower, sizeof lower, "%s", ID_X);
    ASSERT(lower[17] == 'X');
    lower[17] = 'x';
    ASSERT_EQ_INT(ix_pay_set_id(ix, &u, "135790", lower), QB_OK);
    ASSERT_EQ_INT(ix_pay_verify(ix, u.id, "135790", &tries), QB_OK);

    struct identity_user v;
    ix_register(ix, "13800000019", &v);
    ASSERT_EQ_INT(ix_pay_set(ix, &v, "246813"), QB_OK);
    ASSERT_EQ_INT(ix_pay_set(ix, &v, "135790"), QB_OK); /* level 1: the code alone */
    ix_free(ix);
}

/* --- freezing ----------------------------------------------------------------------- */

TEST(freeze_blocks_debits_at_the_ledger)
{
    /* A user's freeze marks the wallet debit-frozen in the same command, so
     * no payment path can move money out; money may still arrive; unfreezing
     * with an SMS code restores debits and keeps the account's other flags. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000009", &u);
    ASSERT_EQ_INT(ix_move(ix, ix->sys_id, u.account_id, 1000), QB_OK);
    struct raw_cmd r = {
        .kind = 2, .account_id = u.account_id, .flags = LEDGER_ACCOUNT_CREDIT_FROZEN};
    ASSERT_EQ_INT(raw_exec(ix, &r), QB_OK);
    r.flags = 0;
    ASSERT_EQ_INT(raw_exec(ix, &r), QB_OK);

    struct identity_user out;
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, u.id, &out), QB_OK);
    ASSERT_EQ_INT(out.status, IDENTITY_FROZEN);
    ASSERT_EQ_INT(out.frozen_by, IDENTITY_FROZEN_BY_USER);
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(ix->ledger, u.account_id, &v), QB_OK);
    ASSERT_EQ_INT(v.flags, LEDGER_ACCOUNT_DEBIT_FROZEN);
    ASSERT_EQ_INT(ix_move(ix, u.account_id, ix->sys_id, 1), QB_E_ACCOUNT_FROZEN);
    ASSERT_EQ_INT(ix_move(ix, ix->sys_id, u.account_id, 1), QB_OK);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, u.id, NULL), QB_E_CONFLICT);

    /* Another flag set meanwhile survives the unfreeze. */
    r.flags = LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CREDIT_FROZEN;
    ASSERT_EQ_INT(raw_exec(ix, &r), QB_OK);

    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1];
    ix_sms(ix, u.phone, SMS_PURPOSE_UNFREEZE, "", code);
    wrong_code(code, bad);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_UNFREEZE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", bad);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_user(ix, u.id).status, IDENTITY_FROZEN);
    ASSERT_EQ_INT(ix_move(ix, u.account_id, ix->sys_id, 1), QB_E_ACCOUNT_FROZEN);

    identity_cmd_init(&c, &ix->env, IDENTITY_OP_UNFREEZE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_OK);
    ASSERT_EQ_INT(c.user.status, IDENTITY_ACTIVE);
    ASSERT_EQ_INT(c.user.frozen_by, IDENTITY_FROZEN_BY_NONE);
    ASSERT_EQ_INT(ledger_account_view(ix->ledger, u.account_id, &v), QB_OK);
    ASSERT_EQ_INT(v.flags, LEDGER_ACCOUNT_CREDIT_FROZEN);
    ASSERT_EQ_INT(ix_move(ix, u.account_id, ix->sys_id, 1), QB_OK);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_UNFREEZE, u.id, NULL), QB_E_CONFLICT);
    ix_free(ix);
}

TEST(admin_freeze_cannot_be_lifted_by_the_user)
{
    /* An operator's freeze (say, for fraud) must not be undone with the
     * phone the fraudster holds: the user's unfreeze answers FORBIDDEN,
     * writes nothing and spends no code; only an operator lifts it. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000010", &u);
    struct identity_user out;
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_UNFREEZE, u.id, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, u.id, NULL), QB_OK);
    /* The operator takes over the user's own freeze. */
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_FREEZE, u.id, &out), QB_OK);
    ASSERT_EQ_INT(out.frozen_by, IDENTITY_FROZEN_BY_ADMIN);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_FREEZE, u.id, NULL), QB_E_CONFLICT);

    char code[SMS_CODE_DIGITS + 1];
    ix_sms(ix, u.phone, SMS_PURPOSE_UNFREEZE, "", code);
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_UNFREEZE);
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    ASSERT_EQ_INT(ix_exec(ix, &c), QB_E_FORBIDDEN);
    ASSERT_EQ_INT(ix_user(ix, u.id).status, IDENTITY_FROZEN);
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT used FROM sms_codes WHERE phone = $1 AND purpose = 6", u.phone), 0);
    ASSERT_EQ_INT(ix_move(ix, u.account_id, ix->sys_id, 1), QB_E_ACCOUNT_FROZEN);

    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_UNFREEZE, u.id, &out), QB_OK);
    ASSERT_EQ_INT(out.status, IDENTITY_ACTIVE);
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(ix->ledger, u.account_id, &v), QB_OK);
    ASSERT_EQ_INT(v.flags, 0);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_FREEZE, "u_nobody", NULL), QB_E_NOT_FOUND);
    ix_free(ix);
}

/* --- the security centre and search --------------------------------------------------- */

TEST(security_status_follows_the_checklist)
{
    /* Each checklist item moves the score by its weight: setting a payment
     * password, KYC, a new device, a lockout, a freeze, and time passing. */
    struct ix *ix = ix_new();
    struct identity_security_item items[IDENTITY_SECURITY_ITEMS];
    struct identity_user u;
    ix_register(ix, "13800000011", &u);
    ASSERT_EQ_INT(ix_session(ix, u.id, "iPhone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 50); /* the first device is no warning */
    ASSERT(item_ok(items, "no_recent_new_devices"));
    ASSERT(!item_ok(items, "payment_password_set"));

    ASSERT_EQ_INT(ix_pay_set(ix, &u, PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 75);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "张三", ID_NJ, NULL), QB_OK);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 100);

    ASSERT_EQ_INT(ix_session(ix, u.id, "iPhone", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 100); /* a known device */
    ASSERT_EQ_INT(ix_session(ix, u.id, "Huawei Mate", NULL, NULL), QB_OK);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 85);
    ASSERT(!item_ok(items, "no_recent_new_devices"));
    clock_manual_advance(&ix->clock, 7 * DAY_MS + 1);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 100);

    int tries;
    for (int i = 0; i < 5; i++)
        (void)ix_pay_verify(ix, u.id, "246813", &tries);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 80);
    ASSERT(!item_ok(items, "no_recent_lockouts"));
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, u.id, NULL), QB_OK);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 65);
    ASSERT(!item_ok(items, "not_frozen"));
    clock_manual_advance(&ix->clock, 30 * DAY_MS + 1);
    ASSERT_EQ_INT(ix_score(ix, u.id, items), 85);

    int score;
    ASSERT_EQ_INT(identity_security_status(&ix->env, ix->reader, "u_nobody", items, &score),
                  QB_E_NOT_FOUND);
    ix_free(ix);
}

TEST(users_search_by_phone_prefix)
{
    /* Operators find users by the start of a phone number, newest first; a
     * prefix with wildcard characters matches nothing rather than everything. */
    struct ix *ix = ix_new();
    struct identity_user a, b, c;
    ix_register(ix, "13812345678", &a);
    ix_register(ix, "13898765432", &b);
    ix_register(ix, "15900001111", &c);
    struct identity_user found[4];
    size_t count = 0;
    ASSERT_EQ_INT(identity_users_search(ix->reader, "138", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(found[0].id, b.id);
    ASSERT_EQ_STR(found[1].id, a.id);
    ASSERT_EQ_INT(identity_users_search(ix->reader, "1389", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(identity_users_search(ix->reader, "", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(found[0].id, c.id);
    ASSERT_EQ_INT(identity_users_search(ix->reader, "", 0, found, 2, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_INT(identity_users_search(ix->reader, "1%", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 0);
    ASSERT_EQ_INT(identity_users_search(ix->reader, "13_", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 0);
    ASSERT_EQ_INT(identity_users_search(ix->reader, "15900001111", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ix_free(ix);
}

static bool bytes_contain(const void *data, size_t size, const void *needle, size_t needle_size)
{
    const unsigned char *d = data;
    for (size_t i = 0; needle_size <= size && i <= size - needle_size; i++)
        if (memcmp(d + i, needle, needle_size) == 0)
            return true;
    return false;
}

/* True when needle appears in any column of any row of the query. */
static bool rows_contain(struct ix *ix, const char *sql, size_t column_count, const char *needle)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(ix->reader, sql, &st), QB_OK);
    bool found = false;
    size_t rows = 0;
    while (store_step(st) == STORE_STEP_ROW) {
        rows++;
        for (size_t i = 0; i < column_count; i++) {
            const void *data = store_column_blob(st, (int)i);
            size_t size = store_column_size(st, (int)i);
            if (bytes_contain(data, size, needle, strlen(needle)))
                found = true;
        }
    }
    store_finalize(st);
    if (rows == 0)
        TEST_FAIL_("query \"%s\" returned no rows", sql);
    return found;
}

TEST(no_secret_is_stored_in_clear)
{
    /* A copy of the database must not reveal the login password, payment
     * password, a session token, the real name or the id number; the scan
     * is shown to work by finding the phone number, which is stored plainly. */
    struct ix *ix = ix_new();
    struct identity_user u;
    ix_register(ix, "13800000012", &u);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    ASSERT_EQ_INT(ix_session(ix, u.id, "iPhone", token, NULL), QB_OK);
    ASSERT_EQ_INT(ix_pay_set(ix, &u, "582046"), QB_OK);
    ASSERT_EQ_INT(ix_kyc(ix, u.id, "王小二", ID_SH, NULL), QB_OK);

    const char *users_sql =
        "SELECT id, phone, display_name, password_hash, payment_password_hash,"
        " payment_password_failures, payment_password_locked_until_ms, kyc_level,"
        " real_name_sealed, id_number_sealed, id_number_last4, status, frozen_by, account_id,"
        " created_at_ms FROM users";
    const char *sessions_sql = "SELECT id, token_hash, user_id, device_name, created_at_ms,"
                               " last_seen_at_ms, expires_at_ms, revoked_at_ms"
                               " FROM sessions JOIN session_seen USING (seq)";
    const char *events_sql = "SELECT user_id, kind, detail FROM security_events";
    ASSERT(rows_contain(ix, users_sql, 15, "13800000012"));
    ASSERT(rows_contain(ix, users_sql, 15, "4568"));
    const char *secrets[] = {LOGIN_PASSWORD, "582046", token, "王小二", ID_SH, "3101151985"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(secrets); i++) {
        if (rows_contain(ix, users_sql, 15, secrets[i]) ||
            rows_contain(ix, sessions_sql, 8, secrets[i]) ||
            rows_contain(ix, events_sql, 3, secrets[i]))
            TEST_FAIL_("secret %zu is stored in clear", i);
    }
    /* Nor the raw token bytes. */
    uint8_t raw[32];
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        ASSERT(sscanf(token + 2 * i, "%2x", &v) == 1);
        raw[i] = (uint8_t)v;
    }
    char needle[33];
    memcpy(needle, raw, 32);
    needle[32] = '\0';
    if (memchr(raw, 0, 32) == NULL)
        ASSERT(!rows_contain(ix, sessions_sql, 8, needle));
    ix_free(ix);
}

/* Runs an operator command; the ledger result must be QB_OK. Answers the outcome. */
static enum qb_error ix_operator(struct ix *ix, enum identity_operator_op op, const char *name,
                                 struct identity_operator_cmd *c)
{
    identity_operator_cmd_init(c, &ix->env, op);
    snprintf(c->name, sizeof c->name, "%s", name);
    enum qb_error rc = ledger_execute(ix->ledger, &c->cmd);
    ledger_cmd_release(&c->cmd);
    if (rc != QB_OK || c->cmd.result != QB_OK)
        TEST_FAIL_("operator op %d: submit %s, ledger result %s", (int)op, error_name(rc),
                   error_name(c->cmd.result));
    return c->outcome;
}

TEST(operator_names_are_safe_in_a_log_and_a_path)
{
    /* The name becomes the principal admin:NAME in log lines and a path
     * segment: letters first, then a-z 0-9 . _ -, 1 to 32 of them. */
    ASSERT(identity_operator_name_is_valid("a"));
    ASSERT(identity_operator_name_is_valid("li.wei_2-x"));
    ASSERT(identity_operator_name_is_valid("abcdefghijklmnopqrstuvwxyz012345"));
    ASSERT(!identity_operator_name_is_valid("abcdefghijklmnopqrstuvwxyz0123456"));
    ASSERT(!identity_operator_name_is_valid(""));
    ASSERT(!identity_operator_name_is_valid(NULL));
    ASSERT(!identity_operator_name_is_valid("1st"));
    ASSERT(!identity_operator_name_is_valid(".x"));
    ASSERT(!identity_operator_name_is_valid("Li"));
    ASSERT(!identity_operator_name_is_valid("li wei"));
    ASSERT(!identity_operator_name_is_valid("li:wei"));
    ASSERT(!identity_operator_name_is_valid("li\"wei"));
}

TEST(an_operator_token_opens_until_revoked_and_only_its_hash_is_kept)
{
    /* A new operator's token is 64 lower-case hex, authenticates on a read
     * connection, is stored as SHA-256 only, and stops once revoked; a name
     * is never given twice, revoked or not; revoking again changes nothing. */
    struct ix *ix = ix_new();
    struct identity_operator_cmd c;
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_CREATE, "li.wei", &c), QB_OK);
    ASSERT(c.changed);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    memcpy(token, c.token, sizeof token);
    ASSERT_EQ_INT((long long)strspn(token, "0123456789abcdef"), 64);
    ASSERT_EQ_STR(c.operator.name, "li.wei");
    ASSERT_EQ_INT(c.operator.created_at_ms, clock_now_ms(&ix->clock));
    ASSERT_EQ_INT(c.operator.revoked_at_ms, 0);

    struct identity_operator op;
    ASSERT_EQ_INT(identity_operator_authenticate(ix->reader, token, &op), QB_OK);
    ASSERT_EQ_STR(op.name, "li.wei");
    uint8_t hash[CRYPTO_SHA256_SIZE];
    ASSERT(identity_secret_hash(token, hash));
    char hash_hex[2 * CRYPTO_SHA256_SIZE + 1];
    crypto_hex(hash, sizeof hash, hash_hex);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT count(*) FROM operators WHERE hex(token_hash) = upper($1)",
                               hash_hex),
                  1);
    ASSERT_EQ_INT(
        ix_query_int(ix,
                     "SELECT count(*) FROM operators WHERE instr(lower(hex(token_hash)), $1) > 0"
                     " OR instr(name, $1) > 0",
                     token),
        0);
    /* An unknown token, a malformed one, and a session's shape with upper case. */
    char other[IDENTITY_TOKEN_TEXT_SIZE];
    memcpy(other, token, sizeof other);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    ASSERT_EQ_INT(identity_operator_authenticate(ix->reader, other, &op), QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_operator_authenticate(ix->reader, "li.wei", &op), QB_E_UNAUTHORIZED);

    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_CREATE, "li.wei", &c), QB_E_CONFLICT);
    ASSERT_EQ_INT((long long)strlen(c.token), 0);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_REVOKE, "nobody", &c), QB_E_NOT_FOUND);

    clock_manual_advance(&ix->clock, MINUTE_MS);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_REVOKE, "li.wei", &c), QB_OK);
    ASSERT(c.changed);
    int64_t revoked_ms = c.operator.revoked_at_ms;
    ASSERT_EQ_INT(revoked_ms, clock_now_ms(&ix->clock));
    ASSERT_EQ_INT(identity_operator_authenticate(ix->reader, token, &op), QB_E_UNAUTHORIZED);
    clock_manual_advance(&ix->clock, MINUTE_MS);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_REVOKE, "li.wei", &c), QB_OK);
    ASSERT(!c.changed);
    ASSERT_EQ_INT(c.operator.revoked_at_ms, revoked_ms);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_CREATE, "li.wei", &c), QB_E_CONFLICT);

    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_CREATE, "wang", &c), QB_OK);
    struct identity_operator list[3];
    size_t count = 0;
    ASSERT_EQ_INT(identity_operators_list(ix->reader, 0, list, 3, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 2);
    ASSERT_EQ_STR(list[0].name, "wang");
    ASSERT_EQ_STR(list[1].name, "li.wei");
    ASSERT_EQ_INT(list[1].revoked_at_ms, revoked_ms);
    ASSERT_EQ_INT(identity_operators_list(ix->reader, list[0].seq, list, 3, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_STR(list[0].name, "li.wei");
    ix_free(ix);
}

TEST(an_operator_token_rotated_opens_and_the_old_one_does_not)
{
    /* A rotation gives a live operator a new token and the time it was
     * given; the old token stops at once; a revoked operator gets none, nor
     * an unknown one. */
    struct ix *ix = ix_new();
    struct identity_operator_cmd c;
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_CREATE, "li.wei", &c), QB_OK);
    char old_token[IDENTITY_TOKEN_TEXT_SIZE];
    memcpy(old_token, c.token, sizeof old_token);
    int64_t created_ms = c.operator.created_at_ms;
    ASSERT_EQ_INT(c.operator.token_issued_at_ms, created_ms);

    clock_manual_advance(&ix->clock, MINUTE_MS);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_ROTATE, "li.wei", &c), QB_OK);
    ASSERT(c.changed);
    ASSERT_EQ_INT((long long)strspn(c.token, "0123456789abcdef"), 64);
    ASSERT(strcmp(c.token, old_token) != 0);
    ASSERT_EQ_INT(c.operator.created_at_ms, created_ms);
    ASSERT_EQ_INT(c.operator.token_issued_at_ms, clock_now_ms(&ix->clock));
    struct identity_operator op;
    ASSERT_EQ_INT(identity_operator_authenticate(ix->reader, old_token, &op), QB_E_UNAUTHORIZED);
    ASSERT_EQ_INT(identity_operator_authenticate(ix->reader, c.token, &op), QB_OK);
    ASSERT_EQ_STR(op.name, "li.wei");
    ASSERT_EQ_INT(ix_query_int(ix, "SELECT count(*) FROM operators WHERE name = $1", "li.wei"), 1);

    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_ROTATE, "nobody", &c), QB_E_NOT_FOUND);
    ASSERT_EQ_INT((long long)strlen(c.token), 0);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_REVOKE, "li.wei", &c), QB_OK);
    ASSERT_EQ_INT(ix_operator(ix, IDENTITY_OPERATOR_ROTATE, "li.wei", &c), QB_E_CONFLICT);
    ASSERT_EQ_INT((long long)strlen(c.token), 0);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT count(*) FROM operators WHERE name = $1"
                               " AND revoked_at_ms > 0",
                               "li.wei"),
                  1);
    ix_free(ix);
}

/* The migration that added the operators' token times (migration 26,
 * index 25). */
#define S_OPERATOR_TOKEN_TIME_MIGRATION 25

TEST(operators_from_before_rotation_keep_their_tokens_issued_at_creation)
{
    /* An operator made before tokens could be rotated keeps its token, and
     * the token's time is the operator's creation. */
    struct test_old_db old;
    test_old_db_open(&old, S_OPERATOR_TOKEN_TIME_MIGRATION, "token_issued_at_ms",
                     "INSERT INTO operators (name, token_hash, created_at_ms)"
                     " VALUES ('li.wei', x'"
                     "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
                     "', 1700000000000);"); /* SHA-256 of 32 zero bytes */
    struct identity_operator list[2];
    size_t count = 0;
    ASSERT_EQ_INT(identity_operators_list(old.store, 0, list, 2, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 1);
    ASSERT_EQ_STR(list[0].name, "li.wei");
    ASSERT_EQ_INT(list[0].token_issued_at_ms, 1700000000000);
    ASSERT_EQ_INT(list[0].revoked_at_ms, 0);
    struct identity_operator op;
    ASSERT_EQ_INT(
        identity_operator_authenticate(
            old.store, "0000000000000000000000000000000000000000000000000000000000000000", &op),
        QB_OK);
    ASSERT_EQ_STR(op.name, "li.wei");
    test_old_db_close(&old);
}

/* The migration that added the operators (migration 25, index 24). */
#define S_OPERATORS_MIGRATION 24

TEST(a_database_from_before_operators_gets_an_empty_table)
{
    /* A database written before named operators opens with the table, empty,
     * and its users as they were. */
    struct test_old_db old;
    test_old_db_open(&old, S_OPERATORS_MIGRATION, "CREATE TABLE operators", "SELECT 1");
    struct identity_operator list[1];
    size_t count = 7;
    ASSERT_EQ_INT(identity_operators_list(old.store, 0, list, 1, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 0);
    struct identity_operator op;
    ASSERT_EQ_INT(
        identity_operator_authenticate(
            old.store, "00000000000000000000000000000000000000000000000000000000000000aa", &op),
        QB_E_UNAUTHORIZED);
    test_old_db_close(&old);
}

#define S_CLOSING_MIGRATION 28

TEST(users_from_before_closing_keep_their_phones)
{
    /* Users written before wallets could close read as they were: their
     * phones, found by phone and by the operators' search, none closed. */
    struct test_old_db old;
    test_old_db_open(&old, S_CLOSING_MIGRATION, "closed_phone",
                     "INSERT INTO users (id, phone, display_name, password_hash, status, frozen_by,"
                     " account_id, created_at_ms) VALUES"
                     " ('u_0000000000000000000000000a', '13800000071', '张三', 'x', 1, 0, 1, 1),"
                     " ('u_0000000000000000000000000b', '13800000072', '李四', 'x', 2, 1, 2, 2);");
    struct identity_user u;
    ASSERT_EQ_INT(identity_user_find_by_phone(old.store, "13800000072", &u), QB_OK);
    ASSERT_EQ_STR(u.id, "u_0000000000000000000000000b");
    ASSERT_EQ_STR(u.phone, "13800000072");
    ASSERT_EQ_INT(u.status, IDENTITY_FROZEN);
    ASSERT_EQ_INT(u.closed_at_ms, 0);
    struct identity_user found[4];
    size_t count = 0;
    ASSERT_EQ_INT(identity_users_search(old.store, "1380000007", 0, found, 4, &count), QB_OK);
    ASSERT_EQ_INT((long long)count, 2);
    ASSERT_EQ_STR(found[0].phone, "13800000072");
    ASSERT_EQ_STR(found[1].phone, "13800000071");
    ASSERT_EQ_INT(found[1].status, IDENTITY_ACTIVE);
    test_old_db_close(&old);
}

/* --- moving to a new phone ----------------------------------------------------------- */

/* The phone change of user_id to phone, proved by pp and code: its outcome; the
 * command itself into out when not NULL. */
static enum qb_error ix_phone_change(struct ix *ix, const char *user_id, const char *phone,
                                     const char *pp, const char *code, struct identity_cmd *out)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_PHONE_CHANGE);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.phone, sizeof c.phone, "%s", phone);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", pp);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    enum qb_error outcome = ix_exec(ix, &c);
    if (out != NULL)
        *out = c;
    return outcome;
}

/* Whether the newest code of (phone, purpose) is spent or void, and its wrong tries. */
static int64_t ix_code_used(struct ix *ix, const char *phone, enum sms_purpose purpose)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT used FROM sms_codes WHERE phone = $1 AND purpose = %d ORDER BY id DESC"
             " LIMIT 1",
             (int)purpose);
    return ix_query_int(ix, sql, phone);
}

static int64_t ix_code_failures(struct ix *ix, const char *phone, enum sms_purpose purpose)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT failures FROM sms_codes WHERE phone = $1 AND purpose = %d ORDER BY id DESC"
             " LIMIT 1",
             (int)purpose);
    return ix_query_int(ix, sql, phone);
}

/* Whether the outbox holds a message of purpose for phone. */
static bool ix_outbox_has(struct ix *ix, const char *phone, enum sms_purpose purpose)
{
    struct sms_outbox_item items[16];
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&ix->env, ix->reader, phone, 0, items, 16, &count), QB_OK);
    for (size_t i = 0; i < count; i++)
        if (items[i].purpose == purpose)
            return true;
    return false;
}

/* A phone's outbox messages the delivery worker would still send. */
#define S_OUTBOX_DUE                                                                               \
    "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND delivered_at_ms = 0 AND"                 \
    " next_attempt_at_ms < 9223372036854775807"

/* --- closing a wallet --------------------------------------------------------------- */

/* The closing of user_id with pp and code: its outcome; the blocker into
 * blocker when not NULL. */
static enum qb_error ix_close(struct ix *ix, const char *user_id, const char *pp, const char *code,
                              const char **blocker)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &ix->env, IDENTITY_OP_CLOSE);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.payment_password, sizeof c.payment_password, "%s", pp);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    enum qb_error outcome = ix_exec(ix, &c);
    if (blocker != NULL)
        *blocker = c.blocker;
    return outcome;
}

/* A layer above that blocks closing while S_closing_blocks, and counts the
 * closings it is told of. */
static bool S_closing_blocks;
static int S_closing_applied;

static enum qb_error S_user_close_blockers(const struct domain_env *env, struct store *store,
                                           const struct identity_user *user,
                                           const struct ledger_account_view *view,
                                           uint32_t *blockers)
{
    (void)env, (void)store, (void)user, (void)view;
    if (S_closing_blocks)
        *blockers |= DOMAIN_CLOSE_RED_PACKET;
    return QB_OK;
}

static enum qb_error S_user_closed(struct ledger_txn *txn, const struct domain_env *env,
                                   const char *user_id)
{
    (void)txn, (void)env, (void)user_id;
    ASSERT(!S_closing_blocks);
    S_closing_applied++;
    return QB_OK;
}

TEST(a_wallet_closes_empty_for_good_and_frees_its_phone)
{
    /* Closing refuses a wallet with money in or held, or what a layer above
     * names, before any proof (the code stays live, no count); then the
     * payment password (counted, code live) and the code (counted). Closed:
     * the ledger account is CLOSED, every session ends, the writer's cache
     * and look-ups by phone see it at once, the phone registers anew, and
     * the closed wallet no longer counts against its id number. */
    struct ix *ix = ix_new();
    ASSERT_EQ_INT(identity_user_cache_new(16, &ix->env.users), QB_OK);
    ix->env.settings.kyc_wallets_per_person = 1;
    ix->env.user_close_blockers = S_user_close_blockers;
    ix->env.user_closed = S_user_closed;
    S_closing_blocks = false;
    S_closing_applied = 0;
    const char *phone = "13800000061";
    struct identity_user a;
    ix_register(ix, phone, &a);
    ASSERT_EQ_INT(ix_kyc(ix, a.id, "张三", ID_X, NULL), QB_OK);
    ASSERT_EQ_INT(ix_pay_set(ix, &a, PAY_PASSWORD), QB_OK);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    ASSERT_EQ_INT(ix_session(ix, a.id, "phone", token, NULL), QB_OK);
    ASSERT_EQ_STR(user_read(ix, a.id, NULL, false, false).phone, phone); /* now cached */

    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1];
    ix_sms(ix, phone, SMS_PURPOSE_CLOSE_ACCOUNT, "", code);
    wrong_code(code, bad);
    const char *blocker = NULL;
    ASSERT_EQ_INT(ix_move(ix, ix->sys_id, a.account_id, 1), QB_OK);
    ASSERT_EQ_INT(ix_close(ix, a.id, PAY_PASSWORD, code, &blocker), QB_E_ACCOUNT_NOT_EMPTY);
    ASSERT_EQ_STR(blocker, "balance");
    ASSERT_EQ_INT(ix_move(ix, a.account_id, ix->sys_id, 1), QB_OK);
    S_closing_blocks = true;
    ASSERT_EQ_INT(ix_close(ix, a.id, "246813", bad, &blocker), QB_E_ACCOUNT_NOT_EMPTY);
    ASSERT_EQ_STR(blocker, "red_packet");
    ASSERT_EQ_INT(ix_user(ix, a.id).payment_password_failures, 0);
    ASSERT_EQ_INT(ix_code_failures(ix, phone, SMS_PURPOSE_CLOSE_ACCOUNT), 0);
    S_closing_blocks = false;
    ASSERT_EQ_INT(ix_close(ix, a.id, "246813", code, NULL), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(ix_user(ix, a.id).payment_password_failures, 1);
    ASSERT_EQ_INT(ix_code_used(ix, phone, SMS_PURPOSE_CLOSE_ACCOUNT), 0);
    ASSERT_EQ_INT(ix_close(ix, a.id, PAY_PASSWORD, bad, NULL), QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_code_failures(ix, phone, SMS_PURPOSE_CLOSE_ACCOUNT), 1);
    ASSERT_EQ_INT(S_closing_applied, 0);
    ASSERT_EQ_INT(ix_user(ix, a.id).status, IDENTITY_ACTIVE);

    ASSERT_EQ_INT(ix_close(ix, a.id, PAY_PASSWORD, code, NULL), QB_OK);
    ASSERT_EQ_INT(S_closing_applied, 1);
    struct identity_user closed = user_read(ix, a.id, NULL, false, false);
    ASSERT_EQ_INT(closed.status, IDENTITY_CLOSED);
    ASSERT_EQ_STR(closed.phone, phone); /* the phone it had, for the record */
    ASSERT_EQ_INT(closed.closed_at_ms, clock_now_ms(&ix->clock));
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(ix->ledger, a.account_id, &v), QB_OK);
    ASSERT(v.flags & LEDGER_ACCOUNT_CLOSED);
    ASSERT(ix_move(ix, ix->sys_id, a.account_id, 1) != QB_OK);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT COUNT(*) FROM sessions WHERE user_id = $1"
                               " AND revoked_at_ms = 0",
                               a.id),
                  0);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT COUNT(*) FROM login_devices WHERE user_id = $1"
                               " AND revoked_at_ms = 0",
                               a.id),
                  0);
    struct identity_session session;
    bool touch;
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &session, &touch),
                  QB_E_UNAUTHORIZED);
    struct identity_user found;
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, phone, &found), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT COUNT(*) FROM security_events WHERE user_id = $1"
                               " AND kind = 'account_closed'",
                               a.id),
                  1);

    /* For good: neither the owner nor an operator changes it again. */
    ASSERT_EQ_INT(ix_close(ix, a.id, PAY_PASSWORD, code, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_FREEZE, a.id, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_UNFREEZE, a.id, NULL), QB_E_CONFLICT);
    ASSERT_EQ_INT(ix_user(ix, a.id).status, IDENTITY_CLOSED);

    /* The phone is free; the id number verifies the new wallet. */
    struct identity_user b;
    ix_register(ix, phone, &b);
    ASSERT(strcmp(b.id, a.id) != 0);
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, phone, &found), QB_OK);
    ASSERT_EQ_STR(found.id, b.id);
    ASSERT_EQ_INT(ix_kyc(ix, b.id, "张三", ID_X, NULL), QB_OK);
    identity_user_cache_free(ix->env.users);
    ix_free(ix);
}

/* identity_close_blockers of user_id, read as GET /v1/me/closing reads it. */
static uint32_t S_close_blockers(struct ix *ix, const char *user_id)
{
    struct identity_user u = ix_user(ix, user_id);
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(ix->ledger, u.account_id, &v), QB_OK);
    uint32_t blockers = 99;
    ASSERT_EQ_INT(identity_close_blockers(&ix->env, ix->reader, &u, &v, &blockers), QB_OK);
    return blockers;
}

TEST(a_frozen_wallet_or_one_with_money_held_does_not_close)
{
    struct ix *ix = ix_new();
    struct identity_user a;
    ix_register(ix, "13800000062", &a);
    ASSERT_EQ_INT(S_close_blockers(ix, a.id), DOMAIN_CLOSE_PAYMENT_PASSWORD);
    ASSERT_EQ_INT(ix_pay_set(ix, &a, PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(S_close_blockers(ix, a.id), 0);
    char code[SMS_CODE_DIGITS + 1];
    ix_sms(ix, a.phone, SMS_PURPOSE_CLOSE_ACCOUNT, "", code);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, a.id, NULL), QB_OK);
    ASSERT_EQ_INT(S_close_blockers(ix, a.id), DOMAIN_CLOSE_FROZEN);
    ASSERT_EQ_INT(ix_close(ix, a.id, PAY_PASSWORD, code, NULL), QB_E_ACCOUNT_FROZEN);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_UNFREEZE, a.id, NULL), QB_OK);

    /* Everything of the balance held for a withdrawal: nothing available, still not empty. */
    struct raw_cmd r = {
        .kind = 4, .account_id = a.account_id, .other_id = ix->sys_id, .amount_minor = 500};
    ASSERT_EQ_INT(ix_move(ix, ix->sys_id, a.account_id, 500), QB_OK);
    ASSERT_EQ_INT(raw_exec(ix, &r), QB_OK);
    const char *blocker = NULL;
    ASSERT_EQ_INT(S_close_blockers(ix, a.id), DOMAIN_CLOSE_PENDING);
    ASSERT_EQ_INT(ix_close(ix, a.id, PAY_PASSWORD, code, &blocker), QB_E_ACCOUNT_NOT_EMPTY);
    ASSERT_EQ_STR(blocker, "pending");
    ASSERT_EQ_INT(ix_code_used(ix, a.phone, SMS_PURPOSE_CLOSE_ACCOUNT), 0);
    ix_free(ix);
}

TEST(a_phone_change_needs_the_payment_password_and_a_code_to_the_new_phone)
{
    /* Moving a wallet to a new phone is an account-takeover path: it takes
     * the payment password (counted as a payment counts it) and a code of
     * purpose change_phone sent to the new phone, which is never sent to a
     * registered one. A refusal leaves the phone and the code as they were
     * (a wrong payment password does not burn the code); the change is seen
     * at once through the writer's user cache and by phone, the old phone
     * finds nobody and its live codes are void, sessions stay. */
    struct ix *ix = ix_new();
    ASSERT_EQ_INT(identity_user_cache_new(16, &ix->env.users), QB_OK);
    const char *old_phone = "13800000051", *new_phone = "13800000053";
    struct identity_user a, b;
    ix_register(ix, old_phone, &a);
    ix_register(ix, "13800000052", &b);
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    ASSERT_EQ_INT(ix_session(ix, a.id, "phone", token, NULL), QB_OK);

    /* A registered phone gets no change_phone code: the request is a decoy. */
    struct sms_send_cmd s;
    sms_send_cmd_init(&s, &ix->env);
    snprintf(s.phone, sizeof s.phone, "%s", b.phone);
    s.purpose = SMS_PURPOSE_CHANGE_PHONE;
    ASSERT_EQ_INT(ledger_execute(ix->ledger, &s.cmd), QB_OK);
    ledger_cmd_release(&s.cmd);
    ASSERT_EQ_INT(s.outcome, QB_OK);
    ASSERT(!ix_outbox_has(ix, b.phone, SMS_PURPOSE_CHANGE_PHONE));
    ASSERT_EQ_INT(ix_code_used(ix, b.phone, SMS_PURPOSE_CHANGE_PHONE), 1);

    char code[SMS_CODE_DIGITS + 1], bad[SMS_CODE_DIGITS + 1], old_code[SMS_CODE_DIGITS + 1];
    char a_target[IDENTITY_PHONE_TARGET_SIZE_MAX], b_target[IDENTITY_PHONE_TARGET_SIZE_MAX];
    identity_phone_change_target(a.id, a_target); /* the code moves the wallet that asked */
    identity_phone_change_target(b.id, b_target);
    ix_sms(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE, a_target, code);
    wrong_code(code, bad);
    ASSERT_EQ_INT(ix_phone_change(ix, a.id, new_phone, PAY_PASSWORD, code, NULL),
                  QB_E_PASSWORD_NOT_SET);
    ASSERT_EQ_INT(ix_code_used(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE), 0);
    ASSERT_EQ_INT(ix_pay_set(ix, &a, PAY_PASSWORD), QB_OK);
    /* The cache holds the user before the change. */
    ASSERT_EQ_STR(user_read(ix, a.id, NULL, false, false).phone, old_phone);

    /* Refusals: nothing moves, the code stays live. */
    struct identity_cmd c;
    ASSERT_EQ_INT(ix_phone_change(ix, a.id, new_phone, "246813", code, &c), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(c.password_try.tries_left, 4);
    ASSERT_EQ_INT(ix_user(ix, a.id).payment_password_failures, 1);
    ASSERT_EQ_INT(ix_code_used(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE), 0);
    ASSERT_EQ_INT(ix_code_failures(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE), 0);
    ASSERT_EQ_INT(ix_phone_change(ix, a.id, new_phone, PAY_PASSWORD, bad, NULL),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(ix_code_failures(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE), 1);
    ASSERT_EQ_INT(ix_user(ix, a.id).payment_password_failures, 0); /* the right one */
    ASSERT_EQ_INT(ix_phone_change(ix, a.id, old_phone, PAY_PASSWORD, code, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(ix_phone_change(ix, a.id, "1380000005", PAY_PASSWORD, code, NULL), QB_E_PARAM);
    ASSERT_EQ_INT(ix_phone_change(ix, "u_nobody", new_phone, PAY_PASSWORD, code, NULL),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_STR(ix_user(ix, a.id).phone, old_phone);
    ASSERT_EQ_STR(user_read(ix, a.id, NULL, false, false).phone, old_phone);
    ASSERT_EQ_INT(ix_code_used(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE), 0);

    /* A code the old phone holds is void once the wallet has moved. */
    ix_sms(ix, old_phone, SMS_PURPOSE_LOGIN, "", old_code);
    ASSERT_EQ_INT(ix_code_used(ix, old_phone, SMS_PURPOSE_LOGIN), 0);
    ASSERT(ix_query_int(ix, S_OUTBOX_DUE, old_phone) > 0);

    ASSERT_EQ_INT(ix_phone_change(ix, a.id, new_phone, PAY_PASSWORD, code, &c), QB_OK);
    ASSERT_EQ_STR(c.user.phone, new_phone);
    ASSERT_EQ_STR(c.phone_before, old_phone);
    ASSERT_EQ_INT(ix_code_used(ix, new_phone, SMS_PURPOSE_CHANGE_PHONE), 1);
    ASSERT_EQ_INT(ix_code_used(ix, old_phone, SMS_PURPOSE_LOGIN), 1);
    /* Nor are the messages still in its outbox (this fixture delivers none) sent to whoever
     * has the number next: only the notice that tells the old phone where the wallet went. */
    ASSERT_EQ_INT(ix_query_int(ix, S_OUTBOX_DUE, old_phone), 1);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT purpose FROM sms_outbox WHERE phone = $1 AND"
                               " delivered_at_ms = 0 AND next_attempt_at_ms < 9223372036854775807",
                               old_phone),
                  SMS_PURPOSE_NOTICE_PHONE_CHANGED);
    ASSERT_EQ_INT(ix_query_int(ix, S_OUTBOX_DUE, new_phone), 1);
    ASSERT_EQ_STR(ix_user(ix, a.id).phone, new_phone);
    ASSERT_EQ_STR(user_read(ix, a.id, NULL, false, false).phone, new_phone);
    struct identity_user found;
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, new_phone, &found), QB_OK);
    ASSERT_EQ_STR(found.id, a.id);
    ASSERT_EQ_INT(identity_user_find_by_phone(ix->reader, old_phone, &found), QB_E_NOT_FOUND);
    struct identity_session got;
    bool touch;
    ASSERT_EQ_INT(identity_session_authenticate(&ix->env, ix->reader, token, &got, &touch), QB_OK);
    ASSERT_EQ_INT(ix_query_int(ix,
                               "SELECT COUNT(*) FROM security_events WHERE user_id = $1 AND"
                               " kind = 'phone_changed' AND detail = 'old=****0051 new=****0053'",
                               a.id),
                  1);
    /* The code is spent; the old phone is free for a change_phone code, the new one is not. */
    ASSERT_EQ_INT(ix_phone_change(ix, a.id, old_phone, PAY_PASSWORD, code, NULL),
                  QB_E_SMS_CODE_INVALID);
    ix_sms(ix, old_phone, SMS_PURPOSE_CHANGE_PHONE, b_target, code);

    /* A frozen wallet does not move, and keeps the code. */
    ASSERT_EQ_INT(ix_pay_set(ix, &b, PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_FREEZE, b.id, NULL), QB_OK);
    ASSERT_EQ_INT(ix_phone_change(ix, b.id, old_phone, PAY_PASSWORD, code, NULL),
                  QB_E_ACCOUNT_FROZEN);
    ASSERT_EQ_INT(ix_code_used(ix, old_phone, SMS_PURPOSE_CHANGE_PHONE), 0);
    ASSERT_EQ_INT(ix_user(ix, b.id).payment_password_failures, 0);

    /* Registered by someone else after the code was sent: PHONE_REGISTERED. */
    ASSERT_EQ_INT(ix_user_op(ix, IDENTITY_OP_ADMIN_UNFREEZE, b.id, NULL), QB_OK);
    struct identity_user d;
    ix_register(ix, old_phone, &d);
    ASSERT_EQ_INT(ix_phone_change(ix, b.id, old_phone, PAY_PASSWORD, code, NULL),
                  QB_E_PHONE_REGISTERED);
    ASSERT_EQ_STR(ix_user(ix, b.id).phone, "13800000052");

    identity_user_cache_free(ix->env.users);
    ix->env.users = NULL;
    ix_free(ix);
}

int main(void)
{
    if (!crypto_init())
        return 1;
    RUN(id_number_check_digit);
    RUN(id_number_birth_date);
    RUN(payment_password_weak_patterns);
    RUN(payment_password_birth_date_refused);
    RUN(login_password_rules);
    RUN(display_name_rules);
    RUN(display_name_shows_something);
    RUN(password_hash_and_verify);
    RUN(register_creates_user_and_wallet);
    RUN(register_wrong_code_is_counted);
    RUN(register_phone_taken);
    RUN(session_create_and_authenticate);
    RUN(a_password_changed_after_its_check_is_good_for_nothing);
    RUN(a_login_stores_the_password_hashed_at_the_servers_settings);
    RUN(a_new_device_needs_the_phone_as_well_as_the_password);
    RUN(sessions_long_ended_go_and_a_new_device_still_needs_the_phone);
    RUN(a_login_code_opens_a_session_without_the_password);
    RUN(a_verified_wallets_payment_password_is_reset_with_its_id_number);
    RUN(session_idle_touch_and_absolute);
    RUN(session_in_use_outlives_a_short_idle_timeout);
    RUN(sessions_made_before_last_seen_moved_keep_it);
    RUN(accounts_that_had_sessions_before_they_were_pruned_are_remembered);
    RUN(login_lock_counts_wrong_passwords_and_runs_out);
    RUN(each_login_lock_in_a_row_lasts_twice_the_one_before);
    RUN(an_operator_lifts_the_accounts_login_lock_and_its_count);
    RUN(touches_in_a_batch_move_last_seen_forward_only);
    RUN(session_revoke);
    RUN(session_cache_answers_from_memory_until_the_session_is_revoked);
    RUN(session_cache_load_reads_the_sessions_in_use_newest_first);
    RUN(user_cache_holds_committed_rows_only);
    RUN(user_cache_load_reads_the_users_of_the_sessions_in_use);
    RUN(payment_password_set_and_verify);
    RUN(payment_password_lockout_is_atomic);
    RUN(kyc_levels);
    RUN(payment_password_refuses_birth_date_after_kyc);
    RUN(freeze_blocks_debits_at_the_ledger);
    RUN(admin_freeze_cannot_be_lifted_by_the_user);
    RUN(a_phone_change_needs_the_payment_password_and_a_code_to_the_new_phone);
    RUN(security_status_follows_the_checklist);
    RUN(users_search_by_phone_prefix);
    RUN(no_secret_is_stored_in_clear);
    RUN(operator_names_are_safe_in_a_log_and_a_path);
    RUN(an_operator_token_opens_until_revoked_and_only_its_hash_is_kept);
    RUN(a_database_from_before_operators_gets_an_empty_table);
    RUN(an_operator_token_rotated_opens_and_the_old_one_does_not);
    RUN(a_wallet_closes_empty_for_good_and_frees_its_phone);
    RUN(a_frozen_wallet_or_one_with_money_held_does_not_close);
    RUN(users_from_before_closing_keep_their_phones);
    RUN(operators_from_before_rotation_keep_their_tokens_issued_at_creation);
    return test_summary();
}
