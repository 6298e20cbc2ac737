/*
 * test_merchant_bill_large.c — a busy day's trade bill over HTTP, black-box:
 * thousands of trades, far more than one reply may hold in memory, are
 * downloaded whole (streamed, as CSV and as gzip), in time order, each
 * exactly once, with the right summary, and the file's SHA-1 is the one
 * /v3/bill/tradebill answered.
 *
 * Paying thousands of orders over the API would take minutes, so the test
 * pays one order and one refund over the API, stops the daemon, copies that
 * order S_SEEDED times in its database (new ids, amounts of their own, and
 * times within a few milliseconds, so that many rows share a time and the
 * pages of the bill must be cut between equal times), moves every trade
 * back one day (a bill is only served for a day that has ended) and starts
 * the daemon again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <sqlite3.h>
#include <zlib.h>

#include "api/lib/suite.h"
#include "api/refund_helpers.h"

#define S_SEEDED 5999 /* orders copied into the database: 6,000 payments, 1 refund */

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

static int S_int64_row(void *arg, int columns, char **values, char **names)
{
    (void)names;
    long long *out = arg;
    for (int i = 0; i < columns; i++)
        out[i] = values[i] != NULL ? strtoll(values[i], NULL, 10) : 0;
    return 0;
}

/* The sums the bill must show, from the database itself: payments, the
 * orders' amounts, their fees; the refunds' amounts and fees given back. */
struct S_expect {
    long long payments, paid_minor, fee_minor, refunds, refund_minor, refund_fee_minor;
};

/* Copies m's paid order S_SEEDED times and moves every trade back one day,
 * with the daemon stopped; the sums into expect. */
static void S_seed_and_backdate(const struct mh_merchant *m, struct S_expect *expect)
{
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char path[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(path, sizeof path, "%s/qianbao.db", S_daemon.data_dir);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    char sql[4096];
    snprintf(sql, sizeof sql,
             "BEGIN;"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO orders (transaction_id, mchid, out_trade_no, appid, trade_type,"
             " request_hash, description, attach, notify_url, currency, total_minor, fee_minor,"
             " payer_openid, payer_user_id, payment_id, state, pay_token, entry_id,"
             " created_at_ms, expires_at_ms, success_at_ms, closed_at_ms, updated_at_ms)"
             " SELECT printf('4%%027d', n.i), o.mchid, printf('big-%%05d', n.i), o.appid,"
             " o.trade_type, o.request_hash, printf('item %%d', n.i), o.attach, o.notify_url,"
             " o.currency, 1000 + n.i %% 500, (1000 + n.i %% 500) * 6 / 1000, o.payer_openid,"
             " o.payer_user_id, o.payment_id, o.state, printf('seed-%%d', n.i), o.entry_id,"
             " o.created_at_ms, o.expires_at_ms, o.success_at_ms - n.i %% 3, o.closed_at_ms,"
             " o.updated_at_ms"
             " FROM n, orders o WHERE o.mchid = '%s' AND o.out_trade_no = 'big-first';"
             "UPDATE orders SET success_at_ms = success_at_ms - 86400000,"
             " created_at_ms = created_at_ms - 86400000 WHERE success_at_ms > 0;"
             "UPDATE refunds SET success_at_ms = success_at_ms - 86400000,"
             " created_at_ms = created_at_ms - 86400000;"
             "COMMIT;",
             S_SEEDED, m->mchid);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    long long sums[3] = {0, 0, 0};
    snprintf(sql, sizeof sql,
             "SELECT count(*), sum(total_minor), sum(fee_minor) FROM orders"
             " WHERE mchid = '%s' AND success_at_ms > 0",
             m->mchid);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, S_int64_row, sums, NULL), SQLITE_OK);
    expect->payments = sums[0], expect->paid_minor = sums[1], expect->fee_minor = sums[2];
    snprintf(sql, sizeof sql,
             "SELECT count(*), sum(refund_minor), sum(fee_refund_minor) FROM refunds"
             " WHERE mchid = '%s' AND success_at_ms > 0",
             m->mchid);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, S_int64_row, sums, NULL), SQLITE_OK);
    expect->refunds = sums[0], expect->refund_minor = sums[1], expect->refund_fee_minor = sums[2];
    sqlite3_close(db);
    client_release(&S_client);
    API_MUST(api_daemon_start(&S_daemon, S_root, "billlarge", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);
}

