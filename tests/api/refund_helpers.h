/*
 * refund_helpers.h — what the refund and notification tests share: a
 * native order created through the signed merchant API and paid by a
 * wallet user, a refund request, and opening an AEAD_AES_256_GCM resource
 * with OpenSSL as a merchant's SDK does (nothing of Qianbao's code).
 */
#ifndef QB_TESTS_API_REFUND_HELPERS_H
#define QB_TESTS_API_REFUND_HELPERS_H

#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"

/* Onboards a merchant owned by the user owner_id through the admin route,
 * like mh_onboard. */
static inline bool rh_onboard_owned(struct client *client, const char *admin, const char *owner_id,
                                    struct mh_merchant *m)
{
    memset(m, 0, sizeof *m);
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"小店\",\"owner_user_id\":\"%s\"}", owner_id);
    struct client_response res;
    long status = api_call(client, "POST", "/admin/merchants", admin, body, &res);
    json_t *j = api_json(&res);
    client_response_release(&res);
    if (status != 201 || j == NULL) {
        json_decref(j);
        return false;
    }
    bool ok = mh_from_answer(j, m);
    json_decref(j);
    return ok;
}

/* Creates a native order of m described as description (notify_url NULL: a
 * public https one) and has u pay it; its transaction_id into
 * transaction_id (29 bytes). */
static inline void rh_order_paid_as(struct client *client, const struct mh_merchant *m,
                                    const struct api_user *u, const char *out_trade_no,
                                    long long total, const char *description,
                                    const char *notify_url, char transaction_id[32])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"%s\","
             "\"out_trade_no\":\"%s\",\"notify_url\":\"%s\","
             "\"amount\":{\"total\":%lld,\"currency\":\"CNY\"}}",
             m->appid, m->mchid, description, out_trade_no,
             notify_url != NULL ? notify_url : "https://www.weixin.qq.com/wxpay/pay.php", total);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(client, m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    char pay[256];
    snprintf(pay, sizeof pay, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}",
             api_json_str(&res, "code_url"), TH_PAY_PASSWORD);
    client_response_release(&res);
    char key[64];
    snprintf(key, sizeof key, "pay-%s-%s", m->mchid, out_trade_no);
    ASSERT_EQ_INT(api_call_idem(client, "POST", "/v1/me/order-payments", u->token, key, pay, &res),
                  201);
    snprintf(transaction_id, 32, "%s", api_json_str(&res, "transaction_id"));
    client_response_release(&res);
}

/* rh_order_paid_as for a bowl of noodles. */
static inline void rh_order_paid(struct client *client, const struct mh_merchant *m,
                                 const struct api_user *u, const char *out_trade_no,
                                 long long total, const char *notify_url,
                                 char transaction_id[32])
{
    rh_order_paid_as(client, m, u, out_trade_no, total, "牛肉面", notify_url, transaction_id);
}

/* POST /v3/refund/domestic/refunds of refund out of total for out_trade_no
 * (extra: more members, starting with a comma, or NULL). */
static inline long rh_refund(struct client *client, const struct mh_merchant *m,
                             const char *out_trade_no, const char *out_refund_no, long long refund,
                             long long total, const char *extra, struct client_response *res)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\",\"reason\":\"商品已售完\","
             "\"amount\":{\"refund\":%lld,\"total\":%lld,\"currency\":\"CNY\"}%s}",
             out_trade_no, out_refund_no, refund, total, extra != NULL ? extra : "");
    return mh_call(client, m, "POST", "/v3/refund/domestic/refunds", body, res);
}

/* The owner's withdrawal of amount from the merchant mchid (NULL: the
 * owner's only one) to card_id, with the right payment password, under
 * key: POST /v1/merchants/me/withdrawals. The status; the answer in res. */
static inline long rh_merchant_withdraw(struct client *client, const struct api_user *owner,
                                        const char *mchid, const char *card_id, long long amount,
                                        const char *key, struct client_response *res)
{
    char body[256], mchid_field[64] = "";
    if (mchid != NULL)
        snprintf(mchid_field, sizeof mchid_field, ",\"mchid\":\"%s\"", mchid);
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":%lld,\"payment_password\":\"" TH_PAY_PASSWORD "\"%s}",
             card_id, amount, mchid_field);
    return api_call_idem(client, "POST", "/v1/merchants/me/withdrawals", owner->token, key, body,
                         res);
}

/* Opens a resource {ciphertext, nonce, associated_data} with the API v3
 * key; the plaintext JSON, or NULL when it does not open. */
static inline json_t *rh_resource_open(const char *apiv3_key, const json_t *resource)
{
    const char *b64 = json_string_value(json_object_get(resource, "ciphertext"));
    const char *nonce = json_string_value(json_object_get(resource, "nonce"));
    const char *aad = json_string_value(json_object_get(resource, "associated_data"));
    if (b64 == NULL || nonce == NULL || aad == NULL || strlen(b64) > 16000)
        return NULL;
    unsigned char raw[12000];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    for (size_t len = strlen(b64); len > 0 && b64[len - 1] == '='; len--)
        n--;
    if (n < 16)
        return NULL;
    int size = n - 16;
    unsigned char plain[12000];
    int got = 0, final = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL) == 1 &&
              EVP_DecryptInit_ex(ctx, NULL, NULL, (const unsigned char *)apiv3_key,
                                 (const unsigned char *)nonce) == 1 &&
              EVP_DecryptUpdate(ctx, NULL, &got, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
              EVP_DecryptUpdate(ctx, plain, &got, raw, size) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, raw + size) == 1 &&
              EVP_DecryptFinal_ex(ctx, plain + got, &final) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return NULL;
    json_error_t error;
    return json_loadb((const char *)plain, (size_t)(got + final), 0, &error);
}

#endif
