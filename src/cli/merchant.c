/*
 * merchant.c — the merchant's commands: onboarding into a merchant profile,
 * orders in the WeChat Pay v3 dialect (native, jsapi, h5; show; close),
 * refunds (create, show), the daily trade bill with its SHA-1 checked, and the owner's analytics,
 * payments taken and watch for the next (收款到账).
 *
 * Onboarding (`merchant create`) is a user's request (POST /v1/merchants
 * with the user profile's session); its answer — the private key and the
 * API v3 key, shown by the server this once — goes straight into a
 * merchant profile (kind=merchant, mode 0600, profile.c) and is never
 * printed. Every /v3 command then signs with that profile's private key
 * and accepts only answers signed by the platform key it holds
 * (cli_call_merchant). Analytics and the notification log are the owner's
 * reads (/v1, the user profile): a merchant owner's commands; the merchant
 * API itself (/v3) is for the merchant's servers and their SDK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli/cli_int.h"

#define S_OUT_TRADE_NO_SIZE_MAX 33
#define S_CURRENCY "CNY"
#define S_APPIDS_TEXT_SIZE 128 /* five appids of 18 characters, ", " between them */

bool cli_pem_body(const char *pem, char *out, size_t out_size)
{
    const char *begin = strstr(pem, "-----BEGIN ");
    const char *body = begin != NULL ? strchr(begin + 11, '\n') : NULL;
    const char *end = body != NULL ? strstr(body, "-----END ") : NULL;
    if (end == NULL)
        return false;
    size_t used = 0;
    for (const char *p = body + 1; p < end; p++) {
        if (*p == '\n' || *p == '\r')
            continue;
        if (used + 1 >= out_size)
            return false;
        out[used++] = *p;
    }
    out[used] = '\0';
    return used > 0;
}

/* A usage error naming the first option or argument of the running
 * command given with text that is not UTF-8, which no JSON body can carry
 * (a GBK terminal's 张记); CLI_EXIT_OK when all are UTF-8. For the commands
 * whose every option and argument goes into the body: called before it is
 * packed, so that no field is left out of a request and no pack fails. */
static int S_utf8_args(struct cli *cli, const struct cli_args *args)
{
    for (size_t i = 0; i < CLI_OPTIONS_MAX && cli->command->options[i].name != NULL; i++) {
        json_t *text = args->values[i] != NULL ? json_string(args->values[i]) : NULL;
        bool ok = args->values[i] == NULL || text != NULL;
        json_decref(text);
        if (!ok)
            return cli_usage_error(cli, "--%s must be UTF-8 text", cli->command->options[i].name);
    }
    for (size_t i = 0; i < args->positional_count; i++) {
        json_t *text = json_string(args->positionals[i]);
        bool ok = text != NULL;
        json_decref(text);
        if (!ok)
            return cli_usage_error(cli, "%s must be UTF-8 text", cli->command->args);
    }
    return CLI_EXIT_OK;
}

/* Wipes and frees a merchant profile that held keys, and the answer that
 * brought them, before their memory goes back. */
static void S_keys_forget(struct cli_profile *profile, struct cli_response *res)
{
    cli_secret_wipe(profile->private_key, sizeof profile->private_key);
    cli_secret_wipe(profile->apiv3_key, sizeof profile->apiv3_key);
    free(profile);
    if (res->body.data != NULL)
        cli_secret_wipe((char *)res->body.data, res->body.size);
    cli_response_release(res);
}

/* --- merchant create ------------------------------------------------------------- */

int cli_run_merchant_create(struct cli *cli, const struct cli_args *args)
{
    const char *name = cli_arg(cli, args, "name");
    const char *save_as = cli_arg(cli, args, "save-as");
    const char *apps = cli_arg(cli, args, "apps");
    if (save_as == NULL)
        save_as = CLI_MERCHANT_PROFILE;
    int utf8 = S_utf8_args(cli, args);
    if (utf8 != CLI_EXIT_OK)
        return utf8;
    if (apps != NULL && (strlen(apps) != 1 || apps[0] < '1' || apps[0] > '5'))
        return cli_usage_error(cli, "--apps must be 1 to 5");
    if (!cli_profile_name_valid(save_as))
        return cli_usage_error(cli, "--save-as must be 1 to 64 of A-Z a-z 0-9 . _ - (not "
                                    "starting with a dot)");
    if (strcmp(save_as, cli->profile) == 0)
        return cli_usage_error(cli, "--save-as must not name the user profile this command "
                                    "logs in with (\"%s\")",
                               cli->profile);
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    int rc = CLI_EXIT_OK;
    if (cli_profile_load(save_as, profile) != QB_E_NOT_FOUND) {
        rc = cli_usage_error(cli, "the profile \"%s\" exists already: choose another --save-as",
                             save_as);
        free(profile);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:I}", "name", name, "app_count",
                             (json_int_t)(apps != NULL ? apps[0] - '0' : 1));
    QB_ASSERT(body != NULL);
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/merchants", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        profile->kind = CLI_PROFILE_MERCHANT;
        snprintf(profile->server, sizeof profile->server, "%s", cli->server);
        snprintf(profile->mchid, sizeof profile->mchid, "%s", cli_json_str(res.json, "mchid"));
        snprintf(profile->appid, sizeof profile->appid, "%s", cli_json_str(res.json, "appid"));
        snprintf(profile->serial_no, sizeof profile->serial_no, "%s",
                 cli_json_str(res.json, "serial_no"));
        snprintf(profile->apiv3_key, sizeof profile->apiv3_key, "%s",
                 cli_json_str(res.json, "apiv3_key"));
        snprintf(profile->platform_serial_no, sizeof profile->platform_serial_no, "%s",
                 cli_json_str(res.json, "platform_serial_no"));
        bool ok = cli_pem_body(cli_json_str(res.json, "private_key_pem"), profile->private_key,
                             sizeof profile->private_key) &&
                  cli_pem_body(cli_json_str(res.json, "platform_public_key_pem"),
                             profile->platform_public_key, sizeof profile->platform_public_key);
        if (!ok)
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                          "merchant create: the server's answer holds no usable keys; merchant "
                          "%s was made but cannot be used from here",
                          profile->mchid);
        else if (cli_profile_save(save_as, profile) != QB_OK)
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "PROFILE_UNWRITABLE",
                          "merchant create: merchant %s was made but the profile \"%s\" cannot be "
                          "written; its keys are lost: create another",
                          profile->mchid, save_as);
    }
    if (rc == CLI_EXIT_OK) {
        char path[1024] = "";
        (void)cli_profile_path(save_as, path, sizeof path);
        if (cli->json) {
            json_t *appids = json_object_get(res.json, "appids");
            cli_print_json(json_pack(
                "{s:s, s:s, s:O, s:s, s:s, s:O?, s:s, s:s}", "mchid", profile->mchid, "appid",
                profile->appid, "appids", json_is_array(appids) ? appids : json_null(), "name",
                cli_json_str(res.json, "name"), "serial_no", profile->serial_no, "fee_rate_ppm",
                json_object_get(res.json, "fee_rate_ppm"), "platform_serial_no",
                profile->platform_serial_no, "profile", save_as));
        } else {
            char clean[160];
            cli_text_clean(cli_json_str(res.json, "name"), clean, sizeof clean);
            cli_print_field(cli, "mchid", profile->mchid);
            cli_print_field(cli, "appid", profile->appid);
            /* Every app of the merchant, the first (the profile's appid) first. */
            json_t *appids = json_object_get(res.json, "appids");
            char list[S_APPIDS_TEXT_SIZE] = "";
            size_t used = 0;
            for (size_t i = 0; i < json_array_size(appids); i++) {
                const char *appid = json_string_value(json_array_get(appids, i));
                int n = snprintf(list + used, sizeof list - used, "%s%s", i > 0 ? ", " : "",
                                 appid != NULL ? appid : "");
                if (n < 0 || (size_t)n >= sizeof list - used)
                    break;
                used += (size_t)n;
            }
            cli_print_field(cli, "appids", list);
            cli_print_field(cli, "name", clean);
            cli_print_field(cli, "serial_no", profile->serial_no);
            cli_print_field(cli, "profile", path);
            cli_hint(cli, "the private key and the API v3 key are in the profile (mode 0600) and "
                          "nowhere else: keep it safe");
        }
    }
    S_keys_forget(profile, &res);
    return rc;
}

