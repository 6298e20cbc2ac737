/*
 * audit.h — the operators' audit trail: one row in operator_actions for
 * each operator's command the ledger ran, written in the command's own
 * transaction.
 *
 * Owns the operator_actions table (migration 46). The log's audit lines
 * (by=, changed=) go with log rotation; this record stays, and since it is
 * written inside the command's savepoint there is never an action without
 * its row, nor a row of an action that rolled back.
 *
 * One mechanism for every operator's command: the submitter fills a
 * struct domain_audit (who, what, on which target, why, the request) and
 * attaches it to the command (domain_audit_attach), pointing at the
 * command's own outcome and changed fields; after the command's run kept
 * its work, the ledger calls the record function (ledger_cmd.record),
 * which reads them and writes the row. A refusal the command answered
 * itself (outcome not QB_OK: no such user, already frozen) is recorded
 * too, changed as the command says (false but for a refusal of part of
 * what was asked after another part was done): it costs one insert in a
 * transaction already open,
 * and an auditor asks who tried what as well as who did it. A command
 * whose run failed (its writes rolled back) leaves none; nor does a
 * request refused before it reached the ledger (malformed, not allowed):
 * the access log has those.
 *
 * An operator's read of a customer's data (a user, their payments, the SMS
 * outbox, a look-up by phone) is recorded the same way: the HTTP layer
 * submits a command that does nothing but carry the record (action
 * "read_…", changed false), and answers the read only once that row is
 * durable; a read whose row fails is not answered (STORAGE_UNAVAILABLE).
 * The row says who asked to look, not what the answer held: a read of an
 * unknown id is a row too.
 *
 * The trail is sealed (ledger_txn_seal): each row carries the seal of its
 * encoding (domain_audit_encode) chained to the row before, under the chain
 * key, so that whoever can write the database but does not hold the key
 * cannot change a row, remove one or put one in between without breaking
 * the chain (domain_audit_check, run by the operator's check), and the
 * daemon keeps the newest seal in DATA_DIR/chain-head, beside the
 * journal's head, so that rows cut off the end are found at the next start
 * (domain_audit_head_check). A trail an earlier version kept is sealed
 * whole at the first start with this one (domain_audit_open).
 *
 * Commands of users, merchants and workers carry no audit and pay nothing.
 * Writes run on the ledger's writer thread; reads take any store.
 */
#ifndef QB_DOMAIN_AUDIT_H
#define QB_DOMAIN_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "ledger/ledger.h"
#include "store/store.h"

#define DOMAIN_AUDIT_BY_SIZE_MAX 40         /* "admin:" and a 32-byte name, NUL */
#define DOMAIN_AUDIT_ACTION_SIZE_MAX 32     /* "user_freeze", "read_user_security_events" */
#define DOMAIN_AUDIT_TARGET_SIZE_MAX 48     /* a user or payment id, an mchid, a name, a phone */
#define DOMAIN_AUDIT_DETAIL_SIZE_MAX 32     /* what the action set: a KYC level */
#define DOMAIN_AUDIT_REASON_SIZE_MAX 201    /* 200 bytes of text, as the routes take */
#define DOMAIN_AUDIT_RESULT_SIZE_MAX 40     /* "ok" or an API error code */
#define DOMAIN_AUDIT_REQUEST_ID_SIZE_MAX 48 /* "req_" and the id */
/* Who the daemon's own repair of the trail is (domain_audit_reseal). */
#define DOMAIN_AUDIT_BY_DAEMON "qianbaod"

/* What an operator's command records. The submitter fills the texts (""
 * for none) and points outcome (and changed, when the command has one) at
 * the command's own fields; the struct must live as long as the command. */
struct domain_audit {
    char by[DOMAIN_AUDIT_BY_SIZE_MAX];
    char action[DOMAIN_AUDIT_ACTION_SIZE_MAX];
    char target[DOMAIN_AUDIT_TARGET_SIZE_MAX];
    char detail[DOMAIN_AUDIT_DETAIL_SIZE_MAX];
    char reason[DOMAIN_AUDIT_REASON_SIZE_MAX];
    char request_id[DOMAIN_AUDIT_REQUEST_ID_SIZE_MAX];
    const enum qb_error *outcome; /* read once run kept its work */
    const bool *changed;          /* read with outcome, whatever it is; NULL: it changed
                                   * something exactly when outcome is QB_OK */
    /* Whether target, or detail, names what the command was to make (a new
     * merchant's mchid, a new app's appid): a refusal made nothing, and its
     * row keeps neither, as nothing of that name exists. */
    bool target_made;
    bool detail_made;
};

/* Whether text is a target the trail takes: 1 to 47 of a-z A-Z 0-9 . _ -
 * (a user or payment id, an mchid, an operator's name, a phone number):
 * what the routes record, and what GET /admin/audit?target= filters by. */
bool domain_audit_target_is_valid(const char *text);

/* Has cmd (not yet submitted) write audit's row when its run keeps its
 * work: the row's failure rolls the command back (QB_E_STORAGE). */
