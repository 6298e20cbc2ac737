/*
 * http.c — one request to the daemon with libcurl, and what its answer
 * means for the user and the exit status.
 *
 * Every command that talks to the server goes through cli_call, so the
 * rules live in one place:
 *   - no answer (refused, timed out, bad URL): exit 3, saying how to start
 *     the daemon;
 *   - a 5xx: exit 3 with the server's code and request id (for support);
 *   - a 401 to a stored credential (the server marks those with
 *     WWW-Authenticate): exit 4, saying how to log in again;
 *   - any other 4xx: exit 1 with the server's message and code, and a hint
 *     for the codes a user can act on.
 * Credentials go only to the server they were stored for: a profile made on
 * one server is never sent to another (the URL is part of the profile).
 * Redirects are not followed, for the same reason.
 *
 * Merchant calls (cli_call_merchant) sign the request as a WeChat Pay v3
 * merchant does and accept no answer the platform did not sign.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "cli/cli_int.h"

#define S_CONNECT_TIMEOUT_MS 5000L
#define S_KEY_OPTION "--idempotency-key" /* a wallet call's key, on the command line */
#define S_TIMEOUT_MS 30000L

struct S_transfer {
    struct cli_response *res;
    bool too_large;
};

static size_t S_on_body(char *data, size_t size, size_t count, void *user)
{
    struct S_transfer *t = user;
    size_t n = size * count;
    if (buf_append(&t->res->body, data, n) != QB_OK) {
        t->too_large = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

/* Copies the value of header line "Name: value\r\n" into out when its name
 * is name. */
static void S_header_value(const char *line, size_t size, const char *name, char *out,
                           size_t out_size)
{
    size_t name_size = strlen(name);
    if (size <= name_size || strncasecmp(line, name, name_size) != 0 || line[name_size] != ':')
        return;
    const char *value = line + name_size + 1;
    const char *end = line + size;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && isspace((unsigned char)end[-1]))
        end--;
    snprintf(out, out_size, "%.*s", (int)(end - value), value);
}

static size_t S_on_header(char *data, size_t size, size_t count, void *user)
{
    struct S_transfer *t = user;
    size_t n = size * count;
    /* A new status line starts the headers of a later response (after a
     * 100 Continue): keep only the final response's. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        t->res->request_id[0] = '\0';
        t->res->retry_after[0] = '\0';
        t->res->next_cursor[0] = '\0';
        t->res->content_type[0] = '\0';
        t->res->location[0] = '\0';
        t->res->wechatpay_timestamp[0] = '\0';
        t->res->wechatpay_nonce[0] = '\0';
        t->res->wechatpay_serial[0] = '\0';
        t->res->wechatpay_signature[0] = '\0';
        t->res->www_authenticate = false;
        t->res->replayed = false;
    }
    char ignored[8] = "";
    S_header_value(data, n, "X-Request-Id", t->res->request_id, sizeof t->res->request_id);
    S_header_value(data, n, "Retry-After", t->res->retry_after, sizeof t->res->retry_after);
    S_header_value(data, n, "X-Next-Cursor", t->res->next_cursor, sizeof t->res->next_cursor);
    S_header_value(data, n, "Content-Type", t->res->content_type, sizeof t->res->content_type);
    S_header_value(data, n, "Location", t->res->location, sizeof t->res->location);
    S_header_value(data, n, "Wechatpay-Timestamp", t->res->wechatpay_timestamp,
                   sizeof t->res->wechatpay_timestamp);
    S_header_value(data, n, "Wechatpay-Nonce", t->res->wechatpay_nonce,
                   sizeof t->res->wechatpay_nonce);
    S_header_value(data, n, "Wechatpay-Serial", t->res->wechatpay_serial,
                   sizeof t->res->wechatpay_serial);
    S_header_value(data, n, "Wechatpay-Signature", t->res->wechatpay_signature,
                   sizeof t->res->wechatpay_signature);
    char replayed[8] = "";
    S_header_value(data, n, "Idempotent-Replayed", replayed, sizeof replayed);
    if (strcmp(replayed, "true") == 0)
        t->res->replayed = true;
    S_header_value(data, n, "WWW-Authenticate", ignored, sizeof ignored);
    if (ignored[0] != '\0')
        t->res->www_authenticate = true;
    return n;
}

void cli_response_release(struct cli_response *res)
{
    buf_release(&res->body);
    json_decref(res->json);
    res->json = NULL;
}

void cli_print_body(const struct cli_response *res)
{
    if (res->body.size == 0) {
        printf("{}\n");
        return;
    }
    fwrite(res->body.data, 1, res->body.size, stdout);
    if (res->body.data[res->body.size - 1] != '\n')
        putchar('\n');
}

bool cli_query_add(char *path, size_t path_size, const char *name, const char *value)
{
    char *escaped = curl_easy_escape(NULL, value, 0);
    if (escaped == NULL)
        return false;
    size_t used = strlen(path);
    int n = snprintf(path + used, path_size - used, "%c%s=%s", strchr(path, '?') ? '&' : '?',
                     name, escaped);
    curl_free(escaped);
    return n > 0 && (size_t)n < path_size - used;
}

/* Whether the query parameter name (name_size bytes) carries a credential. */
static bool S_param_secret(const char *name, size_t name_size)
{
    static const char *const secrets[] = {"token",     "access_token", "key",
                                          "signature", "sign",         "password"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(secrets); i++) {
        if (strlen(secrets[i]) == name_size && strncasecmp(secrets[i], name, name_size) == 0)
            return true;
    }
    return false;
}

/* Appends size bytes of data to out (used bytes *at); false when they do
 * not fit with the NUL. */
static bool S_put(char *out, size_t out_size, size_t *at, const char *data, size_t size)
{
    if (size >= out_size - *at)
        return false;
    memcpy(out + *at, data, size);
    *at += size;
    out[*at] = '\0';
    return true;
}

void cli_url_redact(const char *url, char *out, size_t out_size)
{
    static const char hidden[] = "[redacted]";
    QB_ASSERT(out_size > 0);
    out[0] = '\0';
    size_t at = 0;
    bool fits = true;
    const char *p = url;
    /* "scheme://user:password@host": the user information goes. */
    const char *authority = strstr(url, "://");
    if (authority != NULL) {
        authority += 3;
        const char *at_sign = memchr(authority, '@', strcspn(authority, "/?#"));
        if (at_sign != NULL) {
            fits = S_put(out, out_size, &at, url, (size_t)(authority - url)) &&
                   S_put(out, out_size, &at, hidden, strlen(hidden));
            p = at_sign;
        }
    }
    const char *query = strchr(p, '?');
    size_t head = query != NULL ? (size_t)(query - p) : strlen(p);
    fits = fits && S_put(out, out_size, &at, p, head);
    size_t path_end = at; /* nothing secret before it */
    for (p += head; fits && *p != '\0';) {
        size_t size = 1 + strcspn(p + 1, "&#"); /* the '?' or '&' and the parameter */
        size_t name_size = strcspn(p + 1, "=&#");
        if (*p != '#' && name_size + 1 < size && S_param_secret(p + 1, name_size))
            fits = S_put(out, out_size, &at, p, name_size + 2) &&
                   S_put(out, out_size, &at, hidden, strlen(hidden));
        else
            fits = S_put(out, out_size, &at, p, *p == '#' ? strlen(p) : size);
        p += *p == '#' ? strlen(p) : size;
    }
    /* Too long for out: cut where the query starts rather than in the
     * middle of a parameter, which may be a secret. */
    if (!fits)
        out[path_end < at ? path_end : at] = '\0';
}

bool cli_path_escape(const char *segment, char *out, size_t out_size)
{
    /* "." and ".." would be taken out of the path by the URL's own rules
     * (`card remove ..` sent as DELETE /v1/me/): sent escaped, they are
     * the ids typed, which the server finds no such thing as. */
    if (strcmp(segment, ".") == 0 || strcmp(segment, "..") == 0) {
        int n = snprintf(out, out_size, "%s", segment[1] == '\0' ? "%2E" : "%2E%2E");
        return n > 0 && (size_t)n < out_size;
    }
    char *escaped = curl_easy_escape(NULL, segment, 0);
    if (escaped == NULL)
        return false;
    int n = snprintf(out, out_size, "%s", escaped);
    curl_free(escaped);
    return n > 0 && (size_t)n < out_size;
}

bool cli_token_from_env(const struct cli *cli, enum cli_auth auth)
{
    /* A token in the environment wins over the profiles (scripts, CI),
     * unless --profile names one. */
    const char *env = getenv(auth == CLI_AUTH_ADMIN ? "QIANBAO_ADMIN_TOKEN" : "QIANBAO_TOKEN");
    return env != NULL && env[0] != '\0' && (auth == CLI_AUTH_ADMIN || !cli->profile_explicit);
}

/* Loads the credential auth needs into token; answers an exit code. */
static int S_credential(struct cli *cli, enum cli_auth auth, char *token, size_t token_size)
{
    if (cli_token_from_env(cli, auth)) {
        snprintf(token, token_size, "%s",
                 getenv(auth == CLI_AUTH_ADMIN ? "QIANBAO_ADMIN_TOKEN" : "QIANBAO_TOKEN"));
        return CLI_EXIT_OK;
    }
    const char *name = cli->profile;
    if (auth == CLI_AUTH_ADMIN && !cli->profile_explicit)
        name = CLI_ADMIN_PROFILE;
    struct cli_profile profile;
    enum qb_error err = cli_profile_load(name, &profile);
    if (err == QB_E_NOT_FOUND) {
        if (auth == CLI_AUTH_ADMIN)
            return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                            "not logged in as the operator: run `qianbao login "
                            "--admin-token-file DATA_DIR/admin-token`");
        return cli_fail(
            cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN", "not logged in: run `qianbao login%s%s`",
            cli->profile_explicit ? " --profile " : "", cli->profile_explicit ? cli->profile : "");
    }
    if (err != QB_OK)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "the profile \"%s\" cannot be read: run `qianbao login` to write it again",
                        name);
    if (auth == CLI_AUTH_ADMIN && profile.kind != CLI_PROFILE_ADMIN)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "the profile \"%s\" holds a user's session, not the operator's token: "
                        "run `qianbao login --admin-token-file DATA_DIR/admin-token`",
                        name);
    if (auth == CLI_AUTH_USER && profile.kind != CLI_PROFILE_USER)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "the profile \"%s\" is %s: run `qianbao login` for a user, or pass "
                        "--profile",
                        name, profile.kind == CLI_PROFILE_ADMIN ? "the operator's" : "a merchant's");
    if (strcmp(profile.server, cli->server) != 0)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "not logged in to %s (the profile \"%s\" is for %s): run `qianbao "
                        "login`, or pass --server %s",
                        cli->server, name, profile.server, profile.server);
    int rc = cli->ending ? CLI_EXIT_OK : cli_profile_unsafe(cli, name, &profile);
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(profile.token, sizeof profile.token);
        return rc;
    }
    snprintf(token, token_size, "%s", profile.token);
    cli_secret_wipe(profile.token, sizeof profile.token);
    return CLI_EXIT_OK;
}

