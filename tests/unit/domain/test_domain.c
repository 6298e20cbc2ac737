/*
 * test_domain.c — the domain environment: key separation, sealing, days,
 * and the background workers' loop.
 */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "domain/domain.h"
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
    int pass_ms; /* how long each pass takes */
};

static enum qb_error script_pass(void *arg, const atomic_bool *stopping, bool *more)
{
    (void)stopping;
    struct pass_script *s = arg;
    int pass = atomic_fetch_add(&s->passes, 1) + 1;
    if (s->pass_ms > 0)
        usleep((useconds_t)s->pass_ms * 1000);
    *more = pass < s->more_count;
    return s->fail_from > 0 && pass >= s->fail_from ? QB_E_STORAGE : QB_OK;
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
    RUN(a_woken_worker_runs_its_next_pass_at_once);
    domain_env_release(&env);
    return test_summary();
}
