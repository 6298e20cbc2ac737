/*
 * test_close.c — a user closes their wallet (POST /v1/me/close), over HTTP.
 *
 * Closing is for good and only of an empty wallet: each thing that still
 * ties the wallet to money (a balance, a top-up or withdrawal the bank has
 * not settled, a red packet still taking claims, a merchant owned) refuses it
 * with ACCOUNT_NOT_EMPTY and its reason, before any proof is asked for, so
 * the SMS code stays live. Once closed, no session of it works, nobody finds
 * it by phone or pays it by id, an operator sees it closed and can change
 * nothing, and the phone registers a new wallet.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/refund_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* POST /v1/me/close as u; the answer's status, and its error code (or the
 * user's status) in code. */
static long S_close(const struct api_user *u, const char *payment_password, const char *sms_code,
                    char code[32], char reason[32])
{
    char body[128];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"sms_code\":\"%s\"}",
             payment_password, sms_code);
    struct client_response res;
    long status = api_call(&S_client, "POST", "/v1/me/close", u->token, body, &res);
    snprintf(code, 32, "%s", status == 200 ? api_json_str(&res, "status") : api_error_code(&res));
    if (reason != NULL)
        snprintf(reason, 32, "%s", api_json_str(&res, "reason"));
    client_response_release(&res);
    return status;
}

#define EXPECT_CLOSE(u, password, sms, status, want_code, want_reason)                             \
    do {                                                                                           \
        char code_[32], reason_[32];                                                               \
        ASSERT_EQ_INT(S_close((u), (password), (sms), code_, reason_), (status));                  \
        ASSERT_EQ_STR(code_, (want_code));                                                         \
        ASSERT_EQ_STR(reason_, (want_reason));                                                     \
    } while (0)

/* GET /v1/me/closing as u: its reasons joined with ',' ("" when closable). */
static void S_closing(const struct api_user *u, char out[128])
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/closing", u->token, NULL, &res), 200);
    json_t *body = api_json(&res);
    client_response_release(&res);
    json_t *reasons = json_object_get(body, "reasons");
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(reasons); i++) {
        size_t used = strlen(out);
        snprintf(out + used, 128 - used, "%s%s", i > 0 ? "," : "",
                 json_string_value(json_array_get(reasons, i)));
    }
    ASSERT_EQ_INT(json_is_true(json_object_get(body, "closable")), out[0] == '\0');
    json_decref(body);
}

#define EXPECT_CLOSING(u, want)                                                                    \
    do {                                                                                           \
        char reasons_[128];                                                                        \
        S_closing((u), reasons_);                                                                  \
        ASSERT_EQ_STR(reasons_, (want));                                                           \
    } while (0)

static long S_transfer(const struct api_user *from, const char *to, long long amount,
                       const char *key, char code[32])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":%lld,\"currency\":\"CNY\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             to, amount);
    struct client_response res;
    long status = api_call_idem(&S_client, "POST", "/v1/transfers", from->token, key, body, &res);
    snprintf(code, 32, "%s", api_error_code(&res));
    client_response_release(&res);
    return status;
}

