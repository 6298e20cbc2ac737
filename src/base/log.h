/*
 * log.h — structured logging that never prints secrets.
 *
 * Owns: the log line format, one event per line:
 *   ts=2026-11-22T02:00:00.123Z level=info req=r_abc event=ledger.batch size=512 commit_us=812
 * Keys are fixed words chosen by the caller; values are printf-formatted and
 * then escaped (quotes, control characters) so that one line is one event.
 *
 * The rule that keeps secrets out: callers pass only values that are safe to
 * print. Card numbers go through log_mask_pan first; passwords, payment
 * passwords, SMS codes, tokens, seeds and keys are never passed at all. The
 * secret scan in the reliability suite checks this after a full test run.
 */
#ifndef QB_BASE_LOG_H
#define QB_BASE_LOG_H

#include <stddef.h>
#include <stdio.h>

/* LOG_AUDIT is above every level an operator can choose as the lowest, so
 * its lines are written whatever --log-level says (level=audit). It is for
 * the audit trail, which must not depend on how verbose the log was set:
 * what an operator changed through the admin API (admin.user_changed, a
 * merchant onboarded or given an app by an operator, a ledger check
 * started) and the daemon's start and stop. Keep it to events of that
 * kind, one per operator action, never one per ordinary request. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_AUDIT };

/* Where lines go (default stderr) and the lowest level written (default
 * LOG_INFO; LOG_DEBUG to LOG_ERROR, never LOG_AUDIT). Call before starting
 * threads. */
void log_init(FILE *out, enum log_level level_min);
/* Parses "debug", "info", "warn" or "error" (not "audit": audit lines are
 * never filtered); -1 when unknown. */
int log_level_parse(const char *text);

/* The request id of the calling thread, printed as req= on every line it
 * logs (NULL clears it). The HTTP layer sets it per request, on its own
 * threads and on an offload thread doing a request's work; the ledger's
 * writer, for each command that names one (ledger_cmd.log_request_id). */
void log_set_request_id(const char *request_id);

/* Logs one event. fmt holds the key=value pairs after the event name:
 *   log_event(LOG_INFO, "daemon.start", "listen=%s pid=%d", addr, pid);
 * Lines longer than 4 KiB are cut and marked truncated=1. Thread-safe; one
 * line is written with one write(2). */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Masks a card number for display and logs: "6222 **** **** 1234" becomes
 * "****1234" — only the last four digits survive. buf_size >= 9. */
void log_mask_pan(const char *pan, char *buf, size_t buf_size);

#endif
