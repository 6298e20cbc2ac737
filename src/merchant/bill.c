/*
 * bill.c — the daily trade bill (bill.h): the date rules, the rows of the
 * day, the CSV in WeChat's layout, the download token and gzip.
 *
 * The rows come from S_sources: each source is one SELECT answering the
 * same columns for the day of one merchant ($1 mchid, $2 from, $3 end;
 * each served by an index on (mchid, time)). They are joined with UNION ALL
 * and ordered by (time, kind, transaction, refund), a key unique to each
 * row, so the file is in time order whatever the kind. A page is the rows
 * after the last one read ($4..$7, compared as a row value) and $2 is the
 * last row's time, so each page's query starts in the index where the
 * previous one stopped.
 * The fund-flow bill has its own reader (S_flow_next, after the trade
 * bill's): the ledger walk bill.h describes; it shares the rest.
 * The trade bill has three sources: the payments (orders by success_at_ms),
 * the refunds (refunds by success_at_ms, joined to their order for its
 * columns) and the reversals of paid payment-code orders (orders by
 * closed_at_ms), each on the day it happened: a day's bill, once the day has
 * ended, never changes (its SHA-1 was answered), so a payment's line says
 * SUCCESS whatever became of the order later, and the money a reversal gave
 * back is a line of the reversal's day. A new kind of trade is one more
 * entry of S_sources answering the same columns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/crypto.h"
#include "merchant/bill.h"
#include "merchant/order.h"
#include "merchant/payout.h"
#include "merchant/refund.h"
#include "wallet/wallet.h"

#define S_DAY_MS (INT64_C(24) * 60 * 60 * 1000)
#define S_UTC8_MS (INT64_C(8) * 60 * 60 * 1000)
#define S_SQL_SIZE_MAX 4096

enum S_kind {
    S_PAYMENT = 0,
    S_REFUND = 1,
    S_REVERSAL = 2, /* a paid payment-code order revoked: all of it back, as a refund */
};

/* Every source answers these columns, in this order:
 *   0 at_ms        the time of the trade (payment: paid; refund: refunded)
 *   1 kind         S_PAYMENT, S_REFUND or S_REVERSAL
 *   2 appid, 3 transaction_id, 4 out_trade_no, 5 payer_openid,
 *   6 trade_type, 7 state, 8 currency, 9 total_minor (the order's amount),
 *   10 fee_minor (the order's fee), 11 description, 12 attach,
 *   13 refund_id, 14 out_refund_no, 15 refund_minor, 16 refund_fee_minor
 *      (the fee given back), 17 refund_created_at_ms, 18 refund_status
 *   ("" for a payment). */
static const char *const S_sources[] = {
    "SELECT success_at_ms AS at_ms, 0 AS kind, appid, transaction_id, out_trade_no,"
    " payer_openid, trade_type, state, currency, total_minor, fee_minor, description, attach,"
    " '' AS refund_id, '', 0, 0, 0, ''"
    " FROM orders WHERE mchid = $1 AND success_at_ms >= $2 AND success_at_ms < $3"
    " AND success_at_ms > 0",
    "SELECT r.success_at_ms, 1, o.appid, o.transaction_id, o.out_trade_no, o.payer_openid,"
    " o.trade_type, o.state, o.currency, o.total_minor, o.fee_minor, o.description, o.attach,"
    " r.refund_id, r.out_refund_no, r.refund_minor, r.fee_refund_minor, r.created_at_ms,"
    " CASE r.status WHEN 1 THEN 'SUCCESS' WHEN 2 THEN 'PROCESSING' WHEN 3 THEN 'ABNORMAL'"
    " ELSE 'CLOSED' END"
    " FROM refunds r JOIN orders o ON o.transaction_id = r.transaction_id"
    " WHERE r.mchid = $1 AND r.success_at_ms >= $2 AND r.success_at_ms < $3"
    " AND r.success_at_ms > 0",
    /* state = 7 (MERCHANT_REVOKED) and success_at_ms > 0 as literals:
     * orders_reversed is a partial index. */
    "SELECT closed_at_ms, 2, appid, transaction_id, out_trade_no, payer_openid, trade_type,"
    " state, currency, total_minor, fee_minor, description, attach, '', '', total_minor,"
    " fee_minor, closed_at_ms, 'SUCCESS'"
    " FROM orders WHERE mchid = $1 AND closed_at_ms >= $2 AND closed_at_ms < $3"
    " AND state = 7 AND success_at_ms > 0",
};

