/*
 * paycode.c — payment codes in the CLI: provisioning this computer as a
 * device, making codes offline, and the user's devices.
 *
 *   qianbao device add       POST /v1/me/devices; the seed goes to a file of
 *                            the profile, never to the terminal
 *   qianbao paycode          a code for now, computed here from that seed
 *                            (docs/paycode.md), no network needed
 *   qianbao security devices / revoke-device
 *
 * The seed file is $XDG_CONFIG_HOME/qianbao/paycode/PROFILE, mode 0600 in a
 * 0700 directory, one line:
 *
 *   qianbao-paycode 1 DEVICE_ID SLOT SEED_HEX LAST_STEP LAST_COUNTER
 *
 * LAST_STEP and LAST_COUNTER are the last code shown, so that no (step,
 * counter) is shown twice (docs/paycode.md §2); the file is rewritten
 * atomically after each code. On a terminal the code is drawn as a QR code
 * (src/qr, the 18 digits as its text) above the digits; piped, only the
 * digits are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/paycode.h"
#include "cli/cli_int.h"
#include "qr/qr.h"

#define S_FILE_SIZE_MAX 512
#define S_PATH_SIZE_MAX 1024

struct S_seed_file {
    char device_id[64];
    uint32_t slot;
    uint8_t seed[PAYCODE_SEED_SIZE];
    int64_t last_step;
    int last_counter;
};

/* The seed file's directory and path for profile name. */
static bool S_paths_of(const char *name, char *dir, size_t dir_size, char *path, size_t path_size)
{
    char profile[S_PATH_SIZE_MAX];
    if (!cli_profile_path(name, profile, sizeof profile))
        return false;
    char *slash = strrchr(profile, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    int n = snprintf(dir, dir_size, "%s/paycode", profile);
    int m = snprintf(path, path_size, "%s/paycode/%s", profile, name);
    return n > 0 && (size_t)n < dir_size && m > 0 && (size_t)m < path_size;
}

/* The same for the current profile. */
static bool S_paths(const struct cli *cli, char *dir, size_t dir_size, char *path, size_t path_size)
{
    return S_paths_of(cli->profile, dir, dir_size, path, path_size);
}

bool cli_paycode_seed_drop(const char *name)
{
    char dir[S_PATH_SIZE_MAX], path[S_PATH_SIZE_MAX];
    if (!S_paths_of(name, dir, sizeof dir, path, sizeof path))
        return false;
    return unlink(path) == 0 || errno == ENOENT;
}

static bool S_hex_decode(const char *hex, uint8_t *out, size_t size)
{
    if (strlen(hex) != 2 * size || strspn(hex, "0123456789abcdef") != 2 * size)
        return false;
    for (size_t i = 0; i < size; i++) {
        unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
        unsigned lo =
            (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Reads the seed file: QB_OK, QB_E_NOT_FOUND (none), QB_E_PARAM (malformed),
 * QB_E_FORBIDDEN (others may read it: *f is filled, so that its device can
 * be revoked and the file removed, but its seed must make no code). */
static enum qb_error S_load(const char *path, struct S_seed_file *f)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? QB_E_NOT_FOUND : QB_E_PARAM;
    struct stat st;
    char text[S_FILE_SIZE_MAX + 1];
    ssize_t size = -1;
    bool loose = fstat(fd, &st) != 0 || (st.st_mode & 077) != 0;
    size = read(fd, text, S_FILE_SIZE_MAX);
    close(fd);
    if (size <= 0 || size == S_FILE_SIZE_MAX)
        return QB_E_PARAM;
    text[size] = '\0';
    char id[64], slot[16], seed[80];
    long long step = 0;
    int counter = 0;
    int n = sscanf(text, "qianbao-paycode 1 %63s %15s %79s %lld %d", id, slot, seed, &step,
                   &counter);
    bool ok = n == 5 && strlen(slot) == 7 && strspn(slot, "0123456789") == 7 &&
              S_hex_decode(seed, f->seed, sizeof f->seed) && step >= 0 && counter >= -1 &&
              counter <= PAYCODE_COUNTER_MAX;
    crypto_wipe(seed, sizeof seed);
    crypto_wipe(text, sizeof text);
    if (!ok) {
        crypto_wipe(f, sizeof *f);
        return QB_E_PARAM;
    }
    snprintf(f->device_id, sizeof f->device_id, "%s", id);
    f->slot = (uint32_t)strtoul(slot, NULL, 10);
    f->last_step = step;
    f->last_counter = counter;
    return loose ? QB_E_FORBIDDEN : QB_OK;
}

/* Whether the server lists device id as revoked (GET /v1/me/devices);
 * not listed, it is not (the list holds the newest 100). */
static int S_device_revoked(struct cli *cli, const char *id, bool *revoked)
{
    *revoked = false;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/devices", CLI_AUTH_USER, NULL, &res);
    const json_t *items = rc == CLI_EXIT_OK ? json_object_get(res.json, "items") : NULL;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *d = json_array_get(items, i);
        if (strcmp(cli_json_str(d, "id"), id) == 0)
            *revoked = strcmp(cli_json_str(d, "status"), "revoked") == 0;
    }
    cli_response_release(&res);
    return rc;
}

/* Writes the seed file atomically: a temporary file of mode 0600, fsync,
 * rename, fsync of the directory (made 0700 when missing). */
static enum qb_error S_save(const char *dir, const char *path, const struct S_seed_file *f)
{
    char parent[S_PATH_SIZE_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash != NULL) {
        *slash = '\0';
        if (mkdir(parent, 0700) != 0 && errno != EEXIST)
            return QB_E_INTERNAL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return QB_E_INTERNAL;
    char tmp[S_PATH_SIZE_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char seed[2 * PAYCODE_SEED_SIZE + 1];
    crypto_hex(f->seed, sizeof f->seed, seed);
    char text[S_FILE_SIZE_MAX];
    int n = snprintf(text, sizeof text, "qianbao-paycode 1 %s %07u %s %lld %d\n", f->device_id,
                     (unsigned)f->slot, seed, (long long)f->last_step, f->last_counter);
    crypto_wipe(seed, sizeof seed);
    enum qb_error err = QB_E_INTERNAL;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        bool ok = n > 0 && (size_t)n < sizeof text && write(fd, text, (size_t)n) == n &&
                  fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (ok && rename(tmp, path) == 0) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                if (fsync(dfd) == 0)
                    err = QB_OK;
                close(dfd);
            }
        } else {
            unlink(tmp);
        }
    }
    crypto_wipe(text, sizeof text);
    return err;
}

static int S_payment_password(struct cli *cli, const struct cli_args *args, char *out,
                              size_t out_size)
{
    int rc = cli_secret_read(cli, cli_arg(cli, args, "password-stdin") != NULL,
                             "Payment password: ", NULL, out, out_size);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (strlen(out) != 6 || strspn(out, "0123456789") != 6) {
        cli_secret_wipe(out, out_size);
        return cli_usage_error(cli, "the payment password is six digits");
    }
    return CLI_EXIT_OK;
}

int cli_run_device_add(struct cli *cli, const struct cli_args *args)
{
    /* The seed is kept with a profile: the device must be that profile's
     * user's, not QIANBAO_TOKEN's, or the profile's codes would pay from
     * another wallet. */
    if (cli_token_from_env(cli, CLI_AUTH_USER))
        return cli_usage_error(cli, "the device's seed is kept with a profile, and QIANBAO_TOKEN "
                                    "is no profile's: unset it, or give --profile NAME");
    char dir[S_PATH_SIZE_MAX], path[S_PATH_SIZE_MAX];
    if (!S_paths(cli, dir, sizeof dir, path, sizeof path))
        return cli_fail(cli, CLI_EXIT_USAGE, "NO_CONFIG_DIR",
                        "neither XDG_CONFIG_HOME nor HOME is set");
    struct S_seed_file f;
    enum qb_error err = S_load(path, &f);
    /* A device the server revoked since (a freeze revokes them all, the
     * user's own revoke from elsewhere too) holds this profile's file for
     * nothing: the file goes, and a new device is added. */
    bool revoked = false;
    if (err == QB_OK) {
        int rc = S_device_revoked(cli, f.device_id, &revoked);
        if (rc != CLI_EXIT_OK) {
            crypto_wipe(&f, sizeof f);
            return rc;
        }
    }
    char device[sizeof f.device_id];
    cli_text_clean(f.device_id[0] != '\0' ? f.device_id : "ID", device, sizeof device);
    crypto_wipe(&f, sizeof f);
    if (revoked) {
        if (unlink(path) != 0)
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SEED_NOT_REMOVED", "cannot remove %s",
                            path);
        err = QB_E_NOT_FOUND;
    }
    if (err == QB_E_PARAM)
        return cli_fail(cli, CLI_EXIT_USAGE, "DEVICE_EXISTS",
                        "this profile's seed file %s is damaged: remove it first (and revoke its "
                        "device if `qianbao security devices` lists it)",
                        path);
    if (err != QB_E_NOT_FOUND)
        return cli_fail(cli, CLI_EXIT_USAGE, "DEVICE_EXISTS",
                        "this profile holds a payment-code device already (%s); revoke it "
                        "with `qianbao security revoke-device %s` first",
                        err == QB_OK ? "see `qianbao security devices`"
                                     : "its file can be read by others",
                        device);
    const char *name = cli_arg(cli, args, "name");
    char password[CLI_SECRET_SIZE_MAX];
    int rc = S_payment_password(cli, args, password, sizeof password);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s}", "name", name != NULL ? name : "qianbao CLI",
                             "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    if (body == NULL)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "NO_MEMORY", "out of memory");
    struct cli_response res;
    rc = cli_call(cli, "POST", "/v1/me/devices", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK) {
        memset(&f, 0, sizeof f);
        const char *slot = cli_json_str(res.json, "slot");
        /* The id is a word of the seed file's one line, and printed: one
         * word of printable characters, or the file would not read back. */
        const char *id = cli_json_str(res.json, "id");
        size_t id_size = strlen(id);
        bool id_ok = id_size > 0 && id_size < sizeof f.device_id;
        for (size_t i = 0; id_ok && i < id_size; i++)
            id_ok = id[i] > 0x20 && id[i] < 0x7f;
        bool ok = strlen(slot) == 7 && strspn(slot, "0123456789") == 7 &&
                  S_hex_decode(cli_json_str(res.json, "seed"), f.seed, sizeof f.seed) && id_ok;
        if (ok) {
            snprintf(f.device_id, sizeof f.device_id, "%s", cli_json_str(res.json, "id"));
            f.slot = (uint32_t)strtoul(slot, NULL, 10);
            f.last_step = 0;
            f.last_counter = -1;
            ok = S_save(dir, path, &f) == QB_OK;
        }
        crypto_wipe(&f, sizeof f);
        /* The answer held the seed: wipe it before releasing. */
        crypto_wipe(res.body.data, res.body.size);
        if (!ok) {
            char word[CLI_SHELL_WORD_SIZE_MAX];
            cli_shell_word(id, word, sizeof word);
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SEED_NOT_STORED",
                          "the device was added but its seed could not be stored; revoke it "
                          "with `qianbao security revoke-device %s`",
                          word);
        } else if (cli->json) {
            json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "id", cli_json_str(res.json, "id"),
                                    "name", cli_json_str(res.json, "name"), "slot", slot,
                                    "seed_file", path);
            if (out != NULL) {
                char *text = json_dumps(out, JSON_COMPACT);
                if (text != NULL)
                    printf("%s\n", text);
                free(text);
                json_decref(out);
            }
        } else {
            char clean[128];
            cli_text_clean(cli_json_str(res.json, "name"), clean, sizeof clean);
            printf("added payment-code device %s (%s)\n", cli_json_str(res.json, "id"), clean);
            printf("its seed is stored in %s (mode 0600); show a code with `qianbao paycode`\n",
                   path);
        }
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_paycode(struct cli *cli, const struct cli_args *args)
{
    char dir[S_PATH_SIZE_MAX], path[S_PATH_SIZE_MAX];
    if (!S_paths(cli, dir, sizeof dir, path, sizeof path))
        return cli_fail(cli, CLI_EXIT_USAGE, "NO_CONFIG_DIR",
                        "neither XDG_CONFIG_HOME nor HOME is set");
    int64_t now_ms = cli_now_ms();
    const char *at = cli_arg(cli, args, "at");
    if (at != NULL) {
        char *end = NULL;
        errno = 0;
        long long seconds = strtoll(at, &end, 10);
        if (errno != 0 || end == at || *end != '\0' || seconds < 60 ||
            seconds > 253402300799LL)
            return cli_usage_error(cli, "--at must be Unix seconds, from 60 on");
        /* A code of a later minute would be the last one shown: none of
         * this profile's codes would be shown again until that minute. */
        if ((int64_t)seconds * 1000 / PAYCODE_STEP_MS > now_ms / PAYCODE_STEP_MS)
            return cli_usage_error(cli, "--at must not be ahead of this computer's clock");
        now_ms = (int64_t)seconds * 1000;
    }
    struct S_seed_file f;
    enum qb_error err = S_load(path, &f);
    if (err == QB_E_NOT_FOUND)
        return cli_fail(cli, CLI_EXIT_USAGE, "NO_DEVICE",
                        "this profile holds no payment-code device; add one with "
                        "`qianbao device add`");
    char device[sizeof f.device_id];
    cli_text_clean(f.device_id, device, sizeof device);
    if (err != QB_OK)
        crypto_wipe(&f, sizeof f); /* a loose file's seed makes no code */
    if (err == QB_E_FORBIDDEN)
        return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "PROFILE_UNSAFE",
                        "the seed file %s can be read by other users of this computer, and its "
                        "codes pay at a till: run `chmod 600 %s` (and, if others may have read "
                        "it, `qianbao security revoke-device %s` and `qianbao device add`)",
                        path, path, device);
    if (err != QB_OK)
        return cli_fail(cli, CLI_EXIT_USAGE, "BAD_SEED_FILE",
                        "the seed file %s is damaged: remove it, revoke its device if "
                        "`qianbao security devices` lists it, then `qianbao device add`",
                        path);

    /* The next unused counter of this step. */
    int64_t step = paycode_step(now_ms);
    int counter = f.last_step == step ? f.last_counter + 1 : 0;
    if (f.last_step > step || counter > PAYCODE_COUNTER_MAX) {
        bool behind = f.last_step > step;
        crypto_wipe(&f, sizeof f);
        if (behind)
            return cli_fail(cli, CLI_EXIT_REFUSED, "CLOCK_BEHIND",
                            "a code of a later minute was shown already; check the clock");
        return cli_fail(cli, CLI_EXIT_REFUSED, "RATE_LIMITED",
                        "ten codes this minute already; wait for the next minute");
    }
    char code[PAYCODE_TEXT_SIZE];
    paycode_format(f.seed, step, f.slot, (uint8_t)counter, code);
    f.last_step = step;
    f.last_counter = counter;
    err = S_save(dir, path, &f);
    char device_id[64];
    snprintf(device_id, sizeof device_id, "%s", f.device_id);
    crypto_wipe(&f, sizeof f);
    if (err != QB_OK)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SEED_NOT_STORED",
                        "cannot record the code in %s; not showing it", path);
    char until[40];
    clock_format_rfc3339((step + 2) * PAYCODE_STEP_MS, 8 * 60, until, sizeof until);
    if (cli->json) {
        printf("{\"code\":\"%s\",\"device_id\":\"%s\",\"expires_at\":\"%s\"}\n", code, device_id,
               until);
    } else if (isatty(STDOUT_FILENO)) {
        /* A till's scanner reads the QR code; the cashier, the digits. */
        struct buf drawing;
        buf_init(&drawing, QR_IMAGE_SIZE_MAX);
        if (qr_render_term(code, &drawing) == QB_OK)
            fwrite(drawing.data, 1, drawing.size, stdout);
        buf_release(&drawing);
        cli_print_field(cli, "payment code", code);
        cli_print_field(cli, "valid until", until);
        cli_print_field(cli, "device", device_id);
    } else {
        printf("%s\n", code); /* piped: the digits alone, for the script that sends them */
    }
    return CLI_EXIT_OK;
}

