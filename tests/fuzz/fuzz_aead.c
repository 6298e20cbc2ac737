/*
 * fuzz_aead.c — AEAD_AES_256_GCM as merchants receive it in notifications
 * (docs/merchant.md): opening a resource the fuzzer made up never crashes
 * and never succeeds, and what is sealed opens to the same bytes and to
 * nothing else once one byte of its ciphertext changes.
 *
 * The input: 12 bytes of nonce, one byte for the length of the associated
 * data, that much associated data, and the rest (as text: what a merchant
 * receives is base64 in JSON) the ciphertext to open, and also the
 * plaintext to seal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crypto.h"

#define S_INPUT_SIZE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a NUL-terminated string, cut at the first NUL. */
static void S_text(const uint8_t *data, size_t size, char *out)
{
    memcpy(out, data, size);
    out[size] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 13 || size > S_INPUT_SIZE_MAX)
        return 0;
    static const uint8_t key[32] = "0123456789abcdefghijklmnopqrstuv";
    char nonce[13], associated[256], rest[S_INPUT_SIZE_MAX + 1];
    S_text(data, 12, nonce);
    if (nonce[0] == '\0') /* GCM takes no empty nonce */
        return 0;
    size_t associated_size = data[12];
    if (13 + associated_size > size)
        return 0;
    S_text(data + 13, associated_size, associated);
    const uint8_t *body = data + 13 + associated_size;
    size_t body_size = size - 13 - associated_size;
    S_text(body, body_size, rest);

    struct buf out;
    buf_init(&out, 1 << 16);
    /* A made-up ciphertext does not open: forging the tag is 2^-128. */
    if (crypto_aead_gcm_decrypt(key, nonce, associated, rest, &out) == QB_OK)
        abort();
    buf_release(&out);

    struct buf sealed, opened;
    buf_init(&sealed, 1 << 16);
    buf_init(&opened, 1 << 16);
    if (crypto_aead_gcm_encrypt(key, nonce, associated, body, body_size, &sealed) != QB_OK ||
        buf_append(&sealed, "", 1) != QB_OK)
        abort();
    if (crypto_aead_gcm_decrypt(key, nonce, associated, (const char *)sealed.data, &opened) !=
            QB_OK ||
        opened.size != body_size || (body_size > 0 && memcmp(opened.data, body, body_size) != 0))
        abort();
    /* One base64 character changed to another: no longer opens (or no
     * longer decodes). The last characters may be padding or carry unused
     * bits, so the first is changed. */
    char *text = (char *)sealed.data;
    text[0] = text[0] == 'A' ? 'B' : 'A';
    buf_reset(&opened);
    if (crypto_aead_gcm_decrypt(key, nonce, associated, text, &opened) == QB_OK)
        abort();
    buf_release(&sealed);
    buf_release(&opened);
    return 0;
}
