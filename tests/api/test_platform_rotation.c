/*
 * test_platform_rotation.c — a new platform key for the merchant API,
 * rotated as WeChat Pay rotates its platform certificates, so that no
 * merchant's SDK ever meets a signature it cannot check:
 *
 *   qianbaod --platform-key-rotate begin    (the daemon stopped) a next key,
 *                                           listed at GET /v3/certificates
 *                                           after the one that still signs;
 *   qianbaod --platform-key-rotate finish   the next one signs from the next
 *                                           start, the old one kept as
 *                                           platform-*-retired.pem;
 *   qianbaod --platform-key-rotate cancel   the next one removed.
 *
 * One daemon, stopped and started around each step; a merchant onboarded
 * before the rotation checks every answer as its SDK would, with the
 * certificate it fetched.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"

#define S_PEM_SIZE 8192

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static struct mh_merchant S_merchant; /* onboarded before any rotation */
static char S_first_serial[48];       /* the serial that signed first */
static char S_next_serial[48];        /* the one begun */

/* qianbaod --data-dir DATA --platform-key-rotate step: its exit status,
 * its output into text. */
static int S_rotate(const char *step, char *text, size_t text_size)
{
    char output[TEST_DAEMON_PATH_SIZE_MAX + 64];
    snprintf(output, sizeof output, "%s/rotate-%s.log", S_root, step);
    remove(output);
    const char *args[] = {"--data-dir", S_daemon.data_dir, "--platform-key-rotate", step, NULL};
    int status = test_daemon_run(args, output, 60000);
    if (!test_file_read(output, text, text_size))
        text[0] = '\0';
    return status;
}

#define EXPECT_ROTATE(step, status, said)                                                          \
    do {                                                                                           \
        char text_[4096];                                                                          \
        int got_ = S_rotate(step, text_, sizeof text_);                                            \
        if (got_ != (status) || strstr(text_, said) == NULL)                                       \
            TEST_FAIL_("--platform-key-rotate %s: expected %d saying \"%s\", got %d: %s", step,    \
                       status, said, got_, text_);                                                 \
    } while (0)

static void S_stop(void) { ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0); }

static void S_start(void)
{
    client_release(&S_client);
    API_MUST(api_daemon_start(&S_daemon, S_root, "main", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);
}

/* Copies the file from_dir/from over to_dir/to (0600), byte for byte: a
 * pepper is 32 raw bytes, NULs among them. */
static bool S_copy_between(const char *from_dir, const char *from, const char *to_dir,
                           const char *to)
{
    char path[TEST_DAEMON_PATH_SIZE_MAX + 64];
    static char bytes[S_PEM_SIZE];
    snprintf(path, sizeof path, "%s/%s", from_dir, from);
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return false;
    size_t size = fread(bytes, 1, sizeof bytes, in);
    bool ok = ferror(in) == 0 && size < sizeof bytes;
    fclose(in);
    snprintf(path, sizeof path, "%s/%s", to_dir, to);
    FILE *out = ok ? fopen(path, "wb") : NULL;
    if (out == NULL)
        return false;
    ok = fwrite(bytes, 1, size, out) == size;
    ok = fclose(out) == 0 && ok;
    return ok && chmod(path, 0600) == 0;
}

/* Copies the data directory's file from over its file to. */
static bool S_copy(const char *from, const char *to)
{
    return S_copy_between(S_daemon.data_dir, from, S_daemon.data_dir, to);
}

/* The data directory's file name: whether it is there, 0600. */
static bool S_file_private(const char *name)
{
    char path[TEST_DAEMON_PATH_SIZE_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", S_daemon.data_dir, name);
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    return true;
}

/* GET /v3/certificates as m, its answer checked with m's platform key and
 * serial; the list's serials into serials (count of them into *count) and
 * the public keys of the certificates, decrypted, into keys (the caller
 * frees them). */
static void S_certificates(const struct mh_merchant *m, char serials[2][48], EVP_PKEY *keys[2],
                           size_t *count)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", "/v3/certificates", NULL, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *data = json_object_get(j, "data");
    *count = json_array_size(data);
    ASSERT(*count >= 1 && *count <= 2);
    for (size_t i = 0; i < *count; i++) {
        json_t *item = json_array_get(data, i);
        const char *serial = json_string_value(json_object_get(item, "serial_no"));
        ASSERT(serial != NULL && strlen(serial) < 48);
        snprintf(serials[i], 48, "%s", serial);
        char pem[S_PEM_SIZE];
        ASSERT(mh_certificate_decrypt(m, item, pem, sizeof pem));
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        ASSERT(cert != NULL);
        keys[i] = X509_get_pubkey(cert);
        /* The serial listed is the certificate's own, as an SDK reads it. */
        char hex[64];
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), NULL);
        char *text = BN_bn2hex(bn);
        snprintf(hex, sizeof hex, "%s", text);
        OPENSSL_free(text);
        BN_free(bn);
        X509_free(cert);
        ASSERT(keys[i] != NULL);
        ASSERT(strcasecmp(hex, serial) == 0);
    }
    json_decref(j);
}

