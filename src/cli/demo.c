/*
 * demo.c — `qianbao demo`: fills a fresh daemon with a small world a
 * newcomer can look around in: four users (registered, verified, with a
 * payment password, a sandbox card and a top-up), transfers between them
 * (one sent back, one to arrive the next day),
 * a lucky red packet, a group collection for a hot pot two of three have
 * paid, and a merchant with paid, closed and refunded orders.
 *
 * It goes through the public HTTP API only, as any client would, acting
 * as each user in turn with the session it opened for them, and as the
 * merchant with the keys onboarding answered (signed /v3 calls). The
 * operator's token reads the SMS codes from the development outbox, so the
 * demo refuses a daemon with a real SMS provider (the outbox holds no
 * codes). Each user and the merchant get a profile (demo-zhangwei, ...,
 * demo-merchant) to explore with afterwards.
 *
 * Phones are "170", seven random digits and the user's number (1..4),
 * chosen so that no user's phone starts with the ten-digit base yet: the
 * demo may run again on the same daemon and makes a second world. Names
 * and amounts are fixed; every money move carries an Idempotency-Key made
 * from the base, and orders and refunds carry numbers made from the mchid.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "cli/cli_int.h"

#define S_USER_COUNT 4
#define S_CURRENCY "CNY"
#define S_PASSWORD "qianbao-demo-2026"
#define S_PAYMENT_PASSWORD "258036"
#define S_CARD "9999000000000012"
#define S_CARD_MASKED "999900******0012"
#define S_NOTIFY_URL "https://merchant.example/qianbao/notify"
#define S_MERCHANT_NAME "张记面馆"
#define S_MERCHANT_PROFILE "demo-merchant"
#define S_BASE_TRIES 5

struct S_user {
    const char *name;
    const char *slug;
    const char *id14; /* region and birth date of a made-up identity number */
    int64_t topup;
    char phone[24];
    char profile[32];
    char id[64];
    char token[CLI_TOKEN_SIZE_MAX];
};

static struct S_user S_users[S_USER_COUNT] = {
    {"张伟", "zhangwei", "11010519880315", 100000, "", "", "", ""},
    {"李娜", "lina", "31011519920708", 80000, "", "", "", ""},
    {"王芳", "wangfang", "44030519950221", 50000, "", "", "", ""},
    {"刘洋", "liuyang", "51010719901112", 30000, "", "", "", ""},
};

struct S_transfer {
    int from, to;
    int64_t amount;
    const char *memo;
    const char *returned; /* the payee sends it back with this memo; NULL: kept */
    const char *arrival;  /* "24h": held for a day, cancellable (延时到账); NULL: at once */
};

static const struct S_transfer S_transfers[] = {
    {0, 1, 8800, "午饭AA", NULL, NULL},
    {1, 2, 6666, "电影票", NULL, NULL},
    {2, 3, 12000, "生日快乐", NULL, NULL},
    {3, 0, 2550, "奶茶", NULL, NULL},
    {1, 3, 20000, "还你的钱", "转错人了吧", NULL},
    {2, 0, 10000, "装修定金", NULL, "24h"},
};

struct S_order {
    const char *description;
    int64_t total;
    int payer; /* a user index, or -1: closed unpaid */
};

static const struct S_order S_orders[] = {
    {"红烧牛肉面", 2800, 1},
    {"小笼包两笼", 1800, 2},
    {"酸辣粉", 1500, 3},
    {"水饺半斤", 3200, -1},
};
#define S_REFUND_ORDER 0
#define S_REFUND_AMOUNT 800
#define S_PAYOUT_USER 1 /* the merchant rewards 李娜, who takes it when she likes */
#define S_PAYOUT_AMOUNT 666
#define S_PACKET_TOTAL 10000
#define S_PACKET_COUNT 3
#define S_COLLECTION_ASKER 2 /* 王芳 paid the hot pot and asks the other three for a share */
#define S_COLLECTION_AMOUNT 8800
#define S_COLLECTION_PAYERS 2 /* 张伟 and 李娜 pay; 刘洋's share waits for him */

struct S_run {
    struct cli *cli;
    char base[16]; /* "170" and seven digits */
    char mchid[16];
    char packet_id[64];
    char payout_id[64];
    char collection_id[64];
    /* Where the admin calls go: the server the operator's profile is for,
     * which is the admin listener of a daemon started with --admin-listen
     * (there alone /admin is served); the wallet's server otherwise. */
    char admin_server[CLI_URL_SIZE_MAX];
    int transfers, transfers_returned, orders_paid, orders_closed, refunds, payouts;
};

