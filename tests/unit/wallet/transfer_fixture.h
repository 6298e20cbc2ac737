/*
 * transfer_fixture.h — a real ledger on a temporary database with users
 * who can pay, for the transfer and limits tests.
 *
 * The clock is manual (days and years roll over without waiting), the
 * randomness seeded (printed; replay with QB_TEST_SEED), Argon2id at
 * libsodium's minimum. Users register and set their payment password
 * through the real identity commands, with SMS codes read from the
 * development outbox. Money enters through a raw ledger command from a
 * system account — the way a top-up will, without the bank.
 *
 * Fixtures are heap-allocated and leaked when a test fails half-way (the
 * harness longjmps out while the writer thread may still read the clock).
 */
#ifndef QB_TESTS_UNIT_WALLET_TRANSFER_FIXTURE_H
#define QB_TESTS_UNIT_WALLET_TRANSFER_FIXTURE_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/money.h"
#include "identity/identity.h"
#include "sms/sms.h"
#include "test.h"
#include "wallet/cards.h"
#include "wallet/limits.h"
#include "wallet/notice.h"
#include "wallet/transfer.h"

#define WX_START_MS INT64_C(1790000000000) /* 2026-09-21 22:13:20 +08:00 */
#define WX_HOUR_MS INT64_C(3600000)
#define WX_DAY_MS (24 * WX_HOUR_MS)
#define WX_PAY_PASSWORD "135790"
#define WX_WRONG_PASSWORD "246802"

struct wx {
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
    int phone_serial;
};

/* --- raw ledger commands: a system account, flags, a posting ------------------ */

struct wx_raw {
    struct ledger_cmd cmd;
    int kind; /* 1 create the system account, 2 set flags, 3 post two legs */
    int64_t account_id;
    int64_t other_id;
    int64_t amount_minor;
    uint32_t flags;
    int code; /* 3: the entry's code and ref; 0 and NULL: 1 and "test" */
    const char *ref;
    int64_t out_id;
};

static inline enum qb_error wx_raw_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wx_raw *r = (struct wx_raw *)cmd;
    switch (r->kind) {
    case 1: {
        struct ledger_account_spec spec = {"system:test_funding", currency_find("CNY"),
                                           LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE};
        return ledger_txn_account_create(txn, &spec, &r->out_id);
    }
    case 2:
        return ledger_txn_account_set_flags(txn, r->account_id, r->flags);
    case 3: {
        struct ledger_leg legs[2] = {{r->account_id, -r->amount_minor},
                                     {r->other_id, r->amount_minor}};
        return ledger_txn_post(txn, (uint16_t)(r->code != 0 ? r->code : 1),
                               r->ref != NULL ? r->ref : "test", legs, 2, &r->out_id);
    }
    }
    return QB_E_INTERNAL;
}

static inline enum qb_error wx_raw_exec(struct wx *wx, struct wx_raw *r)
{
    ledger_cmd_init(&r->cmd, wx_raw_run, NULL);
    enum qb_error rc = ledger_execute(wx->ledger, &r->cmd);
    ledger_cmd_release(&r->cmd);
    return rc != QB_OK ? rc : r->cmd.result;
}

/* Credits amount to a wallet from the system account. */
static inline void wx_fund(struct wx *wx, int64_t account_id, int64_t amount_minor)
{
    struct wx_raw r = {
        .kind = 3, .account_id = wx->sys_id, .other_id = account_id, .amount_minor = amount_minor};
    enum qb_error rc = wx_raw_exec(wx, &r);
    if (rc != QB_OK)
        TEST_FAIL_("funding %" PRId64 ": %s", account_id, error_name(rc));
}

static inline void wx_flags_set(struct wx *wx, int64_t account_id, uint32_t flags)
{
    struct wx_raw r = {.kind = 2, .account_id = account_id, .flags = flags};
    ASSERT_EQ_INT(wx_raw_exec(wx, &r), QB_OK);
}

static inline int64_t wx_balance(struct wx *wx, int64_t account_id)
{
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(wx->ledger, account_id, &v), QB_OK);
    return v.balance_minor;
}