struct S_row {
    int64_t at_ms;
    enum S_kind kind;
    char appid[MERCHANT_APPID_SIZE];
    char transaction_id[MERCHANT_TRANSACTION_ID_SIZE];
    char out_trade_no[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
    char openid[MERCHANT_OPENID_SIZE];
    enum merchant_trade_type trade_type;
    enum merchant_trade_state state;
    const struct currency *currency;
    int64_t total_minor;
    int64_t fee_minor;
    char description[MERCHANT_DESCRIPTION_SIZE_MAX];
    char attach[MERCHANT_ATTACH_SIZE_MAX];
    char refund_id[65];
    char out_refund_no[65];
    int64_t refund_minor;
    int64_t refund_fee_minor;
    int64_t refund_created_at_ms;
    char refund_status[33];
};

bool merchant_bill_type_parse(const char *text, enum merchant_bill_type *out)
{
    if (text == NULL)
        return false;
    if (strcmp(text, "ALL") == 0)
        *out = MERCHANT_BILL_ALL;
    else if (strcmp(text, "SUCCESS") == 0)
        *out = MERCHANT_BILL_SUCCESS;
    else if (strcmp(text, "REFUND") == 0)
        *out = MERCHANT_BILL_REFUND;
    else
        return false;
    return true;
}

bool merchant_fundflow_account_is_valid(const char *account_type)
{
    return account_type != NULL && strcmp(account_type, "BASIC") == 0;
}

const char *merchant_bill_type_name(enum merchant_bill_type type)
{
    switch (type) {
    case MERCHANT_BILL_FUNDFLOW:
        return "FUNDFLOW";
    case MERCHANT_BILL_ALL:
        return "ALL";
    case MERCHANT_BILL_SUCCESS:
        return "SUCCESS";
    case MERCHANT_BILL_REFUND:
        return "REFUND";
    }
    return "ALL";
}

/* --- dates --------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t S_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int S_month_days(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* "YYYY-MM-DD" into its parts; false when it is not a real date of years
 * 1970..9999. */
static bool S_date_parse(const char *text, int64_t *y, int *m, int *d)
{
    if (text == NULL || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    *y = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    *m = (text[5] - '0') * 10 + (text[6] - '0');
    *d = (text[8] - '0') * 10 + (text[9] - '0');
    return *y >= 1970 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= S_month_days(*y, *m);
}

bool merchant_date_day(const char *text, int64_t *day)
{
    int64_t y;
    int m, d;
    if (!S_date_parse(text, &y, &m, &d))
        return false;
    *day = S_days_from_civil(y, m, d);
    return true;
}

enum qb_error merchant_bill_date_check(const char *bill_date, int64_t now_ms, int64_t *start_ms,
                                       int64_t *end_ms, const char **message)
{
    QB_ASSERT(start_ms != NULL && end_ms != NULL && message != NULL);
    int64_t y;
    int m, d;
    if (!S_date_parse(bill_date, &y, &m, &d)) {
        *message = "bill_date must be a date as YYYY-MM-DD";
        return QB_E_PARAM;
    }
    int64_t day = S_days_from_civil(y, m, d);
    *start_ms = day * S_DAY_MS - S_UTC8_MS;
    *end_ms = *start_ms + S_DAY_MS;

    /* Today in UTC+8, and the first day still served. */
    int64_t today = (now_ms + S_UTC8_MS) / S_DAY_MS - ((now_ms + S_UTC8_MS) % S_DAY_MS < 0);
    if (day > today) {
        *message = "bill_date is in the future";
        return QB_E_INVALID_REQUEST;
    }
    if (day == today) {
        *message = "the bill of today is made after the day ends (UTC+8)";
        return QB_E_STATEMENT_CREATING;
    }
    char stamp[40];
    clock_format_rfc3339(now_ms, 8 * 60, stamp, sizeof stamp);
    int64_t ty;
    int tm, td;
    stamp[10] = '\0';
    bool ok = S_date_parse(stamp, &ty, &tm, &td);
    QB_ASSERT(ok);
    int fm = tm - MERCHANT_BILL_MONTHS_MAX;
    int64_t fy = ty;
    if (fm < 1) {
        fm += 12;
        fy--;
    }
    int fd = td <= S_month_days(fy, fm) ? td : S_month_days(fy, fm);
    if (day < S_days_from_civil(fy, fm, fd)) {
        *message = "bill_date is more than three months ago";
        return QB_E_INVALID_REQUEST;
    }
    *message = NULL;
    return QB_OK;
}

/* --- the CSV ----------------------------------------------------------------------------- */

/* The header lines of each bill type (WeChat's column names and order). */
static const char S_header_all[] =
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注\r\n";
static const char S_header_success[] =
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,"
    "费率备注\r\n";
static const char S_header_refund[] =
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,"
    "商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,"
    "订单金额,申请退款金额,费率备注\r\n";
static const char S_summary_header[] =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    "\r\n";

/* One field: the backtick WeChat puts before every value, then the text;
 * a value holding a comma, a quote or a line break is quoted as RFC 4180
 * has it, the backtick inside the quotes, so a CSV reader still gets
 * "`value". first: no comma before it. */
static enum qb_error S_field(struct buf *out, bool first, const char *text)
{
    enum qb_error err = first ? QB_OK : buf_append(out, ",", 1);
    if (err != QB_OK)
        return err;
    if (strpbrk(text, ",\"\r\n") == NULL) {
        err = buf_append(out, "`", 1);
        return err == QB_OK ? buf_append_str(out, text) : err;
    }
    err = buf_append(out, "\"`", 2);
    for (const char *p = text; err == QB_OK && *p != '\0'; p++)
        err = *p == '"' ? buf_append(out, "\"\"", 2) : buf_append(out, p, 1);
    return err == QB_OK ? buf_append(out, "\"", 1) : err;
}

/* amount_minor in the currency's major unit with at least decimals
 * fraction digits ("0.74", or "0.74000" for a fee). */
static void S_amount(int64_t amount_minor, const struct currency *cur, int decimals, char *out,
                     size_t out_size)
{
    char text[MONEY_TEXT_SIZE_MAX];
    money_format(amount_minor, cur, text, sizeof text);
    int pad = decimals - (int)cur->exponent;
    snprintf(out, out_size, "%s%s%.*s", text, cur->exponent == 0 && pad > 0 ? "." : "",
             pad > 0 ? pad : 0, "0000000000");
}

static void S_time(int64_t at_ms, char out[24])
{
    char stamp[40];
    if (at_ms <= 0) {
        out[0] = '\0';
        return;
    }
    clock_format_rfc3339(at_ms, 8 * 60, stamp, sizeof stamp);
    /* "2026-11-28T10:00:00+08:00" → "2026-11-28 10:00:00" */
    snprintf(out, 24, "%.10s %.8s", stamp, stamp + 11);
}

/* The fee rate as WeChat prints it: "0.60%" (four decimals when the rate
 * needs them). */
static void S_rate(int64_t fee_ppm, char out[24])
{
    if (fee_ppm % 100 == 0)
        snprintf(out, 24, "%lld.%02lld%%", (long long)(fee_ppm / 10000),
                 (long long)(fee_ppm % 10000 / 100));
    else
        snprintf(out, 24, "%lld.%04lld%%", (long long)(fee_ppm / 10000),
                 (long long)(fee_ppm % 10000));
}

static enum qb_error S_line(struct buf *out, const struct merchant_bill_cursor *m,
                            const struct S_row *r)
{
    enum merchant_bill_type type = m->type;
    bool refund = r->kind != S_PAYMENT; /* a refund, or a reversal's money back */
    char when[24], refund_created[24], rate[24];
    char settled[48], fee[48], total[48], refund_amount[48], zero[48];
    S_time(r->at_ms, when);
    S_time(refund ? r->refund_created_at_ms : 0, refund_created);
    S_rate(m->fee_ppm, rate);
    /* A payment row settles the order's amount; a refund row settles
     * nothing and gives back the refund and its share of the fee. */
    S_amount(refund ? 0 : r->total_minor, r->currency, 2, settled, sizeof settled);
    S_amount(refund ? -r->refund_fee_minor : r->fee_minor, r->currency, 5, fee, sizeof fee);
    S_amount(refund ? 0 : r->total_minor, r->currency, 2, total, sizeof total);
    S_amount(refund ? r->refund_minor : 0, r->currency, 2, refund_amount, sizeof refund_amount);
    S_amount(0, r->currency, 2, zero, sizeof zero);
    const char *state = r->kind == S_REFUND     ? "REFUND"
                        : r->kind == S_REVERSAL ? "REVOKED"
                                                : "SUCCESS";

    const char *head[] = {when,
                          r->appid,
                          m->mchid,
                          "0",
                          "",
                          r->transaction_id,
                          r->out_trade_no,
                          r->openid,
                          merchant_trade_type_name(r->trade_type),
                          state,
                          "OTHERS",
                          r->currency->code,
                          settled,
                          zero};
    enum qb_error err = QB_OK;
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(head); i++)
        err = S_field(out, i == 0, head[i]);
    if (err != QB_OK)
        return err;
    const char *refund_ids[] = {r->refund_id, r->out_refund_no, refund_amount, zero,
                                refund ? "ORIGINAL" : "", r->refund_status};
    if (type == MERCHANT_BILL_REFUND) {
        err = S_field(out, false, refund_created);
        if (err == QB_OK)
            err = S_field(out, false, refund ? when : "");
    }
    if (type != MERCHANT_BILL_SUCCESS)
        for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(refund_ids); i++)
            err = S_field(out, false, refund_ids[i]);
    const char *tail[] = {r->description, r->attach, fee, rate, total};
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(tail); i++)
        err = S_field(out, false, tail[i]);
    if (err == QB_OK && type != MERCHANT_BILL_SUCCESS)
        err = S_field(out, false, refund_amount);
    if (err == QB_OK)
        err = S_field(out, false, "");
    return err == QB_OK ? buf_append(out, "\r\n", 2) : err;
}

