/*
 * bill_routes.c — the caller's bills: the transaction list, the monthly
 * statement, and both as CSV downloads.
 *
 * Every route here is HTTP_AUTH_USER, reads only the caller's own wallet
 * account, and never submits a command: the pages come from src/wallet/
 * bills.h on a read connection. A frozen user still reads their bills.
 * CSV is chosen by a ".csv" path suffix or by an Accept header naming
 * text/csv; it answers the same lines with a Content-Disposition filename
 * and, when lines remain, the next cursor in X-Next-Cursor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/crash.h"
#include "base/text.h"
#include "http/internal.h"
#include "wallet/bills.h"

/* A cursor's tag covers the account and the filters (bills.c), so a cursor
 * that fails it may be forged or may be a real one sent with other filters:
 * the message names both. */
#define S_CURSOR_REFUSED                                                                           \
    "cursor is not one this server gave out for these filters (keep the filters of the page it "   \
    "came with)"
#define S_MONTH_REFUSED                                                                            \
    "the period must be a month YYYY-MM, from 1970-01 to 9999-11, or a year YYYY, from 1970 to "   \
    "9998"

#define S_CSV_SUFFIX ".csv"

/* The wallet account of user_id (NULL: the caller) and its committed
 * view, or false after replying. */
static bool S_account(struct http_request *req, const char *user_id,
                      struct ledger_account_view *view)
{
    struct identity_user user;
    if (!http_user_load(req, user_id, &user))
        return false;
    enum qb_error err = http_request_account_view(req, user.account_id, view);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err);
        return false;
    }
    return true;
}

/* Whether an Accept header prefers text/csv to JSON: the weight (q) of
 * text/csv against the best of application/json, application/(any) and (any)/(any),
 * the one listed first winning a tie; without text/csv, or with q=0, JSON.
 * "application/json;q=0.1, text/csv" and "text/csv, application/json" ask
 * for CSV. Says Vary: Accept on the answer. */
/* A qvalue (RFC 9110, 12.4.2: "0" to "1" with at most three decimals) in
 * thousandths, from text up to end; -1 for anything else (nan, 1.5, 0.5x),
 * which the caller takes as not acceptable. Not strtod: that reads the
 * locale's decimal point, and "inf" and "1e9". */
