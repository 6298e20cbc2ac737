/*
 * verify.c — recompute the whole ledger from its journal and check it.
 *
 * ledger_verify trusts nothing but the entries' bytes: it recomputes the
 * hash chain from the first entry, replays every posting into its own
 * balances, and compares what it derived with everything the database
 * claims (balance_after and prev_entry_id in each posting, the accounts'
 * checkpoints with their spending sums, the open holds). It reads through an ordinary read
 * connection, so it can run beside a live daemon (`qianbaod --verify` on a
 * data directory, `qianbao admin verify`).
 *
 * ledger_rebuild_checkpoints runs the same replay with the journal's own
 * checks only, and writes what it derived over everything a start trusts
 * instead of the journal: the checkpoints, the holds table and replay_from.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

struct verify_account {
    const struct currency *currency;
    uint32_t flags; /* as they are now */
    enum ledger_account_kind kind;
    int64_t floor_minor;
    struct ledger_spent ckpt_spent;
    struct ledger_spent spent;
    int64_t ckpt_balance_minor;
    int64_t ckpt_held_minor;
    int64_t ckpt_last_entry_id;
    bool ckpt_entry_seen; /* the entry at ckpt_last_entry_id posts to it */
    int64_t balance_minor;
    int64_t held_minor;
    int64_t last_entry_id;
    int64_t created_at_ms;
};

struct verify_hold {
    int64_t id;
    int64_t debit_account_id;
    int64_t credit_account_id;
    int64_t amount_minor;
    int64_t expires_at_ms;
    bool open;
};

struct verify {
    struct ledger_verify_report *report;
    /* Rebuilding: the journal's checks only; what is derived from it is
     * about to be written over, and is not compared. */
    bool rebuild;
    const struct ledger_options *spending; /* NULL: sums not checked */
    struct ledger_chain chain;
    bool chain_may_begin;     /* a journal not keyed passes, checked unkeyed */
    struct store *reader;     /* where a give-back's named entry is read */
    int64_t spent_counted_to; /* checkpoints up to this entry hold the upgrade's sums */
    int64_t replay_from;      /* meta.replay_from: a start replays the journal from here */
    struct verify_account *accounts; /* index = id; [0] unused */
    int64_t account_count;
    int64_t system_ids[LEDGER_TRIAL_SYSTEM_MAX]; /* report->trial.system's accounts */
    struct verify_hold *holds;       /* sorted by id: holds are appended in id order */
    size_t hold_count;
    size_t hold_capacity;
};

static enum qb_error problem(struct verify *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum qb_error problem(struct verify *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->report->problem, sizeof v->report->problem, fmt, ap);
    va_end(ap);
    return QB_E_INTERNAL;
}

static struct verify_hold *hold_lookup(struct verify *v, int64_t id)
{
    size_t lo = 0, hi = v->hold_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->holds[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->hold_count && v->holds[lo].id == id ? &v->holds[lo] : NULL;
}

static enum qb_error load_accounts(struct verify *v, struct store *reader)
{
    struct store_stmt *stmt;
    enum qb_error err = store_prepare(reader, "SELECT count(*) FROM accounts", &stmt);
    if (err != QB_OK)
        return QB_E_STORAGE;
    if (store_step(stmt) != STORE_STEP_ROW) {
        store_finalize(stmt);
        return QB_E_STORAGE;
    }
    int64_t count = store_column_int64(stmt, 0);
    store_finalize(stmt);
    v->accounts = calloc((size_t)count + 1, sizeof(struct verify_account));
    QB_ASSERT(v->accounts != NULL);

