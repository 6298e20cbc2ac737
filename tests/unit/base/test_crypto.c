/*
 * test_crypto.c — SHA-256, HMAC-SHA-256, comparison, hex, secret files.
 *
 * The ledger's hash chain depends on SHA-256 being exactly SHA-256 in both
 * its one-shot and incremental forms; every keyed hash already stored (payment
 * passwords, card and id number hashes, QR and payment code MACs) on
 * HMAC-SHA-256 being exactly the MAC libsodium computed for them before it
 * was Qianbao's own; the secret file rules (0600, refuse
 * files others can read, never half-written) protect the keys at rest.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crypto.h"
#include "test.h"

static char tmpdir[1024];
static uint64_t seed;

static const char *sha256_hex(const void *data, size_t size)
{
    static char text[2 * CRYPTO_SHA256_SIZE + 1];
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256(data, size, digest);
    crypto_hex(digest, sizeof digest, text);
    return text;
}

static const char *hmac_hex(const void *key, size_t key_size, const void *data, size_t size)
{
    static char text[2 * CRYPTO_SHA256_SIZE + 1];
    uint8_t mac[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256(key, key_size, data, size, mac);
    crypto_hex(mac, sizeof mac, text);
    return text;
}

static void path_in_tmp(char *buf, size_t buf_size, const char *name)
{
    snprintf(buf, buf_size, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t size, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || fchmod(fd, mode) != 0 ||
        close(fd) != 0)
        abort();
}

static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return *state;
}

static void fill_random(unsigned char *bytes, size_t size, uint64_t *state)
{
    for (size_t i = 0; i < size; i++)
        bytes[i] = (unsigned char)(next_random(state) >> 56);
}

/* Feeds message[0, len) to update in random pieces of 0 to 79 bytes. */
static void feed_in_pieces(const unsigned char *message, size_t len, uint64_t *state,
                           void (*update)(void *ctx, const void *data, size_t size), void *ctx)
{
    size_t pos = 0;
    while (pos < len) {
        size_t take = (size_t)(next_random(state) >> 40) % 80;
        if (take > len - pos)
            take = len - pos;
        update(ctx, message + pos, take);
        pos += take;
    }
}

static void sha256_feed(void *ctx, const void *data, size_t size)
{
    crypto_sha256_update(ctx, data, size);
}

static void hmac_feed(void *ctx, const void *data, size_t size)
{
    crypto_hmac_sha256_update(ctx, data, size);
}

