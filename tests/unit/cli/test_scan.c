/*
 * test_scan.c — reading a QR code from a picture file (src/cli/scan.c):
 * the server's own PNG and the same picture as a JPEG give back the text
 * exactly; files that are not pictures, damaged or too large are refused
 * with a reason, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "cli/cli_int.h"
#include "qr/qr.h"
#include "test.h"

static char S_root[512];

static void S_write(const char *name, const void *data, size_t size, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", S_root, name);
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT_EQ_INT(fwrite(data, 1, size, f), size);
    ASSERT_EQ_INT(fclose(f), 0);
}

#define S_TEXT                                                                                     \
    "qianbao://pay?v=1&k=u&id=u_0123456789abcdefghjkmnpqrs&a=1234&c=CNY&s=AbCdEfGhIjKlMnOpQrStUv"

/* The PNG as qr_render_png makes it (what GET /v1/me/receive-code?format=png answers). */
static void S_png(struct buf *png)
{
    buf_init(png, QR_IMAGE_SIZE_MAX);
    ASSERT_EQ_INT(qr_render_png(S_TEXT, 4, png), QB_OK);
}

TEST(a_png_and_a_jpeg_of_a_code_read_back_exactly)
{
    struct buf png;
    S_png(&png);
    char path[700], text[QR_PAYLOAD_SIZE_MAX * 4];
    S_write("code.png", png.data, png.size, path, sizeof path);
    const char *problem = cli_image_qr_read(path, text, sizeof text);
    ASSERT(problem == NULL);
    ASSERT_EQ_STR(text, S_TEXT);

    /* The same pixels as a JPEG (lossy, quality 85), as a phone would save them. */
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    ASSERT(png_image_begin_read_from_memory(&image, png.data, png.size));
    image.format = PNG_FORMAT_GRAY;
    unsigned char *pixels = malloc((size_t)image.width * image.height);
    ASSERT(pixels != NULL && png_image_finish_read(&image, NULL, pixels, 0, NULL));
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *jpeg = NULL;
    unsigned long jpeg_size = 0;
    jpeg_mem_dest(&c, &jpeg, &jpeg_size);
    c.image_width = image.width;
    c.image_height = image.height;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = pixels + (size_t)c.next_scanline * image.width;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    S_write("code.jpg", jpeg, jpeg_size, path, sizeof path);
    free(jpeg);
    free(pixels);
    memset(text, 0, sizeof text);
    problem = cli_image_qr_read(path, text, sizeof text);
    ASSERT(problem == NULL);
    ASSERT_EQ_STR(text, S_TEXT);
    buf_release(&png);
}

/* PNG's chunk CRC (ISO 3309, as zlib's crc32). */
static uint32_t S_crc32(const unsigned char *data, size_t size)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

TEST(what_is_not_a_readable_picture_is_refused_with_a_reason)
{
    struct buf png;
    S_png(&png);
    char path[700], text[QR_PAYLOAD_SIZE_MAX * 4];
    ASSERT(cli_image_qr_read("/nonexistent/x.png", text, sizeof text) != NULL);
    S_write("empty.png", "", 0, path, sizeof path);
    ASSERT(cli_image_qr_read(path, text, sizeof text) != NULL);
    S_write("text.png", "hello\n", 6, path, sizeof path);
    ASSERT(cli_image_qr_read(path, text, sizeof text) != NULL);
    /* Cut short at every tenth of its length. */
    for (size_t k = 1; k < 10; k++) {
        S_write("cut.png", png.data, png.size * k / 10, path, sizeof path);
        ASSERT(cli_image_qr_read(path, text, sizeof text) != NULL);
    }
    S_write("cut.jpg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11, path, sizeof path);
    ASSERT(cli_image_qr_read(path, text, sizeof text) != NULL);
    /* A PNG header claiming 100000 × 100000 pixels: refused before allocating them. */
    unsigned char huge[64];
    memcpy(huge, png.data, 33);
    huge[16] = 0, huge[17] = 1, huge[18] = 0x86, huge[19] = 0xa0;
    huge[20] = 0, huge[21] = 1, huge[22] = 0x86, huge[23] = 0xa0;
    uint32_t crc = S_crc32(huge + 12, 17); /* "IHDR" and its 13 bytes */
    huge[29] = (unsigned char)(crc >> 24), huge[30] = (unsigned char)(crc >> 16);
    huge[31] = (unsigned char)(crc >> 8), huge[32] = (unsigned char)crc;
    /* An empty IDAT after it, so that the header is read to its end. */
    memcpy(huge + 33, "\0\0\0\0IDAT", 8);
    crc = S_crc32(huge + 37, 4);
    huge[41] = (unsigned char)(crc >> 24), huge[42] = (unsigned char)(crc >> 16);
    huge[43] = (unsigned char)(crc >> 8), huge[44] = (unsigned char)crc;
    S_write("huge.png", huge, 45, path, sizeof path);
    ASSERT_EQ_STR(cli_image_qr_read(path, text, sizeof text),
                  "the picture is larger than 8192 pixels on a side");
    /* A picture without a code. */
    struct buf blank;
    buf_init(&blank, QR_IMAGE_SIZE_MAX);
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = image.height = 64;
    image.format = PNG_FORMAT_GRAY;
    unsigned char white[64 * 64];
    memset(white, 255, sizeof white);
    png_alloc_size_t size = 0;
    ASSERT(png_image_write_to_memory(&image, NULL, &size, 0, white, 0, NULL));
    void *mem = malloc(size);
    ASSERT(png_image_write_to_memory(&image, mem, &size, 0, white, 0, NULL));
    S_write("blank.png", mem, size, path, sizeof path);
    free(mem);
    ASSERT_EQ_STR(cli_image_qr_read(path, text, sizeof text),
                  "no QR code was found in the picture");
    /* The text must fit the caller's buffer. */
    S_write("code.png", png.data, png.size, path, sizeof path);
    ASSERT(cli_image_qr_read(path, text, 16) != NULL);
    buf_release(&blank);
    buf_release(&png);
}

int main(void)
{
    test_tmpdir(S_root, sizeof S_root);
    RUN(a_png_and_a_jpeg_of_a_code_read_back_exactly);
    RUN(what_is_not_a_readable_picture_is_refused_with_a_reason);
    test_rmtree(S_root);
    return test_summary();
}
