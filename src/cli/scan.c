/*
 * scan.c — finding a QR code in an image file: `qianbao scan IMAGE`.
 *
 * The file is read whole (at most CLI_IMAGE_FILE_SIZE_MAX bytes), decoded
 * to 8-bit grey by libpng (PNG) or libjpeg (JPEG), chosen by the file's
 * first bytes and never by its name, and handed to libzbar with only QR
 * codes enabled. Pictures larger than CLI_IMAGE_SIDE_MAX on a side are
 * refused before any pixel memory is allocated, so a hostile file cannot
 * make the client allocate more than about 64 MiB.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <zbar.h>

#include "cli/cli_int.h"

#define CLI_IMAGE_FILE_SIZE_MAX (32 * 1024 * 1024)
#define CLI_IMAGE_SIDE_MAX 8192

struct S_grey {
    unsigned char *pixels;
    unsigned width;
    unsigned height;
};

static const char *S_png(const unsigned char *data, size_t size, struct S_grey *out)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size))
        return "not a readable PNG file";
    if (image.width == 0 || image.height == 0 || image.width > CLI_IMAGE_SIDE_MAX ||
        image.height > CLI_IMAGE_SIDE_MAX) {
        png_image_free(&image);
        return "the picture is larger than 8192 pixels on a side";
    }
    image.format = PNG_FORMAT_GRAY;
    out->width = image.width;
    out->height = image.height;
    out->pixels = malloc((size_t)image.width * image.height);
    if (out->pixels == NULL) {
        png_image_free(&image);
        return "out of memory";
    }
    if (!png_image_finish_read(&image, NULL, out->pixels, 0, NULL)) {
        free(out->pixels);
        out->pixels = NULL;
        return "the PNG file is damaged";
    }
    return NULL;
}

struct S_jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
};

static void S_jpeg_fail(j_common_ptr info)
{
    struct S_jpeg_error *e = (struct S_jpeg_error *)info->err;
    longjmp(e->jump, 1);
}

static void S_jpeg_message(j_common_ptr info) { (void)info; }

static const char *S_jpeg(const unsigned char *data, size_t size, struct S_grey *out)
{
    struct jpeg_decompress_struct info;
    struct S_jpeg_error err;
    /* Set before setjmp and only read after: the decoder writes pixels
     * through it, never the pointer itself. */
    struct S_grey *volatile target = out;
    info.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = S_jpeg_fail;
    err.mgr.output_message = S_jpeg_message;
    if (setjmp(err.jump) != 0) {
        jpeg_destroy_decompress(&info);
        free(target->pixels);
        target->pixels = NULL;
        return "the JPEG file is damaged";
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if (info.image_width == 0 || info.image_height == 0 || info.image_width > CLI_IMAGE_SIDE_MAX ||
        info.image_height > CLI_IMAGE_SIDE_MAX) {
        jpeg_destroy_decompress(&info);
        return "the picture is larger than 8192 pixels on a side";
    }
    info.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&info);
    target->width = info.output_width;
    target->height = info.output_height;
    target->pixels = malloc((size_t)info.output_width * info.output_height);
    if (target->pixels == NULL) {
        jpeg_destroy_decompress(&info);
        return "out of memory";
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = target->pixels + (size_t)info.output_scanline * info.output_width;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return NULL;
}

/* The first QR code zbar finds in the picture, into out. */
static const char *S_zbar(const struct S_grey *grey, char *out, size_t out_size)
{
    zbar_image_scanner_t *scanner = zbar_image_scanner_create();
    zbar_image_t *image = zbar_image_create();
    const char *problem = NULL;
    if (scanner == NULL || image == NULL) {
        problem = "out of memory";
        goto out;
    }
    zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(image, grey->width, grey->height);
    zbar_image_set_data(image, grey->pixels, (unsigned long)grey->width * grey->height, NULL);
    if (zbar_scan_image(scanner, image) <= 0) {
        problem = "no QR code was found in the picture";
        goto out;
    }
    const zbar_symbol_t *symbol = zbar_image_first_symbol(image);
    for (; symbol != NULL; symbol = zbar_symbol_next(symbol)) {
        if (zbar_symbol_get_type(symbol) == ZBAR_QRCODE)
            break;
    }
    if (symbol == NULL) {
        problem = "no QR code was found in the picture";
        goto out;
    }
    size_t size = zbar_symbol_get_data_length(symbol);
    const char *data = zbar_symbol_get_data(symbol);
    if (size == 0 || size >= out_size || memchr(data, '\0', size) != NULL) {
        problem = "the QR code holds no Qianbao code (too long, or binary)";
        goto out;
    }
    memcpy(out, data, size);
    out[size] = '\0';
out:
    if (image != NULL)
        zbar_image_destroy(image);
    if (scanner != NULL)
        zbar_image_scanner_destroy(scanner);
    return problem;
}

const char *cli_image_qr_read(const char *path, char *out, size_t out_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? "no such file" : "the file cannot be opened";
    unsigned char *data = malloc(CLI_IMAGE_FILE_SIZE_MAX + 1);
    if (data == NULL) {
        fclose(f);
        return "out of memory";
    }
    size_t size = fread(data, 1, CLI_IMAGE_FILE_SIZE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    const char *problem = NULL;
    struct S_grey grey = {NULL, 0, 0};
    if (failed)
        problem = "the file cannot be read";
    else if (size > CLI_IMAGE_FILE_SIZE_MAX)
        problem = "the file is larger than 32 MiB";
    else if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
        problem = S_png(data, size, &grey);
    else if (size >= 3 && memcmp(data, "\xff\xd8\xff", 3) == 0)
        problem = S_jpeg(data, size, &grey);
    else
        problem = "not a PNG or JPEG file";
    free(data);
    if (problem == NULL)
        problem = S_zbar(&grey, out, out_size);
    free(grey.pixels);
    return problem;
}
