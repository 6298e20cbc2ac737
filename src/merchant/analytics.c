/*
 * analytics.c — a merchant's sales figures (analytics.h).
 *
 * Four statements, each one index range of one merchant: orders made
 * (orders_created), payments grouped by UTC+8 day and hour (orders_paid),
 * refunds grouped the same way (refunds_success), and payers grouped by
 * user (orders_paid). The groups are at most
 * 92 × 24 rows; the sums are checked in C, not trusted to SQL.
 */
#include <stdbool.h>
#include <string.h>

#include "merchant/analytics.h"
#include "merchant/bill.h"

#define S_DAY_MS (INT64_C(24) * 60 * 60 * 1000)
#define S_HOUR_MS (INT64_C(60) * 60 * 1000)
#define S_UTC8_MS (8 * S_HOUR_MS)

/* Prepares sql and binds (mchid, start, end). */
static enum qb_error S_prepare(struct store *reader, const char *sql, const char *mchid,
                               int64_t start_ms, int64_t end_ms, struct store_stmt **st)
{
    if (store_prepare(reader, sql, st) != QB_OK)
        return QB_E_STORAGE;
    if (store_bind_text(*st, 1, mchid, strlen(mchid)) != QB_OK ||
        store_bind_int64(*st, 2, start_ms) != QB_OK || store_bind_int64(*st, 3, end_ms) != QB_OK) {
        store_finalize(*st);
        *st = NULL;
        return QB_E_STORAGE;
    }
    return QB_OK;
}

/* Adds count and amount to a bucket's payments or (refunds) its refunds. */
static enum qb_error S_bucket_add(struct merchant_analytics_bucket *b, bool refunds,
                                  int64_t count, int64_t amount_minor)
{
    int64_t *n = refunds ? &b->refund_count : &b->paid_count;
    int64_t *sum = refunds ? &b->refunds_minor : &b->sales_minor;
    return money_add(*n, count, n) && money_add(*sum, amount_minor, sum) ? QB_OK : QB_E_OVERFLOW;
}

/* Runs sql, which answers (hour offset from the first midnight, count,
 * sum) per hour, into the day and hour buckets and the totals of
 * payments or (refunds) refunds. */
static enum qb_error S_by_hour(struct store *reader, const char *sql, const char *mchid,
                               int64_t end_ms, bool refunds, struct merchant_analytics *out)
{
    struct store_stmt *st = NULL;
    enum qb_error err = S_prepare(reader, sql, mchid, out->start_ms, end_ms, &st);
    if (err != QB_OK)
        return err;
    struct merchant_analytics_bucket total = {0};
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t hour_index = store_column_int64(st, 0);
        int64_t count = store_column_int64(st, 1);
        int64_t amount = store_column_int64(st, 2);
        if (hour_index < 0 || hour_index >= (int64_t)out->day_count * 24 || count <= 0 ||
            amount <= 0) {
            err = QB_E_INTERNAL;
            break;
        }
        /* Midnights are UTC+8 midnights: the offset's hour is the hour of day. */
        err = S_bucket_add(&out->days[hour_index / 24], refunds, count, amount);
        if (err == QB_OK)
            err = S_bucket_add(&out->hours[hour_index % 24], refunds, count, amount);
        if (err == QB_OK)
            err = S_bucket_add(&total, refunds, count, amount);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (refunds) {
        out->refund_count = total.refund_count;
        out->refunds_minor = total.refunds_minor;
    } else {
        out->paid_count = total.paid_count;
        out->sales_minor = total.sales_minor;
    }
    return err;
}

enum qb_error merchant_analytics_read(struct store *reader, const char *mchid, const char *from,
                                      const char *to, struct merchant_analytics *out,
                                      const char **message)
{
    QB_ASSERT(reader != NULL && mchid != NULL && out != NULL && message != NULL);
    memset(out, 0, sizeof *out);
    int64_t first, last;
    *message = NULL;
    if (!merchant_date_day(from, &first) || !merchant_date_day(to, &last)) {
        *message = "from and to must be dates as YYYY-MM-DD";
        return QB_E_PARAM;
    }
    if (last < first || last - first >= MERCHANT_ANALYTICS_DAYS_MAX) {
        *message = "to must be from or later, at most 92 days in all";
        return QB_E_PARAM;
    }
    out->day_count = (size_t)(last - first + 1);
    out->start_ms = first * S_DAY_MS - S_UTC8_MS;
    int64_t end_ms = out->start_ms + (int64_t)out->day_count * S_DAY_MS;

    /* 1. orders made */
    struct store_stmt *st = NULL;
    enum qb_error err = S_prepare(reader,
                                  "SELECT COUNT(*) FROM orders WHERE mchid = $1"
                                  " AND created_at_ms >= $2 AND created_at_ms < $3",
                                  mchid, out->start_ms, end_ms, &st);
    if (err != QB_OK)
        return err;
    if (store_step(st) == STORE_STEP_ROW)
        out->order_count = store_column_int64(st, 0);
    else
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;

    /* 2. payments, and 3. refunds, by the offset of their hour from the
     * first midnight */
    err = S_by_hour(reader,
                    "SELECT (success_at_ms - $2) / 3600000, COUNT(*), SUM(total_minor) FROM orders"
                    " WHERE mchid = $1 AND success_at_ms >= $2 AND success_at_ms < $3"
                    " AND success_at_ms > 0 GROUP BY 1",
                    mchid, end_ms, false, out);
    /* A reversal of a paid payment-code order gives all of it back: a
     * refund of its own day, as in the trade bill (orders_reversed). */
    if (err == QB_OK)
        err = S_by_hour(reader,
                        "SELECT h, SUM(n), SUM(a) FROM ("
                        "SELECT (success_at_ms - $2) / 3600000 AS h, COUNT(*) AS n,"
                        " SUM(refund_minor) AS a FROM refunds WHERE mchid = $1"
                        " AND success_at_ms >= $2 AND success_at_ms < $3 AND success_at_ms > 0"
                        " GROUP BY 1 UNION ALL "
                        "SELECT (closed_at_ms - $2) / 3600000, COUNT(*), SUM(total_minor)"
                        " FROM orders WHERE mchid = $1 AND closed_at_ms >= $2"
                        " AND closed_at_ms < $3 AND state = 7 AND success_at_ms > 0 GROUP BY 1)"
                        " GROUP BY h",
                        mchid, end_ms, true, out);
    if (err != QB_OK)
        return err;
    if (out->paid_count > 0)
        out->average_ticket_minor =
            out->sales_minor / out->paid_count +
            (2 * (out->sales_minor % out->paid_count) >= out->paid_count ? 1 : 0);

    /* 4. payers, and those who paid twice or more */
    err = S_prepare(reader,
                    "SELECT COUNT(*), COALESCE(SUM(n >= 2), 0) FROM (SELECT COUNT(*) AS n"
                    " FROM orders WHERE mchid = $1 AND success_at_ms >= $2 AND success_at_ms < $3"
                    " AND success_at_ms > 0 GROUP BY payer_user_id)",
                    mchid, out->start_ms, end_ms, &st);
    if (err != QB_OK)
        return err;
    if (store_step(st) == STORE_STEP_ROW) {
        out->payer_count = store_column_int64(st, 0);
        out->repeat_payer_count = store_column_int64(st, 1);
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    QB_ASSERT(err != QB_OK || out->repeat_payer_count <= out->payer_count);
    return err;
}
