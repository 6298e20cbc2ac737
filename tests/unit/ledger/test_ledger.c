/*
 * test_ledger.c — unit tests of the ledger against its contract (ledger.h).
 *
 * Every test runs a real ledger on a fresh SQLite database in a temporary
 * directory (ledger_fixture.h), sends commands through the executor as a
 * domain module would, and checks what readers see afterwards: committed
 * views, entries and history on a read connection, and ledger_verify. Time is
 * a manual clock, so hold expiry is exact and no test sleeps.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/ledger_int.h"
#include "ledger_fixture.h"
#include "test.h"
#include "unit/store_int.h"

#define ASSERT_OK(expr) ASSERT_EQ_INT((expr), QB_OK)
#define ASSERT_ERR(expr, err) ASSERT_EQ_STR(error_name(expr), error_name(err))

/* Expects the committed view of an account to hold these amounts. */
#define ASSERT_VIEW(fx, id, balance, held)                           \
    do {                                                             \
        struct ledger_account_view v_ = fx_view((fx), (id));         \
        ASSERT_EQ_INT(v_.balance_minor, (balance));                  \
        ASSERT_EQ_INT(v_.held_minor, (held));                        \
        ASSERT_EQ_INT(v_.available_minor, (balance) - (held));       \
    } while (0)

static struct ledger_entry *entry_new(void)
{
    struct ledger_entry *e = calloc(1, sizeof *e);
    ASSERT(e != NULL);
    return e;
}

/* Reads one committed entry; it must exist. Caller frees. */
static struct ledger_entry *entry_get(struct fx *fx, int64_t entry_id)
{
    struct ledger_entry *e = entry_new();
    enum qb_error rc = ledger_entry_read(fx->reader, entry_id, e);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_entry_read(%" PRId64 "): %s", entry_id, error_name(rc));
    ASSERT_EQ_INT(e->id, entry_id);
    return e;
}

/* Walks the whole history of an account with pages of `limit` and writes the
 * entry ids (newest first) into ids; answers how many. Checks the paging
 * contract on the way: full pages until the last, next_cursor the next older
 * entry, 0 at the end. */
static size_t history_ids(struct fx *fx, int64_t account_id, size_t limit, int64_t *ids,
                          size_t ids_max)
{
    struct ledger_entry *page = calloc(limit, sizeof *page);
    ASSERT(page != NULL);
    size_t total = 0;
    int64_t cursor = 0;
    for (int round = 0;; round++) {
        ASSERT(round < 1000);
        size_t count = 99999;
        int64_t next = -1;
        enum qb_error rc =
            ledger_history(fx->ledger, fx->reader, account_id, cursor, limit, page, &count, &next);
        if (rc != QB_OK)
            TEST_FAIL_("ledger_history(%" PRId64 ", cursor %" PRId64 ", limit %zu): %s",
                       account_id, cursor, limit, error_name(rc));
        ASSERT(count <= limit);
        for (size_t i = 0; i < count; i++) {
            ASSERT(total < ids_max);
            if (total > 0)
                ASSERT(page[i].id < ids[total - 1]); /* newest first, no repeats */
            if (i == 0 && cursor != 0)
                ASSERT_EQ_INT(page[i].id, cursor); /* the page starts at the cursor */
            const struct ledger_posting *p = ledger_entry_posting(&page[i], account_id);
            ASSERT(p != NULL);
            if (i + 1 < count)
                ASSERT_EQ_INT(p->prev_entry_id, page[i + 1].id);
            ids[total++] = page[i].id;
        }
        if (count < limit) {
            ASSERT_EQ_INT(next, 0); /* a short page is the last */
            break;
        }
        /* A full page: next is the previous entry of the last one, or 0. */
        const struct ledger_posting *last = ledger_entry_posting(&page[count - 1], account_id);
        ASSERT(last != NULL);
        ASSERT_EQ_INT(next, last->prev_entry_id);
        if (next == 0)
            break;
        cursor = next;
    }
    free(page);
    return total;
}

/* --- accounts ----------------------------------------------------------- */

TEST(account_create_and_view)
{
    /* A new account starts empty with exactly the spec it was made with, and
     * is found again by (owner, currency, kind): every domain relies on it. */
    struct fx *fx = fx_new();
    int64_t id = fx_create(fx, "user:u_alice", fx->cny, LEDGER_ACCOUNT_USER, 0, 0);
    int64_t credit = fx_create(fx, "user:u_alice", fx->cny, LEDGER_ACCOUNT_CREDIT, 0, -5000);
    ASSERT(id != credit);
    struct ledger_account_view v = fx_view(fx, id);
    ASSERT_EQ_INT(v.id, id);
    ASSERT(v.currency == fx->cny);
    ASSERT_EQ_INT(v.kind, LEDGER_ACCOUNT_USER);
    ASSERT_EQ_INT(v.flags, 0);
    ASSERT_EQ_INT(v.floor_minor, 0);
    ASSERT_EQ_INT(v.balance_minor, 0);
    ASSERT_EQ_INT(v.held_minor, 0);
    ASSERT_EQ_INT(v.available_minor, 0);
    ASSERT_EQ_INT(v.last_entry_id, 0);
    v = fx_view(fx, credit);
    ASSERT_EQ_INT(v.kind, LEDGER_ACCOUNT_CREDIT);
    ASSERT_EQ_INT(v.floor_minor, -5000);
    v = fx_view(fx, fx->sys_id);
    ASSERT_EQ_INT(v.floor_minor, LEDGER_FLOOR_NONE);

    int64_t found = 0;
    ASSERT_OK(ledger_account_find(fx->reader, "user:u_alice", fx->cny, LEDGER_ACCOUNT_USER, &found));
    ASSERT_EQ_INT(found, id);
    ASSERT_OK(
        ledger_account_find(fx->reader, "user:u_alice", fx->cny, LEDGER_ACCOUNT_CREDIT, &found));
    ASSERT_EQ_INT(found, credit);
    ASSERT_ERR(ledger_account_find(fx->reader, "user:u_bob", fx->cny, LEDGER_ACCOUNT_USER, &found),
               QB_E_NOT_FOUND);
    ASSERT_ERR(ledger_account_find(fx->reader, "user:u_alice", fx->usd, LEDGER_ACCOUNT_USER, &found),
               QB_E_NOT_FOUND);
    fx_free(fx);
}

TEST(account_duplicate_conflicts)
{
    /* (owner, currency, kind) names an account: a second one would split a
     * user's money in two, so it is refused with CONFLICT; another currency
     * or kind for the same owner is a different account. */
    struct fx *fx = fx_new();
    int64_t id = fx_user(fx, "user:u_dup");
    struct ledger_account_spec spec = {"user:u_dup", fx->cny, LEDGER_ACCOUNT_USER, 0, 0};
    int64_t again = -1;
    ASSERT_ERR(fx_create_rc(fx, &spec, &again), QB_E_CONFLICT);
    /* Different flags do not make it a different account, nor does a
     * different floor (a credit line's: a user's is always 0). */
    spec.flags = LEDGER_ACCOUNT_DEBIT_FROZEN;
    ASSERT_ERR(fx_create_rc(fx, &spec, &again), QB_E_CONFLICT);
    int64_t credit = fx_create(fx, "user:u_dup", fx->cny, LEDGER_ACCOUNT_CREDIT, 0, -5000);
    spec = (struct ledger_account_spec){"user:u_dup", fx->cny, LEDGER_ACCOUNT_CREDIT, 0, -100};
    ASSERT_ERR(fx_create_rc(fx, &spec, &again), QB_E_CONFLICT);
    spec = (struct ledger_account_spec){"user:u_dup", fx->usd, LEDGER_ACCOUNT_USER, 0, 0};
    int64_t usd = 0;
    ASSERT_OK(fx_create_rc(fx, &spec, &usd));
    spec = (struct ledger_account_spec){"user:u_dup", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0};
    int64_t merchant = 0;
    ASSERT_OK(fx_create_rc(fx, &spec, &merchant));
    ASSERT(usd != id && merchant != id && usd != merchant && credit != id);
    /* The refused creations left the first accounts as they were. */
    struct ledger_account_view v = fx_view(fx, id);
    ASSERT_EQ_INT(v.flags, 0);
    ASSERT_EQ_INT(v.floor_minor, 0);
    ASSERT_EQ_INT(fx_view(fx, credit).floor_minor, -5000);
    fx_free(fx);
}

TEST(account_bad_spec_refused)
{
    /* A spec without a currency, with no owner, an over-long owner, an
     * unknown kind or a floor its kind does not allow is a programming or
     * input error the ledger must refuse with PARAM rather than store (the
     * check would refuse the books that hold it). */
    struct fx *fx = fx_new();
    int64_t id = -1;
    struct ledger_account_spec spec = {"user:u_x", NULL, LEDGER_ACCOUNT_USER, 0, 0};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"", fx->cny, LEDGER_ACCOUNT_USER, 0, 0};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){NULL, fx->cny, LEDGER_ACCOUNT_USER, 0, 0};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    char long_owner[LEDGER_OWNER_SIZE_MAX + 1];
    memset(long_owner, 'o', sizeof long_owner - 1);
    long_owner[sizeof long_owner - 1] = '\0'; /* LEDGER_OWNER_SIZE_MAX bytes + NUL: too long */
    spec = (struct ledger_account_spec){long_owner, fx->cny, LEDGER_ACCOUNT_USER, 0, 0};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"user:u_x", fx->cny, (enum ledger_account_kind)99, 0, 0};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"user:u_x", fx->cny, LEDGER_ACCOUNT_USER, 0, -1};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"user:u_x", fx->cny, LEDGER_ACCOUNT_USER, 0,
                                        LEDGER_FLOOR_NONE};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"merchant:m_x", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, -1};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"user:u_x", fx->cny, LEDGER_ACCOUNT_CREDIT, 0,
                                        LEDGER_FLOOR_NONE};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    spec = (struct ledger_account_spec){"system:s_x", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0, 1};
    ASSERT_ERR(fx_create_rc(fx, &spec, &id), QB_E_PARAM);
    /* Nothing was stored by the refusals. */
    ASSERT_ERR(ledger_account_find(fx->reader, "user:u_x", fx->cny, LEDGER_ACCOUNT_USER, &id),
               QB_E_NOT_FOUND);
    /* The longest owner that fits is fine. */
    long_owner[LEDGER_OWNER_SIZE_MAX - 1] = '\0';
    spec = (struct ledger_account_spec){long_owner, fx->cny, LEDGER_ACCOUNT_USER, 0, 0};
    ASSERT_OK(fx_create_rc(fx, &spec, &id));
    fx_free(fx);
}

TEST(account_view_unknown_not_found)
{
    /* Reading an account that does not exist must answer NOT_FOUND, never a
     * zero balance a caller could mistake for a real account. */
    struct fx *fx = fx_new();
    struct ledger_account_view v;
    ASSERT_ERR(ledger_account_view(fx->ledger, fx->sys_id + 1000, &v), QB_E_NOT_FOUND);
    ASSERT_ERR(ledger_account_view(fx->ledger, 0, &v), QB_E_NOT_FOUND);
    ASSERT_ERR(ledger_account_view(fx->ledger, -1, &v), QB_E_NOT_FOUND);
    ASSERT_ERR(ledger_account_view(fx->ledger, INT64_MAX, &v), QB_E_NOT_FOUND);
    fx_free(fx);
}