/* u's spending as the HTTP routes read it: the ledger's view of u's account, then the settings. */
static inline enum qb_error wx_spending(struct wx *wx, const struct identity_user *u,
                                        struct wallet_spending *out)
{
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(wx->ledger, u->account_id, &v), QB_OK);
    return wallet_spending_get(wx->reader, &v, u, out);
}

/* user_id's notices, oldest first, as "type ref amount failure_code" lines joined by "; " into out:
 * what a test compares whole. */
static inline const char *wx_notices(struct wx *wx, const char *user_id, char *out, size_t size)
{
    struct wallet_notice n[16];
    size_t count = 0;
    ASSERT_EQ_INT(wallet_notices(wx->reader, user_id, 0, n, 16, &count), QB_OK);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = count; i-- > 0 && used < size;)
        used += (size_t)snprintf(out + used, size - used, "%s%s %s %" PRId64 "%s%s",
                                 used > 0 ? "; " : "", wallet_notice_type_name(n[i].type), n[i].ref,
                                 n[i].amount_minor, n[i].failure_code[0] != '\0' ? " " : "",
                                 n[i].failure_code);
    return out;
}

/* What user_id's newest notice tells of its payment or packet: "kind id name | memo", kind 0
 * none, 1 a user, 2 a card, 3 a merchant (bills.h). */
