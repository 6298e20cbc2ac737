/*
 * profile.c — stored credentials: one small file per profile under
 * $XDG_CONFIG_HOME/qianbao/ (fallback ~/.config/qianbao/).
 *
 * A profile is "key=value" lines: kind (user, admin or merchant), server,
 * token, and for a user user_id, phone, expires_at; a merchant has no
 * token but mchid, appid, serial_no, apiv3_key, platform_serial_no,
 * private_key and platform_public_key (keys as base64 DER, one line). The token is a bearer credential,
 * so the file is 0600 in a 0700 directory, written atomically (a new file
 * beside it, fsync, rename, fsync of the directory): a crash leaves the old
 * profile or the new one, never half of one. Anything unexpected in a file
 * makes it unreadable rather than half-trusted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crypto.h"
#include "cli/cli_int.h"

#define S_PATH_SIZE_MAX 1024
#define S_FILE_SIZE_MAX 12288

bool cli_profile_name_valid(const char *name)
{
    size_t size = strlen(name);
    if (size == 0 || size >= CLI_PROFILE_NAME_SIZE_MAX || name[0] == '.')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
           size;
}

/* The directory of profiles, without a trailing slash. */
static bool S_dir(char *dir, size_t dir_size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    int n;
    /* The XDG spec says a relative XDG_CONFIG_HOME is invalid and ignored. */
    if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(dir, dir_size, "%s/qianbao", xdg);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0')
            return false;
        n = snprintf(dir, dir_size, "%s/.config/qianbao", home);
    }
    return n > 0 && (size_t)n < dir_size;
}