TEST(a_wallet_closes_only_once_nothing_ties_it_to_money)
{
    // Each tie refuses the closing with its reason and asks for nothing: the same SMS code
    // closes the wallet at the end. A wrong payment password or code refuses it too.
    struct api_user u, payer;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    char code[API_SMS_CODE_SIZE], other_code[API_SMS_CODE_SIZE], error[32];
    API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
    memcpy(other_code, code, sizeof other_code);
    other_code[5] = code[5] == '9' ? '0' : (char)(code[5] + 1);

    /* A balance. */
    EXPECT_CLOSING(&u, "");
    ASSERT_EQ_INT(S_transfer(&payer, u.id, 200, "close-in-1", error), 201);
    EXPECT_CLOSING(&u, "balance");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "balance");

    /* A withdrawal of all of it the bank confirms late (...0061, from 3 s on): held. */
    char card_id[API_ID_SIZE_MAX], body[256];
    API_MUST(th_card_bind(&S_client, S_admin, &u, "9999000000000061", card_id));
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":190,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/withdrawals", u.token, "close-w", body, &res),
        201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    ASSERT_EQ_INT(th_balance_of(&S_client, &u, "pending"), 200);
    EXPECT_CLOSING(&u, "pending");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "pending");
    for (int waited = 0; th_balance_of(&S_client, &u, "pending") != 0 && waited < 15000;
         waited += 100)
        usleep(100 * 1000);
    ASSERT_EQ_INT(th_balance_of(&S_client, &u, "pending"), 0);

    /* A red packet still taking claims: what is left would come back to the wallet. */
    ASSERT_EQ_INT(S_transfer(&payer, u.id, 300, "close-in-2", error), 201);
    snprintf(body, sizeof body,
             "{\"type\":\"lucky\",\"total_amount\":300,\"count\":2,\"greeting\":\"再见\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}");
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/red-packets", u.token, "close-rp", body, &res), 201);
    char packet[API_ID_SIZE_MAX], path[128];
    snprintf(packet, sizeof packet, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    EXPECT_CLOSING(&u, "red_packet");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "red_packet");
    /* Both shares claimed: the packet is finished, and owes nothing. */
    struct api_user friend;
    API_MUST(th_user_new(&S_client, S_admin, &friend));
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", packet);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, payer.token, NULL, &res), 201);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, friend.token, NULL, &res), 201);
    client_response_release(&res);

    EXPECT_CLOSING(&u, "");

    /* The proofs: a wrong payment password (counted), a wrong code. */
    EXPECT_CLOSE(&u, "086420", code, 403, "PASSWORD_WRONG", "");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, other_code, 400, "SMS_CODE_INVALID", "");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, "12345", 400, "PARAM_ERROR", "");

    /* Nothing ties it now: the code of the first try closes it. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", u.token,
                           "{\"payment_password\":\"" TH_PAY_PASSWORD "\",\"sms_code\":\"000000\"}",
                           &res),
                  400); /* not this one */
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"payment_password\":\"" TH_PAY_PASSWORD "\",\"sms_code\":\"%s\"}", code);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", u.token, body, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "closed");
    ASSERT_EQ_STR(api_json_str(&res, "id"), u.id);
    ASSERT_EQ_STR(api_json_str(&res, "phone"), u.phone);
    ASSERT(api_json_str(&res, "closed_at")[0] != '\0');
    client_response_release(&res);
}

