/*
 * redpacket.c — red packets: send, grab, show, and verify a lucky packet's
 * split against the commitment published when it was sent
 * (docs/redpacket.md). The verification is done here, on the user's
 * machine, with the same pure code the server derives shares with
 * (src/wallet/redpacket_fair.c): trusting the server's word would prove
 * nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/crypto.h"
#include "base/rand.h"
#include "cli/cli_int.h"
#include "wallet/redpacket_fair.h"

#define S_CURRENCY "CNY"

static long long S_int(const json_t *object, const char *name)
{
    return (long long)json_integer_value(json_object_get(object, name));
}

/* The number a person reads for the claim at position (the API's, 0
 * first): shares are counted from 1 in everything printed for reading
 * (grab, show, verify), while --json keeps the API's position. A position
 * no packet has is printed as it came. */
static long long S_share_number(long long position)
{
    return position >= 0 && position < REDPACKET_COUNT_MAX ? position + 1 : position;
}

/* The packet's id from the command line, checked for its shape. */
static int S_packet_path(struct cli *cli, const char *id, const char *suffix, char *path,
                         size_t path_size)
{
    if (!id_is_valid(id, strlen(id), "rp"))
        return cli_usage_error(cli, "ID must be a red packet id (rp_...)");
    snprintf(path, path_size, "/v1/red-packets/%s%s", id, suffix);
    return CLI_EXIT_OK;
}

/* --- send -------------------------------------------------------------------- */

