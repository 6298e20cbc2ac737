/*
 * bills.c — the wallet's history: `bills` (a table of lines, the server's
 * JSON, or its CSV; one page, or every page with --all) and `statement
 * YYYY-MM` (a month's income, expense, sums by type and top
 * counterparties).
 *
 * Bill amounts come unsigned with a direction; they are shown with the
 * direction's sign (+ in, - out), exactly (cli_amount_signed_format). The
 * CSV is the server's, written byte for byte: with --all the header row of
 * later pages is left out so that the output is one CSV document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define S_PATH_SIZE_MAX 1024
#define S_ALL_PAGES_MAX 1000 /* --all stops here (100,000 lines, or a million CSV lines) */
#define S_AMOUNT_TEXT_SIZE (MONEY_TEXT_SIZE_MAX + 8)

/* The filters of `bills` appended to path as a query. */
static int S_filters(struct cli *cli, const struct cli_args *args, bool csv, char *path,
                     size_t path_size)
{
    static const char *const options[][2] = {
        {"type", "type"}, {"direction", "direction"},       {"from", "from"},
        {"to", "to"},     {"counterparty", "counterparty"}, {"search", "q"}};
    for (size_t i = 0; i < QB_ARRAY_COUNT(options); i++) {
        const char *value = cli_arg(cli, args, options[i][0]);
        if (value != NULL && !cli_query_add(path, path_size, options[i][1], value))
            return cli_usage_error(cli, "the options are too long");
    }
    char limit[8];
    int rc = cli_limit_arg_max(cli, args, csv ? 1000 : 100, limit, sizeof limit);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (limit[0] != '\0' && !cli_query_add(path, path_size, "limit", limit))
        return cli_usage_error(cli, "the options are too long");
    return CLI_EXIT_OK;
}

/* path with &cursor= (when cursor is not empty) into out. */
static bool S_page(const char *path, const char *cursor, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s", path);
    return cursor[0] == '\0' || cli_query_add(out, out_size, "cursor", cursor);
}

static void S_more_hint(struct cli *cli, const char *cursor)
{
    char quoted[CLI_SHELL_WORD_SIZE_MAX];
    cli_shell_word(cursor, quoted, sizeof quoted);
    cli_hint(cli, "more lines: run the same command with --cursor %s, or with --all", quoted);
}

/* "张*丰", a merchant's name, "招商银行 ****6789", or "-". */
static void S_counterparty_text(const json_t *counterparty, bool with_id, char *out,
                                size_t out_size)
{
    const char *type = cli_json_str(counterparty, "type");
    if (strcmp(type, "merchant") == 0 && with_id)
        snprintf(out, out_size, "%s (merchant %s)", cli_json_str(counterparty, "name"),
                 cli_json_str(counterparty, "id"));
    else if (strcmp(type, "merchant") == 0)
        snprintf(out, out_size, "%s", cli_json_str(counterparty, "name"));
    else if (strcmp(type, "user") == 0 && with_id)
        snprintf(out, out_size, "%s (%s)", cli_json_str(counterparty, "name"),
                 cli_json_str(counterparty, "id"));
    else if (strcmp(type, "user") == 0)
        snprintf(out, out_size, "%s", cli_json_str(counterparty, "name"));
    else if (strcmp(type, "card") == 0)
        snprintf(out, out_size, "%s ****%s", cli_json_str(counterparty, "bank"),
                 cli_json_str(counterparty, "last4"));
    else
        snprintf(out, out_size, "-");
}