static enum qb_error S_row_read(struct store_stmt *st, struct S_row *r)
{
    memset(r, 0, sizeof *r);
    r->at_ms = store_column_int64(st, 0);
    r->kind = (enum S_kind)store_column_int64(st, 1);
    store_column_text_copy(st, 2, r->appid, sizeof r->appid);
    store_column_text_copy(st, 3, r->transaction_id, sizeof r->transaction_id);
    store_column_text_copy(st, 4, r->out_trade_no, sizeof r->out_trade_no);
    store_column_text_copy(st, 5, r->openid, sizeof r->openid);
    r->trade_type = (enum merchant_trade_type)store_column_int64(st, 6);
    r->state = (enum merchant_trade_state)store_column_int64(st, 7);
    char currency[8];
    store_column_text_copy(st, 8, currency, sizeof currency);
    r->currency = currency_find(currency);
    r->total_minor = store_column_int64(st, 9);
    r->fee_minor = store_column_int64(st, 10);
    store_column_text_copy(st, 11, r->description, sizeof r->description);
    store_column_text_copy(st, 12, r->attach, sizeof r->attach);
    store_column_text_copy(st, 13, r->refund_id, sizeof r->refund_id);
    store_column_text_copy(st, 14, r->out_refund_no, sizeof r->out_refund_no);
    r->refund_minor = store_column_int64(st, 15);
    r->refund_fee_minor = store_column_int64(st, 16);
    r->refund_created_at_ms = store_column_int64(st, 17);
    store_column_text_copy(st, 18, r->refund_status, sizeof r->refund_status);
    bool ok = r->at_ms > 0 &&
              (r->kind == S_PAYMENT || r->kind == S_REFUND || r->kind == S_REVERSAL) &&
              r->currency != NULL && r->total_minor > 0 && r->fee_minor >= 0 &&
              r->fee_minor <= r->total_minor && r->trade_type >= MERCHANT_TRADE_NATIVE &&
              r->trade_type <= MERCHANT_TRADE_MICROPAY && r->refund_minor >= 0 &&
              r->refund_fee_minor >= 0;
    return ok ? QB_OK : QB_E_INTERNAL;
}

static enum qb_error S_sums_add(struct merchant_bill_cursor *s, const struct S_row *r)
{
    s->count++;
    bool ok = true;
    if (r->kind == S_PAYMENT) {
        ok = money_add(s->settled_minor, r->total_minor, &s->settled_minor) &&
             money_add(s->order_minor, r->total_minor, &s->order_minor) &&
             money_add(s->fee_minor, r->fee_minor, &s->fee_minor);
    } else {
        ok = money_add(s->refund_minor, r->refund_minor, &s->refund_minor) &&
             money_sub(s->fee_minor, r->refund_fee_minor, &s->fee_minor);
    }
    return ok ? QB_OK : QB_E_OVERFLOW;
}

void merchant_bill_cursor_init(struct merchant_bill_cursor *c, const struct merchant *m,
                               enum merchant_bill_type type, int64_t start_ms, int64_t end_ms,
                               int64_t head_entry_id)
{
    QB_ASSERT(c != NULL && m != NULL && start_ms < end_ms);
    QB_ASSERT(head_entry_id >= 0);
    memset(c, 0, sizeof *c);
    snprintf(c->mchid, sizeof c->mchid, "%s", m->mchid);
    c->fee_ppm = m->fee_ppm;
    c->account_id = m->account_id;
    c->head_entry_id = head_entry_id;
    c->type = type;
    c->start_ms = start_ms;
    c->end_ms = end_ms;
    /* Before every row of the day: the first page starts at the day. */
    c->last_at_ms = start_ms - 1;
}

/* The summary header and line, the end of the file. */
static enum qb_error S_summary(const struct merchant_bill_cursor *c, struct buf *out)
{
    const struct currency *cny = currency_find("CNY");
    char settled[48], refund[48], zero[48], fee[48], order[48], count[24];
    snprintf(count, sizeof count, "%lld", (long long)c->count);
    S_amount(c->settled_minor, cny, 2, settled, sizeof settled);
    S_amount(c->refund_minor, cny, 2, refund, sizeof refund);
    S_amount(0, cny, 2, zero, sizeof zero);
    S_amount(c->fee_minor, cny, 5, fee, sizeof fee);
    S_amount(c->order_minor, cny, 2, order, sizeof order);
    const char *summary[] = {count, settled, refund, zero, fee, order, refund};
    enum qb_error err = buf_append_str(out, S_summary_header);
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(summary); i++)
        err = S_field(out, i == 0, summary[i]);
    if (err == QB_OK)
        err = buf_append(out, "\r\n", 2);
    return err;
}

static enum qb_error S_flow_next(struct merchant_bill_cursor *c, struct store *reader,
                                 struct buf *out);

