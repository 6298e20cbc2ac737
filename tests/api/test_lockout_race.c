/*
 * test_lockout_race.c — the payment-password lock under parallel guessing.
 *
 * Five wrong tries lock a payment password. A counter read on one thread and
 * written on another would let a burst of parallel guesses all be evaluated
 * before any of them is counted; the identity module counts on the ledger's
 * single writer so that guesses are evaluated one at a time. This test
 * fires 100 wrong guesses at once from 100 threads (one connection each)
 * and checks what came back: at most four PASSWORD_WRONG (tries 1-4), every
 * other answer PASSWORD_LOCKED (the fifth locks it, the rest find it
 * locked), and then even the right password is refused — also after a
 * restart. A second daemon with --payment-password-lock-s 5 shows the lock
 * lifting on time.
 *
 * The same single-writer argument covers the other counters and one-shot
 * state changes, so bursts are also fired at an SMS code's wrong tries, at
 * one code used ten times, and at freezing and KYC.
 *
 * The login lock is looked at on the HTTP thread, the login password checked
 * on a password thread: guesses queued behind the fifth wrong one found no
 * lock when they were let in. A third daemon, with Argon2id at its default
 * cost and one password thread, queues five wrong passwords and then the
 * right one, so that the right one waits while the fifth takes the lock,
 * at each route that asks for the login password again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "test.h"

#define S_GUESS_COUNT 100
#define S_RIGHT "260418"
#define S_RIGHT_BODY "{\"payment_password\":\"" S_RIGHT "\"}"

static char S_root[512];
static struct test_daemon S_daemon;
static struct test_daemon S_short;
static struct test_daemon S_slow;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static char S_short_admin[API_TOKEN_SIZE_MAX];
static char S_slow_admin[API_TOKEN_SIZE_MAX];
static struct api_user S_user;

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

struct guess {
    pthread_t thread;
    const char *base_url;
    const char *token;
    pthread_barrier_t *start;
    char body[64];
    long status;
    char code[64];
};

static void *S_guess_run(void *arg)
{
    struct guess *g = arg;
    struct client c;
    client_init(&c, g->base_url);
    pthread_barrier_wait(g->start);
    struct client_response res;
    g->status = api_call(&c, "POST", "/v1/me/payment-password/verify", g->token, g->body, &res);
    snprintf(g->code, sizeof g->code, "%s", api_error_code(&res));
    client_response_release(&res);
    client_release(&c);
    return NULL;
}

/* Asserts one verify answer. */
static void S_verify_expect(int line, struct client *client, const char *token, const char *body,
                            long status, const char *code)
{
    struct client_response res;
    api_call(client, "POST", "/v1/me/payment-password/verify", token, body, &res);
    if (res.status != status || (code != NULL && strcmp(api_error_code(&res), code) != 0))
        TEST_FAIL_("line %d: verify %s: expected %ld %s, got %ld %s", line, body, status,
                   code ? code : "", res.status, res.body.data ? res.body.data : "");
    client_response_release(&res);
}
#define VERIFY_EXPECT(client, token, body, status, code)                                           \
    S_verify_expect(__LINE__, client, token, body, status, code)