    /* A journal not keyed may be an older version's, whose accounts have
     * no mac yet (a backup checked before the new version first starts). */
    err = store_prepare(reader,
                        v->report->chain_keyed_from != 0
                            ? "SELECT id, currency, floor_minor, balance_minor, held_minor, "
                              "last_entry_id, kind, spent_day_start_ms, spent_day_minor, "
                              "spent_year, spent_year_minor, spent_lifetime_minor, flags, owner, "
                              "created_at_ms, mac FROM accounts ORDER BY id"
                            : "SELECT id, currency, floor_minor, balance_minor, held_minor, "
                              "last_entry_id, kind, spent_day_start_ms, spent_day_minor, "
                              "spent_year, spent_year_minor, spent_lifetime_minor, flags, owner, "
                              "created_at_ms, NULL FROM accounts ORDER BY id",
                        &stmt);
    if (err != QB_OK)
        return QB_E_STORAGE;
    int rc;
    while ((rc = store_step(stmt)) == STORE_STEP_ROW) {
        int64_t id = store_column_int64(stmt, 0);
        if (id != v->account_count + 1 || id > count) {
            store_finalize(stmt);
            return problem(v, "account ids are not dense at %lld", (long long)id);
        }
        struct verify_account *a = &v->accounts[id];
        a->currency = currency_find(store_column_text(stmt, 1));
        if (a->currency == NULL) {
            store_finalize(stmt);
            return problem(v, "account %lld has an unknown currency", (long long)id);
        }
        a->floor_minor = store_column_int64(stmt, 2);
        a->ckpt_balance_minor = store_column_int64(stmt, 3);
        a->ckpt_held_minor = store_column_int64(stmt, 4);
        a->ckpt_last_entry_id = store_column_int64(stmt, 5);
        a->kind = (enum ledger_account_kind)store_column_int64(stmt, 6);
        if (ledger_account_kind_name(a->kind) == NULL) {
            store_finalize(stmt);
            return problem(v, "account %lld has an unknown kind", (long long)id);
        }
        /* The floor is the row's, outside the hash chain: one lowered by
         * hand would pass every overdraft it allows as within the floor. */
        if (!ledger_account_floor_allowed(a->kind, a->floor_minor)) {
            store_finalize(stmt);
            return problem(v, "account %lld has a floor its kind (%s) does not allow: %lld",
                           (long long)id, ledger_account_kind_name(a->kind),
                           (long long)a->floor_minor);
        }
        a->ckpt_spent = (struct ledger_spent){store_column_int64(stmt, 7), store_column_int64(stmt, 8),
                                              store_column_int64(stmt, 9), store_column_int64(stmt, 10),
                                              store_column_int64(stmt, 11)};
        a->flags = (uint32_t)store_column_int64(stmt, 12);
        a->created_at_ms = store_column_int64(stmt, 14);
        /* Whose account it is (and its kind, currency and floor), which no
         * entry names: tied to the row by the chain key once it is keyed. */
        const char *owner = store_column_text(stmt, 13);
        if (v->report->chain_keyed_from != 0 &&
            (owner == NULL || store_column_is_null(stmt, 15) ||
             store_column_int64(stmt, 15) != ledger_account_mac(&v->chain, id, owner,
                                                                a->currency->code, a->kind,
                                                                a->floor_minor))) {
            store_finalize(stmt);
            return problem(v,
                           "account %lld's row is not the chain key's (its owner, kind, currency "
                           "or floor was changed)",
                           (long long)id);
        }
        struct ledger_trial_balance *trial = &v->report->trial;
        if (a->kind == LEDGER_ACCOUNT_SYSTEM && trial->system_count < LEDGER_TRIAL_SYSTEM_MAX) {
            struct ledger_trial_account *named = &trial->system[trial->system_count];
            snprintf(named->owner, sizeof named->owner, "%s", store_column_text(stmt, 13));
            named->currency = a->currency;
            v->system_ids[trial->system_count++] = id;
        }
        v->account_count = id;
    }
    store_finalize(stmt);
    return rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

const char *ledger_account_kind_name(enum ledger_account_kind kind)
{
    switch (kind) {
    case LEDGER_ACCOUNT_USER:
        return "user";
    case LEDGER_ACCOUNT_MERCHANT:
        return "merchant";
    case LEDGER_ACCOUNT_SYSTEM:
        return "system";
    case LEDGER_ACCOUNT_CREDIT:
        return "credit";
    }
    return NULL;
}

bool ledger_account_floor_allowed(enum ledger_account_kind kind, int64_t floor_minor)
{
    switch (kind) {
    case LEDGER_ACCOUNT_USER:
    case LEDGER_ACCOUNT_MERCHANT:
        return floor_minor == 0; /* their holders' own money, never a debt */
    case LEDGER_ACCOUNT_SYSTEM:
        return floor_minor <= 0; /* LEDGER_FLOOR_NONE too: the outside world */
    case LEDGER_ACCOUNT_CREDIT:
        return floor_minor != LEDGER_FLOOR_NONE && floor_minor <= 0; /* its limit */
    }
    return false;
}

/* The trial balance of the replayed accounts as they stand into trial:
 * a line per currency and kind with accounts made before before_ms, and
 * the system accounts' balances. A sum past int64 is a problem: no real
 * ledger holds that much. */
static enum qb_error trial_sum(struct verify *v, struct ledger_trial_balance *trial,
                               int64_t before_ms)
{
    enum { KINDS = LEDGER_ACCOUNT_CREDIT };
    struct {
        int64_t accounts;
        ledger_int128 balance, held;
    } *sums = calloc(CURRENCY_COUNT_MAX * KINDS, sizeof *sums);
    QB_ASSERT(sums != NULL);
    for (int64_t id = 1; id <= v->account_count; id++) {
        const struct verify_account *a = &v->accounts[id];
        QB_ASSERT(a->kind >= LEDGER_ACCOUNT_USER && a->kind <= LEDGER_ACCOUNT_CREDIT);
        if (a->created_at_ms >= before_ms && a->balance_minor == 0 && a->held_minor == 0)
            continue; /* made after the close: not in its books */
        size_t at = (size_t)a->currency->index * KINDS + (size_t)(a->kind - 1);
        sums[at].accounts++;
        sums[at].balance += a->balance_minor;
        sums[at].held += a->held_minor;
    }
    memset(trial->lines, 0, sizeof trial->lines);
    trial->line_count = 0;
    enum qb_error err = QB_OK;
    for (size_t at = 0; at < CURRENCY_COUNT_MAX * KINDS && err == QB_OK; at++) {
        const struct currency *currency = currency_at(at / KINDS);
        enum ledger_account_kind kind = (enum ledger_account_kind)(at % KINDS + 1);
        if (sums[at].accounts == 0)
            continue;
        if (sums[at].balance > INT64_MAX || sums[at].balance < INT64_MIN ||
            sums[at].held > INT64_MAX) {
            err = problem(v, "the %s accounts' balances in %s sum past 2^63",
                          ledger_account_kind_name(kind), currency->code);
            break;
        }
        trial->lines[trial->line_count++] = (struct ledger_trial_line){
            .currency = currency,
            .kind = kind,
            .accounts = sums[at].accounts,
            .balance_minor = (int64_t)sums[at].balance,
            .held_minor = (int64_t)sums[at].held,
        };
    }
    free(sums);
    /* The owners were read at load, into the report's own trial; this may
     * be that one. */
    const struct ledger_trial_balance *named = &v->report->trial;
    size_t count = 0;
    for (size_t i = 0; i < named->system_count; i++) {
        const struct verify_account *a = &v->accounts[v->system_ids[i]];
        if (a->created_at_ms >= before_ms && a->balance_minor == 0 && a->held_minor == 0)
            continue;
        struct ledger_trial_account line = named->system[i];
        line.balance_minor = a->balance_minor;
        line.held_minor = a->held_minor;
        trial->system[count++] = line;
    }
    trial->system_count = count;
    return err;
}

/* Checks one entry against the running state and applies it. */
static enum qb_error apply_entry(struct verify *v, const struct ledger_entry *e)
{
    char why[160];
    if (!ledger_entry_is_well_formed(e, why, sizeof why))
        return problem(v, "%s", why);
    struct ledger_entry named;
    bool gives_back = ledger_spent_gives_back(v->spending, e);
    if (gives_back && ledger_entry_read(v->reader, e->ref_entry_id, &named) != QB_OK)
        return problem(v, "entry %lld gives back entry %lld, which cannot be read",
                       (long long)e->id, (long long)e->ref_entry_id);
    for (size_t i = 0; i < e->posting_count; i++) {
        const struct ledger_posting *po = &e->postings[i];
        if (po->account_id < 1 || po->account_id > v->account_count)
            return problem(v, "entry %lld posts to unknown account %lld", (long long)e->id,
                           (long long)po->account_id);
        struct verify_account *a = &v->accounts[po->account_id];
        if (a->currency->numeric != po->currency_numeric)
            return problem(v, "entry %lld: currency of account %lld differs", (long long)e->id,
                           (long long)po->account_id);
        if (po->prev_entry_id != a->last_entry_id)
            return problem(v, "entry %lld: account %lld chain points to %lld, expected %lld",
                           (long long)e->id, (long long)po->account_id,
                           (long long)po->prev_entry_id, (long long)a->last_entry_id);
        if (__builtin_add_overflow(a->balance_minor, po->amount_minor, &a->balance_minor) ||
            __builtin_add_overflow(a->held_minor, po->held_delta_minor, &a->held_minor))
            return problem(v, "entry %lld overflows account %lld", (long long)e->id,
                           (long long)po->account_id);
        if (a->balance_minor != po->balance_after_minor)
            return problem(v, "entry %lld: account %lld balance is %lld, the entry says %lld",
                           (long long)e->id, (long long)po->account_id,
                           (long long)a->balance_minor, (long long)po->balance_after_minor);
        if (a->held_minor < 0)
            return problem(v, "entry %lld: account %lld held below zero", (long long)e->id,
                           (long long)po->account_id);
        if (a->floor_minor != LEDGER_FLOOR_NONE && a->balance_minor - a->held_minor < a->floor_minor)
            return problem(v, "entry %lld: account %lld below its floor", (long long)e->id,
                           (long long)po->account_id);
        if (!ledger_spent_count(v->spending, a->kind, e, po, gives_back ? &named : NULL, &a->spent))
            return problem(v,
                           "entry %lld overflows the spending of account %lld, or gives back "
                           "more than it spent",
                           (long long)e->id, (long long)po->account_id);
        /* A start applies an entry to an account only from its checkpoint
         * on and reads the journal only from replay_from: one between the
         * two would be lost to it (a checkpoint left behind), and the start
         * refuses the books that --verify must not pass. */
        if (!v->rebuild && e->id > a->ckpt_last_entry_id && e->id < v->replay_from)
            return problem(v,
                           "account %lld: entry %lld is after its checkpoint (entry %lld) but "
                           "before where a start replays from (entry %lld)",
                           (long long)po->account_id, (long long)e->id,
                           (long long)a->ckpt_last_entry_id, (long long)v->replay_from);
        a->last_entry_id = e->id;
        a->ckpt_entry_seen = a->ckpt_entry_seen || a->ckpt_last_entry_id == e->id;
        if (!v->rebuild && a->ckpt_last_entry_id == e->id &&
            (a->ckpt_balance_minor != a->balance_minor || a->ckpt_held_minor != a->held_minor))
            return problem(v, "account %lld: checkpoint disagrees with the journal at entry %lld",
                           (long long)po->account_id, (long long)e->id);
        /* The sums of a checkpoint written since the upgrade that brought
         * them in; older ones hold what the upgrade copied, current as of
         * spent_counted_to, not as of their entry. */
        if (!v->rebuild && v->spending != NULL && a->ckpt_last_entry_id == e->id &&
            e->id > v->spent_counted_to && memcmp(&a->ckpt_spent, &a->spent, sizeof a->spent) != 0)
            return problem(v, "account %lld: spending sums disagree with the journal at entry %lld",
                           (long long)po->account_id, (long long)e->id);
    }

