/*
 * notify.h — the merchant's payment and refund notifications, WeChat Pay
 * v3's callbacks: an outbox written by the commands, a worker that delivers.
 *
 * Owns: the notifications table (one row per event told to a merchant),
 * notification_attempts (one row per delivery attempt), the envelope, the
 * notify_url rules and the delivery worker.
 *
 * The outbox. A command that pays an order (pay.c, TRANSACTION.SUCCESS) or
 * refunds one (refund.c, REFUND.SUCCESS) calls merchant_txn_notify_add in
 * its own run, so the notification exists exactly when the money moved:
 * both commit or neither does. The row keeps the resource in plaintext
 * JSON (the order as the query answers it, or WeChat's refund notification
 * object), the notify_url, and the schedule: next_attempt_at_ms.
 *
 * Delivery, as WeChat Pay does it: POST notify_url with
 *   {"id", "create_time", "event_type", "resource_type": "encrypt-resource",
 *    "summary", "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext",
 *    "nonce", "associated_data", "original_type"}}
 * the resource encrypted under the merchant's API v3 key with a fresh
 * 12-character nonce at each attempt (associated_data = original_type:
 * "transaction" or "refund"), and the headers Wechatpay-Timestamp, -Nonce,
 * -Serial, -Signature (the platform key over "TIMESTAMP\nNONCE\nBODY\n",
 * the same message as a /v3 answer's) and -Signature-Type. A 2xx answer
 * delivers; anything else (another status, no answer in
 * MERCHANT_NOTIFY_TIMEOUT_MS, a refused address) is retried after the
 * ladder's next step: 15 s, 15 s, 30 s, 3 m, 10 m, 20 m, 30 m, 30 m, 30 m,
 * 60 m, 3 h, 3 h, 3 h, 6 h, 6 h — sixteen attempts in all, then FAILED,
 * unless the merchant asks for it again (merchant_notify_resend_cmd).
 *
 * Kept: a notification delivered or given up, with its attempts, until
 * MERCHANT_NOTIFY_KEPT_MS after it was made; each new one deletes up to
 * eight of the oldest past that, so the outbox holds a bounded window (the
 * merchant's list shows that window) rather than every payment for ever.
 *
 * The worker never holds a transaction across the network: it reads the
 * due rows with a read connection, delivers outside any command, then
 * records the attempt in a small command (merchant_notify_attempt_cmd)
 * that re-reads the row and writes only when the row is still at the
 * attempt the worker saw. Up to MERCHANT_NOTIFY_THREADS attempts are on
 * their way at once, at most MERCHANT_NOTIFY_MERCHANT_IN_FLIGHT_MAX of one
 * merchant's (of one user's merchants together, when a user owns them: any
 * user may open several) and never two of one notification: a merchant
 * whose endpoint takes its full timeout holds up its own notifications,
 * not the others'.
 * A restart loses nothing: the schedule is in the
 * database, and a row due while no daemon ran is due at the first pass.
 * An attempt cut short by a crash after the POST but before its record is
 * made again: a merchant may see a notification twice, as WeChat warns.
 *
 * notify_url: http or https, at most 255 bytes for an order and 256 for a
 * refund or a transfer (WeChat's limits), no user name or password.
 * Its host must not be a loopback, private, link-local, shared, multicast
 * or unspecified address — checked when the order or refund is made (a
 * host that does not resolve then is accepted) and again at each attempt,
 * where the address checked is the one connected to (pinned), so a DNS
 * answer that changes in between cannot point the POST inward. The
 * daemon's --allow-private-notify lifts the address rule (development).
 *
 * Must never: do network I/O or DNS inside a command; log the resource, a
 * key or a ciphertext.
 */
#ifndef QB_MERCHANT_NOTIFY_H
#define QB_MERCHANT_NOTIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "merchant/merchant.h"
#include "merchant/order.h"
#include "store/pool.h"

#define MERCHANT_NOTIFY_ID_SIZE 37          /* a UUID's 36 characters + NUL */
#define MERCHANT_NOTIFY_ATTEMPTS_MAX 16     /* the first and the ladder's fifteen */
#define MERCHANT_NOTIFY_RESENDS_MAX 16      /* attempts a merchant may ask for after those */
#define MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX                                                         \
    (MERCHANT_NOTIFY_ATTEMPTS_MAX + MERCHANT_NOTIFY_RESENDS_MAX)
#define MERCHANT_NOTIFY_TIMEOUT_MS 5000     /* a merchant must answer within 5 s */
#define MERCHANT_NOTIFY_BATCH_MAX 16        /* due rows one pass hands out at most */
#define MERCHANT_NOTIFY_THREADS 16          /* attempts on their way at once, all merchants */
#define MERCHANT_NOTIFY_MERCHANT_IN_FLIGHT_MAX 2 /* of them, one merchant's (or owner's) at most   \
                                                  */
