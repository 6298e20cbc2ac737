/*
 * test_login_flood.c — a flood of logins costs logins, nothing else; so
 * does a flood of requests that make a merchant's key pair.
 *
 * A login password is checked with Argon2id, at its real cost here (64 MiB,
 * two passes: 100 ms or more each). Were that done on an HTTP thread, a
 * stranger posting logins for phones nobody registered (no lock ever
 * applies to a fresh phone) at a few a second would hold up every request
 * behind them: /healthz and a user's own reads would take seconds. The
 * daemon checks passwords on a thread of their own with a bounded queue
 * (docs/operations.md, "Threads"), and answers 503 SYSTEM_BUSY with
 * Retry-After at once when the queue is full (docs/api.md).
 *
 * Forty-eight threads flood POST /v1/sessions with fresh unknown phones for
 * a few seconds, many more than the queue holds, while the main thread
 * times GET /healthz and GET /v1/me of a logged-in user. Every probe must
 * answer 200 within a second (seconds before the fix, with a dozen hashes
 * queued on each HTTP thread), the flood must see both its 401s (logins
 * are still served) and its busy answers, and nothing else.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/lib/suite.h"
#include "test.h"

#define S_FLOODERS 48          /* more than the password queue (32) and its thread hold */
#define S_FLOOD_WARMUP_MS 1000 /* the queue fills before the probes start */
#define S_PROBE_WINDOW_MS 4000
#define S_PROBE_GAP_MS 50
#define S_PROBE_MAX_MS 1000 /* a probe slower than this was held up by the flood */

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

static long long S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* What a flood sends: one request with client c (token: the flood's), its
 * status; and whether status and code are the refusal it expects. */
struct flood_kind {
    long (*ask)(struct client *c, const char *token, struct client_response *res);
    bool (*refused)(long status, const char *code);
};

struct flooder {
    pthread_t thread;
    atomic_bool *stop;
    const struct flood_kind *kind;
    const char *token;
    long refused;       /* the refusal expected: the request was served */
    long busy;          /* 503 SYSTEM_BUSY with Retry-After */
    long busy_no_retry; /* 503 SYSTEM_BUSY without Retry-After */
    long other;
    char other_seen[128]; /* the first other answer */
};

/* Sends the flooder's request again and again until told to stop. */
static void *S_flood_run(void *arg)
{
    struct flooder *f = arg;
    struct client c;
    client_init(&c, S_daemon.base_url);
    while (!atomic_load(f->stop)) {
        struct client_response res;
        long status = f->kind->ask(&c, f->token, &res);
        const char *code = api_error_code(&res);
        if (f->kind->refused(status, code)) {
            f->refused++;
        } else if (status == 503 && strcmp(code, "SYSTEM_BUSY") == 0) {
            if (api_header(&res, "Retry-After")[0] != '\0')
                f->busy++;
            else
                f->busy_no_retry++;
        } else {
            if (f->other++ == 0)
                snprintf(f->other_seen, sizeof f->other_seen, "%ld %s", status, code);
        }
        client_response_release(&res);
        if (status == 503)
            S_sleep_ms(10); /* the queue stays full; the test's own CPU goes to the daemon */
    }
    client_release(&c);
    return NULL;
}

/* One probe: its status and how long it took. */
static long S_probe(const char *path, const char *token, long long *took_ms)
{
    struct client_response res;
    long long started = S_now_ms();
    long status = api_call(&S_client, "GET", path, token, NULL, &res);
    *took_ms = S_now_ms() - started;
    client_response_release(&res);
    return status;
}

/* Floods with S_FLOODERS of kind while probing GET /healthz and, with
 * user_token, GET /v1/me: every probe must answer 200 within a second, the
 * flood must be served (its refusals) and told SYSTEM_BUSY with
 * Retry-After, and see nothing else. */
static void S_flood(const struct flood_kind *kind, const char *token, const char *user_token)
{
    static struct flooder flooders[S_FLOODERS];
    atomic_bool stop;
    atomic_init(&stop, false);
    for (int i = 0; i < S_FLOODERS; i++) {
        memset(&flooders[i], 0, sizeof flooders[i]);
        flooders[i].stop = &stop;
        flooders[i].kind = kind;
        flooders[i].token = token;
        ASSERT_EQ_INT(pthread_create(&flooders[i].thread, NULL, S_flood_run, &flooders[i]), 0);
    }
    S_sleep_ms(S_FLOOD_WARMUP_MS);

    long long health_max_ms = 0, me_max_ms = 0;
    int probes = 0, failed = 0;
    long long end = S_now_ms() + S_PROBE_WINDOW_MS;
    while (S_now_ms() < end) {
        long long took;
        long status = S_probe("/healthz", NULL, &took);
        if (took > health_max_ms)
            health_max_ms = took;
        failed += status != 200;
        if (user_token != NULL) {
            status = S_probe("/v1/me", user_token, &took);
            if (took > me_max_ms)
                me_max_ms = took;
            failed += status != 200;
        }
        probes++;
        S_sleep_ms(S_PROBE_GAP_MS);
    }
    atomic_store(&stop, true);
    long refused = 0, busy = 0, busy_no_retry = 0, other = 0;
    for (int i = 0; i < S_FLOODERS; i++) {
        pthread_join(flooders[i].thread, NULL);
        refused += flooders[i].refused;
        busy += flooders[i].busy;
        busy_no_retry += flooders[i].busy_no_retry;
        other += flooders[i].other;
        if (flooders[i].other > 0)
            fprintf(stderr, "  flooder %d: %ld other answers, the first %s\n", i, flooders[i].other,
                    flooders[i].other_seen);
    }
    fprintf(stderr,
            "  %d probes: /healthz at most %lld ms, /v1/me at most %lld ms, %d not 200; "
            "flood: %ld refused, %ld 503 SYSTEM_BUSY (%ld without Retry-After), %ld other\n",
            probes, health_max_ms, me_max_ms, failed, refused, busy, busy_no_retry, other);
    ASSERT(probes >= 2);
    ASSERT_EQ_INT(failed, 0);
    ASSERT(health_max_ms < S_PROBE_MAX_MS);
    ASSERT(me_max_ms < S_PROBE_MAX_MS);
    ASSERT(refused > 0);
    ASSERT(busy > 0);
    ASSERT_EQ_INT(busy_no_retry, 0);
    ASSERT_EQ_INT(other, 0);
}

/* A login with a wrong password on a fresh phone: 401, checked and counted. */
static long S_login_ask(struct client *c, const char *token, struct client_response *res)
{
    (void)token;
    char phone[API_PHONE_SIZE], body[128];
    api_phone_new(phone);
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"not the password 7\"}", phone);
    return api_call(c, "POST", "/v1/sessions", NULL, body, res);
}

