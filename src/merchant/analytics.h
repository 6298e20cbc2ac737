/*
 * analytics.h — a merchant's sales figures over a range of days, for its
 * owner (GET /v1/merchants/me/analytics).
 *
 * Owns: indexed reads of the orders table (orders_created for the orders
 * made, orders_paid for the payments and the payers, orders_reversed for
 * the reversals of paid payment-code orders) and of the refunds table
 * (refunds_success), each bounded by the merchant and the range, never a
 * scan of other merchants' rows; the sums in exact integer minor units
 * with checked addition.
 *
 * Days are Asia/Shanghai days (UTC+8), hours the hour of the day there.
 * Sales are gross: the totals of the orders paid in the range, counted on
 * the day they were paid, whatever happened to them after. Refunds are
 * figures of their own, counted on the day they succeeded, a reversal of a
 * paid payment-code order among them (all of its amount back): net takings
 * are sales − refunds, as in the trade bill.
 *
 * Who calls it: the wallet-side merchant routes (merchant_routes.c).
 */
#ifndef QB_MERCHANT_ANALYTICS_H
#define QB_MERCHANT_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "merchant/merchant.h"

#define MERCHANT_ANALYTICS_DAYS_MAX 92 /* about a quarter */

struct merchant_analytics_bucket {
    int64_t paid_count;
    int64_t sales_minor;
    int64_t refund_count;
    int64_t refunds_minor;
};

struct merchant_analytics {
    int64_t start_ms; /* the first day's midnight in UTC+8 */
    size_t day_count; /* 1..MERCHANT_ANALYTICS_DAYS_MAX */
    int64_t order_count;        /* orders made in the range, paid or not */
    int64_t paid_count;         /* orders paid in the range */
    int64_t sales_minor;        /* their totals */
    int64_t average_ticket_minor; /* sales / paid, rounded half up; 0 without payments */
    int64_t payer_count;        /* distinct users who paid */
    int64_t repeat_payer_count; /* of them, those who paid twice or more */
    int64_t refund_count;       /* refunds that succeeded in the range */
    int64_t refunds_minor;      /* their amounts */
    struct merchant_analytics_bucket days[MERCHANT_ANALYTICS_DAYS_MAX];
    struct merchant_analytics_bucket hours[24];
};

/* The figures of merchant mchid for the days from..to ("YYYY-MM-DD", both
 * included). QB_E_PARAM (with *message) when a date is malformed, to is
 * before from, or the range is longer than MERCHANT_ANALYTICS_DAYS_MAX
 * days; QB_E_STORAGE; QB_E_OVERFLOW when a sum passes int64. */
QB_MUST_USE enum qb_error merchant_analytics_read(struct store *reader, const char *mchid,
                                                  const char *from, const char *to,
                                                  struct merchant_analytics *out,
                                                  const char **message);

#endif
