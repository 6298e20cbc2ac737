/*
 * bench_seed.c — a data directory with N funded users, for the HTTP benchmark.
 *
 *   build/release/bench_seed --data-dir DIR --users N --out FILE
 *                            [--balance MINOR] [--payment-password DIGITS]
 *                            [--orders N] [--arrivals N]
 *
 * Registering 100,000 users over HTTP (an SMS code each, an Argon2id hash
 * each) takes far longer than the benchmark itself, and the benchmark is
 * about transfers. So this program does, before the daemon starts and with
 * the daemon's own secrets, exactly what the HTTP handlers would have done,
 * through the same domain commands on the same ledger executor:
 *
 *   1. an SMS code for "register" (sms_send_cmd), read back from the
 *      development outbox as an operator would (sms_outbox_list);
 *   2. the login password hashed with Argon2id at libsodium's minimum cost
 *      (1 pass, 8 KiB: said in the output; nobody logs in during the
 *      benchmark, so the daemon never hashes), then IDENTITY_OP_REGISTER,
 *      which creates the user and the wallet account;
 *   3. IDENTITY_OP_SESSION_CREATE: the bearer token the load generator uses;
 *   4. a "reset_payment_password" SMS code, then
 *      IDENTITY_OP_PAYMENT_PASSWORD_SET;
 *   5. funding: a settled top-up of --balance — the entry bank clearing →
 *      user (WALLET_CODE_TOPUP) and its payments row, SUCCESS, as the
 *      top-up command writes them once the bank has confirmed the debit.
 *      No card is bound: the bank side of a top-up is not what is measured.
 *
 * Commands are submitted thousands at a time, so they share group commits as
 * HTTP requests would. At the end every outbox row is marked delivered in one
 * command (the development outbox's delivery is the row itself, and every
 * code was read), so that the daemon's SMS worker has nothing left to do
 * during the benchmark. FILE gets one line per user: "USER_ID TOKEN PHONE".
 *
 * With --orders N it then makes a merchant (mchid 1900000001, a fee of
 * 0.6 %) and N paid orders of it: user i mod N pays 1.00 at the merchant's
 * till code (merchant_order_pay_cmd, the order made and paid in one
 * command, with the payment password as a till's payment takes it), so
 * that the operator's check (qianbaod --verify) can be timed on a journal
 * of merchant payments; bench/http/run does not use it.
 *
 * With --arrivals N it measures, on the users it seeded, how fast delayed
 * transfers (延时到账) arrive: its clock is then a manual one, started at the
 * system's time. It sends 2N transfers of 0.01 to arrive in 2 hours (user i
 * pays user i + 1), moves the clock 2 hours and a minute on, and makes them
 * arrive: N one command at a time, each waited for (one durable commit
 * each, as the wallet's worker did them before), then N through the
 * worker's passes (wallet_worker_pass, a batch's arrivals submitted
 * together), timed apart, with no poll interval between passes. The data
 * directory is left with every transfer arrived.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/rand.h"
#include "domain/domain.h"
#include "identity/identity.h"
#include "ledger/ledger.h"
#include "merchant/merchant.h"
#include "merchant/order.h"
#include "sms/sms.h"
#include "store/pool.h"
#include "store/store.h"
#include "wallet/limits.h"
#include "wallet/topup.h"
#include "wallet/transfer.h"
#include "wallet/wallet.h"

#define S_CHUNK_USERS 8192
#define S_USERS_MAX 10000000
#define S_PASSWORD "bench password 1"

struct seed_user {
    char id[ID_TEXT_SIZE_MAX];
    char phone[SMS_PHONE_SIZE_MAX];
    char token[IDENTITY_TOKEN_TEXT_SIZE];
    int64_t account_id;
};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_seed: %s failed: %s\n", what, detail);
    exit(1);
}

static double seconds_since(int64_t start_ns)
{
    return (double)(clock_monotonic_ns() - start_ns) / 1e9;
}

/* --- waves of commands --------------------------------------------------------- */

/* Submits every command at once and waits for all: they share batches. The
 * ledger's result of each is in cmd->result. */
static void wave_run(struct ledger *ledger, struct ledger_cmd **cmds, size_t count)
{
    enum qb_error err = ledger_execute_all(ledger, cmds, count);
    if (err != QB_OK)
        die("ledger_submit", error_name(err));
    for (size_t i = 0; i < count; i++)
        if (cmds[i]->result != QB_OK)
            die("a seeding command", error_name(cmds[i]->result));
}