TEST(account_debit_frozen)
{
    /* A DEBIT_FROZEN account (a freeze by risk control) must refuse every
     * movement out of it, holds included, but still receive money. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 10000);
    ASSERT_OK(fx_set_flags(fx, a, LEDGER_ACCOUNT_DEBIT_FROZEN));
    ASSERT_EQ_INT(fx_view(fx, a).flags, LEDGER_ACCOUNT_DEBIT_FROZEN);
    int64_t entry = 0;
    ASSERT_ERR(fx_transfer(fx, a, b, 100, &entry), QB_E_ACCOUNT_FROZEN);
    ASSERT_ERR(fx_hold(fx, a, b, 100, 0, &entry), QB_E_ACCOUNT_FROZEN);
    ASSERT_VIEW(fx, a, 10000, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    fx_fund(fx, a, 500);
    ASSERT_VIEW(fx, a, 10500, 0);
    ASSERT_OK(fx_set_flags(fx, a, 0));
    ASSERT_OK(fx_transfer(fx, a, b, 100, &entry));
    ASSERT_VIEW(fx, a, 10400, 0);
    ASSERT_VIEW(fx, b, 100, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(account_credit_frozen)
{
    /* A CREDIT_FROZEN account must refuse money coming in while money may
     * still leave it; CLOSED refuses both directions. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 10000);
    ASSERT_OK(fx_set_flags(fx, a, LEDGER_ACCOUNT_CREDIT_FROZEN));
    int64_t entry = 0;
    ASSERT_ERR(fx_transfer(fx, fx->sys_id, a, 100, &entry), QB_E_ACCOUNT_FROZEN);
    ASSERT_VIEW(fx, a, 10000, 0);
    ASSERT_OK(fx_transfer(fx, a, b, 300, &entry));
    ASSERT_VIEW(fx, a, 9700, 0);
    ASSERT_VIEW(fx, b, 300, 0);

    /* Only an empty account closes: not with a balance, nor with money held. */
    ASSERT_ERR(fx_set_flags(fx, a, LEDGER_ACCOUNT_CLOSED), QB_E_CONFLICT);
    ASSERT_OK(fx_set_flags(fx, a, 0));
    int64_t hold = 0;
    ASSERT_OK(fx_hold(fx, a, b, 9700, 0, &hold));
    ASSERT_VIEW(fx, a, 9700, 9700);
    ASSERT_ERR(fx_set_flags(fx, a, LEDGER_ACCOUNT_CLOSED), QB_E_CONFLICT);
    ASSERT_OK(fx_capture(fx, hold, 9700, &entry));
    ASSERT_VIEW(fx, a, 0, 0);
    ASSERT_OK(fx_set_flags(fx, a, LEDGER_ACCOUNT_CLOSED));
    ASSERT(fx_transfer(fx, a, b, 1, &entry) != QB_OK);
    ASSERT(fx_transfer(fx, b, a, 1, &entry) != QB_OK);
    ASSERT_VIEW(fx, a, 0, 0);
    ASSERT_VIEW(fx, b, 10000, 0);
    /* For good: the other flags may change, CLOSED stays. */
    ASSERT_ERR(fx_set_flags(fx, a, 0), QB_E_CONFLICT);
    ASSERT_OK(fx_set_flags(fx, a, LEDGER_ACCOUNT_CLOSED | LEDGER_ACCOUNT_DEBIT_FROZEN));
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(account_flags_refuse_unknown_account)
{
    /* Setting flags on an account that does not exist must say so instead
     * of silently doing nothing. */
    struct fx *fx = fx_new();
    ASSERT_ERR(fx_set_flags(fx, fx->sys_id + 1000, LEDGER_ACCOUNT_DEBIT_FROZEN), QB_E_NOT_FOUND);
    fx_free(fx);
}

TEST(account_create_rolled_back_with_command)
{
    /* An account created by a command that then fails must vanish
     * completely: not visible, not found, and not blocking a later creation
     * of the same (owner, currency, kind) with a phantom CONFLICT. */
    struct fx *fx = fx_new();
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *create = fx_script_add(&s, FX_OP_CREATE);
    create->spec = (struct ledger_account_spec){"user:u_ghost", fx->cny, LEDGER_ACCOUNT_USER, 0, 0};
    struct fx_op *fund = fx_script_add(&s, FX_OP_POST);
    fund->leg_count = 2;
    fund->legs[0] = (struct ledger_leg){fx->sys_id, -100};
    fund->legs[1] = (struct ledger_leg){fx->sys_id + 1, 100}; /* the new account's likely id */
    fund->ignore_error = true;
    fx_script_add(&s, FX_OP_FAIL)->fail_with = QB_E_RISK_REJECTED;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_RISK_REJECTED);
    fx_script_release(&s);
    ASSERT_OK(create->result);
    int64_t ghost = create->out_id;
    struct ledger_account_view v;
    ASSERT_ERR(ledger_account_view(fx->ledger, ghost, &v), QB_E_NOT_FOUND);
    int64_t found = 0;
    ASSERT_ERR(ledger_account_find(fx->reader, "user:u_ghost", fx->cny, LEDGER_ACCOUNT_USER, &found),
               QB_E_NOT_FOUND);
    ASSERT_VIEW(fx, fx->sys_id, 0, 0);

    int64_t real = fx_user(fx, "user:u_ghost");
    ASSERT_OK(ledger_account_find(fx->reader, "user:u_ghost", fx->cny, LEDGER_ACCOUNT_USER, &found));
    ASSERT_EQ_INT(found, real);
    ASSERT_VIEW(fx, real, 0, 0);
    fx_fund(fx, real, 50);
    ASSERT_VIEW(fx, real, 50, 0);
    fx_restart(fx);
    ASSERT_VIEW(fx, real, 50, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(account_working_state_of_unknown)
{
    /* Inside a command, the working state of an account that does not exist
     * is NOT_FOUND, like the committed view. */
    struct fx *fx = fx_new();
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *get = fx_script_add(&s, FX_OP_GET);
    get->account_id = fx->sys_id + 1000;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_NOT_FOUND);
    fx_script_release(&s);
    fx_free(fx);
}

/* --- postings ------------------------------------------------------------ */

TEST(post_transfer_moves_money)
{
    /* A two-leg transfer moves money; the committed view shows it only once
     * ledger_execute returned (readers never see the writer's uncommitted
     * state), and the stored entry holds exactly what was posted. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t fund_id = fx_fund(fx, a, 10000);
    ASSERT_EQ_INT(fx_view(fx, a).last_entry_id, fund_id);

    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *post = fx_script_post2(&s, a, b, 2500);
    post->ref = "tr_0001";
    post->code = 7;
    struct fx_op *get = fx_script_add(&s, FX_OP_GET);
    get->account_id = a;
    ASSERT_OK(fx_exec(fx, &s));
    fx_script_release(&s);
    ASSERT_OK(post->result);
    ASSERT_EQ_INT(post->out_id, fund_id + 1);
    /* Inside the command: the working state moved, the committed one not yet. */
    ASSERT_EQ_INT(get->working.balance_minor, 7500);
    ASSERT_OK(get->committed_result);
    ASSERT_EQ_INT(get->committed.balance_minor, 10000);
    /* After the command: committed. */
    ASSERT_VIEW(fx, a, 7500, 0);
    ASSERT_VIEW(fx, b, 2500, 0);
    ASSERT_EQ_INT(fx_view(fx, a).last_entry_id, post->out_id);
    ASSERT_EQ_INT(fx_view(fx, b).last_entry_id, post->out_id);

    struct ledger_entry *e = entry_get(fx, post->out_id);
    ASSERT_EQ_INT(e->kind, LEDGER_ENTRY_TRANSFER);
    ASSERT_EQ_INT(e->code, 7);
    ASSERT_EQ_STR(e->ref, "tr_0001");
    ASSERT_EQ_INT(e->created_at_ms, FX_START_MS);
    ASSERT_EQ_INT(e->ref_entry_id, 0);
    ASSERT_EQ_INT(e->expires_at_ms, 0);
    ASSERT_EQ_INT(e->posting_count, 2);
    const struct ledger_posting *pa = ledger_entry_posting(e, a);
    const struct ledger_posting *pb = ledger_entry_posting(e, b);
    ASSERT(pa != NULL && pb != NULL);
    ASSERT(ledger_entry_posting(e, fx->sys_id) == NULL);
    ASSERT_EQ_INT(pa->amount_minor, -2500);
    ASSERT_EQ_INT(pa->currency_numeric, fx->cny->numeric);
    ASSERT_EQ_INT(pa->held_delta_minor, 0);
    ASSERT_EQ_INT(pa->balance_after_minor, 7500);
    ASSERT_EQ_INT(pa->prev_entry_id, fund_id);
    ASSERT_EQ_INT(pb->amount_minor, 2500);
    ASSERT_EQ_INT(pb->balance_after_minor, 2500);
    ASSERT_EQ_INT(pb->prev_entry_id, 0);
    /* The chain: this entry's hash differs from its predecessor's. */
    struct ledger_entry *prev = entry_get(fx, fund_id);
    ASSERT(memcmp(prev->hash, e->hash, sizeof e->hash) != 0);
    free(prev);
    free(e);
    /* An entry that does not exist. */
    e = entry_new();
    ASSERT_ERR(ledger_entry_read(fx->reader, post->out_id + 1, e), QB_E_NOT_FOUND);
    free(e);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_unbalanced_refused)
{
    /* Legs that do not sum to zero would create or destroy money: PARAM, and
     * nothing moves. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t fund_id = fx_fund(fx, a, 1000);
    struct ledger_leg legs[] = {{a, -100}, {b, 99}};
    ASSERT_ERR(fx_post(fx, legs, 2, NULL, NULL), QB_E_PARAM);
    struct ledger_leg legs3[] = {{a, -100}, {b, 100}, {fx->sys_id, 1}};
    ASSERT_ERR(fx_post(fx, legs3, 3, NULL, NULL), QB_E_PARAM);
    ASSERT_VIEW(fx, a, 1000, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    ASSERT_EQ_INT(fx_view(fx, a).last_entry_id, fund_id);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_leg_count_refused)
{
    /* An entry needs 2..LEDGER_POSTINGS_MAX legs: one leg cannot balance, and
     * more than the maximum would not fit the fixed-width posting record. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    fx_fund(fx, a, 1000);
    struct ledger_leg one[] = {{a, 100}};
    ASSERT_ERR(fx_post(fx, one, 1, NULL, NULL), QB_E_PARAM);
    ASSERT_ERR(fx_post(fx, one, 0, NULL, NULL), QB_E_PARAM);

    /* LEDGER_POSTINGS_MAX + 1 distinct accounts, balanced. */
    struct ledger_leg many[LEDGER_POSTINGS_MAX + 1];
    int64_t ids[LEDGER_POSTINGS_MAX + 1];
    for (size_t i = 0; i < QB_ARRAY_COUNT(many); i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "system:s%zu", i);
        ids[i] = fx_create(fx, owner, fx->cny, LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE);
        many[i] = (struct ledger_leg){ids[i], i == 0 ? -(int64_t)LEDGER_POSTINGS_MAX : 1};
    }
    ASSERT_ERR(fx_post(fx, many, LEDGER_POSTINGS_MAX + 1, NULL, NULL), QB_E_PARAM);
    for (size_t i = 0; i < QB_ARRAY_COUNT(many); i++)
        ASSERT_VIEW(fx, ids[i], 0, 0);
    /* Exactly the maximum is fine. */
    many[0].amount_minor = -(int64_t)(LEDGER_POSTINGS_MAX - 1);
    int64_t entry_id = 0;
    ASSERT_OK(fx_post(fx, many, LEDGER_POSTINGS_MAX, NULL, &entry_id));
    struct ledger_entry *e = entry_get(fx, entry_id);
    ASSERT_EQ_INT(e->posting_count, LEDGER_POSTINGS_MAX);
    free(e);
    ASSERT_VIEW(fx, ids[0], -(int64_t)(LEDGER_POSTINGS_MAX - 1), 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_same_account_twice_refused)
{
    /* An account may appear once per entry: twice would make its posting's
     * balance_after ambiguous and could hide a debit behind a credit. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 1000);
    struct ledger_leg legs[] = {{a, -100}, {a, 100}};
    ASSERT_ERR(fx_post(fx, legs, 2, NULL, NULL), QB_E_PARAM);
    struct ledger_leg legs3[] = {{a, -100}, {b, 50}, {a, 50}};
    ASSERT_ERR(fx_post(fx, legs3, 3, NULL, NULL), QB_E_PARAM);
    ASSERT_VIEW(fx, a, 1000, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    fx_free(fx);
}

TEST(post_zero_amount_refused)
{
    /* A zero leg is meaningless and would add an entry that moves nothing
     * to an account's history: PARAM. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 1000);
    struct ledger_leg zero[] = {{a, 0}, {b, 0}};
    ASSERT_ERR(fx_post(fx, zero, 2, NULL, NULL), QB_E_PARAM);
    struct ledger_leg third[] = {{a, -100}, {b, 100}, {fx->sys_id, 0}};
    ASSERT_ERR(fx_post(fx, third, 3, NULL, NULL), QB_E_PARAM);
    ASSERT_VIEW(fx, a, 1000, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    fx_free(fx);
}

TEST(post_mixed_currencies)
{
    /* One entry may move several currencies (a cross-border payment with its
     * FX legs) as long as each currency sums to zero on its own; a sum that
     * is zero only across currencies is refused. */
    struct fx *fx = fx_new();
    int64_t cny_user = fx_user(fx, "user:u_a");
    int64_t cny_fx = fx_create(fx, "system:fx_position", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0,
                               LEDGER_FLOOR_NONE);
    int64_t usd_fx = fx_create(fx, "system:fx_position", fx->usd, LEDGER_ACCOUNT_SYSTEM, 0,
                               LEDGER_FLOOR_NONE);
    int64_t usd_user = fx_create(fx, "user:u_b", fx->usd, LEDGER_ACCOUNT_USER, 0, 0);
    fx_fund(fx, cny_user, 100000);
    struct ledger_leg legs[] = {{cny_user, -72000}, {cny_fx, 72000}, {usd_fx, -10000}, {usd_user, 10000}};
    int64_t entry_id = 0;
    ASSERT_OK(fx_post(fx, legs, 4, "fx_1", &entry_id));
    ASSERT_VIEW(fx, cny_user, 28000, 0);
    ASSERT_VIEW(fx, cny_fx, 72000, 0);
    ASSERT_VIEW(fx, usd_fx, -10000, 0);
    ASSERT_VIEW(fx, usd_user, 10000, 0);
    struct ledger_entry *e = entry_get(fx, entry_id);
    ASSERT_EQ_INT(e->posting_count, 4);
    ASSERT_EQ_INT(ledger_entry_posting(e, usd_user)->currency_numeric, fx->usd->numeric);
    ASSERT_EQ_INT(ledger_entry_posting(e, cny_fx)->currency_numeric, fx->cny->numeric);
    free(e);

    struct ledger_leg cross[] = {{cny_fx, -100}, {usd_user, 100}};
    ASSERT_ERR(fx_post(fx, cross, 2, NULL, NULL), QB_E_PARAM);
    struct ledger_leg cross4[] = {{cny_fx, -100}, {cny_user, 50}, {usd_fx, -50}, {usd_user, 100}};
    ASSERT_ERR(fx_post(fx, cross4, 4, NULL, NULL), QB_E_PARAM);
    ASSERT_VIEW(fx, cny_user, 28000, 0);
    ASSERT_VIEW(fx, usd_user, 10000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_overdraft_refused)
{
    /* A user balance has floor 0: a debit past it is INSUFFICIENT_BALANCE and
     * changes nothing; spending exactly everything is fine. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t fund_id = fx_fund(fx, a, 1000);
    int64_t entry_id = 0;
    ASSERT_ERR(fx_transfer(fx, a, b, 1001, &entry_id), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_VIEW(fx, a, 1000, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    ASSERT_EQ_INT(fx_view(fx, a).last_entry_id, fund_id);
    ASSERT_EQ_INT(fx_view(fx, b).last_entry_id, 0);
    ASSERT_OK(fx_transfer(fx, a, b, 1000, &entry_id));
    ASSERT_EQ_INT(entry_id, fund_id + 1); /* the refusal used no entry id */
    ASSERT_VIEW(fx, a, 0, 0);
    ASSERT_ERR(fx_transfer(fx, a, b, 1, &entry_id), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_VIEW(fx, a, 0, 0);
    ASSERT_VIEW(fx, b, 1000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_system_account_no_floor)
{
    /* A system account with LEDGER_FLOOR_NONE is the outside world (bank
     * clearing): it must be able to go as negative as the money it let in. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    fx_fund(fx, a, 5000);
    fx_fund(fx, a, 123456789);
    ASSERT_VIEW(fx, fx->sys_id, -123461789, 0);
    ASSERT_VIEW(fx, a, 123461789, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_credit_line_floor)
{
    /* A credit line with floor -5000 may be drawn to exactly -5000 and no
     * further; held amounts count against the same floor. */
    struct fx *fx = fx_new();
    int64_t credit = fx_create(fx, "user:u_a", fx->cny, LEDGER_ACCOUNT_CREDIT, 0, -5000);
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t entry_id = 0;
    ASSERT_OK(fx_transfer(fx, credit, m, 3000, &entry_id));
    ASSERT_VIEW(fx, credit, -3000, 0);
    int64_t hold_id = 0;
    ASSERT_OK(fx_hold(fx, credit, m, 1500, 0, &hold_id));
    ASSERT_VIEW(fx, credit, -3000, 1500);
    ASSERT_ERR(fx_transfer(fx, credit, m, 501, &entry_id), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_OK(fx_transfer(fx, credit, m, 500, &entry_id));
    ASSERT_VIEW(fx, credit, -3500, 1500);
    ASSERT_ERR(fx_transfer(fx, credit, m, 1, &entry_id), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_OK(fx_void(fx, hold_id, &entry_id));
    ASSERT_OK(fx_transfer(fx, credit, m, 1500, &entry_id));
    ASSERT_VIEW(fx, credit, -5000, 0);
    ASSERT_ERR(fx_transfer(fx, credit, m, 1, &entry_id), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_VIEW(fx, credit, -5000, 0);
    ASSERT_VIEW(fx, m, 5000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_overflow_refused)
{
    /* Balances near INT64_MAX (or INT64_MIN for a system account) must not
     * wrap around: the post that would overflow is refused with OVERFLOW and
     * nothing changes. */
    struct fx *fx = fx_new();
    int64_t big = fx_create(fx, "system:big", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE);
    int64_t small = fx_create(fx, "system:small", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE);
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t entry_id = 0;
    ASSERT_OK(fx_transfer(fx, big, a, INT64_MAX - 10, &entry_id));
    ASSERT_VIEW(fx, a, INT64_MAX - 10, 0);
    ASSERT_ERR(fx_transfer(fx, small, a, 11, &entry_id), QB_E_OVERFLOW);
    ASSERT_VIEW(fx, a, INT64_MAX - 10, 0);
    ASSERT_VIEW(fx, small, 0, 0);
    ASSERT_OK(fx_transfer(fx, small, a, 10, &entry_id));
    ASSERT_VIEW(fx, a, INT64_MAX, 0);
    /* The debit side: big is at -(INT64_MAX - 10); 12 more would pass INT64_MIN. */
    ASSERT_ERR(fx_transfer(fx, big, b, 12, &entry_id), QB_E_OVERFLOW);
    ASSERT_VIEW(fx, big, -(INT64_MAX - 10), 0);
    ASSERT_VIEW(fx, b, 0, 0);
    /* A leg of INT64_MIN cannot be negated or balanced by one leg. */
    struct ledger_leg legs[] = {{small, INT64_MIN}, {b, INT64_MAX}};
    ASSERT(fx_post(fx, legs, 2, NULL, NULL) != QB_OK);
    ASSERT_VIEW(fx, b, 0, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_failed_command_rolls_back_every_entry)
{
    /* A command that posted twice and then failed must leave no trace:
     * balances, last entries and the journal are as before, the entry ids
     * it used are given to the next command, and the chain still verifies. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t c = fx_user(fx, "user:u_c");
    int64_t fund_id = fx_fund(fx, a, 1000);

    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *p1 = fx_script_post2(&s, a, b, 100);
    struct fx_op *p2 = fx_script_post2(&s, a, c, 200);
    struct fx_op *fail = fx_script_add(&s, FX_OP_FAIL);
    fail->fail_with = QB_E_LIMIT_EXCEEDED;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_LIMIT_EXCEEDED);
    fx_script_release(&s);
    ASSERT_OK(p1->result);
    ASSERT_OK(p2->result);
    ASSERT_EQ_INT(p1->out_id, fund_id + 1);
    ASSERT_EQ_INT(p2->out_id, fund_id + 2);

    ASSERT_VIEW(fx, a, 1000, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    ASSERT_VIEW(fx, c, 0, 0);
    ASSERT_EQ_INT(fx_view(fx, a).last_entry_id, fund_id);
    ASSERT_EQ_INT(fx_view(fx, b).last_entry_id, 0);
    struct ledger_entry *e = entry_new();
    ASSERT_ERR(ledger_entry_read(fx->reader, fund_id + 1, e), QB_E_NOT_FOUND);
    ASSERT_ERR(ledger_entry_read(fx->reader, fund_id + 2, e), QB_E_NOT_FOUND);
    free(e);

    int64_t entry_id = 0;
    ASSERT_OK(fx_transfer(fx, a, c, 300, &entry_id));
    ASSERT_EQ_INT(entry_id, fund_id + 1);
    e = entry_get(fx, entry_id);
    ASSERT_EQ_INT(ledger_entry_posting(e, a)->prev_entry_id, fund_id);
    ASSERT_EQ_INT(ledger_entry_posting(e, a)->balance_after_minor, 700);
    free(e);
    ASSERT_VIEW(fx, a, 700, 0);
    ASSERT_VIEW(fx, c, 300, 0);
    fx_verify_ok(fx);
    /* And after a restart, which replays or reloads what was committed. */
    fx_restart(fx);
    ASSERT_VIEW(fx, a, 700, 0);
    ASSERT_VIEW(fx, b, 0, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_failed_command_in_batch_alone_rolled_back)
{
    /* Commands submitted together share a transaction; the failing one in
     * the middle must be rolled back alone while its neighbours commit, with
     * dense entry ids. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t fund_id = fx_fund(fx, a, 1000);
    struct fx_script *s = calloc(3, sizeof *s);
    ASSERT(s != NULL);
    fx_script_init(&s[0]);
    fx_script_post2(&s[0], a, b, 10);
    fx_script_init(&s[1]);
    fx_script_post2(&s[1], a, b, 20);
    fx_script_post2(&s[1], a, b, 30);
    fx_script_add(&s[1], FX_OP_FAIL)->fail_with = QB_E_RISK_REJECTED;
    fx_script_init(&s[2]);
    fx_script_post2(&s[2], a, b, 40);
    struct fx_batch batch;
    fx_batch_init(&batch);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(fx_submit(fx, &batch, &s[i]));
    fx_batch_wait(&batch);
    ASSERT_EQ_INT(batch.done_count, 3);
    fx_batch_destroy(&batch);
    ASSERT_OK(s[0].cmd.result);
    ASSERT_ERR(s[1].cmd.result, QB_E_RISK_REJECTED);
    ASSERT_OK(s[2].cmd.result);
    ASSERT_EQ_INT(s[0].ops[0].out_id, fund_id + 1);
    ASSERT_EQ_INT(s[2].ops[0].out_id, fund_id + 2);
    for (int i = 0; i < 3; i++)
        fx_script_release(&s[i]);
    free(s);
    ASSERT_VIEW(fx, a, 950, 0);
    ASSERT_VIEW(fx, b, 50, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_refused_op_inside_command_leaves_nothing)
{
    /* A command may try a post, get INSUFFICIENT_BALANCE and carry on with
     * another (pay from the credit line instead): the refused post must have
     * left nothing behind, not even a used entry id. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t credit = fx_create(fx, "user:u_a", fx->cny, LEDGER_ACCOUNT_CREDIT, 0, -10000);
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t fund_id = fx_fund(fx, a, 100);
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *first = fx_script_post2(&s, a, m, 500);
    first->ignore_error = true;
    struct fx_op *hold = fx_script_add(&s, FX_OP_HOLD);
    hold->debit_id = a;
    hold->credit_id = m;
    hold->amount_minor = 101;
    hold->ignore_error = true;
    struct fx_op *second = fx_script_post2(&s, credit, m, 500);
    ASSERT_OK(fx_exec(fx, &s));
    fx_script_release(&s);
    ASSERT_ERR(first->result, QB_E_INSUFFICIENT_BALANCE);
    ASSERT_ERR(hold->result, QB_E_INSUFFICIENT_BALANCE);
    ASSERT_OK(second->result);
    ASSERT_EQ_INT(second->out_id, fund_id + 1);
    ASSERT_VIEW(fx, a, 100, 0);
    ASSERT_VIEW(fx, credit, -500, 0);
    ASSERT_VIEW(fx, m, 500, 0);
    ASSERT_EQ_INT(fx_view(fx, a).last_entry_id, fund_id);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_ref_length)
{
    /* A reference must fit LEDGER_REF_SIZE_MAX with its NUL: the longest is
     * stored whole, a longer one is refused rather than cut, since a cut
     * reference would match the wrong order. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    char ref[LEDGER_REF_SIZE_MAX + 1];
    memset(ref, 'r', LEDGER_REF_SIZE_MAX);
    ref[LEDGER_REF_SIZE_MAX] = '\0';
    struct ledger_leg legs[] = {{fx->sys_id, -5}, {a, 5}};
    int64_t entry_id = 0;
    ASSERT_ERR(fx_post(fx, legs, 2, ref, &entry_id), QB_E_PARAM); /* 64 bytes + NUL */
    ASSERT_VIEW(fx, a, 0, 0);
    ref[LEDGER_REF_SIZE_MAX - 1] = '\0';
    ASSERT_OK(fx_post(fx, legs, 2, ref, &entry_id)); /* 63 bytes + NUL */
    struct ledger_entry *e = entry_get(fx, entry_id);
    ASSERT_EQ_STR(e->ref, ref);
    free(e);
    ASSERT_OK(fx_post(fx, legs, 2, NULL, &entry_id));
    e = entry_get(fx, entry_id);
    ASSERT_EQ_STR(e->ref, "");
    free(e);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(post_unknown_account_not_found)
{
    /* A leg naming an account that does not exist is NOT_FOUND, and the
     * existing side is untouched. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    fx_fund(fx, a, 1000);
    int64_t entry_id = 0;
    ASSERT_ERR(fx_transfer(fx, a, a + 1000, 100, &entry_id), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_transfer(fx, a + 1000, a, 100, &entry_id), QB_E_NOT_FOUND);
    ASSERT_VIEW(fx, a, 1000, 0);
    fx_free(fx);
}

/* --- holds ------------------------------------------------------------- */

/* A user with 10000 and a merchant, for the hold tests. */
static void hold_setup(struct fx *fx, int64_t *user, int64_t *merchant)
{
    *user = fx_user(fx, "user:u_payer");
    *merchant = fx_create(fx, "merchant:m_shop", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    fx_fund(fx, *user, 10000);
}

TEST(hold_reserves_available_not_balance)
{
    /* A hold must reduce the available balance at once (so the money cannot
     * be spent twice) while the posted balance and the payee stay as they
     * are until capture. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t hold_id = 0;
    int64_t expires = FX_START_MS + 3600 * 1000;
    ASSERT_OK(fx_hold(fx, u, m, 3000, expires, &hold_id));
    ASSERT_VIEW(fx, u, 10000, 3000);
    ASSERT_VIEW(fx, m, 0, 0);
    ASSERT_EQ_INT(fx_view(fx, u).last_entry_id, hold_id);
    struct ledger_entry *e = entry_get(fx, hold_id);
    ASSERT_EQ_INT(e->kind, LEDGER_ENTRY_HOLD);
    ASSERT_EQ_INT(e->expires_at_ms, expires);
    ASSERT_EQ_STR(e->ref, "hold");
    const struct ledger_posting *p = ledger_entry_posting(e, u);
    ASSERT(p != NULL);
    ASSERT_EQ_INT(p->held_delta_minor, 3000);
    ASSERT_EQ_INT(p->balance_after_minor, 10000);
    free(e);
    int64_t entry_id = 0;
    ASSERT_ERR(fx_transfer(fx, u, m, 7001, &entry_id), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_OK(fx_transfer(fx, u, m, 7000, &entry_id));
    ASSERT_VIEW(fx, u, 3000, 3000);
    ASSERT_VIEW(fx, m, 7000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_capture_full)
{
    /* Capturing the whole hold moves the held money to the payee and clears
     * the reservation, in one CAPTURE entry pointing at the hold. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t hold_id = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 3000, 0, &hold_id));
    ASSERT_OK(fx_capture(fx, hold_id, 3000, &entry_id));
    ASSERT_EQ_INT(entry_id, hold_id + 1);
    ASSERT_VIEW(fx, u, 7000, 0);
    ASSERT_VIEW(fx, m, 3000, 0);
    struct ledger_entry *e = entry_get(fx, entry_id);
    ASSERT_EQ_INT(e->kind, LEDGER_ENTRY_CAPTURE);
    ASSERT_EQ_INT(e->ref_entry_id, hold_id);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->amount_minor, -3000);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->held_delta_minor, -3000);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->prev_entry_id, hold_id);
    ASSERT_EQ_INT(ledger_entry_posting(e, m)->amount_minor, 3000);
    ASSERT_EQ_INT(ledger_entry_posting(e, m)->balance_after_minor, 3000);
    free(e);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_capture_partial_releases_rest)
{
    /* A partial capture (a taxi fare lower than pre-authorised) moves only
     * the captured part and releases the rest of the hold. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t hold_id = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 3000, 0, &hold_id));
    ASSERT_OK(fx_capture(fx, hold_id, 1200, &entry_id));
    ASSERT_VIEW(fx, u, 8800, 0);
    ASSERT_VIEW(fx, m, 1200, 0);
    struct ledger_entry *e = entry_get(fx, entry_id);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->held_delta_minor, -3000);
    free(e);
    /* The rest is spendable again and the hold is gone. */
    ASSERT_OK(fx_transfer(fx, u, m, 8800, &entry_id));
    ASSERT_ERR(fx_capture(fx, hold_id, 1, &entry_id), QB_E_HOLD_RESOLVED);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_capture_amount_out_of_range)
{
    /* Capturing more than was held, zero or a negative amount is PARAM and
     * leaves the hold open and unchanged. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t hold_id = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 3000, 0, &hold_id));
    ASSERT_ERR(fx_capture(fx, hold_id, 3001, &entry_id), QB_E_PARAM);
    ASSERT_ERR(fx_capture(fx, hold_id, 0, &entry_id), QB_E_PARAM);
    ASSERT_ERR(fx_capture(fx, hold_id, -1, &entry_id), QB_E_PARAM);
    ASSERT_ERR(fx_capture(fx, hold_id, INT64_MIN, &entry_id), QB_E_PARAM);
    ASSERT_ERR(fx_capture(fx, hold_id, INT64_MAX, &entry_id), QB_E_PARAM);
    ASSERT_VIEW(fx, u, 10000, 3000);
    ASSERT_VIEW(fx, m, 0, 0);
    ASSERT_OK(fx_capture(fx, hold_id, 3000, &entry_id));
    ASSERT_VIEW(fx, u, 7000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_void_releases)
{
    /* Voiding a hold gives the whole reservation back without moving money,
     * as a VOID entry pointing at the hold. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t hold_id = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 3000, 0, &hold_id));
    ASSERT_OK(fx_void(fx, hold_id, &entry_id));
    ASSERT_VIEW(fx, u, 10000, 0);
    ASSERT_VIEW(fx, m, 0, 0);
    struct ledger_entry *e = entry_get(fx, entry_id);
    ASSERT_EQ_INT(e->kind, LEDGER_ENTRY_VOID);
    ASSERT_EQ_INT(e->ref_entry_id, hold_id);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->held_delta_minor, -3000);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->balance_after_minor, 10000);
    free(e);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_resolves_once)
{
    /* A hold resolves exactly once: a second capture, a capture after a void
     * and a void after a capture are HOLD_RESOLVED and move nothing —
     * otherwise a merchant could be paid twice. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t h1 = 0, h2 = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 1000, 0, &h1));
    ASSERT_OK(fx_hold(fx, u, m, 2000, 0, &h2));
    ASSERT_VIEW(fx, u, 10000, 3000);

    ASSERT_OK(fx_capture(fx, h1, 400, &entry_id));
    ASSERT_ERR(fx_capture(fx, h1, 400, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_ERR(fx_capture(fx, h1, 1, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_ERR(fx_void(fx, h1, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_VIEW(fx, u, 9600, 2000);
    ASSERT_VIEW(fx, m, 400, 0);

    ASSERT_OK(fx_void(fx, h2, &entry_id));
    ASSERT_ERR(fx_capture(fx, h2, 2000, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_ERR(fx_void(fx, h2, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_VIEW(fx, u, 9600, 0);
    ASSERT_VIEW(fx, m, 400, 0);

    /* Twice within one command: the second sees the first. */
    int64_t h3 = 0;
    ASSERT_OK(fx_hold(fx, u, m, 500, 0, &h3));
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *c1 = fx_script_add(&s, FX_OP_CAPTURE);
    c1->hold_id = h3;
    c1->amount_minor = 500;
    struct fx_op *c2 = fx_script_add(&s, FX_OP_CAPTURE);
    c2->hold_id = h3;
    c2->amount_minor = 500;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_HOLD_RESOLVED);
    fx_script_release(&s);
    ASSERT_OK(c1->result);
    ASSERT_VIEW(fx, u, 9600, 500); /* the whole command was rolled back */
    ASSERT_OK(fx_capture(fx, h3, 500, &entry_id));
    ASSERT_VIEW(fx, u, 9100, 0);
    ASSERT_VIEW(fx, m, 900, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(entry_times_never_go_back_when_the_clock_does)
{
    /* Bills and statements walk the journal newest first and stop at the
     * first entry older than what they were asked for: an entry stamped
     * earlier than the one before it (the wall clock stepped back between
     * two batches, or across a restart) would hide the lines behind it.
     * The ledger's time only moves forward, in a batch, across batches and
     * across a restart; it follows the clock again once the clock passed it. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 1000);
    clock_manual_advance(&fx->clock, 60000);
    int64_t first, second, third, fourth;
    ASSERT_OK(fx_transfer(fx, a, b, 1, &first));
    struct ledger_entry *e = entry_get(fx, first);
    int64_t first_ms = e->created_at_ms;
    free(e);
    ASSERT_EQ_INT(first_ms, FX_START_MS + 60000);

    clock_manual_advance(&fx->clock, -30000);
    /* readers are told the ledger's time, not the clock's: also the time
     * they judge deadlines by, which commands are judged by */
    ASSERT_EQ_INT(ledger_now_ms(fx->ledger), first_ms);
    ASSERT_EQ_INT(ledger_settled_ms(fx->ledger), first_ms);
    ASSERT_OK(fx_transfer(fx, a, b, 1, &second));
    e = entry_get(fx, second);
    ASSERT_EQ_INT(e->created_at_ms, first_ms);
    free(e);

    fx_restart(fx);
    ASSERT_EQ_INT(ledger_now_ms(fx->ledger), first_ms);
    ASSERT_EQ_INT(ledger_settled_ms(fx->ledger), first_ms);
    ASSERT_OK(fx_transfer(fx, a, b, 1, &third));
    e = entry_get(fx, third);
    ASSERT_EQ_INT(e->created_at_ms, first_ms);
    free(e);

    clock_manual_advance(&fx->clock, 30001);
    ASSERT_EQ_INT(ledger_now_ms(fx->ledger), first_ms + 1);
    ASSERT_OK(fx_transfer(fx, a, b, 1, &fourth));
    e = entry_get(fx, fourth);
    ASSERT_EQ_INT(e->created_at_ms, first_ms + 1);
    free(e);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_expires_at_deadline)
{
    /* A hold with a deadline is released by the writer (an EXPIRE entry in
     * the payer's history) once the clock passed it, and can then no longer
     * be captured or voided; before the deadline nothing happens, and a hold
     * without deadline never expires. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t h = 0, forever = 0, entry_id = 0;
    int64_t expires = FX_START_MS + 60001;
    ASSERT_OK(fx_hold(fx, u, m, 3000, expires, &h));
    ASSERT_OK(fx_hold(fx, u, m, 1000, 0, &forever));
    ASSERT_VIEW(fx, u, 10000, 4000);

    clock_manual_advance(&fx->clock, 30000);
    fx_nudge(fx);
    ASSERT_VIEW(fx, u, 10000, 4000);

    clock_manual_advance(&fx->clock, 30002); /* now = expires + 1 */
    fx_nudge(fx);
    ASSERT_VIEW(fx, u, 10000, 1000);
    ASSERT_VIEW(fx, m, 0, 0);

    int64_t ids[16];
    size_t n = history_ids(fx, u, 16, ids, 16);
    ASSERT(n >= 1);
    struct ledger_entry *e = entry_get(fx, ids[0]);
    ASSERT_EQ_INT(e->kind, LEDGER_ENTRY_EXPIRE);
    ASSERT_EQ_INT(e->ref_entry_id, h);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->held_delta_minor, -3000);
    ASSERT_EQ_INT(ledger_entry_posting(e, u)->balance_after_minor, 10000);
    ASSERT(e->created_at_ms > expires);
    free(e);

    ASSERT_ERR(fx_capture(fx, h, 3000, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_ERR(fx_void(fx, h, &entry_id), QB_E_HOLD_RESOLVED);

    clock_manual_advance(&fx->clock, INT64_C(400) * 24 * 3600 * 1000);
    fx_nudge(fx);
    ASSERT_VIEW(fx, u, 10000, 1000);
    ASSERT_OK(fx_capture(fx, forever, 1000, &entry_id));
    ASSERT_VIEW(fx, u, 9000, 0);
    ASSERT_VIEW(fx, m, 1000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_past_deadline_not_capturable_in_same_batch)
{
    /* A capture submitted after the deadline must fail even though it is the
     * command that wakes the writer: expiry runs before the batch. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t h = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 3000, FX_START_MS + 1001, &h));
    clock_manual_advance(&fx->clock, 2000);
    ASSERT_ERR(fx_capture(fx, h, 3000, &entry_id), QB_E_HOLD_RESOLVED);
    ASSERT_VIEW(fx, u, 10000, 0);
    ASSERT_VIEW(fx, m, 0, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_larger_than_available_refused)
{
    /* A hold counts against the floor like a debit: one larger than what is
     * available is INSUFFICIENT_BALANCE, and holds add up. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    fx_fund(fx, u, 1000);
    int64_t h = 0;
    ASSERT_ERR(fx_hold(fx, u, m, 1001, 0, &h), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_VIEW(fx, u, 1000, 0);
    ASSERT_OK(fx_hold(fx, u, m, 600, 0, &h));
    ASSERT_ERR(fx_hold(fx, u, m, 401, 0, &h), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_OK(fx_hold(fx, u, m, 400, 0, &h));
    ASSERT_VIEW(fx, u, 1000, 1000);
    ASSERT_ERR(fx_hold(fx, u, m, 1, 0, &h), QB_E_INSUFFICIENT_BALANCE);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_bad_arguments)
{
    /* A hold of zero or a negative amount is PARAM, one on an unknown account
     * NOT_FOUND; nothing is reserved by either. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t h = 0;
    ASSERT_ERR(fx_hold(fx, u, m, 0, 0, &h), QB_E_PARAM);
    ASSERT_ERR(fx_hold(fx, u, m, -5, 0, &h), QB_E_PARAM);
    ASSERT_ERR(fx_hold(fx, u + 1000, m, 5, 0, &h), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_hold(fx, u, m + 1000, 5, 0, &h), QB_E_NOT_FOUND);
    ASSERT_VIEW(fx, u, 10000, 0);
    fx_free(fx);
}

TEST(hold_between_currencies_or_to_itself_refused)
{
    /* A hold's capture is a two-leg entry: a CNY payer with a USD payee (or
     * the payer itself) could never balance, so the hold is refused with
     * PARAM up front instead of failing at capture. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t usd = fx_create(fx, "merchant:m_shop", fx->usd, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t h = 0;
    ASSERT_ERR(fx_hold(fx, u, usd, 100, 0, &h), QB_E_PARAM);
    ASSERT_ERR(fx_hold(fx, u, u, 100, 0, &h), QB_E_PARAM);
    ASSERT_VIEW(fx, u, 10000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(hold_rolled_back_with_command)
{
    /* A hold made by a command that then fails must release its reservation
     * and leave no hold behind, in memory, in the holds table, and after a
     * restart. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *hold = fx_script_add(&s, FX_OP_HOLD);
    hold->debit_id = u;
    hold->credit_id = m;
    hold->amount_minor = 4000;
    hold->expires_at_ms = FX_START_MS + 1001;
    fx_script_add(&s, FX_OP_FAIL)->fail_with = QB_E_LIMIT_EXCEEDED;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_LIMIT_EXCEEDED);
    fx_script_release(&s);
    ASSERT_OK(hold->result);
    ASSERT_VIEW(fx, u, 10000, 0);
    int64_t entry_id = 0;
    ASSERT_ERR(fx_capture(fx, hold->out_id, 4000, &entry_id), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_void(fx, hold->out_id, &entry_id), QB_E_NOT_FOUND);
    clock_manual_advance(&fx->clock, 2000); /* its deadline must not fire either */
    fx_nudge(fx);
    ASSERT_VIEW(fx, u, 10000, 0);
    fx_restart(fx);
    ASSERT_VIEW(fx, u, 10000, 0);
    struct ledger_verify_report report;
    ASSERT_OK(fx_verify(fx, &report));
    ASSERT_EQ_INT(report.holds_open, 0);
    fx_free(fx);
}

TEST(hold_unknown_not_found)
{
    /* Capturing or voiding a hold id that names no hold — nothing at all, or
     * an ordinary transfer entry — is NOT_FOUND. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t entry_id = 0, transfer_id = 0;
    ASSERT_OK(fx_transfer(fx, u, m, 10, &transfer_id));
    ASSERT_ERR(fx_capture(fx, transfer_id + 1000, 10, &entry_id), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_void(fx, transfer_id + 1000, &entry_id), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_capture(fx, 0, 10, &entry_id), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_capture(fx, transfer_id, 10, &entry_id), QB_E_NOT_FOUND);
    ASSERT_ERR(fx_void(fx, transfer_id, &entry_id), QB_E_NOT_FOUND);
    ASSERT_VIEW(fx, u, 9990, 0);
    ASSERT_VIEW(fx, m, 10, 0);
    fx_free(fx);
}

TEST(hold_capture_to_frozen_payee_refused)
{
    /* Capture credits the payee: a CREDIT_FROZEN payee refuses it with
     * ACCOUNT_FROZEN and the hold stays open for a later capture or void. */
    struct fx *fx = fx_new();
    int64_t u, m;
    hold_setup(fx, &u, &m);
    int64_t h = 0, entry_id = 0;
    ASSERT_OK(fx_hold(fx, u, m, 3000, 0, &h));
    ASSERT_OK(fx_set_flags(fx, m, LEDGER_ACCOUNT_CREDIT_FROZEN));
    ASSERT_ERR(fx_capture(fx, h, 3000, &entry_id), QB_E_ACCOUNT_FROZEN);
    ASSERT_VIEW(fx, u, 10000, 3000);
    ASSERT_VIEW(fx, m, 0, 0);
    ASSERT_OK(fx_set_flags(fx, m, 0));
    ASSERT_OK(fx_capture(fx, h, 2000, &entry_id));
    ASSERT_VIEW(fx, u, 8000, 0);
    ASSERT_VIEW(fx, m, 2000, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

/* --- idempotency ------------------------------------------------------------ */

/* A payment u -> m of amount with an idempotency key; run count and response
 * are left in *s (released by the caller). */
static enum qb_error idem_pay(struct fx *fx, struct fx_script *s, const char *principal,
                              const char *key, const char *body, int64_t from, int64_t to,
                              int64_t amount)
{
    fx_script_init(s);
    fx_script_post2(s, from, to, amount);
    fx_script_idem(s, principal, key, body);
    return fx_exec(fx, s);
}

/* Replays (principal, key, body) and checks its answer is `answer`, size bytes. */
static void idem_replays(struct fx *fx, const char *principal, const char *key, const char *body,
                         int64_t from, int64_t to, int64_t amount, const void *answer, size_t size)
{
    struct fx_script again;
    ASSERT_OK(idem_pay(fx, &again, principal, key, body, from, to, amount));
    ASSERT(again.cmd.replayed);
    ASSERT_EQ_INT(again.run_count, 0);
    ASSERT_EQ_INT(again.cmd.response.size, size);
    ASSERT(memcmp(again.cmd.response.data, answer, size) == 0);
    fx_script_release(&again);
}

TEST(idem_same_request_replayed)
{
    /* A retried request (same principal, key and body) must get the original
     * answer byte for byte without running again: a client that lost the
     * response must never pay twice. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script first;
    ASSERT_OK(idem_pay(fx, &first, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300));
    ASSERT_EQ_INT(first.run_count, 1);
    ASSERT(!first.cmd.replayed);
    ASSERT(first.cmd.response.size > 0);
    int64_t entry_id = first.ops[0].out_id;
    ASSERT_VIEW(fx, u, 700, 0);

    idem_replays(fx, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300, first.cmd.response.data,
                 first.cmd.response.size);
    ASSERT_VIEW(fx, u, 700, 0);
    ASSERT_VIEW(fx, m, 300, 0);
    ASSERT_EQ_INT(fx_view(fx, u).last_entry_id, entry_id);

    /* Again after a restart: the record is durable. */
    fx_restart(fx);
    idem_replays(fx, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300, first.cmd.response.data,
                 first.cmd.response.size);
    ASSERT_VIEW(fx, u, 700, 0);
    fx_script_release(&first);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(idem_same_request_in_one_batch_replayed)
{
    /* Two copies of one request submitted back to back (a double tap) may land
     * in the same transaction: the second must still be a replay. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script *s = calloc(2, sizeof *s);
    ASSERT(s != NULL);
    struct fx_batch batch;
    fx_batch_init(&batch);
    for (int i = 0; i < 2; i++) {
        fx_script_init(&s[i]);
        fx_script_post2(&s[i], u, m, 400);
        fx_script_idem(&s[i], "user:u_a", "tap", "{\"amount\":400}");
        ASSERT_OK(fx_submit(fx, &batch, &s[i]));
    }
    fx_batch_wait(&batch);
    fx_batch_destroy(&batch);
    ASSERT_OK(s[0].cmd.result);
    ASSERT_OK(s[1].cmd.result);
    ASSERT(!s[0].cmd.replayed);
    ASSERT(s[1].cmd.replayed);
    ASSERT_EQ_INT(s[0].run_count + s[1].run_count, 1);
    ASSERT_EQ_INT(s[1].cmd.response.size, s[0].cmd.response.size);
    ASSERT(memcmp(s[1].cmd.response.data, s[0].cmd.response.data, s[0].cmd.response.size) == 0);
    ASSERT_VIEW(fx, u, 600, 0);
    ASSERT_VIEW(fx, m, 400, 0);
    fx_script_release(&s[0]);
    fx_script_release(&s[1]);
    free(s);
    fx_free(fx);
}

TEST(idem_answer_set_only_when_the_command_commits)
{
    /* A later command may make a kept answer untrue (a reversed payment):
     * it replaces the answer, a retry gets the new one, and a command that
     * fails after replacing leaves the old one. Another principal's key of
     * the same name is not touched. A key with no record kept is closed:
     * any request under it, whatever its body, gets the answer set (a
     * payment reversed before it arrived), after a restart too, and a
     * command that fails after closing a key leaves it open. */
    static const char reversed[] = "400\n{\"code\":\"REVERSED\"}";
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script first, other, s;
    ASSERT_OK(idem_pay(fx, &first, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300));
    ASSERT_OK(idem_pay(fx, &other, "user:u_b", "key-1", "{\"amount\":100}", m, u, 100));

    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_IDEM_REPLACE);
    op->principal = "user:u_a", op->key = "key-1", op->ref = reversed;
    op = fx_script_add(&s, FX_OP_IDEM_REPLACE);
    op->principal = "user:u_a", op->key = "key-open", op->ref = reversed;
    fx_script_add(&s, FX_OP_FAIL)->fail_with = QB_E_CONFLICT;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_CONFLICT);
    ASSERT_EQ_INT(s.ops[0].out_id, 1);
    ASSERT_EQ_INT(s.ops[1].out_id, 0);
    fx_script_release(&s);
    struct fx_script open;
    ASSERT_OK(idem_pay(fx, &open, "user:u_a", "key-open", "{\"amount\":10}", u, m, 10));
    ASSERT(!open.cmd.replayed);
    ASSERT_EQ_INT(open.run_count, 1);
    fx_script_release(&open);
    idem_replays(fx, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300, first.cmd.response.data,
                 first.cmd.response.size);

    fx_script_init(&s);
    op = fx_script_add(&s, FX_OP_IDEM_REPLACE);
    op->principal = "user:u_a", op->key = "key-1", op->ref = reversed;
    op = fx_script_add(&s, FX_OP_IDEM_REPLACE);
    op->principal = "user:u_a", op->key = "key-none", op->ref = "x";
    ASSERT_OK(fx_exec(fx, &s));
    ASSERT_EQ_INT(s.ops[0].out_id, 1);
    ASSERT_EQ_INT(s.ops[1].out_id, 0);
    fx_script_release(&s);
    idem_replays(fx, "user:u_a", "key-none", "{\"amount\":7}", u, m, 7, "x", 1);
    fx_restart(fx);
    idem_replays(fx, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300, reversed,
                 strlen(reversed));
    idem_replays(fx, "user:u_b", "key-1", "{\"amount\":100}", m, u, 100, other.cmd.response.data,
                 other.cmd.response.size);
    idem_replays(fx, "user:u_a", "key-none", "{\"amount\":8}", u, m, 8, "x", 1);
    ASSERT_VIEW(fx, u, 790, 0);
    fx_script_release(&first);
    fx_script_release(&other);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(idem_different_body_refused)
{
    /* The same key with another body is a client bug or an attack: it must
     * be IDEMPOTENCY_MISMATCH, run nothing, and leave the first answer in
     * place for honest retries. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script first, other, again;
    ASSERT_OK(idem_pay(fx, &first, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300));
    ASSERT_ERR(idem_pay(fx, &other, "user:u_a", "key-1", "{\"amount\":500}", u, m, 500),
               QB_E_IDEMPOTENCY_MISMATCH);
    ASSERT_EQ_INT(other.run_count, 0);
    ASSERT_VIEW(fx, u, 700, 0);
    ASSERT_VIEW(fx, m, 300, 0);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300));
    ASSERT(again.cmd.replayed);
    ASSERT_VIEW(fx, u, 700, 0);
    fx_script_release(&first);
    fx_script_release(&other);
    fx_script_release(&again);
    fx_free(fx);
}

TEST(idem_record_of_a_legacy_fingerprint_answers_its_retry)
{
    /* A record kept before a request's fingerprint changed holds the old
     * one: a retry that brings it as its legacy fingerprint is answered
     * from the record, after a restart too; one that brings another, or
     * none, is another request. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script first, s;
    ASSERT_OK(idem_pay(fx, &first, "user:u_a", "key-1", "{\"amount\":300}", u, m, 300));
    fx_restart(fx);
    for (int round = 0; round < 3; round++) {
        fx_script_init(&s);
        fx_script_post2(&s, u, m, 300);
        fx_script_idem(&s, "user:u_a", "key-1", "{\"amount\": 300}");
        s.cmd.has_legacy_hash = round != 2;
        crypto_sha256(round != 1 ? "{\"amount\":300}" : "{\"amount\":301}", 14,
                      s.cmd.legacy_request_hash);
        enum qb_error err = fx_exec(fx, &s);
        if (round == 0) {
            ASSERT_OK(err);
            ASSERT(s.cmd.replayed);
            ASSERT_EQ_INT(s.cmd.response.size, first.cmd.response.size);
            ASSERT(memcmp(s.cmd.response.data, first.cmd.response.data, s.cmd.response.size) == 0);
        } else {
            ASSERT_ERR(err, QB_E_IDEMPOTENCY_MISMATCH);
        }
        ASSERT_EQ_INT(s.run_count, 0);
        fx_script_release(&s);
    }
    ASSERT_VIEW(fx, u, 700, 0);
    ASSERT_VIEW(fx, m, 300, 0);
    fx_script_release(&first);
    fx_free(fx);
}

TEST(idem_keys_scoped_by_principal)
{
    /* Keys are chosen by clients, so two users may pick the same one: the
     * same key under another principal is a different request and runs. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t m = fx_user(fx, "user:u_m");
    fx_fund(fx, a, 1000);
    fx_fund(fx, b, 1000);
    struct fx_script sa, sb;
    ASSERT_OK(idem_pay(fx, &sa, "user:u_a", "order-1", "{\"amount\":100}", a, m, 100));
    ASSERT_OK(idem_pay(fx, &sb, "user:u_b", "order-1", "{\"amount\":100}", b, m, 100));
    ASSERT(!sb.cmd.replayed);
    ASSERT_EQ_INT(sb.run_count, 1);
    ASSERT(sa.ops[0].out_id != sb.ops[0].out_id);
    ASSERT_VIEW(fx, a, 900, 0);
    ASSERT_VIEW(fx, b, 900, 0);
    ASSERT_VIEW(fx, m, 200, 0);
    fx_script_release(&sa);
    fx_script_release(&sb);
    /* A different body under the other principal is not a mismatch either. */
    ASSERT_OK(idem_pay(fx, &sb, "user:u_b2", "order-1", "{\"amount\":7}", b, m, 7));
    ASSERT(!sb.cmd.replayed);
    fx_script_release(&sb);
    ASSERT_VIEW(fx, m, 207, 0);
    fx_free(fx);
}

TEST(idem_refusal_replayed)
{
    /* A refused request is answered the same way when retried, even if it
     * would now succeed: a client must never see one key both refused and
     * accepted. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 100);
    struct fx_script first, again;
    ASSERT_ERR(idem_pay(fx, &first, "user:u_a", "k", "{\"amount\":500}", u, m, 500),
               QB_E_INSUFFICIENT_BALANCE);
    ASSERT_EQ_INT(first.run_count, 1);
    fx_fund(fx, u, 1000);
    ASSERT_ERR(idem_pay(fx, &again, "user:u_a", "k", "{\"amount\":500}", u, m, 500),
               QB_E_INSUFFICIENT_BALANCE);
    ASSERT(again.cmd.replayed);
    ASSERT_EQ_INT(again.run_count, 0);
    ASSERT_EQ_INT(again.cmd.response.size, first.cmd.response.size);
    if (first.cmd.response.size > 0)
        ASSERT(memcmp(again.cmd.response.data, first.cmd.response.data,
                      first.cmd.response.size) == 0);
    ASSERT_VIEW(fx, u, 1100, 0);
    ASSERT_VIEW(fx, m, 0, 0);
    fx_script_release(&first);
    fx_script_release(&again);
    fx_free(fx);
}

TEST(idem_records_of_the_old_table_moved_at_start)
{
    /* Before schema version 10 records lived in the table idempotency, keyed
     * by (principal, key). The first start after the upgrade moves them to
     * idempotency_records: a retry made across the upgrade is still a
     * replay, another body still a mismatch, and the old table is left
     * empty. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script first, again;
    ASSERT_OK(idem_pay(fx, &first, "user:u_a", "new-key", "{\"amount\":100}", u, m, 100));
    fx_stop(fx);

    /* What an older Qianbao left behind: the same request's record, made
     * under another key, in the old table. */
    struct fx_script old;
    fx_script_init(&old);
    fx_script_idem(&old, "user:u_a", "old-key", "{\"amount\":100}");
    char err[256];
    struct store *raw = NULL;
    ASSERT_OK(store_open(fx->db_path, STORE_MODE_WRITE, &raw, err, sizeof err));
    struct store_stmt *st = NULL;
    ASSERT_OK(store_prepare(raw, "INSERT INTO idempotency (principal, key, request_hash, result, "
                                 "response, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)", &st));
    ASSERT_OK(store_bind_text(st, 1, "user:u_a", 8));
    ASSERT_OK(store_bind_text(st, 2, "old-key", 7));
    ASSERT_OK(store_bind_blob(st, 3, old.cmd.request_hash, CRYPTO_SHA256_SIZE));
    ASSERT_OK(store_bind_int64(st, 4, QB_OK));
    ASSERT_OK(store_bind_blob(st, 5, "201\n{\"old\":true}", 16));
    ASSERT_OK(store_bind_int64(st, 6, FX_START_MS));
    ASSERT_OK(store_step_done(st));
    store_finalize(st);
    store_close(raw);
    fx_script_release(&old);

    fx_start(fx);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "old-key", "{\"amount\":100}", u, m, 100));
    ASSERT(again.cmd.replayed);
    ASSERT_EQ_INT(again.run_count, 0);
    ASSERT_EQ_INT(again.cmd.response.size, 16);
    ASSERT(memcmp(again.cmd.response.data, "201\n{\"old\":true}", 16) == 0);
    fx_script_release(&again);
    ASSERT_ERR(idem_pay(fx, &again, "user:u_a", "old-key", "{\"amount\":9}", u, m, 9),
               QB_E_IDEMPOTENCY_MISMATCH);
    fx_script_release(&again);
    /* The record made by this version is still found beside it. */
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "new-key", "{\"amount\":100}", u, m, 100));
    ASSERT(again.cmd.replayed);
    fx_script_release(&again);
    ASSERT_VIEW(fx, u, 900, 0);

    ASSERT_OK(store_prepare(fx->writer, "SELECT (SELECT COUNT(*) FROM idempotency),"
                                        " (SELECT COUNT(*) FROM idempotency_records)", &st));
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 0);
    ASSERT_EQ_INT(store_column_int64(st, 1), 2); /* new-key and old-key */
    store_finalize(st);
    fx_script_release(&first);
    fx_free(fx);
}

#define RETENTION_MS INT64_C(86400000) /* a day */

static void raw_exec(struct fx *fx, const char *sql);

/* Makes count idempotency records of commands that do nothing, under the
 * keys prefix-0, prefix-1, …, submitted together. */
static void idem_fill(struct fx *fx, const char *prefix, int count)
{
    struct fx_script *scripts = calloc((size_t)count, sizeof *scripts);
    char(*keys)[32] = calloc((size_t)count, sizeof *keys);
    ASSERT(scripts != NULL && keys != NULL);
    struct fx_batch batch;
    fx_batch_init(&batch);
    for (int i = 0; i < count; i++) {
        snprintf(keys[i], sizeof keys[i], "%s-%d", prefix, i);
        fx_script_init(&scripts[i]);
        fx_script_idem(&scripts[i], "user:u_f", keys[i], "{}");
        ASSERT_OK(fx_submit(fx, &batch, &scripts[i]));
    }
    fx_batch_wait(&batch);
    for (int i = 0; i < count; i++) {
        ASSERT_OK(scripts[i].cmd.result);
        fx_script_release(&scripts[i]);
    }
    fx_batch_destroy(&batch);
    free(keys);
    free(scripts);
}

TEST(idem_records_expire_after_the_retention)
{
    /* A key is remembered for the retention and then forgotten: a retry
     * within it replays, one after it runs as a new request, and records
     * made later are kept for their own full retention, across a restart.
     * Records are deleted 256 at least at a time (with 300 more made with
     * each key here), and at most 256 + twice those made since the last
     * chunk. */
    struct fx *fx = fx_new();
    fx->options.idempotency_retention_ms = RETENTION_MS;
    fx_restart(fx);
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    struct fx_script old_first, young_first, again;
    ASSERT_OK(idem_pay(fx, &old_first, "user:u_a", "old", "{\"amount\":100}", u, m, 100));
    idem_fill(fx, "early", 300);
    clock_manual_advance(&fx->clock, RETENTION_MS / 2);
    ASSERT_OK(idem_pay(fx, &young_first, "user:u_a", "young", "{\"amount\":10}", u, m, 10));
    idem_fill(fx, "later", 300);

    /* A millisecond short of the retention: still a replay. */
    clock_manual_advance(&fx->clock, RETENTION_MS / 2 - 1);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "old", "{\"amount\":100}", u, m, 100));
    ASSERT(again.cmd.replayed);
    ASSERT_EQ_INT(again.run_count, 0);
    fx_script_release(&again);
    ASSERT_VIEW(fx, u, 890, 0);

    /* At the retention: the batch forgets the 301 due (old and the early
     * ones: 256 and twice the 602 made since the start may go) before it
     * runs the retry, which pays again and is remembered in its turn. */
    clock_manual_advance(&fx->clock, 1);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "old", "{\"amount\":100}", u, m, 100));
    ASSERT(!again.cmd.replayed);
    ASSERT_EQ_INT(again.run_count, 1);
    fx_script_release(&again);
    ASSERT_VIEW(fx, u, 790, 0);
    ASSERT_EQ_INT(
        test_store_int(fx->reader, "SELECT COUNT(*) FROM idempotency_records WHERE key = 'old'"),
        1);
    struct ledger_stats stats;
    ledger_stats_get(fx->ledger, &stats);
    ASSERT_EQ_INT((int64_t)stats.idempotency_expired_total, 301);
    ASSERT_EQ_INT(stats.idempotency_records, 602 - 301 + 1);
    ASSERT_EQ_INT(stats.idempotency_records,
                  test_store_int(fx->reader, "SELECT COUNT(*) FROM idempotency_records"));

    /* Another body under the young key is still a mismatch, and after a
     * restart both live keys replay. */
    ASSERT_ERR(idem_pay(fx, &again, "user:u_a", "young", "{\"amount\":11}", u, m, 11),
               QB_E_IDEMPOTENCY_MISMATCH);
    fx_script_release(&again);
    fx_restart(fx);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "young", "{\"amount\":10}", u, m, 10));
    ASSERT(again.cmd.replayed);
    ASSERT_EQ_INT(again.cmd.response.size, young_first.cmd.response.size);
    ASSERT(memcmp(again.cmd.response.data, young_first.cmd.response.data,
                  young_first.cmd.response.size) == 0);
    fx_script_release(&again);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "old", "{\"amount\":100}", u, m, 100));
    ASSERT(again.cmd.replayed);
    fx_script_release(&again);
    ASSERT_VIEW(fx, u, 790, 0);

    /* Half a day on, the young record's time has come too (with the later
     * ones: a chunk, of 256 since the restart made none). */
    clock_manual_advance(&fx->clock, RETENTION_MS / 2);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "young", "{\"amount\":10}", u, m, 10));
    ASSERT(!again.cmd.replayed);
    fx_script_release(&again);
    ASSERT_VIEW(fx, u, 780, 0);

    /* Half a day more: the second "old" is due, but with fewer than a chunk
     * due it is kept a while longer, never less than the retention. */
    clock_manual_advance(&fx->clock, RETENTION_MS / 2);
    ASSERT_OK(idem_pay(fx, &again, "user:u_a", "old", "{\"amount\":100}", u, m, 100));
    ASSERT(again.cmd.replayed);
    fx_script_release(&again);
    ASSERT_VIEW(fx, u, 780, 0);
    fx_script_release(&young_first);
    fx_script_release(&old_first);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(idem_expiry_takes_a_bounded_share_of_each_batch)
{
    /* A backlog of expired records (a first start with a retention, or a
     * shorter one) is deleted a few hundred at a time, oldest first, never
     * all in one batch nor in every batch, and never a record a clock step
     * back made look younger out of turn: the walk stops at the first
     * record whose time has not come. What is left, fewer than a chunk,
     * waits. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 1000);
    fx_stop(fx);
    /* 600 old records, then one made "later" whose clock read a day less. */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) "
             "INSERT INTO idempotency_records (seq, fingerprint, principal, key, request_hash, "
             "result, response, created_at_ms) SELECT 100 + i, i, 'user:u_z', 'bulk-' || i, "
             "zeroblob(32), 0, x'', %" PRId64 " FROM n;"
             "INSERT INTO idempotency_records (seq, fingerprint, principal, key, request_hash, "
             "result, response, created_at_ms) VALUES (701, 1, 'user:u_z', 'stepped', "
             "zeroblob(32), 0, x'', %" PRId64 ");"
             "INSERT INTO idempotency_records (seq, fingerprint, principal, key, request_hash, "
             "result, response, created_at_ms) VALUES (702, 2, 'user:u_z', 'last', "
             "zeroblob(32), 0, x'', %" PRId64 ");",
             FX_START_MS, FX_START_MS + RETENTION_MS, FX_START_MS);
    raw_exec(fx, sql);
    fx->options.idempotency_retention_ms = RETENTION_MS;
    fx_start(fx);
    clock_manual_advance(&fx->clock, RETENTION_MS);
    const char *count_bulk = "SELECT COUNT(*) FROM idempotency_records WHERE key LIKE 'bulk-%'";
    ASSERT_EQ_INT(test_store_int(fx->reader, count_bulk), 600);
    struct fx_script s;
    /* Batches of one command: the second in the same millisecond, the
     * others 5 ms apart. */
    static const int64_t advance_ms[4] = {0, 0, 5, 5};
    int64_t remaining[4];
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        clock_manual_advance(&fx->clock, advance_ms[i]);
        ASSERT_OK(idem_pay(fx, &s, "user:u_a", key, "{\"amount\":1}", u, m, 1));
        fx_script_release(&s);
        remaining[i] = test_store_int(fx->reader, count_bulk);
    }
    /* A chunk is 256, plus twice the records made since the last (none at
     * the first, k0 and k1 at the second); the next waits 5 ms; fewer than
     * 256 due wait for more. */
    ASSERT_EQ_INT(remaining[0], 600 - 256);
    ASSERT_EQ_INT(remaining[1], 600 - 256);
    ASSERT_EQ_INT(remaining[2], 600 - 256 - 260);
    ASSERT_EQ_INT(remaining[3], 600 - 256 - 260);
    /* The stepped record is a day from its time: it and the one after it
     * stay, although the last one is a day older. */
    ASSERT_EQ_INT(test_store_int(fx->reader, "SELECT COUNT(*) FROM idempotency_records "
                                             "WHERE key IN ('stepped', 'last')"),
                  2);
    ASSERT_EQ_INT(test_store_int(fx->reader, "SELECT min(seq) FROM idempotency_records"),
                  101 + 256 + 260);
    struct ledger_stats stats;
    ledger_stats_get(fx->ledger, &stats);
    ASSERT_EQ_INT((int64_t)stats.idempotency_expired_total, 256 + 260);
    ASSERT_EQ_INT(stats.idempotency_records, 84 + 2 + 4);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(idem_key_too_long_refused)
{
    /* An idempotency key longer than LEDGER_IDEM_KEY_SIZE_MAX is a client
     * error: refused without running, never truncated (two long keys with a
     * common prefix would collide). */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    char key[LEDGER_IDEM_KEY_SIZE_MAX + 16];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    struct fx_script s;
    enum qb_error rc = idem_pay(fx, &s, "user:u_a", key, "{}", fx->sys_id, u, 10);
    ASSERT(rc != QB_OK);
    ASSERT_EQ_INT(s.run_count, 0);
    fx_script_release(&s);
    ASSERT_VIEW(fx, u, 0, 0);
    fx_free(fx);
}

/* --- history -------------------------------------------------------------- */

TEST(history_pages_newest_first)
{
    /* History pages walk an account's chain newest first; every page size
     * (1, 3, 20) must return the same entries in the same order with a
     * next_cursor that continues exactly where the page stopped. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t other = fx_user(fx, "user:u_other");
    int64_t expected[16];
    size_t expected_count = 0;
    expected[expected_count++] = fx_fund(fx, a, 100000);
    for (int i = 0; i < 6; i++) {
        int64_t entry_id = 0;
        fx_fund(fx, other, 5); /* entries of other accounts in between */
        ASSERT_OK(fx_transfer(fx, a, b, 100 + i, &entry_id));
        expected[expected_count++] = entry_id;
    }
    /* expected is oldest first; 7 entries. */
    size_t limits[] = {1, 3, 7, 20};
    for (size_t l = 0; l < QB_ARRAY_COUNT(limits); l++) {
        int64_t ids[32];
        size_t n = history_ids(fx, a, limits[l], ids, 32);
        ASSERT_EQ_INT(n, expected_count);
        for (size_t i = 0; i < n; i++)
            ASSERT_EQ_INT(ids[i], expected[expected_count - 1 - i]);
    }
    /* One page of 3 from the newest: the cursor names the fourth newest. */
    struct ledger_entry page[3];
    size_t count = 0;
    int64_t next = 0;
    ASSERT_OK(ledger_history(fx->ledger, fx->reader, a, 0, 3, page, &count, &next));
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_INT(page[0].id, expected[6]);
    ASSERT_EQ_INT(page[2].id, expected[4]);
    ASSERT_EQ_INT(next, expected[3]);
    ASSERT_OK(ledger_history(fx->ledger, fx->reader, a, next, 3, page, &count, &next));
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_INT(page[0].id, expected[3]);
    ASSERT_EQ_INT(next, expected[0]);
    ASSERT_OK(ledger_history(fx->ledger, fx->reader, a, next, 3, page, &count, &next));
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(page[0].id, expected[0]);
    ASSERT_EQ_INT(next, 0);
    fx_free(fx);
}

TEST(history_empty_account)
{
    /* An account that never moved has an empty history, not an error. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    struct ledger_entry page[4];
    size_t count = 99;
    int64_t next = 99;
    ASSERT_OK(ledger_history(fx->ledger, fx->reader, a, 0, 4, page, &count, &next));
    ASSERT_EQ_INT(count, 0);
    ASSERT_EQ_INT(next, 0);
    fx_free(fx);
}

TEST(history_read_walks_without_the_ledger)
{
    /* ledger_history_read is the same walk from a starting point the caller
     * holds (a bill cursor): it must give the same pages as ledger_history,
     * and refuse a start that is not on the account's chain. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t c = fx_user(fx, "user:u_c");
    fx_fund(fx, a, 10000);
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ASSERT_OK(fx_transfer(fx, a, b, 10 + i, &ids[i]));
    int64_t c_entry = fx_fund(fx, c, 50);

    struct ledger_entry page[2];
    size_t count = 0;
    int64_t next = 0;
    ASSERT_OK(ledger_history_read(fx->reader, a, ids[4], 2, page, &count, &next));
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_INT(page[0].id, ids[4]);
    ASSERT_EQ_INT(page[1].id, ids[3]);
    ASSERT_EQ_INT(next, ids[2]);
    ASSERT_OK(ledger_history_read(fx->reader, a, ids[1], 2, page, &count, &next));
    ASSERT_EQ_INT(page[0].id, ids[1]);
    ASSERT_EQ_INT(page[1].id, ids[0]);
    ASSERT_NE_INT(next, 0); /* the funding entry is older still */
    /* Not a's entry, no entry at all, no start: a bad cursor. */
    ASSERT_EQ_INT(ledger_history_read(fx->reader, a, c_entry, 2, page, &count, &next), QB_E_PARAM);
    ASSERT_EQ_INT(ledger_history_read(fx->reader, a, c_entry + 1000, 2, page, &count, &next),
                  QB_E_PARAM);
    ASSERT_EQ_INT(ledger_history_read(fx->reader, a, 0, 2, page, &count, &next), QB_E_PARAM);
    ASSERT_EQ_INT(count, 0);
    fx_free(fx);
}

TEST(history_balances_and_chain)
{
    /* Each posting's balance_after must be the running balance and its
     * prev_entry_id the account's previous entry, across transfers, holds,
     * captures, voids and expiries: statements and verify depend on them. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t h = 0, entry_id = 0;
    fx_fund(fx, u, 5000);
    ASSERT_OK(fx_transfer(fx, u, m, 700, &entry_id));
    ASSERT_OK(fx_hold(fx, u, m, 1000, 0, &h));
    ASSERT_OK(fx_capture(fx, h, 600, &entry_id));
    ASSERT_OK(fx_hold(fx, u, m, 300, 0, &h));
    ASSERT_OK(fx_void(fx, h, &entry_id));
    ASSERT_OK(fx_hold(fx, u, m, 200, FX_START_MS + 11, &h));
    clock_manual_advance(&fx->clock, 100);
    fx_nudge(fx);
    ASSERT_OK(fx_transfer(fx, m, u, 50, &entry_id));
    ASSERT_VIEW(fx, u, 3750, 0);
    ASSERT_VIEW(fx, m, 1250, 0);

    int64_t accounts[] = {u, m};
    for (size_t k = 0; k < 2; k++) {
        int64_t ids[32];
        size_t n = history_ids(fx, accounts[k], 32, ids, 32);
        ASSERT(n >= 2);
        int64_t balance = 0, held = 0, prev = 0;
        for (size_t i = n; i-- > 0;) {
            struct ledger_entry *e = entry_get(fx, ids[i]);
            const struct ledger_posting *p = ledger_entry_posting(e, accounts[k]);
            ASSERT(p != NULL);
            ASSERT_EQ_INT(p->prev_entry_id, prev);
            ASSERT_EQ_INT(p->currency_numeric, fx->cny->numeric);
            balance += p->amount_minor;
            held += p->held_delta_minor;
            ASSERT_EQ_INT(p->balance_after_minor, balance);
            ASSERT(held >= 0);
            int64_t sum = 0;
            for (size_t j = 0; j < e->posting_count; j++)
                sum += e->postings[j].amount_minor;
            ASSERT_EQ_INT(sum, 0);
            prev = e->id;
            free(e);
        }
        struct ledger_account_view v = fx_view(fx, accounts[k]);
        ASSERT_EQ_INT(v.balance_minor, balance);
        ASSERT_EQ_INT(v.held_minor, held);
        ASSERT_EQ_INT(v.last_entry_id, prev);
    }
    fx_verify_ok(fx);
    fx_free(fx);
}

/* --- hash chain and verify ------------------------------------------------- */

/* Some activity of every kind; leaves one hold open. Answers the id of the
 * first transfer u -> m of 777777. */
static int64_t chain_setup(struct fx *fx, int64_t *u_out, int64_t *m_out)
{
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t h = 0, entry_id = 0, marked = 0;
    fx_fund(fx, u, 5000000);
    ASSERT_OK(fx_transfer(fx, u, m, 777777, &marked));
    ASSERT_OK(fx_hold(fx, u, m, 1000, 0, &h));
    ASSERT_OK(fx_capture(fx, h, 600, &entry_id));
    ASSERT_OK(fx_hold(fx, u, m, 300, 0, &h));
    ASSERT_OK(fx_void(fx, h, &entry_id));
    ASSERT_OK(fx_hold(fx, u, m, 200, FX_START_MS + 11, &h));
    ASSERT_OK(fx_hold(fx, u, m, 222, 0, &h));
    clock_manual_advance(&fx->clock, 100);
    for (int i = 0; i < 5; i++)
        ASSERT_OK(fx_transfer(fx, m, u, 50 + i, &entry_id));
    *u_out = u;
    *m_out = m;
    return marked;
}

/* Runs sql on the database file with a raw SQLite connection (the ledger must
 * be stopped), as an attacker with file access would. */
static void raw_exec(struct fx *fx, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(fx->db_path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK)
        TEST_FAIL_("sqlite3_open_v2: %s", sqlite3_errstr(rc));
    char *msg = NULL;
    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", msg ? msg : "");
        sqlite3_free(msg);
        sqlite3_close(db);
        TEST_FAIL_("sqlite3_exec \"%s\": %s", sql, copy);
    }
    int changes = sqlite3_changes(db);
    sqlite3_close(db);
    if (changes != 1)
        TEST_FAIL_("\"%s\" changed %d rows, not 1", sql, changes);
}

/* Rewrites the first 8-byte little-endian occurrence of `from` in the
 * postings blob of entry_id to `to`; if the encoding is not fixed-width LE,
 * flips one byte in the middle of the blob instead. */
static void raw_tamper_postings(struct fx *fx, int64_t entry_id, int64_t from, int64_t to)
{
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open_v2(fx->db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "SELECT postings FROM entries WHERE id = ?1", -1, &st, NULL),
                  SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_bind_int64(st, 1, entry_id), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    int size = sqlite3_column_bytes(st, 0);
    ASSERT(size > 0);
    unsigned char *blob = malloc((size_t)size);
    ASSERT(blob != NULL);
    memcpy(blob, sqlite3_column_blob(st, 0), (size_t)size);
    sqlite3_finalize(st);

    unsigned char pattern[8];
    buf_write_u64le(pattern, (uint64_t)from);
    bool found = false;
    for (int i = 0; i + 8 <= size; i++) {
        if (memcmp(blob + i, pattern, 8) == 0) {
            buf_write_u64le(blob + i, (uint64_t)to);
            found = true;
            break;
        }
    }
    if (!found) {
        fprintf(stderr, "  note: amount not found as 8-byte LE in the postings blob; flipping a byte\n");
        blob[size / 2] ^= 0x01;
    }
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "UPDATE entries SET postings = ?1 WHERE id = ?2", -1, &st, NULL),
                  SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_bind_blob(st, 1, blob, size, SQLITE_TRANSIENT), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_bind_int64(st, 2, entry_id), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    ASSERT_EQ_INT(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(blob);
}

static void expect_verify_fails(struct fx *fx)
{
    struct ledger_verify_report report;
    enum qb_error rc = fx_verify(fx, &report);
    ASSERT_ERR(rc, QB_E_INTERNAL);
    ASSERT(report.problem[0] != '\0');
    fprintf(stderr, "  verify reports: %s\n", report.problem);
}

/* --- the chain's key ------------------------------------------------------------------------ */

/* Writes every entry's hash again from entry `from` to `to`, as an insider with
 * the database file would after changing one: under key (NULL: 32 zero
 * bytes, the fixture's) from entry keyed_from on, plain SHA-256 before it
 * (INT64_MAX: plain throughout, as a version without the key wrote). The
 * ledger must be stopped. */
static void rehash(struct fx *fx, const uint8_t *key, int64_t keyed_from, int64_t from, int64_t to)
{
    char err[256];
    struct store *s = NULL;
    ASSERT_OK(store_open(fx->db_path, STORE_MODE_WRITE, &s, err, sizeof err));
    struct ledger_chain chain;
    ledger_chain_init(&chain, key);
    chain.keyed_from = keyed_from;
    struct store_stmt *st = NULL;
    ASSERT_OK(store_prepare(s, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries ORDER BY id", &st));
    struct ledger_entry *entries = calloc(64, sizeof *entries);
    ASSERT(entries != NULL);
    size_t count = 0;
    while (store_step(st) == STORE_STEP_ROW) {
        ASSERT(count < 64);
        ASSERT_OK(ledger_entry_from_row(st, &entries[count]));
        count++;
    }
    store_finalize(st);
    ASSERT_OK(store_prepare(s, "UPDATE entries SET hash = $2 WHERE id = $1", &st));
    uint8_t prev[CRYPTO_SHA256_SIZE] = {0};
    for (size_t i = 0; i < count; i++) {
        if (entries[i].id >= from && entries[i].id <= to) {
            ledger_entry_hash(&chain, &entries[i], prev, entries[i].hash);
            ASSERT_OK(store_bind_int64(st, 1, entries[i].id));
            ASSERT_OK(store_bind_blob(st, 2, entries[i].hash, CRYPTO_SHA256_SIZE));
            ASSERT_OK(store_step_done(st));
            store_reset(st);
        }
        memcpy(prev, entries[i].hash, CRYPTO_SHA256_SIZE);
    }
    store_finalize(st);
    free(entries);
    store_close(s);
}

/* The meta rows that say where the chain is keyed from, gone: a journal
 * kept by a version without the key, or one passed off as such. */
static void unkey(struct fx *fx)
{
    raw_exec(fx, "DELETE FROM meta WHERE key = 'chain_keyed_from'");
    raw_exec(fx, "DELETE FROM meta WHERE key = 'chain_key_check'");
}

static const uint8_t S_other_key[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                        7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

TEST(a_history_rewritten_without_the_chain_key_is_caught)
{
    /* An insider with the database file but not the key edits an old
     * payment and writes every hash after it again: with plain SHA-256 (all
     * a version without the key needed), or under a key of their own. The
     * check finds the rewrite at the entry changed; the same rewrite under
     * the real key passes, so it is the key alone that tells them apart. */
    struct fx *fx = fx_new();
    int64_t u, m;
    int64_t marked = chain_setup(fx, &u, &m);
    fx_stop(fx);
    struct ledger_verify_report report;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE entries SET ref = 'forged' WHERE id = %" PRId64, marked);
    raw_exec(fx, sql);
    char want[64];
    snprintf(want, sizeof want, "hash chain broken at entry %" PRId64, marked);

    rehash(fx, NULL, INT64_MAX, marked, INT64_MAX);
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(strstr(report.problem, want) != NULL);
    ASSERT_ERR(fx_start_rc(fx), QB_E_INTERNAL); /* its newest entry's hash is not the key's */
    rehash(fx, S_other_key, 1, marked, INT64_MAX);
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(strstr(report.problem, want) != NULL);
    ASSERT_ERR(fx_start_rc(fx), QB_E_INTERNAL);

    rehash(fx, NULL, 1, marked, INT64_MAX);
    fx_verify_ok(fx);
    fx_start(fx);
    fx_stop(fx);
    ASSERT_OK(fx_verify(fx, &report));
    ASSERT_EQ_INT(report.chain_keyed_from, 1);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(a_journal_kept_before_the_key_is_keyed_from_its_next_entry)
{
    /* A journal a version without the key kept: plain SHA-256 throughout
     * and no keyed_from in meta. The first start with a new key keys it
     * from its next entry; from then on history before that entry cannot be
     * rewritten either, since the first keyed hash covers it. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    int64_t last = fx_view(fx, u).last_entry_id;
    fx_stop(fx);
    unkey(fx);
    rehash(fx, NULL, INT64_MAX, 1, INT64_MAX);
    for (int64_t id = 1; id <= 3; id++) { /* nor are the accounts' rows */
        char unmac[64];
        snprintf(unmac, sizeof unmac, "UPDATE accounts SET mac = NULL WHERE id = %" PRId64, id);
        raw_exec(fx, unmac);
    }
    struct ledger_verify_report report;
    ASSERT_OK(fx_verify(fx, &report)); /* no key yet: it passes unkeyed */
    ASSERT_EQ_INT(report.chain_keyed_from, 0);

    fx->options.chain_key = S_other_key;
    fx->options.chain_key_new = true;
    fx_start(fx);
    int64_t entry_id = 0;
    ASSERT_OK(fx_transfer(fx, m, u, 99, &entry_id));
    ASSERT_EQ_INT(entry_id, last + 1);
    fx_restart(fx);
    ASSERT_OK(fx_transfer(fx, m, u, 98, &entry_id));
    fx_stop(fx);
    fx->options.chain_key_new = false; /* the key is the journal's now */
    ASSERT_OK(fx_verify(fx, &report));
    ASSERT_EQ_INT(report.chain_keyed_from, last + 1);
    fx_start(fx);
    fx_stop(fx);

    /* An entry before the key, rewritten with the plain hashes recomputed
     * up to it: the first keyed entry no longer follows. */
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE entries SET ref = 'forged' WHERE id = %" PRId64, last - 2);
    raw_exec(fx, sql);
    rehash(fx, NULL, INT64_MAX, last - 2, last); /* the keyed ones stored as they were */
    char want[64];
    snprintf(want, sizeof want, "hash chain broken at entry %" PRId64, last - 2);
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(strstr(report.problem, want) == NULL); /* the plain part checks out... */
    snprintf(want, sizeof want, "hash chain broken at entry %" PRId64, last + 1);
    ASSERT(strstr(report.problem, want) != NULL); /* ...up to the first keyed entry */
    test_rmtree(fx->dir);
    free(fx);
}

TEST(an_accounts_owner_changed_without_the_chain_key_is_caught)
{
    /* Whose account it is lives in its row, which no entry names: an
     * insider who renames a merchant's account to their own user (or
     * changes its kind or currency) would be paid what the merchant earns.
     * The key ties the row's owner, kind, currency and floor to it: the
     * check and a start find the change, and pass once it is undone. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    struct ledger_verify_report report;
    const char *edits[][2] = {
        {"UPDATE accounts SET owner = 'user:u_a' WHERE owner = 'merchant:m_1'",
         "UPDATE accounts SET owner = 'merchant:m_1' WHERE kind = 2"},
        {"UPDATE accounts SET kind = 1 WHERE owner = 'merchant:m_1'",
         "UPDATE accounts SET kind = 2 WHERE owner = 'merchant:m_1'"},
        {"UPDATE accounts SET mac = mac + 1 WHERE owner = 'merchant:m_1'",
         "UPDATE accounts SET mac = mac - 1 WHERE owner = 'merchant:m_1'"},
        {"UPDATE accounts SET mac = NULL WHERE owner = 'merchant:m_1'", NULL},
    };
    char want[64];
    snprintf(want, sizeof want, "account %" PRId64 "'s row is not the chain key's", m);
    for (size_t i = 0; i < QB_ARRAY_COUNT(edits); i++) {
        raw_exec(fx, edits[i][0]);
        ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
        fprintf(stderr, "  %s: %s\n", edits[i][0], report.problem);
        ASSERT(strstr(report.problem, want) != NULL);
        ASSERT_ERR(fx_start_rc(fx), QB_E_INTERNAL);
        if (edits[i][1] == NULL)
            continue;
        raw_exec(fx, edits[i][1]);
        fx_verify_ok(fx);
    }
    test_rmtree(fx->dir);
    free(fx);
}

TEST(a_journal_passed_off_as_unkeyed_or_under_another_key_is_refused)
{
    /* Once keyed, a journal stays keyed: an insider who drops the meta rows
     * and writes the chain again in plain SHA-256 (to pass for a journal of
     * a version without the key, and have it keyed after the rewrite) is
     * refused by a start and by the check while the key exists, and a key
     * that is not the journal's is refused even as a new one. */
    static const uint8_t zero_key[32];
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    fx->options.chain_key = S_other_key;
    struct ledger_verify_report report;
    for (int new_key = 0; new_key <= 1; new_key++) {
        fx->options.chain_key_new = new_key;
        ASSERT_ERR(fx_start_rc(fx), QB_E_CONFLICT);
        ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
        ASSERT(strstr(report.problem, "chain key is not the one") != NULL);
        /* The copy is not empty for all that: its entries are counted. */
        ASSERT(report.entries_total > 0);
    }
    /* keyed_from moved past the journal, the hashes plain up to it: the
     * check value is the key's for entry 1 only. */
    fx->options.chain_key = zero_key;
    fx->options.chain_key_new = false;
    raw_exec(fx, "UPDATE meta SET value = 1000 WHERE key = 'chain_keyed_from'");
    rehash(fx, NULL, INT64_MAX, 1, INT64_MAX);
    ASSERT_ERR(fx_start_rc(fx), QB_E_CONFLICT);
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(strstr(report.problem, "chain key is not the one") != NULL);

    unkey(fx);
    ASSERT_ERR(fx_start_rc(fx), QB_E_CONFLICT);
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(strstr(report.problem, "the journal is not keyed") != NULL);
    test_rmtree(fx->dir);
    free(fx);
}

/* --- watching owners --------------------------------------------------------------------- */

/* What a watcher was told, batch after batch. */
struct watch_log {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t keys[256];
    size_t count;
    size_t calls;
    _Atomic int64_t waiting; /* told only while not 0 */
};

static void watch_record(void *arg, const uint64_t *keys, size_t count)
{
    struct watch_log *w = arg;
    pthread_mutex_lock(&w->mutex);
    for (size_t i = 0; i < count && w->count < 256; i++)
        w->keys[w->count++] = keys[i];
    w->calls++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

/* Whether owner's key was told since the log was last cleared, waiting up to
 * 5 s for it when wait is set (the watcher is told right after the batch's
 * commands are completed, on the ledger's thread). */
static bool watch_told(struct watch_log *w, const char *owner, bool wait)
{
    uint64_t key = ledger_owner_key(owner);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&w->mutex);
    bool found = false;
    for (;;) {
        for (size_t i = 0; i < w->count && !found; i++)
            found = w->keys[i] == key;
        if (found || !wait || pthread_cond_timedwait(&w->cond, &w->mutex, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&w->mutex);
    return found;
}

static void watch_clear(struct watch_log *w)
{
    pthread_mutex_lock(&w->mutex);
    w->count = 0;
    pthread_mutex_unlock(&w->mutex);
}

TEST(a_watcher_is_told_the_owners_of_each_durable_batch)
{
    /* The owners of the accounts a batch changed, and those its commands
     * named; not those of a command rolled back; and after a restart, which
     * reloads each account's owner, the same. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 1000);
    struct watch_log w = {.count = 0};
    atomic_init(&w.waiting, 1);
    pthread_mutex_init(&w.mutex, NULL);
    pthread_cond_init(&w.cond, NULL);
    ledger_watch_set(fx->ledger, watch_record, &w, &w.waiting);

    int64_t entry_id = 0;
    ASSERT_OK(fx_transfer(fx, a, b, 100, &entry_id));
    ASSERT(watch_told(&w, "user:u_b", true));
    ASSERT(watch_told(&w, "user:u_a", false));
    ASSERT(!watch_told(&w, "user:u_c", false));
    ASSERT(ledger_owner_key("user:u_a") != ledger_owner_key("user:u_b"));

    /* A command that names an owner and fails: neither it nor its accounts. */
    watch_clear(&w);
    struct fx_script s;
    fx_script_init(&s);
    fx_script_add(&s, FX_OP_OWNER_CHANGED)->ref = "user:u_gone";
    fx_script_post2(&s, a, b, 5);
    fx_script_add(&s, FX_OP_FAIL)->fail_with = QB_E_RISK_REJECTED;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_RISK_REJECTED);
    fx_script_release(&s);
    /* Then one that names an owner and commits, changing no account. */
    fx_script_init(&s);
    fx_script_add(&s, FX_OP_OWNER_CHANGED)->ref = "user:u_c";
    ASSERT_OK(fx_exec(fx, &s));
    fx_script_release(&s);
    ASSERT(watch_told(&w, "user:u_c", true));
    ASSERT(!watch_told(&w, "user:u_gone", false));
    ASSERT(!watch_told(&w, "user:u_a", false));

    fx_restart(fx);
    ledger_watch_set(fx->ledger, watch_record, &w, &w.waiting);
    watch_clear(&w);
    ASSERT_OK(fx_transfer(fx, b, a, 40, &entry_id));
    ASSERT(watch_told(&w, "user:u_a", true));
    ASSERT(watch_told(&w, "user:u_b", false));

    /* Nobody waiting, then no watcher: the watcher is not told. */
    atomic_store(&w.waiting, 0);
    pthread_mutex_lock(&w.mutex);
    size_t calls = w.calls;
    pthread_mutex_unlock(&w.mutex);
    ASSERT_OK(fx_transfer(fx, a, b, 10, &entry_id));
    ledger_watch_set(fx->ledger, NULL, NULL, NULL);
    atomic_store(&w.waiting, 1);
    ASSERT_OK(fx_transfer(fx, a, b, 10, &entry_id));
    fx_stop(fx);
    ASSERT_EQ_INT(w.calls, calls);
    fx_start(fx);
    fx_free(fx);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mutex);
}

TEST(verify_passes_on_healthy_ledger)
{
    /* ledger_verify must accept a ledger built only through the ledger,
     * counting every entry, account and open hold it checked. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    struct ledger_verify_report report;
    ASSERT_OK(fx_verify(fx, &report)); /* while running */
    ASSERT_EQ_STR(report.problem, "");
    int64_t last = fx_view(fx, u).last_entry_id;
    ASSERT_EQ_INT(report.entries_checked, last);
    ASSERT_EQ_INT(report.accounts_checked, 3);
    ASSERT_EQ_INT(report.holds_open, 1);
    fx_stop(fx);
    ASSERT_OK(fx_verify(fx, &report)); /* and stopped, every checkpoint flushed */
    ASSERT_EQ_INT(report.entries_checked, last);
    fx_start(fx);
    fx_free(fx);
}

/* t's lines are exactly want's. */
static void trial_lines_are(const struct ledger_trial_balance *t,
                            const struct ledger_trial_line *want, size_t count)
{
    ASSERT_EQ_INT(t->line_count, count);
    for (size_t i = 0; i < count; i++) {
        ASSERT(t->lines[i].currency == want[i].currency);
        ASSERT_EQ_INT(t->lines[i].kind, want[i].kind);
        ASSERT_EQ_INT(t->lines[i].accounts, want[i].accounts);
        ASSERT_EQ_INT(t->lines[i].balance_minor, want[i].balance_minor);
        ASSERT_EQ_INT(t->lines[i].held_minor, want[i].held_minor);
    }
}

TEST(verify_sums_the_trial_balance)
{
    /* A passing check gives the books it proved: per currency and kind the
     * accounts and their balances' and held amounts' sums, and each system
     * account by name; every currency's kinds sum to zero. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t fees =
        fx_create(fx, "system:fee_income", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE);
    int64_t h = 0;
    char tamper[96];
    snprintf(tamper, sizeof tamper,
             "UPDATE accounts SET balance_minor = balance_minor + 1 WHERE id = %" PRId64, a);
    fx_fund(fx, a, 10000);
    fx_fund(fx, b, 2500);
    ASSERT_OK(fx_transfer(fx, a, m, 3000, NULL));
    /* The day closes here: what follows, and the accounts made after, are
     * not in its books. */
    clock_manual_advance(&fx->clock, 1000);
    fx->close_at_ms = clock_now_ms(&fx->clock);
    clock_manual_advance(&fx->clock, 1);
    int64_t usd_sys =
        fx_create(fx, "system:bank_clearing", fx->usd, LEDGER_ACCOUNT_SYSTEM, 0, LEDGER_FLOOR_NONE);
    int64_t usd_user = fx_create(fx, "user:u_a", fx->usd, LEDGER_ACCOUNT_USER, 0, 0);
    ASSERT_OK(fx_transfer(fx, m, fees, 18, NULL));
    ASSERT_OK(fx_hold(fx, b, m, 700, 0, &h));
    ASSERT_OK(fx_transfer(fx, usd_sys, usd_user, 99, NULL));

    struct ledger_verify_report report;
    ASSERT_OK(fx_verify(fx, &report));
    const struct ledger_trial_balance *t = &report.trial;
    /* CNY comes before USD in the currency table; kinds in their order. */
    const struct ledger_trial_line want[] = {
        {fx->cny, LEDGER_ACCOUNT_USER, 2, 10000 - 3000 + 2500, 700},
        {fx->cny, LEDGER_ACCOUNT_MERCHANT, 1, 3000 - 18, 0},
        {fx->cny, LEDGER_ACCOUNT_SYSTEM, 2, -12500 + 18, 0},
        {fx->usd, LEDGER_ACCOUNT_USER, 1, 99, 0},
        {fx->usd, LEDGER_ACCOUNT_SYSTEM, 1, -99, 0},
    };
    trial_lines_are(t, want, QB_ARRAY_COUNT(want));
    ASSERT_EQ_INT(t->system_count, 3);
    ASSERT_EQ_STR(t->system[0].owner, "system:bank_clearing");
    ASSERT(t->system[0].currency == fx->cny);
    ASSERT_EQ_INT(t->system[0].balance_minor, -12500);
    ASSERT_EQ_STR(t->system[1].owner, "system:fee_income");
    ASSERT_EQ_INT(t->system[1].balance_minor, 18);
    ASSERT(t->system[2].currency == fx->usd);
    ASSERT_EQ_INT(t->system[2].balance_minor, -99);
    /* The day's close: the three entries before it, CNY alone. */
    const struct ledger_trial_balance *c = &report.close;
    ASSERT_EQ_INT(report.close_at_ms, fx->close_at_ms);
    ASSERT_EQ_INT(report.close_entry_id, 3);
    const struct ledger_trial_line closed[] = {
        {fx->cny, LEDGER_ACCOUNT_USER, 2, 10000 - 3000 + 2500, 0},
        {fx->cny, LEDGER_ACCOUNT_MERCHANT, 1, 3000, 0},
        {fx->cny, LEDGER_ACCOUNT_SYSTEM, 2, -12500, 0},
    };
    trial_lines_are(c, closed, QB_ARRAY_COUNT(closed));
    ASSERT_EQ_INT(c->system_count, 2);
    ASSERT_EQ_STR(c->system[0].owner, "system:bank_clearing");
    ASSERT_EQ_INT(c->system[0].balance_minor, -12500);
    ASSERT_EQ_STR(c->system[1].owner, "system:fee_income");
    ASSERT_EQ_INT(c->system[1].balance_minor, 0);
    /* A close after the last entry is the books as they end; none asked,
     * none given. */
    fx->close_at_ms = clock_now_ms(&fx->clock) + 1;
    ASSERT_OK(fx_verify(fx, &report));
    ASSERT_EQ_INT(report.close_entry_id, report.entries_checked);
    ASSERT(memcmp(&report.close, &report.trial, sizeof report.trial) == 0);
    fx->close_at_ms = 0;
    ASSERT_OK(fx_verify(fx, &report));
    ASSERT_EQ_INT(report.close_entry_id, 0);
    ASSERT_EQ_INT(report.close.line_count, 0);
    ASSERT_EQ_INT(ledger_account_kind_name(LEDGER_ACCOUNT_CREDIT)[0], 'c');
    ASSERT(ledger_account_kind_name((enum ledger_account_kind)0) == NULL);

    /* A check that fails gives no books. */
    fx_stop(fx);
    raw_exec(fx, tamper);
    fx->close_at_ms = clock_now_ms(&fx->clock);
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT_EQ_INT(report.trial.line_count, 0);
    ASSERT_EQ_INT(report.trial.system_count, 0);
    ASSERT_EQ_INT(report.close.line_count, 0);
    ASSERT_EQ_INT(report.close_entry_id, 0);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(verify_detects_tampered_amount)
{
    /* Changing an amount inside a stored entry (a payment made larger after
     * the fact) must be reported by verify. */
    struct fx *fx = fx_new();
    int64_t u, m;
    int64_t marked = chain_setup(fx, &u, &m);
    fx_stop(fx);
    raw_tamper_postings(fx, marked, 777777, 777778);
    expect_verify_fails(fx);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(verify_detects_tampered_ref)
{
    /* Changing only the reference text of an old entry (a field no balance
     * depends on) must still break the hash chain that verify recomputes. */
    struct fx *fx = fx_new();
    int64_t u, m;
    int64_t marked = chain_setup(fx, &u, &m);
    fx_stop(fx);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE entries SET ref = 'tampered' WHERE id = %" PRId64, marked);
    raw_exec(fx, sql);
    expect_verify_fails(fx);
    test_rmtree(fx->dir);
    free(fx);
}

/* Starts the ledger on the tampered database of fx, which must be refused
 * with INTERNAL; frees fx either way. */
static void expect_open_refused(struct fx *fx, const char *what)
{
    enum qb_error rc = fx_start_rc(fx);
    if (rc == QB_OK) {
        fx_stop(fx);
        test_rmtree(fx->dir);
        free(fx);
        TEST_FAIL_("ledger_open accepted a journal with %s", what);
    }
    bool started = fx->ledger != NULL;
    test_rmtree(fx->dir);
    free(fx);
    ASSERT(!started);
    ASSERT_ERR(rc, QB_E_INTERNAL);
}

TEST(open_refuses_tampered_newest_entry)
{
    /* The newest entry is the one a clean restart reads first: changing its
     * code must make verify fail and ledger_open refuse to start. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    int64_t last = fx_view(fx, u).last_entry_id;
    fx_stop(fx);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE entries SET code = code + 1 WHERE id = %" PRId64, last);
    raw_exec(fx, sql);
    expect_verify_fails(fx);
    expect_open_refused(fx, "a changed newest entry");
}

TEST(verify_detects_tampered_old_entry_after_clean_close)
{
    /* A clean close leaves nothing to replay, so ledger_open re-hashes only
     * the newest entry (ledger.h): an older entry changed while the daemon
     * was down is the verifier's to catch, and it must. */
    struct fx *fx = fx_new();
    int64_t u, m;
    int64_t marked = chain_setup(fx, &u, &m);
    fx_stop(fx);
    raw_tamper_postings(fx, marked, 777777, 777778);
    expect_verify_fails(fx);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(verify_detects_deleted_entry)
{
    /* Removing a journal row (hiding a payment) must break the chain. */
    struct fx *fx = fx_new();
    int64_t u, m;
    int64_t marked = chain_setup(fx, &u, &m);
    fx_stop(fx);
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM entries WHERE id = %" PRId64, marked);
    raw_exec(fx, sql);
    expect_verify_fails(fx);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(verify_detects_tampered_checkpoint)
{
    /* The accounts table's balance is a checkpoint a restart trusts: raising
     * it by hand must be caught by verify. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE accounts SET balance_minor = balance_minor + 100000 WHERE id = %" PRId64, u);
    raw_exec(fx, sql);
    expect_verify_fails(fx);
    /* Nor does the ledger open on it to pay that money out: its balances no longer sum to zero. */
    ASSERT_EQ_INT(fx_start_rc(fx), QB_E_INTERNAL);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(verify_detects_checkpoint_naming_another_accounts_entry)
{
    /* A checkpoint is compared with the journal at its last_entry_id. One
     * that names an entry of other accounts would never be compared: money
     * moved between two checkpoints pointed at such an entry (the balances
     * still sum to zero) must be caught by verify, and refused by a start
     * before it can be paid out. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    int64_t x = fx_user(fx, "user:u_x");
    int64_t y = fx_user(fx, "user:u_y");
    fx_fund(fx, x, 1000);
    int64_t other = 0;
    ASSERT_OK(fx_transfer(fx, x, y, 10, &other)); /* neither u's nor the system account's */
    fx_stop(fx);
    fx_verify_ok(fx);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = balance_minor + 100000, last_entry_id = %" PRId64
             " WHERE id = %" PRId64,
             other, u);
    raw_exec(fx, sql);
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = balance_minor - 100000, last_entry_id = %" PRId64
             " WHERE id = %" PRId64,
             other, fx->sys_id);
    raw_exec(fx, sql);
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    fprintf(stderr, "  verify reports: %s\n", report.problem);
    ASSERT(strstr(report.problem, "does not post to it") != NULL);
    expect_open_refused(fx, "a checkpoint naming another account's entry");
}

TEST(open_refuses_checkpoint_disagreeing_with_its_entry)
{
    /* A start trusts the checkpoints it reads instead of the journal: money
     * moved between two of them (so that the balances still sum to zero)
     * must stop it, not be paid out until the next verify. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = balance_minor + 100000 WHERE id = %" PRId64, u);
    raw_exec(fx, sql);
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = balance_minor - 100000 WHERE id = %" PRId64,
             fx->sys_id);
    raw_exec(fx, sql);
    expect_verify_fails(fx);
    expect_open_refused(fx, "money moved between two checkpoints");
}

TEST(verify_detects_a_floor_its_kind_does_not_allow)
{
    /* floor_minor is read from the accounts row, which the hash chain does
     * not cover: a user's floor lowered by hand would let the wallet
     * overdraw without a single entry breaking a rule. Verify must report
     * it and a start refuse it before anyone can spend below zero; the
     * floors the ledger makes (none or 0 for a system account, below zero
     * for a credit line) stay valid. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    int64_t escrow = fx_create(fx, "system:escrow", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0, 0);
    int64_t credit = fx_create(fx, "user:u_a", fx->cny, LEDGER_ACCOUNT_CREDIT, 0, -5000);
    ASSERT_OK(fx_transfer(fx, u, escrow, 100, NULL));
    ASSERT_OK(fx_transfer(fx, credit, m, 4000, NULL));
    fx_stop(fx);
    fx_verify_ok(fx);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE accounts SET floor_minor = -100000000 WHERE id = %" PRId64,
             u);
    raw_exec(fx, sql);
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    fprintf(stderr, "  verify reports: %s\n", report.problem);
    ASSERT(strstr(report.problem, "floor") != NULL);
    expect_open_refused(fx, "a user account's floor below zero");
}

TEST(verify_detects_tampered_held)
{
    /* The checkpointed held amount gates spending as much as the balance:
     * zeroing it by hand must be caught by verify. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE accounts SET held_minor = 0 WHERE id = %" PRId64, u);
    raw_exec(fx, sql);
    expect_verify_fails(fx);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(verify_detects_tampered_hold_expiry)
{
    /* A hold's deadline is in its HOLD entry, but a start takes it from the
     * holds table: one moved by hand would release a reservation (a delayed
     * transfer, a merchant's payout) at another time than it was made with,
     * or never. Verify must report it and a start refuse it. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    fx_verify_ok(fx);
    raw_exec(fx, "UPDATE holds SET expires_at_ms = 1 WHERE amount_minor = 222");
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    fprintf(stderr, "  verify reports: %s\n", report.problem);
    ASSERT(strstr(report.problem, "holds table row") != NULL);
    expect_open_refused(fx, "a hold's deadline moved");
}

TEST(verify_detects_deleted_hold_row)
{
    /* The holds table is what a restart reloads open holds from: a hold row
     * deleted by hand (a reservation silently dropped) must be caught. */
    struct fx *fx = fx_new();
    int64_t u, m;
    chain_setup(fx, &u, &m);
    fx_stop(fx);
    raw_exec(fx, "DELETE FROM holds WHERE amount_minor = 222");
    expect_verify_fails(fx);
    test_rmtree(fx->dir);
    free(fx);
}

/* --- restart ------------------------------------------------------------------ */

/* --- spending sums ------------------------------------------------------------ */

/* The rule of these tests: code 77 counts as spending; days are UTC days
 * and "years" 360 days long, so that the tests can step over both. */
#define SPEND_CODE 77
#define DAY_MS INT64_C(86400000)

static bool spend_code(uint16_t code)
{
    return code == SPEND_CODE;
}

static void spend_period(int64_t at_ms, int64_t *day_start_ms, int64_t *year)
{
    *day_start_ms = at_ms / DAY_MS * DAY_MS;
    *year = at_ms / (360 * DAY_MS);
}

static enum qb_error spend(struct fx *fx, int64_t from, int64_t to, int64_t amount, uint16_t code)
{
    struct fx_script s;
    fx_script_init(&s);
    fx_script_post2(&s, from, to, amount)->code = code;
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    return rc;
}

#define ASSERT_SPENT(fx, id, day, year, lifetime)                                                   \
    do {                                                                                           \
        struct ledger_account_view v_ = fx_view((fx), (id));                                       \
        ASSERT_EQ_INT(v_.spent.day_minor, (day));                                                  \
        ASSERT_EQ_INT(v_.spent.year_minor, (year));                                                \
        ASSERT_EQ_INT(v_.spent.lifetime_minor, (lifetime));                                        \
    } while (0)

/* A copy of fx's database files as they are now: what a crash at this
 * moment would leave (the ledger is idle between commands). */
static struct fx *fx_crash_copy(struct fx *fx)
{
    struct fx *copy = calloc(1, sizeof *copy);
    ASSERT(copy != NULL);
    *copy = *fx;
    copy->writer = copy->reader = NULL;
    copy->ledger = NULL;
    test_tmpdir(copy->dir, sizeof copy->dir);
    snprintf(copy->db_path, sizeof copy->db_path, "%s/qianbao.db", copy->dir);
    const char *suffixes[] = {"", "-wal"};
    for (size_t i = 0; i < 2; i++) {
        char from[700], to[700];
        snprintf(from, sizeof from, "%s%s", fx->db_path, suffixes[i]);
        snprintf(to, sizeof to, "%s%s", copy->db_path, suffixes[i]);
        FILE *in = fopen(from, "rb");
        FILE *out = fopen(to, "wb");
        ASSERT(in != NULL && out != NULL);
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            ASSERT_EQ_INT((int64_t)fwrite(buf, 1, n, out), (int64_t)n);
        fclose(in);
        ASSERT_EQ_INT(fclose(out), 0);
    }
    fx_start(copy);
    return copy;
}

/* A ledger that counts spending, with two users (u_a, u_b) and a merchant. */
static struct fx *spend_fx_new(int64_t *u, int64_t *v, int64_t *m)
{
    struct fx *fx = fx_new();
    fx_stop(fx);
    fx->options.spending_code = spend_code;
    fx->options.spending_period = spend_period;
    fx_start(fx);
    *u = fx_user(fx, "user:u_a");
    *v = fx_user(fx, "user:u_b");
    *m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    return fx;
}

TEST(spending_counted_by_posting)
{
    /* A user account's debits by entries of a spending code are summed by
     * day, year and lifetime: nothing else is (credits, other codes, other
     * kinds of account), a new day or year starts from zero, and a command
     * that fails after posting takes its count back with it. */
    int64_t u, v, m;
    struct fx *fx = spend_fx_new(&u, &v, &m);
    fx_fund(fx, u, 100000);
    fx_fund(fx, m, 100000);
    ASSERT_SPENT(fx, u, 0, 0, 0);

    ASSERT_OK(spend(fx, u, v, 300, SPEND_CODE));
    ASSERT_OK(spend(fx, u, m, 200, SPEND_CODE));
    ASSERT_OK(spend(fx, u, v, 1000, FX_CODE_TRANSFER)); /* not a spending code */
    ASSERT_OK(spend(fx, m, v, 700, SPEND_CODE));        /* not a user account */
    ASSERT_SPENT(fx, u, 500, 500, 500);
    ASSERT_SPENT(fx, v, 0, 0, 0); /* credited only */
    ASSERT_SPENT(fx, m, 0, 0, 0);

    /* Posted, then the command fails: not counted. */
    struct fx_script s;
    fx_script_init(&s);
    fx_script_post2(&s, u, v, 50)->code = SPEND_CODE;
    fx_script_add(&s, FX_OP_FAIL)->fail_with = QB_E_PARAM;
    ASSERT_ERR(fx_exec(fx, &s), QB_E_PARAM);
    fx_script_release(&s);
    ASSERT_SPENT(fx, u, 500, 500, 500);

    /* The next day, the next year. */
    clock_manual_advance(&fx->clock, DAY_MS);
    ASSERT_OK(spend(fx, u, v, 40, SPEND_CODE));
    ASSERT_SPENT(fx, u, 40, 540, 540);
    clock_manual_advance(&fx->clock, 360 * DAY_MS);
    ASSERT_OK(spend(fx, u, v, 6, SPEND_CODE));
    ASSERT_SPENT(fx, u, 6, 6, 546);
    fx_verify_ok(fx);
    fx_free(fx);
}

#define GIVEBACK_CODE 78

static bool giveback_code(uint16_t code) { return code == GIVEBACK_CODE; }

/* Holds amount on from for to under the spending code: its id. */
static int64_t spend_held(struct fx *fx, int64_t from, int64_t to, int64_t amount)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_HOLD);
    op->debit_id = from;
    op->credit_id = to;
    op->amount_minor = amount;
    op->code = SPEND_CODE;
    ASSERT_OK(fx_exec(fx, &s));
    int64_t hold_id = op->out_id;
    fx_script_release(&s);
    return hold_id;
}

/* Releases hold_id under code. */
static enum qb_error release_as(struct fx *fx, int64_t hold_id, uint16_t code)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_VOID);
    op->hold_id = hold_id;
    op->code = code;
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    return rc;
}

/* Posts amount from -> to under the give-back code, naming entry named. */
static enum qb_error give_back(struct fx *fx, int64_t from, int64_t to, int64_t amount,
                               int64_t named)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_post2(&s, from, to, amount);
    op->code = GIVEBACK_CODE;
    op->spent_entry_id = named;
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    return rc;
}

TEST(spending_given_back_by_the_entry_that_returns_it)
{
    /* Money that comes back unspent gives its allowance back: a hold
     * released under a give-back code, and a transfer that names the
     * spending it returns. The lifetime's sum always; the day's and the
     * year's only while they are still those of the spending's day and
     * year (a later day never counted it). A release under another code
     * gives nothing back, nor may a give-back return more than its entry
     * spent. Replayed after a crash, restarted and verified, the journal
     * says the same. */
    int64_t u, v, m;
    struct fx *fx = spend_fx_new(&u, &v, &m);
    fx_stop(fx);
    fx->options.spending_giveback_code = giveback_code;
    fx->options.flush_per_batch = 1; /* checkpoints lag behind the journal */
    fx_start(fx);
    fx_fund(fx, u, 100000);
    fx_fund(fx, v, 100000);

    /* Released the same day: all of it back. */
    int64_t hold = spend_held(fx, u, v, 300);
    ASSERT_SPENT(fx, u, 300, 300, 300);
    ASSERT_OK(release_as(fx, hold, GIVEBACK_CODE));
    ASSERT_SPENT(fx, u, 0, 0, 0);
    /* Released under another code: nothing back. */
    hold = spend_held(fx, u, v, 200);
    ASSERT_OK(release_as(fx, hold, FX_CODE_TRANSFER));
    ASSERT_SPENT(fx, u, 200, 200, 200);

    /* A transfer back naming the spending: what it returns, no more. */
    int64_t sent = 0;
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_post2(&s, u, v, 500);
    op->code = SPEND_CODE;
    ASSERT_OK(fx_exec(fx, &s));
    sent = op->out_id;
    fx_script_release(&s);
    ASSERT_SPENT(fx, u, 700, 700, 700);
    ASSERT_ERR(give_back(fx, v, u, 501, sent), QB_E_PARAM);
    ASSERT_ERR(give_back(fx, v, u, 10, sent + 1000), QB_E_PARAM);
    ASSERT_OK(give_back(fx, v, u, 400, sent));
    ASSERT_SPENT(fx, u, 300, 300, 300);
    ASSERT_SPENT(fx, v, 0, 0, 0); /* it paid the money back, spending nothing */

    /* Spent yesterday, given back today after today's spending: today's
     * sum keeps what today spent. */
    hold = spend_held(fx, u, v, 100);
    ASSERT_SPENT(fx, u, 400, 400, 400);
    clock_manual_advance(&fx->clock, DAY_MS);
    ASSERT_OK(spend(fx, u, v, 140, SPEND_CODE));
    ASSERT_SPENT(fx, u, 140, 540, 540);
    ASSERT_OK(release_as(fx, hold, GIVEBACK_CODE));
    ASSERT_SPENT(fx, u, 140, 440, 440);
    /* And last year's, this year: off the lifetime only. */
    hold = spend_held(fx, u, v, 60);
    clock_manual_advance(&fx->clock, 360 * DAY_MS);
    ASSERT_OK(spend(fx, u, v, 66, SPEND_CODE));
    /* Other accounts waiting for their checkpoints keep u's behind the
     * release, which the crash copy below must then replay. */
    for (int i = 0; i < 6; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "user:u_w%d", i);
        fx_fund(fx, fx_user(fx, owner), 1);
    }
    ASSERT_OK(release_as(fx, hold, GIVEBACK_CODE));
    ASSERT_SPENT(fx, u, 66, 66, 506);

    struct fx *crashed = fx_crash_copy(fx); /* shares fx's clock: freed first */
    ASSERT_SPENT(crashed, u, 66, 66, 506);
    fx_free(crashed);
    fx_restart(fx);
    ASSERT_SPENT(fx, u, 66, 66, 506);
    fx_verify_ok(fx);
    fx_free(fx);
}

/* Runs sql on the fixture's (stopped) database through a write connection. */
static void fx_sql(struct fx *fx, const char *sql)
{
    char err[256];
    struct store *s = NULL;
    enum qb_error rc = store_open(fx->db_path, STORE_MODE_WRITE, &s, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    if (store_exec(s, sql) != QB_OK)
        TEST_FAIL_("%s: %s", sql, store_last_error(s));
    store_close(s);
}

static enum qb_error fx_rebuild(struct fx *fx, struct ledger_rebuild_report *out)
{
    char err[256];
    struct store *s = NULL;
    enum qb_error rc = store_open(fx->db_path, STORE_MODE_WRITE, &s, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    rc = ledger_rebuild_checkpoints(s, &fx->options, out, NULL, NULL);
    store_close(s);
    return rc;
}

TEST(the_check_finds_a_closed_account_holding_money)
{
    /* A closed account is empty for good; books edited so that one holds
     * money fail the operator's check, and name the account. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    int64_t b = fx_user(fx, "user:u_b");
    fx_fund(fx, a, 500);
    ASSERT_OK(fx_set_flags(fx, b, LEDGER_ACCOUNT_CLOSED));
    fx_verify_ok(fx);
    fx_stop(fx);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE accounts SET flags = %d WHERE id = %" PRId64,
             (int)LEDGER_ACCOUNT_CLOSED, a);
    fx_sql(fx, sql);
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    char want[64];
    snprintf(want, sizeof want, "account %" PRId64 " is closed", a);
    ASSERT(strstr(report.problem, want) != NULL);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(checkpoints_rebuilt_from_the_journal)
{
    /* What a start trusts instead of the journal, lost or edited by hand: a
     * checkpoint left behind (balance, held and spending sums), a balance
     * raised, the holds table emptied, replay_from moved past it all. The
     * start refuses those books and the check names the problem; the repair
     * writes them all from the journal, after which both pass, the balances
     * and sums are the journal's, and the open hold can still be captured
     * (its row back with its deadline, which still fires for the other). */
    int64_t u, v, m;
    struct fx *fx = spend_fx_new(&u, &v, &m);
    fx_fund(fx, u, 10000);
    ASSERT_OK(spend(fx, u, v, 300, SPEND_CODE));
    int64_t open_hold = 0, due_hold = 0;
    ASSERT_OK(fx_hold(fx, u, m, 2000, 0, &open_hold));
    ASSERT_OK(fx_hold(fx, u, m, 500, FX_START_MS + 60000, &due_hold));
    ASSERT_VIEW(fx, u, 9700, 2500);
    ASSERT_SPENT(fx, u, 300, 300, 300);
    fx_stop(fx);

    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = 0, held_minor = 0, last_entry_id = 0,"
             " spent_day_start_ms = 0, spent_day_minor = 0, spent_year = 0, spent_year_minor = 0,"
             " spent_lifetime_minor = 0 WHERE id = %" PRId64 ";"
             "UPDATE accounts SET balance_minor = balance_minor + 777 WHERE id = %" PRId64 ";"
             "DELETE FROM holds;"
             "UPDATE meta SET value = (SELECT max(id) + 1 FROM entries) WHERE key = 'replay_from'",
             u, v);
    fx_sql(fx, sql);
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(report.problem[0] != '\0');
    ASSERT(fx_start_rc(fx) != QB_OK);

    struct ledger_rebuild_report out;
    ASSERT_OK(fx_rebuild(fx, &out));
    ASSERT_EQ_INT(out.accounts_rewritten, 2);
    ASSERT_EQ_INT(out.first_accounts[0], u);
    ASSERT_EQ_INT(out.first_accounts[1], v);
    ASSERT(out.holds_rewritten);
    ASSERT_EQ_INT(out.journal.holds_open, 2);
    ASSERT_EQ_INT(out.replay_from, out.journal.entries_checked + 1);
    fx_verify_ok(fx);

    fx_start(fx);
    ASSERT_VIEW(fx, u, 9700, 2500);
    ASSERT_VIEW(fx, v, 300, 0);
    ASSERT_SPENT(fx, u, 300, 300, 300);
    clock_manual_advance(&fx->clock, 61000);
    fx_nudge(fx); /* the deadline of the restored hold fires */
    ASSERT_VIEW(fx, u, 9700, 2000);
    int64_t entry = 0;
    ASSERT_OK(fx_capture(fx, open_hold, 2000, &entry));
    ASSERT_VIEW(fx, u, 7700, 0);
    ASSERT_VIEW(fx, m, 2000, 0);
    fx_verify_ok(fx);

    /* Sound books: a second repair writes nothing. */
    fx_stop(fx);
    ASSERT_OK(fx_rebuild(fx, &out));
    ASSERT_EQ_INT(out.accounts_rewritten, 0);
    ASSERT(!out.holds_rewritten);
    fx_start(fx);
    fx_free(fx);
}

TEST(checkpoints_not_rebuilt_from_a_journal_that_fails_its_checks)
{
    /* The journal is the record: with an entry altered the repair writes
     * nothing, and says which check failed. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    fx_fund(fx, u, 10000);
    fx_stop(fx);
    fx_sql(fx, "UPDATE accounts SET balance_minor = 1 WHERE id = 1;"
               "UPDATE entries SET ref = ref || 'x' WHERE id = (SELECT max(id) FROM entries)");
    struct ledger_rebuild_report out;
    ASSERT_ERR(fx_rebuild(fx, &out), QB_E_INTERNAL);
    ASSERT(strstr(out.journal.problem, "hash chain broken at entry ") != NULL);
    ASSERT_EQ_INT(out.accounts_rewritten, 0);
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    ASSERT(fx_start_rc(fx) != QB_OK); /* the raised balance is still there */
    test_rmtree(fx->dir);
    free(fx);
}

static struct ledger_stats fx_stats(struct fx *fx)
{
    struct ledger_stats stats;
    ledger_stats_get(fx->ledger, &stats);
    return stats;
}

TEST(checkpoints_trickle_while_the_replay_is_within_its_bound)
{
    /* Writing an account's checkpoint costs a database page, so a batch
     * writes only as many as keep the replay near half of replay_lag_max:
     * far below it, one per batch that has entries (a fixed eight a batch
     * made a one-transfer batch write nine pages). The accounts' checkpoints
     * are first left behind (one a batch, while each batch funds seven
     * accounts), and a crash copy starts with all of them due. With a bound
     * of 40 the replay stays within it. */
    struct fx *fx = fx_new();
    fx_stop(fx);
    fx->options.flush_per_batch = 1;
    fx_start(fx);
    int64_t ids[42];
    for (int i = 0; i < 42; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "user:u_%d", i);
        ids[i] = fx_user(fx, owner);
    }
    for (int b = 0; b < 6; b++) {
        struct ledger_leg legs[8] = {{fx->sys_id, -7000}};
        for (int k = 0; k < 7; k++)
            legs[1 + k] = (struct ledger_leg){ids[7 * b + k], 1000};
        ASSERT_OK(fx_post(fx, legs, 8, NULL, NULL));
    }
    fx->options.flush_per_batch = 0;
    struct fx *crashed = fx_crash_copy(fx); /* shares fx's clock: freed first */
    uint64_t before = fx_stats(crashed).account_checkpoints_total;
    for (int i = 0; i < 10; i++)
        ASSERT_OK(fx_transfer(crashed, ids[i], ids[i + 21], 1, NULL));
    ASSERT_EQ_INT(fx_stats(crashed).account_checkpoints_total - before, 10);

    fx_stop(crashed);
    crashed->options.replay_lag_max = 40;
    fx_start(crashed);
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 40; i++) {
            ASSERT_OK(fx_transfer(crashed, ids[i], ids[(i + 1) % 40], 1, NULL));
            int64_t lag = fx_stats(crashed).replay_lag_entries;
            if (lag > 40 + 2)
                TEST_FAIL_("replay lag %lld past its bound of 40", (long long)lag);
        }
    fx_verify_ok(crashed);
    fx_free(crashed);
    fx_free(fx);
}