static void S_keys_free(EVP_PKEY *keys[2], size_t count)
{
    for (size_t i = 0; i < count; i++)
        EVP_PKEY_free(keys[i]);
}

/* Checks that /metrics tells when the signing certificate expires: the expire_time of the first
 * certificate GET /v3/certificates lists, as m reads it. An operator alerts on it, since
 * merchants' SDKs refuse what an expired certificate signs. */
static void S_expiry_metric_is_the_signing_certificates(const struct mh_merchant *m)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", "/v3/certificates", NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    const char *expire = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "expire_time"));
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    ASSERT(expire != NULL &&
           sscanf(expire, "%4d-%2d-%2dT%2d:%2d:%2d+08:00", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6);
    json_decref(j);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    long long expected_s = (long long)timegm(&tm) - 8 * 3600;
    ASSERT(client_request(&S_client, "GET", "/metrics", NULL, NULL, 0, &res));
    ASSERT_EQ_INT(res.status, 200);
    static const char name[] = "\nqianbao_platform_certificate_expiry_timestamp_seconds ";
    const char *at = strstr(res.body.data, name);
    if (at == NULL)
        TEST_FAIL_("/metrics has no qianbao_platform_certificate_expiry_timestamp_seconds");
    long long got_s = strtoll(at + strlen(name), NULL, 10);
    client_response_release(&res);
    ASSERT_EQ_INT(got_s, expected_s);
}

TEST(one_certificate_signs_before_any_rotation)
{
    // Before any rotation the list holds the one certificate that signs, and no step but begin
    // and cancel has anything to act on; none may run beside the daemon.
    API_MUST(mh_onboard(&S_client, S_admin, -1, &S_merchant));
    snprintf(S_first_serial, sizeof S_first_serial, "%s", S_merchant.platform_serial_no);
    char serials[2][48];
    EVP_PKEY *keys[2];
    size_t count = 0;
    S_certificates(&S_merchant, serials, keys, &count);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(serials[0], S_first_serial);
    S_keys_free(keys, count);
    S_expiry_metric_is_the_signing_certificates(&S_merchant);
    /* It starts nothing: the refusal says what it will not do, and who runs. */
    char running[96];
    snprintf(running, sizeof running,
             "will not rotate the platform key while qianbaod (pid %d) runs", (int)S_daemon.pid);
    EXPECT_ROTATE("begin", 1, running);
    ASSERT(!S_file_private("platform-key-next.pem"));
    S_stop();
    EXPECT_ROTATE("finish", 1, "no rotation is under way");
    EXPECT_ROTATE("cancel", 0, "no rotation was under way");
    char text[sizeof S_root + 32];
    const char *args[] = {"--data-dir", S_daemon.data_dir, "--platform-key-rotate", "later", NULL};
    snprintf(text, sizeof text, "%s/rotate-bad.log", S_root);
    ASSERT_EQ_INT(test_daemon_run(args, text, 60000), 2);
    S_start();
}

TEST(a_begun_rotation_lists_the_next_certificate_while_the_old_one_signs)
{
    // begin makes the next key and certificate (0600); from the next start the list has the
    // signing certificate first and the next one after it, each decrypting with the API v3 key
    // to a certificate of its own serial; every answer is still signed by the first. Beginning
    // again is refused.
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    ASSERT(S_file_private("platform-key-next.pem"));
    ASSERT(S_file_private("platform-cert-next.pem"));
    EXPECT_ROTATE("begin", 1, "a rotation is under way");
    S_start();
    char serials[2][48];
    EVP_PKEY *keys[2];
    size_t count = 0;
    S_certificates(&S_merchant, serials, keys, &count);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(serials[0], S_first_serial);
    ASSERT(strcmp(serials[1], S_first_serial) != 0);
    snprintf(S_next_serial, sizeof S_next_serial, "%s", serials[1]);
    /* The first certificate's key is the one the merchant was given. */
    ASSERT_EQ_INT(EVP_PKEY_eq(keys[0], S_merchant.platform_key), 1);
    ASSERT(EVP_PKEY_eq(keys[1], S_merchant.platform_key) != 1);
    S_keys_free(keys, count);
}

