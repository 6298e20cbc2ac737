/*
 * user.c — the wallet holder's commands: registering, logging in and out,
 * the user, balances, the security centre, KYC, the payment password, a new
 * phone number.
 *
 * Each command is one or two API calls (docs/api.md) and two renderings:
 * with --json the server's body as it came (commands whose route answers
 * 204 print {}; login prints its own documented shape, because the
 * server's answer holds the session token, which is never printed), and
 * otherwise a few aligned lines or a table, amounts as decimals.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"

/* GET /v1/me/notices/unread counts up to 100 (docs/api.md). */
#define S_UNREAD_COUNTED_MAX 100

void cli_print_json(json_t *value)
{
    QB_ASSERT(value != NULL);
    char *text = json_dumps(value, JSON_COMPACT);
    QB_ASSERT(text != NULL);
    printf("%s\n", text);
    free(text);
    json_decref(value);
}

/* A user object (GET /v1/me and the answers that carry the user). */
static void S_user_print(const struct cli *cli, const json_t *user)
{
    char text[160];
    cli_print_field(cli, "id", cli_json_str(user, "id"));
    cli_print_field(cli, "phone", cli_json_str(user, "phone"));
    cli_print_field(cli, "name", cli_json_str(user, "display_name"));
    json_int_t level = json_integer_value(json_object_get(user, "kyc_level"));
    const char *last4 = cli_json_str(user, "id_number_last4");
    if (last4[0] != '\0')
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT " (id number ending %s)", level,
                 last4);
    else
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, level);
    cli_print_field(cli, "kyc level", text);
    const char *frozen_by = cli_json_str(user, "frozen_by");
    if (strcmp(frozen_by, "operator") == 0)
        cli_print_field(cli, "status", "frozen by the operator (only the operator can lift it)");
    else if (strcmp(frozen_by, "self") == 0)
        cli_print_field(cli, "status", "frozen by you (`qianbao security unfreeze` lifts it)");
    else
        cli_print_field(cli, "status", cli_json_str(user, "status"));
    json_t *set = json_object_get(user, "payment_password_set");
    if (set != NULL)
        cli_print_field(cli, "payment password", json_is_true(set) ? "set" : "not set");
    cli_print_field(cli, "created at", cli_json_str(user, "created_at"));
}

/* --json: the body; else the user. */
static void S_user_answer(const struct cli *cli, const struct cli_response *res)
{
    if (cli->json)
        cli_print_body(res);
    else
        S_user_print(cli, res->json);
}

/* " WORD" onto line at *used, as one word of a shell (cli_shell_word): the
 * hint is there to be pasted. A word that does not fit whole is left out. */
static void S_word_add(char *line, size_t size, size_t *used, const char *word)
{
    char quoted[CLI_SHELL_WORD_SIZE_MAX];
    cli_shell_word(word, quoted, sizeof quoted);
    size_t n = strlen(quoted);
    if (*used + 1 + n < size) {
        line[(*used)++] = ' ';
        memcpy(line + *used, quoted, n + 1);
        *used += n;
    }
}

void cli_next_page_hint(struct cli *cli, const json_t *page)
{
    const char *cursor = cli_json_str(page, "next_cursor");
    if (cursor[0] == '\0' || cli->json)
        return;
    char globals[1024] = "", line[1024] = "";
    size_t used = 0;
    /* The cursor is good only on this server for this caller: the command
     * to run next names them as this one did. */
    if (cli->server_explicit) {
        S_word_add(globals, sizeof globals, &used, "--server");
        S_word_add(globals, sizeof globals, &used, cli->server);
    }
    if (cli->profile_explicit) {
        S_word_add(globals, sizeof globals, &used, "--profile");
        S_word_add(globals, sizeof globals, &used, cli->profile);
    }
    used = 0;
    const struct cli_args *args = cli->args;
    for (size_t i = 0; args != NULL && i < args->positional_count; i++)
        S_word_add(line, sizeof line, &used, args->positionals[i]);
    for (size_t i = 0; args != NULL && i < CLI_OPTIONS_MAX && cli->command->options[i].name != NULL;
         i++) {
        const char *name = cli->command->options[i].name;
        if (args->values[i] == NULL || strcmp(name, "cursor") == 0)
            continue;
        char option[64];
        snprintf(option, sizeof option, "--%s", name);
        S_word_add(line, sizeof line, &used, option);
        if (cli->command->options[i].value_name != NULL)
            S_word_add(line, sizeof line, &used, args->values[i]);
    }
    char quoted[1024] = "";
    used = 0;
    S_word_add(quoted, sizeof quoted, &used, cursor);
    cli_hint(cli, "more rows: run `qianbao%s %s%s --cursor%s`", globals, cli->command->name, line,
             quoted);
}

void cli_page_print(struct cli *cli, const struct cli_response *res, const char *const *headers,
                    size_t column_count, void (*row)(struct cli_table *table, const json_t *item),
                    const char *empty)
{
    if (cli->json) {
        cli_print_body(res);
        return;
    }
    const json_t *items = json_object_get(res->json, "items");
    struct cli_table table;
    cli_table_init(&table, headers, column_count);
    size_t index;
    const json_t *item;
    json_array_foreach(items, index, item) row(&table, item);
    if (json_array_size(items) == 0 && empty != NULL)
        printf("%s\n", empty);
    else
        cli_table_print(cli, &table);
    cli_table_release(&table);
    cli_next_page_hint(cli, res->json);
}

