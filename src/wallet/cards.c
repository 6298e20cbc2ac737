/*
 * cards.c — the cards table: bind, list, unbind, and opening a number for
 * one bank call.
 *
 * Binding runs on the writer, so two binds of one card by one user are
 * evaluated one after the other and the second finds the first's
 * number_hash: no unique index is needed for CARD_ALREADY_BOUND, and a
 * removed card may be bound again. The duplicate check comes before the
 * SMS code is consumed, so a refused duplicate leaves the code usable.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/luhn.h"
#include "identity/identity.h"
#include "wallet/cards.h"
#include "wallet/wallet.h"

#define CARD_COLUMNS                                                                               \
    "seq, id, user_id, bank, card_type, last4, phone, created_at_ms, removed_at_ms"
#define CARD_SEALED_SIZE_MAX (BANK_CARD_DIGITS_MAX + DOMAIN_SEAL_OVERHEAD)
#define CARD_HOLDER_SEALED_SIZE_MAX (WALLET_HOLDER_NAME_SIZE_MAX + DOMAIN_SEAL_OVERHEAD)

static bool card_digits_ok(const char *number, size_t *size)
{
    if (number == NULL)
        return false;
    *size = strnlen(number, BANK_CARD_NUMBER_SIZE_MAX);
    return *size >= BANK_CARD_DIGITS_MIN && *size <= BANK_CARD_DIGITS_MAX &&
           strspn(number, "0123456789") == *size;
}

bool wallet_card_sms_target(const struct domain_env *env, const char *user_id,
                            const char *card_number, char out[WALLET_CARD_TARGET_SIZE_MAX])
{
    QB_ASSERT(env != NULL && out != NULL);
    size_t size;
    out[0] = '\0';
    if (!card_digits_ok(card_number, &size) || user_id == NULL ||
        !id_is_valid(user_id, strlen(user_id), "u"))
        return false;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env->card_hash_key, card_number, size, hash);
    memcpy(out, "card:", 5);
    crypto_hex(hash, sizeof hash, out + 5);
    int n = snprintf(out + 5 + 2 * CRYPTO_SHA256_SIZE,
                     WALLET_CARD_TARGET_SIZE_MAX - 5 - 2 * CRYPTO_SHA256_SIZE, "/%s", user_id);
    QB_ASSERT(n > 1 && (size_t)n < WALLET_CARD_TARGET_SIZE_MAX - 5 - 2 * CRYPTO_SHA256_SIZE);
    return true;
}

static void card_row(struct store_stmt *st, struct wallet_card *out)
{
    memset(out, 0, sizeof *out);
    out->seq = store_column_int64(st, 0);
    store_column_text_copy(st, 1, out->id, sizeof out->id);
    store_column_text_copy(st, 2, out->user_id, sizeof out->user_id);
    store_column_text_copy(st, 3, out->bank, sizeof out->bank);
    store_column_text_copy(st, 4, out->card_type, sizeof out->card_type);
    store_column_text_copy(st, 5, out->last4, sizeof out->last4);
    store_column_text_copy(st, 6, out->phone, sizeof out->phone);
    out->created_at_ms = store_column_int64(st, 7);
    out->removed_at_ms = store_column_int64(st, 8);
}

enum qb_error wallet_card_get(struct store *reader, const char *id, const char *user_id,
                              bool include_removed, struct wallet_card *out)
{
    QB_ASSERT(reader != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (id == NULL || !id_is_valid(id, strlen(id), "c"))
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT " CARD_COLUMNS " FROM cards WHERE id = $1", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, id, strlen(id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            card_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err == QB_OK && user_id != NULL && strcmp(out->user_id, user_id) != 0)
        err = QB_E_NOT_FOUND;
    if (err == QB_OK && !include_removed && out->removed_at_ms != 0)
        err = QB_E_NOT_FOUND;
    if (err != QB_OK)
        memset(out, 0, sizeof *out);
    return err;
}

enum qb_error wallet_cards_list(struct store *reader, const char *user_id, int64_t cursor,
                                struct wallet_card *items, size_t count_max, size_t *count,
                                int64_t *next_cursor)
{
    QB_ASSERT(reader != NULL && user_id != NULL && count != NULL && next_cursor != NULL);
    QB_ASSERT(count_max > 0 && count_max < INT32_MAX);
    *count = 0;
    *next_cursor = 0;
    struct store_stmt *st = NULL;
    /* One row more than asked tells whether a next page exists. */
    if (store_prepare(reader,
                      "SELECT " CARD_COLUMNS " FROM cards WHERE user_id = $1 AND seq < $2"
                      " AND removed_at_ms = 0 ORDER BY seq DESC LIMIT $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, cursor > 0 ? cursor : INT64_MAX);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, (int64_t)count_max + 1);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        if (*count == count_max) {
            *next_cursor = items[count_max - 1].seq;
            break;
        }
        card_row(st, &items[(*count)++]);
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    QB_ASSERT(*count <= count_max);
    return err;
}

