/*
 * sms.h — SMS verification codes, the outbox, and the gateways that deliver them.
 *
 * Owns: the sms_codes and sms_outbox tables. A code is 6 digits from the
 * CSPRNG, stored only as a keyed hash (domain_env.sms_code_key), valid for
 * settings.sms_code_ttl_ms, single use, bound to (phone, purpose, target),
 * voided after settings.sms_failures_max wrong tries. Sending is rate
 * limited per phone: a cooldown per (phone, purpose) and a daily cap.
 *
 * Issuing a code is a command (sms_send_cmd): it checks the limits, stores
 * the hash and writes one outbox row with the code sealed (domain_seal) in
 * the same transaction. The delivery worker (sms_worker) then hands each
 * pending outbox row to the configured gateway, outside the writer thread,
 * with retries; a delivered row is marked with a command.
 *
 * Every message says what its code authorises and warns against telling
 * it (sms_message_text): "验证码 123456：您正在将尾号 1234 的银行卡绑定到钱包
 * 账号 138****0000，切勿告诉任何人。" A bind_card message names the card by
 * its last four digits and the wallet that asked by its masked phone
 * (struct sms_detail, sealed in the outbox row beside the code), so that a
 * holder talked into reading a code out hears whose wallet it would bind
 * the card to.
 *
 * Gateways (one ops table, one file each):
 *   outbox (default, development): delivery is the row itself; an operator
 *          reads the messages at GET /admin/sms-outbox (sms_outbox_list).
 *   http:  POST to a provider URL with a body made from a template in
 *          which {phone}, {code}, {purpose}, {text}, {detail}, {card_last4}
 *          and {wallet_phone} are replaced (JSON-escaped).
 *          A 2xx answer is delivered; anything else is retried with backoff
 *          (1 s, 2 s, 4 s ... capped at 5 min, at most 10 attempts), but
 *          only while the code still works: a code past its TTL is never
 *          sent, and no retry is scheduled at or after the code's expiry.
 *
 * Must never: log a code or put one in any response but the admin outbox.
 */
#ifndef QB_SMS_SMS_H
#define QB_SMS_SMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/phone.h"
#include "domain/domain.h"
#include "store/pool.h"
#include "store/store.h"

#define SMS_CODE_DIGITS 6
#define SMS_PHONE_SIZE_MAX PHONE_SIZE_MAX
#define SMS_TARGET_SIZE_MAX 128 /* a card's keyed hash and its asker (wallet/cards.h) */
#define SMS_CARD_LAST4_SIZE 5   /* 4 digits + NUL */
#define SMS_PHONE_MASKED_SIZE 12 /* "138****0000" + NUL */
#define SMS_DETAIL_TEXT_SIZE_MAX 160
#define SMS_TEXT_SIZE_MAX 256

enum sms_purpose {
    SMS_PURPOSE_REGISTER = 1,
    SMS_PURPOSE_LOGIN = 2,
    SMS_PURPOSE_BIND_CARD = 3,
    SMS_PURPOSE_RESET_PAYMENT_PASSWORD = 4,
    SMS_PURPOSE_NEW_DEVICE = 5,
    SMS_PURPOSE_UNFREEZE = 6,
    SMS_PURPOSE_RESET_PASSWORD = 7, /* the login password, PUT /v1/me/password */
    SMS_PURPOSE_CHANGE_PHONE = 8,   /* to the new phone, PUT /v1/me/phone */
    SMS_PURPOSE_CLOSE_ACCOUNT = 9,  /* POST /v1/me/close */
    /* Notices: no code, a message that tells the phone's holder of a
     * change to the wallet (sms_txn_notice). */
    SMS_PURPOSE_NOTICE_PHONE_CHANGED = 10, /* to the phone a wallet moved away from */
    SMS_PURPOSE_NOTICE_PASSWORD_CHANGED = 11,
    SMS_PURPOSE_NOTICE_PAYMENT_PASSWORD_RESET = 12,
    SMS_PURPOSE_NOTICE_CARD_BOUND = 13, /* to the wallet's phone, when the card's is another */
};
#define SMS_PURPOSE_LAST SMS_PURPOSE_CLOSE_ACCOUNT /* the last a code is for */
#define SMS_NOTICE_FIRST SMS_PURPOSE_NOTICE_PHONE_CHANGED
#define SMS_NOTICE_LAST SMS_PURPOSE_NOTICE_CARD_BOUND