/* What a user can do about an error code, or NULL. A LIMIT_EXCEEDED
 * answer names the limit that refused (docs/api.md): a row with a limit
 * matches that one only, a row without any; a row with a command prefix
 * matches only the commands whose name starts so. The first row that
 * matches wins, so a limit's or a command's own row goes before its
 * code's. */
static const char *S_hint(const char *command, const char *code, const char *limit)
{
    static const struct {
        const char *code;
        const char *limit;   /* NULL: whatever the answer names */
        const char *command; /* NULL: any command */
        const char *hint;
    } hints[] = {
        {"SMS_CODE_INVALID", NULL, NULL,
         "ask for a new code with `qianbao sms-code PHONE --purpose ...` (for a card: `qianbao "
         "card add ... --send-code`)"},
        {"PASSWORD_TOO_WEAK", NULL, NULL, "choose one that is harder to guess"},
        {"PAYMENT_PASSWORD_NOT_SET", NULL, NULL,
         "ask for a code with `qianbao sms-code --purpose reset_payment_password`, then set one "
         "with `qianbao payment-password set` (it asks for the code)"},
        {"PHONE_REGISTERED", NULL, NULL, "log in with `qianbao login --phone PHONE`"},
        {"PHONE_CHANGE_HELD", NULL, NULL,
         "`qianbao security events` shows the login or reset; if you did not make it, freeze the "
         "wallet "
         "(`qianbao security freeze`)"},
        /* The owner's commands on a merchant: what refuses is more likely the merchant than
         * the owner's wallet (the server's message says which). */
        {"ACCOUNT_FROZEN", NULL, "merchant ",
         "`qianbao merchant show` says whether Qianbao suspended the merchant (its operator "
         "alone resumes it); `qianbao me`, whether your wallet is frozen"},
        {"ACCOUNT_FROZEN", NULL, NULL,
         "`qianbao me` says who froze the wallet: your own freeze you lift with `qianbao "
         "security unfreeze` (it asks for the code), the operator's only the operator can"},
        {"IDENTITY_MISMATCH", NULL, NULL, "check the name and the id number"},
        /* The owner's commands on a merchant: its balance pays, and no top-up of the owner's
         * wallet reaches it. */
        {"INSUFFICIENT_BALANCE", NULL, "merchant ",
         "the merchant's own balance pays this, not your wallet: `qianbao merchant show --mchid "
         "MCHID` shows what of it is available"},
        {"INSUFFICIENT_BALANCE", NULL, NULL,
         "see `qianbao balance`; add money with `qianbao topup CARD_ID AMOUNT`"},
        {"PASSWORD_WRONG", NULL, NULL,
         "after too many wrong tries the payment password locks for a while"},
        {"PASSWORD_LOCKED", NULL, NULL,
         "wait for the lock to end; a locked login also opens with an SMS code (`qianbao "
         "sms-code PHONE --purpose login`, then `qianbao login --login-code -`), a locked "
         "payment password with a new one (`qianbao sms-code PHONE --purpose "
         "reset_payment_password`)"},
        {"SMS_CODE_REQUIRED", NULL, NULL,
         "ask for a code with `qianbao sms-code PHONE --purpose new_device` and log in again "
         "with --code - (it asks for the code)"},
        /* A merchant's transfer to a user: its available balance, which its earlier transfers
         * still waiting hold part of, is the merchant profile's to see. */
        {"NOT_ENOUGH", NULL, "transfer-bill",
         "the merchant pays from its available balance: `qianbao merchant balance` shows it "
         "(transfers to users not taken yet hold part of it)"},
        {"LIMIT_EXCEEDED", "red_packet_max", NULL,
         "a red packet's maximum is the server's, set by its operator (it is none of `qianbao "
         "limits`): send at most that, or the money in several packets"},
        /* The server's message names its route (POST /v1/me/kyc); a user of the CLI needs
         * the command, and to know that only verifying lifts it, not waiting. */
        {"LIMIT_EXCEEDED", "kyc_lifetime", NULL,
         "a wallet without a verified real name pays out a limited amount in its lifetime "
         "(`qianbao limits`): `qianbao kyc --name NAME` (it asks for the id number) lifts it"},
        {"LIMIT_EXCEEDED", "cards", NULL,
         "unbind a card you no longer use: `qianbao card list`, then `qianbao card remove ID`"},
        {"LIMIT_EXCEEDED", NULL, NULL,
         "see `qianbao limits`"}, /* the spending limits, which it lists */
        {"CARD_INVALID", NULL, NULL, "a debit card number of 16 to 19 digits of a supported bank"},
        {"CARD_ALREADY_BOUND", NULL, NULL, "see `qianbao card list`"},
        {"TRANSFER_RETURNED", NULL, NULL,
         "`qianbao payment show TRANSFER_ID` shows when it went back"},
        {"TRANSFER_RETURN_EXPIRED", NULL, NULL,
         "send the money with `qianbao send USER AMOUNT` (the sender's id is in `qianbao "
         "payment show TRANSFER_ID`)"},
        {"TRANSFER_ARRIVED", NULL, NULL,
         "the payee has the money: they can send it back with `" CLI_OTHERS
         "qianbao send-back TRANSFER_ID`"},
        {"CARD_PHONE_MISMATCH", NULL, NULL,
         "give the phone the card's bank has for it (the code was used up)"},
        {"PAYEE_NOT_FOUND", NULL, NULL, "check the phone number or user id"},
        {"IDEMPOTENCY_MISMATCH", NULL, NULL,
         "this --idempotency-key was used for another request: leave it out, or choose a new one"},
        {NULL, NULL, NULL, NULL},
    };
    for (size_t i = 0; hints[i].code != NULL; i++) {
        if (strcmp(hints[i].code, code) == 0 &&
            (hints[i].limit == NULL || strcmp(hints[i].limit, limit) == 0) &&
            (hints[i].command == NULL ||
             strncmp(hints[i].command, command, strlen(hints[i].command)) == 0))
            return hints[i].hint;
    }
    return NULL;
}

