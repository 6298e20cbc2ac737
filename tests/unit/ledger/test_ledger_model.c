/*
 * test_ledger_model.c — the ledger against an independent in-memory model.
 *
 * A seeded generator (test_seed(); replay with QB_TEST_SEED=<seed>) produces
 * a long stream of commands: transfers among ~50 accounts (users, merchants,
 * credit lines, system accounts without floor, USD accounts, frozen ones),
 * multi-leg payments with a fee, holds with and without deadlines, full,
 * partial and out-of-range captures, voids, clock advances that expire holds,
 * idempotent retries with the same and a different body, commands that post
 * and then fail, commands that carry on after a refused operation, and
 * invalid operations of every kind. Each command is predicted by the model in
 * this file — result, per-operation result, entry id, replay — and submitted
 * with ledger_submit so that many commands share one transaction. After every
 * batch each account's committed view must equal the model; every so often
 * the ledger is closed and reopened and compared again; at the end
 * ledger_verify must pass and agree with the model's counts.
 *
 * The model is deliberately naive (linear look-ups, an undo log per command)
 * and written from ledger.h alone. Where the contract leaves the order of two
 * checks open (a frozen account that would also be overdrawn), the generator
 * never combines them, so every prediction has exactly one right answer.
 * Hold deadlines are odd milliseconds and the clock only ever shows even
 * ones, so "at the deadline" never has to be decided either.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/rand.h"
#include "ledger_fixture.h"
#include "test.h"

#define M_COMMANDS_DEFAULT 100000
#define M_RESTART_EVERY 20000
#define M_BATCH_MAX 512
#define M_ACCOUNTS_MAX 64
#define M_PRINCIPALS 3
#define M_UNDO_MAX 64

enum m_role {
    ROLE_USER,
    ROLE_MERCHANT,
    ROLE_CREDIT,
    ROLE_SYS,
    ROLE_USD_USER,
    ROLE_USD_SYS,
    ROLE_DEBIT_FROZEN,  /* a CNY system account, no floor, DEBIT_FROZEN */
    ROLE_CREDIT_FROZEN, /* a CNY system account, no floor, CREDIT_FROZEN */
};

struct m_account {
    int64_t id;
    enum m_role role;
    const struct currency *currency;
    enum ledger_account_kind kind;
    uint32_t flags;
    int64_t floor_minor;
    int64_t balance_minor;
    int64_t held_minor;
};

struct m_hold {
    int64_t id; /* the HOLD entry's id */
    size_t debit;
    size_t credit;
    int64_t amount_minor;
    int64_t expires_at_ms;
    bool open;
};

enum m_undo_kind { UNDO_ACCOUNT, UNDO_HOLD_RESOLVED };
struct m_undo {
    enum m_undo_kind kind;
    size_t index;
    int64_t balance_minor;
    int64_t held_minor;
};

/* One idempotency record: (principal, key) -> body fingerprint and answer. */
struct m_record {
    int principal;
    uint32_t key;
    uint64_t body_tag;
    enum qb_error result;
    char *response; /* the original's response, copied when it completed */
    size_t response_size;
    bool response_known;
};

struct model {
    struct m_account accounts[M_ACCOUNTS_MAX];
    size_t account_count;
    struct m_hold *holds;
    size_t hold_count, hold_cap;
    struct m_undo undo[M_UNDO_MAX];
    size_t undo_count;
    int64_t next_entry_id;
    int64_t last_transfer_id; /* a committed non-hold entry, for bad hold ids */
    int64_t now_ms;
    struct m_record *records;
    size_t record_count, record_cap;
    int32_t *record_index[M_PRINCIPALS]; /* key -> record, -1 when none */
    uint32_t key_next;
    uint32_t key_cap;
    /* indexes by role */
    size_t normal[M_ACCOUNTS_MAX]; /* CNY accounts without flags */
    size_t normal_count;
    size_t sys[8], sys_count;
    size_t usd_user[4], usd_user_count;
    size_t usd_sys, debit_frozen, credit_frozen;
    size_t user0; /* the first user account */
};

/* What the model expects of one submitted command. */
struct m_pred {
    enum qb_error result;
    bool replayed;
    bool mismatch;
    int run_count;
    size_t ops_run;
    enum qb_error op_result[FX_OPS_MAX];
    int64_t op_id[FX_OPS_MAX];
    int32_t record; /* -1 when the command had no key */
    bool record_new;
};

static struct qb_rand rng;
static const char *const principals[M_PRINCIPALS] = {"user:p0", "user:p1", "merchant:p2"};

static uint64_t rnd(uint64_t bound) { return rand_below(&rng, bound); }
static bool chance(unsigned percent) { return rnd(100) < percent; }

/* --- the model ------------------------------------------------------------ */

static int64_t m_find(struct model *m, int64_t account_id)
{
    for (size_t i = 0; i < m->account_count; i++)
        if (m->accounts[i].id == account_id)
            return (int64_t)i;
    return -1;
}