int cli_page_show(struct cli *cli, const char *path, enum cli_auth auth, const char *const *headers,
                  size_t column_count, void (*row)(struct cli_table *table, const json_t *item),
                  const char *empty)
{
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, auth, NULL, &res);
    if (rc == CLI_EXIT_OK)
        cli_page_print(cli, &res, headers, column_count, row, empty);
    cli_response_release(&res);
    return rc;
}

int cli_limit_arg_max(struct cli *cli, const struct cli_args *args, long max, char *out,
                      size_t out_size)
{
    const char *limit = cli_arg(cli, args, "limit");
    out[0] = '\0';
    if (limit == NULL)
        return CLI_EXIT_OK;
    size_t size = strlen(limit);
    if (size == 0 || size > 4 || strspn(limit, "0123456789") != size || limit[0] == '0' ||
        strtol(limit, NULL, 10) > max)
        return cli_usage_error(cli, "--limit must be a whole number from 1 to %ld", max);
    snprintf(out, out_size, "%s", limit);
    return CLI_EXIT_OK;
}

int cli_limit_arg(struct cli *cli, const struct cli_args *args, char *out, size_t out_size)
{
    return cli_limit_arg_max(cli, args, 100, out, out_size);
}

int cli_page_path(struct cli *cli, const struct cli_args *args, char *path, size_t path_size)
{
    char limit[8];
    int rc = cli_limit_arg(cli, args, limit, sizeof limit);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *cursor = cli_arg(cli, args, "cursor");
    if ((limit[0] != '\0' && !cli_query_add(path, path_size, "limit", limit)) ||
        (cursor != NULL && !cli_query_add(path, path_size, "cursor", cursor)))
        return cli_usage_error(cli, "the options are too long");
    return CLI_EXIT_OK;
}

/* --- sms-code, register, login, logout ----------------------------------- */

int cli_run_sms_code(struct cli *cli, const struct cli_args *args)
{
    struct cli_profile profile;
    const char *phone = args->positional_count > 0 ? args->positionals[0] : NULL;
    if (phone == NULL) {
        if (cli_profile_load(cli->profile, &profile) != QB_OK ||
            profile.kind != CLI_PROFILE_USER)
            return cli_usage_error(cli, "PHONE is missing (and no user is logged in)");
        cli_secret_wipe(profile.token, sizeof profile.token);
        phone = profile.phone;
    }
    char digits[PHONE_SIZE_MAX];
    if (!phone_normalize(phone, digits))
        return cli_phone_refuse(cli, "PHONE");
    phone = digits;
    const char *purpose = cli_arg(cli, args, "purpose");
    const char *target = cli_arg(cli, args, "target");
    json_t *body = json_pack("{s:s, s:s}", "phone", phone, "purpose", purpose);
    if (body == NULL || (target != NULL && json_object_set_new(body, "target",
                                                               json_string(target)) != 0)) {
        json_decref(body);
        return cli_usage_error(cli, "PHONE, --purpose and --target must be UTF-8 text");
    }
    /* A bind_card or change_phone code is the asking wallet's: the
     * logged-in user's. */
    bool wallet = purpose != NULL &&
                  (strcmp(purpose, "bind_card") == 0 || strcmp(purpose, "change_phone") == 0);
    struct cli_response res;
    int rc =
        cli_call(cli, "POST", "/v1/sms-codes", wallet ? CLI_AUTH_USER : CLI_AUTH_NONE, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json) {
            cli_print_body(&res);
        } else {
            char clean[32];
            cli_text_clean(phone, clean, sizeof clean);
            printf("requested an SMS code (purpose %s) for %s: valid for %" JSON_INTEGER_FORMAT
                   " s once it arrives\n",
                   purpose, clean, json_integer_value(json_object_get(res.json, "expires_in")));
        }
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_register(struct cli *cli, const struct cli_args *args)
{
    char number[PHONE_SIZE_MAX];
    if (!phone_normalize(cli_arg(cli, args, "phone"), number))
        return cli_phone_refuse(cli, "--phone");
    char code[CLI_CODE_SIZE_MAX], password[CLI_SECRET_SIZE_MAX];
    int rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_secret_read(cli, cli_arg(cli, args, "password-stdin") != NULL,
                         "New password: ", "Repeat it: ", password, sizeof password);
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(code, sizeof code);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "phone", number, "sms_code", code, "password",
                             password, "display_name", cli_arg(cli, args, "name"));
    cli_secret_wipe(code, sizeof code);
    cli_secret_wipe(password, sizeof password);
    if (body == NULL)
        return cli_usage_error(cli, "--name and the password must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/users", CLI_AUTH_NONE, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json) {
            cli_print_body(&res);
        } else {
            char phone[32], name[160], id[64];
            cli_text_clean(cli_json_str(res.json, "phone"), phone, sizeof phone);
            cli_text_clean(cli_json_str(res.json, "display_name"), name, sizeof name);
            cli_text_clean(cli_json_str(res.json, "id"), id, sizeof id);
            printf("registered %s as %s (%s)\n", phone, name, id);
            printf("next: qianbao login --phone %s\n", phone);
        }
    }
    cli_response_release(&res);
    return rc;
}

