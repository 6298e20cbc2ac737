/*
 * qr.c — QR codes in the CLI (docs/qr.md): `qianbao receive` shows the
 * user's receive code (`merchant till-code` a shop's, `collection code` a
 * group collection's), `qianbao scan IMAGE` reads a code from a picture and
 * says what it is, `qianbao pay PAYLOAD` pays one.
 *
 * Nothing here checks a code's signature: the client has no key and needs
 * none. Every payload is resolved by the server first (POST
 * /v1/qr/resolve), which says what it is and refuses a forged or altered
 * one; only what the server answered is shown and paid.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/rand.h"
#include "cli/cli_int.h"
#include "qr/qr.h"

/* "12.50 CNY", or "any amount (the payer's choice)" for an open code. */
static void S_amount_text(const json_t *resolved, char *out, size_t out_size)
{
    const json_t *amount = json_object_get(resolved, "amount");
    if (!json_is_integer(amount)) {
        snprintf(out, out_size, "any (the payer types it)");
        return;
    }
    char text[48];
    const char *currency = cli_json_str(resolved, "currency");
    cli_amount_format((int64_t)json_integer_value(amount), currency, text, sizeof text);
    snprintf(out, out_size, "%s %s", text, currency);
}

/* What POST /v1/qr/resolve answered, as lines for a person. */
static void S_resolved_print(const struct cli *cli, const json_t *r)
{
    char text[256];
    const char *kind = cli_json_str(r, "kind");
    const json_t *payee = json_object_get(r, "payee");
    const json_t *collection = json_object_get(r, "collection");
    if (strcmp(kind, "transfer") == 0) {
        cli_print_field(cli, "code", "a person's receive code (pay = transfer)");
        snprintf(text, sizeof text, "%s %s (%s)", cli_json_str(payee, "display_name"),
                 cli_json_str(payee, "phone"), cli_json_str(payee, "user_id"));
    } else if (strcmp(kind, "collection") == 0) {
        cli_print_field(cli, "code", "a group collection (pay = your share, a transfer)");
        cli_print_field(cli, "collection", cli_json_str(collection, "id"));
        cli_print_field(cli, "title", cli_json_str(collection, "title"));
        snprintf(text, sizeof text, "%s",
                 cli_json_str(json_object_get(collection, "creator"), "display_name"));
    } else {
        cli_print_field(cli, "code",
                        strcmp(kind, "order") == 0
                            ? "a merchant's order (pay = order payment)"
                            : "a merchant's till code (pay = order payment)");
        snprintf(text, sizeof text, "%s (%s)", cli_json_str(payee, "name"),
                 cli_json_str(payee, "mchid"));
    }
    cli_print_field(cli, "payee", text);
    S_amount_text(r, text, sizeof text);
    cli_print_field(cli, "amount", text);
    const char *memo = cli_json_str(r, "memo");
    if (memo[0] != '\0')
        cli_print_field(cli, "memo", memo);
    const char *description = cli_json_str(r, "description");
    if (description[0] != '\0')
        cli_print_field(cli, "description", description);
    if (collection != NULL) {
        snprintf(text, sizeof text, "%lld of %lld",
                 (long long)json_integer_value(json_object_get(collection, "paid_count")),
                 (long long)json_integer_value(json_object_get(collection, "count")));
        cli_print_field(cli, "paid", text);
    }
    const char *mine = cli_json_str(collection, "my_payment_id");
    if (mine[0] != '\0') {
        snprintf(text, sizeof text, "you paid your share already (%s)", mine);
        cli_print_field(cli, "note", text);
    } else if (json_is_true(json_object_get(r, "self"))) {
        cli_print_field(cli, "note", "this is your own code");
    }
}

