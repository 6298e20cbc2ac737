/*
 * test_buf.c — the capped growable buffer.
 *
 * The cap is what turns a hostile 1 GB request body into a 413 instead of an
 * out-of-memory kill, so the tests push at it from every append function and
 * check that a refused append leaves the buffer exactly as it was.
 */
#include <stdlib.h>

#include "base/buf.h"
#include "test.h"

TEST(init_is_empty)
{
    // A fresh buffer owns no memory and holds nothing, with its cap recorded.
    struct buf b;
    buf_init(&b, 100);
    ASSERT(b.data == NULL);
    ASSERT_EQ_INT(b.size, 0);
    ASSERT_EQ_INT(b.capacity, 0);
    ASSERT_EQ_INT(b.size_max, 100);
    buf_release(&b);
}

TEST(append_grows_and_terminates)
{
    // Appends accumulate byte for byte and the contents stay NUL-terminated
    // (the NUL not counted), through many reallocations.
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(buf_append(&b, "", 0), QB_OK);
    ASSERT(b.data != NULL);
    ASSERT_EQ_STR(b.data, "");
    char expected[10000];
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        expected[i] = c;
        ASSERT_EQ_INT(buf_append(&b, &c, 1), QB_OK);
        ASSERT_EQ_INT(b.size, i + 1);
        ASSERT_EQ_INT(b.data[b.size], '\0');
        ASSERT(b.capacity > b.size);
    }
    ASSERT(memcmp(b.data, expected, sizeof expected) == 0);
    buf_release(&b);
}

TEST(append_binary_with_nul_bytes)
{
    // Binary data with embedded NULs is kept whole; size, not strlen, counts.
    struct buf b;
    buf_init(&b, 64);
    static const char bytes[] = {'a', 0, 'b', 0};
    ASSERT_EQ_INT(buf_append(&b, bytes, sizeof bytes), QB_OK);
    ASSERT_EQ_INT(b.size, 4);
    ASSERT(memcmp(b.data, bytes, 4) == 0);
    ASSERT_EQ_INT(b.data[4], '\0');
    buf_release(&b);
}

