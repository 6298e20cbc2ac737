/*
 * config.c — the settings table and its one parser.
 *
 * Every setting is one row of config_settings: its flag, its environment
 * variable, where it lives in struct config, its default and bounds, and its
 * help text. config_load and config_usage both walk the table, so a setting
 * cannot be parsed without being documented, or bounded differently in two
 * places. Values are validated strictly: integers are optional '-' and
 * decimal digits only (no spaces, '+', hex or suffixes), inside [min, max];
 * text must fit its field. A bad value is refused, never clamped.
 *
 * To add a setting: 1) a field in struct config (config.h); 2) one row in
 * config_settings below; 3) its row in docs/operations.md from `qianbaod
 * --help` (unit/test_config compares the two).
 */
#include "base/config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

enum config_kind { CONFIG_TEXT, CONFIG_INT, CONFIG_BOOL };

struct config_setting {
    const char *flag;        /* without the leading "--" */
    const char *env;         /* QIANBAO_..., or NULL for flag-only settings */
    enum config_kind kind;
    size_t offset;           /* of the field in struct config */
    size_t text_size_max;    /* CONFIG_TEXT: the field's size, NUL included */
    const char *text_default;
    bool text_empty_ok;
    int (*text_check)(const char *text); /* CONFIG_TEXT: >= 0 when valid */
    int64_t int_default;
    int64_t int_min;
    int64_t int_max;
    const char *value_name; /* in usage: --data-dir DIR */
    const char *help;
};

#define CONFIG_TEXT_ROW(flag, env, field, def, empty_ok, check, value_name, help)          \
    {flag, env, CONFIG_TEXT, offsetof(struct config, field),                               \
     sizeof(((struct config *)0)->field), def, empty_ok, check, 0, 0, 0, value_name, help}
#define CONFIG_INT_ROW(flag, env, field, def, min, max, help) \
    {flag, env, CONFIG_INT, offsetof(struct config, field), 0, NULL, false, NULL, def, min, max, "N", help}
#define CONFIG_BOOL_ROW(flag, field, help) \
    {flag, NULL, CONFIG_BOOL, offsetof(struct config, field), 0, NULL, false, NULL, 0, 0, 1, NULL, help}

int config_platform_key_step(const char *text)
{
    return strcmp(text, "begin") == 0 || strcmp(text, "finish") == 0 || strcmp(text, "cancel") == 0
               ? 0
               : -1;
}

