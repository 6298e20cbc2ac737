/*
 * security.c — the security centre's score: a checklist over what the
 * user has set up and what happened to the account lately.
 *
 *   payment_password_set   25  a payment password guards every payment
 *   kyc_level_2            25  a verified real name
 *   no_recent_new_devices  15  no login from a device without a live key of
 *                              the account in the last 7 days (the first
 *                              device ever is how the account began, not a
 *                              warning sign)
 *   no_recent_lockouts     20  no payment-password or login lock in the last 30 days
 *   not_frozen             15
 *
 * The events come from security_events, written by the identity commands
 * (cmd.c) in the same transaction as what they record; the user and the
 * operator read them as a history (identity_security_events).
 */
#include <string.h>

#include "identity/identity.h"

#define DAY_MS (24LL * 60 * 60 * 1000)

/* Counts events of the user since since_ms with a query whose $1 is the
 * user id and $2 the time. */
static enum qb_error events_count(struct store *reader, const char *sql, const char *user_id,
                                  int64_t since_ms, int64_t *count)
{
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, since_ms);
    if (err == QB_OK) {
        if (store_step(st) == STORE_STEP_ROW)
            *count = store_column_int64(st, 0);
        else
            err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error identity_security_status(const struct domain_env *env, struct store *reader,
                                       const char *user_id,
                                       struct identity_security_item items[IDENTITY_SECURITY_ITEMS],
                                       int *score)
{
    QB_ASSERT(env != NULL && reader != NULL && items != NULL && score != NULL);
    *score = 0;
    struct identity_user user;
    enum qb_error err = identity_user_get(reader, user_id, &user);
    if (err != QB_OK)
        return err;
    int64_t now_ms = clock_now_ms(env->clock);

    int64_t new_devices = 0, lockouts = 0;
    err = events_count(reader,
                       "SELECT COUNT(*) FROM security_events WHERE user_id = $1"
                       " AND kind = 'new_device' AND created_at_ms >= $2 AND id > ("
                       "SELECT MIN(id) FROM security_events"
                       " WHERE user_id = $1 AND kind = 'new_device')",
                       user_id, now_ms - 7 * DAY_MS, &new_devices);
    if (err == QB_OK)
        err = events_count(reader,
                           "SELECT COUNT(*) FROM security_events WHERE user_id = $1"
                           " AND kind = 'lockout' AND created_at_ms >= $2",
                           user_id, now_ms - 30 * DAY_MS, &lockouts);
    if (err != QB_OK)
        return err;

    const struct identity_security_item checklist[IDENTITY_SECURITY_ITEMS] = {
        {"payment_password_set", user.payment_password_set, 25},
        {"kyc_level_2", user.kyc_level >= 2, 25},
        {"no_recent_new_devices", new_devices == 0, 15},
        {"no_recent_lockouts", lockouts == 0, 20},
        {"not_frozen", user.status != IDENTITY_FROZEN, 15},
    };
    int total = 0;
    for (size_t i = 0; i < IDENTITY_SECURITY_ITEMS; i++) {
        items[i] = checklist[i];
        total += checklist[i].weight;
        if (checklist[i].ok)
            *score += checklist[i].weight;
    }
    QB_ASSERT(total == 100 && *score >= 0 && *score <= 100);
    return QB_OK;
}

enum qb_error identity_security_events(struct store *reader, const char *user_id, int64_t before_id,
                                       struct identity_security_event *items, size_t count_max,
                                       size_t *count)
{
    QB_ASSERT(reader != NULL && user_id != NULL && items != NULL && count != NULL);
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT id, kind, detail, created_at_ms FROM security_events"
                      " WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, before_id > 0 ? before_id : INT64_MAX);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, (int64_t)count_max);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < count_max && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct identity_security_event *e = &items[*count];
        e->id = store_column_int64(st, 0);
        store_column_text_copy(st, 1, e->kind, sizeof e->kind);
        store_column_text_copy(st, 2, e->detail, sizeof e->detail);
        e->created_at_ms = store_column_int64(st, 3);
        (*count)++;
    }
    store_finalize(st);
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    return err;
}