/* Reads the operator's token from --admin-token-file or QIANBAO_ADMIN_TOKEN. */
static int S_admin_token(struct cli *cli, const struct cli_args *args, char *token,
                         size_t token_size)
{
    const char *file = cli_arg(cli, args, "admin-token-file");
    if (file != NULL) {
        FILE *f = fopen(file, "r");
        if (f == NULL)
            return cli_usage_error(cli, "cannot read --admin-token-file \"%s\": %s", file,
                                   strerror(errno));
        bool ok = fgets(token, (int)token_size, f) != NULL;
        fclose(f);
        if (!ok)
            token[0] = '\0';
    } else {
        const char *env = getenv("QIANBAO_ADMIN_TOKEN");
        if (env == NULL || env[0] == '\0')
            return cli_usage_error(cli, "--admin needs --admin-token-file FILE or "
                                        "QIANBAO_ADMIN_TOKEN");
        snprintf(token, token_size, "%s", env);
    }
    token[strcspn(token, "\r\n")] = '\0';
    size_t size = strlen(token);
    bool printable = size > 0;
    for (size_t i = 0; i < size; i++)
        printable = printable && token[i] > 0x20 && token[i] < 0x7f;
    if (!printable) {
        cli_secret_wipe(token, token_size);
        return cli_usage_error(cli, "the admin token must be one line of printable characters");
    }
    return CLI_EXIT_OK;
}

static int S_login_admin(struct cli *cli, const struct cli_args *args)
{
    struct cli_profile profile;
    memset(&profile, 0, sizeof profile);
    int rc = S_admin_token(cli, args, profile.token, sizeof profile.token);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* Check the token before storing it: the cheapest admin read. */
    struct cli_response res;
    rc = cli_call_token(cli, "GET", "/admin/users?limit=1", CLI_AUTH_ADMIN, profile.token, NULL,
                        &res);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(profile.token, sizeof profile.token);
        return rc;
    }
    const char *name = cli->profile_explicit ? cli->profile : CLI_ADMIN_PROFILE;
    profile.kind = CLI_PROFILE_ADMIN;
    snprintf(profile.server, sizeof profile.server, "%s", cli->server);
    enum qb_error err = cli_profile_save(name, &profile);
    cli_secret_wipe(profile.token, sizeof profile.token);
    if (err != QB_OK)
        return cli_fail(cli, CLI_EXIT_USAGE, "PROFILE_UNWRITABLE",
                        "cannot write the profile \"%s\" under $XDG_CONFIG_HOME/qianbao/", name);
    if (cli->json)
        cli_print_json(json_pack("{s:s, s:s, s:s}", "profile", name, "server", cli->server, "kind",
                               "admin"));
    else
        printf("logged in as the operator on %s (profile \"%s\")\n", cli->server, name);
    return CLI_EXIT_OK;
}

