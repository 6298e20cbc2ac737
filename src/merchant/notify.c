/*
 * notify.c — the notification outbox, the notify_url rules, the envelope,
 * the command that records an attempt and the merchant's list (notify.h
 * has the rules; notify_worker.c delivers).
 *
 * The outbox row is written by the paying or refunding command itself, so
 * a notification can neither be lost after the money moved nor sent for
 * money that did not. Everything slow (DNS, the POST) happens on one of
 * the worker's delivery threads between two reads and one small command.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "merchant/notify.h"

const int64_t merchant_notify_ladder_s[MERCHANT_NOTIFY_ATTEMPTS_MAX - 1] = {
    15, 15, 30, 3 * 60, 10 * 60, 20 * 60, 30 * 60, 30 * 60, 30 * 60, 60 * 60,
    3 * 3600, 3 * 3600, 3 * 3600, 6 * 3600, 6 * 3600,
};

int64_t merchant_notify_next_at_ms(int attempt, int64_t now_ms, int64_t divisor)
{
    QB_ASSERT(attempt >= 1 && divisor >= 1);
    if (attempt >= MERCHANT_NOTIFY_ATTEMPTS_MAX)
        return 0;
    int64_t step_ms = merchant_notify_ladder_s[attempt - 1] * 1000 / divisor;
    if (step_ms < 1)
        step_ms = 1;
    QB_ASSERT(step_ms <= 6 * 3600 * 1000);
    return now_ms + step_ms;
}

/* --- the outbox ------------------------------------------------------------------ */

/* A random version-4 UUID, the shape of WeChat's notification ids. */
static void S_uuid(struct qb_rand *rand, char out[MERCHANT_NOTIFY_ID_SIZE])
{
    uint8_t raw[16];
    rand_fill(rand, raw, sizeof raw);
    raw[6] = (uint8_t)((raw[6] & 0x0f) | 0x40);
    raw[8] = (uint8_t)((raw[8] & 0x3f) | 0x80);
    char hex[33];
    crypto_hex(raw, sizeof raw, hex);
    snprintf(out, MERCHANT_NOTIFY_ID_SIZE, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
             hex + 16, hex + 20);
}

static void S_mac_text(struct crypto_hmac_sha256_state *st, const char *text)
{
    size_t size = strlen(text);
    unsigned char length[4] = {(unsigned char)(size & 0xff), (unsigned char)((size >> 8) & 0xff),
                               (unsigned char)((size >> 16) & 0xff),
                               (unsigned char)((size >> 24) & 0xff)};
    crypto_hmac_sha256_update(st, length, sizeof length);
    crypto_hmac_sha256_update(st, text, size);
}

void merchant_notify_mac(const struct domain_env *env, const char *id, const char *mchid,
                         const char *event_type, const char *original_type, const char *summary,
                         const char *notify_url, const char *resource, int64_t created_at_ms,
                         uint8_t out[CRYPTO_SHA256_SIZE])
{
    struct crypto_hmac_sha256_state st;
    crypto_hmac_sha256_begin(&st, env->notify_key, sizeof env->notify_key);
    const char *texts[] = {id, mchid, event_type, original_type, summary, notify_url, resource};
    for (size_t i = 0; i < QB_ARRAY_COUNT(texts); i++)
        S_mac_text(&st, texts[i]);
    unsigned char at[8];
    buf_write_u64le(at, (uint64_t)created_at_ms);
    crypto_hmac_sha256_update(&st, at, sizeof at);
    crypto_hmac_sha256_end(&st, out);
}

/* Deletes up to eight of the oldest notifications done (delivered or given
 * up) more than MERCHANT_NOTIFY_KEPT_MS ago, with their attempts. Rows are
 * made in seq order, so the oldest are the first to go; one still pending
 * at the head (a worker stopped for that long) holds the rest until it is
 * done, which the ladder makes within a day of the worker's running. */
static enum qb_error S_prune(struct store *store, int64_t now_ms)
{
#define S_PRUNED(column)                                                                           \
    "SELECT " column " FROM notifications WHERE seq IN"                                            \
    " (SELECT seq FROM notifications ORDER BY seq LIMIT 8) AND status <> 1 AND created_at_ms < $1"
    static const char *const steps[] = {
        /* the attempts first, while their notifications name them */
        "DELETE FROM notification_attempts WHERE notification_id IN (" S_PRUNED("id") ")",
        "DELETE FROM notifications WHERE seq IN (" S_PRUNED("seq") ")",
    };
#undef S_PRUNED
    const struct store_param p[] = {STORE_INT(now_ms - MERCHANT_NOTIFY_KEPT_MS)};
    enum qb_error err = QB_OK;
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(steps); i++)
        err = store_run(store, steps[i], p, QB_ARRAY_COUNT(p));
    return err;
}

