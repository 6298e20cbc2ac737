/*
 * rand.c — the system CSPRNG, the seeded ChaCha20 source and public ids.
 *
 * The seeded source is the ChaCha20 keystream (libsodium's original-ChaCha20
 * construction: 64-bit nonce, 64-bit block counter) under a key derived from
 * the seed as SHA-256("qianbao.rand.seed.v1" || seed as 8 little-endian
 * bytes), with an all-zero nonce. struct qb_rand's counter is the position in
 * that keystream in bytes, so the bytes a seed gives do not depend on how the
 * caller splits its reads, nor on the machine's endianness. Changing any of
 * this changes every recorded replay: the known-answer test in test_rand.c
 * pins it.
 *
 * Ids are 128 random bits written as 26 lower-case Crockford base32 digits,
 * most significant first with two zero pad bits on top (so the first digit is
 * 0..7), like a ULID without the time.
 */
#include "base/rand.h"

#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <string.h>

#include "base/assert.h"

#define RAND_BLOCK_SIZE 64
#define RAND_CHUNK_SIZE 1024
#define ID_DIGIT_COUNT 26
#define ID_PREFIX_SIZE_MAX 8

static const unsigned char rand_zeros[RAND_CHUNK_SIZE];
static const unsigned char rand_nonce[crypto_stream_chacha20_NONCEBYTES];
static const char id_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

_Static_assert(sizeof(((struct qb_rand *)0)->key) == crypto_stream_chacha20_KEYBYTES,
               "key size must match ChaCha20");
_Static_assert(sizeof id_alphabet == 33, "Crockford base32 has 32 digits");
_Static_assert(ID_PREFIX_SIZE_MAX + 1 + ID_DIGIT_COUNT + 1 <= ID_TEXT_SIZE_MAX,
               "ID_TEXT_SIZE_MAX too small");

/* Small draws (an id, a request id: 16 bytes) come from a per-thread
 * buffer of system randomness, so that a request does not cost a getrandom
 * call per id: one call fills RAND_BUFFER_SIZE bytes. A byte is handed out
 * once and wiped from the buffer as it is; a child process after fork
 * starts with an empty buffer (rand_system_forked), never with its
 * parent's bytes. Larger draws (keys, seeds) go to the system directly. */
#define RAND_BUFFER_SIZE 512
#define RAND_BUFFERED_MAX 64

static _Thread_local struct {
    unsigned char bytes[RAND_BUFFER_SIZE];
    size_t used; /* bytes[used..] not yet handed out; 0 with filled false: empty */
    bool filled;
} rand_buffer;

static void rand_system_fill(struct qb_rand *rand, void *buf, size_t size)
{
    (void)rand;
    if (size > RAND_BUFFERED_MAX) {
        randombytes_buf(buf, size);
        return;
    }
    if (!rand_buffer.filled || RAND_BUFFER_SIZE - rand_buffer.used < size) {
        randombytes_buf(rand_buffer.bytes, RAND_BUFFER_SIZE);
        rand_buffer.used = 0;
        rand_buffer.filled = true;
    }
    memcpy(buf, rand_buffer.bytes + rand_buffer.used, size);
    sodium_memzero(rand_buffer.bytes + rand_buffer.used, size);
    rand_buffer.used += size;
}

/* In the child of a fork: its only thread drops what it inherited. */
static void rand_system_forked(void)
{
    sodium_memzero(rand_buffer.bytes, sizeof rand_buffer.bytes);
    rand_buffer.used = 0;
    rand_buffer.filled = false;
}

static struct qb_rand rand_system_instance = {rand_system_fill, {0}, 0};
static pthread_once_t rand_system_once = PTHREAD_ONCE_INIT;

static void rand_system_setup(void)
{
    /* sodium_init is idempotent; calling it here means no caller can draw
     * from an unseeded generator by forgetting crypto_init. */
    int rc = sodium_init();
    QB_ASSERT(rc >= 0);
    rc = pthread_atfork(NULL, NULL, rand_system_forked);
    QB_ASSERT(rc == 0);
}

