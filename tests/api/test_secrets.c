/*
 * test_secrets.c — no secret in clear where it must not be.
 *
 * One daemon goes through every flow that carries a secret: registering
 * and logging in (a password, a wrong one too), SMS codes, KYC (an id
 * number), the payment password (a wrong one too), binding a card (its
 * number), a top-up, a transfer, a red packet, a merchant's onboarding (its
 * API v3 key and private key), an order, and a payment-code device (its
 * seed) paying with a code. Every answer is kept. Then the
 * daemon stops, and
 *
 *   - the database (qianbao.db and any -wal / -shm beside it) and the log
 *     hold none of the secrets, nor the bytes of the pepper and card key
 *     (raw, hex or base64), nor the admin token;
 *   - no answer holds a secret except where the contract says it must:
 *     the session token in the login answer, the merchant's keys in the
 *     onboarding answer, a device's seed in its provisioning answer, SMS
 *     codes in the operator's development outbox.
 *
 * Neither do the plain SHA-256 digests of the requests that carry a payment
 * password or a payment code: a stored fingerprint is keyed.
 *
 * Six-digit secrets (payment passwords, SMS codes) and the card number
 * count only as whole numbers (no digit on either side), so that a longer
 * number that happens to contain them is not taken for them.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"
#include "base/paycode.h"

#define S_SECRETS_MAX 64
#define S_SECRET_SIZE_MAX 200
#define S_ANSWERS_SIZE_MAX (4 * 1024 * 1024)
#define S_FILE_SIZE_MAX (64 * 1024 * 1024)

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* What must not appear, and what it is (for the failure message). */
static struct {
    char text[S_SECRET_SIZE_MAX];
    size_t size;
    const char *what;
    bool numeric; /* counts only with no digit on either side */
} S_secrets[S_SECRETS_MAX];
static size_t S_secret_count;

/* Every answer's body that must hold no secret, one after another. */
static struct buf S_answers;

static void S_secret_add(const void *data, size_t size, const char *what)
{
    QB_ASSERT(S_secret_count < S_SECRETS_MAX && size > 0 && size <= S_SECRET_SIZE_MAX);
    memcpy(S_secrets[S_secret_count].text, data, size);
    S_secrets[S_secret_count].size = size;
    S_secrets[S_secret_count].what = what;
    const char *text = data;
    S_secrets[S_secret_count].numeric = strspn(text, "0123456789") == size;
    S_secret_count++;
}

static void S_secret_text(const char *text, const char *what)
{
    S_secret_add(text, strlen(text), what);
}

/* A 32-byte key file's bytes, and their hex and base64 forms. */
static void S_secret_key_file(const char *name)
{
    char path[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", S_daemon.data_dir, name);
    int fd = open(path, O_RDONLY);
    QB_ASSERT(fd >= 0);
    unsigned char key[64];
    ssize_t got = read(fd, key, sizeof key);
    close(fd);
    QB_ASSERT(got == 32);
    S_secret_add(key, 32, name);
    char hex[65], b64[64];
    sodium_bin2hex(hex, sizeof hex, key, 32);
    S_secret_text(hex, name);
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_ORIGINAL);
    S_secret_text(b64, name);
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    S_secret_text(b64, name);
}

/* A call whose answer must hold no secret; its status. */
static long S_call(const char *method, const char *path, const char *token, const char *body,
                   struct client_response *res)
{
    long status = api_call(&S_client, method, path, token, body, res);
    QB_ASSERT(buf_append(&S_answers, res->body.data, res->body.size) == QB_OK);
    QB_ASSERT(buf_append(&S_answers, "\n", 1) == QB_OK);
    return status;
}

/* The plain SHA-256 of parts (NUL-separated where sep) that a request's
 * stored fingerprint must not be: of a body holding a six-digit payment
 * password or a payment code, it would give the secret up to a million
 * guesses. */
