/*
 * disk_probe.h — how long the disk under a directory takes to make a write
 * durable: a write, then fdatasync, over and over, each timed.
 *
 * Every acknowledged commit waits for one such sync, so this is the floor
 * under any durable latency the benchmarks report, and its stalls (a sync
 * that takes tens of milliseconds) reach their tails whatever the daemon
 * does. The benchmarks print it beside their own figures.
 */
#ifndef QB_BENCH_DISK_PROBE_H
#define QB_BENCH_DISK_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct disk_probe {
    size_t write_size; /* bytes a write, each at the next offset of a preallocated file */
    int64_t pause_us;  /* between a sync's end and the next write */
    double seconds;    /* as long as this, */
    size_t syncs_max;  /* or this many syncs, whichever comes first */
};

struct disk_probe_result {
    size_t syncs;
    int64_t p50_us, p90_us, p99_us, p999_us, max_us;
    size_t over_10ms; /* syncs that took more than 10 ms */
};

/* Probes in a file of its own in dir, removed after. Exits the process
 * with a message on an I/O error (a benchmark has nothing to go on). */
void disk_probe_run(const char *dir, const struct disk_probe *probe, struct disk_probe_result *out);

/* One line: "LABEL: N syncs of B bytes, p50 .. p99 .. p99.9 .. max .. us, K over 10 ms". */
void disk_probe_print(const char *label, const struct disk_probe *probe,
                      const struct disk_probe_result *r);

#endif