TEST(parallel_wrong_guesses_lock_after_at_most_five)
{
    // 100 simultaneous wrong guesses from two sessions must not all be evaluated: at most four are
    // told "wrong", the rest "locked", and none slips through as anything else.
    API_MUST(api_user_new(&S_client, S_admin, &S_user));
    API_MUST(api_payment_password_set(&S_client, S_admin, &S_user, S_RIGHT));
    VERIFY_EXPECT(&S_client, S_user.token, S_RIGHT_BODY, 204, NULL);
    /* Half the guesses come from a second device: the count is the user's,
     * not the session's. */
    static char second[API_TOKEN_SIZE_MAX];
    API_MUST(api_login_new_device(&S_client, S_admin, &S_user, "second device", second));

    static struct guess guesses[S_GUESS_COUNT];
    pthread_barrier_t start;
    ASSERT_EQ_INT(pthread_barrier_init(&start, NULL, S_GUESS_COUNT), 0);
    for (int i = 0; i < S_GUESS_COUNT; i++) {
        struct guess *g = &guesses[i];
        memset(g, 0, sizeof *g);
        g->base_url = S_daemon.base_url;
        g->token = i % 2 == 0 ? S_user.token : second;
        g->start = &start;
        /* Different wrong passwords, none of them the right one. */
        snprintf(g->body, sizeof g->body, "{\"payment_password\":\"%06d\"}", 370000 + i * 7);
        ASSERT_EQ_INT(pthread_create(&g->thread, NULL, S_guess_run, g), 0);
    }
    for (int i = 0; i < S_GUESS_COUNT; i++)
        pthread_join(guesses[i].thread, NULL);
    pthread_barrier_destroy(&start);

    int wrong = 0, locked = 0, other = 0;
    for (int i = 0; i < S_GUESS_COUNT; i++) {
        if (guesses[i].status == 403 && strcmp(guesses[i].code, "PASSWORD_WRONG") == 0) {
            wrong++;
        } else if (guesses[i].status == 423 && strcmp(guesses[i].code, "PASSWORD_LOCKED") == 0) {
            locked++;
        } else {
            if (other < 5)
                fprintf(stderr, "  guess %d: %ld %s\n", i, guesses[i].status, guesses[i].code);
            other++;
        }
    }
    fprintf(stderr, "  %d PASSWORD_WRONG, %d PASSWORD_LOCKED, %d other\n", wrong, locked, other);
    ASSERT_EQ_INT(other, 0);
    ASSERT(wrong <= 4);
    ASSERT(wrong >= 1); /* the first evaluated guess cannot find it locked */
    ASSERT_EQ_INT(locked, S_GUESS_COUNT - wrong);

    /* Locked means locked: the right password is refused too. */
    VERIFY_EXPECT(&S_client, S_user.token, S_RIGHT_BODY, 423, "PASSWORD_LOCKED");

    /* The security centre shows the lockout. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/security", S_user.token, NULL, &res), 200);
    json_t *security = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(security, "items");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name != NULL && strcmp(name, "no_recent_lockouts") == 0) {
            ASSERT(json_is_false(json_object_get(item, "ok")));
            seen++;
        }
    }
    json_decref(security);
    ASSERT_EQ_INT(seen, 1);
}

TEST(lock_survives_a_restart)
{
    // A lock kept only in memory would be lifted by any crash or deploy: after a restart the right
    // password is still refused.
    ASSERT(S_user.token[0] != '\0');
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char dir[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s", S_daemon.data_dir);
    const char *args[] = {"--argon2-memory-kib", "8", "--argon2-ops", "1", NULL};
    char log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(log_path, sizeof log_path, "%s", S_daemon.log_path);
    ASSERT(test_daemon_start(&S_daemon, dir, log_path, args));
    client_init(&S_client, S_daemon.base_url);
    VERIFY_EXPECT(&S_client, S_user.token, S_RIGHT_BODY, 423, "PASSWORD_LOCKED");
    VERIFY_EXPECT(&S_client, S_user.token, "{\"payment_password\":\"370000\"}", 423,
                  "PASSWORD_LOCKED");
}

TEST(lock_lifts_after_its_time)
{
    // A lock that never lifts would lock users out of their money: with a 5 s lock, the fifth wrong
    // try locks, the right password is refused within the 5 s and accepted after them, with the
    // count of wrong tries started afresh.
    struct client c;
    client_init(&c, S_short.base_url);
    struct api_user u;
    API_MUST(api_user_new(&c, S_short_admin, &u));
    API_MUST(api_payment_password_set(&c, S_short_admin, &u, S_RIGHT));
    for (int i = 0; i < 4; i++)
        VERIFY_EXPECT(&c, u.token, "{\"payment_password\":\"370000\"}", 403, "PASSWORD_WRONG");
    VERIFY_EXPECT(&c, u.token, "{\"payment_password\":\"370000\"}", 423, "PASSWORD_LOCKED");
    VERIFY_EXPECT(&c, u.token, S_RIGHT_BODY, 423, "PASSWORD_LOCKED");
    S_sleep_ms(5300); /* 5 s: room for a loaded machine between the lock and the refusal */
    VERIFY_EXPECT(&c, u.token, S_RIGHT_BODY, 204, NULL);
    VERIFY_EXPECT(&c, u.token, "{\"payment_password\":\"370000\"}", 403, "PASSWORD_WRONG");
    VERIFY_EXPECT(&c, u.token, S_RIGHT_BODY, 204, NULL);
    client_release(&c);
}

