/*
 * test_merchant_bill.c — a merchant's daily trade bill over HTTP, black-box,
 * as a WeChat Pay SDK asks for it: the date rules and their codes, the
 * download link and its token, the CSV in WeChat's layout, its SHA-1, and
 * the gzip form. A bill is only served for a day that has ended, so the
 * test pays orders and refunds one today, stops the daemon, moves those
 * orders and the refund back one day in its database (nothing else in the
 * file refers to their times), and starts it again.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <sqlite3.h>
#include <zlib.h>

#include "api/lib/suite.h"
#include "api/refund_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* mh_response_verified for a body that may hold NUL bytes (gzip). */
static bool S_verified_binary(const struct mh_merchant *m, const struct client_response *res)
{
    char ts[32], nonce[80], sig[MH_SIGNATURE_SIZE];
    if (client_response_header(res, "Wechatpay-Timestamp", ts, sizeof ts) == NULL ||
        client_response_header(res, "Wechatpay-Nonce", nonce, sizeof nonce) == NULL ||
        client_response_header(res, "Wechatpay-Signature", sig, sizeof sig) == NULL)
        return false;
    size_t head = strlen(ts) + strlen(nonce) + 2;
    size_t size = head + res->body.size + 1;
    char *message = malloc(size);
    snprintf(message, size, "%s\n%s\n", ts, nonce);
    if (res->body.size > 0)
        memcpy(message + head, res->body.data, res->body.size);
    message[size - 1] = '\n';
    bool ok = mh_verify(m->platform_key, message, size, sig);
    free(message);
    return ok;
}

/* GET tradebill with query, then the file its link names: the bytes into
 * file, the answered hash into hash. */
static void S_bill(const struct mh_merchant *m, const char *query, struct client_response *file,
                   char hash[64])
{
    char path[256];
    snprintf(path, sizeof path, "/v3/bill/tradebill?%s", query);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", path, NULL, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "hash_type"), "SHA1");
    snprintf(hash, 64, "%s", api_json_str(&res, "hash_value"));
    const char *url = api_json_str(&res, "download_url");
    ASSERT(strncmp(url, S_daemon.base_url, strlen(S_daemon.base_url)) == 0);
    char download[256];
    snprintf(download, sizeof download, "%s", url + strlen(S_daemon.base_url));
    ASSERT(strncmp(download, "/v3/billdownload/file?token=", 28) == 0);
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", download, NULL, file), 200);
    ASSERT(S_verified_binary(m, file));
}