/* GET tradebill with query (signed answer), then the file its link names:
 * the bytes into file, the answered hash into hash. */
static void S_bill(const struct mh_merchant *m, const char *query, struct client_response *file,
                   char hash[64])
{
    char path[256];
    snprintf(path, sizeof path, "/v3/bill/tradebill?%s", query);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", path, NULL, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    snprintf(hash, 64, "%s", api_json_str(&res, "hash_value"));
    const char *url = api_json_str(&res, "download_url");
    ASSERT(strncmp(url, S_daemon.base_url, strlen(S_daemon.base_url)) == 0);
    char download[256];
    snprintf(download, sizeof download, "%s", url + strlen(S_daemon.base_url));
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", download, NULL, file), 200);
}

/* Money in yuan, as the bill prints it: "1234.56" (fraction digits decimals). */
static void S_yuan(long long minor, int decimals, char *out, size_t out_size)
{
    const char *sign = minor < 0 ? "-" : "";
    long long v = minor < 0 ? -minor : minor;
    snprintf(out, out_size, "%s%lld.%02lld%s", sign, v / 100, v % 100, decimals == 5 ? "000" : "");
}

/* Checks a whole CSV of the type ALL (refunds true) or SUCCESS: the lines,
 * each seeded order exactly once, time order, and the summary line. */
static void S_check(const char *csv, size_t size, const struct S_expect *e, bool refunds)
{
    ASSERT_EQ_INT(strlen(csv), size);
    long long trades = e->payments + (refunds ? e->refunds : 0);
    size_t lines = 0;
    for (const char *p = csv; (p = strstr(p, "\r\n")) != NULL; p += 2)
        lines++;
    /* the header, one line per trade, the summary's header and line */
    ASSERT_EQ_INT(lines, (size_t)(1 + trades + 2));
    static unsigned char seen[S_SEEDED + 1];
    memset(seen, 0, sizeof seen);
    long long seeded = 0, refund_lines = 0;
    char last_time[24] = "";
    const char *line = strstr(csv, "\r\n") + 2;
    for (long long i = 0; i < trades; i++) {
        const char *end = strstr(line, "\r\n");
        ASSERT(end != NULL && line[0] == '`');
        char when[24];
        snprintf(when, sizeof when, "%.19s", line + 1);
        ASSERT(strcmp(when, last_time) >= 0);
        snprintf(last_time, sizeof last_time, "%s", when);
        const char *no = strstr(line, ",`big-");
        ASSERT(no != NULL && no < end);
        if (strncmp(no, ",`big-first,", 12) != 0) {
            long n = strtol(no + 6, NULL, 10);
            ASSERT(n >= 1 && n <= S_SEEDED);
            ASSERT(seen[n] == 0);
            seen[n] = 1;
            seeded++;
        }
        const char *state = strstr(line, ",`REFUND,");
        if (state != NULL && state < end)
            refund_lines++;
        line = end + 2;
    }
    ASSERT_EQ_INT(seeded, S_SEEDED);
    ASSERT_EQ_INT(refund_lines, refunds ? e->refunds : 0);
    char summary[512], settled[32], refund[32], fee[32];
    S_yuan(e->paid_minor, 2, settled, sizeof settled);
    S_yuan(refunds ? e->refund_minor : 0, 2, refund, sizeof refund);
    S_yuan(e->fee_minor - (refunds ? e->refund_fee_minor : 0), 5, fee, sizeof fee);
    snprintf(summary, sizeof summary,
             "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,"
             "申请退款总金额\r\n`%lld,`%s,`%s,`0.00,`%s,`%s,`%s\r\n",
             trades, settled, refund, fee, settled, refund);
    ASSERT_EQ_STR(line, summary);
}

/* The gzip body unpacked (at most 8 MiB); the caller frees it. */
static char *S_gunzip(const struct client_response *file, size_t *size)
{
    ASSERT(file->body.size > 18 && (unsigned char)file->body.data[0] == 0x1f &&
           (unsigned char)file->body.data[1] == 0x8b);
    size_t cap = 8 * 1024 * 1024;
    unsigned char *plain = malloc(cap + 1);
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)file->body.data;
    z.avail_in = (unsigned)file->body.size;
    z.next_out = plain;
    z.avail_out = (unsigned)cap;
    ASSERT_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
    ASSERT_EQ_INT(z.avail_in, 0u); /* one gzip member, nothing after it */
    *size = cap - z.avail_out;
    inflateEnd(&z);
    plain[*size] = '\0';
    return (char *)plain;
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
 * written for m: exit 0, the file is csv (csv_size bytes), the JSON says
 * verified. */