/* A progress line (not with --json). */
static void S_say(const struct S_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void S_say(const struct S_run *run, const char *fmt, ...)
{
    if (run->cli->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* The 18-character identity number: id14, a sequence code and the GB
 * 11643-1999 check. The sequence code comes from the phone base (never
 * 999, which the sandbox refuses), so that running the demo again does not
 * soon reach the three wallets one number may verify. */
static void S_id_number(const char *id14, const char *base, char out[19])
{
    unsigned long n = strtoul(base + 3, NULL, 10) % 999UL;
    char id17[18];
    snprintf(id17, sizeof id17, "%.14s%03lu", id14, n);
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char checks[] = "10X98765432";
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (id17[i] - '0') * weights[i];
    memcpy(out, id17, 17);
    out[17] = checks[sum % 11];
    out[18] = '\0';
}

static int S_as(struct S_run *run, const struct S_user *user, const char *method, const char *path,
                const json_t *body, struct cli_response *res);

/* Picks run->admin_server: the server of the profile the admin token comes
 * from (--profile, else "admin"), or the wallet's when the token is
 * QIANBAO_ADMIN_TOKEN's or there is no such profile (the first admin call
 * then says what is missing). */
static void S_admin_server_pick(struct S_run *run)
{
    struct cli *cli = run->cli;
    snprintf(run->admin_server, sizeof run->admin_server, "%s", cli->server);
    if (cli_token_from_env(cli, CLI_AUTH_ADMIN))
        return;
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    if (cli_profile_load(cli->profile_explicit ? cli->profile : CLI_ADMIN_PROFILE, profile) ==
            QB_OK &&
        profile->kind == CLI_PROFILE_ADMIN)
        snprintf(run->admin_server, sizeof run->admin_server, "%s", profile->server);
    cli_secret_wipe(profile->token, sizeof profile->token);
    free(profile);
}

/* An admin call with the operator's token, sent to run->admin_server; res
 * released by the caller. The token goes only to the server its profile
 * was stored for, as with every admin command. */
static int S_admin(struct S_run *run, const char *method, const char *path, const json_t *body,
                   struct cli_response *res)
{
    struct cli *cli = run->cli;
    char wallet_server[CLI_URL_SIZE_MAX];
    snprintf(wallet_server, sizeof wallet_server, "%s", cli->server);
    snprintf(cli->server, sizeof cli->server, "%s", run->admin_server);
    int rc = cli_call(cli, method, path, CLI_AUTH_ADMIN, body, res);
    snprintf(cli->server, sizeof cli->server, "%s", wallet_server);
    return rc;
}

/* The newest code of purpose for phone in the outbox, asked for as user
 * (NULL: nobody; a bind_card code is its wallet's); an exit code (refusing
 * when the daemon sends codes through a provider). */
static int S_sms_code(struct S_run *run, const struct S_user *user, const char *phone,
                      const char *purpose, const char *target, char code[8])
{
    json_t *body = target != NULL
                       ? json_pack("{s:s, s:s, s:s}", "phone", phone, "purpose", purpose, "target",
                                   target)
                       : json_pack("{s:s, s:s}", "phone", phone, "purpose", purpose);
    QB_ASSERT(body != NULL);
    struct cli_response res;
    int rc = user != NULL ? S_as(run, user, "POST", "/v1/sms-codes", body, &res)
                          : cli_call(run->cli, "POST", "/v1/sms-codes", CLI_AUTH_NONE, body, &res);
    json_decref(body);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    char path[96];
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s&limit=10", phone);
    rc = S_admin(run, "GET", path, NULL, &res);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    code[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(res.json, "items"), i, item) {
        if (strcmp(cli_json_str(item, "purpose"), purpose) == 0) {
            snprintf(code, 8, "%s", cli_json_str(item, "code"));
            break;
        }
    }
    if (res.body.data != NULL)
        cli_secret_wipe((char *)res.body.data, res.body.size);
    cli_response_release(&res);
    if (strlen(code) != 6 && strcmp(run->admin_server, run->cli->server) != 0)
        return cli_fail(run->cli, CLI_EXIT_REFUSED, "SMS_PROVIDER",
                        "demo: the SMS outbox at %s holds no code for %s: is it the admin "
                        "listener of the daemon at %s, and a development daemon (no "
                        "--sms-provider-url)?",
                        run->admin_server, phone, run->cli->server);
    if (strlen(code) != 6)
        return cli_fail(run->cli, CLI_EXIT_REFUSED, "SMS_PROVIDER",
                        "demo: the development SMS outbox holds no code for %s: the daemon sends "
                        "codes through an SMS provider, and the demo runs only on a development "
                        "daemon (no --sms-provider-url)",
                        phone);
    return CLI_EXIT_OK;
}

/* Refuses a daemon whose outbox shows a code's message delivered through
 * an SMS provider (its code is not kept; a notice has none): the demo's phones are made up, and a
 * provider would text them. A provider that has delivered nothing yet
 * cannot be told apart from here; S_sms_code refuses once a code is
 * missing. */
static int S_outbox_check(struct S_run *run)
{
    struct cli_response res;
    int rc = S_admin(run, "GET", "/admin/sms-outbox?limit=100", NULL, &res);
    bool provider = false;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(res.json, "items"), i, item) {
        if (cli_json_str(item, "code")[0] == '\0' && !cli_sms_is_notice(item))
            provider = true;
    }
    if (res.body.data != NULL)
        cli_secret_wipe((char *)res.body.data, res.body.size);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (provider)
        return cli_fail(run->cli, CLI_EXIT_REFUSED, "SMS_PROVIDER",
                        "demo: this daemon sends SMS codes through a provider (its outbox keeps "
                        "no codes): the demo runs only on a development daemon (no "
                        "--sms-provider-url), so that its made-up phones get no texts");
    return CLI_EXIT_OK;
}

/* A base no user's phone starts with yet. */
static int S_base_pick(struct S_run *run)
{
    for (int attempt = 0; attempt < S_BASE_TRIES; attempt++) {
        unsigned char raw[4];
        QB_ASSERT(RAND_bytes(raw, sizeof raw) == 1);
        unsigned long n = ((unsigned long)raw[0] << 24 | (unsigned long)raw[1] << 16 |
                           (unsigned long)raw[2] << 8 | raw[3]) %
                          10000000UL;
        snprintf(run->base, sizeof run->base, "170%07lu", n);
        char path[96];
        snprintf(path, sizeof path, "/admin/users?phone=%s&limit=1", run->base);
        struct cli_response res;
        int rc = S_admin(run, "GET", path, NULL, &res);
        bool free_base = rc == CLI_EXIT_OK &&
                         json_array_size(json_object_get(res.json, "items")) == 0;
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            return rc;
        if (free_base)
            return CLI_EXIT_OK;
    }
    return cli_fail(run->cli, CLI_EXIT_REFUSED, "CONFLICT",
                    "demo: no free block of phone numbers found after %d tries", S_BASE_TRIES);
}

/* A user call with the user's token; res released by the caller. */
static int S_as(struct S_run *run, const struct S_user *user, const char *method,
                const char *path, const json_t *body, struct cli_response *res)
{
    return cli_call_token(run->cli, method, path, CLI_AUTH_USER, user->token, body, res);
}

/* A money move of user with an Idempotency-Key made from the base. */
static int S_move(struct S_run *run, const struct S_user *user, const char *path,
                  const char *what, int n, const json_t *body, struct cli_response *res)
{
    char key[96];
    snprintf(key, sizeof key, "demo-%s-%s-%d", run->base, what, n);
    return cli_call_token_idem(run->cli, path, user->token, key, body, res);
}

/* A call that answers nothing we keep. */
static int S_simple(struct S_run *run, const struct S_user *user, const char *method,
                    const char *path, json_t *body)
{
    struct cli_response res;
    int rc = S_as(run, user, method, path, body, &res);
    json_decref(body);
    cli_response_release(&res);
    return rc;
}

static int S_user_make(struct S_run *run, int n)
{
    struct S_user *u = &S_users[n];
    struct cli *cli = run->cli;
    QB_ASSERT(n >= 0 && n < 9);
    snprintf(u->phone, sizeof u->phone, "%s%c", run->base, (char)('1' + n));
    snprintf(u->profile, sizeof u->profile, "demo-%s", u->slug);
    char code[8];
    int rc = S_sms_code(run, NULL, u->phone, "register", NULL, code);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "phone", u->phone, "sms_code", code,
                             "password", S_PASSWORD, "display_name", u->name);
    QB_ASSERT(body != NULL);
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/users", CLI_AUTH_NONE, body, &res);
    json_decref(body);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    body = json_pack("{s:s, s:s, s:s}", "phone", u->phone, "password", S_PASSWORD, "device_name",
                     "qianbao demo");
    QB_ASSERT(body != NULL);
    rc = cli_call(cli, "POST", "/v1/sessions", CLI_AUTH_NONE, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        snprintf(u->token, sizeof u->token, "%s", cli_json_str(res.json, "token"));
        snprintf(u->id, sizeof u->id, "%s", cli_json_str(res.json, "user_id"));
        struct cli_profile profile;
        memset(&profile, 0, sizeof profile);
        profile.kind = CLI_PROFILE_USER;
        snprintf(profile.server, sizeof profile.server, "%s", cli->server);
        snprintf(profile.token, sizeof profile.token, "%s", u->token);
        snprintf(profile.user_id, sizeof profile.user_id, "%s", u->id);
        snprintf(profile.phone, sizeof profile.phone, "%s", u->phone);
        snprintf(profile.expires_at, sizeof profile.expires_at, "%s",
                 cli_json_str(res.json, "expires_at"));
        cli_secret_wipe((char *)res.body.data, res.body.size);
        if (cli_profile_save(u->profile, &profile) != QB_OK)
            rc = cli_fail(cli, CLI_EXIT_USAGE, "PROFILE_UNWRITABLE",
                          "demo: cannot write the profile \"%s\" under $XDG_CONFIG_HOME/qianbao/",
                          u->profile);
        cli_secret_wipe(profile.token, sizeof profile.token);
    }
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;

    char id_number[19];
    S_id_number(u->id14, run->base, id_number);
    rc = S_simple(run, u, "POST", "/v1/me/kyc",
                  json_pack("{s:s, s:s}", "real_name", u->name, "id_number", id_number));
    if (rc != CLI_EXIT_OK)
        return rc;
    /* The merchant's owner gets level 3 from the operator: a higher yearly limit. */
    int level = n == 0 ? 3 : 2;
    if (level == 3) {
        char escaped[64], path[128];
        if (!cli_path_escape(u->id, escaped, sizeof escaped))
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                            "demo: the server answered a session without a usable user id");
        snprintf(path, sizeof path, "/admin/users/%s/kyc-level", escaped);
        body = json_pack("{s:i}", "kyc_level", level);
        QB_ASSERT(body != NULL);
        rc = S_admin(run, "PUT", path, body, &res);
        json_decref(body);
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    if ((rc = S_sms_code(run, NULL, u->phone, "reset_payment_password", NULL, code)) != CLI_EXIT_OK)
        return rc;
    rc = S_simple(run, u, "PUT", "/v1/me/payment-password",
                  json_pack("{s:s, s:s}", "payment_password", S_PAYMENT_PASSWORD, "sms_code",
                            code));
    if (rc != CLI_EXIT_OK)
        return rc;
    if ((rc = S_sms_code(run, u, u->phone, "bind_card", S_CARD, code)) != CLI_EXIT_OK)
        return rc;
    body = json_pack("{s:s, s:s, s:s, s:s}", "card_number", S_CARD, "holder_name", u->name,
                     "phone", u->phone, "sms_code", code);
    QB_ASSERT(body != NULL);
    rc = S_as(run, u, "POST", "/v1/me/cards", body, &res);
    json_decref(body);
    char card_id[64];
    snprintf(card_id, sizeof card_id, "%s", rc == CLI_EXIT_OK ? cli_json_str(res.json, "id") : "");
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    body = json_pack("{s:s, s:I, s:s, s:s}", "card_id", card_id, "amount", (json_int_t)u->topup,
                     "currency", S_CURRENCY, "payment_password", S_PAYMENT_PASSWORD);
    QB_ASSERT(body != NULL);
    rc = S_move(run, u, "/v1/me/topups", "topup", n + 1, body, &res);
    json_decref(body);
    char status[32];
    snprintf(status, sizeof status, "%s", cli_json_str(res.json, "status"));
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    char amount[64];
    cli_money_amount_text(u->topup, S_CURRENCY, amount, sizeof amount);
    S_say(run, "  %s  %s  KYC level %d, card %s bound, topped up %s (%s)  profile %s", u->name,
          u->phone, level, S_CARD_MASKED, amount, status, u->profile);
    return CLI_EXIT_OK;
}

static int S_transfers_make(struct S_run *run)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_transfers); i++) {
        const struct S_transfer *t = &S_transfers[i];
        json_t *body = json_pack("{s:s, s:I, s:s, s:s, s:s}", "to", S_users[t->to].phone,
                                 "amount", (json_int_t)t->amount, "currency", S_CURRENCY, "memo",
                                 t->memo, "payment_password", S_PAYMENT_PASSWORD);
        QB_ASSERT(body != NULL);
        if (t->arrival != NULL)
            QB_ASSERT(json_object_set_new(body, "arrival", json_string(t->arrival)) == 0);
        struct cli_response res;
        int rc = S_move(run, &S_users[t->from], "/v1/transfers", "transfer", (int)i + 1, body,
                        &res);
        json_decref(body);
        char path[128];
        snprintf(path, sizeof path, "/v1/transfers/%s/return", cli_json_str(res.json, "id"));
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            return rc;
        run->transfers++;
        char amount[64];
        cli_money_amount_text(t->amount, S_CURRENCY, amount, sizeof amount);
        if (t->arrival != NULL)
            S_say(run, "  %s -> %s  %s  \"%s\"  arrives in %s unless %s cancels it",
                  S_users[t->from].name, S_users[t->to].name, amount, t->memo, t->arrival,
                  S_users[t->from].name);
        else
            S_say(run, "  %s -> %s  %s  \"%s\"", S_users[t->from].name, S_users[t->to].name, amount,
                  t->memo);
        if (t->returned == NULL)
            continue;
        /* The payee did not expect it: back to the payer, whole. */
        body = json_pack("{s:s}", "memo", t->returned);
        QB_ASSERT(body != NULL);
        rc = S_move(run, &S_users[t->to], path, "return", (int)i + 1, body, &res);
        json_decref(body);
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            return rc;
        run->transfers_returned++;
        S_say(run, "  %s sent it back to %s  \"%s\"", S_users[t->to].name, S_users[t->from].name,
              t->returned);
    }
    return CLI_EXIT_OK;
}

