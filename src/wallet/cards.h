/*
 * cards.h — binding, listing and unbinding bank cards.
 *
 * Owns: the cards table. A card number (PAN) is stored only sealed
 * (domain_seal: XSalsa20-Poly1305 under a key derived from DATA_DIR/card-key,
 * never in the database) and fingerprinted with HMAC-SHA-256 under
 * env->card_hash_key (number_hash), so that binding the same card twice is
 * found without opening every sealed number. Only the last four digits are
 * ever shown; the number is opened for one bank call at a time
 * (wallet_card_number) and wiped after it. A CVV is never taken.
 *
 * Binding proves control of the card's phone with an SMS code of purpose
 * bind_card sent to that phone, whose target is the whole card number's
 * keyed hash (wallet_card_sms_target: the number_hash of the cards table)
 * and the wallet that asked for it, so a code sent for one card cannot bind
 * another, not even one with the same first six and last four digits, nor
 * bind it in another wallet (someone who knows a card's number and talks its
 * holder into reading out a code the holder's wallet asked for gains
 * nothing), and the number is not kept with the code. That the phone is the
 * card's is the bank's to say (the connector's verify, wallet_card_verify,
 * before the command; its "no" is told only after the code, so that the
 * bank's records cannot be probed without the phone), and every binding of
 * one card carries one phone: a card bound in another wallet binds again
 * only with that binding's phone, as its bank has one phone for it (but the
 * sandbox's test cards, which every tester binds with a phone of their own).
 * Unbinding marks the row removed (removed_at_ms); the row stays, because
 * payments made with the card still name it.
 *
 * Must never: log a card number (log_mask_pan only), put one in a response,
 * or keep one in clear beyond the call that needs it.
 */
#ifndef QB_WALLET_CARDS_H
#define QB_WALLET_CARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bank/bank.h"
#include "domain/domain.h"
#include "domain/rowtag.h"
#include "sms/sms.h"
#include "store/store.h"

#define WALLET_CARDS_PER_USER_MAX 10       /* bound (not removed) cards per user */
#define WALLET_HOLDER_NAME_SIZE_MAX 65     /* 64 bytes of UTF-8 + NUL */
/* "card:", the hex, "/", the user id and its NUL */
#define WALLET_CARD_TARGET_SIZE_MAX (5 + 2 * CRYPTO_SHA256_SIZE + 1 + ID_TEXT_SIZE_MAX)
_Static_assert(WALLET_CARD_TARGET_SIZE_MAX <= SMS_TARGET_SIZE_MAX, "a card's target fits a code's");
#define WALLET_CARD_LAST4_SIZE 5

struct wallet_card {
    int64_t seq;                            /* the list's order and cursor */
    char id[ID_TEXT_SIZE_MAX];              /* "c_..." */
    char user_id[ID_TEXT_SIZE_MAX];
    char bank[BANK_NAME_SIZE_MAX];
    char card_type[BANK_CARD_TYPE_SIZE_MAX];
    char last4[WALLET_CARD_LAST4_SIZE];
    char phone[SMS_PHONE_SIZE_MAX];         /* the phone the bank has for the card */
    int64_t created_at_ms;
    int64_t removed_at_ms;                  /* 0 while bound */
};

/* The SMS target of a bind_card code for card_number, asked for by user_id
 * (the wallet the card is to be bound to): "card:", the hex of the number's
 * keyed hash under env->card_hash_key (what the cards table keeps as
 * number_hash), "/" and the user id; the same for one number and wallet
 * each time and telling nothing of the number without the key. A client
 * asks for the code with the whole number, in its own session; only this
 * is kept. False (out "") when the number is not 16-19 digits or user_id
 * has not the shape of a user id. */
bool wallet_card_sms_target(const struct domain_env *env, const char *user_id,
                            const char *card_number, char out[WALLET_CARD_TARGET_SIZE_MAX]);

/* --- reads, with any connection ----------------------------------------------- */

/* Whether the binding would refuse card_number in user_id's wallet before
 * its code is checked: QB_E_CARD_BOUND when the wallet has it bound,
 * QB_E_LIMIT_EXCEEDED when the wallet has WALLET_CARDS_PER_USER_MAX cards,
 * else QB_OK (QB_E_STORAGE on a failed read). Asked before a bind_card code
 * is sent, so that no message is paid for a binding refused whatever the
 * code; the binding asks again in its own transaction. */
QB_MUST_USE enum qb_error wallet_card_bindable(const struct domain_env *env, struct store *reader,
                                               const char *user_id, const char *card_number);

/* A card of user_id (any user's when NULL). Removed cards are NOT_FOUND
 * unless include_removed; another user's card is NOT_FOUND too. */
QB_MUST_USE enum qb_error wallet_card_get(struct store *reader, const char *id,
                                          const char *user_id, bool include_removed,
                                          struct wallet_card *out);
/* The user's bound cards, newest first, at most count_max, starting below
 * seq `cursor` (0: the newest). *next_cursor is the cursor of the next page,
 * 0 when there is none. */
