/*
 * redpacket.c — red packets: the rows, the send, claim and expire
 * commands, and the view (redpacket.h has the model and the invariants).
 *
 * Each command follows transfer.c's shape: checks that only read first,
 * the payment password (whose count must commit) next, the balance, and
 * only then the writes, which can no longer be refused. A refusal returns
 * QB_OK to the ledger with the refusal as the stored answer; an error
 * returned to the ledger is a storage or internal failure and rolls the
 * whole command back.
 *
 * The packet row is read inside each command from the write connection,
 * so it reflects every earlier command of the batch: two claims of the
 * same packet in one batch see each other, and the claim after the last
 * share sees FINISHED.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crash.h"
#include "base/log.h"
#include "base/money.h"
#include "base/text.h"
#include "wallet/bills.h"
#include "wallet/limits.h"
#include "wallet/notice.h"
#include "wallet/redpacket.h"
#include "wallet/transfer.h"

#define S_PACKET_COLUMNS                                                                           \
    "id, sender_id, type, currency, total_minor, count, greeting, seed_sealed, commitment,"      \
    " status, refunded_minor, entry_id, refund_entry_id, created_at_ms, expires_at_ms,"          \
    " refund_after_ms, finished_at_ms"
#define S_CLAIM_COLUMNS "id, packet_id, user_id, position, amount_minor, entry_id, created_at_ms"

const char *redpacket_type_name(enum redpacket_type type)
{
    return type == REDPACKET_EQUAL ? "equal" : "lucky";
}

const char *redpacket_status_name(enum redpacket_status status)
{
    switch (status) {
    case REDPACKET_ACTIVE:
        return "ACTIVE";
    case REDPACKET_FINISHED:
        return "FINISHED";
    case REDPACKET_EXPIRED:
        return "EXPIRED";
    }
    return "UNKNOWN";
}

bool redpacket_is_closed(const struct redpacket *p, int64_t now_ms)
{
    return p->status != REDPACKET_ACTIVE || now_ms >= p->expires_at_ms;
}

/* --- rows ------------------------------------------------------------------------- */

/* Fills out from a row of S_PACKET_COLUMNS; QB_E_INTERNAL for a row that
 * breaks what the commands keep true. */
static enum qb_error S_packet_row(struct store_stmt *st, struct redpacket *out)
{
    memset(out, 0, sizeof *out);
    store_column_text_copy(st, 0, out->id, sizeof out->id);
    store_column_text_copy(st, 1, out->sender_id, sizeof out->sender_id);
    out->type = (enum redpacket_type)store_column_int64(st, 2);
    char currency[8];
    store_column_text_copy(st, 3, currency, sizeof currency);
    out->currency = currency_find(currency);
    out->total_minor = store_column_int64(st, 4);
    out->count = store_column_int64(st, 5);
    store_column_text_copy(st, 6, out->greeting, sizeof out->greeting);
    size_t sealed_size = store_column_size(st, 7);
    if (sealed_size == sizeof out->seed_sealed)
        memcpy(out->seed_sealed, store_column_blob(st, 7), sealed_size);
    size_t commitment_size = store_column_size(st, 8);
    if (commitment_size == sizeof out->commitment)
        memcpy(out->commitment, store_column_blob(st, 8), commitment_size);
    out->status = (enum redpacket_status)store_column_int64(st, 9);
    out->refunded_minor = store_column_int64(st, 10);
    out->entry_id = store_column_int64(st, 11);
    out->refund_entry_id = store_column_int64(st, 12);
    out->created_at_ms = store_column_int64(st, 13);
    out->expires_at_ms = store_column_int64(st, 14);
    out->refund_after_ms = store_column_int64(st, 15);
    out->finished_at_ms = store_column_int64(st, 16);
    bool lucky = out->type == REDPACKET_LUCKY;
    bool ok =
        out->currency != NULL && (lucky || out->type == REDPACKET_EQUAL) &&
        out->status >= REDPACKET_ACTIVE && out->status <= REDPACKET_EXPIRED && out->count >= 1 &&
        out->count <= REDPACKET_COUNT_MAX && out->total_minor >= out->count &&
        out->refunded_minor >= 0 && out->refunded_minor <= out->total_minor &&
        (!lucky ||
         (sealed_size == sizeof out->seed_sealed && commitment_size == sizeof out->commitment)) &&
        /* An equal packet's total is its share times its count. */
        (lucky || out->total_minor % out->count == 0) &&
        /* Never refunded while it still takes claims. */
        out->refund_after_ms >= out->expires_at_ms;
    return ok ? QB_OK : QB_E_INTERNAL;
}

/* Whether p's sums, just counted from its claims, agree with its row. */
static bool S_packet_sums_valid(const struct redpacket *p)
{
    return p->claimed_count >= 0 && p->claimed_count <= p->count && p->claimed_minor >= 0 &&
           p->claimed_minor <= p->total_minor - p->refunded_minor &&
           (p->status != REDPACKET_ACTIVE ||
            (p->refunded_minor == 0 && p->claimed_count < p->count &&
             p->count - p->claimed_count <= p->total_minor - p->claimed_minor)) &&
           (p->status != REDPACKET_FINISHED ||
            (p->claimed_count == p->count && p->claimed_minor == p->total_minor)) &&
           (p->status != REDPACKET_EXPIRED || p->claimed_minor + p->refunded_minor == p->total_minor);
}

/* Walks p's claims in claim order (the table's key, so the one or few
 * pages that hold them): sets p->claimed_count and p->claimed_minor, and
 * *user_position to user_id's claim position, -1 if none (user_id may be
 * NULL). QB_E_INTERNAL when the claims break the packet's rules: a gap in
 * the positions, a share under 1 fen, a user twice, more than the packet
 * holds. This is the only place the sums come from; nothing stores them. */
static enum qb_error S_packet_claims_walk(struct store *store, struct redpacket *p,
                                          const char *user_id, int64_t *user_position)
{
    if (user_position != NULL)
        *user_position = -1;
    p->claimed_count = 0;
    p->claimed_minor = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT position, amount_minor, user_id FROM red_packet_claims"
                      " WHERE packet_id = $1 ORDER BY position",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, p->id, strlen(p->id));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t amount = store_column_int64(st, 1);
        if (store_column_int64(st, 0) != p->claimed_count || amount < 1 ||
            p->claimed_count >= p->count || amount > p->total_minor - p->claimed_minor) {
            err = QB_E_INTERNAL;
            break;
        }
        if (user_id != NULL && strcmp(store_column_text(st, 2), user_id) == 0) {
            if (*user_position >= 0) {
                err = QB_E_INTERNAL;
                break;
            }
            *user_position = p->claimed_count;
        }
        p->claimed_count++;
        p->claimed_minor += amount;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err == QB_OK && !S_packet_sums_valid(p))
        err = QB_E_INTERNAL;
    return err;
}

