/*
 * session.c — who is calling: bearer tokens and the sessions behind them.
 *
 * A token is 32 random bytes shown once as 64 lower-case hex characters;
 * the sessions table keeps only SHA-256 of the bytes, so a copy of the
 * database opens no session. The token has 256 bits of entropy, so an
 * unkeyed hash is enough here (unlike six-digit secrets, which need a key).
 *
 * last_seen is written by a SESSION_TOUCH command at most every
 * settings.session_touch_ms, not on every request: reads stay reads, and the
 * writer sees one touch per minute per active session. It lives apart from
 * the session's row, in session_seen (seq, last_seen_at_ms), where a
 * second's touches share a few hundred pages (migration 13 says why). So
 * last_seen may lag the last real use by up to one touch interval, and a
 * session is refused once idle for session_idle_ms + session_touch_ms since
 * last_seen: never less than the idle timeout after its last use, at most
 * one touch interval more. It is refused too once revoked or at expires_at.
 * Every refusal is the same QB_E_UNAUTHORIZED, so a caller learns nothing
 * about which tokens once existed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/log.h"
#include "identity/identity.h"

#define SESSION_COLUMNS                                                                            \
    "id, user_id, device_name, created_at_ms, last_seen_at_ms, expires_at_ms, revoked_at_ms, seq"
/* seq, the join's column, needs no table name. */
#define SESSION_FROM "sessions JOIN session_seen USING (seq)"

static bool text_copy(char *dst, size_t dst_size, const char *src)
{
    size_t size = strlen(src);
    if (size >= dst_size)
        return false;
    memcpy(dst, src, size + 1);
    return true;
}