/* Reports an error answer that carries no error of Qianbao's (a proxy's
 * page, another server): there is no body to show with --json, so the
 * client's own error object stands for it. Answers its exit code. */
static int S_report_foreign(struct cli *cli, const struct cli_response *res)
{
    char type[sizeof res->content_type];
    cli_text_clean(res->content_type[0] != '\0' ? res->content_type : "no Content-Type", type,
                   sizeof type);
    const char *request_id = res->request_id[0] != '\0' ? res->request_id : "none";
    if (res->status >= 500)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                        "%s: the server failed: HTTP %ld, with no error of Qianbao's (%s, "
                        "request id %s): a proxy's page, with no qianbaod answering behind it?",
                        cli->command->name, res->status, type, request_id);
    return cli_fail(cli, CLI_EXIT_REFUSED, "BAD_ANSWER",
                    "%s: HTTP %ld, with no error of Qianbao's (%s, request id %s): is %s a "
                    "qianbaod?",
                    cli->command->name, res->status, type, request_id, cli->server);
}

/* Reports an answer that is not a 2xx; answers its exit code. */
static int S_report(struct cli *cli, enum cli_auth auth, const char *token,
                    const struct cli_response *res)
{
    if (!json_is_string(json_object_get(res->json, "code")))
        return S_report_foreign(cli, res);
    const char *code = cli_json_str(res->json, "code");
    const char *message = cli_json_str(res->json, "message");
    char clean_message[512];
    cli_text_clean(message[0] != '\0' ? message : "no message", clean_message,
                   sizeof clean_message);
    char clean_code[64];
    cli_text_clean(code[0] != '\0' ? code : "NO_CODE", clean_code, sizeof clean_code);
    if (cli->json && !cli->quiet)
        cli_print_body(res);
    bool json = cli->json;
    cli->json = false; /* the body above is the JSON document */
    int rc;
    if (res->status >= 500) {
        rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, clean_code,
                      "%s: the server failed: %s (%s, HTTP %ld, request id %s)",
                      cli->command->name, clean_message, clean_code, res->status,
                      res->request_id[0] != '\0' ? res->request_id : "none");
        if (res->status == 503)
            cli_hint(cli, "nothing was applied; try again shortly");
    } else if (res->status == 401 && token != NULL && res->www_authenticate) {
        if (auth == CLI_AUTH_ADMIN && strcmp(cli->command->name, "login") == 0)
            rc = cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, clean_code,
                          "login: the server refused this admin token (%s): is it the "
                          "admin-token of the data directory the daemon at %s runs on?",
                          clean_code, cli->server);
        else if (cli_token_from_env(cli, auth))
            rc = cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, clean_code,
                          "%s: the server refused the token in %s (%s): set it to a live one, "
                          "or unset it to use the profile's",
                          cli->command->name,
                          auth == CLI_AUTH_ADMIN ? "QIANBAO_ADMIN_TOKEN" : "QIANBAO_TOKEN",
                          clean_code);
        else
            rc = cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, clean_code,
                          "%s: %s (%s): run `qianbao%s%s login%s`", cli->command->name,
                          auth == CLI_AUTH_ADMIN ? "the server refused the admin token"
                                                 : "the session has ended",
                          clean_code, cli->profile_explicit ? " --profile " : "",
                          cli->profile_explicit ? cli->profile : "",
                          auth == CLI_AUTH_ADMIN ? " --admin-token-file DATA_DIR/admin-token" : "");
    } else {
        rc = cli_fail(cli, CLI_EXIT_REFUSED, clean_code, "%s: %s (%s)", cli->command->name,
                      clean_message, clean_code);
        /* A refusal kept under its key is answered again as it was: the
         * password of this try was not checked, nor anything else. */
        if (res->replayed)
            cli_hint(cli, "this request's Idempotency-Key was used before: this is that "
                          "request's answer, not a new check of this one; to try again, run it "
                          "with a new --idempotency-key (or none)");
        /* The code's usual hint is about the first request, not this one. */
        const char *hint = res->replayed ? NULL
                                         : S_hint(cli->command->name, clean_code,
                                                  cli_json_str(res->json, "limit"));
        size_t digits = strspn(res->retry_after, "0123456789");
        if (digits > 0 && digits <= 9 && res->retry_after[digits] == '\0') {
            char wait[32];
            clock_format_wait(strtoll(res->retry_after, NULL, 10), wait, sizeof wait);
            if (strstr(clean_message, wait) == NULL) /* the server's message may say it */
                cli_hint(cli, "try again in %s", wait);
        } else if (hint != NULL)
            cli_hint(cli, "%s", hint);
    }
    cli->json = json;
    return rc;
}

