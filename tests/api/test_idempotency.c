/*
 * test_idempotency.c — one Idempotency-Key, one payment, one answer.
 *
 * A client that times out retries with the same key; a flaky network may
 * deliver the retries together. The same key and body sent 1,000 times, 16
 * at a time, must make exactly one transfer and answer every request with
 * the same bytes (later ones marked Idempotent-Replayed); the same key with
 * another amount is 422 IDEMPOTENCY_MISMATCH and moves nothing. A refusal
 * is kept the same way. Keys belong to their user. The payment password is
 * no part of the request: a retry under a key tells nothing of it. A key's
 * fingerprint of its request is stored keyed, and one an earlier version
 * stored unkeyed, of the body as sent, still answers its retry after the
 * upgrade.
 *
 * The payer needs money: funded through the public top-up route.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_REPEAT_COUNT 1000
#define S_WIDTH 16

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static struct th_call S_calls[S_REPEAT_COUNT];

/* Fires count copies of (token, key, body) at POST /v1/transfers and checks
 * that every answer is the same bytes with status want. */
static void S_same_answers(const char *token, const char *key, const char *body, size_t count,
                           long want)
{
    QB_ASSERT(count <= S_REPEAT_COUNT);
    memset(S_calls, 0, sizeof S_calls);
    for (size_t i = 0; i < count; i++)
        S_calls[i] = (struct th_call){.path = "/v1/transfers", .token = token, .key = key,
                                      .body = body};
    th_burst_run(S_daemon.base_url, S_calls, count, S_WIDTH);
    size_t fresh = 0;
    for (size_t i = 0; i < count; i++) {
        if (S_calls[i].status != want)
            TEST_FAIL_("call %zu: %ld %s (want %ld)", i, S_calls[i].status, S_calls[i].answer,
                       want);
        ASSERT(S_calls[i].answer_size < TH_BODY_SIZE_MAX);
        ASSERT_EQ_INT(S_calls[i].answer_size, S_calls[0].answer_size);
        ASSERT_EQ_STR(S_calls[i].answer, S_calls[0].answer);
        fresh += !S_calls[i].replayed;
    }
    /* Exactly one request ran; every other one was answered from the record. */
    ASSERT_EQ_INT(fresh, 1);
}

TEST(a_thousand_retries_make_one_transfer)
{
    // The core promise of a key: however many times and however concurrently a payment is
    // retried, it happens once and every retry sees the first answer, byte for byte.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 90000));
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":777,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    S_same_answers(a.token, "retry-me", body, S_REPEAT_COUNT, 201);
    ASSERT(strstr(S_calls[0].answer, "\"status\":\"SUCCESS\"") != NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 90000 - 777);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 777);

    /* The same key with another amount, or another payee: refused, nothing moves. */
    struct client_response res;
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":778,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "retry-me", body,
                                &res),
                  422);
    ASSERT_EQ_STR(api_error_code(&res), "IDEMPOTENCY_MISMATCH");
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":777,\"payment_password\":\"%s\"}",
             b.id, TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "retry-me", body,
                                &res),
                  422);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 777);

    /* The key is a's: b may use it for a payment of its own. */
    API_MUST(api_payment_password_set(&S_client, S_admin, &b, TH_PAY_PASSWORD));
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":7,\"payment_password\":\"%s\"}",
             a.phone, TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", b.token, "retry-me", body,
                                &res),
                  201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 770);
}

TEST(a_refusal_is_kept_under_its_key)
{
    // A refused payment answers the same refusal for its key, even in parallel, and never
    // turns into a payment; a wrong password is counted once, not once per retry.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":500,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    S_same_answers(a.token, "broke", body, 200, 402);
    ASSERT(strstr(S_calls[0].answer, "INSUFFICIENT_BALANCE") != NULL);

    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":500,\"payment_password\":\"246802\"}",
             b.phone);
    S_same_answers(a.token, "typo", body, 200, 403);
    ASSERT(strstr(S_calls[0].answer, "4 tries left") != NULL);
    /* One wrong try counted: the right password is still accepted. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/payment-password/verify", a.token,
                           "{\"payment_password\":\"" TH_PAY_PASSWORD "\"}", &res),
                  204);
    client_response_release(&res);
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    /* Money arrived, but the key's answer stays the refusal. */
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":500,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "broke", body,
                                &res),
                  402);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
}