/* The packet's row only: its claimed sums are left 0. */
static enum qb_error S_packet_row_read(struct store *store, const char *id, struct redpacket *out)
{
    memset(out, 0, sizeof *out);
    if (id == NULL || !id_is_valid(id, strlen(id), "rp"))
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    if (store_prepare(store, "SELECT " S_PACKET_COLUMNS " FROM red_packets WHERE id = $1", &st) !=
        QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, id, strlen(id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = S_packet_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err == QB_E_INTERNAL)
        log_event(LOG_ERROR, "redpacket.row_invalid", "packet_id=%s", id);
    return err;
}

/* The packet's row and its claimed sums; user_position as in
 * S_packet_claims_walk. */
static enum qb_error S_packet_read_for(struct store *store, const char *id, struct redpacket *out,
                                       const char *user_id, int64_t *user_position)
{
    enum qb_error err = S_packet_row_read(store, id, out);
    if (err == QB_OK)
        err = S_packet_claims_walk(store, out, user_id, user_position);
    if (err == QB_E_INTERNAL)
        log_event(LOG_ERROR, "redpacket.claims_invalid", "packet_id=%s", id);
    return err;
}

static enum qb_error S_packet_read(struct store *store, const char *id, struct redpacket *out)
{
    return S_packet_read_for(store, id, out, NULL, NULL);
}

enum qb_error redpacket_get(struct store *reader, const char *id, struct redpacket *out)
{
    QB_ASSERT(reader != NULL && out != NULL);
    return S_packet_read(reader, id, out);
}

static void S_claim_row(struct store_stmt *st, struct redpacket_claim *out)
{
    memset(out, 0, sizeof *out);
    store_column_text_copy(st, 0, out->id, sizeof out->id);
    store_column_text_copy(st, 1, out->packet_id, sizeof out->packet_id);
    store_column_text_copy(st, 2, out->user_id, sizeof out->user_id);
    out->position = store_column_int64(st, 3);
    out->amount_minor = store_column_int64(st, 4);
    out->entry_id = store_column_int64(st, 5);
    out->created_at_ms = store_column_int64(st, 6);
}

static int S_id_compare(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Whether a user claimed p twice. */
static enum qb_error S_claimers_distinct(struct store *reader, const struct redpacket *p,
                                         bool *distinct)
{
    char users[REDPACKET_COUNT_MAX][ID_TEXT_SIZE_MAX]; /* 4.8 KiB */
    size_t n = 0;
    *distinct = true;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT user_id FROM red_packet_claims WHERE packet_id = $1", &st) !=
        QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, p->id, strlen(p->id));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && n < REDPACKET_COUNT_MAX && (rc = store_step(st)) == STORE_STEP_ROW)
        store_column_text_copy(st, 0, users[n++], ID_TEXT_SIZE_MAX);
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    qsort(users, n, sizeof users[0], S_id_compare);
    for (size_t i = 1; i < n; i++)
        if (strcmp(users[i - 1], users[i]) == 0)
            *distinct = false;
    return err;
}

static enum qb_error S_check(struct store *reader, int64_t *packets, char *problem,
                             size_t problem_size);
static enum qb_error S_check_entries(struct store *reader, const char *sql, bool to_user,
                                     int64_t escrow, const char *message, char *problem,
                                     size_t problem_size);