/* Sends one request; answers curl's result (CURLE_OK when an answer came,
 * whatever its status), with res filled. */
/* A header line of its own: "Idempotency-Key: …" of a wallet call, or
 * "Wechatpay-Serial: …" of a merchant call. */
static CURLcode S_perform(struct cli *cli, const char *url, const char *method,
                          const char *credential, const char *extra_header, const char *body_text,
                          struct cli_response *res, bool *too_large)
{
    struct curl_slist *headers = NULL;
    char authorization[2048] = "";
    if (credential != NULL) {
        snprintf(authorization, sizeof authorization, "Authorization: %s", credential);
        headers = curl_slist_append(headers, authorization);
    }
    if (extra_header != NULL)
        headers = curl_slist_append(headers, extra_header);
    if (body_text != NULL)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");

    CURL *curl = curl_easy_init();
    QB_ASSERT(curl != NULL);
    struct S_transfer transfer = {res, false};
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, S_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, S_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "qianbao/" CLI_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, S_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body_text != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_text != NULL ? body_text : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                         (long)(body_text != NULL ? strlen(body_text) : 0));
    }
    if (cli->verbose) { /* every request, a quiet one's too (a hint's, a probe's) */
        char shown[CLI_URL_SIZE_MAX + 1024];
        cli_url_redact(url, shown, sizeof shown);
        fprintf(stderr, "> %s %s\n", method, shown);
        if (extra_header != NULL)
            fprintf(stderr, "> %s\n", extra_header);
    }
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    cli_secret_wipe(authorization, sizeof authorization);
    if (cli->verbose && code == CURLE_OK)
        fprintf(stderr, "< %ld%s (request id %s)\n", res->status,
                res->replayed ? ", Idempotent-Replayed: true" : "",
                res->request_id[0] != '\0' ? res->request_id : "none");
    *too_large = transfer.too_large;
    return code;
}

static int S_answer(struct cli *cli, enum cli_auth auth, const char *token, const char *key_option,
                    const char *idempotency_key, CURLcode code, bool too_large,
                    struct cli_response *res);

/* Sends the request, and once more with the same idempotency key (when
 * there is one) when no answer came: the key makes the second try safe, as
 * the server answers a request it already applied with the stored answer. */
static int S_request(struct cli *cli, const char *method, const char *path, enum cli_auth auth,
                     const char *token, const char *idempotency_key, const json_t *body,
                     struct cli_response *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->body, CLI_RESPONSE_SIZE_MAX);

    char url[CLI_URL_SIZE_MAX + 1024];
    int n = snprintf(url, sizeof url, "%s%s", cli->server, path);
    if (n < 0 || (size_t)n >= sizeof url)
        return cli_usage_error(cli, "the request is too long");

    char *body_text = NULL;
    if (body != NULL) {
        body_text = json_dumps(body, JSON_COMPACT);
        QB_ASSERT(body_text != NULL);
    }
    char credential[CLI_TOKEN_SIZE_MAX + 16];
    if (token != NULL)
        snprintf(credential, sizeof credential, "Bearer %s", token);
    char key_header[CLI_IDEMPOTENCY_KEY_SIZE_MAX + 32];
    if (idempotency_key != NULL)
        snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", idempotency_key);
    const char *extra = idempotency_key != NULL ? key_header : NULL;
    bool too_large = false;
    CURLcode code = S_perform(cli, url, method, token != NULL ? credential : NULL, extra, body_text,
                              res, &too_large);
    if (code != CURLE_OK && !too_large && idempotency_key != NULL) {
        if (!cli->quiet) {
            char reason[128];
            snprintf(reason, sizeof reason, "%s", curl_easy_strerror(code));
            reason[0] = (char)tolower((unsigned char)reason[0]);
            fprintf(stderr, "qianbao: no answer from %s (%s); trying once more with the same "
                            "Idempotency-Key\n",
                    cli->server, reason);
        }
        cli_response_release(res);
        memset(res, 0, sizeof *res);
        buf_init(&res->body, CLI_RESPONSE_SIZE_MAX);
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
        code = S_perform(cli, url, method, token != NULL ? credential : NULL, extra, body_text, res,
                         &too_large);
    }
    cli_secret_wipe(credential, sizeof credential);
    if (body_text != NULL)
        cli_secret_wipe(body_text, strlen(body_text)); /* it may hold a password */
    free(body_text);
    return S_answer(cli, auth, token, S_KEY_OPTION, idempotency_key, code, too_large, res);
}