TEST(a_right_password_resets_the_count)
{
    // Wrong tries are counted in a row: four wrong, one right, four wrong again must not lock a
    // user who keeps getting it right in between.
    struct client c;
    client_init(&c, S_short.base_url);
    struct api_user u;
    API_MUST(api_user_new(&c, S_short_admin, &u));
    API_MUST(api_payment_password_set(&c, S_short_admin, &u, S_RIGHT));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++)
            VERIFY_EXPECT(&c, u.token, "{\"payment_password\":\"370000\"}", 403, "PASSWORD_WRONG");
        VERIFY_EXPECT(&c, u.token, S_RIGHT_BODY, 204, NULL);
    }
    client_release(&c);
}

TEST(parallel_wrong_sms_codes_void_the_code)
{
    // The SMS code has its own lock: 20 simultaneous wrong codes must not each get a try of their
    // own; once five were counted the code is void, so the right code afterwards is refused.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get_for(&S_client, S_admin, &u, "reset_payment_password", code));
    static char bodies[20][96];
    struct api_parallel_call calls[20];
    long right = strtol(code, NULL, 10);
    for (int i = 0; i < 20; i++) {
        snprintf(bodies[i], sizeof bodies[i],
                 "{\"payment_password\":\"260418\",\"sms_code\":\"%06ld\"}",
                 (right + 1 + i) % 1000000);
        calls[i] =
            (struct api_parallel_call){"PUT", "/v1/me/payment-password", u.token, bodies[i], 0, ""};
    }
    api_call_parallel(S_daemon.base_url, calls, 20);
    for (int i = 0; i < 20; i++) {
        if (calls[i].status != 400 || strcmp(calls[i].code, "SMS_CODE_INVALID") != 0)
            TEST_FAIL_("wrong code %d answered %ld %s", i, calls[i].status, calls[i].code);
    }
    char body[96];
    snprintf(body, sizeof body, "{\"payment_password\":\"260418\",\"sms_code\":\"%s\"}", code);
    struct client_response res;
    api_call(&S_client, "PUT", "/v1/me/payment-password", u.token, body, &res);
    ASSERT_EQ_INT(res.status, 400);
    ASSERT_EQ_STR(api_error_code(&res), "SMS_CODE_INVALID");
    client_response_release(&res);
}

TEST(parallel_uses_of_one_code_succeed_once)
{
    // A code is single use also under a burst: ten simultaneous requests with the right code set
    // the password once; the others find the code used.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get_for(&S_client, S_admin, &u, "reset_payment_password", code));
    static char bodies[10][96];
    struct api_parallel_call calls[10];
    for (int i = 0; i < 10; i++) {
        /* Each asks for its own (strong) password; only one may win. */
        snprintf(bodies[i], sizeof bodies[i], "{\"payment_password\":\"%06d\",\"sms_code\":\"%s\"}",
                 260418 + i * 1013, code);
        calls[i] =
            (struct api_parallel_call){"PUT", "/v1/me/payment-password", u.token, bodies[i], 0, ""};
    }
    api_call_parallel(S_daemon.base_url, calls, 10);
    int set = 0;
    int winner = -1;
    for (int i = 0; i < 10; i++) {
        if (calls[i].status == 204) {
            set++;
            winner = i;
        } else if (calls[i].status != 400 || strcmp(calls[i].code, "SMS_CODE_INVALID") != 0) {
            TEST_FAIL_("request %d answered %ld %s", i, calls[i].status, calls[i].code);
        }
    }
    ASSERT_EQ_INT(set, 1);
    char body[64];
    snprintf(body, sizeof body, "{\"payment_password\":\"%06d\"}", 260418 + winner * 1013);
    struct client_response res;
    api_call(&S_client, "POST", "/v1/me/payment-password/verify", u.token, body, &res);
    ASSERT_EQ_INT(res.status, 204);
    client_response_release(&res);
}

TEST(parallel_freezes_and_kyc_apply_once)
{
    // State changes under a burst happen once: of ten simultaneous KYC submissions one succeeds
    // and nine conflict, and likewise for ten freezes (after, since a frozen wallet verifies no
    // real name).
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char id_number[19];
    api_id_number_complete("51010719850617003", id_number);
    static char kyc[128];
    snprintf(kyc, sizeof kyc, "{\"real_name\":\"Zhang San\",\"id_number\":\"%s\"}", id_number);
    const char *paths[2] = {"/v1/me/kyc", "/v1/me/freeze"};
    const char *bodies[2] = {kyc, NULL};
    long ok_status[2] = {200, 200};
    for (int k = 0; k < 2; k++) {
        struct api_parallel_call calls[10];
        for (int i = 0; i < 10; i++)
            calls[i] = (struct api_parallel_call){"POST", paths[k], u.token, bodies[k], 0, ""};
        api_call_parallel(S_daemon.base_url, calls, 10);
        int ok = 0, conflict = 0;
        for (int i = 0; i < 10; i++) {
            if (calls[i].status == ok_status[k])
                ok++;
            else if (calls[i].status == 409 && strcmp(calls[i].code, "CONFLICT") == 0)
                conflict++;
            else
                TEST_FAIL_("%s %d answered %ld %s", paths[k], i, calls[i].status, calls[i].code);
        }
        if (ok != 1 || conflict != 9)
            TEST_FAIL_("%s: %d succeeded, %d conflicted", paths[k], ok, conflict);
    }
}