static int64_t m_find_hold(struct model *m, int64_t hold_id)
{
    size_t lo = 0, hi = m->hold_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->holds[mid].id == hold_id)
            return (int64_t)mid;
        if (m->holds[mid].id < hold_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void m_log_account(struct model *m, size_t index)
{
    ASSERT(m->undo_count < M_UNDO_MAX);
    m->undo[m->undo_count++] = (struct m_undo){UNDO_ACCOUNT, index, m->accounts[index].balance_minor,
                                               m->accounts[index].held_minor};
}

static void m_log_resolve(struct model *m, size_t hold_index)
{
    ASSERT(m->undo_count < M_UNDO_MAX);
    m->undo[m->undo_count++] = (struct m_undo){UNDO_HOLD_RESOLVED, hold_index, 0, 0};
}

static bool m_below_floor(const struct m_account *a, int64_t balance, int64_t held)
{
    return a->floor_minor != LEDGER_FLOOR_NONE && balance - held < a->floor_minor;
}

static enum qb_error m_post(struct model *m, const struct fx_op *op, int64_t *id)
{
    if (op->leg_count < 2 || op->leg_count > LEDGER_POSTINGS_MAX)
        return QB_E_PARAM;
    int64_t idx[LEDGER_POSTINGS_MAX + 1];
    for (size_t i = 0; i < op->leg_count; i++) {
        if (op->legs[i].amount_minor == 0)
            return QB_E_PARAM;
        for (size_t j = 0; j < i; j++)
            if (op->legs[j].account_id == op->legs[i].account_id)
                return QB_E_PARAM;
    }
    for (size_t i = 0; i < op->leg_count; i++) {
        idx[i] = m_find(m, op->legs[i].account_id);
        if (idx[i] < 0)
            return QB_E_NOT_FOUND;
    }
    for (size_t i = 0; i < op->leg_count; i++) {
        const struct currency *c = m->accounts[idx[i]].currency;
        int64_t sum = 0;
        for (size_t j = 0; j < op->leg_count; j++)
            if (m->accounts[idx[j]].currency == c)
                sum += op->legs[j].amount_minor;
        if (sum != 0)
            return QB_E_PARAM;
    }
    for (size_t i = 0; i < op->leg_count; i++) {
        const struct m_account *a = &m->accounts[idx[i]];
        int64_t amount = op->legs[i].amount_minor;
        if (amount < 0 && (a->flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)))
            return QB_E_ACCOUNT_FROZEN;
        if (amount > 0 && (a->flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)))
            return QB_E_ACCOUNT_FROZEN;
    }
    for (size_t i = 0; i < op->leg_count; i++) {
        const struct m_account *a = &m->accounts[idx[i]];
        int64_t amount = op->legs[i].amount_minor;
        if (amount < 0 && m_below_floor(a, a->balance_minor + amount, a->held_minor))
            return QB_E_INSUFFICIENT_BALANCE;
    }
    for (size_t i = 0; i < op->leg_count; i++) {
        m_log_account(m, (size_t)idx[i]);
        m->accounts[idx[i]].balance_minor += op->legs[i].amount_minor;
    }
    *id = m->next_entry_id++;
    return QB_OK;
}

static enum qb_error m_hold(struct model *m, const struct fx_op *op, int64_t *id)
{
    if (op->amount_minor <= 0)
        return QB_E_PARAM;
    int64_t d = m_find(m, op->debit_id), c = m_find(m, op->credit_id);
    if (d < 0 || c < 0)
        return QB_E_NOT_FOUND;
    struct m_account *debit = &m->accounts[d];
    if (debit->flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED))
        return QB_E_ACCOUNT_FROZEN;
    if (m_below_floor(debit, debit->balance_minor, debit->held_minor + op->amount_minor))
        return QB_E_INSUFFICIENT_BALANCE;
    m_log_account(m, (size_t)d);
    debit->held_minor += op->amount_minor;
    if (m->hold_count == m->hold_cap) {
        m->hold_cap = m->hold_cap ? 2 * m->hold_cap : 1024;
        m->holds = realloc(m->holds, m->hold_cap * sizeof *m->holds);
        ASSERT(m->holds != NULL);
    }
    *id = m->next_entry_id++;
    m->holds[m->hold_count++] = (struct m_hold){*id, (size_t)d, (size_t)c, op->amount_minor,
                                                op->expires_at_ms, true};
    return QB_OK;
}

static enum qb_error m_capture(struct model *m, const struct fx_op *op, int64_t *id)
{
    int64_t hi = m_find_hold(m, op->hold_id);
    if (hi < 0)
        return QB_E_NOT_FOUND;
    struct m_hold *h = &m->holds[hi];
    if (!h->open)
        return QB_E_HOLD_RESOLVED;
    if (op->amount_minor < 1 || op->amount_minor > h->amount_minor)
        return QB_E_PARAM;
    if (m->accounts[h->credit].flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED))
        return QB_E_ACCOUNT_FROZEN;
    m_log_account(m, h->debit);
    m_log_account(m, h->credit);
    m_log_resolve(m, (size_t)hi);
    m->accounts[h->debit].balance_minor -= op->amount_minor;
    m->accounts[h->debit].held_minor -= h->amount_minor;
    m->accounts[h->credit].balance_minor += op->amount_minor;
    h->open = false;
    *id = m->next_entry_id++;
    return QB_OK;
}

static enum qb_error m_void(struct model *m, const struct fx_op *op, int64_t *id)
{
    int64_t hi = m_find_hold(m, op->hold_id);
    if (hi < 0)
        return QB_E_NOT_FOUND;
    struct m_hold *h = &m->holds[hi];
    if (!h->open)
        return QB_E_HOLD_RESOLVED;
    m_log_account(m, h->debit);
    m_log_resolve(m, (size_t)hi);
    m->accounts[h->debit].held_minor -= h->amount_minor;
    h->open = false;
    *id = m->next_entry_id++;
    return QB_OK;
}

static enum qb_error m_op(struct model *m, const struct fx_op *op, int64_t *id)
{
    *id = 0;
    switch (op->kind) {
    case FX_OP_POST:
        return m_post(m, op, id);
    case FX_OP_HOLD:
        return m_hold(m, op, id);
    case FX_OP_CAPTURE:
        return m_capture(m, op, id);
    case FX_OP_VOID:
        return m_void(m, op, id);
    case FX_OP_FAIL:
        return op->fail_with;
    default:
        TEST_FAIL_("model: unexpected op kind %d", (int)op->kind);
    }
}

/* Applies a script to the model as the ledger must: ops in order, the first
 * unignored error ends it and undoes everything it did. */