/* --- orders ------------------------------------------------------------------------ */

/* A fresh out_trade_no: "qb", the UTC time to the second, 8 hex digits. */
static void S_out_trade_no_new(char out[S_OUT_TRADE_NO_SIZE_MAX])
{
    unsigned char raw[4];
    if (RAND_bytes(raw, sizeof raw) != 1)
        memset(raw, 0, sizeof raw);
    time_t now = (time_t)(cli_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[16];
    strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    snprintf(out, S_OUT_TRADE_NO_SIZE_MAX, "qb%s%02x%02x%02x%02x", stamp, raw[0], raw[1], raw[2],
             raw[3]);
}

static bool S_out_trade_no_valid(const char *text)
{
    size_t size = strlen(text);
    return size >= 6 && size < S_OUT_TRADE_NO_SIZE_MAX &&
           strspn(text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-|*@") ==
               size;
}

static int S_order_create(struct cli *cli, const struct cli_args *args, const char *kind)
{
    int64_t total;
    char clean[64];
    cli_text_clean(args->positionals[0], clean, sizeof clean);
    enum qb_error err = cli_amount_parse(args->positionals[0], currency_find(S_CURRENCY), &total);
    if (err != QB_OK)
        return cli_usage_error(cli,
                               "\"%s\" is not a valid amount: a positive number of yuan with at "
                               "most two decimals, such as 12.50, 0.01 or 3",
                               clean);
    int utf8 = S_utf8_args(cli, args);
    if (utf8 != CLI_EXIT_OK)
        return utf8;
    const char *out_trade_no = cli_arg(cli, args, "out-trade-no");
    char generated[S_OUT_TRADE_NO_SIZE_MAX];
    if (out_trade_no == NULL) {
        S_out_trade_no_new(generated);
        out_trade_no = generated;
    } else if (!S_out_trade_no_valid(out_trade_no)) {
        return cli_usage_error(cli, "--out-trade-no must be 6 to 32 of 0-9 A-Z a-z _ - | * @");
    }
    const char *openid = strcmp(kind, "jsapi") == 0 ? cli_arg(cli, args, "openid") : NULL;
    const char *attach = cli_arg(cli, args, "attach");
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    int rc = cli_merchant_profile(cli, profile);
    json_t *body = NULL;
    if (rc == CLI_EXIT_OK) {
        body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:I, s:s}}", "appid", profile->appid,
                         "mchid", profile->mchid, "description",
                         cli_arg(cli, args, "description"), "out_trade_no", out_trade_no,
                         "notify_url", cli_arg(cli, args, "notify-url"), "amount", "total",
                         (json_int_t)total, "currency", S_CURRENCY);
        QB_ASSERT(body != NULL);
        if (attach != NULL)
            json_object_set_new(body, "attach", json_string(attach));
        if (openid != NULL)
            json_object_set_new(body, "payer", json_pack("{s:s}", "openid", openid));
        if (strcmp(kind, "h5") == 0) {
            const char *type = cli_arg(cli, args, "h5-type");
            json_object_set_new(body, "scene_info",
                                json_pack("{s:s, s:{s:s}}", "payer_client_ip",
                                          cli_arg(cli, args, "payer-ip"), "h5_info", "type",
                                          type != NULL ? type : "Wap"));
        }
    }
    cli_secret_wipe(profile->private_key, sizeof profile->private_key);
    free(profile);
    if (rc != CLI_EXIT_OK)
        return rc;
    char path[64];
    snprintf(path, sizeof path, "/v3/pay/transactions/%s", kind);
    struct cli_response res;
    rc = cli_call_merchant(cli, "POST", path, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        const char *field = strcmp(kind, "native") == 0 ? "code_url"
                            : strcmp(kind, "h5") == 0   ? "h5_url"
                                                        : "prepay_id";
        if (cli->json) {
            json_t *answer = json_deep_copy(res.json);
            QB_ASSERT(answer != NULL);
            json_object_set_new(answer, "out_trade_no", json_string(out_trade_no));
            cli_print_json(answer);
        } else {
            char value[256];
            cli_text_clean(cli_json_str(res.json, field), value, sizeof value);
            /* On a terminal, the code a customer scans (the h5_url opens
             * the payment page on a phone); piped, the fields alone. */
            if (strcmp(field, "prepay_id") != 0 && isatty(STDOUT_FILENO))
                cli_qr_draw(value);
            cli_print_field(cli, "out_trade_no", out_trade_no);
            cli_print_field(cli, field, value);
        }
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_merchant_order_native(struct cli *cli, const struct cli_args *args)
{
    return S_order_create(cli, args, "native");
}

int cli_run_merchant_order_jsapi(struct cli *cli, const struct cli_args *args)
{
    return S_order_create(cli, args, "jsapi");
}

int cli_run_merchant_order_h5(struct cli *cli, const struct cli_args *args)
{
    return S_order_create(cli, args, "h5");
}

/* The merchant profile's mchid, for ?mchid= and bodies; an exit code. */
static int S_mchid(struct cli *cli, char mchid[16])
{
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    int rc = cli_merchant_profile(cli, profile);
    snprintf(mchid, 16, "%s", profile->mchid);
    cli_secret_wipe(profile->private_key, sizeof profile->private_key);
    free(profile);
    return rc;
}

int cli_run_order_show(struct cli *cli, const struct cli_args *args)
{
    const char *out_trade_no = args->positionals[0];
    if (!S_out_trade_no_valid(out_trade_no))
        return cli_usage_error(cli, "OUT_TRADE_NO must be 6 to 32 of 0-9 A-Z a-z _ - | * @");
    char mchid[16];
    int rc = S_mchid(cli, mchid);
    if (rc != CLI_EXIT_OK)
        return rc;
    char path[160];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no,
             mchid);
    struct cli_response res;
    rc = cli_call_merchant(cli, "GET", path, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        const json_t *o = res.json;
        const json_t *amount = json_object_get(o, "amount");
        char text[256], total[MONEY_TEXT_SIZE_MAX + 8];
        cli_amount_format(json_integer_value(json_object_get(amount, "total")),
                          cli_json_str(amount, "currency"), total, sizeof total);
        cli_print_field(cli, "out_trade_no", cli_json_str(o, "out_trade_no"));
        cli_print_field(cli, "transaction_id", cli_json_str(o, "transaction_id"));
        cli_print_field(cli, "trade_type", cli_json_str(o, "trade_type"));
        snprintf(text, sizeof text, "%s (%s)", cli_json_str(o, "trade_state"),
                 cli_json_str(o, "trade_state_desc"));
        cli_print_field(cli, "trade_state", text);
        snprintf(text, sizeof text, "%s %s", total, cli_json_str(amount, "currency"));
        cli_print_field(cli, "amount", text);
        const char *payer = cli_json_str(json_object_get(o, "payer"), "openid");
        if (payer[0] != '\0')
            cli_print_field(cli, "payer", payer);
        const char *success = cli_json_str(o, "success_time");
        if (success[0] != '\0')
            cli_print_field(cli, "success_time", success);
        char attach[160];
        cli_text_clean(cli_json_str(o, "attach"), attach, sizeof attach);
        if (attach[0] != '\0')
            cli_print_field(cli, "attach", attach);
    }
    cli_response_release(&res);
    return rc;
}

