/*
 * test_notify.c — payment and refund notifications over the wire, black-box:
 * a small HTTP receiver in this process stands in for the merchant's
 * notify_url. Each notification it receives is checked as a merchant's SDK
 * checks it — the Wechatpay-Signature verified with the platform public key
 * from onboarding, the resource opened with the API v3 key (OpenSSL, not
 * Qianbao's code) — and the retry ladder (shrunk 150 times through
 * QIANBAO_TEST_NOTIFY_LADDER_DIVISOR, honoured by test builds only) is
 * watched through the attempts the merchant can list, across a restart.
 */
#define _GNU_SOURCE /* strndup */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/lib/receiver.h"
#include "api/lib/suite.h"
#include "api/refund_helpers.h"

#define S_RECEIVED_MAX 32
#define S_WAIT_MS 15000

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static const char *const S_args[] = {"--allow-private-notify", NULL};

/* --- the receiver ------------------------------------------------------------------ */

/* The notify_url (tests/api/lib/receiver.h) and what it got, in order. */
struct received {
    char headers[4096];
    char *body;
    int status; /* what it was answered */
};

struct sink {
    struct receiver http;
    int port;
    pthread_mutex_t lock;
    int script[8]; /* the statuses of the first requests; then 200 */
    size_t script_count;
    struct received got[S_RECEIVED_MAX];
    size_t count; /* requests received; the first S_RECEIVED_MAX are in got */
    /* hold_first: the first request is answered only once the test sets
     * released (or after S_WAIT_MS). */
    bool hold_first, released;
    pthread_cond_t released_cond;
};

static int S_keep(void *arg, const struct receiver_request *request)
{
    struct sink *r = arg;
    pthread_mutex_lock(&r->lock);
    if (r->hold_first && r->count == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += S_WAIT_MS / 1000;
        while (!r->released &&
               pthread_cond_timedwait(&r->released_cond, &r->lock, &until) == 0)
            ;
    }
    int status = r->count < r->script_count ? r->script[r->count] : 200;
    if (r->count < S_RECEIVED_MAX) {
        struct received *g = &r->got[r->count];
        snprintf(g->headers, sizeof g->headers, "%s", request->headers);
        g->body = strndup(request->body, request->body_size);
        g->status = status;
    }
    r->count++; /* counted beyond S_RECEIVED_MAX, kept only up to it */
    pthread_mutex_unlock(&r->lock);
    return status;
}

/* Listens on 127.0.0.1:port (0: any free port). */
static void S_sink_init(struct sink *r, const int *script, size_t count)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->released_cond, NULL);
    if (count > 0)
        memcpy(r->script, script, count * sizeof *script);
    r->script_count = count;
}

static void S_receiver_start(struct sink *r, int port, const int *script, size_t count)
{
    S_sink_init(r, script, count);
    ASSERT(receiver_start(&r->http, port, S_keep, r));
    r->port = r->http.port;
}

/* A receiver on the port held by reserved (receiver_reserve): until now its
 * connections were refused, and no other test could take the port. */
static void S_receiver_start_reserved(struct sink *r, int reserved)
{
    S_sink_init(r, NULL, 0);
    ASSERT(receiver_start_reserved(&r->http, reserved, S_keep, r));
    r->port = r->http.port;
}

static void S_receiver_stop(struct sink *r)
{
    receiver_stop(&r->http);
    for (size_t i = 0; i < r->count && i < S_RECEIVED_MAX; i++)
        free(r->got[i].body);
    pthread_cond_destroy(&r->released_cond);
    pthread_mutex_destroy(&r->lock);
}

