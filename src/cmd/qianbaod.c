/*
 * qianbaod.c — the daemon: data directory, secrets, storage, ledger, HTTP.
 *
 *   qianbaod --data-dir DIR --listen 127.0.0.1:8080   serve
 *   qianbaod --data-dir DIR --verify                  check the ledger, exit 0 or 1
 *   qianbaod --data-dir DIR --rebuild-checkpoints     repair what a start trusts, then check
 *   qianbaod --data-dir DIR --reseal-audit-trail      seal an altered audit trail, then check
 *   qianbaod --data-dir DIR --platform-key-rotate S   begin, finish or cancel a new platform key
 *   qianbaod --help                                   the settings (docs/operations.md)
 *
 * Every setting that can be checked is checked first (the listen address,
 * and whether it can be bound; the database url; the SMS provider's url and
 * template), so that a bad one is refused before anything is made. Then
 * start-up, in order, each step refusing to go on when it fails:
 *   1. the data directory (created 0700) and its lock, an exclusive flock on
 *      DIR/lock, then the database's, on DB.lock beside the database file
 *      (--db can point another data directory's daemon at it), so that two
 *      daemons can never write the same ledger;
 *   2. the secrets, each file 0600 and never logged: pepper and card-key (32
 *      random bytes), platform-key.pem (RSA-2048, the key the merchant API
 *      signs with) and platform-cert.pem (its self-signed certificate, whose
 *      serial merchants see in Wechatpay-Serial), admin-token (64 hex
 *      characters). The pepper and the card key are made only together with
 *      a new database (no database file yet, an empty one, or one with no
 *      schema), before it:
 *      with a database in place a missing one stops the start, naming it,
 *      since a new key would fit none of the stored data. The admin token,
 *      which nothing stored depends on, is made anew then (logged as a
 *      warning);
 *   3. the write connection (migrated to the newest schema; a new database
 *      is logged as daemon.database_created), then the platform key and
 *      certificate, made with a new database or while it has no merchant
 *      (S_platform_check), missing ones otherwise stopping the start like a
 *      missing pepper, and the admin token; the read pool, the ledger (which
 *      replays the journal and checks its hash chain);
 *   4. the domain environment (keys derived from pepper and card-key, the
 *      settings from the flags), the SMS gateway (the outbox, or the HTTP
 *      provider of --sms-provider-url) and its delivery worker, the bank
 *      connector (the sandbox, docs/sandbox.md), the wallet worker that
 *      resolves pending top-ups and withdrawals, the red packet worker
 *      that refunds expired packets, the worker that delivers merchant
 *      notifications (--allow-private-notify lets them go to private
 *      addresses), and the payment-code worker that revokes orders nobody
 *      confirmed;
 *   5. the HTTP server; the bound address goes to DIR/listen-address, so
 *      that whoever started us on port 0 can find the port.
 * SIGHUP reads the admin token file again (a rotation) and goes on serving
 * (SIGQUIT keeps its default: a core dump).
 * SIGTERM or SIGINT stops in this order: HTTP closes new connections, the SMS,
 * wallet, red packet, notification and payment-code workers stop, the ledger is detached and closed
 * (it drains its queue first, so every request it accepted is answered), then HTTP stops. A
 * further SIGTERM or SIGINT meanwhile changes nothing but a log line naming the stage the stop
 * is at (daemon.still_stopping, S_stop_watch). Exit
 * status: 0 after a clean stop, 1 when start-up failed, 2 for bad flags.
 *
 * --verify writes nothing: beside a running daemon it reads through the
 * daemon's -wal and -shm; with none running it holds DB.lock shared, so
 * that none starts meanwhile, and reads the database offline
 * (STORE_MODE_READ_OFFLINE), so that a backup on read-only media can be
 * checked and a writable copy is left as it was.
 *
 * Signals are blocked before any thread starts and taken with sigwait on the
 * main thread: no handler runs in an arbitrary thread's context. The umask is
 * 077: every file the daemon makes is private unless it says otherwise.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "bank/bank.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/ratelimit.h"
#include "base/thread.h"
#include "domain/audit.h"
#include "domain/domain.h"
#include "http/server.h"
#include "identity/identity.h"
#include "ledger/ledger.h"
#include "merchant/merchant.h"
#include "merchant/notify.h"
#include "merchant/paycode.h"
#include "merchant/payout.h"
#include "sms/sms.h"
#include "store/fault_vfs.h"
#include "store/pool.h"
#include "store/store.h"
#include "wallet/limits.h"
#include "wallet/redpacket.h"
#include "wallet/topup.h"
#include "wallet/wallet.h"

#define QIANBAOD_VERSION "0.1.0"
#define S_SECRET_SIZE 32
#define S_PLATFORM_KEY_BITS 2048
#define S_PEM_SIZE_MAX 8192
#define S_ADMIN_TOKEN_HEX_SIZE (2 * S_SECRET_SIZE)
#define S_SMS_PROVIDER_TIMEOUT_MS 5000
#define S_LISTEN_HOST_SIZE_MAX 64 /* as the HTTP server's */
/* Users whose look-ups of payees by phone are counted at once (domain.h):
 * 24 bytes each, 1.5 MiB; more, and the oldest windows are forgotten. */
#define S_PAYEE_LOOKUP_USERS 65536
/* And in a day, when more users look up than in an hour: 6 MiB. */
#define S_PAYEE_LOOKUP_DAY_USERS 262144
/* And the phones each looked up in the hour: 6 MiB; more, and the oldest
 * are forgotten, so looked up again they count again. */
#define S_PAYEE_LOOKUP_PAIRS 262144
#define S_PAYOUT_NAME_MISSES 16384 /* merchants' users named wrongly in a day */

struct daemon_paths {
    char dir[CONFIG_PATH_SIZE_MAX];
    char lock[CONFIG_PATH_SIZE_MAX + 16];
    char pepper[CONFIG_PATH_SIZE_MAX + 16];
    char card_key[CONFIG_PATH_SIZE_MAX + 16];
    char chain_key[CONFIG_PATH_SIZE_MAX + 16];
    char chain_key_new[CONFIG_PATH_SIZE_MAX + 16]; /* while an older journal is keyed */
    char chain_head[CONFIG_PATH_SIZE_MAX + 16];
    char platform_key[CONFIG_PATH_SIZE_MAX + 32];
    char platform_cert[CONFIG_PATH_SIZE_MAX + 32];
    char platform_key_next[CONFIG_PATH_SIZE_MAX + 32]; /* during a rotation */
    char platform_cert_next[CONFIG_PATH_SIZE_MAX + 32];
    char platform_key_retired[CONFIG_PATH_SIZE_MAX + 32]; /* the one before the last rotation */
    char platform_cert_retired[CONFIG_PATH_SIZE_MAX + 32];
    char admin_token[CONFIG_PATH_SIZE_MAX + 16];
    char listen_address[CONFIG_PATH_SIZE_MAX + 32];
    char admin_listen_address[CONFIG_PATH_SIZE_MAX + 32];
    char db_url[CONFIG_PATH_SIZE_MAX + 16];
    char db_file[CONFIG_PATH_SIZE_MAX + 16]; /* the SQLite file db_url names; "" for none */
};

static bool S_paths_init(struct daemon_paths *paths, const struct config *cfg)
{
    bool ok = snprintf(paths->dir, sizeof paths->dir, "%s", cfg->data_dir) < (int)sizeof paths->dir;
#define S_JOIN(field, name)                                                                        \
    ok = ok && snprintf(paths->field, sizeof paths->field, "%s/%s", paths->dir, name) <            \
                   (int)sizeof paths->field
    S_JOIN(lock, "lock");
    S_JOIN(pepper, "pepper");
    S_JOIN(card_key, "card-key");
    S_JOIN(chain_key, "chain-key");
    S_JOIN(chain_key_new, "chain-key.new");
    S_JOIN(chain_head, "chain-head");
    S_JOIN(platform_key, "platform-key.pem");
    S_JOIN(platform_cert, "platform-cert.pem");
    S_JOIN(platform_key_next, "platform-key-next.pem");
    S_JOIN(platform_cert_next, "platform-cert-next.pem");
    S_JOIN(platform_key_retired, "platform-key-retired.pem");
    S_JOIN(platform_cert_retired, "platform-cert-retired.pem");
    S_JOIN(admin_token, "admin-token");
    S_JOIN(listen_address, "listen-address");
    S_JOIN(admin_listen_address, "admin-listen-address");
#undef S_JOIN
    if (cfg->db_url[0] != '\0')
        ok = ok && snprintf(paths->db_url, sizeof paths->db_url, "%s", cfg->db_url) <
                       (int)sizeof paths->db_url;
    else
        ok = ok && snprintf(paths->db_url, sizeof paths->db_url, "%s/qianbao.db", paths->dir) <
                       (int)sizeof paths->db_url;
    const char *why;
    if (ok && store_url_file(paths->db_url, paths->db_file, sizeof paths->db_file, &why) != QB_OK)
        paths->db_file[0] = '\0';
    return ok;
}

/* What the start line calls this build: "test" when it reads the
 * QIANBAO_TEST_* switches (QB_TEST_HOOKS), which break things on purpose,
 * so that such a build is not mistaken for one fit to hold real money;
 * "release" otherwise. */
#ifdef QB_TEST_HOOKS
#define S_BUILD "test"
#else
#define S_BUILD "release"
#endif

/* path made absolute for the log (under systemd "./data" is "/data"), or
 * path itself when it cannot be resolved; buf holds PATH_MAX bytes. */
static const char *S_absolute(const char *path, char *buf)
{
    return realpath(path, buf) != NULL ? buf : path;
}

/* --- settings checked before anything is made ----------------------------- */

/* A QIANBAO_* variable that names no setting: a typo in a unit file would
 * otherwise be ignored in silence, the default taken instead. */
static void S_environment_unknown(const char *name, size_t name_size)
{
    log_event(LOG_WARN, "daemon.unknown_environment", "name=%.*s advice=see_qianbaod_--help",
              (int)(name_size > 64 ? 64 : name_size), name);
}

/* The /v3 nonce memory's slots for --v3-signed-per-s: a generation takes
 * 3/4 of its slots in ten minutes (merchant.h), so the next power of two
 * of 800 a request a second. */
static size_t S_nonce_slots(int64_t signed_per_s)
{
    size_t slots = 16;
    while (slots < (size_t)signed_per_s * 800)
        slots *= 2;
    return slots;
}

/* Reads the address of flag (--listen, --admin-listen) as the HTTP server
 * will; false, with the reason on stderr, for a value it would refuse. */
static bool S_listen_parse(const char *flag, const char *address, struct sockaddr_storage *addr,
                           socklen_t *addr_size)
{
    char host[S_LISTEN_HOST_SIZE_MAX], err[512];
    if (http_listen_parse(address, addr, addr_size, host, sizeof host, err, sizeof err) == QB_OK)
        return true;
    fprintf(stderr, "qianbaod: %s: %s\n", flag, err);
    return false;
}

/* Binds and listens on addr, as the HTTP server will, and lets go again,
 * so that an address that cannot be bound is found out, and named, before
 * the ledger is replayed for nothing. Port 0 always binds. False, with the
 * reason on stderr, when it cannot be bound. */
static bool S_listen_probe(const char *address, const struct sockaddr_storage *addr,
                           socklen_t addr_size)
{
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)addr;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
    unsigned int port = ntohs(addr->ss_family == AF_INET6 ? in6->sin6_port : in4->sin_port);
    if (port == 0)
        return true;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "qianbaod: cannot listen on \"%s\": %s\n", address, strerror(errno));
        return false;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int listen_errno = 0;
    if (bind(fd, (const struct sockaddr *)addr, addr_size) != 0 || listen(fd, 1) != 0)
        listen_errno = errno;
    close(fd);
    if (listen_errno == EADDRINUSE)
        fprintf(stderr,
                "qianbaod: cannot listen on \"%s\": port %u is in use by another process "
                "(ss -ltnp names it)\n",
                address, port);
    else if (listen_errno == EADDRNOTAVAIL)
        fprintf(stderr, "qianbaod: cannot listen on \"%s\": not an address of this host\n",
                address);
    else if (listen_errno != 0)
        fprintf(stderr, "qianbaod: cannot listen on \"%s\": %s\n", address, strerror(listen_errno));
    return listen_errno == 0;
}

/* Refuses a database url that no backend of this build opens (the daemon
 * would only find out after making the data directory and its secrets). */
static bool S_db_url_check(const struct daemon_paths *paths)
{
    if (paths->db_file[0] != '\0')
        return true;
    if (strncmp(paths->db_url, "postgres://", 11) == 0 ||
        strncmp(paths->db_url, "postgresql://", 13) == 0)
        fprintf(stderr,
                "qianbaod: --db \"%s\": this build has no PostgreSQL backend; its database is "
                "SQLite: a path, file:PATH or file:///PATH\n",
                paths->db_url);
    else
        fprintf(stderr,
                "qianbaod: --db \"%s\" is not a database this build can open (SQLite: a path, "
                "file:PATH or file:///PATH, local and without a query)\n",
                paths->db_url);
    return false;
}

/* --- files ----------------------------------------------------------------- */

/* Makes the directory's entries durable: a rename in it, a file made. */
static void S_dir_sync(const char *dir)
{
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
}

/* Writes data to path through a temporary file, fsync and rename, so that a
 * crash leaves either the old file or the whole new one, never a torn one. */
static bool S_file_write_atomic(const char *dir, const char *path, const void *data, size_t size,
                                mode_t mode)
{
    char tmp[CONFIG_PATH_SIZE_MAX + 64];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return false;
    bool ok = fchmod(fd, mode) == 0;
    const char *p = data;
    size_t left = size;
    while (ok && left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok) {
            p += n;
            left -= (size_t)n;
        }
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
        return false;
    }
    S_dir_sync(dir);
    return true;
}

/* Reads a secret file of at most size_max bytes. QB_E_NOT_FOUND when it does
 * not exist, QB_E_FORBIDDEN when others may read it or it is no plain file. */
static enum qb_error S_secret_file_read(const char *path, char *out, size_t size_max, size_t *size)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? QB_E_NOT_FOUND : QB_E_INTERNAL;
    struct stat st;
    enum qb_error err = QB_OK;
    if (fstat(fd, &st) != 0)
        err = QB_E_INTERNAL;
    else if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
        err = QB_E_FORBIDDEN;
    *size = 0;
    while (err == QB_OK) {
        if (*size == size_max) {
            err = QB_E_TOO_LARGE;
            break;
        }
        ssize_t n = read(fd, out + *size, size_max - *size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = QB_E_INTERNAL;
        else if (n == 0)
            break;
        else
            *size += (size_t)n;
    }
    close(fd);
    return err;
}

/* Says on stderr why the secret file at path could not be used (err);
 * raw_size: the bytes a raw key file holds (S_SECRET_SIZE), else 0. */
/* Why the secret file at path could not be read (err), in words that say
 * what to do, into why. */
static void S_secret_why(const char *path, enum qb_error err, size_t raw_size, char *why,
                         size_t why_size)
{
    struct stat st;
    if (raw_size > 0 && err == QB_E_INTERNAL && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size != raw_size)
        snprintf(why, why_size,
                 "secret file \"%s\" holds %lld bytes, not %zu: it is not a key this daemon "
                 "made (put back the one from the data directory's backup)",
                 path, (long long)st.st_size, raw_size);
    else if (err == QB_E_FORBIDDEN)
        snprintf(why, why_size,
                 "secret file \"%s\" is readable by others or not a file; fix with: chmod 600 %s",
                 path, path);
    else if (access(path, R_OK) != 0 && errno == EACCES)
        snprintf(why, why_size,
                 "permission denied reading \"%s\": run qianbaod as the user that owns the data "
                 "directory (uid %ld may not), or give its files to that user (chown)",
                 path, (long)geteuid());
    else
        snprintf(why, why_size, "cannot read or create secret file \"%s\" (%s)", path,
                 error_name(err));
}

static void S_secret_complain(const char *path, enum qb_error err, size_t raw_size)
{
    char why[2 * CONFIG_PATH_SIZE_MAX + 256];
    S_secret_why(path, err, raw_size, why, sizeof why);
    fprintf(stderr, "qianbaod: %s\n", why);
}

/* --- start-up steps ---------------------------------------------------------- */

/* Makes the data directory when it is missing (*made then true: the
 * caller logs it once the start keeps it, S_data_dir_keep), or checks the
 * one in place. */
static bool S_data_dir_prepare(const char *dir, bool *made)
{
    *made = false;
    if (mkdir(dir, 0700) == 0) {
        *made = true;
        return true;
    }
    struct stat st;
    if (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "qianbaod: cannot create the data directory \"%s\": %s\n", dir,
                strerror(errno == EEXIST ? ENOTDIR : errno));
        return false;
    }
    /* The start writes in it (the lock, the database's -wal and -shm, the
     * chain-head): one it may not write failed further on as SQLite's
     * "attempt to write a readonly database", naming neither. */
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) { /* as the effective uid */
        if (errno == EACCES || errno == EROFS)
            fprintf(stderr,
                    "qianbaod: the data directory \"%s\" is not writable by uid %ld (%s): run "
                    "qianbaod as the user that owns it, or give it to that user (chown), "
                    "mode 0700\n",
                    dir, (long)geteuid(), strerror(errno));
        else
            fprintf(stderr, "qianbaod: cannot use the data directory \"%s\": %s\n", dir,
                    strerror(errno));
        return false;
    }
    if ((st.st_mode & 077) != 0)
        log_event(LOG_WARN, "daemon.data_dir_mode", "dir=\"%s\" mode=%03o advice=chmod_700", dir,
                  (unsigned int)(st.st_mode & 0777));
    return true;
}

/* A data directory this start made is kept from the first file written in
 * it besides its lock; logged then. Before, a start refused (another
 * daemon's database, a database whose secrets are elsewhere) removes it
 * again at its end, so that a mistaken flag leaves nothing that looks like
 * a data directory behind. */
static void S_data_dir_keep(const char *dir, bool *made)
{
    if (*made)
        log_event(LOG_INFO, "daemon.data_dir_created", "dir=\"%s\"", dir);
    *made = false;
}