/* The one integer sql answers. */
static enum qb_error S_count(struct store *reader, const char *sql, int64_t *out)
{
    return store_int64(reader, sql, NULL, 0, out) == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error redpacket_check(struct store *reader, int64_t *packets, char *problem,
                              size_t problem_size)
{
    QB_ASSERT(reader != NULL && packets != NULL && problem != NULL && problem_size > 0);
    *packets = 0;
    problem[0] = '\0';
    /* One read transaction: one snapshot, even beside a running daemon. */
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = S_check(reader, packets, problem, problem_size);
    if (store_rollback(reader) != QB_OK && err == QB_OK)
        err = QB_E_STORAGE;
    return err;
}

static enum qb_error S_check(struct store *reader, int64_t *packets, char *problem,
                             size_t problem_size)
{
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT id FROM red_packets ORDER BY id", &st) != QB_OK)
        return QB_E_STORAGE;
    int64_t claims = 0;
    enum qb_error err = QB_OK;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        char id[ID_TEXT_SIZE_MAX];
        store_column_text_copy(st, 0, id, sizeof id);
        struct redpacket p;
        bool distinct = true;
        err = S_packet_read(reader, id, &p);
        if (err == QB_OK)
            err = S_claimers_distinct(reader, &p, &distinct);
        if (err == QB_OK && !distinct)
            err = QB_E_INTERNAL;
        if (err == QB_E_INTERNAL || err == QB_E_NOT_FOUND) {
            snprintf(problem, problem_size,
                     "red packet %s: its claims break its rules (a gap in the positions, a "
                     "share under 1 fen, a user twice, or sums its status does not allow)",
                     id);
            err = QB_E_INTERNAL;
        }
        claims += p.claimed_count;
        (*packets)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;
    /* Every claim was counted under its packet: none names a packet that
     * does not exist. */
    int64_t stored = 0, posted = 0, matched = 0;
    if (S_count(reader, "SELECT count(*) FROM red_packet_claims", &stored) != QB_OK)
        return QB_E_STORAGE;
    if (stored != claims) {
        snprintf(problem, problem_size,
                 "%" PRId64 " red packet claims name no packet (%" PRId64 " claims, %" PRId64
                 " under their packets)",
                 stored - claims, stored, claims);
        return QB_E_INTERNAL;
    }
    /* And the journal has one entry per claim row, one send entry per
     * packet and one refund entry per packet refunded, each the entry its
     * row names, for its packet: a claim row lost or made up, a rest paid
     * back twice (out of what other packets hold in escrow) or a send lost
     * is caught here, not once the escrow runs dry. */
    const struct {
        const char *what;
        const char *table;  /* the rows */
        const char *entry;  /* their column naming the entry; 0: none (yet) */
        const char *packet; /* their column naming the packet, the entry's ref */
        enum wallet_code code;
    } moves[] = {
        {"claim", "red_packet_claims", "entry_id", "packet_id", WALLET_CODE_RED_PACKET_CLAIM},
        {"send", "red_packets", "entry_id", "id", WALLET_CODE_RED_PACKET_SEND},
        {"refund", "red_packets", "refund_entry_id", "id", WALLET_CODE_RED_PACKET_REFUND},
    };
    /* The entries of all three codes counted in one scan of the journal. */
    _Static_assert(WALLET_CODE_RED_PACKET_SEND == 40 && WALLET_CODE_RED_PACKET_CLAIM == 41 &&
                       WALLET_CODE_RED_PACKET_REFUND == 42,
                   "the codes' range below");
    int64_t posted_by_code[3] = {0};
    struct store_stmt *st_codes = NULL;
    if (store_prepare(reader,
                      "SELECT code, count(*) FROM entries WHERE code BETWEEN 40 AND 42"
                      " GROUP BY code",
                      &st_codes) != QB_OK)
        return QB_E_STORAGE;
    while ((rc = store_step(st_codes)) == STORE_STEP_ROW)
        posted_by_code[store_column_int64(st_codes, 0) - WALLET_CODE_RED_PACKET_SEND] =
            store_column_int64(st_codes, 1);
    store_finalize(st_codes);
    if (rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    char sql[256];
    for (size_t i = 0; i < QB_ARRAY_COUNT(moves); i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s != 0", moves[i].table,
                 moves[i].entry);
        if (S_count(reader, sql, &stored) != QB_OK)
            return QB_E_STORAGE;
        posted = posted_by_code[moves[i].code - WALLET_CODE_RED_PACKET_SEND];
        /* Distinct entries: two rows naming one entry leave another unnamed. */
        snprintf(sql, sizeof sql,
                 "SELECT count(DISTINCT e.id) FROM %s r JOIN entries e ON e.id = r.%s"
                 " WHERE e.code = %d AND e.ref = r.%s",
                 moves[i].table, moves[i].entry, (int)moves[i].code, moves[i].packet);
        if (S_count(reader, sql, &matched) != QB_OK)
            return QB_E_STORAGE;
        if (posted != stored || matched != stored) {
            snprintf(problem, problem_size,
                     "red packet %ss and the journal disagree: %" PRId64 " rows, %" PRId64
                     " %s entries, %" PRId64 " rows naming their packet's entry",
                     moves[i].what, stored, posted, moves[i].what, matched);
            return QB_E_INTERNAL;
        }
    }
    /* And each entry moves its row's money between the row's user and
     * escrow: with every send, claim and refund so, escrow holds for each
     * packet what its row says is left (a total raised on a row, which
     * would let its claims take what other packets hold, is caught here). */
    int64_t escrow = 0;
    err = ledger_account_find(reader, "system:red_packet_escrow", currency_find("CNY"),
                              LEDGER_ACCOUNT_SYSTEM, &escrow);
    if (err == QB_E_NOT_FOUND && *packets == 0)
        return QB_OK; /* no packet was ever sent */
    if (err == QB_E_NOT_FOUND) {
        snprintf(problem, problem_size, "red packets were sent, and there is no escrow account");
        return QB_E_INTERNAL;
    }
    if (err != QB_OK)
        return QB_E_STORAGE;
    /* Each packet's send entry: its total out of its sender's account. */
    err = S_check_entries(
        reader,
        "SELECT p.id, p.id, p.total_minor, u.account_id, p.entry_id, " LEDGER_ENTRY_COLUMNS_OF(
            "e") " FROM red_packets p"
                 " LEFT JOIN users u ON u.id = p.sender_id"
                 " LEFT JOIN entries e ON e.id = p.entry_id",
        false, escrow,
        "red packet %s: its total is not what its send entry moved between its "
        "sender and escrow%.0s",
        problem, problem_size);
    /* Its refund entry, when it was refunded anything: the rest back. */
    if (err == QB_OK)
        err = S_check_entries(reader,
                              "SELECT p.id, p.id, p.refunded_minor, u.account_id, "
                              "p.refund_entry_id, " LEDGER_ENTRY_COLUMNS_OF(
                                  "e") " FROM red_packets p"
                                       " LEFT JOIN users u ON u.id = p.sender_id"
                                       " LEFT JOIN entries e ON e.id = p.refund_entry_id",
                              true, escrow,
                              "red packet %s: its refunded amount is not what its refund entry "
                              "moved between its sender and escrow%.0s",
                              problem, problem_size);
    /* Each claim's: one share of the row's amount into the account of the
     * row's user. A row whose claimer or share was changed after the entry
     * (a share shown that was not paid; a user's claim moved onto another
     * user, which frees the first to claim again) is caught here. */
    if (err == QB_OK)
        err = S_check_entries(
            reader,
            "SELECT c.packet_id, c.id, c.amount_minor, u.account_id, "
            "c.entry_id, " LEDGER_ENTRY_COLUMNS_OF("e") " FROM red_packet_claims c"
                                                        " LEFT JOIN users u ON u.id = c.user_id"
                                                        " LEFT JOIN entries e ON e.id = c.entry_id",
            true, escrow,
            "red packet %s: claim %s is not the share its entry paid to its "
            "claimer",
            problem, problem_size);
    return err;
}

/* Whether entry e moves amount (> 0) out of the account from into the
 * account to, and nothing else. */
static bool S_entry_moves(const struct ledger_entry *e, int64_t amount, int64_t from, int64_t to)
{
    if (e->kind != LEDGER_ENTRY_TRANSFER || e->posting_count != 2 || amount <= 0 || from == 0 ||
        to == 0 || from == to)
        return false;
    int out = e->postings[0].account_id == from ? 0 : 1;
    return e->postings[out].account_id == from && e->postings[out].amount_minor == -amount &&
           e->postings[1 - out].account_id == to && e->postings[1 - out].amount_minor == amount;
}

/* The rows a query reads, each against the entry it names: columns
 * packet id, row id, amount, the account of the row's user, the entry
 * named (0: none, only where amount is 0 too), then the entry
 * (LEDGER_ENTRY_COLUMNS_OF). The entry must move the amount from the
 * user's account into escrow (to_user false: a send) or out of escrow into
 * it (true: a claim, a refund). message names what is wrong, given the
 * packet's id and the row's. */
static enum qb_error S_check_entries(struct store *reader, const char *sql, bool to_user,
                                     int64_t escrow, const char *message, char *problem,
                                     size_t problem_size)
{
    enum { S_ENTRY = 5 };
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t amount = store_column_int64(st, 2);
        int64_t account = store_column_is_null(st, 3) ? 0 : store_column_int64(st, 3);
        struct ledger_entry e;
        bool ok = store_column_int64(st, 4) == 0
                      ? amount == 0
                      : ledger_entry_from_columns(st, S_ENTRY, &e) == QB_OK &&
                            (to_user ? S_entry_moves(&e, amount, escrow, account)
                                     : S_entry_moves(&e, amount, account, escrow));
        if (!ok) {
            char packet[ID_TEXT_SIZE_MAX], id[ID_TEXT_SIZE_MAX];
            store_column_text_copy(st, 0, packet, sizeof packet);
            store_column_text_copy(st, 1, id, sizeof id);
            snprintf(problem, problem_size, message, packet, id);
            err = QB_E_INTERNAL;
        }
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

enum qb_error redpacket_claims_list(struct store *reader, const char *packet_id,
                                    struct redpacket_claim *claims, size_t *count)
{
    QB_ASSERT(reader != NULL && claims != NULL && count != NULL);
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " S_CLAIM_COLUMNS " FROM red_packet_claims WHERE packet_id = $1"
                      " ORDER BY position LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, packet_id, strlen(packet_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, REDPACKET_COUNT_MAX);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < REDPACKET_COUNT_MAX && (rc = store_step(st)) == STORE_STEP_ROW) {
        S_claim_row(st, &claims[*count]);
        /* Positions are dense from 0: the fair split depends on it. */
        if (claims[*count].position != (int64_t)*count || claims[*count].amount_minor < 1)
            err = QB_E_INTERNAL;
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* The claim at position of packet_id: QB_OK, QB_E_NOT_FOUND or QB_E_STORAGE. */
static enum qb_error S_claim_at(struct store *store, const char *packet_id, int64_t position,
                                struct redpacket_claim *out)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT " S_CLAIM_COLUMNS " FROM red_packet_claims"
                      " WHERE packet_id = $1 AND position = $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {STORE_TEXT(packet_id), STORE_INT(position)};
    enum qb_error err = store_bind_params(st, params, QB_ARRAY_COUNT(params));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            S_claim_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

static enum qb_error S_packet_insert(struct ledger_txn *txn, const struct redpacket *p)
{
    bool lucky = p->type == REDPACKET_LUCKY;
    const struct store_param params[] = {
        STORE_TEXT(p->id),
        STORE_TEXT(p->sender_id),
        STORE_INT(p->type),
        STORE_TEXT(p->currency->code),
        STORE_INT(p->total_minor),
        STORE_INT(p->count),
        STORE_TEXT(p->greeting),
        STORE_BLOB(p->seed_sealed, lucky ? sizeof p->seed_sealed : 0),
        STORE_BLOB(p->commitment, lucky ? sizeof p->commitment : 0),
        STORE_INT(p->status),
        STORE_INT(p->entry_id),
        STORE_INT(p->created_at_ms),
        STORE_INT(p->expires_at_ms),
        STORE_INT(p->refund_after_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "INSERT INTO red_packets (id, sender_id, type, currency, total_minor, count,"
                     " greeting, seed_sealed, commitment, status, entry_id, created_at_ms,"
                     " expires_at_ms, refund_after_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                     " $9, $10, $11, $12, $13, $14)",
                     params, QB_ARRAY_COUNT(params));
}

/* Writes the packet's mutable fields. */
static enum qb_error S_packet_update(struct ledger_txn *txn, const struct redpacket *p)
{
    QB_ASSERT(S_packet_sums_valid(p));
    const struct store_param params[] = {
        STORE_TEXT(p->id),          STORE_INT(p->status),          STORE_INT(p->refunded_minor),
        STORE_INT(p->refund_entry_id), STORE_INT(p->refund_after_ms), STORE_INT(p->finished_at_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "UPDATE red_packets SET status = $2, refunded_minor = $3,"
                     " refund_entry_id = $4, refund_after_ms = $5, finished_at_ms = $6"
                     " WHERE id = $1",
                     params, QB_ARRAY_COUNT(params));
}

static enum qb_error S_claim_insert(struct ledger_txn *txn, const struct redpacket_claim *c)
{
    const struct store_param params[] = {
        STORE_TEXT(c->id),          STORE_TEXT(c->packet_id),   STORE_TEXT(c->user_id),
        STORE_INT(c->position),     STORE_INT(c->amount_minor), STORE_INT(c->entry_id),
        STORE_INT(c->created_at_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "INSERT INTO red_packet_claims (" S_CLAIM_COLUMNS
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                     params, QB_ARRAY_COUNT(params));
}

/* --- answers ------------------------------------------------------------------------ */

static json_t *S_hex_json(const uint8_t *data, size_t size)
{
    char hex[2 * 64 + 1];
    QB_ASSERT(size <= 64);
    crypto_hex(data, size, hex);
    return json_string(hex);
}

/* The answer of a send: the packet as it starts. */
static json_t *S_created_json(const struct redpacket *p)
{
    bool lucky = p->type == REDPACKET_LUCKY;
    json_t *per_share = lucky ? json_null() : json_integer(p->total_minor / p->count);
    json_t *commitment = lucky ? S_hex_json(p->commitment, sizeof p->commitment) : json_null();
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:o, s:o, s:o}", "id", p->id,
                     "type", redpacket_type_name(p->type), "status",
                     redpacket_status_name(p->status), "currency", p->currency->code,
                     "total_amount", (json_int_t)p->total_minor, "count", (json_int_t)p->count,
                     "amount_per_share", per_share, "greeting", p->greeting, "commitment",
                     commitment, "created_at", domain_time_json(p->created_at_ms), "expires_at",
                     domain_time_json(p->expires_at_ms));
}

/* The answer of a claim. */
static json_t *S_claim_json(const struct redpacket *p, const struct redpacket_claim *c,
                            const char *sender_name)
{
    char masked[WALLET_MASKED_NAME_SIZE];
    wallet_name_mask(sender_name, masked, sizeof masked);
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:{s:s}, s:o}", "id", c->id, "packet_id",
                     p->id, "amount", (json_int_t)c->amount_minor, "currency", p->currency->code,
                     "position", (json_int_t)c->position, "greeting", p->greeting, "sender",
                     "display_name", masked, "claimed_at", domain_time_json(c->created_at_ms));
}

/* A user's display name, "" for a user who is gone. */
static enum qb_error S_name_of(struct store *store, const char *user_id,
                               char name[IDENTITY_DISPLAY_NAME_SIZE_MAX])
{
    struct identity_user user;
    enum qb_error err = identity_user_get(store, user_id, &user);
    name[0] = '\0';
    if (err == QB_E_NOT_FOUND)
        return QB_OK;
    if (err != QB_OK)
        return QB_E_STORAGE;
    memcpy(name, user.display_name, sizeof user.display_name);
    return QB_OK;
}

/* --- send -------------------------------------------------------------------------- */

static enum qb_error S_send_refuse(struct redpacket_send_cmd *c, enum qb_error err,
                                   const char *message, const json_t *extra)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, message, extra);
}