static int S_packet_make(struct S_run *run)
{
    json_t *body = json_pack("{s:s, s:I, s:i, s:s, s:s, s:s}", "type", "lucky", "total_amount",
                             (json_int_t)S_PACKET_TOTAL, "count", S_PACKET_COUNT, "currency",
                             S_CURRENCY, "greeting", "周末快乐，大吉大利", "payment_password",
                             S_PAYMENT_PASSWORD);
    QB_ASSERT(body != NULL);
    struct cli_response res;
    int rc = S_move(run, &S_users[0], "/v1/red-packets", "redpacket", 1, body, &res);
    json_decref(body);
    snprintf(run->packet_id, sizeof run->packet_id, "%s",
             rc == CLI_EXIT_OK ? cli_json_str(res.json, "id") : "");
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    char amount[64];
    cli_money_amount_text(S_PACKET_TOTAL, S_CURRENCY, amount, sizeof amount);
    S_say(run, "  %s sent a lucky red packet of %s in %d shares: %s", S_users[0].name, amount,
          S_PACKET_COUNT, run->packet_id);
    char path[128];
    if (!cli_path_escape(run->packet_id, path, sizeof path))
        return cli_fail(run->cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                        "demo: the server answered a red packet without a usable id");
    char claims[192];
    snprintf(claims, sizeof claims, "/v1/red-packets/%s/claims", path);
    for (int n = 1; n <= S_PACKET_COUNT; n++) {
        rc = S_simple(run, &S_users[n], "POST", claims, NULL);
        if (rc != CLI_EXIT_OK)
            return rc;
        S_say(run, "  %s grabbed a share", S_users[n].name);
    }
    return CLI_EXIT_OK;
}