static int S_qvalue(const char *text, const char *end)
{
    while (end > text && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (text >= end || (*text != '0' && *text != '1'))
        return -1;
    int value = (*text - '0') * 1000;
    const char *p = text + 1;
    if (p < end) {
        if (*p != '.' || end - p > 4)
            return -1;
        for (int scale = 100; ++p < end; scale /= 10) {
            if (*p < '0' || *p > '9')
                return -1;
            value += (*p - '0') * scale;
        }
    }
    return value <= 1000 ? value : -1;
}

static bool S_wants_csv(struct http_request *req)
{
    /* The answer depends on the header: a cache must key on it. */
    http_reply_header(req, "Vary", "Accept");
    int csv = 0, json = 0;
    int csv_at = -1, json_at = -1;
    const char *p = http_request_header(req, "Accept");
    for (int at = 0; p != NULL && *p != '\0'; at++) {
        p += strspn(p, " \t,");
        size_t size = strcspn(p, ",");
        size_t type_size = strcspn(p, ";,");
        while (type_size > 0 && (p[type_size - 1] == ' ' || p[type_size - 1] == '\t'))
            type_size--;
        int q = 1000;
        for (const char *r = p + type_size; r < p + size; r++) {
            if (*r != ';')
                continue;
            r += 1 + strspn(r + 1, " \t");
            if ((*r == 'q' || *r == 'Q') && r[1] == '=') {
                const char *value_end = memchr(r, ';', (size_t)(p + size - r));
                q = S_qvalue(r + 2, value_end != NULL ? value_end : p + size);
            }
        }
        bool is_csv = type_size == 8 && strncasecmp(p, "text/csv", 8) == 0;
        bool is_json = (type_size == 16 && strncasecmp(p, "application/json", 16) == 0) ||
                       (type_size == 13 && strncasecmp(p, "application/*", 13) == 0) ||
                       (type_size == 3 && strncmp(p, "*/*", 3) == 0);
        if (is_csv && (csv_at < 0 || q > csv)) {
            csv = q;
            csv_at = at;
        }
        if (is_json && (json_at < 0 || q > json)) {
            json = q;
            json_at = at;
        }
        p += size;
    }
    if (csv_at < 0 || csv <= 0)
        return false;
    return json_at < 0 || csv > json || (csv == json && csv_at < json_at);
}

/* The filter, limit and cursor of the query string, or false after
 * replying PARAM_ERROR. csv allows up to BILLS_CSV_LINES_MAX lines. */
static bool S_query(struct http_request *req, bool csv, struct bills_query *q)
{
    memset(q, 0, sizeof *q);
    const char *type = http_request_query(req, "type");
    const char *direction = http_request_query(req, "direction");
    const char *from = http_request_query(req, "from");
    const char *to = http_request_query(req, "to");
    const char *counterparty = http_request_query(req, "counterparty");
    const char *search = http_request_query(req, "q");
    const char *limit = http_request_query(req, "limit");
    q->cursor = http_request_query(req, "cursor");

    if (type != NULL && (q->filter.type = bills_type_parse(type)) == BILLS_ANY) {
        char message[256];
        int size = snprintf(message, sizeof message, "type must be one of");
        for (int t = BILLS_TOPUP; t < BILLS_TYPE_COUNT && size < (int)sizeof message; t++)
            size += snprintf(message + size, sizeof message - (size_t)size, "%s %s",
                             t == BILLS_TOPUP ? "" : ",", bills_type_name((enum bills_type)t));
        http_reply_error_message(req, QB_E_PARAM, message);
        return false;
    }
    if (direction != NULL) {
        if (strcmp(direction, "in") == 0)
            q->filter.direction = BILLS_IN;
        else if (strcmp(direction, "out") == 0)
            q->filter.direction = BILLS_OUT;
        else {
            http_reply_error_message(req, QB_E_PARAM, "direction must be in or out");
            return false;
        }
    }
    if ((from != NULL && !bills_time_parse(from, false, &q->filter.from_ms)) ||
        (to != NULL && !bills_time_parse(to, true, &q->filter.to_ms))) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "from and to must be RFC 3339 times or YYYY-MM-DD dates");
        return false;
    }
    if (q->filter.from_ms != 0 && q->filter.to_ms != 0 && q->filter.from_ms >= q->filter.to_ms) {
        http_reply_error_message(req, QB_E_PARAM, "from must be before to");
        return false;
    }
    if (search != NULL) {
        size_t size = strlen(search);
        if (size == 0 || size >= sizeof q->filter.search || !text_is_clean(search, size) ||
            text_is_blank(search, size)) {
            http_reply_error_message(req, QB_E_PARAM,
                                     "q must be 1 to 64 bytes of text (UTF-8), not blank");
            return false;
        }
        memcpy(q->filter.search, search, size + 1);
    }
    if (counterparty != NULL) {
        size_t size = strlen(counterparty);
        /* Any counterparty a line names: a user, a card, a merchant. */
        bool mchid = size == MERCHANT_MCHID_SIZE - 1 && strspn(counterparty, "0123456789") == size;
        if (size >= sizeof q->filter.counterparty_id ||
            !(id_is_valid(counterparty, size, "u") || id_is_valid(counterparty, size, "c") ||
              mchid)) {
            http_reply_error_message(req, QB_E_PARAM,
                                     "counterparty must be a user id, a card id or a mchid");
            return false;
        }
        memcpy(q->filter.counterparty_id, counterparty, size + 1);
    }
    if (q->cursor != NULL && strlen(q->cursor) >= BILLS_CURSOR_SIZE_MAX) {
        http_reply_error_message(req, QB_E_PARAM, S_CURSOR_REFUSED);
        return false;
    }
    if (!csv)
        return http_query_limit(req, &q->limit);
    q->limit = BILLS_CSV_LINES_MAX;
    if (limit != NULL) {
        size_t size = strlen(limit), value = 0;
        bool ok = size > 0 && size <= 4 && strspn(limit, "0123456789") == size;
        for (size_t i = 0; ok && i < size; i++)
            value = value * 10 + (size_t)(limit[i] - '0');
        if (!ok || value < 1 || value > BILLS_CSV_LINES_MAX) {
            http_reply_error_message(req, QB_E_PARAM, "limit must be an integer from 1 to 1000");
            return false;
        }
        q->limit = value;
    }
    return true;
}