static enum qb_error S_send_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct redpacket_send_cmd *c = (struct redpacket_send_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL && env->accounts.red_packet_escrow > 0);
    c->outcome = QB_E_INTERNAL;
    c->refused_limit = NULL;
    c->password_try = (struct identity_password_try){0, 0};
    memset(&c->packet, 0, sizeof c->packet);
    if (memchr(c->sender_id, '\0', sizeof c->sender_id) == NULL ||
        memchr(c->greeting, '\0', sizeof c->greeting) == NULL ||
        memchr(c->payment_password, '\0', sizeof c->payment_password) == NULL)
        return S_send_refuse(c, QB_E_PARAM, NULL, NULL);

    /* Step 1: the shape of the packet. */
    const struct currency *cny = currency_find("CNY");
    QB_ASSERT(cny != NULL);
    if (c->type != REDPACKET_LUCKY && c->type != REDPACKET_EQUAL)
        return S_send_refuse(c, QB_E_PARAM, "type must be lucky or equal", NULL);
    if (c->count < 1 || c->count > REDPACKET_COUNT_MAX)
        return S_send_refuse(c, QB_E_PARAM, "count must be from 1 to 100", NULL);
    if (c->currency != NULL && c->currency != cny)
        return S_send_refuse(c, QB_E_BAD_CURRENCY, "red packets are in CNY only", NULL);
    int64_t total = c->total_minor;
    if (c->type == REDPACKET_EQUAL) {
        if (c->per_share_minor <= 0)
            return S_send_refuse(c, QB_E_BAD_AMOUNT,
                                 "amount_per_share must be a positive number of fen", NULL);
        if (!money_mul(c->per_share_minor, c->count, &total))
            return S_send_refuse(c, QB_E_OVERFLOW, NULL, NULL);
    } else {
        if (total <= 0)
            return S_send_refuse(c, QB_E_BAD_AMOUNT,
                                 "total_amount must be a positive number of fen", NULL);
        if (total < c->count)
            return S_send_refuse(c, QB_E_BAD_AMOUNT,
                                 "every share must be at least 1 fen: total_amount must be at "
                                 "least count",
                                 NULL);
    }
    if (total > env->settings.red_packet_total_max_minor) {
        c->refused_limit = "red_packet_max";
        json_t *extra = json_pack("{s:s}", "limit", c->refused_limit);
        if (extra == NULL)
            return QB_E_INTERNAL;
        char message[128], yuan[MONEY_TEXT_SIZE_MAX];
        money_format(env->settings.red_packet_total_max_minor, currency_find("CNY"), yuan,
                     sizeof yuan);
        snprintf(message, sizeof message, "a red packet holds at most %lld fen (%s CNY)",
                 (long long)env->settings.red_packet_total_max_minor, yuan);
        enum qb_error err = S_send_refuse(c, QB_E_LIMIT_EXCEEDED, message, extra);
        json_decref(extra);
        return err;
    }

    /* Step 2: the sender. */
    struct identity_user sender;
    enum qb_error err = identity_txn_user_get(txn, env, c->sender_id, &sender);
    if (err == QB_E_NOT_FOUND)
        return S_send_refuse(c, QB_E_UNAUTHORIZED, NULL, NULL);
    if (err != QB_OK)
        return QB_E_STORAGE;
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, sender.account_id, &account) != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    if (sender.status == IDENTITY_FROZEN ||
        (account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_send_refuse(c, QB_E_ACCOUNT_FROZEN, NULL, NULL);
    QB_ASSERT(account.currency == cny);

    /* Step 3: the payment password; a wrong one counts. */
    err = identity_txn_payment_password_verify(txn, env, sender.id, c->payment_password,
                                               &c->password_try);
    if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED) {
        c->outcome = err;
        return identity_password_refusal_response(&c->cmd, err, &c->password_try);
    }
    if (err == QB_E_PASSWORD_NOT_SET)
        return S_send_refuse(c, err, NULL, NULL);
    if (err != QB_OK)
        return err;

    /* Step 4: the limits (a red packet is a payment from the balance),
     * before the balance, as for a transfer. */
    err = wallet_txn_limits_check(txn, env, &sender, total, &c->refused_limit, NULL);
    if (err == QB_E_LIMIT_EXCEEDED || err == QB_E_OVERFLOW) {
        c->outcome = err;
        return wallet_limits_refusal(&c->cmd, err, c->refused_limit);
    }
    if (err != QB_OK)
        return err;

    /* Step 5: the balance, before anything is charged. */
    if (account.available_minor < total)
        return S_send_refuse(c, QB_E_INSUFFICIENT_BALANCE, NULL, NULL);

    /* Step 6: the packet. Nothing above allowed a refusal from here on. */
    struct redpacket *p = &c->packet;
    /* Time-ordered: the packets open at any moment were sent lately, so
     * their claims (keyed by packet, then position) share the last pages of
     * the claims' table instead of one random page each. */
    p->created_at_ms = ledger_txn_now_ms(txn);
    id_new_ordered(env->rand, p->created_at_ms, "rp", p->id, sizeof p->id);
    snprintf(p->sender_id, sizeof p->sender_id, "%s", sender.id);
    p->type = c->type;
    p->currency = cny;
    p->total_minor = total;
    p->count = c->count;
    /* One that would show nothing, spaces say, is no greeting either. */
    bool greeting_shows = !text_is_blank(c->greeting, strnlen(c->greeting, sizeof c->greeting));
    snprintf(p->greeting, sizeof p->greeting, "%s",
             greeting_shows ? c->greeting : REDPACKET_GREETING_DEFAULT);
    if (p->type == REDPACKET_LUCKY) {
        uint8_t seed[REDPACKET_SEED_SIZE];
        rand_fill(env->rand, seed, sizeof seed);
        redpacket_fair_commitment(seed, p->commitment);
        domain_seal(env, seed, sizeof seed, p->seed_sealed);
        crypto_wipe(seed, sizeof seed);
    }
    p->status = REDPACKET_ACTIVE;
    p->expires_at_ms = p->created_at_ms + env->settings.red_packet_expiry_ms;
    p->refund_after_ms = p->expires_at_ms;
    const struct ledger_leg legs[2] = {{sender.account_id, -total},
                                       {env->accounts.red_packet_escrow, total}};
    err = ledger_txn_post(txn, WALLET_CODE_RED_PACKET_SEND, p->id, legs, 2, &p->entry_id);
    if (err != QB_OK)
        return err;
    QB_ASSERT(p->entry_id > 0);
    if (S_packet_insert(txn, p) != QB_OK)
        return QB_E_STORAGE;
    json_t *body = S_created_json(p);
    if (body == NULL)
        return QB_E_INTERNAL;
    err = domain_response_set(&c->cmd, 201, body);
    json_decref(body);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void redpacket_send_cmd_init(struct redpacket_send_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_send_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- claim ------------------------------------------------------------------------- */

static enum qb_error S_claim_refuse(struct redpacket_claim_cmd *c, enum qb_error err)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, NULL, NULL);
}