static inline const char *wx_notice_detail(struct wx *wx, const char *user_id, char *out,
                                           size_t size)
{
    struct wallet_notice n;
    size_t count = 0;
    ASSERT_EQ_INT(wallet_notices(wx->reader, user_id, 0, &n, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    struct bills_counterparty party;
    char memo[WALLET_MEMO_SIZE_MAX];
    ASSERT_EQ_INT(wallet_notice_detail(wx->reader, &n, user_id, &party, memo, sizeof memo), QB_OK);
    int written = snprintf(out, size, "%d %s %s | %s", (int)party.kind, party.id, party.name, memo);
    ASSERT(written > 0 && (size_t)written < size);
    return out;
}

/* --- lifetime -------------------------------------------------------------------- */

static inline struct wx *wx_new(void)
{
    struct wx *wx = calloc(1, sizeof *wx);
    if (wx == NULL)
        TEST_FAIL_("out of memory");
    test_tmpdir(wx->dir, sizeof wx->dir);
    snprintf(wx->db_path, sizeof wx->db_path, "%s/qianbao.db", wx->dir);
    clock_manual_init(&wx->clock, WX_START_MS);
    rand_seeded_init(&wx->rand, test_seed());
    wx->options.clock = &wx->clock;
    wallet_ledger_options(&wx->options);
    char err[256];
    enum qb_error rc = store_open(wx->db_path, STORE_MODE_WRITE, &wx->writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    rc = ledger_open(wx->writer, &wx->options, &wx->ledger);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_open: %s", error_name(rc));
    rc = store_open(wx->db_path, STORE_MODE_READ, &wx->reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read): %s: %s", error_name(rc), err);
    struct domain_settings settings;
    domain_settings_default(&settings);
    settings.argon2_ops = crypto_pwhash_OPSLIMIT_MIN;
    settings.argon2_memory_size = crypto_pwhash_MEMLIMIT_MIN;
    uint8_t pepper[DOMAIN_KEY_SIZE], data_key[DOMAIN_KEY_SIZE];
    memset(pepper, 0x11, sizeof pepper);
    memset(data_key, 0x5a, sizeof data_key);
    domain_env_init(&wx->env, &wx->clock, &wx->rand, wx->ledger, &settings, pepper, data_key);
    struct wx_raw r = {.kind = 1};
    ASSERT_EQ_INT(wx_raw_exec(wx, &r), QB_OK);
    wx->sys_id = r.out_id;
    return wx;
}

/* Checks the whole stored ledger from scratch, then frees the fixture. */
static inline void wx_free(struct wx *wx)
{
    ledger_close(wx->ledger);
    struct ledger_verify_report report;
    enum qb_error rc = ledger_verify(wx->reader, &wx->options, 0, &report, NULL, NULL);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_verify: %s: %s", error_name(rc), report.problem);
    store_close(wx->writer);
    store_close(wx->reader);
    domain_env_release(&wx->env);
    test_rmtree(wx->dir);
    free(wx);
}

/* Runs sql on the database through a write connection of its own: an edit
 * by hand behind the daemon's back, for the checks that must find it. */
static inline void wx_hand_edit(struct wx *wx, const char *sql)
{
    struct store *s = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(wx->db_path, STORE_MODE_WRITE, &s, err, sizeof err), QB_OK);
    ASSERT_EQ_INT(store_exec(s, sql), QB_OK);
    store_close(s);
}

/* Moves the clock to at_ms (never back). */
static inline void wx_clock_to(struct wx *wx, int64_t at_ms)
{
    int64_t now_ms = clock_now_ms(&wx->clock);
    if (at_ms < now_ms)
        TEST_FAIL_("the clock cannot go back from %" PRId64 " to %" PRId64, now_ms, at_ms);
    clock_manual_advance(&wx->clock, at_ms - now_ms);
}

/* --- users ------------------------------------------------------------------------ */

static inline enum qb_error wx_identity_exec(struct wx *wx, struct identity_cmd *c)
{
    enum qb_error rc = ledger_execute(wx->ledger, &c->cmd);
    ledger_cmd_release(&c->cmd);
    if (rc != QB_OK || c->cmd.result != QB_OK)
        TEST_FAIL_("identity op %d: submit %s, ledger result %s", (int)c->op, error_name(rc),
                   error_name(c->cmd.result));
    return c->outcome;
}

/* Issues an SMS code (past the cooldown) and reads it from the outbox. */
static inline void wx_sms(struct wx *wx, const char *phone, enum sms_purpose purpose,
                   char code[SMS_CODE_DIGITS + 1])
{
    clock_manual_advance(&wx->clock, wx->env.settings.sms_cooldown_ms + 1);
    struct sms_send_cmd s;
    sms_send_cmd_init(&s, &wx->env);
    snprintf(s.phone, sizeof s.phone, "%s", phone);
    s.purpose = purpose;
    enum qb_error rc = ledger_execute(wx->ledger, &s.cmd);
    ledger_cmd_release(&s.cmd);
    if (rc != QB_OK || s.cmd.result != QB_OK || s.outcome != QB_OK)
        TEST_FAIL_("sms_send: %s %s %s", error_name(rc), error_name(s.cmd.result),
                   error_name(s.outcome));
    struct sms_outbox_item item;
    size_t count = 0;
    rc = sms_outbox_list(&wx->env, wx->reader, phone, 0, &item, 1, &count);
    if (rc != QB_OK || count != 1 || item.purpose != purpose)
        TEST_FAIL_("sms_outbox_list: %s, %zu items", error_name(rc), count);
    memcpy(code, item.code, SMS_CODE_DIGITS + 1);
}

/* Registers a user named name on a fresh phone, with WX_PAY_PASSWORD as
 * payment password when with_password. */
static inline struct identity_user wx_user(struct wx *wx, const char *name, bool with_password)
{
    char phone[SMS_PHONE_SIZE_MAX];
    wx->phone_serial = (wx->phone_serial + 1) % 10000;
    snprintf(phone, sizeof phone, "1390000%04u", (unsigned)wx->phone_serial % 10000u);
    char code[SMS_CODE_DIGITS + 1];
    wx_sms(wx, phone, SMS_PURPOSE_REGISTER, code);
    struct identity_cmd c;
    identity_cmd_init(&c, &wx->env, IDENTITY_OP_REGISTER);
    snprintf(c.phone, sizeof c.phone, "%s", phone);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    snprintf(c.display_name, sizeof c.display_name, "%s", name);
    ASSERT_EQ_INT(identity_password_hash(&wx->env, "correct horse battery", c.password_hash),
                  QB_OK);
    ASSERT_EQ_INT(wx_identity_exec(wx, &c), QB_OK);
    struct identity_user user = c.user;
    if (with_password) {
        wx_sms(wx, phone, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, code);
        identity_cmd_init(&c, &wx->env, IDENTITY_OP_PAYMENT_PASSWORD_SET);
        snprintf(c.user_id, sizeof c.user_id, "%s", user.id);
        snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
        snprintf(c.payment_password, sizeof c.payment_password, "%s", WX_PAY_PASSWORD);
        ASSERT_EQ_INT(wx_identity_exec(wx, &c), QB_OK);
    }
    return user;
}

/* An identity operation on one user (freeze, KYC level ...): its outcome. */
static inline enum qb_error wx_user_op(struct wx *wx, enum identity_op op, const char *user_id,
                                int kyc_level, struct identity_user *out)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &wx->env, op);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    c.kyc_level = kyc_level;
    enum qb_error outcome = wx_identity_exec(wx, &c);
    if (out != NULL)
        *out = c.user;
    return outcome;
}

