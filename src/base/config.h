/*
 * config.h — daemon configuration from flags and environment.
 *
 * Owns: struct config and the one place every setting is named, defaulted,
 * parsed and bounded. Precedence: command-line flag, then environment
 * variable (QIANBAO_<NAME>), then default. Every numeric setting has a
 * minimum and a maximum; a value outside them is refused at start, never
 * clamped silently.
 *
 * To add a setting: 1) a field in struct config; 2) one line in the table in
 * config.c (flag, environment name, default, min, max, help); 3) the help
 * text follows from the table; its row in docs/operations.md's table of
 * settings does not (unit/test_config fails until it is there, with the
 * same environment name, default and range).
 */
#ifndef QB_BASE_CONFIG_H
#define QB_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/assert.h"
#include "base/error.h"

#define CONFIG_PATH_SIZE_MAX 1024

struct config {
    char data_dir[CONFIG_PATH_SIZE_MAX]; /* --data-dir, QIANBAO_DATA_DIR, "./data" */
    char listen[256];                    /* --listen, QIANBAO_LISTEN, "127.0.0.1:8080" */
    char admin_listen[256];              /* --admin-listen, QIANBAO_ADMIN_LISTEN, "" (none) */
    char db_url[CONFIG_PATH_SIZE_MAX];   /* --db, QIANBAO_DB, "" = DATA_DIR/qianbao.db */
    char log_level[16];                  /* --log-level, QIANBAO_LOG_LEVEL, "info" */
    int64_t http_threads;                /* --http-threads, 1..64, default 2 */
    int64_t http_connections_max;        /* --http-connections-max, 16..100000, default 10000 */
    int64_t http_body_size_max;          /* --http-body-size-max, 1024..1048576, default 65536 */
    int64_t http_timeout_s;              /* --http-timeout-s, 1..3600, default 30 */
    int64_t executor_queue_max;          /* --executor-queue-max, 16..1048576, default 65536 */
    int64_t executor_batch_max;          /* --executor-batch-max, 1..65536, default 8192 */
    int64_t ledger_cpu;                  /* --ledger-cpu, -1..1023, default -1 (anywhere) */
    int64_t idempotency_retention_days;  /* --idempotency-retention-days, 1..3650, default 7 */
    int64_t read_connections;            /* --read-connections, 1..64, default 4 */
    int64_t session_idle_s;              /* --session-idle-s, 60..86400, default 1800 */
    int64_t session_absolute_s;          /* --session-absolute-s, 300..2592000, default 604800 */
    int64_t session_recent_s;            /* --session-recent-s, 60..86400, default 900 */
    int64_t sms_code_ttl_s;              /* --sms-code-ttl-s, 10..3600, default 300 */
    int64_t sms_cooldown_s;              /* --sms-cooldown-s, 0..3600, default 60 */
    int64_t sms_daily_max;               /* --sms-daily-max, 1..1000, default 10 */
    int64_t payment_password_lock_s;     /* --payment-password-lock-s, 1..86400, default 10800 */
    int64_t payee_lookups_per_hour;      /* --payee-lookups-per-hour, 1..1000000, default 50 */
    int64_t payee_lookups_per_day;       /* --payee-lookups-per-day, 1..1000000, default 200 */
    int64_t argon2_memory_kib;           /* --argon2-memory-kib, 8..1048576, default 65536 */
    int64_t argon2_ops;                  /* --argon2-ops, 1..10, default 2 */
    int64_t password_threads;            /* --password-threads, 1..16, default 1 */
    int64_t limit_per_payment;           /* --limit-per-payment, fen, default 2000000 (¥20,000) */
    int64_t limit_daily;                 /* --limit-daily, fen, default 5000000 (¥50,000) */
    int64_t withdrawal_fee_ppm;          /* --withdrawal-fee-ppm, 0..100000, default 1000 */
    int64_t withdrawal_fee_min;          /* --withdrawal-fee-min (fen), 0..100000, default 10 */
    int64_t withdrawal_free_quota;       /* --withdrawal-free-quota (fen), 0..10^12, default 0 */
    int64_t red_packet_max;              /* --red-packet-max (fen), 1..100000000, default 20000 */
    int64_t red_packet_expiry_s;         /* --red-packet-expiry-s, 1..604800, default 86400 */
    int64_t paycode_confirm_s;           /* --paycode-confirm-s, 1..600, default 30 */
    int64_t v3_signed_per_s;             /* --v3-signed-per-s, 1..50000, default 2600 */
    int64_t session_cache;               /* --session-cache, 8..16777216, default 262144 */
    int64_t verify_interval_h;           /* --verify-interval-h, 0..168, default 24 (0: off) */
    char sms_provider_url[CONFIG_PATH_SIZE_MAX]; /* --sms-provider-url, "" = the outbox */
    char sms_body_template[CONFIG_PATH_SIZE_MAX]; /* --sms-body-template */
    bool allow_private_notify;           /* --allow-private-notify: notify_urls may be private */
    bool trust_new_devices;              /* --trust-new-devices: no SMS code for a new device */
    bool verify;                         /* --verify: check the ledger and exit */
    bool rebuild_checkpoints;            /* --rebuild-checkpoints: repair, check, exit */
    bool reseal_audit_trail;             /* --reseal-audit-trail: repair, check, exit */
    char platform_key_rotate[16];        /* --platform-key-rotate begin|finish|cancel, "" */
    bool help;                           /* --help, or -h */
    bool version;                        /* --version */
};

/* 0 for a step of --platform-key-rotate ("begin", "finish", "cancel"),
 * -1 for anything else. */
int config_platform_key_step(const char *text);

/* Fills cfg with defaults, then the environment, then argv. On a bad flag or
 * value writes one line naming it into err (err_size bytes) and returns
 * QB_E_PARAM. */
QB_MUST_USE enum qb_error config_load(struct config *cfg, int argc, char **argv, char *err,
                                      size_t err_size);

/* Calls report for each QIANBAO_* variable of the environment that names
 * no setting (a typo, QIANBAO_DATADIR, is otherwise silently ignored),
 * leaving out the test builds' QIANBAO_TEST_* and the CLI's QIANBAO_SERVER
 * and QIANBAO_ADMIN_TOKEN, which a shared environment may hold. */
void config_environment_unknown(void (*report)(const char *name, size_t name_size));

/* Writes the usage text, generated from the settings table. */
void config_usage(FILE *out);

#endif