TEST(spending_sums_survive_restarts_and_crashes)
{
    /* The sums are checkpointed with the account and rebuilt from the
     * journal after it: a clean restart and a crash (the files as they were
     * mid-run, replayed from the checkpoint) both bring back exactly what
     * was counted, never counting an entry twice. */
    struct fx *fx = fx_new();
    fx_stop(fx);
    fx->options.spending_code = spend_code;
    fx->options.spending_period = spend_period;
    fx->options.flush_per_batch = 1; /* checkpoints lag behind the journal */
    fx_start(fx);
    int64_t u = fx_user(fx, "user:u_a");
    int64_t v = fx_user(fx, "user:u_b");
    fx_fund(fx, u, 100000);
    for (int i = 1; i <= 30; i++) {
        ASSERT_OK(spend(fx, u, v, i, SPEND_CODE));
        ASSERT_OK(spend(fx, v, u, 1, SPEND_CODE));
        if (i == 20)
            clock_manual_advance(&fx->clock, DAY_MS);
    }
    /* 1..20 on the first day (210), 21..30 on the second (255). */
    ASSERT_SPENT(fx, u, 255, 465, 465);
    ASSERT_SPENT(fx, v, 10, 30, 30);

    struct fx *crashed = fx_crash_copy(fx);
    ASSERT_SPENT(crashed, u, 255, 465, 465);
    ASSERT_SPENT(crashed, v, 10, 30, 30);
    ASSERT_OK(spend(crashed, u, v, 5, SPEND_CODE));
    ASSERT_SPENT(crashed, u, 260, 470, 470);
    fx_free(crashed);

    fx_restart(fx);
    ASSERT_SPENT(fx, u, 255, 465, 465);
    ASSERT_SPENT(fx, v, 10, 30, 30);
    fx_verify_ok(fx);

    /* The verifier recomputes the sums from the journal: a checkpoint's sum
     * changed behind the ledger's back fails the check, naming the account. */
    fx_stop(fx);
    char err[256];
    struct store *raw = NULL;
    ASSERT_OK(store_open(fx->db_path, STORE_MODE_WRITE, &raw, err, sizeof err));
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE accounts SET spent_year_minor = 1 WHERE id = %lld",
             (long long)u);
    ASSERT_OK(store_exec(raw, sql));
    store_close(raw);
    struct ledger_verify_report report;
    ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
    char want[96];
    snprintf(want, sizeof want, "account %lld: spending sums disagree", (long long)u);
    ASSERT(strstr(report.problem, want) != NULL);
    test_rmtree(fx->dir);
    free(fx);
}