int cli_run_redpacket_send(struct cli *cli, const struct cli_args *args)
{
    int64_t amount;
    int rc = cli_money_amount_arg(cli, args->positionals[0], &amount);
    if (rc != CLI_EXIT_OK)
        return rc;
    int count;
    rc = cli_money_count_arg(cli, args->positionals[1], REDPACKET_COUNT_MAX,
                             "a whole number of shares", &count);
    if (rc != CLI_EXIT_OK)
        return rc;
    bool equal = cli_arg(cli, args, "equal") != NULL;
    /* Before the password: a lucky packet's shares are a fen at least. */
    if (!equal && amount < count)
        return cli_usage_error(cli,
                               "a lucky packet of %d shares needs at least %d.%02d (a fen "
                               "each)",
                               count, count / 100, count % 100);
    char key[CLI_IDEMPOTENCY_KEY_SIZE_MAX];
    if ((rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    char password[CLI_SECRET_SIZE_MAX] = "";
    if ((rc = cli_money_payment_password(cli, args, password, sizeof password)) != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:I, s:i, s:s, s:s}", "type", equal ? "equal" : "lucky",
                             equal ? "amount_per_share" : "total_amount", (json_int_t)amount,
                             "count", count, "currency", S_CURRENCY, "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    QB_ASSERT(body != NULL);
    const char *greeting = cli_arg(cli, args, "greeting");
    if (greeting != NULL && json_object_set_new(body, "greeting", json_string(greeting)) != 0) {
        json_decref(body);
        return cli_usage_error(cli, "--greeting must be UTF-8 text");
    }
    struct cli_response res;
    rc = cli_call_idem(cli, "/v1/red-packets", key, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        cli_money_replayed_note(cli, &res);
        char total[MONEY_TEXT_SIZE_MAX + 8], id[64], greeting_text[160];
        cli_money_amount_text(json_integer_value(json_object_get(res.json, "total_amount")),
                              cli_json_str(res.json, "currency"), total, sizeof total);
        cli_text_clean(cli_json_str(res.json, "id"), id, sizeof id);
        cli_text_clean(cli_json_str(res.json, "greeting"), greeting_text, sizeof greeting_text);
        bool equal_packet = strcmp(cli_json_str(res.json, "type"), "equal") == 0;
        long long shares = S_int(res.json, "count");
        printf("sent %s red packet %s: %lld share%s, %s\n",
               equal_packet ? "an equal" : "a lucky", id, shares, shares == 1 ? "" : "s", total);
        cli_print_field(cli, "greeting", greeting_text);
        cli_print_field(cli, "expires", cli_json_str(res.json, "expires_at"));
        const char *commitment = cli_json_str(res.json, "commitment");
        if (commitment[0] != '\0')
            cli_print_field(cli, "commitment", commitment);
        char word[CLI_SHELL_WORD_SIZE_MAX];
        cli_shell_word(id, word, sizeof word);
        cli_hint(cli, "share the id; friends grab with `" CLI_OTHERS "qianbao redpacket grab %s`",
                 word);
    }
    cli_response_release(&res);
    return rc;
}

/* --- grab -------------------------------------------------------------------- */

int cli_run_redpacket_grab(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc = S_packet_path(cli, args->positionals[0], "/claims", path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    /* No Idempotency-Key: a user claims a packet at most once, so a retry
     * answers the same claim (200) and moves nothing. */
    rc = cli_call(cli, "POST", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        char amount[MONEY_TEXT_SIZE_MAX + 8], sender[80];
        cli_money_amount_text(json_integer_value(json_object_get(res.json, "amount")),
                              cli_json_str(res.json, "currency"), amount, sizeof amount);
        cli_text_clean(cli_json_str(json_object_get(res.json, "sender"), "display_name"), sender,
                       sizeof sender);
        printf("%s %s from %s's red packet (share #%lld)\n",
               res.status == 201 ? "you got" : "you had already got", amount, sender,
               S_share_number(S_int(res.json, "position")));
    }
    cli_response_release(&res);
    return rc;
}

/* --- show -------------------------------------------------------------------- */

void cli_redpacket_print(struct cli *cli, const json_t *p, bool for_operator)
{
    const char *currency = cli_json_str(p, "currency");
    const json_t *sender = json_object_get(p, "sender");
    char text[160], total[MONEY_TEXT_SIZE_MAX + 8], left[MONEY_TEXT_SIZE_MAX + 48];
    cli_text_clean(cli_json_str(sender, "display_name"), text, sizeof text);
    if (for_operator) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, " (%s)", cli_json_str(sender, "user_id"));
    }
    cli_money_amount_text(json_integer_value(json_object_get(p, "total_amount")), currency, total,
                          sizeof total);
    char remaining[MONEY_TEXT_SIZE_MAX + 8];
    cli_money_amount_text(json_integer_value(json_object_get(p, "remaining_amount")), currency,
                          remaining, sizeof remaining);
    if (S_int(p, "refunded_amount") > 0)
        snprintf(left, sizeof left, "none: %lld of %lld shares went unclaimed, refunded",
                 S_int(p, "remaining_count"), S_int(p, "count"));
    else
        snprintf(left, sizeof left, "%s in %lld of %lld shares", remaining,
                 S_int(p, "remaining_count"), S_int(p, "count"));
    cli_print_field(cli, "sender", text);
    cli_text_clean(cli_json_str(p, "greeting"), text, sizeof text);
    cli_print_field(cli, "greeting", text);
    cli_print_field(cli, "type", cli_json_str(p, "type"));
    cli_print_field(cli, "total", total);
    cli_print_field(cli, "status", cli_json_str(p, "status"));
    cli_print_field(cli, "left", left);
    if (S_int(p, "refunded_amount") > 0) {
        cli_money_amount_text(json_integer_value(json_object_get(p, "refunded_amount")), currency,
                              total, sizeof total);
        cli_print_field(cli, "refunded", total);
    }
    if (for_operator) {
        cli_print_field(cli, "sent", cli_json_str(p, "created_at"));
        const char *due = cli_json_str(p, "refund_due_at");
        if (due[0] != '\0')
            cli_print_field(cli, "refund due", due);
    }
    cli_print_field(cli, "expires", cli_json_str(p, "expires_at"));
    /* The operator reads the sender's view: "you" is the sender there. */
    static const char *const headers[] = {"#", "WHO", "AMOUNT", "CLAIMED", "USER"};
    struct cli_table table;
    cli_table_init(&table, headers, for_operator ? 5 : 4);
    const char *you = for_operator ? "sender" : "you";
    const json_t *luckiest = json_object_get(p, "luckiest");
    size_t i;
    json_t *claim;
    json_array_foreach(json_object_get(p, "claims"), i, claim)
    {
        char position[24], amount[MONEY_TEXT_SIZE_MAX + 8], who[120];
        snprintf(position, sizeof position, "%lld", S_share_number(S_int(claim, "position")));
        cli_money_amount_text(json_integer_value(json_object_get(claim, "amount")), currency,
                              amount, sizeof amount);
        bool me = json_is_true(json_object_get(claim, "me"));
        bool best =
            json_is_object(luckiest) && S_int(luckiest, "position") == S_int(claim, "position");
        char mark[32] = "";
        if (best && me)
            snprintf(mark, sizeof mark, " (%s, luckiest)", you);
        else if (best)
            snprintf(mark, sizeof mark, " (luckiest)");
        else if (me)
            snprintf(mark, sizeof mark, " (%s)", you);
        snprintf(who, sizeof who, "%s%s", cli_json_str(claim, "display_name"), mark);
        const char *row[] = {position, who, amount, cli_json_str(claim, "claimed_at"),
                             cli_json_str(claim, "user_id")};
        cli_table_add(&table, row);
    }
    fputc('\n', stdout);
    cli_table_print(cli, &table);
    cli_table_release(&table);
}

int cli_run_redpacket_show(struct cli *cli, const struct cli_args *args)
{
    char path[128];
    int rc = S_packet_path(cli, args->positionals[0], "", path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        cli_redpacket_print(cli, res.json, false);
    cli_response_release(&res);
    return rc;
}

/* --- verify ------------------------------------------------------------------ */

static bool S_hex32(const json_t *value, uint8_t out[32])
{
    const char *text = json_string_value(value);
    size_t size = 0;
    return text != NULL && strlen(text) == 64 &&
           sodium_hex2bin(out, 32, text, 64, NULL, &size, NULL) == 0 && size == 32;
}

/* A packet that cannot be checked because it is none: a field missing or
 * of the wrong type. A saved file is then a bad --file (exit 2, as one that
 * is not JSON); an answer of the server, a failure of the server (exit 3).
 * A packet whose fields are all there but disagree is not this: the check
 * runs and reports it (exit 5). */
static int S_not_a_packet(struct cli *cli, bool saved, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int S_not_a_packet(struct cli *cli, bool saved, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (saved)
        return cli_usage_error(cli, "--file: not a saved red packet (%s)", what);
    return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "NOT_A_RED_PACKET",
                    "the server's answer is not a red packet (%s)", what);
}

static const char *const S_statuses[] = {
    [REDPACKET_FAIR_ACTIVE] = "ACTIVE",
    [REDPACKET_FAIR_FINISHED] = "FINISHED",
    [REDPACKET_FAIR_EXPIRED] = "EXPIRED",
};

/* The amount in yuan with its currency, into text. */
static void S_yuan(int64_t amount_minor, char *text, size_t text_size)
{
    cli_money_amount_text((json_int_t)amount_minor, S_CURRENCY, text, text_size);
}

/* What does not add up in p, by the rule step 3 found broken, into
 * problem: the numbers the rule compares, as the packet has them. */
static void S_sums_problem(const struct redpacket_fair_packet *p, enum redpacket_fair_sums sums,
                           char *problem, size_t problem_size)
{
    int64_t claimed = 0;
    for (size_t i = 0; i < p->amount_count; i++)
        claimed += p->amounts[i];
    char claimed_text[MONEY_TEXT_SIZE_MAX + 8], remaining[MONEY_TEXT_SIZE_MAX + 8],
        refunded[MONEY_TEXT_SIZE_MAX + 8], total[MONEY_TEXT_SIZE_MAX + 8],
        sum[MONEY_TEXT_SIZE_MAX + 8];
    S_yuan(claimed, claimed_text, sizeof claimed_text);
    S_yuan(p->remaining_minor, remaining, sizeof remaining);
    S_yuan(p->refunded_minor, refunded, sizeof refunded);
    S_yuan(p->total_minor, total, sizeof total);
    S_yuan(claimed + p->remaining_minor + p->refunded_minor, sum, sizeof sum);
    const char *status = S_statuses[p->status];
    long long shares = (long long)p->count, unclaimed = shares - (long long)p->amount_count;
    switch (sums) {
    case REDPACKET_FAIR_SUMS_TOTAL:
        snprintf(problem, problem_size,
                 "the claims (%s), remaining_amount (%s) and refunded_amount (%s) add up to %s, "
                 "not the total %s",
                 claimed_text, remaining, refunded, sum, total);
        break;
    case REDPACKET_FAIR_SUMS_FINISHED_OPEN:
        snprintf(problem, problem_size, "the status is %s, but %zu of the %lld shares were claimed",
                 status, p->amount_count, shares);
        break;
    case REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN:
        snprintf(problem, problem_size,
                 "the status is %s, but all %lld shares were claimed: that is FINISHED", status,
                 shares);
        break;
    case REDPACKET_FAIR_SUMS_ACTIVE_REFUND:
        snprintf(problem, problem_size,
                 "the status is %s, but refunded_amount is %s: only an expired packet is refunded",
                 status, refunded);
        break;
    case REDPACKET_FAIR_SUMS_EXPIRED_SPLIT:
        snprintf(problem, problem_size,
                 "the status is %s with %s refunded and %s still remaining: the refund takes "
                 "all that is left at once",
                 status, refunded, remaining);
        break;
    case REDPACKET_FAIR_SUMS_SHARES_LEFT:
        snprintf(problem, problem_size,
                 "remaining_count is %lld, but %lld of the %lld shares are unclaimed",
                 (long long)p->remaining_count, unclaimed, shares);
        break;
    case REDPACKET_FAIR_SUMS_OK:
        QB_UNREACHABLE(); /* called for a rule broken only */
    }
}

/* Checks one packet as GET /v1/red-packets/{id} shows it (saved: read from
 * --file); the exit status: OK when every share is derived from the
 * committed seed, CHECK_FAILED when not or when the packet's numbers
 * disagree, REFUSED when there is nothing to check yet (the seed is
 * revealed once the packet is closed), and S_not_a_packet's when it is no
 * packet. */
static int S_verify(struct cli *cli, const json_t *packet, bool saved)
{
    /* The shape first: what is missing here makes no packet. */
    const char *id = cli_json_str(packet, "id");
    const char *type = cli_json_str(packet, "type");
    const json_t *total = json_object_get(packet, "total_amount");
    const json_t *count = json_object_get(packet, "count");
    const json_t *claims = json_object_get(packet, "claims");
    bool lucky = strcmp(type, "lucky") == 0;
    if (!id_is_valid(id, strlen(id), "rp"))
        return S_not_a_packet(cli, saved, "no red packet id");
    if (!lucky && strcmp(type, "equal") != 0)
        return S_not_a_packet(cli, saved, "type is neither lucky nor equal");
    if (!json_is_integer(total) || !json_is_integer(count))
        return S_not_a_packet(cli, saved, "total_amount and count must be integers");
    if (!json_is_array(claims))
        return S_not_a_packet(cli, saved, "no claims list");
    const char *status_text = cli_json_str(packet, "status");
    size_t status = 0;
    while (status < QB_ARRAY_COUNT(S_statuses) && strcmp(S_statuses[status], status_text) != 0)
        status++;
    if (status == QB_ARRAY_COUNT(S_statuses))
        return S_not_a_packet(cli, saved, "status is none of ACTIVE, FINISHED, EXPIRED");
    const json_t *remaining = json_object_get(packet, "remaining_amount");
    const json_t *remaining_count = json_object_get(packet, "remaining_count");
    const json_t *refunded = json_object_get(packet, "refunded_amount");
    if (!json_is_integer(remaining) || !json_is_integer(remaining_count) ||
        !json_is_integer(refunded))
        return S_not_a_packet(cli, saved,
                              "remaining_amount, remaining_count and refunded_amount must be "
                              "integers");
    int64_t amounts[REDPACKET_COUNT_MAX];
    size_t claim_count = json_array_size(claims);
    size_t amount_count = claim_count < REDPACKET_COUNT_MAX ? claim_count : REDPACKET_COUNT_MAX;
    for (size_t i = 0; i < claim_count; i++) {
        const json_t *claim = json_array_get(claims, i);
        const json_t *amount = json_object_get(claim, "amount");
        if (!json_is_integer(amount) || !json_is_integer(json_object_get(claim, "position")))
            return S_not_a_packet(cli, saved, "a claim without an integer amount and position");
        if (i < amount_count)
            amounts[i] = (int64_t)json_integer_value(amount);
    }
    uint8_t seed[REDPACKET_SEED_SIZE], commitment[CRYPTO_SHA256_SIZE];
    struct redpacket_fair_packet p = {
        .id = id,
        .lucky = lucky,
        .total_minor = (int64_t)json_integer_value(total),
        .count = (int64_t)json_integer_value(count),
        .amounts = amounts,
        .amount_count = amount_count,
        .status = (enum redpacket_fair_status)status,
        .remaining_minor = (int64_t)json_integer_value(remaining),
        .remaining_count = (int64_t)json_integer_value(remaining_count),
        .refunded_minor = (int64_t)json_integer_value(refunded),
    };
    const json_t *fairness = json_object_get(packet, "fairness");
    if (lucky) {
        if (strcmp(cli_json_str(fairness, "scheme"), REDPACKET_FAIR_SCHEME) != 0 ||
            !S_hex32(json_object_get(fairness, "commitment"), commitment))
            return S_not_a_packet(cli, saved, "no %s commitment", REDPACKET_FAIR_SCHEME);
        const json_t *seed_json = json_object_get(fairness, "seed");
        if (seed_json == NULL || json_is_null(seed_json))
            return cli_fail(cli, CLI_EXIT_REFUSED, "NOT_REVEALED",
                            "nothing to verify yet: the seed is revealed once the packet is "
                            "finished or expired");
        if (!S_hex32(seed_json, seed))
            return S_not_a_packet(cli, saved, "the seed is not 64 hex digits");
        p.seed = seed;
        p.commitment = commitment;
    }

    /* Then the numbers, which the check judges. The claims must stand in
     * claim order (each one's position is its place), the order the split
     * is derived in. */
    enum redpacket_fair_verdict verdict = REDPACKET_FAIR_MATCH;
    char problem[400] = "these numbers cannot be a packet (count, total, claims, status, "
                        "remaining or refunded)";
    for (size_t i = 0; i < claim_count && verdict == REDPACKET_FAIR_MATCH; i++) {
        json_int_t position =
            json_integer_value(json_object_get(json_array_get(claims, i), "position"));
        if (position != (json_int_t)i) {
            verdict = REDPACKET_FAIR_INVALID;
            snprintf(problem, sizeof problem,
                     "the claims are not in claim order: position %lld stands where %zu belongs",
                     (long long)position, i);
        }
    }
    if (verdict == REDPACKET_FAIR_MATCH && claim_count > amount_count)
        verdict = REDPACKET_FAIR_INVALID; /* more claims than any packet has shares */
    struct redpacket_fair_finding finding = {0};
    if (verdict == REDPACKET_FAIR_MATCH)
        verdict = redpacket_fair_verify(&p, &finding);
    if (verdict == REDPACKET_FAIR_SUMS_MISMATCH)
        S_sums_problem(&p, finding.sums, problem, sizeof problem);
    size_t bad = finding.index;
    char expected_text[MONEY_TEXT_SIZE_MAX + 8];
    S_yuan(finding.expected_minor, expected_text, sizeof expected_text);
    int rc = verdict == REDPACKET_FAIR_MATCH ? CLI_EXIT_OK : CLI_EXIT_CHECK_FAILED;
    if (cli->json) {
        json_t *out =
            json_pack("{s:s, s:s, s:I}", "id", id, "verdict", redpacket_fair_verdict_name(verdict),
                      "claims_checked", (json_int_t)claim_count);
        QB_ASSERT(out != NULL);
        if (verdict == REDPACKET_FAIR_SHARE_MISMATCH)
            QB_ASSERT(json_object_set_new(out, "position", json_integer((json_int_t)bad)) == 0 &&
                      json_object_set_new(out, "expected", json_integer(finding.expected_minor)) ==
                          0);
        if (verdict == REDPACKET_FAIR_SUMS_MISMATCH)
            QB_ASSERT(json_object_set_new(
                          out, "rule", json_string(redpacket_fair_sums_name(finding.sums))) == 0);
        char *text = json_dumps(out, JSON_COMPACT);
        if (text != NULL)
            puts(text);
        free(text);
        json_decref(out);
        return rc;
    }
    char total_text[MONEY_TEXT_SIZE_MAX + 8];
    cli_money_amount_text(json_integer_value(total), S_CURRENCY, total_text, sizeof total_text);
    long long shares = (long long)json_integer_value(count);
    printf("packet %s: %s, %lld share%s, %s, %s, %zu claimed\n", id, type, shares,
           shares == 1 ? "" : "s", total_text, S_statuses[status], claim_count);
    if (lucky) {
        cli_print_field(cli, "commitment", cli_json_str(fairness, "commitment"));
        cli_print_field(cli, "seed", cli_json_str(fairness, "seed"));
    }
    static const char *const headers[] = {"#", "AMOUNT", "CHECK"};
    struct cli_table table;
    cli_table_init(&table, headers, 3);
    for (size_t i = 0; i < amount_count; i++) {
        char position[24], amount[MONEY_TEXT_SIZE_MAX + 8];
        snprintf(position, sizeof position, "%lld", S_share_number((long long)i));
        cli_money_amount_text((json_int_t)amounts[i], S_CURRENCY, amount, sizeof amount);
        /* Shares after the first wrong one are not judged: the split after
         * it depends on what that claim should have taken. The sums are
         * checked once every share matched. */
        const char *mark = "-";
        if (verdict == REDPACKET_FAIR_MATCH || verdict == REDPACKET_FAIR_SUMS_MISMATCH ||
            verdict == REDPACKET_FAIR_SEED_EARLY)
            mark = "ok";
        else if (verdict == REDPACKET_FAIR_SHARE_MISMATCH)
            mark = i < bad ? "ok" : i == bad ? "MISMATCH" : "-";
        const char *row[] = {position, amount, mark};
        cli_table_add(&table, row);
    }
    cli_table_print(cli, &table);
    cli_table_release(&table);
    switch (verdict) {
    case REDPACKET_FAIR_MATCH:
        cli_print_colored(cli, CLI_COLOR_GREEN, "match");
        printf(lucky ? ": every share is what the committed seed derives, and the packet adds up\n"
                     : ": every share is the packet's equal share, and the packet adds up\n");
        break;
    case REDPACKET_FAIR_COMMITMENT_MISMATCH:
        cli_print_colored(cli, CLI_COLOR_RED, "MISMATCH");
        printf(": SHA-256 of the seed is not the commitment\n");
        break;
    case REDPACKET_FAIR_SHARE_MISMATCH:
        cli_print_colored(cli, CLI_COLOR_RED, "MISMATCH");
        printf(": share #%lld should be %s\n", S_share_number((long long)bad), expected_text);
        break;
    case REDPACKET_FAIR_SEED_EARLY:
        cli_print_colored(cli, CLI_COLOR_RED, "MISMATCH");
        printf(": the packet is still ACTIVE, yet its seed is revealed: anyone could work out "
               "the shares still to come\n");
        break;
    case REDPACKET_FAIR_SUMS_MISMATCH:
    case REDPACKET_FAIR_INVALID:
        cli_print_colored(cli, CLI_COLOR_RED, "MISMATCH");
        printf(": %s\n", problem);
        break;
    }
    return rc;
}

int cli_run_redpacket_verify(struct cli *cli, const struct cli_args *args)
{
    const char *file = cli_arg(cli, args, "file");
    if ((file == NULL) == (args->positional_count == 0))
        return cli_usage_error(cli, "give either ID or --file FILE");
    if (file != NULL) {
        json_error_t error;
        json_t *packet = json_load_file(file, JSON_REJECT_DUPLICATES, &error);
        if (packet == NULL) {
            char clean[200];
            cli_text_clean(error.text, clean, sizeof clean);
            return cli_usage_error(cli, "--file: not a saved red packet (%s)", clean);
        }
        int rc = S_verify(cli, packet, true);
        json_decref(packet);
        return rc;
    }
    char path[128];
    int rc = S_packet_path(cli, args->positionals[0], "", path, sizeof path);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct cli_response res;
    rc = cli_call(cli, "GET", path, CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK)
        rc = S_verify(cli, res.json, false);
    cli_response_release(&res);
    return rc;
}
