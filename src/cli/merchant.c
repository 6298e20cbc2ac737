/*
 * merchant.c — a merchant owner's commands. The merchant API itself (/v3)
 * is for the merchant's servers and their SDK; what its owner reads from a
 * terminal goes through the wallet-side routes with the user's session.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"

/* "HTTP 500", "200" or the error of a notification's newest attempt. */
static void S_last_result(const json_t *n, char *out, size_t out_size)
{
    const json_t *attempts = json_object_get(n, "attempts");
    size_t count = json_array_size(attempts);
    if (count == 0) {
        snprintf(out, out_size, "-");
        return;
    }
    const json_t *last = json_array_get(attempts, count - 1);
    const json_t *status = json_object_get(last, "http_status");
    const char *error = cli_json_str(last, "error");
    if (json_is_integer(status) && error[0] == '\0')
        snprintf(out, out_size, "%lld", (long long)json_integer_value(status));
    else
        snprintf(out, out_size, "%s", error);
}

int cli_run_merchant_notifications(struct cli *cli, const struct cli_args *args)
{
    char mchid[64];
    if (!cli_path_escape(args->positionals[0], mchid, sizeof mchid))
        return cli_usage_error(cli, "MCHID is too long");
    char path[256];
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications", mchid);
    int rc = cli_page_path(cli, args, path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        static const char *const headers[] = {"ID",       "EVENT",       "OBJECT", "STATUS",
                                              "ATTEMPTS", "LAST RESULT", "CREATED"};
        struct cli_table table;
        cli_table_init(&table, headers, 7);
        size_t index;
        json_t *n;
        json_array_foreach(json_object_get(res.json, "items"), index, n)
        {
            char attempts[24], last[CLI_TABLE_CELL_SIZE_MAX];
            snprintf(attempts, sizeof attempts, "%lld",
                     (long long)json_integer_value(json_object_get(n, "attempt_count")));
            S_last_result(n, last, sizeof last);
            const char *row[] = {cli_json_str(n, "id"),        cli_json_str(n, "event_type"),
                                 cli_json_str(n, "object_id"), cli_json_str(n, "status"),
                                 attempts,                     last,
                                 cli_json_str(n, "create_time")};
            cli_table_add(&table, row);
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
        const char *cursor = cli_json_str(res.json, "next_cursor");
        if (cursor[0] != '\0') {
            char clean_mchid[64], clean_cursor[64];
            cli_text_clean(args->positionals[0], clean_mchid, sizeof clean_mchid);
            cli_text_clean(cursor, clean_cursor, sizeof clean_cursor);
            cli_hint(cli, "more rows: run `qianbao merchant notifications %s --cursor %s`",
                     clean_mchid, clean_cursor);
        }
    }
    cli_response_release(&res);
    return rc;
}