int cli_run_login(struct cli *cli, const struct cli_args *args)
{
    if (cli_arg(cli, args, "admin") != NULL || cli_arg(cli, args, "admin-token-file") != NULL)
        return S_login_admin(cli, args);
    char phone[32];
    const char *given = cli_arg(cli, args, "phone");
    int rc;
    if (given == NULL && (rc = cli_line_read(cli, "Phone: ", phone, sizeof phone)) != CLI_EXIT_OK)
        return rc;
    /* Before the password is asked for: a password typed at the phone's
     * prompt by mistake goes no further than this terminal. */
    char digits[PHONE_SIZE_MAX];
    if (!phone_normalize(given != NULL ? given : phone, digits))
        return cli_phone_refuse(cli, given != NULL ? "--phone" : "the phone");
    snprintf(phone, sizeof phone, "%s", digits);
    bool with_code = cli_arg(cli, args, "code") != NULL;
    bool with_login_code = cli_arg(cli, args, "login-code") != NULL;
    if (with_login_code && (with_code || cli_arg(cli, args, "password-stdin") != NULL))
        return cli_usage_error(cli, "--login-code logs in without the password: leave out "
                                    "--code and --password-stdin");
    /* The code first (its line comes before the password's on stdin). */
    char sms_code[CLI_CODE_SIZE_MAX] = "";
    if (with_code || with_login_code) {
        rc = cli_secret_arg(cli, args, with_code ? "code" : "login-code", "SMS code: ", sms_code,
                            sizeof sms_code);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    char password[CLI_SECRET_SIZE_MAX] = "";
    if (!with_login_code &&
        (rc = cli_secret_read(cli, cli_arg(cli, args, "password-stdin") != NULL, "Password: ", NULL,
                              password, sizeof password)) != CLI_EXIT_OK) {
        cli_secret_wipe(sms_code, sizeof sms_code);
        return rc;
    }
    char device[65];
    const char *device_arg = cli_arg(cli, args, "device");
    if (device_arg != NULL) {
        if (strlen(device_arg) >= sizeof device)
            return cli_usage_error(cli, "--device is a name of at most 64 bytes");
        snprintf(device, sizeof device, "%s", device_arg);
    } else {
        char host[54] = ""; /* "qianbao on " and the host fit device_name's 64 bytes */
        if (gethostname(host, sizeof host) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0';
        snprintf(device, sizeof device, "qianbao on %s",
                 host[0] != '\0' ? host : "this computer");
    }
    json_t *body = json_pack("{s:s, s:s}", "phone", phone, "device_name", device);
    bool built = body != NULL;
    if (built && !with_login_code)
        built = json_object_set_new(body, "password", json_string(password)) == 0;
    cli_secret_wipe(password, sizeof password);
    if (built && (with_code || with_login_code))
        built = json_object_set_new(body, "sms_code", json_string(sms_code)) == 0;
    cli_secret_wipe(sms_code, sizeof sms_code);
    /* This computer's key on the account, when a profile holds one: with
     * it the password alone logs in. */
    char device_key[CLI_TOKEN_SIZE_MAX];
    if (built &&
        cli_device_key_find(cli->profile, cli->server, phone, device_key, sizeof device_key)) {
        built = json_object_set_new(body, "device_key", json_string(device_key)) == 0;
        cli_secret_wipe(device_key, sizeof device_key);
    }
    if (!built) {
        json_decref(body);
        return cli_usage_error(cli, "the phone, password, code and device must be UTF-8 text");
    }
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/sessions", CLI_AUTH_NONE, body, &res);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    /* What the profile keeps must be one line of printable text each, as it
     * reads them back: else the next command finds it unreadable, or a
     * newline gives it lines of the server's choosing. */
    static const struct {
        const char *name;
        size_t size_max; /* the profile's field, with its NUL */
        bool optional;
    } kept[] = {{"token", sizeof((struct cli_profile *)0)->token, false},
                {"user_id", sizeof((struct cli_profile *)0)->user_id, false},
                {"expires_at", sizeof((struct cli_profile *)0)->expires_at, false},
                {"device_key", sizeof((struct cli_profile *)0)->device_key, true}};
    for (size_t i = 0; i < QB_ARRAY_COUNT(kept); i++) {
        const char *value = cli_json_str(res.json, kept[i].name);
        size_t size = strlen(value);
        bool printable = size < kept[i].size_max && (size > 0 || kept[i].optional);
        for (size_t k = 0; printable && k < size; k++)
            printable = value[k] > 0x20 && value[k] < 0x7f;
        if (!printable) {
            cli_secret_wipe(res.body.data, res.body.size);
            cli_response_release(&res);
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                            "login: the answer from %s holds no usable %s; nothing was stored "
                            "(a session it opened ends when it expires)",
                            cli->server, kept[i].name);
        }
    }
    struct cli_profile profile;
    memset(&profile, 0, sizeof profile);
    profile.kind = CLI_PROFILE_USER;
    snprintf(profile.server, sizeof profile.server, "%s", cli->server);
    snprintf(profile.token, sizeof profile.token, "%s", cli_json_str(res.json, "token"));
    snprintf(profile.user_id, sizeof profile.user_id, "%s", cli_json_str(res.json, "user_id"));
    snprintf(profile.phone, sizeof profile.phone, "%s", phone);
    snprintf(profile.expires_at, sizeof profile.expires_at, "%s",
             cli_json_str(res.json, "expires_at"));
    snprintf(profile.device_key, sizeof profile.device_key, "%s",
             cli_json_str(res.json, "device_key"));
    cli_secret_wipe(res.body.data, res.body.size);
    cli_response_release(&res);
    enum qb_error err = cli_profile_save(cli->profile, &profile);
    cli_secret_wipe(profile.token, sizeof profile.token);
    cli_secret_wipe(profile.device_key, sizeof profile.device_key);
    if (err != QB_OK)
        return cli_fail(cli, CLI_EXIT_USAGE, "PROFILE_UNWRITABLE",
                        "cannot write the profile \"%s\" under $XDG_CONFIG_HOME/qianbao/ (the "
                        "session stays open until it expires)",
                        cli->profile);
    if (cli->json) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "profile", cli->profile,
                               "server", cli->server, "kind", "user", "user_id", profile.user_id,
                               "phone", profile.phone, "expires_at", profile.expires_at));
    } else {
        char clean[64];
        cli_text_clean(profile.user_id, clean, sizeof clean);
        printf("logged in as %s (%s) on %s (profile \"%s\")\n", profile.phone, clean,
               cli->server, cli->profile);
    }
    return CLI_EXIT_OK;
}

int cli_run_logout(struct cli *cli, const struct cli_args *args)
{
    const char *name = cli->profile;
    if (cli_arg(cli, args, "admin") != NULL && !cli->profile_explicit)
        name = CLI_ADMIN_PROFILE;
    struct cli_profile profile;
    bool device_revoked = false;
    enum qb_error err = cli_profile_load(name, &profile);
    if (err == QB_E_NOT_FOUND)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "NOT_LOGGED_IN",
                        "not logged in (no profile \"%s\")", name);
    if (err == QB_OK && profile.kind == CLI_PROFILE_USER) {
        /* End the session where it was opened, whatever --server says. */
        cli_secret_wipe(profile.token, sizeof profile.token);
        snprintf(cli->server, sizeof cli->server, "%s", profile.server);
        if (name != cli->profile)
            snprintf(cli->profile, sizeof cli->profile, "%s", name);
        /* The profile's own session, not QIANBAO_TOKEN's: it is the profile
         * that goes, and its session must not stay open behind it; one
         * others could read is the first to end (PROFILE_UNSAFE says so). */
        cli->profile_explicit = true;
        cli->ending = true;
        int rc = cli_paycode_forget(cli, &device_revoked);
        if (rc != CLI_EXIT_OK)
            return rc;
        struct cli_response res;
        cli->quiet = true;
        rc = cli_call(cli, "DELETE", "/v1/sessions/current", CLI_AUTH_USER, NULL, &res);
        cli->quiet = false;
        long status = res.status;
        cli_response_release(&res);
        /* 401: the session had ended already; nothing left to revoke. */
        if (rc != CLI_EXIT_OK && status != 401)
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SERVER_UNREACHABLE",
                            "cannot end the session on %s (%s); the profile \"%s\" is kept: run "
                            "`qianbao logout` again when the server answers",
                            profile.server, status == 0 ? "no answer" : "it failed", name);
    }
    cli_secret_wipe(profile.token, sizeof profile.token);
    if (cli_profile_remove(name) != QB_OK)
        return cli_fail(cli, CLI_EXIT_USAGE, "PROFILE_UNWRITABLE",
                        "cannot remove the profile \"%s\"", name);
    if (cli->json)
        cli_print_json(json_pack("{s:s, s:b}", "profile", name, "paycode_device_revoked",
                                 (int)device_revoked));
    else
        printf("logged out (profile \"%s\" removed%s)\n", name,
               device_revoked ? ", its payment-code device revoked" : "");
    return CLI_EXIT_OK;
}