/* Stores the answer for claim cl of packet p with status. */
static enum qb_error S_claim_answer(struct redpacket_claim_cmd *c, struct ledger_txn *txn,
                                    const struct redpacket *p, const struct redpacket_claim *cl,
                                    int status)
{
    struct identity_user sender; /* from the writer's cache, as the claimer */
    enum qb_error err = identity_txn_user_get(txn, c->env, p->sender_id, &sender);
    if (err == QB_E_NOT_FOUND)
        sender.display_name[0] = '\0';
    else if (err != QB_OK)
        return QB_E_STORAGE;
    json_t *body = S_claim_json(p, cl, sender.display_name);
    if (body == NULL)
        return QB_E_INTERNAL;
    err = domain_response_set(&c->cmd, status, body);
    json_decref(body);
    return err;
}

/* The share of the next claim of p. */
static enum qb_error S_share_next(const struct domain_env *env, const struct redpacket *p,
                                  int64_t *share)
{
    int64_t remaining = p->total_minor - p->claimed_minor;
    int64_t left = p->count - p->claimed_count;
    QB_ASSERT(left >= 1 && remaining >= left);
    if (p->type == REDPACKET_EQUAL) {
        QB_ASSERT(p->total_minor % p->count == 0);
        *share = p->total_minor / p->count;
        return QB_OK;
    }
    uint8_t seed[REDPACKET_SEED_SIZE];
    if (!domain_unseal(env, p->seed_sealed, sizeof p->seed_sealed, seed)) {
        log_event(LOG_ERROR, "redpacket.seed_unsealable", "packet_id=%s", p->id);
        return QB_E_INTERNAL;
    }
    *share = redpacket_fair_share(seed, p->id, (uint32_t)p->claimed_count, remaining, left);
    crypto_wipe(seed, sizeof seed);
    return QB_OK;
}

