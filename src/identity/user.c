/*
 * user.c — reading users: by id, by phone, their password hash, and the
 * operators' search by phone prefix.
 *
 * Every function takes the connection to read with. HTTP threads pass a read
 * connection (committed data only); commands pass ledger_txn_store(txn) and
 * so see their own batch's uncommitted rows, which is what a command that
 * first reads a user and then changes it needs.
 *
 * Statements are prepared per call and finalized before returning: these
 * reads are not hot, and a statement kept across calls would pin a read
 * snapshot or belong to a connection another thread takes next.
 */
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "identity/identity.h"

/* The columns identity_user_row reads, in order. */
#define USER_COLUMNS                                                                               \
    "id, CASE status WHEN 3 THEN closed_phone ELSE phone END, display_name, kyc_level, status,"    \
    " frozen_by, CASE WHEN payment_password_hash IS NULL THEN 0 ELSE 1 END,"                       \
    " payment_password_failures, payment_password_locked_until_ms,"                                \
    " COALESCE(id_number_last4, ''), account_id, created_at_ms, login_locked_until_ms, seq,"       \
    " closed_at_ms"

static bool text_copy(char *dst, size_t dst_size, const char *src)
{
    size_t size = strlen(src);
    if (size >= dst_size)
        return false;
    memcpy(dst, src, size + 1);
    return true;
}

/* Reads the current row of a USER_COLUMNS statement. QB_E_STORAGE when a
 * stored value does not fit its field (the database was changed by hand). */
static enum qb_error user_row(struct store_stmt *st, struct identity_user *out)
{
    memset(out, 0, sizeof *out);
    if (!text_copy(out->id, sizeof out->id, store_column_text(st, 0)) ||
        !text_copy(out->phone, sizeof out->phone, store_column_text(st, 1)) ||
        !text_copy(out->display_name, sizeof out->display_name, store_column_text(st, 2)) ||
        !text_copy(out->id_number_last4, sizeof out->id_number_last4, store_column_text(st, 9)))
        return QB_E_STORAGE;
    out->kyc_level = (int)store_column_int64(st, 3);
    out->status = (enum identity_status)store_column_int64(st, 4);
    out->frozen_by = (enum identity_frozen_by)store_column_int64(st, 5);
    out->payment_password_set = store_column_int64(st, 6) != 0;
    out->payment_password_failures = (int)store_column_int64(st, 7);
    out->payment_password_locked_until_ms = store_column_int64(st, 8);
    out->account_id = store_column_int64(st, 10);
    out->created_at_ms = store_column_int64(st, 11);
    out->login_locked_until_ms = store_column_int64(st, 12);
    out->seq = store_column_int64(st, 13);
    out->closed_at_ms = store_column_int64(st, 14);
    return QB_OK;
}

/* user_row, and column 15, the payment password's fingerprint (zeros when
 * none is set). */
static enum qb_error user_row_secret(struct store_stmt *st, struct identity_user *out,
                                     uint8_t hash[CRYPTO_SHA256_SIZE])
{
    memset(hash, 0, CRYPTO_SHA256_SIZE);
    enum qb_error err = user_row(st, out);
    if (err != QB_OK || !out->payment_password_set)
        return err;
    if (store_column_size(st, 15) != CRYPTO_SHA256_SIZE)
        return QB_E_STORAGE;
    memcpy(hash, store_column_blob(st, 15), CRYPTO_SHA256_SIZE);
    return QB_OK;
}