/* "register", "login", "bind_card", "reset_payment_password", "new_device",
 * "unfreeze", "reset_password", "change_phone", "close_account" ⇄ the enum. parse answers
 * false for anything else, notices too (nobody asks for one); name gives
 * theirs too: "notice_phone_changed", "notice_password_changed",
 * "notice_payment_password_reset", "notice_card_bound". */
QB_MUST_USE bool sms_purpose_parse(const char *text, enum sms_purpose *out);
const char *sms_purpose_name(enum sms_purpose purpose);

/* phone (valid) as its first three and last four digits: "138****0000". */
void sms_phone_mask(const char *phone, char out[SMS_PHONE_MASKED_SIZE]);

/* --- what a message says ---------------------------------------------------- */

/* What a code authorises beyond its purpose, for its message: for bind_card
 * the last four digits of the card and the masked phone of the wallet that
 * asked for the code (sms_phone_mask); "" where a purpose has none. */
struct sms_detail {
    char card_last4[SMS_CARD_LAST4_SIZE];
    char wallet_phone[SMS_PHONE_MASKED_SIZE];
};
/* Whether each field is "" or of its shape (4 digits; "138****0000"). */
bool sms_detail_is_valid(const struct sms_detail *detail);
/* What a code of purpose authorises, as its message says it (without the
 * code): "您正在将尾号 1234 的银行卡绑定到钱包账号 138****0000". detail may be
 * NULL; a bind_card detail without its fields says "您正在绑定银行卡". For a
 * notice, what it tells: a phone_changed one names the new phone masked
 * (detail's wallet_phone), a card_bound one the card's last four digits,
 * where they have them. */
void sms_message_detail(enum sms_purpose purpose, const struct sms_detail *detail,
                        char out[SMS_DETAIL_TEXT_SIZE_MAX]);
/* The whole message, the code first and a warning last:
 * "验证码 123456：" + sms_message_detail + "，切勿告诉任何人。" A notice's
 * (code "") is what it tells and what to do if the holder did not do it. */
void sms_message_text(enum sms_purpose purpose, const char *code, const struct sms_detail *detail,
                      char out[SMS_TEXT_SIZE_MAX]);

/* --- issuing ------------------------------------------------------------ */

struct sms_send_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char phone[SMS_PHONE_SIZE_MAX];
    enum sms_purpose purpose;
    char target[SMS_TARGET_SIZE_MAX]; /* what the code authorises ("" = the phone itself) */
    struct sms_detail detail;         /* what its message names (sms_detail_is_valid) */
    /* Out: QB_OK (a code was issued, or silently not — see below),
     * QB_E_RATE_LIMITED (cooldown or daily cap: nothing issued). */
    enum qb_error outcome;
    int64_t retry_after_ms; /* with RATE_LIMITED: how long until allowed */
    bool daily_cap_reached; /* with QB_OK: this was the phone's last code of the day */
};

/* Prepares a command that issues a code. The caller fills phone, purpose,
 * target and detail (validated: phone_is_valid, sms_detail_is_valid)
 * and submits cmd. Purposes that need a registered user (login,
 * reset_payment_password, new_device, unfreeze, reset_password) issue
 * nothing for an unknown phone but answer exactly as if they had, so the
 * answer never tells whether a phone is registered; register and
 * change_phone (a phone a user moves to) issue nothing for a registered
 * phone, likewise. */