json_t *http_bills_party_json(const struct bills_counterparty *cp)
{
    switch (cp->kind) {
    case BILLS_PARTY_USER:
        return json_pack("{s:s, s:s, s:s}", "type", "user", "id", cp->id, "name", cp->name);
    case BILLS_PARTY_CARD:
        return json_pack("{s:s, s:s, s:s, s:s}", "type", "card", "id", cp->id, "bank", cp->name,
                         "last4", cp->last4);
    case BILLS_PARTY_MERCHANT:
        return json_pack("{s:s, s:s, s:s}", "type", "merchant", "id", cp->id, "name", cp->name);
    case BILLS_PARTY_NONE:
        break;
    }
    return json_null();
}

json_t *http_bills_line_json(const struct bills_line *l)
{
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:I, s:o}", "id", l->id,
        "type", bills_type_name(l->type), "direction", l->direction == BILLS_IN ? "in" : "out",
        "amount", (json_int_t)l->amount_minor, "fee", (json_int_t)l->fee_minor, "currency",
        l->currency->code, "counterparty", http_bills_party_json(&l->counterparty), "memo", l->memo,
        "status", wallet_payment_status_name(l->status), "failure_code",
        l->failure_code[0] != '\0' ? json_string(l->failure_code) : json_null(), "created_at",
        http_time_json(l->created_at_ms), "updated_at", http_time_json(l->updated_at_ms),
        "balance_after", (json_int_t)l->balance_after_minor, "return_id",
        l->return_id[0] != '\0' ? json_string(l->return_id) : json_null());
}

/* Runs q against the caller's account and replies with the page, as JSON
 * or as CSV named filename. */
static void S_list_reply(struct http_request *req, const char *user_id, struct bills_query *q,
                         bool csv, const char *filename)
{
    struct ledger_account_view view;
    if (!S_account(req, user_id, &view))
        return;
    q->account_id = view.id;
    q->scan_max = csv ? BILLS_CSV_SCAN_MAX : BILLS_SCAN_MAX;
    struct bills_line *lines = calloc(q->limit, sizeof *lines);
    if (lines == NULL) {
        http_reply_error(req, QB_E_BUSY);
        return;
    }
    const struct domain_env *env = http_request_env(req);
    uint8_t key[DOMAIN_KEY_SIZE] = {0};
    struct bills_page page;
    struct store *reader = NULL;
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    bills_cursor_key(env, key);
    reader = http_reader_acquire(req);
    if (reader == NULL)
        goto out;
    enum qb_error err = bills_list(reader, &view, key, q, lines, &page);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        if (err == QB_E_PARAM)
            http_reply_error_message(req, err, S_CURSOR_REFUSED);
        else
            http_reply_error(req, err);
        goto out;
    }
    QB_ASSERT(page.count <= q->limit);
    if (csv) {
        struct buf body;
        buf_init(&body, HTTP_REPLY_SIZE_MAX);
        err = bills_csv_header(&body);
        for (size_t i = 0; err == QB_OK && i < page.count; i++)
            err = bills_csv_line(&body, &lines[i]);
        if (err == QB_OK) {
            char disposition[128];
            snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
            http_reply_header(req, "Content-Disposition", disposition);
            if (page.next_cursor[0] != '\0')
                http_reply_header(req, "X-Next-Cursor", page.next_cursor);
            http_reply_raw(req, 200, "text/csv; charset=utf-8; header=present", body.data,
                           body.size);
        } else {
            http_reply_error(req, err == QB_E_TOO_LARGE ? QB_E_INTERNAL : err);
        }
        buf_release(&body);
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; items != NULL && i < page.count; i++) {
        json_t *item = http_bills_line_json(&lines[i]);
        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    json_t *body = items != NULL ? json_pack("{s:o, s:o, s:b}", "items", items, "next_cursor",
                                             page.next_cursor[0] != '\0'
                                                 ? json_string(page.next_cursor)
                                                 : json_null(),
                                             "partial", (int)page.partial)
                                 : NULL;
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
out:
    crypto_wipe(key, sizeof key);
    free(lines);
}

