/*
 * bench_disk.c — the disk under a directory: how long a write takes to be
 * made durable (disk_probe.h).
 *
 *   build/release/bench_disk [--dir DIR] [--seconds S] [--size BYTES] [--pause-us N]
 *
 * Defaults: the current directory, 10 s, 64 KiB a write (about what one of
 * the daemon's commits writes at full load), no pause. bench/http/run runs it
 * in its work directory before the load, so that each run's latencies can
 * be read beside the disk's own. Prints one line for people and
 * "bench: disk_NAME=VALUE" lines for scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk_probe.h"

int main(int argc, char **argv)
{
    const char *dir = ".";
    struct disk_probe probe = {
        .write_size = 65536, .pause_us = 0, .seconds = 10, .syncs_max = 10000000};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            probe.seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            probe.write_size = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--pause-us") == 0 && i + 1 < argc)
            probe.pause_us = strtoll(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_disk [--dir DIR] [--seconds S] [--size BYTES] "
                            "[--pause-us N]\n");
            return 2;
        }
    }
    if (!(probe.seconds > 0 && probe.seconds <= 3600) || probe.pause_us < 0) {
        fprintf(stderr, "bench_disk: --seconds in (0, 3600], --pause-us >= 0\n");
        return 2;
    }
    struct disk_probe_result r;
    disk_probe_run(dir, &probe, &r);
    disk_probe_print("disk", &probe, &r);
    printf("bench: disk_syncs=%zu\nbench: disk_p50_us=%lld\nbench: disk_p99_us=%lld\n"
           "bench: disk_p99_9_us=%lld\nbench: disk_max_us=%lld\nbench: disk_over_10ms=%zu\n",
           r.syncs, (long long)r.p50_us, (long long)r.p99_us, (long long)r.p999_us,
           (long long)r.max_us, r.over_10ms);
    return 0;
}