/* --- me, balance ----------------------------------------------------------- */

int cli_run_me(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK)
        S_user_answer(cli, &res);
    cli_response_release(&res);
    return rc;
}

/* "hint: N unread notices" after the balance, when there are: asked
 * quietly, a failure says nothing (the balance was the question). */
static void S_unread_hint(struct cli *cli)
{
    struct cli_response res;
    cli->quiet = true;
    int rc = cli_call(cli, "GET", "/v1/me/notices/unread", CLI_AUTH_USER, NULL, &res);
    cli->quiet = false;
    json_int_t unread =
        rc == CLI_EXIT_OK ? json_integer_value(json_object_get(res.json, "unread")) : 0;
    cli_response_release(&res);
    if (unread >= S_UNREAD_COUNTED_MAX)
        cli_hint(cli, "%d or more unread notices: `qianbao notices`", S_UNREAD_COUNTED_MAX);
    else if (unread > 0)
        cli_hint(cli, "%lld unread notice%s: `qianbao notices`", (long long)unread,
                 unread == 1 ? "" : "s");
}

/* "hint: ... waits for you to take it" after the balance, when a merchant's
 * transfer does (GET /v1/me/payouts, one item: the newest; another page
 * says there are more): asked quietly like the notices. */
static void S_payouts_hint(struct cli *cli)
{
    struct cli_response res;
    cli->quiet = true;
    int rc = cli_call(cli, "GET", "/v1/me/payouts?limit=1", CLI_AUTH_USER, NULL, &res);
    cli->quiet = false;
    const json_t *newest =
        rc == CLI_EXIT_OK ? json_array_get(json_object_get(res.json, "items"), 0) : NULL;
    if (newest != NULL && json_is_string(json_object_get(res.json, "next_cursor"))) {
        cli_hint(cli, "transfers from merchants wait for you to take them: `qianbao payouts`");
    } else if (newest != NULL) {
        char amount[MONEY_TEXT_SIZE_MAX + 32], name[160], id[CLI_SHELL_WORD_SIZE_MAX];
        cli_money_amount_text(json_integer_value(json_object_get(newest, "amount")),
                              cli_json_str(newest, "currency"), amount, sizeof amount);
        cli_text_clean(cli_json_str(json_object_get(newest, "merchant"), "name"), name,
                       sizeof name);
        cli_shell_word(cli_json_str(newest, "id"), id, sizeof id);
        cli_hint(cli, "%s from %s waits for you to take it: `qianbao accept-payout %s`", amount,
                 name, id);
    }
    cli_response_release(&res);
}

int cli_run_balance(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/balances", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        static const char *const headers[] = {"CURRENCY", "AVAILABLE", "PENDING"};
        struct cli_table table;
        cli_table_init(&table, headers, 3);
        size_t index;
        json_t *balance;
        json_array_foreach(json_object_get(res.json, "balances"), index, balance)
        {
            const char *currency = cli_json_str(balance, "currency");
            char available[MONEY_TEXT_SIZE_MAX + 8], pending[MONEY_TEXT_SIZE_MAX + 8];
            cli_amount_format(json_integer_value(json_object_get(balance, "available")),
                              currency, available, sizeof available);
            cli_amount_format(json_integer_value(json_object_get(balance, "pending")), currency,
                              pending, sizeof pending);
            const char *row[] = {currency, available, pending};
            cli_table_add(&table, row);
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
        S_unread_hint(cli);
        S_payouts_hint(cli);
    }
    cli_response_release(&res);
    return rc;
}

/* --- the security centre ---------------------------------------------------- */