TEST(restart_keeps_state)
{
    /* Closing and reopening must bring back balances, held amounts, open
     * holds (capturable and voidable after the restart), frozen flags and a
     * journal that continues with dense ids on the same verified chain. */
    struct fx *fx = fx_new();
    int64_t u = fx_user(fx, "user:u_a");
    int64_t m = fx_create(fx, "merchant:m_1", fx->cny, LEDGER_ACCOUNT_MERCHANT, 0, 0);
    int64_t frozen = fx_user(fx, "user:u_frozen");
    int64_t h1 = 0, h2 = 0, h3 = 0, entry_id = 0;
    fx_fund(fx, u, 10000);
    fx_fund(fx, frozen, 10);
    ASSERT_OK(fx_set_flags(fx, frozen, LEDGER_ACCOUNT_DEBIT_FROZEN));
    ASSERT_OK(fx_transfer(fx, u, m, 1000, &entry_id));
    ASSERT_OK(fx_hold(fx, u, m, 2000, 0, &h1));
    ASSERT_OK(fx_hold(fx, u, m, 500, 0, &h2));
    ASSERT_OK(fx_hold(fx, u, m, 300, FX_START_MS + 5001, &h3));
    int64_t last = fx_view(fx, u).last_entry_id;
    struct ledger_account_view before = fx_view(fx, u);

    fx_restart(fx);
    struct ledger_account_view after = fx_view(fx, u);
    ASSERT_EQ_INT(after.balance_minor, before.balance_minor);
    ASSERT_EQ_INT(after.held_minor, 2800);
    ASSERT_EQ_INT(after.last_entry_id, last);
    ASSERT_EQ_INT(after.floor_minor, 0);
    ASSERT_VIEW(fx, m, 1000, 0);
    ASSERT_EQ_INT(fx_view(fx, frozen).flags, LEDGER_ACCOUNT_DEBIT_FROZEN);
    ASSERT_ERR(fx_transfer(fx, frozen, m, 1, &entry_id), QB_E_ACCOUNT_FROZEN);
    ASSERT_ERR(fx_transfer(fx, u, m, 6201, &entry_id), QB_E_INSUFFICIENT_BALANCE);

    ASSERT_OK(fx_capture(fx, h1, 1500, &entry_id));
    ASSERT_EQ_INT(entry_id, last + 1);
    ASSERT_OK(fx_void(fx, h2, &entry_id));
    ASSERT_VIEW(fx, u, 7500, 300);
    ASSERT_VIEW(fx, m, 2500, 0);

    /* A deadline that passes while the ledger is down expires after start. */
    fx_stop(fx);
    clock_manual_advance(&fx->clock, 10000);
    fx_start(fx);
    fx_nudge(fx);
    ASSERT_VIEW(fx, u, 7500, 0);
    ASSERT_ERR(fx_capture(fx, h3, 300, &entry_id), QB_E_HOLD_RESOLVED);
    fx_restart(fx);
    ASSERT_VIEW(fx, u, 7500, 0);
    fx_verify_ok(fx);
    fx_free(fx);
}