TEST(a_finished_rotation_signs_with_the_next_key)
{
    // finish, the daemon stopped: from the next start the list holds the new certificate alone
    // and every answer is signed under its serial, which the merchant checks with the key it
    // fetched during the rotation, and no longer with the old one. The old key and certificate
    // are kept as platform-*-retired.pem; the next files are gone; a merchant onboarded now is
    // given the new key.
    S_stop();
    EXPECT_ROTATE("finish", 0, "finished");
    ASSERT(!S_file_private("platform-key-next.pem"));
    ASSERT(!S_file_private("platform-cert-next.pem"));
    ASSERT(S_file_private("platform-key-retired.pem"));
    ASSERT(S_file_private("platform-cert-retired.pem"));
    S_start();

    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &S_merchant, "GET", "/v3/certificates", NULL, &res), 200);
    ASSERT(!mh_response_verified(&S_merchant, &res)); /* the old serial and key */
    char serial[64];
    ASSERT(client_response_header(&res, "Wechatpay-Serial", serial, sizeof serial) != NULL);
    ASSERT_EQ_STR(serial, S_next_serial);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *data = json_object_get(j, "data");
    ASSERT_EQ_INT(json_array_size(data), 1);
    char pem[S_PEM_SIZE];
    ASSERT(mh_certificate_decrypt(&S_merchant, json_array_get(data, 0), pem, sizeof pem));
    json_decref(j);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ASSERT(cert != NULL);
    /* The SDK's turn: the certificate it fetched checks the new signatures. */
    struct mh_merchant rotated = S_merchant;
    rotated.platform_key = X509_get_pubkey(cert);
    X509_free(cert);
    snprintf(rotated.platform_serial_no, sizeof rotated.platform_serial_no, "%s", S_next_serial);
    char serials[2][48];
    EVP_PKEY *keys[2];
    size_t count = 0;
    S_certificates(&rotated, serials, keys, &count);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(serials[0], S_next_serial);
    S_keys_free(keys, count);
    S_expiry_metric_is_the_signing_certificates(&rotated);
    EVP_PKEY_free(rotated.platform_key);

    struct mh_merchant late;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &late));
    ASSERT_EQ_STR(late.platform_serial_no, S_next_serial);
    S_certificates(&late, serials, keys, &count);
    ASSERT_EQ_INT(count, 1);
    S_keys_free(keys, count);
    mh_release(&late);
}

TEST(a_cancelled_rotation_leaves_the_signing_key_alone)
{
    // begin, then cancel: the next files are gone, and the list and the signatures are as
    // before the begin. A next certificate whose key is lost stops the start, as the signing
    // one's does, until the rotation is cancelled.
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    char path[TEST_DAEMON_PATH_SIZE_MAX + 64];
    snprintf(path, sizeof path, "%s/platform-key-next.pem", S_daemon.data_dir);
    ASSERT_EQ_INT(remove(path), 0);
    struct test_daemon refused;
    memset(&refused, 0, sizeof refused);
    char log_path[sizeof S_root + 32];
    snprintf(log_path, sizeof log_path, "%s/refused.log", S_root);
    ASSERT(!test_daemon_start(&refused, S_daemon.data_dir, log_path, NULL));
    char log[65536];
    ASSERT(test_file_read(log_path, log, sizeof log));
    ASSERT(strstr(log, "platform-cert-next.pem\" is there without its key") != NULL);
    EXPECT_ROTATE("cancel", 0, "cancelled");
    ASSERT(!S_file_private("platform-key-next.pem"));
    ASSERT(!S_file_private("platform-cert-next.pem"));
    S_start();
    struct mh_merchant late;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &late));
    ASSERT_EQ_STR(late.platform_serial_no, S_next_serial);
    char serials[2][48];
    EVP_PKEY *keys[2];
    size_t count = 0;
    S_certificates(&late, serials, keys, &count);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(serials[0], S_next_serial);
    S_keys_free(keys, count);
    mh_release(&late);
}

