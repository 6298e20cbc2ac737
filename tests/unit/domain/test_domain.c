/*
 * test_domain.c — the domain environment: key separation, sealing, days,
 * and the background workers' loop and their reading of what is due.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain/domain.h"
#include "store/pool.h"
#include "test.h"

static struct domain_env env;

static void env_setup(void)
{
    static struct qb_rand rnd;
    rand_seeded_init(&rnd, 7);
    struct domain_settings settings;
    domain_settings_default(&settings);
    uint8_t pepper[DOMAIN_KEY_SIZE], data_key[DOMAIN_KEY_SIZE];
    memset(pepper, 0x11, sizeof pepper);
    memset(data_key, 0x22, sizeof data_key);
    domain_env_init(&env, clock_system(), &rnd, NULL, &settings, pepper, data_key);
}

TEST(subkeys_differ_per_use)
{
    /* One secret feeds several uses; a subkey disclosed for one must not
     * be another's, so no two derived keys may be equal. */
    ASSERT(memcmp(env.pepper_key, env.payment_password_key, DOMAIN_KEY_SIZE) != 0);
    ASSERT(memcmp(env.payment_password_key, env.sms_code_key, DOMAIN_KEY_SIZE) != 0);
    ASSERT(memcmp(env.pepper_key, env.sms_code_key, DOMAIN_KEY_SIZE) != 0);
    ASSERT(memcmp(env.seal_key, env.card_hash_key, DOMAIN_KEY_SIZE) != 0);
    uint8_t pepper[DOMAIN_KEY_SIZE];
    memset(pepper, 0x11, sizeof pepper);
    ASSERT(memcmp(env.pepper_key, pepper, DOMAIN_KEY_SIZE) != 0);
}

TEST(seal_round_trips_and_detects_tampering)
{
    /* Id numbers and outbox codes are sealed at rest: opening must give the
     * bytes back, and a flipped bit must be refused, not decrypted. */
    const char text[] = "110101199003074514";
    uint8_t sealed[sizeof text + DOMAIN_SEAL_OVERHEAD];
    char opened[sizeof text];
    domain_seal(&env, text, sizeof text, sealed);
    for (size_t i = 0; i + 10 <= sizeof sealed; i++)
        ASSERT(memcmp(sealed + i, "1101011990", 10) != 0);
    ASSERT(domain_unseal(&env, sealed, sizeof sealed, opened));
    ASSERT_EQ_STR(opened, text);
    sealed[30] ^= 1;
    ASSERT(!domain_unseal(&env, sealed, sizeof sealed, opened));
    ASSERT(!domain_unseal(&env, sealed, DOMAIN_SEAL_OVERHEAD - 1, opened));
}

TEST(keyed_hash_depends_on_the_key)
{
    /* A six-digit secret hashed without a key is found by trying a million
     * values; with the key, the same digits hash differently per key. */
    uint8_t a[CRYPTO_SHA256_SIZE], b[CRYPTO_SHA256_SIZE], c[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env.sms_code_key, "123456", 6, a);
    domain_keyed_hash(env.payment_password_key, "123456", 6, b);
    domain_keyed_hash(env.sms_code_key, "123456", 6, c);
    ASSERT(memcmp(a, b, sizeof a) != 0);
    ASSERT(memcmp(a, c, sizeof a) == 0);
}

TEST(day_starts_at_midnight_in_china)
{
    /* Daily limits count by the users' calendar day (UTC+8): 15:59:59.999
     * UTC is the last moment of a day there, 16:00 UTC the next midnight. */
    int64_t day22 = 1795276800000LL; /* 2026-11-22T00:00:00+08:00 */
    ASSERT_EQ_INT(domain_day_start_ms(day22), day22);
    ASSERT_EQ_INT(domain_day_start_ms(day22 + 86399999), day22);
    ASSERT_EQ_INT(domain_day_start_ms(day22 + 86400000), day22 + 86400000);
    ASSERT_EQ_INT(domain_day_start_ms(day22 - 1), day22 - 86400000);
    ASSERT_EQ_INT(domain_day_start_ms(-1), -8LL * 3600 * 1000);
}

/* A pass that says it has more until it ran more_count times, failing
 * from the fail_from'th on (0: never). */
struct pass_script {
    atomic_int passes;
    int more_count;
    int fail_from;
    int fail_until; /* the last failing pass (0: all from fail_from on) */
    bool row_fails; /* a failing pass is one whose row's command failed, the pass itself QB_OK */
    int pass_ms;    /* how long each pass takes */
};