/* After the last connection closed: a clean stop folds the -wal into the
 * database and removes it, unless that final checkpoint could not finish
 * (a full disk, or another process holding the database open). Nothing is
 * lost (the next start recovers the file), but an operator who checks for
 * it before a backup must learn why it is there. */
static void S_wal_left_report(const struct daemon_paths *paths)
{
    if (paths->db_file[0] == '\0')
        return;
    char wal[sizeof paths->db_file + 8];
    snprintf(wal, sizeof wal, "%s-wal", paths->db_file);
    struct stat st;
    if (stat(wal, &st) == 0 && st.st_size > 0)
        log_event(LOG_WARN, "daemon.wal_left",
                  "bytes=%lld advice=the_final_checkpoint_did_not_finish_a_full_disk_or_another_"
                  "process_with_the_database_open_the_next_start_recovers_it",
                  (long long)st.st_size);
}

/* Says on stderr why the exclusive flock on fd (the file at path), which
 * guards what, was refused with flock_errno: --verify holds it shared, or
 * another daemon holds it, named by the pid in the lock file at lock_path
 * (or said to be found with ps when someone removed that file). action is
 * what was refused: NULL for the daemon's start, else a tool's work ("rotate
 * the platform key"), which starts nothing and must not say it refuses to. */
static void S_lock_refused(int fd, int flock_errno, const char *path, const char *what,
                           const char *lock_path, const char *action)
{
    if (flock_errno != EWOULDBLOCK) {
        fprintf(stderr, "qianbaod: cannot lock \"%s\": %s\n", path, strerror(flock_errno));
        return;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        /* Only --verify takes it shared (S_db_offline). */
        if (action != NULL)
            fprintf(stderr,
                    "qianbaod: will not %s while qianbaod --verify checks %s; run it again "
                    "once the check is done\n",
                    action, what);
        else
            fprintf(stderr,
                    "qianbaod: %s is being checked by qianbaod --verify; start again once it "
                    "is done\n",
                    what);
        return;
    }
    char holder[32] = "";
    int lock_fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (lock_fd >= 0) {
        ssize_t n = pread(lock_fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(lock_fd);
    }
    if (action != NULL && holder[0] != '\0')
        fprintf(stderr, "qianbaod: will not %s while qianbaod (pid %s) runs on %s: stop it first\n",
                action, holder, what);
    else if (action != NULL)
        fprintf(stderr,
                "qianbaod: will not %s while a qianbaod runs on %s (its lock file was removed; "
                "ps -C qianbaod finds it): stop it first\n",
                action, what);
    else if (holder[0] != '\0')
        fprintf(stderr, "qianbaod: %s is in use by another qianbaod (pid %s); refusing to start\n",
                what, holder);
    else
        fprintf(stderr,
                "qianbaod: %s is in use by another qianbaod (its lock file was removed; "
                "ps -C qianbaod finds it); refusing to start\n",
                what);
}

/* Takes an exclusive flock on the lock file at lock_path, which guards
 * what ("the data directory \"DIR\"", "the database \"PATH\"") for action
 * (S_lock_refused); -1 when another daemon holds it. The lock file names
 * the holder's pid, for the message of the one refused. */
static int S_lock_take(const char *lock_path, const char *what, const char *action)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "qianbaod: cannot open the lock file \"%s\": %s\n", lock_path,
                strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        S_lock_refused(fd, errno, lock_path, what, lock_path, action);
        close(fd);
        return -1;
    }
    char pid[32];
    int pid_size = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)pid_size, 0) != pid_size)
        log_event(LOG_WARN, "daemon.lock_pid_unwritten", "errno=%d", errno);
    return fd;
}

/* The data directory's lock: it guards the secrets, the database made in
 * it and the listen-address file. An exclusive flock on the directory
 * itself, into *dir_fd, which no file removed from it can undo: after a
 * crash DIR/lock is left behind, naming a dead pid, and an operator who
 * deleted it to get a start going must not let a second daemon onto a
 * running one's database. Then DIR/lock, which names the holder's pid for
 * the message of the one refused. -1 when another daemon holds either.
 * action as S_lock_refused's. */
static int S_data_dir_lock(const char *dir, const char *lock_path, const char *action, int *dir_fd)
{
    char what[CONFIG_PATH_SIZE_MAX + 32];
    snprintf(what, sizeof what, "the data directory \"%s\"", dir);
    *dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dir_fd < 0) {
        fprintf(stderr, "qianbaod: cannot open %s: %s\n", what, strerror(errno));
        return -1;
    }
    if (flock(*dir_fd, LOCK_EX | LOCK_NB) != 0) {
        /* Held: the lock file names by whom, unless someone deleted it. */
        S_lock_refused(*dir_fd, errno, dir, what, lock_path, action);
        close(*dir_fd);
        *dir_fd = -1;
        return -1;
    }
    int fd = S_lock_take(lock_path, what, action);
    if (fd < 0) {
        close(*dir_fd);
        *dir_fd = -1;
    }
    return fd;
}

/* True, with the holder named on stderr, when a daemon holds the data
 * directory already. Asked before the listen address is probed: an operator
 * who starts the daemon twice gives the same command twice, and the second
 * must name the running daemon rather than only find its port taken by
 * "another process". Makes nothing and keeps no lock: the start takes the
 * lock for real later (S_data_dir_lock). */
static bool S_data_dir_held(const struct daemon_paths *paths)
{
    int fd = open(paths->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false; /* not made yet, or unreadable: the start says which */
    char what[CONFIG_PATH_SIZE_MAX + 32];
    snprintf(what, sizeof what, "the data directory \"%s\"", paths->dir);
    bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (held)
        S_lock_refused(fd, EWOULDBLOCK, paths->dir, what, paths->lock, NULL);
    close(fd);
    return held;
}

/* The real path of path into real (symbolic links resolved), also of a file
 * not made yet: then its directory's real path and its name. False, with
 * errno, when neither can be found. */
static bool S_path_real(const char *path, char real[PATH_MAX])
{
    if (realpath(path, real) != NULL)
        return true;
    if (errno != ENOENT)
        return false;
    char dir[PATH_MAX] = ".";
    const char *name = path;
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        size_t dir_size = slash == path ? 1 : (size_t)(slash - path);
        if (dir_size >= sizeof dir) {
            errno = ENAMETOOLONG;
            return false;
        }
        memcpy(dir, path, dir_size);
        dir[dir_size] = '\0';
        name = slash + 1;
    }
    char real_dir[PATH_MAX];
    if (realpath(dir, real_dir) == NULL)
        return false;
    int n = snprintf(real, PATH_MAX, "%s/%s", strcmp(real_dir, "/") == 0 ? "" : real_dir, name);
    if (n < 0 || n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return false;
    }
    return true;
}

/* The database's real path into real (SQLite too follows symbolic links to
 * find its -wal, so every path to one database names one file), its lock
 * file's path into lock_path and "the database \"REAL\"" into what. False,
 * with the reason on stderr, when the path cannot be found. */
static bool S_db_lock_paths(const char *db_file, char real[PATH_MAX], char *lock_path,
                            size_t lock_path_size, char *what, size_t what_size)
{
    if (!S_path_real(db_file, real)) {
        fprintf(stderr, "qianbaod: cannot find the database \"%s\": %s\n", db_file,
                strerror(errno));
        return false;
    }
    if (snprintf(lock_path, lock_path_size, "%s.lock", real) >= (int)lock_path_size) {
        fprintf(stderr, "qianbaod: the database path \"%s\" is too long\n", real);
        return false;
    }
    snprintf(what, what_size, "the database \"%s\"", real);
    return true;
}

/* An exclusive flock on the database file itself, into *fd: what stops a
 * second daemon when the first one's lock file was deleted while it runs
 * (the first then holds its lock on a file no path names, and a new lock
 * file is a new file), since nobody removes a running wallet's database.
 * It does not touch SQLite's locks: on Linux flock and the fcntl locks
 * SQLite takes are independent, and the descriptor stays open until the
 * database is closed, so closing it never drops one of SQLite's. (On NFS
 * flock is emulated with fcntl locks and would clash with them; SQLite's
 * WAL, which needs memory shared on one machine, does not run there.)
 * True with *fd -1 when the file is not made yet and missing_ok: the
 * daemon takes it once store_open made it. False, with the reason on
 * stderr, when it cannot be taken (action as S_lock_refused's). */
static bool S_db_file_lock(const char *db_file, bool missing_ok, const char *action, int *fd)
{
    *fd = -1;
    char real[PATH_MAX], lock_path[PATH_MAX + 8], what[PATH_MAX + 32];
    if (!S_db_lock_paths(db_file, real, lock_path, sizeof lock_path, what, sizeof what))
        return false;
    int db_fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (db_fd < 0) {
        if (errno == ENOENT && missing_ok)
            return true;
        fprintf(stderr, "qianbaod: cannot open %s: %s\n", what, strerror(errno));
        return false;
    }
    if (flock(db_fd, LOCK_EX | LOCK_NB) != 0) {
        S_lock_refused(db_fd, errno, real, what, lock_path, action);
        close(db_fd);
        return false;
    }
    *fd = db_fd;
    return true;
}

/* The database's own locks: --db can point daemons with data directories
 * of their own at one database, and the data directory's lock cannot see
 * that. First the database file itself (S_db_file_lock; *db_fd -1 while
 * the file is not made yet), then "DB.lock" beside it, which names the
 * holder's pid and guards a database not made yet. The lock file's
 * descriptor, or -1 (nothing held) when either cannot be taken (action as
 * S_lock_refused's). */
static int S_db_lock(const char *db_file, const char *action, int *db_fd)
{
    if (!S_db_file_lock(db_file, true, action, db_fd))
        return -1;
    char real[PATH_MAX], lock_path[PATH_MAX + 8], what[PATH_MAX + 32];
    int fd = -1;
    if (S_db_lock_paths(db_file, real, lock_path, sizeof lock_path, what, sizeof what))
        fd = S_lock_take(lock_path, what, action);
    if (fd < 0 && *db_fd >= 0) {
        close(*db_fd);
        *db_fd = -1;
    }
    return fd;
}

/* Makes sure the platform's RSA-2048 signing key exists and parses, making
 * it when it is missing (S_platform_check says when it may be). */
static bool S_platform_key_ensure(const char *dir, const char *path)
{
    const char *name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    char pem[S_PEM_SIZE_MAX];
    size_t pem_size = 0;
    enum qb_error err = S_secret_file_read(path, pem, sizeof pem, &pem_size);
    if (err == QB_OK) {
        BIO *bio = BIO_new_mem_buf(pem, (int)pem_size);
        EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        bool ok = key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
                  EVP_PKEY_get_bits(key) == S_PLATFORM_KEY_BITS;
        EVP_PKEY_free(key);
        BIO_free(bio);
        OPENSSL_cleanse(pem, sizeof pem);
        if (!ok)
            fprintf(stderr, "qianbaod: \"%s\" is not an RSA-2048 private key in PEM\n", path);
        return ok;
    }
    if (err != QB_E_NOT_FOUND) {
        S_secret_complain(path, err, 0);
        return false;
    }

    EVP_PKEY *key = EVP_RSA_gen(S_PLATFORM_KEY_BITS);
    BIO *bio = BIO_new(BIO_s_mem());
    BUF_MEM *mem = NULL;
    bool ok = key != NULL && bio != NULL &&
              PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
              BIO_get_mem_ptr(bio, &mem) == 1 && mem != NULL &&
              S_file_write_atomic(dir, path, mem->data, mem->length, 0600);
    if (mem != NULL)
        OPENSSL_cleanse(mem->data, mem->length);
    BIO_free(bio);
    EVP_PKEY_free(key);
    if (!ok) {
        fprintf(stderr, "qianbaod: cannot create the platform key \"%s\"\n", path);
        return false;
    }
    log_event(LOG_INFO, "daemon.secret_created", "file=%s", name);
    return true;
}

/* Loads a platform signing key (key_path) and its certificate (cert_path),
 * making the certificate when it is missing (S_platform_check says when it
 * may be, for the key that signs). */
static bool S_platform_load(const char *dir, const char *key_path, const char *cert_path,
                            struct merchant_platform **out)
{
    *out = NULL;
    char key[S_PEM_SIZE_MAX];
    char cert[S_PEM_SIZE_MAX];
    size_t key_size = 0;
    size_t cert_size = 0;
    enum qb_error err = S_secret_file_read(key_path, key, sizeof key, &key_size);
    if (err != QB_OK) {
        S_secret_complain(key_path, err, 0);
        return false;
    }
    err = S_secret_file_read(cert_path, cert, sizeof cert, &cert_size);
    if (err == QB_E_NOT_FOUND) {
        struct buf made;
        buf_init(&made, sizeof cert);
        err = merchant_platform_certificate_make(key, key_size, rand_system(),
                                                 clock_now_ms(clock_system()), &made);
        if (err == QB_OK && !S_file_write_atomic(dir, cert_path, made.data, made.size, 0600))
            err = QB_E_INTERNAL;
        if (err == QB_OK) {
            memcpy(cert, made.data, made.size);
            cert_size = made.size;
            log_event(LOG_INFO, "daemon.secret_created", "file=%s", strrchr(cert_path, '/') + 1);
        }
        buf_release(&made);
    }
    if (err == QB_OK)
        err = merchant_platform_open(key, key_size, cert, cert_size, out);
    OPENSSL_cleanse(key, sizeof key);
    if (err != QB_OK)
        fprintf(stderr, "qianbaod: cannot load the platform certificate \"%s\" for \"%s\" (%s)\n",
                cert_path, key_path, error_name(err));
    return err == QB_OK;
}

static bool S_file_missing(const char *path);

/* Whether the key at key_path is the one the certificate at cert_path is
 * for; false too when either does not read. Says nothing. */
static bool S_platform_matches(const char *key_path, const char *cert_path)
{
    char key[S_PEM_SIZE_MAX], cert[S_PEM_SIZE_MAX];
    size_t key_size = 0, cert_size = 0;
    struct merchant_platform *p = NULL;
    bool ok = S_secret_file_read(key_path, key, sizeof key, &key_size) == QB_OK &&
              S_secret_file_read(cert_path, cert, sizeof cert, &cert_size) == QB_OK &&
              merchant_platform_open(key, key_size, cert, cert_size, &p) == QB_OK;
    OPENSSL_cleanse(key, sizeof key);
    merchant_platform_free(p);
    return ok;
}

/* The next platform key of a rotation under way, into *out (NULL when none
 * is: neither of its files is there); its certificate made when missing. A
 * certificate without its key stops the start, as the signing one's does. */
static bool S_platform_next_load(const struct daemon_paths *paths, struct merchant_platform **out)
{
    *out = NULL;
    bool key_missing = S_file_missing(paths->platform_key_next);
    if (key_missing && S_file_missing(paths->platform_cert_next))
        return true;
    if (key_missing) {
        fprintf(stderr,
                "qianbaod: the next platform certificate \"%s\" is there without its key \"%s\": "
                "restore the key from the backup of the data directory, or remove the "
                "certificate (qianbaod --platform-key-rotate cancel)\n",
                paths->platform_cert_next, paths->platform_key_next);
        return false;
    }
    return S_platform_key_ensure(paths->dir, paths->platform_key_next) &&
           S_platform_load(paths->dir, paths->platform_key_next, paths->platform_cert_next, out);
}

/* Reads the admin token (64 lower-case hex characters and a newline) into
 * token, creating it when it is missing. Unlike the other secrets it is made
 * anew for an existing database too: it only lets the operator into the
 * admin API, nothing stored is derived from it (the HTTP server compares it
 * in memory), so a new one locks out no user and loses no data, only
 * whoever held the old token, who reads the new one from the file. Logged
 * as a warning then, since a token that vanished may also have been taken. */
/* The admin token of the file at path into token: NULL when it is one,
 * else why not (with the file's reading error, if that was it, in
 * *read_err). */
static const char *S_admin_token_read(const char *path, char token[S_ADMIN_TOKEN_HEX_SIZE + 1],
                                      enum qb_error *read_err)
{
    char text[S_ADMIN_TOKEN_HEX_SIZE + 2];
    size_t size = 0;
    *read_err = S_secret_file_read(path, text, sizeof text, &size);
    if (*read_err != QB_OK)
        return "unreadable";
    if (size == S_ADMIN_TOKEN_HEX_SIZE + 1 && text[S_ADMIN_TOKEN_HEX_SIZE] == '\n')
        size--;
    bool ok = size == S_ADMIN_TOKEN_HEX_SIZE &&
              strspn(text, "0123456789abcdef") >= S_ADMIN_TOKEN_HEX_SIZE;
    if (ok) {
        memcpy(token, text, S_ADMIN_TOKEN_HEX_SIZE);
        token[S_ADMIN_TOKEN_HEX_SIZE] = '\0';
    }
    crypto_wipe(text, sizeof text);
    return ok ? NULL : "not_64_lower_case_hex_characters";
}

static bool S_admin_token_ensure(const char *dir, const char *path, bool db_new,
                                 char token[S_ADMIN_TOKEN_HEX_SIZE + 1])
{
    enum qb_error err;
    const char *why = S_admin_token_read(path, token, &err);
    if (err == QB_E_NOT_FOUND) {
        char text[S_ADMIN_TOKEN_HEX_SIZE + 2];
        uint8_t raw[S_SECRET_SIZE];
        rand_fill(rand_system(), raw, sizeof raw);
        crypto_hex(raw, sizeof raw, text);
        crypto_wipe(raw, sizeof raw);
        text[S_ADMIN_TOKEN_HEX_SIZE] = '\n';
        bool written = S_file_write_atomic(dir, path, text, S_ADMIN_TOKEN_HEX_SIZE + 1, 0600);
        crypto_wipe(text, sizeof text);
        if (!written) {
            fprintf(stderr, "qianbaod: cannot create the admin token \"%s\"\n", path);
            return false;
        }
        if (db_new)
            log_event(LOG_INFO, "daemon.secret_created", "file=admin-token");
        else
            log_event(LOG_WARN, "daemon.admin_token_created", "path=\"%s\" reason=missing", path);
        why = S_admin_token_read(path, token, &err);
    }
    if (err != QB_OK) {
        S_secret_complain(path, err == QB_E_TOO_LARGE ? QB_E_PARAM : err, 0);
        return false;
    }
    if (why != NULL) {
        fprintf(stderr, "qianbaod: \"%s\" must hold 64 lower-case hex characters\n", path);
        return false;
    }
    return true;
}