TEST(a_finish_cut_short_completes_when_run_again)
{
    // A finish stopped between its two renames leaves the next key where the signing one was
    // and its certificate still apart: the daemon refuses to start on a key that does not
    // match its certificate, and finish, run again, completes the rotation.
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    /* What finish does first: the signing key and certificate kept as the
     * retired ones; then the first rename. */
    ASSERT(S_copy("platform-key.pem", "platform-key-retired.pem"));
    ASSERT(S_copy("platform-cert.pem", "platform-cert-retired.pem"));
    char from[TEST_DAEMON_PATH_SIZE_MAX + 64], to[TEST_DAEMON_PATH_SIZE_MAX + 64];
    snprintf(from, sizeof from, "%s/platform-key-next.pem", S_daemon.data_dir);
    snprintf(to, sizeof to, "%s/platform-key.pem", S_daemon.data_dir);
    ASSERT_EQ_INT(rename(from, to), 0);
    struct test_daemon refused;
    memset(&refused, 0, sizeof refused);
    char log_path[sizeof S_root + 32];
    snprintf(log_path, sizeof log_path, "%s/refused-half.log", S_root);
    ASSERT(!test_daemon_start(&refused, S_daemon.data_dir, log_path, NULL));
    EXPECT_ROTATE("finish", 0, "finished");
    ASSERT(!S_file_private("platform-cert-next.pem"));
    S_start();
    struct mh_merchant late;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &late));
    ASSERT(strcmp(late.platform_serial_no, S_next_serial) != 0);
    char serials[2][48];
    EVP_PKEY *keys[2];
    size_t count = 0;
    S_certificates(&late, serials, keys, &count);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(serials[0], late.platform_serial_no);
    S_keys_free(keys, count);
    mh_release(&late);
}

