/*
 * test_merchant_fundflow.c — a merchant's daily fund-flow bill (资金账单)
 * over HTTP, black-box, as a WeChat Pay SDK asks for it: every movement of
 * the merchant's account in WeChat's columns with its sign and the balance
 * after it, the summary lines, the SHA-1 answered with the link, the gzip
 * form, another merchant's money kept out, and the refusals of bad input.
 *
 * A bill is only served for a day that has ended. The movements are made
 * today; then the daemon is started again with its clock one day ahead
 * (QIANBAO_TEST_CLOCK_OFFSET_MS, test builds only), so that today is its
 * yesterday, and the merchant's signed calls carry that clock's time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "api/lib/suite.h"
#include "api/refund_helpers.h"

#define S_DAY_S 86400

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* A signed call of m at the daemon's clock, a day ahead of ours. */
static long S_call(const struct mh_merchant *m, const char *path, struct client_response *res)
{
    struct mh_options opt;
    memset(&opt, 0, sizeof opt);
    opt.timestamp_offset_s = S_DAY_S;
    return mh_call_opt(&S_client, m, "GET", path, NULL, &opt, res);
}

/* The balance of m now: available and pending together (the late withdrawal's hold is
 * released or captured soon after the daemon starts). */
static void S_v3_balance_is(const struct mh_merchant *m, long long balance)
{
    struct client_response res;
    ASSERT_EQ_INT(S_call(m, "/v3/merchant/fund/balance/BASIC", &res), 200);
    long long available = api_json_int(&res, "available_amount", -1);
    long long pending = api_json_int(&res, "pending_amount", -1);
    client_response_release(&res);
    ASSERT_EQ_INT(available + pending, balance);
}

/* GET fundflowbill with query, then the file its link names: the bytes into
 * file, the answered hash into hash. */
static void S_bill(const struct mh_merchant *m, const char *query, struct client_response *file,
                   char hash[64])
{
    char path[256];
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?%s", query);
    struct client_response res;
    ASSERT_EQ_INT(S_call(m, path, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "hash_type"), "SHA1");
    snprintf(hash, 64, "%s", api_json_str(&res, "hash_value"));
    const char *url = api_json_str(&res, "download_url");
    ASSERT(strncmp(url, S_daemon.base_url, strlen(S_daemon.base_url)) == 0);
    char download[256];
    snprintf(download, sizeof download, "%s", url + strlen(S_daemon.base_url));
    client_response_release(&res);
    ASSERT_EQ_INT(S_call(m, download, file), 200);
}

/* The merchant's own movements, one per line: 业务名称, 收支类型, 收支金额, 账户结余, and the
 * ids WeChat names: 微信支付业务单号, 备注, 业务凭证号. */
struct S_line {
    const char *name, *direction, *amount, *balance;
    const char *business, *remark, *voucher;
};

/* Checks one data line of the file against want: eleven fields, each with
 * WeChat's backtick, the time on date. */
static void S_line_check(const char *line, const char *date, const struct S_line *want)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", line);
    const char *fields[16];
    size_t count = 0;
    char *p = copy;
    while (count < 16) {
        fields[count++] = p;
        char *comma = strchr(p, ',');
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    ASSERT_EQ_INT(count, 11);
    for (size_t i = 0; i < count; i++)
        ASSERT(fields[i][0] == '`');
    ASSERT(strncmp(fields[0] + 1, date, 10) == 0);
    ASSERT_EQ_STR(fields[1] + 1, want->business);
    ASSERT_EQ_STR(fields[3] + 1, want->name);
    ASSERT_EQ_STR(fields[5] + 1, want->direction);
    ASSERT_EQ_STR(fields[6] + 1, want->amount);
    ASSERT_EQ_STR(fields[7] + 1, want->balance);
    ASSERT_EQ_STR(fields[8] + 1, "system");
    ASSERT_EQ_STR(fields[9] + 1, want->remark);
    ASSERT_EQ_STR(fields[10] + 1, want->voucher);
}

/* A merchant paid today (the first day), whose only change the next day is money held for a
 * transfer to a user: held_only_day_has_no_statement reads that next day's bill. */