TEST(restart_without_activity)
{
    /* Reopening a ledger with accounts but no entries, and one that was
     * never used, must work (the first start of a new deployment). */
    struct fx *fx = fx_new();
    fx_restart(fx);
    ASSERT_VIEW(fx, fx->sys_id, 0, 0);
    fx_verify_ok(fx);
    fx_restart(fx);
    int64_t a = fx_user(fx, "user:u_a");
    fx_fund(fx, a, 10);
    ASSERT_VIEW(fx, a, 10, 0);
    fx_free(fx);
}

TEST(close_runs_queued_commands)
{
    /* ledger_close must finish every queued command (each gets its done
     * callback) and refuse new ones with SHUTTING_DOWN. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    enum { N = 200 };
    struct fx_script *s = calloc(N, sizeof *s);
    ASSERT(s != NULL);
    struct fx_batch batch;
    fx_batch_init(&batch);
    for (int i = 0; i < N; i++) {
        fx_script_init(&s[i]);
        fx_script_post2(&s[i], fx->sys_id, a, 1);
        ASSERT_OK(fx_submit(fx, &batch, &s[i]));
    }
    ledger_close(fx->ledger);
    fx->ledger = NULL;
    ASSERT_EQ_INT(batch.pending, 0);
    ASSERT_EQ_INT(batch.done_count, N);
    for (int i = 0; i < N; i++) {
        ASSERT_OK(s[i].cmd.result);
        fx_script_release(&s[i]);
    }
    free(s);
    fx_batch_destroy(&batch);
    fx_stop(fx);
    fx_start(fx);
    ASSERT_VIEW(fx, a, N, 0);
    fx_free(fx);
}

/* A command that keeps the writer busy until the test opens the gate. */
struct gate {
    atomic_int entered;
    atomic_int open;
};

static enum qb_error gate_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    (void)txn;
    struct gate *g = cmd->ctx;
    atomic_store(&g->entered, 1);
    while (!atomic_load(&g->open))
        sched_yield();
    return QB_OK;
}