/* Verifies the user's real name (KYC level 2), as POST /v1/me/kyc does: an
 * operator raises only a verified wallet's level. */
static inline enum qb_error wx_user_verify(struct wx *wx, const char *user_id,
                                           const char *real_name, const char *id_number)
{
    struct identity_cmd c;
    identity_cmd_init(&c, &wx->env, IDENTITY_OP_KYC_SUBMIT);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.real_name, sizeof c.real_name, "%s", real_name);
    snprintf(c.id_number, sizeof c.id_number, "%s", id_number);
    return wx_identity_exec(wx, &c);
}

static inline struct identity_user wx_user_get(struct wx *wx, const char *user_id)
{
    struct identity_user u;
    enum qb_error rc = identity_user_get(wx->reader, user_id, &u);
    if (rc != QB_OK)
        TEST_FAIL_("identity_user_get(\"%s\"): %s", user_id, error_name(rc));
    return u;
}

/* --- transfers -------------------------------------------------------------------- */

/* What one transfer command answered. */
struct wx_answer {
    enum qb_error result;  /* the ledger's */
    enum qb_error outcome; /* the command's */
    bool replayed;
    int status;            /* of the stored answer; 0 when none */
    char body[2048];
    char refused_limit[32];
    int tries_left;
    struct wallet_payment payment;
};

struct wx_transfer_args {
    const char *to;
    int64_t amount_minor;
    const char *password; /* NULL: omitted */
    const char *memo;     /* NULL: none */
    const char *key;      /* NULL: no idempotency */
    uint8_t hash_byte;    /* the request fingerprint, all this byte */
    const struct currency *currency;
};

/* The stored answer of cmd, if any, into ans's status and body. */
static inline void wx_answer_body(struct ledger_cmd *cmd, struct wx_answer *ans)
{
    const char *body;
    size_t body_size;
    if (domain_response_get(cmd, &ans->status, &body, &body_size)) {
        if (body_size >= sizeof ans->body)
            TEST_FAIL_("answer of %zu bytes", body_size);
        memcpy(ans->body, body, body_size);
        ans->body[body_size] = '\0';
    }
}

/* The transfer a describes, arriving as arrival says (NULL: the payer's
 * default). */
static inline struct wx_answer wx_transfer_run(struct wx *wx, const struct identity_user *payer,
                                               const struct wx_transfer_args *a,
                                               const enum wallet_arrival *arrival)
{
    struct wallet_transfer_cmd c;
    wallet_transfer_cmd_init(&c, &wx->env);
    char principal[64];
    snprintf(principal, sizeof principal, "user:%s", payer->id);
    if (a->key != NULL) {
        c.cmd.idem_principal = principal;
        c.cmd.idem_key = a->key;
        memset(c.cmd.request_hash, a->hash_byte, sizeof c.cmd.request_hash);
    }
    snprintf(c.payer_id, sizeof c.payer_id, "%s", payer->id);
    snprintf(c.to, sizeof c.to, "%s", a->to);
    c.amount_minor = a->amount_minor;
    c.currency = a->currency;
    snprintf(c.memo, sizeof c.memo, "%s", a->memo != NULL ? a->memo : "");
    c.has_arrival = arrival != NULL;
    c.arrival = arrival != NULL ? *arrival : WALLET_ARRIVAL_INSTANT;
    if (a->password != NULL) {
        c.has_payment_password = true;
        snprintf(c.payment_password, sizeof c.payment_password, "%s", a->password);
    }
    struct wx_answer ans;
    memset(&ans, 0, sizeof ans);
    enum qb_error rc = ledger_execute(wx->ledger, &c.cmd);
    ans.result = rc != QB_OK ? rc : c.cmd.result;
    ans.outcome = c.outcome;
    ans.replayed = c.cmd.replayed;
    ans.tries_left = c.password_try.tries_left;
    ans.payment = c.payment;
    if (c.refused_limit != NULL)
        snprintf(ans.refused_limit, sizeof ans.refused_limit, "%s", c.refused_limit);
    wx_answer_body(&c.cmd, &ans);
    ledger_cmd_release(&c.cmd);
    return ans;
}

