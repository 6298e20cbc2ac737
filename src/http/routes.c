/*
 * routes.c — the daemon's route table: every path qianbaod answers.
 *
 * To add a route:
 *   1) write the handler, `void http_handle_<name>(struct http_request *req)`,
 *      in the file of its area (src/http/<area>.c); it validates its input,
 *      then either replies (http_reply_json / http_reply_error) or, for a
 *      write, builds a ledger command and calls http_request_submit with a
 *      resume function that replies from cmd->result and cmd->response;
 *   2) declare it in src/http/internal.h;
 *   3) add one line below: method, pattern ({name} for a path segment,
 *      read with http_request_param), handler, auth kind, and the query
 *      arguments the handler reads (any other is refused). Order matters only
 *      where a literal path and a {param} pattern overlap: the first wins;
 *   4) document it in docs/api.md with every error code it can answer, and
 *      its operation in docs/openapi.json (tests/api/test_openapi.c fails
 *      until the document has it with the same query arguments, and every
 *      API test checks its answers against the document);
 *   5) add an API test in tests/api/ that talks HTTP to a real qianbaod,
 *      including a bad-input case, a row in test_auth_matrix.c and an entry
 *      in test_bad_input.c;
 *   6) an operator's GET route: if its answer shows anything of a customer
 *      (a user, their money, their messages), a line in http_read_audits
 *      below; either way its line in S_reads of tests/api/test_audit.c,
 *      which fails until it has one.
 * The server checks the table at start (malformed patterns, duplicates) and
 * answers 404 and 405 itself; metrics are labelled by the pattern, so no
 * route needs code for counting or logging.
 */
#include "http/internal.h"

/* The bills' filters, paging included (docs/api.md). */
#define S_BILLS_QUERY "type direction from to counterparty q limit cursor"

