/*
 * sandbox.c — the sandbox bank connector: a real provider's test mode.
 *
 * Stateless, as bank.h promises: an answer depends only on the card number,
 * the operation, and how long ago Qianbao created the operation
 * (now_ms - created_at_ms). So a daemon restarted in the middle of a slow
 * withdrawal finds the sandbox exactly where a real bank would be: a query
 * made after the delay sees the final answer.
 *
 * Test cards (docs/sandbox.md, Luhn-valid, BIN 999900):
 *   9999000000000012   succeeds
 *   9999000000000020   FAILED CARD_DECLINED, both operations
 *   9999000000000038   debit FAILED BANK_INSUFFICIENT_FUNDS; credit succeeds
 *   9999000000000046   every submit times out (BANK_UNAVAILABLE); a query
 *                      finds it SUCCEEDED: the bank did it, the answer was lost
 *   9999000000000053   every submit times out; a query answers UNKNOWN: the
 *                      request never reached the bank
 *   9999000000000061   PENDING; SUCCEEDED from SANDBOX_DELAY_MS after creation
 *   9999000000000079   PENDING; FAILED CARD_DECLINED from SANDBOX_DELAY_MS on
 *   9999000000000087   succeeds, but a submission takes SANDBOX_SLOW_MS to
 *                      answer: a bank having a slow day
 *   9999000000000095   verify: the bank has another phone for it, whatever
 *                      phone is given (CARD_PHONE_MISMATCH)
 *   9999000000000103   verify: the bank does not answer (BANK_UNAVAILABLE)
 *   9999000000000111   verify: the bank will not have it bound (a closed
 *                      card: CARD_DECLINED)
 *   9999000000000129   succeeds; a credit is taken back (退票): a query from
 *                      SANDBOX_DELAY_MS after creation answers RETURNED
 *                      CARD_DECLINED
 * and for any card, verify with the holder name SANDBOX_HOLDER_MISMATCH
 * ("测试失败", "test failure", as the identity check's sandbox) answers
 * CARD_HOLDER_MISMATCH; every other check matches.
 * Every other number succeeds at once, whatever its bank. A query answers
 * what the submission answered at that moment (the sandbox keeps no
 * records, so it assumes every operation it is asked about was sent),
 * except for the lost card above.
 *
 * The sandbox answers at once, but for the slow card; the "time outs" are
 * answers, not waits, so tests of them take no time.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bank/bank.h"

#define SANDBOX_DELAY_MS 3000
#define SANDBOX_SLOW_MS 2000
#define SANDBOX_PHONE_MISMATCH_CARD "9999000000000095"
#define SANDBOX_VERIFY_LOST_CARD "9999000000000103"
#define SANDBOX_CLOSED_CARD "9999000000000111"
#define SANDBOX_HOLDER_MISMATCH "\xe6\xb5\x8b\xe8\xaf\x95\xe5\xa4\xb1\xe8\xb4\xa5" /* 测试失败 */

enum sandbox_behaviour {
    SANDBOX_SUCCEED,
    SANDBOX_DECLINE,
    SANDBOX_INSUFFICIENT,
    SANDBOX_TIMEOUT_DONE,
    SANDBOX_TIMEOUT_LOST,
    SANDBOX_LATE_SUCCEED,
    SANDBOX_LATE_FAIL,
    SANDBOX_SLOW,
    SANDBOX_RETURNED,
};

static const struct {
    const char *number;
    enum sandbox_behaviour behaviour;
} S_cards[] = {
    {"9999000000000012", SANDBOX_SUCCEED},      {"9999000000000020", SANDBOX_DECLINE},
    {"9999000000000038", SANDBOX_INSUFFICIENT}, {"9999000000000046", SANDBOX_TIMEOUT_DONE},
    {"9999000000000053", SANDBOX_TIMEOUT_LOST}, {"9999000000000061", SANDBOX_LATE_SUCCEED},
    {"9999000000000079", SANDBOX_LATE_FAIL},    {"9999000000000087", SANDBOX_SLOW},
    {"9999000000000129", SANDBOX_RETURNED},
};

static enum sandbox_behaviour sandbox_behaviour_of(const char *card_number)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_cards); i++) {
        if (strcmp(card_number, S_cards[i].number) == 0)
            return S_cards[i].behaviour;
    }
    return SANDBOX_SUCCEED;
}

/* The bank's reference: derived from Qianbao's, as a real bank's would be
 * recorded against it. */
static void sandbox_ref(const struct bank_request *req, struct bank_result *out)
{
    snprintf(out->bank_ref, sizeof out->bank_ref, "sbx_%s_%s",
             req->op == BANK_OP_DEBIT ? "d" : "c", req->ref);
}