static bool S_login_refused(long status, const char *code)
{
    return status == 401 && strcmp(code, "UNAUTHORIZED") == 0;
}

TEST(a_login_flood_holds_up_no_other_request)
{
    // Password checks on the HTTP threads would let a few logins a second for unknown phones
    // stall every request: /healthz and a user's reads must answer within a second throughout a
    // flood that keeps the password queue full, and the flood must be told SYSTEM_BUSY.
    struct api_user user;
    API_MUST(api_user_new(&S_client, S_admin, &user));
    static const struct flood_kind logins = {S_login_ask, S_login_refused};
    S_flood(&logins, NULL, user.token);
}

/* A new certificate for the owner's merchant with a wrong payment password:
 * the key pair is made before the command refuses it. */
static long S_certificate_ask(struct client *c, const char *token, struct client_response *res)
{
    return api_call(c, "POST", "/v1/merchants/me/certificate", token,
                    "{\"payment_password\":\"000000\"}", res);
}

static bool S_certificate_refused(long status, const char *code)
{
    return (status == 403 && strcmp(code, "PAYMENT_PASSWORD_NOT_SET") == 0) ||
           (status == 403 && strcmp(code, "PASSWORD_WRONG") == 0) ||
           (status == 423 && strcmp(code, "PASSWORD_LOCKED") == 0);
}

TEST(a_flood_of_key_pairs_holds_up_no_other_request)
{
    // A new certificate's RSA key pair takes tens to hundreds of milliseconds, made before the
    // command checks the payment password. Made on an HTTP thread, one user posting replacements
    // with any password stalled every request of that thread (/healthz took seconds, and the
    // flood was never told SYSTEM_BUSY). It is made on a password thread, as a login's hash is.
    struct api_user owner;
    API_MUST(api_user_new(&S_client, S_admin, &owner));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", owner.token,
                           "{\"name\":\"flood shop\"}", &res),
                  201);
    client_response_release(&res);
    static const struct flood_kind certificates = {S_certificate_ask, S_certificate_refused};
    S_flood(&certificates, owner.token, NULL);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    /* Argon2id at its default cost, over the suite's cheap one. */
    const char *args[] = {"--argon2-memory-kib", "65536", "--argon2-ops", "2", NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "flood", args, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(a_login_flood_holds_up_no_other_request);
    RUN(a_flood_of_key_pairs_holds_up_no_other_request);
    return api_suite_end(&suite);
}