static void S_bill_row(struct cli_table *table, const json_t *line)
{
    const char *currency = cli_json_str(line, "currency");
    bool out = strcmp(cli_json_str(line, "direction"), "out") == 0;
    char amount[S_AMOUNT_TEXT_SIZE], text[S_AMOUNT_TEXT_SIZE * 2 + 16];
    cli_amount_signed_format(json_integer_value(json_object_get(line, "amount")), out, currency,
                             amount, sizeof amount);
    json_int_t fee = json_integer_value(json_object_get(line, "fee"));
    if (fee > 0) {
        char fee_text[S_AMOUNT_TEXT_SIZE];
        cli_amount_format(fee, currency, fee_text, sizeof fee_text);
        snprintf(text, sizeof text, "%s %s (fee %s)", amount, currency, fee_text);
    } else {
        snprintf(text, sizeof text, "%s %s", amount, currency);
    }
    char status[96];
    const char *failure = cli_json_str(line, "failure_code");
    if (failure[0] != '\0')
        snprintf(status, sizeof status, "%s (%s)", cli_json_str(line, "status"), failure);
    else if (cli_json_str(line, "return_id")[0] != '\0')
        snprintf(status, sizeof status, "%s (sent back)", cli_json_str(line, "status"));
    else
        snprintf(status, sizeof status, "%s", cli_json_str(line, "status"));
    char balance[S_AMOUNT_TEXT_SIZE];
    cli_amount_format(json_integer_value(json_object_get(line, "balance_after")), currency, balance,
                      sizeof balance);
    char counterparty[CLI_TABLE_CELL_SIZE_MAX];
    S_counterparty_text(json_object_get(line, "counterparty"), false, counterparty,
                        sizeof counterparty);
    /* What the payer wrote tells two transfers to one person apart. */
    char memo[CLI_TABLE_CELL_SIZE_MAX];
    cli_text_clean(cli_json_str(line, "memo"), memo, sizeof memo);
    const char *row[] = {cli_json_str(line, "created_at"),
                         cli_json_str(line, "type"),
                         counterparty,
                         text,
                         status,
                         balance,
                         cli_json_str(line, "id"),
                         memo};
    cli_table_add(table, row);
}

/* bills --csv: the server's CSV, page after page with --all. */
static int S_bills_csv(struct cli *cli, const char *path, enum cli_auth auth,
                       const char *cursor_arg, bool all)
{
    char cursor[128];
    snprintf(cursor, sizeof cursor, "%s", cursor_arg != NULL ? cursor_arg : "");
    for (int page = 0;; page++) {
        char page_path[S_PATH_SIZE_MAX];
        if (!S_page(path, cursor, page_path, sizeof page_path))
            return cli_usage_error(cli, "the options are too long");
        struct cli_response res;
        int rc = cli_call(cli, "GET", page_path, auth, NULL, &res);
        if (rc != CLI_EXIT_OK) {
            cli_response_release(&res);
            return rc;
        }
        const char *data = res.body.data;
        size_t size = res.body.size;
        if (page > 0) { /* one header row for the whole document */
            const char *end = memchr(data, '\n', size);
            size = end != NULL ? size - (size_t)(end + 1 - data) : 0;
            data = end != NULL ? end + 1 : data;
        }
        if (size > 0)
            fwrite(data, 1, size, stdout);
        snprintf(cursor, sizeof cursor, "%s", res.next_cursor);
        cli_response_release(&res);
        if (cursor[0] == '\0')
            return CLI_EXIT_OK;
        if (!all || page + 1 >= S_ALL_PAGES_MAX) {
            S_more_hint(cli, cursor);
            return CLI_EXIT_OK;
        }
    }
}

/* The bill at base (its JSON list; base ".csv" is its CSV) as `bills`
 * prints it, for the user or (auth CLI_AUTH_ADMIN) an operator. */