/* POST …/out-trade-no/{n}/ACTION for the merchant profile's order: close,
 * or reverse (a payment-code order, its money back to the payer). */
static int S_order_action(struct cli *cli, const struct cli_args *args, const char *action,
                          const char *done)
{
    const char *out_trade_no = args->positionals[0];
    if (!S_out_trade_no_valid(out_trade_no))
        return cli_usage_error(cli, "OUT_TRADE_NO must be 6 to 32 of 0-9 A-Z a-z _ - | * @");
    char mchid[16];
    int rc = S_mchid(cli, mchid);
    if (rc != CLI_EXIT_OK)
        return rc;
    char path[160];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/%s", out_trade_no, action);
    json_t *body = json_pack("{s:s}", "mchid", mchid);
    QB_ASSERT(body != NULL);
    struct cli_response res;
    rc = cli_call_merchant(cli, "POST", path, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else
            printf("%s %s\n", done, out_trade_no);
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_order_close(struct cli *cli, const struct cli_args *args)
{
    return S_order_action(cli, args, "close", "closed");
}

int cli_run_order_reverse(struct cli *cli, const struct cli_args *args)
{
    return S_order_action(cli, args, "reverse", "reversed");
}

/* --- refunds ----------------------------------------------------------------------- */

#define S_OUT_REFUND_NO_SIZE_MAX 65
#define S_REASON_SIZE_MAX 80

static bool S_out_refund_no_valid(const char *text)
{
    size_t size = strlen(text);
    return size >= 1 && size < S_OUT_REFUND_NO_SIZE_MAX &&
           strspn(text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-|*@") ==
               size;
}

/* A refund object (WeChat's, as POST and GET answer it), human or --json. */
/* A refund in the merchant API's shape, field by field. */
static void S_refund_fields(const struct cli *cli, const json_t *r)
{
    const json_t *amount = json_object_get(r, "amount");
    const char *currency = cli_json_str(amount, "currency");
    char refund[MONEY_TEXT_SIZE_MAX + 8], total[MONEY_TEXT_SIZE_MAX + 8],
        fee[MONEY_TEXT_SIZE_MAX + 8], text[256];
    cli_amount_format(json_integer_value(json_object_get(amount, "refund")), currency, refund,
                      sizeof refund);
    cli_amount_format(json_integer_value(json_object_get(amount, "total")), currency, total,
                      sizeof total);
    cli_amount_format(json_integer_value(json_object_get(amount, "refund_fee")), currency, fee,
                      sizeof fee);
    cli_text_clean(cli_json_str(r, "out_refund_no"), text, sizeof text);
    cli_print_field(cli, "out_refund_no", text);
    cli_print_field(cli, "refund_id", cli_json_str(r, "refund_id"));
    cli_text_clean(cli_json_str(r, "out_trade_no"), text, sizeof text);
    cli_print_field(cli, "out_trade_no", text);
    cli_print_field(cli, "transaction_id", cli_json_str(r, "transaction_id"));
    cli_print_field(cli, "status", cli_json_str(r, "status"));
    snprintf(text, sizeof text, "%s %s of %s %s", refund, currency, total, currency);
    cli_print_field(cli, "refund", text);
    snprintf(text, sizeof text, "%s %s", fee, currency);
    cli_print_field(cli, "fee_returned", text);
    cli_text_clean(cli_json_str(r, "user_received_account"), text, sizeof text);
    cli_print_field(cli, "received_into", text);
    const char *success = cli_json_str(r, "success_time");
    if (success[0] != '\0')
        cli_print_field(cli, "success_time", success);
}

static void S_refund_print(struct cli *cli, const struct cli_response *res)
{
    if (cli->json)
        cli_print_body(res);
    else
        S_refund_fields(cli, res->json);
}

int cli_run_refund(struct cli *cli, const struct cli_args *args)
{
    const char *out_trade_no = args->positionals[0];
    if (!S_out_trade_no_valid(out_trade_no))
        return cli_usage_error(cli, "OUT_TRADE_NO must be 6 to 32 of 0-9 A-Z a-z _ - | * @");
    int64_t refund;
    char clean[64];
    cli_text_clean(args->positionals[1], clean, sizeof clean);
    if (cli_amount_parse(args->positionals[1], currency_find(S_CURRENCY), &refund) != QB_OK)
        return cli_usage_error(cli,
                               "\"%s\" is not a valid amount: a positive number of yuan with at "
                               "most two decimals, such as 12.50, 0.01 or 3",
                               clean);
    const char *out_refund_no = cli_arg(cli, args, "out-refund-no");
    if (!S_out_refund_no_valid(out_refund_no))
        return cli_usage_error(cli, "--out-refund-no must be 1 to 64 of 0-9 A-Z a-z _ - | * @");
    const char *reason = cli_arg(cli, args, "reason");
    if (reason != NULL && (reason[0] == '\0' || strlen(reason) > S_REASON_SIZE_MAX))
        return cli_usage_error(cli, "--reason must be 1 to 80 bytes");
    int utf8 = S_utf8_args(cli, args);
    if (utf8 != CLI_EXIT_OK)
        return utf8;
    const char *notify_url = cli_arg(cli, args, "notify-url");
    char mchid[16];
    int rc = S_mchid(cli, mchid);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* The request names the order's total, as WeChat's does: read it from the order. */
    char path[160];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no,
             mchid);
    struct cli_response res;
    rc = cli_call_merchant(cli, "GET", path, NULL, &res);
    json_int_t total = 0;
    if (rc == CLI_EXIT_OK)
        total = json_integer_value(json_object_get(json_object_get(res.json, "amount"), "total"));
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s, s:{s:I, s:I, s:s}}", "out_trade_no", out_trade_no,
                             "out_refund_no", out_refund_no, "amount", "refund",
                             (json_int_t)refund, "total", total, "currency", S_CURRENCY);
    QB_ASSERT(body != NULL);
    if (reason != NULL)
        json_object_set_new(body, "reason", json_string(reason));
    if (notify_url != NULL)
        json_object_set_new(body, "notify_url", json_string(notify_url));
    rc = cli_call_merchant_keyed(cli, "/v3/refund/domestic/refunds", body, "--out-refund-no",
                                 out_refund_no, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK)
        S_refund_print(cli, &res);
    cli_response_release(&res);
    return rc;
}