/* SIGHUP: the admin token file read again, so that an operator rotates a
 * leaked token without stopping payments (write the new one, then send
 * SIGHUP). A file that is not a token keeps the one in use, and says why. */
static void S_admin_token_reload(const struct daemon_paths *paths, struct http_server *server,
                                 char current[S_ADMIN_TOKEN_HEX_SIZE + 1])
{
    char token[S_ADMIN_TOKEN_HEX_SIZE + 1];
    enum qb_error err;
    const char *why = S_admin_token_read(paths->admin_token, token, &err);
    if (why != NULL) {
        log_event(LOG_ERROR, "daemon.reloaded",
                  "signal=SIGHUP admin_token=kept reason=%s error=%s path=\"%s\"", why,
                  err != QB_OK ? error_name(err) : "-", paths->admin_token);
    } else if (crypto_equal(token, current, S_ADMIN_TOKEN_HEX_SIZE)) {
        log_event(LOG_INFO, "daemon.reloaded", "signal=SIGHUP admin_token=unchanged");
    } else if (!http_server_admin_token_set(server, token)) {
        log_event(LOG_ERROR, "daemon.reloaded", "signal=SIGHUP admin_token=kept reason=no_memory");
    } else {
        memcpy(current, token, S_ADMIN_TOKEN_HEX_SIZE + 1);
        log_event(LOG_AUDIT, "daemon.reloaded", "signal=SIGHUP admin_token=rotated");
    }
    crypto_wipe(token, sizeof token);
}

/* Whether this process may read and write the database and the -wal and
 * -shm beside it, those that exist: a restore done as another user (root,
 * say) otherwise fails later as SQLite's "unable to open database file",
 * or further on, with no path and no reason. False, with both on stderr. */
static bool S_db_files_writable(const struct daemon_paths *paths)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(suffixes); i++) {
        char path[sizeof paths->db_file + 8]; /* room for every suffix: never cut */
        snprintf(path, sizeof path, "%s%s", paths->db_file, suffixes[i]);
        if (access(path, R_OK | W_OK) == 0 || (i > 0 && errno == ENOENT))
            continue;
        if (errno == EACCES)
            fprintf(stderr,
                    "qianbaod: permission denied reading and writing \"%s\": run qianbaod as the "
                    "user that owns the data directory (uid %ld may not), or give its files to "
                    "that user (chown)\n",
                    path, (long)geteuid());
        else
            fprintf(stderr, "qianbaod: cannot read and write \"%s\": %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* Whether the database is new: its file does not exist yet, is empty
 * (SQLite made it, and a crash came before anything was written), or holds
 * no schema (a crash after SQLite wrote its header, or a copy of a file
 * whose data was all in its -wal: the mistake operations.md warns of).
 * *found names which, for the log; *version is the schema version the
 * file holds before this start migrates it (0: none; -1: no file looked
 * at). A url that names no file is left to
 * store_open, which refuses it. False, with the reason on stderr, when the
 * file cannot be looked at. Called under the database's lock. */
static bool S_db_is_new(const struct daemon_paths *paths, bool *db_new, const char **found,
                        int64_t *version)
{
    *db_new = true;
    *found = "no_file";
    *version = 0;
    if (paths->db_file[0] == '\0') {
        *version = -1; /* not a file looked at here */
        return true;
    }
    struct stat st;
    if (stat(paths->db_file, &st) == 0) {
        *db_new = st.st_size == 0;
        *found = "empty_file";
        /* Made by a daemon of before the umask; its -wal and -shm copy
         * its mode. */
        if ((st.st_mode & 077) != 0)
            log_event(LOG_WARN, "daemon.db_mode", "path=\"%s\" mode=%03o advice=chmod_600",
                      paths->db_file, (unsigned int)(st.st_mode & 0777));
        if (!S_db_files_writable(paths))
            return false;
        /* A clean stop checkpoints everything and removes the -wal. */
        char wal[sizeof paths->db_file + 8];
        snprintf(wal, sizeof wal, "%s-wal", paths->db_file);
        if (st.st_size > 0 && access(wal, F_OK) == 0)
            log_event(LOG_WARN, "daemon.unclean_stop",
                      "evidence=wal_left advice=the_last_daemon_was_killed_or_crashed_or_its_final_"
                      "checkpoint_failed_its_committed_work_is_recovered_now");
        struct store *probe = NULL;
        char err[256];
        if (!*db_new &&
            store_open(paths->db_url, STORE_MODE_READ_OFFLINE, &probe, err, sizeof err) == QB_OK) {
            /* One that does not open is left to store_open, to name why. */
            *version = store_schema_version(probe);
            *db_new = *version == 0;
            *found = "file_without_schema";
            /* Tables but no version of ours: another program's file,
             * refused before secrets are made beside it. */
            int64_t objects = 0;
            bool foreign = *db_new &&
                           store_int64(probe, "SELECT count(*) FROM sqlite_schema", NULL, 0,
                                       &objects) == QB_OK &&
                           objects > 0;
            store_close(probe);
            if (foreign) {
                fprintf(stderr,
                        "qianbaod: refusing the database \"%s\": it holds %lld tables and "
                        "indexes but no schema version: not a Qianbao database (another "
                        "program's file? check --db); nothing was written\n",
                        paths->db_file, (long long)objects);
                return false;
            }
        }
        return true;
    }
    if (errno == ENOENT)
        return true;
    fprintf(stderr, "qianbaod: cannot look at the database \"%s\": %s\n", paths->db_file,
            strerror(errno));
    return false;
}

/* Names a missing secret on stderr, with what a new one would break and
 * how to recover. */
static void S_secret_missing_complain(const char *path, const char *db_file, const char *loss)
{
    fprintf(stderr,
            "qianbaod: the secret file \"%s\" is missing, but the database \"%s\" exists "
            "(%s): restore it from the backup of the data directory\n",
            path, db_file, loss);
}

static void S_secrets_refusal_complain(void)
{
    fprintf(stderr, "qianbaod: refusing to start: secrets are made only with a new "
                    "database, and the secrets and the database belong together\n");
}

/* With the database in place, true when the keys of its data, the pepper
 * and the card key, are there; otherwise names each missing one on stderr.
 * Reads no secret. The platform key and certificate are S_platform_check's,
 * the admin token S_admin_token_ensure's. */
static bool S_secrets_present(const struct daemon_paths *paths)
{
    const struct {
        const char *path;
        const char *loss;
    } secrets[] = {
        {paths->pepper, "a new pepper would fail every login, payment password and SMS code"},
        {paths->card_key, "a new card key could not open a single stored card or identity number"},
    };
    bool present = true;
    for (size_t i = 0; i < QB_ARRAY_COUNT(secrets); i++) {
        struct stat st;
        if (lstat(secrets[i].path, &st) == 0 || errno != ENOENT)
            continue; /* its loader checks and reads it */
        S_secret_missing_complain(secrets[i].path, paths->db_file, secrets[i].loss);
        present = false;
    }
    if (!present)
        S_secrets_refusal_complain();
    return present;
}

/* True when path does not exist (other failures are its loader's). */
static bool S_file_missing(const char *path)
{
    struct stat st;
    return lstat(path, &st) != 0 && errno == ENOENT;
}

/* Whether the platform key and certificate may be made where missing, on
 * reading the migrated database through writer. With a new database, yes;
 * with an existing one only while it has no merchant (one bench_seed made,
 * or one from before the merchant API): merchants alone know the
 * certificate and check the key's signatures, so until there is one a new
 * key breaks nothing (logged as a warning). Once there is one, a missing
 * key or certificate stops the start like a missing pepper, to be restored
 * from the backup. A certificate without its key always does: a new key
 * could never match it. */
static bool S_platform_check(const struct daemon_paths *paths, bool db_new, struct store *writer)
{
    bool key_missing = S_file_missing(paths->platform_key);
    bool cert_missing = S_file_missing(paths->platform_cert);
    if (!key_missing && !cert_missing)
        return true;
    if (key_missing && !cert_missing) {
        fprintf(stderr,
                "qianbaod: the platform certificate \"%s\" is there without its key \"%s\" (a "
                "new key could never match it): restore it from the backup of the data "
                "directory\n",
                paths->platform_cert, paths->platform_key);
        return false;
    }
    if (db_new)
        return true;
    struct store_stmt *st = NULL;
    int64_t merchants = -1;
    if (store_prepare(writer, "SELECT count(*) FROM merchants", &st) == QB_OK &&
        store_step(st) == STORE_STEP_ROW)
        merchants = store_column_int64(st, 0);
    store_finalize(st);
    if (merchants < 0) {
        fprintf(stderr, "qianbaod: cannot count the merchants: %s\n", store_last_error(writer));
        return false;
    }
    if (merchants == 0) {
        log_event(LOG_WARN, "daemon.platform_key_created", "reason=no_merchant_yet key=%s cert=%s",
                  key_missing ? "new" : "kept", cert_missing ? "new" : "kept");
        return true;
    }
    if (key_missing)
        S_secret_missing_complain(paths->platform_key, paths->db_file,
                                  "a new platform key would fail every merchant's signature check");
    if (cert_missing)
        S_secret_missing_complain(paths->platform_cert, paths->db_file,
                                  "a new certificate would change the serial merchants know");
    S_secrets_refusal_complain();
    return false;
}

/* A platform key's value for the database's meta.key_check_platform. */
static int64_t S_platform_value(const struct merchant_platform *platform)
{
    return domain_platform_value(platform->public_key_pem.data, platform->public_key_pem.size);
}

/* Creates the missing pepper, card key and chain key of a new database
 * (db_new), or checks the pepper and card key of an existing one, which
 * must be there (its chain key is S_chain_key_load's). */
static bool S_secrets_ensure(const struct daemon_paths *paths, bool db_new)
{
    const char *raw_secrets[] = {paths->pepper, paths->card_key, paths->chain_key};
    for (size_t i = 0; i < QB_ARRAY_COUNT(raw_secrets) - (db_new ? 0 : 1); i++) {
        uint8_t secret[S_SECRET_SIZE];
        enum qb_error err = db_new ? crypto_secret_load(raw_secrets[i], secret, sizeof secret)
                                   : crypto_secret_read(raw_secrets[i], secret, sizeof secret);
        crypto_wipe(secret, sizeof secret);
        if (err != QB_OK) {
            S_secret_complain(raw_secrets[i], err, S_SECRET_SIZE);
            return false;
        }
    }
    return true;
}

/* The hash chain's key (struct ledger_options.chain_key) for a start, read
 * through the migrated database's writer: DATA_DIR/chain-key, made with a
 * new database (S_secrets_ensure). A journal kept by a version without the
 * key gets one on its first start after: made as chain-key.new, which may
 * begin the chain (*is_new: ledger_open keys the journal from its next
 * entry), and renamed chain-key once it has (*settle, S_chain_key_settle),
 * so that a start stopped between the two finds the same key again. A
 * journal keyed already without its key stops the start, like a missing
 * pepper: the key is what tells its history from a rewrite. */
static bool S_chain_key_load(const struct daemon_paths *paths, bool db_new, struct store *writer,
                             uint8_t key[S_SECRET_SIZE], bool *is_new, bool *settle)
{
    *is_new = false;
    *settle = false;
    enum qb_error rc = crypto_secret_read(paths->chain_key, key, S_SECRET_SIZE);
    if (rc == QB_OK) {
        *is_new = db_new;
        return true;
    }
    if (rc != QB_E_NOT_FOUND) {
        S_secret_complain(paths->chain_key, rc, S_SECRET_SIZE);
        return false;
    }
    int64_t keyed_from = 0;
    if (ledger_chain_keyed_from(writer, &keyed_from) != QB_OK) {
        fprintf(stderr, "qianbaod: cannot read whether the journal is keyed: %s\n",
                store_last_error(writer));
        return false;
    }
    rc = crypto_secret_read(paths->chain_key_new, key, S_SECRET_SIZE);
    if (rc == QB_E_NOT_FOUND && keyed_from != 0) {
        S_secret_missing_complain(paths->chain_key, paths->db_file,
                                  "without it the journal's history can be neither checked nor "
                                  "continued");
        S_secrets_refusal_complain();
        return false;
    }
    if (rc == QB_E_NOT_FOUND)
        rc = crypto_secret_load(paths->chain_key_new, key, S_SECRET_SIZE);
    if (rc != QB_OK) {
        S_secret_complain(paths->chain_key_new, rc, S_SECRET_SIZE);
        return false;
    }
    *is_new = true;
    *settle = true;
    return true;
}

/* chain-key.new becomes chain-key, durably, once the ledger keyed the
 * journal with it. */
static bool S_chain_key_settle(const struct daemon_paths *paths)
{
    if (rename(paths->chain_key_new, paths->chain_key) != 0) {
        fprintf(stderr, "qianbaod: cannot rename \"%s\" to \"%s\": %s\n", paths->chain_key_new,
                paths->chain_key, strerror(errno));
        return false;
    }
    S_dir_sync(paths->dir);
    log_event(LOG_WARN, "daemon.chain_key_created", "path=\"%s\"", paths->chain_key);
    return true;
}

/* The chain key for a check of the books (--verify, --rebuild-checkpoints),
 * which makes none: chain-key, or chain-key.new while a start keys an older
 * journal (it may begin the chain: *is_new). NULL when there is neither,
 * and only a journal not keyed passes then. */
static const uint8_t *S_chain_key_for_check(const struct daemon_paths *paths,
                                            uint8_t key[S_SECRET_SIZE], bool *is_new)
{
    *is_new = false;
    if (crypto_secret_read(paths->chain_key, key, S_SECRET_SIZE) == QB_OK)
        return key;
    if (crypto_secret_read(paths->chain_key_new, key, S_SECRET_SIZE) == QB_OK) {
        *is_new = true;
        return key;
    }
    fprintf(stderr, "qianbaod: no chain key at \"%s\": only a journal not keyed yet can pass\n",
            paths->chain_key);
    return NULL;
}

/* --- the chain's head, outside the database ------------------------------------ */

/* DATA_DIR/chain-head holds the newest entry this data directory's daemon
 * made durable and its hash, and the newest row of the operators' audit
 * trail and its seal ("entry=N hash=HEX audit=S seal=HEX"; the audit part
 * once the trail has a row, and not in a file an earlier version wrote),
 * written at most a second after them (S_head_main) and at every stop. A
 * start, and --verify, on a database that no longer holds that entry or
 * that row (an older copy put back: a backup, a disk snapshot, a file
 * replaced or rows deleted by whoever can write it) is refused instead of
 * serving balances that forget acknowledged payments, or a trail that
 * forgets what operators did. The file is written after what it names is
 * durable, so a crash leaves it behind the database, never ahead. */
#define S_HEAD_INTERVAL_MS 1000

struct S_head {
    const struct daemon_paths *paths;
    struct ledger *ledger;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    int64_t written_id;  /* -1: none yet */
    int64_t written_seal;
    bool failure_logged; /* since the last write that worked */
    /* The audit trail's newest seal: the trail's at start
     * (domain_audit_open), then the ledger's newest durable one. */
    int64_t audit_seq; /* 0: the trail is empty */
    uint8_t audit_mac[CRYPTO_SHA256_SIZE];
};

/* Writes DATA_DIR/chain-head atomically: the journal's entry and hash,
 * and the audit trail's row and seal when it has one (audit_seq > 0). */
static bool S_head_file_write(const struct daemon_paths *paths, int64_t id,
                              const uint8_t hash[CRYPTO_SHA256_SIZE], int64_t audit_seq,
                              const uint8_t audit_mac[CRYPTO_SHA256_SIZE])
{
    char hex[2 * CRYPTO_SHA256_SIZE + 1], seal_hex[2 * CRYPTO_SHA256_SIZE + 1];
    crypto_hex(hash, CRYPTO_SHA256_SIZE, hex);
    crypto_hex(audit_mac, CRYPTO_SHA256_SIZE, seal_hex);
    char text[256];
    int size = audit_seq > 0 ? snprintf(text, sizeof text,
                                        "entry=%" PRId64 " hash=%s audit=%" PRId64 " seal=%s\n", id,
                                        hex, audit_seq, seal_hex)
                             : snprintf(text, sizeof text, "entry=%" PRId64 " hash=%s\n", id, hex);
    return S_file_write_atomic(paths->dir, paths->chain_head, text, (size_t)size, 0600);
}

/* Writes the ledger's durable head when it moved; false when that failed
 * (errno says why). */
static bool S_head_write(struct S_head *h)
{
    int64_t id = 0;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    ledger_durable_head(h->ledger, &id, hash);
    int64_t seal = 0;
    uint8_t mac[CRYPTO_SHA256_SIZE];
    ledger_durable_seal(h->ledger, &seal, mac);
    if (seal > h->audit_seq) {
        h->audit_seq = seal;
        memcpy(h->audit_mac, mac, sizeof mac);
    }
    if (id == h->written_id && h->audit_seq == h->written_seal)
        return true;
    if (!S_head_file_write(h->paths, id, hash, h->audit_seq, h->audit_mac)) {
        int saved = errno;
        if (!h->failure_logged)
            log_event(LOG_ERROR, "daemon.chain_head_failed", "path=\"%s\" errno=%d",
                      h->paths->chain_head, saved);
        h->failure_logged = true;
        errno = saved;
        return false;
    }
    h->written_id = id;
    h->written_seal = h->audit_seq;
    h->failure_logged = false;
    return true;
}

static void *S_head_main(void *arg)
{
    struct S_head *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        struct timespec until = thread_deadline(S_HEAD_INTERVAL_MS);
        pthread_cond_timedwait(&h->wake, &h->lock, &until);
        if (h->stopping)
            break;
        pthread_mutex_unlock(&h->lock);
        S_head_write(h);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static bool S_head_start(struct S_head *h, const struct daemon_paths *paths, struct ledger *ledger,
                         int64_t audit_seq, const uint8_t audit_mac[CRYPTO_SHA256_SIZE])
{
    *h =
        (struct S_head){.paths = paths, .ledger = ledger, .written_id = -1, .audit_seq = audit_seq};
    memcpy(h->audit_mac, audit_mac, CRYPTO_SHA256_SIZE);
    /* The head the start found: a start stopped later keeps it. One that
     * cannot be written (a data directory the daemon's user may not write)
     * would leave the file naming an ever older entry while payments are
     * acknowledged: any older copy of the database would then pass. */
    if (!S_head_write(h)) {
        fprintf(stderr,
                "qianbaod: refusing to start: cannot write \"%s\": %s; the daemon's user "
                "(uid %ld) must be able to write the data directory \"%s\", where it records "
                "what it made durable\n",
                paths->chain_head, strerror(errno), (long)geteuid(), paths->dir);
        return false;
    }
    pthread_mutex_init(&h->lock, NULL);
    thread_cond_init(&h->wake);
    h->started = thread_start(&h->thread, -1, S_head_main, h);
    if (h->started) {
        thread_name(h->thread, "qb-chain-head");
    } else {
        fprintf(stderr, "qianbaod: cannot start the thread that records the chain's head\n");
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
    }
    return h->started;
}

/* Stops the writer, then writes the head once more: call after the ledger
 * stopped, so that the file names its last entry. */
static void S_head_stop(struct S_head *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    h->started = false;
    S_head_write(h);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
}

/* Decodes 64 hex digits into out. */
static bool S_hex32(const char *hex, uint8_t out[CRYPTO_SHA256_SIZE])
{
    if (strlen(hex) != 2 * CRYPTO_SHA256_SIZE)
        return false;
    for (size_t i = 0; i < CRYPTO_SHA256_SIZE; i++) {
        unsigned int byte = 0;
        if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
            sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return false;
        out[i] = (uint8_t)byte;
    }
    return true;
}

/* What DATA_DIR/chain-head names: the journal's entry and hash, and the
 * audit trail's row and seal (audit_seq 0: none named). */
struct S_head_file {
    int64_t entry_id;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    int64_t audit_seq;
    uint8_t audit_mac[CRYPTO_SHA256_SIZE];
};

/* Reads DATA_DIR/chain-head: *found false when there is none; false, named
 * on stderr, when it cannot be read or is not one the daemon wrote. */
static bool S_head_read(const char *path, bool *found, struct S_head_file *out)
{
    *found = false;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return true;
        fprintf(stderr, "qianbaod: cannot read \"%s\": %s\n", path, strerror(errno));
        return false;
    }
    char line[256] = "", hex[2 * CRYPTO_SHA256_SIZE + 2] = "",
         seal[2 * CRYPTO_SHA256_SIZE + 2] = "";
    long long entry = -1, audit = 0;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    int fields =
        ok ? sscanf(line, "entry=%lld hash=%65s audit=%lld seal=%65s", &entry, hex, &audit, seal)
           : 0;
    ok = (fields == 2 || (fields == 4 && audit > 0 && S_hex32(seal, out->audit_mac))) &&
         entry >= 0 && S_hex32(hex, out->hash);
    if (!ok) {
        fprintf(stderr,
                "qianbaod: \"%s\" is not a chain head this daemon wrote (\"entry=N hash=HEX\" "
                "and \"audit=N seal=HEX\"): restore it with the database from the backup of the "
                "data directory\n",
                path);
        return false;
    }
    *found = true;
    out->entry_id = (int64_t)entry;
    out->audit_seq = fields == 4 ? (int64_t)audit : 0;
    return true;
}

/* Whether a database about to be made new (found: what was there,
 * S_db_is_new) is one this data directory never had: no -wal is left of an
 * earlier one (SQLite opening an empty file would delete it, and every
 * commit in it not yet copied back), and the chain-head names no entry or
 * audit row made durable. Either is a database moved aside or lost, not a
 * first start. False, named on stderr, before anything is made. */
static bool S_db_new_is_first(const struct daemon_paths *paths, const char *found)
{
    if (paths->db_file[0] == '\0')
        return true; /* a database no file names: S_db_is_new cannot tell it is new */
    const char *what = strcmp(found, "no_file") == 0      ? "missing"
                       : strcmp(found, "empty_file") == 0 ? "empty"
                                                          : "without tables";
    char wal[sizeof paths->db_file + 8];
    snprintf(wal, sizeof wal, "%s-wal", paths->db_file);
    struct stat st;
    if (strcmp(found, "file_without_schema") != 0 && stat(wal, &st) == 0 && st.st_size > 0) {
        fprintf(stderr,
                "qianbaod: refusing to start: the database \"%s\" is %s, but \"%s\" beside it "
                "holds %lld bytes of its commits: put the database back beside its -wal (the two "
                "go together, never one without the other); to make a new, empty wallet "
                "instead, move both aside; nothing was written\n",
                paths->db_file, what, wal, (long long)st.st_size);
        return false;
    }
    bool head_found = false;
    struct S_head_file head;
    if (!S_head_read(paths->chain_head, &head_found, &head))
        return false;
    if (head_found && (head.entry_id > 0 || head.audit_seq > 0)) {
        /* A file without tables beside no -wal: its commits were all in
         * the -wal (a busy daemon's file may hold none yet). */
        bool wal_lost = strcmp(found, "file_without_schema") == 0;
        fprintf(stderr,
                "qianbaod: refusing to start: the database \"%s\" is %s, but this data "
                "directory's daemon made %s %lld durable (\"%s\"): %srestore the database "
                "from the backup of this data directory (docs/operations.md, \"Restoring\"); "
                "nothing was written\n",
                paths->db_file, what, head.entry_id > 0 ? "entry" : "audit row",
                (long long)(head.entry_id > 0 ? head.entry_id : head.audit_seq), paths->chain_head,
                wal_lost ? "its commits are in its -wal, which was removed or cut short: put that "
                           "-wal back beside it (the two go together), or else "
                         : "");
        return false;
    }
    return true;
}

/* Whether the database read through s still holds the chain head of the
 * data directory; when not, why (false with why "" when the file itself
 * was refused, named on stderr). */
static bool S_head_check(const struct daemon_paths *paths, struct store *s, char *why,
                         size_t why_size)
{
    why[0] = '\0';
    bool found = false;
    int64_t last = 0;
    struct S_head_file head;
    if (!S_head_read(paths->chain_head, &found, &head))
        return false;
    if (!found)
        return true;
    enum qb_error rc = ledger_head_check(s, head.entry_id, head.hash, &last);
    if (rc == QB_E_NOT_FOUND)
        snprintf(why, why_size,
                 "the journal of \"%s\" ends at entry %lld, but this data directory's daemon "
                 "made entry %lld durable (\"%s\"): its \"%s-wal\", which holds the commits not "
                 "yet in the database file, was removed or cut short, or the database is an "
                 "older copy (a backup put back, a disk snapshot); either way it would forget "
                 "the payments after entry %lld. Put back that -wal beside it (the two go "
                 "together), or the newest database; only to go on from this copy on purpose "
                 "(a restore), put back the chain-head backed up with it or remove \"%s\"",
                 paths->db_file, (long long)last, (long long)head.entry_id, paths->chain_head,
                 paths->db_file, (long long)last, paths->chain_head);
    else if (rc == QB_E_CONFLICT)
        snprintf(why, why_size,
                 "entry %lld of the journal of \"%s\" is not the one this data directory's "
                 "daemon wrote (\"%s\"): the database was replaced or altered; restore the "
                 "database and the data directory backed up together",
                 (long long)head.entry_id, paths->db_file, paths->chain_head);
    else if (rc != QB_OK && store_schema_version(s) <= 0)
        snprintf(why, why_size,
                 "the database \"%s\" has no tables, but this data directory's daemon made "
                 "entry %lld durable (\"%s\"): its commits are in its \"%s-wal\", which was "
                 "removed or cut short; put that -wal back beside it (the two go together), or "
                 "else restore the database from the backup",
                 paths->db_file, (long long)head.entry_id, paths->chain_head, paths->db_file);
    else if (rc != QB_OK)
        snprintf(why, why_size, "cannot read the journal's head: %s", store_last_error(s));
    if (rc != QB_OK || head.audit_seq == 0)
        return rc == QB_OK;
    rc = domain_audit_head_check(s, head.audit_seq, head.audit_mac, &last);
    if (rc == QB_E_NOT_FOUND)
        snprintf(why, why_size,
                 "the operators' audit trail of \"%s\" ends at row %lld, but this data "
                 "directory's daemon made row %lld durable (\"%s\"): rows were deleted, or the "
                 "database is an older copy; put back the newest database, or, to go on with "
                 "the trail as it stands (a copy of the database kept for the investigation), "
                 "run qianbaod --reseal-audit-trail",
                 paths->db_file, (long long)last, (long long)head.audit_seq, paths->chain_head);
    else if (rc == QB_E_CONFLICT)
        snprintf(why, why_size,
                 "row %lld of the operators' audit trail of \"%s\" is not the one this data "
                 "directory's daemon wrote (\"%s\"): the trail was altered; keep a copy of the "
                 "database for the investigation, then run qianbaod --reseal-audit-trail to go "
                 "on with the trail as it stands",
                 (long long)head.audit_seq, paths->db_file, paths->chain_head);
    else if (rc != QB_OK)
        snprintf(why, why_size, "cannot read the audit trail's head: %s", store_last_error(s));
    return rc == QB_OK;
}

/* S_head_check for the running daemon's ledger check
 * (http_server_options.head_check). */
static bool S_head_check_live(const void *paths, struct store *reader, char *why, size_t why_size)
{
    return S_head_check(paths, reader, why, why_size);
}

static bool S_head_check_at_start(const struct daemon_paths *paths, struct store *writer)
{
    char why[5 * CONFIG_PATH_SIZE_MAX + 768];
    if (S_head_check(paths, writer, why, sizeof why)) {
        /* No chain-head beside a journal that has entries: removed to go
         * on from an older copy (the refusal says how), or a data
         * directory from before it. Nothing says what came after the
         * journal's last entry, so the start says from where it goes on.
         * (The file was read once already: a damaged one stopped there.) */
        bool found = false;
        struct S_head_file head;
        int64_t last = 0;
        static const uint8_t none[CRYPTO_SHA256_SIZE];
        if (S_head_read(paths->chain_head, &found, &head) && !found &&
            ledger_head_check(writer, INT64_MAX, none, &last) == QB_E_NOT_FOUND && last > 0)
            log_event(LOG_WARN, "daemon.chain_head_missing",
                      "path=\"%s\" last_entry=%lld what=\"the journal is taken as this data "
                      "directory's newest: a payment acknowledged after its last entry is not "
                      "in it\"",
                      paths->chain_head, (long long)last);
        return true;
    }
    if (why[0] != '\0')
        fprintf(stderr, "qianbaod: refusing to start: %s\n", why);
    return false;
}

/* Lets the process hold as many sockets as the connection limit asks. */
static void S_fd_limit_raise(int64_t connections_max)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            return;
    }
    if ((uint64_t)connections_max + HTTP_ADMIN_CONNECTIONS_RESERVE + 64 > (uint64_t)limit.rlim_cur)
        log_event(LOG_WARN, "daemon.fd_limit", "connections_max=%lld nofile=%llu",
                  (long long)connections_max, (unsigned long long)limit.rlim_cur);
}