static int S_bills(struct cli *cli, const struct cli_args *args, const char *base,
                   enum cli_auth auth)
{
    bool csv = cli_arg(cli, args, "csv") != NULL;
    bool all = cli_arg(cli, args, "all") != NULL;
    if (csv && cli->json)
        return cli_usage_error(cli, "--csv and --json are two formats: give one");
    char path[S_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s%s", base, csv ? ".csv" : "");
    int rc = S_filters(cli, args, csv, path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *cursor_arg = cli_arg(cli, args, "cursor");
    if (csv)
        return S_bills_csv(cli, path, auth, cursor_arg, all);

    static const char *const headers[] = {"TIME",   "TYPE",          "COUNTERPARTY", "AMOUNT",
                                          "STATUS", "BALANCE AFTER", "ID",           "MEMO"};
    struct cli_table table;
    cli_table_init(&table, headers, QB_ARRAY_COUNT(headers));
    json_t *items = json_array(); /* --json --all: every page's lines */
    QB_ASSERT(items != NULL);
    char cursor[128];
    snprintf(cursor, sizeof cursor, "%s", cursor_arg != NULL ? cursor_arg : "");
    for (int page = 0;; page++) {
        char page_path[S_PATH_SIZE_MAX];
        if (!S_page(path, cursor, page_path, sizeof page_path)) {
            rc = cli_usage_error(cli, "the options are too long");
            break;
        }
        struct cli_response res;
        rc = cli_call(cli, "GET", page_path, auth, NULL, &res);
        if (rc != CLI_EXIT_OK) {
            cli_response_release(&res);
            break;
        }
        if (cli->json && !all) {
            cli_print_body(&res);
            cli_response_release(&res);
            break;
        }
        size_t index;
        json_t *line;
        json_array_foreach(json_object_get(res.json, "items"), index, line)
        {
            if (cli->json)
                QB_ASSERT(json_array_append(items, line) == 0);
            else
                S_bill_row(&table, line);
        }
        snprintf(cursor, sizeof cursor, "%s", cli_json_str(res.json, "next_cursor"));
        cli_response_release(&res);
        if (cursor[0] == '\0' || !all || page + 1 >= S_ALL_PAGES_MAX) {
            if (cli->json) {
                json_t *doc = json_pack("{s:O, s:o}", "items", items, "next_cursor",
                                        cursor[0] != '\0' ? json_string(cursor) : json_null());
                QB_ASSERT(doc != NULL);
                cli_print_json(doc);
            } else {
                cli_table_print(cli, &table);
                if (cursor[0] != '\0')
                    S_more_hint(cli, cursor);
            }
            break;
        }
    }
    json_decref(items);
    cli_table_release(&table);
    return rc;
}

int cli_run_bills(struct cli *cli, const struct cli_args *args)
{
    return S_bills(cli, args, "/v1/me/transactions", CLI_AUTH_USER);
}

int cli_run_admin_bills(struct cli *cli, const struct cli_args *args)
{
    char id[128], base[192];
    int rc = cli_user_id_arg(cli, args->positionals[0], id, sizeof id);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(base, sizeof base, "/admin/users/%s/transactions", id);
    return S_bills(cli, args, base, CLI_AUTH_ADMIN);
}

/* --- statement ---------------------------------------------------------------- */

/* Each currency's amount of a {"CNY": n} object: "507.00 CNY". */
static void S_sums_text(const json_t *sums, char *out, size_t out_size)
{
    size_t n = 0;
    out[0] = '\0';
    const char *currency;
    json_t *value;
    json_object_foreach((json_t *)sums, currency, value)
    {
        char amount[S_AMOUNT_TEXT_SIZE];
        cli_amount_format(json_integer_value(value), currency, amount, sizeof amount);
        int w = snprintf(out + n, out_size - n, "%s%s %s", n > 0 ? ", " : "", amount, currency);
        if (w < 0 || (size_t)w >= out_size - n)
            break;
        n += (size_t)w;
    }
    if (n == 0)
        snprintf(out, out_size, "0");
}

/* A row of {income, expense, count} in currency. */
static void S_sum_row(struct cli_table *table, const char *label, const char *currency,
                      const json_t *sum)
{
    char income[S_AMOUNT_TEXT_SIZE + 8], expense[S_AMOUNT_TEXT_SIZE + 8], count[32];
    char amount[S_AMOUNT_TEXT_SIZE];
    cli_amount_format(json_integer_value(json_object_get(sum, "income")), currency, amount,
                      sizeof amount);
    snprintf(income, sizeof income, "%s %s", amount, currency);
    cli_amount_format(json_integer_value(json_object_get(sum, "expense")), currency, amount,
                      sizeof amount);
    snprintf(expense, sizeof expense, "%s %s", amount, currency);
    snprintf(count, sizeof count, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(sum, "count")));
    const char *row[] = {label, income, expense, count};
    cli_table_add(table, row);
}

static void S_statement_print(struct cli *cli, const json_t *s)
{
    char text[256], sums[192];
    bool year = json_object_get(s, "year") != NULL;
    snprintf(text, sizeof text, "%s (%s to %s)", cli_json_str(s, year ? "year" : "month"),
             cli_json_str(s, "from"), cli_json_str(s, "to"));
    cli_print_field(cli, year ? "year" : "month", text);
    S_sums_text(json_object_get(s, "income"), sums, sizeof sums);
    cli_print_field(cli, "income", sums);
    S_sums_text(json_object_get(s, "expense"), sums, sizeof sums);
    cli_print_field(cli, "expense", sums);
    json_int_t lines = 0;
    const char *currency;
    json_t *value;
    json_object_foreach(json_object_get(s, "count"), currency, value) lines +=
        json_integer_value(value);
    snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, lines);
    cli_print_field(cli, "payments", text);
    json_int_t processing = json_integer_value(json_object_get(s, "processing_count"));
    if (processing > 0) {
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT " payment%s on %s way, not counted yet",
                 processing, processing == 1 ? "" : "s", processing == 1 ? "its" : "their");
        cli_print_field(cli, "processing", text);
    }

    putchar('\n');
    static const char *const type_headers[] = {"BY TYPE", "INCOME", "EXPENSE", "COUNT"};
    struct cli_table table;
    cli_table_init(&table, type_headers, 4);
    const char *type;
    json_t *per_currency;
    json_object_foreach(json_object_get(s, "by_type"), type, per_currency)
    {
        json_object_foreach(per_currency, currency, value)
        {
            if (json_integer_value(json_object_get(value, "count")) > 0)
                S_sum_row(&table, type, currency, value);
        }
    }
    cli_table_print(cli, &table);
    cli_table_release(&table);

    putchar('\n');
    static const char *const top_headers[] = {"TOP COUNTERPARTIES", "INCOME", "EXPENSE", "COUNT"};
    cli_table_init(&table, top_headers, 4);
    size_t index;
    json_t *entry;
    json_array_foreach(json_object_get(s, "by_counterparty"), index, entry)
    {
        char label[CLI_TABLE_CELL_SIZE_MAX];
        S_counterparty_text(json_object_get(entry, "counterparty"), true, label, sizeof label);
        S_sum_row(&table, label, cli_json_str(entry, "currency"), entry);
    }
    json_object_foreach(json_object_get(s, "others"), currency, value)
    {
        if (json_integer_value(json_object_get(value, "count")) > 0)
            S_sum_row(&table, "(all others)", currency, value);
    }
    cli_table_print(cli, &table);
    cli_table_release(&table);
    if (!json_is_true(json_object_get(s, "complete")))
        cli_hint(cli, "the history is too long to read the whole month: the sums cover only "
                      "its later part");
}