static enum qb_error session_row(struct store_stmt *st, struct identity_session *out)
{
    memset(out, 0, sizeof *out);
    if (!text_copy(out->id, sizeof out->id, store_column_text(st, 0)) ||
        !text_copy(out->user_id, sizeof out->user_id, store_column_text(st, 1)) ||
        !text_copy(out->device_name, sizeof out->device_name, store_column_text(st, 2)))
        return QB_E_STORAGE;
    out->created_at_ms = store_column_int64(st, 3);
    out->last_seen_at_ms = store_column_int64(st, 4);
    out->expires_at_ms = store_column_int64(st, 5);
    out->revoked_at_ms = store_column_int64(st, 6);
    out->seq = store_column_int64(st, 7);
    return QB_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The 32 bytes of a well-formed token; false for anything else. */
static bool token_decode(const char *token, uint8_t out[32])
{
    if (token == NULL || strnlen(token, IDENTITY_TOKEN_TEXT_SIZE) != IDENTITY_TOKEN_TEXT_SIZE - 1)
        return false;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value(token[2 * i]), lo = hex_value(token[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* --- the session cache (identity.h) ------------------------------------------------ */

#define CACHE_STRIPES 64

/* A bucket's tags (the token hash's first eight bytes, low bit set; 0:
 * empty) share one cache line, apart from the entries: a lookup reads that
 * line and the entry whose tag matches, not a line per way. */
struct cache_tags {
    _Alignas(64) uint64_t tag[IDENTITY_SESSION_CACHE_WAYS];
};

/* A stripe's counts, changed under its lock, each stripe's on a cache line
 * of its own (identity_session_cache_stats sums them). */
struct cache_counts {
    _Alignas(64) uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
};

struct cache_entry {
    uint8_t token_hash[CRYPTO_SHA256_SIZE];
    uint64_t filled; /* the fill's order, for eviction */
    struct identity_session session;
};

struct identity_session_cache {
    struct cache_tags *tags;     /* bucket_count */
    struct cache_entry *entries; /* bucket_count * IDENTITY_SESSION_CACHE_WAYS */
    size_t bucket_count;
    /* Bumped after every batch that revoked sessions, before they are
     * forgotten: a read of the table that began before a bump may have seen
     * a revoked session live, and is not kept. */
    _Atomic uint64_t revocations;
    _Atomic uint64_t fills;
    pthread_mutex_t stripes[CACHE_STRIPES];
    struct cache_counts counts[CACHE_STRIPES];
    /* The writer's alone: the sessions the running batch revoked, to be
     * forgotten once it ends; all of them when the list could not grow. */
    uint8_t (*doomed)[CRYPTO_SHA256_SIZE];
    size_t doomed_count, doomed_size;
    bool doomed_all;
};

enum qb_error identity_session_cache_new(size_t entries, struct identity_session_cache **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    size_t bucket_count = (entries + IDENTITY_SESSION_CACHE_WAYS - 1) / IDENTITY_SESSION_CACHE_WAYS;
    if (bucket_count == 0 ||
        bucket_count > SIZE_MAX / IDENTITY_SESSION_CACHE_WAYS / sizeof(struct cache_entry))
        return QB_E_PARAM;
    /* Aligned for its counts' cache lines (its size is a multiple of that). */
    struct identity_session_cache *cache =
        aligned_alloc(_Alignof(struct identity_session_cache), sizeof *cache);
    if (cache == NULL)
        return QB_E_INTERNAL;
    memset(cache, 0, sizeof *cache);
    cache->tags = aligned_alloc(_Alignof(struct cache_tags), bucket_count * sizeof *cache->tags);
    cache->entries =
        bigmem_alloc(bucket_count * IDENTITY_SESSION_CACHE_WAYS, sizeof *cache->entries);
    if (cache->tags == NULL || cache->entries == NULL) {
        free(cache->tags);
        bigmem_free(cache->entries, bucket_count * IDENTITY_SESSION_CACHE_WAYS,
                    sizeof *cache->entries);
        free(cache);
        return QB_E_INTERNAL;
    }
    memset(cache->tags, 0, bucket_count * sizeof *cache->tags);
    cache->bucket_count = bucket_count;
    atomic_init(&cache->revocations, 0);
    atomic_init(&cache->fills, 0);
    for (size_t i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_init(&cache->stripes[i], NULL);
    *out = cache;
    return QB_OK;
}

void identity_session_cache_free(struct identity_session_cache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_destroy(&cache->stripes[i]);
    /* The kernel takes the entries back and zeroes them: nothing to wipe. */
    bigmem_free(cache->entries, cache->bucket_count * IDENTITY_SESSION_CACHE_WAYS,
                sizeof *cache->entries);
    free(cache->tags);
    free(cache->doomed);
    free(cache);
}

/* A token hash's tag: its first eight bytes (uniform), never 0. */
static uint64_t cache_tag(const uint8_t hash[CRYPTO_SHA256_SIZE])
{
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    return h | 1;
}

/* The bucket of a token hash (its first eight bytes decide it) and the
 * stripe lock that guards it. */
static size_t cache_bucket(struct identity_session_cache *cache,
                           const uint8_t hash[CRYPTO_SHA256_SIZE], pthread_mutex_t **lock)
{
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    size_t bucket = (size_t)(h % cache->bucket_count);
    *lock = &cache->stripes[bucket % CACHE_STRIPES];
    return bucket;
}

/* The entry of hash in bucket (lock held), or NULL. */
static struct cache_entry *cache_find(struct identity_session_cache *cache, size_t bucket,
                                      uint64_t tag, const uint8_t hash[CRYPTO_SHA256_SIZE])
{
    const uint64_t *tags = cache->tags[bucket].tag;
    struct cache_entry *ways = &cache->entries[bucket * IDENTITY_SESSION_CACHE_WAYS];
    for (size_t i = 0; i < IDENTITY_SESSION_CACHE_WAYS; i++)
        if (tags[i] == tag && memcmp(ways[i].token_hash, hash, CRYPTO_SHA256_SIZE) == 0)
            return &ways[i];
    return NULL;
}

/* Empties e, an entry of bucket (lock held). */
static void cache_forget(struct identity_session_cache *cache, size_t bucket,
                         struct cache_entry *e)
{
    size_t way = (size_t)(e - &cache->entries[bucket * IDENTITY_SESSION_CACHE_WAYS]);
    cache->tags[bucket].tag[way] = 0;
    crypto_wipe(e, sizeof *e);
}

/* Keeps session, read after revocations had the value `seen`, unless a
 * revoking batch has ended since. evict: whether a full bucket gives up its
 * oldest fill (a load at start keeps what it filled first). Whether kept. */
static bool cache_fill(struct identity_session_cache *cache, const uint8_t hash[CRYPTO_SHA256_SIZE],
                       const struct identity_session *session, uint64_t seen, bool evict)
{
    pthread_mutex_t *lock;
    uint64_t tag = cache_tag(hash);
    size_t bucket = cache_bucket(cache, hash, &lock);
    pthread_mutex_lock(lock);
    /* Under the lock: a revocation bumps the count before it takes the
     * lock to forget, so either this sees the bump or the forget comes
     * after this fill. */
    if (atomic_load_explicit(&cache->revocations, memory_order_acquire) != seen) {
        pthread_mutex_unlock(lock);
        return false;
    }
    uint64_t *tags = cache->tags[bucket].tag;
    struct cache_entry *ways = &cache->entries[bucket * IDENTITY_SESSION_CACHE_WAYS];
    struct cache_entry *slot = cache_find(cache, bucket, tag, hash);
    for (size_t i = 0; slot == NULL && i < IDENTITY_SESSION_CACHE_WAYS; i++)
        if (tags[i] == 0)
            slot = &ways[i];
    if (slot == NULL && evict) {
        slot = &ways[0];
        for (size_t i = 1; i < IDENTITY_SESSION_CACHE_WAYS; i++)
            if (ways[i].filled < slot->filled)
                slot = &ways[i];
        cache->counts[bucket % CACHE_STRIPES].evictions++;
    }
    if (slot != NULL) {
        tags[slot - ways] = tag;
        memcpy(slot->token_hash, hash, CRYPTO_SHA256_SIZE);
        slot->filled = atomic_fetch_add_explicit(&cache->fills, 1, memory_order_relaxed) + 1;
        slot->session = *session;
    }
    pthread_mutex_unlock(lock);
    return slot != NULL;
}

/* ledger_txn_after_batch's callback of a revocation: on the writer, after
 * the batch has ended, before the revoking request is answered. */
static void cache_forget_doomed(void *arg)
{
    struct identity_session_cache *cache = arg;
    atomic_fetch_add_explicit(&cache->revocations, 1, memory_order_acq_rel);
    if (cache->doomed_all) {
        for (size_t stripe = 0; stripe < CACHE_STRIPES; stripe++) {
            pthread_mutex_lock(&cache->stripes[stripe]);
            for (size_t b = stripe; b < cache->bucket_count; b += CACHE_STRIPES) {
                memset(&cache->tags[b], 0, sizeof cache->tags[b]);
                crypto_wipe(&cache->entries[b * IDENTITY_SESSION_CACHE_WAYS],
                            IDENTITY_SESSION_CACHE_WAYS * sizeof *cache->entries);
            }
            pthread_mutex_unlock(&cache->stripes[stripe]);
        }
    }
    for (size_t i = 0; i < cache->doomed_count && !cache->doomed_all; i++) {
        pthread_mutex_t *lock;
        uint64_t tag = cache_tag(cache->doomed[i]);
        size_t bucket = cache_bucket(cache, cache->doomed[i], &lock);
        pthread_mutex_lock(lock);
        struct cache_entry *e = cache_find(cache, bucket, tag, cache->doomed[i]);
        if (e != NULL)
            cache_forget(cache, bucket, e);
        pthread_mutex_unlock(lock);
    }
    cache->doomed_count = 0;
    cache->doomed_all = false;
}

/* The session of hash leaves the cache once txn's batch has ended. */
static void cache_doom(struct ledger_txn *txn, struct identity_session_cache *cache,
                       const uint8_t hash[CRYPTO_SHA256_SIZE])
{
    if (cache->doomed_count == cache->doomed_size && !cache->doomed_all) {
        size_t size = cache->doomed_size == 0 ? 16 : cache->doomed_size * 2;
        void *grown = size <= SIZE_MAX / CRYPTO_SHA256_SIZE
                          ? realloc(cache->doomed, size * CRYPTO_SHA256_SIZE)
                          : NULL;
        if (grown != NULL) {
            cache->doomed = grown;
            cache->doomed_size = size;
        } else {
            cache->doomed_all = true; /* forgetting too much is harmless */
        }
    }
    if (!cache->doomed_all)
        memcpy(cache->doomed[cache->doomed_count++], hash, CRYPTO_SHA256_SIZE);
    ledger_txn_after_batch(txn, cache_forget_doomed, cache);
}

enum qb_error identity_txn_sessions_revoke(struct ledger_txn *txn, const struct domain_env *env,
                                           const char *sql, const struct store_param *params,
                                           size_t param_count)
{
    QB_ASSERT(txn != NULL && env != NULL && sql != NULL);
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn), sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_params(st, params, param_count);
    int rc = STORE_STEP_DONE;
    /* The users whose sessions went, each once (the callers' statements
     * name one user; should one name several, their rows need not come in
     * order, and a user named twice is only woken twice). */
    char users[4][LEDGER_OWNER_SIZE_MAX - sizeof "user:" + 1]; /* "user:" + it fits an owner */
    size_t user_count = 0;
    bool more_users = false;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        const char *row_user = store_column_text(st, 1);
        if (store_column_size(st, 0) != CRYPTO_SHA256_SIZE || row_user == NULL ||
            strlen(row_user) >= sizeof users[0]) {
            err = QB_E_STORAGE;
            break;
        }
        if (env->sessions != NULL)
            cache_doom(txn, env->sessions, store_column_blob(st, 0));
        bool known = false;
        for (size_t i = 0; i < user_count && !known; i++)
            known = strcmp(users[i], row_user) == 0;
        if (!known && user_count < QB_ARRAY_COUNT(users))
            snprintf(users[user_count++], sizeof users[0], "%s", row_user);
        else if (!known)
            more_users = true;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (more_users) /* a statement of many users' sessions: none today */
        log_event(LOG_WARN, "identity.sessions_revoked_unwoken", "users_over=%zu",
                  QB_ARRAY_COUNT(users));
    /* Each user's requests waiting for news (and those of what the layers
     * above watch for them) wake and answer 401 now, giving their places
     * back, rather than at the end of their waits. */
    for (size_t i = 0; err == QB_OK && i < user_count; i++) {
        char owner[LEDGER_OWNER_SIZE_MAX];
        int size = snprintf(owner, sizeof owner, "user:%s", users[i]);
        QB_ASSERT(size > 0 && (size_t)size < sizeof owner);
        ledger_txn_owner_changed(txn, owner);
        if (env->sessions_revoked != NULL)
            err = env->sessions_revoked(txn, env, users[i]);
    }
    return err;
}

bool identity_secret_hash(const char *token, uint8_t hash[CRYPTO_SHA256_SIZE])
{
    uint8_t raw[32];
    if (!token_decode(token, raw))
        return false;
    crypto_sha256(raw, sizeof raw, hash);
    crypto_wipe(raw, sizeof raw);
    return true;
}

/* Whether s opens now, and whether last_seen asks for a touch. */
static enum qb_error session_check(const struct domain_env *env, struct identity_session *s,
                                   bool *touch)
{
    int64_t now_ms = clock_now_ms(env->clock);
    if (!identity_session_is_live(&env->settings, s, now_ms)) {
        memset(s, 0, sizeof *s);
        return QB_E_UNAUTHORIZED;
    }
    *touch = now_ms - s->last_seen_at_ms >= env->settings.session_touch_ms;
    return QB_OK;
}

enum qb_error identity_session_authenticate_cached(const struct domain_env *env,
                                                   const char *token,
                                                   struct identity_session *out, bool *touch)
{
    QB_ASSERT(env != NULL && out != NULL && touch != NULL);
    memset(out, 0, sizeof *out);
    *touch = false;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    if (!identity_secret_hash(token, hash))
        return QB_E_UNAUTHORIZED;
    struct identity_session_cache *cache = env->sessions;
    if (cache == NULL)
        return QB_E_NOT_FOUND;
    pthread_mutex_t *lock;
    uint64_t tag = cache_tag(hash);
    size_t bucket = cache_bucket(cache, hash, &lock);
    pthread_mutex_lock(lock);
    struct cache_entry *e = cache_find(cache, bucket, tag, hash);
    struct cache_counts *counts = &cache->counts[bucket % CACHE_STRIPES];
    if (e != NULL) {
        *out = e->session;
        counts->hits++;
    } else {
        counts->misses++;
    }
    pthread_mutex_unlock(lock);
    if (e == NULL)
        return QB_E_NOT_FOUND;
    return session_check(env, out, touch);
}

void identity_session_cache_stats(struct identity_session_cache *cache,
                                  struct identity_session_cache_stats *out)
{
    QB_ASSERT(cache != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->entries = (uint64_t)cache->bucket_count * IDENTITY_SESSION_CACHE_WAYS;
    for (size_t i = 0; i < CACHE_STRIPES; i++) {
        pthread_mutex_lock(&cache->stripes[i]);
        out->hits += cache->counts[i].hits;
        out->misses += cache->counts[i].misses;
        out->evictions += cache->counts[i].evictions;
        pthread_mutex_unlock(&cache->stripes[i]);
    }
}

void identity_session_cache_touched(const struct domain_env *env, const char *token,
                                    int64_t seen_at_ms)
{
    QB_ASSERT(env != NULL);
    struct identity_session_cache *cache = env->sessions;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    if (cache == NULL || !identity_secret_hash(token, hash))
        return;
    pthread_mutex_t *lock;
    uint64_t tag = cache_tag(hash);
    size_t bucket = cache_bucket(cache, hash, &lock);
    pthread_mutex_lock(lock);
    struct cache_entry *e = cache_find(cache, bucket, tag, hash);
    if (e != NULL && e->session.last_seen_at_ms < seen_at_ms)
        e->session.last_seen_at_ms = seen_at_ms;
    pthread_mutex_unlock(lock);
}

enum qb_error identity_sessions_live_bind(struct store_stmt *st,
                                          const struct domain_settings *settings, int64_t now_ms,
                                          size_t limit)
{
    const struct store_param p[] = {
        STORE_INT(now_ms),
        STORE_INT(now_ms - settings->session_idle_ms - settings->session_touch_ms),
        STORE_INT(limit > INT64_MAX ? INT64_MAX : (int64_t)limit),
    };
    return store_bind_params(st, p, QB_ARRAY_COUNT(p));
}

enum qb_error identity_session_cache_load(const struct domain_env *env, struct store *reader,
                                          size_t *loaded)
{
    QB_ASSERT(env != NULL && reader != NULL && loaded != NULL);
    *loaded = 0;
    struct identity_session_cache *cache = env->sessions;
    if (cache == NULL)
        return QB_OK;
    uint64_t seen = atomic_load_explicit(&cache->revocations, memory_order_acquire);
    int64_t now_ms = clock_now_ms(env->clock);
    size_t capacity = cache->bucket_count * IDENTITY_SESSION_CACHE_WAYS;
    /* The most recently seen first, so that a bucket already full keeps
     * those; the filter is identity_session_is_live's. */
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " SESSION_COLUMNS ", token_hash FROM " SESSION_FROM
                      " WHERE revoked_at_ms = 0 AND expires_at_ms > $1 AND last_seen_at_ms > $2"
                      " ORDER BY last_seen_at_ms DESC LIMIT $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = identity_sessions_live_bind(st, &env->settings, now_ms, capacity);
    int rc = STORE_STEP_DONE;
    struct identity_session s;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        err = session_row(st, &s);
        if (err == QB_OK && store_column_size(st, 8) != CRYPTO_SHA256_SIZE)
            err = QB_E_STORAGE;
        if (err == QB_OK && cache_fill(cache, store_column_blob(st, 8), &s, seen, false))
            ++*loaded;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    crypto_wipe(&s, sizeof s);
    return err;
}

enum qb_error identity_session_authenticate(const struct domain_env *env, struct store *reader,
                                            const char *token, struct identity_session *out,
                                            bool *touch)
{
    QB_ASSERT(env != NULL && reader != NULL && out != NULL && touch != NULL);
    memset(out, 0, sizeof *out);
    *touch = false;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    if (!identity_secret_hash(token, hash))
        return QB_E_UNAUTHORIZED;
    /* The revocations before the row: a revoking batch that ends after
     * this read bumps them, and the row read is not kept. */
    struct identity_session_cache *cache = env->sessions;
    uint64_t seen =
        cache != NULL ? atomic_load_explicit(&cache->revocations, memory_order_acquire) : 0;

    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " SESSION_COLUMNS " FROM " SESSION_FROM " WHERE token_hash = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_blob(st, 1, hash, sizeof hash);
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = session_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_UNAUTHORIZED : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err != QB_OK) {
        memset(out, 0, sizeof *out);
        return err;
    }
    err = session_check(env, out, touch);
    if (err == QB_OK && cache != NULL)
        (void)cache_fill(cache, hash, out, seen, true);
    return err;
}

bool identity_session_is_live(const struct domain_settings *settings,
                              const struct identity_session *s, int64_t now_ms)
{
    return s->revoked_at_ms == 0 && now_ms < s->expires_at_ms &&
           now_ms - s->last_seen_at_ms < settings->session_idle_ms + settings->session_touch_ms;
}

enum qb_error identity_sessions_list(struct store *reader, const char *user_id,
                                     int64_t before_seq, struct identity_session *items, size_t count_max,
                                     size_t *count)
{
    QB_ASSERT(reader != NULL && count != NULL && (items != NULL || count_max == 0));
    *count = 0;
    if (user_id == NULL || user_id[0] == '\0' || count_max == 0)
        return QB_OK;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " SESSION_COLUMNS " FROM " SESSION_FROM " WHERE user_id = $1"
                      " AND seq < $3 ORDER BY seq DESC LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)count_max);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, before_seq > 0 ? before_seq : INT64_MAX);
    while (err == QB_OK && *count < count_max) {
        int rc = store_step(st);
        if (rc == STORE_STEP_DONE)
            break;
        if (rc != STORE_STEP_ROW) {
            err = QB_E_STORAGE;
            break;
        }
        err = session_row(st, &items[*count]);
        if (err == QB_OK)
            (*count)++;
    }
    store_finalize(st);
    if (err != QB_OK)
        *count = 0;
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}