/* One request sent delay_ms after the start, on its own connection. */
struct timed_call {
    pthread_t thread;
    const char *base_url;
    long delay_ms;
    const char *method, *path, *token;
    char body[256];
    long status;
    char code[64];
    atomic_int *answered; /* counts the answers, when not NULL */
};

static void *S_timed_run(void *arg)
{
    struct timed_call *t = arg;
    S_sleep_ms(t->delay_ms);
    struct client c;
    client_init(&c, t->base_url);
    struct client_response res;
    t->status = api_call(&c, t->method, t->path, t->token, t->body, &res);
    snprintf(t->code, sizeof t->code, "%s", api_error_code(&res));
    client_response_release(&res);
    client_release(&c);
    if (t->answered != NULL)
        atomic_fetch_add(t->answered, 1);
    return NULL;
}

#define S_LOGIN_WRONG_COUNT 5 /* the daemon's login_failures_max */

/* Sends S_LOGIN_WRONG_COUNT bodies of wrong_format (its %d the try) at
 * once, and right_body once two of them are answered, to method path as
 * token on the slow daemon, whose one password thread checks them in the
 * order they came, each in tens of milliseconds: the right one is let in
 * after every wrong one and before the last of them is checked, with a
 * check's time or more to spare on either side however loaded the machine
 * (sending them a fixed time apart was not: a wrong one held up on a busy
 * machine came in after the right one). Fails unless four wrong ones were
 * told so and the fifth took the lock; the right one's answer into *right. */
static void S_login_password_race(const char *method, const char *path, const char *token,
                                  const char *wrong_format, const char *right_body,
                                  struct timed_call *right)
{
    static struct timed_call calls[S_LOGIN_WRONG_COUNT + 1];
    atomic_int answered = 0;
    for (int i = 0; i <= S_LOGIN_WRONG_COUNT; i++) {
        struct timed_call *t = &calls[i];
        memset(t, 0, sizeof *t);
        *t = (struct timed_call){
            .base_url = S_slow.base_url, .method = method, .path = path, .token = token};
        if (i < S_LOGIN_WRONG_COUNT) {
            snprintf(t->body, sizeof t->body, wrong_format, i);
            t->answered = &answered;
        } else {
            while (atomic_load(&answered) < 2)
                S_sleep_ms(1);
            snprintf(t->body, sizeof t->body, "%s", right_body);
        }
        ASSERT_EQ_INT(pthread_create(&t->thread, NULL, S_timed_run, t), 0);
    }
    for (int i = 0; i <= S_LOGIN_WRONG_COUNT; i++)
        pthread_join(calls[i].thread, NULL);
    int wrong = 0, locked = 0;
    for (int i = 0; i < S_LOGIN_WRONG_COUNT; i++) {
        if (calls[i].status == 401 && strcmp(calls[i].code, "UNAUTHORIZED") == 0)
            wrong++;
        else if (calls[i].status == 423 && strcmp(calls[i].code, "PASSWORD_LOCKED") == 0)
            locked++;
        else
            TEST_FAIL_("%s %s: wrong password %d answered %ld %s", method, path, i, calls[i].status,
                       calls[i].code);
    }
    if (wrong != S_LOGIN_WRONG_COUNT - 1 || locked != 1)
        TEST_FAIL_("%s %s: %d wrong, %d locked", method, path, wrong, locked);
    *right = calls[S_LOGIN_WRONG_COUNT];
}