bool cli_profile_path(const char *name, char *path, size_t path_size)
{
    QB_ASSERT(cli_profile_name_valid(name));
    char dir[S_PATH_SIZE_MAX];
    if (!S_dir(dir, sizeof dir))
        return false;
    int n = snprintf(path, path_size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < path_size;
}

/* Copies value into field when it fits and is printable ASCII. */
static bool S_field_set(char *field, size_t field_size, const char *value)
{
    size_t size = strlen(value);
    if (size >= field_size)
        return false;
    for (size_t i = 0; i < size; i++) {
        if (value[i] < 0x21 || value[i] > 0x7e)
            return false;
    }
    memcpy(field, value, size + 1);
    return true;
}

enum qb_error cli_profile_load(const char *name, struct cli_profile *profile)
{
    memset(profile, 0, sizeof *profile);
    char path[S_PATH_SIZE_MAX];
    if (!cli_profile_path(name, path, sizeof path))
        return QB_E_NOT_FOUND;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? QB_E_NOT_FOUND : QB_E_PARAM;
    char text[S_FILE_SIZE_MAX + 1];
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        profile->readable_by_others = true;
    ssize_t size = read(fd, text, S_FILE_SIZE_MAX);
    close(fd);
    if (size <= 0 || size == S_FILE_SIZE_MAX)
        return QB_E_PARAM;
    text[size] = '\0';

    enum qb_error err = QB_E_PARAM;
    bool kind_seen = false;
    char *line = text;
    while (*line != '\0') {
        char *end = strchr(line, '\n');
        if (end == NULL)
            goto out;
        *end = '\0';
        char *equals = strchr(line, '=');
        if (equals == NULL)
            goto out;
        *equals = '\0';
        const char *key = line, *value = equals + 1;
        bool ok;
        if (strcmp(key, "kind") == 0) {
            ok = strcmp(value, "user") == 0 || strcmp(value, "admin") == 0 ||
                 strcmp(value, "merchant") == 0;
            profile->kind = strcmp(value, "admin") == 0      ? CLI_PROFILE_ADMIN
                            : strcmp(value, "merchant") == 0 ? CLI_PROFILE_MERCHANT
                                                             : CLI_PROFILE_USER;
            kind_seen = true;
        } else if (strcmp(key, "server") == 0) {
            ok = S_field_set(profile->server, sizeof profile->server, value);
        } else if (strcmp(key, "token") == 0) {
            ok = S_field_set(profile->token, sizeof profile->token, value);
        } else if (strcmp(key, "user_id") == 0) {
            ok = S_field_set(profile->user_id, sizeof profile->user_id, value);
        } else if (strcmp(key, "phone") == 0) {
            ok = S_field_set(profile->phone, sizeof profile->phone, value);
        } else if (strcmp(key, "expires_at") == 0) {
            ok = S_field_set(profile->expires_at, sizeof profile->expires_at, value);
        } else if (strcmp(key, "device_key") == 0) {
            ok = S_field_set(profile->device_key, sizeof profile->device_key, value);
        } else if (strcmp(key, "mchid") == 0) {
            ok = S_field_set(profile->mchid, sizeof profile->mchid, value);
        } else if (strcmp(key, "appid") == 0) {
            ok = S_field_set(profile->appid, sizeof profile->appid, value);
        } else if (strcmp(key, "serial_no") == 0) {
            ok = S_field_set(profile->serial_no, sizeof profile->serial_no, value);
        } else if (strcmp(key, "apiv3_key") == 0) {
            ok = S_field_set(profile->apiv3_key, sizeof profile->apiv3_key, value);
        } else if (strcmp(key, "platform_serial_no") == 0) {
            ok = S_field_set(profile->platform_serial_no, sizeof profile->platform_serial_no,
                             value);
        } else if (strcmp(key, "private_key") == 0) {
            ok = S_field_set(profile->private_key, sizeof profile->private_key, value);
        } else if (strcmp(key, "platform_public_key") == 0) {
            ok = S_field_set(profile->platform_public_key, sizeof profile->platform_public_key,
                             value);
        } else {
            ok = false;
        }
        if (!ok)
            goto out;
        line = end + 1;
    }
    if (kind_seen && profile->server[0] != '\0' &&
        (profile->kind == CLI_PROFILE_MERCHANT
             ? profile->mchid[0] != '\0' && profile->serial_no[0] != '\0' &&
                   profile->private_key[0] != '\0' && profile->platform_serial_no[0] != '\0' &&
                   profile->platform_public_key[0] != '\0'
             : profile->token[0] != '\0'))
        err = QB_OK;
out:
    cli_secret_wipe(text, sizeof text);
    if (err != QB_OK) {
        cli_secret_wipe(profile->token, sizeof profile->token);
        cli_secret_wipe(profile->device_key, sizeof profile->device_key);
        cli_secret_wipe(profile->private_key, sizeof profile->private_key);
        cli_secret_wipe(profile->apiv3_key, sizeof profile->apiv3_key);
    }
    return err;
}

/* mkdir with mode, accepting one that exists; then tightens the mode of
 * the qianbao directory in case it was made by hand. */
static bool S_mkdir(const char *path, bool tighten)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return false;
    return !tighten || chmod(path, 0700) == 0;
}

