/*
 * admin.c — the operator's commands: users, freezing, login locks, KYC levels,
 * payments and red packets, merchants and their suspension, and the development SMS outbox. They
 * authenticate with the admin token (the daemon's DATA_DIR/admin-token), from QIANBAO_ADMIN_TOKEN
 * or the profile written by `qianbao login --admin` ("admin" unless --profile is given).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/rand.h"
#include "cli/cli_int.h"

/* path plus the filters and paging options given. */
static int S_list_path(struct cli *cli, const struct cli_args *args, char *path, size_t path_size)
{
    char limit[8];
    int rc = cli_limit_arg(cli, args, limit, sizeof limit);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *phone = cli_arg(cli, args, "phone");
    const char *cursor = cli_arg(cli, args, "cursor");
    /* A whole number as people write it ("+86 139-0000-0012") is its
     * digits; anything else (a prefix) goes as typed. */
    char digits[PHONE_SIZE_MAX];
    if (phone != NULL && phone_normalize(phone, digits))
        phone = digits;
    if ((phone != NULL && !cli_query_add(path, path_size, "phone", phone)) ||
        (limit[0] != '\0' && !cli_query_add(path, path_size, "limit", limit)) ||
        (cursor != NULL && !cli_query_add(path, path_size, "cursor", cursor)))
        return cli_usage_error(cli, "the options are too long");
    return CLI_EXIT_OK;
}

int cli_user_id_arg(struct cli *cli, const char *arg, char *out, size_t out_size)
{
    char phone[PHONE_SIZE_MAX];
    if (strncmp(arg, "u_", 2) != 0 && !phone_normalize(arg, phone))
        return cli_usage_error(cli, "ID is a user id (u_...) or a mobile number, not a name: "
                                    "find it with `qianbao admin users`");
    if (strncmp(arg, "u_", 2) == 0) {
        if (!cli_path_escape(arg, out, out_size))
            return cli_usage_error(cli, "ID is too long");
        return CLI_EXIT_OK;
    }
    /* A phone, as the operator was given it: the user who has exactly it,
     * the newest first: a wallet open on it now, before one closed. */
    char path[64];
    snprintf(path, sizeof path, "/admin/users?phone=%s&limit=100", phone);
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_ADMIN, NULL, &res);
    const char *id = NULL;
    const json_t *items = rc == CLI_EXIT_OK ? json_object_get(res.json, "items") : NULL;
    for (size_t i = 0; i < json_array_size(items) && id == NULL; i++) {
        const json_t *user = json_array_get(items, i);
        if (strcmp(cli_json_str(user, "phone"), phone) == 0)
            id = cli_json_str(user, "id");
    }
    if (rc == CLI_EXIT_OK && id == NULL)
        rc =
            cli_fail(cli, CLI_EXIT_REFUSED, "NOT_FOUND", "no user has the mobile number %s", phone);
    else if (rc == CLI_EXIT_OK && !cli_path_escape(id, out, out_size))
        rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SYSTEM_ERROR", "the server sent a bad user id");
    cli_response_release(&res);
    return rc;
}

/* Each user with KYC level, status and what the user may spend, and what
 * is held for withdrawals the bank has not settled: both the user's money,
 * as `qianbao balance` shows them. */
static void S_user_row(struct cli_table *table, const json_t *user)
{
    char kyc[24], available[MONEY_TEXT_SIZE_MAX + 16], pending[MONEY_TEXT_SIZE_MAX + 16];
    snprintf(kyc, sizeof kyc, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(user, "kyc_level")));
    const json_t *balances = json_object_get(user, "balances");
    cli_balances_text(balances, "available", available, sizeof available);
    cli_balances_text(balances, "pending", pending, sizeof pending);
    const char *row[] = {cli_json_str(user, "id"),
                         cli_json_str(user, "phone"),
                         cli_json_str(user, "display_name"),
                         kyc,
                         cli_json_str(user, "status"),
                         available,
                         pending,
                         cli_json_str(user, "created_at")};
    cli_table_add(table, row);
}

int cli_run_admin_users(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"ID",     "PHONE",     "NAME",    "KYC",
                                          "STATUS", "AVAILABLE", "PENDING", "CREATED"};
    char path[512] = "/admin/users";
    int rc = S_list_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_page_show(cli, path, CLI_AUTH_ADMIN, headers,
                                             QB_ARRAY_COUNT(headers), S_user_row, NULL)
                             : rc;
}

/* method /admin/users/{ID}/<action> with body (may be NULL), then "<done>
 * ID (PHONE): status S, KYC level N". */
static int S_user_action(struct cli *cli, const struct cli_args *args, const char *method,
                         const char *action, const json_t *body, const char *done)
{
    char id[128], path[256];
    int rc = cli_user_id_arg(cli, args->positionals[0], id, sizeof id);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(path, sizeof path, "/admin/users/%s/%s", id, action);
    struct cli_response res;
    rc = cli_call(cli, method, path, CLI_AUTH_ADMIN, body, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char user_id[64], phone[32], status[32];
        cli_text_clean(cli_json_str(res.json, "id"), user_id, sizeof user_id);
        cli_text_clean(cli_json_str(res.json, "phone"), phone, sizeof phone);
        cli_text_clean(cli_json_str(res.json, "status"), status, sizeof status);
        printf("%s %s (%s): status %s, KYC level %" JSON_INTEGER_FORMAT "\n", done, user_id,
               phone, status, json_integer_value(json_object_get(res.json, "kyc_level")));
    }
    cli_response_release(&res);
    return rc;
}