TEST(a_retry_tells_nothing_of_the_payment_password)
{
    // Whoever holds a session and a key its user paid under (a --idempotency-key in a shell's
    // history, a key the CLI showed) could send the payment's body again under it with each of
    // the million six-digit passwords: a wrong one was 422 and the right one the payment's
    // answer, and no guess counted towards the lock. The password proves who sends a request
    // and is no part of it: every guess is answered as the payment was, and the lock is never
    // needed. A retry rebuilt with its members in another order and spacing is the same request
    // too; another amount is still another one.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    struct client_response first, res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "pw-guess", body, &first), 201);
    static const char *const guesses[] = {"000000", "246802", "975310", "102938",
                                          "564738", "192837", "135791"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(guesses); i++) {
        snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}",
                 b.id, guesses[i]);
        ASSERT_EQ_INT(
            api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "pw-guess", body, &res),
            201);
        ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
        ASSERT_EQ_INT(res.body.size, first.body.size);
        ASSERT(memcmp(res.body.data, first.body.data, res.body.size) == 0);
        client_response_release(&res);
    }
    snprintf(body, sizeof body,
             "{ \"payment_password\": \"%s\",\n  \"amount\": 100, \"to\": \"%s\" }",
             TH_PAY_PASSWORD, b.id);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "pw-guess", body, &res), 201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    ASSERT_EQ_INT(res.body.size, first.body.size);
    ASSERT(memcmp(res.body.data, first.body.data, res.body.size) == 0);
    client_response_release(&res);
    client_response_release(&first);
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":101,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "pw-guess", body, &res), 422);
    client_response_release(&res);

    /* One payment, and the password neither counted wrong nor locked. */
    ASSERT_EQ_INT(th_balance(&S_client, &b), 100);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/payment-password/verify", a.token,
                           "{\"payment_password\":\"" TH_PAY_PASSWORD "\"}", &res),
                  204);
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "pw-guess-2", body, &res), 201);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 1000 - 200);
}

/* Starts (or starts again) the daemon of the retention test, its clock
 * offset_ms ahead, and logs u in anew on it (the session went idle). */
static void S_retention_daemon(struct test_daemon *d, long long offset_ms, struct api_user *u)
{
    static const char *const args[] = {"--idempotency-retention-days", "1", NULL};
    char offset[32];
    snprintf(offset, sizeof offset, "%lld", offset_ms);
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", offset, 1);
    API_MUST(api_daemon_start(d, S_root, "retention", args, S_admin));
    unsetenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    client_release(&S_client);
    client_init(&S_client, d->base_url);
    if (u != NULL)
        API_MUST(api_login(&S_client, u, "test", u->token));
}

/* POSTs a transfer under key: its status, whether replayed, its id. */
static long S_keyed_transfer(const struct api_user *a, const char *key, const char *body,
                             bool *replayed, char id[64])
{
    struct client_response res;
    long status = api_call_idem(&S_client, "POST", "/v1/transfers", a->token, key, body, &res);
    const char *header = api_header(&res, "Idempotent-Replayed");
    *replayed = header != NULL && strcmp(header, "true") == 0;
    snprintf(id, 64, "%s", status == 201 ? api_json_str(&res, "id") : "");
    client_response_release(&res);
    return status;
}

TEST(a_key_is_forgotten_after_the_retention)
{
    // --idempotency-retention-days: a retry a little within it is still the first answer; one
    // after it is a new transfer (the key was deleted with the oldest records, not kept
    // forever), remembered in its turn.
    struct test_daemon d;
    S_retention_daemon(&d, 0, NULL);
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    char body[256], first[64], id[64];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    bool replayed = true;
    ASSERT_EQ_INT(S_keyed_transfer(&a, "kept", body, &replayed, first), 201);
    ASSERT(!replayed && first[0] != '\0');
    /* The writer deletes expired records 256 at least at a time: 300 more
     * transfers of a fen make a chunk due with the kept one. */
    static char keys[300][16];
    char fen[256];
    snprintf(fen, sizeof fen, "{\"to\":\"%s\",\"amount\":1,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    memset(S_calls, 0, sizeof S_calls);
    for (size_t i = 0; i < 300; i++) {
        snprintf(keys[i], sizeof keys[i], "fen-%zu", i);
        S_calls[i] = (struct th_call){
            .path = "/v1/transfers", .token = a.token, .key = keys[i], .body = fen};
    }
    th_burst_run(d.base_url, S_calls, 300, S_WIDTH);
    for (size_t i = 0; i < 300; i++)
        ASSERT_EQ_INT(S_calls[i].status, 201);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);

    /* Ten minutes short of a day later: the same answer. */
    S_retention_daemon(&d, 86400000LL - 600000, &a);
    ASSERT_EQ_INT(S_keyed_transfer(&a, "kept", body, &replayed, id), 201);
    ASSERT(replayed);
    ASSERT_EQ_STR(id, first);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);

    /* A minute past the day: a new transfer, then its replay. */
    S_retention_daemon(&d, 86400000LL + 60000, &a);
    ASSERT_EQ_INT(S_keyed_transfer(&a, "kept", body, &replayed, id), 201);
    ASSERT(!replayed);
    ASSERT(strcmp(id, first) != 0);
    char second[64];
    snprintf(second, sizeof second, "%s", id);
    ASSERT_EQ_INT(S_keyed_transfer(&a, "kept", body, &replayed, id), 201);
    ASSERT(replayed);
    ASSERT_EQ_STR(id, second);
    API_MUST(api_login(&S_client, &b, "test", b.token));
    ASSERT_EQ_INT(th_balance(&S_client, &b), 200 + 300);
    struct client_response res;
    ASSERT(client_request(&S_client, "GET", "/metrics", NULL, NULL, 0, &res));
    ASSERT(strstr(res.body.data, "\nqianbao_ledger_idempotency_expired_total 0\n") == NULL);
    ASSERT(strstr(res.body.data, "\nqianbao_ledger_idempotency_expired_total ") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    client_release(&S_client);
    client_init(&S_client, S_daemon.base_url);
}

