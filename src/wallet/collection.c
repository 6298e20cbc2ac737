/*
 * collection.c — group collections (collection.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/text.h"
#include "wallet/collection.h"

#define S_COLUMNS                                                                                  \
    "seq, id, creator_id, title, currency, amount_minor, count, paid_count, paid_minor, state,"    \
    " created_at_ms, expires_at_ms, closed_at_ms"

enum wallet_collection_state wallet_collection_state(const struct wallet_collection *c,
                                                     int64_t now_ms)
{
    QB_ASSERT(c != NULL);
    if (c->state == WALLET_COLLECTION_OPEN && now_ms >= c->expires_at_ms)
        return WALLET_COLLECTION_EXPIRED;
    return c->state;
}

const char *wallet_collection_state_name(enum wallet_collection_state state)
{
    switch (state) {
    case WALLET_COLLECTION_OPEN:
        return "OPEN";
    case WALLET_COLLECTION_COMPLETED:
        return "COMPLETED";
    case WALLET_COLLECTION_CLOSED:
        return "CLOSED";
    case WALLET_COLLECTION_EXPIRED:
        return "EXPIRED";
    }
    return "UNKNOWN";
}

bool wallet_collection_title_is_valid(const char *title)
{
    size_t size = title != NULL ? strlen(title) : 0;
    return size >= 1 && size < WALLET_COLLECTION_TITLE_SIZE_MAX && text_is_clean(title, size) &&
           !text_is_blank(title, size);
}

json_t *wallet_collection_json(const struct wallet_collection *c, const char *creator_masked,
                               bool creator_me, int64_t now_ms)
{
    QB_ASSERT(c != NULL && c->currency != NULL && creator_masked != NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:{s:s, s:b}, s:o, s:o, s:o}", "id",
                     c->id, "title", c->title, "status",
                     wallet_collection_state_name(wallet_collection_state(c, now_ms)), "currency",
                     c->currency->code, "amount", (json_int_t)c->amount_minor, "count",
                     (json_int_t)c->count, "paid_count", (json_int_t)c->paid_count, "paid_amount",
                     (json_int_t)c->paid_minor, "creator", "display_name", creator_masked, "me",
                     creator_me, "created_at", domain_time_json(c->created_at_ms), "expires_at",
                     domain_time_json(c->expires_at_ms), "closed_at",
                     domain_time_json(c->closed_at_ms));
}

/* --- rows ---------------------------------------------------------------------------- */

static enum qb_error S_row(struct store_stmt *st, struct wallet_collection *c)
{
    memset(c, 0, sizeof *c);
    c->seq = store_column_int64(st, 0);
    store_column_text_copy(st, 1, c->id, sizeof c->id);
    store_column_text_copy(st, 2, c->creator_id, sizeof c->creator_id);
    store_column_text_copy(st, 3, c->title, sizeof c->title);
    char currency[8];
    store_column_text_copy(st, 4, currency, sizeof currency);
    c->currency = currency_find(currency);
    c->amount_minor = store_column_int64(st, 5);
    c->count = store_column_int64(st, 6);
    c->paid_count = store_column_int64(st, 7);
    c->paid_minor = store_column_int64(st, 8);
    c->state = (enum wallet_collection_state)store_column_int64(st, 9);
    c->created_at_ms = store_column_int64(st, 10);
    c->expires_at_ms = store_column_int64(st, 11);
    c->closed_at_ms = store_column_int64(st, 12);
    bool ok = c->currency != NULL && c->amount_minor > 0 && c->count >= 1 &&
              c->count <= WALLET_COLLECTION_COUNT_MAX && c->paid_count >= 0 &&
              c->paid_count <= c->count && c->paid_minor == c->paid_count * c->amount_minor &&
              c->state >= WALLET_COLLECTION_OPEN && c->state <= WALLET_COLLECTION_CLOSED &&
              (c->state == WALLET_COLLECTION_COMPLETED) == (c->paid_count == c->count);
    return ok ? QB_OK : QB_E_INTERNAL;
}