static void m_run_script(struct model *m, const struct fx_script *s, struct m_pred *p)
{
    size_t hold_mark = m->hold_count;
    int64_t entry_mark = m->next_entry_id;
    int64_t transfer_mark = m->last_transfer_id;
    m->undo_count = 0;
    p->result = QB_OK;
    p->ops_run = 0;
    int64_t last_transfer = 0;
    for (size_t k = 0; k < s->op_count; k++) {
        int64_t id = 0;
        enum qb_error r = m_op(m, &s->ops[k], &id);
        p->op_result[k] = r;
        p->op_id[k] = id;
        p->ops_run = k + 1;
        if (r == QB_OK && s->ops[k].kind == FX_OP_POST)
            last_transfer = id;
        if (r != QB_OK && !s->ops[k].ignore_error) {
            p->result = r;
            break;
        }
    }
    if (p->result != QB_OK) {
        while (m->undo_count > 0) {
            struct m_undo *u = &m->undo[--m->undo_count];
            if (u->kind == UNDO_ACCOUNT) {
                m->accounts[u->index].balance_minor = u->balance_minor;
                m->accounts[u->index].held_minor = u->held_minor;
            } else {
                m->holds[u->index].open = true;
            }
        }
        m->hold_count = hold_mark;
        m->next_entry_id = entry_mark;
        m->last_transfer_id = transfer_mark;
    } else if (last_transfer != 0) {
        m->last_transfer_id = last_transfer;
    }
    m->undo_count = 0;
}

/* The writer expires due holds before each batch. Answers how many. */
static int64_t m_expire(struct model *m)
{
    int64_t count = 0;
    for (size_t i = 0; i < m->hold_count; i++) {
        struct m_hold *h = &m->holds[i];
        if (h->open && h->expires_at_ms != 0 && h->expires_at_ms < m->now_ms) {
            ASSERT(h->expires_at_ms % 2 != 0 && m->now_ms % 2 == 0);
            m->accounts[h->debit].held_minor -= h->amount_minor;
            h->open = false;
            count++;
        }
    }
    m->next_entry_id += count;
    return count;
}

static size_t m_open_holds(const struct model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->hold_count; i++)
        n += m->holds[i].open;
    return n;
}

static int32_t m_record_find(struct model *m, int principal, uint32_t key)
{
    if (key >= m->key_cap)
        return -1;
    return m->record_index[principal][key];
}

static int32_t m_record_add(struct model *m, int principal, uint32_t key, uint64_t tag)
{
    if (key >= m->key_cap) {
        uint32_t cap = m->key_cap ? 2 * m->key_cap : 4096;
        while (cap <= key)
            cap *= 2;
        for (int p = 0; p < M_PRINCIPALS; p++) {
            m->record_index[p] = realloc(m->record_index[p], cap * sizeof(int32_t));
            ASSERT(m->record_index[p] != NULL);
            for (uint32_t k = m->key_cap; k < cap; k++)
                m->record_index[p][k] = -1;
        }
        m->key_cap = cap;
    }
    if (m->record_count == m->record_cap) {
        m->record_cap = m->record_cap ? 2 * m->record_cap : 1024;
        m->records = realloc(m->records, m->record_cap * sizeof *m->records);
        ASSERT(m->records != NULL);
    }
    int32_t r = (int32_t)m->record_count++;
    m->records[r] = (struct m_record){principal, key, tag, QB_OK, NULL, 0, false};
    m->record_index[principal][key] = r;
    return r;
}

static void m_free(struct model *m)
{
    for (size_t i = 0; i < m->record_count; i++)
        free(m->records[i].response);
    free(m->records);
    free(m->holds);
    for (int p = 0; p < M_PRINCIPALS; p++)
        free(m->record_index[p]);
}

/* --- the generator ---------------------------------------------------------- */

static size_t pick(const size_t *set, size_t count) { return set[rnd(count)]; }

static int64_t acct(struct model *m, size_t index) { return m->accounts[index].id; }

static int64_t gen_amount(void)
{
    unsigned r = (unsigned)rnd(100);
    if (r < 50)
        return 1 + (int64_t)rnd(2000);
    if (r < 85)
        return 1 + (int64_t)rnd(50000);
    return 1 + (int64_t)rnd(2000000);
}

/* Often exactly what the account can spend, or one more: the floor's edge. */
static int64_t gen_debit_amount(struct model *m, size_t index)
{
    const struct m_account *a = &m->accounts[index];
    if (a->floor_minor == LEDGER_FLOOR_NONE || !chance(15))
        return gen_amount();
    int64_t spendable = a->balance_minor - a->held_minor - a->floor_minor;
    int64_t amount = spendable + (chance(50) ? 1 : 0);
    return amount > 0 ? amount : gen_amount();
}

static int64_t unknown_account_id(struct model *m)
{
    return m->accounts[m->account_count - 1].id + 1000 + (int64_t)rnd(1000);
}

static void gen_post2(struct fx_op *op, int64_t from, int64_t to, int64_t amount)
{
    op->kind = FX_OP_POST;
    op->legs[0] = (struct ledger_leg){from, -amount};
    op->legs[1] = (struct ledger_leg){to, amount};
    op->leg_count = 2;
}

/* An ordinary transfer among the CNY accounts without flags; a fifth come
 * from a system account so that users have money to spend. */
static void gen_transfer(struct model *m, struct fx_op *op)
{
    size_t from = chance(20) ? pick(m->sys, m->sys_count) : pick(m->normal, m->normal_count);
    size_t to;
    do
        to = pick(m->normal, m->normal_count);
    while (to == from);
    gen_post2(op, acct(m, from), acct(m, to), gen_debit_amount(m, from));
}