int cli_run_statement(struct cli *cli, const struct cli_args *args)
{
    const char *month = args->positionals[0];
    bool year =
        strlen(month) == 4 && strspn(month, "0123456789") == 4 && strcmp(month, "1970") >= 0;
    if (!year && !cli_month_valid(month)) {
        char clean[64];
        cli_text_clean(month, clean, sizeof clean);
        return cli_usage_error(cli,
                               "\"%s\" is neither a month nor a year: YYYY-MM, a year from 1970 "
                               "and a month from 01 to 12, or YYYY",
                               clean);
    }
    char path[64];
    snprintf(path, sizeof path, "/v1/me/statements/%s", month);
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else
            S_statement_print(cli, res.json);
    }
    cli_response_release(&res);
    return rc;
}

/* --- notices ------------------------------------------------------------------------ */

/* What a notice's type means, in words. */
static const char *S_notice_text(const char *type)
{
    static const char *const texts[][2] = {
        {"topup_succeeded", "top-up went through"},
        {"topup_failed", "top-up failed"},
        {"withdrawal_succeeded", "withdrawal paid to the card"},
        {"withdrawal_failed", "withdrawal failed, money back"},
        {"transfer_arrived", "delayed transfer arrived"},
        {"transfer_failed", "delayed transfer failed, money back"},
        {"transfer_returned", "transfer sent back to you"},
        {"order_refunded", "refund from a merchant"},
        {"red_packet_refunded", "red packet's unclaimed rest back"},
        {"payout_waiting", "merchant's transfer to accept"},
        {"payout_failed", "merchant's transfer closed, not taken"},
        {"withdrawal_returned", "withdrawal taken back by the bank, money back"},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(texts); i++)
        if (strcmp(texts[i][0], type) == 0)
            return texts[i][1];
    return type;
}

