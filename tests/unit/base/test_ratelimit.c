/*
 * test_ratelimit.c — windows of events per key (base/ratelimit.h): the
 * limit holds, each key has its own window, a window ends, and a full table
 * forgets the oldest windows rather than refusing anyone wrongly.
 */
#include <stdio.h>

#include "base/assert.h"
#include "base/ratelimit.h"
#include "test.h"

TEST(a_key_gets_max_events_in_its_window_then_waits_for_its_end)
{
    // The limit is the whole point: the (max+1)th event is refused and says when to come back.
    struct ratelimit *limit = ratelimit_new(64, 1000, 3);
    ASSERT(limit != NULL);
    int64_t until = 0;
    for (int i = 0; i < 3; i++) {
        ASSERT(ratelimit_take(limit, "u_alice", 5000 + i, &until));
        ASSERT_EQ_INT(until, 6000);
    }
    ASSERT(!ratelimit_take(limit, "u_alice", 5500, &until));
    ASSERT_EQ_INT(until, 6000);
    ASSERT(!ratelimit_take(limit, "u_alice", 5999, NULL));
    // Another key is not held by alice's count.
    ASSERT(ratelimit_take(limit, "u_bob", 5999, &until));
    ASSERT_EQ_INT(until, 6999);
    // Alice's window ends at 6000: a new one begins with the next event.
    ASSERT(ratelimit_take(limit, "u_alice", 6000, &until));
    ASSERT_EQ_INT(until, 7000);
    ASSERT(ratelimit_take(limit, "u_alice", 6001, NULL));
    ASSERT(ratelimit_take(limit, "u_alice", 6002, NULL));
    ASSERT(!ratelimit_take(limit, "u_alice", 6003, NULL));
    ratelimit_free(limit);
}

TEST(asking_whether_a_window_is_spent_counts_nothing)
{
    // A limit on failures asks before each try and counts only the tries that fail: asking
    // must neither count nor start a window, and says spent exactly when a take would fail.
    struct ratelimit *limit = ratelimit_new(64, 1000, 2);
    int64_t until = 0;
    for (int i = 0; i < 10; i++)
        ASSERT(!ratelimit_spent(limit, "m:u", 100, &until));
    ASSERT(ratelimit_take(limit, "m:u", 200, NULL));
    ASSERT(!ratelimit_spent(limit, "m:u", 300, NULL));
    ASSERT(ratelimit_take(limit, "m:u", 400, NULL));
    ASSERT(ratelimit_spent(limit, "m:u", 500, &until));
    ASSERT_EQ_INT(until, 1200); /* the window began with the first take, not the first ask */
    ASSERT(!ratelimit_spent(limit, "m:other", 500, NULL));
    ASSERT(!ratelimit_spent(limit, "m:u", 1200, NULL));
    ASSERT(ratelimit_take(limit, "m:u", 1200, NULL));
    ratelimit_free(limit);
}

TEST(refused_events_do_not_lengthen_the_wait)
{
    // A caller that keeps trying while refused must still get in when the window ends.
    struct ratelimit *limit = ratelimit_new(4, 100, 1);
    ASSERT(ratelimit_take(limit, "k", 0, NULL));
    for (int t = 1; t < 100; t++)
        ASSERT(!ratelimit_take(limit, "k", t, NULL));
    ASSERT(ratelimit_take(limit, "k", 100, NULL));
    ratelimit_free(limit);
}

TEST(a_full_table_forgets_the_oldest_window_and_keeps_counting_the_rest)
{
    // Four slots, one set: a fifth live key takes the slot of the window that began first.
    // That key gets a fresh window (memory is short, nobody is refused wrongly) while the
    // others keep theirs.
    struct ratelimit *limit = ratelimit_new(4, 1000, 2);
    char key[16];
    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "u_%d", k);
        ASSERT(ratelimit_take(limit, key, 10 + k, NULL));
        ASSERT(ratelimit_take(limit, key, 10 + k, NULL));
        ASSERT(!ratelimit_take(limit, key, 10 + k, NULL));
    }
    ASSERT(ratelimit_take(limit, "u_new", 20, NULL));
    // u_0's window began first: it was forgotten, so u_0 starts again (and, in turn, pushes
    // out u_1, whose window is now the oldest).
    ASSERT(ratelimit_take(limit, "u_0", 21, NULL));
    ASSERT(!ratelimit_take(limit, "u_2", 22, NULL));
    ASSERT(!ratelimit_take(limit, "u_3", 22, NULL));
    ASSERT(ratelimit_take(limit, "u_new", 22, NULL));
    ASSERT(!ratelimit_take(limit, "u_new", 22, NULL));
    ratelimit_free(limit);
}

TEST(many_keys_in_a_large_table_each_keep_their_own_count)
{
    // Sized for the keys active in a window, the table counts each of them exactly. (Five
    // of these keys in one set of four, the only way to lose a count, has a chance of about
    // one in ten million.)
    struct ratelimit *limit = ratelimit_new(1 << 16, 60000, 2);
    char key[32];
    int refused = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < 256; k++) {
            snprintf(key, sizeof key, "u_%08d", k);
            refused += !ratelimit_take(limit, key, 1000 + pass, NULL);
        }
    ASSERT_EQ_INT(refused, 256);
    ratelimit_free(limit);
}

int main(void)
{
    RUN(a_key_gets_max_events_in_its_window_then_waits_for_its_end);
    RUN(asking_whether_a_window_is_spent_counts_nothing);
    RUN(refused_events_do_not_lengthen_the_wait);
    RUN(a_full_table_forgets_the_oldest_window_and_keeps_counting_the_rest);
    RUN(many_keys_in_a_large_table_each_keep_their_own_count);
    return test_summary();
}