/* The rows sql selects (S_COLUMNS, bound to params), at most room. */
static enum qb_error S_rows(struct store *store, const char *sql, const struct store_param *params,
                            size_t param_count, struct wallet_collection *rows, size_t room,
                            size_t *count)
{
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_params(st, params, param_count);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < room && (rc = store_step(st)) == STORE_STEP_ROW) {
        err = S_row(st, &rows[*count]);
        if (err == QB_OK)
            (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

enum qb_error wallet_collection_get(struct store *reader, const char *id,
                                    struct wallet_collection *out)
{
    QB_ASSERT(reader != NULL && id != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    int64_t seq = id_sequence(id, strlen(id), "gc");
    if (seq <= 0)
        return QB_E_NOT_FOUND;
    const struct store_param params[] = {STORE_INT(seq), STORE_TEXT(id)};
    size_t count = 0;
    enum qb_error err =
        S_rows(reader, "SELECT " S_COLUMNS " FROM collections WHERE seq = $1 AND id = $2", params,
               QB_ARRAY_COUNT(params), out, 1, &count);
    return err == QB_OK && count == 0 ? QB_E_NOT_FOUND : err;
}

enum qb_error wallet_collections_of(struct store *reader, const char *creator_id,
                                    int64_t before_seq, struct wallet_collection *rows, size_t room,
                                    size_t *count)
{
    QB_ASSERT(reader != NULL && creator_id != NULL && count != NULL);
    const struct store_param params[] = {STORE_TEXT(creator_id),
                                         STORE_INT(before_seq > 0 ? before_seq : INT64_MAX),
                                         STORE_INT((int64_t)room)};
    return S_rows(reader,
                  "SELECT " S_COLUMNS " FROM collections WHERE creator_id = $1 AND seq < $2"
                  " ORDER BY seq DESC LIMIT $3",
                  params, QB_ARRAY_COUNT(params), rows, room, count);
}

enum qb_error wallet_collection_payments(struct store *reader, const char *id,
                                         struct wallet_collection_payment *rows, size_t room,
                                         size_t *count)
{
    QB_ASSERT(reader != NULL && id != NULL && count != NULL);
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT payer_id, payment_id, amount_minor, paid_at_ms, returned_at_ms"
                      " FROM collection_payments WHERE collection_id = $1 ORDER BY position"
                      " LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {STORE_TEXT(id), STORE_INT((int64_t)room)};
    enum qb_error err = store_bind_params(st, params, QB_ARRAY_COUNT(params));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < room && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct wallet_collection_payment *p = &rows[*count];
        memset(p, 0, sizeof *p);
        store_column_text_copy(st, 0, p->payer_id, sizeof p->payer_id);
        store_column_text_copy(st, 1, p->payment_id, sizeof p->payment_id);
        p->amount_minor = store_column_int64(st, 2);
        p->paid_at_ms = store_column_int64(st, 3);
        p->returned_at_ms = store_column_int64(st, 4);
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* --- the operator's check -------------------------------------------------------------- */

enum qb_error wallet_collections_check(struct store *reader, int64_t *collections, char *problem,
                                       size_t problem_size)
{
    QB_ASSERT(reader != NULL && collections != NULL && problem != NULL && problem_size > 0);
    *collections = 0;
    /* Every row read through S_row (its own figures consistent), and its
     * figures against its payments' rows not sent back. */
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " S_COLUMNS ", (SELECT count(*) FROM collection_payments p"
                      " WHERE p.collection_id = c.id AND p.returned_at_ms = 0),"
                      " (SELECT coalesce(sum(amount_minor), 0) FROM collection_payments p"
                      " WHERE p.collection_id = c.id AND p.returned_at_ms = 0)"
                      " FROM collections c",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct wallet_collection r;
        err = S_row(st, &r);
        if (err == QB_OK && (store_column_int64(st, 13) != r.paid_count ||
                             store_column_int64(st, 14) != r.paid_minor))
            err = QB_E_INTERNAL;
        if (err == QB_E_INTERNAL)
            snprintf(problem, problem_size,
                     "collection %s: its figures are not the count and sum of its payments", r.id);
        if (err == QB_OK)
            (*collections)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;
    /* Each payment's row against its collection (a row left behind by a
     * collection deleted, or naming none, is read too), the transfer it
     * names, and its return: marked sent back, when, exactly when the
     * transfer was. */
    if (store_prepare(
            reader,
            "SELECT p.payment_id, p.payer_id, p.amount_minor, c.creator_id,"
            " c.amount_minor, c.title, c.id, p.returned_at_ms, p.collection_id"
            " FROM collection_payments p LEFT JOIN collections c ON c.id = p.collection_id",
            &st) != QB_OK)
        return QB_E_STORAGE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        if (store_column_is_null(st, 6)) {
            char payment_id[ID_TEXT_SIZE_MAX], named[ID_TEXT_SIZE_MAX];
            store_column_text_copy(st, 0, payment_id, sizeof payment_id);
            store_column_text_copy(st, 8, named, sizeof named);
            snprintf(problem, problem_size,
                     "collection payment %s names collection %s, which does not exist", payment_id,
                     named);
            err = QB_E_INTERNAL;
            break;
        }
        char payment_id[ID_TEXT_SIZE_MAX], payer[ID_TEXT_SIZE_MAX], creator[ID_TEXT_SIZE_MAX];
        char title[WALLET_COLLECTION_TITLE_SIZE_MAX], id[ID_TEXT_SIZE_MAX];
        store_column_text_copy(st, 0, payment_id, sizeof payment_id);
        store_column_text_copy(st, 1, payer, sizeof payer);
        store_column_text_copy(st, 3, creator, sizeof creator);
        store_column_text_copy(st, 5, title, sizeof title);
        store_column_text_copy(st, 6, id, sizeof id);
        int64_t amount = store_column_int64(st, 4);
        int64_t returned_at_ms = store_column_int64(st, 7);
        struct wallet_payment t;
        err = wallet_payment_get(reader, payment_id, NULL, &t);
        if (err == QB_E_STORAGE)
            break;
        if (err != QB_OK || store_column_int64(st, 2) != amount || t.kind != WALLET_TRANSFER ||
            t.status != WALLET_SUCCESS || t.amount_minor != amount ||
            strcmp(t.user_id, payer) != 0 || strcmp(t.counterparty_id, creator) != 0 ||
            strcmp(t.memo, title) != 0) {
            snprintf(problem, problem_size,
                     "collection %s: payment %s is not a transfer of its amount from its payer "
                     "to its asker",
                     id, payment_id);
            err = QB_E_INTERNAL;
            break;
        }
        struct wallet_payment back;
        err = wallet_transfer_return_find(reader, payment_id, &back);
        if (err == QB_E_NOT_FOUND)
            memset(&back, 0, sizeof back); /* not sent back: returned_at_ms must be 0 */
        else if (err != QB_OK)
            break;
        err = QB_OK;
        if (back.id[0] != '\0' && back.created_at_ms != returned_at_ms) {
            snprintf(problem, problem_size,
                     "collection %s: payment %s was sent back by %s, and its row does not say so",
                     id, payment_id, back.id);
            err = QB_E_INTERNAL;
        } else if (back.id[0] == '\0' && returned_at_ms != 0) {
            snprintf(problem, problem_size,
                     "collection %s: payment %s is marked sent back, and was not", id, payment_id);
            err = QB_E_INTERNAL;
        }
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* --- create --------------------------------------------------------------------------- */

/* Stores the refusal err as the create's answer. */
static enum qb_error S_create_refuse(struct wallet_collection_create_cmd *c, enum qb_error err)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, NULL, NULL);
}

static enum qb_error S_create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_collection_create_cmd *c = (struct wallet_collection_create_cmd *)cmd;
    struct wallet_collection *r = &c->collection;
    c->outcome = QB_E_INTERNAL;
    if (memchr(c->creator_id, '\0', sizeof c->creator_id) == NULL || c->creator_id[0] == '\0' ||
        memchr(c->title, '\0', sizeof c->title) == NULL ||
        !wallet_collection_title_is_valid(c->title) || c->count < 1 ||
        c->count > WALLET_COLLECTION_COUNT_MAX || c->amount_minor <= 0 ||
        c->amount_minor > WALLET_TRANSFER_AMOUNT_MAX_MINOR)
        return S_create_refuse(c, QB_E_PARAM);
    /* Its asker takes every payment: a wallet frozen, or barred from
     * taking money, would have each friend read an open collection and
     * enter their password only to be refused (PAYEE_UNAVAILABLE). */
    struct identity_user creator;
    enum qb_error err = identity_txn_user_get(txn, c->env, c->creator_id, &creator);
    if (err == QB_E_NOT_FOUND)
        return S_create_refuse(c, QB_E_UNAUTHORIZED);
    if (err != QB_OK)
        return QB_E_STORAGE;
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, creator.account_id, &account) != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    if (creator.status == IDENTITY_FROZEN ||
        (account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_create_refuse(c, QB_E_ACCOUNT_FROZEN);
    struct store *store = ledger_txn_store(txn);
    memset(r, 0, sizeof *r);
    err = wallet_txn_seq_new(txn, "SELECT max(seq) FROM collections", &r->seq);
    if (err != QB_OK)
        return err;
    id_new_sequenced(c->env->rand, r->seq, "gc", r->id, sizeof r->id);
    snprintf(r->creator_id, sizeof r->creator_id, "%s", c->creator_id);
    snprintf(r->title, sizeof r->title, "%s", c->title);
    r->currency = currency_find("CNY");
    QB_ASSERT(r->currency != NULL);
    r->amount_minor = c->amount_minor;
    r->count = c->count;
    r->state = WALLET_COLLECTION_OPEN;
    r->created_at_ms = ledger_txn_now_ms(txn);
    r->expires_at_ms = r->created_at_ms + WALLET_COLLECTION_OPEN_MS;
    const struct store_param params[] = {
        STORE_INT(r->seq),
        STORE_TEXT(r->id),
        STORE_TEXT(r->creator_id),
        STORE_TEXT(r->title),
        STORE_TEXT(r->currency->code),
        STORE_INT(r->amount_minor),
        STORE_INT(r->count),
        STORE_INT(r->state),
        STORE_INT(r->created_at_ms),
        STORE_INT(r->expires_at_ms),
    };
    if (store_run(store,
                  "INSERT INTO collections (seq, id, creator_id, title, currency, amount_minor,"
                  " count, paid_count, paid_minor, state, created_at_ms, expires_at_ms,"
                  " closed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9, $10, 0)",
                  params, QB_ARRAY_COUNT(params)) != QB_OK)
        return QB_E_STORAGE;
    /* The answer, kept under the Idempotency-Key: the collection as its
     * asker reads it (GET /v1/collections/{id}), no one paid yet. */
    char masked[IDENTITY_DISPLAY_NAME_SIZE_MAX * 2];
    wallet_name_mask(creator.display_name, masked, sizeof masked);
    json_t *body = wallet_collection_json(r, masked, true, r->created_at_ms);
    if (body == NULL || json_object_set_new(body, "my_payment_id", json_null()) != 0 ||
        json_object_set_new(body, "payments", json_array()) != 0) {
        json_decref(body);
        return QB_E_INTERNAL;
    }
    err = domain_response_set(&c->cmd, 201, body);
    json_decref(body);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void wallet_collection_create_cmd_init(struct wallet_collection_create_cmd *c,
                                       const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_create_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- close ---------------------------------------------------------------------------- */

/* The payments one collection has made, sent back or not: its last row's
 * position. */
static enum qb_error S_made(struct store *store, const char *id, int64_t *made)
{
    const struct store_param of[] = {STORE_TEXT(id)};
    return store_int64(store,
                       "SELECT coalesce(max(position), 0) FROM collection_payments"
                       " WHERE collection_id = $1",
                       of, QB_ARRAY_COUNT(of), made) == QB_OK
               ? QB_OK
               : QB_E_STORAGE;
}

/* Its state once a payment was made or sent back at at_ms, with made rows
 * in all: complete with count paid; one that takes no more payments (the
 * bound on rows reached) closed, so that it shows so and gets no code,
 * unless its time is up (it shows EXPIRED); one that was complete open
 * again. A closed one stays closed. */
static void S_settle(struct wallet_collection *r, int64_t made, int64_t at_ms)
{
    if (r->state == WALLET_COLLECTION_CLOSED)
        return;
    if (r->paid_count == r->count) {
        if (r->state != WALLET_COLLECTION_COMPLETED)
            r->closed_at_ms = at_ms;
        r->state = WALLET_COLLECTION_COMPLETED;
    } else if (made >= WALLET_COLLECTION_PAYMENTS_MAX && at_ms < r->expires_at_ms) {
        r->state = WALLET_COLLECTION_CLOSED;
        r->closed_at_ms = at_ms;
    } else {
        r->state = WALLET_COLLECTION_OPEN;
        r->closed_at_ms = 0;
    }
}

/* Writes c's state, counts and closed_at_ms back to its row. */
static enum qb_error S_update(struct store *store, const struct wallet_collection *c)
{
    const struct store_param params[] = {STORE_INT(c->seq), STORE_INT(c->paid_count),
                                         STORE_INT(c->paid_minor), STORE_INT(c->state),
                                         STORE_INT(c->closed_at_ms)};
    return store_run(store,
                     "UPDATE collections SET paid_count = $2, paid_minor = $3, state = $4,"
                     " closed_at_ms = $5 WHERE seq = $1",
                     params, QB_ARRAY_COUNT(params)) == QB_OK
               ? QB_OK
               : QB_E_STORAGE;
}

static enum qb_error S_close_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_collection_close_cmd *c = (struct wallet_collection_close_cmd *)cmd;
    c->outcome = QB_E_INTERNAL;
    struct store *store = ledger_txn_store(txn);
    enum qb_error err = memchr(c->id, '\0', sizeof c->id) != NULL
                            ? wallet_collection_get(store, c->id, &c->collection)
                            : QB_E_NOT_FOUND;
    if (err == QB_OK && strcmp(c->collection.creator_id, c->creator_id) != 0)
        err = QB_E_NOT_FOUND; /* another user's is none of theirs */
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (wallet_collection_state(&c->collection, ledger_txn_now_ms(txn)) == WALLET_COLLECTION_OPEN) {
        c->collection.state = WALLET_COLLECTION_CLOSED;
        c->collection.closed_at_ms = ledger_txn_now_ms(txn);
        err = S_update(store, &c->collection);
        if (err != QB_OK)
            return err;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

void wallet_collection_close_cmd_init(struct wallet_collection_close_cmd *c,
                                      const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_close_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

enum qb_error wallet_txn_collections_close_all(struct ledger_txn *txn, const char *creator_id)
{
    QB_ASSERT(txn != NULL && creator_id != NULL);
    const struct store_param p[] = {STORE_TEXT(creator_id), STORE_INT(ledger_txn_now_ms(txn)),
                                    STORE_INT(WALLET_COLLECTION_CLOSED)};
    /* state = 1 as a literal: WALLET_COLLECTION_OPEN. */
    return store_run(ledger_txn_store(txn),
                     "UPDATE collections SET state = $3, closed_at_ms = $2"
                     " WHERE creator_id = $1 AND state = 1 AND expires_at_ms > $2",
                     p, QB_ARRAY_COUNT(p)) == QB_OK
               ? QB_OK
               : QB_E_STORAGE;
}

/* --- a payment sent back ------------------------------------------------------------ */

enum qb_error wallet_txn_collection_payment_returned(struct ledger_txn *txn, const char *payment_id,
                                                     int64_t returned_at_ms)
{
    QB_ASSERT(txn != NULL && payment_id != NULL && returned_at_ms > 0);
    struct store *store = ledger_txn_store(txn);
    char id[ID_TEXT_SIZE_MAX] = "";
    int64_t amount = 0, was_returned_at_ms = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT collection_id, amount_minor, returned_at_ms FROM collection_payments"
                      " WHERE payment_id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, payment_id, strlen(payment_id));
    int rc = err == QB_OK ? store_step(st) : STORE_STEP_DONE;
    if (rc == STORE_STEP_ROW) {
        store_column_text_copy(st, 0, id, sizeof id);
        amount = store_column_int64(st, 1);
        was_returned_at_ms = store_column_int64(st, 2);
    }
    store_finalize(st);
    if (err != QB_OK || rc < 0)
        return QB_E_STORAGE;
    if (rc != STORE_STEP_ROW)
        return QB_OK; /* a transfer that paid no collection */
    if (was_returned_at_ms != 0)
        return QB_E_INTERNAL; /* a transfer goes back once: the return refuses a second */

    struct wallet_collection r;
    err = wallet_collection_get(store, id, &r);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    if (amount != r.amount_minor || r.paid_count < 1)
        return QB_E_INTERNAL; /* a row no payment made: the operator's check names it */
    const struct store_param mark[] = {STORE_TEXT(payment_id), STORE_INT(returned_at_ms)};
    if (store_run(store, "UPDATE collection_payments SET returned_at_ms = $2 WHERE payment_id = $1",
                  mark, QB_ARRAY_COUNT(mark)) != QB_OK)
        return QB_E_STORAGE;
    r.paid_count--;
    r.paid_minor -= amount;
    /* One it completed is no longer complete: it takes the missing
     * payment until its time is up, as before it was completed, unless it
     * has made all the payments it may. A closed one stays closed. */
    int64_t made = 0;
    err = S_made(store, r.id, &made);
    if (err != QB_OK)
        return err;
    S_settle(&r, made, returned_at_ms);
    err = S_update(store, &r);
    if (err != QB_OK)
        return err;
    log_event(LOG_INFO, "wallet.collection_payment_returned",
              "collection=%s payment=%s paid=%lld/%lld", r.id, payment_id, (long long)r.paid_count,
              (long long)r.count);
    return QB_OK;
}

/* --- pay ------------------------------------------------------------------------------ */

/* Stores the refusal err (with extra) as the transfer's answer. */
static enum qb_error S_pay_refuse(struct wallet_collection_pay_cmd *c, enum qb_error err,
                                  const json_t *extra)
{
    c->transfer.outcome = err;
    return domain_response_error(&c->transfer.cmd, err, NULL, extra);
}

static enum qb_error S_pay_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_collection_pay_cmd *c = (struct wallet_collection_pay_cmd *)cmd;
    struct wallet_transfer_cmd *t = &c->transfer;
    struct store *store = ledger_txn_store(txn);
    t->outcome = QB_E_INTERNAL;
    if (memchr(c->collection_id, '\0', sizeof c->collection_id) == NULL ||
        memchr(t->payer_id, '\0', sizeof t->payer_id) == NULL)
        return S_pay_refuse(c, QB_E_PARAM, NULL);

    /* The collection, not paid by this payer yet (a payment its asker
     * sent back counts for nothing), open, another's. Their own payment
     * first, whatever became of the collection since: a payer whose answer
     * was lost, and who asks again once their payment completed it or its
     * asker closed it, is told they paid, and which payment, not only that
     * it is closed. */
    struct wallet_collection r;
    enum qb_error err = wallet_collection_get(store, c->collection_id, &r);
    if (err == QB_E_NOT_FOUND)
        return S_pay_refuse(c, QB_E_NOT_FOUND, NULL);
    if (err != QB_OK)
        return err;
    char earlier[ID_TEXT_SIZE_MAX] = "";
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT payment_id FROM collection_payments"
                      " WHERE collection_id = $1 AND payer_id = $2 AND returned_at_ms = 0",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param mine[] = {STORE_TEXT(r.id), STORE_TEXT(t->payer_id)};
    err = store_bind_params(st, mine, QB_ARRAY_COUNT(mine));
    int rc = err == QB_OK ? store_step(st) : STORE_STEP_DONE;
    if (rc == STORE_STEP_ROW)
        store_column_text_copy(st, 0, earlier, sizeof earlier);
    store_finalize(st);
    if (err != QB_OK || rc < 0)
        return QB_E_STORAGE;
    if (earlier[0] != '\0') {
        json_t *extra = json_pack("{s:s}", "payment_id", earlier);
        if (extra == NULL)
            return QB_E_INTERNAL;
        err = S_pay_refuse(c, QB_E_COLLECTION_PAID, extra);
        json_decref(extra);
        return err;
    }
    /* Payments sent back keep their rows: a bounded number of them, the
     * reason it closed when they are all made. */
    int64_t made = 0;
    err = S_made(store, r.id, &made);
    if (err != QB_OK)
        return err;
    if (made >= WALLET_COLLECTION_PAYMENTS_MAX) {
        t->outcome = QB_E_COLLECTION_CLOSED;
        return domain_response_error(&t->cmd, QB_E_COLLECTION_CLOSED,
                                     "this collection takes no more payments: too many were sent "
                                     "back",
                                     NULL);
    }
    if (wallet_collection_state(&r, ledger_txn_now_ms(txn)) != WALLET_COLLECTION_OPEN)
        return S_pay_refuse(c, QB_E_COLLECTION_CLOSED, NULL);
    if (strcmp(r.creator_id, t->payer_id) == 0)
        return S_pay_refuse(c, QB_E_SELF_TRANSFER, NULL);

    /* The transfer to the asker: every check of one, and its answer. */
    snprintf(t->to, sizeof t->to, "%s", r.creator_id);
    t->currency = r.currency;
    t->amount_minor = r.amount_minor;
    snprintf(t->memo, sizeof t->memo, "%s", r.title);
    t->has_arrival = true;
    t->arrival = WALLET_ARRIVAL_INSTANT;
    err = wallet_transfer_txn(txn, t);
    if (err != QB_OK || t->outcome != QB_OK)
        return err;
    QB_ASSERT(t->payment.status == WALLET_SUCCESS && t->payment.amount_minor == r.amount_minor);

    /* The payer's row, after every row before it (those sent back too),
     * and the counts. */
    const struct store_param row[] = {
        STORE_TEXT(r.id),
        STORE_TEXT(t->payer_id),
        STORE_TEXT(t->payment.id),
        STORE_INT(r.amount_minor),
        STORE_INT(t->payment.created_at_ms),
    };
    if (store_run(store,
                  "INSERT INTO collection_payments (collection_id, payer_id, payment_id,"
                  " amount_minor, position, paid_at_ms) VALUES ($1, $2, $3, $4,"
                  " (SELECT coalesce(max(position), 0) + 1 FROM collection_payments"
                  " WHERE collection_id = $1), $5)",
                  row, QB_ARRAY_COUNT(row)) != QB_OK)
        return QB_E_STORAGE;
    r.paid_count++;
    r.paid_minor += r.amount_minor;
    QB_ASSERT(r.paid_count <= r.count);
    S_settle(&r, made + 1, t->payment.created_at_ms);
    err = S_update(store, &r);
    if (err != QB_OK)
        return err;
    log_event(LOG_INFO, "wallet.collection_paid", "collection=%s payment=%s paid=%lld/%lld", r.id,
              t->payment.id, (long long)r.paid_count, (long long)r.count);
    return QB_OK;
}

void wallet_collection_pay_cmd_init(struct wallet_collection_pay_cmd *c,
                                    const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    wallet_transfer_cmd_init(&c->transfer, env);
    c->transfer.cmd.run = S_pay_run; /* the transfer's steps, within the collection's */
}