static void S_notice_row(struct cli_table *table, const json_t *notice)
{
    char amount[S_AMOUNT_TEXT_SIZE];
    cli_money_amount_text(json_integer_value(json_object_get(notice, "amount")),
                          cli_json_str(notice, "currency"), amount, sizeof amount);
    char with[256];
    S_counterparty_text(json_object_get(notice, "counterparty"), false, with, sizeof with);
    const char *about = cli_json_str(notice, "payment_id");
    const char *row[] = {json_is_true(json_object_get(notice, "read")) ? "" : "*",
                         cli_json_str(notice, "created_at"),
                         S_notice_text(cli_json_str(notice, "type")),
                         amount,
                         with,
                         cli_json_str(notice, "failure_code"),
                         about[0] != '\0' ? about : cli_json_str(notice, "red_packet_id")};
    cli_table_add(table, row);
}

static const char *const S_notice_headers[] = {"NEW",  "WHEN", "WHAT", "AMOUNT",
                                               "WITH", "WHY",  "ABOUT"};

int cli_run_admin_notices(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[S_PATH_SIZE_MAX];
    int rc = cli_user_id_arg(cli, args->positionals[0], id, sizeof id);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(path, sizeof path, "/admin/users/%s/notices", id);
    rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK
               ? cli_page_show(cli, path, CLI_AUTH_ADMIN, S_notice_headers,
                               QB_ARRAY_COUNT(S_notice_headers), S_notice_row, "no notices")
               : rc;
}

int cli_run_notices(struct cli *cli, const struct cli_args *args)
{
    char path[S_PATH_SIZE_MAX] = "/v1/me/notices";
    int rc = cli_page_path(cli, args, path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    /* Read up to the newest shown: one written since stays unread. */
    const json_t *newest = json_array_get(json_object_get(res.json, "items"), 0);
    bool mark = rc == CLI_EXIT_OK && cli_arg(cli, args, "mark-read") != NULL && newest != NULL;
    /* With --json the page is printed once it is marked: a refusal of the
     * marking is then the one JSON document on stdout. */
    if (rc == CLI_EXIT_OK && !(mark && cli->json))
        cli_page_print(cli, &res, S_notice_headers, QB_ARRAY_COUNT(S_notice_headers), S_notice_row,
                       "no notices");
    if (mark) {
        json_t *body = json_object();
        json_object_set(body, "up_to", json_object_get(newest, "id"));
        struct cli_response marked;
        rc = cli_call(cli, "POST", "/v1/me/notices/read", CLI_AUTH_USER, body, &marked);
        if (rc == CLI_EXIT_OK && cli->json)
            cli_page_print(cli, &res, S_notice_headers, QB_ARRAY_COUNT(S_notice_headers),
                           S_notice_row, "no notices");
        else if (rc == CLI_EXIT_OK)
            printf("marked read; %lld unread\n",
                   (long long)json_integer_value(json_object_get(marked.json, "unread")));
        cli_response_release(&marked);
        json_decref(body);
    }
    cli_response_release(&res);
    return rc;
}

/* --- watch ------------------------------------------------------------------------------ */

#define S_WATCH_WAIT_S_MAX 25 /* under the CLI's 30 s request timeout */

/* What each part of GET /v1/me/changes means to the holder, and where to look. */
static const struct {
    const char *part;
    const char *text;
} S_watch_parts[] = {
    {"bills", "new in your bills: `qianbao bills`"},
    {"notices", "a new notice: `qianbao notices`"},
    {"pending_payments", "a payment waiting for your confirmation came or went: "
                         "`qianbao paycode pending`"},
};

/* A line for each bill line an answer carries, oldest first as they came
 * (收款到账 for a personal receive code), then one for each other part of
 * its news; "new in your bills" when the bills changed with no line. */
static void S_watch_print(struct cli *cli, const json_t *answer)
{
    (void)cli;
    const json_t *bills = json_object_get(answer, "bills");
    for (size_t i = json_array_size(bills); i > 0; i--) {
        const json_t *l = json_array_get(bills, i - 1);
        char amount[MONEY_TEXT_SIZE_MAX + 8], raw[160], party[160];
        cli_money_amount_text(json_integer_value(json_object_get(l, "amount")),
                              cli_json_str(l, "currency"), amount, sizeof amount);
        S_counterparty_text(json_object_get(l, "counterparty"), false, raw, sizeof raw);
        cli_text_clean(strcmp(raw, "-") != 0 ? raw : "", party, sizeof party);
        bool in = strcmp(cli_json_str(l, "direction"), "in") == 0;
        printf("%s %s%s%s (%s)\n", in ? "received" : "paid", amount,
               party[0] != '\0' ? (in ? " from " : " to ") : "", party, cli_json_str(l, "type"));
    }
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(answer, "changed"), i, part)
    {
        /* A part named otherwise than by a string is none this client knows. */
        const char *name = json_string_value(part);
        if (name == NULL || (strcmp(name, "bills") == 0 && json_array_size(bills) > 0))
            continue;
        for (size_t k = 0; k < QB_ARRAY_COUNT(S_watch_parts); k++)
            if (strcmp(name, S_watch_parts[k].part) == 0)
                printf("%s\n", S_watch_parts[k].text);
    }
}