/* --- GET /v1/payees/recent ---------------------------------------------------------- */

#define S_RECENT_DEFAULT 10
#define S_RECENT_MAX 20
#define S_RECENT_PAGE 100 /* transfer lines read at a time */

/* Who the caller sent money to lately, newest first, each once: what a
 * transfer page offers before anyone types a phone. Read from the caller's
 * bills (transfers out), within one page's scan budget (BILLS_SCAN_MAX
 * entries): partial says it ran out first. Each payee as GET /v1/payees
 * shows them, now (the name as it is today), with last_paid_at and whether
 * a transfer would reach them now (available: not frozen, taking credits).
 * A transfer its payee sent back, or one that never arrived, counts for
 * nothing, and a payee who closed the wallet is left out: nothing reaches
 * it again, and the number it had is freed for someone else. */
void http_handle_payees_recent(struct http_request *req)
{
    size_t limit = S_RECENT_DEFAULT;
    const char *text = http_request_query(req, "limit");
    if (text != NULL) {
        size_t size = strlen(text), value = 0;
        bool ok = size > 0 && size <= 2 && strspn(text, "0123456789") == size;
        for (size_t i = 0; ok && i < size; i++)
            value = value * 10 + (size_t)(text[i] - '0');
        if (!ok || value < 1 || value > S_RECENT_MAX) {
            http_reply_error_message(req, QB_E_PARAM, "limit must be an integer from 1 to 20");
            return;
        }
        limit = value;
    }
    struct ledger_account_view view;
    if (!S_account(req, NULL, &view))
        return;
    const struct domain_env *env = http_request_env(req);
    struct bills_line *lines = calloc(S_RECENT_PAGE, sizeof *lines);
    struct {
        char id[ID_TEXT_SIZE_MAX];
        int64_t at_ms;
    } found[S_RECENT_MAX];
    /* Payees found closed, not to be read again (past S_RECENT_MAX of
     * them, each is read again: the scan budget bounds that). */
    char gone[S_RECENT_MAX][ID_TEXT_SIZE_MAX];
    size_t count = 0, gone_count = 0, scanned = 0;
    bool partial = false;
    uint8_t key[DOMAIN_KEY_SIZE] = {0};
    struct identity_user *payee = http_request_alloc(req, sizeof *payee);
    json_t *items = json_array();
    if (lines == NULL || payee == NULL || items == NULL || env == NULL) {
        http_reply_error(req, lines == NULL || payee == NULL ? QB_E_BUSY : QB_E_INTERNAL);
        goto out;
    }
    bills_cursor_key(env, key);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        goto out;
    struct bills_query q;
    memset(&q, 0, sizeof q);
    q.account_id = view.id;
    q.filter.type = BILLS_TRANSFER;
    q.filter.direction = BILLS_OUT;
    q.limit = S_RECENT_PAGE;
    char cursor[BILLS_CURSOR_SIZE_MAX] = "";
    enum qb_error err = QB_OK;
    for (;;) {
        q.scan_max = BILLS_SCAN_MAX - scanned;
        q.cursor = cursor;
        struct bills_page page;
        err = bills_list(reader, &view, key, &q, lines, &page);
        if (err != QB_OK)
            break;
        scanned += page.scanned;
        for (size_t i = 0; i < page.count && count < limit; i++) {
            const struct bills_counterparty *cp = &lines[i].counterparty;
            /* A transfer sent back most likely went to the wrong person,
             * and one cancelled before it arrived was thought better of:
             * offering them again would invite the same mistake. */
            bool seen = cp->kind != BILLS_PARTY_USER || lines[i].return_id[0] != '\0' ||
                        lines[i].status == WALLET_FAILED;
            for (size_t j = 0; !seen && j < count; j++)
                seen = strcmp(found[j].id, cp->id) == 0;
            for (size_t j = 0; !seen && j < gone_count; j++)
                seen = strcmp(gone[j], cp->id) == 0;
            if (seen)
                continue;
            err = identity_user_get(reader, cp->id, payee);
            if (err != QB_OK) {
                err = err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* users are never deleted */
                break;
            }
            if (payee->status == IDENTITY_CLOSED) {
                if (gone_count < S_RECENT_MAX)
                    snprintf(gone[gone_count++], ID_TEXT_SIZE_MAX, "%s", cp->id);
                continue;
            }
            snprintf(found[count].id, sizeof found[count].id, "%s", cp->id);
            found[count++].at_ms = lines[i].created_at_ms;
        }
        if (err != QB_OK)
            break;
        snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
        if (count == limit || cursor[0] == '\0' || page.scanned == 0)
            break;
        if (scanned >= BILLS_SCAN_MAX) {
            partial = true;
            break;
        }
    }
    for (size_t i = 0; err == QB_OK && i < count; i++) {
        err = identity_user_get(reader, found[i].id, payee);
        struct ledger_account_view payee_view;
        if (err == QB_OK)
            err = http_request_account_view(req, payee->account_id, &payee_view);
        if (err != QB_OK) {
            err = err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* users are never deleted */
            break;
        }
        bool available =
            payee->status != IDENTITY_FROZEN &&
            (payee_view.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) == 0;
        json_t *item = http_payee_json(payee);
        if (item == NULL ||
            json_object_set_new(item, "last_paid_at", http_time_json(found[i].at_ms)) != 0 ||
            json_object_set_new(item, "available", json_boolean(available)) != 0) {
            json_decref(item);
            err = QB_E_INTERNAL;
        } else if (json_array_append_new(items, item) != 0) {
            err = QB_E_INTERNAL;
        }
    }
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_PARAM ? QB_E_INTERNAL : err);
        goto out;
    }
    http_reply_json_new(req, 200, json_pack("{s:O, s:b}", "items", items, "partial", (int)partial));