static const struct config_setting config_settings[] = {
    CONFIG_TEXT_ROW("data-dir", "QIANBAO_DATA_DIR", data_dir, "./data", false, NULL, "DIR",
                    "directory for the database and secret files"),
    CONFIG_TEXT_ROW("listen", "QIANBAO_LISTEN", listen, "127.0.0.1:8080", false, NULL, "ADDR:PORT",
                    "address the HTTP server listens on"),
    CONFIG_TEXT_ROW("admin-listen", "QIANBAO_ADMIN_LISTEN", admin_listen, "", true, NULL,
                    "ADDR:PORT",
                    "serve /admin and /metrics on this address alone; empty: on --listen"),
    CONFIG_TEXT_ROW("db", "QIANBAO_DB", db_url, "", true, NULL, "URL",
                    "database; empty means DATA_DIR/qianbao.db (SQLite)"),
    CONFIG_TEXT_ROW("log-level", "QIANBAO_LOG_LEVEL", log_level, "info", false, log_level_parse,
                    "LEVEL", "lowest level logged: debug, info, warn or error"),
    CONFIG_INT_ROW("http-threads", "QIANBAO_HTTP_THREADS", http_threads, 2, 1, 64,
                   "threads serving HTTP requests"),
    CONFIG_INT_ROW("http-connections-max", "QIANBAO_HTTP_CONNECTIONS_MAX", http_connections_max,
                   10000, 16, 100000, "open HTTP connections at most"),
    CONFIG_INT_ROW("http-body-size-max", "QIANBAO_HTTP_BODY_SIZE_MAX", http_body_size_max, 65536,
                   1024, 1048576, "request body bytes at most"),
    CONFIG_INT_ROW("http-timeout-s", "QIANBAO_HTTP_TIMEOUT_S", http_timeout_s, 30, 1, 3600,
                   "a request not whole this many seconds after its first byte, or a connection "
                   "silent this long, is closed"),
    CONFIG_INT_ROW("executor-queue-max", "QIANBAO_EXECUTOR_QUEUE_MAX", executor_queue_max, 65536,
                   16, 1048576, "ledger commands waiting at most (then busy)"),
    CONFIG_INT_ROW("executor-batch-max", "QIANBAO_EXECUTOR_BATCH_MAX", executor_batch_max, 8192, 1,
                   65536, "ledger commands per commit at most"),
    CONFIG_INT_ROW("ledger-cpu", "QIANBAO_LEDGER_CPU", ledger_cpu, -1, -1, 1023,
                   "the one CPU the ledger's writer thread runs on (-1: any)"),
    CONFIG_INT_ROW("idempotency-retention-days", "QIANBAO_IDEMPOTENCY_RETENTION_DAYS",
                   idempotency_retention_days, 7, 1, 3650,
                   "days an Idempotency-Key is remembered at least (a retry within them is "
                   "answered as the first request was)"),
    CONFIG_INT_ROW("read-connections", "QIANBAO_READ_CONNECTIONS", read_connections, 4, 1, 64,
                   "database connections for reads"),
    CONFIG_INT_ROW("session-idle-s", "QIANBAO_SESSION_IDLE_S", session_idle_s, 1800, 60, 86400,
                   "a session unused this many seconds ends"),
    CONFIG_INT_ROW("session-absolute-s", "QIANBAO_SESSION_ABSOLUTE_S", session_absolute_s, 604800,
                   300, 2592000, "a session ends this many seconds after login"),
    CONFIG_INT_ROW("session-recent-s", "QIANBAO_SESSION_RECENT_S", session_recent_s, 900, 60, 86400,
                   "a session may end the account's other sessions this many seconds after "
                   "its login, no later"),
    CONFIG_INT_ROW("sms-code-ttl-s", "QIANBAO_SMS_CODE_TTL_S", sms_code_ttl_s, 300, 10, 3600,
                   "an SMS code is valid this many seconds"),
    CONFIG_INT_ROW("sms-cooldown-s", "QIANBAO_SMS_COOLDOWN_S", sms_cooldown_s, 60, 0, 3600,
                   "seconds between two codes for one phone and purpose"),
    CONFIG_INT_ROW("sms-daily-max", "QIANBAO_SMS_DAILY_MAX", sms_daily_max, 10, 1, 1000,
                   "SMS codes per phone per day (UTC+8) at most"),
    CONFIG_INT_ROW("payment-password-lock-s", "QIANBAO_PAYMENT_PASSWORD_LOCK_S",
                   payment_password_lock_s, 10800, 1, 86400,
                   "seconds a payment password stays locked after too many wrong tries"),
    CONFIG_INT_ROW("payee-lookups-per-hour", "QIANBAO_PAYEE_LOOKUPS_PER_HOUR",
                   payee_lookups_per_hour, 50, 1, 1000000,
                   "phone numbers one user may look up as payees in an hour"),
    CONFIG_INT_ROW("payee-lookups-per-day", "QIANBAO_PAYEE_LOOKUPS_PER_DAY", payee_lookups_per_day,
                   200, 1, 1000000, "phone numbers one user may look up as payees in a day"),
    CONFIG_INT_ROW("argon2-memory-kib", "QIANBAO_ARGON2_MEMORY_KIB", argon2_memory_kib, 65536, 8,
                   1048576, "memory of one login-password hash (Argon2id), KiB"),
    CONFIG_INT_ROW("argon2-ops", "QIANBAO_ARGON2_OPS", argon2_ops, 2, 1, 10,
                   "passes of one login-password hash (Argon2id)"),
    CONFIG_INT_ROW("password-threads", "QIANBAO_PASSWORD_THREADS", password_threads, 1, 1, 16,
                   "threads hashing and checking login passwords (Argon2id), each using "
                   "--argon2-memory-kib while it works"),
    CONFIG_INT_ROW("limit-per-payment", "QIANBAO_LIMIT_PER_PAYMENT", limit_per_payment, 2000000, 1,
                   1000000000000, "one payment from the balance at most, in fen"),
    CONFIG_INT_ROW("limit-daily", "QIANBAO_LIMIT_DAILY", limit_daily, 5000000, 1, 1000000000000,
                   "payments from the balance per user per day (UTC+8) at most, in fen"),
    CONFIG_INT_ROW("withdrawal-fee-ppm", "QIANBAO_WITHDRAWAL_FEE_PPM", withdrawal_fee_ppm, 1000, 0,
                   100000, "withdrawal fee in millionths of the amount (1000 = 0.1 %), rounded up"),
    CONFIG_INT_ROW("withdrawal-fee-min", "QIANBAO_WITHDRAWAL_FEE_MIN", withdrawal_fee_min, 10, 0,
                   100000, "lowest withdrawal fee, in minor units (fen)"),
    CONFIG_INT_ROW("withdrawal-free-quota", "QIANBAO_WITHDRAWAL_FREE_QUOTA", withdrawal_free_quota,
                   0, 0, 1000000000000,
                   "what each user may withdraw without a fee in their wallet's lifetime, in fen "
                   "(0: none)"),
    CONFIG_INT_ROW("red-packet-max", "QIANBAO_RED_PACKET_MAX", red_packet_max, 20000, 1, 100000000,
                   "one red packet's total at most, in fen"),
    CONFIG_INT_ROW("red-packet-expiry-s", "QIANBAO_RED_PACKET_EXPIRY_S", red_packet_expiry_s, 86400,
                   1, 604800, "seconds after sending when a red packet's unclaimed money returns"),
    CONFIG_INT_ROW("paycode-confirm-s", "QIANBAO_PAYCODE_CONFIRM_S", paycode_confirm_s, 30, 1, 600,
                   "seconds a payment-code order waits for its payer's password"),
    CONFIG_INT_ROW("session-cache", "QIANBAO_SESSION_CACHE", session_cache, 262144, 8, 16777216,
                   "sessions kept in memory to authenticate requests without a read, and as "
                   "many users in the ledger's (16 bytes each at start, up to 504 as used); "
                   "twice the sessions in use at once keeps nearly all"),
    CONFIG_INT_ROW("v3-signed-per-s", "QIANBAO_V3_SIGNED_PER_S", v3_signed_per_s, 2600, 1, 50000,
                   "signed /v3 requests a second, kept up for ten minutes, whose nonces the "
                   "daemon remembers, for all merchants (about 25 KiB of memory for each, "
                   "taken as used); one merchant may hold no more of it than is still free"),
    CONFIG_INT_ROW("verify-interval-h", "QIANBAO_VERIFY_INTERVAL_H", verify_interval_h, 24, 0, 168,
                   "hours between the daemon's own checks of the ledger, the first this long "
                   "after start (0: only when an operator asks)"),
    CONFIG_TEXT_ROW("sms-provider-url", "QIANBAO_SMS_PROVIDER_URL", sms_provider_url, "", true,
                    NULL, "URL",
                    "SMS provider to POST codes to (http:// or https://); empty keeps them "
                    "in the outbox at /admin/sms-outbox"),
    CONFIG_TEXT_ROW("sms-body-template", "QIANBAO_SMS_BODY_TEMPLATE", sms_body_template,
                    "{\"phone\":\"{phone}\",\"code\":\"{code}\",\"purpose\":\"{purpose}\","
                    "\"text\":\"{text}\"}",
                    false, NULL, "JSON",
                    "body posted to the SMS provider; {phone}, {code}, {purpose}, {text} (the "
                    "whole message), {detail} (what the code authorises), {card_last4} and "
                    "{wallet_phone} are replaced"),
    CONFIG_BOOL_ROW("allow-private-notify", allow_private_notify,
                    "let merchants' notify_urls point at loopback and private addresses"),
    CONFIG_BOOL_ROW("trust-new-devices", trust_new_devices,
                    "log in from a device new to an account with the password alone (no SMS "
                    "code of purpose new_device)"),
    CONFIG_BOOL_ROW("verify", verify, "check the ledger and exit"),
    CONFIG_BOOL_ROW("rebuild-checkpoints", rebuild_checkpoints,
                    "rewrite the account checkpoints from a journal that verifies, then check "
                    "the ledger and exit (the daemon stopped)"),
    CONFIG_BOOL_ROW("reseal-audit-trail", reseal_audit_trail,
                    "seal the operators' audit trail again as it stands, recording the repair on "
                    "it, then check the ledger and exit (the daemon stopped)"),
    CONFIG_TEXT_ROW("platform-key-rotate", NULL, platform_key_rotate, "", true,
                    config_platform_key_step, "STEP",
                    "rotate the merchant API's platform key (the daemon stopped), then exit: "
                    "begin (a next key, published at /v3/certificates), finish (it signs from "
                    "then on), cancel"),
    CONFIG_BOOL_ROW("help", help, "print this help and exit (-h too)"),
    CONFIG_BOOL_ROW("version", version, "print the version and exit"),
};

