/*
 * wallet.c — the payments table and the system accounts.
 *
 * A payment row is written in the same ledger command as the entry that
 * moves its money, so the two can never disagree: both commit or neither.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/audit.h"
#include "merchant/payout.h"
#include "wallet/collection.h"
#include "wallet/limits.h"
#include "wallet/redpacket.h"
#include "wallet/topup.h"
#include "wallet/transfer.h"
#include "wallet/wallet.h"

#define PAYMENT_COLUMNS                                                                            \
    "seq, id, kind, user_id, counterparty_id, card_id, currency, amount_minor, fee_minor, memo,"   \
    " status, failure_code, hold_id, entry_id, bank_ref, created_at_ms, updated_at_ms,"            \
    " next_check_at_ms, arrives_at_ms"
#define PAYMENT_COLUMN_COUNT 19 /* of PAYMENT_COLUMNS, which payment_row reads */

const char *wallet_payment_kind_name(enum wallet_payment_kind kind)
{
    switch (kind) {
    case WALLET_TOPUP:
        return "topup";
    case WALLET_WITHDRAWAL:
        return "withdrawal";
    case WALLET_TRANSFER:
        return "transfer";
    case WALLET_ORDER_PAYMENT:
        return "order_payment";
    case WALLET_ORDER_REFUND:
        return "order_refund";
    case WALLET_TRANSFER_RETURN:
        return "transfer_return";
    case WALLET_MERCHANT_PAYOUT:
        return "merchant_payout";
    }
    return "unknown";
}

const char *wallet_payment_status_name(enum wallet_payment_status status)
{
    switch (status) {
    case WALLET_PROCESSING:
        return "PROCESSING";
    case WALLET_SUCCESS:
        return "SUCCESS";
    case WALLET_FAILED:
        return "FAILED";
    case WALLET_RETURNED:
        return "RETURNED";
    }
    return "UNKNOWN";
}

/* Fills out from a row of PAYMENT_COLUMNS. QB_E_INTERNAL for a row no
 * writer of this module could have made. */
static enum qb_error payment_row(struct store_stmt *st, struct wallet_payment *out)
{
    memset(out, 0, sizeof *out);
    out->seq = store_column_int64(st, 0);
    store_column_text_copy(st, 1, out->id, sizeof out->id);
    out->kind = (enum wallet_payment_kind)store_column_int64(st, 2);
    store_column_text_copy(st, 3, out->user_id, sizeof out->user_id);
    store_column_text_copy(st, 4, out->counterparty_id, sizeof out->counterparty_id);
    store_column_text_copy(st, 5, out->card_id, sizeof out->card_id);
    char currency[8];
    store_column_text_copy(st, 6, currency, sizeof currency);
    out->currency = currency_find(currency);
    out->amount_minor = store_column_int64(st, 7);
    out->fee_minor = store_column_int64(st, 8);
    store_column_text_copy(st, 9, out->memo, sizeof out->memo);
    out->status = (enum wallet_payment_status)store_column_int64(st, 10);
    store_column_text_copy(st, 11, out->failure_code, sizeof out->failure_code);
    out->hold_id = store_column_int64(st, 12);
    out->entry_id = store_column_int64(st, 13);
    store_column_text_copy(st, 14, out->bank_ref, sizeof out->bank_ref);
    out->created_at_ms = store_column_int64(st, 15);
    out->updated_at_ms = store_column_int64(st, 16);
    out->next_check_at_ms = store_column_int64(st, 17);
    out->arrives_at_ms = store_column_int64(st, 18);
    _Static_assert(PAYMENT_COLUMN_COUNT == 19, "payment_row reads each of PAYMENT_COLUMNS");
    bool kind_ok = (out->kind >= WALLET_TOPUP && out->kind <= WALLET_TRANSFER) ||
                   out->kind == WALLET_ORDER_PAYMENT || out->kind == WALLET_ORDER_REFUND ||
                   out->kind == WALLET_TRANSFER_RETURN || out->kind == WALLET_MERCHANT_PAYOUT;
    bool status_ok = (out->status >= WALLET_PROCESSING && out->status <= WALLET_FAILED) ||
                     (out->status == WALLET_RETURNED && out->kind == WALLET_WITHDRAWAL);
    return out->currency != NULL && kind_ok && status_ok ? QB_OK : QB_E_INTERNAL;
}

