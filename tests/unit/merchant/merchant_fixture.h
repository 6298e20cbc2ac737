/*
 * merchant_fixture.h — a merchant and a payer's payment-code device on the
 * transfer fixture's real ledger (unit/wallet/transfer_fixture.h), for the
 * merchant module's tests: onboarded through merchant_create_cmd and
 * merchant_device_add_cmd as the daemon does, with a fixed API v3 key and
 * a public key no test verifies against.
 */
#ifndef QB_TESTS_UNIT_MERCHANT_MERCHANT_FIXTURE_H
#define QB_TESTS_UNIT_MERCHANT_MERCHANT_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "merchant/merchant.h"
#include "merchant/order.h"
#include "merchant/paycode.h"
#include "unit/wallet/transfer_fixture.h"

/* Onboards merchant mchid (first appid appid, shop name name) taking
 * fee_ppm of each payment; the system accounts must exist. */
static inline struct merchant mx_merchant(struct wx *wx, const char *mchid, const char *appid,
                                          const char *name, int64_t fee_ppm)
{
    struct merchant_create_cmd c;
    merchant_create_cmd_init(&c, &wx->env);
    snprintf(c.merchant.mchid, sizeof c.merchant.mchid, "%s", mchid);
    snprintf(c.merchant.appid, sizeof c.merchant.appid, "%s", appid);
    snprintf(c.merchant.name, sizeof c.merchant.name, "%s", name);
    snprintf(c.merchant.public_key_pem, sizeof c.merchant.public_key_pem, "unused");
    snprintf(c.merchant.serial_no, sizeof c.merchant.serial_no, "AB");
    domain_seal(&wx->env, "0123456789abcdefghijABCDEFGHIJ01", 32, c.merchant.apiv3_key_sealed);
    c.merchant.fee_ppm = fee_ppm;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct merchant m = c.merchant;
    ledger_cmd_release(&c.cmd);
    ASSERT(m.account_id > 0);
    return m;
}

/* A payment-code device of user's ("phone"), set up with the fixture's
 * payment password: its id (device_id may be NULL), slot and seed. */
static inline void mx_paycode_device(struct wx *wx, const struct identity_user *user,
                                     char device_id[ID_TEXT_SIZE_MAX], uint32_t *slot,
                                     uint8_t seed[PAYCODE_SEED_SIZE])
{
    struct merchant_device_add_cmd d;
    merchant_device_add_cmd_init(&d, &wx->env);
    snprintf(d.user_id, sizeof d.user_id, "%s", user->id);
    snprintf(d.name, sizeof d.name, "phone");
    snprintf(d.payment_password, sizeof d.payment_password, WX_PAY_PASSWORD);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &d.cmd), QB_OK);
    ASSERT_EQ_INT(d.cmd.result, QB_OK);
    ASSERT_EQ_INT(d.outcome, QB_OK);
    if (device_id != NULL)
        snprintf(device_id, ID_TEXT_SIZE_MAX, "%s", d.device_id);
    *slot = d.slot;
    memcpy(seed, d.seed, PAYCODE_SEED_SIZE);
    ledger_cmd_release(&d.cmd);
}

/* A native order of m for total under out_trade_no (its request
 * fingerprint filled with hash_byte), as the order route creates it. */
static inline struct merchant_order mx_native_order(struct wx *wx, const struct merchant *m,
                                                    const char *out_trade_no, int64_t total,
                                                    uint8_t hash_byte)
{
    struct merchant_order_create_cmd c;
    merchant_order_create_cmd_init(&c, &wx->env);
    struct merchant_order *o = &c.order;
    snprintf(o->mchid, sizeof o->mchid, "%s", m->mchid);
    snprintf(o->appid, sizeof o->appid, "%s", m->appid);
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "%s", out_trade_no);
    o->trade_type = MERCHANT_TRADE_NATIVE;
    memset(o->request_hash, hash_byte, sizeof o->request_hash);
    snprintf(o->description, sizeof o->description, "牛肉面");
    snprintf(o->notify_url, sizeof o->notify_url, "https://example.com/notify");
    o->currency = currency_find("CNY");
    o->total_minor = total;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.outcome, QB_OK);
    struct merchant_order out = c.order;
    ledger_cmd_release(&c.cmd);
    return out;
}

/* payer pays the order of pay_token with the fixture's payment password. */
static inline void mx_order_pay(struct wx *wx, const struct identity_user *payer,
                                const char *pay_token)
{
    struct merchant_order_pay_cmd p;
    merchant_order_pay_cmd_init(&p, &wx->env);
    snprintf(p.payer_id, sizeof p.payer_id, "%s", payer->id);
    snprintf(p.pay_token, sizeof p.pay_token, "%s", pay_token);
    p.has_payment_password = true;
    snprintf(p.payment_password, sizeof p.payment_password, "%s", WX_PAY_PASSWORD);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &p.cmd), QB_OK);
    ASSERT_EQ_INT(p.outcome, QB_OK);
    ledger_cmd_release(&p.cmd);
}

/* A shop and one customer: a merchant (mchid 1900009191) named name, a
 * verified payer funded with balance fen and holding a payment-code device
 * (its id, slot and seed). seq is the test's own counter. */
struct mx_shop {
    struct wx *wx;
    struct merchant m;
    struct identity_user payer;
    char device_id[ID_TEXT_SIZE_MAX];
    uint32_t slot;
    uint8_t seed[PAYCODE_SEED_SIZE];
    int seq;
};

static inline void mx_shop_open(struct mx_shop *f, const char *name, int64_t balance)
{
    memset(f, 0, sizeof *f);
    f->wx = wx_new();
    ASSERT_EQ_INT(wallet_accounts_setup(f->wx->ledger, &f->wx->env), QB_OK);
    f->m = mx_merchant(f->wx, "1900009191", "wx0123456789abcdef", name, 6000);
    f->payer = wx_user(f->wx, "小明", true);
    wx_fund(f->wx, f->payer.account_id, balance);
    mx_paycode_device(f->wx, &f->payer, f->device_id, &f->slot, f->seed);
}

#endif
