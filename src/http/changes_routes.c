/*
 * changes_routes.c — GET /v1/me/changes: waiting for news of one's wallet
 * (a long poll).
 *
 * An app shows a wallet's balance and bills, its notices and the code
 * payments waiting for the user's confirmation. Instead of asking for each
 * every few seconds it asks here: the answer comes as soon as any of them
 * differs from what the app last saw (its cursor), or when the wait it asked
 * for has passed with nothing new. The cursor is the state itself, three
 * numbers: the newest journal entry of the user's wallet account, the
 * newest notice, and the latest expiry among the payments waiting for them.
 * It is read afresh at each answer, so an answer is never older than the
 * request, and news between two requests is never lost: the next request's
 * cursor is already behind.
 *
 * While nothing is new the request parks (wait.c) under the user's owner
 * key, which the ledger tells after every durable batch that changed the
 * user's accounts, wrote them a notice or changed a payment waiting for
 * them (ledger_txn_owner_changed). A wake-up with nothing new for this
 * cursor (another owner with the same key, a change the cursor does not
 * show) parks it again until its deadline.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "http/internal.h"
#include "merchant/paycode.h"
#include "store/pool.h"
#include "wallet/notice.h"

#define S_WAIT_S_MAX 30
#define S_PARTS 3
#define S_CURSOR_SIZE_MAX (S_PARTS * 20 + S_PARTS) /* "e.n.p" and its NUL */

static const char *const S_part_names[S_PARTS] = {"bills", "notices", "pending_payments"};

struct S_wait {
    bool has_since;
    int64_t since[S_PARTS];
    int64_t due_ms; /* monotonic */
    int64_t account_id;
    uint64_t key; /* ledger_owner_key("user:<id>") */
};

/* "e.n.p": three decimals of 0..INT64_MAX without leading zeros. */
static bool S_cursor_parse(const char *text, int64_t out[S_PARTS])
{
    const char *p = text;
    for (int i = 0; i < S_PARTS; i++) {
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 19 || (digits > 1 && p[0] == '0'))
            return false;
        uint64_t value = 0;
        for (size_t k = 0; k < digits; k++)
            value = value * 10 + (uint64_t)(p[k] - '0');
        if (value > (uint64_t)INT64_MAX)
            return false;
        out[i] = (int64_t)value;
        p += digits;
        if (*p != (i + 1 < S_PARTS ? '.' : '\0'))
            return false;
        p++;
    }
    return true;
}

/* The wallet's state now, as a cursor holds it. */
static enum qb_error S_state(struct http_request *req, const struct S_wait *w, int64_t now[S_PARTS])
{
    struct ledger_account_view view;
    enum qb_error err = http_request_account_view(req, w->account_id, &view);
    if (err != QB_OK)
        return err;
    now[0] = view.last_entry_id;
    struct store *reader = NULL;
    err = store_pool_acquire(http_request_pool(req), 200, &reader);
    if (err != QB_OK)
        return err == QB_E_BUSY ? QB_E_BUSY : QB_E_STORAGE;
    const char *user_id = http_request_session(req)->user_id;
    err = wallet_notices_newest(reader, user_id, &now[1]);
    if (err == QB_OK)
        err = merchant_pending_newest(reader, user_id, clock_now_ms(http_request_env(req)->clock),
                                      &now[2]);
    store_pool_release(http_request_pool(req), reader);
    return err;
}

static void S_reply(struct http_request *req, const struct S_wait *w, const int64_t now[S_PARTS])
{
    char cursor[S_CURSOR_SIZE_MAX];
    snprintf(cursor, sizeof cursor, "%" PRId64 ".%" PRId64 ".%" PRId64, now[0], now[1], now[2]);
    json_t *changed = json_array();
    for (int i = 0; changed != NULL && i < S_PARTS; i++)
        if (w->has_since && now[i] != w->since[i] &&
            json_array_append_new(changed, json_string(S_part_names[i])) != 0) {
            json_decref(changed);
            changed = NULL;
        }
    json_t *body =
        changed != NULL ? json_pack("{s:s, s:o}", "cursor", cursor, "changed", changed) : NULL;
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
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
            http_reply_error_message(req, err, "too many requests of this wallet are waiting");
            return;
        }
        watching = err == QB_OK; /* else the server stops: answer now */
    }
    int64_t now[S_PARTS] = {0};
    enum qb_error err = S_state(req, w, now);
    bool news = err != QB_OK;
    for (int i = 0; !news && i < S_PARTS; i++)
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

static void S_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    (void)cmd;
    S_answer_or_wait(req, req->waiter.ctx, false);
}

void http_handle_me_changes(struct http_request *req)
{
    struct S_wait *w = http_request_alloc(req, sizeof *w);
    struct identity_user *user = http_me_new(req);
    if (user == NULL)
        return;
    if (w == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    memset(w, 0, sizeof *w);
    const char *since = http_request_query(req, "since");
    if (since != NULL) {
        if (!S_cursor_parse(since, w->since)) {
            http_reply_error_message(req, QB_E_PARAM, "since must be a cursor this API gave out");
            return;
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
            return;
        }
    }
    w->due_ms = clock_monotonic_ns() / 1000000 + wait_s * 1000;
    w->account_id = user->account_id;
    char owner[LEDGER_OWNER_SIZE_MAX];
    snprintf(owner, sizeof owner, "user:%s", user->id);
    w->key = ledger_owner_key(owner);
    req->waiter.ctx = w;
    S_answer_or_wait(req, w, true);
}