TEST(a_closed_wallet_is_gone_for_good_and_its_phone_is_free)
{
    struct api_user u, payer;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10000));
    char laptop[API_TOKEN_SIZE_MAX], code[API_SMS_CODE_SIZE], error[32], path[128];
    API_MUST(api_login(&S_client, &u, "laptop", laptop));
    char card_id[API_ID_SIZE_MAX];
    char number[17];
    th_card_number_new(number);
    API_MUST(th_card_bind(&S_client, S_admin, &u, number, card_id));
    /* A collection still open does not stop the closing; the closing ends it. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/collections", u.token,
                           "{\"title\":\"聚餐\",\"amount\":100,\"count\":2}", &res),
                  201);
    char collection[API_ID_SIZE_MAX];
    snprintf(collection, sizeof collection, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 200, "closed", "");

    /* Every session ended, the one that closed it and the laptop's. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me", u.token, NULL, &res), 401);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me", laptop, NULL, &res), 401);
    client_response_release(&res);
    char fresh[API_TOKEN_SIZE_MAX];
    ASSERT(!api_login(&S_client, &u, "test", fresh));

    /* Nobody finds it by phone; by id it takes no money. */
    snprintf(path, sizeof path, "/v1/payees?to=%s", u.phone);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, payer.token, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "PAYEE_NOT_FOUND");
    client_response_release(&res);
    ASSERT_EQ_INT(S_transfer(&payer, u.phone, 100, "to-closed-phone", error), 404);
    ASSERT_EQ_STR(error, "PAYEE_NOT_FOUND");
    ASSERT_EQ_INT(S_transfer(&payer, u.id, 100, "to-closed-id", error), 403);
    ASSERT_EQ_STR(error, "PAYEE_UNAVAILABLE");
    snprintf(path, sizeof path, "/v1/collections/%s/payments", collection);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, payer.token, "to-closed-collection",
                                "{\"payment_password\":\"" TH_PAY_PASSWORD "\"}", &res),
                  409);
    ASSERT_EQ_STR(api_error_code(&res), "COLLECTION_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 10000);

    /* An operator sees it closed, with the phone it had, and can change nothing. */
    snprintf(path, sizeof path, "/admin/users/%s", u.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "closed");
    ASSERT_EQ_STR(api_json_str(&res, "phone"), u.phone);
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{}", &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    ASSERT(strstr(api_json_str(&res, "message"), "closed") != NULL);
    client_response_release(&res);

    /* The phone registers a new wallet, which starts empty, and the card binds to it. */
    struct api_user again;
    memset(&again, 0, sizeof again);
    snprintf(again.phone, sizeof again.phone, "%s", u.phone);
    snprintf(again.password, sizeof again.password, "%s", u.password);
    char reg[API_SMS_CODE_SIZE], body[512];
    API_MUST(api_sms_code_get(&S_client, S_admin, again.phone, "register", reg));
    snprintf(body, sizeof body,
             "{\"phone\":\"%s\",\"sms_code\":\"%s\",\"password\":\"%s\",\"display_name\":\"又来\"}",
             again.phone, reg, again.password);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/users", NULL, body, &res), 201);
    snprintf(again.id, sizeof again.id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT(strcmp(again.id, u.id) != 0);
    API_MUST(api_login(&S_client, &again, "test", again.token));
    ASSERT_EQ_INT(th_balance(&S_client, &again), 0);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/cards", again.token, NULL, &res), 200);
    json_t *cards = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(cards, "items")), 0);
    json_decref(cards);
    ASSERT_EQ_INT(S_transfer(&payer, again.phone, 100, "to-new-phone", error), 201);
    ASSERT_EQ_INT(th_balance(&S_client, &again), 100);

    /* An operator looking the phone up finds both: the new wallet, and the closed one. */
    snprintf(path, sizeof path, "/admin/users?phone=%s", u.phone);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *page = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(page, "items");
    ASSERT_EQ_INT(json_array_size(items), 2);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "id")), again.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "id")), u.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "status")), "closed");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "phone")), u.phone);
    json_decref(page);
}

/* POST /admin/users/{u}/close with body: the status, and the error code and
 * reason (or the user's status and "") into code and reason. */
static long S_admin_close(const struct api_user *u, const char *body, char code[32],
                          char reason[32])
{
    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/close", u->id);
    struct client_response res;
    long status = api_call(&S_client, "POST", path, S_admin, body, &res);
    snprintf(code, 32, "%s", status == 200 ? api_json_str(&res, "status") : api_error_code(&res));
    snprintf(reason, 32, "%s", api_json_str(&res, "reason"));
    client_response_release(&res);
    return status;
}

#define EXPECT_ADMIN_CLOSE(u, body, status, want_code, want_reason)                                \
    do {                                                                                           \
        char code_[32], reason_[32];                                                               \
        ASSERT_EQ_INT(S_admin_close((u), (body), code_, reason_), (status));                       \
        ASSERT_EQ_STR(code_, (want_code));                                                         \
        ASSERT_EQ_STR(reason_, (want_reason));                                                     \
    } while (0)