/* --- serve --------------------------------------------------------------------- */

/* Test builds only: QIANBAO_TEST_FAULT=write|sync|open|full|shm|pool puts the
 * failing VFS under SQLite (src/store/fault_vfs.h; pool: the read pool's
 * borrowing), and each SIGUSR1 then arms one failure. Elsewhere SIGUSR1 stays blocked and is never
 * waited for. */
static bool S_test_faults_install(void)
{
#ifdef QB_TEST_HOOKS
    const char *kind_text = getenv("QIANBAO_TEST_FAULT");
    enum store_fault_kind kind;
    if (kind_text == NULL || kind_text[0] == '\0')
        return true;
    if (!store_fault_kind_parse(kind_text, &kind) || !store_fault_install(kind)) {
        fprintf(stderr,
                "qianbaod: QIANBAO_TEST_FAULT=%s: not write, sync, open, full, shm or pool,"
                " or refused\n",
                kind_text);
        return false;
    }
    log_event(LOG_WARN, "test.faults_installed", "kind=%s", kind_text);
#endif
    return true;
}

/* Test builds only: QIANBAO_TEST_CLOCK_OFFSET_MS=N (|N| at most 400 days)
 * runs the daemon's clock — the ledger's and the domain's — N ms ahead of
 * the system clock, so that a test can serve "tomorrow" the bills of what
 * it did today. Elsewhere, and without the variable, the system clock. */
#ifdef QB_TEST_HOOKS
static int64_t S_offset_clock_now_ms(struct qb_clock *clock)
{
    return clock_now_ms(clock_system()) + atomic_load(&clock->fixed_ms);
}
#endif

static struct qb_clock *S_test_clock(void)
{
#ifdef QB_TEST_HOOKS
    static struct qb_clock offset_clock;
    const char *text = getenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    if (text != NULL && text[0] != '\0') {
        char *end = NULL;
        long long value = strtoll(text, &end, 10);
        const long long bound = 400LL * 24 * 60 * 60 * 1000;
        if (end != text && *end == '\0' && value >= -bound && value <= bound) {
            offset_clock.now_ms = S_offset_clock_now_ms;
            atomic_store(&offset_clock.fixed_ms, (int64_t)value);
            log_event(LOG_WARN, "test.clock_offset", "offset_ms=%lld", value);
            return &offset_clock;
        }
    }
#endif
    return clock_system();
}

/* True when signal_number was a test build's SIGUSR1, handled here. */
static bool S_test_signal(int signal_number)
{
#ifdef QB_TEST_HOOKS
    if (signal_number == SIGUSR1) {
        store_fault_arm(1);
        log_event(LOG_INFO, "test.fault_armed", "injected_so_far=%ld", store_fault_injected());
        return true;
    }
#else
    (void)signal_number;
#endif
    return false;
}

/* --- the stop, watched ------------------------------------------------------------- */

/* Where a stop is, for the operator who signals again because it seems
 * stuck: a further SIGTERM or SIGINT (or SIGHUP) during the stop is taken
 * by the qb-signals thread, which logs daemon.still_stopping with the
 * stage, and what the stage waits on while it can still be read: the
 * requests open, the ledger's queue. It never ends the stop sooner: every
 * payment the ledger acknowledged is answered and checkpointed first.
 *
 * The lock orders the stage's objects with their end: the stopping
 * thread forgets a server or ledger under it before freeing it, the
 * watcher reads them only under it. */
enum S_stop_stage {
    S_STOP_LISTENERS = 1, /* new connections closed from now on: at once */
    S_STOP_WORKERS,       /* the background workers, each ending its call outside */
    S_STOP_OFFLOAD,       /* requests' calls outside (a bank) and queued password checks */
    S_STOP_LEDGER,        /* the ledger runs what was queued, then checkpoints its accounts */
    S_STOP_HTTP,          /* answers written to the requests still open (at most 5 s) */
    S_STOP_DATABASE,      /* the read pool and the database closed: a last checkpoint */
    S_STOP_DONE,
};

static struct {
    pthread_mutex_t lock;
    enum S_stop_stage stage;
    const char *worker; /* S_STOP_WORKERS: which one */
    struct http_server *server;
    struct ledger *ledger;
    const sigset_t *signals;
    pthread_t thread;
    bool watching;
} S_stop = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const S_stop_stage_names[] = {
    [S_STOP_LISTENERS] = "closing_listeners",
    [S_STOP_WORKERS] = "workers",
    [S_STOP_OFFLOAD] = "http_offload",
    [S_STOP_LEDGER] = "ledger_draining",
    [S_STOP_HTTP] = "http_draining",
    [S_STOP_DATABASE] = "closing_database",
    [S_STOP_DONE] = "done",
};

static void *S_stop_watch(void *arg)
{
    (void)arg;
    thread_name(pthread_self(), "qb-signals");
    for (;;) {
        int signal_number = 0;
        if (sigwait(S_stop.signals, &signal_number) != 0 || S_test_signal(signal_number))
            continue;
        pthread_mutex_lock(&S_stop.lock);
        enum S_stop_stage stage = S_stop.stage;
        if (stage == S_STOP_DONE) {
            pthread_mutex_unlock(&S_stop.lock);
            return NULL;
        }
        char detail[128] = "";
        size_t used = 0;
        if (stage == S_STOP_WORKERS)
            used += (size_t)snprintf(detail, sizeof detail, " worker=%s", S_stop.worker);
        if (S_stop.server != NULL)
            used += (size_t)snprintf(detail + used, sizeof detail - used, " requests_open=%lld",
                                     (long long)http_server_requests_open(S_stop.server));
        if (S_stop.ledger != NULL) {
            struct ledger_stats stats;
            ledger_stats_get(S_stop.ledger, &stats);
            snprintf(detail + used, sizeof detail - used, " queue_depth=%llu",
                     (unsigned long long)stats.queue_depth);
        }
        log_event(LOG_WARN, "daemon.still_stopping", "signal=%s stage=%s%s",
                  signal_number == SIGTERM  ? "SIGTERM"
                  : signal_number == SIGINT ? "SIGINT"
                                            : "SIGHUP",
                  S_stop_stage_names[stage], detail);
        pthread_mutex_unlock(&S_stop.lock);
    }
}

/* Takes the signals that come during the stop from now on. */
static void S_stop_watch_start(const sigset_t *signals, struct http_server *server,
                               struct ledger *ledger)
{
    pthread_mutex_lock(&S_stop.lock);
    S_stop.signals = signals;
    S_stop.stage = S_STOP_LISTENERS;
    S_stop.server = server;
    S_stop.ledger = ledger;
    pthread_mutex_unlock(&S_stop.lock);
    S_stop.watching = thread_start(&S_stop.thread, -1, S_stop_watch, NULL);
    if (!S_stop.watching)
        log_event(LOG_WARN, "daemon.stop_unwatched", "reason=no_thread");
}

/* The stop is at stage now; server and ledger are those alive through it
 * (NULL: freed during it, or already). */