/* Waits until the receiver got at least count requests. */
static bool S_wait_count(struct sink *r, size_t count)
{
    for (int waited = 0; waited < S_WAIT_MS; waited += 20) {
        pthread_mutex_lock(&r->lock);
        size_t got = r->count;
        pthread_mutex_unlock(&r->lock);
        if (got >= count)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

static size_t S_count(struct sink *r)
{
    pthread_mutex_lock(&r->lock);
    size_t count = r->count;
    pthread_mutex_unlock(&r->lock);
    return count;
}

/* The value of header name in a received request, into out. */
static bool S_header(const struct received *g, const char *name, char *out, size_t out_size)
{
    struct receiver_request request = {g->headers, g->body, strlen(g->body)};
    return receiver_header(&request, name, out, out_size);
}

/* Checks one notification as an SDK does: the platform signature over
 * "TIMESTAMP\nNONCE\nBODY\n", then the envelope; the decrypted resource. */
static json_t *S_open(const struct mh_merchant *m, const struct received *g,
                      const char *event_type, const char *original_type)
{
    char ts[32], nonce[80], serial[64], sig[MH_SIGNATURE_SIZE], type[64];
    ASSERT(S_header(g, "Wechatpay-Timestamp", ts, sizeof ts));
    ASSERT(S_header(g, "Wechatpay-Nonce", nonce, sizeof nonce));
    ASSERT(S_header(g, "Wechatpay-Serial", serial, sizeof serial));
    ASSERT(S_header(g, "Wechatpay-Signature", sig, sizeof sig));
    ASSERT(S_header(g, "Wechatpay-Signature-Type", type, sizeof type));
    ASSERT_EQ_STR(type, "WECHATPAY2-SHA256-RSA2048");
    ASSERT_EQ_STR(serial, m->platform_serial_no);
    long long age = (long long)time(NULL) - strtoll(ts, NULL, 10);
    ASSERT(age >= -5 && age <= 60);
    size_t size = strlen(ts) + strlen(nonce) + strlen(g->body) + 8;
    char *message = malloc(size);
    int n = snprintf(message, size, "%s\n%s\n%s\n", ts, nonce, g->body);
    ASSERT(mh_verify(m->platform_key, message, (size_t)n, sig));
    /* A body changed in transit no longer verifies. */
    message[n - 2] = message[n - 2] == '}' ? ']' : '}';
    ASSERT(!mh_verify(m->platform_key, message, (size_t)n, sig));
    free(message);

    json_error_t error;
    json_t *envelope = json_loads(g->body, 0, &error);
    ASSERT(envelope != NULL);
    ASSERT_EQ_INT(strlen(json_string_value(json_object_get(envelope, "id"))), 36);
    ASSERT(json_is_string(json_object_get(envelope, "create_time")));
    ASSERT_EQ_STR(json_string_value(json_object_get(envelope, "event_type")), event_type);
    ASSERT_EQ_STR(json_string_value(json_object_get(envelope, "resource_type")), "encrypt-resource");
    json_t *resource = json_object_get(envelope, "resource");
    ASSERT_EQ_STR(json_string_value(json_object_get(resource, "algorithm")), "AEAD_AES_256_GCM");
    ASSERT_EQ_STR(json_string_value(json_object_get(resource, "original_type")), original_type);
    ASSERT_EQ_INT(strlen(json_string_value(json_object_get(resource, "nonce"))), 12);
    json_t *plain = rh_resource_open(m->apiv3_key, resource);
    ASSERT(plain != NULL);
    json_decref(envelope);
    return plain;
}

/* The merchant's newest notification from GET /v3/qianbao/notifications. */
static json_t *S_newest(const struct mh_merchant *m)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", "/v3/qianbao/notifications?limit=1", NULL, &res),
                  200);
    ASSERT(mh_response_verified(m, &res));
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *first = json_incref(json_array_get(json_object_get(j, "data"), 0));
    json_decref(j);
    ASSERT(first != NULL);
    return first;
}

/* Waits until the newest notification's status is status. */
static json_t *S_wait_status(const struct mh_merchant *m, const char *status)
{
    for (int waited = 0; waited < S_WAIT_MS; waited += 50) {
        json_t *n = S_newest(m);
        if (strcmp(json_string_value(json_object_get(n, "status")), status) == 0)
            return n;
        json_decref(n);
        usleep(50 * 1000);
    }
    TEST_FAIL_("the newest notification never became %s", status);
    return NULL;
}

/* --- tests ---------------------------------------------------------------------------- */

TEST(payment_and_refund_notifications_arrive_signed_and_encrypted)
{
    // What a merchant's notify_url receives: TRANSACTION.SUCCESS after the payment and
    // REFUND.SUCCESS after a refund, each signed by the platform and encrypted under the
    // merchant's API v3 key, the resource being WeChat's transaction and refund objects.
    struct sink rcv;
    S_receiver_start(&rcv, 0, NULL, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/wxpay/notify", rcv.port);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "notify-0001", 12345, url, transaction_id);
    ASSERT(S_wait_count(&rcv, 1));
    json_t *plain = S_open(&m, &rcv.got[0], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "trade_state")), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "out_trade_no")), "notify-0001");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "transaction_id")), transaction_id);
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "mchid")), m.mchid);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(plain, "amount"), "total")),
                  12345);
    json_decref(plain);

    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "notify-0001", "NR-1", 2345, 12345, NULL, &res), 200);
    client_response_release(&res);
    ASSERT(S_wait_count(&rcv, 2));
    plain = S_open(&m, &rcv.got[1], "REFUND.SUCCESS", "refund");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "refund_status")), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "out_refund_no")), "NR-1");
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(plain, "amount"), "refund")),
                  2345);
    json_decref(plain);
    json_t *n = S_wait_status(&m, "DELIVERED");
    ASSERT_EQ_STR(json_string_value(json_object_get(n, "event_type")), "REFUND.SUCCESS");
    ASSERT_EQ_INT(json_integer_value(json_object_get(n, "attempt_count")), 1);
    json_decref(n);
    /* Delivered once each: nothing more comes. */
    usleep(500 * 1000);
    ASSERT_EQ_INT(S_count(&rcv), 2);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