struct qb_rand *rand_system(void)
{
    int rc = pthread_once(&rand_system_once, rand_system_setup);
    QB_ASSERT(rc == 0);
    return &rand_system_instance;
}

/* Writes keystream bytes [rand->counter, rand->counter + size) into buf. */
static void rand_seeded_fill(struct qb_rand *rand, void *buf, size_t size)
{
    unsigned char *out = buf;
    QB_ASSERT(out != NULL || size == 0);
    QB_ASSERT(rand->counter <= UINT64_MAX - size);

    /* Step 1: the tail of a block a previous call started. */
    size_t skip = (size_t)(rand->counter % RAND_BLOCK_SIZE);
    if (skip != 0 && size > 0) {
        unsigned char block[RAND_BLOCK_SIZE];
        crypto_stream_chacha20_xor_ic(block, rand_zeros, RAND_BLOCK_SIZE, rand_nonce,
                                      rand->counter / RAND_BLOCK_SIZE, rand->key);
        size_t take = RAND_BLOCK_SIZE - skip < size ? RAND_BLOCK_SIZE - skip : size;
        memcpy(out, block + skip, take);
        sodium_memzero(block, sizeof block);
        out += take;
        size -= take;
        rand->counter += take;
    }
    /* Step 2: whole chunks from a block boundary on. */
    while (size > 0) {
        QB_ASSERT(rand->counter % RAND_BLOCK_SIZE == 0);
        size_t take = size < RAND_CHUNK_SIZE ? size : RAND_CHUNK_SIZE;
        crypto_stream_chacha20_xor_ic(out, rand_zeros, take, rand_nonce,
                                      rand->counter / RAND_BLOCK_SIZE, rand->key);
        out += take;
        size -= take;
        rand->counter += take;
    }
}

void rand_seeded_init(struct qb_rand *rand, uint64_t seed)
{
    static const char domain[] = "qianbao.rand.seed.v1";
    QB_ASSERT(rand != NULL);
    unsigned char material[sizeof domain - 1 + 8];
    memcpy(material, domain, sizeof domain - 1);
    for (int i = 0; i < 8; i++)
        material[sizeof domain - 1 + (size_t)i] = (unsigned char)(seed >> (8 * i));
    memset(rand, 0, sizeof *rand);
    crypto_hash_sha256(rand->key, material, sizeof material);
    rand->counter = 0;
    rand->fill = rand_seeded_fill;
}

uint64_t rand_u64(struct qb_rand *rand)
{
    unsigned char bytes[8];
    rand_fill(rand, bytes, sizeof bytes);
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value |= (uint64_t)bytes[i] << (8 * i);
    return value;
}

/* Rejection sampling: values below 2^64 mod bound are drawn again, leaving a
 * range whose size is a multiple of bound, so every residue is equally
 * likely. At most half the range is ever rejected. */
uint64_t rand_below(struct qb_rand *rand, uint64_t bound)
{
    QB_ASSERT(bound > 0);
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t value = rand_u64(rand);
        if (value >= threshold)
            return value % bound;
    }
}