static void S_stop_at(enum S_stop_stage stage, const char *worker, struct http_server *server,
                      struct ledger *ledger)
{
    pthread_mutex_lock(&S_stop.lock);
    S_stop.stage = stage;
    S_stop.worker = worker;
    S_stop.server = server;
    S_stop.ledger = ledger;
    pthread_mutex_unlock(&S_stop.lock);
}

static void S_stop_watch_end(void)
{
    S_stop_at(S_STOP_DONE, NULL, NULL, NULL);
    if (!S_stop.watching)
        return;
    /* Its sigwait takes a signal sent to it alone, then sees the stop done. */
    pthread_kill(S_stop.thread, SIGTERM);
    pthread_join(S_stop.thread, NULL);
    S_stop.watching = false;
}

/* The sessions in use and their users, read into the caches before the
 * first request. */
static enum qb_error S_caches_load(const struct domain_env *env, struct ledger *ledger,
                                   struct store_pool *pool)
{
    struct store *reader;
    enum qb_error err = store_pool_acquire(pool, 0, &reader);
    if (err != QB_OK)
        return err;
    int64_t start_ns = clock_monotonic_ns();
    size_t sessions = 0, users = 0;
    err = identity_session_cache_load(env, reader, &sessions);
    store_pool_release(pool, reader);
    if (err == QB_OK)
        err = identity_user_cache_load(ledger, env, &users);
    if (err == QB_OK)
        log_event(LOG_INFO, "daemon.caches_loaded", "sessions=%zu users=%zu ms=%lld", sessions,
                  users, (long long)((clock_monotonic_ns() - start_ns) / 1000000));
    return err;
}

static int S_serve(const struct config *cfg, const struct daemon_paths *paths,
                   const sigset_t *signals)
{
    int status = 1;
    int lock_fd = -1;
    int dir_lock_fd = -1;
    bool dir_made = false; /* made by this start, and nothing written in it yet */
    int db_lock_fd = -1;
    int db_file_lock_fd = -1;
    struct store *writer = NULL;
    struct store_pool *pool = NULL;
    /* How far the ledger's commits are durable: the ledger advances it, the
     * read pool waits on it. It outlives both. */
    struct store_horizon horizon;
    store_horizon_init(&horizon);
    struct ledger *ledger = NULL;
    struct http_server *server = NULL;
    struct sms_gateway *sms_gateway = NULL;
    struct sms_worker *sms_worker = NULL;
    struct wallet_worker *wallet_worker = NULL;
    struct merchant_platform *platform = NULL, *platform_next = NULL;
    struct redpacket_worker *redpacket_worker = NULL;
    struct merchant_notify_worker *notify_worker = NULL;
    struct merchant_paycode_worker *paycode_worker = NULL;
    struct domain_env env;
    bool env_ready = false;
    uint8_t pepper[S_SECRET_SIZE];
    uint8_t card_key[S_SECRET_SIZE];
    uint8_t chain_key[S_SECRET_SIZE];
    bool chain_key_new = false, chain_key_settle = false;
    struct S_head head = {.written_id = -1};
    char admin_token[S_ADMIN_TOKEN_HEX_SIZE + 1] = "";
    char err[512] = "";

    if (!S_test_faults_install())
        goto out;
    /* SMS delivery: the outbox unless a provider is configured. First, so
     * that a provider url or body template it refuses, a bad setting, is
     * found out before anything is made: the template even without a url,
     * so that it does not wait to fail until the day one is set. Neither is
     * quoted (a provider's url may carry its key). */
    bool has_url = cfg->sms_provider_url[0] != '\0';
    if (!sms_gateway_http_check(has_url ? cfg->sms_provider_url : NULL, cfg->sms_body_template, err,
                                sizeof err)) {
        fprintf(stderr, "qianbaod: %s refused: %s\n",
                strstr(err, "the url") == err ? "--sms-provider-url" : "--sms-body-template", err);
        status = 2;
        goto out;
    }
    if (has_url) {
        sms_gateway = sms_gateway_http_new(cfg->sms_provider_url, cfg->sms_body_template,
                                           S_SMS_PROVIDER_TIMEOUT_MS);
        if (sms_gateway == NULL) {
            fprintf(stderr, "qianbaod: cannot set up the SMS provider's client\n");
            goto out;
        }
    } else {
        sms_gateway = sms_gateway_outbox_new();
        if (sms_gateway == NULL) {
            fprintf(stderr, "qianbaod: cannot set up the SMS outbox\n");
            goto out;
        }
    }
    if (!S_data_dir_prepare(paths->dir, &dir_made))
        goto out;
    lock_fd = S_data_dir_lock(paths->dir, paths->lock, NULL, &dir_lock_fd);
    if (lock_fd < 0)
        goto out;
    if (paths->db_file[0] != '\0') {
        db_lock_fd = S_db_lock(paths->db_file, NULL, &db_file_lock_fd);
        if (db_lock_fd < 0)
            goto out;
    }
    /* The keys of the stored data are made only together with a new
     * database, and before it, so that a database never exists without
     * them: a key made for an existing database would fit none of its data.
     * Decided under the lock, so that no other daemon makes the database
     * meanwhile. */
    bool db_new = true;
    const char *db_found = NULL;
    int64_t version_found = 0;
    if (!S_db_is_new(paths, &db_new, &db_found, &version_found) ||
        (!db_new && !S_secrets_present(paths)) || (db_new && !S_db_new_is_first(paths, db_found)))
        goto out;
    S_data_dir_keep(paths->dir, &dir_made);
    unlink(paths->listen_address); /* a stale one would point at a dead port */
    unlink(paths->admin_listen_address);
    if (!S_secrets_ensure(paths, db_new))
        goto out;
    S_fd_limit_raise(cfg->http_connections_max);

    enum qb_error rc = store_open(paths->db_url, STORE_MODE_WRITE, &writer, err, sizeof err);
    if (rc == QB_OK)
        rc = store_pool_open(paths->db_url, (int)cfg->read_connections, &pool, err, sizeof err);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot open the database: %s (%s)\n", err, error_name(rc));
        goto out;
    }
    /* A database made just now is locked as soon as it exists (its lock
     * file kept everyone else out meanwhile). */
    if (db_lock_fd >= 0 && db_file_lock_fd < 0 &&
        !S_db_file_lock(paths->db_file, false, NULL, &db_file_lock_fd))
        goto out;
    if (db_new) { /* a new, empty wallet: worth a look if nobody meant to make one */
        char where[PATH_MAX];
        log_event(LOG_WARN, "daemon.database_created", "path=\"%s\" found=%s",
                  S_absolute(paths->db_file[0] != '\0' ? paths->db_file : paths->db_url, where),
                  db_found);
    }
    /* Read while this thread still owns the write connection: once the
     * ledger is open only its writer thread may touch it. */
    int64_t schema_version = store_schema_version(writer);
    if (!S_platform_check(paths, db_new, writer) ||
        !S_platform_key_ensure(paths->dir, paths->platform_key) ||
        !S_platform_load(paths->dir, paths->platform_key, paths->platform_cert, &platform) ||
        !S_platform_next_load(paths, &platform_next) ||
        !S_admin_token_ensure(paths->dir, paths->admin_token, db_new, admin_token) ||
        !S_chain_key_load(paths, db_new, writer, chain_key, &chain_key_new, &chain_key_settle) ||
        !S_head_check_at_start(paths, writer))
        goto out;
    struct ledger_options ledger_options = {
        .queue_max = (size_t)cfg->executor_queue_max,
        .batch_max = (size_t)cfg->executor_batch_max,
        .idempotency_retention_ms = cfg->idempotency_retention_days * 24 * 60 * 60 * 1000,
        .pin_writer = cfg->ledger_cpu >= 0,
        .writer_cpu = (int)cfg->ledger_cpu,
        .chain_key = chain_key,
        .chain_key_new = chain_key_new,
    };
    wallet_ledger_options(&ledger_options);
    struct qb_clock *daemon_clock = S_test_clock(); /* once: it logs its offset */
    ledger_options.clock = daemon_clock;
    ledger_options.horizon = &horizon;
    store_pool_horizon_set(pool, &horizon);
    rc = ledger_open(writer, &ledger_options, &ledger);
    if (rc == QB_E_CONFLICT) {
        fprintf(stderr,
                "qianbaod: refusing to start: the journal of \"%s\" was not keyed with the "
                "chain key \"%s\" (the database was replaced by an older one or altered, or "
                "the key is another installation's): restore the database and the secrets "
                "backed up together\n",
                paths->db_file, chain_key_settle ? paths->chain_key_new : paths->chain_key);
        goto out;
    }
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot open the ledger (%s); run qianbaod --verify\n",
                error_name(rc));
        goto out;
    }
    if (chain_key_settle && !S_chain_key_settle(paths))
        goto out;
    /* The operators' audit trail: an earlier version's sealed now, and
     * its newest seal the head's to keep. */
    int64_t audit_seq = 0;
    uint8_t audit_mac[CRYPTO_SHA256_SIZE];
    rc = domain_audit_open(ledger, &audit_seq, audit_mac);
    if (rc == QB_E_INTERNAL) {
        fprintf(stderr,
                "qianbaod: refusing to start: the newest row of the operators' audit trail of "
                "\"%s\" has no seal though the rows before it have: the trail was altered; run "
                "qianbaod --verify, keep a copy of the database for the investigation, then "
                "qianbaod --reseal-audit-trail to go on with the trail as it stands\n",
                paths->db_file);
        goto out;
    }
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot read the operators' audit trail (%s)\n", error_name(rc));
        goto out;
    }
    if (!S_head_start(&head, paths, ledger, audit_seq, audit_mac))
        goto out;

    /* The domain: its keys come from the two secret files, its settings
     * from the defaults with the configured overrides. */
    rc = crypto_secret_read(paths->pepper, pepper, sizeof pepper);
    if (rc != QB_OK) {
        S_secret_complain(paths->pepper, rc, S_SECRET_SIZE);
        goto out;
    }
    rc = crypto_secret_read(paths->card_key, card_key, sizeof card_key);
    if (rc != QB_OK) {
        S_secret_complain(paths->card_key, rc, S_SECRET_SIZE);
        goto out;
    }
    struct domain_settings settings;
    domain_settings_default(&settings);
    settings.session_idle_ms = cfg->session_idle_s * 1000;
    settings.session_absolute_ms = cfg->session_absolute_s * 1000;
    settings.session_recent_ms = cfg->session_recent_s * 1000;
    settings.sms_code_ttl_ms = cfg->sms_code_ttl_s * 1000;
    settings.sms_cooldown_ms = cfg->sms_cooldown_s * 1000;
    settings.sms_daily_max = cfg->sms_daily_max;
    settings.payment_password_lock_ms = cfg->payment_password_lock_s * 1000;
    settings.payee_lookups_max = cfg->payee_lookups_per_hour;
    settings.payee_lookups_daily_max = cfg->payee_lookups_per_day;
    settings.argon2_memory_size = (size_t)cfg->argon2_memory_kib * 1024;
    settings.argon2_ops = (uint64_t)cfg->argon2_ops;
    settings.limit_per_payment_minor = cfg->limit_per_payment;
    settings.limit_daily_minor = cfg->limit_daily;
    settings.withdrawal_fee_ppm = cfg->withdrawal_fee_ppm;
    settings.withdrawal_fee_min_minor = cfg->withdrawal_fee_min;
    settings.withdrawal_free_quota_minor = cfg->withdrawal_free_quota;
    settings.red_packet_total_max_minor = cfg->red_packet_max;
    settings.red_packet_expiry_ms = cfg->red_packet_expiry_s * 1000;
    settings.notify_private_allowed = cfg->allow_private_notify;
    settings.new_device_code = !cfg->trust_new_devices;
#ifdef QB_TEST_HOOKS
    /* QIANBAO_TEST_NOTIFY_LADDER_DIVISOR=N: the notification retry ladder's
     * steps divided by N (1..100000), so that a test sees a retry in
     * milliseconds. Compiled only into the test builds, never release. */
    const char *divisor = getenv("QIANBAO_TEST_NOTIFY_LADDER_DIVISOR");
    if (divisor != NULL) {
        char *end = NULL;
        long long value = strtoll(divisor, &end, 10);
        if (end != divisor && *end == '\0' && value >= 1 && value <= 100000)
            settings.notify_ladder_divisor = value;
    }
#endif
    settings.paycode_confirm_ms = cfg->paycode_confirm_s * 1000;
    domain_env_init(&env, daemon_clock, rand_system(), ledger, &settings, pepper, card_key);
    env_ready = true;
    crypto_wipe(pepper, sizeof pepper);
    crypto_wipe(card_key, sizeof card_key);
    memcpy(env.chain_key, chain_key, sizeof env.chain_key);

    env.bank = bank_sandbox();
    env.user_frozen = merchant_txn_user_frozen;
    env.user_close_blockers = merchant_user_close_blockers;
    env.user_closed = merchant_txn_user_closed;
    env.sessions_revoked = merchant_txn_sessions_revoked;
    env.payout_check = merchant_txn_payout_check;
    env.sms_provider = cfg->sms_provider_url[0] != '\0';
    env.sms_notices_off =
        env.sms_provider && !sms_gateway_http_says_notices(cfg->sms_body_template);
    if (env.sms_notices_off)
        log_event(LOG_WARN, "sms.notices_off",
                  "reason=\"the body template holds neither {text} nor {purpose}\"");
    /* As many users in the writer's memory as sessions in the cache, so that
     * the users of the sessions in use fit (identity.h). */
    rc = identity_session_cache_new((size_t)cfg->session_cache, &env.sessions);
    if (rc == QB_OK)
        rc = identity_user_cache_new((size_t)cfg->session_cache, &env.users);
    if (rc == QB_OK &&
        (env.payee_lookups = ratelimit_new(S_PAYEE_LOOKUP_USERS, settings.payee_lookup_window_ms,
                                           settings.payee_lookups_max)) == NULL)
        rc = QB_E_INTERNAL;
    if (rc == QB_OK && (env.payee_lookups_daily =
                            ratelimit_new(S_PAYEE_LOOKUP_DAY_USERS, settings.payee_lookup_day_ms,
                                          settings.payee_lookups_daily_max)) == NULL)
        rc = QB_E_INTERNAL;
    if (rc == QB_OK && (env.payee_lookups_seen = ratelimit_new(
                            S_PAYEE_LOOKUP_PAIRS, settings.payee_lookup_window_ms, 1)) == NULL)
        rc = QB_E_INTERNAL;
    if (rc == QB_OK && (env.payout_name_misses =
                            ratelimit_new(S_PAYOUT_NAME_MISSES, MERCHANT_PAYOUT_NAME_WINDOW_MS,
                                          MERCHANT_PAYOUT_NAME_MISSES_MAX)) == NULL)
        rc = QB_E_INTERNAL;
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot allocate the caches (%s)\n", error_name(rc));
        goto out;
    }
    const char *stranger = NULL;
    rc = domain_keys_check(&env, S_platform_value(platform), &stranger);
    if (rc == QB_E_CONFLICT && strcmp(stranger, "platform-key") == 0) {
        fprintf(stderr,
                "qianbaod: refusing to start: the platform key \"%s\" is not the one the "
                "database \"%s\" names (merchants' SDKs would trust what it signs): restore the "
                "secrets backed up with this database, or, when a rotation's finish was cut "
                "short, run --platform-key-rotate finish again\n",
                paths->platform_key, paths->db_file);
        goto out;
    }
    if (rc == QB_E_CONFLICT) {
        fprintf(stderr,
                "qianbaod: refusing to start: the secret file \"%s\" is not the one the "
                "database \"%s\" was made with (it would fail every login and leave cards "
                "and id numbers unreadable): restore the secrets backed up with this "
                "database\n",
                strcmp(stranger, "pepper") == 0 ? paths->pepper : paths->card_key, paths->db_file);
        goto out;
    }
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot check the secrets against the database (%s)\n",
                error_name(rc));
        goto out;
    }
    rc = S_caches_load(&env, ledger, pool);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot read the sessions in use (%s)\n", error_name(rc));
        goto out;
    }
    env.platform = platform;
    env.platform_next = platform_next;
    rc = wallet_accounts_setup(ledger, &env);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot set up the system accounts (%s)\n", error_name(rc));
        goto out;
    }
    /* Request fingerprints an earlier version stored unkeyed: keyed once,
     * before any request can be compared with them. */
    int64_t rekey_start_ns = clock_monotonic_ns(), rekeyed = 0;
    rc = domain_request_fingerprints_rekey(&env, &rekeyed);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot key the stored request fingerprints (%s)\n",
                error_name(rc));
        goto out;
    }
    if (rekeyed > 0)
        log_event(LOG_INFO, "daemon.request_fingerprints_keyed", "rows=%lld ms=%lld",
                  (long long)rekeyed,
                  (long long)((clock_monotonic_ns() - rekey_start_ns) / 1000000));

    rc = sms_worker_start(&env, pool, sms_gateway, &sms_worker);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot start the SMS worker (%s)\n", error_name(rc));
        goto out;
    }

    /* The rows that say where money goes and who acts for a merchant,
     * tied to the chain key: an earlier version's tagged as they stand,
     * once (domain/rowtag.h), before a worker opens a card's number. */
    const struct domain_tagged *const tagged_tables[] = {&wallet_cards_tagged, &merchant_tagged};
    int64_t rows_tagged = 0;
    rc = domain_row_tags_open(ledger, env.chain_key, version_found, tagged_tables,
                              QB_ARRAY_COUNT(tagged_tables), &rows_tagged);
    if (rc == QB_E_CONFLICT) {
        /* Their tag columns taken off by hand: nothing is tagged as found,
         * and every untagged row is refused where it is used. */
        log_event(LOG_ERROR, "domain.rows_tagging_refused",
                  "from_schema=%" PRId64 " note=\"the database's schema was older than the tag "
                  "columns, but the operators' audit trail says its rows were tagged already: "
                  "the columns were taken off by hand; untagged rows are not acted on; run "
                  "qianbaod --verify\"",
                  version_found);
        rc = QB_OK;
    }
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot tag the cards and merchants (%s)\n", error_name(rc));
        goto out;
    }
    if (rows_tagged > 0)
        log_event(LOG_WARN, "domain.rows_tagged",
                  "rows=%" PRId64 " from_schema=%" PRId64 " note=\"the cards and merchants an "
                  "earlier version wrote, tied to the chain key as found: at the start that "
                  "upgrades the database only\"",
                  rows_tagged, version_found);
    /* Top-ups and withdrawals the bank has not answered, this run's and
     * those a previous run left PROCESSING. */
    rc = wallet_worker_start(&env, pool, &wallet_worker);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot start the wallet worker (%s)\n", error_name(rc));
        goto out;
    }

    /* Red packets past their expiry, this run's and those that expired
     * while no daemon ran: their unclaimed money goes back to the sender. */
    rc = redpacket_worker_start(&env, pool, &redpacket_worker);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot start the red packet worker (%s)\n", error_name(rc));
        goto out;
    }

    /* Merchant notifications due, this run's and those a previous run
     * left on the retry ladder; an earlier version's sealed first. */
    int64_t notifications_sealed = 0;
    rc = merchant_notify_open(ledger, &env, &notifications_sealed);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot seal the notifications to send (%s)\n", error_name(rc));
        goto out;
    }
    if (notifications_sealed > 0)
        log_event(LOG_INFO, "merchant.notify.sealed",
                  "rows=%" PRId64 " note=\"the notifications an earlier version left to send, "
                  "sealed as found\"",
                  notifications_sealed);
    rc = merchant_notify_worker_start(&env, pool, &notify_worker);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot start the notification worker (%s)\n", error_name(rc));
        goto out;
    }

    /* Payment-code orders nobody confirmed in time, also those that fell
     * due while no daemon ran: their stored state becomes REVOKED. */
    rc = merchant_paycode_worker_start(&env, pool, &paycode_worker);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot start the payment-code worker (%s)\n", error_name(rc));
        goto out;
    }

    struct http_server_options http_options = {
        .listen = cfg->listen,
        .admin_listen = cfg->admin_listen,
        .threads = (int)cfg->http_threads,
        .connections_max = (size_t)cfg->http_connections_max,
        .body_size_max = (size_t)cfg->http_body_size_max,
        .timeout_s = (unsigned int)cfg->http_timeout_s,
        .routes = http_routes,
        .route_count = http_route_count,
        .ledger = ledger,
        .pool = pool,
        .admin_token = admin_token,
        .env = &env,
        .version = QIANBAOD_VERSION,
        .password_threads = (int)cfg->password_threads,
        .v3_nonce_slots = S_nonce_slots(cfg->v3_signed_per_s),
        .head_check = S_head_check_live,
        .head_check_arg = paths,
    };
    rc = http_server_start(&http_options, &server, err, sizeof err);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: %s\n", err);
        /* Taken since main's probe, most likely: say by what, if still. */
        struct sockaddr_storage addr;
        socklen_t addr_size = 0;
        if (S_listen_parse("--listen", cfg->listen, &addr, &addr_size))
            (void)S_listen_probe(cfg->listen, &addr, addr_size);
        if (cfg->admin_listen[0] != '\0' &&
            S_listen_parse("--admin-listen", cfg->admin_listen, &addr, &addr_size))
            (void)S_listen_probe(cfg->admin_listen, &addr, addr_size);
        goto out;
    }
    int64_t verify_interval_ms = cfg->verify_interval_h * 60 * 60 * 1000;