/* Writes one line into err; always NUL-terminates when err_size > 0. */
__attribute__((format(printf, 3, 4))) static void config_error(char *err, size_t err_size,
                                                                const char *fmt, ...);

static void config_error(char *err, size_t err_size, const char *fmt, ...)
{
    if (err == NULL || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    /* A value may hold a newline; the message stays one line. */
    for (char *p = err; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

/* Strict decimal: [-]digits, no spaces, no '+', no leading zeros beyond "0",
 * no "-0", inside int64_t. *too_large: the digits were right but outside it. */
static bool config_parse_int(const char *text, int64_t *value, bool *too_large)
{
    *too_large = false;
    const char *p = text;
    bool negative = *p == '-';
    if (negative)
        p++;
    if (*p < '0' || *p > '9')
        return false;
    if (p[0] == '0' && (p[1] != '\0' || negative))
        return false;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t magnitude = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned int digit = (unsigned int)(*p - '0');
        if (magnitude > (limit - digit) / 10) {
            *too_large = strspn(p, "0123456789") == strlen(p);
            return false;
        }
        magnitude = magnitude * 10 + digit;
    }
    *value = negative ? (magnitude == 0 ? 0 : -(int64_t)(magnitude - 1) - 1) : (int64_t)magnitude;
    return true;
}

/* Stores text as the value of setting s; `source` names where it came from
 * ("--http-threads" or "QIANBAO_HTTP_THREADS") for the error line. */
static enum qb_error config_set(struct config *cfg, const struct config_setting *s,
                                const char *source, const char *text, char *err,
                                size_t err_size)
{
    char *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case CONFIG_TEXT: {
        size_t len = strnlen(text, s->text_size_max);
        if (len >= s->text_size_max) {
            config_error(err, err_size, "%s: value is too long (at most %zu bytes)", source,
                         s->text_size_max - 1);
            return QB_E_PARAM;
        }
        if (len == 0 && !s->text_empty_ok) {
            config_error(err, err_size, "%s: value must not be empty", source);
            return QB_E_PARAM;
        }
        /* A control character is most often a line's end copied with the
         * value (an env file saved with CRLF): a data directory of that
         * name would be a new, empty wallet. JSON may hold its whitespace. */
        bool json = s->value_name != NULL && strcmp(s->value_name, "JSON") == 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            if ((c < 0x20 || c == 0x7f) && !(json && (c == '\t' || c == '\n' || c == '\r'))) {
                config_error(err, err_size,
                             "%s: the value holds a control character (byte %zu, 0x%02x): a "
                             "line's end copied with it?",
                             source, i + 1, c);
                return QB_E_PARAM;
            }
        }
        if (s->text_check != NULL && s->text_check(text) < 0) {
            config_error(err, err_size, "%s: \"%s\" is not a valid %s (%s)", source, text,
                         s->value_name, s->help);
            return QB_E_PARAM;
        }
        memcpy(field, text, len);
        field[len] = '\0';
        return QB_OK;
    }
    case CONFIG_INT: {
        int64_t value;
        bool too_large = false;
        if (!config_parse_int(text, &value, &too_large)) {
            if (too_large)
                config_error(err, err_size, "%s: %s is out of range %lld..%lld", source, text,
                             (long long)s->int_min, (long long)s->int_max);
            else
                config_error(err, err_size, "%s: \"%s\" is not an integer", source, text);
            return QB_E_PARAM;
        }
        if (value < s->int_min || value > s->int_max) {
            config_error(err, err_size, "%s: %lld is out of range %lld..%lld", source,
                         (long long)value, (long long)s->int_min, (long long)s->int_max);
            return QB_E_PARAM;
        }
        memcpy(field, &value, sizeof value);
        return QB_OK;
    }
    case CONFIG_BOOL: {
        bool value = true;
        memcpy(field, &value, sizeof value);
        return QB_OK;
    }
    }
    QB_UNREACHABLE();
}