int cli_run_refund_show(struct cli *cli, const struct cli_args *args)
{
    const char *out_refund_no = args->positionals[0];
    if (!S_out_refund_no_valid(out_refund_no))
        return cli_usage_error(cli, "OUT_REFUND_NO must be 1 to 64 of 0-9 A-Z a-z _ - | * @");
    char path[160];
    snprintf(path, sizeof path, "/v3/refund/domestic/refunds/%s", out_refund_no);
    struct cli_response res;
    int rc = cli_call_merchant(cli, "GET", path, NULL, &res);
    if (rc == CLI_EXIT_OK)
        S_refund_print(cli, &res);
    cli_response_release(&res);
    return rc;
}

/* --- transfers to users (商家转账) -------------------------------------------------- */

#define S_TRANSFER_BILLS "/v3/fund-app/mch-transfer/transfer-bills"

static bool S_out_bill_no_valid(const char *text)
{
    size_t size = strlen(text);
    return size >= 5 && size <= 32 &&
           strspn(text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == size;
}

void cli_transfer_bill_print(struct cli *cli, const struct cli_response *res)
{
    if (cli->json) {
        cli_print_body(res);
        return;
    }
    const json_t *b = res->json;
    char text[256];
    cli_text_clean(cli_json_str(b, "out_bill_no"), text, sizeof text);
    cli_print_field(cli, "out_bill_no", text);
    cli_print_field(cli, "transfer_bill_no", cli_json_str(b, "transfer_bill_no"));
    cli_print_field(cli, "state", cli_json_str(b, "state"));
    const json_t *amount = json_object_get(b, "transfer_amount");
    if (amount != NULL) {
        char yuan[MONEY_TEXT_SIZE_MAX + 8];
        cli_amount_format(json_integer_value(amount), S_CURRENCY, yuan, sizeof yuan);
        snprintf(text, sizeof text, "%s %s", yuan, S_CURRENCY);
        cli_print_field(cli, "amount", text);
        cli_print_field(cli, "openid", cli_json_str(b, "openid"));
        const char *user_id = cli_json_str(b, "user_id"); /* an operator's answer */
        if (user_id[0] != '\0')
            cli_print_field(cli, "user_id", user_id);
        cli_text_clean(cli_json_str(b, "transfer_remark"), text, sizeof text);
        cli_print_field(cli, "remark", text);
    }
    const char *reason = cli_json_str(b, "fail_reason");
    if (reason[0] != '\0')
        cli_print_field(cli, "fail_reason", reason);
    const char *package = cli_json_str(b, "package_info");
    if (package[0] != '\0')
        cli_print_field(cli, "package_info", package);
    const char *time = cli_json_str(b, "update_time");
    cli_print_field(cli, time[0] != '\0' ? "update_time" : "create_time",
                    time[0] != '\0' ? time : cli_json_str(b, "create_time"));
}

int cli_run_transfer_bill(struct cli *cli, const struct cli_args *args)
{
    int64_t amount;
    char clean[64];
    cli_text_clean(args->positionals[1], clean, sizeof clean);
    if (cli_amount_parse(args->positionals[1], currency_find(S_CURRENCY), &amount) != QB_OK)
        return cli_usage_error(cli,
                               "\"%s\" is not a valid amount: a positive number of yuan with at "
                               "most two decimals, such as 12.50, 0.01 or 3",
                               clean);
    const char *out_bill_no = cli_arg(cli, args, "out-bill-no");
    if (!S_out_bill_no_valid(out_bill_no))
        return cli_usage_error(cli, "--out-bill-no must be 5 to 32 of 0-9 A-Z a-z");
    int utf8 = S_utf8_args(cli, args);
    if (utf8 != CLI_EXIT_OK)
        return utf8;
    const char *scene = cli_arg(cli, args, "scene");
    const char *perception = cli_arg(cli, args, "perception");
    const char *notify_url = cli_arg(cli, args, "notify-url");
    const char *user_name = cli_arg(cli, args, "user-name");
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    int rc = cli_merchant_profile(cli, profile);
    json_t *body = NULL;
    if (rc == CLI_EXIT_OK) {
        body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "appid", profile->appid, "out_bill_no",
                         out_bill_no, "transfer_scene_id", scene != NULL ? scene : "1000", "openid",
                         args->positionals[0], "transfer_amount", (json_int_t)amount,
                         "transfer_remark", cli_arg(cli, args, "remark"));
        QB_ASSERT(body != NULL);
        if (perception != NULL)
            json_object_set_new(body, "user_recv_perception", json_string(perception));
        if (notify_url != NULL)
            json_object_set_new(body, "notify_url", json_string(notify_url));
        char sealed[1024];
        if (user_name != NULL && !cli_merchant_seal(profile, user_name, sealed, sizeof sealed))
            rc = cli_usage_error(cli, "--user-name cannot be sealed with the merchant "
                                      "profile's platform key: run `qianbao merchant create` "
                                      "again");
        else if (user_name != NULL)
            json_object_set_new(body, "user_name", json_string(sealed));
    }
    cli_secret_wipe(profile->private_key, sizeof profile->private_key);
    free(profile);
    if (rc != CLI_EXIT_OK) {
        json_decref(body);
        return rc;
    }
    struct cli_response res;
    rc = cli_call_merchant_keyed(cli, S_TRANSFER_BILLS, body, "--out-bill-no", out_bill_no, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK)
        cli_transfer_bill_print(cli, &res);
    cli_response_release(&res);
    return rc;
}

/* transfer-bill show|cancel OUT_BILL_NO. */
static int S_transfer_bill_action(struct cli *cli, const struct cli_args *args, bool cancel)
{
    const char *out_bill_no = args->positionals[0];
    if (!S_out_bill_no_valid(out_bill_no))
        return cli_usage_error(cli, "OUT_BILL_NO must be 5 to 32 of 0-9 A-Z a-z");
    char path[160];
    snprintf(path, sizeof path, S_TRANSFER_BILLS "/out-bill-no/%s%s", out_bill_no,
             cancel ? "/cancel" : "");
    struct cli_response res;
    int rc = cli_call_merchant(cli, cancel ? "POST" : "GET", path, NULL, &res);
    if (rc == CLI_EXIT_OK)
        cli_transfer_bill_print(cli, &res);
    cli_response_release(&res);
    return rc;
}