#ifdef QB_TEST_HOOKS
    /* QIANBAO_TEST_VERIFY_INTERVAL_MS=N (1..3600000): the daemon's own
     * ledger checks every N ms instead, so that a test sees them run;
     * --verify-interval-h 0 still turns them off. */
    const char *verify_every = getenv("QIANBAO_TEST_VERIFY_INTERVAL_MS");
    if (verify_every != NULL && verify_interval_ms > 0) {
        char *end = NULL;
        long long value = strtoll(verify_every, &end, 10);
        if (end != verify_every && *end == '\0' && value >= 1 && value <= 3600000)
            verify_interval_ms = value;
    }
#endif
    rc = http_server_verification_schedule(server, verify_interval_ms);
    if (rc != QB_OK) {
        fprintf(stderr, "qianbaod: cannot start the ledger check's schedule (%s)\n",
                error_name(rc));
        goto out;
    }
    /* Settings that loosen what a server should hold to, each named at warn
     * so that one left on from development is seen. */
    if (cfg->allow_private_notify)
        log_event(LOG_WARN, "daemon.loose_setting",
                  "flag=--allow-private-notify effect=merchants_may_notify_private_addresses");
    if (cfg->trust_new_devices)
        log_event(LOG_WARN, "daemon.loose_setting",
                  "flag=--trust-new-devices effect=a_password_alone_logs_in_a_new_device");
    if (cfg->sms_provider_url[0] == '\0')
        log_event(LOG_WARN, "daemon.loose_setting",
                  "flag=--sms-provider-url value=unset effect=codes_stay_in_the_outbox_unsent");
    char data_dir[PATH_MAX];
    const char *admin_address = http_server_admin_address(server);
    log_event(LOG_AUDIT, "daemon.start",
              "version=%s build=%s listen=%s admin_listen=%s data_dir=\"%s\" db=%s "
              "schema_version=%lld pid=%ld",
              QIANBAOD_VERSION, S_BUILD, http_server_address(server),
              admin_address != NULL ? admin_address : "-", S_absolute(paths->dir, data_dir),
              writer->ops->name, (long long)schema_version, (long)getpid());
    /* The addresses last, the admin listener's first: whoever waits for
     * listen-address (a script, the tests) then finds both, and the lines
     * above in the log. */
    char address_line[128];
    int address_size;
    if (admin_address != NULL) {
        address_size = snprintf(address_line, sizeof address_line, "%s\n", admin_address);
        if (!S_file_write_atomic(paths->dir, paths->admin_listen_address, address_line,
                                 (size_t)address_size, 0644))
            log_event(LOG_WARN, "daemon.listen_address_unwritten", "path=\"%s\"",
                      paths->admin_listen_address);
    }
    address_size = snprintf(address_line, sizeof address_line, "%s\n", http_server_address(server));
    if (!S_file_write_atomic(paths->dir, paths->listen_address, address_line, (size_t)address_size,
                             0644))
        log_event(LOG_WARN, "daemon.listen_address_unwritten", "path=\"%s\"",
                  paths->listen_address);

    int signal_number = 0;
    for (;;) {
        if (sigwait(signals, &signal_number) != 0 || S_test_signal(signal_number))
            continue;
        if (signal_number != SIGHUP)
            break;
        /* A reload: the admin token, rotated. Also what a hangup of the
         * session that started us (ssh) or logrotate's HUP comes to: the log
         * is standard error, there is no file to reopen, and a hangup is no
         * reason to stop taking payments. */
        S_admin_token_reload(paths, server, admin_token);
    }
    /* Closing before the line says so: whoever reads daemon.stopping finds
     * /healthz already answering SHUTTING_DOWN. */
    http_server_quiesce(server);
    log_event(LOG_AUDIT, "daemon.stopping", "signal=%s",
              signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    S_stop_watch_start(signals, server, ledger);
    status = 0;

out:
    /* Reverse order. The SMS worker stops before the ledger it submits to.
     * The ledger is detached from the server before it is closed, so that
     * no request can reach a closed ledger; closing it answers every
     * command it accepted, which resumes their requests. */
    if (server != NULL)
        http_server_quiesce(server);
    S_stop_at(S_STOP_WORKERS, "sms", server, ledger);
    if (sms_worker != NULL)
        sms_worker_stop(sms_worker);
    S_stop_at(S_STOP_WORKERS, "wallet", server, ledger);
    if (wallet_worker != NULL)
        wallet_worker_stop(wallet_worker);
    S_stop_at(S_STOP_WORKERS, "redpacket", server, ledger);
    if (redpacket_worker != NULL)
        redpacket_worker_stop(redpacket_worker);
    S_stop_at(S_STOP_WORKERS, "notify", server, ledger);
    if (notify_worker != NULL)
        merchant_notify_worker_stop(notify_worker);
    S_stop_at(S_STOP_WORKERS, "paycode", server, ledger);
    if (paycode_worker != NULL)
        merchant_paycode_worker_stop(paycode_worker);
    S_stop_at(S_STOP_OFFLOAD, NULL, server, ledger);
    if (server != NULL)
        ledger = http_server_detach_ledger(server);
    S_stop_at(S_STOP_LEDGER, NULL, server, ledger);
    if (ledger != NULL)
        ledger_stop(ledger);
    S_head_stop(&head); /* after the ledger's last commit */
    S_stop_at(S_STOP_HTTP, NULL, server, NULL);
    if (ledger != NULL)
        ledger_close(ledger);
    if (server != NULL) {
        http_server_drain(server);
        S_stop_at(S_STOP_DATABASE, NULL, NULL, NULL);
        http_server_stop(server);
        unlink(paths->listen_address);
        unlink(paths->admin_listen_address);
    }
    S_stop_at(S_STOP_DATABASE, NULL, NULL, NULL);
    if (sms_gateway != NULL)
        sms_gateway_free(sms_gateway);
    if (env_ready) {
        identity_session_cache_free(env.sessions);
        identity_user_cache_free(env.users);
        ratelimit_free(env.payee_lookups);
        ratelimit_free(env.payee_lookups_daily);
        ratelimit_free(env.payee_lookups_seen);
        ratelimit_free(env.payout_name_misses);
        domain_env_release(&env);
    }
    merchant_platform_free(platform);
    merchant_platform_free(platform_next);
    crypto_wipe(pepper, sizeof pepper);
    crypto_wipe(card_key, sizeof card_key);
    crypto_wipe(chain_key, sizeof chain_key);
    if (pool != NULL)
        store_pool_close(pool);
    if (writer != NULL) {
        store_close(writer);
        S_wal_left_report(paths);
    }
    store_horizon_destroy(&horizon);
    crypto_wipe(admin_token, sizeof admin_token);
    S_stop_watch_end();
    if (db_file_lock_fd >= 0)
        close(db_file_lock_fd); /* once the database is closed */
    if (db_lock_fd >= 0)
        close(db_lock_fd);
    /* Only under its lock: a directory another start locked meanwhile is its. */
    bool dir_remove = dir_made && lock_fd >= 0;
    if (dir_remove)
        unlink(paths->lock);
    if (lock_fd >= 0) {
        if (status == 0)
            log_event(LOG_AUDIT, "daemon.stop", "status=0");
        close(lock_fd);
    }
    if (dir_lock_fd >= 0)
        close(dir_lock_fd);
    if (dir_remove)
        rmdir(paths->dir);
    return status;
}

/* --- verify ---------------------------------------------------------------------- */

/* Progress on standard error; arg names the tool ("rebuild"), NULL "verify". */
static bool S_verify_progress(int64_t done, int64_t total, void *arg)
{
    int64_t percent = total > 0 ? done * 100 / total : 100;
    fprintf(stderr, "%s: %" PRId64 "/%" PRId64 " entries (%" PRId64 "%%)\n",
            arg != NULL ? (const char *)arg : "verify", done, total, percent);
    return true;
}

/* Whether the database is offline: no daemon holds the database file or
 * its DB.lock (S_db_lock). Then shared locks on them go into *db_fd and
 * *lock_fd, so that no daemon starts until the check is over (*lock_fd -1
 * when there is no lock file: a backup copied without it). False while a
 * daemon holds either, and when this user may not open them: the check
 * then reads as beside a daemon, which is safe either way. */
static bool S_db_offline(const char *db_file, int *lock_fd, int *db_fd)
{
    *lock_fd = -1;
    *db_fd = -1;
    char real[PATH_MAX];
    char lock_path[PATH_MAX + 8];
    if (!S_path_real(db_file, real) ||
        snprintf(lock_path, sizeof lock_path, "%s.lock", real) >= (int)sizeof lock_path)
        return false;
    /* The database file itself first: a daemon holds it also when its
     * lock file was deleted (S_db_file_lock). */
    int file_fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (file_fd < 0)
        return false;
    if (flock(file_fd, LOCK_SH | LOCK_NB) != 0) {
        close(file_fd);
        return false;
    }
    int fd = open(lock_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *db_fd = file_fd;
        return errno == ENOENT;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        close(fd);
        close(file_fd);
        return false;
    }
    *lock_fd = fd;
    *db_fd = file_fd;
    return true;
}

/* Checks the stored ledger read-only: beside a running daemon, or of a
 * database none runs on (a backup, also on read-only media), which it
 * leaves as it found it (STORE_MODE_READ_OFFLINE). */
/* Whether the database of paths exists and this user may open it with
 * mode (R_OK, or R_OK | W_OK), else says why, as what ("verify"). */
static bool S_db_present(const struct daemon_paths *paths, const char *what, int mode)
{
    struct stat st;
    int looked = stat(paths->db_file, &st);
    if (looked == 0 && access(paths->db_file, mode) != 0)
        looked = -1; /* with errno */
    if (looked == 0)
        return true;
    int error = errno;
    char why[3 * CONFIG_PATH_SIZE_MAX + 256];
    char wal[sizeof paths->db_file + 8];
    snprintf(wal, sizeof wal, "%s-wal", paths->db_file);
    struct stat wal_st;
    /* A database lost beside its -wal is no mistyped directory: the start
     * says the same (S_db_new_is_first). */
    if (error == ENOENT && stat(wal, &wal_st) == 0 && wal_st.st_size > 0)
        snprintf(why, sizeof why,
                 "the database \"%s\" is missing, but \"%s\" beside it holds %lld bytes of its "
                 "commits: put the database back beside its -wal (the two go together, never "
                 "one without the other)",
                 paths->db_file, wal, (long long)wal_st.st_size);
    else if (error == ENOENT)
        snprintf(why, sizeof why,
                 "there is no database at \"%s\" (has qianbaod run with this data directory?)",
                 paths->db_file);
    else if (error == EACCES)
        snprintf(why, sizeof why,
                 "permission denied %s \"%s\": run it as the user that owns the data directory "
                 "(uid %ld may not %s it or a directory above it)",
                 mode & W_OK ? "writing" : "reading", paths->db_file, (long)geteuid(),
                 mode & W_OK ? "write" : "read");
    else
        snprintf(why, sizeof why, "cannot read \"%s\": %s", paths->db_file, strerror(error));
    fprintf(stderr, "qianbaod: %s: %s\n", what, why);
    /* --verify's verdict is its last line on stdout, whatever stopped it. */
    if (strcmp(what, "verify") == 0)
        printf("verify: FAILED (%s): %s\n",
               error == ENOENT   ? "no database to check"
               : error == EACCES ? "the database may not be read"
                                 : "the database could not be read",
               why);
    return false;
}

/* The trial balance the check proved, a line per currency and kind of
 * account and per system account, amounts as decimals. */
static void S_trial_print(const char *what, const struct ledger_trial_balance *t)
{
    char balance[MONEY_TEXT_SIZE_MAX], held[MONEY_TEXT_SIZE_MAX];
    for (size_t i = 0; i < t->line_count; i++) {
        const struct ledger_trial_line *line = &t->lines[i];
        money_format(line->balance_minor, line->currency, balance, sizeof balance);
        money_format(line->held_minor, line->currency, held, sizeof held);
        printf("%s currency=%s kind=%s accounts=%" PRId64 " balance=%s held=%s\n", what,
               line->currency->code, ledger_account_kind_name(line->kind), line->accounts, balance,
               held);
    }
    for (size_t i = 0; i < t->system_count; i++) {
        const struct ledger_trial_account *named = &t->system[i];
        money_format(named->balance_minor, named->currency, balance, sizeof balance);
        money_format(named->held_minor, named->currency, held, sizeof held);
        printf("%s currency=%s account=%s balance=%s held=%s\n", what, named->currency->code,
               named->owner, balance, held);
    }
}

/* SQLite's check of the file's structure, on a connection of its own: it
 * reads every page and index row (most of --verify's time on a database
 * with many indexes) while the books are checked beside it, on another CPU
 * when there is one. */
struct S_structure_check {
    const char *db_url;
    enum store_mode mode;
    enum qb_error result;
    char damage[600]; /* room for "cannot open the database: " and store_open's 512 */
};

static void *S_structure_main(void *arg)
{
    struct S_structure_check *c = arg;
    struct store *reader = NULL;
    char err[512] = "";
    c->result = store_open(c->db_url, c->mode, &reader, err, sizeof err);
    if (c->result != QB_OK) {
        snprintf(c->damage, sizeof c->damage, "cannot open the database: %s", err);
        c->result = QB_E_STORAGE;
        return NULL;
    }
    c->result = store_check_structure(reader, c->damage, sizeof c->damage);
    store_close(reader);
    return NULL;
}

/* What S_secrets_check found, each with its verdict's words. */
enum S_secrets {
    S_SECRETS_OK,
    S_SECRETS_MISSING,    /* "a secret file is missing" */
    S_SECRETS_UNREADABLE, /* "a secret file cannot be read" (its mode, size, owner) */
    S_SECRETS_FOREIGN,    /* "a secret file is not this database's" */
    S_SECRETS_UNCHECKED,  /* "the database could not be read": its check values */
};

/* Whether the secret files beside the database are the ones it was made
 * with, as a start checks them (domain_keys_check), writing nothing; when
 * not, why: a backup with another installation's secrets passes every
 * other check and is refused only at the start of a restore. */