static inline struct wx_answer wx_transfer_args(struct wx *wx, const struct identity_user *payer,
                                                const struct wx_transfer_args *a)
{
    return wx_transfer_run(wx, payer, a, NULL);
}

/* A transfer with the payment password, without idempotency. */
static inline struct wx_answer wx_transfer(struct wx *wx, const struct identity_user *payer,
                                    const char *to, int64_t amount_minor)
{
    struct wx_transfer_args a = {to, amount_minor, WX_PAY_PASSWORD, NULL, NULL, 0, NULL};
    return wx_transfer_args(wx, payer, &a);
}

/* Runs cmd, a command on one transfer, and releases it: what it answered,
 * with the outcome and payment it left in *outcome and *payment. */
static inline struct wx_answer wx_command_answer(struct wx *wx, struct ledger_cmd *cmd,
                                                 const enum qb_error *outcome,
                                                 const struct wallet_payment *payment)
{
    struct wx_answer ans;
    memset(&ans, 0, sizeof ans);
    enum qb_error rc = ledger_execute(wx->ledger, cmd);
    ans.result = rc != QB_OK ? rc : cmd->result;
    ans.outcome = *outcome;
    ans.replayed = cmd->replayed;
    ans.payment = *payment;
    wx_answer_body(cmd, &ans);
    ledger_cmd_release(cmd);
    return ans;
}

/* payee returns the transfer transfer_id (wallet_transfer_return_cmd),
 * with memo (NULL: none) and no idempotency. */
static inline struct wx_answer wx_return(struct wx *wx, const struct identity_user *payee,
                                         const char *transfer_id, const char *memo)
{
    struct wallet_transfer_return_cmd c;
    wallet_transfer_return_cmd_init(&c, &wx->env);
    snprintf(c.user_id, sizeof c.user_id, "%s", payee->id);
    snprintf(c.transfer_id, sizeof c.transfer_id, "%s", transfer_id);
    snprintf(c.memo, sizeof c.memo, "%s", memo != NULL ? memo : "");
    return wx_command_answer(wx, &c.cmd, &c.outcome, &c.payment);
}

/* A transfer with the payment password that arrives as arrival says. */
static inline struct wx_answer wx_transfer_at(struct wx *wx, const struct identity_user *payer,
                                              const char *to, int64_t amount_minor,
                                              enum wallet_arrival arrival)
{
    struct wx_transfer_args a = {to, amount_minor, WX_PAY_PASSWORD, NULL, NULL, 0, NULL};
    return wx_transfer_run(wx, payer, &a, &arrival);
}

/* user (NULL: an operator) cancels the transfer transfer_id
 * (wallet_transfer_cancel_cmd). */
static inline struct wx_answer wx_cancel(struct wx *wx, const struct identity_user *user,
                                         const char *transfer_id)
{
    struct wallet_transfer_cancel_cmd c;
    wallet_transfer_cancel_cmd_init(&c, &wx->env);
    c.by_operator = user == NULL;
    snprintf(c.user_id, sizeof c.user_id, "%s", user != NULL ? user->id : "");
    snprintf(c.transfer_id, sizeof c.transfer_id, "%s", transfer_id);
    return wx_command_answer(wx, &c.cmd, &c.outcome, &c.payment);
}

/* The worker's arrival of payment_id, at the clock's now: the payment as
 * it is then. */