static void S_cli_bill(const struct mh_merchant *m, const char *date, const char *csv,
                       size_t csv_size)
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
    size_t cap = 4 * 1024 * 1024;
    char *file = malloc(cap);
    ASSERT(test_file_read(output, file, cap));
    ASSERT_EQ_INT(strlen(file), csv_size);
    ASSERT(memcmp(file, csv, csv_size) == 0);
    free(file);
    snprintf(path, sizeof path, "%s/out.json", dir);
    ASSERT(test_file_read(path, text, sizeof text));
    ASSERT(strstr(text, "\"verified\":true") != NULL);
}

TEST(a_busy_days_bill_is_served_whole_and_matches_its_hash)
{
    // Six thousand trades make a file of about 2 MiB: more than one reply holds. It is
    // streamed, unsigned (the signed tradebill answer's hash is the check), every trade once.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 100000));
    char transaction_id[32];
    rh_order_paid_as(&S_client, &m, &u, "big-first", 12345, "tea", NULL, transaction_id);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds",
                          "{\"out_trade_no\":\"big-first\",\"out_refund_no\":\"R-big-1\","
                          "\"amount\":{\"refund\":5000,\"total\":12345,\"currency\":\"CNY\"}}",
                          &res),
                  200);
    client_response_release(&res);
    struct S_expect e;
    S_seed_and_backdate(&m, &e);
    ASSERT_EQ_INT(e.payments, S_SEEDED + 1);
    ASSERT_EQ_INT(e.refunds, 1);

    char date[16], query[128], hash[64], sha1[41], sig[MH_SIGNATURE_SIZE];
    mh_bill_date(0, 1, date);
    snprintf(query, sizeof query, "bill_date=%s", date);
    struct client_response file;
    S_bill(&m, query, &file, hash);
    ASSERT(file.body.size > 1024 * 1024); /* more than one reply (HTTP_REPLY_SIZE_MAX) */
    ASSERT(client_response_header(&file, "Wechatpay-Signature", sig, sizeof sig) == NULL);
    mh_sha1_hex(file.body.data, file.body.size, sha1);
    ASSERT_EQ_STR(sha1, hash);
    char *csv = strndup(file.body.data, file.body.size);
    size_t csv_size = file.body.size;
    client_response_release(&file);
    S_check(csv, csv_size, &e, true);
    /* The CLI takes the unsigned stream on the strength of the signed hash. */
    S_cli_bill(&m, date, csv, csv_size);

    /* gzip: streamed too, one member that unpacks to the same bytes. */
    snprintf(query, sizeof query, "bill_date=%s&tar_type=GZIP", date);
    S_bill(&m, query, &file, hash);
    ASSERT_EQ_STR(hash, sha1);
    size_t plain_size = 0;
    char *plain = S_gunzip(&file, &plain_size);
    client_response_release(&file);
    ASSERT_EQ_INT(plain_size, csv_size);
    ASSERT(memcmp(plain, csv, csv_size) == 0);
    free(plain);

    /* SUCCESS: the payments alone, its own hash. */
    snprintf(query, sizeof query, "bill_date=%s&bill_type=SUCCESS", date);
    S_bill(&m, query, &file, hash);
    mh_sha1_hex(file.body.data, file.body.size, sha1);
    ASSERT_EQ_STR(sha1, hash);
    char *success = strndup(file.body.data, file.body.size);
    S_check(success, file.body.size, &e, false);
    client_response_release(&file);
    free(success);

    /* REFUND: one line, small enough to be answered whole and signed. */
    snprintf(query, sizeof query, "bill_date=%s&bill_type=REFUND", date);
    S_bill(&m, query, &file, hash);
    ASSERT(client_response_header(&file, "Wechatpay-Signature", sig, sizeof sig) != NULL);
    mh_sha1_hex(file.body.data, file.body.size, sha1);
    ASSERT_EQ_STR(sha1, hash);
    ASSERT(strstr(file.body.data, "\r\n`1,`0.00,`50.00,`0.00,") != NULL);
    client_response_release(&file);
    free(csv);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "billlarge", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(a_busy_days_bill_is_served_whole_and_matches_its_hash);
    return api_suite_end(&suite);
}