static enum S_secrets S_secrets_check(const struct daemon_paths *paths, struct store *reader,
                                      char *why, size_t why_size)
{
    uint8_t pepper[S_SECRET_SIZE], card_key[S_SECRET_SIZE];
    const char *unread = NULL;
    enum qb_error rc = crypto_secret_read(paths->pepper, pepper, sizeof pepper);
    if (rc != QB_OK)
        unread = paths->pepper;
    else if ((rc = crypto_secret_read(paths->card_key, card_key, sizeof card_key)) != QB_OK)
        unread = paths->card_key;
    if (unread != NULL) {
        crypto_wipe(pepper, sizeof pepper);
        if (rc != QB_E_NOT_FOUND) {
            S_secret_why(unread, rc, S_SECRET_SIZE, why, why_size);
            return S_SECRETS_UNREADABLE;
        }
        snprintf(why, why_size,
                 "the secret file \"%s\" is missing: restore it from the backup of this data "
                 "directory",
                 unread);
        return S_SECRETS_MISSING;
    }
    struct domain_settings settings;
    domain_settings_default(&settings);
    struct domain_env env;
    domain_env_init(&env, NULL, NULL, NULL, &settings, pepper, card_key);
    crypto_wipe(pepper, sizeof pepper);
    crypto_wipe(card_key, sizeof card_key);
    const char *which = NULL;
    rc = domain_keys_belong(&env, reader, &which);
    domain_env_release(&env);
    if (rc == QB_E_CONFLICT) {
        snprintf(why, why_size,
                 "the secret file \"%s\" is not the one the database \"%s\" was made with (a "
                 "start refuses it): restore the secrets backed up with this database",
                 strcmp(which, "pepper") == 0 ? paths->pepper : paths->card_key, paths->db_file);
        return S_SECRETS_FOREIGN;
    }
    if (rc != QB_OK) {
        snprintf(why, why_size, "cannot read the secrets' check values (%s)", error_name(rc));
        return S_SECRETS_UNCHECKED;
    }
    return S_SECRETS_OK;
}

static int S_verify(const struct daemon_paths *paths)
{
    if (!S_db_present(paths, "verify", R_OK))
        return 1;
    int lock_fd = -1, db_lock_fd = -1;
    bool offline = S_db_offline(paths->db_file, &lock_fd, &db_lock_fd);
    char err[512] = "";
    struct store *reader = NULL;
    enum qb_error rc =
        store_open(paths->db_url, offline ? STORE_MODE_READ_OFFLINE : STORE_MODE_READ, &reader, err,
                   sizeof err);
    if (rc != QB_OK) {
        if (lock_fd >= 0)
            close(lock_fd);
        if (db_lock_fd >= 0)
            close(db_lock_fd);
        fprintf(stderr, "qianbaod: verify: cannot open the database: %s (%s)\n", err,
                error_name(rc));
        printf("verify: FAILED (the database file could not be opened): %s\n", err);
        return 1;
    }
    /* The file too: a page of a table the ledger check never reads (a
     * payment's, an index) can be damaged while the books still add up. */
    fprintf(stderr, "verify: checking the database file's structure\n");
    struct S_structure_check structure_check = {
        .db_url = paths->db_url,
        .mode = offline ? STORE_MODE_READ_OFFLINE : STORE_MODE_READ,
        .result = QB_E_STORAGE,
    };
    pthread_t structure_thread;
    bool beside = thread_start(&structure_thread, -1, S_structure_main, &structure_check);
    if (beside)
        thread_name(structure_thread, "qb-verify-file");
    else
        S_structure_main(&structure_check);
    fprintf(stderr, "verify: checking the ledger (schema version %lld)\n",
            (long long)store_schema_version(reader));
    struct ledger_verify_report report;
    memset(&report, 0, sizeof report);
    struct wallet_verify_counts counts;
    uint8_t chain_key[S_SECRET_SIZE];
    bool chain_key_new = false;
    const uint8_t *key = S_chain_key_for_check(paths, chain_key, &chain_key_new);
    /* A keyed journal without its key is a lost file, not books that
     * disagree: said as the start says it. */
    int64_t keyed_from = 0;
    bool key_lost =
        key == NULL && ledger_chain_keyed_from(reader, &keyed_from) == QB_OK && keyed_from > 0;
    rc =
        wallet_verify(reader, key, chain_key_new, domain_day_start_ms(clock_now_ms(S_test_clock())),
                      &report, &counts, S_verify_progress, NULL);
    crypto_wipe(chain_key, sizeof chain_key);
    if (key_lost && rc == QB_E_INTERNAL)
        snprintf(report.problem, sizeof report.problem,
                 "the secret file \"%s\" is missing, and the journal was keyed with it from "
                 "entry %" PRId64 ": restore it from the backup of the data directory",
                 paths->chain_key, keyed_from);
    /* Sound books of an older copy are still not this data directory's. */
    char head_why[5 * CONFIG_PATH_SIZE_MAX + 768] = "";
    bool head_ok = S_head_check(paths, reader, head_why, sizeof head_why);
    char secrets_why[2 * CONFIG_PATH_SIZE_MAX + 256] = "";
    enum S_secrets secrets = S_secrets_check(paths, reader, secrets_why, sizeof secrets_why);
    store_close(reader);
    if (beside)
        pthread_join(structure_thread, NULL);
    enum qb_error structure = structure_check.result;
    const char *damage = structure_check.damage;
    if (lock_fd >= 0)
        close(lock_fd);
    if (db_lock_fd >= 0)
        close(db_lock_fd); /* once the database is closed */
    printf("entries_checked=%" PRId64 " accounts_checked=%" PRId64 " holds_open=%" PRId64
           " red_packets_checked=%" PRId64 "\n",
           report.entries_checked, report.accounts_checked, report.holds_open, counts.red_packets);
    /* What the payments' checks and the audit trail's went through. */
    printf("checked transfers=%" PRId64 " delayed_transfers=%" PRId64 " transfer_returns=%" PRId64
           " top_ups_and_withdrawals=%" PRId64 " orders=%" PRId64 " merchant_transfers=%" PRId64
           " collections=%" PRId64 " audit_rows=%" PRId64 " cards=%" PRId64 " merchants=%" PRId64
           "\n",
           counts.instant_transfers, counts.delayed_transfers, counts.transfer_returns,
           counts.bank_payments, counts.orders, counts.payouts, counts.collections,
           counts.audit_rows, counts.cards, counts.merchants);
    /* What the copy holds up to: after a restore or a lost log, the last
     * entry says how much of the books is there. */
    /* Of a check that stopped at a fault, the copy still holds up to
     * entries_total; when the last of them was written is unread then. */
    char last_at[40] = "never";
    if (report.entries_checked < report.entries_total)
        snprintf(last_at, sizeof last_at, "unchecked");
    else if (report.last_entry_at_ms > 0)
        clock_format_rfc3339(report.last_entry_at_ms, 8 * 60, last_at, (int)sizeof last_at);
    int64_t last_entry = report.entries_total > report.entries_checked ? report.entries_total
                                                                       : report.entries_checked;
    printf("last_entry=%" PRId64 " written_at=%s\n", last_entry, last_at);
    /* The first entry hashed under the chain key (docs/ledger.md): 0 for a
     * journal not keyed yet. */
    printf("chain_keyed_from=%" PRId64 "\n", report.chain_keyed_from);
    if (rc == QB_OK && structure == QB_OK && head_ok && secrets == S_SECRETS_OK) {
        S_trial_print("trial", &report.trial);
        /* The day's close: the books at the last midnight, for the day's
         * reconciliation with the bank. */
        char close_at[40];
        clock_format_rfc3339(report.close_at_ms, 8 * 60, close_at, (int)sizeof close_at);
        printf("close at=%s last_entry=%" PRId64 "\n", close_at, report.close_entry_id);
        S_trial_print("close", &report.close);
        printf("verify: ok\n");
        return 0;
    }
    /* One verdict, last (what a job reading the last line acts on), of
     * the first of: the file damaged (the books read from it may then
     * disagree as a result, and a restore is the way on), a database that
     * is not the newest, the books; the others before it, as notes.
     * QB_E_INTERNAL is what the check found, not a fault of the check. */
    char verdicts[4][5 * CONFIG_PATH_SIZE_MAX + 1024];
    size_t count = 0;
    if (structure != QB_OK)
        snprintf(verdicts[count++], sizeof verdicts[0], "(%s): %s",
                 structure == QB_E_INTERNAL ? "the database file is damaged"
                                            : "the database file could not be checked",
                 damage[0] != '\0' ? damage : "no detail");
    if (!head_ok)
        snprintf(verdicts[count++], sizeof verdicts[0],
                 "(not the data directory's newest database): %s",
                 head_why[0] != '\0' ? head_why : "its chain-head could not be read");
    /* The secrets' check values unread: the database's own failure,
     * which the others name (no table to read them from). */
    if (secrets != S_SECRETS_OK && (secrets != S_SECRETS_UNCHECKED || (count == 0 && rc == QB_OK)))
        snprintf(verdicts[count++], sizeof verdicts[0], "(%s): %s",
                 secrets == S_SECRETS_MISSING      ? "a secret file is missing"
                 : secrets == S_SECRETS_UNREADABLE ? "a secret file cannot be read"
                 : secrets == S_SECRETS_FOREIGN    ? "a secret file is not this database's"
                                                   : "the database could not be read",
                 secrets_why);
    if (rc != QB_OK)
        snprintf(verdicts[count++], sizeof verdicts[0], "(%s): %s",
                 key_lost && rc == QB_E_INTERNAL ? "a secret file is missing"
                 : rc == QB_E_INTERNAL           ? "the books disagree"
                 : rc == QB_E_STORAGE            ? "the database could not be read"
                                                 : error_name(rc),
                 report.problem[0] != '\0' ? report.problem : "no detail");
    QB_ASSERT(count >= 1 && count <= QB_ARRAY_COUNT(verdicts));
    for (size_t i = 1; i < count; i++)
        printf("verify: also %s\n", verdicts[i]);
    printf("verify: FAILED %s\n", verdicts[0]);
    return 1;
}

/* --- rebuild-checkpoints ---------------------------------------------------------- */

/* The repair of a ledger a start refuses while its journal is whole: a
 * checkpoint left behind the journal (what --verify names "checkpoint
 * disagrees", "is after its checkpoint but before where a start replays
 * from"), a holds table edited or lost, balances a hand raised in the
 * accounts table. Under the daemon's own locks (no daemon may run, nor
 * --verify), it checks the file's structure, writes the checkpoints from
 * the journal (wallet_rebuild_checkpoints), then runs --verify's whole
 * check. The journal is never written: one that fails its own checks is
 * refused, for a restore. */
/* What a repair with the daemon stopped holds: the data directory's locks,
 * the database's, and its write connection (-1 and NULL: not held). */
struct S_offline {
    int dir_lock_fd, lock_fd;
    int db_file_lock_fd, db_lock_fd;
    struct store *writer;
};

/* Gives back the write connection (which folds the -wal in, so that a
 * check after reads the file alone) and the database's locks. */
static void S_offline_release_db(struct S_offline *o)
{
    if (o->writer != NULL)
        store_close(o->writer);
    o->writer = NULL;
    if (o->db_file_lock_fd >= 0)
        close(o->db_file_lock_fd);
    if (o->db_lock_fd >= 0)
        close(o->db_lock_fd);
    o->db_file_lock_fd = o->db_lock_fd = -1;
}

/* Gives back all it holds; answers status. */
static int S_offline_end(struct S_offline *o, int status)
{
    S_offline_release_db(o);
    if (o->lock_fd >= 0)
        close(o->lock_fd);
    if (o->dir_lock_fd >= 0)
        close(o->dir_lock_fd);
    o->lock_fd = o->dir_lock_fd = -1;
    return status;
}

/* Takes the daemon's own locks (refused while a daemon or --verify runs)
 * and the write connection for the repair `tool` (its option's name),
 * doing what `doing` says; false, said on stderr, with nothing held, when
 * it cannot. */
static bool S_offline_begin(const struct daemon_paths *paths, const char *tool, const char *doing,
                            struct S_offline *o)
{
    *o = (struct S_offline){-1, -1, -1, -1, NULL};
    if (!S_db_present(paths, tool, R_OK | W_OK))
        return false;
    o->lock_fd = S_data_dir_lock(paths->dir, paths->lock, doing, &o->dir_lock_fd);
    if (o->lock_fd < 0)
        return false;
    o->db_lock_fd = S_db_lock(paths->db_file, doing, &o->db_file_lock_fd);
    char err[512] = "";
    enum qb_error rc = QB_OK;
    if (o->db_lock_fd >= 0 &&
        (rc = store_open(paths->db_url, STORE_MODE_WRITE, &o->writer, err, sizeof err)) != QB_OK)
        fprintf(stderr, "qianbaod: %s: cannot open the database: %s (%s)\n", tool, err,
                error_name(rc));
    if (o->writer == NULL) {
        S_offline_end(o, 1);
        return false;
    }
    return true;
}

/* The repair's last step: --verify's whole check, once the database is
 * given back; its exit status. */
static int S_offline_verify(const struct daemon_paths *paths, struct S_offline *o)
{
    S_offline_release_db(o);
    fflush(stdout);
    return S_verify(paths);
}

/* Whether an offline repair (word: "rebuild", "reseal") must stop before
 * writing: the database file's own structure is damaged (or could not be
 * checked), which no repair of the books mends and each write would make
 * worse. Says so on stdout. */
static bool S_offline_damaged(struct store *writer, const char *word)
{
    fprintf(stderr, "%s: checking the database file's structure\n", word);
    char damage[512] = "";
    if (store_check_structure(writer, damage, sizeof damage) == QB_OK)
        return false;
    printf("%s: REFUSED (the database file is damaged: restore the last backup that verifies; "
           "nothing was written): %s\n",
           word, damage[0] != '\0' ? damage : "no detail");
    return true;
}

static int S_rebuild_checkpoints(const struct daemon_paths *paths)
{
    struct S_offline o;
    if (!S_offline_begin(paths, "rebuild-checkpoints", "rebuild the checkpoints", &o))
        return 1;
    struct store *writer = o.writer;
    if (S_offline_damaged(writer, "rebuild"))
        return S_offline_end(&o, 1);
    fprintf(stderr, "rebuild: replaying the journal\n");
    struct ledger_rebuild_report report;
    uint8_t chain_key[S_SECRET_SIZE];
    bool chain_key_new = false;
    const uint8_t *key = S_chain_key_for_check(paths, chain_key, &chain_key_new);
    enum qb_error rc = wallet_rebuild_checkpoints(writer, key, chain_key_new, &report,
                                                  S_verify_progress, (void *)"rebuild");
    crypto_wipe(chain_key, sizeof chain_key);
    if (rc != QB_OK) {
        printf("rebuild: REFUSED (%s): %s\n",
               rc == QB_E_INTERNAL ? "the journal itself fails its checks: restore the last "
                                     "backup that verifies; nothing was written"
                                   : "the database could not be read or written; nothing was "
                                     "written",
               report.journal.problem[0] != '\0' ? report.journal.problem : "no detail");
        return S_offline_end(&o, 1);
    }
    char accounts[160] = "";
    size_t used = 0;
    int64_t shown = report.accounts_rewritten < 8 ? report.accounts_rewritten : 8;
    for (int64_t i = 0; i < shown && used < sizeof accounts; i++)
        used += (size_t)snprintf(accounts + used, sizeof accounts - used, "%s%" PRId64,
                                 i > 0 ? "," : "", report.first_accounts[i]);
    if (report.accounts_rewritten > shown && used < sizeof accounts)
        snprintf(accounts + used, sizeof accounts - used, ",...");
    log_event(LOG_AUDIT, "ledger.checkpoints_rebuilt",
              "entries=%" PRId64 " accounts_rewritten=%" PRId64 " accounts=%s holds_rewritten=%s "
              "holds_open=%" PRId64 " replay_from_before=%" PRId64 " replay_from=%" PRId64,
              report.journal.entries_checked, report.accounts_rewritten,
              accounts[0] != '\0' ? accounts : "none", report.holds_rewritten ? "yes" : "no",
              report.journal.holds_open, report.replay_from_before, report.replay_from);
    printf("rebuild: entries_replayed=%" PRId64 " accounts_rewritten=%" PRId64
           "%s%s holds_table=%s replay_from=%" PRId64 " (was %" PRId64 ")\n",
           report.journal.entries_checked, report.accounts_rewritten,
           accounts[0] != '\0' ? " accounts=" : "", accounts,
           report.holds_rewritten ? "rewritten" : "unchanged", report.replay_from,
           report.replay_from_before);
    return S_offline_end(&o, S_offline_verify(paths, &o));
}

/* --- reseal-audit-trail ---------------------------------------------------------- */

/* The way on from an operators' audit trail a start or --verify refuses
 * (rows deleted, edited or stripped of their seals by whoever could write
 * the database) without putting back a backup, which would lose every
 * payment since: under the daemon's own locks, it says what the check and
 * the chain-head find, seals the trail again as it stands, with a row of
 * its own saying so and why (domain_audit_reseal), names that row in the
 * chain-head, then runs --verify's whole check. The journal must pass its
 * head check first: a database that is an older copy is a restore's
 * question, not the trail's. */
static int S_reseal_audit_trail(const struct daemon_paths *paths)
{
    uint8_t chain_key[S_SECRET_SIZE];
    enum qb_error rc = crypto_secret_read(paths->chain_key, chain_key, sizeof chain_key);
    if (rc != QB_OK) {
        S_secret_complain(paths->chain_key, rc, S_SECRET_SIZE);
        return 1;
    }
    struct S_offline o;
    int status = 1;
    if (!S_offline_begin(paths, "reseal-audit-trail", "reseal the audit trail", &o))
        goto out;
    struct store *writer = o.writer;
    /* A trail cut short by a damaged file (an old copy put over a crashed
     * daemon's log) is the file's question: resealing it would write the
     * damage into the trail and the chain-head. */
    if (S_offline_damaged(writer, "reseal"))
        goto out;
    bool found = false;
    struct S_head_file head;
    if (!S_head_read(paths->chain_head, &found, &head))
        goto out;
    int64_t last = 0;
    if (found && ledger_head_check(writer, head.entry_id, head.hash, &last) != QB_OK) {
        printf("reseal: REFUSED (the journal does not hold the entry \"%s\" names: an older "
               "copy of the database, or another's; see docs/operations.md, \"An older "
               "database\"): nothing was written\n",
               paths->chain_head);
        goto out;
    }
    /* What is wrong, in the words of the checks that refused it. */
    char why[DOMAIN_AUDIT_REASON_SIZE_MAX] = "";
    int64_t rows = 0;
    char problem[256] = "";
    rc = domain_audit_check(writer, chain_key, &rows, problem, sizeof problem);
    if (rc == QB_E_STORAGE) {
        fprintf(stderr, "qianbaod: reseal-audit-trail: cannot read the trail: %s\n",
                store_last_error(writer));
        goto out;
    }
    if (rc != QB_OK)
        snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, problem);
    if (rc == QB_OK && found && head.audit_seq > 0) {
        enum qb_error at = domain_audit_head_check(writer, head.audit_seq, head.audit_mac, &last);
        if (at == QB_E_NOT_FOUND)
            snprintf(why, sizeof why,
                     "the trail ended at row %lld, but the chain-head named row %lld",
                     (long long)last, (long long)head.audit_seq);
        else if (at == QB_E_CONFLICT)
            snprintf(why, sizeof why, "row %lld was not the one the chain-head named",
                     (long long)head.audit_seq);
        else if (at != QB_OK) {
            fprintf(stderr, "qianbaod: reseal-audit-trail: cannot read the trail: %s\n",
                    store_last_error(writer));
            goto out;
        }
    }
    if (why[0] == '\0') {
        printf("reseal: the trail's seals hold over %lld rows, and it ends where the chain-head "
               "says: nothing to do\n",
               (long long)rows);
        status = 0;
        goto out;
    }
    printf("reseal: found: %s\n", why);
    struct domain_audit_reseal_report report;
    rc = domain_audit_reseal(writer, chain_key, clock_now_ms(S_test_clock()), why, &report);
    if (rc != QB_OK) {
        printf("reseal: FAILED (the database could not be written; nothing was written): %s\n",
               store_last_error(writer));
        goto out;
    }
    if (found && !S_head_file_write(paths, head.entry_id, head.hash, report.seq, report.mac)) {
        fprintf(stderr, "qianbaod: cannot write \"%s\": %s\n", paths->chain_head, strerror(errno));
        goto out;
    }
    log_event(LOG_AUDIT, "audit.resealed",
              "rows=%" PRId64 " first_changed=%" PRId64 " row=%" PRId64 " why=\"%s\"", report.rows,
              report.first_changed, report.seq, why);
    printf("reseal: rows_sealed=%" PRId64 " first_changed=%" PRId64 " recorded_as_row=%" PRId64
           "\n",
           report.rows, report.first_changed, report.seq);
    status = S_offline_verify(paths, &o);