TEST(a_right_login_password_queued_behind_the_lock_is_refused_at_unfreeze)
{
    // Five wrong passwords lock logging in, and every route that asks for the login password
    // counts against that lock. The right password queued behind the fifth wrong one was let in
    // before the lock was taken; were it not looked at again once checked, any of up to 32 queued
    // guesses would lift the owner's freeze with a right guess after the fifth wrong one.
    struct client c;
    client_init(&c, S_slow.base_url);
    struct api_user u;
    API_MUST(api_user_new(&c, S_slow_admin, &u));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&c, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get_for(&c, S_slow_admin, &u, "unfreeze", code));
    char wrong[128], right[256];
    snprintf(wrong, sizeof wrong, "{\"password\":\"not it %%d\",\"sms_code\":\"%s\"}", code);
    snprintf(right, sizeof right, "{\"password\":\"%s\",\"sms_code\":\"%s\"}", u.password, code);
    struct timed_call last;
    S_login_password_race("POST", "/v1/me/unfreeze", u.token, wrong, right, &last);
    if (last.status != 423 || strcmp(last.code, "PASSWORD_LOCKED") != 0)
        TEST_FAIL_("the right password after the lock answered %ld %s", last.status, last.code);
    ASSERT_EQ_INT(api_call(&c, "GET", "/v1/me", u.token, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "frozen");
    client_response_release(&res);
    client_release(&c);
}

TEST(a_right_login_password_queued_behind_the_lock_is_refused_at_a_password_change)
{
    // The same at PUT /v1/me/password with current_password, where a right guess would also have
    // lifted the lock itself and logged the owner out everywhere else.
    struct client c;
    client_init(&c, S_slow.base_url);
    struct api_user u;
    API_MUST(api_user_new(&c, S_slow_admin, &u));
    char right[256];
    snprintf(right, sizeof right, "{\"password\":\"a new one 1\",\"current_password\":\"%s\"}",
             u.password);
    struct timed_call last;
    S_login_password_race("PUT", "/v1/me/password", u.token,
                          "{\"password\":\"a new one 1\",\"current_password\":\"not it %d\"}",
                          right, &last);
    if (last.status != 423 || strcmp(last.code, "PASSWORD_LOCKED") != 0)
        TEST_FAIL_("the right password after the lock answered %ld %s", last.status, last.code);
    client_release(&c);
}

TEST(a_login_checked_while_the_wallet_closes_opens_no_session)
{
    // A login reads the user before its password is checked on a password thread; a closing that
    // commits meanwhile ends every session and frees the phone, and the login that was let in
    // before it must not then open a session on the closed wallet. Two wrong passwords sent at
    // once ahead of the right one keep the one password thread busy; the closing goes once the
    // first of them is answered, while the right one still waits behind the second.
    struct client c;
    client_init(&c, S_slow.base_url);
    struct api_user u;
    API_MUST(api_user_new(&c, S_slow_admin, &u));
    API_MUST(api_payment_password_set(&c, S_slow_admin, &u, S_RIGHT));
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get_for(&c, S_slow_admin, &u, "close_account", code));
    static struct timed_call calls[4];
    memset(calls, 0, sizeof calls);
    atomic_int answered = 0;
    for (int i = 0; i < 4; i++) {
        struct timed_call *t = &calls[i];
        *t = (struct timed_call){.base_url = S_slow.base_url,
                                 .delay_ms = i == 2 ? 20 : 0,
                                 .method = "POST",
                                 .path = "/v1/sessions",
                                 .token = NULL,
                                 .answered = i < 2 ? &answered : NULL};
        if (i < 2) {
            snprintf(t->body, sizeof t->body,
                     "{\"phone\":\"%s\",\"password\":\"not it %d\",\"device_key\":\"%s\"}", u.phone,
                     i, u.device_key);
        } else if (i == 2) {
            snprintf(t->body, sizeof t->body,
                     "{\"phone\":\"%s\",\"password\":\"%s\",\"device_key\":\"%s\"}", u.phone,
                     u.password, u.device_key);
        } else {
            while (atomic_load(&answered) < 1)
                S_sleep_ms(1);
            t->path = "/v1/me/close";
            t->token = u.token;
            snprintf(t->body, sizeof t->body,
                     "{\"payment_password\":\"" S_RIGHT "\",\"sms_code\":\"%s\"}", code);
        }
        ASSERT_EQ_INT(pthread_create(&t->thread, NULL, S_timed_run, t), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(calls[i].thread, NULL);
    ASSERT_EQ_INT(calls[3].status, 200);
    if (calls[2].status == 201)
        TEST_FAIL_("the login let in before the closing opened a session on the closed wallet");
    ASSERT_EQ_INT(calls[2].status, 401);
    client_release(&c);
}

/* POST /v1/sessions on c with a new login code of u's: its status, and its error's code into
 * code_out. */
static long S_code_login(struct client *c, const char *admin, const struct api_user *u,
                         char code_out[64])
{
    char code[API_SMS_CODE_SIZE], body[256];
    API_MUST(api_sms_code_get_for(c, admin, u, "login", code));
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"sms_code\":\"%s\"}", u->phone, code);
    struct client_response res;
    long status = api_call(c, "POST", "/v1/sessions", NULL, body, &res);
    const char *what = api_error_code(&res);
    snprintf(code_out, 64, "%s", what != NULL ? what : "");
    client_response_release(&res);
    return status;
}