/* Whether a successful answer of this Content-Type is a file its caller
 * reads as bytes (bills --csv, a QR code's PNG, a merchant's bill) rather
 * than a JSON object. */
static bool S_file_type(const char *content_type)
{
    static const char *const types[] = {"text/csv", "image/png", "application/gzip"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(types); i++) {
        size_t size = strlen(types[i]);
        if (strncasecmp(content_type, types[i], size) == 0 &&
            (content_type[size] == '\0' || content_type[size] == ';'))
            return true;
    }
    return false;
}

/* Whether key names an amount in some answer of the API. */
static bool S_amount_key(const char *key)
{
    /* Space-separated, with a space at each end, for a search by " name ". */
    static const char amounts[] =
        " amount amount_per_share available available_amount balance balance_after daily_limit "
        "discount_refund expense fee fee_min held income max_amount max_fee paid_amount "
        "payer_refund payer_total pending pending_amount refund refund_fee refunded "
        "refunded_amount refunds remaining_amount settlement_refund settlement_total total "
        "total_amount transfer_amount password_free_limit password_free_max "
        "password_free_daily_max password_free_limit_max used per_payment sales average_ticket ";
    size_t key_size = strlen(key);
    for (const char *at = strstr(amounts, key); key_size > 0 && at != NULL;
         at = strstr(at + 1, key)) {
        if (at > amounts && at[-1] == ' ' && at[key_size] == ' ')
            return true;
    }
    return false;
}

/* Whether key is a currency code as the API names them: three capitals. */
static bool S_currency_key(const char *key)
{
    return strlen(key) == 3 && strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3;
}

/* Whether key is an amount the API may answer null (docs/openapi.json):
 * an open code's amount, a quote without one, no daily limit set, a red
 * packet's share when shares are random. */
static bool S_amount_nullable(const char *key)
{
    static const char *const keys[] = {"amount", "amount_per_share", "daily_limit", "fee", "total"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* The first member of value (searched all through it) that names an amount
 * but holds a number with a fraction, a string, or a null where the API
 * answers none (S_amount_nullable), or NULL. Amounts are integers of minor
 * units on every API (docs/api.md); such a member would read as 0 and print
 * as 0.00. An amount that is an object (a /v3 "amount": {total, currency},
 * a statement's {"CNY": 1234}) holds no fraction, nor a string under a
 * currency's code; a boolean "available" is a payee's, no amount. */
static const char *S_amount_bad(const json_t *value, int depth)
{
    if (depth > 2048)
        return NULL; /* deeper than jansson parses: never */
    const char *key;
    const json_t *member;
    size_t index;
    if (json_is_array(value)) {
        json_array_foreach(value, index, member)
        {
            const char *bad = S_amount_bad(member, depth + 1);
            if (bad != NULL)
                return bad;
        }
        return NULL;
    }
    json_object_foreach((json_t *)value, key, member)
    {
        if ((json_is_real(member) || json_is_string(member) ||
             (json_is_null(member) && !S_amount_nullable(key))) &&
            S_amount_key(key))
            return key;
        if (json_is_object(member) && S_amount_key(key)) {
            const char *sub;
            const json_t *sum;
            json_object_foreach((json_t *)member, sub, sum)
            {
                if (json_is_real(sum) || (json_is_string(sum) && S_currency_key(sub)))
                    return key;
            }
        }
        const char *bad = S_amount_bad(member, depth + 1);
        if (bad != NULL)
            return bad;
    }
    return NULL;
}

/* What a request's outcome means: no answer, a 2xx, or a refusal. A
 * money move's key (idempotency_key, or NULL for none) is named as the
 * option key_option that gives it again, so that a user who cannot tell
 * whether it was applied finds out without paying twice. */
static int S_answer(struct cli *cli, enum cli_auth auth, const char *token, const char *key_option,
                    const char *idempotency_key, CURLcode code, bool too_large,
                    struct cli_response *res)
{
    if (code != CURLE_OK) {
        if (too_large)
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SERVER_UNREACHABLE",
                            "%s: the answer from %s is larger than %d bytes",
                            cli->command->name, cli->server, CLI_RESPONSE_SIZE_MAX);
        /* curl's short reason, lower-cased first letter: "couldn't connect
         * to server". Its detailed buffer names ports and timings. */
        char reason[128];
        snprintf(reason, sizeof reason, "%s", curl_easy_strerror(code));
        reason[0] = (char)tolower((unsigned char)reason[0]);
        /* Only a wallet call's key is tried a second time (S_request). */
        if (idempotency_key != NULL)
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SERVER_UNREACHABLE",
                            "cannot reach %s (%s)%s: whether the request was applied is "
                            "unknown; run the command again with %s %s to find out without "
                            "paying twice",
                            cli->server, reason,
                            strcmp(key_option, S_KEY_OPTION) == 0 ? ", twice" : "", key_option,
                            idempotency_key);
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SERVER_UNREACHABLE",
                        "cannot reach %s (%s): is qianbaod running there? --server URL names "
                        "another (in a source tree, scripts/run starts one)",
                        cli->server, reason);
    }
    if (res->body.size > 0)
        res->json = json_loadb(res->body.data, res->body.size, 0, NULL);
    if (res->status >= 300 && res->status < 400) {
        /* Not followed: the credential goes only to the server named. A
         * plain-http --server before an https site is the usual cause. */
        char location[sizeof res->location];
        cli_text_clean(res->location[0] != '\0' ? res->location : "nowhere named", location,
                       sizeof location);
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                        "%s: %s answers with a redirect (HTTP %ld) to %s, which is not followed "
                        "(credentials go only to the server named): pass --server with the "
                        "daemon's own address",
                        cli->command->name, cli->server, res->status, location);
    }
    if (res->status >= 200 && res->status < 300) {
        const char *bad_amount = json_is_object(res->json) ? S_amount_bad(res->json, 0) : NULL;
        /* Only a 204 is answered with nothing: an empty 200 or 201 is an
         * answer lost on the way (a proxy, a connection cut). */
        if (bad_amount == NULL &&
            ((res->body.size == 0 && res->status == 204) || json_is_object(res->json) ||
             (res->body.size > 0 && S_file_type(res->content_type))))
            return CLI_EXIT_OK;
        /* A body cut short, a captive portal's page: no answer of Qianbao's,
         * which a command would print as empty fields, and exit 0. */
        char type[sizeof res->content_type];
        cli_text_clean(res->content_type[0] != '\0' ? res->content_type : "no Content-Type", type,
                       sizeof type);
        /* A money move answered so may have been applied: its key finds out. */
        char rerun[CLI_IDEMPOTENCY_KEY_SIZE_MAX + 128] = "";
        if (idempotency_key != NULL)
            snprintf(rerun, sizeof rerun,
                     "; whether it was applied is unknown: run the command again with %s %s to "
                     "find out without paying twice",
                     key_option, idempotency_key);
        if (bad_amount != NULL)
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                            "%s: the answer from %s holds an amount that is no whole number of "
                            "minor units (\"%s\", request id %s): nothing it says was read%s",
                            cli->command->name, cli->server, bad_amount,
                            res->request_id[0] != '\0' ? res->request_id : "none", rerun);
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                        "%s: the answer from %s is not JSON (HTTP %ld, %s, %zu bytes, request id "
                        "%s): nothing it says was read%s",
                        cli->command->name, cli->server, res->status, type, res->body.size,
                        res->request_id[0] != '\0' ? res->request_id : "none", rerun);
    }
    return S_report(cli, auth, token, res);
}