/* 王芳 asks the three others for a share of the hot pot (群收款); two pay. */
static int S_collection_make(struct S_run *run)
{
    const struct S_user *asker = &S_users[S_COLLECTION_ASKER];
    json_t *body = json_pack("{s:s, s:I, s:i, s:s}", "title", "周五火锅 AA", "amount",
                             (json_int_t)S_COLLECTION_AMOUNT, "count", S_USER_COUNT - 1, "currency",
                             S_CURRENCY);
    QB_ASSERT(body != NULL);
    struct cli_response res;
    int rc = S_as(run, asker, "POST", "/v1/collections", body, &res);
    json_decref(body);
    snprintf(run->collection_id, sizeof run->collection_id, "%s",
             rc == CLI_EXIT_OK ? cli_json_str(res.json, "id") : "");
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    char amount[64], path[128], payments[192];
    cli_money_amount_text(S_COLLECTION_AMOUNT, S_CURRENCY, amount, sizeof amount);
    S_say(run, "  %s asked the other three for %s each for the hot pot: %s", asker->name, amount,
          run->collection_id);
    if (!cli_path_escape(run->collection_id, path, sizeof path))
        return cli_fail(run->cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                        "demo: the server answered a collection without a usable id");
    snprintf(payments, sizeof payments, "/v1/collections/%s/payments", path);
    for (int n = 0, paid = 0; n < S_USER_COUNT && paid < S_COLLECTION_PAYERS; n++) {
        if (n == S_COLLECTION_ASKER)
            continue;
        body = json_pack("{s:s}", "payment_password", S_PAYMENT_PASSWORD);
        QB_ASSERT(body != NULL);
        rc = S_move(run, &S_users[n], payments, "collection", n, body, &res);
        json_decref(body);
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            return rc;
        S_say(run, "  %s paid their share", S_users[n].name);
        paid++;
    }
    return CLI_EXIT_OK;
}

