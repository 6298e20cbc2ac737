/*
 * render.c — a text as a QR symbol: SVG, PNG and terminal blocks (qr.h).
 *
 * libqrencode makes the matrix (byte mode, level M: a phone camera reads a
 * receive code printed small or shown on a cracked screen); this file only
 * draws it. Every output goes into a capped struct buf, so an image can
 * never grow past QR_IMAGE_SIZE_MAX whatever the text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "qr/qr.h"

#define S_QUIET 4          /* modules of white border, as ISO/IEC 18004 asks */
#define S_MODULE_PX_MAX 32 /* pixels per module at most */
#define S_TEXT_SIZE_MAX (QR_PAYLOAD_SIZE_MAX * 4)

/* The matrix for text, or NULL with *err set. */
static QRcode *S_encode(const char *text, enum qb_error *err)
{
    size_t size = text != NULL ? strnlen(text, S_TEXT_SIZE_MAX + 1) : 0;
    if (size == 0 || size > S_TEXT_SIZE_MAX) {
        *err = QB_E_PARAM;
        return NULL;
    }
    errno = 0;
    QRcode *code = QRcode_encodeData((int)size, (const unsigned char *)text, 0, QR_ECLEVEL_M);
    if (code == NULL)
        *err = errno == ERANGE || errno == EINVAL ? QB_E_PARAM : QB_E_INTERNAL;
    return code;
}

/* Whether the module at (x, y) of the symbol with its quiet zone is dark. */
static bool S_dark(const QRcode *code, int x, int y)
{
    x -= S_QUIET;
    y -= S_QUIET;
    if (x < 0 || y < 0 || x >= code->width || y >= code->width)
        return false;
    return (code->data[y * code->width + x] & 1) != 0;
}

enum qb_error qr_render_svg(const char *text, int module_px, struct buf *out)
{
    QB_ASSERT(out != NULL);
    if (module_px < 1 || module_px > S_MODULE_PX_MAX)
        return QB_E_PARAM;
    enum qb_error err = QB_OK;
    QRcode *code = S_encode(text, &err);
    if (code == NULL)
        return err;
    int side = code->width + 2 * S_QUIET;
    err = buf_printf(out,
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                     " viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
                     "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                     side * module_px, side * module_px, side, side, side, side);
    for (int y = 0; err == QB_OK && y < side; y++) {
        for (int x = 0; err == QB_OK && x < side; x++) {
            if (!S_dark(code, x, y))
                continue;
            /* A run of dark modules is one rectangle. */
            int run = 1;
            while (x + run < side && S_dark(code, x + run, y))
                run++;
            err = buf_printf(out, "M%d %dh%dv1h-%dz", x, y, run, run);
            x += run - 1;
        }
    }
    if (err == QB_OK)
        err = buf_append_str(out, "\"/></svg>\n");
    QRcode_free(code);
    return err;
}

struct S_png_sink {
    struct buf *out;
    volatile bool too_large; /* set in a callback, read after png_error's longjmp */
};

static void S_png_write(png_structp png, png_bytep data, size_t size)
{
    struct S_png_sink *sink = png_get_io_ptr(png);
    if (buf_append(sink->out, data, size) != QB_OK) {
        sink->too_large = true;
        png_error(png, "image too large");
    }
}

/* libpng's failures are answered as errors; nothing is printed. */
static void S_png_error(png_structp png, png_const_charp message)
{
    (void)message;
    png_longjmp(png, 1);
}

static void S_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

static void S_png_flush(png_structp png) { (void)png; }

enum qb_error qr_render_png(const char *text, int module_px, struct buf *out)
{
    QB_ASSERT(out != NULL);
    if (module_px < 1 || module_px > S_MODULE_PX_MAX)
        return QB_E_PARAM;
    enum qb_error err = QB_OK;
    QRcode *code = S_encode(text, &err);
    if (code == NULL)
        return err;
    int side = code->width + 2 * S_QUIET;
    size_t px = (size_t)side * (size_t)module_px;
    png_bytep row = malloc(px);
    struct S_png_sink sink = {out, false};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, S_png_error, S_png_warning);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    size_t size_before = out->size;
    volatile enum qb_error result = QB_E_INTERNAL;
    if (row == NULL || png == NULL || info == NULL)
        goto out;
    if (setjmp(png_jmpbuf(png)) != 0) {
        /* A write past the cap or a libpng failure: drop what was written. */
        result = sink.too_large ? QB_E_TOO_LARGE : QB_E_INTERNAL;
        out->size = size_before;
        if (out->data != NULL)
            out->data[size_before] = '\0';
        goto out;
    }
    png_set_write_fn(png, &sink, S_png_write, S_png_flush);
    png_set_IHDR(png, info, (png_uint_32)px, (png_uint_32)px, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++)
            memset(row + (size_t)x * (size_t)module_px, S_dark(code, x, y) ? 0 : 255,
                   (size_t)module_px);
        for (int k = 0; k < module_px; k++)
            png_write_row(png, row);
    }
    png_write_end(png, NULL);
    result = QB_OK;
out:
    if (png != NULL)
        png_destroy_write_struct(&png, info != NULL ? &info : NULL);
    free(row);
    QRcode_free(code);
    return result;
}

enum qb_error qr_render_term(const char *text, struct buf *out)
{
    QB_ASSERT(out != NULL);
    enum qb_error err = QB_OK;
    QRcode *code = S_encode(text, &err);
    if (code == NULL)
        return err;
    int side = code->width + 2 * S_QUIET;
    /* Light is drawn, dark is blank: upper half (▀), lower half (▄), both
     * (█) or neither (space), two module rows per line. */
    for (int y = 0; err == QB_OK && y < side; y += 2) {
        for (int x = 0; err == QB_OK && x < side; x++) {
            bool top = !S_dark(code, x, y);
            bool bottom = y + 1 < side ? !S_dark(code, x, y + 1) : false;
            const char *cell = top && bottom ? "\xe2\x96\x88"
                               : top         ? "\xe2\x96\x80"
                               : bottom      ? "\xe2\x96\x84"
                                             : " ";
            err = buf_append_str(out, cell);
        }
        if (err == QB_OK)
            err = buf_append_str(out, "\n");
    }
    QRcode_free(code);
    return err;
}