/* What ties a card's row to the chain key (domain/rowtag.h): which wallet
 * it is in, and the number and name its bank calls carry and its list
 * shows. */
#define S_TIED "id, user_id, number_sealed, holder_name_sealed, last4"
enum { S_TIED_NUMBER = 2, S_TIED_HOLDER = 3 };
const struct domain_tagged wallet_cards_tagged = {"card", "cards", S_TIED, "ttbbt"};

/* Reads card id's tied columns (S_TIED) and its tag with store: *st stands
 * on the row, which is as written, on QB_OK; the caller finalizes it.
 * QB_E_NOT_FOUND; QB_E_INTERNAL for a row not as written (logged). */
static enum qb_error S_card_read(const struct domain_env *env, struct store *store, const char *id,
                                 struct store_stmt **st)
{
    *st = NULL;
    if (store_prepare(store, "SELECT " S_TIED ", tag FROM cards WHERE id = $1", st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(*st, 1, id, strlen(id));
    int rc = err == QB_OK ? store_step(*st) : STORE_STEP_DONE;
    if (err == QB_OK && rc != STORE_STEP_ROW)
        err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    if (err == QB_OK && !domain_row_tag_holds(env->chain_key, &wallet_cards_tagged, *st, 0))
        err = QB_E_INTERNAL;
    if (err != QB_OK) {
        store_finalize(*st);
        *st = NULL;
    }
    return err;
}

enum qb_error wallet_card_number(const struct domain_env *env, struct store *reader, const char *id,
                                 char out[BANK_CARD_NUMBER_SIZE_MAX])
{
    QB_ASSERT(env != NULL && reader != NULL && out != NULL);
    memset(out, 0, BANK_CARD_NUMBER_SIZE_MAX);
    if (id == NULL || !id_is_valid(id, strlen(id), "c"))
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    enum qb_error err = S_card_read(env, reader, id, &st);
    if (err == QB_OK) {
        const uint8_t *sealed = store_column_blob(st, S_TIED_NUMBER);
        size_t sealed_size = store_column_size(st, S_TIED_NUMBER);
        bool shape_ok = sealed != NULL &&
                        sealed_size >= BANK_CARD_DIGITS_MIN + DOMAIN_SEAL_OVERHEAD &&
                        sealed_size <= CARD_SEALED_SIZE_MAX;
        bool opened = shape_ok && domain_unseal(env, sealed, sealed_size, out);
        out[BANK_CARD_NUMBER_SIZE_MAX - 1] = '\0';
        /* opened, but not a number this module sealed: damage too */
        if (!opened || !luhn_is_valid(out, strlen(out))) {
            log_event(LOG_ERROR, "wallet.card.unsealable", "card_id=%s", id);
            err = QB_E_INTERNAL;
        }
    }
    store_finalize(st);
    if (err != QB_OK)
        crypto_wipe(out, BANK_CARD_NUMBER_SIZE_MAX);
    return err;
}

/* Whether card id's row is as written, and (name not NULL) its sealed
 * holder name exactly name. */
static enum qb_error card_holder_is(const struct domain_env *env, struct store *store,
                                    const char *id, const char *name, bool *same)
{
    *same = false;
    char holder[WALLET_HOLDER_NAME_SIZE_MAX];
    memset(holder, 0, sizeof holder);
    struct store_stmt *st = NULL;
    enum qb_error err = S_card_read(env, store, id, &st);
    if (err == QB_OK && name == NULL) {
        *same = true;
    } else if (err == QB_OK) {
        const uint8_t *sealed = store_column_blob(st, S_TIED_HOLDER);
        size_t sealed_size = store_column_size(st, S_TIED_HOLDER);
        bool shape_ok = sealed != NULL && sealed_size > DOMAIN_SEAL_OVERHEAD &&
                        sealed_size <= CARD_HOLDER_SEALED_SIZE_MAX - 1;
        if (!shape_ok || !domain_unseal(env, sealed, sealed_size, holder)) {
            log_event(LOG_ERROR, "wallet.card.holder_unsealable", "card_id=%s", id);
            err = QB_E_INTERNAL;
        } else {
            holder[sealed_size - DOMAIN_SEAL_OVERHEAD] = '\0';
        }
    }
    store_finalize(st);
    if (err == QB_OK && name != NULL)
        *same = strcmp(holder, name) == 0;
    crypto_wipe(holder, sizeof holder);
    return err;
}

enum qb_error wallet_cards_usable(const struct domain_env *env, struct store *store,
                                  const char *user_id, bool verified,
                                  const struct wallet_card *items, size_t count, bool *usable)
{
    QB_ASSERT(env != NULL && store != NULL && user_id != NULL);
    QB_ASSERT(count == 0 || (items != NULL && usable != NULL));
    for (size_t i = 0; i < count; i++)
        usable[i] = true;
    if (count == 0)
        return QB_OK;
    char real_name[IDENTITY_REAL_NAME_SIZE_MAX] = "";
    enum qb_error err = verified ? identity_real_name_get(store, env, user_id, real_name) : QB_OK;
    for (size_t i = 0; err == QB_OK && i < count; i++) {
        QB_ASSERT(strcmp(items[i].user_id, user_id) == 0);
        err = card_holder_is(env, store, items[i].id, real_name[0] != '\0' ? real_name : NULL,
                             &usable[i]);
    }
    crypto_wipe(real_name, sizeof real_name);
    if (err != QB_OK) {
        for (size_t i = 0; i < count; i++)
            usable[i] = false;
    }
    return err;
}

/* --- commands ------------------------------------------------------------------ */

/* The user's bound cards with this number hash, and how many bound cards
 * the user has. */
static enum qb_error card_count(struct store *store, const char *user_id,
                                const uint8_t hash[CRYPTO_SHA256_SIZE], int64_t *same,
                                int64_t *total)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT COUNT(*), COALESCE(SUM(CASE WHEN number_hash = $2 THEN 1 ELSE 0 END), 0)"
                      " FROM cards"
                      " WHERE user_id = $1 AND removed_at_ms = 0",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_blob(st, 2, hash, CRYPTO_SHA256_SIZE);
    if (err == QB_OK) {
        if (store_step(st) == STORE_STEP_ROW) {
            *total = store_column_int64(st, 0);
            *same = store_column_int64(st, 1);
        } else {
            err = QB_E_STORAGE;
        }
    }
    store_finalize(st);
    return err;
}

/* Whether the card of number hash is bound (not removed), in any wallet,
 * with a phone other than phone. */
static enum qb_error card_bound_with_another_phone(struct store *store, const uint8_t *hash,
                                                   const char *phone, bool *other)
{
    const struct store_param params[] = {STORE_BLOB(hash, CRYPTO_SHA256_SIZE), STORE_TEXT(phone)};
    return store_exists(store,
                        "SELECT 1 FROM cards WHERE number_hash = $1 AND removed_at_ms = 0"
                        " AND phone <> $2 LIMIT 1",
                        params, QB_ARRAY_COUNT(params), other);
}

/* card_count's verdict: the card bound already, or the wallet full. */
static enum qb_error card_count_verdict(int64_t same, int64_t total)
{
    if (same > 0)
        return QB_E_CARD_BOUND;
    if (total >= WALLET_CARDS_PER_USER_MAX)
        return QB_E_LIMIT_EXCEEDED;
    return QB_OK;
}

enum qb_error wallet_card_bindable(const struct domain_env *env, struct store *reader,
                                   const char *user_id, const char *card_number)
{
    QB_ASSERT(env != NULL && reader != NULL && user_id != NULL && card_number != NULL);
    uint8_t hash[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env->card_hash_key, card_number, strlen(card_number), hash);
    int64_t same = 0, total = 0;
    enum qb_error err = card_count(reader, user_id, hash, &same, &total);
    return err != QB_OK ? err : card_count_verdict(same, total);
}

static enum qb_error card_bind(struct ledger_txn *txn, struct wallet_card_cmd *c)
{
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    struct bank_card_info info;
    char target[WALLET_CARD_TARGET_SIZE_MAX];
    if (!bank_card_lookup(c->card_number, &info) ||
        !wallet_card_sms_target(env, c->user_id, c->card_number, target) ||
        !identity_display_name_is_valid(c->holder_name) || !phone_is_valid(c->phone)) {
        c->outcome = QB_E_CARD_INVALID;
        return QB_OK;
    }