TEST(an_operator_closes_an_empty_wallet_for_an_owner_who_lost_the_phone)
{
    // Support closes the wallet of an owner who proved who they are there and can no longer get
    // a code here: a reason is required, the same blockers refuse it (a balance), a wallet an
    // operator froze closes too, and the closing is the owner's own: sessions end, the phone
    // frees, nothing pays it, and closing again is CONFLICT.
    struct api_user u, payer;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 1000));
    const char *why = "{\"reason\":\"ticket 4713: id card seen at the counter, phone lost\"}";
    EXPECT_ADMIN_CLOSE(&u, "{}", 400, "PARAM_ERROR", "");
    EXPECT_ADMIN_CLOSE(&u, "{\"reason\":\"   \"}", 400, "PARAM_ERROR", "");
    /* Blank in any script: an ideographic space, a no-break space. */
    EXPECT_ADMIN_CLOSE(&u, "{\"reason\":\"\\u3000\"}", 400, "PARAM_ERROR", "");
    EXPECT_ADMIN_CLOSE(&u, "{\"reason\":\" \\u00a0 \"}", 400, "PARAM_ERROR", "");
    char error[32];
    ASSERT_EQ_INT(S_transfer(&payer, u.id, 300, "admin-close-1", error), 201);
    EXPECT_ADMIN_CLOSE(&u, why, 409, "ACCOUNT_NOT_EMPTY", "balance");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 300);
    /* The owner spends it back, then an operator freezes the wallet: it still closes. */
    ASSERT_EQ_INT(S_transfer(&u, payer.id, 300, "admin-close-2", error), 201);
    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{}", &res), 200);
    client_response_release(&res);
    EXPECT_ADMIN_CLOSE(&u, why, 200, "closed", "");
    EXPECT_ADMIN_CLOSE(&u, why, 409, "CONFLICT", "");

    char fresh[API_TOKEN_SIZE_MAX];
    ASSERT(!api_login(&S_client, &u, "test", fresh));
    ASSERT_EQ_INT(S_transfer(&payer, u.id, 100, "admin-close-3", error), 403);
    ASSERT_EQ_STR(error, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 1000);
    snprintf(path, sizeof path, "/v1/payees?to=%s", u.phone);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, payer.token, NULL, &res), 404);
    client_response_release(&res);
    /* The security event says an operator closed it. */
    snprintf(path, sizeof path, "/admin/users/%s/security-events", u.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT(strstr(res.body.data, "account_closed") != NULL);
    ASSERT(strstr(res.body.data, "operator") != NULL);
    client_response_release(&res);
}

TEST(a_top_up_the_bank_has_not_confirmed_keeps_the_wallet_open)
{
    // A top-up holds nothing on the wallet, but its money is on its way from the card: closed
    // meanwhile, the wallet could never take it, and the card's money would stay at the bank
    // clearing account. Neither the owner nor an operator closes it until the bank answers;
    // then its money is a balance like any other.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char card_id[API_ID_SIZE_MAX], body[256], code[API_SMS_CODE_SIZE], path[128];
    /* The sandbox's card that answers PROCESSING, then SUCCESS 3 s after creation. */
    ASSERT(th_card_bind(&S_client, S_admin, &u, "9999000000000061", card_id));
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":500,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/topups", u.token, "close-topup-1", body, &res),
        201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    snprintf(path, sizeof path, "/v1/me/payments/%s", api_json_str(&res, "id"));
    client_response_release(&res);
    EXPECT_CLOSING(&u, "pending");
    API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "pending");
    EXPECT_ADMIN_CLOSE(&u, "{\"reason\":\"ticket 4714\"}", 409, "ACCOUNT_NOT_EMPTY", "pending");
    /* The refusal names what to wait for: a top-up, not a withdrawal or transfer to cancel. */
    char close_path[128];
    snprintf(close_path, sizeof close_path, "/admin/users/%s/close", u.id);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", close_path, S_admin, "{\"reason\":\"ticket 4714\"}", &res),
        409);
    if (strstr(api_json_str(&res, "message"), "top-up") == NULL)
        TEST_FAIL_("the refusal does not name the top-up: %s", api_json_str(&res, "message"));
    client_response_release(&res);
    /* The bank answers; the worker settles it within seconds. */
    char status[32] = "";
    for (int i = 0; i < 150 && strcmp(status, "SUCCESS") != 0; i++) {
        usleep(100 * 1000);
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 200);
        snprintf(status, sizeof status, "%s", api_json_str(&res, "status"));
        client_response_release(&res);
    }
    ASSERT_EQ_STR(status, "SUCCESS");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 500);
    EXPECT_CLOSING(&u, "balance");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "balance");
}