/* Payer -x, merchant +(x - fee), fee income +fee. */
static void gen_payment_with_fee(struct model *m, struct fx_op *op)
{
    size_t payer, merchant, fee;
    do {
        payer = pick(m->normal, m->normal_count);
        merchant = pick(m->normal, m->normal_count);
        fee = pick(m->sys, m->sys_count);
    } while (payer == merchant || payer == fee || merchant == fee);
    int64_t x = gen_debit_amount(m, payer);
    if (x < 2)
        x = 2;
    int64_t f = 1 + x / 100;
    op->kind = FX_OP_POST;
    op->legs[0] = (struct ledger_leg){acct(m, payer), -x};
    op->legs[1] = (struct ledger_leg){acct(m, merchant), x - f};
    op->legs[2] = (struct ledger_leg){acct(m, fee), f};
    op->leg_count = 3;
}

static void gen_hold(struct model *m, struct fx_op *op)
{
    size_t debit = chance(10) ? pick(m->sys, m->sys_count) : pick(m->normal, m->normal_count);
    size_t credit;
    do
        credit = pick(m->normal, m->normal_count);
    while (credit == debit);
    op->kind = FX_OP_HOLD;
    op->debit_id = acct(m, debit);
    op->credit_id = acct(m, credit);
    op->amount_minor = gen_debit_amount(m, debit);
    /* Deadlines are odd, the clock even: never exactly "at" the deadline. */
    op->expires_at_ms = chance(30) ? 0 : m->now_ms + 1 + 2 * (int64_t)rnd(60000);
    op->ref = "h";
}

/* A recent hold, open or not. */
static const struct m_hold *recent_hold(struct model *m)
{
    if (m->hold_count == 0)
        return NULL;
    size_t window = m->hold_count < 200 ? m->hold_count : 200;
    return &m->holds[m->hold_count - 1 - rnd(window)];
}

static void gen_capture(struct model *m, struct fx_op *op)
{
    const struct m_hold *h = recent_hold(m);
    op->kind = FX_OP_CAPTURE;
    op->ref = "c";
    if (h == NULL) {
        op->hold_id = m->next_entry_id + 1000;
        op->amount_minor = 1;
        return;
    }
    op->hold_id = h->id;
    unsigned r = (unsigned)rnd(100);
    if (r < 45 || !h->open)
        op->amount_minor = h->amount_minor;
    else if (r < 90)
        op->amount_minor = 1 + (int64_t)rnd((uint64_t)h->amount_minor);
    else if (r < 94)
        op->amount_minor = 0;
    else if (r < 97)
        op->amount_minor = -(int64_t)(1 + rnd(1000));
    else
        op->amount_minor = h->amount_minor + 1 + (int64_t)rnd(1000);
}

static void gen_void(struct model *m, struct fx_op *op)
{
    const struct m_hold *h = recent_hold(m);
    op->kind = FX_OP_VOID;
    op->ref = "v";
    op->hold_id = h != NULL ? h->id : m->next_entry_id + 1000;
}

/* An operation with exactly one thing wrong with it. */
static void gen_invalid(struct model *m, struct fx_op *op)
{
    size_t sys = pick(m->sys, m->sys_count);
    size_t user = pick(m->normal, m->normal_count);
    while (user == sys)
        user = pick(m->normal, m->normal_count);
    int64_t x = gen_amount();
    switch (rnd(11)) {
    case 0: /* zero amounts */
        gen_post2(op, acct(m, sys), acct(m, user), 0);
        break;
    case 1: /* unknown payee */
        gen_post2(op, acct(m, sys), unknown_account_id(m), x);
        break;
    case 2: /* unknown payer */
        gen_post2(op, unknown_account_id(m), acct(m, user), x);
        break;
    case 3: /* currencies that do not balance separately */
        gen_post2(op, acct(m, m->usd_sys), acct(m, user), x);
        break;
    case 4:
        gen_post2(op, acct(m, sys), acct(m, pick(m->usd_user, m->usd_user_count)), x);
        break;
    case 5: /* the same account twice */
        gen_post2(op, acct(m, sys), acct(m, sys), x);
        break;
    case 6: /* one leg */
        gen_post2(op, acct(m, sys), acct(m, user), x);
        op->leg_count = 1;
        break;
    case 7: /* unbalanced */
        gen_post2(op, acct(m, sys), acct(m, user), x);
        op->legs[1].amount_minor = x + 1;
        break;
    case 8: /* hold of nothing or less */
        gen_hold(m, op);
        op->amount_minor = chance(50) ? 0 : -x;
        break;
    case 9: /* capture or void of a hold that does not exist */
        op->kind = chance(50) ? FX_OP_CAPTURE : FX_OP_VOID;
        op->hold_id = chance(50) && m->last_transfer_id != 0 ? m->last_transfer_id
                                                             : m->next_entry_id + 1000;
        op->amount_minor = 1;
        break;
    default: /* hold on an unknown account */
        gen_hold(m, op);
        if (chance(50))
            op->debit_id = unknown_account_id(m);
        else
            op->credit_id = unknown_account_id(m);
        break;
    }
}

/* Frozen system accounts have no floor, so "frozen" is the only thing that
 * can be wrong with these. */
static void gen_frozen(struct model *m, struct fx_op *op)
{
    size_t user = pick(m->normal, m->normal_count);
    size_t sys = pick(m->sys, m->sys_count);
    int64_t x = gen_amount();
    switch (rnd(5)) {
    case 0: /* refused: money leaving a debit-frozen account */
        gen_post2(op, acct(m, m->debit_frozen), acct(m, user), x);
        break;
    case 1: /* refused: money reaching a credit-frozen account */
        gen_post2(op, acct(m, sys), acct(m, m->credit_frozen), x);
        break;
    case 2: /* allowed: into a debit-frozen account */
        gen_post2(op, acct(m, sys), acct(m, m->debit_frozen), x);
        break;
    case 3: /* allowed: out of a credit-frozen account */
        gen_post2(op, acct(m, m->credit_frozen), acct(m, user), x);
        break;
    default: /* refused: a hold is a debit */
        gen_hold(m, op);
        op->debit_id = acct(m, m->debit_frozen);
        break;
    }
}