enum qb_error merchant_bill_next(struct merchant_bill_cursor *c, struct store *reader,
                                 struct buf *out)
{
    QB_ASSERT(c != NULL && reader != NULL && out != NULL);
    QB_ASSERT(!c->done);
    if (c->type == MERCHANT_BILL_FUNDFLOW)
        return S_flow_next(c, reader, out);

    /* Every source, after the last row read, key order, one page. */
    char sql[S_SQL_SIZE_MAX];
    size_t used = 0;
    int n = snprintf(sql, sizeof sql, "SELECT * FROM (");
    QB_ASSERT(n > 0 && (size_t)n < sizeof sql);
    used += (size_t)n;
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_sources); i++) {
        n = snprintf(sql + used, sizeof sql - used, "%s%s", i > 0 ? " UNION ALL " : "",
                     S_sources[i]);
        QB_ASSERT(n > 0 && (size_t)n < sizeof sql - used);
        used += (size_t)n;
    }
    n = snprintf(sql + used, sizeof sql - used,
                 ") WHERE (at_ms, kind, transaction_id, refund_id) > ($4, $5, $6, $7)"
                 " ORDER BY at_ms, kind, transaction_id, refund_id LIMIT %d",
                 MERCHANT_BILL_PAGE_ROWS);
    QB_ASSERT(n > 0 && (size_t)n < sizeof sql - used);

    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    int64_t from_ms = c->last_at_ms >= c->start_ms ? c->last_at_ms : c->start_ms;
    enum qb_error err = store_bind_text(st, 1, c->mchid, strlen(c->mchid));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, from_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, c->end_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 4, c->last_at_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 5, c->last_kind);
    if (err == QB_OK)
        err = store_bind_text(st, 6, c->last_transaction_id, strlen(c->last_transaction_id));
    if (err == QB_OK)
        err = store_bind_text(st, 7, c->last_refund_id, strlen(c->last_refund_id));
    if (err != QB_OK) {
        store_finalize(st);
        return QB_E_STORAGE;
    }

    if (!c->started) {
        const char *header = c->type == MERCHANT_BILL_SUCCESS  ? S_header_success
                             : c->type == MERCHANT_BILL_REFUND ? S_header_refund
                                                               : S_header_all;
        err = buf_append_str(out, header);
    }
    size_t page_rows = 0;
    struct S_row row;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        page_rows++;
        err = S_row_read(st, &row);
        if (err != QB_OK)
            break;
        bool wanted = c->type == MERCHANT_BILL_ALL ||
                      (c->type == MERCHANT_BILL_SUCCESS && row.kind == S_PAYMENT) ||
                      (c->type == MERCHANT_BILL_REFUND && row.kind != S_PAYMENT);
        if (wanted) {
            err = S_sums_add(c, &row);
            if (err == QB_OK)
                err = S_line(out, c, &row);
        }
        c->last_at_ms = row.at_ms;
        c->last_kind = row.kind;
        snprintf(c->last_transaction_id, sizeof c->last_transaction_id, "%s",
                 row.transaction_id);
        snprintf(c->last_refund_id, sizeof c->last_refund_id, "%s", row.refund_id);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;
    c->started = true;
    c->rows += (int64_t)page_rows;
    if (page_rows == MERCHANT_BILL_PAGE_ROWS)
        return QB_OK; /* maybe more */
    if (c->rows == 0)
        return QB_E_NO_STATEMENT_EXIST;
    err = S_summary(c, out);
    if (err == QB_OK)
        c->done = true;
    return err;
}

enum qb_error merchant_bill_write(struct store *reader, const struct merchant *m,
                                  enum merchant_bill_type type, int64_t start_ms, int64_t end_ms,
                                  int64_t head_entry_id, struct buf *out)
{
    QB_ASSERT(reader != NULL && m != NULL && out != NULL);
    struct merchant_bill_cursor *c = malloc(sizeof *c); /* the fund flow's notes: 8 KiB */
    if (c == NULL)
        return QB_E_INTERNAL;
    merchant_bill_cursor_init(c, m, type, start_ms, end_ms, head_entry_id);
    enum qb_error err = QB_OK;
    while (err == QB_OK && !c->done)
        err = merchant_bill_next(c, reader, out);
    free(c);
    return err;
}

/* --- the fund-flow bill ------------------------------------------------------------------ */

static const char S_flow_header[] =
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,"
    "账户结余（元）,资金变更提交申请人,备注,业务凭证号\r\n";
static const char S_flow_summary_header[] = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n";

#define S_FLOW_BATCH 32 /* entries per ledger_history_read */

/* The ids a line of entry e names, as WeChat's fund flow has them: the
 * business number (微信支付业务单号: the order's transaction_id for a
 * payment and its fee, the refund's refund_id for a refund and the fee
 * it gives back, the withdrawal's id for a withdrawal), the remark (备注:
 * a refund's reason) and the voucher number (业务凭证号: the business
 * number again, or "REF" and the order's transaction_id for a refund or a
 * reversal, as WeChat writes it). */
struct S_flow_ids {
    char business[LEDGER_REF_SIZE_MAX]; /* holds a refund_id, a transaction_id or a ref */
    char remark[MERCHANT_REASON_SIZE_MAX];
    char voucher[3 + LEDGER_REF_SIZE_MAX];
};
_Static_assert(LEDGER_REF_SIZE_MAX >= MERCHANT_REFUND_ID_SIZE &&
                   LEDGER_REF_SIZE_MAX >= MERCHANT_TRANSACTION_ID_SIZE,
               "a business number fits");

/* One line of the fund flow: amount_minor > 0 moved in (收入) or out (支出)
 * of the account, leaving balance_minor. part numbers the lines of one
 * entry (the flow id is "<entry>-<part>"). */