TEST(cap_is_exact_and_refusal_leaves_buffer_unchanged)
{
    // size_max bytes fit; one byte more is QB_E_TOO_LARGE with contents, size
    // and capacity as before, for every append function.
    struct buf b;
    buf_init(&b, 10);
    ASSERT_EQ_INT(buf_append_str(&b, "0123456"), QB_OK);
    char *data = b.data;
    size_t capacity = b.capacity;
    ASSERT_EQ_INT(buf_append_str(&b, "7890"), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(buf_printf(&b, "%d", 7890), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(buf_append_u64le(&b, 1), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(buf_append_u32le(&b, 1), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(buf_append(&b, "abcd", 4), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(buf_append(&b, "x", SIZE_MAX), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(b.size, 7);
    ASSERT_EQ_STR(b.data, "0123456");
    ASSERT(b.data == data && b.capacity == capacity);
    ASSERT_EQ_INT(buf_append_str(&b, "789"), QB_OK);
    ASSERT_EQ_STR(b.data, "0123456789");
    ASSERT_EQ_INT(b.size, 10);
    ASSERT_EQ_INT(buf_append(&b, "", 0), QB_OK);
    ASSERT_EQ_INT(buf_append(&b, "!", 1), QB_E_TOO_LARGE);
    ASSERT_EQ_STR(b.data, "0123456789");
    buf_release(&b);
}

TEST(capacity_never_exceeds_cap)
{
    // Doubling stops at size_max + 1, so a buffer never holds more memory
    // than its cap allows.
    struct buf b;
    buf_init(&b, 1000);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ_INT(buf_append(&b, "z", 1), QB_OK);
    ASSERT_EQ_INT(b.capacity, 1001);
    ASSERT_EQ_INT(buf_append(&b, "z", 1), QB_E_TOO_LARGE);
    buf_release(&b);

    buf_init(&b, 0);
    ASSERT_EQ_INT(buf_append(&b, "", 0), QB_OK);
    ASSERT_EQ_INT(buf_append(&b, "a", 1), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(b.capacity, 1);
    ASSERT_EQ_STR(b.data, "");
    buf_release(&b);
}

TEST(printf_formats_across_growth)
{
    // buf_printf appends formatted text, including text longer than the spare
    // capacity, which forces the grow-and-format-again path.
    struct buf b;
    buf_init(&b, 1 << 16);
    ASSERT_EQ_INT(buf_printf(&b, "%s=%d", "a", 1), QB_OK);
    ASSERT_EQ_INT(buf_printf(&b, " %s", ""), QB_OK);
    ASSERT_EQ_STR(b.data, "a=1 ");
    char big[3000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_EQ_INT(buf_printf(&b, "[%s]", big), QB_OK);
    ASSERT_EQ_INT(b.size, 4 + 2 + 2999);
    ASSERT_EQ_INT(b.data[4], '[');
    ASSERT_EQ_INT(b.data[b.size - 1], ']');
    ASSERT_EQ_INT(b.data[b.size], '\0');
    ASSERT_EQ_INT(strlen(b.data), b.size);
    buf_release(&b);
}

TEST(printf_refusal_restores_terminator)
{
    // A refused printf may have scribbled into spare capacity; the visible
    // contents and the NUL must be exactly as before.
    struct buf b;
    buf_init(&b, 70);
    ASSERT_EQ_INT(buf_append_str(&b, "keep"), QB_OK);
    ASSERT(b.capacity >= 64); /* spare room for a partial write */
    ASSERT_EQ_INT(buf_printf(&b, "%080d", 5), QB_E_TOO_LARGE);
    ASSERT_EQ_INT(b.size, 4);
    ASSERT_EQ_STR(b.data, "keep");
    ASSERT_EQ_INT(buf_printf(&b, "%066d", 5), QB_OK);
    ASSERT_EQ_INT(b.size, 70);
    buf_release(&b);
}

TEST(little_endian_integers)
{
    // Canonical encodings are little-endian whatever the host, and
    // buf_read_u64le reads back what buf_append_u64le wrote.
    struct buf b;
    buf_init(&b, 64);
    ASSERT_EQ_INT(buf_append_u32le(&b, 0x01020304u), QB_OK);
    ASSERT_EQ_INT(buf_append_u64le(&b, 0x1122334455667788u), QB_OK);
    static const unsigned char want[] = {4,    3,    2,    1,    0x88, 0x77,
                                         0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    ASSERT_EQ_INT(b.size, 12);
    ASSERT(memcmp(b.data, want, sizeof want) == 0);
    ASSERT(buf_read_u64le((const unsigned char *)b.data + 4) == 0x1122334455667788u);
    unsigned char raw[8];
    buf_write_u64le(raw, UINT64_MAX - 1);
    ASSERT_EQ_INT(raw[0], 0xfe);
    ASSERT_EQ_INT(raw[7], 0xff);
    ASSERT(buf_read_u64le(raw) == UINT64_MAX - 1);
    buf_release(&b);
}

TEST(reset_keeps_memory)
{
    // buf_reset empties the buffer without freeing, so a reused response
    // buffer does not reallocate per request.
    struct buf b;
    buf_init(&b, 4096);
    ASSERT_EQ_INT(buf_append_str(&b, "some text"), QB_OK);
    char *data = b.data;
    size_t capacity = b.capacity;
    buf_reset(&b);
    ASSERT_EQ_INT(b.size, 0);
    ASSERT_EQ_STR(b.data, "");
    ASSERT(b.data == data && b.capacity == capacity);
    ASSERT_EQ_INT(buf_append_str(&b, "new"), QB_OK);
    ASSERT_EQ_STR(b.data, "new");
    buf_release(&b);
    buf_reset(&b); /* on a released buffer: nothing to do */
    ASSERT(b.data == NULL);
}

TEST(reserve_makes_room_appends_then_use)
{
    // After buf_reserve(n), appends of n bytes in all keep the same memory; a
    // reservation past the cap is refused and changes nothing.
    struct buf b;
    buf_init(&b, 4096);
    ASSERT_EQ_INT(buf_append_str(&b, "ab"), QB_OK);
    ASSERT_EQ_INT(buf_reserve(&b, 1000), QB_OK);
    ASSERT(b.capacity >= 2 + 1000 + 1);
    char *data = b.data;
    for (int i = 0; i < 100; i++)
        ASSERT_EQ_INT(buf_append(&b, "0123456789", 10), QB_OK);
    ASSERT(b.data == data);
    ASSERT_EQ_INT(b.size, 1002);
    ASSERT_EQ_INT(b.data[1002], '\0');
    size_t capacity = b.capacity;
    ASSERT_EQ_INT(buf_reserve(&b, 4096 - 1002 + 1), QB_E_TOO_LARGE);
    ASSERT(b.data == data && b.capacity == capacity && b.size == 1002);
    ASSERT_EQ_INT(buf_reserve(&b, 0), QB_OK);
    ASSERT(b.data == data);
    buf_release(&b);

    // On an empty buffer, it allocates once and the contents are "".
    buf_init(&b, 64);
    ASSERT_EQ_INT(buf_reserve(&b, 64), QB_OK);
    ASSERT(b.data != NULL && b.capacity == 65);
    ASSERT_EQ_STR(b.data, "");
    buf_release(&b);
}

TEST(a_secret_buffer_keeps_its_bytes_as_it_grows_and_stays_secret)
{
    // A secret buffer grows by copying into a new block (the old one wiped and freed, which no
    // test can read back): every byte, NULs included, and the terminator survive each growth;
    // released, it is empty and still secret, and used again grows the same way.
    struct buf b;
    buf_init_secret(&b, 1 << 20);
    ASSERT(b.secret);
    unsigned char expect[5000];
    for (size_t i = 0; i < sizeof expect; i++)
        expect[i] = (unsigned char)(i * 7 % 251);
    size_t capacity = 0;
    int grown = 0;
    for (size_t i = 0; i < sizeof expect; i += 50) {
        ASSERT_EQ_INT(buf_append(&b, expect + i, 50), QB_OK);
        grown += b.capacity != capacity;
        capacity = b.capacity;
        ASSERT_EQ_INT(b.size, i + 50);
        ASSERT(memcmp(b.data, expect, i + 50) == 0);
        ASSERT_EQ_INT(b.data[b.size], '\0');
    }
    ASSERT(grown >= 5);
    buf_release(&b);
    ASSERT(b.data == NULL && b.size == 0 && b.capacity == 0 && b.secret);
    ASSERT_EQ_INT(buf_append_str(&b, "again"), QB_OK);
    ASSERT_EQ_INT(buf_printf(&b, " and %0300d", 7), QB_OK);
    ASSERT_EQ_INT(b.size, 5 + 5 + 300);
    ASSERT(strncmp(b.data, "again and 000", 13) == 0 && b.data[b.size - 1] == '7');
    buf_release(&b);
    buf_init(&b, 16);
    ASSERT(!b.secret);
    buf_release(&b);
}

TEST(release_reinitialises)
{
    // A released buffer is empty, owns nothing and keeps its cap, so it can
    // be used again.
    struct buf b;
    buf_init(&b, 16);
    ASSERT_EQ_INT(buf_append_str(&b, "abc"), QB_OK);
    buf_release(&b);
    ASSERT(b.data == NULL);
    ASSERT_EQ_INT(b.size, 0);
    ASSERT_EQ_INT(b.capacity, 0);
    ASSERT_EQ_INT(b.size_max, 16);
    ASSERT_EQ_INT(buf_append_str(&b, "0123456789abcdef"), QB_OK);
    ASSERT_EQ_INT(buf_append_str(&b, "g"), QB_E_TOO_LARGE);
    buf_release(&b);
    buf_release(&b); /* twice is harmless */
}

int main(void)
{
    RUN(init_is_empty);
    RUN(append_grows_and_terminates);
    RUN(append_binary_with_nul_bytes);
    RUN(cap_is_exact_and_refusal_leaves_buffer_unchanged);
    RUN(capacity_never_exceeds_cap);
    RUN(printf_formats_across_growth);
    RUN(printf_refusal_restores_terminator);
    RUN(little_endian_integers);
    RUN(reset_keeps_memory);
    RUN(reserve_makes_room_appends_then_use);
    RUN(a_secret_buffer_keeps_its_bytes_as_it_grows_and_stays_secret);
    RUN(release_reinitialises);
    return test_summary();
}