/* Onboards the merchant for user 0 into the profile demo-merchant. */
static int S_merchant_make(struct S_run *run)
{
    json_t *body = json_pack("{s:s}", "name", S_MERCHANT_NAME);
    QB_ASSERT(body != NULL);
    struct cli_response res;
    int rc = S_as(run, &S_users[0], "POST", "/v1/merchants", body, &res);
    json_decref(body);
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    if (rc == CLI_EXIT_OK) {
        profile->kind = CLI_PROFILE_MERCHANT;
        snprintf(profile->server, sizeof profile->server, "%s", run->cli->server);
        snprintf(profile->mchid, sizeof profile->mchid, "%s", cli_json_str(res.json, "mchid"));
        snprintf(profile->appid, sizeof profile->appid, "%s", cli_json_str(res.json, "appid"));
        snprintf(profile->serial_no, sizeof profile->serial_no, "%s",
                 cli_json_str(res.json, "serial_no"));
        snprintf(profile->apiv3_key, sizeof profile->apiv3_key, "%s",
                 cli_json_str(res.json, "apiv3_key"));
        snprintf(profile->platform_serial_no, sizeof profile->platform_serial_no, "%s",
                 cli_json_str(res.json, "platform_serial_no"));
        snprintf(run->mchid, sizeof run->mchid, "%s", profile->mchid);
        if (!cli_pem_body(cli_json_str(res.json, "private_key_pem"), profile->private_key,
                          sizeof profile->private_key) ||
            !cli_pem_body(cli_json_str(res.json, "platform_public_key_pem"),
                          profile->platform_public_key, sizeof profile->platform_public_key))
            rc = cli_fail(run->cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                          "demo: the server's answer to onboarding holds no usable keys");
        else if (cli_profile_save(S_MERCHANT_PROFILE, profile) != QB_OK)
            rc = cli_fail(run->cli, CLI_EXIT_USAGE, "PROFILE_UNWRITABLE",
                          "demo: cannot write the profile \"%s\"", S_MERCHANT_PROFILE);
    }
    cli_secret_wipe(profile->private_key, sizeof profile->private_key);
    cli_secret_wipe(profile->apiv3_key, sizeof profile->apiv3_key);
    char appid[32];
    snprintf(appid, sizeof appid, "%s", profile->appid);
    free(profile);
    if (res.body.data != NULL)
        cli_secret_wipe((char *)res.body.data, res.body.size);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    S_say(run, "  %s onboarded %s: mchid %s  profile %s", S_users[0].name, S_MERCHANT_NAME,
          run->mchid, S_MERCHANT_PROFILE);

    /* The /v3 calls sign with the merchant profile, as --profile names it. */
    struct cli *cli = run->cli;
    char saved_profile[CLI_PROFILE_NAME_SIZE_MAX];
    snprintf(saved_profile, sizeof saved_profile, "%s", cli->profile);
    bool saved_explicit = cli->profile_explicit;
    snprintf(cli->profile, sizeof cli->profile, "%s", S_MERCHANT_PROFILE);
    cli->profile_explicit = true;

    for (size_t i = 0; i < QB_ARRAY_COUNT(S_orders) && rc == CLI_EXIT_OK; i++) {
        const struct S_order *o = &S_orders[i];
        char out_trade_no[64], amount[64];
        snprintf(out_trade_no, sizeof out_trade_no, "demo%s-%zu", run->mchid, i + 1);
        cli_money_amount_text(o->total, S_CURRENCY, amount, sizeof amount);
        body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:I, s:s}}", "appid", appid, "mchid",
                         run->mchid, "description", o->description, "out_trade_no",
                         out_trade_no, "notify_url", S_NOTIFY_URL, "amount", "total",
                         (json_int_t)o->total, "currency", S_CURRENCY);
        QB_ASSERT(body != NULL);
        rc = cli_call_merchant(cli, "POST", "/v3/pay/transactions/native", body, &res);
        json_decref(body);
        char code_url[256];
        snprintf(code_url, sizeof code_url, "%s", cli_json_str(res.json, "code_url"));
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            break;
        if (o->payer < 0) {
            char path[128];
            snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/close",
                     out_trade_no);
            body = json_pack("{s:s}", "mchid", run->mchid);
            QB_ASSERT(body != NULL);
            rc = cli_call_merchant(cli, "POST", path, body, &res);
            json_decref(body);
            cli_response_release(&res);
            if (rc != CLI_EXIT_OK)
                break;
            run->orders_closed++;
            S_say(run, "  order %s  %s  %s: closed unpaid", out_trade_no, o->description, amount);
            continue;
        }
        body = json_pack("{s:s, s:s}", "code_url", code_url, "payment_password",
                         S_PAYMENT_PASSWORD);
        QB_ASSERT(body != NULL);
        rc = S_move(run, &S_users[o->payer], "/v1/me/order-payments", "order", (int)i + 1, body,
                    &res);
        json_decref(body);
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK)
            break;
        run->orders_paid++;
        S_say(run, "  order %s  %s  %s: paid by %s", out_trade_no, o->description, amount,
              S_users[o->payer].name);
    }
    if (rc == CLI_EXIT_OK) {
        const struct S_order *o = &S_orders[S_REFUND_ORDER];
        char out_trade_no[64], out_refund_no[64], amount[64];
        snprintf(out_trade_no, sizeof out_trade_no, "demo%s-%d", run->mchid, S_REFUND_ORDER + 1);
        snprintf(out_refund_no, sizeof out_refund_no, "demo%s-r1", run->mchid);
        body = json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:s}}", "out_trade_no", out_trade_no,
                         "out_refund_no", out_refund_no, "reason", "少放了牛肉，退部分款",
                         "amount", "refund", (json_int_t)S_REFUND_AMOUNT, "total",
                         (json_int_t)o->total, "currency", S_CURRENCY);
        QB_ASSERT(body != NULL);
        rc = cli_call_merchant(cli, "POST", "/v3/refund/domestic/refunds", body, &res);
        json_decref(body);
        cli_response_release(&res);
        if (rc == CLI_EXIT_OK) {
            run->refunds++;
            cli_money_amount_text(S_REFUND_AMOUNT, S_CURRENCY, amount, sizeof amount);
            S_say(run, "  refund %s  %s of order %s back to %s", out_refund_no, amount,
                  out_trade_no, S_users[o->payer].name);
        }
    }
    if (rc == CLI_EXIT_OK) {
        /* A reward to a regular (商家转账): held until she takes it. */
        const struct S_user *u = &S_users[S_PAYOUT_USER];
        char path[64], openid[64], out_bill_no[64], amount[64];
        snprintf(path, sizeof path, "/v1/me/openids/%s", appid);
        rc = S_as(run, u, "GET", path, NULL, &res);
        snprintf(openid, sizeof openid, "%s", cli_json_str(res.json, "openid"));
        cli_response_release(&res);
        snprintf(out_bill_no, sizeof out_bill_no, "demo%sreward1", run->mchid);
        body = rc == CLI_EXIT_OK
                   ? json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "appid", appid, "out_bill_no",
                               out_bill_no, "transfer_scene_id", "1000", "openid", openid,
                               "transfer_amount", (json_int_t)S_PAYOUT_AMOUNT, "transfer_remark",
                               "老顾客回馈", "user_recv_perception", "现金奖励")
                   : NULL;
        if (body != NULL) {
            rc = cli_call_merchant(cli, "POST", "/v3/fund-app/mch-transfer/transfer-bills", body,
                                   &res);
            json_decref(body);
            snprintf(run->payout_id, sizeof run->payout_id, "%s",
                     cli_json_str(res.json, "transfer_bill_no"));
            cli_response_release(&res);
        }
        if (rc == CLI_EXIT_OK) {
            run->payouts++;
            cli_money_amount_text(S_PAYOUT_AMOUNT, S_CURRENCY, amount, sizeof amount);
            S_say(run, "  transfer %s  %s to %s, waiting for her to take it", out_bill_no, amount,
                  u->name);
        }
    }
    snprintf(cli->profile, sizeof cli->profile, "%s", saved_profile);
    cli->profile_explicit = saved_explicit;
    return rc;
}