enum qb_error merchant_txn_notify_add(struct ledger_txn *txn, const struct domain_env *env,
                                      const char *mchid, const char *notify_url,
                                      const char *event_type, const char *original_type,
                                      const char *object_id, const char *summary,
                                      const json_t *resource)
{
    QB_ASSERT(txn != NULL && env != NULL && mchid != NULL && notify_url != NULL);
    QB_ASSERT(event_type != NULL && original_type != NULL && object_id != NULL && resource != NULL);
    if (notify_url[0] == '\0')
        return QB_OK; /* an order that named no address (a till's, a code's): none to tell */
    char *text = json_dumps(resource, JSON_COMPACT);
    if (text == NULL)
        return QB_E_INTERNAL;
    if (strlen(text) > MERCHANT_NOTIFY_RESOURCE_SIZE_MAX) {
        free(text);
        return QB_E_TOO_LARGE;
    }
    char id[MERCHANT_NOTIFY_ID_SIZE];
    S_uuid(env->rand, id);
    int64_t now_ms = ledger_txn_now_ms(txn);
    uint8_t mac[CRYPTO_SHA256_SIZE];
    merchant_notify_mac(env, id, mchid, event_type, original_type, summary, notify_url, text,
                        now_ms, mac);
    const struct store_param params[] = {
        STORE_TEXT(id),
        STORE_TEXT(mchid),
        STORE_TEXT(event_type),
        STORE_TEXT(original_type),
        STORE_TEXT(object_id),
        STORE_TEXT(summary),
        STORE_TEXT(notify_url),
        STORE_TEXT(text),
        STORE_INT(MERCHANT_NOTIFY_PENDING),
        STORE_INT(now_ms),
        STORE_INT(now_ms),
        STORE_BLOB(mac, sizeof mac),
    };
    enum qb_error err =
        store_run(ledger_txn_store(txn),
                  "INSERT INTO notifications (id, mchid, event_type, original_type, object_id,"
                  " summary, notify_url, resource, status, next_attempt_at_ms, created_at_ms, mac)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                  params, QB_ARRAY_COUNT(params));
    free(text);
    if (err == QB_OK)
        err = S_prune(ledger_txn_store(txn), now_ms);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* --- notify_url ------------------------------------------------------------------ */

bool merchant_notify_url_parse(const char *url, char host[MERCHANT_NOTIFY_HOST_SIZE_MAX], int *port)
{
    if (url == NULL || strlen(url) >= MERCHANT_NOTIFY_URL_SIZE_MAX)
        return false;
    for (const char *p = url; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    const char *rest = NULL;
    if (strncmp(url, "https://", 8) == 0) {
        rest = url + 8;
        *port = 443;
    } else if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
        *port = 80;
    } else {
        return false;
    }
    size_t authority = strcspn(rest, "/?#");
    if (authority == 0 || memchr(rest, '@', authority) != NULL)
        return false;
    const char *host_start = rest;
    size_t host_size = 0;
    const char *after = NULL;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', authority);
        if (close == NULL)
            return false;
        host_start = rest + 1;
        host_size = (size_t)(close - host_start);
        after = close + 1;
        /* An IPv6 address and nothing else: no zone ("fe80::1%25eth0"),
         * which the numeric check of the literal would not read, no IPv4
         * address and no name ("[bad.cafe]"). */
        char literal[INET6_ADDRSTRLEN];
        struct in6_addr address;
        if (host_size >= sizeof literal)
            return false;
        memcpy(literal, host_start, host_size);
        literal[host_size] = '\0';
        if (inet_pton(AF_INET6, literal, &address) != 1)
            return false;
    } else {
        const char *colon = memchr(rest, ':', authority);
        host_size = colon != NULL ? (size_t)(colon - rest) : authority;
        after = rest + host_size;
    }
    if (host_size == 0 || host_size >= MERCHANT_NOTIFY_HOST_SIZE_MAX)
        return false;
    size_t after_size = authority - (size_t)(after - rest);
    if (after_size > 0) {
        if (after[0] != ':' || after_size < 2 || after_size > 6)
            return false;
        int value = 0;
        for (size_t i = 1; i < after_size; i++) {
            if (after[i] < '0' || after[i] > '9')
                return false;
            value = value * 10 + (after[i] - '0');
        }
        if (value < 1 || value > 65535)
            return false;
        *port = value;
    }
    memcpy(host, host_start, host_size);
    host[host_size] = '\0';
    return true;
}

static bool S_v4_is_private(const uint8_t a[4])
{
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
           (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
           (a[0] == 198 && (a[1] & 0xfe) == 18) || a[0] >= 224;
}

/* The IPv6 ranges that reach an IPv4 host, by where its address sits in them. A range that
 * reaches IPv4 in a way the address does not plainly show (local-use NAT64, mapped as its
 * operator chooses; Teredo, through a NAT) is private whole: v4_index 0. Prefixes are whole
 * bytes. */
struct notify_v6_range {
    uint8_t prefix[12];
    size_t prefix_size; /* bytes */
    size_t v4_index;    /* of the IPv4 address's first byte; 0: private whatever follows */
};

static const struct notify_v6_range S_v6_ranges[] = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 12, 12}, /* ::ffff:0:0/96 mapped */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 12, 12}, /* ::ffff:0:0:0/96 translated */
    {{0}, 12, 12}, /* ::/96 compatible: :: and ::1 too (0.0.0.x) */
    {{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 12, 12}, /* 64:ff9b::/96 NAT64 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 6, 0}, /* 64:ff9b:1::/48 local-use NAT64 (RFC 8215) */
    {{0x20, 0x02}, 2, 2},                /* 2002::/16 6to4: the site's IPv4 router */
    {{0x20, 0x01, 0, 0}, 4, 0},          /* 2001::/32 Teredo */
};