TEST(a_failing_receiver_is_retried_on_the_ladder)
{
    // A notify_url that answers 500 twice and then 200 receives the same notification three
    // times, and the merchant sees the three attempts with their statuses and durations.
    int script[] = {500, 500};
    struct sink rcv;
    S_receiver_start(&rcv, 0, script, 2);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", rcv.port);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "ladder-0001", 1000, url, transaction_id);
    json_t *n = S_wait_status(&m, "DELIVERED");
    json_t *attempts = json_object_get(n, "attempts");
    ASSERT_EQ_INT(json_array_size(attempts), 3);
    int expected[] = {500, 500, 200};
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_array_get(attempts, i);
        ASSERT_EQ_INT(json_integer_value(json_object_get(a, "attempt")), (long long)i + 1);
        ASSERT_EQ_INT(json_integer_value(json_object_get(a, "http_status")), expected[i]);
        ASSERT(json_integer_value(json_object_get(a, "duration_ms")) >= 0);
        ASSERT(json_is_string(json_object_get(a, "time")));
    }
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(attempts, 0), "error")),
                  "HTTP 500");
    ASSERT_EQ_INT(S_count(&rcv), 3);
    /* The three carried the same notification id. */
    json_error_t error;
    json_t *first = json_loads(rcv.got[0].body, 0, &error);
    json_t *last = json_loads(rcv.got[2].body, 0, &error);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "id")),
                  json_string_value(json_object_get(n, "id")));
    ASSERT_EQ_STR(json_string_value(json_object_get(last, "id")),
                  json_string_value(json_object_get(n, "id")));
    json_decref(first);
    json_decref(last);
    json_decref(n);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

/* A receiver whose first request waits for S_release (or S_WAIT_MS), so that
 * the notification stays PENDING meanwhile; its notify_url into url. */
static void S_holding_receiver_start(struct sink *r, char url[128])
{
    S_receiver_start(r, 0, NULL, 0);
    r->hold_first = true;
    snprintf(url, 128, "http://127.0.0.1:%d/n", r->port);
}

static void S_release(struct sink *r)
{
    pthread_mutex_lock(&r->lock);
    r->released = true;
    pthread_cond_broadcast(&r->released_cond);
    pthread_mutex_unlock(&r->lock);
}

/* The value of gauge NAME (a family without labels) on /metrics. */
static double S_gauge(const char *name)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/metrics", NULL, NULL, &res), 200);
    char line[128];
    snprintf(line, sizeof line, "\n%s ", name);
    const char *at = strstr(res.body.data, line);
    ASSERT(at != NULL);
    double value = atof(at + strlen(line));
    client_response_release(&res);
    return value;
}

TEST(metrics_show_notifications_waiting_on_a_merchant)
{
    // A merchant's endpoint that does not answer: /metrics counts the notification as
    // undelivered and ages it, for an operator's alert, until it is delivered.
    struct sink rcv;
    char url[128];
    S_holding_receiver_start(&rcv, url);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    ASSERT_EQ_INT(S_gauge("qianbao_notifications_undelivered"), 0);
    ASSERT_EQ_INT(S_gauge("qianbao_notifications_undelivered_oldest_seconds"), 0);
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "backlog-0001", 300, url, transaction_id);
    ASSERT_EQ_INT(S_gauge("qianbao_notifications_undelivered"), 1);
    usleep(30 * 1000);
    ASSERT(S_gauge("qianbao_notifications_undelivered_oldest_seconds") >= 0.03);
    S_release(&rcv);
    json_t *n = S_wait_status(&m, "DELIVERED");
    json_decref(n);
    ASSERT_EQ_INT(S_gauge("qianbao_notifications_undelivered"), 0);
    ASSERT_EQ_INT(S_gauge("qianbao_notifications_undelivered_oldest_seconds"), 0);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

TEST(the_owner_reads_the_notifications_in_the_wallet)
{
    // The wallet-side list is the owner's alone: the same notifications as the merchant API
    // shows, and another user's merchant is 404 like one that does not exist.
    struct api_user owner, stranger, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(api_user_new(&S_client, S_admin, &stranger));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 5000));
    struct mh_merchant m;
    API_MUST(rh_onboard_owned(&S_client, S_admin, owner.id, &m));
    struct sink rcv;
    S_receiver_start(&rcv, 0, NULL, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", rcv.port);
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &payer, "owned-0001", 1000, url, transaction_id);
    json_t *n = S_wait_status(&m, "DELIVERED");
    char path[256];
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications?limit=5", m.mchid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "id")),
                  json_string_value(json_object_get(n, "id")));
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "object_id")), transaction_id);
    ASSERT(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    json_decref(n);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, stranger.token, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications?limit=0", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 400);
    client_response_release(&res);

    /* Pages of one: a cursor as every list's, opaque and bound to its list and caller. */
    rh_order_paid(&S_client, &m, &payer, "owned-0002", 1000, url, transaction_id);
    json_decref(S_wait_status(&m, "DELIVERED"));
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications?limit=1", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(j, "next_cursor")));
    ASSERT_EQ_STR(json_string_value(
                      json_object_get(json_array_get(json_object_get(j, "items"), 0), "object_id")),
                  transaction_id);
    json_decref(j);
    ASSERT(cursor[0] == 'k');
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications?limit=1&cursor=%s", m.mchid,
             cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 1);
    ASSERT(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    snprintf(path, sizeof path, "/v3/qianbao/notifications?limit=1&cursor=%s", cursor);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(
        mh_call(&S_client, &m, "GET", "/v3/qianbao/notifications?limit=1&cursor=2", NULL, &res),
        400);
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/qianbao/notifications?limit=1", NULL, &res),
                  200);
    j = api_json(&res);
    client_response_release(&res);
    snprintf(path, sizeof path, "/v3/qianbao/notifications?limit=1&cursor=%s",
             json_string_value(json_object_get(j, "next_cursor")));
    json_decref(j);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