static void config_set_default(struct config *cfg, const struct config_setting *s)
{
    char *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case CONFIG_TEXT: {
        size_t len = strlen(s->text_default);
        QB_ASSERT(len < s->text_size_max);
        memcpy(field, s->text_default, len + 1);
        return;
    }
    case CONFIG_INT:
        QB_ASSERT(s->int_min <= s->int_default && s->int_default <= s->int_max);
        memcpy(field, &s->int_default, sizeof s->int_default);
        return;
    case CONFIG_BOOL: {
        bool value = false;
        memcpy(field, &value, sizeof value);
        return;
    }
    }
    QB_UNREACHABLE();
}

/* The row whose flag is name[0, name_size), or NULL. */
static const struct config_setting *config_find(const char *name, size_t name_size)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(config_settings); i++) {
        const char *flag = config_settings[i].flag;
        if (strlen(flag) == name_size && memcmp(flag, name, name_size) == 0)
            return &config_settings[i];
    }
    return NULL;
}

enum qb_error config_load(struct config *cfg, int argc, char **argv, char *err, size_t err_size)
{
    QB_ASSERT(cfg != NULL);
    QB_ASSERT(argc >= 0 && (argv != NULL || argc == 0));
    if (err != NULL && err_size > 0)
        err[0] = '\0';