/* --- the steps ------------------------------------------------------------------- */

/* Issues one code per user for purpose and reads it back from the outbox. */
static void sms_codes(struct ledger *ledger, const struct domain_env *env, struct store *reader,
                      const struct seed_user *users, size_t count, enum sms_purpose purpose,
                      char (*codes)[SMS_CODE_DIGITS + 1])
{
    struct sms_send_cmd *c = calloc(count, sizeof *c);
    struct ledger_cmd **cmds = calloc(count, sizeof *cmds);
    if (c == NULL || cmds == NULL)
        die("calloc", "out of memory");
    for (size_t i = 0; i < count; i++) {
        sms_send_cmd_init(&c[i], env);
        snprintf(c[i].phone, sizeof c[i].phone, "%s", users[i].phone);
        c[i].purpose = purpose;
        cmds[i] = &c[i].cmd;
    }
    wave_run(ledger, cmds, count);
    for (size_t i = 0; i < count; i++) {
        if (c[i].outcome != QB_OK)
            die("sms code", error_name(c[i].outcome));
        ledger_cmd_release(&c[i].cmd);
        struct sms_outbox_item item;
        size_t found = 0;
        enum qb_error err = sms_outbox_list(env, reader, users[i].phone, 0, &item, 1, &found);
        if (err != QB_OK || found != 1 || item.purpose != purpose || item.code[0] == '\0')
            die("reading the outbox", users[i].phone);
        memcpy(codes[i], item.code, sizeof codes[i]);
    }
    free(cmds);
    free(c);
}

/* Runs one identity op for every user; fill sets each command's inputs. */
static void identity_wave(struct ledger *ledger, const struct domain_env *env,
                          struct seed_user *users, size_t count, enum identity_op op,
                          char (*codes)[SMS_CODE_DIGITS + 1], const char *payment_password)
{
    struct identity_cmd *c = calloc(count, sizeof *c);
    struct ledger_cmd **cmds = calloc(count, sizeof *cmds);
    if (c == NULL || cmds == NULL)
        die("calloc", "out of memory");
    for (size_t i = 0; i < count; i++) {
        identity_cmd_init(&c[i], env, op);
        switch (op) {
        case IDENTITY_OP_REGISTER:
            snprintf(c[i].phone, sizeof c[i].phone, "%s", users[i].phone);
            memcpy(c[i].sms_code, codes[i], SMS_CODE_DIGITS + 1);
            snprintf(c[i].display_name, sizeof c[i].display_name, "Bench %zu", i);
            if (identity_password_hash(env, S_PASSWORD, c[i].password_hash) != QB_OK)
                die("identity_password_hash", "Argon2id");
            break;
        case IDENTITY_OP_SESSION_CREATE:
            snprintf(c[i].user_id, sizeof c[i].user_id, "%s", users[i].id);
            snprintf(c[i].device_name, sizeof c[i].device_name, "bench");
            break;
        case IDENTITY_OP_PAYMENT_PASSWORD_SET:
            snprintf(c[i].user_id, sizeof c[i].user_id, "%s", users[i].id);
            memcpy(c[i].sms_code, codes[i], SMS_CODE_DIGITS + 1);
            snprintf(c[i].payment_password, sizeof c[i].payment_password, "%s", payment_password);
            break;
        default:
            die("identity_wave", "unexpected op");
        }
        cmds[i] = &c[i].cmd;
    }
    wave_run(ledger, cmds, count);
    for (size_t i = 0; i < count; i++) {
        if (c[i].outcome != QB_OK)
            die("an identity command", error_name(c[i].outcome));
        if (op == IDENTITY_OP_REGISTER) {
            snprintf(users[i].id, sizeof users[i].id, "%s", c[i].user.id);
            users[i].account_id = c[i].user.account_id;
        } else if (op == IDENTITY_OP_SESSION_CREATE) {
            memcpy(users[i].token, c[i].token, sizeof users[i].token);
        }
        ledger_cmd_release(&c[i].cmd);
    }
    crypto_wipe(c, count * sizeof *c);
    free(cmds);
    free(c);
}

struct fund_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    const struct seed_user *user;
    int64_t amount_minor;
};