static void gate_done(struct ledger_cmd *cmd)
{
    struct gate *g = cmd->ctx;
    atomic_store(&g->entered, 2);
}

static void *gate_watchdog(void *arg)
{
    struct gate *g = arg;
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL);
    atomic_store(&g->open, 1);
    return NULL;
}

TEST(queue_full_answers_busy_at_once)
{
    /* With the writer busy, submissions past queue_max must be answered BUSY
     * at once (an HTTP thread must never wait on the ledger), and those
     * accepted must all complete once the writer is free. */
    struct fx *fx = fx_new();
    int64_t a = fx_user(fx, "user:u_a");
    fx->options.queue_max = 4;
    fx_restart(fx);
    struct gate gate;
    atomic_init(&gate.entered, 0);
    atomic_init(&gate.open, 0);
    struct ledger_cmd blocker;
    ledger_cmd_init(&blocker, gate_run, &gate);
    blocker.done = gate_done;
    ASSERT_OK(ledger_submit(fx->ledger, &blocker));
    while (atomic_load(&gate.entered) == 0)
        sched_yield();
    pthread_t watchdog;
    ASSERT_EQ_INT(pthread_create(&watchdog, NULL, gate_watchdog, &gate), 0);

    enum { N = 16 };
    struct fx_script *s = calloc(N, sizeof *s);
    ASSERT(s != NULL);
    struct fx_batch batch;
    fx_batch_init(&batch);
    int64_t t0 = clock_monotonic_ns();
    size_t accepted = 0, busy = 0;
    for (size_t i = 0; i < N; i++) {
        fx_script_init(&s[i]);
        fx_script_post2(&s[i], fx->sys_id, a, 1);
        enum qb_error rc = fx_submit(fx, &batch, &s[i]);
        if (rc == QB_OK)
            accepted++;
        else if (rc == QB_E_BUSY)
            busy++;
        else
            TEST_FAIL_("ledger_submit: %s", error_name(rc));
    }
    int64_t elapsed_ns = clock_monotonic_ns() - t0;
    bool gate_was_closed = atomic_load(&gate.open) == 0;
    atomic_store(&gate.open, 1);
    pthread_join(watchdog, NULL);
    fx_batch_wait(&batch);
    fx_batch_destroy(&batch);
    ASSERT(gate_was_closed);           /* nothing waited for the watchdog */
    ASSERT(elapsed_ns < INT64_C(1000000000));
    ASSERT_EQ_INT(accepted, 4);
    ASSERT_EQ_INT(busy, N - 4);
    for (size_t i = 0; i < N; i++)
        fx_script_release(&s[i]);
    free(s);
    while (atomic_load(&gate.entered) != 2)
        sched_yield();
    ASSERT_OK(blocker.result);
    ledger_cmd_release(&blocker);
    ASSERT_VIEW(fx, a, 4, 0);
    fx_free(fx);
}

