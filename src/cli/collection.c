/*
 * collection.c — group collections (群收款): ask friends for the same amount
 * each (`collect`), list one's own (`collections`), and a collection's
 * show, pay and close.
 */
#include <stdio.h>
#include <string.h>

#include "base/rand.h"
#include "cli/cli_int.h"

#define S_CURRENCY "CNY"
#define S_COUNT_MAX 100 /* WALLET_COLLECTION_COUNT_MAX */

static long long S_int(const json_t *object, const char *name)
{
    return (long long)json_integer_value(json_object_get(object, name));
}

/* /v1/collections/ID<suffix>, the id checked for its shape. */
static int S_path(struct cli *cli, const char *id, const char *suffix, char *path, size_t size)
{
    if (!id_is_valid(id, strlen(id), "gc"))
        return cli_usage_error(cli, "ID must be a collection id (gc_...)");
    snprintf(path, size, "/v1/collections/%s%s", id, suffix);
    return CLI_EXIT_OK;
}

/* A collection as GET /v1/collections/{id} answers it, with who paid; as
 * GET /admin/collections/{id} does, with the user ids (for_operator). */
static void S_print(struct cli *cli, const json_t *c, bool for_operator)
{
    const char *currency = cli_json_str(c, "currency");
    char text[256], each[MONEY_TEXT_SIZE_MAX + 8], paid[MONEY_TEXT_SIZE_MAX + 8];
    cli_print_field(cli, "collection", cli_json_str(c, "id"));
    cli_text_clean(cli_json_str(c, "title"), text, sizeof text);
    cli_print_field(cli, "title", text);
    cli_print_field(cli, "status", cli_json_str(c, "status"));
    cli_money_amount_text(json_integer_value(json_object_get(c, "amount")), currency, each,
                          sizeof each);
    cli_money_amount_text(json_integer_value(json_object_get(c, "paid_amount")), currency, paid,
                          sizeof paid);
    snprintf(text, sizeof text, "%s each from %lld", each, S_int(c, "count"));
    cli_print_field(cli, "asked", text);
    snprintf(text, sizeof text, "%lld of %lld, %s", S_int(c, "paid_count"), S_int(c, "count"),
             paid);
    cli_print_field(cli, "paid", text);
    const json_t *creator = json_object_get(c, "creator");
    char name[160];
    cli_text_clean(cli_json_str(creator, "display_name"), name, sizeof name);
    if (for_operator)
        snprintf(text, sizeof text, "%s (%s)", name, cli_json_str(creator, "user_id"));
    else
        snprintf(text, sizeof text, "%s%s", name,
                 json_is_true(json_object_get(creator, "me")) ? " (you)" : "");
    cli_print_field(cli, "asker", text);
    cli_print_field(cli, "expires", cli_json_str(c, "expires_at"));
    const char *closed = cli_json_str(c, "closed_at");
    if (closed[0] != '\0')
        cli_print_field(cli, "closed", closed);
    const json_t *payments = json_object_get(c, "payments");
    if (json_array_size(payments) == 0)
        return;
    static const char *const headers[] = {"#", "WHO", "AMOUNT", "PAID", "USER", "PAYMENT"};
    struct cli_table table;
    cli_table_init(&table, headers, for_operator ? 6 : 4);
    size_t i;
    json_t *p;
    json_array_foreach(payments, i, p)
    {
        char number[24], amount[MONEY_TEXT_SIZE_MAX + 24], who[200];
        snprintf(number, sizeof number, "%zu", i + 1);
        cli_money_amount_text(json_integer_value(json_object_get(p, "amount")), currency, amount,
                              sizeof amount);
        /* One its asker sent back counts for nothing, though listed. */
        if (strcmp(cli_json_str(p, "status"), "RETURNED") == 0)
            snprintf(amount + strlen(amount), sizeof amount - strlen(amount), " (returned)");
        cli_text_clean(cli_json_str(p, "display_name"), name, sizeof name);
        snprintf(who, sizeof who, "%s%s", name,
                 !for_operator && json_is_true(json_object_get(p, "me")) ? " (you)" : "");
        const char *row[] = {number,
                             who,
                             amount,
                             cli_json_str(p, "paid_at"),
                             cli_json_str(p, "user_id"),
                             cli_json_str(p, "payment_id")};
        cli_table_add(&table, row);
    }
    fputc('\n', stdout);
    cli_table_print(cli, &table);
    cli_table_release(&table);
}