/* A freeze, an unfreeze, a login unlock or a closing, with --reason for the
 * audit line when given (the unlock's and the closing's table rows require
 * it). */
static int S_reasoned_action(struct cli *cli, const struct cli_args *args, const char *action,
                             const char *done)
{
    const char *reason = cli_arg(cli, args, "reason");
    json_t *body = reason != NULL ? json_pack("{s:s}", "reason", reason) : NULL;
    if (reason != NULL && body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    int rc = S_user_action(cli, args, "POST", action, body, done);
    json_decref(body);
    return rc;
}

int cli_run_admin_freeze(struct cli *cli, const struct cli_args *args)
{
    return S_reasoned_action(cli, args, "freeze", "froze");
}

int cli_run_admin_unfreeze(struct cli *cli, const struct cli_args *args)
{
    return S_reasoned_action(cli, args, "unfreeze", "unfroze");
}

int cli_run_admin_user_unlock(struct cli *cli, const struct cli_args *args)
{
    return S_reasoned_action(cli, args, "login-unlock", "lifted the login lock of");
}

int cli_run_admin_user_close(struct cli *cli, const struct cli_args *args)
{
    return S_reasoned_action(cli, args, "close", "closed");
}

int cli_run_admin_kyc_level(struct cli *cli, const struct cli_args *args)
{
    const char *level = args->positionals[1];
    if (strlen(level) != 1 || level[0] < '1' || level[0] > '3')
        return cli_usage_error(cli, "LEVEL must be 1, 2 or 3");
    const char *reason = cli_arg(cli, args, "reason");
    json_t *body = reason != NULL
                       ? json_pack("{s:i, s:s}", "kyc_level", level[0] - '0', "reason", reason)
                       : json_pack("{s:i}", "kyc_level", level[0] - '0');
    if (reason != NULL && body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    QB_ASSERT(body != NULL);
    int rc = S_user_action(cli, args, "PUT", "kyc-level", body, "set the KYC level of");
    json_decref(body);
    return rc;
}

/* A message's code is only shown by a daemon without an SMS provider; with
 * one it is hidden whether or not the provider took it, so the row says
 * that, and the delivery column says what became of the message. Its text,
 * as the phone reads it (the code in it, the card and wallet masked by the
 * server), is hidden whenever the code is; last, as the widest column. A
 * notice has no code, and its text. */
static void S_message_row(struct cli_table *table, const json_t *message)
{
    const char *code = cli_json_str(message, "code");
    const char *text = cli_json_str(message, "text");
    const char *row[] = {cli_json_str(message, "phone"),
                         cli_json_str(message, "purpose"),
                         cli_sms_is_notice(message) ? "-"
                         : code[0] != '\0'          ? code
                                                    : "(hidden)",
                         cli_json_str(message, "delivery"),
                         cli_json_str(message, "created_at"),
                         text[0] != '\0' ? text : "(hidden)"};
    cli_table_add(table, row);
}

int cli_run_admin_sms_outbox(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"PHONE",    "PURPOSE", "CODE",
                                          "DELIVERY", "CREATED", "TEXT"};
    char path[512] = "/admin/sms-outbox";
    int rc = S_list_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_page_show(cli, path, CLI_AUTH_ADMIN, headers,
                                             QB_ARRAY_COUNT(headers), S_message_row, NULL)
                             : rc;
}

int cli_run_admin_user(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[192];
    int rc = cli_user_id_arg(cli, args->positionals[0], id, sizeof id);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(path, sizeof path, "/admin/users/%s", id);
    struct cli_response res;
    rc = cli_call(cli, "GET", path, CLI_AUTH_ADMIN, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        const json_t *u = res.json;
        char text[256];
        cli_print_field(cli, "user", cli_json_str(u, "id"));
        cli_print_field(cli, "phone", cli_json_str(u, "phone"));
        cli_print_field(cli, "name", cli_json_str(u, "display_name"));
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(u, "kyc_level")));
        cli_print_field(cli, "KYC level", text);
        const char *frozen_by = cli_json_str(u, "frozen_by");
        if (frozen_by[0] != '\0')
            snprintf(text, sizeof text, "frozen by %s",
                     strcmp(frozen_by, "self") == 0 ? "the user (lifted with an SMS code)"
                                                    : "an operator");
        else if (strcmp(cli_json_str(u, "status"), "closed") == 0)
            snprintf(text, sizeof text, "closed at %s, for good", cli_json_str(u, "closed_at"));
        else
            snprintf(text, sizeof text, "%s", cli_json_str(u, "status"));
        cli_print_field(cli, "status", text);
        const char *locked = cli_json_str(u, "login_locked_until");
        if (locked[0] != '\0')
            snprintf(text, sizeof text,
                     "locked by wrong passwords until %s (or a login with an SMS "
                     "code, or `qianbao admin user-unlock`)",
                     locked);
        else
            snprintf(text, sizeof text, "open");
        cli_print_field(cli, "login", text);
        cli_print_field(cli, "payment password",
                        json_is_true(json_object_get(u, "payment_password_set")) ? "set"
                                                                                 : "not set");
        const char *last4 = cli_json_str(u, "id_number_last4");
        cli_print_field(cli, "id number", last4[0] != '\0' ? last4 : "not verified");
        cli_print_balances(cli, json_object_get(u, "balances"));
        cli_print_field(cli, "created at", cli_json_str(u, "created_at"));
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_security_events(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[512];
    int rc = cli_user_id_arg(cli, args->positionals[0], id, sizeof id);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(path, sizeof path, "/admin/users/%s/security-events", id);
    rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_security_events_show(cli, path, CLI_AUTH_ADMIN) : rc;
}

static void S_payment_row(struct cli_table *table, const json_t *p)
{
    char amount[MONEY_TEXT_SIZE_MAX + 16], card[96];
    cli_money_amount_text(json_integer_value(json_object_get(p, "amount")),
                          cli_json_str(p, "currency"), amount, sizeof amount);
    const json_t *c = json_object_get(p, "card");
    snprintf(card, sizeof card, "%s ****%s", cli_json_str(c, "bank"), cli_json_str(c, "last4"));
    const char *bank_ref = cli_json_str(p, "bank_ref");
    const char *row[] = {cli_json_str(p, "id"),
                         cli_json_str(p, "type"),
                         cli_json_str(p, "user_id"),
                         amount,
                         card,
                         bank_ref[0] != '\0' ? bank_ref : "-",
                         cli_json_str(p, "created_at"),
                         cli_json_str(p, "next_check_at")};
    cli_table_add(table, row);
}

bool cli_date_is_valid(const char *text)
{
    if (strlen(text) != 10 || strspn(text, "0123456789-") != 10 || text[4] != '-' ||
        text[7] != '-' || strchr(text, '-') != text + 4 || strrchr(text, '-') != text + 7)
        return false;
    int year = atoi(text), month = atoi(text + 5), day = atoi(text + 8);
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    /* The server's days begin with 1970. */
    return year >= 1970 && month >= 1 && month <= 12 && day >= 1 &&
           day <= days[month - 1] + (month == 2 && leap);
}

int cli_day_arg(struct cli *cli, const char *text, char out[16])
{
    if (strcmp(text, "today") == 0 || strcmp(text, "yesterday") == 0) {
        /* The day in UTC+8, as the server counts its days. */
        time_t at = time(NULL) + 8 * 60 * 60 - (strcmp(text, "yesterday") == 0 ? 24 * 60 * 60 : 0);
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(out, 16, "%Y-%m-%d", &tm);
        return CLI_EXIT_OK;
    }
    if (!cli_date_is_valid(text))
        return cli_usage_error(cli, "DATE must be a date as YYYY-MM-DD, today or yesterday");
    snprintf(out, 16, "%s", text);
    return CLI_EXIT_OK;
}

/* A day's payment, to reconcile with the bank: its status and fee instead
 * of its card and next check. */
static void S_day_payment_row(struct cli_table *table, const json_t *p)
{
    char amount[MONEY_TEXT_SIZE_MAX + 16], fee[MONEY_TEXT_SIZE_MAX + 16];
    const char *currency = cli_json_str(p, "currency");
    cli_money_amount_text(json_integer_value(json_object_get(p, "amount")), currency, amount,
                          sizeof amount);
    cli_money_amount_text(json_integer_value(json_object_get(p, "fee")), currency, fee, sizeof fee);
    const char *bank_ref = cli_json_str(p, "bank_ref");
    const char *row[] = {cli_json_str(p, "id"),
                         cli_json_str(p, "type"),
                         cli_json_str(p, "status"),
                         cli_json_str(p, "user_id"),
                         amount,
                         fee,
                         bank_ref[0] != '\0' ? bank_ref : "-",
                         cli_json_str(p, "created_at")};
    cli_table_add(table, row);
}

int cli_run_admin_payments(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"ID",   "TYPE",     "USER",    "AMOUNT",
                                          "CARD", "BANK REF", "CREATED", "NEXT CHECK"};
    static const char *const day_headers[] = {"ID",     "TYPE", "STATUS",   "USER",
                                              "AMOUNT", "FEE",  "BANK REF", "CREATED"};
    const char *date = cli_arg(cli, args, "date");
    char path[512] = "/admin/payments?status=PROCESSING", day[16];
    if (date != NULL) {
        int rc = cli_day_arg(cli, date, day);
        if (rc != CLI_EXIT_OK)
            return rc;
        snprintf(path, sizeof path, "/admin/payments?date=%s", day);
    }
    int rc = cli_page_path(cli, args, path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (date != NULL)
        return cli_page_show(cli, path, CLI_AUTH_ADMIN, day_headers, QB_ARRAY_COUNT(day_headers),
                             S_day_payment_row, "no top-up or withdrawal was made that day");
    return cli_page_show(cli, path, CLI_AUTH_ADMIN, headers, QB_ARRAY_COUNT(headers), S_payment_row,
                         "no top-up or withdrawal is waiting on the bank");
}

/* method /admin/<what>/ID<tail> with body (may be NULL): the payment it
 * answers, shown or as JSON. */
static int S_payment_call(struct cli *cli, const char *method, const char *what, const char *id_arg,
                          const char *tail, const json_t *body)
{
    char id[128], path[224];
    if (!cli_path_escape(id_arg, id, sizeof id))
        return cli_usage_error(cli, "ID is too long");
    snprintf(path, sizeof path, "/admin/%s/%s%s", what, id, tail);
    struct cli_response res;
    int rc = cli_call(cli, method, path, CLI_AUTH_ADMIN, body, &res);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        cli_payment_print(cli, res.json);
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_payment(struct cli *cli, const struct cli_args *args)
{
    return S_payment_call(cli, "GET", "payments", args->positionals[0], "", NULL);
}

int cli_run_admin_payment_query(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[224];
    if (!cli_path_escape(args->positionals[0], id, sizeof id))
        return cli_usage_error(cli, "ID is too long");
    snprintf(path, sizeof path, "/admin/payments/%s/query", id);
    const char *reason = cli_arg(cli, args, "reason");
    json_t *body = reason != NULL ? json_pack("{s:s}", "reason", reason) : NULL;
    if (reason != NULL && body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    struct cli_response res;
    int rc = cli_call(cli, "POST", path, CLI_AUTH_ADMIN, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        const json_t *bank = json_object_get(res.json, "bank");
        const char *failure = cli_json_str(bank, "failure_code");
        char text[128];
        snprintf(text, sizeof text, "%s%s%s%s", cli_json_str(bank, "status"),
                 failure[0] != '\0' ? " (" : "", failure, failure[0] != '\0' ? ")" : "");
        cli_print_field(cli, "bank says", text);
        cli_print_field(cli, "applied",
                        json_is_true(json_object_get(res.json, "changed"))
                            ? "yes: the payment changed"
                            : "no: nothing changed");
        cli_payment_print(cli, json_object_get(res.json, "payment"));
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_transfer_cancel(struct cli *cli, const struct cli_args *args)
{
    json_t *body = json_pack("{s:s}", "reason", cli_arg(cli, args, "reason"));
    if (body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    int rc = S_payment_call(cli, "POST", "transfers", args->positionals[0], "/cancel", body);
    json_decref(body);
    return rc;
}

int cli_run_admin_payout_cancel(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[224];
    if (!cli_path_escape(args->positionals[0], id, sizeof id))
        return cli_usage_error(cli, "ID is too long");
    snprintf(path, sizeof path, "/admin/payouts/%s/cancel", id);
    json_t *body = json_pack("{s:s}", "reason", cli_arg(cli, args, "reason"));
    if (body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    struct cli_response res;
    int rc = cli_call(cli, "POST", path, CLI_AUTH_ADMIN, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK)
        cli_transfer_bill_print(cli, &res);
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_red_packet(struct cli *cli, const struct cli_args *args)
{
    const char *id = args->positionals[0];
    if (!id_is_valid(id, strlen(id), "rp"))
        return cli_usage_error(cli, "ID must be a red packet id (rp_...)");
    char path[128];
    snprintf(path, sizeof path, "/admin/red-packets/%s", id);
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_ADMIN, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        cli_redpacket_print(cli, res.json, true);
    cli_response_release(&res);
    return rc;
}

/* --- admin verify ------------------------------------------------------------ */

#define S_VERIFY_POLL_MS 200
/* How long `admin verify` waits for the check by default, and at most: a
 * ledger of a hundred million entries checks in minutes, and a check that
 * has not ended in an hour is stuck, or needs --detach and --status. */
#define S_VERIFY_TIMEOUT_S_DEFAULT 3600
#define S_VERIFY_TIMEOUT_S_MAX 86400
#define S_VERIFY_BAR_WIDTH 30

/* "[#####.....]  52%  1,234/2,345 entries" over the same stderr line. */
static void S_verify_bar(int64_t done, int64_t total)
{
    int64_t percent = total > 0 ? (done >= total ? 100 : done * 100 / total) : 0;
    int64_t filled = percent * S_VERIFY_BAR_WIDTH / 100;
    char bar[S_VERIFY_BAR_WIDTH + 1];
    for (int64_t i = 0; i < S_VERIFY_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[S_VERIFY_BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3lld%%  %lld/%lld entries", bar, (long long)percent,
            (long long)done, (long long)total);
    fflush(stderr);
}

static long long S_int(const json_t *object, const char *name)
{
    return (long long)json_integer_value(json_object_get(object, name));
}

/* The trial balance a passing check proved: each currency's kinds of
 * account, and under the system kind its accounts by name. */
static void S_trial_print(struct cli *cli, const char *heading, const json_t *trial)
{
    static const char *const headers[] = {"ACCOUNTS", "COUNT", "BALANCE", "HELD"};
    struct cli_table table;
    cli_table_init(&table, headers, QB_ARRAY_COUNT(headers));
    size_t i, k, n;
    const json_t *currency, *kind, *named;
    json_array_foreach(trial, i, currency)
    {
        const char *code = cli_json_str(currency, "currency");
        json_array_foreach(json_object_get(currency, "kinds"), k, kind)
        {
            char count[24], balance[48], held[48];
            snprintf(count, sizeof count, "%lld", S_int(kind, "accounts"));
            cli_money_amount_text(S_int(kind, "balance"), code, balance, sizeof balance);
            cli_money_amount_text(S_int(kind, "held"), code, held, sizeof held);
            const char *row[] = {cli_json_str(kind, "kind"), count, balance, held};
            cli_table_add(&table, row);
            if (strcmp(cli_json_str(kind, "kind"), "system") != 0)
                continue;
            json_array_foreach(json_object_get(currency, "system_accounts"), n, named)
            {
                char owner[128];
                snprintf(owner, sizeof owner, "  %s", cli_json_str(named, "owner"));
                cli_money_amount_text(S_int(named, "balance"), code, balance, sizeof balance);
                cli_money_amount_text(S_int(named, "held"), code, held, sizeof held);
                const char *line[] = {owner, "", balance, held};
                cli_table_add(&table, line);
            }
        }
    }
    printf("\n%s:\n", heading);
    cli_table_print(cli, &table);
    cli_table_release(&table);
    /* What the banks should hold, and whose it is: all but the fees earned
     * is the customers' (docs/operations.md, "Reading the trial balance"). */
    json_array_foreach(trial, i, currency)
    {
        const char *code = cli_json_str(currency, "currency");
        json_int_t clearing = 0, fees = 0;
        bool known = false;
        json_array_foreach(json_object_get(currency, "system_accounts"), n, named)
        {
            if (strcmp(cli_json_str(named, "owner"), "system:bank_clearing") == 0) {
                clearing = S_int(named, "balance");
                known = true;
            } else if (strcmp(cli_json_str(named, "owner"), "system:fee_income") == 0) {
                fees = S_int(named, "balance");
            }
        }
        json_int_t customers_minor;
        if (!known || clearing == INT64_MIN ||
            __builtin_sub_overflow(-clearing, fees, &customers_minor))
            continue;
        char held[48], customers[48], own[48];
        cli_money_amount_text(-clearing, code, held, sizeof held);
        cli_money_amount_text(customers_minor, code, customers, sizeof customers);
        cli_money_amount_text(fees, code, own, sizeof own);
        printf("the banks should hold %s: %s of customers', %s of fees earned\n", held, customers,
               own);
    }
}

/* The final state in words, and the exit status it means. */
static int S_verify_report(struct cli *cli, const json_t *state)
{
    const char *status = cli_json_str(state, "status");
    int rc = strcmp(status, "ok") == 0       ? CLI_EXIT_OK
             : strcmp(status, "failed") == 0 ? CLI_EXIT_CHECK_FAILED
             : strcmp(status, "running") == 0 ? CLI_EXIT_OK
                                              : CLI_EXIT_UNAVAILABLE;
    if (cli->json) {
        char *text = json_dumps(state, JSON_COMPACT);
        if (text != NULL)
            puts(text);
        free(text);
        return rc;
    }
    char problem[300];
    cli_text_clean(cli_json_str(state, "problem"), problem, sizeof problem);
    if (strcmp(status, "running") == 0 && S_int(state, "entries_total") == 0) {
        /* Just started: it has not counted the entries yet. */
        printf("check %lld running\n", S_int(state, "number"));
        cli_hint(cli, "`qianbao admin verify --status` shows how far it is");
    } else if (strcmp(status, "running") == 0) {
        printf("check %lld running: %lld of %lld entries checked\n", S_int(state, "number"),
               S_int(state, "entries_checked"), S_int(state, "entries_total"));
    } else if (rc == CLI_EXIT_OK) {
        cli_print_colored(cli, CLI_COLOR_GREEN, "ledger ok");
        printf(": %lld entries, %lld accounts, %lld holds open\n",
               S_int(state, "entries_checked"), S_int(state, "accounts_checked"),
               S_int(state, "holds_open"));
        S_trial_print(cli,
                      "the trial balance it proved (the kinds' balances sum to zero in each "
                      "currency)",
                      json_object_get(state, "trial_balance"));
        const json_t *close = json_object_get(state, "day_close");
        char heading[160];
        snprintf(heading, sizeof heading, "the books at the day's close, %s (entry %lld)",
                 cli_json_str(close, "at"), S_int(close, "last_entry"));
        if (S_int(close, "last_entry") > 0)
            S_trial_print(cli, heading, json_object_get(close, "trial_balance"));
        else
            printf("\nthe books at the day's close, %s: empty, no entry was written before it\n",
                   cli_json_str(close, "at"));
    } else if (rc == CLI_EXIT_CHECK_FAILED) {
        cli_print_colored(cli, CLI_COLOR_RED, "ledger check FAILED");
        printf(" after %lld entries: %s\n", S_int(state, "entries_checked"), problem);
        cli_hint(cli, "stop taking payments and keep the database as it is; see "
                      "docs/operations.md, \"When the ledger check fails\"");
    } else {
        char code[64];
        cli_text_clean(cli_json_str(state, "code"), code, sizeof code);
        fprintf(stderr, "qianbao: the ledger check could not finish (%s): %s\n", code, problem);
    }
    return rc;
}

int cli_run_admin_verify(struct cli *cli, const struct cli_args *args)
{
    bool detach = cli_arg(cli, args, "detach") != NULL;
    bool status_only = cli_arg(cli, args, "status") != NULL;
    if (detach && status_only)
        return cli_usage_error(cli, "--detach and --status do not go together");
    long long timeout_s = S_VERIFY_TIMEOUT_S_DEFAULT;
    const char *timeout = cli_arg(cli, args, "timeout");
    if (timeout != NULL) {
        char *end = NULL;
        timeout_s = strtoll(timeout, &end, 10);
        if (timeout[0] < '0' || timeout[0] > '9' || *end != '\0' || timeout_s < 1 ||
            timeout_s > S_VERIFY_TIMEOUT_S_MAX)
            return cli_usage_error(cli, "--timeout must be whole seconds, 1 to %d",
                                   S_VERIFY_TIMEOUT_S_MAX);
    }
    int64_t deadline_ns = clock_monotonic_ns() + (int64_t)timeout_s * 1000000000LL;
    struct cli_response res;
    int rc = cli_call(cli, status_only ? "GET" : "POST", "/admin/ledger/verification",
                      CLI_AUTH_ADMIN, NULL, &res);
    bool bar = !cli->json && isatty(STDERR_FILENO);
    bool drawn = false;
    while (rc == CLI_EXIT_OK && !detach && !status_only &&
           strcmp(cli_json_str(res.json, "status"), "running") == 0) {
        if (bar) {
            S_verify_bar(S_int(res.json, "entries_checked"), S_int(res.json, "entries_total"));
            drawn = true;
        }
        if (clock_monotonic_ns() >= deadline_ns) {
            if (drawn)
                fputs("\r\033[K", stderr);
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "TIMEOUT",
                          "admin verify: check %lld still running after %lld s (%lld of %lld "
                          "entries checked); it goes on at the server: `qianbao admin verify "
                          "--status` reads it later",
                          S_int(res.json, "number"), timeout_s, S_int(res.json, "entries_checked"),
                          S_int(res.json, "entries_total"));
            cli_response_release(&res);
            return rc;
        }
        cli_response_release(&res);
        struct timespec pause = {0, S_VERIFY_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
        rc = cli_call(cli, "GET", "/admin/ledger/verification", CLI_AUTH_ADMIN, NULL, &res);
    }
    if (drawn)
        fputs("\r\033[K", stderr);
    if (rc == CLI_EXIT_OK)
        rc = S_verify_report(cli, res.json);
    cli_response_release(&res);
    return rc;
}

/* --- merchants ------------------------------------------------------------------------ */

#define S_MERCHANT_PAGES_MAX 1000 /* --all stops here: 100,000 merchants */

/* Each merchant with its status, owner and apps: never a key. */
static void S_merchant_row(struct cli_table *table, const json_t *m)
{
    char fee[32], apps[24];
    snprintf(fee, sizeof fee, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(m, "fee_rate_ppm")));
    snprintf(apps, sizeof apps, "%zu", json_array_size(json_object_get(m, "appids")));
    const char *owner = cli_json_str(m, "owner_user_id");
    const char *row[] = {cli_json_str(m, "mchid"),
                         cli_json_str(m, "name"),
                         cli_json_str(m, "status"),
                         owner[0] != '\0' ? owner : "-",
                         fee,
                         apps,
                         cli_json_str(m, "created_at")};
    cli_table_add(table, row);
}

int cli_run_admin_merchants(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"MCHID",   "NAME", "STATUS", "OWNER",
                                          "FEE PPM", "APPS", "CREATED"};
    char limit[8], path[512] = "/admin/merchants";
    int rc = cli_limit_arg(cli, args, limit, sizeof limit);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *owner = cli_arg(cli, args, "owner");
    char owner_id[128];
    if (owner != NULL) {
        rc = cli_user_id_arg(cli, owner, owner_id, sizeof owner_id);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    if ((owner != NULL && !cli_query_add(path, sizeof path, "owner", owner_id)) ||
        (limit[0] != '\0' && !cli_query_add(path, sizeof path, "limit", limit)))
        return cli_usage_error(cli, "the options are too long");
    bool all = cli_arg(cli, args, "all") != NULL;
    const char *cursor_arg = cli_arg(cli, args, "cursor");
    if (!all) {
        if (cursor_arg != NULL && !cli_query_add(path, sizeof path, "cursor", cursor_arg))
            return cli_usage_error(cli, "the options are too long");
        return cli_page_show(cli, path, CLI_AUTH_ADMIN, headers, QB_ARRAY_COUNT(headers),
                             S_merchant_row, "no merchants");
    }
    /* --all: every page, one table (or one JSON list). */
    struct cli_table table;
    cli_table_init(&table, headers, QB_ARRAY_COUNT(headers));
    json_t *items = json_array();
    QB_ASSERT(items != NULL);
    char cursor[128];
    snprintf(cursor, sizeof cursor, "%s", cursor_arg != NULL ? cursor_arg : "");
    for (int page = 0;; page++) {
        char page_path[640];
        snprintf(page_path, sizeof page_path, "%s", path);
        if (cursor[0] != '\0' && !cli_query_add(page_path, sizeof page_path, "cursor", cursor)) {
            rc = cli_usage_error(cli, "the options are too long");
            break;
        }
        struct cli_response res;
        rc = cli_call(cli, "GET", page_path, CLI_AUTH_ADMIN, NULL, &res);
        if (rc != CLI_EXIT_OK) {
            cli_response_release(&res);
            break;
        }
        size_t index;
        json_t *item;
        json_array_foreach(json_object_get(res.json, "items"), index, item)
        {
            if (cli->json)
                QB_ASSERT(json_array_append(items, item) == 0);
            else
                S_merchant_row(&table, item);
        }
        snprintf(cursor, sizeof cursor, "%s", cli_json_str(res.json, "next_cursor"));
        cli_response_release(&res);
        if (cursor[0] == '\0' || page + 1 >= S_MERCHANT_PAGES_MAX) {
            if (cli->json) {
                json_t *doc = json_pack("{s:O, s:o}", "items", items, "next_cursor",
                                        cursor[0] != '\0' ? json_string(cursor) : json_null());
                QB_ASSERT(doc != NULL);
                cli_print_json(doc);
            } else if (json_array_size(items) == 0 && table.row_count == 0) {
                printf("no merchants\n");
            } else {
                cli_table_print(cli, &table);
            }
            /* Stopped at the page cap: where to go on from. */
            json_t *rest = json_pack("{s:s}", "next_cursor", cursor);
            if (cursor[0] != '\0' && rest != NULL)
                cli_next_page_hint(cli, rest);
            json_decref(rest);
            break;
        }
    }
    json_decref(items);
    cli_table_release(&table);
    return rc;
}

/* The path /admin/merchants/MCHID[/action] of a command's MCHID. */
static int S_merchant_path(struct cli *cli, const char *mchid, const char *action, char *path,
                           size_t path_size)
{
    if (strlen(mchid) != 10 || strspn(mchid, "0123456789") != 10)
        return cli_usage_error(cli, "MCHID is a merchant's ten digits: find it with `qianbao "
                                    "admin merchants`");
    snprintf(path, path_size, "/admin/merchants/%s%s%s", mchid, action[0] != '\0' ? "/" : "",
             action);
    return CLI_EXIT_OK;
}

/* A merchant as GET /admin/merchants/{mchid} answers it, field by field. */

/* method path with body (may be NULL): the merchant, shown or as JSON. */
static int S_merchant_call(struct cli *cli, const char *method, const char *path,
                           const json_t *body)
{
    struct cli_response res;
    int rc = cli_call(cli, method, path, CLI_AUTH_ADMIN, body, &res);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        cli_merchant_print(cli, res.json);
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_merchant(struct cli *cli, const struct cli_args *args)
{
    char path[64];
    int rc = S_merchant_path(cli, args->positionals[0], "", path, sizeof path);
    return rc == CLI_EXIT_OK ? S_merchant_call(cli, "GET", path, NULL) : rc;
}

static void S_merchant_payout_row(struct cli_table *table, const json_t *p)
{
    char amount[MONEY_TEXT_SIZE_MAX + 16];
    cli_money_amount_text(json_integer_value(json_object_get(p, "transfer_amount")), "CNY", amount,
                          sizeof amount);
    const char *row[] = {cli_json_str(p, "transfer_bill_no"),
                         cli_json_str(p, "out_bill_no"),
                         cli_json_str(p, "state"),
                         cli_json_str(p, "user_id"),
                         amount,
                         cli_json_str(p, "create_time")};
    cli_table_add(table, row);
}

int cli_run_admin_merchant_payouts(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"ID",   "OUT BILL NO", "STATE",
                                          "USER", "AMOUNT",      "CREATED"};
    bool waiting = cli_arg(cli, args, "waiting") != NULL;
    char path[512];
    int rc = S_merchant_path(cli, args->positionals[0], "payouts", path, sizeof path);
    if (rc == CLI_EXIT_OK && waiting &&
        !cli_query_add(path, sizeof path, "state", "WAIT_USER_CONFIRM"))
        rc = cli_usage_error(cli, "the options are too long");
    if (rc == CLI_EXIT_OK)
        rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_page_show(cli, path, CLI_AUTH_ADMIN, headers,
                                             QB_ARRAY_COUNT(headers), S_merchant_payout_row,
                                             waiting ? "no transfer of this merchant is waiting"
                                                     : "this merchant has made no transfer")
                             : rc;
}

/* A suspension or its end, with --reason for the audit line when given. */
static int S_merchant_action(struct cli *cli, const struct cli_args *args, const char *action)
{
    char path[64];
    int rc = S_merchant_path(cli, args->positionals[0], action, path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *reason = cli_arg(cli, args, "reason");
    json_t *body = reason != NULL ? json_pack("{s:s}", "reason", reason) : NULL;
    if (reason != NULL && body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    rc = S_merchant_call(cli, "POST", path, body);
    json_decref(body);
    return rc;
}

int cli_run_admin_merchant_suspend(struct cli *cli, const struct cli_args *args)
{
    return S_merchant_action(cli, args, "suspend");
}

int cli_run_admin_merchant_resume(struct cli *cli, const struct cli_args *args)
{
    return S_merchant_action(cli, args, "resume");
}

/* An operator's replacement of a merchant's API v3 key or certificate:
 * the new secret shown this once, to hand to the merchant. */
static int S_merchant_keys(struct cli *cli, const struct cli_args *args, bool apiv3)
{
    char path[64];
    int rc = S_merchant_path(cli, args->positionals[0], apiv3 ? "apiv3-key" : "certificate", path,
                             sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s}", "reason", cli_arg(cli, args, "reason"));
    if (body == NULL)
        return cli_usage_error(cli, "--reason must be UTF-8 text");
    struct cli_response res;
    rc = cli_call(cli, "POST", path, CLI_AUTH_ADMIN, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        cli_print_field(cli, "mchid", cli_json_str(res.json, "mchid"));
        if (apiv3) {
            cli_print_field(cli, "apiv3_key", cli_json_str(res.json, "apiv3_key"));
        } else {
            cli_print_field(cli, "serial_no", cli_json_str(res.json, "serial_no"));
            printf("%s%s", cli_json_str(res.json, "certificate_pem"),
                   cli_json_str(res.json, "private_key_pem"));
        }
        cli_hint(cli,
                 "shown this once and kept nowhere: hand %s to the merchant over a channel "
                 "you trust",
                 apiv3 ? "the API v3 key" : "the certificate and its private key");
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_merchant_apiv3_key(struct cli *cli, const struct cli_args *args)
{
    return S_merchant_keys(cli, args, true);
}

int cli_run_admin_merchant_certificate(struct cli *cli, const struct cli_args *args)
{
    return S_merchant_keys(cli, args, false);
}

/* --- operators ------------------------------------------------------------------------ */

static void S_operator_row(struct cli_table *table, const json_t *o)
{
    const char *revoked = cli_json_str(o, "revoked_at");
    const char *row[] = {cli_json_str(o, "name"), cli_json_str(o, "created_at"),
                         cli_json_str(o, "token_issued_at"), revoked[0] != '\0' ? revoked : "-"};
    cli_table_add(table, row);
}

int cli_run_admin_operators(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"NAME", "CREATED", "TOKEN ISSUED", "REVOKED"};
    char limit[8], path[256] = "/admin/operators";
    int rc = cli_limit_arg(cli, args, limit, sizeof limit);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *cursor = cli_arg(cli, args, "cursor");
    if ((limit[0] != '\0' && !cli_query_add(path, sizeof path, "limit", limit)) ||
        (cursor != NULL && !cli_query_add(path, sizeof path, "cursor", cursor)))
        return cli_usage_error(cli, "the options are too long");
    return cli_page_show(cli, path, CLI_AUTH_ADMIN, headers, QB_ARRAY_COUNT(headers),
                         S_operator_row, "no operators");
}

/* Prints an answer that gave out an operator's token, and says it is shown
 * this once. */
static void S_operator_token_show(struct cli *cli, const struct cli_response *res)
{
    if (cli->json) {
        cli_print_body(res);
        return;
    }
    cli_print_field(cli, "operator", cli_json_str(res->json, "name"));
    cli_print_field(cli, "token", cli_json_str(res->json, "token"));
    cli_print_field(cli, "created at", cli_json_str(res->json, "created_at"));
    cli_print_field(cli, "token issued at", cli_json_str(res->json, "token_issued_at"));
    fprintf(stderr, "hint: the token is shown this once: give it to the operator, who logs in "
                    "with `qianbao login --admin-token-file FILE`\n");
}

int cli_run_admin_operator_add(struct cli *cli, const struct cli_args *args)
{
    json_t *body = json_pack("{s:s}", "name", args->positionals[0]);
    if (body == NULL)
        return cli_usage_error(cli, "NAME must be UTF-8 text");
    struct cli_response res;
    int rc = cli_call(cli, "POST", "/admin/operators", CLI_AUTH_ADMIN, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK)
        S_operator_token_show(cli, &res);
    cli_response_release(&res);
    return rc;
}

/* The path of the operator command `action` on the NAME argument; false
 * after a usage error (in *rc). */
static bool S_operator_path(struct cli *cli, const struct cli_args *args, const char *action,
                            char *path, size_t path_size, int *rc)
{
    char name[64];
    if (!cli_path_escape(args->positionals[0], name, sizeof name)) {
        *rc = cli_usage_error(cli, "NAME is too long: 1 to 32 of a-z, 0-9, '.', '_' and '-'");
        return false;
    }
    snprintf(path, path_size, "/admin/operators/%s/%s", name, action);
    return true;
}

int cli_run_admin_operator_token(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc;
    if (!S_operator_path(cli, args, "token", path, sizeof path, &rc))
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "POST", path, CLI_AUTH_ADMIN, NULL, &res);
    if (rc == CLI_EXIT_OK)
        S_operator_token_show(cli, &res);
    cli_response_release(&res);
    return rc;
}

int cli_run_admin_operator_revoke(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc;
    if (!S_operator_path(cli, args, "revoke", path, sizeof path, &rc))
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "POST", path, CLI_AUTH_ADMIN, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        cli_print_field(cli, "operator", cli_json_str(res.json, "name"));
        cli_print_field(cli, "created at", cli_json_str(res.json, "created_at"));
        cli_print_field(cli, "revoked at", cli_json_str(res.json, "revoked_at"));
    }
    cli_response_release(&res);
    return rc;
}

/* --- the audit trail -------------------------------------------------------------------- */

static void S_audit_row(struct cli_table *table, const json_t *a)
{
    const char *target = cli_json_str(a, "target");
    const char *detail = cli_json_str(a, "detail");
    const char *reason = cli_json_str(a, "reason");
    const char *row[] = {cli_json_str(a, "at"),
                         cli_json_str(a, "by"),
                         cli_json_str(a, "action"),
                         target[0] != '\0' ? target : "-",
                         detail[0] != '\0' ? detail : "-",
                         cli_json_str(a, "result"),
                         json_is_true(json_object_get(a, "changed")) ? "yes" : "no",
                         reason[0] != '\0' ? reason : "-"};
    cli_table_add(table, row);
}

int cli_run_admin_audit(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"AT",     "BY",     "ACTION",  "TARGET",
                                          "DETAIL", "RESULT", "CHANGED", "REASON"};
    char limit[8], path[1024] = "/admin/audit";
    int rc = cli_limit_arg(cli, args, limit, sizeof limit);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* An operator's bare name is the principal admin:NAME; "admin" is the
     * root token's, "qianbaod" the daemon's own repairs of the trail. */
    const char *by = cli_arg(cli, args, "by");
    char principal[64] = "";
    if (by != NULL)
        snprintf(principal, sizeof principal, "%s%s",
                 strcmp(by, "admin") == 0 || strcmp(by, "qianbaod") == 0 ||
                         strncmp(by, "admin:", 6) == 0
                     ? ""
                     : "admin:",
                 by);
    static const char *const filters[] = {"action", "target", "from", "to", "cursor"};
    if ((by != NULL && !cli_query_add(path, sizeof path, "by", principal)) ||
        (limit[0] != '\0' && !cli_query_add(path, sizeof path, "limit", limit)))
        return cli_usage_error(cli, "the options are too long");
    for (size_t i = 0; i < QB_ARRAY_COUNT(filters); i++) {
        const char *value = cli_arg(cli, args, filters[i]);
        if (value != NULL && !cli_query_add(path, sizeof path, filters[i], value))
            return cli_usage_error(cli, "the options are too long");
    }
    return cli_page_show(cli, path, CLI_AUTH_ADMIN, headers, QB_ARRAY_COUNT(headers), S_audit_row,
                         "no operator actions");
}