static enum qb_error script_pass(void *arg, const atomic_bool *stopping, bool *more)
{
    (void)stopping;
    struct pass_script *s = arg;
    int pass = atomic_fetch_add(&s->passes, 1) + 1;
    if (s->pass_ms > 0)
        usleep((useconds_t)s->pass_ms * 1000);
    *more = pass < s->more_count;
    bool fails =
        s->fail_from > 0 && pass >= s->fail_from && (s->fail_until == 0 || pass <= s->fail_until);
    if (fails && s->row_fails) {
        ASSERT(domain_worker_pass_ends(QB_E_STORAGE, "test.row_failed", "row=1"));
        return QB_OK;
    }
    return fails ? QB_E_STORAGE : QB_OK;
}

/* Waits up to 2 s for the script's passes to reach count; then how many ran. */
static int passes_after(struct pass_script *s, int count)
{
    for (int waited = 0; waited < 2000 && atomic_load(&s->passes) < count; waited += 5)
        usleep(5 * 1000);
    return atomic_load(&s->passes);
}

TEST(a_pass_with_more_is_followed_at_once)
{
    /* A worker polling once a minute whose pass filled its batch runs the
     * next pass at once, until one says it is done; then it sleeps. A pass
     * that failed sleeps too, whatever it said, so that a failure cannot
     * spin the thread. */
    struct pass_script s = {.more_count = 5};
    struct domain_worker *w = NULL;
    ASSERT(domain_worker_start("test", 60000, script_pass, &s, &w) == QB_OK);
    ASSERT_EQ_INT(passes_after(&s, 5), 5);
    usleep(100 * 1000);
    ASSERT_EQ_INT(atomic_load(&s.passes), 5);
    domain_worker_stop(w);

    struct pass_script failing = {.more_count = 100, .fail_from = 2};
    ASSERT(domain_worker_start("test", 60000, script_pass, &failing, &w) == QB_OK);
    ASSERT_EQ_INT(passes_after(&failing, 2), 2);
    usleep(100 * 1000);
    ASSERT_EQ_INT(atomic_load(&failing.passes), 2);
    domain_worker_stop(w);
}

TEST(a_ledger_that_cannot_write_makes_the_next_pass_wait)
{
    /* While storage fails (a full disk), each pass would ask the bank again
     * about a payment whose answer it cannot write, and log it, at the
     * poll's pace: a pass that failed so, or whose row's command did, is
     * followed after a second, then longer, whatever the poll or a wake
     * says; once one goes through, the poll's pace again. */
    struct pass_script s = {.fail_from = 1, .fail_until = 1};
    struct domain_worker *w = NULL;
    ASSERT(domain_worker_start("test", 10, script_pass, &s, &w) == QB_OK);
    ASSERT_EQ_INT(passes_after(&s, 1), 1);
    usleep(400 * 1000);
    domain_worker_wake(w);
    usleep(100 * 1000);
    ASSERT_EQ_INT(atomic_load(&s.passes), 1);
    ASSERT(passes_after(&s, 20) >= 20); /* from the second's end on, every 10 ms */
    domain_worker_stop(w);

    struct pass_script rows = {.fail_from = 1, .row_fails = true};
    ASSERT(domain_worker_start("test", 10, script_pass, &rows, &w) == QB_OK);
    usleep(1500 * 1000); /* passes at 0 and 1 s; the next not before 3 s */
    ASSERT_EQ_INT(atomic_load(&rows.passes), 2);
    domain_worker_stop(w);
}

TEST(a_woken_worker_runs_its_next_pass_at_once)
{
    /* A worker polling once a minute runs its next pass at once when woken
     * (its delivery threads do so as one comes free), and a wake that came
     * during a pass is not lost: the pass after it runs without a sleep. */
    struct pass_script s = {.pass_ms = 100};
    struct domain_worker *w = NULL;
    ASSERT(domain_worker_start("test", 60000, script_pass, &s, &w) == QB_OK);
    ASSERT_EQ_INT(passes_after(&s, 1), 1);
    usleep(250 * 1000);
    ASSERT_EQ_INT(atomic_load(&s.passes), 1);
    domain_worker_wake(w); /* asleep */
    ASSERT_EQ_INT(passes_after(&s, 2), 2);
    domain_worker_wake(w); /* during pass 2: pass 3 follows it */
    ASSERT_EQ_INT(passes_after(&s, 3), 3);
    usleep(250 * 1000);
    ASSERT_EQ_INT(atomic_load(&s.passes), 3);
    domain_worker_stop(w);
}

/* The ids one domain_due_ids read of the test's rows gives after *cursor,
 * joined by spaces, into out. */