/* A security check's human name and what to do when it is not met. */
static void S_check_text(const char *name, const char **label, const char **todo)
{
    static const char *const checks[][3] = {
        {"payment_password_set", "payment password set",
         "`qianbao sms-code --purpose reset_payment_password`, then `qianbao payment-password "
         "set` (it asks for the code)"},
        {"kyc_level_2", "real name verified (KYC level 2)",
         "`qianbao kyc --name NAME` (it asks for the id number)"},
        {"no_recent_new_devices", "no new device lately",
         "check `qianbao security sessions`; end unknown ones with `qianbao security revoke "
         "ID`"},
        {"no_recent_lockouts", "no lockout lately",
         "someone may be guessing your password: change it, check `qianbao security "
         "sessions`"},
        {"not_frozen", "wallet not frozen",
         "if you froze it: `qianbao sms-code --purpose unfreeze`, then `qianbao security "
         "unfreeze` (it asks for the code); if the operator did (`qianbao me`), only the operator "
         "can"},
    };
    *label = name;
    *todo = NULL;
    for (size_t i = 0; i < QB_ARRAY_COUNT(checks); i++) {
        if (strcmp(checks[i][0], name) == 0) {
            *label = checks[i][1];
            *todo = checks[i][2];
        }
    }
}

int cli_run_security(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/security", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char text[128];
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT "/100",
                 json_integer_value(json_object_get(res.json, "score")));
        cli_print_field(cli, "security score", text);
        putchar('\n');
        size_t index;
        json_t *item;
        json_array_foreach(json_object_get(res.json, "items"), index, item)
        {
            bool ok = json_is_true(json_object_get(item, "ok"));
            const char *label, *todo;
            char name[64];
            cli_text_clean(cli_json_str(item, "name"), name, sizeof name);
            S_check_text(name, &label, &todo);
            printf("  ");
            cli_print_colored(cli, ok ? CLI_COLOR_GREEN : CLI_COLOR_RED, ok ? "[ok]" : "[--]");
            snprintf(text, sizeof text, " %-34s %3" JSON_INTEGER_FORMAT, label,
                     json_integer_value(json_object_get(item, "weight")));
            printf("%s\n", text);
            if (!ok && todo != NULL)
                printf("         to do: %s\n", todo);
        }
    }
    cli_response_release(&res);
    return rc;
}

static void S_session_row(struct cli_table *table, const json_t *s)
{
    const char *state = json_is_true(json_object_get(s, "revoked"))   ? "ended"
                        : json_is_true(json_object_get(s, "current")) ? "current"
                                                                      : "active";
    const char *row[] = {cli_json_str(s, "id"),         cli_json_str(s, "device_name"),
                         cli_json_str(s, "created_at"), cli_json_str(s, "last_seen_at"),
                         cli_json_str(s, "expires_at"), state};
    cli_table_add(table, row);
}

int cli_run_security_sessions(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"ID",        "DEVICE",  "CREATED",
                                          "LAST SEEN", "EXPIRES", "STATE"};
    char path[512] = "/v1/me/sessions";
    int rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_page_show(cli, path, CLI_AUTH_USER, headers,
                                             QB_ARRAY_COUNT(headers), S_session_row, NULL)
                             : rc;
}

/* What a security event's kind means, in words. */
static const char *S_event_text(const char *kind)
{
    static const char *const texts[][2] = {
        {"new_device", "logged in from a new device"},
        {"sms_login", "logged in with an SMS code alone"},
        {"new_device_refused", "right password from a new device, refused without the code"},
        {"lockout", "locked after too many wrong tries"},
        {"password_changed", "login password changed"},
        {"payment_password_set", "payment password set"},
        {"kyc_level_2", "real name verified"},
        {"freeze", "frozen"},
        {"unfreeze", "unfrozen"},
        {"kyc_level_set", "KYC level set by the operator"},
        {"paycode_device_added", "payment-code device added"},
        {"paycode_device_revoked", "payment-code device revoked"},
        {"merchant_suspended", "merchant suspended by the operator"},
        {"merchant_resumed", "merchant resumed by the operator"},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(texts); i++)
        if (strcmp(texts[i][0], kind) == 0)
            return texts[i][1];
    return kind;
}

static void S_event_row(struct cli_table *table, const json_t *event)
{
    const char *row[] = {cli_json_str(event, "created_at"),
                         S_event_text(cli_json_str(event, "kind")), cli_json_str(event, "detail")};
    cli_table_add(table, row);
}

int cli_security_events_show(struct cli *cli, const char *path, enum cli_auth auth)
{
    static const char *const headers[] = {"WHEN", "WHAT", "DETAIL"};
    return cli_page_show(cli, path, auth, headers, QB_ARRAY_COUNT(headers), S_event_row, NULL);
}

int cli_run_security_events(struct cli *cli, const struct cli_args *args)
{
    char path[512] = "/v1/me/security-events";
    int rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_security_events_show(cli, path, CLI_AUTH_USER) : rc;
}

