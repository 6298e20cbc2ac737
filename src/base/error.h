/*
 * error.h — the one project-wide error table.
 *
 * Owns: enum qb_error and, for each code, its HTTP status, its stable API
 * code (the "code" field of every error body) and a default message. The HTTP
 * layer maps errors to responses through this table and nowhere else.
 *
 * Operating errors are values: functions that can fail return enum qb_error
 * (QB_OK is 0) and are marked QB_MUST_USE.
 *
 * To add an error: 1) add one X line at the end of the table (name, HTTP
 * status, API code, message): an error's number is stored in idempotency
 * records, so existing lines never move; 2) document it in docs/api.md; 3) the error catalogue test
 * (tests/unit/base/test_error.c) checks that codes are unique and well formed.
 */
#ifndef QB_BASE_ERROR_H
#define QB_BASE_ERROR_H

#define QB_ERROR_TABLE(X)                                                                          \
    X(QB_OK, 200, "OK", "ok")                                                                      \
    X(QB_E_PARAM, 400, "PARAM_ERROR", "a parameter is missing or invalid")                         \
    X(QB_E_BAD_JSON, 400, "INVALID_JSON", "the body is not valid JSON")                            \
    X(QB_E_BAD_AMOUNT, 400, "INVALID_AMOUNT", "the amount is not a valid amount")                  \
    X(QB_E_BAD_CURRENCY, 400, "INVALID_CURRENCY", "the currency is not supported")                 \
    X(QB_E_UNAUTHORIZED, 401, "UNAUTHORIZED", "authentication is required")                        \
    X(QB_E_INSUFFICIENT_BALANCE, 402, "INSUFFICIENT_BALANCE", "the balance is too low")            \
    X(QB_E_FORBIDDEN, 403, "FORBIDDEN", "this is not allowed")                                     \
    X(QB_E_LIMIT_EXCEEDED, 403, "LIMIT_EXCEEDED", "a limit refused this payment")                  \
    X(QB_E_ACCOUNT_FROZEN, 403, "ACCOUNT_FROZEN", "the account is frozen")                         \
    X(QB_E_RISK_REJECTED, 403, "RISK_REJECTED", "refused by risk control")                         \
    X(QB_E_NOT_FOUND, 404, "NOT_FOUND", "no such object")                                          \
    X(QB_E_METHOD, 405, "METHOD_NOT_ALLOWED", "this method is not allowed on this path")           \
    X(QB_E_CONFLICT, 409, "CONFLICT", "the object is not in a state that allows this")             \
    X(QB_E_HOLD_RESOLVED, 409, "HOLD_RESOLVED", "the hold was already resolved")                   \
    X(QB_E_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE", "the request is too large")                        \
    X(QB_E_MEDIA_TYPE, 415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")         \
    X(QB_E_IDEMPOTENCY_MISMATCH, 422, "IDEMPOTENCY_MISMATCH",                                      \
      "this idempotency key was used with a different request")                                    \
    X(QB_E_PASSWORD_LOCKED, 423, "PASSWORD_LOCKED", "too many wrong tries; locked")                \
    X(QB_E_RATE_LIMITED, 429, "RATE_LIMITED", "too many requests; slow down")                      \
    X(QB_E_OVERFLOW, 400, "AMOUNT_OVERFLOW", "the amount is out of range")                         \
    X(QB_E_PASSWORD_WRONG, 403, "PASSWORD_WRONG", "the payment password is wrong")                 \
    X(QB_E_PASSWORD_NOT_SET, 403, "PAYMENT_PASSWORD_NOT_SET", "set a payment password first")      \
    X(QB_E_PASSWORD_WEAK, 400, "PASSWORD_TOO_WEAK", "the password is too easy to guess")           \
    X(QB_E_SMS_CODE_INVALID, 400, "SMS_CODE_INVALID", "the SMS code is wrong, used or expired")    \
    X(QB_E_PHONE_REGISTERED, 409, "PHONE_REGISTERED", "this phone number is registered")           \
    X(QB_E_PHONE_CHANGE_HELD, 403, "PHONE_CHANGE_HELD",                                            \
      "the phone cannot be moved within 24 hours of a login or password reset by SMS code")        \
    X(QB_E_IDENTITY_MISMATCH, 403, "IDENTITY_MISMATCH",                                            \
      "the name and id number could not be verified")                                              \
    X(QB_E_INTERNAL, 500, "SYSTEM_ERROR", "internal error")                                        \
    X(QB_E_BUSY, 503, "SYSTEM_BUSY", "the server is busy; retry later")                            \
    X(QB_E_STORAGE, 503, "STORAGE_UNAVAILABLE", "storage failed; nothing was applied")             \
    X(QB_E_SHUTTING_DOWN, 503, "SHUTTING_DOWN", "the server is shutting down")                     \
    X(QB_E_CARD_INVALID, 400, "CARD_INVALID", "the card number is not a valid debit card")         \
    X(QB_E_CARD_BOUND, 409, "CARD_ALREADY_BOUND", "this card is bound already")                    \
    X(QB_E_CARD_DECLINED, 402, "CARD_DECLINED", "the bank declined the card")                      \
    X(QB_E_BANK_INSUFFICIENT_FUNDS, 402, "BANK_INSUFFICIENT_FUNDS",                                \
      "the bank account behind the card has too little money")                                     \
    X(QB_E_BANK_UNAVAILABLE, 503, "BANK_UNAVAILABLE", "the bank did not answer; retry later")      \
    X(QB_E_SELF_TRANSFER, 400, "SELF_TRANSFER", "you cannot send money to yourself")               \
    X(QB_E_PAYEE_NOT_FOUND, 404, "PAYEE_NOT_FOUND", "no user has this phone number or id")         \
    X(QB_E_PAYEE_UNAVAILABLE, 403, "PAYEE_UNAVAILABLE",                                            \
      "the payee's account cannot receive money")                                                  \
    X(QB_E_ID_NUMBER_IN_USE, 409, "ID_NUMBER_IN_USE",                                              \
      "this id number has verified as many wallets as it may")                                     \
    X(QB_E_SIGN_ERROR, 401, "SIGN_ERROR", "the request signature could not be verified")           \
    X(QB_E_ORDER_NOT_EXIST, 404, "ORDER_NOT_EXIST", "no such order")                               \
    X(QB_E_ORDER_CLOSED, 400, "ORDER_CLOSED", "the order is closed")                               \
    X(QB_E_ORDER_PAID, 400, "ORDERPAID", "the order is paid already")                              \
    X(QB_E_INVALID_REQUEST, 400, "INVALID_REQUEST",                                                \
      "the request does not fit the rules of this API")                                            \
    X(QB_E_APPID_MCHID_NOT_MATCH, 400, "APPID_MCHID_NOT_MATCH",                                    \
      "the appid does not belong to this merchant")                                                \
    X(QB_E_NO_AUTH, 403, "NO_AUTH", "this merchant may not use this API")                          \
    X(QB_E_RED_PACKET_EXPIRED, 409, "RED_PACKET_EXPIRED", "this red packet has expired")           \
    X(QB_E_RED_PACKET_EMPTY, 409, "RED_PACKET_EMPTY",                                              \
      "every share of this red packet has been claimed")                                           \
    X(QB_E_QR_INVALID, 400, "QR_INVALID", "this is not a valid Qianbao code, or it was altered")   \
    X(QB_E_QR_AMOUNT_MISMATCH, 400, "QR_AMOUNT_MISMATCH", "this code fixes a different amount")    \
    X(QB_E_RESOURCE_NOT_EXISTS, 404, "RESOURCE_NOT_EXISTS", "no such order or refund")             \
    X(QB_E_NOT_ENOUGH, 403, "NOT_ENOUGH", "the balance that would pay is too low")                 \
    X(QB_E_AUTH_CODE_INVALID, 400, "AUTH_CODE_INVALID",                                            \
      "the payment code is not valid (101 付款码无效,请重新扫码)")                                 \
    X(QB_E_NO_STATEMENT_EXIST, 400, "NO_STATEMENT_EXIST",                                          \
      "no bill: the merchant had no trade that day")                                               \
    X(QB_E_STATEMENT_CREATING, 400, "STATEMENT_CREATING",                                          \
      "the bill is not made yet; ask after the day ends")                                          \
    X(QB_E_CARD_HOLDER_MISMATCH, 400, "CARD_HOLDER_MISMATCH",                                      \
      "the card's holder is not the person this wallet is verified for")                           \
    X(QB_E_HTTP_MALFORMED, 400, "MALFORMED_REQUEST", "the request is not well-formed HTTP/1.1")    \
    X(QB_E_URI_TOO_LONG, 414, "URI_TOO_LONG", "the request line is too long")                      \
    X(QB_E_HEADERS_TOO_LARGE, 431, "HEADERS_TOO_LARGE", "the request's headers are too large")     \
    X(QB_E_CARD_PHONE_MISMATCH, 400, "CARD_PHONE_MISMATCH",                                        \
      "the phone is not the one the bank has for this card")                                       \
    X(QB_E_SMS_CODE_REQUIRED, 403, "SMS_CODE_REQUIRED",                                            \
      "this needs an SMS code sent to the account's phone")                                        \
    X(QB_E_ORDER_REVERSED, 400, "ORDERREVERSED",                                                   \
      "the order was reversed (订单已撤销): whatever it took went back to the payer")              \
    X(QB_E_PAYMENT_CODE_LOCKED, 423, "PAYMENT_CODE_LOCKED",                                        \
      "this device's payment codes are locked after too many wrong codes at tills")                \
    X(QB_E_RECENT_LOGIN_REQUIRED, 403, "RECENT_LOGIN_REQUIRED",                                    \
      "this needs a recent login: log in again on this device")                                    \
    X(QB_E_ACCOUNT_NOT_EMPTY, 409, "ACCOUNT_NOT_EMPTY",                                            \
      "the wallet still holds money or has business open; settle it first")                        \
    X(QB_E_USER_ACCOUNT_ABNORMAL, 403, "USER_ACCOUNT_ABNORMAL",                                    \
      "the payer's wallet is closed: settle this refund with them (用户帐号注销)")                 \
    X(QB_E_TRANSFER_RETURNED, 409, "TRANSFER_RETURNED", "this transfer was returned already")      \
    X(QB_E_TRANSFER_RETURN_EXPIRED, 409, "TRANSFER_RETURN_EXPIRED",                                \
      "this transfer is too old to return: send the money as a new transfer")                      \
    X(QB_E_TRANSFER_ARRIVED, 409, "TRANSFER_ARRIVED",                                              \
      "this transfer has arrived: ask its payee to send it back")                                  \
    X(QB_E_TRANSFER_CANCELLED, 409, "TRANSFER_CANCELLED",                                          \
      "the payer cancelled this transfer before it arrived")                                       \
    X(QB_E_TRANSFER_STOPPED, 409, "TRANSFER_STOPPED",                                              \
      "stopped by Qianbao before it arrived, on a report of fraud")                                \
    X(QB_E_PAYOUT_CLOSED, 409, "PAYOUT_CLOSED",                                                    \
      "the merchant cancelled this transfer, or it was not confirmed in time")                     \
    X(QB_E_COLLECTION_CLOSED, 409, "COLLECTION_CLOSED",                                            \
      "this collection takes no more payments: closed, paid in full, or past its time")            \
    X(QB_E_COLLECTION_PAID, 409, "COLLECTION_PAID", "you paid this collection already")            \
    X(QB_E_MERCHANT_SUSPENDED, 403, "MERCHANT_SUSPENDED",                                          \
      "the merchant is suspended: its transfer waits until it is resumed, or closes")              \
    X(QB_E_FREQUENCY_LIMITED, 429, "FREQUENCY_LIMITED",                                            \
      "too many tries of this; try later (频率超限)")

enum qb_error {
#define QB_ERROR_ENUM(name, status, code, message) name,
    QB_ERROR_TABLE(QB_ERROR_ENUM)
#undef QB_ERROR_ENUM
        QB_ERROR_COUNT
};

/* The entry of the table for one error; every accessor accepts any value and
 * answers the QB_E_INTERNAL entry for values outside the enum. */
int error_http_status(enum qb_error err);
const char *error_api_code(enum qb_error err); /* "INSUFFICIENT_BALANCE" */
const char *error_message(enum qb_error err);  /* default human text */
const char *error_name(enum qb_error err);     /* "QB_E_INSUFFICIENT_BALANCE" */

#endif