    /* 1. the user: present, not closed and not frozen. A wallet closed
     * while its bank was asked is gone: its closing ended its cards, and
     * a card bound to it now would stay live for good, holding the card's
     * phone against every other wallet. */
    struct identity_user user;
    enum qb_error err = identity_user_get(store, c->user_id, &user);
    if (err == QB_OK && user.status == IDENTITY_CLOSED)
        err = QB_E_NOT_FOUND;
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    if (user.status == IDENTITY_FROZEN) {
        c->outcome = QB_E_ACCOUNT_FROZEN;
        return QB_OK;
    }

    /* 2. not bound already, not too many */
    size_t size = strlen(c->card_number);
    uint8_t hash[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env->card_hash_key, c->card_number, size, hash);
    int64_t same = 0, total = 0;
    err = card_count(store, c->user_id, hash, &same, &total);
    if (err != QB_OK)
        return err;
    c->outcome = card_count_verdict(same, total);
    if (c->outcome != QB_OK)
        return QB_OK;

    /* 3. the code sent to the card's phone for this very card, asked for
     * by this very wallet; a wrong one is counted, so the command commits
     * with the refusal */
    err = sms_txn_code_check(txn, env, c->phone, SMS_PURPOSE_BIND_CARD, target, c->sms_code,
                             !c->check_only);
    if (err == QB_E_SMS_CODE_INVALID) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (c->check_only) { /* the bank is asked next; nothing written */
        c->outcome = QB_OK;
        return QB_OK;
    }