/* A settled top-up: the entry and the payment row, in one command. */
static enum qb_error fund_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct fund_cmd *c = (struct fund_cmd *)cmd;
    struct wallet_payment p;
    enum qb_error err = wallet_txn_payment_new(txn, c->env->rand, &p);
    if (err != QB_OK)
        return err;
    p.kind = WALLET_TOPUP;
    snprintf(p.user_id, sizeof p.user_id, "%s", c->user->id);
    p.currency = currency_find("CNY");
    p.amount_minor = c->amount_minor;
    p.status = WALLET_SUCCESS;
    struct ledger_leg legs[2] = {
        {.account_id = c->env->accounts.bank_clearing, .amount_minor = -c->amount_minor},
        {.account_id = c->user->account_id, .amount_minor = c->amount_minor},
    };
    err = ledger_txn_post(txn, WALLET_CODE_TOPUP, p.id, legs, 2, &p.entry_id);
    if (err == QB_OK)
        err = wallet_txn_payment_insert(txn, &p);
    return err;
}

static void fund_wave(struct ledger *ledger, const struct domain_env *env,
                      const struct seed_user *users, size_t count, int64_t amount_minor)
{
    struct fund_cmd *c = calloc(count, sizeof *c);
    struct ledger_cmd **cmds = calloc(count, sizeof *cmds);
    if (c == NULL || cmds == NULL)
        die("calloc", "out of memory");
    for (size_t i = 0; i < count; i++) {
        ledger_cmd_init(&c[i].cmd, fund_run, NULL);
        c[i].env = env;
        c[i].user = &users[i];
        c[i].amount_minor = amount_minor;
        cmds[i] = &c[i].cmd;
    }
    wave_run(ledger, cmds, count);
    for (size_t i = 0; i < count; i++)
        ledger_cmd_release(&c[i].cmd);
    free(cmds);
    free(c);
}

static enum qb_error outbox_delivered_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    (void)cmd;
    struct store_param params[] = {STORE_INT(ledger_txn_now_ms(txn))};
    return store_run(ledger_txn_store(txn),
                     "UPDATE sms_outbox SET delivered_at_ms = $1, attempts = attempts + 1"
                     " WHERE delivered_at_ms = 0",
                     params, 1);
}

/* --- merchant payments (--orders) ------------------------------------------------- */

#define S_ORDERS_MCHID "1900000001"
#define S_ORDER_MINOR 100

static void orders_seed(struct ledger *ledger, const struct domain_env *env,
                        const struct seed_user *users, size_t user_count, size_t orders,
                        const char *payment_password)
{
    struct merchant_create_cmd m;
    merchant_create_cmd_init(&m, env);
    snprintf(m.merchant.mchid, sizeof m.merchant.mchid, S_ORDERS_MCHID);
    merchant_appid_new(env, m.merchant.appid);
    snprintf(m.merchant.name, sizeof m.merchant.name, "Bench noodles");
    /* Nobody signs a /v3 request to it in this data directory. */
    snprintf(m.merchant.public_key_pem, sizeof m.merchant.public_key_pem, "unused");
    snprintf(m.merchant.serial_no, sizeof m.merchant.serial_no, "AB");
    domain_seal(env, "0123456789abcdefghijABCDEFGHIJ01", 32, m.merchant.apiv3_key_sealed);
    m.merchant.fee_ppm = 6000;
    if (ledger_execute(ledger, &m.cmd) != QB_OK || m.cmd.result != QB_OK || m.outcome != QB_OK)
        die("the merchant", error_name(m.outcome));
    ledger_cmd_release(&m.cmd);

    struct merchant_order_pay_cmd *c = calloc(S_CHUNK_USERS, sizeof *c);
    struct ledger_cmd **cmds = calloc(S_CHUNK_USERS, sizeof *cmds);
    if (c == NULL || cmds == NULL)
        die("calloc", "out of memory");
    int64_t start_ns = clock_monotonic_ns();
    for (size_t first = 0; first < orders; first += S_CHUNK_USERS) {
        size_t count = orders - first < S_CHUNK_USERS ? orders - first : S_CHUNK_USERS;
        for (size_t i = 0; i < count; i++) {
            merchant_order_pay_cmd_init(&c[i], env);
            snprintf(c[i].payer_id, sizeof c[i].payer_id, "%s", users[(first + i) % user_count].id);
            snprintf(c[i].till_mchid, sizeof c[i].till_mchid, S_ORDERS_MCHID);
            c[i].till_amount_minor = S_ORDER_MINOR;
            c[i].has_payment_password = true;
            snprintf(c[i].payment_password, sizeof c[i].payment_password, "%s", payment_password);
            cmds[i] = &c[i].cmd;
        }
        wave_run(ledger, cmds, count);
        for (size_t i = 0; i < count; i++) {
            if (c[i].outcome != QB_OK)
                die("an order's payment", error_name(c[i].outcome));
            ledger_cmd_release(&c[i].cmd);
        }
        fprintf(stderr, "bench_seed: %zu/%zu orders paid (%.1f s)\n", first + count, orders,
                seconds_since(start_ns));
    }
    crypto_wipe(c, S_CHUNK_USERS * sizeof *c);
    free(cmds);
    free(c);
    printf("bench_seed: %zu orders of merchant " S_ORDERS_MCHID " paid, %d minor units each\n",
           orders, S_ORDER_MINOR);
}