/* --- tampering, one change at a time ---------------------------------------------- */

/* sql with each {u}, {m}, {sys}, {marked} and {last} replaced by its id. */
static void tamper_sql(char *out, size_t out_size, const char *sql, int64_t u, int64_t m,
                       int64_t sys, int64_t marked, int64_t last)
{
    static const char *const names[] = {"{u}", "{m}", "{sys}", "{marked}", "{last}"};
    const int64_t ids[] = {u, m, sys, marked, last};
    size_t at = 0;
    while (*sql != '\0') {
        size_t name = 0;
        while (name < QB_ARRAY_COUNT(names) && strncmp(sql, names[name], strlen(names[name])) != 0)
            name++;
        int wrote = name < QB_ARRAY_COUNT(names)
                        ? snprintf(out + at, out_size - at, "%" PRId64, ids[name])
                        : snprintf(out + at, out_size - at, "%c", *sql);
        ASSERT(wrote > 0 && (size_t)wrote < out_size - at);
        at += (size_t)wrote;
        sql += name < QB_ARRAY_COUNT(names) ? strlen(names[name]) : 1;
    }
}

TEST(each_tampering_with_the_stored_ledger_is_caught)
{
    /* What an insider with write access to the database file (not to the
     * data directory's keys) can change without recomputing the hash
     * chain, one change at a time on a ledger of every kind of entry: each
     * fails the check with its own problem. A start re-reads only what it
     * trusts instead of the journal and the newest entries, so it refuses
     * what it reads and, on an older entry changed, serves the balances
     * of the journal as it was (the check on its schedule finds it). */
    enum { BLOB_NONE, BLOB_AMOUNT, BLOB_ACCOUNT };
    static const struct {
        const char *what;
        const char *sql; /* or NULL for a change of the postings blob */
        int blob;
        const char *problem; /* in ledger_verify's report */
        bool start_refused;
    } cases[] = {
        {"an old entry's amount", NULL, BLOB_AMOUNT, "hash chain broken at entry", false},
        {"an old entry's account", NULL, BLOB_ACCOUNT, "hash chain broken at entry", false},
        {"an old entry's code", "UPDATE entries SET code = code + 1 WHERE id = {marked}", 0,
         "hash chain broken at entry", false},
        {"an old entry's time",
         "UPDATE entries SET created_at_ms = created_at_ms - 1 WHERE id = {marked}", 0,
         "hash chain broken at entry", false},
        {"an old entry's ref", "UPDATE entries SET ref = 'tampered' WHERE id = {marked}", 0,
         "hash chain broken at entry", false},
        {"an old entry's kind", "UPDATE entries SET kind = 2 WHERE id = {marked}", 0,
         "hash chain broken at entry", false},
        {"the newest entry's code", "UPDATE entries SET code = code + 1 WHERE id = {last}", 0,
         "hash chain broken at entry", true},
        {"an entry deleted in the middle", "DELETE FROM entries WHERE id = {marked}", 0,
         "is missing", false},
        {"the newest entry deleted", "DELETE FROM entries WHERE id = {last}", 0,
         "checkpoint disagrees with the journal", true},
        {"the newest two entries deleted", "DELETE FROM entries WHERE id >= {last} - 1", 0,
         "checkpoint disagrees with the journal", true},
        {"two entries swapped",
         "UPDATE entries SET id = -1 WHERE id = {marked};"
         "UPDATE entries SET id = {marked} WHERE id = {marked} + 1;"
         "UPDATE entries SET id = {marked} + 1 WHERE id = -1",
         0, "hash chain broken at entry", false},
        {"an entry inserted at the end",
         "INSERT INTO entries (id, created_at_ms, kind, code, ref_entry_id, expires_at_ms, ref,"
         " postings, hash) SELECT {last} + 1, created_at_ms, kind, code, ref_entry_id,"
         " expires_at_ms, ref, postings, hash FROM entries WHERE id = {marked}",
         0, "hash chain broken at entry", true},
        {"a balance raised",
         "UPDATE accounts SET balance_minor = balance_minor + 100000 WHERE id = {u}", 0,
         "checkpoint disagrees with the journal", true},
        {"a balance moved between two accounts",
         "UPDATE accounts SET balance_minor = balance_minor + 100000 WHERE id = {u};"
         "UPDATE accounts SET balance_minor = balance_minor - 100000 WHERE id = {sys}",
         0, "checkpoint disagrees with the journal", true},
        {"a held amount cleared", "UPDATE accounts SET held_minor = 0 WHERE id = {u}", 0,
         "checkpoint disagrees with the journal", true},
        {"a checkpoint's entry moved back",
         "UPDATE accounts SET last_entry_id = {marked} WHERE id = {u}", 0,
         "checkpoint disagrees with the journal", true},
        {"a user's floor lowered", "UPDATE accounts SET floor_minor = -100000000 WHERE id = {u}", 0,
         "does not allow", true},
        {"a hold's amount", "UPDATE holds SET amount_minor = 1 WHERE amount_minor = 222", 0,
         "holds table row", true},
        {"a hold's deadline", "UPDATE holds SET expires_at_ms = 1 WHERE amount_minor = 222", 0,
         "holds table row", true},
        {"a hold's row deleted", "DELETE FROM holds WHERE amount_minor = 222", 0,
         "holds are open in the journal", true},
        {"replay_from moved past a checkpoint",
         "UPDATE accounts SET balance_minor = balance_minor - 54, last_entry_id = {last} - 1"
         " WHERE id = {u};"
         "UPDATE meta SET value = {last} + 1 WHERE key = 'replay_from'",
         0, "before where a start replays from", true},
        {"replay_from moved past the journal's end",
         "UPDATE meta SET value = {last} + 100 WHERE key = 'replay_from'", 0,
         "past the journal's end", true},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(cases); i++) {
        fprintf(stderr, "  %s:\n", cases[i].what);
        struct fx *fx = fx_new();
        int64_t u, m;
        int64_t marked = chain_setup(fx, &u, &m);
        struct ledger_account_view before = fx_view(fx, u);
        fx_stop(fx);
        fx_verify_ok(fx);
        if (cases[i].blob == BLOB_AMOUNT)
            raw_tamper_postings(fx, marked, 777777, 777778);
        else if (cases[i].blob == BLOB_ACCOUNT)
            raw_tamper_postings(fx, marked, u, m);
        else {
            char sql[1024];
            tamper_sql(sql, sizeof sql, cases[i].sql, u, m, fx->sys_id, marked,
                       before.last_entry_id);
            fx_sql(fx, sql);
        }
        struct ledger_verify_report report;
        ASSERT_ERR(fx_verify(fx, &report), QB_E_INTERNAL);
        fprintf(stderr, "    verify reports: %s\n", report.problem);
        if (strstr(report.problem, cases[i].problem) == NULL)
            TEST_FAIL_("%s: verify reports \"%s\", not \"%s\"", cases[i].what, report.problem,
                       cases[i].problem);
        enum qb_error rc = fx_start_rc(fx);
        if (cases[i].start_refused) {
            if (rc == QB_OK)
                TEST_FAIL_("%s: the ledger started on it", cases[i].what);
            ASSERT_ERR(rc, QB_E_INTERNAL);
            test_rmtree(fx->dir);
            free(fx);
            continue;
        }
        if (rc != QB_OK)
            TEST_FAIL_("%s: the ledger did not start: %s", cases[i].what, error_name(rc));
        ASSERT_VIEW(fx, u, before.balance_minor, before.held_minor);
        fx_free(fx);
    }
}