TEST(a_new_code_login_gives_no_fresh_guesses_at_a_frozen_wallets_password)
{
    // A login that proves the phone clears the count of wrong passwords, for an owner who
    // forgot theirs; but while the wallet is frozen the phone may be the thief's, whose guesses
    // at the password that lifts the freeze would start afresh with each login code, each on a
    // new device with a count of its own. Frozen, a code alone logs in no more and the lock the
    // guesses took stays; unfrozen, a code login clears it as before.
    struct client c;
    client_init(&c, S_short.base_url);
    struct api_user u;
    API_MUST(api_user_new(&c, S_short_admin, &u));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&c, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    char unfreeze[API_SMS_CODE_SIZE], body[256], what[64];
    API_MUST(api_sms_code_get_for(&c, S_short_admin, &u, "unfreeze", unfreeze));
    snprintf(body, sizeof body, "{\"password\":\"a guess 12345\",\"sms_code\":\"%s\"}", unfreeze);
    long status = 0;
    for (int guess = 0; guess < 10 && status != 423; guess++) {
        status = api_call(&c, "POST", "/v1/me/unfreeze", u.token, body, &res);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(status, 423);
    S_sleep_ms(1100); /* the daemon's code cooldown */
    ASSERT_EQ_INT(S_code_login(&c, S_short_admin, &u, what), 403);
    ASSERT_EQ_STR(what, "ACCOUNT_FROZEN");
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"sms_code\":\"%s\"}", u.password, unfreeze);
    ASSERT_EQ_INT(api_call(&c, "POST", "/v1/me/unfreeze", u.token, body, &res), 423);
    ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_LOCKED");
    client_response_release(&res);
    /* Unfrozen by an operator, a code login clears the lock, and the password logs in from a
     * new device, which the account's lock would refuse. */
    char path[160];
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    ASSERT_EQ_INT(api_call(&c, "POST", path, S_short_admin, NULL, &res), 200);
    client_response_release(&res);
    S_sleep_ms(1100);
    ASSERT_EQ_INT(S_code_login(&c, S_short_admin, &u, what), 201);
    char token[API_TOKEN_SIZE_MAX];
    S_sleep_ms(1100);
    API_MUST(api_login_new_device(&c, S_short_admin, &u, "new phone", token));
    client_release(&c);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *short_args[] = {"--payment-password-lock-s", "5", "--sms-cooldown-s", "1", NULL};
    /* Argon2id at its default cost (over the suite's cheap one), one thread. */
    const char *slow_args[] = {
        "--argon2-memory-kib", "65536", "--argon2-ops", "2", "--password-threads", "1", NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "race", NULL, S_admin, &S_client) ||
        !api_suite_daemon(&suite, &S_short, "short", short_args, S_short_admin, NULL) ||
        !api_suite_daemon(&suite, &S_slow, "slow", slow_args, S_slow_admin, NULL))
        return api_suite_end(&suite);

    RUN(parallel_wrong_guesses_lock_after_at_most_five);
    RUN(lock_survives_a_restart);
    RUN(lock_lifts_after_its_time);
    RUN(a_right_password_resets_the_count);
    RUN(parallel_wrong_sms_codes_void_the_code);
    RUN(parallel_uses_of_one_code_succeed_once);
    RUN(parallel_freezes_and_kyc_apply_once);
    RUN(a_right_login_password_queued_behind_the_lock_is_refused_at_unfreeze);
    RUN(a_right_login_password_queued_behind_the_lock_is_refused_at_a_password_change);
    RUN(a_new_code_login_gives_no_fresh_guesses_at_a_frozen_wallets_password);
    RUN(a_login_checked_while_the_wallet_closes_opens_no_session);

    return api_suite_end(&suite);
}
