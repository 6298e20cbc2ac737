/*
 * sms_int.h — what the delivery worker and the outbox's readers agree on
 * about an sms_outbox row, inside src/sms/ only.
 *
 * A row stands (enum sms_delivery) as one of:
 *   delivered  delivered_at_ms != 0;
 *   given up   attempts >= SMS_ATTEMPTS_MAX (tried that often, or its code
 *              does not unseal);
 *   expired    next_attempt_at_ms = SMS_NEXT_ATTEMPT_NEVER_MS (the worker
 *              found its code expired, or expiring before the next attempt;
 *              or the code was voided, sms_txn_codes_void),
 *              or created_at_ms + settings.sms_code_ttl_ms <= now (the
 *              worker has not looked yet: stopped, or busy);
 *   retrying   anything else.
 * The mark keeps an expired row expired whatever TTL a later start is
 * given: its code (sms_codes.expires_at_ms) expired with the TTL it had.
 */
#ifndef QB_SMS_SMS_INT_H
#define QB_SMS_SMS_INT_H

#include <stdint.h>

#include "sms/sms.h"

#define SMS_NEXT_ATTEMPT_NEVER_MS INT64_MAX

#endif