static void S_summary(const struct S_run *run)
{
    if (run->cli->json) {
        json_t *users = json_array();
        QB_ASSERT(users != NULL);
        for (int n = 0; n < S_USER_COUNT; n++)
            json_array_append_new(users, json_pack("{s:s, s:s, s:s, s:s}", "name",
                                                   S_users[n].name, "id", S_users[n].id, "phone",
                                                   S_users[n].phone, "profile",
                                                   S_users[n].profile));
        cli_print_json(json_pack(
            "{s:o, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
            "s:i, s:i, s:i}}",
            "users", users, "merchant", "mchid", run->mchid, "name", S_MERCHANT_NAME, "owner",
            S_users[0].profile, "profile", S_MERCHANT_PROFILE, "red_packet", run->packet_id,
            "collection", run->collection_id, "payout", run->payout_id, "counts", "users",
            S_USER_COUNT, "topups", S_USER_COUNT, "transfers", run->transfers, "transfers_returned",
            run->transfers_returned, "red_packet_claims", S_PACKET_COUNT, "collection_payments",
            S_COLLECTION_PAYERS, "orders_paid", run->orders_paid, "orders_closed",
            run->orders_closed, "refunds", run->refunds, "payouts", run->payouts));
        return;
    }
    /* Today in Beijing, for the statement and the analytics. */
    time_t now = (time_t)(cli_now_ms() / 1000) + 8 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    char month[16], today[16];
    strftime(month, sizeof month, "%Y-%m", &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    char lines[15][2][CLI_URL_SIZE_MAX + 160];
    size_t count = 0;
#define S_TRY(note, ...)                                                                           \
    do {                                                                                           \
        QB_ASSERT(count < QB_ARRAY_COUNT(lines));                                                  \
        snprintf(lines[count][0], sizeof lines[count][0], __VA_ARGS__);                            \
        snprintf(lines[count][1], sizeof lines[count][1], "%s", note);                             \
        count++;                                                                                   \
    } while (0)
    S_TRY("张伟's payments in and out", "qianbao --profile demo-zhangwei bills");
    S_TRY("李娜's balance, and the reward waiting for her", "qianbao --profile demo-lina balance");
    S_TRY("take the reward", "qianbao --profile demo-lina accept-payout %s", run->payout_id);
    S_TRY("what 李娜 was told: a refund, money sent back", "qianbao --profile demo-lina notices");
    S_TRY("王芳's month", "qianbao --profile demo-wangfang statement %s", month);
    S_TRY("who grabbed what", "qianbao --profile demo-lina redpacket show %s", run->packet_id);
    S_TRY("check the lucky split", "qianbao --profile demo-lina redpacket verify %s",
          run->packet_id);
    S_TRY("the hot pot's code, for the table to scan",
          "qianbao --profile demo-wangfang collection code %s", run->collection_id);
    S_TRY("pay 刘洋's share of the hot pot", "qianbao --profile demo-liuyang collection pay %s",
          run->collection_id);
    S_TRY("pay 张伟 5.00 back", "qianbao --profile demo-liuyang send %s 5", S_users[0].phone);
    S_TRY("the refunded order", "qianbao --profile demo-merchant order show demo%s-1",
          run->mchid);
    S_TRY("the shop's payments, as its owner's phone lists them",
          "qianbao --profile demo-zhangwei merchant payments");
    S_TRY("the merchant's day",
          "qianbao --profile demo-zhangwei merchant analytics --from %s --to %s", today, today);
    /* The operator's commands go where the operator logged in: the admin
     * listener of a daemon that has one. */
    char admin_option[CLI_URL_SIZE_MAX + 16] = "";
    if (strcmp(run->admin_server, run->cli->server) != 0)
        snprintf(admin_option, sizeof admin_option, " --server %s", run->admin_server);
    S_TRY("every user, as the operator", "qianbao%s admin users", admin_option);
    S_TRY("check the whole ledger", "qianbao%s admin verify", admin_option);
#undef S_TRY
    /* Notes line up after the shorter commands; a longer one just gets two spaces. */
    size_t width = 0;
    for (size_t i = 0; i < count; i++) {
        size_t size = strlen(lines[i][0]);
        width = size > width && size <= 56 ? size : width;
    }
    printf("\nThe demo world is ready. Every demo user's login password is %s and payment "
           "password %s.\n",
           S_PASSWORD, S_PAYMENT_PASSWORD);
    /* The profiles are this server's: without --server the commands below
     * would go to the default one, and be refused there. */
    if (run->cli->server_explicit)
        printf("Its profiles are for %s: `export QIANBAO_SERVER=%s` first, or give each "
               "command below --server %s.\n",
               run->cli->server, run->cli->server, run->cli->server);
    printf("\nWhat to try next:\n");
    for (size_t i = 0; i < count; i++)
        printf("  %-*s  # %s\n", (int)width, lines[i][0], lines[i][1]);
}

int cli_run_demo(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct S_run run;
    memset(&run, 0, sizeof run);
    run.cli = cli;
    S_admin_server_pick(&run);
    /* The operator's token first: without it nothing can be done. */
    int rc = S_outbox_check(&run);
    if (rc == CLI_EXIT_OK)
        rc = S_base_pick(&run);
    if (rc == CLI_EXIT_NOT_LOGGED_IN) {
        cli_hint(cli, "the demo needs the operator's token: `qianbao login --admin-token-file "
                      "data/admin-token` (or QIANBAO_ADMIN_TOKEN)");
        return rc;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    S_say(&run, "Users (phones %s1 to %s%d):", run.base, run.base, S_USER_COUNT);
    for (int n = 0; n < S_USER_COUNT && rc == CLI_EXIT_OK; n++)
        rc = S_user_make(&run, n);
    if (rc == CLI_EXIT_OK) {
        S_say(&run, "Transfers:");
        rc = S_transfers_make(&run);
    }
    if (rc == CLI_EXIT_OK) {
        S_say(&run, "Red packet:");
        rc = S_packet_make(&run);
    }
    if (rc == CLI_EXIT_OK) {
        S_say(&run, "Group collection:");
        rc = S_collection_make(&run);
    }
    if (rc == CLI_EXIT_OK) {
        S_say(&run, "Merchant:");
        rc = S_merchant_make(&run);
    }
    for (int n = 0; n < S_USER_COUNT; n++)
        cli_secret_wipe(S_users[n].token, sizeof S_users[n].token);
    if (rc != CLI_EXIT_OK) {
        if (!cli->json)
            fprintf(stderr, "qianbao: the demo stopped; what it made so far stays (profiles "
                            "demo-*); run `qianbao demo` again for a fresh world\n");
        return rc;
    }
    S_summary(&run);
    return CLI_EXIT_OK;
}