int cli_run_security_devices(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/devices", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        static const char *const headers[] = {"ID", "NAME", "KIND", "STATE", "CREATED",
                                              "LAST USED"};
        struct cli_table table;
        cli_table_init(&table, headers, 6);
        size_t index;
        json_t *d;
        json_array_foreach(json_object_get(res.json, "items"), index, d)
        {
            const char *last = cli_json_str(d, "last_used_at");
            const char *row[] = {cli_json_str(d, "id"),         cli_json_str(d, "name"),
                                 cli_json_str(d, "kind"),       cli_json_str(d, "status"),
                                 cli_json_str(d, "created_at"), last[0] != '\0' ? last : "-"};
            cli_table_add(&table, row);
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_security_revoke_device(struct cli *cli, const struct cli_args *args)
{
    char id[128], path[192];
    if (!cli_path_escape(args->positionals[0], id, sizeof id))
        return cli_usage_error(cli, "ID is too long");
    snprintf(path, sizeof path, "/v1/me/devices/%s", id);
    struct cli_response res;
    int rc = cli_call(cli, "DELETE", path, CLI_AUTH_USER, NULL, &res);
    cli_response_release(&res);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* This profile's own device: its seed is of no use any more. */
    char dir[S_PATH_SIZE_MAX], file[S_PATH_SIZE_MAX];
    struct S_seed_file f;
    enum qb_error loaded =
        S_paths(cli, dir, sizeof dir, file, sizeof file) ? S_load(file, &f) : QB_E_NOT_FOUND;
    bool local = (loaded == QB_OK || loaded == QB_E_FORBIDDEN) &&
                 strcmp(f.device_id, args->positionals[0]) == 0;
    crypto_wipe(&f, sizeof f);
    if (local && unlink(file) != 0)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SEED_NOT_REMOVED",
                        "revoked, but %s could not be removed", file);
    if (cli->json) {
        printf("{}\n");
    } else {
        char clean[128];
        cli_text_clean(args->positionals[0], clean, sizeof clean);
        printf("revoked payment-code device %s%s\n", clean,
               local ? " and removed its seed from this profile" : "");
    }
    return CLI_EXIT_OK;
}

