/*
 * changes_routes.c — waiting for news (a long poll): GET /v1/me/changes for
 * a wallet, GET /v1/merchants/me/changes for the shop of its owner.
 *
 * An app shows a wallet's balance and bills, its notices and the code
 * payments waiting for the user's confirmation; a shopkeeper's phone shows
 * the shop's balance and the payments it took (收款到账). Instead of asking
 * for each every few seconds the app asks here: the answer comes as soon
 * as any of them differs from what the app last saw (its cursor), or when
 * the wait it asked for has passed with nothing new. The cursor is the
 * state itself, a few numbers read afresh at each answer, so an answer is
 * never older than the request, and news between two requests is never
 * lost: the next request's cursor is already behind. The numbers go out
 * sealed (http_cursor_seal: enciphered, bound to the route and the caller),
 * for they are the platform's counts of entries and notices.
 *
 *   wallet    e, n, p: the newest journal entry of the user's wallet
 *             account the user is told of (bills_told_entry: not a delayed
 *             transfer to them before it arrives), the newest notice
 *             (notices), the count of
 *             payments that came to wait for them or left (pending_payments);
 *             the answer carries the bill lines since since's entry
 *   merchant  e, o: the newest journal entry of the merchant's settlement
 *             account (balance), the payment entry of its newest paid
 *             order (payments)
 *
 * While nothing is new the request parks (wait.c) under the owner key of
 * what it watches ("user:<id>", "merchant:<mchid>"), which the ledger tells
 * after every durable batch that changed that owner's accounts, wrote them
 * a notice or changed a payment waiting for them (ledger_txn_owner_changed).
 * A wake-up with nothing new for this cursor (another owner with the same
 * key, a change the cursor does not show) parks it again until its
 * deadline. Each wake-up looks the session up again first: one revoked
 * meanwhile is answered 401, as its token's next request would be.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "http/internal.h"
#include "merchant/order.h"
#include "merchant/paycode.h"
#include "store/pool.h"
#include "wallet/bills.h"
#include "wallet/notice.h"

#define S_WAIT_S_MAX 30
#define S_PARTS_MAX 3
_Static_assert(S_PARTS_MAX <= HTTP_CURSOR_VALUES_MAX, "a cursor holds every part");
#define S_NEWS_MAX 20        /* bill lines or payments in an answer; more are listed */
#define S_BILLS_SCAN_MAX 200 /* entries one answer reads for its bill lines */

struct S_wait;

/* What a cursor holds, and how it is read. */
struct S_kind {
    int parts; /* 1..S_PARTS_MAX */
    const char *names[S_PARTS_MAX];
    enum qb_error (*state)(struct http_request *req, struct S_wait *w, int64_t *now);
    /* What else the answer for state now holds, set into body; NULL: nothing. */
    enum qb_error (*more)(struct http_request *req, const struct S_wait *w, const int64_t *now,
                          json_t *body);
};

struct S_wait {
    const struct S_kind *kind;
    bool has_since;
    int64_t since[S_PARTS_MAX];
    int64_t due_ms; /* monotonic */
    int64_t account_id;
    uint64_t key;                    /* ledger_owner_key of the account's owner */
    char mchid[MERCHANT_MCHID_SIZE]; /* a merchant's: its mchid */
    struct ledger_account_view view; /* the account as the last state read it */
};

/* A read connection into *reader: QB_OK, BUSY or STORAGE. */
static enum qb_error S_reader(struct http_request *req, struct store **reader)
{
    *reader = NULL;
    enum qb_error err = store_pool_acquire(http_request_pool(req), 200, reader);
    return err == QB_OK || err == QB_E_BUSY ? err : QB_E_STORAGE;
}

/* The account's newest entry into now[0], then a read connection for the
 * rest (NULL with *err set when none). */
static struct store *S_state_begin(struct http_request *req, struct S_wait *w, int64_t *now,
                                   enum qb_error *err)
{
    *err = http_request_account_view(req, w->account_id, &w->view);
    if (*err != QB_OK)
        return NULL;
    now[0] = w->view.last_entry_id;
    struct store *reader;
    *err = S_reader(req, &reader);
    return reader;
}

/* The wallet's state now, as a cursor holds it. */
static enum qb_error S_wallet_state(struct http_request *req, struct S_wait *w, int64_t *now)
{
    enum qb_error err;
    struct store *reader = S_state_begin(req, w, now, &err);
    if (reader == NULL)
        return err;
    const char *user_id = http_request_session(req)->user_id;
    /* Not a delayed transfer to the user before it arrives: it is its
     * payer's alone (a fraudster waiting for it would hear it was sent, and
     * when it was thought better of). */
    err = bills_told_entry(reader, &w->view, &now[0]);
    if (err == QB_OK)
        err = wallet_notices_newest(reader, user_id, &now[1]);
    if (err == QB_OK)
        err = merchant_pending_changes(reader, user_id, &now[2]);
    store_pool_release(http_request_pool(req), reader);
    return err;
}