/* POST /v1/qr/resolve {payload}; answers an exit code, res filled on OK. */
static int S_resolve(struct cli *cli, const char *payload, struct cli_response *res)
{
    json_t *body = json_pack("{s:s}", "payload", payload);
    if (body == NULL) {
        memset(res, 0, sizeof *res);
        buf_init(&res->body, 1);
        return cli_usage_error(cli, "PAYLOAD must be UTF-8 text");
    }
    int rc = cli_call(cli, "POST", "/v1/qr/resolve", CLI_AUTH_USER, body, res);
    json_decref(body);
    return rc;
}

/* --- receive --------------------------------------------------------------------- */

void cli_qr_draw(const char *text)
{
    struct buf drawing;
    buf_init(&drawing, QR_IMAGE_SIZE_MAX);
    if (qr_render_term(text, &drawing) == QB_OK)
        fwrite(drawing.data, 1, drawing.size, stdout);
    buf_release(&drawing);
}

/* Shows the code GET path answers (a receive code, a till code, a
 * collection's) for amount_text (the AMOUNT argument; NULL: none), with the
 * --png option and, when memo, the --memo option. */
static int S_code_show(struct cli *cli, const struct cli_args *args, const char *amount_text,
                       bool memo_option, char *path, size_t path_size)
{
    if (amount_text != NULL) {
        int64_t amount;
        char clean[64];
        cli_text_clean(amount_text, clean, sizeof clean);
        enum qb_error err = cli_amount_parse(amount_text, currency_find("CNY"), &amount);
        if (err != QB_OK)
            return cli_usage_error(cli,
                                   "\"%s\" is not a valid amount: a positive number of yuan with "
                                   "at most two decimals, such as 12.50",
                                   clean);
        char minor[32];
        snprintf(minor, sizeof minor, "%lld", (long long)amount);
        if (!cli_query_add(path, path_size, "amount", minor))
            return cli_usage_error(cli, "the amount is too long");
    }
    const char *memo = memo_option ? cli_arg(cli, args, "memo") : NULL;
    if (memo != NULL && !cli_query_add(path, path_size, "memo", memo))
        return cli_usage_error(cli, "--memo is too long: at most 64 bytes");
    const char *png = cli_arg(cli, args, "png");
    if (png != NULL) {
        if (png[0] == '\0')
            return cli_usage_error(cli, "--png needs a file name");
        if (!cli_query_add(path, path_size, "format", "png"))
            return cli_usage_error(cli, "the request is too long");
    }
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && png != NULL) {
        /* The server's PNG, as it came, for printing or sending. */
        FILE *f = fopen(png, "wb");
        bool ok = f != NULL && fwrite(res.body.data, 1, res.body.size, f) == res.body.size;
        ok = f != NULL && fclose(f) == 0 && ok;
        cli_response_release(&res);
        char clean[256];
        cli_text_clean(png, clean, sizeof clean);
        if (!ok)
            return cli_fail(cli, CLI_EXIT_USAGE, "WRITE_FAILED", "%s: cannot write the file",
                            clean);
        if (cli->json) {
            json_t *out = json_pack("{s:s}", "png", png);
            if (out != NULL)
                cli_print_json(out);
        } else {
            printf("%s\n", clean);
        }
        return CLI_EXIT_OK;
    }
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    const char *payload = cli_json_str(res.json, "payload");
    if (cli->json) {
        cli_print_body(&res);
    } else if (!isatty(STDOUT_FILENO)) {
        /* Piped: the payload alone, for another program to draw or send. */
        printf("%s\n", payload);
    } else {
        cli_qr_draw(payload);
        const char *title = cli_json_str(res.json, "title");
        if (title[0] != '\0')
            cli_print_field(cli, "title", title);
        char text[96];
        S_amount_text(res.json, text, sizeof text);
        cli_print_field(cli, "amount", text);
        if (cli_json_str(res.json, "memo")[0] != '\0')
            cli_print_field(cli, "memo", cli_json_str(res.json, "memo"));
        cli_print_field(cli, "payload", payload);
    }
    cli_response_release(&res);
    return CLI_EXIT_OK;
}

