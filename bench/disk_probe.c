/*
 * disk_probe.c — the write-and-sync loop of disk_probe.h.
 *
 * The file is preallocated (posix_fallocate, then synced) so that a sync
 * carries the written data alone, as the daemon's WAL does once its blocks
 * are kept: no block allocation, no file size to journal.
 */
#include "disk_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DISK_PROBE_FILE_SIZE (64 << 20)

static int64_t S_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int S_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t S_at(const int64_t *sorted, size_t count, size_t per_mille)
{
    size_t i = count * per_mille / 1000;
    return sorted[i < count ? i : count - 1];
}

static void S_fail(const char *what, const char *path)
{
    fprintf(stderr, "disk probe: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

void disk_probe_run(const char *dir, const struct disk_probe *probe, struct disk_probe_result *out)
{
    if (probe->write_size == 0 || probe->write_size > DISK_PROBE_FILE_SIZE / 4 ||
        probe->syncs_max == 0) {
        fprintf(stderr, "disk probe: a write of 1 byte to %d MiB, at least one sync\n",
                DISK_PROBE_FILE_SIZE >> 22);
        exit(2);
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/disk-probe", dir) >= (int)sizeof path) {
        fprintf(stderr, "disk probe: directory name too long\n");
        exit(2);
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        S_fail("open", path);
    int rc = posix_fallocate(fd, 0, DISK_PROBE_FILE_SIZE);
    if (rc != 0) {
        errno = rc;
        S_fail("posix_fallocate", path);
    }
    if (fsync(fd) != 0)
        S_fail("fsync", path);

    unsigned char *block = malloc(probe->write_size);
    int64_t *samples = malloc(probe->syncs_max * sizeof *samples);
    if (block == NULL || samples == NULL) {
        fprintf(stderr, "disk probe: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < probe->write_size; i++)
        block[i] = (unsigned char)(i * 131 + 7);

    size_t count = 0;
    off_t offset = 0;
    int64_t end = S_now_ns() + (int64_t)(probe->seconds * 1e9);
    while (count < probe->syncs_max && S_now_ns() < end) {
        if (pwrite(fd, block, probe->write_size, offset) != (ssize_t)probe->write_size)
            S_fail("pwrite", path);
        int64_t t0 = S_now_ns();
        if (fdatasync(fd) != 0)
            S_fail("fdatasync", path);
        samples[count++] = S_now_ns() - t0;
        offset += (off_t)probe->write_size;
        if (offset + (off_t)probe->write_size > DISK_PROBE_FILE_SIZE)
            offset = 0;
        if (probe->pause_us > 0) {
            struct timespec pause = {.tv_sec = probe->pause_us / 1000000,
                                     .tv_nsec = (probe->pause_us % 1000000) * 1000};
            while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
            }
        }
    }
    close(fd);
    unlink(path);

    memset(out, 0, sizeof *out);
    out->syncs = count;
    if (count > 0) {
        qsort(samples, count, sizeof *samples, S_cmp_i64);
        out->p50_us = S_at(samples, count, 500) / 1000;
        out->p90_us = S_at(samples, count, 900) / 1000;
        out->p99_us = S_at(samples, count, 990) / 1000;
        out->p999_us = S_at(samples, count, 999) / 1000;
        out->max_us = samples[count - 1] / 1000;
        for (size_t i = 0; i < count; i++)
            out->over_10ms += samples[i] > 10000000;
    }
    free(samples);
    free(block);
}

void disk_probe_print(const char *label, const struct disk_probe *probe,
                      const struct disk_probe_result *r)
{
    printf("%s: %zu syncs of %zu bytes, p50 %" PRId64 " p90 %" PRId64 " p99 %" PRId64
           " p99.9 %" PRId64 " max %" PRId64 " us, %zu over 10 ms\n",
           label, r->syncs, probe->write_size, r->p50_us, r->p90_us, r->p99_us, r->p999_us,
           r->max_us, r->over_10ms);
}