#define MERCHANT_NOTIFY_POLL_MS 1000
#define MERCHANT_NOTIFY_RESOURCE_SIZE_MAX 8192
#define MERCHANT_NOTIFY_ERROR_SIZE_MAX 128
#define MERCHANT_NOTIFY_PAGE_MAX 100        /* notifications one list page holds */
#define MERCHANT_NOTIFY_HOST_SIZE_MAX 256
#define MERCHANT_NOTIFY_KEPT_MS (90LL * 24 * 3600 * 1000) /* a notification done, then deleted */

/* The ladder: seconds before attempt i + 2 after attempt i + 1 failed. */
extern const int64_t merchant_notify_ladder_s[MERCHANT_NOTIFY_ATTEMPTS_MAX - 1];

/* Stored: never renumber. */
enum merchant_notify_status {
    MERCHANT_NOTIFY_PENDING = 1,
    MERCHANT_NOTIFY_DELIVERED = 2,
    MERCHANT_NOTIFY_FAILED = 3, /* the ladder ran out */
};

/* When attempt number `attempt` (1-based) failed at now_ms, the time of the
 * next, or 0 when it was the last. divisor (>= 1) shrinks the ladder for
 * tests (domain_settings.notify_ladder_divisor); a step is at least 1 ms. */
int64_t merchant_notify_next_at_ms(int attempt, int64_t now_ms, int64_t divisor);

/* Inside a command: queues a notification of event_type ("TRANSACTION.
 * SUCCESS", "REFUND.SUCCESS") about object_id (a transaction_id or a
 * refund_id) for merchant mchid, due at once; none when notify_url is ""
 * (the order and the refund named no address). resource is rendered
 * compact; original_type is "transaction" or "refund". QB_E_STORAGE,
 * QB_E_TOO_LARGE (a resource over MERCHANT_NOTIFY_RESOURCE_SIZE_MAX). */
QB_MUST_USE enum qb_error merchant_txn_notify_add(struct ledger_txn *txn,
                                                  const struct domain_env *env,
                                                  const char *mchid, const char *notify_url,
                                                  const char *event_type,
                                                  const char *original_type,
                                                  const char *object_id, const char *summary,
                                                  const json_t *resource);

/* The seal of a notification's row (notifications.mac): HMAC-SHA-256
 * under the domain's notify key of its id, mchid, event_type,
 * original_type, summary, notify_url and resource (each its length, u32
 * LE, and its bytes) and created_at_ms (int64 LE): what the worker
 * encrypts, signs and sends, and where. Written with the row; the worker
 * sends no row whose seal fails, so that whoever can write the database,
 * without the data directory's secrets, cannot have the daemon sign a
 * notification of a payment that never was, or send a merchant's to
 * another address. */
void merchant_notify_mac(const struct domain_env *env, const char *id, const char *mchid,
                         const char *event_type, const char *original_type, const char *summary,
                         const char *notify_url, const char *resource, int64_t created_at_ms,
                         uint8_t out[CRYPTO_SHA256_SIZE]);

/* At start, before the worker: when no notification's row has a seal yet
 * (an earlier version's outbox), those still to be sent (PENDING, or
 * FAILED, which a resend queues again) are sealed as they stand, in one
 * ledger command; *sealed how many. QB_E_STORAGE or the submit's error. */
QB_MUST_USE enum qb_error merchant_notify_open(struct ledger *ledger, const struct domain_env *env,
                                               int64_t *sealed);

/* --- notify_url ----------------------------------------------------------------- */

/* The host (brackets of an IPv6 literal removed) and port of an http(s)
 * URL; false when url is not one: another scheme, no host, a user name, a
 * bad port, a byte outside printable ASCII. */
QB_MUST_USE bool merchant_notify_url_parse(const char *url, char host[MERCHANT_NOTIFY_HOST_SIZE_MAX],
                                           int *port);
/* True when the address (struct sockaddr_in or _in6) is one a notification
 * must not go to: loopback, RFC 1918 and RFC 4193 private, link-local,
 * CGNAT shared space, multicast, reserved, unspecified; an IPv6 address that
 * carries one of those IPv4 ones (IPv4-compatible, -mapped or -translated,
 * NAT64 64:ff9b::/96, 6to4 2002::/16); any local-use NAT64 address
 * (64:ff9b:1::/48, mapped as its operator chooses) and any Teredo address
 * (2001::/32, a tunnel through a NAT to an IPv4 host). */
QB_MUST_USE bool merchant_address_is_private(const void *sockaddr);
/* Checks url and the addresses of its host: with resolve, every address
 * the host resolves to (blocking: only on a thread that may wait, never an
 * HTTP thread or inside a command); without, only a host that is an
 * address (any form getaddrinfo reads as one) or a localhost name (RFC
 * 6761), with no lookup, so that a slow resolver holds nothing up. QB_OK
 * with pin "host:port:address" for CURLOPT_RESOLVE (pin may be NULL; only
 * with resolve); QB_E_PARAM with *reason when the URL is bad or an address
 * is private and private_allowed is false; QB_E_NOT_FOUND when the host
 * does not resolve, or, without resolve, is a name not looked up. */