/* --- delayed transfers' arrivals (--arrivals) --------------------------------------- */

/* Sends count transfers of 0.01 to arrive in 2 hours, the k-th (from first)
 * from user k % user_count to the next one, and keeps their ids. */
static void delayed_wave(struct ledger *ledger, const struct domain_env *env,
                         const struct seed_user *users, size_t user_count, size_t first,
                         size_t count, const char *payment_password, char (*ids)[ID_TEXT_SIZE_MAX])
{
    struct wallet_transfer_cmd *c = calloc(count, sizeof *c);
    struct ledger_cmd **cmds = calloc(count, sizeof *cmds);
    if (c == NULL || cmds == NULL)
        die("calloc", "out of memory");
    for (size_t i = 0; i < count; i++) {
        size_t k = first + i;
        wallet_transfer_cmd_init(&c[i], env);
        snprintf(c[i].payer_id, sizeof c[i].payer_id, "%s", users[k % user_count].id);
        snprintf(c[i].to, sizeof c[i].to, "%s", users[(k + 1) % user_count].id);
        c[i].amount_minor = 1;
        c[i].has_payment_password = true;
        snprintf(c[i].payment_password, sizeof c[i].payment_password, "%s", payment_password);
        c[i].has_arrival = true;
        c[i].arrival = WALLET_ARRIVAL_2H;
        cmds[i] = &c[i].cmd;
    }
    wave_run(ledger, cmds, count);
    for (size_t i = 0; i < count; i++) {
        if (c[i].outcome != QB_OK || c[i].payment.status != WALLET_PROCESSING)
            die("a delayed transfer", error_name(c[i].outcome));
        snprintf(ids[first + i], ID_TEXT_SIZE_MAX, "%s", c[i].payment.id);
        ledger_cmd_release(&c[i].cmd);
    }
    crypto_wipe(c, count * sizeof *c);
    free(cmds);
    free(c);
}

static void arrivals_measure(struct ledger *ledger, const struct domain_env *env,
                             struct qb_clock *clock, const char *db_path,
                             const struct seed_user *users, size_t user_count, size_t arrivals,
                             const char *payment_password)
{
    size_t total = 2 * arrivals;
    char(*ids)[ID_TEXT_SIZE_MAX] = calloc(total, ID_TEXT_SIZE_MAX);
    if (ids == NULL)
        die("calloc", "out of memory");
    int64_t start_ns = clock_monotonic_ns();
    for (size_t first = 0; first < total; first += S_CHUNK_USERS)
        delayed_wave(ledger, env, users, user_count, first,
                     total - first < S_CHUNK_USERS ? total - first : S_CHUNK_USERS,
                     payment_password, ids);
    printf("bench_seed: %zu delayed transfers sent in %.1f s\n", total, seconds_since(start_ns));
    clock_manual_advance(clock, wallet_arrival_delay_ms(WALLET_ARRIVAL_2H) + 60 * 1000);

    /* One command at a time, each waited for. */
    start_ns = clock_monotonic_ns();
    for (size_t i = 0; i < arrivals; i++) {
        struct wallet_transfer_arrive_cmd c;
        wallet_transfer_arrive_cmd_init(&c, env, ids[i]);
        enum qb_error err = ledger_execute(ledger, &c.cmd);
        ledger_cmd_release(&c.cmd);
        if (err != QB_OK || c.payment.status != WALLET_SUCCESS)
            die("an arrival", error_name(err));
    }
    double one_s = seconds_since(start_ns);

    /* The worker's passes. */
    char err_text[512] = "";
    struct store_pool *pool = NULL;
    if (store_pool_open(db_path, 2, &pool, err_text, sizeof err_text) != QB_OK)
        die("store_pool_open", err_text);
    start_ns = clock_monotonic_ns();
    size_t arrived = 0, passes = 0, resolved = 0;
    do {
        enum qb_error err = wallet_worker_pass(env, pool, &resolved);
        if (err != QB_OK)
            die("wallet_worker_pass", error_name(err));
        arrived += resolved;
        passes++;
    } while (resolved > 0);
    double batched_s = seconds_since(start_ns);
    store_pool_close(pool);
    if (arrived != arrivals)
        die("the worker's passes", "made another number of transfers arrive");
    printf("bench_seed: arrivals, one command at a time: %zu in %.2f s, %.0f/s\n", arrivals, one_s,
           (double)arrivals / one_s);
    printf("bench_seed: arrivals, the worker's passes:   %zu in %.2f s, %.0f/s (%zu passes)\n",
           arrivals, batched_s, (double)arrivals / batched_s, passes);
    free(ids);
}