/* The range of S_v6_ranges that holds a, or NULL. */
static const struct notify_v6_range *S_v6_range_find(const uint8_t a[16])
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_v6_ranges); i++) {
        const struct notify_v6_range *r = &S_v6_ranges[i];
        QB_ASSERT(r->prefix_size <= sizeof r->prefix && r->v4_index + 4 <= 16);
        if (memcmp(a, r->prefix, r->prefix_size) == 0)
            return r;
    }
    return NULL;
}

bool merchant_address_is_private(const void *sockaddr)
{
    const struct sockaddr *sa = sockaddr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = sockaddr;
        uint8_t a[4];
        memcpy(a, &in->sin_addr.s_addr, 4);
        return S_v4_is_private(a);
    }
    if (sa->sa_family != AF_INET6)
        return true;
    const struct sockaddr_in6 *in6 = sockaddr;
    const uint8_t *a = in6->sin6_addr.s6_addr;
    /* An address that reaches an IPv4 host is judged by that host: else [64:ff9b::a00:1]
     * reaches 10.0.0.1 through a NAT64 gateway. */
    const struct notify_v6_range *r = S_v6_range_find(a);
    if (r != NULL)
        return r->v4_index == 0 || S_v4_is_private(a + r->v4_index);
    return (a[0] & 0xfe) == 0xfc ||                   /* fc00::/7 unique local */
           (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || /* fe80::/10 link-local */
           a[0] == 0xff ||                            /* multicast */
           (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8); /* documentation */
}

/* Whether host is "localhost" or under it, which resolves to a loopback
 * address wherever it is looked up (RFC 6761 6.3). */
static bool S_host_is_localhost(const char *host)
{
    static const char name[] = "localhost";
    size_t size = strlen(host);
    if (size > 0 && host[size - 1] == '.')
        size--; /* the root's dot */
    const size_t n = sizeof name - 1;
    return size >= n && strncasecmp(host + size - n, name, n) == 0 &&
           (size == n || host[size - n - 1] == '.');
}

