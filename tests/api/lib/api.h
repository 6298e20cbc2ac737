/*
 * api.h — wallet-level helpers for API tests: JSON calls, SMS codes read
 * from the operator's outbox, a registered and logged-in user in one call.
 *
 * They speak only the public /v1 and /admin API of a running qianbaod, the
 * way a client and an operator would. Helpers that can fail answer false and
 * leave the reason in api_error(); API_MUST (with test.h) turns that into a
 * test failure:
 *
 *   struct api_user a;
 *   API_MUST(api_user_new(&c, admin_token, &a));
 *   long status = api_call(&c, "GET", "/v1/me", a.token, NULL, &res);
 */
#ifndef QB_TESTS_API_API_H
#define QB_TESTS_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api/lib/client.h"
#include "api/lib/daemon.h"

#define API_ERROR_SIZE_MAX 512
#define API_PHONE_SIZE 12     /* 11 digits + NUL */
#define API_TOKEN_SIZE_MAX 80 /* 64 hex characters + NUL, with room */
#define API_ID_SIZE_MAX 64
#define API_SMS_CODE_SIZE 7 /* 6 digits + NUL */
#define API_PASSWORD_DEFAULT "correct horse 9"

struct api_user {
    char id[API_ID_SIZE_MAX];
    char phone[API_PHONE_SIZE];
    char password[64];
    char token[API_TOKEN_SIZE_MAX];
    char device_key[API_TOKEN_SIZE_MAX]; /* the key of the device "test" (api_user_new) */
    char session_id[API_ID_SIZE_MAX]; /* "" until api_session_id_current filled it */
};

/* Starts a qianbaod on ROOT/NAME (log ROOT/NAME.log) with cheap Argon2id
 * settings (--argon2-memory-kib 8 --argon2-ops 1) before extra_args
 * (NULL-terminated, may be NULL), and reads its admin token into
 * admin_token (API_TOKEN_SIZE_MAX bytes). On failure the log is printed. */
bool api_daemon_start(struct test_daemon *daemon, const char *root, const char *name,
                      const char *const *extra_args, char *admin_token);

/* Why the last helper answered false. */
const char *api_error(void);