int cli_run_transfer_bill_show(struct cli *cli, const struct cli_args *args)
{
    return S_transfer_bill_action(cli, args, false);
}

int cli_run_transfer_bill_cancel(struct cli *cli, const struct cli_args *args)
{
    return S_transfer_bill_action(cli, args, true);
}

/* --- the trade bill and the fund-flow bill ----------------------------------------- */

/* merchant bill DATE [--type ALL|SUCCESS|REFUND|FUNDFLOW]: the trade bill
 * (GET /v3/bill/tradebill with the type as its bill_type) or, for
 * FUNDFLOW, the fund-flow bill of the merchant's one account, WeChat's
 * BASIC (GET /v3/bill/fundflowbill). Both answer a link and the file's
 * SHA-1 alike, so the rest is one path. */
int cli_run_merchant_bill(struct cli *cli, const struct cli_args *args)
{
    const char *date = args->positionals[0];
    const char *type = cli_arg(cli, args, "type");
    const char *output = cli_arg(cli, args, "output");
    if (!cli_date_is_valid(date))
        return cli_usage_error(cli, "the date must be a date as YYYY-MM-DD");
    bool fundflow = type != NULL && strcmp(type, "FUNDFLOW") == 0;
    if (cli->json && output == NULL)
        return cli_usage_error(cli, "--json prints what was downloaded: give --output FILE for "
                                    "the bill itself");
    char path[256];
    snprintf(path, sizeof path, "%s", fundflow ? "/v3/bill/fundflowbill" : "/v3/bill/tradebill");
    if (!cli_query_add(path, sizeof path, "bill_date", date) ||
        (type != NULL && !fundflow && !cli_query_add(path, sizeof path, "bill_type", type)))
        return cli_usage_error(cli, "the request is too long");
    struct cli_response res;
    int rc = cli_call_merchant(cli, "GET", path, NULL, &res);
    char hash[64] = "", download[512] = "";
    if (rc == CLI_EXIT_OK) {
        snprintf(hash, sizeof hash, "%s", cli_json_str(res.json, "hash_value"));
        /* The link names this server: only its path is followed, so the
         * request goes where the profile's credentials belong. */
        const char *at = strstr(cli_json_str(res.json, "download_url"), "/v3/billdownload/file?");
        if (at == NULL || strlen(at) >= sizeof download ||
            strcmp(cli_json_str(res.json, "hash_type"), "SHA1") != 0)
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                          "merchant bill: the answer names no bill file");
        else
            snprintf(download, sizeof download, "%s", at);
    }
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* A large bill is streamed unsigned: its SHA-1, from the signed answer
     * above, is what vouches for it. */
    rc = cli_call_merchant_download(cli, download, &res);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    char actual[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (EVP_Digest(res.body.data, res.body.size, digest, &digest_size, EVP_sha1(), NULL) == 1)
        for (unsigned int i = 0; i < digest_size; i++)
            snprintf(actual + 2 * i, 3, "%02x", digest[i]);
    if (strcasecmp(actual, hash) != 0) {
        rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "HASH_MISMATCH",
                      "merchant bill: the file's SHA-1 is not the one the server answered: the "
                      "download is damaged; run the command again");
    } else if (output != NULL) {
        FILE *f = fopen(output, "wb");
        bool ok = f != NULL && (res.body.size == 0 ||
                                fwrite(res.body.data, 1, res.body.size, f) == res.body.size);
        if (f != NULL && fclose(f) != 0)
            ok = false;
        if (!ok)
            rc = cli_fail(cli, CLI_EXIT_USAGE, "OUTPUT_UNWRITABLE",
                          "merchant bill: cannot write %s", output);
    } else {
        fwrite(res.body.data, 1, res.body.size, stdout);
    }
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:s}", "bill_date", date,
                                 "bill_type", type != NULL ? type : "ALL", "hash_type", "SHA1",
                                 "hash_value", actual, "verified", 1, "size",
                                 (json_int_t)res.body.size, "output", output));
    } else if (rc == CLI_EXIT_OK && output != NULL) {
        char size[32];
        snprintf(size, sizeof size, "%zu bytes", res.body.size);
        cli_print_field(cli, "bill", date);
        cli_print_field(cli, "type", type != NULL ? type : "ALL");
        cli_print_field(cli, "saved", output);
        cli_print_field(cli, "size", size);
        cli_print_field(cli, "sha1", actual);
    }
    cli_response_release(&res);
    return rc;
}

/* --- the balance ------------------------------------------------------------------------ */

/* merchant balance [--date YYYY-MM-DD]: the settlement account now (GET
 * /v3/merchant/fund/balance/BASIC) or at a day's end (GET
 * /v3/merchant/fund/dayendbalance/BASIC?date=), signed. */
int cli_run_merchant_balance(struct cli *cli, const struct cli_args *args)
{
    const char *date = cli_arg(cli, args, "date");
    if (date != NULL && !cli_date_is_valid(date))
        return cli_usage_error(cli, "the date must be a date as YYYY-MM-DD");
    char path[128];
    snprintf(path, sizeof path, "%s",
             date != NULL ? "/v3/merchant/fund/dayendbalance/BASIC"
                          : "/v3/merchant/fund/balance/BASIC");
    if (date != NULL && !cli_query_add(path, sizeof path, "date", date))
        return cli_usage_error(cli, "the request is too long");
    struct cli_response res;
    int rc = cli_call_merchant(cli, "GET", path, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        json_int_t available = json_integer_value(json_object_get(res.json, "available_amount"));
        json_int_t pending = json_integer_value(json_object_get(res.json, "pending_amount"));
        if (date != NULL) {
            char at[64];
            snprintf(at, sizeof at, "%s 24:00 (UTC+8)", date);
            cli_print_field(cli, "at", at);
        }
        const char *names[] = {"balance", "available", "pending"};
        const json_int_t amounts[] = {available + pending, available, pending};
        for (size_t i = 0; i < QB_ARRAY_COUNT(names); i++) {
            char amount[MONEY_TEXT_SIZE_MAX + 8], text[MONEY_TEXT_SIZE_MAX + 16];
            cli_amount_format(amounts[i], S_CURRENCY, amount, sizeof amount);
            snprintf(text, sizeof text, "%s %s", amount, S_CURRENCY);
            cli_print_field(cli, names[i], text);
        }
    }
    cli_response_release(&res);
    return rc;
}

/* --- analytics (the owner's, /v1) ----------------------------------------------------- */