TEST(sha256_known_answers)
{
    // FIPS 180-2 vectors: the empty string, "abc", and the 448-bit message.
    ASSERT_EQ_STR(sha256_hex("", 0),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ASSERT_EQ_STR(sha256_hex("abc", 3),
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ASSERT_EQ_STR(sha256_hex(m, strlen(m)),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_incremental_equals_one_shot)
{
    // Feeding a message in random pieces (including empty ones) gives the
    // one-shot digest, for lengths around the 64-byte block size; the state
    // is wiped once the digest is out.
    static unsigned char message[1000];
    uint64_t state = seed;
    fill_random(message, sizeof message, &state);
    for (size_t len = 0; len <= 300; len++) {
        uint8_t want[CRYPTO_SHA256_SIZE], got[CRYPTO_SHA256_SIZE];
        crypto_sha256(message, len, want);
        struct crypto_sha256_state sha;
        crypto_sha256_begin(&sha);
        feed_in_pieces(message, len, &state, sha256_feed, &sha);
        crypto_sha256_end(&sha, got);
        ASSERT(memcmp(want, got, sizeof want) == 0);
        static const struct crypto_sha256_state zero;
        ASSERT(memcmp(&sha, &zero, sizeof sha) == 0);
    }
}

TEST(hmac_sha256_known_answers)
{
    // RFC 4231 test cases 1, 2, 6 and 7: a short key, a key shorter than
    // the data, and two keys longer than the block, hashed first.
    uint8_t key[131];
    memset(key, 0x0b, 20);
    ASSERT_EQ_STR(hmac_hex(key, 20, "Hi There", 8),
                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *what = "what do ya want for nothing?";
    ASSERT_EQ_STR(hmac_hex("Jefe", 4, what, strlen(what)),
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, sizeof key);
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
    ASSERT_EQ_STR(hmac_hex(key, sizeof key, big, strlen(big)),
                  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *both = "This is a test using a larger than block-size key and a larger than "
                       "block-size data. The key needs to be hashed before being used by the "
                       "HMAC algorithm.";
    ASSERT_EQ_STR(hmac_hex(key, sizeof key, both, strlen(both)),
                  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(hmac_sha256_is_libsodiums_and_a_keyed_state_may_be_copied)
{
    // The MACs stored before Qianbao computed its own were libsodium's: the
    // same for random keys (of the sizes in use and around the block) and
    // messages fed in pieces; and a begun state copied MACs like a fresh one.
    static unsigned char bytes[700];
    uint64_t state = seed;
    fill_random(bytes, sizeof bytes, &state);
    const size_t key_sizes[] = {0, 1, 16, 32, 63, 64, 65, 128, 200};
    for (size_t k = 0; k < QB_ARRAY_COUNT(key_sizes); k++) {
        const unsigned char *key = bytes + 500;
        struct crypto_hmac_sha256_state keyed;
        crypto_hmac_sha256_begin(&keyed, key, key_sizes[k]);
        for (size_t len = 0; len <= 300; len += 7) {
            uint8_t want[CRYPTO_SHA256_SIZE], got[CRYPTO_SHA256_SIZE];
            crypto_auth_hmacsha256_state sodium;
            crypto_auth_hmacsha256_init(&sodium, key, key_sizes[k]);
            crypto_auth_hmacsha256_update(&sodium, bytes, len);
            crypto_auth_hmacsha256_final(&sodium, want);

            struct crypto_hmac_sha256_state mine = keyed;
            feed_in_pieces(bytes, len, &state, hmac_feed, &mine);
            crypto_hmac_sha256_end(&mine, got);
            ASSERT(memcmp(want, got, sizeof want) == 0);
            crypto_hmac_sha256(key, key_sizes[k], bytes, len, got);
            ASSERT(memcmp(want, got, sizeof want) == 0);
        }
    }
}

TEST(equal_compares_all_bytes)
{
    // A difference in any position, first or last, makes two strings unequal.
    unsigned char a[33], b[33];
    memset(a, 7, sizeof a);
    memcpy(b, a, sizeof b);
    ASSERT(crypto_equal(a, b, sizeof a));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 1;
        ASSERT(!crypto_equal(a, b, sizeof a));
        b[i] ^= 1;
    }
    ASSERT(crypto_equal(a, b, 0));
}

TEST(hex_is_lower_case)
{
    // Hex is two lower-case digits per byte, NUL-terminated.
    static const unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff, 0x5c};
    char text[11];
    memset(text, 'x', sizeof text);
    crypto_hex(bytes, sizeof bytes, text);
    ASSERT_EQ_STR(text, "000fa0ff5c");
    crypto_hex(bytes, 0, text);
    ASSERT_EQ_STR(text, "");
}

TEST(wipe_zeroes)
{
    // crypto_wipe leaves only zero bytes behind.
    unsigned char secret[40];
    memset(secret, 0xa5, sizeof secret);
    crypto_wipe(secret, sizeof secret);
    for (size_t i = 0; i < sizeof secret; i++)
        ASSERT_EQ_INT(secret[i], 0);
}

TEST(secret_is_created_private_and_reloaded)
{
    // A missing secret file is created with mode 0600 and random contents,
    // and the next load returns the same bytes.
    char path[1100];
    path_in_tmp(path, sizeof path, "key1");
    uint8_t first[32], again[32], zero[32] = {0};
    ASSERT_EQ_INT(crypto_secret_load(path, first, sizeof first), QB_OK);
    ASSERT(memcmp(first, zero, sizeof zero) != 0);
    struct stat st;
    ASSERT_EQ_INT(stat(path, &st), 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    ASSERT_EQ_INT(st.st_size, 32);
    ASSERT_EQ_INT(crypto_secret_load(path, again, sizeof again), QB_OK);
    ASSERT(memcmp(first, again, sizeof first) == 0);

    char other[1100];
    path_in_tmp(other, sizeof other, "key2");
    ASSERT_EQ_INT(crypto_secret_load(other, again, sizeof again), QB_OK);
    ASSERT(memcmp(first, again, sizeof first) != 0);
}

TEST(secret_reads_existing_file)
{
    // An existing private file is read back exactly, not replaced.
    char path[1100];
    path_in_tmp(path, sizeof path, "given");
    uint8_t want[16], got[16];
    for (int i = 0; i < 16; i++)
        want[i] = (uint8_t)(i * 13);
    write_file(path, want, sizeof want, 0600);
    ASSERT_EQ_INT(crypto_secret_load(path, got, sizeof got), QB_OK);
    ASSERT(memcmp(want, got, sizeof want) == 0);
    write_file(path, want, sizeof want, 0400);
    ASSERT_EQ_INT(crypto_secret_load(path, got, sizeof got), QB_OK);
}

TEST(secret_refuses_open_permissions)
{
    // A key file group or others can read (or write) is refused with
    // QB_E_FORBIDDEN: the daemon must not run on a key that may be leaked.
    static const mode_t modes[] = {0640, 0604, 0644, 0660, 0606, 0620, 0602, 0610};
    char path[1100];
    path_in_tmp(path, sizeof path, "open");
    uint8_t bytes[16] = {1}, got[16];
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        write_file(path, bytes, sizeof bytes, modes[i]);
        enum qb_error err = crypto_secret_load(path, got, sizeof got);
        if (err != QB_E_FORBIDDEN)
            TEST_FAIL_("mode %04o: err %d", (unsigned int)modes[i], (int)err);
    }
}

TEST(secret_refuses_wrong_size_and_odd_files)
{
    // A file of the wrong length, a directory, a symlink or a missing parent
    // directory is QB_E_INTERNAL, never a silently different key.
    char path[1100], link_path[1100], dir_path[1100], orphan[1100];
    uint8_t bytes[40] = {0}, got[32];
    path_in_tmp(path, sizeof path, "short");
    write_file(path, bytes, 31, 0600);
    ASSERT_EQ_INT(crypto_secret_load(path, got, sizeof got), QB_E_INTERNAL);
    write_file(path, bytes, 33, 0600);
    ASSERT_EQ_INT(crypto_secret_load(path, got, sizeof got), QB_E_INTERNAL);
    write_file(path, bytes, 0, 0600);
    ASSERT_EQ_INT(crypto_secret_load(path, got, sizeof got), QB_E_INTERNAL);

    path_in_tmp(dir_path, sizeof dir_path, "adir");
    ASSERT_EQ_INT(mkdir(dir_path, 0700), 0);
    ASSERT_EQ_INT(crypto_secret_load(dir_path, got, sizeof got), QB_E_INTERNAL);

    write_file(path, bytes, 32, 0600);
    path_in_tmp(link_path, sizeof link_path, "link");
    ASSERT_EQ_INT(symlink(path, link_path), 0);
    ASSERT_EQ_INT(crypto_secret_load(link_path, got, sizeof got), QB_E_INTERNAL);

    path_in_tmp(orphan, sizeof orphan, "missing/dir/key");
    ASSERT_EQ_INT(crypto_secret_load(orphan, got, sizeof got), QB_E_INTERNAL);
    ASSERT_EQ_INT(access(orphan, F_OK), -1);
}

TEST(secret_relative_path)
{
    // A bare file name is created in the working directory (whose entry is
    // synced as ".").
    char cwd[1024];
    ASSERT(getcwd(cwd, sizeof cwd) != NULL);
    ASSERT_EQ_INT(chdir(tmpdir), 0);
    uint8_t a[8], b[8];
    enum qb_error first = crypto_secret_load("bare.key", a, sizeof a);
    enum qb_error second = crypto_secret_load("bare.key", b, sizeof b);
    ASSERT_EQ_INT(chdir(cwd), 0);
    ASSERT_EQ_INT(first, QB_OK);
    ASSERT_EQ_INT(second, QB_OK);
    ASSERT(memcmp(a, b, sizeof a) == 0);
}

int main(void)
{
    if (!crypto_init()) {
        fprintf(stderr, "crypto_init failed\n");
        return 1;
    }
    seed = test_seed();
    test_tmpdir(tmpdir, sizeof tmpdir);
    RUN(sha256_known_answers);
    RUN(sha256_incremental_equals_one_shot);
    RUN(hmac_sha256_known_answers);
    RUN(hmac_sha256_is_libsodiums_and_a_keyed_state_may_be_copied);
    RUN(equal_compares_all_bytes);
    RUN(hex_is_lower_case);
    RUN(wipe_zeroes);
    RUN(secret_is_created_private_and_reloaded);
    RUN(secret_reads_existing_file);
    RUN(secret_refuses_open_permissions);
    RUN(secret_refuses_wrong_size_and_odd_files);
    RUN(secret_relative_path);
    test_rmtree(tmpdir);
    return test_summary();
}