TEST(a_merchant_owner_or_a_frozen_wallet_does_not_close)
{
    struct api_user owner, frozen;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &frozen));
    struct client_response res;
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/v1/merchants", owner.token, "{\"name\":\"告别小店\"}", &res),
        201);
    client_response_release(&res);
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get(&S_client, S_admin, owner.phone, "close_account", code));
    EXPECT_CLOSE(&owner, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "merchant");
    EXPECT_CLOSING(&owner, "merchant");
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me", owner.token, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "active");
    client_response_release(&res);

    /* Whoever holds a frozen wallet may not be its owner. */
    API_MUST(api_sms_code_get(&S_client, S_admin, frozen.phone, "close_account", code));
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", frozen.token, "{}", &res), 200);
    client_response_release(&res);
    EXPECT_CLOSE(&frozen, TH_PAY_PASSWORD, code, 403, "ACCOUNT_FROZEN", "");
    EXPECT_CLOSING(&frozen, "frozen");

    /* Everything at once, in the order a refusal names them; and a wallet without a
     * payment password must set one first. */
    struct api_user bare, payer;
    API_MUST(api_user_new(&S_client, S_admin, &bare));
    EXPECT_CLOSING(&bare, "payment_password");
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 1000));
    char error[32];
    ASSERT_EQ_INT(S_transfer(&payer, owner.id, 300, "close-all-1", error), 201);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/red-packets", owner.token, "close-all-rp",
                                "{\"type\":\"lucky\",\"total_amount\":100,\"count\":2,"
                                "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                &res),
                  201);
    client_response_release(&res);
    EXPECT_CLOSING(&owner, "balance,red_packet,merchant");
    EXPECT_CLOSE(&owner, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "balance");
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me", frozen.token, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "frozen");
    client_response_release(&res);
}

TEST(a_wallet_out_of_kyc_allowance_is_told_to_raise_the_level)
{
    // At KYC level 1 a wallet may pay and cash out ¥1,000 in its life. Once it has, "withdraw it
    // or spend it" would send its owner round in a circle: both are refused by kyc_lifetime. The
    // closing names the limit that stands in the way (LIMIT_EXCEEDED, kyc_lifetime, before the
    // password) and says to verify; the checklist names it too. An operator still sees the
    // balance. Verified, the owner is sent to withdraw again.
    struct api_user u, friend;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &friend));
    API_MUST(th_fund(&S_client, S_admin, &u, 110000));
    char card_id[API_ID_SIZE_MAX], body[256];
    API_MUST(th_card_bind(&S_client, S_admin, &u, "9999000000000012", card_id));
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":100000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/withdrawals", u.token, "kyc-w1", body, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    long long left = th_balance(&S_client, &u);
    ASSERT(left > 0 && left < 10000);
    char error[32];
    ASSERT_EQ_INT(S_transfer(&u, friend.id, 100, "kyc-t1", error), 403);
    ASSERT_EQ_STR(error, "LIMIT_EXCEEDED");

    EXPECT_CLOSING(&u, "kyc_lifetime");
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
    for (int i = 0; i < 2; i++) {
        /* Before the password, as a balance is: a wrong one is not even counted. */
        snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"sms_code\":\"%s\"}",
                 i == 0 ? "086420" : TH_PAY_PASSWORD, code);
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", u.token, body, &res), 403);
        ASSERT_EQ_STR(api_error_code(&res), "LIMIT_EXCEEDED");
        ASSERT_EQ_STR(api_json_str(&res, "limit"), "kyc_lifetime");
        const char *said = api_json_str(&res, "message");
        ASSERT(strstr(said, "KYC") != NULL && strstr(said, "/v1/me/kyc") != NULL);
        client_response_release(&res);
    }
    EXPECT_ADMIN_CLOSE(&u, "{\"reason\":\"本人来电\"}", 409, "ACCOUNT_NOT_EMPTY", "balance");
    ASSERT_EQ_INT(th_balance(&S_client, &u), left);

    /* Verified (level 2), the balance is a withdrawal's again. */
    API_MUST(api_user_verify(&S_client, &u, "张三"));
    EXPECT_CLOSING(&u, "balance");
    EXPECT_CLOSE(&u, TH_PAY_PASSWORD, code, 409, "ACCOUNT_NOT_EMPTY", "balance");
}

TEST(a_refund_to_a_closed_wallet_is_refused_as_wechat_refuses_it)
{
    // The payer spent everything at a merchant and closed the wallet. The merchant's refund
    // cannot go back to it: 403 USER_ACCOUNT_ABNORMAL (用户帐号注销), WeChat's answer, which tells
    // the merchant to settle with the payer itself; no money moves.
    struct api_user payer;
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 5000));
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &payer, "close-0001", 5000, NULL, transaction_id);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 0);
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get(&S_client, S_admin, payer.phone, "close_account", code));
    EXPECT_CLOSE(&payer, TH_PAY_PASSWORD, code, 200, "closed", "");

    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "close-0001", "CR-1", 1000, 5000, NULL, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "USER_ACCOUNT_ABNORMAL");
    client_response_release(&res);
    char path[160];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/close-0001?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "SUCCESS"); /* not REFUND */
    client_response_release(&res);
    mh_release(&m);
}