/* Runs "SELECT USER_COLUMNS FROM users WHERE <column> = $1" for one row. */
static enum qb_error user_get_by(struct store *reader, const char *sql, const char *value,
                                 struct identity_user *out)
{
    QB_ASSERT(reader != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (value == NULL || value[0] == '\0')
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(reader, sql, &st);
    if (err != QB_OK)
        return QB_E_STORAGE;
    err = store_bind_text(st, 1, value, strlen(value));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = user_row(st, out);
        else if (rc == STORE_STEP_DONE)
            err = QB_E_NOT_FOUND;
        else
            err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* --- the writer's user cache (identity.h) ------------------------------------------ */

#define USER_CACHE_WAYS 8

/* A bucket's eight keys share one cache line, apart from the entries: a
 * lookup reads that line and then the one entry that matches, where keys
 * inside the entries cost a memory read per way (5 % of the writer's
 * samples under the transfer benchmark). */
struct user_bucket_keys {
    _Alignas(64) uint64_t key[USER_CACHE_WAYS]; /* user_key of the id; 0: empty */
};

struct user_entry {
    uint64_t filled; /* fill order, for eviction */
    struct identity_user user;
    bool payment_password_set;
    uint8_t payment_password_hash[CRYPTO_SHA256_SIZE];
};

struct identity_user_cache {
    struct user_bucket_keys *keys; /* bucket_count */
    struct user_entry *entries;    /* bucket_count * USER_CACHE_WAYS */
    size_t bucket_count;
    uint64_t fills;
    bool fills_blocked; /* a user was written in this batch */
};

enum qb_error identity_user_cache_new(size_t entries, struct identity_user_cache **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    size_t bucket_count = (entries + USER_CACHE_WAYS - 1) / USER_CACHE_WAYS;
    if (bucket_count == 0 ||
        bucket_count > SIZE_MAX / USER_CACHE_WAYS / sizeof(struct user_entry))
        return QB_E_PARAM;
    struct identity_user_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return QB_E_INTERNAL;
    cache->keys = aligned_alloc(_Alignof(struct user_bucket_keys),
                                bucket_count * sizeof *cache->keys);
    cache->entries = bigmem_alloc(bucket_count * USER_CACHE_WAYS, sizeof *cache->entries);
    if (cache->keys == NULL || cache->entries == NULL) {
        free(cache->keys);
        bigmem_free(cache->entries, bucket_count * USER_CACHE_WAYS, sizeof *cache->entries);
        free(cache);
        return QB_E_INTERNAL;
    }
    memset(cache->keys, 0, bucket_count * sizeof *cache->keys);
    cache->bucket_count = bucket_count;
    *out = cache;
    return QB_OK;
}

void identity_user_cache_free(struct identity_user_cache *cache)
{
    if (cache == NULL)
        return;
    /* The kernel takes the entries back and zeroes them: nothing to wipe. */
    bigmem_free(cache->entries, cache->bucket_count * USER_CACHE_WAYS, sizeof *cache->entries);
    free(cache->keys);
    free(cache);
}

/* FNV-1a of the id, never 0 (0 marks an empty entry). */
static uint64_t user_key(const char *id)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3u;
    return h != 0 ? h : 1;
}

/* The index of id's entry, or SIZE_MAX; *bucket: the first of its bucket. */
static size_t user_find(const struct identity_user_cache *cache, const char *id, uint64_t key,
                        size_t *bucket)
{
    size_t b = (size_t)(key % cache->bucket_count);
    *bucket = b * USER_CACHE_WAYS;
    const uint64_t *keys = cache->keys[b].key;
    for (size_t i = 0; i < USER_CACHE_WAYS; i++)
        if (keys[i] == key && strcmp(cache->entries[*bucket + i].user.id, id) == 0)
            return *bucket + i;
    return SIZE_MAX;
}

/* Keeps user; evict: whether a full bucket gives up its oldest fill (a load
 * at start keeps what it filled first). Whether kept. */
static bool user_fill(struct identity_user_cache *cache, const struct identity_user *user,
                      bool payment_password_set, const uint8_t *payment_password_hash, bool evict)
{
    uint64_t key = user_key(user->id);
    size_t bucket;
    size_t at = user_find(cache, user->id, key, &bucket);
    uint64_t *keys = cache->keys[bucket / USER_CACHE_WAYS].key;
    for (size_t i = 0; at == SIZE_MAX && i < USER_CACHE_WAYS; i++)
        if (keys[i] == 0)
            at = bucket + i;
    if (at == SIZE_MAX && !evict)
        return false;
    if (at == SIZE_MAX) {
        at = bucket;
        for (size_t i = 1; i < USER_CACHE_WAYS; i++)
            if (cache->entries[bucket + i].filled < cache->entries[at].filled)
                at = bucket + i;
    }
    struct user_entry *slot = &cache->entries[at];
    keys[at - bucket] = key;
    slot->filled = ++cache->fills;
    slot->user = *user;
    slot->payment_password_set = payment_password_set;
    if (payment_password_set)
        memcpy(slot->payment_password_hash, payment_password_hash, CRYPTO_SHA256_SIZE);
    else
        memset(slot->payment_password_hash, 0, CRYPTO_SHA256_SIZE);
    return true;
}

static void user_fills_resume(void *arg)
{
    struct identity_user_cache *cache = arg;
    cache->fills_blocked = false;
}

void identity_user_written(struct ledger_txn *txn, const struct domain_env *env,
                           const char *user_id)
{
    struct identity_user_cache *cache = env->users;
    if (cache == NULL)
        return;
    size_t bucket;
    size_t at = user_find(cache, user_id, user_key(user_id), &bucket);
    if (at != SIZE_MAX) {
        cache->keys[bucket / USER_CACHE_WAYS].key[at - bucket] = 0;
        crypto_wipe(&cache->entries[at], sizeof cache->entries[at]);
    }
    /* Until the batch ends, what a read sees may yet be rolled back (this
     * command, or the whole batch): nothing read now is kept. */
    cache->fills_blocked = true;
    ledger_txn_after_batch(txn, user_fills_resume, cache);
}

enum qb_error identity_txn_user_read(struct ledger_txn *txn, const struct domain_env *env,
                                     const char *user_id, struct identity_user *out,
                                     uint8_t payment_password_hash[CRYPTO_SHA256_SIZE])
{
    QB_ASSERT(txn != NULL && env != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (user_id == NULL || user_id[0] == '\0')
        return QB_E_NOT_FOUND;
    struct identity_user_cache *cache = env->users;
    size_t bucket;
    size_t at = cache != NULL ? user_find(cache, user_id, user_key(user_id), &bucket) : SIZE_MAX;
    const struct user_entry *e = at != SIZE_MAX ? &cache->entries[at] : NULL;
    if (e != NULL) {
        *out = e->user;
        if (payment_password_hash != NULL)
            memcpy(payment_password_hash, e->payment_password_hash, CRYPTO_SHA256_SIZE);
        return QB_OK;
    }
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn),
                      "SELECT " USER_COLUMNS ", payment_password_hash FROM users WHERE id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    uint8_t hash[CRYPTO_SHA256_SIZE] = {0};
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = user_row_secret(st, out, hash);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err != QB_OK) {
        memset(out, 0, sizeof *out);
        return err;
    }
    if (cache != NULL && !cache->fills_blocked)
        (void)user_fill(cache, out, out->payment_password_set, hash, true);
    if (payment_password_hash != NULL)
        memcpy(payment_password_hash, hash, sizeof hash);
    crypto_wipe(hash, sizeof hash);
    return QB_OK;
}