int cli_run_merchant_analytics(struct cli *cli, const struct cli_args *args)
{
    char path[256] = "/v1/merchants/me/analytics";
    const char *mchid = cli_arg(cli, args, "mchid");
    if (!cli_date_is_valid(cli_arg(cli, args, "from")) ||
        !cli_date_is_valid(cli_arg(cli, args, "to")))
        return cli_usage_error(cli, "--from and --to must be dates as YYYY-MM-DD");
    if (!cli_query_add(path, sizeof path, "from", cli_arg(cli, args, "from")) ||
        !cli_query_add(path, sizeof path, "to", cli_arg(cli, args, "to")) ||
        (mchid != NULL && !cli_query_add(path, sizeof path, "mchid", mchid)))
        return cli_usage_error(cli, "the request is too long");
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        const json_t *a = res.json;
        const char *currency = cli_json_str(a, "currency");
        char text[96], amount[MONEY_TEXT_SIZE_MAX + 8];
        cli_print_field(cli, "mchid", cli_json_str(a, "mchid"));
        snprintf(text, sizeof text, "%s to %s (UTC+8)", cli_json_str(a, "from"),
                 cli_json_str(a, "to"));
        cli_print_field(cli, "days", text);
        static const char *const counts[] = {"order_count", "paid_count", "payer_count",
                                             "repeat_payer_count"};
        static const char *const labels[] = {"orders", "paid", "payers", "repeat payers"};
        for (size_t i = 0; i < 2; i++) {
            snprintf(text, sizeof text, "%lld",
                     (long long)json_integer_value(json_object_get(a, counts[i])));
            cli_print_field(cli, labels[i], text);
        }
        cli_amount_format(json_integer_value(json_object_get(a, "sales")), currency, amount,
                          sizeof amount);
        snprintf(text, sizeof text, "%s %s", amount, currency);
        cli_print_field(cli, "sales", text);
        cli_amount_format(json_integer_value(json_object_get(a, "average_ticket")), currency,
                          amount, sizeof amount);
        snprintf(text, sizeof text, "%s %s", amount, currency);
        cli_print_field(cli, "average ticket", text);
        cli_amount_format(json_integer_value(json_object_get(a, "refunds")), currency, amount,
                          sizeof amount);
        snprintf(text, sizeof text, "%s %s in %lld", amount, currency,
                 (long long)json_integer_value(json_object_get(a, "refund_count")));
        cli_print_field(cli, "refunds", text);
        for (size_t i = 2; i < 4; i++) {
            snprintf(text, sizeof text, "%lld",
                     (long long)json_integer_value(json_object_get(a, counts[i])));
            cli_print_field(cli, labels[i], text);
        }
        /* The days and hours that sold something. */
        static const char *const day_headers[] = {"DATE", "PAID", "SALES"};
        static const char *const hour_headers[] = {"HOUR", "PAID", "SALES"};
        const char *keys[] = {"by_day", "by_hour"};
        for (size_t k = 0; k < 2; k++) {
            struct cli_table table;
            cli_table_init(&table, k == 0 ? day_headers : hour_headers, 3);
            size_t index;
            json_t *row;
            json_array_foreach(json_object_get(a, keys[k]), index, row)
            {
                json_int_t paid = json_integer_value(json_object_get(row, "paid_count"));
                if (paid == 0)
                    continue;
                char first[32], count[32], sales[MONEY_TEXT_SIZE_MAX + 8];
                if (k == 0)
                    snprintf(first, sizeof first, "%s", cli_json_str(row, "date"));
                else
                    snprintf(first, sizeof first, "%02lld:00",
                             (long long)json_integer_value(json_object_get(row, "hour")));
                snprintf(count, sizeof count, "%lld", (long long)paid);
                cli_amount_format(json_integer_value(json_object_get(row, "sales")), currency,
                                  sales, sizeof sales);
                const char *cells[] = {first, count, sales};
                cli_table_add(&table, cells);
            }
            printf("\n");
            cli_table_print(cli, &table);
            cli_table_release(&table);
        }
    }
    cli_response_release(&res);
    return rc;
}

/* --- notifications (the owner's, /v1) ------------------------------------------------ */

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

int cli_run_merchant_notification_resend(struct cli *cli, const struct cli_args *args)
{
    char mchid[64], id[128];
    if (!cli_path_escape(args->positionals[0], mchid, sizeof mchid))
        return cli_usage_error(cli, "MCHID is too long");
    if (!cli_path_escape(args->positionals[1], id, sizeof id))
        return cli_usage_error(cli, "ID is too long");
    char path[256];
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications/%s/resend", mchid, id);
    struct cli_response res;
    int rc = cli_call(cli, "POST", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char clean_id[64], before[16], next[40];
        cli_text_clean(cli_json_str(res.json, "id"), clean_id, sizeof clean_id);
        cli_text_clean(cli_json_str(res.json, "previous_status"), before, sizeof before);
        cli_text_clean(cli_json_str(res.json, "next_attempt_time"), next, sizeof next);
        json_int_t count = json_integer_value(json_object_get(res.json, "attempt_count"));
        printf("notification %s, %s after %" JSON_INTEGER_FORMAT " %s, is due again at %s\n",
               clean_id, before, count, count == 1 ? "attempt" : "attempts", next);
        char clean_mchid[64];
        cli_text_clean(args->positionals[0], clean_mchid, sizeof clean_mchid);
        cli_hint(cli, "watch it with `qianbao merchant notifications %s`", clean_mchid);
    }
    cli_response_release(&res);
    return rc;
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
        cli_next_page_hint(cli, res.json); /* with its --limit, --server and --profile */
    }
    cli_response_release(&res);
    return rc;
}

/* --- payments and watch (the owner's, /v1) ------------------------------------------------ */

#define S_ANNOUNCED_MAX 20 /* payments in one changes answer; more are listed */

/* The owner's route path with ?mchid= when --mchid was given: false when
 * too long. */
static bool S_owner_path(struct cli *cli, const struct cli_args *args, char *path, size_t path_size,
                         const char *route)
{
    const char *mchid = cli_arg(cli, args, "mchid");
    snprintf(path, path_size, "%s", route);
    return mchid == NULL || cli_query_add(path, path_size, "mchid", mchid);
}

static void S_payment_row(struct cli_table *table, const json_t *p)
{
    const char *currency = cli_json_str(p, "currency");
    char amount[MONEY_TEXT_SIZE_MAX + 8], fee[MONEY_TEXT_SIZE_MAX + 8],
        refunded[MONEY_TEXT_SIZE_MAX + 8], payer[64], order[80], description[160];
    cli_money_amount_text(json_integer_value(json_object_get(p, "amount")), currency, amount,
                          sizeof amount);
    cli_money_amount_text(json_integer_value(json_object_get(p, "fee")), currency, fee, sizeof fee);
    cli_money_amount_text(json_integer_value(json_object_get(p, "refunded")), currency, refunded,
                          sizeof refunded);
    cli_text_clean(cli_json_str(p, "payer_name"), payer, sizeof payer);
    cli_text_clean(cli_json_str(p, "out_trade_no"), order, sizeof order);
    cli_text_clean(cli_json_str(p, "description"), description, sizeof description);
    const char *row[] = {cli_json_str(p, "success_time"), order, amount,     fee, refunded,
                         cli_json_str(p, "trade_state"),  payer, description};
    cli_table_add(table, row);
}

int cli_run_merchant_payments(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"PAID",     "ORDER", "AMOUNT", "FEE",
                                          "REFUNDED", "STATE", "PAYER",  "DESCRIPTION"};
    char path[512];
    if (!S_owner_path(cli, args, path, sizeof path, "/v1/merchants/me/payments"))
        return cli_usage_error(cli, "--mchid is too long");
    int rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK
               ? cli_page_show(cli, path, CLI_AUTH_USER, headers, QB_ARRAY_COUNT(headers),
                               S_payment_row, "no payments yet")
               : rc;
}