out:
    json_decref(items);
    crypto_wipe(key, sizeof key);
    free(lines);
}

/* --- GET /v1/me/transactions, GET /v1/me/transactions.csv -------------------------- */

void http_handle_me_transactions_list(struct http_request *req)
{
    bool csv = S_wants_csv(req);
    struct bills_query q;
    if (S_query(req, csv, &q))
        S_list_reply(req, NULL, &q, csv, "qianbao-transactions.csv");
}

void http_handle_me_transactions_csv(struct http_request *req)
{
    struct bills_query q;
    if (S_query(req, true, &q))
        S_list_reply(req, NULL, &q, true, "qianbao-transactions.csv");
}

/* --- GET /admin/users/{id}/transactions, GET /admin/users/{id}/transactions.csv ------- */

void http_handle_admin_users_transactions_list(struct http_request *req)
{
    /* The user's bill as the user reads it, for an operator on the phone
     * with them: the same lines, filters and cursors. */
    const char *id = http_user_id_param(req);
    if (id == NULL)
        return;
    bool csv = S_wants_csv(req);
    struct bills_query q;
    if (S_query(req, csv, &q))
        S_list_reply(req, id, &q, csv, "qianbao-transactions.csv");
}

void http_handle_admin_users_transactions_csv(struct http_request *req)
{
    const char *id = http_user_id_param(req);
    struct bills_query q;
    if (id != NULL && S_query(req, true, &q))
        S_list_reply(req, id, &q, true, "qianbao-transactions.csv");
}