int cli_call_token(struct cli *cli, const char *method, const char *path, enum cli_auth auth,
                   const char *token, const json_t *body, struct cli_response *res)
{
    return S_request(cli, method, path, auth, token, NULL, body, res);
}

int cli_call_token_idem(struct cli *cli, const char *path, const char *token,
                        const char *idempotency_key, const json_t *body, struct cli_response *res)
{
    return S_request(cli, "POST", path, CLI_AUTH_USER, token, idempotency_key, body, res);
}

int cli_call_idem(struct cli *cli, const char *path, const char *idempotency_key,
                  const json_t *body, struct cli_response *res)
{
    char token[CLI_TOKEN_SIZE_MAX];
    int rc = S_credential(cli, CLI_AUTH_USER, token, sizeof token);
    if (rc != CLI_EXIT_OK) {
        memset(res, 0, sizeof *res);
        buf_init(&res->body, CLI_RESPONSE_SIZE_MAX);
        return rc;
    }
    rc = S_request(cli, "POST", path, CLI_AUTH_USER, token, idempotency_key, body, res);
    cli_secret_wipe(token, sizeof token);
    return rc;
}

int cli_call(struct cli *cli, const char *method, const char *path, enum cli_auth auth,
             const json_t *body, struct cli_response *res)
{
    if (auth == CLI_AUTH_NONE)
        return cli_call_token(cli, method, path, auth, NULL, body, res);
    char token[CLI_TOKEN_SIZE_MAX];
    int rc = S_credential(cli, auth, token, sizeof token);
    if (rc != CLI_EXIT_OK) {
        memset(res, 0, sizeof *res);
        buf_init(&res->body, CLI_RESPONSE_SIZE_MAX);
        return rc;
    }
    rc = cli_call_token(cli, method, path, auth, token, body, res);
    cli_secret_wipe(token, sizeof token);
    return rc;
}

/* --- merchant calls (/v3) --------------------------------------------------- */

#define S_MERCHANT_CLOCK_SKEW_S 300

int cli_merchant_profile(struct cli *cli, struct cli_profile *profile)
{
    const char *name = cli->profile_explicit ? cli->profile : CLI_MERCHANT_PROFILE;
    enum qb_error err = cli_profile_load(name, profile);
    if (err == QB_E_NOT_FOUND)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "no merchant profile \"%s\": run `qianbao merchant create --name NAME`",
                        name);
    if (err != QB_OK || profile->kind != CLI_PROFILE_MERCHANT) {
        int rc = cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                          "the profile \"%s\" is not a merchant's: run `qianbao merchant create`, "
                          "or pass --profile",
                          name);
        if (err == QB_OK && profile->kind == CLI_PROFILE_USER)
            cli_hint(cli, "a merchant you own, from your own profile: `qianbao merchant show`, "
                          "`merchant payments`, `merchant withdraw`");
        return rc;
    }
    if (strcmp(profile->server, cli->server) != 0)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "the merchant profile \"%s\" is for %s, not %s: pass --server %s", name,
                        profile->server, cli->server, profile->server);
    return cli_profile_unsafe(cli, name, profile);
}

/* The key in base64 DER (a PEM's body on one line); NULL when it is none. */
static EVP_PKEY *S_key_from_b64(const char *b64, bool private_key)
{
    size_t size = strlen(b64);
    if (size == 0 || size % 4 != 0 || size > CLI_KEY_B64_SIZE_MAX)
        return NULL;
    unsigned char der[CLI_KEY_B64_SIZE_MAX];
    int n = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)size);
    if (n <= 0)
        return NULL;
    n -= (b64[size - 1] == '=') + (b64[size - 2] == '='); /* DecodeBlock counts padding */
    const unsigned char *p = der;
    EVP_PKEY *key = private_key ? d2i_AutoPrivateKey(NULL, &p, n) : d2i_PUBKEY(NULL, &p, n);
    OPENSSL_cleanse(der, sizeof der);
    return key;
}

int64_t cli_now_ms(void)
{
    int64_t now = clock_now_ms(clock_system());
#ifdef QB_TEST_HOOKS
    const char *text = getenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    if (text != NULL && text[0] != '\0') {
        char *end = NULL;
        long long value = strtoll(text, &end, 10);
        const long long bound = 400LL * 24 * 60 * 60 * 1000;
        if (end != text && *end == '\0' && value >= -bound && value <= bound)
            now += value;
    }
#endif
    return now;
}

/* How far the time of res (Wechatpay-Timestamp) is from this computer's
 * clock, in seconds, when it is past the window answers are taken within
 * (positive: the server's ahead); 0 when within it or when there is none. */
static long long S_answer_skew_s(const struct cli_response *res)
{
    char *end = NULL;
    long long timestamp = strtoll(res->wechatpay_timestamp, &end, 10);
    if (res->wechatpay_timestamp[0] == '\0' || end == NULL || *end != '\0')
        return 0;
    long long skew = timestamp - cli_now_ms() / 1000;
    return skew < -S_MERCHANT_CLOCK_SKEW_S || skew > S_MERCHANT_CLOCK_SKEW_S ? skew : 0;
}