enum qb_error cli_profile_save(const char *name, const struct cli_profile *profile)
{
    char dir[S_PATH_SIZE_MAX];
    if (!S_dir(dir, sizeof dir))
        return QB_E_PARAM;
    /* A profile that held another user (a login as someone else, the demo
     * replacing it) held their payment-code seed too: it is not this
     * user's to show at a till. */
    struct cli_profile *before = calloc(1, sizeof *before);
    if (before == NULL)
        return QB_E_INTERNAL;
    bool other = cli_profile_load(name, before) == QB_OK &&
                 (before->kind != profile->kind || strcmp(before->user_id, profile->user_id) != 0);
    crypto_wipe(before, sizeof *before);
    free(before);
    if (other && !cli_paycode_seed_drop(name))
        return QB_E_STORAGE;
    /* The parent ($XDG_CONFIG_HOME or ~/.config) may not exist yet. */
    char parent[S_PATH_SIZE_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    QB_ASSERT(slash != NULL);
    *slash = '\0';
    if (parent[0] != '\0' && !S_mkdir(parent, false))
        return QB_E_STORAGE;
    if (!S_mkdir(dir, true))
        return QB_E_STORAGE;

    char text[S_FILE_SIZE_MAX];
    int n;
    if (profile->kind == CLI_PROFILE_ADMIN)
        n = snprintf(text, sizeof text, "kind=admin\nserver=%s\ntoken=%s\n", profile->server,
                     profile->token);
    else if (profile->kind == CLI_PROFILE_MERCHANT)
        n = snprintf(text, sizeof text,
                     "kind=merchant\nserver=%s\nmchid=%s\nappid=%s\nserial_no=%s\n"
                     "apiv3_key=%s\nplatform_serial_no=%s\nprivate_key=%s\n"
                     "platform_public_key=%s\n",
                     profile->server, profile->mchid, profile->appid, profile->serial_no,
                     profile->apiv3_key, profile->platform_serial_no, profile->private_key,
                     profile->platform_public_key);
    else
        n = snprintf(text, sizeof text,
                     "kind=user\nserver=%s\ntoken=%s\nuser_id=%s\nphone=%s\nexpires_at=%s\n%s%s%s",
                     profile->server, profile->token, profile->user_id, profile->phone,
                     profile->expires_at, profile->device_key[0] != '\0' ? "device_key=" : "",
                     profile->device_key, profile->device_key[0] != '\0' ? "\n" : "");
    QB_ASSERT(n > 0 && (size_t)n < sizeof text);

    char path[S_PATH_SIZE_MAX], temp[S_PATH_SIZE_MAX + 32];
    if (!cli_profile_path(name, path, sizeof path))
        return QB_E_PARAM;
    snprintf(temp, sizeof temp, "%s.%ld.tmp", path, (long)getpid());
    enum qb_error err = QB_E_STORAGE;
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto out;
    bool written = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    if (close(fd) != 0 || !written || rename(temp, path) != 0) {
        unlink(temp);
        goto out;
    }
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    err = QB_OK;
out:
    cli_secret_wipe(text, sizeof text);
    return err;
}

/* Copies profile's device key into key when it is phone's on server. */
static bool S_device_key_of(const struct cli_profile *profile, const char *server,
                            const char *phone, char *key, size_t key_size)
{
    if (profile->kind != CLI_PROFILE_USER || profile->device_key[0] == '\0' ||
        strcmp(profile->server, server) != 0 || strcmp(profile->phone, phone) != 0)
        return false;
    snprintf(key, key_size, "%s", profile->device_key);
    return true;
}

bool cli_device_key_find(const char *name, const char *server, const char *phone, char *key,
                         size_t key_size)
{
    struct cli_profile profile;
    bool found = cli_profile_load(name, &profile) == QB_OK &&
                 S_device_key_of(&profile, server, phone, key, key_size);
    char dir[S_PATH_SIZE_MAX];
    DIR *d = !found && S_dir(dir, sizeof dir) ? opendir(dir) : NULL;
    for (struct dirent *e; d != NULL && !found && (e = readdir(d)) != NULL;) {
        if (!cli_profile_name_valid(e->d_name) || strcmp(e->d_name, name) == 0)
            continue;
        found = cli_profile_load(e->d_name, &profile) == QB_OK &&
                S_device_key_of(&profile, server, phone, key, key_size);
    }
    if (d != NULL)
        closedir(d);
    cli_secret_wipe((char *)&profile, sizeof profile);
    return found;
}

int cli_profile_unsafe(struct cli *cli, const char *name, const struct cli_profile *profile)
{
    if (!profile->readable_by_others)
        return CLI_EXIT_OK;
    char path[S_PATH_SIZE_MAX];
    if (!cli_profile_path(name, path, sizeof path))
        snprintf(path, sizeof path, "%s", name);
    return cli_fail(cli, CLI_EXIT_NOT_LOGGED_IN, "PROFILE_UNSAFE",
                    "the profile \"%s\" can be read by other users of this computer, and what "
                    "it holds is secret: run `chmod 600 %s` (and, if others may have read it, "
                    "`qianbao logout` and log in again)",
                    name, path);
}

enum qb_error cli_profile_remove(const char *name)
{
    char path[S_PATH_SIZE_MAX];
    if (!cli_profile_path(name, path, sizeof path))
        return QB_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        return QB_E_STORAGE;
    return QB_OK;
}