static enum qb_error S_flow_line(struct merchant_bill_cursor *c, struct buf *out,
                                 const struct ledger_entry *e, const struct S_flow_ids *ids,
                                 int part, const char *name, const char *type, bool income,
                                 int64_t amount_minor, int64_t balance_minor)
{
    QB_ASSERT(amount_minor > 0);
    const struct currency *cny = currency_find("CNY");
    char when[24], flow_id[32], amount[48], balance[48];
    S_time(e->created_at_ms, when);
    snprintf(flow_id, sizeof flow_id, "%lld-%d", (long long)e->id, part);
    S_amount(amount_minor, cny, 2, amount, sizeof amount);
    S_amount(balance_minor, cny, 2, balance, sizeof balance);
    bool ok = income ? money_add(c->income_minor, amount_minor, &c->income_minor)
                     : money_add(c->expense_minor, amount_minor, &c->expense_minor);
    if (!ok)
        return QB_E_OVERFLOW;
    if (income)
        c->income_count++;
    else
        c->expense_count++;
    const char *fields[] = {
        when,   ids->business, flow_id,  name,        type,        income ? "收入" : "支出",
        amount, balance,       "system", ids->remark, ids->voucher};
    enum qb_error err = QB_OK;
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(fields); i++)
        err = S_field(out, i == 0, fields[i]);
    return err == QB_OK ? buf_append(out, "\r\n", 2) : err;
}

/* The one row sql answers, binding $1 the merchant, $2 the entry's ref (a
 * payment id) and $3 when that payment was made, its first `count` text
 * columns copied into cols (each of sizes[i]): QB_OK, QB_E_INTERNAL for no
 * row or no such payment, QB_E_STORAGE. */