TEST(delivery_resumes_after_a_restart)
{
    // The schedule lives in the database: a notification whose receiver is down keeps failing,
    // the daemon stops, the receiver comes up, and the restarted daemon delivers it.
    int port = 0;
    int reserved = receiver_reserve(&port); /* connections to it are refused until the receiver */
    ASSERT(reserved >= 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", port);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "restart-0001", 1000, url, transaction_id);
    json_t *n = NULL;
    for (int waited = 0; waited < S_WAIT_MS; waited += 50) {
        n = S_newest(&m);
        if (json_integer_value(json_object_get(n, "attempt_count")) >= 2)
            break;
        json_decref(n);
        n = NULL;
        usleep(50 * 1000);
    }
    ASSERT(n != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(n, "status")), "PENDING");
    ASSERT(json_integer_value(json_object_get(json_array_get(json_object_get(n, "attempts"), 0),
                                              "http_status")) == 0 ||
           json_is_null(json_object_get(json_array_get(json_object_get(n, "attempts"), 0),
                                        "http_status")));
    json_decref(n);

    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    struct sink rcv;
    S_receiver_start_reserved(&rcv, reserved);
    API_MUST(api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin));
    client_init(&S_client, S_daemon.base_url);
    ASSERT(S_wait_count(&rcv, 1));
    json_t *plain = S_open(&m, &rcv.got[0], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "out_trade_no")), "restart-0001");
    json_decref(plain);
    n = S_wait_status(&m, "DELIVERED");
    json_t *attempts = json_object_get(n, "attempts");
    size_t count = json_array_size(attempts);
    ASSERT(count >= 3);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(attempts, count - 1),
                                                     "http_status")),
                  200);
    json_decref(n);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

/* Whether the suite daemon's log holds text. */
static bool S_log_has(const char *text)
{
    static char log[4 * 1024 * 1024];
    return test_file_read(S_daemon.log_path, log, sizeof log) && strstr(log, text) != NULL;
}

/* Runs sql on the suite's database, its daemon stopped. */
static void S_sql(const char *sql)
{
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    ASSERT(test_sqlite(db, true, sql, NULL, NULL));
}

TEST(a_notification_altered_in_the_database_is_not_sent)
{
    // Whoever can write the database could edit a waiting notification (another order number, a
    // paid amount) and have the daemon encrypt and sign it for the merchant, who would ship the
    // goods. Each row is sealed when it is queued: one that no longer matches is never sent, and
    // its attempts say why. An earlier version's outbox, sealed by nobody, is sealed as it stands
    // at the first start that has the seals.
    int port = 0;
    int reserved = receiver_reserve(&port); /* connections to it are refused until the receiver */
    ASSERT(reserved >= 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", port);
    struct mh_merchant m, control;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &control));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "sealed-0001", 1000, url, transaction_id);
    json_t *n = NULL;
    for (int waited = 0; waited < S_WAIT_MS && n == NULL; waited += 50) {
        n = S_newest(&m);
        if (json_integer_value(json_object_get(n, "attempt_count")) < 1) {
            json_decref(n);
            n = NULL;
            usleep(50 * 1000);
        }
    }
    ASSERT(n != NULL);
    json_decref(n);

    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE notifications SET resource = replace(resource, 'sealed-0001', 'sealed-9999')"
             " WHERE mchid = '%s'",
             m.mchid);
    S_sql(sql);
    struct sink rcv;
    S_receiver_start_reserved(&rcv, reserved);
    API_MUST(api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin));
    client_init(&S_client, S_daemon.base_url);

    /* The receiver is up: another merchant's notification arrives; the
     * altered one is tried and refused, and never reaches it. */
    rh_order_paid(&S_client, &control, &u, "sealed-0002", 1000, url, transaction_id);
    ASSERT(S_wait_count(&rcv, 1));
    json_t *plain = S_open(&control, &rcv.got[0], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "out_trade_no")), "sealed-0002");
    json_decref(plain);
    const char *why = "not sent: the row does not match its seal (altered in the database)";
    bool refused = false;
    for (int waited = 0; waited < S_WAIT_MS && !refused; waited += 50) {
        n = S_newest(&m);
        json_t *attempts = json_object_get(n, "attempts");
        json_t *last = json_array_get(attempts, json_array_size(attempts) - 1);
        refused = strcmp(json_string_value(json_object_get(last, "error")), why) == 0;
        json_decref(n);
        if (!refused)
            usleep(50 * 1000);
    }
    ASSERT(refused);
    usleep(300 * 1000); /* the ladder's next steps, shrunk, have passed */
    pthread_mutex_lock(&rcv.lock);
    size_t received = rcv.count;
    pthread_mutex_unlock(&rcv.lock);
    ASSERT_EQ_INT((long long)received, 1);
    ASSERT(S_log_has("event=merchant.notify.unsealed"));

    /* As an earlier version left it: the row as it was queued, no row
     * sealed. The start seals what is still to be sent, and it goes. */
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    snprintf(sql, sizeof sql,
             "UPDATE notifications SET resource = replace(resource, 'sealed-9999', 'sealed-0001')"
             " WHERE mchid = '%s'; UPDATE notifications SET mac = x'';",
             m.mchid);
    S_sql(sql);
    API_MUST(api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin));
    client_init(&S_client, S_daemon.base_url);
    ASSERT(S_wait_count(&rcv, 2));
    plain = S_open(&m, &rcv.got[1], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "out_trade_no")), "sealed-0001");
    json_decref(plain);
    ASSERT(S_log_has("event=merchant.notify.sealed rows="));
    S_receiver_stop(&rcv);
    mh_release(&m);
    mh_release(&control);
}