/* --- GET /v1/me/statements/{month} ------------------------------------------------- */

static json_t *S_sums_json(const char *currency, const struct bills_sums *s)
{
    return json_pack("{s:{s:I, s:I, s:I}}", currency, "income", (json_int_t)s->income_minor,
                     "expense", (json_int_t)s->expense_minor, "count", (json_int_t)s->count);
}

static json_t *S_statement_json(const char *month_text, const struct bills_statement *s)
{
    const char *cur = s->currency->code;
    json_t *by_type = json_object();
    for (int t = BILLS_TOPUP; by_type != NULL && t < BILLS_TYPE_COUNT; t++) {
        if (t == BILLS_WITHDRAWAL_REFUND || t == BILLS_WITHDRAWAL_RETURN)
            continue; /* never in a statement (bills.h) */
        json_t *sums = S_sums_json(cur, &s->by_type[t]);
        if (sums == NULL ||
            json_object_set_new(by_type, bills_type_name((enum bills_type)t), sums) != 0) {
            json_decref(by_type);
            by_type = NULL;
        }
    }
    json_t *parties = json_array();
    for (size_t i = 0; parties != NULL && i < s->top_count; i++) {
        const struct bills_party_sums *p = &s->top[i];
        json_t *item = json_pack(
            "{s:o, s:s, s:I, s:I, s:I}", "counterparty", http_bills_party_json(&p->counterparty),
            "currency", cur, "income", (json_int_t)p->sums.income_minor, "expense",
            (json_int_t)p->sums.expense_minor, "count", (json_int_t)p->sums.count);
        if (item == NULL || json_array_append_new(parties, item) != 0) {
            json_decref(parties);
            parties = NULL;
        }
    }
    if (by_type == NULL || parties == NULL) {
        json_decref(by_type);
        json_decref(parties);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:{s:I}, s:{s:I}, s:{s:I}, s:o, s:o, s:o, s:I, s:b}",
                     s->month.month != 0 ? "month" : "year", month_text, "from",
                     http_time_json(s->month.start_ms), "to", http_time_json(s->month.end_ms),
                     "income", cur, (json_int_t)s->total.income_minor, "expense", cur,
                     (json_int_t)s->total.expense_minor, "count", cur, (json_int_t)s->total.count,
                     "by_type", by_type, "by_counterparty", parties, "others",
                     S_sums_json(cur, &s->others), "processing_count",
                     (json_int_t)s->processing_count, "complete", (int)s->complete);
}

/* A statement made on a report thread: up to BILLS_STATEMENT_SCAN_MAX
 * entries read, about a second for a wallet with that many, which on an
 * HTTP thread would hold up every other request of its connections. */
struct S_statement_job {
    struct ledger_cmd hold; /* first: what the offload carries; never submitted */
    struct ledger_account_view view;
    struct bills_month month;
    char month_text[16];
    struct bills_statement statement;
    int64_t queued_ns; /* when it was handed over */
    enum qb_error err;
};

static void S_statement_run(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_statement_job *job = (struct S_statement_job *)cmd;
    /* Nobody waits for one made while the daemon stops, and its client has
     * likely given up on one that waited long: neither holds up the rest. */
    if (http_request_server_closing(req)) {
        job->err = QB_E_SHUTTING_DOWN;
        return;
    }
    if (clock_monotonic_ns() - job->queued_ns > HTTP_REPORT_WAIT_MAX_MS * INT64_C(1000000)) {
        job->err = QB_E_BUSY;
        return;
    }
    QB_SLOW_POINT("statement");
    struct store *reader = http_reader_take(req, &job->err);
    if (reader == NULL)
        return;
    job->err = bills_statement(reader, &job->view, job->view.id, &job->month, &job->statement);
    http_reader_release(req, reader);
}