static void gen_usd(struct model *m, struct fx_op *op)
{
    size_t to = pick(m->usd_user, m->usd_user_count);
    size_t from = chance(40) ? m->usd_sys : pick(m->usd_user, m->usd_user_count);
    if (from == to)
        from = m->usd_sys;
    gen_post2(op, acct(m, from), acct(m, to), gen_debit_amount(m, from));
}

/* One operation of any single kind. */
static void gen_single(struct model *m, struct fx_op *op)
{
    unsigned r = (unsigned)rnd(100);
    if (r < 40)
        gen_transfer(m, op);
    else if (r < 46)
        gen_payment_with_fee(m, op);
    else if (r < 60)
        gen_hold(m, op);
    else if (r < 73)
        gen_capture(m, op);
    else if (r < 80)
        gen_void(m, op);
    else if (r < 90)
        gen_invalid(m, op);
    else if (r < 95)
        gen_frozen(m, op);
    else
        gen_usd(m, op);
}

static struct fx_op *script_op(struct fx_script *s)
{
    struct fx_op *op = fx_script_add(s, FX_OP_POST);
    op->code = (uint16_t)(1 + rnd(9));
    return op;
}

/* Fills s with a new command (no idempotency yet) and predicts it. */
static void gen_command(struct model *m, struct fx_script *s, struct m_pred *p)
{
    fx_script_init(s);
    unsigned r = (unsigned)rnd(100);
    if (r < 84) {
        gen_single(m, script_op(s));
    } else if (r < 89) {
        /* Try something, carry on whatever it answered. */
        struct fx_op *first = script_op(s);
        gen_single(m, first);
        first->ignore_error = true;
        gen_single(m, script_op(s));
    } else if (r < 93) {
        /* Posts, then the domain refuses: all of it must vanish. */
        gen_transfer(m, script_op(s));
        gen_transfer(m, script_op(s));
        static const enum qb_error errs[] = {QB_E_LIMIT_EXCEEDED, QB_E_RISK_REJECTED,
                                             QB_E_CONFLICT};
        struct fx_op *fail = script_op(s);
        fail->kind = FX_OP_FAIL;
        fail->fail_with = errs[rnd(QB_ARRAY_COUNT(errs))];
    } else if (r < 96) {
        /* Two transfers; if the second is refused the first goes too. */
        gen_transfer(m, script_op(s));
        gen_transfer(m, script_op(s));
    } else {
        /* Reserve and capture in one command, using the predicted hold id. */
        struct fx_op *hold = script_op(s);
        gen_hold(m, hold);
        struct fx_op *cap = script_op(s);
        cap->kind = FX_OP_CAPTURE;
        cap->hold_id = m->next_entry_id;
        cap->amount_minor = hold->amount_minor > 1 ? 1 + (int64_t)rnd((uint64_t)hold->amount_minor)
                                                   : 1;
    }
    memset(p, 0, sizeof *p);
    p->record = -1;
    p->run_count = 1;
    m_run_script(m, s, p);
}

static void request_hash_of(uint64_t tag, uint8_t out[CRYPTO_SHA256_SIZE])
{
    unsigned char bytes[8];
    buf_write_u64le(bytes, tag);
    crypto_sha256(bytes, sizeof bytes, out);
}

/* Names the key in the script's own buffer, which lives until its batch
 * completed. */
static void set_key(struct fx_script *s, int principal, uint32_t key, uint64_t tag)
{
    snprintf(s->key_buf, sizeof s->key_buf, "k%" PRIu32, key);
    s->cmd.idem_principal = principals[principal];
    s->cmd.idem_key = s->key_buf;
    request_hash_of(tag, s->cmd.request_hash);
}

/* Generates one command, idempotent or not, predicts it, and fills s. */
static void gen(struct model *m, struct fx_script *s, struct m_pred *p)
{
    unsigned r = (unsigned)rnd(100);
    if (m->record_count > 0 && r < 9) {
        /* A retry of an earlier keyed request: same body (most) or not, or
         * the same key under another principal (a new request). */
        const struct m_record *rec = &m->records[rnd(m->record_count)];
        int principal = rec->principal;
        uint64_t tag = rec->body_tag;
        unsigned kind = (unsigned)rnd(10);
        if (kind < 6) {
            /* same body */
        } else if (kind < 9) {
            tag = tag * 31 + 7;
        } else {
            principal = (principal + 1 + (int)rnd(M_PRINCIPALS - 1)) % M_PRINCIPALS;
        }
        int32_t existing = m_record_find(m, principal, rec->key);
        uint32_t key = rec->key;
        if (existing >= 0) {
            /* A body that must not run: if the ledger ran it the model would
             * disagree on the balances. */
            fx_script_init(s);
            gen_post2(script_op(s), acct(m, m->sys[0]), acct(m, m->user0), 1);
            memset(p, 0, sizeof *p);
            p->record = existing;
            p->run_count = 0;
            if (m->records[existing].body_tag == tag) {
                p->result = m->records[existing].result;
                p->replayed = true;
            } else {
                p->result = QB_E_IDEMPOTENCY_MISMATCH;
                p->mismatch = true;
            }
        } else {
            gen_command(m, s, p);
            p->record = m_record_add(m, principal, key, tag);
            p->record_new = true;
            m->records[p->record].result = p->result;
        }
        set_key(s, principal, key, tag);
        return;
    }
    gen_command(m, s, p);
    if (r < 35) {
        int principal = (int)rnd(M_PRINCIPALS);
        uint32_t key = m->key_next++;
        uint64_t tag = rand_u64(&rng);
        p->record = m_record_add(m, principal, key, tag);
        p->record_new = true;
        m->records[p->record].result = p->result;
        set_key(s, principal, key, tag);
    }
}