TEST(rows_no_writer_made_do_not_hold_up_the_others)
{
    // A due row whose resource is longer than any the daemon writes, or whose attempt count is
    // out of range, was skipped as it was read, yet took its place under the read's limit: sixteen
    // of them, written into the database by hand, stopped every merchant's notifications. Such a
    // row must not hold up the others; an oversized one is tried as an altered one is (not sent,
    // its attempts saying why), and one whose count no attempt can follow is left alone.
    int port = 0;
    int reserved = receiver_reserve(&port);
    ASSERT(reserved >= 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", port);
    struct mh_merchant m, control;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &control));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
             " INSERT INTO notifications (id, mchid, event_type, original_type, object_id,"
             " summary, notify_url, resource, status, attempt_count, next_attempt_at_ms,"
             " created_at_ms, mac) SELECT printf('00000000-0000-4000-8000-%%012d', i), '%s',"
             " 'TRANSACTION.SUCCESS', 'transaction', 'x', '支付成功', '%s', hex(zeroblob(4500)),"
             " 1, CASE WHEN i %% 2 = 0 THEN 0 ELSE 40 END, 0, strftime('%%s', 'now') * 1000,"
             " x'00' FROM k;",
             32, m.mchid, url); /* twice the worker's slots */
    S_sql(sql);
    struct sink rcv;
    S_receiver_start_reserved(&rcv, reserved);
    API_MUST(api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin));
    client_init(&S_client, S_daemon.base_url);

    char transaction_id[32];
    rh_order_paid(&S_client, &control, &u, "forged-0001", 1000, url, transaction_id);
    ASSERT(S_wait_count(&rcv, 1));
    json_t *plain = S_open(&control, &rcv.got[0], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "out_trade_no")), "forged-0001");
    json_decref(plain);
    /* The oversized rows with a count in range are tried, not sent. */
    const char *why = "not sent: the row does not match its seal (altered in the database)";
    bool refused = false;
    for (int waited = 0; waited < S_WAIT_MS && !refused; waited += 50) {
        json_t *n = S_newest(&m);
        json_t *attempts = json_object_get(n, "attempts");
        json_t *last = json_array_get(attempts, json_array_size(attempts) - 1);
        refused =
            last != NULL && strcmp(json_string_value(json_object_get(last, "error")), why) == 0;
        json_decref(n);
        if (!refused)
            usleep(50 * 1000);
    }
    ASSERT(refused);
    pthread_mutex_lock(&rcv.lock);
    size_t received = rcv.count;
    pthread_mutex_unlock(&rcv.lock);
    ASSERT_EQ_INT((long long)received, 1);
    S_receiver_stop(&rcv);
    mh_release(&m);
    mh_release(&control);
}

TEST(a_crash_between_delivery_and_its_record_delivers_again)
{
    // At least once: the daemon dies (QIANBAO_TEST_CRASH=notify.after_delivery) right after the
    // merchant answered 200 and before the attempt was recorded. After the restart the same
    // notification (same id) is delivered again and then recorded DELIVERED. The receiver holds
    // its first answer until the payer has its 201: the crash must not take the payment's
    // answer with it (a race the test lost under ThreadSanitizer).
    struct sink rcv;
    char url[128];
    S_holding_receiver_start(&rcv, url);
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    setenv("QIANBAO_TEST_CRASH", "notify.after_delivery", 1);
    bool started = api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin);
    unsetenv("QIANBAO_TEST_CRASH");
    ASSERT(started);
    client_init(&S_client, S_daemon.base_url);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "crash-0001", 700, url, transaction_id);
    S_release(&rcv);
    ASSERT(S_wait_count(&rcv, 1));
    /* The daemon is dying or dead: reap it. */
    int status = 0;
    for (int waited = 0; waited < S_WAIT_MS && waitpid(S_daemon.pid, &status, WNOHANG) == 0;
         waited += 10)
        usleep(10 * 1000);
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    S_daemon.pid = 0;
    client_release(&S_client);

    API_MUST(api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin));
    client_init(&S_client, S_daemon.base_url);
    ASSERT(S_wait_count(&rcv, 2));
    char first[128], second[128];
    json_t *a = json_loads(rcv.got[0].body, 0, NULL);
    json_t *b = json_loads(rcv.got[1].body, 0, NULL);
    ASSERT(a != NULL && b != NULL);
    snprintf(first, sizeof first, "%s", json_string_value(json_object_get(a, "id")));
    snprintf(second, sizeof second, "%s", json_string_value(json_object_get(b, "id")));
    json_decref(a);
    json_decref(b);
    ASSERT(first[0] != '\0');
    ASSERT_EQ_STR(second, first);
    json_t *n = S_wait_status(&m, "DELIVERED");
    json_decref(n);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

/* The seconds of an RFC 3339 time of this API ("2026-12-07T21:00:00+08:00"), taken as UTC: for
 * differences. 0 when it is not one. */
static long long S_time_s(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (text == NULL || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm);
}