QB_MUST_USE enum qb_error merchant_notify_url_check(const char *url, bool private_allowed,
                                                    bool resolve, char *pin, size_t pin_size,
                                                    const char **reason);

/* --- the envelope (pure) ---------------------------------------------------------- */

/* Appends the notification body to out: id, create_time (RFC 3339, UTC+8),
 * event_type, resource_type "encrypt-resource", summary, and the resource
 * encrypted with AEAD_AES_256_GCM under key with nonce (12 characters)
 * and associated_data = original_type. */
QB_MUST_USE enum qb_error merchant_notify_envelope(const uint8_t key[32], const char *id,
                                                   int64_t created_at_ms, const char *event_type,
                                                   const char *summary, const char *original_type,
                                                   const char *resource_json, const char *nonce,
                                                   struct buf *out);

/* --- recording an attempt --------------------------------------------------------- */

/* Records attempt number `attempt` of notification id: its row in
 * notification_attempts, and the notification DELIVERED (http_status
 * 200..299), PENDING until the ladder's next step, or FAILED after the
 * last. outcome QB_E_CONFLICT when the row is no longer PENDING at
 * attempt - 1 (another pass recorded it): nothing is written. */
struct merchant_notify_attempt_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char id[MERCHANT_NOTIFY_ID_SIZE];
    int attempt;
    int64_t at_ms;
    int http_status; /* 0: no answer */
    char error[MERCHANT_NOTIFY_ERROR_SIZE_MAX];
    int64_t duration_ms;
    enum qb_error outcome;
};
void merchant_notify_attempt_cmd_init(struct merchant_notify_attempt_cmd *c,
                                      const struct domain_env *env);

/* --- sending again ------------------------------------------------------------------ */

/* A merchant's "send it again", once its endpoint is mended: notification
 * id of mchid becomes due now. A PENDING one keeps its place on the
 * ladder, only sooner (an attempt on its way when this commits makes the
 * ladder's next step instead). A FAILED one is PENDING again for one
 * attempt more, and FAILED again if that fails; at most
 * MERCHANT_NOTIFY_RESENDS_MAX attempts beyond the ladder's sixteen, so
 * that its attempts stay bounded. outcome: QB_OK (status_before says what
 * it was, attempt_count how many were made, next_attempt_at_ms is now);
 * QB_E_NOT_FOUND (no such notification of mchid); QB_E_CONFLICT
 * (DELIVERED, or no attempt left: status_before says which). */
struct merchant_notify_resend_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    char mchid[MERCHANT_MCHID_SIZE];
    char id[MERCHANT_NOTIFY_ID_SIZE];
    enum qb_error outcome;
    enum merchant_notify_status status_before;
    int64_t attempt_count;
    int64_t next_attempt_at_ms;
};
void merchant_notify_resend_cmd_init(struct merchant_notify_resend_cmd *c);

/* --- the list a merchant reads ---------------------------------------------------- */

/* A page of merchant mchid's notifications, newest first, with their
 * attempts, as a JSON array into *out; before_seq 0: from the newest;
 * limit 1..MERCHANT_NOTIFY_PAGE_MAX. *next_seq: the key to read the next
 * page below, 0 when this page is the last. */
QB_MUST_USE enum qb_error merchant_notifications_list(struct store *reader, const char *mchid,
                                                      int64_t before_seq, size_t limit,
                                                      json_t **out, int64_t *next_seq);

/* Notifications not delivered yet and still being tried (PENDING): how
 * many, and when the oldest of them was made (0: none), for an operator's
 * metrics. Those given up are not counted: the log has them (the
 * merchant.notify.failed line of attempt 16). QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_notify_backlog(struct store *reader, int64_t *pending,
                                                  int64_t *oldest_created_ms);

/* --- the worker (notify_worker.c) --------------------------------------------------- */

struct merchant_notify_worker;
/* Starts the delivery threads (env->platform must be set): the loop's
 * (qb-notify), which reads what is due and hands it out, and
 * MERCHANT_NOTIFY_THREADS that each make one attempt at a time
 * (qb-notify-N). */
QB_MUST_USE enum qb_error merchant_notify_worker_start(const struct domain_env *env,
                                                       struct store_pool *pool,
                                                       struct merchant_notify_worker **out);
/* Waits for the attempts on their way (each MERCHANT_NOTIFY_TIMEOUT_MS at
 * most, then its record: the ledger must still run) and frees w. A row
 * handed out but not yet attempted is left due, for the next start. */
void merchant_notify_worker_stop(struct merchant_notify_worker *w);

#endif