/* The merchant's state now, as a cursor holds it. */
static enum qb_error S_merchant_state(struct http_request *req, struct S_wait *w, int64_t *now)
{
    enum qb_error err;
    struct store *reader = S_state_begin(req, w, now, &err);
    if (reader == NULL)
        return err;
    err = merchant_orders_paid_newest(reader, w->mchid, &now[1]);
    store_pool_release(http_request_pool(req), reader);
    return err;
}

/* The payments taken after since's and up to now's newest (so that no
 * payment is in two answers), newest first, S_NEWS_MAX at most: the
 * shop's phone announces each without asking again (收款到账). */
static enum qb_error S_merchant_payments(struct http_request *req, const struct S_wait *w,
                                         const int64_t *now, json_t *body)
{
    json_t *items = json_array();
    enum qb_error err = QB_OK;
    if (items != NULL && w->has_since && now[1] > w->since[1]) {
        struct merchant_order *rows = http_request_alloc(req, S_NEWS_MAX * sizeof *rows);
        struct store *reader = NULL;
        err = rows != NULL ? S_reader(req, &reader) : QB_E_TOO_LARGE;
        size_t count = 0;
        if (err == QB_OK)
            err = merchant_orders_paid(reader, w->mchid, w->since[1], now[1] + 1, rows, S_NEWS_MAX,
                                       &count);
        for (size_t i = 0; err == QB_OK && items != NULL && i < count; i++)
            http_array_add(&items, http_merchant_payment_json(req, reader, &rows[i], &err));
        if (reader != NULL)
            store_pool_release(http_request_pool(req), reader);
    }
    if (err == QB_OK && (items == NULL || json_object_set_new(body, "payments", items) != 0))
        return QB_E_INTERNAL;
    if (err != QB_OK)
        json_decref(items);
    return err;
}

/* The bill lines since since's entry, up to the view the cursor was read
 * from (so that none is in two answers), newest first, S_NEWS_MAX at most
 * within S_BILLS_SCAN_MAX entries: an app shows the money that came (a
 * personal receive code's 收款到账) without asking again. */
static enum qb_error S_wallet_bills(struct http_request *req, const struct S_wait *w,
                                    const int64_t *now, json_t *body)
{
    json_t *items = json_array();
    enum qb_error err = QB_OK;
    if (items != NULL && w->has_since && now[0] > w->since[0]) {
        struct bills_line *lines = http_request_alloc(req, S_NEWS_MAX * sizeof *lines);
        struct bills_query q = {.account_id = w->account_id,
                                .limit = S_NEWS_MAX,
                                .scan_max = S_BILLS_SCAN_MAX,
                                .cursor = NULL};
        struct bills_page page;
        uint8_t key[DOMAIN_KEY_SIZE];
        struct store *reader = NULL;
        err = lines != NULL ? S_reader(req, &reader) : QB_E_TOO_LARGE;
        if (err == QB_OK) {
            QB_ASSERT(w->view.last_entry_id >= now[0]);
            bills_cursor_key(http_request_env(req), key);
            err = bills_list(reader, &w->view, key, &q, lines, &page);
            crypto_wipe(key, sizeof key);
            store_pool_release(http_request_pool(req), reader);
        }
        for (size_t i = 0; err == QB_OK && items != NULL && i < page.count; i++)
            if (lines[i].entry_id > w->since[0] && lines[i].entry_id <= now[0])
                http_array_add(&items, http_bills_line_json(&lines[i]));
    }
    if (err == QB_OK && (items == NULL || json_object_set_new(body, "bills", items) != 0))
        return QB_E_INTERNAL;
    if (err != QB_OK)
        json_decref(items);
    return err;
}

static const struct S_kind S_wallet = {
    3, {"bills", "notices", "pending_payments"}, S_wallet_state, S_wallet_bills};
static const struct S_kind S_merchant = {
    2, {"balance", "payments"}, S_merchant_state, S_merchant_payments};

static void S_reply(struct http_request *req, const struct S_wait *w, const int64_t *now)
{
    char cursor[HTTP_CURSOR_SIZE_MAX];
    http_cursor_seal(req, false, w->mchid[0] != '\0' ? w->mchid : NULL, now, (size_t)w->kind->parts,
                     cursor);
    json_t *changed = json_array();
    for (int i = 0; changed != NULL && i < w->kind->parts; i++)
        if (w->has_since && now[i] != w->since[i] &&
            json_array_append_new(changed, json_string(w->kind->names[i])) != 0) {
            json_decref(changed);
            changed = NULL;
        }
    json_t *body =
        changed != NULL ? json_pack("{s:s, s:o}", "cursor", cursor, "changed", changed) : NULL;
    enum qb_error err = body != NULL ? QB_OK : QB_E_INTERNAL;
    if (err == QB_OK && w->kind->more != NULL)
        err = w->kind->more(req, w, now, body);
    if (err == QB_OK)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, err);
    json_decref(body);
}

