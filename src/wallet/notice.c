/*
 * notice.c — a user's notices and how far they have read them (notice.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "wallet/notice.h"
#include "wallet/redpacket.h"

const char *wallet_notice_type_name(enum wallet_notice_type type)
{
    switch (type) {
    case WALLET_NOTICE_TOPUP_SUCCEEDED:
        return "topup_succeeded";
    case WALLET_NOTICE_TOPUP_FAILED:
        return "topup_failed";
    case WALLET_NOTICE_WITHDRAWAL_SUCCEEDED:
        return "withdrawal_succeeded";
    case WALLET_NOTICE_WITHDRAWAL_FAILED:
        return "withdrawal_failed";
    case WALLET_NOTICE_TRANSFER_ARRIVED:
        return "transfer_arrived";
    case WALLET_NOTICE_TRANSFER_FAILED:
        return "transfer_failed";
    case WALLET_NOTICE_TRANSFER_RETURNED:
        return "transfer_returned";
    case WALLET_NOTICE_ORDER_REFUNDED:
        return "order_refunded";
    case WALLET_NOTICE_RED_PACKET_REFUNDED:
        return "red_packet_refunded";
    case WALLET_NOTICE_PAYOUT_WAITING:
        return "payout_waiting";
    case WALLET_NOTICE_PAYOUT_FAILED:
        return "payout_failed";
    case WALLET_NOTICE_WITHDRAWAL_RETURNED:
        return "withdrawal_returned";
    }
    return "unknown";
}

enum qb_error wallet_txn_notice_add(struct ledger_txn *txn, struct qb_rand *rand,
                                    const char *user_id, enum wallet_notice_type type,
                                    const char *ref, const struct currency *currency,
                                    int64_t amount_minor, const char *failure_code)
{
    QB_ASSERT(txn != NULL && rand != NULL && user_id != NULL && user_id[0] != '\0');
    QB_ASSERT(ref != NULL && currency != NULL && amount_minor > 0 && failure_code != NULL);
    QB_ASSERT(strlen(failure_code) < WALLET_FAILURE_SIZE_MAX);
    struct store *store = ledger_txn_store(txn);
    /* As a payment's: the id carries the seq, which must not count the
     * platform's notices. */
    int64_t seq = 0;
    enum qb_error err = wallet_txn_seq_new(txn, "SELECT max(seq) FROM notices", &seq);
    if (err != QB_OK)
        return err;
    char id[ID_TEXT_SIZE_MAX];
    id_new_sequenced(rand, seq, "n", id, sizeof id);
    char owner[LEDGER_OWNER_SIZE_MAX];
    int size = snprintf(owner, sizeof owner, "user:%s", user_id);
    QB_ASSERT(size > 0 && (size_t)size < sizeof owner);
    ledger_txn_owner_changed(txn, owner);
    const struct store_param params[] = {
        STORE_INT(seq),          STORE_TEXT(id),           STORE_TEXT(user_id),
        STORE_INT(type),         STORE_TEXT(ref),          STORE_TEXT(currency->code),
        STORE_INT(amount_minor), STORE_TEXT(failure_code), STORE_INT(ledger_txn_now_ms(txn)),
    };
    return store_run(store,
                     "INSERT INTO notices (seq, id, user_id, type, ref, currency, amount_minor,"
                     " failure_code, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                     params, QB_ARRAY_COUNT(params));
}

enum qb_error wallet_txn_notice_payment(struct ledger_txn *txn, struct qb_rand *rand,
                                        const char *user_id, enum wallet_notice_type type,
                                        const struct wallet_payment *p)
{
    QB_ASSERT(p != NULL);
    return wallet_txn_notice_add(txn, rand, user_id, type, p->id, p->currency, p->amount_minor,
                                 p->failure_code);
}

enum qb_error wallet_notices(struct store *reader, const char *user_id, int64_t before,
                             struct wallet_notice *out, size_t cap, size_t *count)
{
    QB_ASSERT(reader != NULL && user_id != NULL && out != NULL && count != NULL);
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT seq, id, type, ref, currency, amount_minor, failure_code,"
                      " created_at_ms, seq <= coalesce((SELECT read_seq FROM notice_reads"
                      " WHERE user_id = $1), 0) FROM notices"
                      " WHERE user_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {
        STORE_TEXT(user_id), STORE_INT(before > 0 ? before : INT64_MAX), STORE_INT((int64_t)cap)};
    enum qb_error err = store_bind_params(st, params, QB_ARRAY_COUNT(params));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < cap && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct wallet_notice *n = &out[*count];
        memset(n, 0, sizeof *n);
        n->seq = store_column_int64(st, 0);
        store_column_text_copy(st, 1, n->id, sizeof n->id);
        n->type = (enum wallet_notice_type)store_column_int64(st, 2);
        store_column_text_copy(st, 3, n->ref, sizeof n->ref);
        const char *code = store_column_text(st, 4);
        n->currency = currency_find(code != NULL ? code : "");
        n->amount_minor = store_column_int64(st, 5);
        store_column_text_copy(st, 6, n->failure_code, sizeof n->failure_code);
        n->created_at_ms = store_column_int64(st, 7);
        n->read = store_column_int64(st, 8) != 0;
        if (n->currency == NULL)
            err = QB_E_INTERNAL; /* a currency no writer stores */
        else
            (*count)++;
    }
    store_finalize(st);
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    return err;
}