/* --- main -------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_seed --data-dir DIR --users N --out FILE [--balance MINOR] "
                    "[--payment-password DIGITS] [--orders N] [--arrivals N]\n");
    exit(2);
}

static int64_t parse_count(const char *text, int64_t max)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max)
        usage();
    return v;
}

static void secret_path(char *out, size_t size, const char *dir, const char *name)
{
    if (snprintf(out, size, "%s/%s", dir, name) >= (int)size)
        die("a path", "too long");
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *out_path = NULL, *payment_password = "258147";
    int64_t user_count = 0, balance_minor = 100000000, arrivals = 0, orders = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--data-dir") == 0)
            dir = argv[++i];
        else if (strcmp(argv[i], "--users") == 0)
            user_count = parse_count(argv[++i], S_USERS_MAX);
        else if (strcmp(argv[i], "--out") == 0)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--balance") == 0)
            balance_minor = parse_count(argv[++i], INT64_C(1000000000000));
        else if (strcmp(argv[i], "--payment-password") == 0)
            payment_password = argv[++i];
        else if (strcmp(argv[i], "--arrivals") == 0)
            arrivals = parse_count(argv[++i], S_USERS_MAX);
        else if (strcmp(argv[i], "--orders") == 0)
            orders = parse_count(argv[++i], INT64_C(1000000000));
        else
            usage();
    }
    if (dir == NULL || out_path == NULL || user_count == 0)
        usage();
    if (identity_payment_password_check(payment_password, NULL) != QB_OK)
        die("the payment password", "refused as weak or malformed");
    if (!crypto_init())
        die("crypto_init", "libsodium");
    log_init(stderr, LOG_WARN);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        die("mkdir", dir);

    /* The daemon's own secrets: created here, found by qianbaod later. */
    char path[4096];
    uint8_t pepper[DOMAIN_KEY_SIZE], card_key[DOMAIN_KEY_SIZE], chain_key[DOMAIN_KEY_SIZE];
    secret_path(path, sizeof path, dir, "pepper");
    if (crypto_secret_load(path, pepper, sizeof pepper) != QB_OK)
        die("the pepper", path);
    secret_path(path, sizeof path, dir, "card-key");
    if (crypto_secret_load(path, card_key, sizeof card_key) != QB_OK)
        die("the card key", path);
    secret_path(path, sizeof path, dir, "chain-key");
    if (crypto_secret_load(path, chain_key, sizeof chain_key) != QB_OK)
        die("the chain key", path);

    char err_text[512] = "";
    struct store *writer = NULL, *reader = NULL;
    secret_path(path, sizeof path, dir, "qianbao.db");
    if (store_open(path, STORE_MODE_WRITE, &writer, err_text, sizeof err_text) != QB_OK ||
        store_open(path, STORE_MODE_READ, &reader, err_text, sizeof err_text) != QB_OK)
        die("store_open", err_text);
    struct ledger *ledger = NULL;
    /* --arrivals moves time on: a manual clock, from the system's now. */
    struct qb_clock manual;
    clock_manual_init(&manual, clock_now_ms(clock_system()));
    struct qb_clock *clock = arrivals > 0 ? &manual : clock_system();
    struct ledger_options options = {
        .clock = clock,
        .queue_max = 4 * S_CHUNK_USERS,
        .batch_max = S_CHUNK_USERS,
        .chain_key = chain_key,
        .chain_key_new = true, /* the journal this seed begins, or one it began */
    };
    wallet_ledger_options(&options); /* as the daemon counts spending */
    enum qb_error err = ledger_open(writer, &options, &ledger);
    if (err != QB_OK)
        die("ledger_open", error_name(err));
    crypto_wipe(chain_key, sizeof chain_key); /* the ledger keyed its chain with it */

    struct domain_settings settings;
    domain_settings_default(&settings);
    settings.argon2_ops = crypto_pwhash_OPSLIMIT_MIN;
    settings.argon2_memory_size = crypto_pwhash_MEMLIMIT_MIN;
    settings.sms_cooldown_ms = 0;
    struct domain_env env;
    domain_env_init(&env, clock, rand_system(), ledger, &settings, pepper, card_key);
    crypto_wipe(pepper, sizeof pepper);
    crypto_wipe(card_key, sizeof card_key);
    err = wallet_accounts_setup(ledger, &env);
    if (err != QB_OK)
        die("wallet_accounts_setup", error_name(err));

    printf("bench_seed: %" PRId64 " users, each funded with %" PRId64 " minor units (CNY);"
           " login passwords hashed with Argon2id at its minimum cost (%llu pass, %zu KiB)\n",
           user_count, balance_minor, (unsigned long long)settings.argon2_ops,
           settings.argon2_memory_size / 1024);

    struct seed_user *users = calloc((size_t)user_count, sizeof *users);
    char(*codes)[SMS_CODE_DIGITS + 1] = calloc(S_CHUNK_USERS, sizeof *codes);
    if (users == NULL || codes == NULL)
        die("calloc", "out of memory");
    /* Phones: "19" then nine digits from a random start, so that seeding
     * twice into one directory fails loudly rather than mixing users. */
    uint64_t phone_base = rand_below(rand_system(), 500000000);
    for (int64_t i = 0; i < user_count; i++)
        snprintf(users[i].phone, sizeof users[i].phone, "19%09" PRIu64,
                 (phone_base + (uint64_t)i) % 1000000000);

    int64_t start_ns = clock_monotonic_ns();
    for (int64_t first = 0; first < user_count; first += S_CHUNK_USERS) {
        size_t count = (size_t)(user_count - first < S_CHUNK_USERS ? user_count - first
                                                                   : S_CHUNK_USERS);
        struct seed_user *chunk = &users[first];
        sms_codes(ledger, &env, reader, chunk, count, SMS_PURPOSE_REGISTER, codes);
        identity_wave(ledger, &env, chunk, count, IDENTITY_OP_REGISTER, codes, NULL);
        identity_wave(ledger, &env, chunk, count, IDENTITY_OP_SESSION_CREATE, NULL, NULL);
        sms_codes(ledger, &env, reader, chunk, count, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, codes);
        identity_wave(ledger, &env, chunk, count, IDENTITY_OP_PAYMENT_PASSWORD_SET, codes,
                      payment_password);
        fund_wave(ledger, &env, chunk, count, balance_minor);
        fprintf(stderr, "bench_seed: %" PRId64 "/%" PRId64 " users (%.1f s)\n",
                first + (int64_t)count, user_count, seconds_since(start_ns));
    }
    crypto_wipe(codes, S_CHUNK_USERS * sizeof *codes);
    free(codes);

    struct ledger_cmd outbox;
    ledger_cmd_init(&outbox, outbox_delivered_run, NULL);
    err = ledger_execute(ledger, &outbox);
    ledger_cmd_release(&outbox);
    if (err != QB_OK)
        die("marking the outbox delivered", error_name(err));

    FILE *out = fopen(out_path, "w");
    if (out == NULL)
        die("fopen", out_path);
    for (int64_t i = 0; i < user_count; i++)
        fprintf(out, "%s %s %s\n", users[i].id, users[i].token, users[i].phone);
    if (fclose(out) != 0)
        die("writing", out_path);
    if (orders > 0)
        orders_seed(ledger, &env, users, (size_t)user_count, (size_t)orders, payment_password);
    if (arrivals > 0)
        arrivals_measure(ledger, &env, clock, path, users, (size_t)user_count, (size_t)arrivals,
                         payment_password);
    crypto_wipe(users, (size_t)user_count * sizeof *users);
    free(users);

    ledger_close(ledger);
    domain_env_release(&env);
    store_close(reader);
    store_close(writer);
    printf("bench_seed: seeded in %.1f s; users and tokens in %s\n", seconds_since(start_ns),
           out_path);
    return 0;
}