const struct http_route http_routes[] = {
    {"GET", "/healthz", http_handle_healthz, HTTP_AUTH_NONE, NULL},
    {"GET", "/metrics", http_handle_metrics, HTTP_AUTH_NONE, NULL},

    /* identity_routes.c */
    {"POST", "/v1/sms-codes", http_handle_sms_codes_create, HTTP_AUTH_NONE, NULL},
    {"POST", "/v1/users", http_handle_users_create, HTTP_AUTH_NONE, NULL},
    {"POST", "/v1/sessions", http_handle_sessions_create, HTTP_AUTH_NONE, NULL},
    {"DELETE", "/v1/sessions/current", http_handle_sessions_current_delete, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me", http_handle_me_get, HTTP_AUTH_USER, NULL},
    {"PUT", "/v1/me/display-name", http_handle_me_display_name_set, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/balances", http_handle_me_balances_get, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/kyc", http_handle_me_kyc_submit, HTTP_AUTH_USER, NULL},

    /* security_routes.c */
    {"PUT", "/v1/me/password", http_handle_me_password_set, HTTP_AUTH_USER, NULL},
    {"PUT", "/v1/me/phone", http_handle_me_phone_set, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/close", http_handle_me_close, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/closing", http_handle_me_closing_get, HTTP_AUTH_USER, NULL},
    {"PUT", "/v1/me/payment-password", http_handle_me_payment_password_set, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/payment-password/verify", http_handle_me_payment_password_verify,
     HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/sessions", http_handle_me_sessions_list, HTTP_AUTH_USER, "limit cursor"},
    {"DELETE", "/v1/me/sessions/{id}", http_handle_me_sessions_delete, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/freeze", http_handle_me_freeze, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/unfreeze", http_handle_me_unfreeze, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/security", http_handle_me_security_get, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/security-events", http_handle_me_security_events_list, HTTP_AUTH_USER,
     "limit cursor"},

    /* bill_routes.c */
    {"GET", "/v1/me/transactions", http_handle_me_transactions_list, HTTP_AUTH_USER, S_BILLS_QUERY},
    {"GET", "/v1/me/transactions.csv", http_handle_me_transactions_csv, HTTP_AUTH_USER,
     S_BILLS_QUERY},
    {"GET", "/v1/me/statements/{month}", http_handle_me_statement_get, HTTP_AUTH_USER, "cursor"},
    /* notice_routes.c */
    {"GET", "/v1/me/notices", http_handle_me_notices_list, HTTP_AUTH_USER, "limit cursor"},
    {"GET", "/v1/me/notices/unread", http_handle_me_notices_unread, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/notices/read", http_handle_me_notices_mark_read, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/changes", http_handle_me_changes, HTTP_AUTH_USER, "since wait"},
    /* transfer_routes.c */
    {"POST", "/v1/transfers", http_handle_transfers_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/transfers/{id}", http_handle_transfers_get, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/transfers/{id}/return", http_handle_transfers_return, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/transfers/{id}/cancel", http_handle_transfers_cancel, HTTP_AUTH_USER, NULL},
    /* payout_routes.c */
    {"GET", "/v1/me/payouts", http_handle_me_payouts_list, HTTP_AUTH_USER, "limit cursor"},
    {"GET", "/v1/payouts/{id}", http_handle_payouts_get, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/payouts/{id}/confirm", http_handle_payouts_confirm, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/limits", http_handle_me_limits_get, HTTP_AUTH_USER, NULL},
    {"PUT", "/v1/me/limits", http_handle_me_limits_set, HTTP_AUTH_USER, NULL},
    /* money_routes.c */
    {"POST", "/v1/me/cards", http_handle_me_cards_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/cards", http_handle_me_cards_list, HTTP_AUTH_USER, "limit cursor"},
    {"DELETE", "/v1/me/cards/{id}", http_handle_me_cards_delete, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/topups", http_handle_me_topups_create, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/withdrawals", http_handle_me_withdrawals_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/withdrawal-quote", http_handle_me_withdrawal_quote, HTTP_AUTH_USER, "amount"},
    {"GET", "/v1/me/payments/{id}", http_handle_me_payments_get, HTTP_AUTH_USER, NULL},
    /* collection_routes.c */
    {"POST", "/v1/collections", http_handle_collections_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/collections", http_handle_me_collections_list, HTTP_AUTH_USER, "limit cursor"},
    {"GET", "/v1/collections/{id}", http_handle_collections_get, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/collections/{id}/payments", http_handle_collections_pay, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/collections/{id}/close", http_handle_collections_close, HTTP_AUTH_USER, NULL},
    {"GET", "/admin/collections/{id}", http_handle_admin_collections_get, HTTP_AUTH_ADMIN, NULL},
    /* redpacket_routes.c */
    {"POST", "/v1/red-packets", http_handle_red_packets_create, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/red-packets/{id}/claims", http_handle_red_packets_claim, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/red-packets/{id}", http_handle_red_packets_get, HTTP_AUTH_USER, NULL},
    {"GET", "/admin/red-packets/{id}", http_handle_admin_red_packets_get, HTTP_AUTH_ADMIN, NULL},

    /* merchant_routes.c */
    {"POST", "/v1/merchants", http_handle_merchants_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/openids/{appid}", http_handle_me_openid_get, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/order-payments", http_handle_me_order_payments_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/merchants/me", http_handle_merchants_me_get, HTTP_AUTH_USER, "mchid"},
    {"POST", "/v1/merchants/me/close", http_handle_merchants_me_close, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/merchants/me/apiv3-key", http_handle_merchants_me_apiv3_key, HTTP_AUTH_USER,
     NULL},
    {"POST", "/v1/merchants/me/certificate", http_handle_merchants_me_certificate, HTTP_AUTH_USER,
     NULL},
    {"GET", "/v1/merchants/me/analytics", http_handle_merchants_me_analytics, HTTP_AUTH_USER,
     "mchid from to"},
    {"GET", "/v1/merchants/me/payments", http_handle_merchants_me_payments_list, HTTP_AUTH_USER,
     "mchid limit cursor"},
    {"POST", "/v1/merchants/me/refunds", http_handle_merchants_me_refunds_create, HTTP_AUTH_USER,
     NULL}, /* refund_routes.c */
    {"GET", "/v1/merchants/me/changes", http_handle_merchants_me_changes, HTTP_AUTH_USER,
     "mchid since wait"}, /* changes_routes.c */
    {"POST", "/v1/merchants/me/withdrawals", http_handle_merchants_me_withdrawals_create,
     HTTP_AUTH_USER, NULL},
    {"GET", "/v1/merchants/me/withdrawal-quote", http_handle_merchants_me_withdrawal_quote,
     HTTP_AUTH_USER, "amount mchid"},
    {"GET", "/v1/merchants/{mchid}/notifications", http_handle_merchant_notifications_list,
     HTTP_AUTH_USER, "limit cursor"}, /* refund_routes.c */
    {"POST", "/v1/merchants/{mchid}/notifications/{id}/resend",
     http_handle_merchant_notifications_resend, HTTP_AUTH_USER, NULL}, /* refund_routes.c */
    {"POST", "/admin/merchants", http_handle_admin_merchants_create, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/v1/merchants/{mchid}/apps", http_handle_merchant_apps_create, HTTP_AUTH_USER, NULL},
    {"POST", "/admin/merchants/{mchid}/apps", http_handle_admin_merchant_apps_create,
     HTTP_AUTH_ADMIN, NULL},
    /* paycode_routes.c */
    {"POST", "/v1/me/devices", http_handle_me_devices_create, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/devices", http_handle_me_devices_list, HTTP_AUTH_USER, NULL},
    {"DELETE", "/v1/me/devices/{id}", http_handle_me_devices_delete, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/payment-code", http_handle_me_payment_code_get, HTTP_AUTH_USER, "device_id"},
    {"GET", "/v1/me/payment-code-settings", http_handle_me_payment_code_settings_get,
     HTTP_AUTH_USER, NULL},
    {"PUT", "/v1/me/payment-code-settings", http_handle_me_payment_code_settings_set,
     HTTP_AUTH_USER, NULL},
    {"GET", "/v1/me/pending-payments", http_handle_me_pending_payments_list, HTTP_AUTH_USER, NULL},
    {"POST", "/v1/me/pending-payments/{id}/confirm", http_handle_me_pending_payments_confirm,
     HTTP_AUTH_USER, NULL},

    /* qr_routes.c */
    {"GET", "/v1/me/receive-code", http_handle_me_receive_code_get, HTTP_AUTH_USER,
     "amount currency memo format"},
    {"GET", "/v1/merchants/{mchid}/till-code", http_handle_merchant_till_code_get, HTTP_AUTH_USER,
     "amount format"},
    {"GET", "/v1/collections/{id}/code", http_handle_collection_code_get, HTTP_AUTH_USER, "format"},
    {"POST", "/v1/qr/resolve", http_handle_qr_resolve, HTTP_AUTH_USER, NULL},
    {"GET", "/v1/payees", http_handle_payees_get, HTTP_AUTH_USER, "to"},
    {"GET", "/v1/payees/recent", http_handle_payees_recent, HTTP_AUTH_USER, "limit"},

    /* v3_routes.c: the merchant API */
    {"POST", "/v3/pay/transactions/native", http_handle_v3_native, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"POST", "/v3/pay/transactions/jsapi", http_handle_v3_jsapi, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"POST", "/v3/pay/transactions/app", http_handle_v3_app, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"POST", "/v3/pay/transactions/h5", http_handle_v3_h5, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"POST", "/v3/pay/transactions/codepay", http_handle_v3_codepay, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"GET", "/v3/pay/transactions/out-trade-no/{out_trade_no}", http_handle_v3_query_out_trade_no,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/pay/transactions/id/{transaction_id}", http_handle_v3_query_id, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse", http_handle_v3_reverse,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/close", http_handle_v3_close,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/certificates", http_handle_v3_certificates, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/bill/tradebill", http_handle_v3_tradebill, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/bill/fundflowbill", http_handle_v3_fundflowbill, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"GET", "/v3/billdownload/file", http_handle_v3_billdownload, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"GET", "/v3/merchant/fund/balance/{account_type}", http_handle_v3_fund_balance,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/merchant/fund/dayendbalance/{account_type}", http_handle_v3_fund_dayendbalance,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    /* refund_routes.c */
    {"POST", "/v3/refund/domestic/refunds", http_handle_v3_refunds_create, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    {"GET", "/v3/refund/domestic/refunds/{out_refund_no}", http_handle_v3_refunds_get,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/qianbao/notifications", http_handle_v3_notifications_list, HTTP_AUTH_MERCHANT,
     HTTP_QUERY_ANY},
    /* payout_routes.c */
    {"POST", "/v3/fund-app/mch-transfer/transfer-bills", http_handle_v3_payouts_create,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"POST", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel",
     http_handle_v3_payouts_cancel, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}",
     http_handle_v3_payouts_get_by_out_bill_no, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"GET", "/v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{transfer_bill_no}",
     http_handle_v3_payouts_get_by_transfer_bill_no, HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},
    {"POST", "/v3/qianbao/notifications/{id}/resend", http_handle_v3_notifications_resend,
     HTTP_AUTH_MERCHANT, HTTP_QUERY_ANY},

    /* operator_routes.c */
    {"GET", "/admin/operators", http_handle_admin_operators_list, HTTP_AUTH_ADMIN, "limit cursor"},
    {"POST", "/admin/operators", http_handle_admin_operators_create, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/operators/{name}/token", http_handle_admin_operators_token_rotate,
     HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/operators/{name}/revoke", http_handle_admin_operators_revoke, HTTP_AUTH_ADMIN,
     NULL},

    /* admin_routes.c */
    {"GET", "/admin/users", http_handle_admin_users_list, HTTP_AUTH_ADMIN, "limit cursor phone"},
    {"GET", "/admin/users/{id}", http_handle_admin_users_get, HTTP_AUTH_ADMIN, NULL},
    {"GET", "/admin/users/{id}/transactions", http_handle_admin_users_transactions_list,
     HTTP_AUTH_ADMIN, S_BILLS_QUERY},
    {"GET", "/admin/users/{id}/transactions.csv", http_handle_admin_users_transactions_csv,
     HTTP_AUTH_ADMIN, S_BILLS_QUERY},
    {"POST", "/admin/users/{id}/freeze", http_handle_admin_users_freeze, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/users/{id}/unfreeze", http_handle_admin_users_unfreeze, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/users/{id}/close", http_handle_admin_users_close, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/users/{id}/login-unlock", http_handle_admin_users_login_unlock,
     HTTP_AUTH_ADMIN, NULL},
    {"PUT", "/admin/users/{id}/kyc-level", http_handle_admin_users_kyc_level_set, HTTP_AUTH_ADMIN,
     NULL},
    {"GET", "/admin/users/{id}/security-events", http_handle_admin_users_security_events_list,
     HTTP_AUTH_ADMIN, "limit cursor"},
    {"GET", "/admin/users/{id}/notices", http_handle_admin_users_notices_list, HTTP_AUTH_ADMIN,
     "limit cursor"},
    {"GET", "/admin/sms-outbox", http_handle_admin_sms_outbox_list, HTTP_AUTH_ADMIN,
     "limit cursor phone"},
    {"GET", "/admin/payments", http_handle_admin_payments_list, HTTP_AUTH_ADMIN,
     "status date bank_ref limit cursor"},
    {"GET", "/admin/payments/{id}", http_handle_admin_payments_get, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/payments/{id}/query", http_handle_admin_payments_query, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/payouts/{id}/cancel", http_handle_admin_payouts_cancel, HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/transfers/{id}/cancel", http_handle_admin_transfers_cancel, HTTP_AUTH_ADMIN,
     NULL},
    {"GET", "/admin/merchants", http_handle_admin_merchants_list, HTTP_AUTH_ADMIN,
     "limit cursor owner"},
    {"GET", "/admin/merchants/{mchid}", http_handle_admin_merchants_get, HTTP_AUTH_ADMIN, NULL},
    {"GET", "/admin/merchants/{mchid}/payouts", http_handle_admin_merchants_payouts_list,
     HTTP_AUTH_ADMIN, "limit cursor state"},
    {"POST", "/admin/merchants/{mchid}/suspend", http_handle_admin_merchants_suspend,
     HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/merchants/{mchid}/resume", http_handle_admin_merchants_resume, HTTP_AUTH_ADMIN,
     NULL},
    {"POST", "/admin/merchants/{mchid}/apiv3-key", http_handle_admin_merchants_apiv3_key,
     HTTP_AUTH_ADMIN, NULL},
    {"POST", "/admin/merchants/{mchid}/certificate", http_handle_admin_merchants_certificate,
     HTTP_AUTH_ADMIN, NULL},
    {"GET", "/admin/audit", http_handle_admin_audit_list, HTTP_AUTH_ADMIN,
     "by action target from to limit cursor"},

    /* verify_routes.c */
    {"POST", "/admin/ledger/verification", http_handle_admin_verification_start, HTTP_AUTH_ADMIN,
     NULL},
    {"GET", "/admin/ledger/verification", http_handle_admin_verification_get, HTTP_AUTH_ADMIN,
     NULL},
};

const size_t http_route_count = QB_ARRAY_COUNT(http_routes);

/* The operators' reads of personal data: who looked at a customer, when,
 * and what at, is on the audit trail (docs/operations.md). Not here, as
 * they show no customer's data: GET /admin/operators (the staff), GET
 * /admin/audit (what operators did: a row per page read would only grow
 * what an auditor pages through), GET /admin/ledger/verification (sums of
 * the whole ledger), and /metrics and /healthz (counts, and no operator
 * to name). */
const struct http_read_audit http_read_audits[] = {
    {"/admin/users", "read_users", "phone"},
    {"/admin/users/{id}", "read_user", "id"},
    {"/admin/users/{id}/transactions", "read_user_transactions", "id"},
    {"/admin/users/{id}/transactions.csv", "read_user_transactions", "id"},
    {"/admin/users/{id}/security-events", "read_user_security_events", "id"},
    {"/admin/users/{id}/notices", "read_user_notices", "id"},
    {"/admin/sms-outbox", "read_sms_outbox", "phone"},
    {"/admin/payments", "read_payments", NULL},
    {"/admin/payments/{id}", "read_payment", "id"},
    {"/admin/collections/{id}", "read_collection", "id"},
    {"/admin/red-packets/{id}", "read_red_packet", "id"},
    /* A merchant's record names its owner, a user; its transfers, their payees. */
    {"/admin/merchants", "read_merchants", "owner"},
    {"/admin/merchants/{mchid}", "read_merchant", "mchid"},
    {"/admin/merchants/{mchid}/payouts", "read_merchant_payouts", "mchid"},
};

const size_t http_read_audit_count = QB_ARRAY_COUNT(http_read_audits);