/* --- logout ------------------------------------------------------------------------ */

int cli_paycode_forget(struct cli *cli, bool *revoked)
{
    *revoked = false;
    char dir[S_PATH_SIZE_MAX], file[S_PATH_SIZE_MAX];
    struct S_seed_file f;
    memset(&f, 0, sizeof f);
    enum qb_error loaded =
        S_paths(cli, dir, sizeof dir, file, sizeof file) ? S_load(file, &f) : QB_E_NOT_FOUND;
    if (loaded == QB_E_PARAM) {
        /* No code comes of it, and it names no device to revoke here. */
        crypto_wipe(&f, sizeof f);
        if (unlink(file) != 0)
            return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SEED_NOT_REMOVED", "cannot remove %s",
                            file);
        cli_hint(cli,
                 "this profile's seed file was damaged, and is removed: revoke its device "
                 "from another login if `" CLI_OTHERS "qianbao security devices` still lists it");
        return CLI_EXIT_OK;
    }
    /* A file others may read is revoked and removed all the same. */
    if (loaded != QB_OK && loaded != QB_E_FORBIDDEN) {
        crypto_wipe(&f, sizeof f);
        return CLI_EXIT_OK; /* no device of this profile */
    }
    char id[128], path[192];
    bool escaped = cli_path_escape(f.device_id, id, sizeof id);
    crypto_wipe(&f, sizeof f);
    if (!escaped)
        return cli_fail(cli, CLI_EXIT_USAGE, "BAD_SEED_FILE", "the seed file %s is damaged", file);
    snprintf(path, sizeof path, "/v1/me/devices/%s", id);
    struct cli_response res;
    bool quiet = cli->quiet;
    cli->quiet = true;
    int rc = cli_call(cli, "DELETE", path, CLI_AUTH_USER, NULL, &res);
    cli->quiet = quiet;
    long status = res.status;
    cli_response_release(&res);
    /* 401: the session ended already, and with it the way to revoke here. */
    if (rc != CLI_EXIT_OK && status != 401 && status != 404)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SERVER_UNREACHABLE",
                        "cannot revoke this profile's payment-code device %s (%s); nothing was "
                        "changed: run `qianbao logout` again when the server answers",
                        id, status == 0 ? "no answer" : "it failed");
    *revoked = rc == CLI_EXIT_OK;
    if (unlink(file) != 0)
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "SEED_NOT_REMOVED", "cannot remove %s", file);
    if (status == 401)
        cli_hint(cli,
                 "the session had ended: revoke the payment-code device %s from another login "
                 "with `" CLI_OTHERS "qianbao security revoke-device %s`",
                 id, id);
    /* 404: revoked already (from another login, or at a freeze). */
    return CLI_EXIT_OK;
}