/* Fails the running test with api_error() when expr is false. */
#define API_MUST(expr)                                                                             \
    do {                                                                                           \
        if (!(expr))                                                                               \
            TEST_FAIL_("%s: %s", #expr, api_error());                                              \
    } while (0)

/* A mobile number no other call of this process answered: "1" then 3-9,
 * then nine digits from a per-process seed and a counter. */
void api_phone_new(char phone[API_PHONE_SIZE]);

/* Sends method path with body (a JSON text, sent as application/json; NULL
 * for none) and, when token is not NULL, "Authorization: Bearer <token>".
 * Answers the status (0 when no response came). Always release res. */
long api_call(struct client *client, const char *method, const char *path, const char *token,
              const char *body, struct client_response *res);
/* The same with an explicit Content-Type line ("Content-Type: text/plain"),
 * or none when content_type is NULL. */
long api_call_typed(struct client *client, const char *method, const char *path, const char *token,
                    const char *content_type, const void *body, size_t body_size,
                    struct client_response *res);

/* A money-moving POST: api_call with "Idempotency-Key: <key>" (none when
 * key is NULL). */
long api_call_idem(struct client *client, const char *method, const char *path, const char *token,
                   const char *key, const char *body, struct client_response *res);

/* The response body as JSON (the caller decrefs), NULL when it is not JSON. */
json_t *api_json(const struct client_response *res);
/* A string member of the body ("" when absent or not a string), copied
 * into a buffer that lives until the next call of api_json_str. */
const char *api_json_str(const struct client_response *res, const char *name);
/* An integer member of the body; fallback when absent or not an integer. */
long long api_json_int(const struct client_response *res, const char *name, long long fallback);
/* The "code" of an error body, "" when the body is not {"code","message"}
 * (with LIMIT_EXCEEDED's "limit", the "locked_until" of PASSWORD_LOCKED or
 * PAYMENT_CODE_LOCKED, ACCOUNT_NOT_EMPTY's "reason" or TRANSFER_RETURNED's
 * "return_id"). */
const char *api_error_code(const struct client_response *res);
/* The named response header, or "" (a buffer that lives until the next call). */
const char *api_header(const struct client_response *res, const char *name);

/* POST /v1/sms-codes {phone, purpose}; answers the status. */
long api_sms_request(struct client *client, const char *phone, const char *purpose);
/* The same with a target (what the code authorises: a third party's
 * object; NULL: none). Codes for the user's own actions have none. */
long api_sms_request_target(struct client *client, const char *phone, const char *purpose,
                            const char *target);
/* The same as a user (token: the session; NULL: none): a bind_card code is
 * the asking wallet's, and binds the card in that wallet alone. */
long api_sms_request_as(struct client *client, const char *token, const char *phone,
                        const char *purpose, const char *target);
/* The newest code sent to phone for purpose, read from GET
 * /admin/sms-outbox?phone= (newest first). False when there is none. */
bool api_sms_code_read(struct client *client, const char *admin_token, const char *phone,
                       const char *purpose, char code[API_SMS_CODE_SIZE]);
/* How many notices (no code) of purpose the outbox holds for phone, once
 * the delivery worker has sent each (waiting up to 5 s); the newest's text
 * into text. -1 when the outbox cannot be read or a notice has a code. */
long api_sms_notices(struct client *client, const char *admin_token, const char *phone,
                     const char *purpose, char *text, size_t text_size);
/* Requests a code (expecting 202) and reads it from the outbox. */
bool api_sms_code_get(struct client *client, const char *admin_token, const char *phone,
                      const char *purpose, char code[API_SMS_CODE_SIZE]);
/* The same for a user's own action (reset_payment_password, unfreeze):
 * the user's phone, no target. */
bool api_sms_code_get_for(struct client *client, const char *admin_token,
                          const struct api_user *user, const char *purpose,
                          char code[API_SMS_CODE_SIZE]);
/* A change_phone code for user's wallet, asked for in its session, sent to
 * new_phone. */
bool api_phone_code_get(struct client *client, const char *admin_token, const struct api_user *user,
                        const char *new_phone, char code[API_SMS_CODE_SIZE]);

/* Registers a new user on a fresh phone with API_PASSWORD_DEFAULT (register
 * code, outbox, POST /v1/users) and logs in (POST /v1/sessions). Fills
 * user->id, phone, password, token. */
bool api_user_new(struct client *client, const char *admin_token, struct api_user *user);
/* POST /v1/sessions with the user's phone and password, device_name (NULL:
 * none) and the device key of user->device_key (the device api_user_new
 * logged in from, "test"), a device the account knows; the new token into
 * token_out (API_TOKEN_SIZE_MAX bytes). */
bool api_login(struct client *client, const struct api_user *user, const char *device_name,
               char *token_out);
/* The same from a device new to the account, as a client must: the
 * password alone is answered 403 SMS_CODE_REQUIRED, then a code of purpose
 * new_device, read from the outbox, goes with it. */
bool api_login_new_device(struct client *client, const char *admin_token,
                          const struct api_user *user, const char *device_name, char *token_out);
/* Fills user->session_id with the id of the session of user->token, from
 * GET /v1/me/sessions (the item marked current). */
bool api_session_id_current(struct client *client, struct api_user *user);
/* Sets the payment password (reset_payment_password code from the outbox,
 * PUT /v1/me/payment-password), expecting 204. */
bool api_payment_password_set(struct client *client, const char *admin_token,
                              const struct api_user *user, const char *payment_password);

/* One request of a parallel burst and, after api_call_parallel, its answer. */
struct api_parallel_call {
    const char *method;
    const char *path;
    const char *token; /* NULL: anonymous */
    const char *body;  /* NULL: none */
    long status;       /* out: 0 when no answer came */
    char code[64];     /* out: the error code, "" for none */
};
#define API_PARALLEL_MAX 256

/* Sends every call to base_url at once: one thread and one connection
 * each, the threads released together by a barrier. Waits for all answers.
 * count <= API_PARALLEL_MAX. */
void api_call_parallel(const char *base_url, struct api_parallel_call *calls, size_t count);

/* A resident id number (GB 11643-1999) of 17 digits plus its check
 * character, for a body of 17 digits; into out (19 bytes). */
void api_id_number_complete(const char *body17, char out[19]);

/* Verifies user's real name as real_name (POST /v1/me/kyc, level 2) with an
 * id number made from the user's phone (a birth date and sequence of its
 * digits: distinct for distinct phones). False with api_error() set. */
bool api_user_verify(struct client *client, const struct api_user *user, const char *real_name);

/* The value of an unlabelled gauge or counter of GET /metrics; -1 when the
 * page does not have it (or did not answer 200). */
double api_metric(struct client *client, const char *name);

/* Where digits (a short secret: an SMS code, a payment password) occur in
 * the daemon's log text as a value it could have leaked as, or NULL: not
 * within a longer number, not within an id or another word (a letter, digit
 * or '_' beside it), and not as a measured duration (`duration_us=`), where
 * a random code's six digits turn up by chance. */
const char *api_log_secret(const char *log, const char *digits);

#endif
