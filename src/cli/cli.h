/*
 * cli.h — the qianbao command-line client.
 *
 * Owns: everything `qianbao` does: its command table (from which --help,
 * the man page and bash completion are generated), profiles of stored
 * credentials, HTTP calls to a daemon, and the human and --json outputs.
 *
 * Must never: link or include the daemon's layers (store, ledger, domain,
 * http): the CLI is a client of the public API like any other, and speaks to
 * qianbaod only over HTTP. It uses base for money, buffers and errors.
 * Must never print a secret (session token, admin token, password, payment
 * password) to stdout, stderr or a log.
 *
 * Called by: src/cmd/qianbao.c, whose main is cli_main.
 */
#ifndef QB_CLI_CLI_H
#define QB_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/money.h"

#define CLI_VERSION "0.1.0"

/* The exit status of every command; documented in `qianbao --help`,
 * the man page and docs/cli.md. Scripts branch on these. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,       /* the server refused the request (a 4xx) */
    CLI_EXIT_USAGE = 2,         /* bad command line: unknown command, option, value */
    CLI_EXIT_UNAVAILABLE = 3,   /* the server cannot be reached, or failed (5xx) */
    CLI_EXIT_NOT_LOGGED_IN = 4, /* no stored credential, or the server ended it */
    CLI_EXIT_CHECK_FAILED =
        5, /* a check ran and found a problem (admin verify, admin reconcile, redpacket verify) */
};

/* Runs `qianbao argv[1..]`; answers the exit status. Writes to stdout and
 * stderr, reads stdin only for --password-stdin, a terminal prompt, or a
 * secret option left out on purpose (an SMS code, an id or card number). */
int cli_main(int argc, char **argv);

/* Parses an amount typed by a user ("12.50", "3", "0.05") into minor units
 * of cur, exactly: money_parse, plus the rule that an amount to move is
 * positive. QB_E_BAD_AMOUNT for malformed, too precise, zero or negative
 * text; QB_E_OVERFLOW past int64_t. */
QB_MUST_USE enum qb_error cli_amount_parse(const char *text, const struct currency *cur,
                                           int64_t *amount_minor);

/* Writes amount_minor of the currency with ISO code currency_code as a
 * decimal ("12.50"); an unknown currency is shown in minor units with its
 * code so nothing is ever mis-scaled. buf_size >= MONEY_TEXT_SIZE_MAX + 8. */
void cli_amount_format(int64_t amount_minor, const char *currency_code, char *buf,
                       size_t buf_size);

/* An amount that may also be "none" (limits set --daily none): QB_OK with
 * *none set and *amount_minor 0 for "none", else as cli_amount_parse. */
QB_MUST_USE enum qb_error cli_amount_or_none_parse(const char *text, const struct currency *cur,
                                                   int64_t *amount_minor, bool *none);

/* Writes a bill's amount with its direction's sign ("+12.50", "-0.10"):
 * out is money leaving the wallet. buf_size >= MONEY_TEXT_SIZE_MAX + 8. */
void cli_amount_signed_format(int64_t amount_minor, bool out, const char *currency_code,
                              char *buf, size_t buf_size);

/* The target of a bind_card SMS code: the card number's first six and last
 * four digits with one '*' for each digit between ("999900******0012").
 * False when number is not 16 to 19 digits. out_size >= 20. */
bool cli_card_mask(const char *number, char *out, size_t out_size);

/* True when text is a month "YYYY-MM" (a year from 1970, a month 01..12). */
bool cli_month_valid(const char *text);

/* True when key is a valid Idempotency-Key: 1 to 255 printable ASCII
 * characters without spaces. */
bool cli_idempotency_key_valid(const char *key);
/* A fresh random key (a UUID version 4, 36 characters) into out
 * (out_size >= 37). */
void cli_idempotency_key_new(char *out, size_t out_size);

/* Columns a UTF-8 string takes on a terminal: East Asian wide characters
 * (Chinese names) count two, everything else one. Invalid bytes count one. */
size_t cli_text_width(const char *text);

#endif