enum qb_error merchant_notify_url_check(const char *url, bool private_allowed, bool resolve,
                                        char *pin, size_t pin_size, const char **reason)
{
    QB_ASSERT(resolve || pin == NULL);
    *reason = "";
    char host[MERCHANT_NOTIFY_HOST_SIZE_MAX];
    int port = 0;
    if (!merchant_notify_url_parse(url, host, &port)) {
        *reason = "notify_url must be an http or https URL";
        return QB_E_PARAM;
    }
    if (!private_allowed && S_host_is_localhost(host)) {
        *reason = "notify_url must not point at a loopback, private or link-local address";
        return QB_E_PARAM;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = resolve ? 0 : AI_NUMERICHOST;
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, NULL, &hints, &list) != 0 || list == NULL) {
        *reason = resolve ? "the host of notify_url does not resolve"
                          : "the host of notify_url is a name, not looked up here";
        return QB_E_NOT_FOUND;
    }
    enum qb_error err = QB_OK;
    char address[INET6_ADDRSTRLEN] = "";
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (!private_allowed && merchant_address_is_private(ai->ai_addr)) {
            *reason = "notify_url must not point at a loopback, private or link-local address";
            err = QB_E_PARAM;
            break;
        }
        if (address[0] == '\0') {
            const void *raw = ai->ai_family == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            if (inet_ntop(ai->ai_family, raw, address, sizeof address) == NULL)
                address[0] = '\0';
        }
    }
    freeaddrinfo(list);
    if (err == QB_OK && address[0] == '\0') {
        *reason = "the host of notify_url does not resolve";
        err = QB_E_NOT_FOUND;
    }
    if (err == QB_OK && pin != NULL) {
        bool v6 = strchr(address, ':') != NULL;
        int n = snprintf(pin, pin_size, v6 ? "%s:%d:[%s]" : "%s:%d:%s", host, port, address);
        if (n < 0 || (size_t)n >= pin_size)
            err = QB_E_INTERNAL;
    }
    return err;
}

/* --- the envelope ------------------------------------------------------------------ */

enum qb_error merchant_notify_envelope(const uint8_t key[32], const char *id, int64_t created_at_ms,
                                       const char *event_type, const char *summary,
                                       const char *original_type, const char *resource_json,
                                       const char *nonce, struct buf *out)
{
    QB_ASSERT(key != NULL && id != NULL && resource_json != NULL && nonce != NULL);
    struct buf ciphertext;
    buf_init(&ciphertext, 4 * MERCHANT_NOTIFY_RESOURCE_SIZE_MAX);
    enum qb_error err = crypto_aead_gcm_encrypt(key, nonce, original_type, resource_json,
                                                strlen(resource_json), &ciphertext);
    json_t *body = NULL;
    if (err == QB_OK && buf_append(&ciphertext, "", 1) == QB_OK)
        body = json_pack("{s:s, s:o, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "id", id,
                         "create_time", domain_time_json(created_at_ms), "resource_type",
                         "encrypt-resource", "event_type", event_type, "summary", summary,
                         "resource", "original_type", original_type, "algorithm",
                         "AEAD_AES_256_GCM", "ciphertext", (const char *)ciphertext.data,
                         "associated_data", original_type, "nonce", nonce);
    buf_release(&ciphertext);
    if (err != QB_OK)
        return err;
    if (body == NULL)
        return QB_E_INTERNAL;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        return QB_E_INTERNAL;
    err = buf_append_str(out, text);
    free(text);
    return err;
}

/* --- sealing an earlier version's outbox ---------------------------------------------- */

struct S_open_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    int64_t sealed;
};

/* Seals the rows still to be sent when no row has a seal. Each row is read
 * whole into memory before it is written: the statement that reads them
 * is done before the first update. */