int cli_run_merchant_refund(struct cli *cli, const struct cli_args *args)
{
    const char *order = args->positionals[0];
    if (!S_out_trade_no_valid(order))
        return cli_usage_error(cli, "ORDER must be 6 to 32 of 0-9 A-Z a-z _ - | * @");
    int64_t refund;
    int rc = cli_money_amount_arg(cli, args->positionals[1], &refund);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *reason = cli_arg(cli, args, "reason");
    const char *mchid = cli_arg(cli, args, "mchid");
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    char password[CLI_SECRET_SIZE_MAX] = "";
    rc = cli_money_payment_password(cli, args, password, sizeof password);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:I, s:s}", "out_trade_no", order, "amount", (json_int_t)refund,
                             "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    if (body == NULL ||
        (reason != NULL && json_object_set_new(body, "reason", json_string(reason)) != 0) ||
        (mchid != NULL && json_object_set_new(body, "mchid", json_string(mchid)) != 0)) {
        json_decref(body);
        return cli_usage_error(cli, "--reason and --mchid must be UTF-8 text");
    }
    return cli_money_post(cli, "/v1/merchants/me/refunds", key, body, S_refund_fields);
}

/* 收款到账: a line for each payment an answer announces, oldest first as
 * they came; a line when only the balance moved. */
static void S_watch_print(struct cli *cli, const json_t *answer)
{
    const json_t *payments = json_object_get(answer, "payments");
    for (size_t i = json_array_size(payments); i > 0; i--) {
        const json_t *p = json_array_get(payments, i - 1);
        char amount[MONEY_TEXT_SIZE_MAX + 8], payer[64], order[80], description[160];
        cli_money_amount_text(json_integer_value(json_object_get(p, "amount")),
                              cli_json_str(p, "currency"), amount, sizeof amount);
        cli_text_clean(cli_json_str(p, "payer_name"), payer, sizeof payer);
        cli_text_clean(cli_json_str(p, "out_trade_no"), order, sizeof order);
        cli_text_clean(cli_json_str(p, "description"), description, sizeof description);
        printf("received %s from %s: order %s, %s\n", amount, payer[0] != '\0' ? payer : "?", order,
               description);
    }
    if (json_array_size(payments) >= S_ANNOUNCED_MAX)
        cli_hint(cli, "more payments came: `qianbao merchant payments` lists them");
    if (json_array_size(payments) == 0)
        printf("the balance moved (a refund, a withdrawal or a transfer): `qianbao merchant "
               "payments`\n");
}

int cli_run_merchant_watch(struct cli *cli, const struct cli_args *args)
{
    char route[256];
    if (!S_owner_path(cli, args, route, sizeof route, "/v1/merchants/me/changes"))
        return cli_usage_error(cli, "--mchid is too long");
    return cli_watch(cli, args, route, S_watch_print);
}

/* --- close (the owner's, /v1) --------------------------------------------------------- */

/* An owner's replacement of one of a merchant's keys (path), written into
 * the merchant profile --merchant-profile names, whose mchid says which
 * merchant: the API v3 key, or the key pair and serial. Printed nowhere. */
#define S_KEEP_OLD_HOURS_MAX 168 /* the server's most (a week) */

/* --keep-old HOURS of a certificate's replacement into *hours (0 without
 * it): 1 to 168 whole hours, else a usage error. */
static int S_keep_old_hours(struct cli *cli, const struct cli_args *args, long long *hours)
{
    *hours = 0;
    const char *keep_old = cli_arg(cli, args, "keep-old");
    if (keep_old == NULL)
        return CLI_EXIT_OK;
    char *end = NULL;
    *hours = strtoll(keep_old, &end, 10);
    if (keep_old[0] < '0' || keep_old[0] > '9' || *end != '\0' || *hours < 1 ||
        *hours > S_KEEP_OLD_HOURS_MAX)
        return cli_usage_error(cli, "--keep-old must be whole hours, 1 to %d",
                               S_KEEP_OLD_HOURS_MAX);
    return CLI_EXIT_OK;
}

static int S_keys_replace(struct cli *cli, const struct cli_args *args, const char *path,
                          bool apiv3)
{
    const char *name = cli_arg(cli, args, "merchant-profile");
    struct cli_profile *profile = calloc(1, sizeof *profile);
    QB_ASSERT(profile != NULL);
    if (!cli_profile_name_valid(name) || cli_profile_load(name, profile) != QB_OK ||
        profile->kind != CLI_PROFILE_MERCHANT) {
        free(profile);
        return cli_usage_error(cli, "--merchant-profile must name a merchant profile (made by "
                                    "`qianbao merchant create --save-as NAME`)");
    }
    long long keep_old_hours = 0;
    int rc = apiv3 ? CLI_EXIT_OK : S_keep_old_hours(cli, args, &keep_old_hours);
    if (rc != CLI_EXIT_OK) {
        free(profile);
        return rc;
    }
    char password[CLI_SECRET_SIZE_MAX] = "";
    rc = cli_money_payment_password(cli, args, password, sizeof password);
    json_t *body = rc == CLI_EXIT_OK ? json_pack("{s:s, s:s}", "payment_password", password,
                                                 "mchid", profile->mchid)
                                     : NULL;
    if (body != NULL && keep_old_hours > 0)
        QB_ASSERT(json_object_set_new(body, "keep_old_hours", json_integer(keep_old_hours)) == 0);
    cli_secret_wipe(password, sizeof password);
    struct cli_response res = {0};
    if (rc == CLI_EXIT_OK) {
        QB_ASSERT(body != NULL);
        rc = cli_call(cli, "POST", path, CLI_AUTH_USER, body, &res);
    }
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        bool ok;
        if (apiv3) {
            const char *key = cli_json_str(res.json, "apiv3_key");
            snprintf(profile->apiv3_key, sizeof profile->apiv3_key, "%s", key);
            ok = strlen(key) == 32;
        } else {
            snprintf(profile->serial_no, sizeof profile->serial_no, "%s",
                     cli_json_str(res.json, "serial_no"));
            ok = profile->serial_no[0] != '\0' &&
                 cli_pem_body(cli_json_str(res.json, "private_key_pem"), profile->private_key,
                              sizeof profile->private_key);
        }
        if (!ok || cli_profile_save(name, profile) != QB_OK)
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "PROFILE_UNWRITABLE",
                          "%s: the key of merchant %s was replaced but the profile \"%s\" "
                          "cannot be written: replace it again",
                          cli->command->name, profile->mchid, name);
    }
    const char *until = rc == CLI_EXIT_OK ? cli_json_str(res.json, "previous_valid_until") : "";
    if (rc == CLI_EXIT_OK && cli->json) {
        json_t *out = json_pack("{s:s, s:s}", "mchid", profile->mchid, "profile", name);
        if (out != NULL && until[0] != '\0')
            json_object_set_new(out, "old_key_valid_until", json_string(until));
        cli_print_json(out);
    } else if (rc == CLI_EXIT_OK) {
        cli_print_field(cli, "mchid", profile->mchid);
        if (!apiv3)
            cli_print_field(cli, "serial_no", profile->serial_no);
        if (until[0] != '\0')
            cli_print_field(cli, "old key until", until);
        cli_print_field(cli, "profile", name);
        if (until[0] != '\0')
            cli_hint(cli,
                     "the new private key is in the profile and nowhere else; the old one "
                     "still signs until %s: give the new one to every server that calls "
                     "the merchant API before then",
                     until);
        else
            cli_hint(cli, apiv3 ? "the new API v3 key is in the profile and nowhere else; the "
                                  "old one decrypts nothing from now on: give the new one to "
                                  "every server that decrypts this merchant's notifications"
                                : "the new private key is in the profile and nowhere else; "
                                  "requests signed with the old one are refused from now on: "
                                  "give the new one to every server that calls the merchant API");
    }
    S_keys_forget(profile, &res);
    return rc;
}