/* Moves every paid order back by one day, with the daemon stopped. */
static void S_backdate_orders(void)
{
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char path[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(path, sizeof path, "%s/qianbao.db", S_daemon.data_dir);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(db,
                               "UPDATE orders SET success_at_ms = success_at_ms - 86400000,"
                               " created_at_ms = created_at_ms - 86400000 WHERE success_at_ms > 0;"
                               "UPDATE refunds SET success_at_ms = success_at_ms - 86400000,"
                               " created_at_ms = created_at_ms - 86400000",
                               NULL, NULL, NULL),
                  SQLITE_OK);
    sqlite3_close(db);
    client_release(&S_client);
    API_MUST(api_daemon_start(&S_daemon, S_root, "bill", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);
}

/* The base64 body of key's PEM (PKCS#8 or SubjectPublicKeyInfo) into out. */
static void S_key_b64(EVP_PKEY *key, bool private_key, char *out, size_t out_size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    ASSERT(private_key ? PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1
                       : PEM_write_bio_PUBKEY(bio, key) == 1);
    char *pem = NULL;
    long size = BIO_get_mem_data(bio, &pem);
    size_t used = 0;
    const char *body = (const char *)memchr(pem, '\n', (size_t)size) + 1;
    const char *end = strstr(body, "-----END");
    for (const char *p = body; p < end && used + 1 < out_size; p++)
        if (*p != '\n')
            out[used++] = *p;
    out[used] = '\0';
    BIO_free(bio);
}

/* `qianbao merchant bill DATE --output FILE --json` with a merchant profile
 * written for m: exit 0, the file is csv, the JSON says verified. */
static void S_cli_bill(const struct mh_merchant *m, const char *date, const char *csv)
{
    char dir[700], path[800], text[12288], key[4096], platform[1024];
    snprintf(dir, sizeof dir, "%s/cli", S_root);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/qianbao", dir);
    mkdir(path, 0700);
    S_key_b64(m->key, true, key, sizeof key);
    S_key_b64(m->platform_key, false, platform, sizeof platform);
    snprintf(text, sizeof text,
             "kind=merchant\nserver=%s\nmchid=%s\nappid=%s\nserial_no=%s\napiv3_key=%s\n"
             "platform_serial_no=%s\nprivate_key=%s\nplatform_public_key=%s\n",
             S_daemon.base_url, m->mchid, m->appid, m->serial_no, m->apiv3_key,
             m->platform_serial_no, key, platform);
    snprintf(path, sizeof path, "%s/qianbao/merchant", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
    char output[800], command[2400];
    snprintf(output, sizeof output, "%s/bill.csv", dir);
    snprintf(command, sizeof command,
             "XDG_CONFIG_HOME='%s' '%s/qianbao' --server '%s' merchant bill %s --output '%s' "
             "--json > '%s/out.json'",
             dir, getenv("QB_BUILD_DIR"), S_daemon.base_url, date, output, dir);
    int status = system(command);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    static char file[65536];
    ASSERT(test_file_read(output, file, sizeof file));
    ASSERT_EQ_STR(file, csv);
    snprintf(path, sizeof path, "%s/out.json", dir);
    ASSERT(test_file_read(path, text, sizeof text));
    ASSERT(strstr(text, "\"verified\":true") != NULL);
}

TEST(bill_dates_are_checked_as_wechat_checks_them)
{
    // Only days that have ended, within three months, are served; each refusal carries WeChat's
    // code and is signed like every answer.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    char path[128], date[16];
    mh_expect_get(&S_client, &m, 0, "/v3/bill/tradebill", 400, "PARAM_ERROR");
    mh_expect_get(&S_client, &m, 0, "/v3/bill/tradebill?bill_date=2026-02-30", 400, "PARAM_ERROR");
    mh_expect_get(&S_client, &m, 0, "/v3/bill/tradebill?bill_date=20261128", 400, "PARAM_ERROR");
    mh_bill_date(0, 1, date);
    snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s&bill_type=PAID", date);
    mh_expect_get(&S_client, &m, 0, path, 400, "PARAM_ERROR");
    snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s&tar_type=ZIP", date);
    mh_expect_get(&S_client, &m, 0, path, 400, "PARAM_ERROR");
    mh_bill_date(0, 0, date);
    snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, 0, path, 400, "STATEMENT_CREATING");
    mh_bill_date(0, -1, date);
    snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, 0, path, 400, "INVALID_REQUEST");
    mh_bill_date(0, 100, date);
    snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, 0, path, 400, "INVALID_REQUEST");
    mh_bill_date(0, 1, date);
    snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, 0, path, 400, "NO_STATEMENT_EXIST");
    mh_expect_get(&S_client, &m, 0, "/v3/billdownload/file?token=0123", 404, "NOT_FOUND");
    mh_expect_get(&S_client, &m, 0, "/v3/billdownload/file", 404, "NOT_FOUND");
    mh_release(&m);
}

