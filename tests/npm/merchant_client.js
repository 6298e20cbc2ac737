// merchant_client.js — a merchant written with the unchanged
// `wechatpay-axios-plugin` from npm, configured only with Qianbao's base URL
// and the credentials onboarding gave. Run by tests/api/test_npm_client.c,
// which starts qianbaod, onboards the merchant and a paying user, and passes
// everything in the environment:
//
//   QB_BASE_URL            http://127.0.0.1:PORT
//   QB_MCHID, QB_APPID     the merchant
//   QB_SERIAL              the merchant certificate's serial_no
//   QB_APIV3_KEY           the merchant's API v3 key
//   QB_PRIVATE_KEY_FILE    the merchant's private key (PEM)
//   QB_PLATFORM_SERIAL     the platform certificate's serial (Wechatpay-Serial)
//   QB_PLATFORM_KEY_FILE   the platform public key (PEM)
//   QB_USER_TOKEN          a wallet user with a balance and payment password
//   QB_PAY_PASSWORD        that user's payment password
//
// The steps are a list: each is a name and an async function, run in order;
// the first that throws fails the run (exit 1) with its name. Refunds and
// notification decryption join as further steps once Qianbao has them.
'use strict';

const { readFileSync } = require('fs');
const crypto = require('crypto');
const { Wechatpay, Aes } = require('wechatpay-axios-plugin');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const base = env('QB_BASE_URL');
const mchid = env('QB_MCHID');
const appid = env('QB_APPID');
const platformSerial = env('QB_PLATFORM_SERIAL');
const platformKey = readFileSync(env('QB_PLATFORM_KEY_FILE'));
const config = {
  baseURL: `${base}/`,
  mchid,
  serial: env('QB_SERIAL'),
  privateKey: readFileSync(env('QB_PRIVATE_KEY_FILE')),
  certs: { [platformSerial]: platformKey },
};
const wxpay = new Wechatpay(config);

const stamp = Date.now().toString(36);
const nativeNo = `npm-native-${stamp}`;
const jsapiNo = `npm-jsapi-${stamp}`;
const state = {};

