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
// the first that throws fails the run (exit 1) with its name.
//
// The orders' notify_url is a small HTTP receiver this script runs on
// loopback (qianbaod runs with --allow-private-notify). Every notification it
// receives is checked as a merchant must: the Wechatpay-Signature with the
// library's own verifier (Rsa.verify over Formatter.response) against the
// platform key, then the resource decrypted with the library's AES-GCM helper
// under the API v3 key. Verified ones are answered 200 (delivered), others 401.
'use strict';

const { readFileSync } = require('fs');
const http = require('http');
const crypto = require('crypto');
const { Wechatpay, Aes, Rsa, Formatter } = require('wechatpay-axios-plugin');

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
const refundNo = `npm-refund-${stamp}`;
const transferNo = `npmtransfer${stamp}`;
const state = {};

// The notification receiver: every POST, verified and decrypted, by event type.
const received = [];
const refusedNotifications = [];
let notifyUrl;

// The decrypted resource of a notification, or an Error saying why it is not trusted.
function openNotification(headers, body) {
  const serial = headers['wechatpay-serial'];
  const timestamp = headers['wechatpay-timestamp'];
  const nonce = headers['wechatpay-nonce'];
  const signature = headers['wechatpay-signature'];
  if (serial !== platformSerial) return new Error(`serial ${serial}`);
  if (!timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return new Error('a stale timestamp');
  if (!nonce || !signature) return new Error('no nonce or signature');
  if (!Rsa.verify(Formatter.response(timestamp, nonce, body), signature, platformKey)) {
    return new Error('a signature that does not verify');
  }
  const event = JSON.parse(body);
  const { algorithm, ciphertext, nonce: iv, associated_data: aad } = event.resource;
  if (algorithm !== 'AEAD_AES_256_GCM') return new Error(`algorithm ${algorithm}`);
  const resource = JSON.parse(Aes.AesGcm.decrypt(ciphertext, env('QB_APIV3_KEY'), iv, aad));
  return { event, resource, signed: { timestamp, nonce, signature, body } };
}

const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let opened;
    try {
      opened = req.method === 'POST' && req.url === '/notify'
        ? openNotification(req.headers, Buffer.concat(chunks).toString('utf8'))
        : new Error(`${req.method} ${req.url}`);
    } catch (err) {
      opened = err;
    }
    if (opened instanceof Error) {
      refusedNotifications.push(opened.message);
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: 'FAIL', message: opened.message }));
      return;
    }
    received.push(opened);
    res.writeHead(200);
    res.end();
  });
});