    /* 4. a wallet verified for a person (a real name verified, whatever
     * its level now: an operator's lowering leaves it verified) binds only
     * that person's cards. Checked after the code, which it uses up, so
     * that nobody can find out the verified name by guessing holders. */
    if (user.id_number_last4[0] != '\0') {
        char real_name[IDENTITY_REAL_NAME_SIZE_MAX];
        err = identity_txn_real_name(txn, env, c->user_id, real_name);
        bool holder_ok = err == QB_OK && (real_name[0] == '\0' ||
                                          strcmp(real_name, c->holder_name) == 0);
        crypto_wipe(real_name, sizeof real_name);
        if (err != QB_OK)
            return err;
        if (!holder_ok) {
            c->outcome = QB_E_CARD_HOLDER_MISMATCH;
            return QB_OK;
        }
    }

    /* 5. the bank's word that holder and phone are its records for the
     * card, and the card's other bindings: one card, one phone at its bank.
     * Told after the code too, which it has used up. */
    QB_ASSERT(c->bank_asked);
    if (c->bank_verdict != QB_OK) {
        c->outcome = c->bank_verdict;
        return QB_OK;
    }
    bool other_phone = false;
    if (!info.sandbox) /* a sandbox test card is every tester's (docs/sandbox.md) */
        err = card_bound_with_another_phone(store, hash, c->phone, &other_phone);
    if (err != QB_OK)
        return err;
    if (other_phone) {
        c->outcome = QB_E_CARD_PHONE_MISMATCH;
        return QB_OK;
    }