    /* Step 1: defaults. */
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < QB_ARRAY_COUNT(config_settings); i++)
        config_set_default(cfg, &config_settings[i]);

    /* Step 2: the environment. An empty variable is refused as an empty
     * flag is, where a value must be given: a blank QIANBAO_DATA_DIR= from
     * a broken unit file must not quietly start a new, empty wallet in
     * ./data. */
    for (size_t i = 0; i < QB_ARRAY_COUNT(config_settings); i++) {
        const struct config_setting *s = &config_settings[i];
        if (s->env == NULL)
            continue;
        const char *text = getenv(s->env);
        if (text == NULL)
            continue;
        enum qb_error e = config_set(cfg, s, s->env, text, err, err_size);
        if (e != QB_OK)
            return e;
    }

    /* Step 3: flags, "--name value" or "--name=value"; the last one wins. */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        QB_ASSERT(arg != NULL);
        if (strcmp(arg, "-h") == 0)
            arg = "--help"; /* what every operator tries first */
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            config_error(err, err_size, "unexpected argument \"%s\" (try --help)", arg);
            return QB_E_PARAM;
        }
        const char *name = arg + 2;
        const char *equals = strchr(name, '=');
        size_t name_size = equals != NULL ? (size_t)(equals - name) : strlen(name);
        const struct config_setting *s = config_find(name, name_size);
        if (s == NULL) {
            config_error(err, err_size, "unknown flag \"--%.*s\" (try --help)",
                         (int)(name_size > 64 ? 64 : name_size), name);
            return QB_E_PARAM;
        }
        char source[64];
        snprintf(source, sizeof source, "--%s", s->flag);
        const char *value;
        if (s->kind == CONFIG_BOOL) {
            if (equals != NULL) {
                config_error(err, err_size, "%s takes no value", source);
                return QB_E_PARAM;
            }
            value = "";
        } else if (equals != NULL) {
            value = equals + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            config_error(err, err_size, "%s needs a value", source);
            return QB_E_PARAM;
        }
        enum qb_error e = config_set(cfg, s, source, value, err, err_size);
        if (e != QB_OK)
            return e;
    }
    return QB_OK;
}

extern char **environ; /* POSIX: the process's environment */

void config_environment_unknown(void (*report)(const char *name, size_t name_size))
{
    static const char prefix[] = "QIANBAO_";
    static const char *const others[] = {"QIANBAO_SERVER", "QIANBAO_ADMIN_TOKEN", "QIANBAO_TOKEN"};
    for (char **e = environ; *e != NULL; e++) {
        const char *equals = strchr(*e, '=');
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0 || equals == NULL ||
            strncmp(*e, "QIANBAO_TEST_", 13) == 0)
            continue;
        size_t size = (size_t)(equals - *e);
        bool known = false;
        for (size_t i = 0; !known && i < QB_ARRAY_COUNT(config_settings); i++)
            known = config_settings[i].env != NULL && strlen(config_settings[i].env) == size &&
                    memcmp(config_settings[i].env, *e, size) == 0;
        for (size_t i = 0; !known && i < QB_ARRAY_COUNT(others); i++)
            known = strlen(others[i]) == size && memcmp(others[i], *e, size) == 0;
        if (!known)
            report(*e, size);
    }
}

void config_usage(FILE *out)
{
    QB_ASSERT(out != NULL);
    fprintf(out, "usage: qianbaod [flags]\n\n"
                 "Each flag may also be given as --flag=value. Precedence: flag, then\n"
                 "environment variable, then default. Numbers outside their range are refused.\n\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(config_settings); i++) {
        const struct config_setting *s = &config_settings[i];
        char left[64];
        if (s->value_name != NULL)
            snprintf(left, sizeof left, "--%s %s", s->flag, s->value_name);
        else
            snprintf(left, sizeof left, "--%s", s->flag);
        fprintf(out, "  %-28s %s\n", left, s->help);
        switch (s->kind) {
        case CONFIG_TEXT:
            fprintf(out, "  %-28s default \"%s\"", "", s->text_default);
            break;
        case CONFIG_INT:
            fprintf(out, "  %-28s %lld..%lld, default %lld", "", (long long)s->int_min,
                    (long long)s->int_max, (long long)s->int_default);
            break;
        case CONFIG_BOOL:
            continue;
        }
        if (s->env != NULL)
            fprintf(out, ", env %s", s->env);
        fputc('\n', out);
    }
}