struct user_load_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    size_t loaded;
};

static enum qb_error user_load_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct user_load_cmd *c = (struct user_load_cmd *)cmd;
    struct identity_user_cache *cache = c->env->users;
    int64_t now_ms = ledger_txn_now_ms(txn);
    size_t capacity = cache->bucket_count * USER_CACHE_WAYS;
    /* The users of the sessions that open now (identity_session_is_live's
     * filter), the most recently seen first. */
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn),
                      "SELECT " USER_COLUMNS ", payment_password_hash FROM"
                      " (SELECT user_id, MAX(last_seen_at_ms) AS seen"
                      "  FROM sessions JOIN session_seen USING (seq)"
                      "  WHERE revoked_at_ms = 0 AND expires_at_ms > $1 AND last_seen_at_ms > $2"
                      "  GROUP BY user_id ORDER BY seen DESC LIMIT $3)"
                      " JOIN users ON users.id = user_id ORDER BY seen DESC",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = identity_sessions_live_bind(st, &c->env->settings, now_ms, capacity);
    int rc = STORE_STEP_DONE;
    struct identity_user user;
    uint8_t hash[CRYPTO_SHA256_SIZE] = {0};
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        err = user_row_secret(st, &user, hash);
        if (err == QB_OK && !cache->fills_blocked &&
            user_fill(cache, &user, user.payment_password_set, hash, false))
            c->loaded++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    crypto_wipe(&user, sizeof user);
    crypto_wipe(hash, sizeof hash);
    return err;
}