static inline struct wallet_payment wx_arrive(struct wx *wx, const char *payment_id)
{
    struct wallet_transfer_arrive_cmd c;
    wallet_transfer_arrive_cmd_init(&c, &wx->env, payment_id);
    enum qb_error rc = ledger_execute(wx->ledger, &c.cmd);
    if (rc == QB_OK)
        rc = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (rc != QB_OK)
        TEST_FAIL_("arriving %s: %s", payment_id, error_name(rc));
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(wx->reader, payment_id, NULL, &p), QB_OK);
    return p;
}

/* The API code of a stored error answer ("" when it is not one). */
static inline const char *wx_code(const struct wx_answer *ans, char *buf, size_t buf_size)
{
    buf[0] = '\0';
    json_t *body = json_loads(ans->body, 0, NULL);
    const char *code = json_string_value(json_object_get(body, "code"));
    snprintf(buf, buf_size, "%s", code != NULL ? code : "");
    json_decref(body);
    return buf;
}

/* --- cards ------------------------------------------------------------------------ */

#define WX_CARD "9999000000000012"
#define WX_CARD_PHONE "13900001234"

/* A bind_card code for WX_CARD sent to WX_CARD_PHONE, asked for by user_id
 * (the wallet it binds the card in), read from the outbox. */
static inline void wx_card_code(struct wx *wx, const char *user_id, char code[SMS_CODE_DIGITS + 1])
{
    char target[WALLET_CARD_TARGET_SIZE_MAX];
    ASSERT(wallet_card_sms_target(&wx->env, user_id, WX_CARD, target));
    clock_manual_advance(&wx->clock, wx->env.settings.sms_cooldown_ms + 1);
    struct sms_send_cmd s;
    sms_send_cmd_init(&s, &wx->env);
    snprintf(s.phone, sizeof s.phone, "%s", WX_CARD_PHONE);
    s.purpose = SMS_PURPOSE_BIND_CARD;
    snprintf(s.target, sizeof s.target, "%s", target);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &s.cmd), QB_OK);
    ledger_cmd_release(&s.cmd);
    ASSERT_EQ_INT(s.cmd.result, QB_OK);
    ASSERT_EQ_INT(s.outcome, QB_OK);
    struct sms_outbox_item item;
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&wx->env, wx->reader, WX_CARD_PHONE, 0, &item, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    memcpy(code, item.code, SMS_CODE_DIGITS + 1);
}

/* The binding command of WX_CARD (its holder 张三) to user_id with code,
 * the bank having said yes: its outcome, and the card's id into card_id
 * (ID_TEXT_SIZE_MAX bytes; NULL: not wanted). */
static inline enum qb_error wx_card_bind(struct wx *wx, const char *user_id, const char *code,
                                         char *card_id)
{
    struct wallet_card_cmd c;
    wallet_card_cmd_init(&c, &wx->env, WALLET_CARD_BIND);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.card_number, sizeof c.card_number, "%s", WX_CARD);
    snprintf(c.holder_name, sizeof c.holder_name, "%s", "张三");
    snprintf(c.phone, sizeof c.phone, "%s", WX_CARD_PHONE);
    snprintf(c.sms_code, sizeof c.sms_code, "%s", code);
    c.bank_asked = true;
    c.bank_verdict = QB_OK;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    if (card_id != NULL)
        snprintf(card_id, ID_TEXT_SIZE_MAX, "%s", c.card.id);
    wallet_card_cmd_release(&c);
    return outcome;
}

/* ans is evaluated once: it may be the command's run itself. */
#define WX_EXPECT_REFUSAL(ans, err, http_status)                                                   \
    do {                                                                                           \
        char code_[64];                                                                            \
        const struct wx_answer ans_ = (ans);                                                       \
        ASSERT_EQ_INT(ans_.result, QB_OK);                                                         \
        ASSERT_EQ_INT(ans_.outcome, (err));                                                        \
        ASSERT_EQ_INT(ans_.status, (http_status));                                                 \
        ASSERT_EQ_STR(wx_code(&ans_, code_, sizeof code_), error_api_code(err));                   \
    } while (0)

#endif