void sms_send_cmd_init(struct sms_send_cmd *c, const struct domain_env *env);

/* --- consuming, inside another command --------------------------------------- */

/* Checks code against the newest live code for (phone, purpose, target) and
 * consumes it. QB_OK: valid and now used. QB_E_SMS_CODE_INVALID: wrong,
 * expired, used, voided or none; a wrong guess counts against the code's
 * tries and stays counted only if the caller's command commits (see the
 * outcome convention in domain.h). QB_E_STORAGE on storage errors. */
QB_MUST_USE enum qb_error sms_txn_code_consume(struct ledger_txn *txn, const struct domain_env *env,
                                               const char *phone, enum sms_purpose purpose,
                                               const char *target, const char *code);
/* The same, but a right code is left live when consume is false (a wrong
 * one still counts): for a command that checks the code before slow
 * outside work, and consumes it in the command after. */
QB_MUST_USE enum qb_error sms_txn_code_check(struct ledger_txn *txn, const struct domain_env *env,
                                             const char *phone, enum sms_purpose purpose,
                                             const char *target, const char *code, bool consume);

/* Counts one try against the newest code of (phone, purpose, target), as a
 * wrong guess does, for a refusal that only a right code reached and that
 * must not be free to repeat (a payment password refused as the verified
 * birth date tells that date). Stays counted only if the caller's command
 * commits. QB_E_STORAGE on storage errors. */
QB_MUST_USE enum qb_error sms_txn_code_try_spend(struct ledger_txn *txn, const char *phone,
                                                 enum sms_purpose purpose, const char *target);

/* Voids every live code of phone, whatever its purpose, as part of txn: a
 * phone a user moved away from (PUT /v1/me/phone) must open nothing a code
 * sent to it before could, should someone else register it meanwhile.
 * Their messages still in the outbox are never sent (they stand expired);
 * its notices still are. QB_E_STORAGE on storage errors. */
QB_MUST_USE enum qb_error sms_txn_codes_void(struct ledger_txn *txn, const char *phone);

/* Writes a notice of purpose (a NOTICE_ one) to phone into the outbox as part
 * of txn, sent as a code's message is (and tried for as long); detail as
 * sms_message_detail reads it, NULL for none. Counts toward no cooldown or
 * daily cap: the phone's holder asked for nothing. QB_E_STORAGE on storage
 * errors, and for a phone not of its shape (the database was changed by
 * hand). */
QB_MUST_USE enum qb_error sms_txn_notice(struct ledger_txn *txn, const struct domain_env *env,
                                         const char *phone, enum sms_purpose purpose,
                                         const struct sms_detail *detail);

/* --- the outbox and its delivery ------------------------------------------------ */

#define SMS_ATTEMPTS_MAX 10 /* attempts at a message before it is given up */

/* Where a message stands. A message is given up after SMS_ATTEMPTS_MAX
 * failed attempts (or at once when its code does not unseal), and expired
 * when its code's TTL (settings.sms_code_ttl_ms from created_at_ms) ran
 * out before it was delivered, or would before the next attempt could be
 * made: either way nobody tries it again. */
enum sms_delivery {
    SMS_DELIVERY_RETRYING = 1, /* not delivered yet, still tried (the first time included) */
    SMS_DELIVERY_DELIVERED,
    SMS_DELIVERY_GIVEN_UP,
    SMS_DELIVERY_EXPIRED,
};
/* "retrying", "delivered", "given_up", "expired"; "unknown" outside the enum. */
const char *sms_delivery_name(enum sms_delivery delivery);

struct sms_outbox_item {
    char phone[SMS_PHONE_SIZE_MAX];
    int64_t id;                     /* insertion order: the paging key */
    enum sms_purpose purpose;
    char code[SMS_CODE_DIGITS + 1]; /* "" when delivered through a provider (not kept) */
    char text[SMS_TEXT_SIZE_MAX];   /* the message (sms_message_text); "" with code "" */
    int64_t created_at_ms;
    int64_t delivered_at_ms;        /* 0 while pending */
    enum sms_delivery delivery;     /* as of the env's clock at the read */
};

