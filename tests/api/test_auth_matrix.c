/*
 * test_auth_matrix.c — who may call what: every route × every kind of caller.
 *
 * The table below holds, for each (method, pattern) the daemon serves, the
 * status each kind of caller must get. The daemon's own route table is read
 * from src/http/routes.c ($QB_SOURCE_DIR): the api tests link only the test
 * helpers and qb_base, not qb_http, so http_routes[] cannot be iterated
 * here. The test fails when the two lists differ in either direction, so a
 * new route cannot ship without a row saying who may call it.
 *
 * Callers:
 *   anonymous  no Authorization header
 *   user A     a fresh user's session token
 *   user B     another fresh user's token; B owns the {id} of /v1/me/sessions/{id},
 *              /v1/me/cards/{id} and /v1/me/payments/{id}, and sent the red packet
 *              of GET /v1/red-packets/{id} (which any logged-in user may read)
 *   admin      the operator's token (DATA_DIR/admin-token)
 *   expired    a token of the right shape (64 hex) that never existed: the
 *              shortest --session-absolute-s is 300 s, too long to wait for,
 *              and the daemon answers an expired, unknown or revoked token
 *              alike (identity_session_authenticate); real expiry is
 *              covered by the identity unit tests
 *   revoked    a real token after DELETE /v1/sessions/current
 *   frozen     a user who froze their own wallet (POST /v1/me/freeze)
 *   merchant   a merchant's signed request (WECHATPAY2-SHA256-RSA2048, made
 *              with OpenSSL as an SDK makes it: merchant_helpers.h); refused
 *              on every route that is not the merchant API, and the only
 *              caller the merchant API lets in (its refusals are 401
 *              SIGN_ERROR)
 *
 * Requests carry a deliberately incomplete body ("{}") where the route takes
 * one: a caller who got past authentication gets PARAM_ERROR (400), which
 * tells "authenticated" from "refused" without changing anything. Every row
 * gets fresh users, so a row that logs out or freezes cannot leak into the
 * next.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/routes.h"
#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "test.h"


enum caller {
    CALLER_ANONYMOUS,
    CALLER_USER_A,
    CALLER_USER_B,
    CALLER_ADMIN,
    CALLER_EXPIRED,
    CALLER_REVOKED,
    CALLER_FROZEN,
    CALLER_MERCHANT,
    CALLER_COUNT
};

static const char *const S_caller_names[CALLER_COUNT] = {
    "anonymous", "user A", "user B", "admin", "expired", "revoked", "frozen", "merchant",
};

/* What {id} in a pattern stands for. */
enum path_id {
    ID_NONE,
    ID_SESSION_OF_B,    /* user B's current session */
    ID_VICTIM,          /* a third user, the object of an operator's action */
    ID_MONTH,           /* a calendar month, "2026-11" */
    ID_NO_TRANSFER,     /* a well-formed transfer id that nobody made */
    ID_CARD_OF_B,       /* a card user B bound */
    ID_PAYMENT_OF_B,    /* a top-up user B made */
    ID_APPID,           /* the matrix's merchant's appid */
    ID_ORDER,           /* a well-formed out_trade_no or transaction_id nobody made */
    ID_NO_RED_PACKET,   /* a well-formed red packet id that nobody sent */
    ID_RED_PACKET_OF_B, /* a red packet user B sent */
    ID_NO_OPERATOR,     /* a well-formed operator name nobody was given */
    ID_MERCHANT_OF_B,   /* the mchid of a merchant user B applied for */
    ID_COLLECTION_OF_B, /* a group collection user B asked for */
};

/* How the victim is prepared before the row runs. */
enum setup {
    SETUP_NONE,
    SETUP_VICTIM_FROZEN_BY_ADMIN,
    SETUP_VICTIM_VERIFIED,     /* a verified real name: an operator may raise its KYC level */
    SETUP_VICTIM_LOGIN_LOCKED, /* wrong passwords locked its login: an operator may lift it */
    SETUP_PAYMENT_PASSWORDS,   /* users A and B and the frozen one have a payment password */
};

struct matrix_row {
    const char *method;
    const char *pattern;
    enum path_id id;
    enum setup setup;
    const char *body; /* NULL: none */
    int status[CALLER_COUNT];
};

/* The statuses in order: anonymous, A, B, admin, expired, revoked, frozen, merchant. */
#define ALL(s)                                                                                     \
    {                                                                                              \
        s, s, s, s, s, s, s, s                                                                     \
    }
#define USER_ROUTE(ok, frozen)                                                                     \
    {                                                                                              \
        401, ok, ok, 401, 401, 401, frozen, 401                                                    \
    }
#define ADMIN_ROUTE(ok)                                                                            \
    {                                                                                              \
        401, 403, 403, ok, 401, 401, 403, 401                                                      \
    }
#define MERCHANT_ROUTE(ok)                                                                         \
    {                                                                                              \
        401, 401, 401, 401, 401, 401, 401, ok                                                      \
    }