/* --- checking ----------------------------------------------------------------- */

static void compare_accounts(struct fx *fx, struct model *m, const char *when)
{
    for (size_t i = 0; i < m->account_count; i++) {
        const struct m_account *a = &m->accounts[i];
        struct ledger_account_view v;
        enum qb_error rc = ledger_account_view(fx->ledger, a->id, &v);
        if (rc != QB_OK)
            TEST_FAIL_("%s: ledger_account_view(%" PRId64 "): %s", when, a->id, error_name(rc));
        if (v.balance_minor != a->balance_minor || v.held_minor != a->held_minor ||
            v.available_minor != a->balance_minor - a->held_minor || v.flags != a->flags ||
            v.floor_minor != a->floor_minor || v.currency != a->currency || v.kind != a->kind)
            TEST_FAIL_("%s: account %" PRId64 " (role %d): ledger balance %" PRId64 " held %" PRId64
                       " available %" PRId64 " flags %u, model balance %" PRId64 " held %" PRId64
                       " available %" PRId64 " flags %u",
                       when, a->id, (int)a->role, v.balance_minor, v.held_minor, v.available_minor,
                       v.flags, a->balance_minor, a->held_minor,
                       a->balance_minor - a->held_minor, a->flags);
    }
}

static const char *op_kind_name(enum fx_op_kind kind)
{
    switch (kind) {
    case FX_OP_POST: return "post";
    case FX_OP_HOLD: return "hold";
    case FX_OP_CAPTURE: return "capture";
    case FX_OP_VOID: return "void";
    case FX_OP_FAIL: return "fail";
    default: return "other";
    }
}

static void describe(const struct fx_script *s)
{
    for (size_t k = 0; k < s->op_count; k++) {
        const struct fx_op *op = &s->ops[k];
        fprintf(stderr, "    op %zu %s%s:", k, op_kind_name(op->kind),
                op->ignore_error ? " (ignore error)" : "");
        if (op->kind == FX_OP_POST)
            for (size_t l = 0; l < op->leg_count; l++)
                fprintf(stderr, " [%" PRId64 " %+" PRId64 "]", op->legs[l].account_id,
                        op->legs[l].amount_minor);
        else if (op->kind == FX_OP_HOLD)
            fprintf(stderr, " debit %" PRId64 " credit %" PRId64 " amount %" PRId64
                            " expires %" PRId64,
                    op->debit_id, op->credit_id, op->amount_minor, op->expires_at_ms);
        else if (op->kind == FX_OP_CAPTURE || op->kind == FX_OP_VOID)
            fprintf(stderr, " hold %" PRId64 " amount %" PRId64, op->hold_id, op->amount_minor);
        fprintf(stderr, " -> ledger %s id %" PRId64 "\n", error_name(op->result), op->out_id);
    }
}

static void check_command(struct model *m, struct fx_script *s, const struct m_pred *p,
                          uint64_t number)
{
    const struct ledger_cmd *cmd = &s->cmd;
    bool bad = cmd->result != p->result || s->run_count != p->run_count;
    if (p->replayed && !cmd->replayed)
        bad = true;
    if (!p->replayed && !p->mismatch && cmd->replayed)
        bad = true;
    if (!bad && p->run_count == 1) {
        for (size_t k = 0; k < p->ops_run; k++) {
            if (s->ops[k].result != p->op_result[k])
                bad = true;
            else if (p->op_result[k] == QB_OK && s->ops[k].out_id != p->op_id[k])
                bad = true;
        }
    }
    if (bad) {
        fprintf(stderr, "  command %" PRIu64 ": ledger %s (run %d, replayed %d), model %s (run %d,"
                        " replayed %d)\n",
                number, error_name(cmd->result), s->run_count, (int)cmd->replayed,
                error_name(p->result), p->run_count, (int)p->replayed);
        describe(s);
        for (size_t k = 0; k < p->ops_run; k++)
            fprintf(stderr, "    model op %zu -> %s id %" PRId64 "\n", k,
                    error_name(p->op_result[k]), p->op_id[k]);
        TEST_FAIL_("command %" PRIu64 " differs from the model", number);
    }
    if (p->record < 0)
        return;
    struct m_record *rec = &m->records[p->record];
    if (p->record_new) {
        ASSERT(!rec->response_known);
        rec->response = malloc(cmd->response.size + 1);
        ASSERT(rec->response != NULL);
        if (cmd->response.size > 0)
            memcpy(rec->response, cmd->response.data, cmd->response.size);
        rec->response_size = cmd->response.size;
        rec->response_known = true;
    } else if (p->replayed) {
        ASSERT(rec->response_known);
        if (cmd->response.size != rec->response_size ||
            (rec->response_size > 0 &&
             memcmp(cmd->response.data, rec->response, rec->response_size) != 0))
            TEST_FAIL_("command %" PRIu64 ": replayed response (%zu bytes) differs from the"
                       " original (%zu bytes)",
                       number, cmd->response.size, rec->response_size);
    }
}

/* --- set-up --------------------------------------------------------------------- */

static size_t m_add(struct fx *fx, struct model *m, const char *owner,
                    const struct currency *currency, enum ledger_account_kind kind,
                    enum m_role role, uint32_t flags, int64_t floor_minor)
{
    ASSERT(m->account_count < M_ACCOUNTS_MAX);
    size_t i = m->account_count++;
    m->accounts[i] = (struct m_account){0, role, currency, kind, flags, floor_minor, 0, 0};
    m->accounts[i].id = fx_create(fx, owner, currency, kind, flags, floor_minor);
    return i;
}