/* Hex of SHA-256("POST" NUL path NUL body): a request's fingerprint as
 * versions before the keyed ones stored it. */
static void S_plain_fingerprint(const char *path, const char *body, char hex[65],
                                uint8_t raw[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"POST", 5);
    crypto_hash_sha256_update(&st, (const unsigned char *)path, strlen(path) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_hash_sha256_final(&st, raw);
    sodium_bin2hex(hex, 65, raw, crypto_hash_sha256_BYTES);
}

/* The same of the body as requests are fingerprinted now: a JSON object's
 * members sorted, without spacing and without payment_password. */
static void S_canonical_fingerprint(const char *path, const char *body,
                                    uint8_t raw[crypto_hash_sha256_BYTES])
{
    json_t *root = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    ASSERT(json_is_object(root));
    json_object_del(root, "payment_password");
    char *canonical = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT(canonical != NULL);
    json_decref(root);
    char hex[65];
    S_plain_fingerprint(path, canonical, hex, raw);
    free(canonical);
}

static void S_line_copy(char *line, void *arg) { snprintf(arg, 128, "%s", line); }

TEST(fingerprints_stored_unkeyed_are_keyed_once_and_still_answer_retries)
{
    // The fingerprint of a body that holds a six-digit payment password, stored as its plain
    // SHA-256, gives the password to anyone with a copy of the database (a million guesses).
    // It is stored as an HMAC under a key kept outside the database; those an earlier version
    // stored plain are keyed at the next start, in batches, and a crash between batches keys
    // no row twice: every retry made before the upgrade is still answered as it was.
    struct test_daemon d;
    API_MUST(api_daemon_start(&d, S_root, "unkeyed", NULL, S_admin));
    client_release(&S_client);
    client_init(&S_client, d.base_url);
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char body[256], first[64], id[64];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":1,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    bool replayed = true;
    ASSERT_EQ_INT(S_keyed_transfer(&a, "unkeyed-0", body, &replayed, first), 201);
    ASSERT(!replayed);

    /* Stored keyed: HMAC-SHA-256 under the pepper's subkey 4 ("qbreqfpr") of the digest (of
     * the body without its password). */
    char plain_hex[65], db[TEST_DAEMON_PATH_SIZE_MAX + 32], row[128] = "";
    uint8_t plain[crypto_hash_sha256_BYTES], canonical[crypto_hash_sha256_BYTES];
    S_plain_fingerprint("/v1/transfers", body, plain_hex, plain);
    S_canonical_fingerprint("/v1/transfers", body, canonical);
    uint8_t pepper[32], subkey[32], keyed[crypto_auth_hmacsha256_BYTES];
    char pepper_path[TEST_DAEMON_PATH_SIZE_MAX + 32], keyed_hex[65];
    snprintf(pepper_path, sizeof pepper_path, "%s/pepper", d.data_dir);
    FILE *f = fopen(pepper_path, "rb");
    ASSERT(f != NULL);
    ASSERT_EQ_INT(fread(pepper, 1, sizeof pepper, f), sizeof pepper);
    fclose(f);
    ASSERT(crypto_kdf_derive_from_key(subkey, sizeof subkey, 4, "qbreqfpr", pepper) == 0);
    crypto_auth_hmacsha256(keyed, canonical, sizeof canonical, subkey);
    sodium_bin2hex(keyed_hex, sizeof keyed_hex, keyed, sizeof keyed);
    snprintf(db, sizeof db, "%s/qianbao.db", d.data_dir);
    ASSERT(test_sqlite(db, false,
                       "SELECT lower(hex(request_hash)) FROM idempotency_records"
                       " WHERE key = 'unkeyed-0'",
                       S_line_copy, row));
    ASSERT_EQ_STR(row, keyed_hex);

    /* More records than one batch of keying (2,048), all of one body. */
    static char keys[2100][24];
    for (size_t round = 0; round < 3; round++) {
        memset(S_calls, 0, sizeof S_calls);
        for (size_t i = 0; i < 700; i++) {
            size_t k = round * 700 + i;
            snprintf(keys[k], sizeof keys[k], "unkeyed-%zu", k + 1);
            S_calls[i] = (struct th_call){
                .path = "/v1/transfers", .token = a.token, .key = keys[k], .body = body};
        }
        th_burst_run(d.base_url, S_calls, 700, S_WIDTH);
        for (size_t i = 0; i < 700; i++)
            ASSERT_EQ_INT(S_calls[i].status, 201);
    }
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);

    /* As an earlier version left them: every fingerprint plain, of the body as sent (its
     * password included), nothing marked keyed. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE idempotency_records SET request_hash = X'%s'"
             " WHERE key LIKE 'unkeyed-%%';"
             "DELETE FROM meta WHERE key LIKE 'request_fingerprints_%%';",
             plain_hex);
    ASSERT(test_sqlite(db, true, sql, NULL, NULL));

    /* The first start dies after its first batch is committed; the next one goes on. */
    static const char *const cheap[] = {"--argon2-memory-kib", "8", "--argon2-ops", "1", NULL};
    char log_path[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(log_path, sizeof log_path, "%s/unkeyed.log", S_root);
    setenv("QIANBAO_TEST_CRASH", "fingerprints.between_batches", 1);
    char data_dir[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(data_dir, sizeof data_dir, "%s", d.data_dir);
    bool started = test_daemon_start(&d, data_dir, log_path, cheap);
    unsetenv("QIANBAO_TEST_CRASH");
    ASSERT(!started);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM idempotency_records WHERE key LIKE 'unkeyed-%%'"
             " AND hex(request_hash) = upper('%s')",
             plain_hex);
    ASSERT(test_sqlite(db, false, sql, S_line_copy, row));
    long left = strtol(row, NULL, 10);
    if (!(left > 0 && left < 2101))
        TEST_FAIL_("%ld of 2101 plain after the crash (%s)", left, row);
    for (int start = 0; start < 2; start++) {
        API_MUST(api_daemon_start(&d, S_root, "unkeyed", NULL, S_admin));
        client_release(&S_client);
        client_init(&S_client, d.base_url);
        API_MUST(api_login(&S_client, &a, "test", a.token));
        const char *retried[] = {"unkeyed-0", "unkeyed-1", "unkeyed-1500", "unkeyed-2100"};
        for (size_t i = 0; i < QB_ARRAY_COUNT(retried); i++) {
            ASSERT_EQ_INT(S_keyed_transfer(&a, retried[i], body, &replayed, id), 201);
            ASSERT(replayed);
        }
        ASSERT_EQ_INT(S_keyed_transfer(&a, "unkeyed-0", body, &replayed, id), 201);
        ASSERT_EQ_STR(id, first);
        /* Another amount under the same key is still another request. */
        char other[256];
        snprintf(other, sizeof other, "{\"to\":\"%s\",\"amount\":2,\"payment_password\":\"%s\"}",
                 b.id, TH_PAY_PASSWORD);
        ASSERT_EQ_INT(S_keyed_transfer(&a, "unkeyed-0", other, &replayed, id), 422);
        ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    }
    ASSERT(test_sqlite(db, false, sql, S_line_copy, row));
    ASSERT_EQ_STR(row, "0");
    client_release(&S_client);
    client_init(&S_client, S_daemon.base_url);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(a_thousand_retries_make_one_transfer);
    RUN(a_refusal_is_kept_under_its_key);
    RUN(a_retry_tells_nothing_of_the_payment_password);
    RUN(a_key_is_forgotten_after_the_retention);
    RUN(fingerprints_stored_unkeyed_are_keyed_once_and_still_answer_retries);

    return api_suite_end(&suite);
}