int cli_run_merchant_apiv3_key_reset(struct cli *cli, const struct cli_args *args)
{
    return S_keys_replace(cli, args, "/v1/merchants/me/apiv3-key", true);
}

int cli_run_merchant_certificate_replace(struct cli *cli, const struct cli_args *args)
{
    return S_keys_replace(cli, args, "/v1/merchants/me/certificate", false);
}

void cli_merchant_print(struct cli *cli, const json_t *m)
{
    char text[512];
    cli_print_field(cli, "merchant", cli_json_str(m, "mchid"));
    cli_print_field(cli, "name", cli_json_str(m, "name"));
    if (json_object_get(m, "owner_user_id") != NULL) { /* the operator's view */
        const char *owner = cli_json_str(m, "owner_user_id");
        cli_print_field(cli, "owner", owner[0] != '\0' ? owner : "none");
    }
    const char *status = cli_json_str(m, "status");
    if (strcmp(status, "SUSPENDED") == 0) {
        const char *reason = cli_json_str(m, "suspend_reason");
        const char *since = cli_json_str(m, "suspended_at");
        if (since[0] != '\0')
            snprintf(text, sizeof text, "SUSPENDED since %s%s%s%s", since,
                     reason[0] != '\0' ? " (" : "", reason, reason[0] != '\0' ? ")" : "");
        else /* the owner's view */
            snprintf(text, sizeof text, "SUSPENDED: the operator stopped it taking money");
        cli_print_field(cli, "status", text);
    } else if (strcmp(status, "CLOSED") == 0) {
        snprintf(text, sizeof text, "CLOSED by its owner at %s, for good",
                 cli_json_str(m, "closed_at"));
        cli_print_field(cli, "status", text);
    } else {
        cli_print_field(cli, "status", status);
    }
    snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT " ppm",
             json_integer_value(json_object_get(m, "fee_rate_ppm")));
    cli_print_field(cli, "fee rate", text);
    size_t i, used = 0;
    const json_t *app;
    text[0] = '\0';
    json_array_foreach(json_object_get(m, "appids"), i, app) if (used < sizeof text) used +=
        (size_t)snprintf(text + used, sizeof text - used, "%s%s", i > 0 ? ", " : "",
                         json_string_value(app) != NULL ? json_string_value(app) : "");
    cli_print_field(cli, "apps", text);
    cli_print_balances(cli, json_object_get(m, "balances"));
    cli_print_field(cli, "created at", cli_json_str(m, "created_at"));
    /* What a merchant refused SIGN_ERROR after replacing its keys must name. */
    const char *replaced = cli_json_str(m, "certificate_replaced_at");
    snprintf(text, sizeof text, "%s%s%s", cli_json_str(m, "serial_no"),
             replaced[0] != '\0' ? ", replaced at " : "", replaced);
    cli_print_field(cli, "certificate", text);
    const char *previous = cli_json_str(m, "previous_serial_no");
    if (previous[0] != '\0') {
        snprintf(text, sizeof text, "%s, signs until %s", previous,
                 cli_json_str(m, "previous_valid_until"));
        cli_print_field(cli, "old certificate", text);
    }
    const char *reset = cli_json_str(m, "apiv3_key_reset_at");
    if (reset[0] != '\0') {
        snprintf(text, sizeof text, "reset at %s", reset);
        cli_print_field(cli, "API v3 key", text);
    }
}

int cli_run_merchant_show(struct cli *cli, const struct cli_args *args)
{
    char path[256];
    if (!S_owner_path(cli, args, path, sizeof path, "/v1/merchants/me"))
        return cli_usage_error(cli, "--mchid is too long");
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        cli_merchant_print(cli, res.json);
    cli_response_release(&res);
    return rc;
}

/* What empties a merchant its owner could not close (ACCOUNT_NOT_EMPTY), by
 * the refusal's reason: where the server's message names its routes, the
 * owner needs the commands ("pending", a withdrawal at the bank, names
 * none: it is waited for). */
static void S_close_refused_hint(struct cli *cli, const char *mchid, const json_t *answer)
{
    if (strcmp(cli_json_str(answer, "code"), "ACCOUNT_NOT_EMPTY") != 0)
        return;
    const char *reason = cli_json_str(answer, "reason");
    if (strcmp(reason, "balance") == 0) {
        char word[CLI_SHELL_WORD_SIZE_MAX] = "";
        if (mchid != NULL)
            cli_shell_word(mchid, word, sizeof word);
        cli_hint(cli,
                 "withdraw it to your card first: `qianbao merchant withdraw CARD_ID all%s%s` "
                 "(`qianbao card list` lists your cards)",
                 mchid != NULL ? " --mchid " : "", word);
    } else if (strcmp(reason, "payout") == 0) {
        cli_hint(cli, "the merchant's own profile cancels a transfer its user has not taken: "
                      "`qianbao --profile PROFILE transfer-bill cancel OUT_BILL_NO`; else its 24 "
                      "hours end it");
    }
}

int cli_run_merchant_close(struct cli *cli, const struct cli_args *args)
{
    const char *mchid = cli_arg(cli, args, "mchid");
    char password[CLI_SECRET_SIZE_MAX] = "";
    int rc = cli_money_payment_password(cli, args, password, sizeof password);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s}", "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    if (body == NULL ||
        (mchid != NULL && json_object_set_new(body, "mchid", json_string(mchid)) != 0)) {
        json_decref(body);
        return cli_usage_error(cli, "MCHID must be UTF-8 text");
    }
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/merchants/me/close", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_REFUSED)
        S_close_refused_hint(cli, mchid, res.json);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        cli_print_field(cli, "mchid", cli_json_str(res.json, "mchid"));
        cli_print_field(cli, "name", cli_json_str(res.json, "name"));
        cli_print_field(cli, "status", cli_json_str(res.json, "status"));
        cli_print_field(cli, "closed at", cli_json_str(res.json, "closed_at"));
        cli_hint(cli, "it takes no payment again, and no longer keeps your wallet from closing "
                      "(`qianbao close-account` tells what else does)");
    }
    cli_response_release(&res);
    return rc;
}