/* The payments made before migration 15 have seqs below this and are found
 * by id through payments_made_before_seq, whose WHERE has the same number:
 * a literal, as SQLite needs to use that partial index. */
#define PAYMENT_SEQ_BEFORE "1099511627776"
/* A new seq: the time in milliseconds shifted left by this many bits. */
#define PAYMENT_SEQ_TIME_SHIFT 15

static enum qb_error payment_select(struct store *store, const char *sql, int64_t seq,
                                    const char *id, struct wallet_payment *out)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, seq);
    if (err == QB_OK)
        err = store_bind_text(st, 2, id, strlen(id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = payment_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* A payment's row: by the seq its id carries, or for one made before
 * migration 15 (whose id carries no seq) by its id. */
static enum qb_error payment_read(struct store *store, const char *id, const char *user_id,
                                  struct wallet_payment *out)
{
    memset(out, 0, sizeof *out);
    int64_t seq = id != NULL ? id_sequence(id, strlen(id), "p") : -1;
    if (seq < 0)
        return QB_E_NOT_FOUND;
    enum qb_error err = payment_select(
        store, "SELECT " PAYMENT_COLUMNS " FROM payments WHERE seq = $1 AND id = $2", seq, id, out);
    if (err == QB_E_NOT_FOUND)
        err = payment_select(store,
                             "SELECT " PAYMENT_COLUMNS " FROM payments"
                             " INDEXED BY payments_made_before_seq WHERE id = $2"
                             " AND seq < " PAYMENT_SEQ_BEFORE " AND seq <> $1",
                             seq, id, out);
    /* A delayed transfer reaches its payee when it arrives: before, or
     * when it never did, the payee is not told of it. */
    if (err == QB_OK && user_id != NULL && strcmp(out->user_id, user_id) != 0 &&
        (strcmp(out->counterparty_id, user_id) != 0 ||
         (out->kind == WALLET_TRANSFER && out->status != WALLET_SUCCESS)))
        err = QB_E_NOT_FOUND;
    if (err != QB_OK)
        memset(out, 0, sizeof *out);
    return err;
}

enum qb_error wallet_backlog_read(struct store *reader, struct wallet_backlog *out)
{
    memset(out, 0, sizeof *out);
    struct store_stmt *st = NULL;
    /* The PROCESSING rows are the worker's partial index (payments_pending). */
    if (store_prepare(reader,
                      "SELECT kind, COUNT(*), MIN(created_at_ms), MIN(next_check_at_ms)"
                      " FROM payments WHERE status = 1 GROUP BY kind",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    int rc;
    while ((rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t kind = store_column_int64(st, 0);
        if (kind == WALLET_TOPUP) {
            out->topups = store_column_int64(st, 1);
            out->topup_oldest_ms = store_column_int64(st, 2);
        } else if (kind == WALLET_WITHDRAWAL) {
            out->withdrawals = store_column_int64(st, 1);
            out->withdrawal_oldest_ms = store_column_int64(st, 2);
        } else if (kind == WALLET_TRANSFER) {
            out->transfers_delayed = store_column_int64(st, 1);
            out->transfer_next_check_ms = store_column_int64(st, 3);
        }
    }
    store_finalize(st);
    return rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

/* Steps st (bound, or err from its binding) into out, up to cap rows,
 * their number in *count, and finalizes it. */
static enum qb_error payments_rows(struct store_stmt *st, enum qb_error err,
                                   struct wallet_payment *out, size_t cap, size_t *count)
{
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < cap && (rc = store_step(st)) == STORE_STEP_ROW) {
        err = payment_row(st, &out[*count]);
        if (err == QB_OK)
            (*count)++;
    }
    store_finalize(st);
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    return err;
}

struct wallet_account_map {
    struct S_slot {
        char id[ID_TEXT_SIZE_MAX]; /* "": an empty slot */
        int64_t account;
    } * slots;
    size_t mask; /* slots - 1, a power of two less one */
    size_t count;
};

static size_t S_map_slot(const struct wallet_account_map *m, const char *id)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const char *c = id; *c != '\0'; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    size_t i = (size_t)h & m->mask;
    while (m->slots[i].id[0] != '\0' && strcmp(m->slots[i].id, id) != 0)
        i = (i + 1) & m->mask;
    return i;
}

/* Doubles m's slots, keeping it at most half full. */
static void S_map_grow(struct wallet_account_map *m)
{
    struct wallet_account_map bigger = {calloc(2 * (m->mask + 1), sizeof *m->slots),
                                        2 * m->mask + 1, m->count};
    QB_ASSERT(bigger.slots != NULL); /* as the ledger's check's accounts */
    for (size_t i = 0; i <= m->mask; i++)
        if (m->slots[i].id[0] != '\0')
            bigger.slots[S_map_slot(&bigger, m->slots[i].id)] = m->slots[i];
    free(m->slots);
    *m = bigger;
}

enum qb_error wallet_account_map_read(struct store *reader, const char *sql,
                                      struct wallet_account_map **out)
{
    QB_ASSERT(reader != NULL && sql != NULL && out != NULL);
    *out = NULL;
    struct wallet_account_map *m = calloc(1, sizeof *m);
    QB_ASSERT(m != NULL);
    m->mask = 1023;
    m->slots = calloc(m->mask + 1, sizeof *m->slots);
    QB_ASSERT(m->slots != NULL);
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK) {
        wallet_account_map_free(m);
        return QB_E_STORAGE;
    }
    int rc;
    while ((rc = store_step(st)) == STORE_STEP_ROW) {
        char id[ID_TEXT_SIZE_MAX];
        store_column_text_copy(st, 0, id, sizeof id);
        if (id[0] == '\0')
            continue; /* no row can name it */
        if (2 * (m->count + 1) > m->mask + 1)
            S_map_grow(m);
        struct S_slot *slot = &m->slots[S_map_slot(m, id)];
        m->count += slot->id[0] == '\0';
        memcpy(slot->id, id, sizeof id);
        slot->account = store_column_int64(st, 1);
    }
    store_finalize(st);
    if (rc != STORE_STEP_DONE) {
        wallet_account_map_free(m);
        return QB_E_STORAGE;
    }
    *out = m;
    return QB_OK;
}

int64_t wallet_account_map_get(const struct wallet_account_map *m, const char *id)
{
    QB_ASSERT(m != NULL && id != NULL);
    return id[0] != '\0' ? m->slots[S_map_slot(m, id)].account : 0;
}

void wallet_account_map_free(struct wallet_account_map *m)
{
    if (m == NULL)
        return;
    free(m->slots);
    free(m);
}

enum qb_error wallet_payments_each(struct store *reader, const char *where, bool with_entry,
                                   wallet_payment_each_fn each, void *arg)
{
    QB_ASSERT(reader != NULL && where != NULL && each != NULL);
    enum { S_ENTRY = PAYMENT_COLUMN_COUNT }; /* the first column after PAYMENT_COLUMNS */
    char sql[1024];
    int n = snprintf(sql, sizeof sql,
                     "SELECT p.*%s FROM (SELECT " PAYMENT_COLUMNS
                     " FROM payments WHERE %s) p%s ORDER BY p.seq",
                     with_entry ? ", " LEDGER_ENTRY_COLUMNS_OF("e") : "", where,
                     with_entry ? " LEFT JOIN entries e ON e.id = p.entry_id" : "");
    QB_ASSERT(n > 0 && (size_t)n < sizeof sql);
    struct wallet_account_map *users = NULL;
    enum qb_error err = wallet_account_map_read(reader, WALLET_USERS_ACCOUNTS_SQL, &users);
    struct store_stmt *st = NULL;
    if (err == QB_OK && store_prepare(reader, sql, &st) != QB_OK)
        err = QB_E_STORAGE;
    struct wallet_payment_parties row;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        row.well_formed = payment_row(st, &row.payment) == QB_OK;
        row.user_account = wallet_account_map_get(users, row.payment.user_id);
        row.counterparty_account = wallet_account_map_get(users, row.payment.counterparty_id);
        row.entry_read = with_entry && ledger_entry_from_columns(st, S_ENTRY, &row.entry) == QB_OK;
        err = each(&row, arg);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    if (st != NULL)
        store_finalize(st);
    wallet_account_map_free(users);
    return err;
}

enum qb_error wallet_payments_processing(struct store *reader, int64_t after,
                                         struct wallet_payment *out, size_t cap, size_t *count)
{
    QB_ASSERT(reader != NULL && out != NULL && count != NULL && after >= 0);
    *count = 0;
    struct store_stmt *st = NULL;
    /* status = 1 as a literal: the PROCESSING rows are payments_pending's
     * (partial index), a few among millions of settled ones. Kinds 1 and 2:
     * what waits on the bank (a delayed transfer waits on its time). */
    if (store_prepare(reader,
                      "SELECT " PAYMENT_COLUMNS " FROM payments INDEXED BY payments_pending"
                      " WHERE status = 1 AND kind IN (1, 2) AND seq > $1 ORDER BY seq LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, after);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)cap);
    return payments_rows(st, err, out, cap, count);
}

enum qb_error wallet_bank_payments(struct store *reader, int64_t from_ms, int64_t to_ms,
                                   int64_t after, struct wallet_payment *out, size_t cap,
                                   size_t *count)
{
    QB_ASSERT(reader != NULL && out != NULL && count != NULL && after >= 0);
    QB_ASSERT(from_ms >= 0 && from_ms <= to_ms && to_ms < (1LL << (63 - PAYMENT_SEQ_TIME_SHIFT)));
    *count = 0;
    struct store_stmt *st = NULL;
    /* kind IN (1, 2) as literals: the terms of the partial index
     * payments_bank, written out so that SQLite uses it. */
    if (store_prepare(reader,
                      "SELECT " PAYMENT_COLUMNS " FROM payments INDEXED BY payments_bank"
                      " WHERE kind IN (1, 2) AND seq > $1 AND seq >= $2 AND seq < $3"
                      " ORDER BY seq LIMIT $4",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, after);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, from_ms << PAYMENT_SEQ_TIME_SHIFT);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, to_ms << PAYMENT_SEQ_TIME_SHIFT);
    if (err == QB_OK)
        err = store_bind_int64(st, 4, (int64_t)cap);
    return payments_rows(st, err, out, cap, count);
}

enum qb_error wallet_payments_by_bank_ref(struct store *reader, const char *bank_ref, int64_t after,
                                          struct wallet_payment *out, size_t cap, size_t *count)
{
    QB_ASSERT(reader != NULL && bank_ref != NULL && bank_ref[0] != '\0');
    QB_ASSERT(out != NULL && count != NULL && after >= 0);
    *count = 0;
    struct store_stmt *st = NULL;
    /* bank_ref <> '' written out: the terms of the partial index. */
    if (store_prepare(reader,
                      "SELECT " PAYMENT_COLUMNS " FROM payments INDEXED BY payments_bank_ref"
                      " WHERE bank_ref = $1 AND bank_ref <> '' AND seq > $2 ORDER BY seq LIMIT $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, bank_ref, strlen(bank_ref));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, after);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, (int64_t)cap);
    return payments_rows(st, err, out, cap, count);
}

enum qb_error wallet_withdrawals_held_at(struct store *reader, const char *account_label,
                                         int64_t at_ms, int64_t *held_minor)
{
    QB_ASSERT(account_label != NULL && account_label[0] != '\0');
    _Static_assert(WALLET_WITHDRAWAL == 2 && WALLET_PROCESSING == 1 && WALLET_RETURNED == 4,
                   "the SQL's constants");
    /* The terms of the partial index payments_account_withdrawals, written
     * out so that SQLite uses it. A returned one's updated_at is its
     * return's; its hold was captured when it was paid, the entry its
     * return names (at the latest the return's own). */
    static const char sql[] =
        "SELECT coalesce(sum(amount_minor + fee_minor), 0) FROM payments"
        " WHERE kind = 2 AND counterparty_id <> '' AND counterparty_id = $1"
        " AND created_at_ms < $2 AND (status = 1 OR (updated_at_ms >= $2 AND (status <> 4 OR"
        "  (SELECT paid.created_at_ms FROM entries AS back JOIN entries AS paid"
        "   ON paid.id = back.ref_entry_id WHERE back.id = payments.entry_id) >= $2)))";
    *held_minor = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, account_label, strlen(account_label));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, at_ms);
    if (err == QB_OK && store_step(st) == STORE_STEP_ROW)
        *held_minor = store_column_int64(st, 0);
    else
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

enum qb_error wallet_user_close_blockers(const struct domain_env *env, struct store *store,
                                         const struct identity_user *user,
                                         const struct ledger_account_view *view, uint32_t *blockers)
{
    QB_ASSERT(env != NULL && store != NULL && user != NULL && view != NULL && blockers != NULL);
    QB_ASSERT(view->id == user->account_id);
    _Static_assert(REDPACKET_ACTIVE == 1, "the SQL's constant");
    const struct store_param p[] = {STORE_TEXT(user->id)};
    bool active;
    /* The terms of the partial index red_packets_sender_active. */
    if (store_exists(store, "SELECT 1 FROM red_packets WHERE status = 1 AND sender_id = $1 LIMIT 1",
                     p, QB_ARRAY_COUNT(p), &active) != QB_OK)
        return QB_E_STORAGE;
    if (active)
        *blockers |= DOMAIN_CLOSE_RED_PACKET;
    /* A payment still at the bank: a withdrawal holds its money, but a
     * top-up holds nothing, and its money, once the bank confirms, could
     * never reach a closed account. Not a merchant's transfer waiting for
     * the user to take it: no route lets them refuse it, so a merchant
     * could keep the wallet open for ever; it goes back to the merchant at
     * its end (merchant/payout.h). */
    _Static_assert(WALLET_PROCESSING == 1 && WALLET_MERCHANT_PAYOUT == 8, "the SQL's constants");
    bool processing;
    if (store_exists(store,
                     "SELECT 1 FROM payments WHERE status = 1 AND user_id = $1 AND kind != 8 "
                     "LIMIT 1",
                     p, QB_ARRAY_COUNT(p), &processing) != QB_OK)
        return QB_E_STORAGE;
    if (processing)
        *blockers |= DOMAIN_CLOSE_PENDING;
    /* At KYC level 1 what leaves the balance, withdrawn or paid, counts
     * against the lifetime allowance (limits.h). When what is left of it
     * cannot take the balance, "withdraw it or spend it" would send the
     * owner round in a circle: the limit is named instead, to be raised.
     * A balance too small for a withdrawal and its fee leaves only by a
     * payment, which must take all of it. */
    if ((*blockers & DOMAIN_CLOSE_BALANCE) != 0 && user->kyc_level <= 1 &&
        view->available_minor > 0) {
        struct wallet_spending spending;
        enum qb_error err = wallet_spending_get(store, view, user, &spending);
        if (err != QB_OK)
            return err;
        int64_t most = 0, fee = 0;
        wallet_withdrawal_max(&env->settings, view->available_minor,
                              env->settings.limit_per_payment_minor,
                              wallet_withdrawal_free_left(&env->settings, &spending), &most, &fee);
        if (wallet_kyc_lifetime_keeps(&env->settings, &spending, user->kyc_level,
                                      most > 0 ? most : view->available_minor))
            *blockers = (*blockers & ~(uint32_t)DOMAIN_CLOSE_BALANCE) | DOMAIN_CLOSE_KYC_LIFETIME;
    }
    return QB_OK;
}

enum qb_error wallet_txn_user_closed(struct ledger_txn *txn, const char *user_id)
{
    QB_ASSERT(txn != NULL && user_id != NULL);
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_INT(ledger_txn_now_ms(txn))};
    enum qb_error err =
        store_run(ledger_txn_store(txn),
                  "UPDATE cards SET removed_at_ms = $2 WHERE user_id = $1 AND removed_at_ms = 0", p,
                  QB_ARRAY_COUNT(p));
    return err == QB_OK ? wallet_txn_collections_close_all(txn, user_id) : QB_E_STORAGE;
}

enum qb_error wallet_payment_get(struct store *reader, const char *id, const char *user_id,
                                 struct wallet_payment *out)
{
    QB_ASSERT(reader != NULL && out != NULL);
    return payment_read(reader, id, user_id, out);
}

enum qb_error wallet_txn_payment_get(struct ledger_txn *txn, const char *id,
                                     struct wallet_payment *out)
{
    QB_ASSERT(txn != NULL && out != NULL);
    return payment_read(ledger_txn_store(txn), id, NULL, out);
}

enum qb_error wallet_txn_seq_new(struct ledger_txn *txn, const char *last_sql, int64_t *seq)
{
    QB_ASSERT(txn != NULL && last_sql != NULL && seq != NULL);
    int64_t now_ms = ledger_txn_now_ms(txn);
    QB_ASSERT(now_ms >= 0 && now_ms < (1LL << (63 - PAYMENT_SEQ_TIME_SHIFT)));
    int64_t last = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn), last_sql, &st) != QB_OK)
        return QB_E_STORAGE;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW)
        last = store_column_int64(st, 0); /* NULL, no row yet: 0 */
    store_finalize(st);
    if (rc != STORE_STEP_ROW)
        return QB_E_STORAGE;
    if (last == INT64_MAX)
        return QB_E_OVERFLOW;
    *seq = now_ms << PAYMENT_SEQ_TIME_SHIFT;
    if (*seq <= last)
        *seq = last + 1;
    return QB_OK;
}