    /* 6. the row: number and holder sealed, the rest for display */
    struct wallet_card *card = &c->card;
    memset(card, 0, sizeof *card);
    id_new(env->rand, "c", card->id, sizeof card->id);
    snprintf(card->user_id, sizeof card->user_id, "%s", c->user_id);
    snprintf(card->bank, sizeof card->bank, "%s", info.bank);
    snprintf(card->card_type, sizeof card->card_type, "%s", info.card_type);
    memcpy(card->last4, c->card_number + size - 4, 4);
    card->last4[4] = '\0';
    snprintf(card->phone, sizeof card->phone, "%s", c->phone);
    card->created_at_ms = ledger_txn_now_ms(txn);
    uint8_t number_sealed[CARD_SEALED_SIZE_MAX];
    uint8_t holder_sealed[CARD_HOLDER_SEALED_SIZE_MAX];
    size_t holder_size = strlen(c->holder_name);
    QB_ASSERT(holder_size < WALLET_HOLDER_NAME_SIZE_MAX);
    domain_seal(env, c->card_number, size, number_sealed);
    domain_seal(env, c->holder_name, holder_size, holder_sealed);
    const struct store_param params[] = {
        STORE_TEXT(card->id),
        STORE_TEXT(card->user_id),
        STORE_BLOB(number_sealed, size + DOMAIN_SEAL_OVERHEAD),
        STORE_BLOB(hash, sizeof hash),
        STORE_BLOB(holder_sealed, holder_size + DOMAIN_SEAL_OVERHEAD),
        STORE_TEXT(card->phone),
        STORE_TEXT(card->bank),
        STORE_TEXT(card->card_type),
        STORE_TEXT(card->last4),
        STORE_INT(card->created_at_ms),
    };
    err = store_run(store,
                    "INSERT INTO cards (id, user_id, number_sealed, number_hash,"
                    " holder_name_sealed, phone, bank, card_type, last4, created_at_ms)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    params, QB_ARRAY_COUNT(params));
    /* Tied as written (S_TIED's order), not as read back. */
    const struct domain_tag_field tied[] = {
        DOMAIN_TAG_TEXT(card->id),
        DOMAIN_TAG_TEXT(card->user_id),
        DOMAIN_TAG_BLOB(number_sealed, size + DOMAIN_SEAL_OVERHEAD),
        DOMAIN_TAG_BLOB(holder_sealed, holder_size + DOMAIN_SEAL_OVERHEAD),
        DOMAIN_TAG_TEXT(card->last4),
    };
    _Static_assert(QB_ARRAY_COUNT(tied) == sizeof "ttbbt" - 1, "S_TIED's columns");
    if (err == QB_OK)
        err = domain_row_tag_write(store, env->chain_key, &wallet_cards_tagged, tied);
    /* The bind_card code went to the card's phone: when the wallet's is
     * another, it is told, so that an owner whose session someone else
     * used to bind their own card (to withdraw to) hears of it. */
    if (err == QB_OK && strcmp(user.phone, card->phone) != 0) {
        struct sms_detail bound;
        memset(&bound, 0, sizeof bound);
        _Static_assert(sizeof bound.card_last4 == sizeof card->last4, "four digits and a NUL");
        memcpy(bound.card_last4, card->last4, sizeof bound.card_last4);
        err = sms_txn_notice(txn, env, user.phone, SMS_PURPOSE_NOTICE_CARD_BOUND, &bound);
    }
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    char masked[16];
    log_mask_pan(c->card_number, masked, sizeof masked);
    log_event(LOG_INFO, "wallet.card.bound", "card_id=%s user_id=%s card=%s bank=\"%s\"",
              card->id, card->user_id, masked, card->bank);
    c->outcome = QB_OK;
    return QB_OK;
}

enum qb_error wallet_card_verify(struct wallet_card_cmd *c)
{
    QB_ASSERT(c != NULL && c->env != NULL && c->op == WALLET_CARD_BIND);
    const struct domain_env *env = c->env;
    c->bank_asked = false;
    if (env->bank == NULL || env->bank->ops == NULL || env->bank->ops->verify == NULL)
        return QB_E_BANK_UNAVAILABLE;
    const struct bank_card_check check = {c->card_number, c->holder_name, c->phone};
    struct bank_result result;
    enum qb_error err = env->bank->ops->verify(env->bank, &check, &result);
    char masked[16];
    log_mask_pan(c->card_number, masked, sizeof masked);
    if (err != QB_OK) {
        log_event(LOG_WARN, "wallet.card.verify_unanswered", "card=%s error=%s", masked,
                  error_name(err));
        return QB_E_BANK_UNAVAILABLE;
    }
    if (result.status == BANK_SUCCEEDED) {
        c->bank_verdict = QB_OK;
    } else if (result.status == BANK_FAILED) {
        /* A "no": the phone, the holder, or the card itself (closed,
         * unknown to the bank). Told after the code, like the others. */
        c->bank_verdict = result.failure == QB_E_CARD_PHONE_MISMATCH ||
                                  result.failure == QB_E_CARD_HOLDER_MISMATCH
                              ? result.failure
                              : QB_E_CARD_DECLINED;
    } else {
        log_event(LOG_WARN, "wallet.card.verify_unanswered", "card=%s status=%s", masked,
                  bank_status_name(result.status));
        return QB_E_BANK_UNAVAILABLE;
    }
    c->bank_asked = true;
    log_event(LOG_INFO, "wallet.card.verified", "card=%s verdict=%s", masked,
              c->bank_verdict == QB_OK ? "match" : error_name(c->bank_verdict));
    return QB_OK;
}

static enum qb_error card_remove(struct ledger_txn *txn, struct wallet_card_cmd *c)
{
    struct store *store = ledger_txn_store(txn);
    enum qb_error err = wallet_card_get(store, c->card_id, c->user_id, false, &c->card);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    /* A top-up or withdrawal the bank has not settled still moves money
     * with this card: the card stays until it is SUCCESS or FAILED, as a
     * bank keeps an account open while a transfer to it is under way. */
    const struct store_param pending[] = {STORE_TEXT(c->card.id), STORE_INT(WALLET_PROCESSING)};
    bool in_use;
    if (store_exists(store, "SELECT 1 FROM payments WHERE status = $2 AND card_id = $1 LIMIT 1",
                     pending, QB_ARRAY_COUNT(pending), &in_use) != QB_OK)
        return QB_E_STORAGE;
    if (in_use) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    c->card.removed_at_ms = ledger_txn_now_ms(txn);
    const struct store_param params[] = {STORE_TEXT(c->card.id), STORE_INT(c->card.removed_at_ms)};
    err = store_run(store, "UPDATE cards SET removed_at_ms = $2 WHERE id = $1", params,
                    QB_ARRAY_COUNT(params));
    if (err == QB_OK)
        c->outcome = QB_OK;
    return err;
}

static enum qb_error card_cmd_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_card_cmd *c = (struct wallet_card_cmd *)cmd;
    QB_ASSERT(c->env != NULL);
    c->outcome = QB_E_INTERNAL;
    switch (c->op) {
    case WALLET_CARD_BIND:
        return card_bind(txn, c);
    case WALLET_CARD_REMOVE:
        return card_remove(txn, c);
    }
    QB_UNREACHABLE();
    return QB_E_INTERNAL;
}

void wallet_card_cmd_init(struct wallet_card_cmd *c, const struct domain_env *env,
                          enum wallet_card_op op)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, card_cmd_run, NULL);
    c->env = env;
    c->op = op;
    c->outcome = QB_E_INTERNAL;
}

void wallet_card_cmd_release(struct wallet_card_cmd *c)
{
    crypto_wipe(c->card_number, sizeof c->card_number);
    crypto_wipe(c->sms_code, sizeof c->sms_code);
    crypto_wipe(c->holder_name, sizeof c->holder_name);
    ledger_cmd_release(&c->cmd);
}