/* Runs sql on the stopped daemon's database. */
static void S_sql(const char *sql)
{
    char path[TEST_DAEMON_PATH_SIZE_MAX + 64];
    snprintf(path, sizeof path, "%s/qianbao.db", S_daemon.data_dir);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A start of the stopped daemon that is refused, its log into log. */
static void S_start_refused(const char *name, char *log, size_t log_size)
{
    struct test_daemon refused;
    memset(&refused, 0, sizeof refused);
    char log_path[sizeof S_root + 64];
    snprintf(log_path, sizeof log_path, "%s/%s.log", S_root, name);
    ASSERT(!test_daemon_start(&refused, S_daemon.data_dir, log_path, NULL));
    ASSERT(test_file_read(log_path, log, log_size));
}

/* Makes another installation (a daemon started and stopped on ROOT/name,
 * into other) and puts its platform key and certificate in the stopped
 * daemon's data directory, the directory's own kept as *.mine. */
static void S_foreign_platform_key(const char *name, struct test_daemon *other)
{
    char other_admin[API_TOKEN_SIZE_MAX];
    API_MUST(api_daemon_start(other, S_root, name, NULL, other_admin));
    ASSERT_EQ_INT(test_daemon_stop(other), 0);
    ASSERT(S_copy("platform-key.pem", "platform-key.mine"));
    ASSERT(S_copy("platform-cert.pem", "platform-cert.mine"));
    const char *files[] = {"platform-key.pem", "platform-cert.pem"};
    for (size_t i = 0; i < 2; i++)
        ASSERT(S_copy_between(other->data_dir, files[i], S_daemon.data_dir, files[i]));
}

TEST(rotations_without_a_start_between_keep_the_database_on_the_signing_key)
{
    // finish itself moves the database on to the key it makes the signing one: two rotations
    // with no start between, or a cancelled one and then another, start on the last key; and
    // after a finish, another installation's key is refused at once.
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    EXPECT_ROTATE("finish", 0, "finished");
    EXPECT_ROTATE("begin", 0, "begun");
    EXPECT_ROTATE("finish", 0, "finished");
    S_start();
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    S_start();
    S_stop();
    EXPECT_ROTATE("cancel", 0, "cancelled");
    EXPECT_ROTATE("begin", 0, "begun");
    EXPECT_ROTATE("finish", 0, "finished");
    S_start();
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    EXPECT_ROTATE("finish", 0, "finished");
    struct test_daemon other;
    S_foreign_platform_key("stranger", &other);
    char log[65536];
    S_start_refused("refused-after-finish", log, sizeof log);
    ASSERT(strstr(log, "is not the one the database") != NULL);
    ASSERT(S_copy("platform-key.mine", "platform-key.pem"));
    ASSERT(S_copy("platform-cert.mine", "platform-cert.pem"));
    S_start();
}

TEST(a_finish_takes_only_the_next_key_begin_made)
{
    // begin records its next key in the database: another installation's next key put in its
    // place is refused by finish. A finish that stopped after naming the next key in the
    // database (here: the retired copy cannot be written) is run again, never cancelled, which
    // would remove the only key the database takes.
    S_stop();
    EXPECT_ROTATE("begin", 0, "begun");
    struct test_daemon other;
    char other_admin[API_TOKEN_SIZE_MAX];
    API_MUST(api_daemon_start(&other, S_root, "third", NULL, other_admin));
    ASSERT_EQ_INT(test_daemon_stop(&other), 0);
    ASSERT(S_copy_between(other.data_dir, "platform-key.pem", S_daemon.data_dir,
                          "platform-key-next.pem"));
    ASSERT(S_copy_between(other.data_dir, "platform-cert.pem", S_daemon.data_dir,
                          "platform-cert-next.pem"));
    EXPECT_ROTATE("finish", 1, "is not the key --platform-key-rotate begin made");
    EXPECT_ROTATE("cancel", 0, "cancelled");

    EXPECT_ROTATE("begin", 0, "begun");
    char retired[TEST_DAEMON_PATH_SIZE_MAX + 64];
    snprintf(retired, sizeof retired, "%s/platform-key-retired.pem", S_daemon.data_dir);
    remove(retired);
    ASSERT_EQ_INT(mkdir(retired, 0700), 0);
    EXPECT_ROTATE("finish", 1, "platform-key-retired.pem");
    ASSERT_EQ_INT(rmdir(retired), 0);
    EXPECT_ROTATE("cancel", 1, "run --platform-key-rotate finish again");
    EXPECT_ROTATE("finish", 0, "finished");
    S_start();
}

TEST(another_installations_platform_key_is_refused)
{
    // A restore that puts another installation's platform key and certificate beside the
    // database (a staging box's, say) would have it sign for this one, and merchants' SDKs,
    // which fetch GET /v3/certificates with their API v3 key, would trust it: the start is
    // refused, as for another pepper. The key of the last rotation above is the database's.
    S_stop();
    struct test_daemon other;
    S_foreign_platform_key("other", &other);
    char log[65536];
    S_start_refused("refused-other", log, sizeof log);
    ASSERT(strstr(log, "platform-key.pem\" is not the one the database") != NULL);

    /* A database of a version before the check learns its key on its first
     * start; not from a start refused for another secret, which would lock
     * its own key out once restored. */
    S_sql("DELETE FROM meta WHERE key = 'key_check_platform'");
    ASSERT(S_copy("pepper", "pepper.mine"));
    ASSERT(S_copy_between(other.data_dir, "pepper", S_daemon.data_dir, "pepper"));
    S_start_refused("refused-pepper", log, sizeof log);
    ASSERT(strstr(log, "pepper\" is not the one the database") != NULL);
    ASSERT(S_copy("pepper.mine", "pepper"));
    ASSERT(S_copy("platform-key.mine", "platform-key.pem"));
    ASSERT(S_copy("platform-cert.mine", "platform-cert.pem"));
    S_start();
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &S_merchant, "GET", "/v3/certificates", NULL, &res), 200);
    client_response_release(&res);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(one_certificate_signs_before_any_rotation);
    RUN(a_begun_rotation_lists_the_next_certificate_while_the_old_one_signs);
    RUN(a_finished_rotation_signs_with_the_next_key);
    RUN(a_cancelled_rotation_leaves_the_signing_key_alone);
    RUN(a_finish_cut_short_completes_when_run_again);
    RUN(rotations_without_a_start_between_keep_the_database_on_the_signing_key);
    RUN(a_finish_takes_only_the_next_key_begin_made);
    RUN(another_installations_platform_key_is_refused);

    mh_release(&S_merchant);
    return api_suite_end(&suite);
}