#define S_RACE_ROUNDS 6
#define S_RACE_TRANSFERS 8

TEST(a_transfer_racing_the_closing_never_lands_in_a_closed_wallet)
{
    // The closing reads the balance inside its command, as the ledger's writer has it: a
    // transfer committed before it in the same batch makes it refuse (balance), and one after
    // it is refused (PAYEE_UNAVAILABLE). So whichever wins, a closed wallet holds nothing and
    // no money sent to it is lost: what the payer lost is what the payee holds.
    struct api_user payer;
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    int closed_rounds = 0, refused_rounds = 0;
    for (int round = 0; round < S_RACE_ROUNDS; round++) {
        struct api_user u;
        API_MUST(th_user_new(&S_client, S_admin, &u));
        char code[API_SMS_CODE_SIZE];
        API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
        long long payer_before = th_balance(&S_client, &payer);
        static struct th_call calls[1 + S_RACE_TRANSFERS];
        static char keys[1 + S_RACE_TRANSFERS][48], bodies[1 + S_RACE_TRANSFERS][256];
        memset(calls, 0, sizeof calls);
        snprintf(bodies[0], sizeof bodies[0],
                 "{\"payment_password\":\"" TH_PAY_PASSWORD "\",\"sms_code\":\"%s\"}", code);
        calls[0] = (struct th_call){.path = "/v1/me/close", .token = u.token, .body = bodies[0]};
        for (int i = 1; i <= S_RACE_TRANSFERS; i++) {
            snprintf(keys[i], sizeof keys[i], "race-%d-%d", round, i);
            snprintf(bodies[i], sizeof bodies[i],
                     "{\"to\":\"%s\",\"amount\":1,\"currency\":\"CNY\","
                     "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                     u.id);
            calls[i] = (struct th_call){
                .path = "/v1/transfers", .token = payer.token, .key = keys[i], .body = bodies[i]};
        }
        th_burst_run(S_daemon.base_url, calls, QB_ARRAY_COUNT(calls), QB_ARRAY_COUNT(calls));
        int landed = 0;
        for (int i = 1; i <= S_RACE_TRANSFERS; i++) {
            if (calls[i].status == 201) {
                landed++;
            } else {
                ASSERT_EQ_INT(calls[i].status, 403);
                ASSERT_EQ_STR(calls[i].code, "PAYEE_UNAVAILABLE");
            }
        }
        if (calls[0].status == 200) {
            closed_rounds++;
            ASSERT_EQ_INT(landed, 0);
        } else {
            refused_rounds++;
            ASSERT_EQ_INT(calls[0].status, 409);
            ASSERT_EQ_STR(calls[0].code, "ACCOUNT_NOT_EMPTY");
            ASSERT(landed > 0);
        }
        ASSERT_EQ_INT(th_admin_available(&S_client, S_admin, u.id), landed);
        ASSERT_EQ_INT(th_balance(&S_client, &payer), payer_before - landed);
    }
    fprintf(stderr, "  %d rounds closed first, %d refused for a balance\n", closed_rounds,
            refused_rounds);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    /* A phone registers again right after its first registration's code. */
    const char *args[] = {"--sms-cooldown-s", "0", NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "close", args, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(a_wallet_closes_only_once_nothing_ties_it_to_money);
    RUN(a_closed_wallet_is_gone_for_good_and_its_phone_is_free);
    RUN(a_merchant_owner_or_a_frozen_wallet_does_not_close);
    RUN(a_top_up_the_bank_has_not_confirmed_keeps_the_wallet_open);
    RUN(an_operator_closes_an_empty_wallet_for_an_owner_who_lost_the_phone);
    RUN(a_refund_to_a_closed_wallet_is_refused_as_wechat_refuses_it);
    RUN(a_wallet_out_of_kyc_allowance_is_told_to_raise_the_level);
    RUN(a_transfer_racing_the_closing_never_lands_in_a_closed_wallet);
    return api_suite_end(&suite);
}
