/*
 * money.c — the commands that bind cards and move money: card add, list
 * and remove; topup and withdraw (with --wait for the bank); payment show;
 * send (a transfer); limits and limits set.
 *
 * Every amount is typed as a decimal of yuan and checked with
 * cli_amount_parse before anything is sent: a bad one is a usage error
 * (exit 2) saying what a valid one looks like. Every money-moving POST
 * carries an Idempotency-Key (given with --idempotency-key, else a fresh
 * random one, shown with --verbose) and is sent once more with the same key
 * when no answer came (cli_call_idem), so a lost answer never pays twice.
 * The payment password is read from the terminal without echo or from
 * standard input (--password-stdin), checked to be six digits, sent, and
 * wiped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/luhn.h"
#include "base/money.h"
#include "cli/cli_int.h"

/* Amounts the quote takes (fen); a larger one is over every cap. */
#define S_QUOTE_AMOUNT_MAX INT64_C(1000000000000)

#define S_AMOUNT_TEXT_SIZE (MONEY_TEXT_SIZE_MAX + 8)
#define S_WAIT_S 120         /* --wait gives the bank this long */
#define S_WAIT_POLL_MS 1000L /* between two looks at the payment */
#define S_CURRENCY "CNY"     /* the only currency that moves today */

/* --- shared parts ----------------------------------------------------------- */

/* AMOUNT typed by the user, in fen; a usage error saying what a valid
 * amount is otherwise. */
int cli_money_amount_arg(struct cli *cli, const char *text, int64_t *amount)
{
    char clean[64];
    cli_text_clean(text, clean, sizeof clean);
    enum qb_error err = cli_amount_parse(text, currency_find(S_CURRENCY), amount);
    if (err == QB_E_OVERFLOW)
        return cli_usage_error(cli, "the amount \"%s\" is too large", clean);
    if (err != QB_OK)
        return cli_usage_error(cli,
                               "\"%s\" is not a valid amount: a positive number of yuan with at "
                               "most two decimals, such as 12.50, 0.01 or 3",
                               clean);
    return CLI_EXIT_OK;
}

int cli_money_count_arg(struct cli *cli, const char *text, int max, const char *what, int *count)
{
    size_t size = strlen(text);
    if (size == 0 || size > 3 || strspn(text, "0123456789") != size || text[0] == '0' ||
        strtol(text, NULL, 10) > max)
        return cli_usage_error(cli, "COUNT must be %s, 1 to %d", what, max);
    *count = (int)strtol(text, NULL, 10);
    return CLI_EXIT_OK;
}

/* "12.50 CNY" */
void cli_money_amount_text(json_int_t amount, const char *currency, char *out, size_t out_size)
{
    /* The currency is the server's text, and callers print this line as
     * it is: a carriage return in it would redraw the amount. */
    char text[S_AMOUNT_TEXT_SIZE], clean[16];
    cli_text_clean(currency, clean, sizeof clean);
    cli_amount_format((int64_t)amount, currency, text, sizeof text);
    snprintf(out, out_size, "%s %s", text, clean);
}

/* The --idempotency-key given, or a fresh one. */
int cli_money_key_arg(struct cli *cli, const struct cli_args *args, char *key, size_t key_size)
{
    const char *given = cli_arg(cli, args, "idempotency-key");
    if (given == NULL) {
        cli_idempotency_key_new(key, key_size);
        return CLI_EXIT_OK;
    }
    if (!cli_idempotency_key_valid(given))
        return cli_usage_error(cli, "--idempotency-key must be 1 to 255 printable ASCII "
                                    "characters without spaces");
    snprintf(key, key_size, "%s", given);
    return CLI_EXIT_OK;
}

/* The payment password: six digits from the terminal or --password-stdin. */
int cli_money_payment_password(struct cli *cli, const struct cli_args *args, char *out,
                              size_t out_size)
{
    int rc = cli_secret_read(cli, cli_arg(cli, args, "password-stdin") != NULL,
                             "Payment password: ", NULL, out, out_size);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (strlen(out) != 6 || strspn(out, "0123456789") != 6) {
        cli_secret_wipe(out, out_size);
        return cli_usage_error(cli, "the payment password is six digits");
    }
    return CLI_EXIT_OK;
}

/* base + "/" + the id escaped. */
int cli_id_path(struct cli *cli, const char *base, const char *id, char *path,
                     size_t path_size)
{
    char escaped[128];
    if (!cli_path_escape(id, escaped, sizeof escaped))
        return cli_usage_error(cli, id[0] == '\0' ? "ID is empty" : "ID is too long");
    snprintf(path, path_size, "%s/%s", base, escaped);
    return CLI_EXIT_OK;
}

/* "招商银行 ****6789" */
static void S_card_text(const json_t *card, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s ****%s", cli_json_str(card, "bank"), cli_json_str(card, "last4"));
}

/* "*四 (u_…)" */
static void S_user_text(const json_t *user, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s (%s)", cli_json_str(user, "display_name"),
             cli_json_str(user, "user_id"));
}

int cli_money_post(struct cli *cli, const char *path, const char *key, json_t *body,
                   void (*print)(const struct cli *cli, const json_t *answer))
{
    struct cli_response res;
    int rc = cli_call_idem(cli, path, key, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        cli_money_replayed_note(cli, &res);
        if (cli->json)
            cli_print_body(&res);
        else
            print(cli, res.json);
    } else if (cli_json_str(res.json, "payment_id")[0] != '\0') {
        /* A refusal that names the caller's payment (COLLECTION_PAID: paid
         * already), which one whose answer was lost looks for. */
        char word[CLI_SHELL_WORD_SIZE_MAX];
        cli_shell_word(cli_json_str(res.json, "payment_id"), word, sizeof word);
        cli_hint(cli, "your payment: `qianbao payment show %s`", word);
    }
    cli_response_release(&res);
    return rc;
}

void cli_money_replayed_note(struct cli *cli, const struct cli_response *res)
{
    if (res->replayed)
        cli_hint(cli, "this Idempotency-Key was used before: this is that request's answer, "
                      "and nothing moved again");
}

void cli_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- cards ------------------------------------------------------------------ */

static void S_card_print(const struct cli *cli, const json_t *card)
{
    char text[128];
    cli_print_field(cli, "card", cli_json_str(card, "id"));
    cli_print_field(cli, "bank", cli_json_str(card, "bank"));
    snprintf(text, sizeof text, "****%s", cli_json_str(card, "last4"));
    cli_print_field(cli, "number", text);
    cli_print_field(cli, "type", cli_json_str(card, "card_type"));
    cli_print_field(cli, "added at", cli_json_str(card, "created_at"));
}

/* POST /v1/sms-codes for binding the card number (the code's target, which
 * the server keeps only as a keyed hash), as the logged-in user: the code
 * binds the card in that wallet alone. */
static int S_bind_code_request(struct cli *cli, const char *phone, const char *number,
                               struct cli_response *res)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "phone", phone, "purpose", "bind_card", "target", number);
    if (body == NULL) {
        memset(res, 0, sizeof *res);
        buf_init(&res->body, CLI_RESPONSE_SIZE_MAX);
        return cli_usage_error(cli, "--phone must be UTF-8 text");
    }
    int rc = cli_call(cli, "POST", "/v1/sms-codes", CLI_AUTH_USER, body, res);
    json_decref(body);
    return rc;
}