/* True when res carries the platform's signature of its body. */
static bool S_answer_verified(const struct cli_profile *profile, const struct cli_response *res)
{
    if (res->wechatpay_timestamp[0] == '\0' || res->wechatpay_nonce[0] == '\0' ||
        res->wechatpay_signature[0] == '\0' ||
        strcasecmp(res->wechatpay_serial, profile->platform_serial_no) != 0)
        return false;
    char *end = NULL;
    long long timestamp = strtoll(res->wechatpay_timestamp, &end, 10);
    long long now = cli_now_ms() / 1000;
    if (end == NULL || *end != '\0' || timestamp < now - S_MERCHANT_CLOCK_SKEW_S ||
        timestamp > now + S_MERCHANT_CLOCK_SKEW_S)
        return false;
    struct buf message;
    buf_init(&message, CLI_RESPONSE_SIZE_MAX + 256);
    bool ok = buf_printf(&message, "%s\n%s\n", res->wechatpay_timestamp,
                         res->wechatpay_nonce) == QB_OK &&
              (res->body.size == 0 ||
               buf_append(&message, res->body.data, res->body.size) == QB_OK) &&
              buf_append(&message, "\n", 1) == QB_OK;
    unsigned char signature[600];
    size_t b64_size = strlen(res->wechatpay_signature);
    int n = ok && b64_size % 4 == 0 && b64_size / 4 * 3 <= sizeof signature
                ? EVP_DecodeBlock(signature, (const unsigned char *)res->wechatpay_signature,
                                  (int)b64_size)
                : -1;
    ok = ok && n > 0;
    if (ok)
        n -= (res->wechatpay_signature[b64_size - 1] == '=') +
             (res->wechatpay_signature[b64_size - 2] == '=');
    EVP_PKEY *key = ok ? S_key_from_b64(profile->platform_public_key, false) : NULL;
    EVP_MD_CTX *ctx = key != NULL ? EVP_MD_CTX_new() : NULL;
    ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestVerify(ctx, signature, (size_t)n, (const unsigned char *)message.data,
                          message.size) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    buf_release(&message);
    return ok;
}

/* "WECHATPAY2-SHA256-RSA2048 mchid=…" for one request into out. */
static bool S_merchant_credential(const struct cli_profile *profile, const char *method,
                                  const char *path, const char *body_text, char *out,
                                  size_t out_size)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    char nonce[2 * sizeof raw + 1];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(nonce + 2 * i, 3, "%02X", raw[i]);
    long long timestamp = cli_now_ms() / 1000;
    struct buf message;
    buf_init(&message, CLI_RESPONSE_SIZE_MAX);
    bool ok = buf_printf(&message, "%s\n%s\n%lld\n%s\n%s\n", method, path, timestamp, nonce,
                         body_text != NULL ? body_text : "") == QB_OK;
    EVP_PKEY *key = ok ? S_key_from_b64(profile->private_key, true) : NULL;
    EVP_MD_CTX *ctx = key != NULL ? EVP_MD_CTX_new() : NULL;
    unsigned char signature[1024];
    size_t signature_size = sizeof signature;
    ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestSign(ctx, signature, &signature_size, (const unsigned char *)message.data,
                        message.size) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    buf_release(&message);
    if (!ok)
        return false;
    char b64[1400];
    EVP_EncodeBlock((unsigned char *)b64, signature, (int)signature_size);
    int n = snprintf(out, out_size,
                     "WECHATPAY2-SHA256-RSA2048 mchid=\"%s\",nonce_str=\"%s\",timestamp=\"%lld\","
                     "serial_no=\"%s\",signature=\"%s\"",
                     profile->mchid, nonce, timestamp, profile->serial_no, b64);
    return n > 0 && (size_t)n < out_size;
}

/* The public key of the certificate in pem (base64 DER, as the profile
 * keeps it) into out, when the certificate is the one of serial and has not
 * expired. */
static bool S_certificate_key(const struct buf *pem, const char *serial, char *out, size_t out_size)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->size);
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    BIGNUM *number = cert != NULL ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL) : NULL;
    char *hex = number != NULL ? BN_bn2hex(number) : NULL;
    unsigned char *der = NULL;
    int der_size = 0;
    bool ok = hex != NULL && strcasecmp(hex, serial) == 0 &&
              X509_cmp_current_time(X509_get0_notAfter(cert)) > 0 &&
              (der_size = i2d_PUBKEY(X509_get0_pubkey(cert), &der)) > 0 &&
              4 * (((size_t)der_size + 2) / 3) < out_size;
    if (ok)
        EVP_EncodeBlock((unsigned char *)out, der, der_size);
    OPENSSL_free(der);
    OPENSSL_free(hex);
    BN_free(number);
    X509_free(cert);
    return ok;
}

/* Fetches the platform certificate of serial as WeChat's SDKs do when an
 * answer names one they do not know (the platform rotated its key:
 * docs/operations.md, "Rotating the platform key"): GET /v3/certificates,
 * its entry opened with the profile's API v3 key, which only the platform
 * shares with the merchant, and the list's own answer verified under the
 * key it holds. True with the key in profile; false leaves profile as it
 * was. */
static bool S_platform_fetch(struct cli *cli, struct cli_profile *profile, const char *serial)
{
    static const char path[] = "/v3/certificates";
    char url[CLI_URL_SIZE_MAX + sizeof path];
    snprintf(url, sizeof url, "%s%s", cli->server, path);
    char credential[1800];
    if (strlen(profile->apiv3_key) != 32 || strlen(serial) >= sizeof profile->platform_serial_no ||
        !S_merchant_credential(profile, "GET", path, NULL, credential, sizeof credential))
        return false;
    struct cli_response list;
    memset(&list, 0, sizeof list);
    buf_init(&list.body, CLI_RESPONSE_SIZE_MAX);
    bool too_large = false;
    char key[CLI_KEY_B64_SIZE_MAX] = "";
    if (S_perform(cli, url, "GET", credential, NULL, NULL, &list, &too_large) == CURLE_OK &&
        list.status == 200)
        list.json = json_loadb(list.body.data, list.body.size, 0, NULL);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list.json, "data"), i, item)
    {
        const json_t *sealed = json_object_get(item, "encrypt_certificate");
        const char *nonce = json_string_value(json_object_get(sealed, "nonce"));
        const char *associated = json_string_value(json_object_get(sealed, "associated_data"));
        const char *ciphertext = json_string_value(json_object_get(sealed, "ciphertext"));
        if (strcasecmp(cli_json_str(item, "serial_no"), serial) != 0 || nonce == NULL ||
            associated == NULL || ciphertext == NULL ||
            strcmp(cli_json_str(sealed, "algorithm"), "AEAD_AES_256_GCM") != 0)
            continue;
        struct buf pem;
        buf_init(&pem, 64 * 1024);
        if (crypto_aead_gcm_decrypt((const uint8_t *)profile->apiv3_key, nonce, associated,
                                    ciphertext, &pem) == QB_OK &&
            !S_certificate_key(&pem, serial, key, sizeof key))
            key[0] = '\0';
        buf_release(&pem);
        break;
    }
    bool ok = key[0] != '\0';
    if (ok) {
        struct cli_profile *trial = calloc(1, sizeof *trial);
        QB_ASSERT(trial != NULL);
        memcpy(trial->platform_serial_no, serial, strlen(serial) + 1);
        memcpy(trial->platform_public_key, key, sizeof key);
        ok = S_answer_verified(trial, &list);
        free(trial);
    }
    if (ok) {
        snprintf(profile->platform_serial_no, sizeof profile->platform_serial_no, "%s", serial);
        memcpy(profile->platform_public_key, key, sizeof key);
    }
    cli_response_release(&list);
    return ok;
}