out:
    crypto_wipe(chain_key, sizeof chain_key);
    return S_offline_end(&o, status);
}

/* --- platform-key-rotate -------------------------------------------------------- */

/* Copies the secret file from to to (written atomically, 0600). */
static bool S_secret_copy(const char *dir, const char *from, const char *to)
{
    char pem[S_PEM_SIZE_MAX];
    size_t size = 0;
    enum qb_error err = S_secret_file_read(from, pem, sizeof pem, &size);
    bool ok = err == QB_OK && S_file_write_atomic(dir, to, pem, size, 0600);
    OPENSSL_cleanse(pem, sizeof pem);
    if (err != QB_OK)
        S_secret_complain(from, err, 0);
    else if (!ok)
        fprintf(stderr, "qianbaod: cannot write \"%s\": %s\n", to, strerror(errno));
    return ok;
}

/* Renames from to to and syncs the directory. */
static bool S_secret_move(const char *dir, const char *from, const char *to)
{
    if (rename(from, to) != 0) {
        fprintf(stderr, "qianbaod: cannot rename \"%s\" to \"%s\": %s\n", from, to,
                strerror(errno));
        return false;
    }
    S_dir_sync(dir);
    return true;
}

/* A new platform key without a moment when merchants cannot check what
 * Qianbao signs, as WeChat Pay rotates its platform certificates, in
 * three steps with the daemon stopped (this takes the data directory's
 * lock):
 *   begin   makes platform-key-next.pem and its certificate; from the next
 *           start GET /v3/certificates lists it after the signing one,
 *           which still signs everything;
 *   finish  once merchants' SDKs have fetched it: the signing key and
 *           certificate are kept as platform-*-retired.pem (replacing
 *           older ones), the next ones take their names and sign from the
 *           next start. Interrupted between its two renames, running it
 *           again completes it;
 *   cancel  removes the next key and certificate.
 * Each step logs daemon.platform_key_rotated at level audit. Exit 0, or 1
 * when the step cannot be taken (nothing changed, or said what did). */
/* meta's value of key into *value; *found whether there is one. */
static bool S_meta_read(struct store *db, const char *key, int64_t *value, bool *found)
{
    const struct store_param p[] = {STORE_TEXT(key)};
    enum qb_error rc = store_int64(db, "SELECT value FROM meta WHERE key = $1", p, 1, value);
    *found = rc == QB_OK;
    return rc == QB_OK || rc == QB_E_NOT_FOUND;
}

/* The database's side of a rotation step, which holds the data directory's
 * lock with no daemon running: meta.key_check_platform names the signing
 * key (domain_keys_check), meta.key_check_platform_next the next one begin
 * made. begin records next, the signing one being current (or none named);
 * cancel forgets it, but not once a finish named it (a finish cut short
 * after that: it must be run again, or no key would start); finish takes
 * only the next key begin recorded (none recorded: begun by a version
 * before), and names it, the signing one being current or next already,
 * before the files move, so that a finish cut short and run again ends the
 * same. current is 0 when unknown. True when there is no database. */
static bool S_platform_db_step(const struct daemon_paths *paths, const char *step, int64_t current,
                               int64_t next)
{
    if (paths->db_file[0] != '\0' && S_file_missing(paths->db_file))
        return true;
    struct store *db = NULL;
    char err[256];
    if (store_open(paths->db_url, STORE_MODE_WRITE, &db, err, sizeof err) != QB_OK) {
        fprintf(stderr, "qianbaod: platform-key-rotate: cannot open the database: %s\n", err);
        return false;
    }
    int64_t named = 0, recorded = 0;
    bool named_found = false, recorded_found = false;
    bool ok = S_meta_read(db, "key_check_platform", &named, &named_found) &&
              S_meta_read(db, "key_check_platform_next", &recorded, &recorded_found);
    const char *refusal = NULL;
    if (ok && strcmp(step, "cancel") == 0) {
        if (named_found && named == next)
            refusal = "a finish was cut short after it named the next key in the database: run "
                      "--platform-key-rotate finish again";
        else
            ok = store_run(db, "DELETE FROM meta WHERE key = 'key_check_platform_next'", NULL, 0) ==
                 QB_OK;
    } else if (ok && named_found && named != current && named != next) {
        refusal = "the database names another platform key than platform-key.pem: restore the "
                  "secrets backed up with it";
    } else if (ok && strcmp(step, "begin") == 0) {
        const struct store_param p[] = {STORE_INT(next)};
        ok = store_run(db,
                       "INSERT INTO meta (key, value) VALUES ('key_check_platform_next', $1)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       p, 1) == QB_OK;
    } else if (ok) {
        QB_ASSERT(strcmp(step, "finish") == 0);
        if (recorded_found && recorded != next) {
            refusal = "platform-key-next.pem is not the key --platform-key-rotate begin made: "
                      "cancel the rotation and begin another";
        } else {
            const struct store_param p[] = {STORE_INT(next)};
            ok = store_run(db,
                           "INSERT INTO meta (key, value) VALUES ('key_check_platform', $1)"
                           " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           p, 1) == QB_OK &&
                 store_run(db, "DELETE FROM meta WHERE key = 'key_check_platform_next'", NULL, 0) ==
                     QB_OK;
        }
    }
    if (refusal != NULL)
        fprintf(stderr, "qianbaod: platform-key-rotate: %s\n", refusal);
    else if (!ok)
        fprintf(stderr, "qianbaod: platform-key-rotate: cannot read or write the database: %s\n",
                store_last_error(db));
    store_close(db);
    return ok && refusal == NULL;
}

static int S_platform_rotate(const struct daemon_paths *paths, const char *step)
{
    int dir_lock_fd = -1;
    int lock_fd = S_data_dir_lock(paths->dir, paths->lock, "rotate the platform key", &dir_lock_fd);
    if (lock_fd < 0)
        return 1;
    int status = 1;
    struct merchant_platform *current = NULL, *next = NULL;
    bool next_key = !S_file_missing(paths->platform_key_next);
    bool next_cert = !S_file_missing(paths->platform_cert_next);
    if (S_file_missing(paths->platform_key) ||
        (S_file_missing(paths->platform_cert) && !(strcmp(step, "finish") == 0 && next_cert))) {
        fprintf(stderr,
                "qianbaod: platform-key-rotate: there is no platform key and "
                "certificate (\"%s\", \"%s\") to rotate (the first start makes them)\n",
                paths->platform_key, paths->platform_cert);
        goto out;
    }
    if (strcmp(step, "cancel") == 0) {
        /* A finish cut short is run again, never cancelled: the next key
         * may be the only one the database takes, or the signing one. */
        if (!next_key && next_cert &&
            S_platform_matches(paths->platform_key, paths->platform_cert_next)) {
            fprintf(stderr,
                    "qianbaod: platform-key-rotate: a finish was cut short (\"%s\" is "
                    "there for the key now in \"%s\"): run --platform-key-rotate "
                    "finish again\n",
                    paths->platform_cert_next, paths->platform_key);
            goto out;
        }
        if (next_key && (!S_platform_load(paths->dir, paths->platform_key_next,
                                          paths->platform_cert_next, &next) ||
                         !S_platform_db_step(paths, "cancel", 0, S_platform_value(next))))
            goto out;
        if ((next_key && unlink(paths->platform_key_next) != 0) ||
            (next_cert && unlink(paths->platform_cert_next) != 0)) {
            fprintf(stderr, "qianbaod: platform-key-rotate: cannot remove the next key: %s\n",
                    strerror(errno));
            goto out;
        }
        log_event(LOG_AUDIT, "daemon.platform_key_rotated", "step=cancel removed=%s",
                  next_key || next_cert ? "yes" : "none");
        printf("platform-key-rotate: %s\n", next_key || next_cert
                                                ? "cancelled: the next key and certificate are "
                                                  "removed; the signing key is unchanged"
                                                : "no rotation was under way; nothing changed");
        status = 0;
        goto out;
    }
    if (strcmp(step, "begin") == 0) {
        if (next_key || next_cert) {
            fprintf(stderr,
                    "qianbaod: platform-key-rotate: a rotation is under way (\"%s\"): "
                    "finish it, or cancel it\n",
                    next_key ? paths->platform_key_next : paths->platform_cert_next);
            goto out;
        }
        if (!S_platform_load(paths->dir, paths->platform_key, paths->platform_cert, &current) ||
            !S_platform_key_ensure(paths->dir, paths->platform_key_next) ||
            !S_platform_load(paths->dir, paths->platform_key_next, paths->platform_cert_next,
                             &next))
            goto out;
        /* The database records the next key, which alone a finish takes;
         * refused, the begin leaves nothing behind. */
        if (!S_platform_db_step(paths, "begin", S_platform_value(current),
                                S_platform_value(next))) {
            unlink(paths->platform_key_next);
            unlink(paths->platform_cert_next);
            goto out;
        }
        log_event(LOG_AUDIT, "daemon.platform_key_rotated", "step=begin serial=%s next_serial=%s",
                  current->serial_no, next->serial_no);
        printf("platform-key-rotate: begun: the next certificate %s is published at "
               "/v3/certificates from the next start; %s signs until "
               "--platform-key-rotate finish\n",
               next->serial_no, current->serial_no);
        status = 0;
        goto out;
    }
    QB_ASSERT(strcmp(step, "finish") == 0);
    if (!next_key && next_cert) {
        /* An interrupted finish: the key moved, its certificate did not. */
        /* The key before it is the retired one now (the finish copied it
         * first), which the database still names when the finish stopped
         * before recording the next. */
        if (!S_platform_load(paths->dir, paths->platform_key, paths->platform_cert_next, &next) ||
            (!S_file_missing(paths->platform_key_retired) &&
             !S_platform_load(paths->dir, paths->platform_key_retired, paths->platform_cert_retired,
                              &current)) ||
            !S_platform_db_step(paths, "finish", current != NULL ? S_platform_value(current) : 0,
                                S_platform_value(next)))
            goto out;
    } else if (!next_key) {
        fprintf(stderr, "qianbaod: platform-key-rotate: no rotation is under way: begin one "
                        "first\n");
        goto out;
    } else {
        if (!S_platform_load(paths->dir, paths->platform_key, paths->platform_cert, &current) ||
            !S_platform_load(paths->dir, paths->platform_key_next, paths->platform_cert_next,
                             &next) ||
            !S_platform_db_step(paths, "finish", S_platform_value(current),
                                S_platform_value(next)) ||
            !S_secret_copy(paths->dir, paths->platform_key, paths->platform_key_retired) ||
            !S_secret_copy(paths->dir, paths->platform_cert, paths->platform_cert_retired) ||
            !S_secret_move(paths->dir, paths->platform_key_next, paths->platform_key))
            goto out;
    }
    if (!S_secret_move(paths->dir, paths->platform_cert_next, paths->platform_cert))
        goto out;
    log_event(LOG_AUDIT, "daemon.platform_key_rotated", "step=finish serial=%s retired=%s",
              next->serial_no, current != NULL ? current->serial_no : "(none kept)");
    printf("platform-key-rotate: finished: %s signs from the next start; the key before it is "
           "kept as platform-key-retired.pem and platform-cert-retired.pem\n",
           next->serial_no);
    status = 0;
out:
    merchant_platform_free(current);
    merchant_platform_free(next);
    close(lock_fd);
    close(dir_lock_fd);
    return status;
}

int main(int argc, char **argv)
{
    /* Every file the daemon makes is its own: the database and its -wal
     * and -shm hold the whole ledger, and were made 0644 under the usual
     * umask, readable by everyone wherever the data directory was not
     * 0700. Files meant for others say so with fchmod (listen-address). */
    umask(077);
    /* Before any thread exists, so that every thread inherits the mask and
     * only sigwait below sees these signals. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP); /* the admin token read again: S_serve */
#ifdef QB_TEST_HOOKS
    sigaddset(&signals, SIGUSR1); /* arms a storage fault: S_test_signal */
#endif
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    /* A shell starting us in the background (`qianbaod &` in a script)
     * leaves SIGINT and SIGQUIT ignored, and nohup SIGHUP: an ignored
     * signal is discarded before sigwait can take it, and SIGQUIT would
     * dump no core. Each gets its default back (the blocked ones are taken
     * by sigwait all the same). */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    /* A write past a file size limit (ulimit -f, LimitFSIZE=) fails with
     * EFBIG, which storage's failure path answers and logs (503, and
     * ledger.batch_failed), instead of ending the process unheard. */
    signal(SIGXFSZ, SIG_IGN);

    struct config cfg;
    char err[512] = "";
    if (config_load(&cfg, argc, argv, err, sizeof err) != QB_OK) {
        fprintf(stderr, "qianbaod: %s\n(qianbaod --help lists the settings)\n", err);
        return 2;
    }
    if (cfg.help) {
        config_usage(stdout);
        return 0;
    }
    if (cfg.version) {
        printf("qianbaod %s (%s build)\n", QIANBAOD_VERSION, S_BUILD);
        return 0;
    }
    if (cfg.ledger_cpu >= 0 && !thread_cpu_allowed((int)cfg.ledger_cpu)) {
        char cpus[256];
        thread_cpus_allowed_text(cpus, sizeof cpus);
        fprintf(stderr, "qianbaod: --ledger-cpu %lld is not a CPU this process may run on (%s)\n",
                (long long)cfg.ledger_cpu, cpus);
        return 2;
    }
    log_init(stderr, (enum log_level)log_level_parse(cfg.log_level));
    config_environment_unknown(S_environment_unknown);
    struct daemon_paths paths;
    if (!S_paths_init(&paths, &cfg)) {
        fprintf(stderr, "qianbaod: the data directory path is too long\n");
        return 2;
    }
    /* Every setting that can be checked is, before anything is made:
     * bad ones are exit status 2. */
    struct sockaddr_storage listen_addr, admin_addr;
    socklen_t listen_addr_size = 0, admin_addr_size = 0;
    bool admin_apart = cfg.admin_listen[0] != '\0';
    bool rotating = cfg.platform_key_rotate[0] != '\0';
    bool serving = !cfg.verify && !cfg.rebuild_checkpoints && !cfg.reseal_audit_trail &&
                   !rotating; /* else a tool */
    if (!S_db_url_check(&paths) ||
        (serving && !S_listen_parse("--listen", cfg.listen, &listen_addr, &listen_addr_size)) ||
        (serving && admin_apart &&
         !S_listen_parse("--admin-listen", cfg.admin_listen, &admin_addr, &admin_addr_size)))
        return 2;
    size_t listen_size = strlen(cfg.listen);
    if (serving && admin_apart && strcmp(cfg.listen, cfg.admin_listen) == 0 &&
        !(listen_size > 2 && strcmp(cfg.listen + listen_size - 2, ":0") == 0)) {
        fprintf(stderr, "qianbaod: --admin-listen \"%s\" must be another address than --listen\n",
                cfg.admin_listen);
        return 2;
    }
    if (!crypto_init()) {
        fprintf(stderr, "qianbaod: cannot initialise libsodium\n");
        return 1;
    }
    if ((cfg.verify ? 1 : 0) + (cfg.rebuild_checkpoints ? 1 : 0) +
            (cfg.reseal_audit_trail ? 1 : 0) >
        1) {
        fprintf(stderr, "qianbaod: --rebuild-checkpoints and --reseal-audit-trail each check the "
                        "ledger themselves when they are done: give one alone, without "
                        "--verify\n");
        return 2;
    }
    if (rotating && (cfg.verify || cfg.rebuild_checkpoints || cfg.reseal_audit_trail)) {
        fprintf(stderr, "qianbaod: --platform-key-rotate is a step of its own: give it without "
                        "--verify, --rebuild-checkpoints or --reseal-audit-trail\n");
        return 2;
    }
    if (rotating)
        return S_platform_rotate(&paths, cfg.platform_key_rotate);
    if (cfg.verify)
        return S_verify(&paths);
    if (cfg.rebuild_checkpoints)
        return S_rebuild_checkpoints(&paths);
    if (cfg.reseal_audit_trail)
        return S_reseal_audit_trail(&paths);
    if (S_data_dir_held(&paths))
        return 1;
    if (!S_listen_probe(cfg.listen, &listen_addr, listen_addr_size) ||
        (admin_apart && !S_listen_probe(cfg.admin_listen, &admin_addr, admin_addr_size)))
        return 1;
    return S_serve(&cfg, &paths, &signals);
}