enum qb_error wallet_notice_detail(struct store *reader, const struct wallet_notice *n,
                                   const char *user_id, struct bills_counterparty *party,
                                   char *memo, size_t memo_size)
{
    QB_ASSERT(reader != NULL && n != NULL && user_id != NULL && party != NULL && memo_size > 0);
    memset(party, 0, sizeof *party);
    memo[0] = '\0';
    enum qb_error err;
    if (n->type == WALLET_NOTICE_RED_PACKET_REFUNDED) {
        struct redpacket packet;
        err = redpacket_get(reader, n->ref, &packet);
        if (err == QB_OK)
            snprintf(memo, memo_size, "%s", packet.greeting);
    } else {
        struct wallet_payment p;
        err = wallet_payment_get(reader, n->ref, user_id, &p);
        if (err == QB_OK) {
            snprintf(memo, memo_size, "%s", p.memo);
            bool mine = strcmp(p.user_id, user_id) == 0;
            if (p.kind == WALLET_TOPUP || p.kind == WALLET_WITHDRAWAL) {
                party->kind = BILLS_PARTY_CARD;
                snprintf(party->id, sizeof party->id, "%s", p.card_id);
            } else if (p.kind == WALLET_ORDER_REFUND || p.kind == WALLET_ORDER_PAYMENT ||
                       p.kind == WALLET_MERCHANT_PAYOUT) {
                party->kind = BILLS_PARTY_MERCHANT;
                snprintf(party->id, sizeof party->id, "%s", p.counterparty_id);
            } else {
                party->kind = BILLS_PARTY_USER;
                snprintf(party->id, sizeof party->id, "%s", mine ? p.counterparty_id : p.user_id);
            }
            err = bills_counterparty_name(reader, party);
        }
    }
    if (err == QB_E_NOT_FOUND) {
        log_event(LOG_ERROR, "wallet.notice.ref_missing", "notice=%s ref=%s", n->id, n->ref);
        return QB_E_INTERNAL;
    }
    return err;
}

enum qb_error wallet_notices_unread(struct store *reader, const char *user_id, int64_t *count)
{
    QB_ASSERT(reader != NULL && user_id != NULL && count != NULL);
    const struct store_param params[] = {STORE_TEXT(user_id), STORE_INT(WALLET_NOTICES_UNREAD_MAX)};
    enum qb_error err =
        store_int64(reader,
                    "SELECT count(*) FROM (SELECT 1 FROM notices WHERE user_id = $1 AND seq >"
                    " coalesce((SELECT read_seq FROM notice_reads WHERE user_id = $1), 0)"
                    " LIMIT $2)",
                    params, QB_ARRAY_COUNT(params), count);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error wallet_notices_newest(struct store *reader, const char *user_id, int64_t *seq)
{
    QB_ASSERT(reader != NULL && user_id != NULL && seq != NULL);
    const struct store_param params[] = {STORE_TEXT(user_id)};
    enum qb_error err =
        store_int64(reader, "SELECT coalesce(max(seq), 0) FROM notices WHERE user_id = $1", params,
                    QB_ARRAY_COUNT(params), seq);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_read_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_notices_read_cmd *c = (struct wallet_notices_read_cmd *)cmd;
    c->outcome = QB_E_INTERNAL;
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->up_to_id, '\0', sizeof c->up_to_id) == NULL || c->user_id[0] == '\0') {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    struct store *store = ledger_txn_store(txn);
    int64_t seq = id_sequence(c->up_to_id, strlen(c->up_to_id), "n");
    bool found = false;
    const struct store_param mine[] = {STORE_INT(seq), STORE_TEXT(c->up_to_id),
                                       STORE_TEXT(c->user_id)};
    if (seq > 0 &&
        store_exists(store, "SELECT 1 FROM notices WHERE seq = $1 AND id = $2 AND user_id = $3",
                     mine, QB_ARRAY_COUNT(mine), &found) != QB_OK)
        return QB_E_STORAGE;
    if (!found) {
        c->outcome = QB_E_NOT_FOUND;
        return QB_OK;
    }
    const struct store_param mark[] = {STORE_TEXT(c->user_id), STORE_INT(seq)};
    if (store_run(store,
                  "INSERT INTO notice_reads (user_id, read_seq) VALUES ($1, $2)"
                  " ON CONFLICT (user_id) DO UPDATE SET read_seq = CASE WHEN"
                  " excluded.read_seq > read_seq THEN excluded.read_seq ELSE read_seq END",
                  mark, QB_ARRAY_COUNT(mark)) != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

void wallet_notices_read_cmd_init(struct wallet_notices_read_cmd *c)
{
    QB_ASSERT(c != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_read_run, NULL);
    c->outcome = QB_E_INTERNAL;
}