static enum qb_error S_open_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct S_open_cmd *c = (struct S_open_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    struct store_stmt *st = NULL;
    /* Newest first: once sealing began, the newest rows are sealed, so a
     * start reads one row, not the whole outbox. */
    if (store_prepare(store,
                      "SELECT 1 FROM notifications WHERE length(mac) > 0 ORDER BY seq DESC LIMIT 1",
                      &st) != QB_OK) {
        store_finalize(st);
        return QB_E_STORAGE;
    }
    int found = store_step(st);
    store_finalize(st);
    if (found != STORE_STEP_ROW && found != STORE_STEP_DONE)
        return QB_E_STORAGE;
    bool sealed_already = found == STORE_STEP_ROW;
    if (sealed_already)
        return QB_OK;
    /* The mac's fields, by rowid, so that each read goes on after the
     * last row sealed. */
    int64_t after = 0;
    for (;;) {
        st = NULL;
        if (store_prepare(store,
                          "SELECT id, mchid, event_type, original_type, summary, notify_url,"
                          " resource, created_at_ms, rowid FROM notifications"
                          " WHERE status IN (1, 3) AND rowid > $1 ORDER BY rowid LIMIT 1",
                          &st) != QB_OK ||
            store_bind_int64(st, 1, after) != QB_OK) {
            store_finalize(st);
            return QB_E_STORAGE;
        }
        int rc = store_step(st);
        if (rc != STORE_STEP_ROW) {
            store_finalize(st);
            return rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
        }
        const char *text[7];
        for (int i = 0; i < 7; i++) {
            text[i] = store_column_text(st, i);
            if (text[i] == NULL)
                text[i] = "";
        }
        uint8_t mac[CRYPTO_SHA256_SIZE];
        merchant_notify_mac(c->env, text[0], text[1], text[2], text[3], text[4], text[5], text[6],
                            store_column_int64(st, 7), mac);
        after = store_column_int64(st, 8);
        store_finalize(st);
        const struct store_param p[] = {STORE_BLOB(mac, sizeof mac), STORE_INT(after)};
        if (store_run(store, "UPDATE notifications SET mac = $1 WHERE rowid = $2", p,
                      QB_ARRAY_COUNT(p)) != QB_OK)
            return QB_E_STORAGE;
        c->sealed++;
    }
}