enum qb_error wallet_txn_payment_new(struct ledger_txn *txn, struct qb_rand *rand,
                                     struct wallet_payment *p)
{
    QB_ASSERT(txn != NULL && rand != NULL && p != NULL);
    memset(p, 0, sizeof *p);
    enum qb_error err = wallet_txn_seq_new(txn, "SELECT max(seq) FROM payments", &p->seq);
    if (err != QB_OK)
        return err;
    id_new_sequenced(rand, p->seq, "p", p->id, sizeof p->id);
    p->created_at_ms = p->updated_at_ms = ledger_txn_now_ms(txn);
    return QB_OK;
}

enum qb_error wallet_txn_payment_insert(struct ledger_txn *txn, const struct wallet_payment *p)
{
    QB_ASSERT(p->currency != NULL && p->amount_minor > 0 && p->fee_minor >= 0);
    QB_ASSERT(p->seq > 0 && p->seq == id_sequence(p->id, strlen(p->id), "p"));
    const struct store_param params[] = {
        STORE_INT(p->seq),
        STORE_TEXT(p->id),
        STORE_INT(p->kind),
        STORE_TEXT(p->user_id),
        STORE_TEXT(p->counterparty_id),
        STORE_TEXT(p->card_id),
        STORE_TEXT(p->currency->code),
        STORE_INT(p->amount_minor),
        STORE_INT(p->fee_minor),
        STORE_TEXT(p->memo),
        STORE_INT(p->status),
        STORE_TEXT(p->failure_code),
        STORE_INT(p->hold_id),
        STORE_INT(p->entry_id),
        STORE_TEXT(p->bank_ref),
        STORE_INT(p->created_at_ms),
        STORE_INT(p->updated_at_ms),
        STORE_INT(p->next_check_at_ms),
        STORE_INT(p->arrives_at_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "INSERT INTO payments (" PAYMENT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6,"
                     " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                     params, QB_ARRAY_COUNT(params));
}

enum qb_error wallet_txn_payment_update(struct ledger_txn *txn, const struct wallet_payment *p)
{
    QB_ASSERT(p->seq > 0);
    const struct store_param params[] = {
        STORE_INT(p->seq),           STORE_INT(p->status),           STORE_TEXT(p->failure_code),
        STORE_INT(p->hold_id),       STORE_INT(p->entry_id),         STORE_TEXT(p->bank_ref),
        STORE_INT(p->updated_at_ms), STORE_INT(p->next_check_at_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "UPDATE payments SET status = $2, failure_code = $3, hold_id = $4,"
                     " entry_id = $5, bank_ref = $6, updated_at_ms = $7, next_check_at_ms = $8"
                     " WHERE seq = $1",
                     params, QB_ARRAY_COUNT(params));
}

/* --- system accounts ----------------------------------------------------------- */

struct accounts_cmd {
    struct ledger_cmd cmd;
    struct domain_system_accounts out;
};

static enum qb_error account_ensure(struct ledger_txn *txn, const char *owner, int64_t floor_minor,
                                    int64_t *id)
{
    const struct currency *cny = currency_find("CNY");
    struct ledger_account_spec spec = {owner, cny, LEDGER_ACCOUNT_SYSTEM, 0, floor_minor};
    enum qb_error err = ledger_txn_account_create(txn, &spec, id);
    if (err != QB_E_CONFLICT)
        return err;
    return ledger_account_find(ledger_txn_store(txn), owner, cny, LEDGER_ACCOUNT_SYSTEM, id);
}

static enum qb_error accounts_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct accounts_cmd *c = (struct accounts_cmd *)cmd;
    enum qb_error err =
        account_ensure(txn, "system:bank_clearing", LEDGER_FLOOR_NONE, &c->out.bank_clearing);
    if (err == QB_OK)
        err = account_ensure(txn, "system:fee_income", LEDGER_FLOOR_NONE, &c->out.fee_income);
    /* Escrow only ever holds what senders put in: a floor of 0 makes the
     * ledger itself refuse a claim or refund that would pay out more. */
    if (err == QB_OK)
        err = account_ensure(txn, "system:red_packet_escrow", 0, &c->out.red_packet_escrow);
    return err;
}

enum qb_error wallet_accounts_setup(struct ledger *ledger, struct domain_env *env)
{
    struct accounts_cmd c;
    memset(&c, 0, sizeof c);
    ledger_cmd_init(&c.cmd, accounts_run, NULL);
    enum qb_error err = ledger_execute(ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (err == QB_OK)
        env->accounts = c.out;
    return err;
}

/* --- the operator's check ------------------------------------------------------ */

enum qb_error wallet_check_in_snapshot(struct store *reader,
                                       enum qb_error (*check)(struct store *, int64_t *, char *,
                                                              size_t),
                                       int64_t *count, char *problem, size_t problem_size)
{
    QB_ASSERT(reader != NULL && check != NULL && count != NULL);
    QB_ASSERT(problem != NULL && problem_size > 0);
    *count = 0;
    problem[0] = '\0';
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = check(reader, count, problem, problem_size);
    if (store_rollback(reader) != QB_OK && err == QB_OK)
        err = QB_E_STORAGE;
    return err;
}

enum qb_error wallet_entries_check(struct store *reader, uint16_t code_min, uint16_t code_max,
                                   const struct wallet_entries_want *want, size_t want_count,
                                   const char *maker, char *problem, size_t problem_size)
{
    enum { S_WANT_MAX = 8 };
    QB_ASSERT(reader != NULL && code_min <= code_max && want != NULL && maker != NULL);
    QB_ASSERT(want_count > 0 && want_count <= S_WANT_MAX);
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT code, kind, count(*) FROM entries WHERE code BETWEEN $1 AND $2"
                      " GROUP BY code, kind",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param range[2] = {STORE_INT(code_min), STORE_INT(code_max)};
    if (store_bind_params(st, range, 2) != QB_OK) {
        store_finalize(st);
        return QB_E_STORAGE;
    }
    int64_t have[S_WANT_MAX] = {0};
    int64_t stray_code = 0, stray_kind = 0, stray_count = 0;
    int rc;
    while ((rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t code = store_column_int64(st, 0), kind = store_column_int64(st, 1);
        int64_t count = store_column_int64(st, 2);
        size_t i = 0;
        while (i < want_count && (want[i].code != code || (int64_t)want[i].kind != kind))
            i++;
        if (i < want_count) {
            have[i] = count;
        } else if (stray_count == 0) {
            stray_code = code;
            stray_kind = kind;
            stray_count = count;
        }
    }
    store_finalize(st);
    if (rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    for (size_t i = 0; i < want_count; i++) {
        if (have[i] != want[i].count) {
            snprintf(problem, problem_size, "the journal holds %" PRId64 " %s, %s %" PRId64,
                     have[i], want[i].what, want[i].rows, want[i].count);
            return QB_E_INTERNAL;
        }
    }
    if (stray_count != 0) {
        snprintf(problem, problem_size,
                 "the journal holds %" PRId64 " entries of code %" PRId64 " and kind %" PRId64
                 ", which no %s makes",
                 stray_count, stray_code, stray_kind, maker);
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

/* Every user's and merchant's account is its own: the account its row
 * names (users.account_id, merchants.account_id) is owned by it
 * (accounts.owner "user:ID", "merchant:MCHID"), an owner the chain key
 * ties to the account's row. A user's row pointed at another's account
 * would let its holder spend that account's money as their own. */
static enum qb_error S_owners_check(struct store *reader, char *problem, size_t problem_size)
{
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT 'user', u.id, u.account_id FROM users u LEFT JOIN accounts a "
                      "ON a.id = u.account_id WHERE a.owner IS NULL OR a.owner <> 'user:' || u.id "
                      "UNION ALL "
                      "SELECT 'merchant', m.mchid, m.account_id FROM merchants m LEFT JOIN "
                      "accounts a ON a.id = m.account_id "
                      "WHERE a.owner IS NULL OR a.owner <> 'merchant:' || m.mchid LIMIT 1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW)
        snprintf(problem, problem_size, "%s %s names account %lld, which is not its own",
                 store_column_text(st, 0), store_column_text(st, 1),
                 (long long)store_column_int64(st, 2));
    store_finalize(st);
    return rc == STORE_STEP_ROW ? QB_E_INTERNAL : rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

enum qb_error wallet_verify(struct store *reader, const uint8_t *chain_key, bool chain_key_new,
                            int64_t close_at_ms, struct ledger_verify_report *report,
                            struct wallet_verify_counts *counts, ledger_verify_progress_fn progress,
                            void *progress_arg)
{
    QB_ASSERT(reader != NULL && report != NULL && counts != NULL);
    memset(counts, 0, sizeof *counts);
    struct ledger_options rule = {0};
    wallet_ledger_options(&rule); /* the spending sums as the daemon counts them */
    rule.chain_key = chain_key;
    rule.chain_key_new = chain_key_new;
    enum qb_error rc = ledger_verify(reader, &rule, close_at_ms, report, progress, progress_arg);
    char *problem = report->problem;
    size_t size = sizeof report->problem;
    if (rc == QB_OK)
        rc = S_owners_check(reader, problem, size);
    if (rc == QB_OK)
        rc = redpacket_check(reader, &counts->red_packets, problem, size);
    if (rc == QB_OK)
        rc = wallet_transfer_returns_check(reader, &counts->transfer_returns, problem, size);
    if (rc == QB_OK)
        rc = wallet_delayed_transfers_check(reader, &counts->delayed_transfers, problem, size);
    if (rc == QB_OK)
        rc = merchant_payouts_check(reader, &counts->payouts, problem, size);
    if (rc == QB_OK)
        rc = merchant_orders_check(reader, &counts->orders, problem, size);
    if (rc == QB_OK)
        rc = wallet_collections_check(reader, &counts->collections, problem, size);
    if (rc == QB_OK)
        rc = wallet_bank_payments_check(reader, &counts->bank_payments, problem, size);
    if (rc == QB_OK)
        rc = wallet_withdrawn_check(reader, problem, size);
    /* Last: a payment of another kind edited into a transfer is named
     * by its own kind's check first. */
    if (rc == QB_OK)
        rc = wallet_instant_transfers_check(reader, &counts->instant_transfers, problem, size);
    /* The rows that say where money goes and who acts for a merchant. */
    if (rc == QB_OK)
        rc = domain_row_tags_check(reader, chain_key, &wallet_cards_tagged, &counts->cards, problem,
                                   size);
    if (rc == QB_OK)
        rc = domain_row_tags_check(reader, chain_key, &merchant_tagged, &counts->merchants, problem,
                                   size);
    /* And the operators' audit trail: the record of who moved or read what. */
    if (rc == QB_OK)
        rc = domain_audit_check(reader, chain_key, &counts->audit_rows, problem, size);
    return rc;
}

enum qb_error wallet_rebuild_checkpoints(struct store *writer, const uint8_t *chain_key,
                                         bool chain_key_new, struct ledger_rebuild_report *out,
                                         ledger_verify_progress_fn progress, void *progress_arg)
{
    struct ledger_options rule = {0};
    wallet_ledger_options(&rule);
    rule.chain_key = chain_key;
    rule.chain_key_new = chain_key_new;
    return ledger_rebuild_checkpoints(writer, &rule, out, progress, progress_arg);
}