// The first notification of event type, waited for up to about 15 s.
async function notification(eventType) {
  for (let i = 0; i < 150; i++) {
    const found = received.find((n) => n.event.event_type === eventType);
    if (found) return found;
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  throw new Error(`no verified ${eventType} notification (refused: ${JSON.stringify(refusedNotifications)})`);
}

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
  notify_url: notifyUrl,
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
    state.transactionId = paid.data.transaction_id;
  }],
  ['the payment is notified, signed and encrypted', async () => {
    const { event, resource, signed } = await notification('TRANSACTION.SUCCESS');
    check(event.resource_type === 'encrypt-resource' && event.summary === '支付成功', 'the event');
    check(event.resource.original_type === 'transaction', 'a transaction resource');
    check(resource.out_trade_no === nativeNo && resource.transaction_id === state.transactionId, 'the order');
    check(resource.mchid === mchid && resource.appid === appid, 'the merchant');
    check(resource.trade_state === 'SUCCESS' && resource.amount.total === 1234
      && resource.amount.payer_total === 1234, 'the paid amount');
    // The same verifier refuses the notification once a byte of it changes.
    const tampered = signed.body.replace('TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESs');
    check(tampered !== signed.body && !Rsa.verify(Formatter.response(signed.timestamp, signed.nonce, tampered),
      signed.signature, platformKey), 'a tampered body to fail verification');
    let wrongKey = false;
    try {
      Aes.AesGcm.decrypt(event.resource.ciphertext, 'k'.repeat(32), event.resource.nonce,
        event.resource.associated_data);
    } catch (err) {
      wrongKey = true;
    }
    check(wrongKey, 'another API v3 key to fail decryption');
    check(received.every((n) => n.event.event_type === 'TRANSACTION.SUCCESS'), 'no other notification yet');
  }],
  ['the unpaid order is closed', async () => {
    const { status } = await wxpay.v3.pay.transactions['out-trade-no']['{out_trade_no}'].close
      .post({ mchid }, { out_trade_no: jsapiNo });
    check(status === 204, '204');
    const { data } = await byOutTradeNo(jsapiNo);
    check(data.trade_state === 'CLOSED', 'CLOSED');
    // A number whose create timed out and never arrived is closed as WeChat closes it: 204, no
    // error for the SDK to throw.
    const never = await wxpay.v3.pay.transactions['out-trade-no']['{out_trade_no}'].close
      .post({ mchid }, { out_trade_no: 'npm-never-0000' });
    check(never.status === 204, '204 for a number no order has');
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
  ['part of the paid order is refunded', async () => {
    const { status, data } = await wxpay.v3.refund.domestic.refunds.post({
      out_trade_no: nativeNo,
      out_refund_no: refundNo,
      reason: '商品已售完',
      amount: { refund: 500, total: 1234, currency: 'CNY' },
    });
    check(status === 200 && data.out_refund_no === refundNo && /^\d{29}$/.test(data.refund_id), 'a refund');
    check(data.status === 'SUCCESS' && data.transaction_id === state.transactionId, 'SUCCESS for the order');
    check(data.amount.refund === 500 && data.amount.total === 1234 && data.amount.payer_refund === 500, 'the amounts');
    state.refundId = data.refund_id;
  }],
  ['the refund is queried and the order reads REFUND', async () => {
    const { data } = await wxpay.v3.refund.domestic.refunds['{out_refund_no}'].get({ out_refund_no: refundNo });
    check(data.refund_id === state.refundId && data.status === 'SUCCESS' && data.out_trade_no === nativeNo, 'the refund');
    check(data.amount.refund === 500, 'its amount');
    const order = await byOutTradeNo(nativeNo);
    check(order.data.trade_state === 'REFUND', 'REFUND');
    const none = await refused(wxpay.v3.refund.domestic.refunds['{out_refund_no}'].get({ out_refund_no: 'npm-nobody' }));
    check(none.status === 404 && none.data.code === 'RESOURCE_NOT_EXISTS', 'RESOURCE_NOT_EXISTS');
    const over = await refused(wxpay.v3.refund.domestic.refunds.post({
      out_trade_no: nativeNo,
      out_refund_no: `${refundNo}-2`,
      amount: { refund: 1234, total: 1234, currency: 'CNY' },
    }));
    check(over.status === 400 && over.data.code === 'INVALID_REQUEST', 'more than the rest refused');
  }],
  ['the balance query answers what the order and the refund left', async () => {
    // ¥12.34 paid ¥0.07 of fee (0.6 %); the ¥5.00 refund gave ¥0.03 of it back.
    const { status, data } = await wxpay.v3.merchant.fund.balance['{account_type}']
      .get({ account_type: 'BASIC' });
    check(status === 200 && data.available_amount === 1234 - 7 - 500 + 3 && data.pending_amount === 0,
      `the balance, got ${JSON.stringify(data)}`);
    const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
    const dayEnd = await refused(wxpay.v3.merchant.fund.dayendbalance['{account_type}']
      .get({ account_type: 'BASIC', params: { date: today } }));
    check(dayEnd.status === 400 && dayEnd.data.code === 'INVALID_REQUEST', 'no day-end balance before the day ends');
  }],
  ['the refund is notified, signed and encrypted', async () => {
    const { event, resource } = await notification('REFUND.SUCCESS');
    check(event.resource.original_type === 'refund' && event.summary === '退款成功', 'a refund resource');
    check(resource.out_trade_no === nativeNo && resource.out_refund_no === refundNo, 'the numbers');
    check(resource.refund_id === state.refundId && resource.transaction_id === state.transactionId, 'the ids');
    check(resource.refund_status === 'SUCCESS' && resource.mchid === mchid, 'SUCCESS');
    check(resource.amount.total === 1234 && resource.amount.refund === 500
      && resource.amount.payer_total === 1234 && resource.amount.payer_refund === 500, 'the amounts');
  }],
  ['Qianbao records both notifications delivered', async () => {
    let list;
    for (let i = 0; i < 50; i++) {
      ({ data: list } = await wxpay.v3.qianbao.notifications.get({ params: { limit: 10 } }));
      if (list.data.length === 2 && list.data.every((n) => n.status === 'DELIVERED')) break;
      await new Promise((resolve) => { setTimeout(resolve, 100); });
    }
    check(list.data.length === 2 && list.data.every((n) => n.status === 'DELIVERED'), 'two DELIVERED');
    const ids = received.map((n) => n.event.id);
    check(list.data.every((n) => ids.includes(n.id) && n.notify_url === notifyUrl), 'the ones received');
    check(refusedNotifications.length === 0, `no refused notification, got ${JSON.stringify(refusedNotifications)}`);
  }],
  ['a transfer to the user (商家转账) waits for them, then reaches them once', async () => {
    const bills = wxpay.v3['fund-app']['mch-transfer']['transfer-bills'];
    const { status, data } = await bills.post({
      appid,
      out_bill_no: transferNo,
      transfer_scene_id: '1000',
      openid: state.openid,
      transfer_amount: 100,
      transfer_remark: '新会员奖励',
      notify_url: notifyUrl,
      user_recv_perception: '现金奖励',
      transfer_scene_report_infos: [{ info_type: '活动名称', info_content: '新会员有礼' }],
    });
    check(status === 200 && data.state === 'WAIT_USER_CONFIRM' && data.package_info, 'a bill waiting');
    check(data.out_bill_no === transferNo && data.transfer_bill_no === data.package_info, 'its numbers');
    const held = await wxpay.v3.merchant.fund.balance['{account_type}'].get({ account_type: 'BASIC' });
    check(held.data.available_amount === 730 - 100 && held.data.pending_amount === 100, 'the amount held');
    const taken = await wallet('POST', `/v1/payouts/${data.package_info}/confirm`, {});
    check(taken.status === 200 && taken.data.state === 'SUCCESS' && taken.data.amount === 100, 'taken');
    const read = await bills['out-bill-no']['{out_bill_no}'].get({ out_bill_no: transferNo });
    check(read.data.state === 'SUCCESS' && read.data.openid === state.openid
      && read.data.transfer_amount === 100 && read.data.mch_id === mchid, 'SUCCESS by out_bill_no');
    const late = await refused(bills['out-bill-no']['{out_bill_no}'].cancel.post({}, {
      out_bill_no: transferNo,
    }));
    check(late.status === 400 && late.data.code === 'INVALID_REQUEST', 'no cancel once taken');
    const { event, resource } = await notification('MCHTRANSFER.BILL.FINISHED');
    check(event.resource.original_type === 'mch_payment' && event.summary === '商家转账单据终态通知', 'the event');
    check(resource.out_bill_no === transferNo && resource.transfer_bill_no === data.transfer_bill_no
      && resource.state === 'SUCCESS' && resource.transfer_amount === 100, 'the bill');
  }],
];

(async () => {
  await new Promise((resolve) => { receiver.listen(0, '127.0.0.1', resolve); });
  notifyUrl = `http://127.0.0.1:${receiver.address().port}/notify`;
  try {
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
  } finally {
    receiver.close();
  }
})();
