/*
 * sms_int.h — what the delivery worker and the outbox's readers agree on
 * about an sms_outbox row, inside src/sms/ only.
 *
 * A row stands (enum sms_delivery) as one of:
 *   delivered  delivered_at_ms != 0;
 *   given up   attempts >= SMS_ATTEMPTS_MAX (tried that often, or its code
 *              does not unseal); the worker marks it so with
 *              next_attempt_at_ms = SMS_NEXT_ATTEMPT_NEVER_MS too, which
 *              takes it out of the rows its read walks (a row an earlier
 *              version gave up kept its last time: migration 54);
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

/* A purpose a message may have: a code's or a notice's. */
bool sms_purpose_is_valid(int64_t purpose);
/* A notice's purpose (SMS_NOTICE_FIRST .. SMS_NOTICE_LAST). */
bool sms_purpose_is_notice(int64_t purpose);

/* A message's struct sms_detail as its row keeps it, sealed beside the
 * code: "1234|138****0000" (or an empty blob when it names nothing). */
#define SMS_DETAIL_PLAIN_SIZE_MAX (SMS_CARD_LAST4_SIZE + SMS_PHONE_MASKED_SIZE - 1)
#define SMS_DETAIL_SEALED_SIZE_MAX (SMS_DETAIL_PLAIN_SIZE_MAX + DOMAIN_SEAL_OVERHEAD)
/* Seals detail (valid) into out; *size 0 when it names nothing. */
void sms_detail_seal(const struct domain_env *env, const struct sms_detail *detail,
                     uint8_t out[SMS_DETAIL_SEALED_SIZE_MAX], size_t *size);
/* Opens what sms_detail_seal made into detail (all "" for an empty blob);
 * false, detail all "", when it does not open or is not of its shape. */
QB_MUST_USE bool sms_detail_unseal(const struct domain_env *env, const uint8_t *sealed,
                                   size_t sealed_size, struct sms_detail *detail);

#endif