/* --- till payments waiting for the password ---------------------------------------- */

int cli_run_paycode_pending(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/pending-payments", CLI_AUTH_USER, NULL, &res);
    if (rc == CLI_EXIT_OK && cli->json) {
        cli_print_body(&res);
    } else if (rc == CLI_EXIT_OK) {
        const char *headers[] = {"ID", "AMOUNT", "MERCHANT", "DESCRIPTION", "CONFIRM BY"};
        struct cli_table table;
        cli_table_init(&table, headers, 5);
        size_t i;
        const json_t *p;
        json_array_foreach(json_object_get(res.json, "items"), i, p)
        {
            char amount[64];
            cli_money_amount_text(json_integer_value(json_object_get(p, "amount")),
                                  cli_json_str(p, "currency"), amount, sizeof amount);
            const char *row[] = {cli_json_str(p, "id"), amount,
                                 cli_json_str(json_object_get(p, "merchant"), "name"),
                                 cli_json_str(p, "description"), cli_json_str(p, "expires_at")};
            cli_table_add(&table, row);
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
        if (json_array_size(json_object_get(res.json, "items")) > 0)
            cli_hint(cli, "pay one with `qianbao paycode confirm ID`");
    }
    cli_response_release(&res);
    return rc;
}

int cli_run_paycode_confirm(struct cli *cli, const struct cli_args *args)
{
    char base[192], path[208], key[CLI_IDEMPOTENCY_KEY_SIZE_MAX], password[CLI_SECRET_SIZE_MAX];
    int rc = cli_id_path(cli, "/v1/me/pending-payments", args->positionals[0], base, sizeof base);
    if (rc != CLI_EXIT_OK || (rc = cli_money_key_arg(cli, args, key, sizeof key)) != CLI_EXIT_OK)
        return rc;
    snprintf(path, sizeof path, "%s/confirm", base);
    if ((rc = cli_money_payment_password(cli, args, password, sizeof password)) != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s}", "payment_password", password);
    cli_secret_wipe(password, sizeof password);
    QB_ASSERT(body != NULL);
    return cli_money_post(cli, path, key, body, cli_order_payment_print);
}

/* --- what codes pay without the password ------------------------------------------- */

static void S_code_settings_print(const struct cli *cli, const json_t *s)
{
    char amount[64], max[64], text[160];
    cli_money_amount_text(json_integer_value(json_object_get(s, "password_free_limit")), "CNY",
                          amount, sizeof amount);
    cli_money_amount_text(json_integer_value(json_object_get(s, "password_free_limit_max")), "CNY",
                          max, sizeof max);
    snprintf(text, sizeof text, "%s (at most %s)", amount, max);
    cli_print_field(cli, "without password", text);
    snprintf(text, sizeof text,
             "%" JSON_INTEGER_FORMAT " a day (at most %" JSON_INTEGER_FORMAT
             "), %" JSON_INTEGER_FORMAT " used today",
             json_integer_value(json_object_get(s, "password_free_daily_count")),
             json_integer_value(json_object_get(s, "password_free_daily_count_max")),
             json_integer_value(json_object_get(s, "password_free_used_today")));
    cli_print_field(cli, "codes", text);
}

int cli_run_paycode_limits(struct cli *cli, const struct cli_args *args)
{
    const char *amount_text = cli_arg(cli, args, "password-free");
    const char *count_text = cli_arg(cli, args, "daily-count");
    struct cli_response res;
    int rc = cli_call(cli, "GET", "/v1/me/payment-code-settings", CLI_AUTH_USER, NULL, &res);
    if (rc != CLI_EXIT_OK || (amount_text == NULL && count_text == NULL)) {
        if (rc == CLI_EXIT_OK && cli->json)
            cli_print_body(&res);
        else if (rc == CLI_EXIT_OK)
            S_code_settings_print(cli, res.json);
        cli_response_release(&res);
        return rc;
    }
    json_int_t limit_now = json_integer_value(json_object_get(res.json, "password_free_limit"));
    json_int_t count_now =
        json_integer_value(json_object_get(res.json, "password_free_daily_count"));
    cli_response_release(&res);

    json_t *body = json_object();
    QB_ASSERT(body != NULL);
    bool raises = false;
    if (amount_text != NULL) {
        int64_t amount = 0;
        bool none = false;
        /* 0 is none here, as the help says: no amount without the password.
         * (A daily limit of 0 is refused: it would read as "pay nothing".) */
        bool zero = strcmp(amount_text, "0") == 0;
        if (!zero &&
            cli_amount_or_none_parse(amount_text, currency_find("CNY"), &amount, &none) != QB_OK) {
            json_decref(body);
            return cli_usage_error(cli, "--password-free is an amount of yuan, or none");
        }
        raises = raises || amount > limit_now;
        QB_ASSERT(json_object_set_new(body, "password_free_limit", json_integer(amount)) == 0);
    }
    if (count_text != NULL) {
        char *end = NULL;
        long count = strtol(count_text, &end, 10);
        if (end == count_text || *end != '\0' || count < 0 || count > 1000) {
            json_decref(body);
            return cli_usage_error(cli, "--daily-count is a number of payments a day");
        }
        raises = raises || count > count_now;
        QB_ASSERT(json_object_set_new(body, "password_free_daily_count", json_integer(count)) == 0);
    }
    /* Only a change that lets more money out without the password asks for it. */
    if (raises) {
        char password[CLI_SECRET_SIZE_MAX];
        rc = cli_money_payment_password(cli, args, password, sizeof password);
        if (rc != CLI_EXIT_OK) {
            json_decref(body);
            return rc;
        }
        QB_ASSERT(json_object_set_new(body, "payment_password", json_string(password)) == 0);
        cli_secret_wipe(password, sizeof password);
    }
    rc = cli_call(cli, "PUT", "/v1/me/payment-code-settings", CLI_AUTH_USER, body, &res);
    json_decref(body);
    if (rc == CLI_EXIT_OK && cli->json)
        cli_print_body(&res);
    else if (rc == CLI_EXIT_OK)
        S_code_settings_print(cli, res.json);
    cli_response_release(&res);
    return rc;
}