static enum qb_error S_flow_row(const struct merchant_bill_cursor *c, struct store *reader,
                                const struct ledger_entry *e, const char *sql, size_t count,
                                char *const *cols, const size_t *sizes)
{
    struct wallet_payment p;
    enum qb_error err = wallet_payment_get(reader, e->ref, NULL, &p);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    err = store_bind_text(st, 1, c->mchid, strlen(c->mchid));
    if (err == QB_OK)
        err = store_bind_text(st, 2, e->ref, strlen(e->ref));
    if (err == QB_OK)
        err = store_bind_int64(st, 3, p.created_at_ms);
    if (err == QB_OK) {
        int rc = store_step(st);
        for (size_t i = 0; rc == STORE_STEP_ROW && i < count; i++)
            store_column_text_copy(st, (int)i, cols[i], sizes[i]);
        err = rc == STORE_STEP_ROW ? QB_OK : rc == STORE_STEP_DONE ? QB_E_INTERNAL : QB_E_STORAGE;
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* The ids of a payment's or a reversal's entry: both name the payment id
 * of the order's payment (ref), whose payments row gives the time it was
 * paid, which finds the order through orders_paid (mchid, success_at_ms):
 * a point read on the index, no scan. The time is matched as a closed
 * range: beside the partial index's "success_at_ms > 0", SQLite (3.40)
 * seeks an "=" by the "> 0" alone and scans the merchant's every paid
 * order (EXPLAIN QUERY PLAN: success_at_ms>?), where ">= AND <=" seeks
 * both bounds. QB_E_INTERNAL when no order of the merchant was paid by it
 * (no writer makes such an entry). */
static enum qb_error S_flow_order_ids(const struct merchant_bill_cursor *c, struct store *reader,
                                      const struct ledger_entry *e, bool reversal,
                                      struct S_flow_ids *ids)
{
    char transaction_id[MERCHANT_TRANSACTION_ID_SIZE] = "";
    char *const cols[] = {transaction_id};
    const size_t sizes[] = {sizeof transaction_id};
    enum qb_error err = S_flow_row(c, reader, e,
                                   "SELECT transaction_id FROM orders WHERE mchid = $1"
                                   " AND success_at_ms >= $3 AND success_at_ms <= $3"
                                   " AND success_at_ms > 0 AND payment_id = $2",
                                   1, cols, sizes);
    if (err == QB_OK && transaction_id[0] == '\0')
        err = QB_E_INTERNAL;
    if (err != QB_OK)
        return err;
    snprintf(ids->business, sizeof ids->business, "%s", transaction_id);
    ids->remark[0] = '\0';
    snprintf(ids->voucher, sizeof ids->voucher, "%s%s", reversal ? "REF" : "", transaction_id);
    return QB_OK;
}

/* The ids of a refund's entry: ref is the refund's payment id, whose
 * payments row gives the time it succeeded, which finds the refund
 * through refunds_success (mchid, success_at_ms). */
static enum qb_error S_flow_refund_ids(const struct merchant_bill_cursor *c, struct store *reader,
                                       const struct ledger_entry *e, struct S_flow_ids *ids)
{
    char refund_id[MERCHANT_REFUND_ID_SIZE] = "";
    char transaction_id[MERCHANT_TRANSACTION_ID_SIZE] = "";
    char *const cols[] = {refund_id, transaction_id, ids->remark};
    const size_t sizes[] = {sizeof refund_id, sizeof transaction_id, sizeof ids->remark};
    ids->remark[0] = '\0';
    enum qb_error err = S_flow_row(c, reader, e,
                                   "SELECT refund_id, transaction_id, reason FROM refunds"
                                   " WHERE mchid = $1 AND success_at_ms >= $3"
                                   " AND success_at_ms <= $3 AND success_at_ms > 0"
                                   " AND payment_id = $2",
                                   3, cols, sizes);
    if (err == QB_OK && (refund_id[0] == '\0' || transaction_id[0] == '\0'))
        err = QB_E_INTERNAL;
    if (err != QB_OK)
        return err;
    snprintf(ids->business, sizeof ids->business, "%s", refund_id);
    snprintf(ids->voucher, sizeof ids->voucher, "REF%s", transaction_id);
    return QB_OK;
}

/* The lines of entry e (one of the account's chain). A payment's entry
 * credits the merchant its amount less the fee, which goes to fee income
 * in the same entry: the order's amount (what the payer paid: the sum of
 * the entry's debits) comes in, the fee goes out. A refund or reversal
 * the other way: the refund goes out, the fee given back comes in. A
 * withdrawal's capture takes amount + fee: the amount to the card and
 * the fee, from its payments row. Each line names its ids (S_flow_ids):
 * the payments and refunds are found by their index on the merchant and
 * the time, one point read per entry. */
static enum qb_error S_flow_entry(struct merchant_bill_cursor *c, struct store *reader,
                                  const struct ledger_entry *e, struct buf *out)
{
    const struct ledger_posting *p = ledger_entry_posting(e, c->account_id);
    if (p == NULL)
        return QB_E_INTERNAL; /* the chain named an entry without the account */
    int64_t amount = p->amount_minor, after = p->balance_after_minor;
    if (amount == 0)
        return QB_OK; /* a hold or its release: the balance did not move */
    int64_t debits = 0, credits = 0;
    for (size_t i = 0; i < e->posting_count; i++) {
        int64_t leg = e->postings[i].amount_minor;
        bool ok = leg < 0 ? money_sub(debits, leg, &debits) : money_add(credits, leg, &credits);
        if (!ok)
            return QB_E_OVERFLOW;
    }
    /* A withdrawal's and any other movement's id is the entry's ref. */
    struct S_flow_ids ids;
    memset(&ids, 0, sizeof ids);
    snprintf(ids.business, sizeof ids.business, "%s", e->ref);
    snprintf(ids.voucher, sizeof ids.voucher, "%s", e->ref);
    if (e->code == WALLET_CODE_ORDER_PAYMENT && amount > 0) {
        int64_t fee = debits - amount;
        if (fee < 0)
            return QB_E_INTERNAL;
        enum qb_error err = S_flow_order_ids(c, reader, e, false, &ids);
        if (err == QB_OK)
            err = S_flow_line(c, out, e, &ids, 1, "交易", "交易", true, debits, after + fee);
        if (err == QB_OK && fee > 0)
            err = S_flow_line(c, out, e, &ids, 2, "扣除交易手续费", "扣除交易手续费", false, fee,
                              after);
        return err;
    }
    if ((e->code == WALLET_CODE_ORDER_REFUND || e->code == WALLET_CODE_ORDER_REVERSAL) &&
        amount < 0) {
        int64_t fee_back = credits + amount;
        if (fee_back < 0)
            return QB_E_INTERNAL;
        bool refund = e->code == WALLET_CODE_ORDER_REFUND;
        enum qb_error err = refund ? S_flow_refund_ids(c, reader, e, &ids)
                                   : S_flow_order_ids(c, reader, e, true, &ids);
        if (err == QB_OK)
            err = S_flow_line(c, out, e, &ids, 1, refund ? "退款" : "撤销", "退款", false, credits,
                              after - fee_back);
        if (err == QB_OK && fee_back > 0)
            err = S_flow_line(c, out, e, &ids, 2, "退还交易手续费", "退还交易手续费", true,
                              fee_back, after);
        return err;
    }
    if (e->code == WALLET_CODE_WITHDRAWAL && amount < 0) {
        struct wallet_payment withdrawal;
        enum qb_error err = wallet_payment_get(reader, e->ref, NULL, &withdrawal);
        if (err != QB_OK && err != QB_E_NOT_FOUND)
            return err;
        int64_t paid = withdrawal.amount_minor, fee = withdrawal.fee_minor; /* 0: not found */
        if (err == QB_OK && paid > 0 && fee >= 0 && paid + fee == -amount) {
            err = S_flow_line(c, out, e, &ids, 1, "提现", "提现", false, paid, after + fee);
            if (err == QB_OK && fee > 0)
                err =
                    S_flow_line(c, out, e, &ids, 2, "提现手续费", "提现手续费", false, fee, after);
            return err;
        }
        return S_flow_line(c, out, e, &ids, 1, "提现", "提现", false, -amount, after);
    }
    if (e->code == WALLET_CODE_WITHDRAWAL_RETURN && amount > 0) {
        /* A withdrawal the bank took back (退票): its amount and fee back. */
        struct wallet_payment withdrawal;
        enum qb_error err = wallet_payment_get(reader, e->ref, NULL, &withdrawal);
        if (err != QB_OK && err != QB_E_NOT_FOUND)
            return err;
        int64_t paid = withdrawal.amount_minor, fee = withdrawal.fee_minor; /* 0: not found */
        if (err == QB_OK && paid > 0 && fee > 0 && paid + fee == amount) {
            err = S_flow_line(c, out, e, &ids, 1, "提现退票", "提现退票", true, paid, after - fee);
            if (err == QB_OK)
                err = S_flow_line(c, out, e, &ids, 2, "退还提现手续费", "退还提现手续费", true, fee,
                                  after);
            return err;
        }
        return S_flow_line(c, out, e, &ids, 1, "提现退票", "提现退票", true, amount, after);
    }
    if (e->code == WALLET_CODE_MERCHANT_PAYOUT && amount < 0) /* its id the transfer_bill_no */
        return S_flow_line(c, out, e, &ids, 1, "商家转账", "商家转账", false, -amount, after);
    return amount > 0 ? S_flow_line(c, out, e, &ids, 1, "其他", "其他", true, amount, after)
                      : S_flow_line(c, out, e, &ids, 1, "其他", "其他", false, -amount, after);
}

/* Where the walk back to the day starts: the head, or an entry of the
 * account closer to the day when one is known. The chain has no index by
 * time, so a walk from the head reads every entry of the account made
 * since the day (up to three months of a busy merchant's payments). The
 * merchant's first payment and first refund at or after the day's end
 * are each found by one read of their index (orders_paid, refunds_success
 * on (mchid, success_at_ms)); the older of the two, when it moved this
 * account (a payment whose fee was not the whole amount, a refund not
 * paid wholly out of the fee given back), is on the chain and after
 * every entry of the day, so the walk from it reads the day's entries,
 * and only the other movements (withdrawals) between the day's end and
 * that one. */
static enum qb_error S_flow_start(struct store *reader, const char *mchid, int64_t end_ms,
                                  int64_t head_entry_id, int64_t *start)
{
    static const char sql[] =
        "SELECT min(entry_id) FROM ("
        "SELECT * FROM (SELECT entry_id FROM orders WHERE mchid = $1 AND success_at_ms >= $2"
        " AND success_at_ms > 0 AND fee_minor < total_minor ORDER BY success_at_ms LIMIT 1)"
        " UNION ALL "
        "SELECT * FROM (SELECT entry_id FROM refunds WHERE mchid = $1 AND success_at_ms >= $2"
        " AND success_at_ms > 0 AND refund_minor > fee_refund_minor ORDER BY success_at_ms"
        " LIMIT 1))";
    *start = head_entry_id;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, mchid, strlen(mchid));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, end_ms);
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            int64_t anchor = store_column_int64(st, 0); /* 0 for NULL: none */
            if (anchor > 0 && anchor < *start)
                *start = anchor;
        } else {
            err = QB_E_STORAGE;
        }
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* The first pass: walks back from the head to the day's first entry and
 * notes the newest entry of every page of the day (pages counted from the
 * newest). */