int cli_watch(struct cli *cli, const struct cli_args *args, const char *route,
              void (*print)(struct cli *cli, const json_t *answer))
{
    const char *wait = cli_arg(cli, args, "wait");
    long wait_s = 25;
    if (wait != NULL) {
        char *end = NULL;
        wait_s = strtol(wait, &end, 10);
        if (wait[0] < '0' || wait[0] > '9' || *end != '\0' || wait_s < 1 ||
            wait_s > S_WATCH_WAIT_S_MAX)
            return cli_usage_error(cli, "--wait must be seconds from 1 to 25");
    }
    bool once = cli_arg(cli, args, "once") != NULL;
    char cursor[128] = "";
    const char *since = cli_arg(cli, args, "since");
    if (since != NULL)
        snprintf(cursor, sizeof cursor, "%s", since);
    long blip_pause_s = 1;
    for (;;) {
        char path[512], seconds[8];
        snprintf(path, sizeof path, "%s", route);
        snprintf(seconds, sizeof seconds, "%ld", wait_s);
        if (cursor[0] != '\0' && (!cli_query_add(path, sizeof path, "since", cursor) ||
                                  !cli_query_add(path, sizeof path, "wait", seconds)))
            return cli_usage_error(cli, "--since is too long");
        struct cli_response res;
        int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
        /* A blip (no answer, a 5xx, a 429, an answer cut short) does not end
         * a watch that has a cursor: it waits and asks again from the same
         * cursor, so that nothing new meanwhile goes unannounced. The wait
         * doubles up to a minute, or is what Retry-After says. */
        if (rc != CLI_EXIT_OK && cursor[0] != '\0' &&
            (rc == CLI_EXIT_UNAVAILABLE || res.status == 429)) {
            long retry_s = strtol(res.retry_after, NULL, 10);
            long pause_s = retry_s >= 1 && retry_s <= 60 ? retry_s : blip_pause_s;
            blip_pause_s = blip_pause_s < 32 ? blip_pause_s * 2 : 60;
            cli_response_release(&res);
            fprintf(stderr, "%s: asking again in %ld s from the same cursor\n", cli->command->name,
                    pause_s);
            cli_sleep_ms(pause_s * 1000);
            continue;
        }
        if (rc != CLI_EXIT_OK) {
            cli_response_release(&res);
            return rc;
        }
        blip_pause_s = 1;
        bool news = json_array_size(json_object_get(res.json, "changed")) > 0;
        if (news && cli->json)
            cli_print_body(&res);
        else if (news)
            print(cli, res.json);
        fflush(stdout);
        snprintf(cursor, sizeof cursor, "%s", cli_json_str(res.json, "cursor"));
        cli_response_release(&res);
        if (news && once)
            return CLI_EXIT_OK;
        /* Without a cursor the next request starts over and is answered at
         * once: a loop asking as fast as it can. */
        if (cursor[0] == '\0')
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                            "%s: the answer from %s carries no cursor to wait from",
                            cli->command->name, cli->server);
    }
}

int cli_run_watch(struct cli *cli, const struct cli_args *args)
{
    return cli_watch(cli, args, "/v1/me/changes", S_watch_print);
}