static struct mh_merchant S_held;
static char S_held_openid[64];

TEST(a_merchant_is_paid_on_the_first_day)
{
    struct api_user payer;
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10000));
    struct api_user payee;
    API_MUST(th_user_new(&S_client, S_admin, &payee));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &S_held));
    char transaction_id[32];
    rh_order_paid(&S_client, &S_held, &payer, "held-0001", 10000, NULL, transaction_id);
    char path[160];
    snprintf(path, sizeof path, "/v1/me/openids/%s", S_held.appid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, payee.token, NULL, &res), 200);
    snprintf(S_held_openid, sizeof S_held_openid, "%s", api_json_str(&res, "openid"));
    client_response_release(&res);
}

TEST(a_day_of_money_only_held_has_no_statement)
{
    // The next day (the daemon's today) the merchant offers a transfer to a user, which holds
    // money and moves none; the day after, that day's fund flow is NO_STATEMENT_EXIST, as for
    // any day the account did not move, not an empty file; the first day's is there.
    char path[160], body[512];
    struct client_response res;
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"HELD000001\",\"transfer_scene_id\":\"1000\","
             "\"openid\":\"%s\",\"transfer_amount\":500,\"transfer_remark\":\"奖励\"}",
             S_held.appid, S_held_openid);
    struct mh_options opt;
    memset(&opt, 0, sizeof opt);
    opt.timestamp_offset_s = S_DAY_S;
    ASSERT_EQ_INT(mh_call_opt(&S_client, &S_held, "POST",
                              "/v3/fund-app/mch-transfer/transfer-bills", body, &opt, &res),
                  200);
    client_response_release(&res);

    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    client_release(&S_client);
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", "172800000", 1);
    API_MUST(api_daemon_start(&S_daemon, S_root, "flow", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);
    char date[16];
    mh_bill_date(0, -1, date); /* the day of the hold, the daemon's yesterday */
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s", date);
    mh_expect_get(&S_client, &S_held, 2 * S_DAY_S, path, 400, "NO_STATEMENT_EXIST");
    mh_bill_date(0, 0, date); /* the first day */
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s", date);
    opt.timestamp_offset_s = 2 * S_DAY_S;
    ASSERT_EQ_INT(mh_call_opt(&S_client, &S_held, "GET", path, NULL, &opt, &res), 200);
    client_response_release(&res);
    mh_release(&S_held);
}