TEST(the_bill_lists_the_days_payments_in_wechats_layout_and_hash)
{
    // Yesterday's paid orders come back as WeChat's CSV, whose SHA-1 is the one answered with
    // the link; the gzip form unpacks to the same bytes; a link is the merchant's alone.
    struct mh_merchant m, other;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 100000));
    char transaction_id[32];
    rh_order_paid_as(&S_client, &m, &u, "bill-0001", 12345, "咖啡", NULL, transaction_id);
    rh_order_paid_as(&S_client, &m, &u, "bill-0002", 100, "cake, \\\"large\\\"", NULL,
                     transaction_id);
    char body[512];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"unpaid\",\"out_trade_no\":"
             "\"bill-0003\",\"notify_url\":\"https://example.com/n\",\"amount\":{\"total\":7}}",
             m.appid, m.mchid);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    client_response_release(&res);
    /* ¥50.00 of the ¥123.45 order back: ¥0.30 of its ¥0.74 fee returns. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds",
                          "{\"out_trade_no\":\"bill-0001\",\"out_refund_no\":\"R-bill-1\","
                          "\"amount\":{\"refund\":5000,\"total\":12345,\"currency\":\"CNY\"}}",
                          &res),
                  200);
    char refund_id[64];
    snprintf(refund_id, sizeof refund_id, "%s", api_json_str(&res, "refund_id"));
    client_response_release(&res);
    S_backdate_orders();

    char date[16], query[128], hash[64], sha1[41];
    mh_bill_date(0, 1, date);
    snprintf(query, sizeof query, "bill_date=%s", date);
    struct client_response file;
    S_bill(&m, query, &file, hash);
    mh_sha1_hex(file.body.data, file.body.size, sha1);
    ASSERT_EQ_STR(sha1, hash);
    char *csv = strndup(file.body.data, file.body.size);
    client_response_release(&file);
    ASSERT(strncmp(csv, "交易时间,公众账号ID,商户号,", strlen("交易时间,公众账号ID,商户号,")) == 0);
    char expect[512];
    snprintf(expect, sizeof expect, "`%s,`%s,`0,`,`", m.appid, m.mchid);
    ASSERT(strstr(csv, expect) != NULL);
    ASSERT(strstr(csv, "`bill-0001,`") != NULL);
    ASSERT(strstr(csv, "`NATIVE,`SUCCESS,`OTHERS,`CNY,`123.45,`0.00,`,`,`0.00,`0.00,`,`,`咖啡,`,"
                       "`0.74000,`0.60%,`123.45,`0.00,`\r\n") != NULL);
    ASSERT(strstr(csv, ",\"`cake, \"\"large\"\"\",") != NULL);
    ASSERT(strstr(csv, "bill-0003") == NULL);
    ASSERT(strstr(csv, "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,"
                       "订单总金额,申请退款总金额\r\n`3,`124.45,`50.00,`0.00,`0.45000,`124.45,"
                       "`50.00\r\n") != NULL);
    /* The refund's line: nothing settled, the refund and the fee share given back. */
    char refund_line[512];
    snprintf(refund_line, sizeof refund_line,
             "`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`%s,`R-bill-1,`50.00,`0.00,`ORIGINAL,"
             "`SUCCESS,`咖啡,`,`-0.30000,`0.60%%,`0.00,`50.00,`\r\n",
             refund_id);
    ASSERT(strstr(csv, refund_line) != NULL);
    ASSERT(strstr(csv, date) != NULL); /* the rows' times are of that day */

    /* SUCCESS has the payments without refund columns; REFUND the refund alone, with its
     * application and success times. */
    snprintf(query, sizeof query, "bill_date=%s&bill_type=SUCCESS", date);
    S_bill(&m, query, &file, hash);
    ASSERT(strstr(file.body.data, "`NATIVE,`SUCCESS,`OTHERS,`CNY,`123.45,`0.00,`咖啡,`,"
                                  "`0.74000,`0.60%,`123.45,`\r\n") != NULL);
    ASSERT(strstr(file.body.data, "R-bill-1") == NULL);
    ASSERT(strstr(file.body.data, "\r\n`2,`124.45,`0.00,`0.00,`0.75000,`124.45,`0.00\r\n") !=
           NULL);
    client_response_release(&file);
    snprintf(query, sizeof query, "bill_date=%s&bill_type=REFUND", date);
    S_bill(&m, query, &file, hash);
    ASSERT(strstr(file.body.data, "`R-bill-1,`50.00,") != NULL);
    ASSERT(strstr(file.body.data, "bill-0002") == NULL);
    ASSERT(strstr(file.body.data, "\r\n`1,`0.00,`50.00,`0.00,`-0.30000,`0.00,`50.00\r\n") !=
           NULL);
    client_response_release(&file);

    /* gzip: the same bill, and the hash is of the unpacked file. */
    snprintf(query, sizeof query, "bill_date=%s&tar_type=GZIP", date);
    S_bill(&m, query, &file, hash);
    ASSERT(file.body.size > 18 && (unsigned char)file.body.data[0] == 0x1f &&
           (unsigned char)file.body.data[1] == 0x8b);
    unsigned char plain[65536];
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)file.body.data;
    z.avail_in = (unsigned)file.body.size;
    z.next_out = plain;
    z.avail_out = sizeof plain;
    ASSERT_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t plain_size = sizeof plain - z.avail_out;
    inflateEnd(&z);
    ASSERT_EQ_INT(plain_size, strlen(csv));
    ASSERT(memcmp(plain, csv, plain_size) == 0);
    mh_sha1_hex(plain, plain_size, sha1);
    ASSERT_EQ_STR(sha1, hash);
    client_response_release(&file);

    /* The CLI downloads the same bill and checks its SHA-1. */
    S_cli_bill(&m, date, csv);

    /* The link is the merchant's alone; a changed token is no link. */
    snprintf(query, sizeof query, "/v3/bill/tradebill?bill_date=%s", date);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", query, NULL, &res), 200);
    char download[256];
    snprintf(download, sizeof download, "%s",
             api_json_str(&res, "download_url") + strlen(S_daemon.base_url));
    client_response_release(&res);
    mh_expect_get(&S_client, &other, 0, download, 404, "NOT_FOUND");
    size_t last = strlen(download) - 1;
    download[last] = download[last] == '0' ? '1' : '0';
    mh_expect_get(&S_client, &m, 0, download, 404, "NOT_FOUND");
    mh_expect_get(&S_client, &other, 0, query, 400, "NO_STATEMENT_EXIST");
    free(csv);
    mh_release(&m);
    mh_release(&other);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "bill", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(bill_dates_are_checked_as_wechat_checks_them);
    RUN(the_bill_lists_the_days_payments_in_wechats_layout_and_hash);
    return api_suite_end(&suite);
}