QB_MUST_USE enum qb_error wallet_cards_list(struct store *reader, const char *user_id,
                                            int64_t cursor, struct wallet_card *items,
                                            size_t count_max, size_t *count, int64_t *next_cursor);
/* The cards table's tagged columns (domain/rowtag.h): a card's wallet,
 * its sealed number and holder, its last four digits. */
extern const struct domain_tagged wallet_cards_tagged;

/* Opens the sealed number of card id (removed ones too: a pending payment
 * still needs it) into out. QB_E_NOT_FOUND; QB_E_INTERNAL when it does not
 * open (a wrong card-key) or its row is not as written (its tag does not
 * hold: logged). The caller wipes out after the one call. */
QB_MUST_USE enum qb_error wallet_card_number(const struct domain_env *env, struct store *reader,
                                             const char *id, char out[BANK_CARD_NUMBER_SIZE_MAX]);

/* Whether each of items (cards of user_id; verified: its real name was
 * verified, whatever its level now, as identity_user.id_number_last4 says)
 * may still move money: usable[i] is false when the wallet's real name is
 * verified and the card's holder is not exactly that name — a card
 * bound before the wallet was verified, in someone else's name. Opens the
 * sealed names through store (a reader, or a command's connection: two
 * short secretbox opens per card, no slow work) and wipes them; neither
 * name leaves this function. Each card's row is checked against its tag
 * (domain/rowtag.h), verified or not. QB_E_NOT_FOUND when a card has no
 * row; QB_E_INTERNAL when a sealed name does not open (a wrong card-key)
 * or a row is not as written (logged). */
QB_MUST_USE enum qb_error wallet_cards_usable(const struct domain_env *env, struct store *store,
                                              const char *user_id, bool verified,
                                              const struct wallet_card *items, size_t count,
                                              bool *usable);

/* --- writes --------------------------------------------------------------------- */

enum wallet_card_op {
    WALLET_CARD_BIND = 1,   /* in: user_id, card_number, holder_name, phone, sms_code → card */
    WALLET_CARD_REMOVE = 2, /* in: user_id, card_id; CONFLICT while a payment with it
                             * is PROCESSING */
};

struct wallet_card_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    enum wallet_card_op op;
    /* In. */
    char user_id[ID_TEXT_SIZE_MAX];
    char card_id[ID_TEXT_SIZE_MAX];
    char card_number[BANK_CARD_NUMBER_SIZE_MAX];
    char holder_name[WALLET_HOLDER_NAME_SIZE_MAX];
    char phone[SMS_PHONE_SIZE_MAX];
    char sms_code[SMS_CODE_DIGITS + 2];
    /* In, for BIND. A binding is two commands around the bank's check of
     * the card: first with check_only (the user, the card not bound yet,
     * the card count, the code right — a wrong one counted — but left
     * live), so that nobody makes Qianbao ask a bank about a card without
     * the phone's code; then, with the bank's word (wallet_card_verify:
     * QB_OK, CARD_PHONE_MISMATCH, CARD_HOLDER_MISMATCH or CARD_DECLINED),
     * the binding itself, which checks it all again and uses up the code. */
    bool check_only;
    bool bank_asked;
    enum qb_error bank_verdict;
    /* Out, when the ledger result is QB_OK. Outcomes besides QB_OK:
     *   BIND    CARD_INVALID, CARD_ALREADY_BOUND, SMS_CODE_INVALID (the wrong
     *           guess counted), LIMIT_EXCEEDED (WALLET_CARDS_PER_USER_MAX),
     *           ACCOUNT_FROZEN (the user is frozen), NOT_FOUND (no user, or
     *           a closed one),
     *           CARD_HOLDER_MISMATCH (not the verified name, or not the
     *           bank's), CARD_PHONE_MISMATCH (not the bank's phone for the
     *           card, or not the phone of its other bindings), CARD_DECLINED
     *           (the bank will not have the card bound)
     *   REMOVE  NOT_FOUND (no such card of the user, or removed already) */
    enum qb_error outcome;
    struct wallet_card card;
};

/* Zeroes c and prepares its command for op; the caller fills the inputs and
 * submits &c->cmd. Finish with wallet_card_cmd_release, which wipes the
 * card number and code. */
void wallet_card_cmd_init(struct wallet_card_cmd *c, const struct domain_env *env,
                          enum wallet_card_op op);
void wallet_card_cmd_release(struct wallet_card_cmd *c);

/* Asks env's bank whether c's card number, holder name and phone are its
 * records for the card, into c->bank_verdict (and c->bank_asked). It waits
 * on the bank: never on the writer or an HTTP thread. QB_OK when the bank
 * answered; QB_E_BANK_UNAVAILABLE when it did not (or there is none): then
 * nothing may be bound yet. */
QB_MUST_USE enum qb_error wallet_card_verify(struct wallet_card_cmd *c);

#endif