    const struct ledger_posting *d = &e->postings[0], *c = &e->postings[1];
    if (e->kind == LEDGER_ENTRY_HOLD) {
        if (v->hold_count == v->hold_capacity) {
            v->hold_capacity = v->hold_capacity ? v->hold_capacity * 2 : 256;
            v->holds = realloc(v->holds, v->hold_capacity * sizeof *v->holds);
            QB_ASSERT(v->holds != NULL);
        }
        v->holds[v->hold_count++] = (struct verify_hold){.id = e->id,
                                                         .debit_account_id = d->account_id,
                                                         .credit_account_id = c->account_id,
                                                         .amount_minor = d->held_delta_minor,
                                                         .expires_at_ms = e->expires_at_ms,
                                                         .open = true};
    } else if (e->kind != LEDGER_ENTRY_TRANSFER) {
        struct verify_hold *h = hold_lookup(v, e->ref_entry_id);
        if (h == NULL)
            return problem(v, "entry %lld resolves %lld, which is not a hold", (long long)e->id,
                           (long long)e->ref_entry_id);
        if (!h->open)
            return problem(v, "hold %lld resolved twice (again by entry %lld)", (long long)h->id,
                           (long long)e->id);
        if (d->account_id != h->debit_account_id || c->account_id != h->credit_account_id ||
            -d->held_delta_minor != h->amount_minor)
            return problem(v, "entry %lld does not match hold %lld", (long long)e->id,
                           (long long)h->id);
        h->open = false;
    }
    return QB_OK;
}

static enum qb_error check_holds_table(struct verify *v, struct store *reader)
{
    struct store_stmt *stmt;
    if (store_prepare(reader,
                      "SELECT id, debit_account_id, credit_account_id, amount_minor, "
                      "expires_at_ms FROM holds ORDER BY id",
                      &stmt) != QB_OK)
        return QB_E_STORAGE;
    size_t table_count = 0;
    int rc;
    enum qb_error err = QB_OK;
    while (err == QB_OK && (rc = store_step(stmt)) == STORE_STEP_ROW) {
        struct verify_hold *h = hold_lookup(v, store_column_int64(stmt, 0));
        /* A start takes the deadline from the row too: one moved would
         * release the hold at another time than its entry says. */
        if (h == NULL || !h->open || h->debit_account_id != store_column_int64(stmt, 1) ||
            h->credit_account_id != store_column_int64(stmt, 2) ||
            h->amount_minor != store_column_int64(stmt, 3) ||
            h->expires_at_ms != store_column_int64(stmt, 4))
            err = problem(v, "holds table row %lld is not an open hold of the journal",
                          (long long)store_column_int64(stmt, 0));
        table_count++;
    }
    store_finalize(stmt);
    if (err != QB_OK)
        return err;
    if (rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    size_t open_count = 0;
    for (size_t i = 0; i < v->hold_count; i++)
        open_count += v->holds[i].open;
    v->report->holds_open = (int64_t)open_count;
    if (open_count != table_count)
        return problem(v, "%zu holds are open in the journal but the holds table has %zu",
                       open_count, table_count);
    return QB_OK;
}

/* The chain's key as ledger_open takes it (struct ledger_options). */
static void verify_chain_init(struct verify *v, const struct ledger_options *options)
{
    const uint8_t *key = options != NULL ? options->chain_key : NULL;
    ledger_chain_init(&v->chain, key);
    v->chain_may_begin = key == NULL || options->chain_key_new;
}

static enum qb_error verify_run(struct verify *v, struct store *reader,
                                ledger_verify_progress_fn progress, void *progress_arg)
{
    v->reader = reader;
    /* How many entries the copy holds, first: a check that stops at once
     * (another installation's chain key beside it) still says so, and the
     * copy does not read as empty. */
    struct store_stmt *count;
    if (store_prepare(reader, "SELECT coalesce(max(id), 0) FROM entries", &count) != QB_OK)
        return QB_E_STORAGE;
    if (store_step(count) == STORE_STEP_ROW)
        v->report->entries_total = store_column_int64(count, 0);
    store_finalize(count);
    enum qb_error err = ledger_chain_load(&v->chain, reader);
    if (err == QB_E_CONFLICT)
        return problem(v, "the chain key is not the one the journal was keyed with");
    if (err == QB_E_NOT_FOUND && !v->chain_may_begin)
        return problem(v, "the journal is not keyed, but its chain key was made before");
    if (err != QB_OK && err != QB_E_NOT_FOUND)
        return QB_E_STORAGE;
    v->report->chain_keyed_from = err == QB_OK ? v->chain.keyed_from : 0;
    err = load_accounts(v, reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *meta;
    if (store_prepare(reader, "SELECT value FROM meta WHERE key = 'spent_counted_to'", &meta) !=
        QB_OK)
        return QB_E_STORAGE;
    int meta_rc = store_step(meta);
    if (meta_rc == STORE_STEP_ROW)
        v->spent_counted_to = store_column_int64(meta, 0);
    store_finalize(meta);
    if (meta_rc != STORE_STEP_ROW)
        return QB_E_STORAGE;
    /* Absent in a ledger that never checkpointed: a start replays it all. */
    v->replay_from = 1;
    if (store_prepare(reader, "SELECT value FROM meta WHERE key = 'replay_from'", &meta) != QB_OK)
        return QB_E_STORAGE;
    meta_rc = store_step(meta);
    if (meta_rc == STORE_STEP_ROW)
        v->replay_from = store_column_int64(meta, 0);
    store_finalize(meta);
    if (meta_rc != STORE_STEP_ROW && meta_rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    v->report->accounts_checked = v->account_count;

    struct store_stmt *stmt;
    if (store_prepare(reader, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries ORDER BY id", &stmt) != QB_OK)
        return QB_E_STORAGE;
    uint8_t prev_hash[CRYPTO_SHA256_SIZE] = {0};
    int64_t expect_id = 1;
    bool closed = false; /* report->close taken */
    int rc;
    struct ledger_entry e;
    while (err == QB_OK && (rc = store_step(stmt)) == STORE_STEP_ROW) {
        if (ledger_entry_from_row(stmt, &e) != QB_OK) {
            err = problem(v, "entry %lld is malformed", (long long)expect_id);
            break;
        }
        if (e.id != expect_id) {
            err = problem(v, "entry %lld is missing (next is %lld)", (long long)expect_id,
                          (long long)e.id);
            break;
        }
        uint8_t hash[CRYPTO_SHA256_SIZE];
        ledger_entry_hash(&v->chain, &e, prev_hash, hash);
        if (!crypto_equal(hash, e.hash, CRYPTO_SHA256_SIZE)) {
            err = problem(v, "hash chain broken at entry %lld", (long long)e.id);
            break;
        }
        memcpy(prev_hash, e.hash, CRYPTO_SHA256_SIZE);
        /* The books before the first entry of the close. */
        if (v->report->close_at_ms > 0 && !closed && e.created_at_ms >= v->report->close_at_ms) {
            closed = true;
            v->report->close_entry_id = e.id - 1;
            err = trial_sum(v, &v->report->close, v->report->close_at_ms);
            if (err != QB_OK)
                break;
        }
        err = apply_entry(v, &e);
        expect_id++;
        v->report->entries_checked++;
        v->report->last_entry_at_ms = e.created_at_ms;
        if (progress != NULL && (v->report->entries_checked & 0xffff) == 0 &&
            !progress(v->report->entries_checked, v->report->entries_total, progress_arg))
            err = QB_E_SHUTTING_DOWN;
    }
    store_finalize(stmt);
    if (err != QB_OK)
        return err;
    if (rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    if (progress != NULL &&
        !progress(v->report->entries_checked, v->report->entries_total, progress_arg))
        return QB_E_SHUTTING_DOWN;

    /* Checkpoints must not be ahead of the journal, and accounts never
     * posted to must be empty. */
    for (int64_t id = 1; id <= v->account_count && !v->rebuild; id++) {
        const struct verify_account *a = &v->accounts[id];
        static const struct ledger_spent none;
        if (a->ckpt_last_entry_id >= expect_id ||
            (a->ckpt_last_entry_id == 0 && (a->ckpt_balance_minor != 0 || a->ckpt_held_minor != 0 ||
                                            memcmp(&a->ckpt_spent, &none, sizeof none) != 0)))
            return problem(v, "account %lld: checkpoint disagrees with the journal", (long long)id);
        /* A checkpoint is compared with the journal only at its own entry:
         * one naming an entry of other accounts would never be, and a start
         * would load its balance as it stands. */
        if (a->ckpt_last_entry_id != 0 && !a->ckpt_entry_seen)
            return problem(v,
                           "account %lld: checkpoint names entry %lld, which does not post to it",
                           (long long)id, (long long)a->ckpt_last_entry_id);
    }
    /* A start re-hashes the entry just before replay_from and refuses the
     * books when there is none: replay_from past the next entry (a journal
     * cut short behind its checkpoints' backs) is refused here too, or the
     * check would pass books the daemon will not open. */
    if (!v->rebuild && v->replay_from > expect_id)
        return problem(v, "replay_from is entry %lld, past the journal's end (entry %lld)",
                       (long long)v->replay_from, (long long)(expect_id - 1));
    if (!v->rebuild && v->replay_from < 1)
        return problem(v, "replay_from is %lld, before the journal's first entry",
                       (long long)v->replay_from);
    /* A closed account is empty for good. */
    for (int64_t id = 1; id <= v->account_count; id++) {
        const struct verify_account *a = &v->accounts[id];
        if ((a->flags & LEDGER_ACCOUNT_CLOSED) != 0 &&
            (a->balance_minor != 0 || a->held_minor != 0))
            return problem(v, "account %lld is closed but holds %lld (%lld held)", (long long)id,
                           (long long)a->balance_minor, (long long)a->held_minor);
    }
    /* Money is neither made nor lost: per currency, all balances sum to zero. */
    for (size_t ci = 0; ci < currency_count(); ci++) {
        ledger_int128 sum = 0;
        for (int64_t id = 1; id <= v->account_count; id++)
            if (v->accounts[id].currency == currency_at(ci))
                sum += v->accounts[id].balance_minor;
        if (sum != 0)
            return problem(v, "balances in %s do not sum to zero", currency_at(ci)->code);
    }
    if (v->rebuild) {
        size_t open_count = 0;
        for (size_t i = 0; i < v->hold_count; i++)
            open_count += v->holds[i].open;
        v->report->holds_open = (int64_t)open_count;
        return QB_OK;
    }
    err = check_holds_table(v, reader);
    if (err == QB_OK)
        err = trial_sum(v, &v->report->trial, INT64_MAX);
    /* A close after the last entry: the books as they end, of the accounts
     * made by then. */
    if (err == QB_OK && v->report->close_at_ms > 0 && !closed) {
        v->report->close_entry_id = expect_id - 1;
        err = trial_sum(v, &v->report->close, v->report->close_at_ms);
    }
    return err;
}

enum qb_error ledger_verify(struct store *reader, const struct ledger_options *options,
                            int64_t close_at_ms, struct ledger_verify_report *report,
                            ledger_verify_progress_fn progress, void *progress_arg)
{
    QB_ASSERT(close_at_ms >= 0);
    memset(report, 0, sizeof *report);
    report->close_at_ms = close_at_ms;
    struct verify v = {.report = report};
    if (options != NULL && options->spending_code != NULL)
        v.spending = options;
    verify_chain_init(&v, options);
    /* One read transaction: a consistent snapshot even beside a live writer. */
    enum qb_error err = store_begin(reader);
    if (err == QB_OK) {
        err = verify_run(&v, reader, progress, progress_arg);
        if (store_rollback(reader) != QB_OK && err == QB_OK)
            err = QB_E_STORAGE;
    } else {
        err = QB_E_STORAGE;
    }
    if (err != QB_OK) {
        memset(&report->trial, 0, sizeof report->trial);
        memset(&report->close, 0, sizeof report->close);
        report->close_entry_id = 0;
    }
    if (err == QB_E_SHUTTING_DOWN)
        snprintf(report->problem, sizeof report->problem, "stopped after %lld entries",
                 (long long)report->entries_checked);
    if (err == QB_E_STORAGE && report->problem[0] == '\0')
        snprintf(report->problem, sizeof report->problem, "storage: %s", store_last_error(reader));
    free(v.accounts);
    free(v.holds);
    crypto_wipe(&v.chain, sizeof v.chain);
    return err;
}

/* Writes over the checkpoints, the holds table and replay_from what v
 * derived from the journal (verify_run with v->rebuild), in the caller's
 * transaction. */
static enum qb_error rebuild_write(struct verify *v, struct store *writer,
                                   struct ledger_rebuild_report *out)
{
    for (int64_t id = 1; id <= v->account_count; id++) {
        const struct verify_account *a = &v->accounts[id];
        /* The sums of an account last moved before the upgrade that brought
         * them in are the ones it copied (verify_run cannot check them); as
         * the journal counts them otherwise, or none without a rule. */
        struct ledger_spent spent = a->spent;
        if (v->spending == NULL || a->last_entry_id <= v->spent_counted_to)
            spent = a->ckpt_spent;
        if (a->ckpt_balance_minor == a->balance_minor && a->ckpt_held_minor == a->held_minor &&
            a->ckpt_last_entry_id == a->last_entry_id &&
            memcmp(&a->ckpt_spent, &spent, sizeof spent) == 0)
            continue;
        const struct store_param params[] = {STORE_INT(a->balance_minor),
                                             STORE_INT(a->held_minor),
                                             STORE_INT(a->last_entry_id),
                                             STORE_INT(spent.day_start_ms),
                                             STORE_INT(spent.day_minor),
                                             STORE_INT(spent.year),
                                             STORE_INT(spent.year_minor),
                                             STORE_INT(spent.lifetime_minor),
                                             STORE_INT(id)};
        if (store_run(
                writer,
                "UPDATE accounts SET balance_minor = $1, held_minor = $2, last_entry_id = $3, "
                "spent_day_start_ms = $4, spent_day_minor = $5, spent_year = $6, "
                "spent_year_minor = $7, spent_lifetime_minor = $8 WHERE id = $9",
                params, sizeof params / sizeof params[0]) != QB_OK)
            return QB_E_STORAGE;
        if (out->accounts_rewritten <
            (int64_t)(sizeof out->first_accounts / sizeof out->first_accounts[0]))
            out->first_accounts[out->accounts_rewritten] = id;
        out->accounts_rewritten++;
    }

    /* The holds table: rewritten whole when it is not the journal's open
     * holds (check_holds_table's refusal, not a fault, says so). */
    enum qb_error holds = check_holds_table(v, writer);
    if (holds == QB_E_STORAGE)
        return QB_E_STORAGE;
    if (holds != QB_OK) {
        v->report->problem[0] = '\0';
        out->holds_rewritten = true;
        if (store_run(writer, "DELETE FROM holds", NULL, 0) != QB_OK)
            return QB_E_STORAGE;
        for (size_t i = 0; i < v->hold_count; i++) {
            const struct verify_hold *h = &v->holds[i];
            if (!h->open)
                continue;
            const struct store_param params[] = {
                STORE_INT(h->id), STORE_INT(h->debit_account_id), STORE_INT(h->credit_account_id),
                STORE_INT(h->amount_minor), STORE_INT(h->expires_at_ms)};
            if (store_run(writer,
                          "INSERT INTO holds (id, debit_account_id, credit_account_id, "
                          "amount_minor, expires_at_ms) VALUES ($1, $2, $3, $4, $5)",
                          params, sizeof params / sizeof params[0]) != QB_OK)
                return QB_E_STORAGE;
        }
    }

    /* Every checkpoint is now current: a start replays nothing. */
    out->replay_from_before = v->replay_from;
    out->replay_from = v->report->entries_checked + 1;
    const struct store_param replay[] = {STORE_INT(out->replay_from)};
    if (store_run(writer, "UPDATE meta SET value = $1 WHERE key = 'replay_from'", replay, 1) !=
        QB_OK)
        return QB_E_STORAGE;
    return QB_OK;
}

enum qb_error ledger_rebuild_checkpoints(struct store *writer, const struct ledger_options *options,
                                         struct ledger_rebuild_report *out,
                                         ledger_verify_progress_fn progress, void *progress_arg)
{
    memset(out, 0, sizeof *out);
    struct verify v = {.report = &out->journal, .rebuild = true};
    if (options != NULL && options->spending_code != NULL)
        v.spending = options;
    verify_chain_init(&v, options);
    /* One write transaction: the journal read and what is written from it
     * are one snapshot, and a failure leaves the database as it was. */
    enum qb_error err = store_begin(writer);
    if (err != QB_OK) {
        err = QB_E_STORAGE;
    } else {
        err = verify_run(&v, writer, progress, progress_arg);
        if (err == QB_OK)
            err = rebuild_write(&v, writer, out);
        if (err == QB_OK)
            err = store_commit(writer) == QB_OK ? QB_OK : QB_E_STORAGE;
        if (err != QB_OK && store_rollback(writer) != QB_OK)
            err = QB_E_STORAGE;
    }
    if (err == QB_E_STORAGE && out->journal.problem[0] == '\0')
        snprintf(out->journal.problem, sizeof out->journal.problem, "storage: %s",
                 store_last_error(writer));
    if (err != QB_OK) {
        out->accounts_rewritten = 0;
        out->holds_rewritten = false;
    }
    free(v.accounts);
    free(v.holds);
    crypto_wipe(&v.chain, sizeof v.chain);
    return err;
}