static bool id_prefix_is_valid(const char *prefix, size_t prefix_size)
{
    if (prefix_size == 0 || prefix_size > ID_PREFIX_SIZE_MAX)
        return false;
    for (size_t i = 0; i < prefix_size; i++) {
        char c = prefix[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Writes prefix, '_' and the 128-bit value high:low as 26 digits. */
static size_t id_encode(const char *prefix, uint64_t high, uint64_t low, char *buf,
                        size_t buf_size)
{
    QB_ASSERT(prefix != NULL && buf != NULL);
    size_t prefix_size = strnlen(prefix, ID_PREFIX_SIZE_MAX + 1);
    QB_ASSERT(id_prefix_is_valid(prefix, prefix_size));
    size_t len = prefix_size + 1 + ID_DIGIT_COUNT;
    QB_ASSERT(buf_size > len);

    memcpy(buf, prefix, prefix_size);
    buf[prefix_size] = '_';
    char *digits = buf + prefix_size + 1;
    /* 26 digits of 5 bits cover 130 bits: bit 5 * (25 - i) and up of the
     * 128-bit value high:low is digit i. */
    for (int i = 0; i < ID_DIGIT_COUNT; i++) {
        int shift = 5 * (ID_DIGIT_COUNT - 1 - i);
        uint64_t part;
        if (shift >= 64)
            part = high >> (shift - 64);
        else if (shift == 0)
            part = low;
        else
            part = low >> shift | high << (64 - shift);
        digits[i] = id_alphabet[part & 31];
    }
    buf[len] = '\0';
    return len;
}

size_t id_new(struct qb_rand *rand, const char *prefix, char *buf, size_t buf_size)
{
    QB_ASSERT(rand != NULL);
    unsigned char bytes[16];
    rand_fill(rand, bytes, sizeof bytes);
    uint64_t high = 0, low = 0;
    for (int i = 0; i < 8; i++) {
        high = high << 8 | bytes[i];
        low = low << 8 | bytes[8 + i];
    }
    return id_encode(prefix, high, low, buf, buf_size);
}

size_t id_new_ordered(struct qb_rand *rand, int64_t now_ms, const char *prefix, char *buf,
                      size_t buf_size)
{
    QB_ASSERT(rand != NULL && now_ms >= 0 && (uint64_t)now_ms < (1ULL << 48));
    unsigned char bytes[10];
    rand_fill(rand, bytes, sizeof bytes);
    /* high: 48 bits of time, then 16 random; low: 64 random. */
    uint64_t high = (uint64_t)now_ms << 16 | (uint64_t)bytes[0] << 8 | bytes[1];
    uint64_t low = 0;
    for (int i = 2; i < 10; i++)
        low = low << 8 | bytes[i];
    return id_encode(prefix, high, low, buf, buf_size);
}

size_t id_new_sequenced(struct qb_rand *rand, int64_t seq, const char *prefix, char *buf,
                        size_t buf_size)
{
    QB_ASSERT(rand != NULL && seq >= 0);
    uint64_t bits[2];
    rand_fill(rand, bits, sizeof bits);
    /* high: the 63 bits of seq, then 1 random; low: 64 random. */
    uint64_t high = (uint64_t)seq << 1 | (bits[0] & 1);
    return id_encode(prefix, high, bits[1], buf, buf_size);
}

int64_t id_sequence(const char *text, size_t text_size, const char *prefix)
{
    if (!id_is_valid(text, text_size, prefix))
        return -1;
    /* Digits 0..12 are bits 129..65 of the value: the two pad bits (zero,
     * digit 0 being 0..7) and the first 63 bits of the id. */
    const char *digits = text + text_size - ID_DIGIT_COUNT;
    uint64_t seq = 0;
    for (int i = 0; i < 13; i++)
        seq = seq << 5 | (uint64_t)(strchr(id_alphabet, digits[i]) - id_alphabet);
    QB_ASSERT(seq >> 63 == 0);
    return (int64_t)seq;
}

int id_is_valid(const char *text, size_t text_size, const char *prefix)
{
    QB_ASSERT(prefix != NULL);
    if (text == NULL)
        return 0;
    size_t prefix_size = strnlen(prefix, ID_PREFIX_SIZE_MAX + 1);
    QB_ASSERT(id_prefix_is_valid(prefix, prefix_size));
    if (text_size != prefix_size + 1 + ID_DIGIT_COUNT)
        return 0;
    if (memcmp(text, prefix, prefix_size) != 0 || text[prefix_size] != '_')
        return 0;
    const char *digits = text + prefix_size + 1;
    /* The two pad bits are zero, so the first digit is 0..7. */
    if (digits[0] < '0' || digits[0] > '7')
        return 0;
    for (size_t i = 0; i < ID_DIGIT_COUNT; i++) {
        if (digits[i] == '\0' || strchr(id_alphabet, digits[i]) == NULL)
            return 0;
    }
    return 1;
}