/* card add with its secrets read: binds number with code, or first asks
 * for one (send_code: only that; else on the terminal, then reads it). */
static int S_card_bind(struct cli *cli, const char *number, const char *holder, const char *phone,
                       const char *code, bool send_code)
{
    char target[24];
    if (!cli_card_mask(number, target, sizeof target))
        return cli_usage_error(cli, "--number must be the card's 16 to 19 digits, without "
                                    "spaces");
    /* Before an SMS is spent on it. */
    if (!luhn_is_valid(number, strlen(number)))
        return cli_usage_error(cli, "--number is not a card number: a digit is mistyped (its "
                                    "last digit does not check)");
    char clean_phone[32];
    cli_text_clean(phone, clean_phone, sizeof clean_phone);
    char typed[CLI_CODE_SIZE_MAX];
    if (code == NULL) {
        if (!send_code && !isatty(STDIN_FILENO))
            return cli_usage_error(cli, "no terminal to ask for the SMS code on: run with "
                                        "--send-code, then again with --code - (the code on "
                                        "standard input)");
        struct cli_response res;
        int rc = S_bind_code_request(cli, phone, number, &res);
        if (rc == CLI_EXIT_OK && send_code) {
            if (cli->json) {
                cli_print_body(&res);
            } else {
                printf("requested an SMS code (purpose bind_card) for %s, to bind card %s\n",
                       clean_phone, target);
                printf("next: qianbao card add --holder NAME --phone %s --code - (the number "
                       "and the code asked without echo, or a line each on standard input)\n",
                       clean_phone);
            }
        }
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK || send_code)
            return rc;
        fprintf(stderr, "An SMS code was sent to %s to bind card %s.\n", clean_phone, target);
        rc = cli_secret_arg(cli, cli->args, "code", "SMS code: ", typed, sizeof typed);
        if (rc != CLI_EXIT_OK)
            return rc;
        code = typed;
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "card_number", number, "holder_name", holder,
                             "phone", phone, "sms_code", code);
    cli_secret_wipe(typed, sizeof typed);
    if (body == NULL)
        return cli_usage_error(cli, "--holder, --phone and --code must be UTF-8 text");
    struct cli_response res;
    int rc = cli_call(cli, "POST", "/v1/me/cards", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else
            S_card_print(cli, res.json);
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_card_add(struct cli *cli, const struct cli_args *args)
{
    const char *holder = cli_arg(cli, args, "holder");
    const char *phone = cli_arg(cli, args, "phone");
    char digits[PHONE_SIZE_MAX];
    if (phone != NULL && !phone_normalize(phone, digits))
        return cli_phone_refuse(cli, "--phone");
    if (phone != NULL)
        phone = digits;
    bool with_code = cli_arg(cli, args, "code") != NULL;
    bool send_code = cli_arg(cli, args, "send-code") != NULL;
    if (with_code && send_code)
        return cli_usage_error(cli, "--send-code asks for a code; --code uses one: give one "
                                    "of them");
    /* The number, then the code: the order of their lines on stdin. */
    char number[CLI_CODE_SIZE_MAX], code[CLI_CODE_SIZE_MAX] = "";
    int rc = cli_secret_arg(cli, args, "number", "Card number: ", number, sizeof number);
    if (rc == CLI_EXIT_OK && with_code)
        rc = cli_secret_arg(cli, args, "code", "SMS code: ", code, sizeof code);
    if (rc == CLI_EXIT_OK)
        rc = S_card_bind(cli, number, holder, phone, with_code ? code : NULL, send_code);
    cli_secret_wipe(number, sizeof number);
    cli_secret_wipe(code, sizeof code);
    return rc;
}

/* A card's STATUS cell, from the server's usable and unusable_reason: a
 * card that can no longer move money says why, in words. A server that
 * does not tell (no usable member) has every card usable. */
static const char *S_card_status(const json_t *card, char *buf, size_t buf_size)
{
    if (!json_is_false(json_object_get(card, "usable")))
        return "usable";
    const char *reason = cli_json_str(card, "unusable_reason");
    if (strcmp(reason, "CARD_HOLDER_MISMATCH") == 0)
        return "not usable: not in your verified name";
    snprintf(buf, buf_size, "not usable (%s)", reason[0] != '\0' ? reason : "no reason given");
    return buf;
}

int cli_run_card_list(struct cli *cli, const struct cli_args *args)
{
    char path[512] = "/v1/me/cards";
    int rc = cli_page_path(cli, args, path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        static const char *const headers[] = {"ID", "BANK", "CARD", "TYPE", "ADDED", "STATUS"};
        struct cli_table table;
        cli_table_init(&table, headers, 6);
        size_t index;
        json_t *card;
        bool mismatch = false;
        json_array_foreach(json_object_get(res.json, "items"), index, card)
        {
            char last4[32], status[96];
            snprintf(last4, sizeof last4, "****%s", cli_json_str(card, "last4"));
            const char *row[] = {cli_json_str(card, "id"),
                                 cli_json_str(card, "bank"),
                                 last4,
                                 cli_json_str(card, "card_type"),
                                 cli_json_str(card, "created_at"),
                                 S_card_status(card, status, sizeof status)};
            cli_table_add(&table, row);
            mismatch = mismatch ||
                       strcmp(cli_json_str(card, "unusable_reason"), "CARD_HOLDER_MISMATCH") == 0;
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
        if (mismatch)
            cli_hint(cli, "a card not in your verified real name can no longer top up or "
                          "withdraw: remove it with `qianbao card remove ID` and bind one in your "
                          "own name");
        cli_next_page_hint(cli, res.json);
    }
    cli_response_release(&res);
    return rc;
}

/* payees [--limit N]: whom the user paid lately (GET /v1/payees/recent). */
int cli_run_payees(struct cli *cli, const struct cli_args *args)
{
    char path[64] = "/v1/payees/recent";
    const char *limit = cli_arg(cli, args, "limit");
    if (limit != NULL && !cli_query_add(path, sizeof path, "limit", limit))
        return cli_usage_error(cli, "--limit is too long");
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        static const char *const headers[] = {"NAME", "USER", "LAST PAID", "STATUS"};
        struct cli_table table;
        cli_table_init(&table, headers, 4);
        size_t index;
        json_t *payee;
        json_array_foreach(json_object_get(res.json, "items"), index, payee)
        {
            bool available = json_is_true(json_object_get(payee, "available"));
            const char *row[] = {cli_json_str(payee, "display_name"),
                                 cli_json_str(payee, "user_id"),
                                 cli_json_str(payee, "last_paid_at"),
                                 available ? "can be paid" : "cannot be paid now (frozen)"};
            cli_table_add(&table, row);
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
        if (json_is_true(json_object_get(res.json, "partial")))
            cli_hint(cli, "only your latest payments were read: older payees may be missing");
        else if (json_array_size(json_object_get(res.json, "items")) > 0)
            cli_hint(cli, "pay one with `qianbao send USER AMOUNT`");
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_card_remove(struct cli *cli, const struct cli_args *args)
{
    char path[192];
    int rc = cli_id_path(cli, "/v1/me/cards", args->positionals[0], path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "DELETE", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK) {
        if (cli->json) {
            cli_print_body(&res);
        } else {
            char clean[128];
            cli_text_clean(args->positionals[0], clean, sizeof clean);
            printf("removed card %s\n", clean);
        }
    }
    cli_response_release(&res);
    return rc;
}

/* --- top-ups, withdrawals and payments ------------------------------------------ */

/* A delayed transfer's (p's) arrival and, when it failed, why, in words. */
static void S_arrival_print(const struct cli *cli, const json_t *p)
{
    const char *arrives_at = cli_json_str(p, "arrives_at");
    if (arrives_at[0] != '\0')
        cli_print_field(
            cli, strcmp(cli_json_str(p, "status"), "PROCESSING") == 0 ? "arrives at" : "was due at",
            arrives_at);
    const char *failure = cli_json_str(p, "failure_code");
    const char *why = strcmp(failure, "TRANSFER_CANCELLED") == 0
                          ? "cancelled by the payer; the money went back"
                      : strcmp(failure, "TRANSFER_STOPPED") == 0
                          ? "stopped by Qianbao on a report of fraud; the money went back"
                      : strcmp(failure, "PAYEE_UNAVAILABLE") == 0
                          ? "the payee could not take it; the money went back"
                      : failure[0] != '\0' ? failure
                                           : NULL;
    if (why != NULL)
        cli_print_field(cli, "failure", why);
}

void cli_payment_print(const struct cli *cli, const json_t *p)
{
    char text[256];
    const char *currency = cli_json_str(p, "currency");
    const char *status = cli_json_str(p, "status");
    const char *failure = cli_json_str(p, "failure_code");
    cli_print_field(cli, "payment", cli_json_str(p, "id"));
    cli_print_field(cli, "type", cli_json_str(p, "type"));
    if (json_object_get(p, "user_id") != NULL) {
        cli_print_field(cli, "user", cli_json_str(p, "user_id"));
        const char *counterparty = cli_json_str(p, "counterparty_id");
        if (counterparty[0] != '\0')
            cli_print_field(cli, "counterparty", counterparty);
    }
    if (failure[0] != '\0')
        snprintf(text, sizeof text, "%s (%s)", status, failure);
    else
        snprintf(text, sizeof text, "%s", status);
    cli_print_field(cli, "status", text);
    cli_money_amount_text(json_integer_value(json_object_get(p, "amount")), currency, text, sizeof text);
    cli_print_field(cli, "amount", text);
    if (strcmp(cli_json_str(p, "type"), "withdrawal") == 0) {
        cli_money_amount_text(json_integer_value(json_object_get(p, "fee")), currency, text, sizeof text);
        cli_print_field(cli, "fee", text);
    }
    const json_t *card = json_object_get(p, "card");
    if (json_is_object(card)) {
        char card_text[160];
        S_card_text(card, card_text, sizeof card_text);
        snprintf(text, sizeof text, "%s (%s)", card_text, cli_json_str(card, "id"));
        cli_print_field(cli, "card", text);
    }
    cli_print_field(cli, "created at", cli_json_str(p, "created_at"));
    cli_print_field(cli, "updated at", cli_json_str(p, "updated_at"));
    if (strcmp(cli_json_str(p, "type"), "transfer") == 0)
        S_arrival_print(cli, p);
    if (json_is_object(card) && json_object_get(p, "bank_ref") != NULL) { /* the bank's part */
        const char *bank_ref = cli_json_str(p, "bank_ref");
        const char *next = cli_json_str(p, "next_check_at");
        cli_print_field(cli, "bank ref",
                        bank_ref[0] != '\0' ? bank_ref : "(the bank was not asked yet)");
        if (next[0] != '\0')
            cli_print_field(cli, "next check", next);
    }
}

/* A transfer of POST /v1/transfers or GET /v1/transfers/{id}. */
void cli_transfer_print(const struct cli *cli, const json_t *t)
{
    char text[256];
    const char *direction = cli_json_str(t, "direction");
    const char *transfer_id = cli_json_str(t, "transfer_id"); /* a return's answer */
    cli_print_field(cli, "payment", cli_json_str(t, "id"));
    const char *type = transfer_id[0] != '\0' ? "transfer_return" : "transfer";
    if (direction[0] != '\0')
        snprintf(text, sizeof text, "%s (%s)", type, direction);
    else
        snprintf(text, sizeof text, "%s", type);
    cli_print_field(cli, "type", text);
    if (transfer_id[0] != '\0')
        cli_print_field(cli, "returns", transfer_id);
    cli_print_field(cli, "status", cli_json_str(t, "status"));
    cli_money_amount_text(json_integer_value(json_object_get(t, "amount")), cli_json_str(t, "currency"),
                  text, sizeof text);
    cli_print_field(cli, "amount", text);
    const json_t *from = json_object_get(t, "from");
    if (json_is_object(from)) {
        S_user_text(from, text, sizeof text);
        cli_print_field(cli, "from", text);
    }
    S_user_text(json_object_get(t, "to"), text, sizeof text);
    cli_print_field(cli, "to", text);
    const char *memo = cli_json_str(t, "memo");
    if (memo[0] != '\0')
        cli_print_field(cli, "memo", memo);
    const char *collection = cli_json_str(t, "collection_id");
    if (collection[0] != '\0')
        cli_print_field(cli, "collection", collection);
    cli_print_field(cli, "created at", cli_json_str(t, "created_at"));
    S_arrival_print(cli, t);
    const json_t *returned = json_object_get(t, "returned");
    if (json_is_object(returned)) {
        snprintf(text, sizeof text, "by the payee at %s, as %s",
                 cli_json_str(returned, "created_at"), cli_json_str(returned, "id"));
        cli_print_field(cli, "sent back", text);
    }
}

/* How a top-up's or withdrawal's answer ends the command: the payment
 * printed (the body with --json), then exit 1 when it FAILED, a hint when
 * it is still PROCESSING (exit 3 after --wait: waited; lost, when not
 * empty, says why the wait stopped before its time). */
static int S_payment_outcome(struct cli *cli, const struct cli_response *res, bool waited,
                             const char *lost)
{
    if (cli->json)
        cli_print_body(res);
    else
        cli_payment_print(cli, res->json);
    const char *status = cli_json_str(res->json, "status");
    char id[64];
    cli_text_clean(cli_json_str(res->json, "id"), id, sizeof id);
    if (strcmp(status, "FAILED") == 0) {
        char failure[64];
        cli_text_clean(cli_json_str(res->json, "failure_code"), failure, sizeof failure);
        bool json = cli->json;
        cli->json = false; /* the payment above is the JSON document */
        int rc =
            cli_fail(cli, CLI_EXIT_REFUSED, failure, "%s: payment %s FAILED (%s): no money moved",
                     cli->command->name, id, failure);
        cli->json = json;
        if (strcmp(failure, "CARD_DECLINED") == 0)
            cli_hint(cli, "the bank declined the card: try another with `qianbao card list`");
        else if (strcmp(failure, "BANK_INSUFFICIENT_FUNDS") == 0)
            cli_hint(cli, "the card's bank account cannot cover it");
        else if (strcmp(failure, "BANK_UNAVAILABLE") == 0)
            cli_hint(cli, "the bank never received it; try again later");
        return rc;
    }
    if (strcmp(status, "PROCESSING") == 0) {
        if (waited) {
            bool json = cli->json;
            cli->json = false;
            int rc;
            if (lost[0] != '\0')
                rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "PROCESSING",
                              "%s: payment %s was made and is PROCESSING, but looking at it "
                              "again got %s; Qianbao keeps asking the bank: see `qianbao "
                              "payment show %s` (do not pay again)",
                              cli->command->name, id, lost, id);
            else
                rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "PROCESSING",
                              "%s: payment %s is still PROCESSING after %d s; Qianbao keeps "
                              "asking the bank: see `qianbao payment show %s`",
                              cli->command->name, id, S_WAIT_S, id);
            cli->json = json;
            return rc;
        }
        cli_hint(cli,
                 "the bank has not confirmed yet: see `qianbao payment show %s`, or pass "
                 "--wait",
                 id);
    }
    return CLI_EXIT_OK;
}

/* --wait: looks at the payment until the bank has answered, at most
 * S_WAIT_S seconds; res holds its latest state. A look that fails (no
 * answer, an error) stops the wait with res as last seen and lost saying
 * what the look got: the payment was made, and is still to be shown. */
static int S_payment_wait(struct cli *cli, struct cli_response *res, char *lost, size_t lost_size)
{
    char path[192];
    int rc = cli_id_path(cli, "/v1/me/payments", cli_json_str(res->json, "id"), path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    bool told = false;
    for (long waited_ms = 0; waited_ms < S_WAIT_S * 1000L; waited_ms += S_WAIT_POLL_MS) {
        if (strcmp(cli_json_str(res->json, "status"), "PROCESSING") != 0)
            return CLI_EXIT_OK;
        if (!told && !cli->json) {
            fprintf(stderr, "waiting for the bank (payment is PROCESSING)...\n");
            told = true;
        }
        cli_sleep_ms(S_WAIT_POLL_MS);
        struct cli_response next;
        bool quiet = cli->quiet;
        cli->quiet = true;
        rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &next);
        cli->quiet = quiet;
        if (rc != CLI_EXIT_OK) {
            if (next.status == 0)
                snprintf(lost, lost_size, "no answer from %s", cli->server);
            else
                snprintf(lost, lost_size, "HTTP %ld (%s)", next.status,
                         cli_json_str(next.json, "code")[0] != '\0'
                             ? cli_json_str(next.json, "code")
                             : "no error of Qianbao's");
            cli_text_clean(lost, lost, lost_size);
            cli_response_release(&next);
            return CLI_EXIT_OK;
        }
        cli_response_release(res);
        *res = next;
    }
    return CLI_EXIT_OK;
}

/* A money command stopped before it was sent, because the server would
 * refuse it: shown as the server's refusal would be ("qianbao: CMD:
 * MESSAGE (CODE)" on stderr; with --json the server's error body: code,
 * message and, for a limit, its name), the detail in a hint. Exit 1. */
static int S_refuse_here(struct cli *cli, const char *code, const char *message, const char *limit,
                         const char *hint_fmt, ...) __attribute__((format(printf, 5, 6)));
static int S_refuse_here(struct cli *cli, const char *code, const char *message, const char *limit,
                         const char *hint_fmt, ...)
{
    bool json = cli->json;
    cli->json = false;
    cli_fail(cli, CLI_EXIT_REFUSED, code, "%s: %s (%s)", cli->command->name, message, code);
    cli->json = json;
    char hint[320];
    va_list ap;
    va_start(ap, hint_fmt);
    vsnprintf(hint, sizeof hint, hint_fmt, ap);
    va_end(ap);
    if (hint[0] != '\0')
        cli_hint(cli, "%s", hint);
    if (json)
        cli_error_json_print(code, message, limit);
    return CLI_EXIT_REFUSED;
}

/* Where a card payment goes: the wallet's own top-ups and withdrawals, or
 * the owner's withdrawals of a merchant's balance (--mchid). */
struct S_card_route {
    const char *post;    /* the POST route */
    const char *quote;   /* a withdrawal's quote route; NULL: a top-up, no quote */
    const char *command; /* what the hints name */
    bool merchant;       /* the owner's merchant: --mchid goes with it */
};

static const struct S_card_route S_topup = {"/v1/me/topups", NULL, "topup", false};
static const struct S_card_route S_withdrawal = {"/v1/me/withdrawals", "/v1/me/withdrawal-quote",
                                                 "withdraw", false};
static const struct S_card_route S_merchant_withdrawal = {
    "/v1/merchants/me/withdrawals", "/v1/merchants/me/withdrawal-quote", "merchant withdraw", true};

/* Whether the owner's merchant mchid (NULL: their only one) pays nothing
 * out whatever its balance: suspended or closed, with the server's words for
 * it in *stopped (NULL when it is active) and what to do in *hint. */
static int S_merchant_stopped(struct cli *cli, const char *mchid, const char **stopped,
                              const char **hint)
{
    char path[256] = "/v1/merchants/me";
    if (mchid != NULL && !cli_query_add(path, sizeof path, "mchid", mchid))
        return cli_usage_error(cli, "--mchid is too long");
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    const char *status = rc == CLI_EXIT_OK ? cli_json_str(res.json, "status") : "";
    *stopped = strcmp(status, "SUSPENDED") == 0
                   ? "this merchant is suspended by Qianbao: its balance stays for its refunds "
                     "until it is resumed"
               : strcmp(status, "CLOSED") == 0
                   ? "this merchant is closed for good: its balance was emptied when it closed"
                   : NULL;
    if (strcmp(status, "SUSPENDED") == 0)
        *hint = "only Qianbao's operator resumes it: `qianbao merchant show` shows when it is";
    cli_response_release(&res);
    return rc;
}

/* A withdrawal's quote, before the password is asked: amount_text, or
 * "all" for the most the balance covers with its fee, into *amount; says
 * on stderr what will leave the balance, and stops an amount the server
 * would refuse (over the balance or the per-payment cap). A re-run under
 * the caller's own Idempotency-Key (rerun) asks for no quote: the payment
 * it repeats may have taken the balance the quote would read, and only the
 * server can answer it (`all` is a usage error then: the amount it works
 * out changes once it is paid). */
static int S_withdrawal_quote(struct cli *cli, const struct S_card_route *route, const char *mchid,
                              const char *amount_text, bool rerun, int64_t *amount)
{
    bool all = strcmp(amount_text, "all") == 0;
    if (all && rerun)
        return cli_usage_error(cli,
                               "`all` is worked out from the balance now, which a "
                               "withdrawal made under this key may have changed: give the amount "
                               "with --idempotency-key");
    if (!all) {
        int rc = cli_money_amount_arg(cli, amount_text, amount);
        if (rc != CLI_EXIT_OK || rerun)
            return rc;
    }
    char path[256], amount_query[24];
    snprintf(path, sizeof path, "%s", route->quote);
    snprintf(amount_query, sizeof amount_query, "%" PRId64, *amount);
    if ((mchid != NULL && !cli_query_add(path, sizeof path, "mchid", mchid)) ||
        (!all && *amount <= S_QUOTE_AMOUNT_MAX &&
         !cli_query_add(path, sizeof path, "amount", amount_query)))
        return cli_usage_error(cli, "--mchid is too long");
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    const json_t *q = res.json;
    const char *currency = cli_json_str(q, "currency");
    json_int_t available = json_integer_value(json_object_get(q, "available"));
    json_int_t max_amount = json_integer_value(json_object_get(q, "max_amount"));
    json_int_t per_payment = json_integer_value(json_object_get(q, "per_payment"));
    char available_text[64], max_text[64], fee_text[64], total_text[64], amount_out[64];
    /* The withdrawal the hints offer instead, for the merchant this one named: an owner of
     * several merchants must name one again. */
    char all_command[CLI_SHELL_WORD_SIZE_MAX + 64], mchid_word[CLI_SHELL_WORD_SIZE_MAX] = "";
    if (mchid != NULL)
        cli_shell_word(mchid, mchid_word, sizeof mchid_word);
    snprintf(all_command, sizeof all_command, "`qianbao %s CARD_ID all%s%s`", route->command,
             mchid != NULL ? " --mchid " : "", mchid_word);
    cli_money_amount_text(available, currency, available_text, sizeof available_text);
    cli_money_amount_text(max_amount, currency, max_text, sizeof max_text);
    if (all)
        *amount = (int64_t)max_amount;
    cli_money_amount_text((json_int_t)*amount, currency, amount_out, sizeof amount_out);
    bool has_fee = json_is_integer(json_object_get(q, all ? "max_fee" : "fee"));
    json_int_t fee = json_integer_value(json_object_get(q, all ? "max_fee" : "fee"));
    cli_money_amount_text(fee, currency, fee_text, sizeof fee_text);
    /* Below what the balance covers, max_amount is a limit's: at KYC level 1
     * the lifetime one (the per-payment cap is said apart); or, when nothing
     * at all may go from a merchant's, the merchant's own state. */
    json_int_t fee_min = json_integer_value(json_object_get(q, "fee_min"));
    /* free_quota_left: what is left of the user's free allowance (absent
     * from an older server's quote: none). The smallest withdrawal, a fen,
     * is free while any of it is left. */
    json_int_t free_left = json_integer_value(json_object_get(q, "free_quota_left"));
    bool covered = all ? available > (free_left > 0 ? 0 : fee_min)
                       : has_fee && (json_int_t)*amount <= available - fee;
    const char *stopped = NULL, *stopped_hint = "";
    if (covered && route->merchant && max_amount <= 0 &&
        (rc = S_merchant_stopped(cli, mchid, &stopped, &stopped_hint)) != CLI_EXIT_OK) {
        cli_response_release(&res);
        return rc;
    }
    if (stopped != NULL) {
        /* The server's words for it (wallet_pay_cmd's refusal). */
        rc = S_refuse_here(cli, "ACCOUNT_FROZEN", stopped, NULL, "%s", stopped_hint);
    } else if (covered &&
               (all ? max_amount <= 0 : *amount > max_amount && *amount <= per_payment)) {
        /* The server's words for it (wallet_limits_refusal), so that --json
         * answers as the server would. */
        rc = S_refuse_here(
            cli, "LIMIT_EXCEEDED",
            "the kyc_lifetime limit refused this payment: a wallet at KYC level 1 pays and "
            "withdraws only so much in its lifetime (GET /v1/me/limits); verify your identity "
            "(POST /v1/me/kyc) to raise your level",
            "kyc_lifetime",
            "a wallet without a verified real name pays out a limited amount in "
            "its lifetime (`qianbao limits`); %s%s: `qianbao kyc` lifts it",
            max_amount > 0 ? max_text : "nothing", max_amount > 0 ? " can go now" : " is left");
    } else if (all && max_amount <= 0) {
        char one[64];
        cli_money_amount_text(1, currency, one, sizeof one);
        rc = S_refuse_here(cli, "INSUFFICIENT_BALANCE", "the balance is too low", NULL,
                           "nothing can go: the available %s does not cover the smallest "
                           "withdrawal, %s, with its fee",
                           available_text, one);
    } else if (*amount > per_payment) {
        char cap[64];
        cli_money_amount_text(per_payment, currency, cap, sizeof cap);
        rc =
            S_refuse_here(cli, "LIMIT_EXCEEDED", "the per_payment limit refused this payment",
                          "per_payment", "one withdrawal takes at most %s%s%s%s%s", cap,
                          max_amount > 0 ? "; at most " : "", max_amount > 0 ? max_text : "",
                          max_amount > 0 ? " can go now: " : "", max_amount > 0 ? all_command : "");
    } else if (*amount > max_amount) {
        if (max_amount > 0)
            rc = S_refuse_here(cli, "INSUFFICIENT_BALANCE", "the balance is too low", NULL,
                               "%s and its fee of %s are more than the available %s; at most %s "
                               "can go now: %s",
                               amount_out, fee_text, available_text, max_text, all_command);
        else
            rc = S_refuse_here(cli, "INSUFFICIENT_BALANCE", "the balance is too low", NULL,
                               "%s and its fee of %s are more than the available %s%s", amount_out,
                               fee_text, available_text,
                               route->merchant ? ""
                                               : "; add money with `qianbao topup CARD_ID AMOUNT`");
    } else if (has_fee) {
        int64_t total = 0;
        if (fee == 0 && free_left > 0) {
            char left_text[64];
            cli_money_amount_text(free_left > (json_int_t)*amount ? free_left - (json_int_t)*amount
                                                                  : 0,
                                  currency, left_text, sizeof left_text);
            fprintf(stderr,
                    "withdrawing %s without a fee: %s of your free allowance is left after it\n",
                    amount_out, left_text);
        } else if (money_add(*amount, (int64_t)fee, &total)) {
            cli_money_amount_text((json_int_t)total, currency, total_text, sizeof total_text);
            fprintf(stderr, "withdrawing %s for a fee of %s: %s leaves the %sbalance\n", amount_out,
                    fee_text, total_text, route->merchant ? "merchant's " : "");
        }
    }
    cli_response_release(&res);
    return rc;
}

static int S_card_payment(struct cli *cli, const struct cli_args *args,
                          const struct S_card_route *route)
{
    const char *card_id = args->positionals[0];
    const char *mchid = route->merchant ? cli_arg(cli, args, "mchid") : NULL;
    int64_t amount;
    bool rerun = cli_arg(cli, args, "idempotency-key") != NULL;
    int rc = route->quote != NULL
                 ? S_withdrawal_quote(cli, route, mchid, args->positionals[1], rerun, &amount)
                 : cli_money_amount_arg(cli, args->positionals[1], &amount);
    if (rc != CLI_EXIT_OK)
        return rc;
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    char password[CLI_SECRET_SIZE_MAX];
    if ((rc = cli_money_payment_password(cli, args, password, sizeof password)) != CLI_EXIT_OK)
        return rc;
    json_t *body =
        json_pack("{s:s, s:I, s:s, s:s}", "card_id", card_id, "amount", (json_int_t)amount,
                  "currency", S_CURRENCY, "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    if (body == NULL ||
        (mchid != NULL && json_object_set_new(body, "mchid", json_string(mchid)) != 0)) {
        json_decref(body);
        return cli_usage_error(cli, "CARD_ID and MCHID must be UTF-8 text");
    }
    struct cli_response res;
    rc = cli_call_idem(cli, route->post, key, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        cli_money_replayed_note(cli, &res);
        bool wait = cli_arg(cli, args, "wait") != NULL;
        char lost[CLI_URL_SIZE_MAX + 64] = "";
        if (wait)
            rc = S_payment_wait(cli, &res, lost, sizeof lost);
        if (rc == CLI_EXIT_OK)
            rc = S_payment_outcome(cli, &res, wait, lost);
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_topup(struct cli *cli, const struct cli_args *args)
{
    return S_card_payment(cli, args, &S_topup);
}

int cli_run_withdraw(struct cli *cli, const struct cli_args *args)
{
    return S_card_payment(cli, args, &S_withdrawal);
}

int cli_run_merchant_withdraw(struct cli *cli, const struct cli_args *args)
{
    return S_card_payment(cli, args, &S_merchant_withdrawal);
}

int cli_run_payment_show(struct cli *cli, const struct cli_args *args)
{
    /* Top-ups and withdrawals, and transfers, have routes of their own; an
     * id is looked up in the first, then the second. */
    char path[192];
    int rc = cli_id_path(cli, "/v1/me/payments", args->positionals[0], path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    cli->quiet = true;
    rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    cli->quiet = false;
    bool transfer = rc != CLI_EXIT_OK && res.status == 404;
    if (rc != CLI_EXIT_OK) {
        /* Again, loudly: for a transfer, or to report what went wrong. */
        cli_response_release(&res);
        if (transfer)
            (void)cli_id_path(cli, "/v1/transfers", args->positionals[0], path, sizeof path);
        rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    }
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else if (transfer)
            cli_transfer_print(cli, res.json);
        else
            cli_payment_print(cli, res.json);
    }
    cli_response_release(&res);
    return rc;
}

/* --- transfers ------------------------------------------------------------------ */

/* Whether a transfer of amount needs the payment password: above the
 * caller's password-free amount, or today's payments without it used up
 * (GET /v1/me/limits) — but for a re-run under the caller's own key
 * (rerun), whose first run may be what used them up: it is sent as it was
 * then, or the server would take it for another request. */
static int S_password_needed(struct cli *cli, int64_t amount, bool rerun, bool *needed)
{
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/limits", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK) {
        const json_t *q = res.json;
        json_int_t free_limit = json_integer_value(json_object_get(q, "password_free_limit"));
        bool used_up = json_integer_value(json_object_get(q, "password_free_used_today")) >=
                       json_integer_value(json_object_get(q, "password_free_daily_max"));
        *needed = !(free_limit > 0 && amount <= free_limit && (rerun || !used_up));
    }
    cli_response_release(&res);
    return rc;
}

/* Whom a transfer to `to` reaches (GET /v1/payees), said on stderr before
 * the password is asked; nobody, a frozen payee or oneself stops there, as
 * the server would answer. Not for a re-run under the caller's own key
 * (rerun): the transfer it repeats is the server's to answer, whatever
 * became of the payee since. */
static int S_payee_show(struct cli *cli, const char *to, bool rerun)
{
    if (rerun)
        return CLI_EXIT_OK;
    char escaped[96], path[128];
    if (!cli_path_escape(to, escaped, sizeof escaped))
        return cli_usage_error(cli, "TO is too long");
    snprintf(path, sizeof path, "/v1/payees?to=%s", escaped);
    struct cli_response res;
    int rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK) {
        const json_t *payee = json_object_get(res.json, "payee");
        if (json_is_true(json_object_get(res.json, "self"))) {
            rc = S_refuse_here(cli, "SELF_TRANSFER", "you cannot send money to yourself", NULL,
                               "%s", "");
        } else {
            char name[160], phone[32];
            cli_text_clean(cli_json_str(payee, "display_name"), name, sizeof name);
            cli_text_clean(cli_json_str(payee, "phone"), phone, sizeof phone);
            fprintf(stderr, "paying %s (%s)\n", name, phone);
        }
    }
    cli_response_release(&res);
    return rc;
}

/* How soon transfers arrive by name: 0 instant, 1 2h, 2 24h (later is
 * safer); -1 for another name. */
static int S_arrival_rank(const char *name)
{
    static const char *const names[] = {"instant", "2h", "24h"};
    for (size_t i = 0; name != NULL && i < QB_ARRAY_COUNT(names); i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return -1;
}

int cli_run_send(struct cli *cli, const struct cli_args *args)
{
    const char *to = args->positionals[0];
    char digits[PHONE_SIZE_MAX];
    if (phone_normalize(to, digits))
        to = digits;
    else if (strncmp(to, "u_", 2) != 0)
        return cli_usage_error(cli, "TO must be a mobile number (11 digits) or a user id "
                                    "(u_...)");
    int64_t amount;
    int rc = cli_money_amount_arg(cli, args->positionals[1], &amount);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *arrival = cli_arg(cli, args, "arrival");
    if (arrival != NULL && S_arrival_rank(arrival) < 0)
        return cli_usage_error(cli, "--arrival is instant, 2h or 24h");
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    bool rerun = cli_arg(cli, args, "idempotency-key") != NULL;
    if ((rc = S_payee_show(cli, to, rerun)) != CLI_EXIT_OK)
        return rc;
    bool needed = true;
    if (cli_arg(cli, args, "password-stdin") == NULL &&
        (rc = S_password_needed(cli, amount, rerun, &needed)) != CLI_EXIT_OK)
        return rc;
    char password[CLI_SECRET_SIZE_MAX] = "";
    if (needed && (rc = cli_money_payment_password(cli, args, password, sizeof password)) != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:I, s:s}", "to", to, "amount", (json_int_t)amount, "currency",
                             S_CURRENCY);
    if (body == NULL) {
        cli_secret_wipe(password, sizeof password);
        return cli_usage_error(cli, "TO must be UTF-8 text");
    }
    const char *memo = cli_arg(cli, args, "memo");
    if (memo != NULL && json_object_set_new(body, "memo", json_string(memo)) != 0) {
        json_decref(body);
        cli_secret_wipe(password, sizeof password);
        return cli_usage_error(cli, "--memo must be UTF-8 text");
    }
    if (arrival != NULL)
        QB_ASSERT(json_object_set_new(body, "arrival", json_string(arrival)) == 0);
    if (needed)
        QB_ASSERT(json_object_set_new(body, "payment_password", json_string(password)) == 0);
    cli_secret_wipe(password, sizeof password);
    return cli_money_post(cli, "/v1/transfers", key, body, cli_transfer_print);
}

/* --- limits ------------------------------------------------------------------- */

static const char *S_limit_label(const char *name)
{
    static const char *const labels[][2] = {
        {"per_payment", "per payment"},
        {"user_daily", "your daily limit"},
        {"daily", "per day"},
        {"kyc_lifetime", "KYC level 1, lifetime"},
        {"kyc_yearly", "KYC, per year"},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(labels); i++) {
        if (strcmp(labels[i][0], name) == 0)
            return labels[i][1];
    }
    return name;
}

/* GET /v1/me/limits's answer; codes: GET /v1/me/payment-code-settings's, or NULL. */
static void S_limits_print(const struct cli *cli, const json_t *limits, const json_t *codes)
{
    const char *currency = cli_json_str(limits, "currency");
    static const char *const headers[] = {"LIMIT", "AMOUNT", "USED", "REMAINING"};
    struct cli_table table;
    cli_table_init(&table, headers, 4);
    size_t index;
    json_t *limit;
    json_array_foreach(json_object_get(limits, "limits"), index, limit)
    {
        char amount[S_AMOUNT_TEXT_SIZE], used[S_AMOUNT_TEXT_SIZE], remaining[S_AMOUNT_TEXT_SIZE];
        cli_amount_format(json_integer_value(json_object_get(limit, "amount")), currency, amount,
                          sizeof amount);
        cli_amount_format(json_integer_value(json_object_get(limit, "used")), currency, used,
                          sizeof used);
        cli_amount_format(json_integer_value(json_object_get(limit, "remaining")), currency,
                          remaining, sizeof remaining);
        const char *row[] = {S_limit_label(cli_json_str(limit, "name")), amount, used, remaining};
        cli_table_add(&table, row);
    }
    cli_table_print(cli, &table);
    cli_table_release(&table);
    putchar('\n');
    char text[192], max[64];
    const json_t *daily = json_object_get(limits, "daily_limit");
    if (json_is_integer(daily))
        cli_money_amount_text(json_integer_value(daily), currency, text, sizeof text);
    else
        snprintf(text, sizeof text, "none");
    cli_print_field(cli, "your daily limit", text);
    cli_money_amount_text(json_integer_value(json_object_get(limits, "password_free_max")), currency, max,
                  sizeof max);
    json_int_t free_limit = json_integer_value(json_object_get(limits, "password_free_limit"));
    if (free_limit > 0) {
        char amount[64];
        cli_money_amount_text(free_limit, currency, amount, sizeof amount);
        snprintf(text, sizeof text, "up to %s for transfers and orders (at most %s)", amount, max);
    } else {
        snprintf(text, sizeof text, "off for transfers and orders (may be up to %s)", max);
    }
    cli_print_field(cli, "password-free", text);
    const char *arrival = cli_json_str(limits, "transfer_arrival");
    if (arrival[0] != '\0')
        cli_print_field(cli, "transfers arrive",
                        strcmp(arrival, "instant") == 0 ? "at once (instant)"
                        : strcmp(arrival, "2h") == 0    ? "2 hours later, unless cancelled (2h)"
                        : strcmp(arrival, "24h") == 0   ? "24 hours later, unless cancelled (24h)"
                                                        : arrival);
    /* Payment codes have their own amount (`qianbao paycode limits`), on by
     * default: a reader of "off" above must not think codes wait too. */
    if (codes != NULL) {
        json_int_t code_limit = json_integer_value(json_object_get(codes, "password_free_limit"));
        char amount[64];
        cli_money_amount_text(code_limit, currency, amount, sizeof amount);
        if (code_limit > 0)
            snprintf(text, sizeof text,
                     "up to %s without the password, %" JSON_INTEGER_FORMAT
                     " a day (`qianbao paycode limits`)",
                     amount,
                     json_integer_value(json_object_get(codes, "password_free_daily_count")));
        else
            snprintf(text, sizeof text,
                     "every code waits for the password (`qianbao paycode "
                     "limits`)");
        cli_print_field(cli, "payment codes", text);
    }
    snprintf(text, sizeof text,
             "%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
             " payments without the password (codes, transfers and orders together)",
             json_integer_value(json_object_get(limits, "password_free_used_today")),
             json_integer_value(json_object_get(limits, "password_free_daily_max")));
    cli_print_field(cli, "used today", text);
}

/* The limits, with the payment codes' own settings read beside them. */
static void S_limits_show(struct cli *cli, const json_t *limits)
{
    struct cli_response codes;
    bool quiet = cli->quiet;
    cli->quiet = true;
    int rc = cli_call(cli, "GET", "/v1/me/payment-code-settings", CLI_AUTH_USER, NULL, &codes);
    cli->quiet = quiet;
    S_limits_print(cli, limits, rc == CLI_EXIT_OK ? codes.json : NULL);
    cli_response_release(&codes);
}

int cli_run_limits(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/limits", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        S_limits_show(cli, res.json);
    }
    cli_response_release(&res);
    return rc;
}

/* --daily or --password-free into body as fen, or null for "none". */
static int S_limit_option(struct cli *cli, const struct cli_args *args, const char *option,
                          const char *field, json_t *body)
{
    const char *text = cli_arg(cli, args, option);
    if (text == NULL)
        return CLI_EXIT_OK;
    int64_t amount;
    bool none;
    enum qb_error err = cli_amount_or_none_parse(text, currency_find(S_CURRENCY), &amount, &none);
    if (err != QB_OK) {
        char clean[64];
        cli_text_clean(text, clean, sizeof clean);
        return cli_usage_error(cli,
                               "--%s \"%s\" is not an amount: a positive number of yuan with at "
                               "most two decimals (such as 500 or 12.50), or none",
                               option, clean);
    }
    QB_ASSERT(json_object_set_new(body, field, none ? json_null() : json_integer(amount)) == 0);
    return CLI_EXIT_OK;
}

/* Whether the change in body lets more money out than the limits in force
 * (GET /v1/me/limits): a daily limit raised or removed, the password-free
 * amount raised, transfers made to arrive sooner. Only such a change needs
 * the payment password. */
static int S_limits_loosen(struct cli *cli, const json_t *body, bool *loosens)
{
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/limits", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK) {
        const json_t *daily_now = json_object_get(res.json, "daily_limit");
        const json_t *daily = json_object_get(body, "daily_limit");
        const json_t *free = json_object_get(body, "password_free_limit");
        json_int_t free_now = json_integer_value(json_object_get(res.json, "password_free_limit"));
        const char *arrival = json_string_value(json_object_get(body, "transfer_arrival"));
        *loosens =
            (daily != NULL && json_is_integer(daily_now) &&
             (json_is_null(daily) || json_integer_value(daily) > json_integer_value(daily_now))) ||
            (free != NULL && json_integer_value(free) > free_now) ||
            (arrival != NULL &&
             S_arrival_rank(arrival) <
                 S_arrival_rank(json_string_value(json_object_get(res.json, "transfer_arrival"))));
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_limits_set(struct cli *cli, const struct cli_args *args)
{
    const char *arrival = cli_arg(cli, args, "arrival");
    if (cli_arg(cli, args, "daily") == NULL && cli_arg(cli, args, "password-free") == NULL &&
        arrival == NULL)
        return cli_usage_error(cli, "give --daily, --password-free, --arrival or several");
    if (arrival != NULL && S_arrival_rank(arrival) < 0)
        return cli_usage_error(cli, "--arrival is instant, 2h or 24h");
    json_t *body = json_object();
    QB_ASSERT(body != NULL);
    int rc = S_limit_option(cli, args, "daily", "daily_limit", body);
    if (rc == CLI_EXIT_OK)
        rc = S_limit_option(cli, args, "password-free", "password_free_limit", body);
    if (arrival != NULL)
        QB_ASSERT(json_object_set_new(body, "transfer_arrival", json_string(arrival)) == 0);
    /* Tightening needs no password (a locked one included); with
     * --password-stdin the line is read and sent whatever the change. */
    bool needed = true;
    if (rc == CLI_EXIT_OK && cli_arg(cli, args, "password-stdin") == NULL)
        rc = S_limits_loosen(cli, body, &needed);
    char password[CLI_SECRET_SIZE_MAX];
    if (rc == CLI_EXIT_OK && needed)
        rc = cli_money_payment_password(cli, args, password, sizeof password);
    if (rc != CLI_EXIT_OK) {
        json_decref(body);
        return rc;
    }
    if (needed) {
        QB_ASSERT(json_object_set_new(body, "payment_password", json_string(password)) == 0);
        cli_secret_wipe(password, sizeof password);
    }
    struct cli_response res;
    rc = cli_call(cli, "PUT", "/v1/me/limits", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        if (cli->json)
            cli_print_body(&res);
        else
            S_limits_show(cli, res.json);
    }
    cli_response_release(&res);
    return rc;
}

/* --- paying a QR code ------------------------------------------------------------ */

void cli_order_payment_print(const struct cli *cli, const json_t *p)
{
    char text[256];
    cli_print_field(cli, "payment", cli_json_str(p, "id"));
    cli_print_field(cli, "type", "order payment");
    cli_print_field(cli, "status", cli_json_str(p, "status"));
    cli_money_amount_text(json_integer_value(json_object_get(p, "amount")), cli_json_str(p, "currency"),
                  text, sizeof text);
    cli_print_field(cli, "amount", text);
    const json_t *merchant = json_object_get(p, "merchant");
    snprintf(text, sizeof text, "%s (%s)", cli_json_str(merchant, "name"),
             cli_json_str(merchant, "mchid"));
    cli_print_field(cli, "merchant", text);
    cli_print_field(cli, "description", cli_json_str(p, "description"));
    cli_print_field(cli, "order", cli_json_str(p, "out_trade_no"));
    cli_print_field(cli, "created at", cli_json_str(p, "created_at"));
}

int cli_qr_pay(struct cli *cli, const struct cli_args *args, const char *payload,
               const json_t *resolved)
{
    const char *kind = cli_json_str(resolved, "kind");
    const json_t *fixed = json_object_get(resolved, "amount");
    bool transfer = strcmp(kind, "transfer") == 0;
    const char *amount_text = cli_arg(cli, args, "amount");
    int64_t amount = 0;
    int rc;
    if (amount_text != NULL && (rc = cli_money_amount_arg(cli, amount_text, &amount)) != CLI_EXIT_OK)
        return rc;
    if (json_is_integer(fixed)) {
        if (amount_text != NULL && amount != json_integer_value(fixed)) {
            char text[64];
            cli_money_amount_text(json_integer_value(fixed), cli_json_str(resolved, "currency"), text,
                          sizeof text);
            return cli_usage_error(cli, "this code is for %s: leave --amount out", text);
        }
        amount = (int64_t)json_integer_value(fixed);
    } else if (amount_text == NULL) {
        return cli_usage_error(cli, "this code has no amount: give it with --amount");
    }
    if (!transfer && cli_arg(cli, args, "memo") != NULL)
        return cli_usage_error(cli, "--memo goes with a person's receive code only");
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    bool needed = true;
    if (cli_arg(cli, args, "password-stdin") == NULL &&
        (rc = S_password_needed(cli, amount, cli_arg(cli, args, "idempotency-key") != NULL,
                                &needed)) != CLI_EXIT_OK)
        return rc;
    char password[CLI_SECRET_SIZE_MAX] = "";
    if (needed && (rc = cli_money_payment_password(cli, args, password, sizeof password)) != CLI_EXIT_OK)
        return rc;
    /* A collection's code is paid by the id it resolved to; the others by
     * their payload. */
    bool collection = strcmp(kind, "collection") == 0;
    char path[128] = "/v1/me/order-payments";
    if (transfer)
        snprintf(path, sizeof path, "/v1/transfers");
    if (collection) {
        char id[64];
        if (!cli_path_escape(cli_json_str(json_object_get(resolved, "collection"), "id"), id,
                             sizeof id)) {
            cli_secret_wipe(password, sizeof password);
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                            "the server named no collection");
        }
        snprintf(path, sizeof path, "/v1/collections/%s/payments", id);
    }
    json_t *body = collection ? json_object() : json_pack("{s:s}", "payload", payload);
    QB_ASSERT(body != NULL);
    /* The code's own amount is the server's to apply; an open one needs ours. */
    if (!json_is_integer(fixed))
        QB_ASSERT(json_object_set_new(body, "amount", json_integer(amount)) == 0);
    const char *memo = cli_arg(cli, args, "memo");
    if (memo != NULL && json_object_set_new(body, "memo", json_string(memo)) != 0) {
        json_decref(body);
        cli_secret_wipe(password, sizeof password);
        return cli_usage_error(cli, "--memo must be UTF-8 text");
    }
    if (needed)
        QB_ASSERT(json_object_set_new(body, "payment_password", json_string(password)) == 0);
    cli_secret_wipe(password, sizeof password);
    return cli_money_post(cli, path, key, body,
                          transfer || collection ? cli_transfer_print : cli_order_payment_print);
}

/* POST /v1/transfers/TRANSFER_ID/action, with --memo when memo. */
static int S_transfer_action(struct cli *cli, const struct cli_args *args, const char *action,
                             bool memo_arg)
{
    char path[192];
    int rc = cli_id_path(cli, "/v1/transfers", args->positionals[0], path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (strlen(path) + 1 + strlen(action) + 1 > sizeof path)
        return cli_usage_error(cli, "TRANSFER_ID is too long");
    strcat(path, "/");
    strcat(path, action);
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    json_t *body = json_object();
    const char *memo = memo_arg ? cli_arg(cli, args, "memo") : NULL;
    if (body == NULL ||
        (memo != NULL && json_object_set_new(body, "memo", json_string(memo)) != 0)) {
        json_decref(body);
        return cli_usage_error(cli, "--memo must be UTF-8 text");
    }
    return cli_money_post(cli, path, key, body, cli_transfer_print);
}

int cli_run_send_back(struct cli *cli, const struct cli_args *args)
{
    return S_transfer_action(cli, args, "return", true);
}

int cli_run_cancel_transfer(struct cli *cli, const struct cli_args *args)
{
    return S_transfer_action(cli, args, "cancel", false);
}

/* --- merchants' transfers to you (商家转账) -------------------------------------- */

static void S_payout_row(struct cli_table *table, const json_t *p)
{
    char amount[64], from[256], remark[160];
    cli_money_amount_text(json_integer_value(json_object_get(p, "amount")),
                          cli_json_str(p, "currency"), amount, sizeof amount);
    const json_t *m = json_object_get(p, "merchant");
    snprintf(from, sizeof from, "%s (%s)", cli_json_str(m, "name"), cli_json_str(m, "mchid"));
    cli_text_clean(cli_json_str(p, "remark"), remark, sizeof remark);
    const char *row[] = {cli_json_str(p, "id"), from, amount, remark,
                         cli_json_str(p, "expires_at")};
    cli_table_add(table, row);
}

int cli_run_payouts(struct cli *cli, const struct cli_args *args)
{
    static const char *const headers[] = {"ID", "FROM", "AMOUNT", "REMARK", "TAKE BEFORE"};
    char path[512] = "/v1/me/payouts";
    int rc = cli_page_path(cli, args, path, sizeof path);
    return rc == CLI_EXIT_OK ? cli_page_show(cli, path, CLI_AUTH_USER, headers, 5, S_payout_row,
                                             "no transfers from merchants wait for you")
                             : rc;
}

int cli_run_accept_payout(struct cli *cli, const struct cli_args *args)
{
    char path[192];
    int rc = cli_id_path(cli, "/v1/payouts", args->positionals[0], path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (strlen(path) + sizeof "/confirm" > sizeof path)
        return cli_usage_error(cli, "PAYOUT_ID is too long");
    strcat(path, "/confirm");
    json_t *body = json_object();
    struct cli_response res;
    rc = cli_call(cli, "POST", path, CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char amount[64], name[160], remark[160];
        cli_money_amount_text(json_integer_value(json_object_get(res.json, "amount")),
                              cli_json_str(res.json, "currency"), amount, sizeof amount);
        cli_text_clean(cli_json_str(json_object_get(res.json, "merchant"), "name"), name,
                       sizeof name);
        cli_text_clean(cli_json_str(res.json, "remark"), remark, sizeof remark);
        printf("took %s from %s: %s\n", amount, name, remark);
        cli_print_field(cli, "payout", cli_json_str(res.json, "id"));
    }
    cli_response_release(&res);
    return rc;
}