static void m_setup(struct fx *fx, struct model *m)
{
    char owner[64];
    /* The fixture's own system account is the first of the model's. */
    m->accounts[0] = (struct m_account){fx->sys_id, ROLE_SYS, fx->cny, LEDGER_ACCOUNT_SYSTEM, 0,
                                        LEDGER_FLOOR_NONE, 0, 0};
    m->account_count = 1;
    m->sys[m->sys_count++] = 0;
    m->normal[m->normal_count++] = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(owner, sizeof owner, "system:s%d", i);
        size_t a = m_add(fx, m, owner, fx->cny, LEDGER_ACCOUNT_SYSTEM, ROLE_SYS, 0,
                         LEDGER_FLOOR_NONE);
        m->sys[m->sys_count++] = a;
        m->normal[m->normal_count++] = a;
    }
    for (int i = 0; i < 30; i++) {
        snprintf(owner, sizeof owner, "user:u%d", i);
        m->normal[m->normal_count++] =
            m_add(fx, m, owner, fx->cny, LEDGER_ACCOUNT_USER, ROLE_USER, 0, 0);
    }
    m->user0 = m->normal[m->sys_count];
    for (int i = 0; i < 4; i++) {
        snprintf(owner, sizeof owner, "merchant:m%d", i);
        m->normal[m->normal_count++] =
            m_add(fx, m, owner, fx->cny, LEDGER_ACCOUNT_MERCHANT, ROLE_MERCHANT, 0, 0);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(owner, sizeof owner, "user:u%d", i);
        int64_t floor_minor = -1000 * (int64_t)(1 + rnd(100));
        m->normal[m->normal_count++] =
            m_add(fx, m, owner, fx->cny, LEDGER_ACCOUNT_CREDIT, ROLE_CREDIT, 0, floor_minor);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(owner, sizeof owner, "user:u%d", i);
        m->usd_user[m->usd_user_count++] =
            m_add(fx, m, owner, fx->usd, LEDGER_ACCOUNT_USER, ROLE_USD_USER, 0, 0);
    }
    m->usd_sys = m_add(fx, m, "system:bank_clearing", fx->usd, LEDGER_ACCOUNT_SYSTEM, ROLE_USD_SYS,
                       0, LEDGER_FLOOR_NONE);
    m->debit_frozen = m_add(fx, m, "system:frozen_out", fx->cny, LEDGER_ACCOUNT_SYSTEM,
                            ROLE_DEBIT_FROZEN, LEDGER_ACCOUNT_DEBIT_FROZEN, LEDGER_FLOOR_NONE);
    m->credit_frozen = m_add(fx, m, "system:frozen_in", fx->cny, LEDGER_ACCOUNT_SYSTEM,
                             ROLE_CREDIT_FROZEN, LEDGER_ACCOUNT_CREDIT_FROZEN, LEDGER_FLOOR_NONE);
    m->next_entry_id = 1;
    m->now_ms = FX_START_MS;
}

static uint64_t commands_wanted(void)
{
    const char *text = getenv("QB_MODEL_COMMANDS");
    if (text != NULL && text[0] != '\0') {
        uint64_t n = strtoull(text, NULL, 10);
        if (n > 0)
            return n;
    }
    return M_COMMANDS_DEFAULT;
}

/* Walks every account's whole history: the balance_after chain must end at
 * the model's balance and the held deltas add up to the model's held. */
static void compare_histories(struct fx *fx, struct model *m)
{
    enum { PAGE = 64 };
    struct ledger_entry *page = calloc(PAGE, sizeof *page);
    ASSERT(page != NULL);
    for (size_t i = 0; i < m->account_count; i++) {
        const struct m_account *a = &m->accounts[i];
        int64_t cursor = 0, newest_balance = 0, held = 0, walked = 0;
        int64_t expect_id = 0; /* the prev_entry_id the next page must start at */
        do {
            size_t count = 0;
            int64_t next = 0;
            enum qb_error rc = ledger_history(fx->ledger, fx->reader, a->id, cursor, PAGE, page,
                                              &count, &next);
            if (rc != QB_OK)
                TEST_FAIL_("ledger_history(%" PRId64 "): %s", a->id, error_name(rc));
            for (size_t k = 0; k < count; k++) {
                const struct ledger_posting *p = ledger_entry_posting(&page[k], a->id);
                ASSERT(p != NULL);
                if (walked == 0)
                    newest_balance = p->balance_after_minor;
                else
                    ASSERT_EQ_INT(page[k].id, expect_id);
                /* The balance before this entry is balance_after - amount,
                 * and must be the older entry's balance_after. */
                held += p->held_delta_minor;
                expect_id = p->prev_entry_id;
                walked++;
                if (p->prev_entry_id == 0)
                    ASSERT_EQ_INT(p->balance_after_minor, p->amount_minor);
                if (k + 1 < count) {
                    const struct ledger_posting *older = ledger_entry_posting(&page[k + 1], a->id);
                    ASSERT(older != NULL);
                    ASSERT_EQ_INT(older->balance_after_minor,
                                  p->balance_after_minor - p->amount_minor);
                }
            }
            cursor = next;
        } while (cursor != 0);
        if (walked > 0)
            ASSERT_EQ_INT(newest_balance, a->balance_minor);
        else
            ASSERT_EQ_INT(a->balance_minor, 0);
        ASSERT_EQ_INT(held, a->held_minor);
    }
    free(page);
}

/* Closes and reopens the ledger; the model must still match, and the
 * counters of the closing ledger must match what was sent to it. */