TEST(the_fund_flow_lists_every_movement_with_its_balance_and_the_summary)
{
    // Two payments (¥300.00 and ¥200.00 at 0.6 %), a refund of ¥100.00 (¥0.60 of the fee
    // back), a withdrawal of ¥300.00 (fee ¥0.30) and one of ¥10.00 the bank took back (fee ¥0.10,
    // both given back) of one merchant, and a payment of another: the day's fund flow lists the
    // first merchant's twelve movements in time order with the balance after each and WeChat's
    // summary, and nothing of the other merchant. Each line names the movement as WeChat's bill
    // does: the order's transaction_id for a payment and its fee, the refund id for a refund and
    // the fee it gives back (its voucher "REF" and the order's transaction_id, its reason the
    // remark), the withdrawal's id for a withdrawal, its fee and their return.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 200000));
    API_MUST(th_fund(&S_client, S_admin, &owner, 100)); /* binds the owner's card */
    struct mh_merchant m, other;
    API_MUST(rh_onboard_owned(&S_client, S_admin, owner.id, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    char transaction_id[32], tx1[32], tx2[32], refund_id[40], ref_tx1[40], withdrawal_id[64];
    rh_order_paid(&S_client, &m, &payer, "flow-0001", 30000, NULL, tx1);
    rh_order_paid(&S_client, &m, &payer, "flow-0002", 20000, NULL, tx2);
    rh_order_paid(&S_client, &other, &payer, "flow-0003", 5000, NULL, transaction_id);
    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "flow-0001", "R-flow-1", 10000, 30000, NULL, &res),
                  200);
    snprintf(refund_id, sizeof refund_id, "%s", api_json_str(&res, "refund_id"));
    ASSERT_EQ_INT(strlen(refund_id), 29);
    snprintf(ref_tx1, sizeof ref_tx1, "REF%s", tx1);
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/cards", owner.token, NULL, &res), 200);
    json_t *cards = api_json(&res);
    client_response_release(&res);
    char card_id[64];
    snprintf(card_id, sizeof card_id, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(cards, "items"), 0), "id")));
    json_decref(cards);
    ASSERT_EQ_INT(
        rh_merchant_withdraw(&S_client, &owner, m.mchid, card_id, 30000, "flow-withdrawal", &res),
        201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 30);
    snprintf(withdrawal_id, sizeof withdrawal_id, "%s", api_json_str(&res, "id"));
    ASSERT(withdrawal_id[0] != '\0');
    client_response_release(&res);

    /* A withdrawal of ¥10.00 the bank paid and took back 3 s later (退票, sandbox card ...0129),
     * as the operator's query of the bank finds: its amount and fee come back in two lines. */
    char returned_card[API_ID_SIZE_MAX], returned_id[64], path[160];
    API_MUST(th_card_bind(&S_client, S_admin, &owner, "9999000000000129", returned_card));
    ASSERT_EQ_INT(rh_merchant_withdraw(&S_client, &owner, m.mchid, returned_card, 1000,
                                       "flow-returned", &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    snprintf(returned_id, sizeof returned_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    struct timespec wait = {3, 300 * 1000000L};
    while (nanosleep(&wait, &wait) != 0)
        ;
    snprintf(path, sizeof path, "/admin/payments/%s/query", returned_id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    json_t *queried = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(queried, "payment"), "status")),
                  "RETURNED");
    json_decref(queried);

    /* A withdrawal still at the bank when the day ends: sandbox card ...0053, which the bank
     * never had, as Qianbao learns 5 s on, by then at the daemon's tomorrow. */
    char late_card[API_ID_SIZE_MAX], late_id[64];
    API_MUST(th_card_bind(&S_client, S_admin, &owner, "9999000000000053", late_card));
    ASSERT_EQ_INT(
        rh_merchant_withdraw(&S_client, &owner, m.mchid, late_card, 1000, "flow-late", &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    snprintf(late_id, sizeof late_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);

    /* Tomorrow, for the daemon. */
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    client_release(&S_client);
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", "86400000", 1);
    API_MUST(api_daemon_start(&S_daemon, S_root, "flow", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);

    char date[16], query[128], hash[64], sha1[41];
    mh_bill_date(0, 0, date);
    snprintf(query, sizeof query, "bill_date=%s", date);
    struct client_response file;
    S_bill(&m, query, &file, hash);
    ASSERT(mh_response_verified(&m, &file));
    mh_sha1_hex(file.body.data, file.body.size, sha1);
    ASSERT_EQ_STR(hash, sha1);
    ASSERT(strstr(file.body.data, "`50.00,") == NULL); /* the other merchant's payment */
    ASSERT(strstr(file.body.data, owner.id) == NULL && strstr(file.body.data, payer.id) == NULL);

    const struct S_line want[] = {
        {"交易", "收入", "300.00", "300.00", tx1, "", tx1},
        {"扣除交易手续费", "支出", "1.80", "298.20", tx1, "", tx1},
        {"交易", "收入", "200.00", "498.20", tx2, "", tx2},
        {"扣除交易手续费", "支出", "1.20", "497.00", tx2, "", tx2},
        {"退款", "支出", "100.00", "397.00", refund_id, "商品已售完", ref_tx1},
        {"退还交易手续费", "收入", "0.60", "397.60", refund_id, "商品已售完", ref_tx1},
        {"提现", "支出", "300.00", "97.60", withdrawal_id, "", withdrawal_id},
        {"提现手续费", "支出", "0.30", "97.30", withdrawal_id, "", withdrawal_id},
        {"提现", "支出", "10.00", "87.30", returned_id, "", returned_id},
        {"提现手续费", "支出", "0.10", "87.20", returned_id, "", returned_id},
        {"提现退票", "收入", "10.00", "97.20", returned_id, "", returned_id},
        {"退还提现手续费", "收入", "0.10", "97.30", returned_id, "", returned_id},
    };
    char *text = malloc(file.body.size + 1);
    memcpy(text, file.body.data, file.body.size);
    text[file.body.size] = '\0';
    const char *lines[24];
    size_t count = 0;
    for (char *p = text; *p != '\0' && count < 24;) {
        char *end = strstr(p, "\r\n");
        ASSERT(end != NULL); /* every line ends with CRLF */
        *end = '\0';
        lines[count++] = p;
        p = end + 2;
    }
    ASSERT_EQ_INT(count, QB_ARRAY_COUNT(want) + 3);
    ASSERT_EQ_STR(lines[0], "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,"
                            "收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号");
    for (size_t i = 0; i < QB_ARRAY_COUNT(want); i++)
        S_line_check(lines[1 + i], date, &want[i]);
    ASSERT_EQ_STR(lines[count - 2], "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额");
    ASSERT_EQ_STR(lines[count - 1], "`12,`5,`510.70,`7,`413.40");
    free(text);

    /* The day-end balance (日终余额) is the bill's last balance, less what the late withdrawal
     * held at midnight: all of it, unless the bank was asked before the daemon stopped (a slow
     * stop, then it was settled within the day); the other merchant's is its own. */
    snprintf(path, sizeof path, "/admin/payments/%s", late_id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    bool settled_that_day = strcmp(api_json_str(&res, "status"), "PROCESSING") != 0 &&
                            strncmp(api_json_str(&res, "updated_at"), date, 10) == 0;
    client_response_release(&res);
    long long held = settled_that_day ? 0 : 1000 + 10;
    /* A refund today (¥5.00, ¥0.03 of the fee back) moves the balance after the day's end. */
    struct mh_options today;
    memset(&today, 0, sizeof today);
    today.timestamp_offset_s = S_DAY_S;
    ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "POST", "/v3/refund/domestic/refunds",
                              "{\"out_trade_no\":\"flow-0002\",\"out_refund_no\":\"R-flow-2\","
                              "\"amount\":{\"refund\":500,\"total\":20000,\"currency\":\"CNY\"}}",
                              &today, &res),
                  200);
    client_response_release(&res);
    S_v3_balance_is(&m, 9730 - 500 + 3);
    snprintf(path, sizeof path, "/v3/merchant/fund/dayendbalance/BASIC?date=%s", date);
    ASSERT_EQ_INT(S_call(&m, path, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_INT(api_json_int(&res, "available_amount", -1), 9730 - held);
    ASSERT_EQ_INT(api_json_int(&res, "pending_amount", -1), held);
    client_response_release(&res);
    ASSERT_EQ_INT(S_call(&other, path, &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "available_amount", -1), 5000 - 30);
    ASSERT_EQ_INT(api_json_int(&res, "pending_amount", -1), 0);
    client_response_release(&res);

    /* The gzip form unpacks to the same bytes. */
    struct client_response packed;
    snprintf(query, sizeof query, "bill_date=%s&account_type=BASIC&tar_type=GZIP", date);
    S_bill(&m, query, &packed, hash);
    ASSERT_EQ_STR(hash, sha1);
    unsigned char plain[8192];
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)packed.body.data;
    z.avail_in = (uInt)packed.body.size;
    z.next_out = plain;
    z.avail_out = sizeof plain;
    ASSERT_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
    ASSERT_EQ_INT(z.total_out, file.body.size);
    ASSERT(memcmp(plain, file.body.data, file.body.size) == 0);
    inflateEnd(&z);
    client_response_release(&packed);
    client_response_release(&file);

    /* The other merchant's bill is its own: one payment, its fee. */
    snprintf(query, sizeof query, "bill_date=%s", date);
    S_bill(&other, query, &file, hash);
    ASSERT(strstr(file.body.data, "`50.00,`50.00,") != NULL);
    ASSERT(strstr(file.body.data, transaction_id) != NULL);
    ASSERT(strstr(file.body.data, tx1) == NULL);
    ASSERT(strstr(file.body.data, "300.00") == NULL);
    ASSERT(strstr(file.body.data, "`2,`1,`50.00,`1,`0.30") != NULL);
    client_response_release(&file);

    /* The trade bill of the same day still comes by the same path. */
    snprintf(query, sizeof query, "/v3/bill/tradebill?bill_date=%s", date);
    ASSERT_EQ_INT(S_call(&m, query, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "hash_type"), "SHA1");
    ASSERT(strcmp(api_json_str(&res, "hash_value"), sha1) != 0);
    client_response_release(&res);
    mh_release(&m);
    mh_release(&other);
}

TEST(bad_fund_flow_requests_get_wechats_codes)
{
    // Only ended days within three months, only the BASIC account, only GZIP: each refusal is a
    // signed 4xx with WeChat's code; a day without a movement has no statement.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    char path[160], date[16];
    mh_expect_get(&S_client, &m, S_DAY_S, "/v3/bill/fundflowbill", 400, "PARAM_ERROR");
    mh_expect_get(&S_client, &m, S_DAY_S, "/v3/bill/fundflowbill?bill_date=2026-02-30", 400, "PARAM_ERROR");
    mh_expect_get(&S_client, &m, S_DAY_S, "/v3/bill/fundflowbill?bill_date=20261128", 400, "PARAM_ERROR");
    mh_bill_date(0, 0, date);
    const char *accounts[] = {"OPERATION", "FEES", "ALL", "basic", ""};
    for (size_t i = 0; i < QB_ARRAY_COUNT(accounts); i++) {
        snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s&account_type=%s", date,
                 accounts[i]);
        mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "PARAM_ERROR");
    }
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s&tar_type=ZIP", date);
    mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "PARAM_ERROR");
    mh_bill_date(0, -1, date); /* the daemon's today */
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "STATEMENT_CREATING");
    mh_bill_date(0, -2, date);
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "INVALID_REQUEST");
    mh_bill_date(0, 100, date);
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "INVALID_REQUEST");
    mh_bill_date(0, 0, date); /* a new merchant had no movement */
    snprintf(path, sizeof path, "/v3/bill/fundflowbill?bill_date=%s", date);
    mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "NO_STATEMENT_EXIST");

    /* The day-end balance: a date is required, BASIC only; the daemon's today has none yet, nor
     * has a day older than three months or before the merchant was made (this one's today). */
    mh_expect_get(&S_client, &m, S_DAY_S, "/v3/merchant/fund/dayendbalance/BASIC", 400,
                  "PARAM_ERROR");
    mh_expect_get(&S_client, &m, S_DAY_S, "/v3/merchant/fund/dayendbalance/BASIC?date=2026-13-01",
                  400, "PARAM_ERROR");
    snprintf(path, sizeof path, "/v3/merchant/fund/dayendbalance/OPERATION?date=%s", date);
    mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "PARAM_ERROR");
    const int days_ago[] = {-1, 100, 0};
    for (size_t i = 0; i < QB_ARRAY_COUNT(days_ago); i++) {
        mh_bill_date(0, days_ago[i], date);
        snprintf(path, sizeof path, "/v3/merchant/fund/dayendbalance/BASIC?date=%s", date);
        mh_expect_get(&S_client, &m, S_DAY_S, path, 400, "INVALID_REQUEST");
    }
    /* Its refusals name its own parameter, date, not the bills' bill_date. */
    const char *dates[] = {"2026-13-01", "9999-12-31", "2001-01-01"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(dates); i++) {
        struct mh_options opt;
        memset(&opt, 0, sizeof opt);
        opt.timestamp_offset_s = S_DAY_S;
        snprintf(path, sizeof path, "/v3/merchant/fund/dayendbalance/BASIC?date=%s", dates[i]);
        struct client_response res;
        ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "GET", path, NULL, &opt, &res), 400);
        const char *message = api_json_str(&res, "message");
        ASSERT(message != NULL && strstr(message, "date") == message &&
               strstr(message, "bill_date") == NULL);
        client_response_release(&res);
    }
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    unsetenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    if (!api_suite_daemon(&suite, &S_daemon, "flow", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(a_merchant_is_paid_on_the_first_day);
    RUN(the_fund_flow_lists_every_movement_with_its_balance_and_the_summary);
    RUN(bad_fund_flow_requests_get_wechats_codes);
    RUN(a_day_of_money_only_held_has_no_statement);
    return api_suite_end(&suite);
}