int main(void)
{
    if (!crypto_init()) {
        fprintf(stderr, "crypto_init failed\n");
        return 1;
    }
    RUN(account_create_and_view);
    RUN(account_duplicate_conflicts);
    RUN(account_bad_spec_refused);
    RUN(account_view_unknown_not_found);
    RUN(account_debit_frozen);
    RUN(account_credit_frozen);
    RUN(account_flags_refuse_unknown_account);
    RUN(the_check_finds_a_closed_account_holding_money);
    RUN(account_create_rolled_back_with_command);
    RUN(account_working_state_of_unknown);
    RUN(post_transfer_moves_money);
    RUN(post_unbalanced_refused);
    RUN(post_leg_count_refused);
    RUN(post_same_account_twice_refused);
    RUN(post_zero_amount_refused);
    RUN(post_mixed_currencies);
    RUN(post_overdraft_refused);
    RUN(post_system_account_no_floor);
    RUN(post_credit_line_floor);
    RUN(post_overflow_refused);
    RUN(post_failed_command_rolls_back_every_entry);
    RUN(post_failed_command_in_batch_alone_rolled_back);
    RUN(post_refused_op_inside_command_leaves_nothing);
    RUN(post_ref_length);
    RUN(post_unknown_account_not_found);
    RUN(hold_reserves_available_not_balance);
    RUN(hold_capture_full);
    RUN(hold_capture_partial_releases_rest);
    RUN(hold_capture_amount_out_of_range);
    RUN(hold_void_releases);
    RUN(hold_resolves_once);
    RUN(entry_times_never_go_back_when_the_clock_does);
    RUN(hold_expires_at_deadline);
    RUN(hold_past_deadline_not_capturable_in_same_batch);
    RUN(hold_larger_than_available_refused);
    RUN(hold_bad_arguments);
    RUN(hold_between_currencies_or_to_itself_refused);
    RUN(hold_rolled_back_with_command);
    RUN(hold_unknown_not_found);
    RUN(hold_capture_to_frozen_payee_refused);
    RUN(idem_same_request_replayed);
    RUN(idem_same_request_in_one_batch_replayed);
    RUN(idem_answer_set_only_when_the_command_commits);
    RUN(idem_different_body_refused);
    RUN(idem_record_of_a_legacy_fingerprint_answers_its_retry);
    RUN(idem_keys_scoped_by_principal);
    RUN(idem_refusal_replayed);
    RUN(idem_key_too_long_refused);
    RUN(idem_records_of_the_old_table_moved_at_start);
    RUN(idem_records_expire_after_the_retention);
    RUN(idem_expiry_takes_a_bounded_share_of_each_batch);
    RUN(spending_counted_by_posting);
    RUN(spending_given_back_by_the_entry_that_returns_it);
    RUN(checkpoints_rebuilt_from_the_journal);
    RUN(checkpoints_not_rebuilt_from_a_journal_that_fails_its_checks);
    RUN(each_tampering_with_the_stored_ledger_is_caught);
    RUN(a_history_rewritten_without_the_chain_key_is_caught);
    RUN(a_journal_kept_before_the_key_is_keyed_from_its_next_entry);
    RUN(an_accounts_owner_changed_without_the_chain_key_is_caught);
    RUN(a_journal_passed_off_as_unkeyed_or_under_another_key_is_refused);
    RUN(checkpoints_trickle_while_the_replay_is_within_its_bound);
    RUN(spending_sums_survive_restarts_and_crashes);
    RUN(history_pages_newest_first);
    RUN(history_empty_account);
    RUN(history_read_walks_without_the_ledger);
    RUN(history_balances_and_chain);
    RUN(a_watcher_is_told_the_owners_of_each_durable_batch);
    RUN(verify_passes_on_healthy_ledger);
    RUN(verify_sums_the_trial_balance);
    RUN(verify_detects_tampered_amount);
    RUN(verify_detects_tampered_ref);
    RUN(open_refuses_tampered_newest_entry);
    RUN(verify_detects_tampered_old_entry_after_clean_close);
    RUN(verify_detects_deleted_entry);
    RUN(verify_detects_tampered_checkpoint);
    RUN(verify_detects_checkpoint_naming_another_accounts_entry);
    RUN(open_refuses_checkpoint_disagreeing_with_its_entry);
    RUN(verify_detects_a_floor_its_kind_does_not_allow);
    RUN(verify_detects_tampered_held);
    RUN(verify_detects_deleted_hold_row);
    RUN(verify_detects_tampered_hold_expiry);
    RUN(restart_keeps_state);
    RUN(restart_without_activity);
    RUN(close_runs_queued_commands);
    RUN(queue_full_answers_busy_at_once);
    return test_summary();
}