/* The AMOUNT argument of receive and till-code, or NULL. */
static const char *S_amount_arg(const struct cli_args *args)
{
    return args->positional_count > 0 ? args->positionals[0] : NULL;
}

int cli_run_receive(struct cli *cli, const struct cli_args *args)
{
    char path[512] = "/v1/me/receive-code";
    return S_code_show(cli, args, S_amount_arg(args), true, path, sizeof path);
}

int cli_run_collection_code(struct cli *cli, const struct cli_args *args)
{
    const char *id = args->positionals[0];
    if (!id_is_valid(id, strlen(id), "gc"))
        return cli_usage_error(cli, "ID must be a collection id (gc_...)");
    char path[512];
    snprintf(path, sizeof path, "/v1/collections/%s/code", id);
    return S_code_show(cli, args, NULL, false, path, sizeof path);
}

int cli_run_merchant_till_code(struct cli *cli, const struct cli_args *args)
{
    /* The path names the merchant: the owner's only one, unless --mchid. */
    char me[160] = "/v1/merchants/me";
    const char *mchid = cli_arg(cli, args, "mchid");
    if (mchid != NULL && !cli_query_add(me, sizeof me, "mchid", mchid))
        return cli_usage_error(cli, "--mchid is too long");
    struct cli_response res;
    int rc = cli_call(cli, "GET", me, CLI_AUTH_USER, NULL, &res);
    char escaped[64] = "";
    bool ok = rc == CLI_EXIT_OK &&
              cli_path_escape(cli_json_str(res.json, "mchid"), escaped, sizeof escaped);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!ok)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER", "the server named no merchant");
    char path[512];
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code", escaped);
    return S_code_show(cli, args, S_amount_arg(args), false, path, sizeof path);
}

/* --- pay and scan ------------------------------------------------------------------ */

/* A bad --amount is a usage error, found before any request is sent. */
static int S_amount_option_check(struct cli *cli, const struct cli_args *args)
{
    const char *amount_text = cli_arg(cli, args, "amount");
    int64_t amount;
    return amount_text != NULL ? cli_money_amount_arg(cli, amount_text, &amount) : CLI_EXIT_OK;
}

int cli_run_pay(struct cli *cli, const struct cli_args *args)
{
    const char *payload = args->positionals[0];
    int rc = S_amount_option_check(cli, args);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = S_resolve(cli, payload, &res);
    if (rc == CLI_EXIT_OK) {
        if (!cli->json)
            S_resolved_print(cli, res.json);
        rc = cli_qr_pay(cli, args, payload, res.json);
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_scan(struct cli *cli, const struct cli_args *args)
{
    int rc = S_amount_option_check(cli, args);
    if (rc != CLI_EXIT_OK)
        return rc;
    char payload[QR_PAYLOAD_SIZE_MAX * 4];
    const char *problem = cli_image_qr_read(args->positionals[0], payload, sizeof payload);
    if (problem != NULL) {
        char clean[256];
        cli_text_clean(args->positionals[0], clean, sizeof clean);
        return cli_fail(cli, CLI_EXIT_USAGE, "SCAN_FAILED", "%s: %s", clean, problem);
    }
    struct cli_response res;
    rc = S_resolve(cli, payload, &res);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    bool pay = cli_arg(cli, args, "pay") != NULL;
    if (!pay && cli->json) {
        cli_print_body(&res);
    } else if (!cli->json) {
        S_resolved_print(cli, res.json);
        cli_print_field(cli, "payload", payload);
    }
    if (!pay && !cli->json && isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
        pay = cli_yes_read("Pay it? [y/N] ");
        if (!pay)
            printf("not paid\n");
    } else if (!pay) {
        cli_hint(cli, "to pay it: qianbao scan IMAGE --pay, or qianbao pay PAYLOAD");
    }
    if (pay)
        rc = cli_qr_pay(cli, args, payload, res.json);
    cli_response_release(&res);
    return rc;
}