static bool sandbox_request_is_valid(const struct bank_request *req)
{
    return req != NULL && (req->op == BANK_OP_DEBIT || req->op == BANK_OP_CREDIT) &&
           req->ref != NULL && req->ref[0] != '\0' && req->card_number != NULL &&
           req->currency != NULL && req->amount_minor > 0;
}

/* The operation's state at req->now_ms, as the bank's books have it. */
static void sandbox_decide(const struct bank_request *req, enum sandbox_behaviour behaviour,
                           struct bank_result *out)
{
    bool late = req->now_ms - req->created_at_ms >= SANDBOX_DELAY_MS;
    out->status = BANK_SUCCEEDED;
    out->failure = QB_OK;
    switch (behaviour) {
    case SANDBOX_SUCCEED:
    case SANDBOX_TIMEOUT_DONE:
    case SANDBOX_SLOW:
        break;
    case SANDBOX_DECLINE:
        out->status = BANK_FAILED;
        out->failure = QB_E_CARD_DECLINED;
        break;
    case SANDBOX_INSUFFICIENT:
        if (req->op == BANK_OP_DEBIT) {
            out->status = BANK_FAILED;
            out->failure = QB_E_BANK_INSUFFICIENT_FUNDS;
        }
        break;
    case SANDBOX_TIMEOUT_LOST:
        out->status = BANK_UNKNOWN;
        break;
    case SANDBOX_LATE_SUCCEED:
        if (!late)
            out->status = BANK_PENDING;
        break;
    case SANDBOX_RETURNED:
        if (late && req->op == BANK_OP_CREDIT) {
            out->status = BANK_RETURNED;
            out->failure = QB_E_CARD_DECLINED;
        }
        break;
    case SANDBOX_LATE_FAIL:
        if (!late) {
            out->status = BANK_PENDING;
        } else {
            out->status = BANK_FAILED;
            out->failure = QB_E_CARD_DECLINED;
        }
        break;
    }
    if (out->status != BANK_UNKNOWN)
        sandbox_ref(req, out);
}

static enum qb_error sandbox_submit(struct bank_connector *bank, const struct bank_request *req,
                                    struct bank_result *out)
{
    (void)bank;
    QB_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!sandbox_request_is_valid(req))
        return QB_E_PARAM;
    enum sandbox_behaviour behaviour = sandbox_behaviour_of(req->card_number);
    if (behaviour == SANDBOX_TIMEOUT_DONE || behaviour == SANDBOX_TIMEOUT_LOST)
        return QB_E_BANK_UNAVAILABLE;
    if (behaviour == SANDBOX_SLOW) {
        struct timespec wait = {SANDBOX_SLOW_MS / 1000, (long)(SANDBOX_SLOW_MS % 1000) * 1000000L};
        while (nanosleep(&wait, &wait) != 0)
            ;
    }
    sandbox_decide(req, behaviour, out);
    QB_ASSERT(out->status != BANK_UNKNOWN);
    return QB_OK;
}

static enum qb_error sandbox_query(struct bank_connector *bank, const struct bank_request *req,
                                   struct bank_result *out)
{
    (void)bank;
    QB_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!sandbox_request_is_valid(req))
        return QB_E_PARAM;
    sandbox_decide(req, sandbox_behaviour_of(req->card_number), out);
    return QB_OK;
}

static enum qb_error sandbox_verify(struct bank_connector *bank,
                                    const struct bank_card_check *check, struct bank_result *out)
{
    (void)bank;
    QB_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (check == NULL || check->card_number == NULL || check->holder_name == NULL ||
        check->phone == NULL)
        return QB_E_PARAM;
    if (strcmp(check->card_number, SANDBOX_VERIFY_LOST_CARD) == 0)
        return QB_E_BANK_UNAVAILABLE;
    out->status = BANK_SUCCEEDED;
    out->failure = QB_OK;
    if (strcmp(check->card_number, SANDBOX_PHONE_MISMATCH_CARD) == 0) {
        out->status = BANK_FAILED;
        out->failure = QB_E_CARD_PHONE_MISMATCH;
    } else if (strcmp(check->card_number, SANDBOX_CLOSED_CARD) == 0) {
        out->status = BANK_FAILED;
        out->failure = QB_E_CARD_DECLINED;
    } else if (strcmp(check->holder_name, SANDBOX_HOLDER_MISMATCH) == 0) {
        out->status = BANK_FAILED;
        out->failure = QB_E_CARD_HOLDER_MISMATCH;
    }
    return QB_OK;
}

static const struct bank_connector_ops S_sandbox_ops = {
    .verify = sandbox_verify,
    .submit = sandbox_submit,
    .query = sandbox_query,
};

static struct bank_connector S_sandbox = {&S_sandbox_ops, NULL};

struct bank_connector *bank_sandbox(void) { return &S_sandbox; }