enum qb_error merchant_notify_open(struct ledger *ledger, const struct domain_env *env,
                                   int64_t *sealed)
{
    _Static_assert(MERCHANT_NOTIFY_PENDING == 1 && MERCHANT_NOTIFY_FAILED == 3,
                   "the SQL's constants above");
    struct S_open_cmd c = {.env = env};
    ledger_cmd_init(&c.cmd, S_open_run, NULL);
    enum qb_error err = ledger_execute(ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    *sealed = err == QB_OK ? c.sealed : 0;
    return err;
}

/* --- recording an attempt ------------------------------------------------------------ */

static enum qb_error S_attempt_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_notify_attempt_cmd *c = (struct merchant_notify_attempt_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    QB_ASSERT(c->attempt >= 1 && c->attempt <= MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX);
    c->outcome = QB_E_INTERNAL;
    if (memchr(c->id, '\0', sizeof c->id) == NULL || memchr(c->error, '\0', sizeof c->error) == NULL)
        return QB_E_PARAM;

    /* The row must still be where the worker found it. */
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT status, attempt_count, next_attempt_at_ms FROM notifications"
                      " WHERE id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, c->id, strlen(c->id));
    int rc = err == QB_OK ? store_step(st) : -1;
    int64_t status = rc == STORE_STEP_ROW ? store_column_int64(st, 0) : 0;
    int64_t count = rc == STORE_STEP_ROW ? store_column_int64(st, 1) : 0;
    int64_t due_ms = rc == STORE_STEP_ROW ? store_column_int64(st, 2) : 0;
    store_finalize(st);
    if (rc < 0)
        return QB_E_STORAGE;
    if (rc != STORE_STEP_ROW || status != MERCHANT_NOTIFY_PENDING || count != c->attempt - 1) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }

    const struct store_param attempt[] = {
        STORE_TEXT(c->id),         STORE_INT(c->attempt),     STORE_INT(c->at_ms),
        STORE_INT(c->http_status), STORE_TEXT(c->error),      STORE_INT(c->duration_ms),
    };
    err = store_run(store,
                    "INSERT INTO notification_attempts (notification_id, attempt, at_ms,"
                    " http_status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                    attempt, QB_ARRAY_COUNT(attempt));
    if (err != QB_OK)
        return QB_E_STORAGE;
    int64_t now_ms = ledger_txn_now_ms(txn);
    bool delivered = c->http_status >= 200 && c->http_status <= 299;
    int64_t next_ms = delivered ? 0
                                : merchant_notify_next_at_ms(c->attempt, now_ms,
                                                             c->env->settings.notify_ladder_divisor);
    /* A resend asked for after this attempt began (it found the row due
     * at or before at_ms) wanted one after it, once the merchant mended
     * its endpoint: this failure, maybe from before the mend, does not
     * put that off up the ladder, while the bound allows one more. */
    if (!delivered && due_ms > c->at_ms && c->attempt < MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX &&
        (next_ms == 0 || due_ms < next_ms))
        next_ms = due_ms;
    int64_t new_status = delivered      ? MERCHANT_NOTIFY_DELIVERED
                         : next_ms == 0 ? MERCHANT_NOTIFY_FAILED
                                        : MERCHANT_NOTIFY_PENDING;
    /* Delivered when the merchant answered, not when that could be
     * recorded (later, when the ledger could not write for a while). */
    int64_t delivered_ms = 0;
    if (delivered && (!money_add(c->at_ms, c->duration_ms, &delivered_ms) ||
                      delivered_ms < c->at_ms || delivered_ms > now_ms))
        delivered_ms = now_ms;
    const struct store_param update[] = {
        STORE_TEXT(c->id),  STORE_INT(new_status),   STORE_INT(c->attempt),
        STORE_INT(next_ms), STORE_INT(delivered_ms),
    };
    err = store_run(store,
                    "UPDATE notifications SET status = $2, attempt_count = $3,"
                    " next_attempt_at_ms = $4, delivered_at_ms = $5 WHERE id = $1",
                    update, QB_ARRAY_COUNT(update));
    if (err != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_notify_attempt_cmd_init(struct merchant_notify_attempt_cmd *c,
                                      const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_attempt_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- sending again ---------------------------------------------------------------------- */

static enum qb_error S_resend_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_notify_resend_cmd *c = (struct merchant_notify_resend_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    c->outcome = QB_E_NOT_FOUND;
    if (memchr(c->id, '\0', sizeof c->id) == NULL ||
        memchr(c->mchid, '\0', sizeof c->mchid) == NULL)
        return QB_OK;
    struct store_stmt *st = NULL;
    if (store_prepare(
            store, "SELECT status, attempt_count FROM notifications WHERE id = $1 AND mchid = $2",
            &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, c->id, strlen(c->id));
    if (err == QB_OK)
        err = store_bind_text(st, 2, c->mchid, strlen(c->mchid));
    int rc = err == QB_OK ? store_step(st) : -1;
    int64_t status = rc == STORE_STEP_ROW ? store_column_int64(st, 0) : 0;
    int64_t count = rc == STORE_STEP_ROW ? store_column_int64(st, 1) : 0;
    store_finalize(st);
    if (rc < 0)
        return QB_E_STORAGE;
    if (rc != STORE_STEP_ROW)
        return QB_OK;
    c->status_before = (enum merchant_notify_status)status;
    /* Delivered, out of resends, or in a state no version writes (a row
     * edited by hand): not sent again. */
    if ((status != MERCHANT_NOTIFY_PENDING && status != MERCHANT_NOTIFY_FAILED) ||
        (status == MERCHANT_NOTIFY_FAILED && count >= MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX)) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    c->attempt_count = count;
    c->next_attempt_at_ms = ledger_txn_now_ms(txn);
    const struct store_param update[] = {STORE_TEXT(c->id), STORE_INT(MERCHANT_NOTIFY_PENDING),
                                         STORE_INT(c->next_attempt_at_ms)};
    if (store_run(store,
                  "UPDATE notifications SET status = $2, next_attempt_at_ms = $3 WHERE id = $1",
                  update, QB_ARRAY_COUNT(update)) != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_notify_resend_cmd_init(struct merchant_notify_resend_cmd *c)
{
    QB_ASSERT(c != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_resend_run, NULL);
    c->outcome = QB_E_INTERNAL;
}

/* --- the list ------------------------------------------------------------------------- */

static const char *S_status_name(int64_t status)
{
    switch (status) {
    case MERCHANT_NOTIFY_PENDING:
        return "PENDING";
    case MERCHANT_NOTIFY_DELIVERED:
        return "DELIVERED";
    case MERCHANT_NOTIFY_FAILED:
        return "FAILED";
    }
    return "UNKNOWN";
}

/* The attempts of one notification, oldest first, appended to list. */
static enum qb_error S_attempts(struct store *reader, const char *id, json_t *list)
{
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT attempt, at_ms, http_status, error, duration_ms"
                      " FROM notification_attempts WHERE notification_id = $1 ORDER BY attempt",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, id, strlen(id));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        char error[MERCHANT_NOTIFY_ERROR_SIZE_MAX];
        store_column_text_copy(st, 3, error, sizeof error);
        int64_t status = store_column_int64(st, 2);
        json_t *a = json_pack("{s:I, s:o, s:o, s:s, s:I}", "attempt",
                              (json_int_t)store_column_int64(st, 0), "time",
                              domain_time_json(store_column_int64(st, 1)), "http_status",
                              status > 0 ? json_integer(status) : json_null(), "error", error,
                              "duration_ms", (json_int_t)store_column_int64(st, 4));
        if (a == NULL || json_array_append_new(list, a) != 0)
            err = QB_E_INTERNAL;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

enum qb_error merchant_notify_backlog(struct store *reader, int64_t *pending,
                                      int64_t *oldest_created_ms)
{
    QB_ASSERT(reader != NULL && pending != NULL && oldest_created_ms != NULL);
    *pending = *oldest_created_ms = 0;
    struct store_stmt *st = NULL;
    /* status = 1 as a literal: those rows are notifications_due's (a
     * partial index), a few among all the delivered ones. */
    if (store_prepare(reader,
                      "SELECT COUNT(*), coalesce(MIN(created_at_ms), 0) FROM notifications"
                      " WHERE status = 1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW) {
        *pending = store_column_int64(st, 0);
        *oldest_created_ms = store_column_int64(st, 1);
    }
    store_finalize(st);
    return rc == STORE_STEP_ROW ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_list(struct store *reader, const char *mchid, int64_t before_seq,
                            size_t limit, json_t **out, int64_t *next_seq)
{
    json_t *data = json_array();
    if (data == NULL)
        return QB_E_INTERNAL;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT seq, id, event_type, object_id, notify_url, status, attempt_count,"
                      " next_attempt_at_ms, delivered_at_ms, created_at_ms FROM notifications"
                      " WHERE mchid = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                      &st) != QB_OK) {
        json_decref(data);
        return QB_E_STORAGE;
    }
    enum qb_error err = store_bind_text(st, 1, mchid, strlen(mchid));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, before_seq > 0 ? before_seq : INT64_MAX);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, (int64_t)limit + 1);
    int rc = STORE_STEP_DONE;
    int64_t last_seq = 0;
    bool more = false;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        if (json_array_size(data) == limit) {
            more = true;
            break;
        }
        char id[MERCHANT_NOTIFY_ID_SIZE], event_type[32], object_id[64];
        char url[MERCHANT_NOTIFY_URL_SIZE_MAX];
        last_seq = store_column_int64(st, 0);
        store_column_text_copy(st, 1, id, sizeof id);
        store_column_text_copy(st, 2, event_type, sizeof event_type);
        store_column_text_copy(st, 3, object_id, sizeof object_id);
        store_column_text_copy(st, 4, url, sizeof url);
        int64_t status = store_column_int64(st, 5);
        json_t *n = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:[]}", "id", id,
                              "event_type", event_type, "object_id", object_id, "notify_url", url,
                              "status", S_status_name(status), "attempt_count",
                              (json_int_t)store_column_int64(st, 6), "next_attempt_time",
                              domain_time_json(status == MERCHANT_NOTIFY_PENDING
                                                   ? store_column_int64(st, 7)
                                                   : 0),
                              "delivered_time", domain_time_json(store_column_int64(st, 8)),
                              "create_time", domain_time_json(store_column_int64(st, 9)),
                              "attempts");
        if (n == NULL || json_array_append_new(data, n) != 0)
            err = QB_E_INTERNAL;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    /* The attempts, once the page's statement is done. */
    for (size_t i = 0; err == QB_OK && i < json_array_size(data); i++) {
        json_t *n = json_array_get(data, i);
        err = S_attempts(reader, json_string_value(json_object_get(n, "id")),
                         json_object_get(n, "attempts"));
    }
    if (err != QB_OK) {
        json_decref(data);
        return err;
    }
    *out = data;
    *next_seq = more ? last_seq : 0;
    return QB_OK;
}

enum qb_error merchant_notifications_list(struct store *reader, const char *mchid,
                                          int64_t before_seq, size_t limit, json_t **out,
                                          int64_t *next_seq)
{
    QB_ASSERT(reader != NULL && mchid != NULL && out != NULL && next_seq != NULL);
    QB_ASSERT(limit >= 1 && limit <= MERCHANT_NOTIFY_PAGE_MAX);
    *out = NULL;
    *next_seq = 0;
    /* One read transaction: the page and each one's attempts as of one
     * moment, though attempts are recorded (and old ones pruned) meanwhile. */
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = S_list(reader, mchid, before_seq, limit, out, next_seq);
    if (store_rollback(reader) != QB_OK && err == QB_OK) {
        json_decref(*out);
        *out = NULL;
        *next_seq = 0;
        err = QB_E_STORAGE;
    }
    return err;
}