static void S_statement_answer(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_statement_job *job = (struct S_statement_job *)cmd;
    json_t *body = job->err == QB_OK ? S_statement_json(job->month_text, &job->statement) : NULL;
    if (job->err == QB_E_BUSY)
        http_reply_header(req, "Retry-After", "1");
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, job->err != QB_OK ? job->err : QB_E_INTERNAL);
    json_decref(body);
}

void http_handle_me_statement_get(struct http_request *req)
{
    const char *param = http_request_param(req, "month");
    char month_text[16];
    size_t size = param != NULL ? strlen(param) : 0;
    bool csv = false;
    if (size > strlen(S_CSV_SUFFIX) &&
        strcmp(param + size - strlen(S_CSV_SUFFIX), S_CSV_SUFFIX) == 0) {
        csv = true;
        size -= strlen(S_CSV_SUFFIX);
    }
    struct bills_month month;
    if (size >= sizeof month_text) {
        http_reply_error_message(req, QB_E_PARAM, S_MONTH_REFUSED);
        return;
    }
    memcpy(month_text, param, size);
    month_text[size] = '\0';
    if (!bills_month_parse(month_text, &month) && !bills_year_parse(month_text, &month)) {
        http_reply_error_message(req, QB_E_PARAM, S_MONTH_REFUSED);
        return;
    }
    const struct domain_env *env = http_request_env(req);
    if (env != NULL && month.start_ms > http_request_ledger_now_ms(req)) {
        /* Zeros and "complete" would tell a client that got next month
         * wrong that nothing happened in it. */
        char message[96];
        snprintf(message, sizeof message, "%s has not begun (months and years run in UTC+8)",
                 month_text);
        http_reply_error_message(req, QB_E_PARAM, message);
        return;
    }
    csv = csv || S_wants_csv(req);
    const char *cursor = http_request_query(req, "cursor");
    if (!csv && cursor != NULL && cursor[0] != '\0') {
        /* The statement is one answer; only its CSV lines come in pages
         * (an empty cursor is none, as on the lists). */
        http_reply_error_message(
            req, QB_E_PARAM,
            "cursor pages only a statement's CSV lines (.csv or Accept: text/csv)");
        return;
    }
    if (csv) {
        /* The month's lines: the list's query with the month as its period. */
        struct bills_query q;
        memset(&q, 0, sizeof q);
        q.filter.from_ms = month.start_ms;
        q.filter.to_ms = month.end_ms;
        q.limit = BILLS_CSV_LINES_MAX;
        q.cursor = http_request_query(req, "cursor");
        if (q.cursor != NULL && strlen(q.cursor) >= BILLS_CURSOR_SIZE_MAX) {
            http_reply_error_message(req, QB_E_PARAM, S_CURSOR_REFUSED);
            return;
        }
        char filename[64];
        snprintf(filename, sizeof filename, "qianbao-statement-%s.csv", month_text);
        S_list_reply(req, NULL, &q, true, filename);
        return;
    }
    struct S_statement_job *job = http_request_alloc(req, sizeof *job);
    if (job == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    if (!S_account(req, NULL, &job->view))
        return;
    job->month = month;
    memcpy(job->month_text, month_text, sizeof job->month_text);
    job->err = QB_E_INTERNAL;
    job->queued_ns = clock_monotonic_ns();
    if (!http_request_offload_report(req, job->view.id, &job->hold, S_statement_run,
                                     S_statement_answer))
        return; /* answered 503 or 429: the report threads have enough waiting, or the
                 * caller's share */
}