static enum qb_error S_flow_plan(struct merchant_bill_cursor *c, struct store *reader,
                                 struct ledger_entry *batch)
{
    int64_t next = 0;
    enum qb_error err = S_flow_start(reader, c->mchid, c->end_ms, c->head_entry_id, &next);
    if (err != QB_OK)
        return err;
    while (next > 0) {
        size_t count = 0;
        int64_t after = 0;
        err = ledger_history_read(reader, c->account_id, next, S_FLOW_BATCH, batch, &count, &after);
        if (err != QB_OK)
            return err == QB_E_PARAM ? QB_E_INTERNAL : err;
        c->walked += (int64_t)count;
        for (size_t i = 0; i < count; i++) {
            const struct ledger_entry *e = &batch[i];
            if (e->created_at_ms >= c->end_ms)
                continue;
            if (e->created_at_ms < c->start_ms)
                return QB_OK; /* older than the day: the walk ends */
            if (c->day_entries % MERCHANT_BILL_PAGE_ROWS == 0) {
                if (c->page_count == MERCHANT_FUNDFLOW_PAGES_MAX)
                    return QB_E_TOO_LARGE;
                c->pages[c->page_count++] = e->id;
            }
            c->day_entries++;
            const struct ledger_posting *p = ledger_entry_posting(e, c->account_id);
            if (p != NULL && p->amount_minor != 0)
                c->day_moves++;
        }
        next = count > 0 ? after : 0;
    }
    return QB_OK;
}

enum qb_error merchant_dayend_balance(struct store *reader, const struct merchant *m,
                                      int64_t head_entry_id, int64_t end_ms,
                                      int64_t *available_minor, int64_t *pending_minor)
{
    QB_ASSERT(m->account_id > 0);
    *available_minor = *pending_minor = 0;
    int64_t next = 0, balance = 0;
    struct ledger_entry *batch = malloc(S_FLOW_BATCH * sizeof *batch);
    if (batch == NULL)
        return QB_E_INTERNAL;
    enum qb_error err = S_flow_start(reader, m->mchid, end_ms, head_entry_id, &next);
    /* Back to the newest entry before the day's end: the balance after it. */
    for (bool found = false; err == QB_OK && !found && next > 0;) {
        size_t count = 0;
        int64_t after = 0;
        err = ledger_history_read(reader, m->account_id, next, S_FLOW_BATCH, batch, &count, &after);
        for (size_t i = 0; err == QB_OK && !found && i < count; i++) {
            if (batch[i].created_at_ms >= end_ms)
                continue;
            const struct ledger_posting *p = ledger_entry_posting(&batch[i], m->account_id);
            if (p == NULL)
                err = QB_E_INTERNAL; /* an entry of the chain that does not touch it */
            else
                balance = p->balance_after_minor;
            found = true;
        }
        next = count > 0 ? after : 0;
    }
    free(batch);
    if (err != QB_OK)
        return err == QB_E_PARAM ? QB_E_INTERNAL : err;
    char owner[LEDGER_OWNER_SIZE_MAX];
    merchant_account_owner(m->mchid, owner, sizeof owner);
    int64_t held = 0;
    err = wallet_withdrawals_held_at(reader, owner, end_ms, &held);
    int64_t payouts = 0; /* and what its payouts to users held */
    if (err == QB_OK)
        err = merchant_payouts_held_at(reader, m->mchid, end_ms, &payouts);
    if (err != QB_OK)
        return err;
    if (!money_add(held, payouts, &held))
        return QB_E_INTERNAL;
    /* A hold never takes more than the balance had: anything else is a
     * ledger and a payments table that disagree. */
    if (held < 0 || held > balance)
        return QB_E_INTERNAL;
    *available_minor = balance - held;
    *pending_minor = held;
    return QB_OK;
}

static enum qb_error S_flow_summary(const struct merchant_bill_cursor *c, struct buf *out)
{
    const struct currency *cny = currency_find("CNY");
    char total[24], income_count[24], income[48], expense_count[24], expense[48];
    snprintf(total, sizeof total, "%lld", (long long)(c->income_count + c->expense_count));
    snprintf(income_count, sizeof income_count, "%lld", (long long)c->income_count);
    snprintf(expense_count, sizeof expense_count, "%lld", (long long)c->expense_count);
    S_amount(c->income_minor, cny, 2, income, sizeof income);
    S_amount(c->expense_minor, cny, 2, expense, sizeof expense);
    const char *summary[] = {total, income_count, income, expense_count, expense};
    enum qb_error err = buf_append_str(out, S_flow_summary_header);
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(summary); i++)
        err = S_field(out, i == 0, summary[i]);
    return err == QB_OK ? buf_append(out, "\r\n", 2) : err;
}

/* One piece of the fund-flow bill: on the first, the plan and the header;
 * then the oldest page not written yet, oldest entry first; after the
 * last page, the summary. */
static enum qb_error S_flow_next(struct merchant_bill_cursor *c, struct store *reader,
                                 struct buf *out)
{
    QB_ASSERT(c->account_id > 0);
    struct ledger_entry *batch = malloc(MERCHANT_BILL_PAGE_ROWS * sizeof *batch);
    if (batch == NULL)
        return QB_E_INTERNAL;
    enum qb_error err = QB_OK;
    if (!c->planned) {
        err = S_flow_plan(c, reader, batch);
        /* Money only held or released that day: the balance did not
         * move, and there is no line to list. */
        if (err == QB_OK && c->day_moves == 0)
            err = QB_E_NO_STATEMENT_EXIST;
        if (err == QB_OK) {
            c->planned = true;
            c->page_next = c->page_count;
            err = buf_append_str(out, S_flow_header);
            c->started = true;
        }
    }
    if (err == QB_OK && c->page_next > 0) {
        /* The page's entries, newest first from its note, then written
         * the other way round. */
        size_t index = --c->page_next;
        int64_t rows = index + 1 < c->page_count
                           ? MERCHANT_BILL_PAGE_ROWS
                           : c->day_entries - (int64_t)index * MERCHANT_BILL_PAGE_ROWS;
        QB_ASSERT(rows > 0 && rows <= MERCHANT_BILL_PAGE_ROWS);
        size_t have = 0;
        int64_t next = c->pages[index];
        while (err == QB_OK && have < (size_t)rows && next > 0) {
            size_t want = (size_t)rows - have, count = 0;
            int64_t after = 0;
            err = ledger_history_read(reader, c->account_id, next,
                                      want < S_FLOW_BATCH ? want : S_FLOW_BATCH, batch + have,
                                      &count, &after);
            if (err == QB_E_PARAM)
                err = QB_E_INTERNAL;
            c->walked += (int64_t)count;
            have += count;
            next = count > 0 ? after : 0;
        }
        if (err == QB_OK && have != (size_t)rows)
            err = QB_E_INTERNAL; /* the chain is shorter than the first pass found */
        for (size_t i = have; err == QB_OK && i > 0; i--)
            err = S_flow_entry(c, reader, &batch[i - 1], out);
        c->rows += (int64_t)have;
    }
    free(batch);
    if (err != QB_OK || c->page_next > 0)
        return err;
    err = S_flow_summary(c, out);
    if (err == QB_OK)
        c->done = true;
    return err;
}