static void S_secret_digest(const char *const *parts, size_t count, bool sep, const char *what)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < count; i++)
        crypto_hash_sha256_update(&st, (const unsigned char *)parts[i],
                                  strlen(parts[i]) + (sep && i + 1 < count));
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, digest);
    S_secret_add(digest, sizeof digest, what);
}

static long S_call_idem(const char *path, const char *token, const char *key, const char *body,
                        struct client_response *res)
{
    const char *parts[] = {"POST", path, body};
    S_secret_digest(parts, QB_ARRAY_COUNT(parts), true, "unkeyed fingerprint of a request");
    long status = api_call_idem(&S_client, "POST", path, token, key, body, res);
    QB_ASSERT(buf_append(&S_answers, res->body.data, res->body.size) == QB_OK);
    QB_ASSERT(buf_append(&S_answers, "\n", 1) == QB_OK);
    return status;
}

/* The first place needle stands in data[from, size), or NULL. */
static const unsigned char *S_memfind(const unsigned char *data, size_t from, size_t size,
                                      const char *needle, size_t needle_size)
{
    for (size_t i = from; i + needle_size <= size; i++)
        if (data[i] == (unsigned char)needle[0] && memcmp(data + i, needle, needle_size) == 0)
            return data + i;
    return NULL;
}

/* The first secret found in data, with its offset; -1 when none. */
static long S_find(const unsigned char *data, size_t size, size_t *which)
{
    for (size_t k = 0; k < S_secret_count; k++) {
        size_t from = 0;
        const unsigned char *at;
        while ((at = S_memfind(data, from, size, S_secrets[k].text, S_secrets[k].size)) != NULL) {
            size_t end = (size_t)(at - data) + S_secrets[k].size;
            bool bounded = !S_secrets[k].numeric ||
                           ((at == data || !isdigit(at[-1])) && (end == size || !isdigit(data[end])));
            if (bounded) {
                *which = k;
                return (long)(at - data);
            }
            from = (size_t)(at - data) + 1;
        }
    }
    return -1;
}

/* Fails the test when the file (if it exists) holds a secret. */
static void S_scan_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    struct buf data;
    buf_init(&data, S_FILE_SIZE_MAX);
    unsigned char chunk[65536];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
        QB_ASSERT(buf_append(&data, chunk, (size_t)got) == QB_OK);
    close(fd);
    size_t which = 0;
    long at = S_find((const unsigned char *)data.data, data.size, &which);
    if (at >= 0)
        TEST_FAIL_("%s holds the %s in clear at byte %ld", path, S_secrets[which].what, at);
    buf_release(&data);
}