function check(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

// A call to the wallet API (/v1) as the paying user's app would make it.
async function wallet(method, path, body, idempotencyKey) {
  const headers = { Authorization: `Bearer ${env('QB_USER_TOKEN')}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const res = await fetch(`${base}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, data: await res.json() };
}

// The status and data of a library call that is expected to fail.
async function refused(promise) {
  try {
    await promise;
  } catch (err) {
    return { code: err.code, status: err.response && err.response.status, data: err.response && err.response.data };
  }
  throw new Error('expected the call to be refused');
}

const order = (outTradeNo, total, extra) => ({
  appid,
  mchid,
  description: 'Image形象店-深圳腾大-QQ公仔',
  out_trade_no: outTradeNo,
  notify_url: 'https://example.com/wxpay/notify',
  amount: { total, currency: 'CNY' },
  ...extra,
});

const byOutTradeNo = (outTradeNo) => wxpay.v3.pay.transactions['out-trade-no']['{out_trade_no}']
  .get({ params: { mchid }, out_trade_no: outTradeNo });

const steps = [
  ['the platform certificate decrypts with the API v3 key', async () => {
    const { data } = await wxpay.v3.certificates.get();
    check(Array.isArray(data.data) && data.data.length === 1, 'one certificate');
    check(data.data[0].serial_no === platformSerial, 'the platform serial');
    const { ciphertext, nonce, associated_data: aad } = data.data[0].encrypt_certificate;
    const pem = Aes.AesGcm.decrypt(ciphertext, env('QB_APIV3_KEY'), nonce, aad);
    const certificate = new crypto.X509Certificate(pem);
    check(certificate.serialNumber.toUpperCase() === platformSerial.toUpperCase(), 'the serial in it');
    check(certificate.publicKey.export({ type: 'spki', format: 'pem' }).toString().trim()
      === platformKey.toString().trim(), 'the platform key in it');
  }],
  ['a native order answers a code_url', async () => {
    const { status, data } = await wxpay.v3.pay.transactions.native.post(order(nativeNo, 1234));
    check(status === 200 && /^qianbao:\/\/pay\?pr=[0-9a-f]{32}$/.test(data.code_url), 'a code_url');
    state.codeUrl = data.code_url;
  }],
  ['a jsapi order for the user answers a prepay_id', async () => {
    const { status, data } = await wallet('GET', `/v1/me/openids/${appid}`);
    check(status === 200 && data.openid, 'the user\'s openid');
    const res = await wxpay.v3.pay.transactions.jsapi.post(order(jsapiNo, 88, { payer: { openid: data.openid } }));
    check(res.status === 200 && /^wx[0-9a-f]{32}$/.test(res.data.prepay_id), 'a prepay_id');
    state.openid = data.openid;
  }],
  ['the user pays the native order through the wallet API', async () => {
    const { status, data } = await wallet('POST', '/v1/me/order-payments',
      { code_url: state.codeUrl, payment_password: env('QB_PAY_PASSWORD') }, `npm-pay-${stamp}`);
    check(status === 201 && data.status === 'SUCCESS' && data.amount === 1234, 'a paid order');
  }],
  ['both orders are queried', async () => {
    const paid = await byOutTradeNo(nativeNo);
    check(paid.data.trade_state === 'SUCCESS' && paid.data.amount.payer_total === 1234, 'SUCCESS');
    check(/^\d{28}$/.test(paid.data.transaction_id) && paid.data.payer.openid, 'ids');
    const byId = await wxpay.v3.pay.transactions.id['{transaction_id}']
      .get({ params: { mchid }, transaction_id: paid.data.transaction_id });
    check(byId.data.out_trade_no === nativeNo, 'the same order by its transaction_id');
    const unpaid = await byOutTradeNo(jsapiNo);
    check(unpaid.data.trade_state === 'NOTPAY' && unpaid.data.payer.openid === state.openid, 'NOTPAY');
  }],
  ['the unpaid order is closed', async () => {
    const { status } = await wxpay.v3.pay.transactions['out-trade-no']['{out_trade_no}'].close
      .post({ mchid }, { out_trade_no: jsapiNo });
    check(status === 204, '204');
    const { data } = await byOutTradeNo(jsapiNo);
    check(data.trade_state === 'CLOSED', 'CLOSED');
  }],
  ['refusals come back as WeChat codes, signed', async () => {
    const again = await refused(wxpay.v3.pay.transactions.native.post(order(nativeNo, 1234)));
    check(again.status === 400 && again.data.code === 'ORDERPAID', 'ORDERPAID');
    const none = await refused(byOutTradeNo('npm-nobody-0000'));
    check(none.status === 404 && none.data.code === 'ORDER_NOT_EXIST', 'ORDER_NOT_EXIST');
    const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
    const bill = await refused(wxpay.v3.bill.tradebill.get({ params: { bill_date: today } }));
    check(bill.status === 400 && bill.data.code === 'STATEMENT_CREATING', 'STATEMENT_CREATING');
  }],
  ['a client that trusts another platform key rejects every answer', async () => {
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const stranger = new Wechatpay({
      ...config,
      certs: { [platformSerial]: publicKey.export({ type: 'spki', format: 'pem' }) },
    });
    const err = await refused(stranger.v3.pay.transactions['out-trade-no']['{out_trade_no}']
      .get({ params: { mchid }, out_trade_no: nativeNo }));
    check(err.code === 'EV3_RES_HEADER_SIGNATURE_DIGEST', `a signature refusal, got ${err.code}`);
  }],
];

(async () => {
  for (const [name, run] of steps) {
    try {
      await run();
      console.log(`ok   ${name}`);
    } catch (err) {
      const detail = err.response ? ` (${err.response.status} ${JSON.stringify(err.response.data)})` : '';
      console.log(`FAIL ${name}: ${err.message}${detail}`);
      process.exitCode = 1;
      return;
    }
  }
})();