static void due_read(struct store_pool *pool, int64_t now_ms, size_t max,
                     struct domain_due_cursor *cursor, char *out, size_t out_size)
{
    char ids[4][8];
    size_t count = 99;
    ASSERT(max <= 4);
    ASSERT_EQ_INT(domain_due_ids(pool,
                                 "SELECT id, due_ms, seq FROM due_test WHERE due_ms <= $1"
                                 " AND (due_ms, seq) > ($3, $4) ORDER BY due_ms, seq LIMIT $2",
                                 now_ms, cursor, ids[0], sizeof ids[0], max, &count),
                  QB_OK);
    out[0] = '\0';
    for (size_t i = 0; i < count; i++)
        snprintf(out + strlen(out), out_size - strlen(out), "%s%s", i > 0 ? " " : "", ids[i]);
}

TEST(due_rows_are_read_on_after_a_full_batch_and_again_from_the_first)
{
    /* A worker whose batch came full reads on after it, so that a batch of
     * rows that stay due (their commands failing every time) holds back
     * none due after them; a read that comes short starts over, so that
     * those rows are tried again. Equal due times are told apart by seq;
     * an id too long for the worker's slots is passed over, though the
     * cursor moves past it. */
    char dir[] = "/tmp/qianbao-test-due-XXXXXX";
    ASSERT(mkdtemp(dir) != NULL);
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/qianbao.db", dir);
    struct store *writer = NULL;
    ASSERT_EQ_INT(store_open(path, STORE_MODE_WRITE, &writer, err, sizeof err), QB_OK);
    ASSERT_EQ_INT(
        store_exec(writer,
                   "CREATE TABLE due_test (seq INTEGER PRIMARY KEY, id TEXT, due_ms INTEGER);"
                   "INSERT INTO due_test VALUES (1, 'a', 20), (2, 'b', 10), (3, 'c', 10),"
                   " (4, 'far-too-long', 30), (5, 'e', 30), (6, 'f', 40), (7, 'g', 99);"),
        QB_OK);
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_pool_open(path, 1, &pool, err, sizeof err), QB_OK);
    struct domain_due_cursor cursor = DOMAIN_DUE_START;
    char got[64];
    due_read(pool, 50, 2, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "b c");
    ASSERT(cursor.full && cursor.due_ms == 10 && cursor.seq == 3);
    due_read(pool, 50, 2, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "a");
    ASSERT(cursor.full && cursor.due_ms == 30 && cursor.seq == 4);
    due_read(pool, 50, 2, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "e f");
    ASSERT(cursor.full && cursor.due_ms == 40 && cursor.seq == 6);
    due_read(pool, 50, 2, &cursor, got, sizeof got); /* none after f is due: start over */
    ASSERT_EQ_STR(got, "");
    ASSERT(!cursor.full && cursor.due_ms == INT64_MIN && cursor.seq == INT64_MIN);
    due_read(pool, 50, 4, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "b c a");
    ASSERT(cursor.full && cursor.due_ms == 30 && cursor.seq == 4);
    due_read(pool, 50, 4, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "e f");
    ASSERT(!cursor.full && cursor.due_ms == INT64_MIN);
    /* A due time written by hand as a REAL is read cut to an integer, which
     * the SQL's order does not follow: the read after such a batch comes
     * back to it, and the cursor starts over instead of stopping the
     * daemon on an assertion or going round at once. */
    ASSERT_EQ_INT(store_exec(writer, "UPDATE due_test SET due_ms = 10.5 WHERE seq IN (2, 3)"),
                  QB_OK);
    due_read(pool, 50, 2, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "b c");
    ASSERT(cursor.full && cursor.due_ms == 10 && cursor.seq == 3);
    due_read(pool, 50, 2, &cursor, got, sizeof got);
    ASSERT_EQ_STR(got, "b c");
    ASSERT(!cursor.full && cursor.due_ms == INT64_MIN);
    store_pool_close(pool);
    store_close(writer);
    char rm[160];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    ASSERT_EQ_INT(system(rm), 0);
}

int main(void)
{
    if (!crypto_init())
        return 1;
    env_setup();
    RUN(subkeys_differ_per_use);
    RUN(seal_round_trips_and_detects_tampering);
    RUN(keyed_hash_depends_on_the_key);
    RUN(day_starts_at_midnight_in_china);
    RUN(a_pass_with_more_is_followed_at_once);
    RUN(a_ledger_that_cannot_write_makes_the_next_pass_wait);
    RUN(a_woken_worker_runs_its_next_pass_at_once);
    RUN(due_rows_are_read_on_after_a_full_batch_and_again_from_the_first);
    domain_env_release(&env);
    return test_summary();
}