/* method path (a collection's) as auth, the collection it answers printed. */
static int S_collection_call(struct cli *cli, const char *method, const char *path,
                             enum cli_auth auth)
{
    struct cli_response res;
    int rc = cli_call(cli, method, path, auth, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        S_print(cli, res.json, auth == CLI_AUTH_ADMIN);
    cli_response_release(&res);
    return rc;
}

int cli_run_collect(struct cli *cli, const struct cli_args *args)
{
    int64_t amount;
    int rc = cli_money_amount_arg(cli, args->positionals[0], &amount);
    if (rc != CLI_EXIT_OK)
        return rc;
    int count;
    rc = cli_money_count_arg(cli, args->positionals[1], S_COUNT_MAX, "how many are to pay", &count);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* A key, so that the retry after a lost answer gets the first
     * collection back instead of leaving a second one open. */
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s?, s:I, s:i, s:s}", "title", cli_arg(cli, args, "title"),
                             "amount", (json_int_t)amount, "count", count, "currency", S_CURRENCY);
    if (body == NULL)
        return cli_usage_error(cli, "--title must be UTF-8 text");
    struct cli_response res;
    rc = cli_call_idem(cli, "/v1/collections", key, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        S_print(cli, res.json, false);
        char id[64];
        cli_text_clean(cli_json_str(res.json, "id"), id, sizeof id);
        cli_hint(cli,
                 "share the id, or show its code (`qianbao collection code %s`); friends pay with "
                 "`" CLI_OTHERS "qianbao collection pay %s`",
                 id, id);
    }
    cli_response_release(&res);
    return rc;
}

static void S_row(struct cli_table *table, const json_t *c)
{
    char title[160], each[MONEY_TEXT_SIZE_MAX + 8], paid[48];
    cli_text_clean(cli_json_str(c, "title"), title, sizeof title);
    cli_money_amount_text(json_integer_value(json_object_get(c, "amount")),
                          cli_json_str(c, "currency"), each, sizeof each);
    snprintf(paid, sizeof paid, "%lld/%lld", S_int(c, "paid_count"), S_int(c, "count"));
    const char *row[] = {cli_json_str(c, "id"),        title, cli_json_str(c, "status"), each, paid,
                         cli_json_str(c, "created_at")};
    cli_table_add(table, row);
}

int cli_run_collections(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"ID", "TITLE", "STATUS", "EACH", "PAID", "CREATED"};
    char path[512] = "/v1/me/collections";
    int rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK
               ? cli_page_show(cli, path, CLI_AUTH_USER, headers, QB_ARRAY_COUNT(headers), S_row,
                               "you have asked nobody for money")
               : rc;
}

int cli_run_collection_show(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc = S_path(cli, args->positionals[0], "", path, sizeof path);
    return rc == CLI_EXIT_OK ? S_collection_call(cli, "GET", path, CLI_AUTH_USER) : rc;
}

int cli_run_admin_collection(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc = S_path(cli, args->positionals[0], "", path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    char admin[160];
    snprintf(admin, sizeof admin, "/admin%s", path + strlen("/v1"));
    return S_collection_call(cli, "GET", admin, CLI_AUTH_ADMIN);
}

int cli_run_collection_close(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc = S_path(cli, args->positionals[0], "/close", path, sizeof path);
    return rc == CLI_EXIT_OK ? S_collection_call(cli, "POST", path, CLI_AUTH_USER) : rc;
}

int cli_run_collection_pay(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc = S_path(cli, args->positionals[0], "/payments", path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    char password[CLI_SECRET_SIZE_MAX] = "";
    if ((rc = cli_money_payment_password(cli, args, password, sizeof password)) != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s}", "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    QB_ASSERT(body != NULL);
    return cli_money_post(cli, path, key, body, cli_transfer_print);
}