int cli_run_security_revoke(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[192];
    if (!cli_path_escape(args->positionals[0], id, sizeof id))
        return cli_usage_error(cli, "ID is too long");
    snprintf(path, sizeof path, "/v1/me/sessions/%s", id);
    struct cli_response res;
    int rc = cli_call(cli, "DELETE", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK) {
        if (cli->json) {
            cli_print_body(&res);
        } else {
            char clean[128];
            cli_text_clean(args->positionals[0], clean, sizeof clean);
            printf("ended session %s\n", clean);
        }
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_security_freeze(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "POST", "/v1/me/freeze", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        printf(
            "frozen: no money moves in or out of this wallet, and every other session was ended\n");
        printf("to lift it: qianbao sms-code --purpose unfreeze, then qianbao security unfreeze "
               "(it asks for the code)\n");
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_security_unfreeze(struct cli *cli, const struct cli_args *args)
{
    char code[CLI_CODE_SIZE_MAX], password[CLI_SECRET_SIZE_MAX];
    int rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_secret_read(cli, cli_arg(cli, args, "password-stdin") != NULL,
                         "Login password: ", NULL, password, sizeof password);
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(code, sizeof code);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:s}", "password", password, "sms_code", code);
    cli_secret_wipe(code, sizeof code);
    cli_secret_wipe(password, sizeof password);
    if (body == NULL)
        return cli_usage_error(cli, "the password must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/me/unfreeze", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        printf("unfrozen: the wallet is %s again\n", cli_json_str(res.json, "status"));
    cli_response_release(&res);
    return rc;
}

/* --- KYC and the payment password ------------------------------------------ */

int cli_run_kyc(struct cli *cli, const struct cli_args *args)
{
    char id_number[CLI_CODE_SIZE_MAX];
    int rc = cli_secret_arg(cli, args, "id-number", "Id number: ", id_number, sizeof id_number);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body =
        json_pack("{s:s, s:s}", "real_name", cli_arg(cli, args, "name"), "id_number", id_number);
    cli_secret_wipe(id_number, sizeof id_number);
    if (body == NULL)
        return cli_usage_error(cli, "--name and --id-number must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/me/kyc", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char last4[16];
        cli_text_clean(cli_json_str(res.json, "id_number_last4"), last4, sizeof last4);
        printf("verified: KYC level %" JSON_INTEGER_FORMAT " (id number ending %s)\n",
               json_integer_value(json_object_get(res.json, "kyc_level")), last4);
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_password_set(struct cli *cli, const struct cli_args *args)
{
    bool from_stdin = cli_arg(cli, args, "password-stdin") != NULL;
    bool with_code = cli_arg(cli, args, "code") != NULL;
    char code[CLI_CODE_SIZE_MAX] = "";
    char current[CLI_SECRET_SIZE_MAX] = "", password[CLI_SECRET_SIZE_MAX] = "";
    int rc = CLI_EXIT_OK;
    if (with_code)
        rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    else
        rc = cli_secret_read(cli, from_stdin, "Current password: ", NULL, current, sizeof current);
    if (rc == CLI_EXIT_OK)
        rc = cli_secret_read(cli, from_stdin, "New password: ", "Repeat it: ", password,
                             sizeof password);
    json_t *body = NULL;
    if (rc == CLI_EXIT_OK) {
        body = with_code
                   ? json_pack("{s:s, s:s}", "password", password, "sms_code", code)
                   : json_pack("{s:s, s:s}", "password", password, "current_password", current);
        if (body == NULL)
            rc = cli_usage_error(cli, "the passwords and --code must be UTF-8 text");
    }
    cli_secret_wipe(code, sizeof code);
    cli_secret_wipe(current, sizeof current);
    cli_secret_wipe(password, sizeof password);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "PUT", "/v1/me/password", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else
            printf("login password changed; every other session of the account is logged out\n");
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_payment_password_set(struct cli *cli, const struct cli_args *args)
{
    char code[CLI_CODE_SIZE_MAX], id_number[CLI_CODE_SIZE_MAX] = "", digits[CLI_SECRET_SIZE_MAX];
    bool with_id_number = cli_arg(cli, args, "id-number") != NULL;
    int rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    if (rc == CLI_EXIT_OK && with_id_number)
        rc = cli_secret_arg(cli, args, "id-number", "Id number: ", id_number, sizeof id_number);
    if (rc == CLI_EXIT_OK)
        rc = cli_secret_read(cli, cli_arg(cli, args, "password-stdin") != NULL,
                             "New payment password (six digits): ", "Repeat it: ", digits,
                             sizeof digits);
    if (rc == CLI_EXIT_OK && (strlen(digits) != 6 || strspn(digits, "0123456789") != 6)) {
        cli_secret_wipe(digits, sizeof digits);
        rc = cli_usage_error(cli, "the payment password must be six digits");
    }
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(code, sizeof code);
        cli_secret_wipe(id_number, sizeof id_number);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:s}", "payment_password", digits, "sms_code", code);
    cli_secret_wipe(digits, sizeof digits);
    cli_secret_wipe(code, sizeof code);
    if (body != NULL && with_id_number &&
        json_object_set_new(body, "id_number", json_string(id_number)) != 0) {
        json_decref(body);
        body = NULL;
    }
    cli_secret_wipe(id_number, sizeof id_number);
    if (body == NULL)
        return cli_usage_error(cli, "--code and --id-number must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "PUT", "/v1/me/payment-password", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else
            printf("payment password set\n");
    }
    cli_response_release(&res);
    return rc;
}

/* --- a new phone number ------------------------------------------------------ */

int cli_run_name_change(struct cli *cli, const struct cli_args *args)
{
    json_t *body = json_pack("{s:s}", "display_name", args->positionals[0]);
    if (body == NULL)
        return cli_usage_error(cli, "NAME must be UTF-8 text");
    struct cli_response res;
    int rc = cli_call(cli, "PUT", "/v1/me/display-name", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char name[256];
        cli_text_clean(cli_json_str(res.json, "display_name"), name, sizeof name);
        printf("your name is now %s: payers see it masked\n", name);
    }
    cli_response_release(&res);
    return rc;
}

/* --- closing the wallet --------------------------------------------------------- */

/* What stands in the way of closing the wallet, in words. */
static int S_closing_check(struct cli *cli)
{
    static const struct {
        const char *reason, *text;
    } texts[] = {
        {"balance", "money is in the balance: withdraw it to a card (`qianbao withdraw`), or "
                    "spend it"},
        {"kyc_lifetime", "money is in the balance, and your KYC level 1 lifetime limit leaves too "
                         "little to withdraw or spend it: verify your identity (`qianbao kyc`) to "
                         "raise your level"},
        {"pending", "a top-up, withdrawal or delayed transfer is on its way: wait until it is "
                    "done, or cancel the transfer"},
        {"red_packet", "a red packet you sent still takes claims: what is left comes back when "
                       "it expires"},
        {"merchant", "you own a merchant that is not closed: withdraw its balance, then `qianbao "
                     "merchant close`"},
        {"frozen", "the wallet is frozen: unfreeze it first (`qianbao security unfreeze`)"},
        {"payment_password", "no payment password proves it is you: set one "
                             "(`qianbao payment-password set`)"},
    };
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/closing", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        const json_t *reasons = json_object_get(res.json, "reasons");
        if (json_array_size(reasons) == 0)
            printf(
                "nothing stands in the way: ask for a code (`qianbao sms-code --purpose "
                "close_account`), then `qianbao close-account --code -` (it asks for the code)\n");
        else
            printf("the wallet cannot close yet:\n");
        for (size_t i = 0; i < json_array_size(reasons); i++) {
            const char *reason = json_string_value(json_array_get(reasons, i));
            const char *text = reason;
            for (size_t t = 0; reason != NULL && t < QB_ARRAY_COUNT(texts); t++)
                if (strcmp(texts[t].reason, reason) == 0)
                    text = texts[t].text;
            char clean[256];
            cli_text_clean(text != NULL ? text : "", clean, sizeof clean);
            printf("  - %s\n", clean);
        }
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_close_account(struct cli *cli, const struct cli_args *args)
{
    if (cli_arg(cli, args, "code") == NULL)
        return S_closing_check(cli);
    char code[CLI_CODE_SIZE_MAX], digits[CLI_SECRET_SIZE_MAX];
    int rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_money_payment_password(cli, args, digits, sizeof digits);
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(code, sizeof code);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:s}", "sms_code", code, "payment_password", digits);
    cli_secret_wipe(code, sizeof code);
    cli_secret_wipe(digits, sizeof digits);
    if (body == NULL)
        return cli_usage_error(cli, "--code must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/me/close", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    if (cli->json)
        cli_print_body(&res);
    else
        printf("the wallet is closed for good; its phone may register a new one\n");
    cli_response_release(&res);
    /* The server ended the session and revoked the devices: what is left
     * is this profile's own, its payment-code seed and its token; unless
     * the wallet closed was QIANBAO_TOKEN's, and the profile perhaps
     * another user's. */
    if (cli_token_from_env(cli, CLI_AUTH_USER))
        return CLI_EXIT_OK;
    bool revoked, quiet = cli->quiet;
    cli->quiet = true;
    rc = cli_paycode_forget(cli, &revoked);
    cli->quiet = quiet;
    if (rc == CLI_EXIT_OK && cli_profile_remove(cli->profile) != QB_OK)
        cli_hint(cli, "cannot remove the profile \"%s\": its session has ended", cli->profile);
    return rc;
}

int cli_run_phone_change(struct cli *cli, const struct cli_args *args)
{
    char number[PHONE_SIZE_MAX];
    if (!phone_normalize(args->positionals[0], number))
        return cli_phone_refuse(cli, "NEW_PHONE");
    char code[CLI_CODE_SIZE_MAX], digits[CLI_SECRET_SIZE_MAX];
    int rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_money_payment_password(cli, args, digits, sizeof digits);
    if (rc != CLI_EXIT_OK) {
        cli_secret_wipe(code, sizeof code);
        return rc;
    }
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "phone", number, "sms_code", code, "payment_password", digits);
    cli_secret_wipe(code, sizeof code);
    cli_secret_wipe(digits, sizeof digits);
    if (body == NULL)
        return cli_usage_error(cli, "NEW_PHONE and --code must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "PUT", "/v1/me/phone", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    /* The profile logs in, asks for codes and finds its device key by the
     * phone: it follows the account. */
    const char *phone = cli_json_str(res.json, "phone");
    struct cli_profile profile;
    bool kept = false;
    if (cli_profile_load(cli->profile, &profile) == QB_OK && profile.kind == CLI_PROFILE_USER &&
        strcmp(profile.user_id, cli_json_str(res.json, "id")) == 0 &&
        strlen(phone) < sizeof profile.phone) {
        snprintf(profile.phone, sizeof profile.phone, "%s", phone);
        kept = cli_profile_save(cli->profile, &profile) == QB_OK;
    }
    cli_secret_wipe(profile.token, sizeof profile.token);
    if (cli->json) {
        cli_print_body(&res);
    } else {
        char clean[32];
        cli_text_clean(phone, clean, sizeof clean);
        printf("the wallet's phone is now %s: log in, get codes and be paid with it\n", clean);
    }
    if (!kept)
        cli_hint(cli, "profile \"%s\" still names the old phone: log in again with the new one",
                 cli->profile);
    cli_response_release(&res);
    return rc;
}