static enum qb_error S_claim_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct redpacket_claim_cmd *c = (struct redpacket_claim_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL && env->accounts.red_packet_escrow > 0);
    struct store *store = ledger_txn_store(txn);
    c->outcome = QB_E_INTERNAL;
    c->already = false;
    memset(&c->claim, 0, sizeof c->claim);
    if (memchr(c->packet_id, '\0', sizeof c->packet_id) == NULL ||
        memchr(c->user_id, '\0', sizeof c->user_id) == NULL)
        return S_claim_refuse(c, QB_E_NOT_FOUND);

    /* Step 1: the packet. */
    struct redpacket *p = &c->packet;
    enum qb_error err = S_packet_row_read(store, c->packet_id, p);
    if (err == QB_E_NOT_FOUND)
        return S_claim_refuse(c, QB_E_NOT_FOUND);
    if (err != QB_OK)
        return err;

    /* Step 2: the claimer. */
    struct identity_user user;
    err = identity_txn_user_get(txn, env, c->user_id, &user);
    if (err == QB_E_NOT_FOUND)
        return S_claim_refuse(c, QB_E_UNAUTHORIZED);
    if (err != QB_OK)
        return QB_E_STORAGE;
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, user.account_id, &account) != QB_OK)
        return QB_E_INTERNAL;

    /* Step 3: one claim per user; the second answer is the first, even to
     * a claimer frozen since: the claim was made and its money is theirs,
     * and ACCOUNT_FROZEN would tell them it never was. The walk of the
     * packet's claims gives its sums too. */
    int64_t earlier = -1;
    err = S_packet_claims_walk(store, p, user.id, &earlier);
    if (err == QB_E_INTERNAL)
        log_event(LOG_ERROR, "redpacket.claims_invalid", "packet_id=%s", p->id);
    if (err != QB_OK)
        return err;
    if (earlier >= 0) {
        err = S_claim_at(store, p->id, earlier, &c->claim);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
        c->already = true;
        err = S_claim_answer(c, txn, p, &c->claim, 200);
        if (err == QB_OK)
            c->outcome = QB_OK;
        return err;
    }
    if (user.status == IDENTITY_FROZEN ||
        (account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_claim_refuse(c, QB_E_ACCOUNT_FROZEN);

    /* Step 4: the packet takes claims. */
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (p->status == REDPACKET_EXPIRED || (p->status == REDPACKET_ACTIVE && now_ms >= p->expires_at_ms))
        return S_claim_refuse(c, QB_E_RED_PACKET_EXPIRED);
    if (p->status == REDPACKET_FINISHED)
        return S_claim_refuse(c, QB_E_RED_PACKET_EMPTY);
    QB_ASSERT(p->status == REDPACKET_ACTIVE && p->claimed_count < p->count);

    /* Step 5: the share and its movement. */
    int64_t share = 0;
    err = S_share_next(env, p, &share);
    if (err != QB_OK)
        return err;
    QB_ASSERT(share >= 1 && share <= p->total_minor - p->claimed_minor -
                                          (p->count - p->claimed_count - 1));
    struct redpacket_claim *cl = &c->claim;
    /* Time-ordered, so the claims' id index grows at its end. */
    id_new_ordered(env->rand, now_ms, "rc", cl->id, sizeof cl->id);
    snprintf(cl->packet_id, sizeof cl->packet_id, "%s", p->id);
    snprintf(cl->user_id, sizeof cl->user_id, "%s", user.id);
    cl->position = p->claimed_count;
    cl->amount_minor = share;
    cl->created_at_ms = now_ms;
    const struct ledger_leg legs[2] = {{env->accounts.red_packet_escrow, -share},
                                       {user.account_id, share}};
    err = ledger_txn_post(txn, WALLET_CODE_RED_PACKET_CLAIM, p->id, legs, 2, &cl->entry_id);
    if (err != QB_OK)
        return err;
    err = S_claim_insert(txn, cl);
    if (err != QB_OK)
        return QB_E_STORAGE; /* a taken position too: step 3 made that impossible */
    p->claimed_count++;
    p->claimed_minor += share;
    if (p->claimed_count == p->count) {
        /* The last share took what remained. A claim before the last
         * writes nothing to the packet's row: its sums are its claims. */
        QB_ASSERT(p->claimed_minor == p->total_minor);
        p->status = REDPACKET_FINISHED;
        p->finished_at_ms = now_ms;
        if (S_packet_update(txn, p) != QB_OK)
            return QB_E_STORAGE;
    }
    err = S_claim_answer(c, txn, p, cl, 201);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void redpacket_claim_cmd_init(struct redpacket_claim_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_claim_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- expiry ------------------------------------------------------------------------ */

static enum qb_error S_expire_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    QB_CRASH_POINT("redpacket.refund_in_command");
    struct redpacket_expire_cmd *c = (struct redpacket_expire_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL && env->accounts.red_packet_escrow > 0);
    struct store *store = ledger_txn_store(txn);
    struct redpacket *p = &c->packet;
    c->outcome = QB_E_INTERNAL;
    enum qb_error err = S_packet_read(store, c->packet_id, p);
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (p->status != REDPACKET_ACTIVE || now_ms < p->refund_after_ms) {
        c->outcome = QB_E_CONFLICT; /* finished, refunded already, or not due */
        return QB_OK;
    }
    QB_ASSERT(p->refund_after_ms >= p->expires_at_ms && p->refunded_minor == 0);
    int64_t remaining = p->total_minor - p->claimed_minor;
    QB_ASSERT(p->claimed_count < p->count && remaining >= p->count - p->claimed_count);

    struct identity_user sender;
    err = identity_user_get(store, p->sender_id, &sender);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, sender.account_id, &account) != QB_OK)
        return QB_E_INTERNAL;
    if ((account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0) {
        /* The money waits in escrow; the worker comes back later. */
        p->refund_after_ms = now_ms + REDPACKET_RETRY_MS;
        if (S_packet_update(txn, p) != QB_OK)
            return QB_E_STORAGE;
        c->outcome = QB_E_ACCOUNT_FROZEN;
        return QB_OK;
    }
    const struct ledger_leg legs[2] = {{env->accounts.red_packet_escrow, -remaining},
                                       {sender.account_id, remaining}};
    /* Naming the send entry gives back to the sender's limits what never
     * reached anyone. */
    err = ledger_txn_post_back(txn, WALLET_CODE_RED_PACKET_REFUND, p->id, legs, 2, p->entry_id,
                               &p->refund_entry_id);
    if (err != QB_OK)
        return err;
    p->refunded_minor = remaining;
    p->status = REDPACKET_EXPIRED;
    p->finished_at_ms = now_ms;
    QB_ASSERT(p->claimed_minor + p->refunded_minor == p->total_minor);
    if (S_packet_update(txn, p) != QB_OK)
        return QB_E_STORAGE;
    err = wallet_txn_notice_add(txn, env->rand, sender.id, WALLET_NOTICE_RED_PACKET_REFUNDED, p->id,
                                p->currency, remaining, "");
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void redpacket_expire_cmd_init(struct redpacket_expire_cmd *c, const struct domain_env *env,
                               const char *packet_id)
{
    QB_ASSERT(c != NULL && env != NULL && packet_id != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_expire_run, NULL);
    c->env = env;
    snprintf(c->packet_id, sizeof c->packet_id, "%s", packet_id);
    c->outcome = QB_E_INTERNAL;
}

/* --- the view ---------------------------------------------------------------------- */

static json_t *S_masked_json(const char *name)
{
    char masked[WALLET_MASKED_NAME_SIZE];
    wallet_name_mask(name, masked, sizeof masked);
    return json_string(masked);
}

/* The one view of a packet, GET /v1/red-packets/{id}'s, as viewer_id sees
 * it; for an operator (viewer_id NULL) as the sender sees it, with the user
 * ids and the refund's time the operator's questions need. */
static enum qb_error S_view_json(struct store *reader, const struct domain_env *env,
                                 const char *packet_id, const char *viewer_id, int64_t now_ms,
                                 json_t **out)
{
    QB_ASSERT(reader != NULL && env != NULL && out != NULL);
    *out = NULL;
    struct redpacket p;
    enum qb_error err = S_packet_read(reader, packet_id, &p);
    if (err != QB_OK)
        return err;
    const bool for_operator = viewer_id == NULL;
    if (for_operator)
        viewer_id = p.sender_id;
    struct redpacket_claim claims[REDPACKET_COUNT_MAX];
    size_t claim_count = 0;
    err = redpacket_claims_list(reader, p.id, claims, &claim_count);
    if (err != QB_OK)
        return err;
    if ((int64_t)claim_count != p.claimed_count)
        return QB_E_INTERNAL;
    char name[IDENTITY_DISPLAY_NAME_SIZE_MAX];
    err = S_name_of(reader, p.sender_id, name);
    if (err != QB_OK)
        return err;

    bool closed = redpacket_is_closed(&p, now_ms);
    bool lucky = p.type == REDPACKET_LUCKY;
    /* The fairness proof: the commitment always, the seed once closed. */
    json_t *fairness = json_null();
    if (lucky) {
        json_t *seed_json = json_null();
        if (closed) {
            uint8_t seed[REDPACKET_SEED_SIZE];
            if (!domain_unseal(env, p.seed_sealed, sizeof p.seed_sealed, seed))
                return QB_E_INTERNAL;
            seed_json = S_hex_json(seed, sizeof seed);
            crypto_wipe(seed, sizeof seed);
        }
        fairness = json_pack("{s:s, s:o, s:o}", "scheme", REDPACKET_FAIR_SCHEME, "commitment",
                             S_hex_json(p.commitment, sizeof p.commitment), "seed", seed_json);
    }
    json_t *items = json_array();
    json_t *my_claim = json_null();
    size_t luckiest = 0;
    for (size_t i = 0; items != NULL && i < claim_count; i++) {
        const struct redpacket_claim *cl = &claims[i];
        char claimer[IDENTITY_DISPLAY_NAME_SIZE_MAX];
        if (S_name_of(reader, cl->user_id, claimer) != QB_OK) {
            json_decref(items);
            json_decref(fairness);
            json_decref(my_claim);
            return QB_E_STORAGE;
        }
        bool me = strcmp(cl->user_id, viewer_id) == 0;
        if (me) {
            json_decref(my_claim);
            my_claim = json_integer(cl->amount_minor);
        }
        if (cl->amount_minor > claims[luckiest].amount_minor)
            luckiest = i; /* the earliest of equal amounts keeps it */
        json_t *item = json_pack("{s:I, s:o, s:I, s:o, s:b}", "position", (json_int_t)cl->position,
                                 "display_name", S_masked_json(claimer), "amount",
                                 (json_int_t)cl->amount_minor, "claimed_at",
                                 domain_time_json(cl->created_at_ms), "me", (int)me);
        if (item != NULL && for_operator &&
            json_object_set_new(item, "user_id", json_string(cl->user_id)) != 0) {
            json_decref(item);
            item = NULL;
        }
        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    /* WeChat's 手气最佳: a lucky packet's largest share, once all are claimed. */
    json_t *best = json_null();
    if (items != NULL && lucky && p.status == REDPACKET_FINISHED && claim_count > 0) {
        json_decref(best);
        best = json_deep_copy(json_array_get(items, luckiest));
        if (best != NULL)
            json_object_del(best, "me");
    }
    const char *status = p.status == REDPACKET_ACTIVE && closed
                             ? redpacket_status_name(REDPACKET_EXPIRED)
                             : redpacket_status_name(p.status);
    json_t *per_share = lucky ? json_null() : json_integer(p.total_minor / p.count);
    json_t *finished_at = p.finished_at_ms != 0 ? domain_time_json(p.finished_at_ms) : json_null();
    json_t *body = NULL;
    if (items != NULL && fairness != NULL && best != NULL && my_claim != NULL)
        body = json_pack(
            "{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:{s:o, s:b}, s:I, s:I, s:I, s:o, s:o, s:o,"
            " s:o, s:o, s:o, s:o}",
            "id", p.id, "type", redpacket_type_name(p.type), "status", status, "currency",
            p.currency->code, "total_amount", (json_int_t)p.total_minor, "count",
            (json_int_t)p.count, "amount_per_share", per_share, "greeting", p.greeting, "sender",
            "display_name", S_masked_json(name), "me", (int)(strcmp(p.sender_id, viewer_id) == 0),
            "remaining_amount", (json_int_t)(p.total_minor - p.claimed_minor - p.refunded_minor),
            "remaining_count", (json_int_t)(p.count - p.claimed_count), "refunded_amount",
            (json_int_t)p.refunded_minor, "created_at", domain_time_json(p.created_at_ms),
            "expires_at", domain_time_json(p.expires_at_ms), "finished_at", finished_at, "claims",
            items, "my_claim", my_claim, "luckiest", best, "fairness", fairness);
    else {
        json_decref(items);
        json_decref(fairness);
        json_decref(best);
        json_decref(my_claim);
        json_decref(per_share);
        json_decref(finished_at);
    }
    /* The operator's: whose packet it is, and while its money is in escrow
     * (stored ACTIVE, claims or not) when the worker refunds what is left. */
    if (body != NULL && for_operator &&
        (json_object_set_new(json_object_get(body, "sender"), "user_id",
                             json_string(p.sender_id)) != 0 ||
         json_object_set_new(body, "refund_due_at",
                             p.status == REDPACKET_ACTIVE ? domain_time_json(p.refund_after_ms)
                                                          : json_null()) != 0)) {
        json_decref(body);
        body = NULL;
    }
    if (body == NULL)
        return QB_E_INTERNAL;
    *out = body;
    return QB_OK;
}

/* S_view_json in one read transaction: the packet's row, its claims and
 * the names, read as of one moment. Read one by one, a claim committed
 * between two of the reads made the packet disagree with its claims (one
 * more listed than counted, or ACTIVE with every share gone): a 500 to
 * whoever refreshed a packet being grabbed. */
static enum qb_error S_view_snapshot(struct store *reader, const struct domain_env *env,
                                     const char *packet_id, const char *viewer_id, int64_t now_ms,
                                     json_t **out)
{
    *out = NULL;
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = S_view_json(reader, env, packet_id, viewer_id, now_ms, out);
    if (store_rollback(reader) != QB_OK && err == QB_OK) {
        json_decref(*out);
        *out = NULL;
        err = QB_E_STORAGE;
    }
    return err;
}

enum qb_error redpacket_view_json(struct store *reader, const struct domain_env *env,
                                  const char *packet_id, const char *viewer_id, int64_t now_ms,
                                  json_t **out)
{
    QB_ASSERT(viewer_id != NULL);
    return S_view_snapshot(reader, env, packet_id, viewer_id, now_ms, out);
}

enum qb_error redpacket_operator_view_json(struct store *reader, const struct domain_env *env,
                                           const char *packet_id, int64_t now_ms, json_t **out)
{
    return S_view_snapshot(reader, env, packet_id, NULL, now_ms, out);
}