TEST(a_delivery_the_ledger_cannot_record_is_not_sent_again)
{
    // The merchant answered 200, but the ledger refuses the attempt's record (a full disk, here
    // a trigger): the notification stays PENDING. It is not POSTed again each time the worker
    // passes while the ledger cannot write, which would hand the merchant the same notification
    // once a second of the outage; once the ledger writes again, the delivery it remembers is
    // recorded as it happened, attempt 1, 200, delivered at its time, and nothing more is sent.
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    ASSERT(test_sqlite(db, true,
                       "CREATE TRIGGER test_notify_unrecorded BEFORE UPDATE ON notifications"
                       " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                       NULL, NULL));
    struct sink rcv;
    S_receiver_start(&rcv, 0, NULL, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", rcv.port);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "unrecorded-0001", 800, url, transaction_id);
    ASSERT(S_wait_count(&rcv, 1));
    bool refused = false;
    for (int waited = 0; waited < S_WAIT_MS && !refused; waited += 50) {
        refused = S_log_has("event=merchant.notify.record_failed");
        if (!refused)
            usleep(50 * 1000);
    }
    ASSERT(refused);
    usleep(3500 * 1000); /* three pauses of the hand-out, and more */
    size_t during = S_count(&rcv);
    json_t *n = S_newest(&m);
    ASSERT_EQ_STR(json_string_value(json_object_get(n, "status")), "PENDING");
    json_decref(n);
    ASSERT(test_sqlite(db, true, "DROP TRIGGER test_notify_unrecorded", NULL, NULL));
    ASSERT_EQ_INT((long long)during, 1);

    n = S_wait_status(&m, "DELIVERED");
    json_t *attempts = json_object_get(n, "attempts");
    ASSERT_EQ_INT((long long)json_array_size(attempts), 1);
    json_t *first = json_array_get(attempts, 0);
    ASSERT_EQ_INT((long long)json_integer_value(json_object_get(first, "attempt")), 1);
    ASSERT_EQ_INT((long long)json_integer_value(json_object_get(first, "http_status")), 200);
    /* Delivered when the merchant answered, seconds before it could be recorded. */
    long long attempted_s = S_time_s(json_string_value(json_object_get(first, "time")));
    long long delivered_s = S_time_s(json_string_value(json_object_get(n, "delivered_time")));
    ASSERT(attempted_s > 0 && delivered_s >= attempted_s && delivered_s <= attempted_s + 1);
    json_decref(n);
    usleep(300 * 1000);
    ASSERT_EQ_INT((long long)S_count(&rcv), 1);
    S_receiver_stop(&rcv);
    mh_release(&m);
}

/* POSTs {} to the owner's or (owner NULL) the merchant's resend route of notification id;
 * answers the status, the answer in *res. */
static long S_resend(const struct mh_merchant *m, const struct api_user *owner, const char *id,
                     struct client_response *res)
{
    char path[256];
    if (owner == NULL) {
        snprintf(path, sizeof path, "/v3/qianbao/notifications/%s/resend", id);
        return mh_call(&S_client, m, "POST", path, "{}", res);
    }
    snprintf(path, sizeof path, "/v1/merchants/%s/notifications/%s/resend", m->mchid, id);
    return api_call(&S_client, "POST", path, owner->token, "{}", res);
}

/* Restarts the suite's daemon with the ladder divided by divisor. */
static void S_restart(const char *divisor)
{
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    setenv("QIANBAO_TEST_NOTIFY_LADDER_DIVISOR", divisor, 1);
    API_MUST(api_daemon_start(&S_daemon, S_root, "notify", S_args, S_admin));
    client_init(&S_client, S_daemon.base_url);
}

TEST(a_merchant_sends_a_failed_notification_again)
{
    // A notify_url that was down for the whole ladder: the notification is FAILED after sixteen
    // attempts. Once it is mended, the merchant (signed) or its owner (in the wallet) asks for
    // it again: PENDING at once, one attempt more, delivered, encrypted under the API v3 key the
    // owner reset meanwhile. A delivered notification is not sent again; another merchant's,
    // another user's merchant and an unknown id find nothing.
    S_restart("100000"); /* the whole ladder in under a second */
    int port = 0;
    int reserved = receiver_reserve(&port); /* connections to it are refused until the receiver */
    ASSERT(reserved >= 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", port);
    struct api_user owner, stranger, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(api_user_new(&S_client, S_admin, &stranger));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 5000));
    struct mh_merchant m, other;
    API_MUST(rh_onboard_owned(&S_client, S_admin, owner.id, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &payer, "resend-0001", 1000, url, transaction_id);
    json_t *n = S_wait_status(&m, "FAILED");
    ASSERT_EQ_INT(json_integer_value(json_object_get(n, "attempt_count")), 16);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(n, "id")));
    json_decref(n);

    /* Still down: the one attempt more fails, and it is FAILED again. */
    struct client_response res;
    ASSERT_EQ_INT(S_resend(&m, NULL, id, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "id"), id);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PENDING");
    ASSERT_EQ_STR(api_json_str(&res, "previous_status"), "FAILED");
    ASSERT_EQ_INT(api_json_int(&res, "attempt_count", -1), 16);
    ASSERT(api_json_str(&res, "next_attempt_time") != NULL);
    client_response_release(&res);
    for (int waited = 0; waited < S_WAIT_MS; waited += 50) {
        n = S_newest(&m);
        if (json_integer_value(json_object_get(n, "attempt_count")) == 17 &&
            strcmp(json_string_value(json_object_get(n, "status")), "FAILED") == 0)
            break;
        json_decref(n);
        n = NULL;
        usleep(50 * 1000);
    }
    ASSERT(n != NULL);
    json_decref(n);

    /* Its owner resets the API v3 key meanwhile (it leaked): what arrives from now on opens
     * with the new key alone, this notification, made before the reset, too. */
    char old_key[sizeof m.apiv3_key];
    snprintf(old_key, sizeof old_key, "%s", m.apiv3_key);
    char body[128];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"mchid\":\"%s\"}", TH_PAY_PASSWORD,
             m.mchid);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/v1/merchants/me/apiv3-key", owner.token, body, &res), 200);
    snprintf(m.apiv3_key, sizeof m.apiv3_key, "%s", api_json_str(&res, "apiv3_key"));
    client_response_release(&res);
    ASSERT(strcmp(m.apiv3_key, old_key) != 0);

    /* Mended: the owner asks, and it arrives. */
    struct sink rcv;
    S_receiver_start_reserved(&rcv, reserved);
    ASSERT_EQ_INT(S_resend(&m, &stranger, id, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    ASSERT_EQ_INT(S_resend(&m, &owner, id, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "previous_status"), "FAILED");
    ASSERT_EQ_INT(api_json_int(&res, "attempt_count", -1), 17);
    client_response_release(&res);
    ASSERT(S_wait_count(&rcv, 1));
    json_t *plain = S_open(&m, &rcv.got[0], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "transaction_id")), transaction_id);
    json_decref(plain);
    json_t *envelope = json_loads(rcv.got[0].body, 0, NULL);
    ASSERT(rh_resource_open(old_key, json_object_get(envelope, "resource")) == NULL);
    json_decref(envelope);
    n = S_wait_status(&m, "DELIVERED");
    ASSERT_EQ_INT(json_integer_value(json_object_get(n, "attempt_count")), 18);
    json_decref(n);

    /* Delivered: not again, on either route. */
    ASSERT_EQ_INT(S_resend(&m, NULL, id, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    ASSERT_EQ_STR(api_json_str(&res, "message"), "the notification was delivered");
    client_response_release(&res);
    ASSERT_EQ_INT(S_resend(&m, &owner, id, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    client_response_release(&res);
    /* Another merchant's notification and an unknown id are not there. */
    ASSERT_EQ_INT(S_resend(&other, NULL, id, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "RESOURCE_NOT_EXISTS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_resend(&m, &owner, "00000000-0000-4000-8000-000000000000", &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    ASSERT_EQ_INT(S_resend(&m, NULL, "0000000000000000000000000000000000000000000000", &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "RESOURCE_NOT_EXISTS");
    client_response_release(&res);
    usleep(200 * 1000);
    ASSERT_EQ_INT(S_count(&rcv), 1);
    S_receiver_stop(&rcv);
    mh_release(&m);
    mh_release(&other);
    S_restart("150");
}

/* Milliseconds on a monotonic clock. */
static int64_t S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A notify_url whose host takes connections and never answers (a blackhole): a
 * listening socket nobody accepts from, where the kernel completes each handshake and
 * keeps what the daemon sends. Its port into *port; close the answer to end it. */
static int S_blackhole_start(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    ASSERT(listen(fd, 64) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Ends the blackhole dead: the attempts waiting in it so far (at most 16), each
 * still on its way, are counted, and from now on attempts are refused. */
static size_t S_blackhole_stop(int dead)
{
    int connections[16];
    size_t count = 0;
    for (struct pollfd p = {dead, POLLIN, 0};
         count < 16 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;)
        connections[count++] = accept(dead, NULL, NULL);
    for (size_t i = 0; i < count; i++)
        close(connections[i]);
    close(dead);
    return count;
}

/* Checks the count of attempts a blackhole saw (S_blackhole_stop) when a
 * merchant's share of the delivery threads is share: that many, as none can
 * have timed out yet, unless the test itself took longer than an attempt's
 * timeout since since_ms (a slow sanitizer build): then at most share more
 * for each timeout since. */
#define S_ATTEMPT_TIMEOUT_MS 5000 /* MERCHANT_NOTIFY_TIMEOUT_MS */
static void S_expect_attempts(size_t count, int64_t since_ms, size_t share)
{
    int64_t elapsed_ms = S_now_ms() - since_ms;
    if (elapsed_ms < S_ATTEMPT_TIMEOUT_MS) {
        ASSERT_EQ_INT(count, share);
        return;
    }
    size_t most = share * (size_t)(1 + elapsed_ms / S_ATTEMPT_TIMEOUT_MS);
    fprintf(stderr, "  %zu attempts in %lld ms, past the timeout: at most %zu allowed\n", count,
            (long long)elapsed_ms, most);
    ASSERT(count >= share && count <= most);
}

TEST(a_dead_endpoint_does_not_hold_up_other_merchants)
{
    // One merchant's notify_url that never answers costs each attempt the full 5 s. Its
    // notifications must not queue every other merchant's behind them: merchant A pays 8
    // orders to a blackhole, then merchant B's one notification arrives within 2 s (one
    // delivery at a time, it waited 40 s or more), while A has two attempts on their way,
    // its share, and its other six wait.
    int dead_port = 0;
    int dead = S_blackhole_start(&dead_port);
    char dead_url[128];
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d/n", dead_port);
    struct sink rcv;
    S_receiver_start(&rcv, 0, NULL, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", rcv.port);
    struct mh_merchant a, b;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &a));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &b));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    char transaction_id[32];
    int64_t first_ms = S_now_ms();
    for (int i = 0; i < 8; i++) {
        char out_trade_no[32];
        snprintf(out_trade_no, sizeof out_trade_no, "dead-%04d", i);
        rh_order_paid(&S_client, &a, &u, out_trade_no, 1, dead_url, transaction_id);
    }
    usleep(200 * 1000); /* A's attempts are on their way */
    rh_order_paid(&S_client, &b, &u, "alive-0001", 100, url, transaction_id);
    int64_t paid_ms = S_now_ms();
    while (S_count(&rcv) == 0 && S_now_ms() - paid_ms < 2000)
        usleep(10 * 1000);
    int64_t took_ms = S_now_ms() - paid_ms;
    /* A's attempts so far, none of them over yet: its share, two. */
    size_t connection_count = S_blackhole_stop(dead); /* refused from now on */
    if (S_count(&rcv) == 0)
        TEST_FAIL_("merchant B's notification did not arrive within %lld ms", (long long)took_ms);
    S_expect_attempts(connection_count, first_ms, 2);
    json_t *plain = S_open(&b, &rcv.got[0], "TRANSACTION.SUCCESS", "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(plain, "transaction_id")), transaction_id);
    json_decref(plain);
    S_receiver_stop(&rcv);
    mh_release(&a);
    mh_release(&b);
}

TEST(one_owners_merchants_share_one_share)
{
    // Any user may open merchants, up to ten at once and more over time: a share per merchant
    // would let one person with a few blackholed shops take every delivery thread. A user's
    // merchants share the share of one: two of them paying 4 orders each to a blackhole have
    // two attempts on their way between them, not four.
    int dead_port = 0;
    int dead = S_blackhole_start(&dead_port);
    char dead_url[128];
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d/n", dead_port);
    struct api_user owner, u;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    struct mh_merchant m[2];
    char transaction_id[32];
    int64_t first_ms = S_now_ms();
    for (int k = 0; k < 2; k++) {
        API_MUST(rh_onboard_owned(&S_client, S_admin, owner.id, &m[k]));
        for (int i = 0; i < 4; i++) {
            char out_trade_no[32];
            snprintf(out_trade_no, sizeof out_trade_no, "shared-%d-%04d", k, i);
            rh_order_paid(&S_client, &m[k], &u, out_trade_no, 1, dead_url, transaction_id);
        }
    }
    usleep(500 * 1000); /* the attempts the share allows are on their way */
    size_t connection_count = S_blackhole_stop(dead);
    S_expect_attempts(connection_count, first_ms, 2);
    mh_release(&m[0]);
    mh_release(&m[1]);
}

TEST(a_backlog_is_delivered_without_waiting_between_passes)
{
    // The worker at its production poll (1 s): a merchant's endpoint stalls on its first
    // notification while 63 more orders are paid, then answers. The backlog of 63 goes out at
    // once, pass after full pass, not one batch of 16 per second (which kept the platform under
    // 16 notifications a second and took 4 s of sleeps here).
    S_restart("1");
    struct sink rcv;
    char url[128];
    S_holding_receiver_start(&rcv, url);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 100000));
    char transaction_id[32];
    for (int i = 0; i < 64; i++) {
        char out_trade_no[32];
        snprintf(out_trade_no, sizeof out_trade_no, "burst-%04d", i);
        rh_order_paid(&S_client, &m, &u, out_trade_no, 100, url, transaction_id);
    }
    int64_t released_ms = S_now_ms();
    S_release(&rcv);
    ASSERT(S_wait_count(&rcv, 64));
    int64_t took_ms = S_now_ms() - released_ms;
    if (took_ms >= 3500) /* with a second's sleep between passes of 16: 4 s or more */
        TEST_FAIL_("64 notifications took %lld ms after the endpoint answered", (long long)took_ms);
    S_receiver_stop(&rcv);
    mh_release(&m);
    S_restart("150");
}

int main(void)
{
    setenv("QIANBAO_TEST_NOTIFY_LADDER_DIVISOR", "150", 1);
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "notify", S_args, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(metrics_show_notifications_waiting_on_a_merchant);
    RUN(payment_and_refund_notifications_arrive_signed_and_encrypted);
    RUN(a_failing_receiver_is_retried_on_the_ladder);
    RUN(the_owner_reads_the_notifications_in_the_wallet);
    RUN(delivery_resumes_after_a_restart);
    RUN(a_notification_altered_in_the_database_is_not_sent);
    RUN(rows_no_writer_made_do_not_hold_up_the_others);
    RUN(a_crash_between_delivery_and_its_record_delivers_again);
    RUN(a_delivery_the_ledger_cannot_record_is_not_sent_again);
    RUN(a_merchant_sends_a_failed_notification_again);
    RUN(a_dead_endpoint_does_not_hold_up_other_merchants);
    RUN(one_owners_merchants_share_one_share);
    RUN(a_backlog_is_delivered_without_waiting_between_passes);
    return api_suite_end(&suite);
}