static void S_resume(struct http_request *req, struct ledger_cmd *cmd);

/* Answers if anything is new, the wait is over or nobody may wait;
 * else parks the request until news or its deadline. */
static void S_answer_or_wait(struct http_request *req, struct S_wait *w, bool first)
{
    bool watching = false;
    if (w->has_since && clock_monotonic_ns() / 1000000 < w->due_ms) {
        enum qb_error err = http_request_watch(req, w->key);
        if (err == QB_E_RATE_LIMITED && first) {
            http_reply_error_message(req, err,
                                     w->kind == &S_wallet
                                         ? "too many requests of this wallet are waiting"
                                         : "too many requests of this merchant are waiting");
            return;
        }
        watching = err == QB_OK; /* else the server stops: answer now */
    }
    int64_t now[S_PARTS_MAX] = {0};
    enum qb_error err = w->kind->state(req, w, now);
    /* The stop let the ledger go before every request it woke was
     * answered: one with a cursor is answered as its wait's end would
     * be, with nothing new (the app asks again, of the next daemon). */
    if (err == QB_E_SHUTTING_DOWN && w->has_since) {
        memcpy(now, w->since, sizeof now);
        err = QB_OK;
    }
    bool news = err != QB_OK;
    for (int i = 0; !news && i < w->kind->parts; i++)
        news = now[i] != w->since[i];
    if (watching && !news) {
        http_request_park(req, w->due_ms, S_resume);
        return;
    }
    if (watching && !http_request_unwatch(req)) {
        /* Woken meanwhile: the wake-up is on its way; answer then. */
        http_request_park(req, 0, S_resume);
        return;
    }
    if (err != QB_OK)
        http_reply_error(req, err);
    else
        S_reply(req, w, now);
}

/* Back from a wait (news, its deadline, the stop). The session was checked
 * when the request came, maybe 30 s ago: one revoked since (a logout, a
 * lost device's) ends the wait with the 401 the token's next request would
 * get, not with the wallet's news. */
static void S_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    (void)cmd;
    if (!http_request_session_live(req))
        return;
    S_answer_or_wait(req, req->waiter.ctx, false);
}

/* since and wait of the query into w: false when replied (400). */
static bool S_query(struct http_request *req, struct S_wait *w)
{
    const char *since = http_request_query(req, "since");
    if (since != NULL) {
        if (!http_cursor_open(req, false, w->mchid[0] != '\0' ? w->mchid : NULL, since, w->since,
                              (size_t)w->kind->parts)) {
            http_reply_error_message(req, QB_E_PARAM, "since must be a cursor this API gave out");
            return false;
        }
        w->has_since = true;
    }
    const char *wait = http_request_query(req, "wait");
    int64_t wait_s = 0;
    if (wait != NULL) {
        size_t size = strlen(wait);
        bool ok = size >= 1 && size <= 2 && strspn(wait, "0123456789") == size &&
                  (size == 1 || wait[0] != '0');
        for (size_t i = 0; ok && i < size; i++)
            wait_s = wait_s * 10 + (wait[i] - '0');
        if (!ok || wait_s > S_WAIT_S_MAX) {
            http_reply_error_message(req, QB_E_PARAM, "wait must be seconds from 0 to 30");
            return false;
        }
    }
    w->due_ms = clock_monotonic_ns() / 1000000 + wait_s * 1000;
    return true;
}

static struct S_wait *S_wait_new(struct http_request *req, const struct S_kind *kind)
{
    struct S_wait *w = http_request_alloc(req, sizeof *w);
    if (w == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    memset(w, 0, sizeof *w);
    w->kind = kind;
    req->waiter.ctx = w;
    return w;
}

void http_handle_me_changes(struct http_request *req)
{
    struct identity_user *user = http_me_new(req);
    if (user == NULL)
        return;
    struct S_wait *w = S_wait_new(req, &S_wallet);
    if (w == NULL || !S_query(req, w))
        return;
    w->account_id = user->account_id;
    char owner[LEDGER_OWNER_SIZE_MAX];
    snprintf(owner, sizeof owner, "user:%s", user->id);
    w->key = ledger_owner_key(owner);
    S_answer_or_wait(req, w, true);
}

void http_handle_merchants_me_changes(struct http_request *req)
{
    const struct merchant *m = http_merchant_owned_query(req);
    if (m == NULL)
        return;
    struct S_wait *w = S_wait_new(req, &S_merchant);
    if (w == NULL)
        return;
    /* Before the query: a cursor is of one merchant of the owner's. */
    snprintf(w->mchid, sizeof w->mchid, "%s", m->mchid);
    if (!S_query(req, w))
        return;
    w->account_id = m->account_id;
    char owner[LEDGER_OWNER_SIZE_MAX];
    merchant_account_owner(m->mchid, owner, sizeof owner);
    w->key = ledger_owner_key(owner);
    S_answer_or_wait(req, w, true);
}