enum qb_error identity_user_cache_load(struct ledger *ledger, const struct domain_env *env,
                                       size_t *loaded)
{
    QB_ASSERT(ledger != NULL && env != NULL && loaded != NULL);
    *loaded = 0;
    if (env->users == NULL)
        return QB_OK;
    struct user_load_cmd c;
    memset(&c, 0, sizeof c);
    c.env = env;
    ledger_cmd_init(&c.cmd, user_load_run, NULL);
    enum qb_error err = ledger_execute(ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    *loaded = c.loaded;
    return err;
}

enum qb_error identity_txn_user_get(struct ledger_txn *txn, const struct domain_env *env,
                                    const char *user_id, struct identity_user *out)
{
    return identity_txn_user_read(txn, env, user_id, out, NULL);
}

enum qb_error identity_user_get(struct store *reader, const char *user_id,
                                struct identity_user *out)
{
    return user_get_by(reader, "SELECT " USER_COLUMNS " FROM users WHERE id = $1", user_id, out);
}

enum qb_error identity_user_find_by_phone(struct store *reader, const char *phone,
                                          struct identity_user *out)
{
    return user_get_by(reader, "SELECT " USER_COLUMNS " FROM users WHERE phone = $1", phone, out);
}

enum qb_error identity_user_password_hash(struct store *reader, const char *user_id,
                                          char out[IDENTITY_PASSWORD_HASH_SIZE_MAX])
{
    QB_ASSERT(reader != NULL && out != NULL);
    out[0] = '\0';
    if (user_id == NULL || user_id[0] == '\0')
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT password_hash FROM users WHERE id = $1", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = text_copy(out, IDENTITY_PASSWORD_HASH_SIZE_MAX, store_column_text(st, 0))
                      ? QB_OK
                      : QB_E_STORAGE;
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* Phones are digits, so a prefix is a range: [prefix, prefix with its last
 * digit raised by one) — '9' + 1 is ':', which sorts after every digit.
 * Unlike LIKE this needs no escaping and uses the unique index on phone. A
 * prefix with anything but digits matches no phone at all. */
enum qb_error identity_users_search(struct store *reader, const char *phone_prefix,
                                    int64_t before_seq, struct identity_user *items, size_t count_max, size_t *count)
{
    QB_ASSERT(reader != NULL && count != NULL && (items != NULL || count_max == 0));
    *count = 0;
    if (phone_prefix == NULL)
        phone_prefix = "";
    size_t size = strnlen(phone_prefix, SMS_PHONE_SIZE_MAX);
    if (size >= SMS_PHONE_SIZE_MAX)
        return QB_OK;
    for (size_t i = 0; i < size; i++)
        if (phone_prefix[i] < '0' || phone_prefix[i] > '9')
            return QB_OK;
    if (count_max == 0)
        return QB_OK;

    char upper[SMS_PHONE_SIZE_MAX];
    memcpy(upper, phone_prefix, size + 1);
    if (size > 0)
        upper[size - 1] = (char)(upper[size - 1] + 1);
    const char *sql = size == 0 ? "SELECT " USER_COLUMNS " FROM users WHERE seq < $2"
                                  " ORDER BY seq DESC LIMIT $1"
                                : "SELECT " USER_COLUMNS
                                  " FROM users WHERE seq < $2 AND (phone >= $3 AND phone < $4"
                                  " OR status = 3 AND closed_phone >= $3 AND closed_phone < $4)"
                                  " ORDER BY seq DESC LIMIT $1";
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, (int64_t)count_max);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, before_seq > 0 ? before_seq : INT64_MAX);
    if (err == QB_OK && size > 0)
        err = store_bind_text(st, 3, phone_prefix, size);
    if (err == QB_OK && size > 0)
        err = store_bind_text(st, 4, upper, size);
    while (err == QB_OK && *count < count_max) {
        int rc = store_step(st);
        if (rc == STORE_STEP_DONE)
            break;
        if (rc != STORE_STEP_ROW) {
            err = QB_E_STORAGE;
            break;
        }
        err = user_row(st, &items[*count]);
        if (err == QB_OK)
            (*count)++;
    }
    store_finalize(st);
    if (err != QB_OK)
        *count = 0;
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}
