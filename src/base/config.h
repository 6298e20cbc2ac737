/*
 * config.h — daemon configuration from flags and environment.
 *
 * Owns: struct config and the one place every setting is named, defaulted,
 * parsed and bounded. Precedence: command-line flag, then environment
 * variable (QIANBAO_<NAME>), then default. Every numeric setting has a
 * minimum and a maximum; a value outside them is refused at start, never
 * clamped silently.
 *
 * To add a setting: 1) a field in struct config; 2) one line in the table in
 * config.c (flag, environment name, default, min, max, help); 3) the help
 * text and docs/operations.md follow from the table.
 */
#ifndef QB_BASE_CONFIG_H
#define QB_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/assert.h"
#include "base/error.h"

#define CONFIG_PATH_SIZE_MAX 1024

struct config {
    char data_dir[CONFIG_PATH_SIZE_MAX]; /* --data-dir, QIANBAO_DATA_DIR, "./data" */
    char listen[256];                    /* --listen, QIANBAO_LISTEN, "127.0.0.1:8080" */
    char db_url[CONFIG_PATH_SIZE_MAX];   /* --db, QIANBAO_DB, "" = DATA_DIR/qianbao.db */
    char log_level[16];                  /* --log-level, QIANBAO_LOG_LEVEL, "info" */
    int64_t http_threads;                /* --http-threads, 1..64, default 2 */
    int64_t http_connections_max;        /* --http-connections-max, 16..100000, default 10000 */
    int64_t http_body_size_max;          /* --http-body-size-max, 1024..1048576, default 65536 */
    int64_t executor_queue_max;          /* --executor-queue-max, 16..1048576, default 65536 */
    int64_t executor_batch_max;          /* --executor-batch-max, 1..65536, default 8192 */
    int64_t read_connections;            /* --read-connections, 1..64, default 4 */
    bool verify;                         /* --verify: check the ledger and exit */
    bool help;                           /* --help */
};

/* Fills cfg with defaults, then the environment, then argv. On a bad flag or
 * value writes one line naming it into err (err_size bytes) and returns
 * QB_E_PARAM. */
QB_MUST_USE enum qb_error config_load(struct config *cfg, int argc, char **argv, char *err,
                                      size_t err_size);

/* Writes the usage text, generated from the settings table. */
void config_usage(FILE *out);

#endif