static void restart_and_compare(struct fx *fx, struct model *m, uint64_t commands_since_open,
                                int64_t entries_since_open)
{
    /* Verify reads the live database too: the checkpoints flushed so far
     * must agree with the journal at their replay point. */
    fx_verify_ok(fx);
    struct ledger_stats stats;
    ledger_stats_get(fx->ledger, &stats);
    fprintf(stderr, "  restart: %" PRIu64 " commands in %" PRIu64 " transactions since open\n",
            stats.commands_total, stats.batches_total);
    ASSERT_EQ_INT(stats.commands_total, commands_since_open);
    ASSERT_EQ_INT(stats.entries_total, entries_since_open);
    ASSERT_EQ_INT(stats.commit_failures_total, 0);
    fx_restart(fx);
    compare_accounts(fx, m, "after restart");
    struct ledger_stats fresh;
    ledger_stats_get(fx->ledger, &fresh);
    ASSERT_EQ_INT(fresh.replay_lag_entries, 0); /* close flushed every checkpoint */
}

TEST(model_random_operations)
{
    /* Every command's answer and every balance, held and available amount
     * must match an independent model over a long random mix of all ledger
     * operations, across batches, restarts and hold expiries. */
    uint64_t seed = test_seed();
    rand_seeded_init(&rng, seed);
    uint64_t wanted = commands_wanted();
    struct fx *fx = fx_new();
    struct model *m = calloc(1, sizeof *m);
    struct fx_script *scripts = calloc(M_BATCH_MAX, sizeof *scripts);
    struct m_pred *preds = calloc(M_BATCH_MAX, sizeof *preds);
    ASSERT(m != NULL && scripts != NULL && preds != NULL);
    /* Small batches split a submitted batch over several transactions;
     * a small flush budget leaves checkpoints behind the journal. */
    fx->options.batch_max = chance(50) ? 0 : (size_t)(16 + rnd(113));
    fx->options.flush_per_batch = chance(50) ? 0 : (size_t)(1 + rnd(4));
    fprintf(stderr, "  batch_max %zu, flush_per_batch %zu\n", fx->options.batch_max,
            fx->options.flush_per_batch);
    fx_restart(fx);
    m_setup(fx, m);
    compare_accounts(fx, m, "after set-up");

    uint64_t results[QB_ERROR_COUNT] = {0};
    uint64_t done = 0, batches = 0, replays = 0, mismatches = 0, refused = 0, expired = 0;
    uint64_t since_open = (uint64_t)m->account_count - 1; /* the creations */
    int64_t entries_at_open = 1;
    uint64_t next_restart = M_RESTART_EVERY;
    int64_t t0 = clock_monotonic_ns();
    struct fx_batch batch;
    fx_batch_init(&batch);
    while (done < wanted) {
        /* Time passes between batches; holds past their deadline expire
         * before the next batch runs. */
        if (chance(30)) {
            int64_t step = 2 * (int64_t)rnd(chance(10) ? 200000 : 20000);
            clock_manual_advance(&fx->clock, step);
            m->now_ms += step;
        }
        ASSERT_EQ_INT(clock_now_ms(&fx->clock), m->now_ms);
        expired += (uint64_t)m_expire(m);

        unsigned shape = (unsigned)rnd(10);
        size_t n = shape < 2 ? 1 : shape < 6 ? 2 + rnd(31) : 33 + rnd(M_BATCH_MAX - 32);
        if (n > wanted - done)
            n = (size_t)(wanted - done);
        for (size_t i = 0; i < n; i++) {
            gen(m, &scripts[i], &preds[i]);
            enum qb_error rc = fx_submit(fx, &batch, &scripts[i]);
            if (rc != QB_OK)
                TEST_FAIL_("ledger_submit: %s", error_name(rc));
        }
        fx_batch_wait(&batch);
        for (size_t i = 0; i < n; i++) {
            check_command(m, &scripts[i], &preds[i], done + i);
            replays += preds[i].replayed;
            mismatches += preds[i].mismatch;
            refused += preds[i].result != QB_OK;
            results[preds[i].result < QB_ERROR_COUNT ? preds[i].result : QB_E_INTERNAL]++;
            fx_script_release(&scripts[i]);
        }
        done += n;
        since_open += n;
        batches++;
        compare_accounts(fx, m, "after a batch");

        if (done >= next_restart && done < wanted) {
            next_restart += M_RESTART_EVERY;
            restart_and_compare(fx, m, since_open, m->next_entry_id - entries_at_open);
            since_open = 0;
            entries_at_open = m->next_entry_id;
        }
    }
    fx_batch_destroy(&batch);
    restart_and_compare(fx, m, since_open, m->next_entry_id - entries_at_open);
    compare_histories(fx, m);

    struct ledger_verify_report report;
    enum qb_error rc = fx_verify(fx, &report);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_verify: %s: \"%s\"", error_name(rc), report.problem);
    ASSERT_EQ_INT(report.entries_checked, m->next_entry_id - 1);
    ASSERT_EQ_INT(report.accounts_checked, m->account_count);
    ASSERT_EQ_INT(report.holds_open, m_open_holds(m));
    fprintf(stderr,
            "  %" PRIu64 " commands in %" PRIu64 " batches, %" PRId64 " entries, %zu holds"
            " (%" PRIu64 " expired, %zu open), %" PRIu64 " refused, %" PRIu64 " replays, %" PRIu64
            " mismatches, %.1f s\n",
            done, batches, m->next_entry_id - 1, m->hold_count, expired, m_open_holds(m),
            refused, replays, mismatches, (double)(clock_monotonic_ns() - t0) / 1e9);
    for (int e = 0; e < QB_ERROR_COUNT; e++)
        if (results[e] > 0)
            fprintf(stderr, "  %-28s %" PRIu64 "\n", error_name((enum qb_error)e), results[e]);
    /* The generator must actually reach the interesting cases. */
    ASSERT(replays > 100 && mismatches > 20 && expired > 100 && refused > 1000);

    m_free(m);
    free(m);
    free(scripts);
    free(preds);
    fx_free(fx);
}

int main(void)
{
    if (!crypto_init()) {
        fprintf(stderr, "crypto_init failed\n");
        return 1;
    }
    RUN(model_random_operations);
    return test_summary();
}