/* --- the download token --------------------------------------------------------------- */

/* The token is mchid (10) ‖ bill_date without dashes (8) ‖ type (1 digit) ‖
 * gzip (1 digit) ‖ expiry in Unix seconds (10 digits) ‖ the first 16 bytes
 * of HMAC-SHA-256(key, "qianbao bill token\0" ‖ those 30 characters), in
 * hex (32): 62 characters of [0-9a-f]. */
#define S_TOKEN_BODY_SIZE 30

static void S_token_mac(const uint8_t key[DOMAIN_KEY_SIZE], const char *body, char out[33])
{
    static const char context[] = "qianbao bill token";
    char message[sizeof context + S_TOKEN_BODY_SIZE];
    memcpy(message, context, sizeof context); /* with its NUL: the separator */
    memcpy(message + sizeof context, body, S_TOKEN_BODY_SIZE);
    uint8_t mac[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(key, message, sizeof message, mac);
    crypto_hex(mac, 16, out);
}

void merchant_bill_token_make(const uint8_t key[DOMAIN_KEY_SIZE], const char *mchid,
                              const char *bill_date, enum merchant_bill_type type, bool gzip,
                              int64_t expires_at_ms, char out[MERCHANT_BILL_TOKEN_SIZE])
{
    QB_ASSERT(strlen(mchid) == MERCHANT_MCHID_SIZE - 1 && strlen(bill_date) == 10);
    QB_ASSERT(expires_at_ms > 0 && expires_at_ms / 1000 < INT64_C(10000000000));
    int n = snprintf(out, MERCHANT_BILL_TOKEN_SIZE, "%s%.4s%.2s%.2s%d%d%010lld", mchid, bill_date,
                     bill_date + 5, bill_date + 8, (int)type, gzip ? 1 : 0,
                     (long long)(expires_at_ms / 1000));
    QB_ASSERT(n == S_TOKEN_BODY_SIZE);
    S_token_mac(key, out, out + S_TOKEN_BODY_SIZE);
    QB_ASSERT(strlen(out) == MERCHANT_BILL_TOKEN_SIZE - 1);
}

bool merchant_bill_token_open(const uint8_t key[DOMAIN_KEY_SIZE], const char *token,
                              const char *mchid, int64_t now_ms,
                              char bill_date[MERCHANT_BILL_DATE_SIZE],
                              enum merchant_bill_type *type, bool *gzip)
{
    if (token == NULL || strlen(token) != MERCHANT_BILL_TOKEN_SIZE - 1 ||
        strspn(token, "0123456789") < S_TOKEN_BODY_SIZE ||
        strspn(token + S_TOKEN_BODY_SIZE, "0123456789abcdef") !=
            MERCHANT_BILL_TOKEN_SIZE - 1 - S_TOKEN_BODY_SIZE)
        return false;
    char mac[33];
    S_token_mac(key, token, mac);
    if (!crypto_equal(mac, token + S_TOKEN_BODY_SIZE, 32))
        return false;
    if (strncmp(token, mchid, MERCHANT_MCHID_SIZE - 1) != 0)
        return false;
    int64_t expires_s = 0;
    for (size_t i = 20; i < S_TOKEN_BODY_SIZE; i++)
        expires_s = expires_s * 10 + (token[i] - '0');
    if (now_ms >= expires_s * 1000)
        return false;
    int t = token[18] - '0';
    if (t < MERCHANT_BILL_ALL || t > MERCHANT_BILL_FUNDFLOW || (token[19] != '0' && token[19] != '1'))
        return false;
    snprintf(bill_date, MERCHANT_BILL_DATE_SIZE, "%.4s-%.2s-%.2s", token + 10, token + 14,
             token + 16);
    *type = (enum merchant_bill_type)t;
    *gzip = token[19] == '1';
    return true;
}

/* --- gzip ----------------------------------------------------------------------------------- */

enum qb_error merchant_gzip_open(struct merchant_gzip_stream *g)
{
    g->z = calloc(1, sizeof(z_stream));
    if (g->z == NULL)
        return QB_E_INTERNAL;
    /* windowBits 15 + 16: a gzip wrapper with no name and time 0, so the
     * same bill compresses to the same bytes. */
    if (deflateInit2((z_stream *)g->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(g->z);
        g->z = NULL;
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

enum qb_error merchant_gzip_push(struct merchant_gzip_stream *g, const void *data, size_t size,
                                 bool finish, struct buf *out)
{
    QB_ASSERT(g->z != NULL);
    z_stream *z = g->z;
    if (size > UINT32_MAX)
        return QB_E_TOO_LARGE;
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)size;
    unsigned char chunk[16384];
    enum qb_error err = QB_OK;
    int flush = finish ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
        z->next_out = chunk;
        z->avail_out = sizeof chunk;
        rc = deflate(z, flush);
        if (rc == Z_STREAM_ERROR) {
            err = QB_E_INTERNAL;
            break;
        }
        err = buf_append(out, chunk, sizeof chunk - z->avail_out);
        /* Without finish, deflate is done with this piece once it left
         * room in the output: it has taken all the input. */
    } while (err == QB_OK && (finish ? rc != Z_STREAM_END : z->avail_out == 0));
    z->next_in = NULL;
    z->avail_in = 0;
    return err;
}

void merchant_gzip_close(struct merchant_gzip_stream *g)
{
    if (g->z == NULL)
        return;
    deflateEnd((z_stream *)g->z);
    free(g->z);
    g->z = NULL;
}

enum qb_error merchant_gzip(const void *data, size_t size, struct buf *out)
{
    struct merchant_gzip_stream g;
    enum qb_error err = merchant_gzip_open(&g);
    if (err != QB_OK)
        return err;
    err = merchant_gzip_push(&g, data, size, true, out);
    merchant_gzip_close(&g);
    return err;
}