static const struct matrix_row S_matrix[] = {
    {"GET", "/healthz", ID_NONE, SETUP_NONE, NULL, ALL(200)},
    {"GET", "/metrics", ID_NONE, SETUP_NONE, NULL, ALL(200)},
    {"POST", "/v1/sms-codes", ID_NONE, SETUP_NONE, "{}", ALL(400)},
    {"POST", "/v1/users", ID_NONE, SETUP_NONE, "{}", ALL(400)},
    {"POST", "/v1/sessions", ID_NONE, SETUP_NONE, "{}", ALL(400)},
    {"DELETE", "/v1/sessions/current", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(204, 204)},
    {"GET", "/v1/me", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* A frozen wallet keeps its name. */
    {"PUT", "/v1/me/display-name", ID_NONE, SETUP_NONE, "{\"display_name\":\"矩阵\"}",
     USER_ROUTE(200, 403)},
    {"GET", "/v1/me/balances", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"POST", "/v1/me/kyc", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"PUT", "/v1/me/password", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"PUT", "/v1/me/phone", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/me/close", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/closing", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"PUT", "/v1/me/payment-password", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/me/payment-password/verify", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/sessions", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* B's session: B may revoke it; for anyone else it does not exist. */
    {"DELETE",
     "/v1/me/sessions/{id}",
     ID_SESSION_OF_B,
     SETUP_NONE,
     NULL,
     {401, 404, 204, 401, 401, 401, 404, 401}},
    /* Freezing twice is a conflict. */
    {"POST", "/v1/me/freeze", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 409)},
    {"POST", "/v1/me/unfreeze", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/security", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/me/security-events", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* Bills are read-only: a frozen user still reads them. */
    {"GET", "/v1/me/transactions", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/me/transactions.csv", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/me/statements/{month}", ID_MONTH, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* Notices too; marking them read moves no money: a frozen user may. */
    {"GET", "/v1/me/notices", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/me/notices/unread", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/me/changes", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"POST", "/v1/me/notices/read", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/transfers", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* Nobody's transfer: the same 404 as another user's (test_transfers.c reads real ones). */
    {"GET", "/v1/transfers/{id}", ID_NO_TRANSFER, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    /* No Idempotency-Key: refused before the transfer is looked up, frozen or not
     * (test_transfer_return.c returns real ones). */
    {"POST", "/v1/transfers/{id}/return", ID_NO_TRANSFER, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* The same (test_transfer_delayed.c cancels real ones). */
    {"POST", "/v1/transfers/{id}/cancel", ID_NO_TRANSFER, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/payouts", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* Nobody's payout: the same 404 as another user's (test_payouts.c takes real ones). */
    {"GET", "/v1/payouts/{id}", ID_NO_TRANSFER, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    {"POST", "/v1/payouts/{id}/confirm", ID_NO_TRANSFER, SETUP_NONE, "{}", USER_ROUTE(404, 404)},
    {"GET", "/v1/me/limits", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"PUT", "/v1/me/limits", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/me/cards", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/cards", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* B's card and payment: for anyone else they do not exist. */
    {"DELETE",
     "/v1/me/cards/{id}",
     ID_CARD_OF_B,
     SETUP_NONE,
     NULL,
     {401, 404, 204, 401, 401, 401, 404, 401}},
    {"POST", "/v1/me/topups", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/me/withdrawals", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* A quote reads the balance: a frozen user still sees what a withdrawal would cost. */
    {"GET", "/v1/me/withdrawal-quote", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET",
     "/v1/me/payments/{id}",
     ID_PAYMENT_OF_B,
     SETUP_NONE,
     NULL,
     {401, 404, 200, 401, 401, 401, 404, 401}},
    /* Merchants: applying, a user's openid in an app, paying an order. */
    {"POST", "/v1/merchants", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/openids/{appid}", ID_APPID, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"POST", "/v1/me/order-payments", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* Nobody's merchant (a merchant's owner is tested in test_notify.c). */
    {"GET", "/v1/merchants/{mchid}/notifications", ID_ORDER, SETUP_NONE, NULL,
     USER_ROUTE(404, 404)},
    {"POST", "/v1/merchants/{mchid}/notifications/{id}/resend", ID_ORDER, SETUP_NONE, "{}",
     USER_ROUTE(404, 404)},
    {"POST", "/admin/merchants", ID_NONE, SETUP_NONE, "{}", ADMIN_ROUTE(400)},
    /* Another app for B's merchant: B's alone (the others find no such merchant). */
    {"POST",
     "/v1/merchants/{mchid}/apps",
     ID_MERCHANT_OF_B,
     SETUP_NONE,
     "{}",
     {401, 404, 201, 401, 401, 401, 404, 401}},
    {"POST", "/admin/merchants/{mchid}/apps", ID_MERCHANT_OF_B, SETUP_NONE, "{}", ADMIN_ROUTE(201)},
    /* Payment codes: nobody's device or pending payment is the same 404 as another user's
     * (test_paycode.c revokes and confirms real ones). */
    {"POST", "/v1/me/devices", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/devices", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"DELETE", "/v1/me/devices/{id}", ID_NO_TRANSFER, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    /* Codes only for a wallet with a payment password, and none while frozen. */
    {"GET", "/v1/me/payment-code", ID_NONE, SETUP_PAYMENT_PASSWORDS, NULL, USER_ROUTE(200, 403)},
    {"GET", "/v1/me/payment-code-settings", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"PUT", "/v1/me/payment-code-settings", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/pending-payments", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"POST", "/v1/me/pending-payments/{id}/confirm", ID_NO_TRANSFER, SETUP_NONE,
     "{\"payment_password\": \"135790\"}", USER_ROUTE(404, 404)},
    /* The owner's view of a merchant: the matrix's users own none (test_merchant_owner.c
     * reads real ones); a missing range or body is refused before anything is looked up. */
    {"GET", "/v1/merchants/me", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    {"GET", "/v1/merchants/me/analytics", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(400, 400)},
    {"GET", "/v1/merchants/me/payments", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    {"GET", "/v1/merchants/me/changes", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    /* No payment password: refused before the merchant is looked up (test_merchant_close.c
     * closes real ones). */
    {"POST", "/v1/merchants/me/close", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/merchants/me/apiv3-key", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/merchants/me/certificate", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/merchants/me/withdrawals", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"POST", "/v1/merchants/me/refunds", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* The matrix's users own no merchant: nothing to quote. */
    {"GET", "/v1/merchants/me/withdrawal-quote", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(404, 404)},
    /* The merchant API: a query without ?mchid= and a body of "{}" are
     * PARAM_ERROR once the signature passed. */
    {"POST", "/v3/pay/transactions/native", ID_NONE, SETUP_NONE, "{}", MERCHANT_ROUTE(400)},
    {"POST", "/v3/pay/transactions/jsapi", ID_NONE, SETUP_NONE, "{}", MERCHANT_ROUTE(400)},
    {"POST", "/v3/pay/transactions/app", ID_NONE, SETUP_NONE, "{}", MERCHANT_ROUTE(400)},
    {"POST", "/v3/pay/transactions/h5", ID_NONE, SETUP_NONE, "{}", MERCHANT_ROUTE(400)},
    {"POST", "/v3/pay/transactions/codepay", ID_NONE, SETUP_NONE, "{}", MERCHANT_ROUTE(400)},
    {"POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse", ID_ORDER, SETUP_NONE, "{}",
     MERCHANT_ROUTE(400)},
    {"GET", "/v3/pay/transactions/out-trade-no/{out_trade_no}", ID_ORDER, SETUP_NONE, NULL,
     MERCHANT_ROUTE(400)},
    {"GET", "/v3/pay/transactions/id/{transaction_id}", ID_ORDER, SETUP_NONE, NULL,
     MERCHANT_ROUTE(400)},
    {"POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/close", ID_ORDER, SETUP_NONE, "{}",
     MERCHANT_ROUTE(400)},
    {"GET", "/v3/certificates", ID_NONE, SETUP_NONE, NULL, MERCHANT_ROUTE(200)},
    /* Bills: no bill_date is PARAM_ERROR; no token names no file. */
    {"GET", "/v3/bill/tradebill", ID_NONE, SETUP_NONE, NULL, MERCHANT_ROUTE(400)},
    {"GET", "/v3/bill/fundflowbill", ID_NONE, SETUP_NONE, NULL, MERCHANT_ROUTE(400)},
    {"GET", "/v3/billdownload/file", ID_NONE, SETUP_NONE, NULL, MERCHANT_ROUTE(404)},
    /* An account type that is not BASIC (test_merchant_owner.c reads BASIC). */
    {"GET", "/v3/merchant/fund/balance/{account_type}", ID_ORDER, SETUP_NONE, NULL,
     MERCHANT_ROUTE(400)},
    {"GET", "/v3/merchant/fund/dayendbalance/{account_type}", ID_ORDER, SETUP_NONE, NULL,
     MERCHANT_ROUTE(400)},
    {"POST", "/v3/refund/domestic/refunds", ID_NONE, SETUP_NONE, "{}", MERCHANT_ROUTE(400)},
    /* Nobody's refund: RESOURCE_NOT_EXISTS. */
    {"GET", "/v3/refund/domestic/refunds/{out_refund_no}", ID_ORDER, SETUP_NONE, NULL,
     MERCHANT_ROUTE(404)},
    {"GET", "/v3/qianbao/notifications", ID_NONE, SETUP_NONE, NULL, MERCHANT_ROUTE(200)},
    {"POST", "/v3/fund-app/mch-transfer/transfer-bills", ID_NONE, SETUP_NONE, "{}",
     MERCHANT_ROUTE(400)},
    /* Nobody's payout: NOT_FOUND (test_payouts.c reads and cancels real ones). */
    {"POST", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel", ID_ORDER,
     SETUP_NONE, "{}", MERCHANT_ROUTE(404)},
    {"GET", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}", ID_ORDER,
     SETUP_NONE, NULL, MERCHANT_ROUTE(404)},
    {"GET", "/v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{transfer_bill_no}",
     ID_ORDER, SETUP_NONE, NULL, MERCHANT_ROUTE(404)},
    /* Nobody's notification: RESOURCE_NOT_EXISTS (test_notify.c resends real ones). */
    {"POST", "/v3/qianbao/notifications/{id}/resend", ID_ORDER, SETUP_NONE, "{}",
     MERCHANT_ROUTE(404)},
    /* Group collections: shared by id as a red packet is; paying needs an Idempotency-Key
     * (none here: 400 to everyone logged in); only B, who asked, closes B's. */
    {"POST", "/v1/collections", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    {"GET", "/v1/me/collections", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/collections/{id}", ID_COLLECTION_OF_B, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/v1/collections/{id}/code", ID_COLLECTION_OF_B, SETUP_NONE, NULL,
     USER_ROUTE(200, 200)},
    {"POST", "/v1/collections/{id}/payments", ID_COLLECTION_OF_B, SETUP_NONE, "{}",
     USER_ROUTE(400, 400)},
    {"POST",
     "/v1/collections/{id}/close",
     ID_COLLECTION_OF_B,
     SETUP_NONE,
     NULL,
     {401, 404, 200, 401, 401, 401, 404, 401}},
    {"POST", "/v1/red-packets", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* Nobody's packet: claiming it finds nothing, frozen or not. */
    {"POST", "/v1/red-packets/{id}/claims", ID_NO_RED_PACKET, SETUP_NONE, NULL,
     USER_ROUTE(404, 404)},
    /* A packet is shared by its id in a chat: every logged-in user who has it may read it. */
    {"GET", "/v1/red-packets/{id}", ID_RED_PACKET_OF_B, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    /* QR codes: a receive code is shown to anyone logged in (paying a
     * frozen payee is refused); B's till code is B's alone. */
    {"GET", "/v1/me/receive-code", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET",
     "/v1/merchants/{mchid}/till-code",
     ID_MERCHANT_OF_B,
     SETUP_NONE,
     NULL,
     {401, 404, 200, 401, 401, 401, 404, 401}},
    {"POST", "/v1/qr/resolve", ID_NONE, SETUP_NONE, "{}", USER_ROUTE(400, 400)},
    /* Without ?to= nothing is looked up (test_transfers.c looks up real payees). */
    {"GET", "/v1/payees", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(400, 400)},
    {"GET", "/v1/payees/recent", ID_NONE, SETUP_NONE, NULL, USER_ROUTE(200, 200)},
    {"GET", "/admin/users", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"POST", "/admin/users/{id}/freeze", ID_VICTIM, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"POST", "/admin/users/{id}/unfreeze", ID_VICTIM, SETUP_VICTIM_FROZEN_BY_ADMIN, NULL,
     ADMIN_ROUTE(200)},
    {"PUT", "/admin/users/{id}/kyc-level", ID_VICTIM, SETUP_VICTIM_VERIFIED, "{\"kyc_level\":3}",
     ADMIN_ROUTE(200)},
    {"POST", "/admin/users/{id}/login-unlock", ID_VICTIM, SETUP_VICTIM_LOGIN_LOCKED,
     "{\"reason\":\"ticket 1: matrix\"}", ADMIN_ROUTE(200)},
    /* No reason: refused before the user is read (test_close.c closes real ones). */
    {"POST", "/admin/users/{id}/close", ID_VICTIM, SETUP_NONE, "{}", ADMIN_ROUTE(400)},
    {"GET", "/admin/sms-outbox", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/users/{id}/security-events", ID_VICTIM, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/users/{id}/notices", ID_VICTIM, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/users/{id}", ID_VICTIM, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/users/{id}/transactions", ID_VICTIM, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/users/{id}/transactions.csv", ID_VICTIM, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    /* Without ?status=PROCESSING nothing is listed (test_topup.c lists real ones). */
    {"GET", "/admin/payments", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(400)},
    {"GET", "/admin/payments/{id}", ID_PAYMENT_OF_B, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    /* The bank asked about B's top-up: paid, left as it is (test_bank_return.c returns one). */
    {"POST", "/admin/payments/{id}/query", ID_PAYMENT_OF_B, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    /* A top-up is no payout (test_payouts.c stops real ones). */
    {"POST", "/admin/payouts/{id}/cancel", ID_PAYMENT_OF_B, SETUP_NONE,
     "{\"reason\":\"ticket 3: matrix\"}", ADMIN_ROUTE(404)},
    /* A top-up is no transfer (test_transfer_delayed.c stops real ones). */
    {"POST", "/admin/transfers/{id}/cancel", ID_PAYMENT_OF_B, SETUP_NONE,
     "{\"reason\":\"ticket 2: matrix\"}", ADMIN_ROUTE(404)},
    {"GET", "/admin/red-packets/{id}", ID_RED_PACKET_OF_B, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/collections/{id}", ID_COLLECTION_OF_B, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/merchants", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/merchants/{mchid}", ID_MERCHANT_OF_B, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"GET", "/admin/merchants/{mchid}/payouts", ID_MERCHANT_OF_B, SETUP_NONE, NULL,
     ADMIN_ROUTE(200)},
    {"POST", "/admin/merchants/{mchid}/suspend", ID_MERCHANT_OF_B, SETUP_NONE, NULL,
     ADMIN_ROUTE(200)},
    {"POST", "/admin/merchants/{mchid}/resume", ID_MERCHANT_OF_B, SETUP_NONE, NULL,
     ADMIN_ROUTE(200)},
    /* Without the reason they need: the keys of B's merchant stay. */
    {"POST", "/admin/merchants/{mchid}/apiv3-key", ID_MERCHANT_OF_B, SETUP_NONE, "{}",
     ADMIN_ROUTE(400)},
    {"POST", "/admin/merchants/{mchid}/certificate", ID_MERCHANT_OF_B, SETUP_NONE, "{}",
     ADMIN_ROUTE(400)},
    {"GET", "/admin/audit", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    /* The root token's alone (a named operator's is 403: test_logging.c). */
    {"GET", "/admin/operators", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
    {"POST", "/admin/operators", ID_NONE, SETUP_NONE, "{}", ADMIN_ROUTE(400)},
    {"POST", "/admin/operators/{name}/token", ID_NO_OPERATOR, SETUP_NONE, NULL, ADMIN_ROUTE(404)},
    {"POST", "/admin/operators/{name}/revoke", ID_NO_OPERATOR, SETUP_NONE, NULL, ADMIN_ROUTE(404)},
    /* The GET row after the POST row: it answers 404 until a check has run. */
    {"POST", "/admin/ledger/verification", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(202)},
    {"GET", "/admin/ledger/verification", ID_NONE, SETUP_NONE, NULL, ADMIN_ROUTE(200)},
};

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static struct mh_merchant S_merchant;
static struct api_route S_source[API_ROUTES_MAX];
static size_t S_source_count;

static const struct matrix_row *S_row_find(const char *method, const char *pattern)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_matrix); i++) {
        if (strcmp(S_matrix[i].method, method) == 0 && strcmp(S_matrix[i].pattern, pattern) == 0)
            return &S_matrix[i];
    }
    return NULL;
}

TEST(matrix_covers_exactly_the_routes_served)
{
    // A route without a row would ship with nobody having decided who may call it; a row without
    // a route is a stale promise. Both lists must hold the same (method, pattern) pairs.
    char err[1200];
    if (!api_routes_read(S_source, &S_source_count, err, sizeof err))
        TEST_FAIL_("%s", err);
    ASSERT(S_source_count >= 2);
    int problems = 0;
    for (size_t i = 0; i < S_source_count; i++) {
        if (S_row_find(S_source[i].method, S_source[i].pattern) == NULL) {
            fprintf(stderr, "  route %s %s has no row in the matrix\n", S_source[i].method,
                    S_source[i].pattern);
            problems++;
        }
    }
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_matrix); i++) {
        bool served = false;
        for (size_t j = 0; j < S_source_count && !served; j++)
            served = strcmp(S_matrix[i].method, S_source[j].method) == 0 &&
                     strcmp(S_matrix[i].pattern, S_source[j].pattern) == 0;
        if (!served) {
            fprintf(stderr, "  row %s %s is not a route in src/http/routes.c\n", S_matrix[i].method,
                    S_matrix[i].pattern);
            problems++;
        }
    }
    ASSERT_EQ_INT(problems, 0);
}

TEST(matrix_agrees_with_the_declared_auth_kinds)
{
    // The table and the route's declared auth kind must tell the same story: anonymous routes let
    // anonymous callers through, user routes refuse them and the admin token, admin routes refuse
    // users with 403.
    ASSERT(S_source_count > 0);
    for (size_t i = 0; i < S_source_count; i++) {
        const struct matrix_row *row = S_row_find(S_source[i].method, S_source[i].pattern);
        if (row == NULL)
            continue; /* reported by matrix_covers_exactly_the_routes_served */
        const char *auth = S_source[i].auth;
        bool ok;
        if (strcmp(auth, "HTTP_AUTH_NONE") == 0)
            ok = row->status[CALLER_ANONYMOUS] != 401;
        else if (strcmp(auth, "HTTP_AUTH_USER") == 0)
            ok = row->status[CALLER_ANONYMOUS] == 401 && row->status[CALLER_ADMIN] == 401 &&
                 row->status[CALLER_USER_A] != 401 && row->status[CALLER_MERCHANT] == 401;
        else if (strcmp(auth, "HTTP_AUTH_ADMIN") == 0)
            ok = row->status[CALLER_ANONYMOUS] == 401 && row->status[CALLER_USER_A] == 403 &&
                 row->status[CALLER_ADMIN] != 401 && row->status[CALLER_ADMIN] != 403 &&
                 row->status[CALLER_MERCHANT] == 401;
        else if (strcmp(auth, "HTTP_AUTH_MERCHANT") == 0)
            ok = row->status[CALLER_ANONYMOUS] == 401 && row->status[CALLER_USER_A] == 401 &&
                 row->status[CALLER_ADMIN] == 401 && row->status[CALLER_MERCHANT] != 401;
        else
            ok = false;
        if (!ok)
            TEST_FAIL_("%s %s is %s, but its row says otherwise (or the kind is new)",
                       S_source[i].method, S_source[i].pattern, auth);
    }
}

/* The error code a status must carry on a route, or NULL for a success.
 * The merchant API speaks WeChat's codes. */
static const char *S_status_code(const char *pattern, int status)
{
    if (strncmp(pattern, "/v3/", 4) == 0 && (status == 401 || status == 403))
        return status == 401 ? "SIGN_ERROR" : "NO_AUTH";
    if ((strncmp(pattern, "/v3/refund/", 11) == 0 || strncmp(pattern, "/v3/qianbao/", 12) == 0) &&
        status == 404)
        return "RESOURCE_NOT_EXISTS";
    switch (status) {
    case 400:
        return "PARAM_ERROR";
    case 401:
        return "UNAUTHORIZED";
    case 403:
        return "FORBIDDEN";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "CONFLICT";
    default:
        return NULL;
    }
}

/* Binds the sandbox's succeeding test card to user (bind_card code from the
 * outbox) and copies the card's id into card_id. */
static void S_card_bind(const struct api_user *user, char card_id[API_ID_SIZE_MAX])
{
    char code[API_SMS_CODE_SIZE];
    ASSERT_EQ_INT(
        api_sms_request_as(&S_client, user->token, user->phone, "bind_card", "9999000000000012"),
        202);
    API_MUST(api_sms_code_read(&S_client, S_admin, user->phone, "bind_card", code));
    char body[256];
    snprintf(body, sizeof body,
             "{\"card_number\":\"9999000000000012\",\"holder_name\":\"张三\",\"phone\":\"%s\","
             "\"sms_code\":\"%s\"}",
             user->phone, code);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/cards", user->token, body, &res), 201);
    snprintf(card_id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

/* A top-up of ¥1 by user with a card bound for it; its id into payment_id. */
static void S_payment_make(const struct api_user *user, char payment_id[API_ID_SIZE_MAX])
{
    char card_id[API_ID_SIZE_MAX];
    S_card_bind(user, card_id);
    API_MUST(api_payment_password_set(&S_client, S_admin, user, "135790"));
    char body[256];
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":100,\"payment_password\":\"135790\"}", card_id);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/topups", user->token, "matrix-topup",
                                body, &res),
                  201);
    snprintf(payment_id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

/* A red packet of ¥1 in one share sent by user, funded by S_payment_make;
 * its id into packet_id. */
static void S_red_packet_make(const struct api_user *user, char packet_id[API_ID_SIZE_MAX])
{
    char payment_id[API_ID_SIZE_MAX];
    S_payment_make(user, payment_id);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/red-packets", user->token, "matrix-rp",
                                "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1,"
                                "\"payment_password\":\"135790\"}",
                                &res),
                  201);
    snprintf(packet_id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

/* Five wrong login passwords for user: logging in to the account is locked. */
static void S_login_lock(const struct api_user *user)
{
    char body[256];
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"not the password\"}",
             user->phone);
    struct client_response res;
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/sessions", NULL, body, &res),
                      i < 4 ? 401 : 423);
        client_response_release(&res);
    }
}

/* Replaces every "{...}" segment of pattern with id. */
static void S_path_fill(const char *pattern, const char *id, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *at = pattern; *at != '\0' && used < out_size;) {
        const char *open = strchr(at, '{');
        const char *end = open != NULL ? strchr(open, '}') : NULL;
        int n = end == NULL
                    ? snprintf(out + used, out_size - used, "%s", at)
                    : snprintf(out + used, out_size - used, "%.*s%s", (int)(open - at), at, id);
        ASSERT(n >= 0 && (size_t)n < out_size - used);
        used += (size_t)n;
        at = end == NULL ? at + strlen(at) : end + 1;
    }
}

TEST(every_route_answers_every_caller_as_the_matrix_says)
{
    // The core of access control, cell by cell: each caller gets exactly the status its cell
    // says, with the matching error code; one wrong cell is a hole or a lock-out.
    int failures = 0;
    int cells = 0;
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_matrix); i++) {
        const struct matrix_row *row = &S_matrix[i];
        struct api_user a, b, revoked, frozen, victim;
        API_MUST(api_user_new(&S_client, S_admin, &a));
        API_MUST(api_user_new(&S_client, S_admin, &b));
        API_MUST(api_user_new(&S_client, S_admin, &revoked));
        API_MUST(api_user_new(&S_client, S_admin, &frozen));
        API_MUST(api_session_id_current(&S_client, &b));
        struct client_response res;
        ASSERT_EQ_INT(
            api_call(&S_client, "DELETE", "/v1/sessions/current", revoked.token, NULL, &res), 204);
        client_response_release(&res);
        /* The frozen caller's payment password before the freeze: a frozen
         * wallet sets none. */
        if (row->setup == SETUP_PAYMENT_PASSWORDS) {
            API_MUST(api_payment_password_set(&S_client, S_admin, &a, "135790"));
            API_MUST(api_payment_password_set(&S_client, S_admin, &b, "135790"));
            API_MUST(api_payment_password_set(&S_client, S_admin, &frozen, "135790"));
        }
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", frozen.token, NULL, &res), 200);
        client_response_release(&res);
        const char *id = "";
        char object_id[API_ID_SIZE_MAX] = "";
        if (row->id == ID_CARD_OF_B) {
            S_card_bind(&b, object_id);
            id = object_id;
        } else if (row->id == ID_PAYMENT_OF_B) {
            S_payment_make(&b, object_id);
            id = object_id;
        } else if (row->id == ID_RED_PACKET_OF_B) {
            S_red_packet_make(&b, object_id);
            id = object_id;
        } else if (row->id == ID_COLLECTION_OF_B) {
            struct client_response made;
            ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/collections", b.token,
                                   "{\"title\":\"矩阵\",\"amount\":100,\"count\":3}", &made),
                          201);
            snprintf(object_id, sizeof object_id, "%s", api_json_str(&made, "id"));
            client_response_release(&made);
            id = object_id;
        } else if (row->id == ID_NO_OPERATOR) {
            id = "nobody";
        } else if (row->id == ID_NO_RED_PACKET) {
            id = "rp_0000000000000000000000000a";
        } else if (row->id == ID_SESSION_OF_B) {
            id = b.session_id;
        } else if (row->id == ID_NO_TRANSFER) {
            id = "p_0000000000000000000000000a";
        } else if (row->id == ID_VICTIM) {
            API_MUST(api_user_new(&S_client, S_admin, &victim));
            if (row->setup == SETUP_VICTIM_VERIFIED)
                API_MUST(api_user_verify(&S_client, &victim, "受害人"));
            if (row->setup == SETUP_VICTIM_LOGIN_LOCKED)
                S_login_lock(&victim);
            id = victim.id;
        } else if (row->id == ID_MONTH) {
            id = "2026-11";
        } else if (row->id == ID_APPID) {
            id = S_merchant.appid;
        } else if (row->id == ID_ORDER) {
            id = "4200000000000000000000000000";
        } else if (row->id == ID_MERCHANT_OF_B) {
            ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", b.token,
                                   "{\"name\":\"B的小店\"}", &res),
                          201);
            snprintf(object_id, sizeof object_id, "%s", api_json_str(&res, "mchid"));
            client_response_release(&res);
            id = object_id;
        }
        char path[512];
        S_path_fill(row->pattern, id, path, sizeof path);

        for (int caller = 0; caller < CALLER_COUNT; caller++) {
            /* The victim starts each cell in the row's state; an admin cell
             * is the only one that may have changed it, and it runs after
             * the user cells that must not. */
            if (row->setup == SETUP_VICTIM_FROZEN_BY_ADMIN && caller == CALLER_ANONYMOUS) {
                char freeze[256];
                snprintf(freeze, sizeof freeze, "/admin/users/%s/freeze", victim.id);
                ASSERT_EQ_INT(api_call(&S_client, "POST", freeze, S_admin, NULL, &res), 200);
                client_response_release(&res);
            }
            const char *token = NULL;
            switch ((enum caller)caller) {
            case CALLER_ANONYMOUS:
                token = NULL;
                break;
            case CALLER_USER_A:
                token = a.token;
                break;
            case CALLER_USER_B:
                token = b.token;
                break;
            case CALLER_ADMIN:
                token = S_admin;
                break;
            case CALLER_EXPIRED:
                token = "5f0c9e2d8b7a6e4f3c2b1a0918273645aabbccddeeff00112233445566778899";
                break;
            case CALLER_REVOKED:
                token = revoked.token;
                break;
            case CALLER_FROZEN:
                token = frozen.token;
                break;
            case CALLER_MERCHANT:
            case CALLER_COUNT:
                break;
            }
            int expected = row->status[caller];
            /* A frozen caller refused where a user is served is refused for the freeze
             * (an admin route refuses every user alike: FORBIDDEN). */
            const char *code =
                caller == CALLER_FROZEN && expected == 403 && row->status[CALLER_USER_A] != 403
                    ? "ACCOUNT_FROZEN"
                    : S_status_code(row->pattern, expected);
            if (caller == CALLER_MERCHANT)
                mh_call(&S_client, &S_merchant, row->method, path, row->body, &res);
            else
                api_call(&S_client, row->method, path, token, row->body, &res);
            cells++;
            bool ok =
                res.status == expected && (code == NULL || strcmp(api_error_code(&res), code) == 0);
            if (!ok) {
                fprintf(stderr, "  %s %s as %s: expected %d %s, got %ld %.*s\n", row->method,
                        row->pattern, S_caller_names[caller], expected, code ? code : "",
                        res.status, (int)(res.body.size < 200 ? res.body.size : 200),
                        res.body.data ? res.body.data : "");
                failures++;
            }
            client_response_release(&res);
        }
    }
    fprintf(stderr, "  %d cells checked\n", cells);
    ASSERT_EQ_INT(failures, 0);
}

TEST(another_users_session_is_not_found_never_forbidden)
{
    // Answering 403 for someone else's object tells an attacker it exists: every way of reaching
    // another user's session id must be 404, and the session must survive it.
    struct api_user a, b;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_session_id_current(&S_client, &b));
    char path[256];
    snprintf(path, sizeof path, "/v1/me/sessions/%s", b.session_id);
    for (int i = 0; i < 2; i++) {
        struct client_response res;
        api_call(&S_client, "DELETE", path, a.token, NULL, &res);
        ASSERT_EQ_INT(res.status, 404);
        ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
        client_response_release(&res);
    }
    /* A's list does not show it, and B's token still works. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/sessions", a.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, b.session_id) == NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me", b.token, NULL, &res), 200);
    client_response_release(&res);
}

TEST(malformed_authorization_headers_are_401)
{
    // A token parser that accepts junk is the usual way in: wrong schemes, empty, short, long or
    // non-hex tokens must all be plain 401s on a user route and on an admin route.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    char upper[API_TOKEN_SIZE_MAX];
    snprintf(upper, sizeof upper, "%s", a.token);
    for (char *p = upper; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    char auth_basic[160], auth_twice[200], auth_short[160], auth_long[200], auth_upper[160],
        auth_admin_prefix[200];
    snprintf(auth_basic, sizeof auth_basic, "Authorization: Basic %s", a.token);
    snprintf(auth_twice, sizeof auth_twice, "Authorization: Bearer %s %s", a.token, a.token);
    snprintf(auth_short, sizeof auth_short, "Authorization: Bearer %.63s", a.token);
    snprintf(auth_long, sizeof auth_long, "Authorization: Bearer %s0", a.token);
    snprintf(auth_upper, sizeof auth_upper, "Authorization: Bearer %s",
             strcmp(upper, a.token) != 0 ? upper : "not-a-token");
    snprintf(auth_admin_prefix, sizeof auth_admin_prefix, "Authorization: Bearer %.63s", S_admin);
    char admin_upper[API_TOKEN_SIZE_MAX];
    snprintf(admin_upper, sizeof admin_upper, "%s", S_admin);
    for (char *p = admin_upper; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    char auth_admin_upper[200];
    snprintf(auth_admin_upper, sizeof auth_admin_upper, "Authorization: Bearer %s",
             strcmp(admin_upper, S_admin) != 0 ? admin_upper : "not-a-token");
    const char *values[] = {
        auth_basic,
        auth_twice,
        auth_short,
        auth_long,
        auth_upper,
        auth_admin_prefix,
        auth_admin_upper,
        "Authorization: Bearer",
        "Authorization: Bearer ",
        "Authorization: bearer",
        "Authorization: Bearer zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
        "zzzzzzzzzzzzzzzzzzzzzzzz",
    };
    const char *paths[] = {"/v1/me", "/admin/users"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(values); i++) {
        for (size_t j = 0; j < QB_ARRAY_COUNT(paths); j++) {
            const char *headers[] = {values[i], NULL};
            struct client_response res;
            client_request(&S_client, "GET", paths[j], headers, NULL, 0, &res);
            if (res.status != 401 || strcmp(api_error_code(&res), "UNAUTHORIZED") != 0)
                TEST_FAIL_("GET %s with \"%s\": %ld %s", paths[j], values[i], res.status,
                           res.body.data ? res.body.data : "");
            client_response_release(&res);
        }
    }
}

TEST(head_is_authorized_like_get)
{
    // GET routes also answer HEAD; a HEAD that skipped the auth check would confirm what exists and
    // run the handler for anyone. Every GET route answers HEAD with the status GET has, per caller.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    const char *tokens[] = {NULL, a.token, S_admin,
                            "5f0c9e2d8b7a6e4f3c2b1a0918273645aabbccddeeff00112233445566778899"};
    int checked = 0;
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_matrix); i++) {
        if (strcmp(S_matrix[i].method, "GET") != 0 || strchr(S_matrix[i].pattern, '{') != NULL)
            continue;
        for (size_t t = 0; t < QB_ARRAY_COUNT(tokens); t++) {
            struct client_response get, head;
            api_call(&S_client, "GET", S_matrix[i].pattern, tokens[t], NULL, &get);
            api_call(&S_client, "HEAD", S_matrix[i].pattern, tokens[t], NULL, &head);
            if (get.status != head.status || head.body.size != 0)
                TEST_FAIL_("%s with token %zu: GET %ld, HEAD %ld (%zu body bytes)",
                           S_matrix[i].pattern, t, get.status, head.status, head.body.size);
            client_response_release(&get);
            client_response_release(&head);
            checked++;
        }
    }
    ASSERT(checked >= 20);
}

TEST(path_variants_do_not_bypass_auth)
{
    // Routers that normalise paths differently from the auth check are a classic bypass: variants
    // of protected paths must never answer 2xx without credentials.
    const char *paths[] = {
        "/v1/me/",          "/v1//me",
        "//v1/me",          "/V1/ME",
        "/v1/me/.",         "/v1/./me",
        "/v1/x/../me",      "/v1/me%2f",
        "/v1/%6de",         "/admin/users/",
        "/admin//users",    "/ADMIN/users",
        "/admin/./users",   "/admin/sms-outbox/",
        "/v1/me/sessions/", "/v1/me/sessions/%2e%2e",
    };
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    for (size_t i = 0; i < QB_ARRAY_COUNT(paths); i++) {
        const char *tokens[] = {NULL, a.token};
        for (size_t t = 0; t < 2; t++) {
            bool admin_path = strncasecmp(paths[i], "/admin", 6) == 0;
            if (t == 1 && !admin_path)
                continue;
            struct client_response res;
            api_call(&S_client, "GET", paths[i], tokens[t], NULL, &res);
            if (res.status == 0 || (res.status >= 200 && res.status < 300))
                TEST_FAIL_("GET %s %s answered %ld %.200s", paths[i],
                           t == 0 ? "anonymously" : "as a user", res.status,
                           res.body.data ? res.body.data : "");
            client_response_release(&res);
        }
    }
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (api_suite_daemon(&suite, &S_daemon, "matrix", NULL, S_admin, &S_client) &&
        api_suite_step(mh_onboard(&S_client, S_admin, -1, &S_merchant), "onboard a merchant")) {
        RUN(matrix_covers_exactly_the_routes_served);
        RUN(matrix_agrees_with_the_declared_auth_kinds);
        RUN(every_route_answers_every_caller_as_the_matrix_says);
        RUN(another_users_session_is_not_found_never_forbidden);
        RUN(malformed_authorization_headers_are_401);
        RUN(head_is_authorized_like_get);
        RUN(path_variants_do_not_bypass_auth);
    }
    mh_release(&S_merchant);
    return api_suite_end(&suite);
}