void domain_audit_attach(struct domain_audit *audit, struct ledger_cmd *cmd);

/* One row as read back. */
struct domain_audit_row {
    int64_t seq; /* increasing: the list's key */
    int64_t at_ms;
    char by[DOMAIN_AUDIT_BY_SIZE_MAX];
    char action[DOMAIN_AUDIT_ACTION_SIZE_MAX];
    char target[DOMAIN_AUDIT_TARGET_SIZE_MAX];
    char detail[DOMAIN_AUDIT_DETAIL_SIZE_MAX];
    char reason[DOMAIN_AUDIT_REASON_SIZE_MAX];
    char result[DOMAIN_AUDIT_RESULT_SIZE_MAX];
    bool changed;
    char request_id[DOMAIN_AUDIT_REQUEST_ID_SIZE_MAX];
};

/* The bytes a row's seal covers (besides its seq and the seal before it):
 * at_ms (int64 LE), then actor, action, target, detail, reason, result and
 * request_id each as its length (u16 LE) and bytes, then changed (u8);
 * docs/operations.md spells it out for an auditor. Returns the size
 * written into out (DOMAIN_AUDIT_ENCODED_SIZE_MAX bytes). */
#define DOMAIN_AUDIT_ENCODED_SIZE_MAX 512
size_t domain_audit_encode(const struct domain_audit_row *row, unsigned char *out);

/* At start, before any operator's command: a trail an earlier version kept
 * (no row sealed) is sealed from its first row, in one ledger command;
 * then *seq and mac are the newest row's (0 and zeros: the trail is empty),
 * the seal the daemon keeps outside the database. QB_E_INTERNAL when the
 * newest row is not sealed though earlier ones are (the trail was
 * altered: the start must stop), QB_E_STORAGE, or the submit's error. */
QB_MUST_USE enum qb_error domain_audit_open(struct ledger *ledger, int64_t *seq,
                                            uint8_t mac[CRYPTO_SHA256_SIZE]);

/* The operator's check of the whole trail with a read connection: every
 * row sealed, each seal the one of its row after the row before, under
 * chain_key (NULL: 32 zero bytes, as struct ledger_options has it). A trail
 * of which no row is sealed passes (an earlier version's, before its first
 * start with this one: *rows 0); DATA_DIR/chain-head names its newest seal
 * once it is sealed (domain_audit_head_check). QB_OK with *rows the rows
 * checked; QB_E_INTERNAL with problem naming the first row that fails;
 * QB_E_STORAGE. */
QB_MUST_USE enum qb_error domain_audit_check(struct store *reader, const uint8_t *chain_key,
                                             int64_t *rows, char *problem, size_t problem_size);

/* The repair of a trail a start or the check refuses (a row changed,
 * removed or stripped of its seal, rows cut off its end), offline, with the
 * write connection of a database no ledger has open: every row is sealed
 * as it stands, from the first, under chain_key, and a row recording the
 * repair is written after them (actor "qianbaod", action
 * "audit_resealed", detail "from_row=N": the first row whose seal changed,
 * 0 for none; reason: why, cut to 200 bytes), sealed too. One
 * transaction. What the rows said before they were altered is not brought
 * back: the backup's trail has it. out: the rows sealed, the first whose
 * seal changed, and the repair row's seq and seal (the chain-head's new
 * audit part). QB_E_STORAGE. */
struct domain_audit_reseal_report {
    int64_t rows;
    int64_t first_changed;
    int64_t seq;
    uint8_t mac[CRYPTO_SHA256_SIZE];
};
QB_MUST_USE enum qb_error domain_audit_reseal(struct store *writer, const uint8_t *chain_key,
                                              int64_t now_ms, const char *why,
                                              struct domain_audit_reseal_report *out);

/* Whether the trail read through s holds row seq with this seal: QB_OK;
 * QB_E_NOT_FOUND when it ends before (*last_seq: its newest row, 0 for
 * none): rows cut off, or an older copy of the database; QB_E_CONFLICT when
 * row seq has another seal (or none); QB_E_STORAGE. As ledger_head_check
 * for the journal. */
QB_MUST_USE enum qb_error domain_audit_head_check(struct store *s, int64_t seq,
                                                  const uint8_t mac[CRYPTO_SHA256_SIZE],
                                                  int64_t *last_seq);

/* Which rows a list shows: by, action and target match exactly (NULL or
 * "": any); at_ms in [from_ms, to_ms) (to_ms 0: no end). */
struct domain_audit_filter {
    const char *by;
    const char *action;
    const char *target;
    int64_t from_ms;
    int64_t to_ms;
};

/* Rows matching filter, newest first from below seq `before` (0: from the
 * newest), up to max into out; *count how many. QB_E_STORAGE. */
QB_MUST_USE enum qb_error domain_audit_list(struct store *reader,
                                            const struct domain_audit_filter *filter,
                                            int64_t before, struct domain_audit_row *out,
                                            size_t max, size_t *count);

#endif