/* Keeps the platform certificate S_platform_fetch found in the profile,
 * so that the next command trusts it at once. */
static void S_platform_keep(struct cli *cli, const struct cli_profile *profile)
{
    const char *name = cli->profile_explicit ? cli->profile : CLI_MERCHANT_PROFILE;
    if (cli_profile_save(name, profile) == QB_OK)
        cli_hint(cli,
                 "the platform's signing key changed: the profile \"%s\" now trusts certificate "
                 "%s, from GET /v3/certificates",
                 name, profile->platform_serial_no);
    else
        cli_hint(cli,
                 "the platform's signing key changed (certificate %s), but the profile \"%s\" "
                 "cannot be written: each command fetches it again",
                 profile->platform_serial_no, name);
}

static int S_call_merchant(struct cli *cli, const char *method, const char *path,
                           const json_t *body, bool unsigned_ok, const char *key_option,
                           const char *key, struct cli_response *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->body, CLI_RESPONSE_SIZE_MAX);
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    int rc = cli_merchant_profile(cli, profile);
    char url[CLI_URL_SIZE_MAX + 1024];
    int n = snprintf(url, sizeof url, "%s%s", cli->server, path);
    if (rc == CLI_EXIT_OK && (n < 0 || (size_t)n >= sizeof url))
        rc = cli_usage_error(cli, "the request is too long");
    char *body_text = NULL;
    if (rc == CLI_EXIT_OK && body != NULL) {
        body_text = json_dumps(body, JSON_COMPACT);
        QB_ASSERT(body_text != NULL);
    }
    char credential[1800];
    if (rc == CLI_EXIT_OK &&
        !S_merchant_credential(profile, method, path, body_text, credential, sizeof credential))
        rc = cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                      "the merchant profile's private key cannot sign: run `qianbao merchant "
                      "create` again");
    if (rc == CLI_EXIT_OK) {
        /* As WeChat's SDKs send it: which platform key sealed a field of
         * the body (cli_merchant_seal), if one is. */
        char serial[sizeof profile->platform_serial_no + 32];
        snprintf(serial, sizeof serial, "Wechatpay-Serial: %s", profile->platform_serial_no);
        bool too_large = false;
        CURLcode code = S_perform(cli, url, method, credential, serial, body_text, res, &too_large);
        bool unsigned_200 = unsigned_ok && res->status == 200 &&
                            res->wechatpay_signature[0] == '\0';
        bool verified = code != CURLE_OK || unsigned_200 || S_answer_verified(profile, res);
        /* Signed under another serial than the profile's: the platform's
         * new key, once its certificate is fetched and opens. */
        bool rotated = !verified && res->wechatpay_serial[0] != '\0' &&
                       strcasecmp(res->wechatpay_serial, profile->platform_serial_no) != 0 &&
                       S_platform_fetch(cli, profile, res->wechatpay_serial) &&
                       S_answer_verified(profile, res);
        if (rotated)
            S_platform_keep(cli, profile);
        long long skew_s = S_answer_skew_s(res);
        if (!verified && !rotated && skew_s != 0)
            /* The server refuses a request whose time is as far off (a 401
             * then), and its answer's time is out of the window too: the
             * clock, not the key, is what to look at. */
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "CLOCK_SKEW",
                          "%s: the answer from %s (HTTP %ld) is timed %lld minutes %s this "
                          "computer's clock, past the five minutes either way signed requests "
                          "and answers are taken within: set this computer's clock (or the "
                          "server's)",
                          cli->command->name, cli->server, res->status, (llabs(skew_s) + 30) / 60,
                          skew_s > 0 ? "ahead of" : "behind");
        else if (!verified && !rotated)
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SIGNATURE_INVALID",
                          "%s: the answer from %s is not signed by the platform key of the "
                          "merchant profile (HTTP %ld): it was not accepted",
                          cli->command->name, cli->server, res->status);
        else
            rc = S_answer(cli, CLI_AUTH_NONE, NULL, key_option, key, code, too_large, res);
    }
    free(body_text);
    cli_secret_wipe(profile->private_key, sizeof profile->private_key);
    cli_secret_wipe(profile->apiv3_key, sizeof profile->apiv3_key);
    free(profile);
    return rc;
}

int cli_call_merchant(struct cli *cli, const char *method, const char *path, const json_t *body,
                      struct cli_response *res)
{
    return S_call_merchant(cli, method, path, body, false, NULL, NULL, res);
}

int cli_call_merchant_keyed(struct cli *cli, const char *path, const json_t *body,
                            const char *key_option, const char *key, struct cli_response *res)
{
    return S_call_merchant(cli, "POST", path, body, false, key_option, key, res);
}

int cli_call_merchant_download(struct cli *cli, const char *path, struct cli_response *res)
{
    return S_call_merchant(cli, "GET", path, NULL, true, NULL, NULL, res);
}

bool cli_merchant_seal(const struct cli_profile *profile, const char *text, char *out,
                       size_t out_size)
{
    EVP_PKEY *key = S_key_from_b64(profile->platform_public_key, false);
    EVP_PKEY_CTX *ctx = key != NULL ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    unsigned char sealed[1024];
    size_t size = sizeof sealed;
    bool ok =
        ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 &&
        EVP_PKEY_encrypt(ctx, sealed, &size, (const unsigned char *)text, strlen(text)) == 1 &&
        4 * ((size + 2) / 3) < out_size;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (ok)
        EVP_EncodeBlock((unsigned char *)out, sealed, (int)size);
    return ok;
}