TEST(no_secret_in_the_database_the_log_or_an_answer)
{
    struct client_response res;
    char body[1024];

    /* Registering and logging in: the password, a wrong one, the session. */
    struct api_user a, b;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    S_secret_text(a.password, "login password");
    S_secret_text(a.token, "session token");
    S_secret_text(b.token, "session token");
    const char *wrong_password = "not the password 51";
    S_secret_text(wrong_password, "wrong login password");
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"%s\"}", a.phone, wrong_password);
    ASSERT_EQ_INT(S_call("POST", "/v1/sessions", NULL, body, &res), 401);
    client_response_release(&res);

    /* The payment password, set with an SMS code; a wrong one tried. */
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get_for(&S_client, S_admin, &a, "reset_payment_password", code));
    S_secret_text(code, "SMS code");
    S_secret_text(TH_PAY_PASSWORD, "payment password");
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"sms_code\":\"%s\"}",
             TH_PAY_PASSWORD, code);
    ASSERT_EQ_INT(S_call("PUT", "/v1/me/payment-password", a.token, body, &res), 204);
    client_response_release(&res);
    const char *wrong_pay = "907431";
    S_secret_text(wrong_pay, "wrong payment password");
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\"}", wrong_pay);
    ASSERT_EQ_INT(S_call("POST", "/v1/me/payment-password/verify", a.token, body, &res), 403);
    client_response_release(&res);

    /* KYC: the id number is kept sealed, shown as its last four only. */
    char id_number[19];
    api_id_number_complete("44030619880712453", id_number);
    S_secret_text(id_number, "id number");
    snprintf(body, sizeof body, "{\"real_name\":\"Li Lei\",\"id_number\":\"%s\"}", id_number);
    ASSERT_EQ_INT(S_call("POST", "/v1/me/kyc", a.token, body, &res), 200);
    client_response_release(&res);

    /* A card: its number after a bind_card code. */
    char number[17], phone[API_PHONE_SIZE];
    th_card_number_new(number);
    S_secret_text(number, "card number");
    api_phone_new(phone);
    ASSERT_EQ_INT(api_sms_request_as(&S_client, a.token, phone, "bind_card", number), 202);
    API_MUST(api_sms_code_read(&S_client, S_admin, phone, "bind_card", code));
    S_secret_text(code, "SMS code");
    snprintf(body, sizeof body,
             "{\"card_number\":\"%s\",\"holder_name\":\"Li Lei\",\"phone\":\"%s\","
             "\"sms_code\":\"%s\"}",
             number, phone, code);
    ASSERT_EQ_INT(S_call("POST", "/v1/me/cards", a.token, body, &res), 201);
    char card_id[API_ID_SIZE_MAX];
    snprintf(card_id, sizeof card_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);

    /* Money: a top-up, a transfer, a red packet, a withdrawal. */
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":50000,\"payment_password\":\"%s\"}", card_id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_call_idem("/v1/me/topups", a.token, "secrets-topup", body, &res), 201);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":1200,\"memo\":\"dinner\",\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_call_idem("/v1/transfers", a.token, "secrets-transfer", body, &res), 201);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}", b.phone, wrong_pay);
    ASSERT_EQ_INT(S_call_idem("/v1/transfers", a.token, "secrets-transfer-2", body, &res), 403);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"type\":\"lucky\",\"total_amount\":600,\"count\":3,\"payment_password\":\"%s\"}",
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_call_idem("/v1/red-packets", a.token, "secrets-packet", body, &res), 201);
    char packet[API_ID_SIZE_MAX + 64];
    snprintf(packet, sizeof packet, "/v1/red-packets/%s/claims", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(S_call("POST", packet, b.token, NULL, &res), 201);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":1000,\"payment_password\":\"%s\"}", card_id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_call_idem("/v1/me/withdrawals", a.token, "secrets-withdrawal", body, &res),
                  201);
    client_response_release(&res);

    /* A merchant: the API v3 key and the private key are answered once. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", a.token, "{\"name\":\"Li's\"}",
                           &res),
                  201);
    json_t *onboarded = api_json(&res);
    client_response_release(&res);
    ASSERT(onboarded != NULL);
    S_secret_text(json_string_value(json_object_get(onboarded, "apiv3_key")), "API v3 key");
    /* One line of the private key's base64 stands for all of it. */
    const char *pem = json_string_value(json_object_get(onboarded, "private_key_pem"));
    ASSERT(pem != NULL);
    const char *line = strchr(pem, '\n');
    ASSERT(line != NULL);
    char key_line[80];
    snprintf(key_line, sizeof key_line, "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    ASSERT(strlen(key_line) >= 60);
    S_secret_text(key_line, "merchant private key");
    json_decref(onboarded);
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    S_secret_text(m.apiv3_key, "API v3 key");
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"tea\","
             "\"out_trade_no\":\"secrets-1\",\"notify_url\":\"https://example.com/n\","
             "\"amount\":{\"total\":300,\"currency\":\"CNY\"}}",
             m.appid, m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    QB_ASSERT(buf_append(&S_answers, res.body.data, res.body.size) == QB_OK);
    client_response_release(&res);

    /* A payment-code device: its seed is answered once (kept sealed), and a code made from it
     * pays at the till without landing anywhere. */
    snprintf(body, sizeof body, "{\"name\":\"phone\",\"payment_password\":\"%s\"}",
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/devices", a.token, body, &res), 201);
    const char *seed_hex = api_json_str(&res, "seed");
    ASSERT(seed_hex != NULL && strlen(seed_hex) == 2 * PAYCODE_SEED_SIZE);
    S_secret_text(seed_hex, "payment-code seed");
    uint8_t seed[PAYCODE_SEED_SIZE];
    ASSERT(sodium_hex2bin(seed, sizeof seed, seed_hex, strlen(seed_hex), NULL, NULL, NULL) == 0);
    S_secret_add(seed, sizeof seed, "payment-code seed");
    uint32_t slot = (uint32_t)strtoul(api_json_str(&res, "slot"), NULL, 10);
    client_response_release(&res);
    char paycode[PAYCODE_TEXT_SIZE];
    paycode_format(seed, paycode_step((int64_t)time(NULL) * 1000), slot, 0, paycode);
    S_secret_text(paycode, "payment code");
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"tea\","
             "\"out_trade_no\":\"secrets-2\",\"amount\":{\"total\":300},"
             "\"payer\":{\"auth_code\":\"%s\"}}",
             m.appid, m.mchid, paycode);
    /* A merchant order's fingerprint: its trade type, then its body with sorted keys. */
    json_t *order = json_loads(body, 0, NULL);
    char *canonical = order != NULL ? json_dumps(order, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    ASSERT(canonical != NULL);
    const char *order_parts[] = {"\x05" /* MERCHANT_TRADE_MICROPAY */, canonical};
    S_secret_digest(order_parts, 2, false, "unkeyed fingerprint of a codepay order");
    free(canonical);
    json_decref(order);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/codepay", body, &res), 200);
    QB_ASSERT(buf_append(&S_answers, res.body.data, res.body.size) == QB_OK);
    client_response_release(&res);
    mh_release(&m);

    /* Reading it all back, as the user and the operator. */
    const char *reads[] = {"/v1/me",          "/v1/me/cards",        "/v1/me/sessions",
                           "/v1/me/security", "/v1/me/transactions", "/v1/me/limits",
                           "/v1/me/balances", "/v1/me/devices"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(reads); i++) {
        ASSERT_EQ_INT(S_call("GET", reads[i], a.token, NULL, &res), 200);
        client_response_release(&res);
    }
    char path[128];
    snprintf(path, sizeof path, "/admin/users?phone=%s", a.phone);
    ASSERT_EQ_INT(S_call("GET", path, S_admin, NULL, &res), 200);
    client_response_release(&res);

    /* Every answer above: none holds a secret. */
    size_t which = 0;
    long at = S_find((const unsigned char *)S_answers.data, S_answers.size, &which);
    if (at >= 0)
        TEST_FAIL_("an answer holds the %s: %.*s", S_secrets[which].what, 200,
                   S_answers.data + (at > 100 ? at - 100 : 0));

    /* The files, once the daemon has stopped (its last log lines written). */
    S_secret_key_file("pepper");
    S_secret_key_file("card-key");
    S_secret_key_file("chain-key");
    char admin_token[API_TOKEN_SIZE_MAX];
    ASSERT(test_daemon_admin_token(&S_daemon, admin_token, sizeof admin_token));
    S_secret_text(admin_token, "admin token");
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    const char *files[] = {"qianbao.db", "qianbao.db-wal", "qianbao.db-shm"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(files); i++) {
        char file[TEST_DAEMON_PATH_SIZE_MAX + 32];
        snprintf(file, sizeof file, "%s/%s", S_daemon.data_dir, files[i]);
        S_scan_file(file);
    }
    S_scan_file(S_daemon.log_path);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    buf_init(&S_answers, S_ANSWERS_SIZE_MAX);
    if (api_suite_step(sodium_init() >= 0, "sodium_init") &&
        api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client)) {
        RUN(no_secret_in_the_database_the_log_or_an_answer);
    }
    buf_release(&S_answers);
    return api_suite_end(&suite);
}