/* The newest outbox messages for a phone (all phones when phone is NULL),
 * newest first, at most count_max, those with id below before_id (0: from
 * the newest). For the operator's development outbox. */
QB_MUST_USE enum qb_error sms_outbox_list(const struct domain_env *env, struct store *reader,
                                          const char *phone, int64_t before_id,
                                          struct sms_outbox_item *items,
                                          size_t count_max, size_t *count);

/* Messages not delivered, by where they stand (enum sms_delivery) as of
 * the env's clock: still being tried, given up (sms.outbox.undeliverable,
 * sms.outbox.unsendable) and expired (sms.expired_undelivered), and when
 * the oldest of those still tried was made (created_at_ms; 0 when none
 * is), for an operator's metrics: one read. A message still tried is
 * younger than the code's TTL, or it would count as expired. QB_E_STORAGE
 * on read errors. */
QB_MUST_USE enum qb_error sms_outbox_undelivered(const struct domain_env *env, struct store *reader,
                                                 int64_t *retrying, int64_t *given_up,
                                                 int64_t *expired,
                                                 int64_t *retrying_oldest_created_at_ms);

struct sms_gateway;
struct sms_gateway_ops {
    const char *name;
    /* Delivers one message, which says what detail names (never NULL);
     * QB_OK when the provider accepted it. Runs on the worker thread; may
     * block up to its own timeout. */
    enum qb_error (*send)(struct sms_gateway *gateway, const char *phone, enum sms_purpose purpose,
                          const char *code, const struct sms_detail *detail);
    void (*free)(struct sms_gateway *gateway);
};
struct sms_gateway {
    const struct sms_gateway_ops *ops;
};

/* The development outbox: sending keeps the message for the operator. */
struct sms_gateway *sms_gateway_outbox_new(void);
/* An HTTP provider. url is http:// or https://; body_template is a JSON
 * text with {phone}, {code} and {purpose} placeholders, and {text} (the
 * whole message), {detail} (what the code authorises), {card_last4} and
 * {wallet_phone} (struct sms_detail); timeout_ms bounds each attempt. NULL
 * on a bad argument (sms_gateway_http_check says why). */
struct sms_gateway *sms_gateway_http_new(const char *url, const char *body_template,
                                         int64_t timeout_ms);
/* Whether sms_gateway_http_new takes url (NULL: the template alone) and
 * body_template: url http:// or https:// with a host, no spaces or control
 * characters; the template with {phone}, and {code} or {text}, a JSON
 * object once filled in. Else false, with why (naming the url or the
 * template, never quoting them) in why. */
QB_MUST_USE bool sms_gateway_http_check(const char *url, const char *body_template, char *why,
                                        size_t why_size);
/* Whether a provider can tell a notice from a code by body_template: it
 * holds {text} (the notice's words) or {purpose} (its name, which a
 * provider's template may be chosen by). */
bool sms_gateway_http_says_notices(const char *body_template);
void sms_gateway_free(struct sms_gateway *gateway);

/* The delivery worker: one thread that polls the outbox (every 200 ms, or
 * at once after sms_worker_wake or a pass that found a full batch), sends
 * pending messages through gateway and records the result with a command
 * through env->ledger. With the outbox gateway a message is delivered the
 * moment it is written. */
struct sms_worker;
QB_MUST_USE enum qb_error sms_worker_start(const struct domain_env *env, struct store_pool *pool,
                                           struct sms_gateway *gateway, struct sms_worker **out);
void sms_worker_wake(struct sms_worker *worker);
/* Stops and joins the thread; call before closing the ledger. */
void sms_worker_stop(struct sms_worker *worker);

#endif
