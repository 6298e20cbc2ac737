/*
 * bank.h — the bank connector: how money crosses between a bank card and
 * Qianbao.
 *
 * Owns: the interface every bank connector implements, and the sandbox
 * connector (sandbox.c), which behaves like a real provider's test mode and
 * is documented for integrators in docs/sandbox.md.
 *
 * Before a card is bound, one check, named by nothing (it moves no money
 * and is safe to repeat):
 *   verify   are this holder name and this phone the bank's records for
 *            the card? The phone is where the bank's own codes for the card
 *            go, so the SMS code that binds a card proves control of the
 *            card's phone only once the bank says it is the card's.
 * Then three operations, each named by Qianbao's payment id (the `ref`), so
 * that asking twice about one operation is always safe:
 *   debit    take amount from the card (a top-up). Usually answers at
 *            once: SUCCEEDED, or FAILED with a reason; PENDING when the
 *            bank confirms later.
 *   credit   pay amount to the card (a withdrawal): SUCCEEDED, FAILED, or
 *            PENDING when the bank confirms later.
 *   query    what became of an operation sent earlier (after a restart, or
 *            for a PENDING credit): SUCCEEDED, FAILED, PENDING, or UNKNOWN
 *            when the bank never received it.
 * A connector does network I/O in real life: it is called from HTTP
 * threads and workers, never from inside a ledger command. A call must
 * give up within BANK_CALL_TIMEOUT_MS: Qianbao asks about an operation it
 * has no answer for only after that long (src/wallet/topup.h), so that a
 * query can never overtake the submission it asks about.
 *
 * The sandbox keeps no state between calls: its answer depends only on the
 * card number, the operation and how long ago the operation was created
 * (given by the caller from its own records), so it survives restarts the
 * way a real bank's records do.
 */
#ifndef QB_BANK_BANK_H
#define QB_BANK_BANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/money.h"

#define BANK_CARD_NUMBER_SIZE_MAX 20 /* 19 digits + NUL */
#define BANK_REF_SIZE_MAX 64
#define BANK_NAME_SIZE_MAX 48
#define BANK_CARD_TYPE_SIZE_MAX 16
#define BANK_CARD_DIGITS_MIN 16
#define BANK_CARD_DIGITS_MAX 19
#define BANK_CALL_TIMEOUT_MS 4000 /* a connector's call gives up after this long */

enum bank_status {
    BANK_SUCCEEDED = 1,
    BANK_FAILED = 2,
    BANK_PENDING = 3,
    BANK_UNKNOWN = 4, /* query only: the bank has no such operation */
    /* query only, of a credit: the bank made it and then took it back
     * (退票: the receiving account was closed or frozen), the money back
     * in Qianbao's reserve; failure says why. */
    BANK_RETURNED = 5,
};

enum bank_op {
    BANK_OP_DEBIT = 1,  /* top-up */
    BANK_OP_CREDIT = 2, /* withdrawal */
};

struct bank_request {
    enum bank_op op;
    const char *ref;          /* Qianbao's payment id; the bank's idempotency key */
    const char *card_number;  /* digits only, in clear for this call alone */
    const struct currency *currency;
    int64_t amount_minor;     /* > 0 */
    int64_t created_at_ms;    /* when Qianbao first sent it (for query: the original) */
    int64_t now_ms;
};

struct bank_result {
    enum bank_status status;
    enum qb_error
        failure; /* BANK_FAILED, BANK_RETURNED: CARD_DECLINED, BANK_INSUFFICIENT_FUNDS ... */
    char bank_ref[BANK_REF_SIZE_MAX]; /* the bank's own reference, "" when none */
};

/* A card as the person binding it describes it (verify). */
struct bank_card_check {
    const char *card_number; /* digits only, in clear for this call alone */
    const char *holder_name;
    const char *phone; /* 11 digits: the phone the person says the bank has */
};

struct bank_connector;
struct bank_connector_ops {
    /* QB_OK with out->status SUCCEEDED (the bank's records name this holder
     * and this phone), or FAILED with out->failure CARD_PHONE_MISMATCH,
     * CARD_HOLDER_MISMATCH or CARD_DECLINED (the bank will not have the
     * card bound: closed, unknown to it; any other failure is taken as
     * this one, wallet_card_verify); QB_E_BANK_UNAVAILABLE when the bank
     * did not answer (nothing happened: ask again). With both the phone
     * and the holder wrong, CARD_PHONE_MISMATCH: the code that let the
     * caller ask went to the phone given, which may be anyone's, so only
     * one who holds the card's phone may learn that the holder was wrong
     * (else a card number alone would let its holder's name be guessed,
     * a code a guess: docs/api.md, POST /v1/me/cards). */
    enum qb_error (*verify)(struct bank_connector *bank, const struct bank_card_check *check,
                            struct bank_result *out);
    /* QB_OK with out filled; QB_E_BANK_UNAVAILABLE when the bank did not
     * answer (the operation may or may not have happened: query later). */
    enum qb_error (*submit)(struct bank_connector *bank, const struct bank_request *req,
                            struct bank_result *out);
    enum qb_error (*query)(struct bank_connector *bank, const struct bank_request *req,
                           struct bank_result *out);
};

struct bank_connector {
    const struct bank_connector_ops *ops;
    void *state;
};

/* The sandbox connector (docs/sandbox.md lists its test cards). */
struct bank_connector *bank_sandbox(void);

/* What a card number says about itself, from the BIN table (bin.c): the
 * issuing bank's name and the card type ("debit"). False when the number
 * is not 16-19 digits, fails the Luhn check, or its BIN is not a known
 * debit card. */
struct bank_card_info {
    char bank[BANK_NAME_SIZE_MAX];
    char card_type[BANK_CARD_TYPE_SIZE_MAX];
    bool sandbox; /* a test card of the sandbox (docs/sandbox.md) */
};
QB_MUST_USE bool bank_card_lookup(const char *card_number, struct bank_card_info *out);

/* "SUCCEEDED", "FAILED", "PENDING", "UNKNOWN", "RETURNED". */
const char *bank_status_name(enum bank_status status);

#endif
