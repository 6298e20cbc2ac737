/*
 * operator.h — named operators: a bearer token of their own for each
 * person who runs the admin API.
 *
 * Owns the operators table (migration 25). The admin-token file stays the
 * root credential (principal "admin"), the only one that manages
 * operators; an operator's token opens every other admin route under the
 * principal "admin:<name>", so that the audit trail says who acted and one
 * person can be cut off without rotating everyone's token.
 *
 * A token is 32 random bytes shown once as 64 lower-case hex characters,
 * as a session's is (session.c): only its SHA-256 is stored, so a copy of
 * the database opens nothing. A revoked operator keeps its row, and its
 * name is never given out again, so that "admin:NAME" in an old log line
 * names one person for good.
 *
 * A live operator's token can be replaced (a lost one, or a rotation
 * policy): the old one stops at the commit, as a revoked one does.
 *
 * Writes are ledger commands on the writer thread (identity_operator_cmd);
 * reads take any store (the HTTP threads' read pool).
 */
#ifndef QB_IDENTITY_OPERATOR_H
#define QB_IDENTITY_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/identity.h"

#define IDENTITY_OPERATOR_NAME_SIZE_MAX 33 /* 32 bytes + NUL */

struct identity_operator {
    int64_t seq;
    char name[IDENTITY_OPERATOR_NAME_SIZE_MAX];
    int64_t created_at_ms;
    int64_t token_issued_at_ms; /* when the token in use was given out */
    int64_t revoked_at_ms;      /* 0 while it opens the admin API */
};

/* Whether name is 1 to 32 of [a-z0-9._-], starting with a letter: safe in
 * a log value, a path segment and a principal without quoting. */
bool identity_operator_name_is_valid(const char *name);

/* The live operator whose token this is. QB_OK fills out; QB_E_UNAUTHORIZED
 * for a malformed, unknown or revoked token (one answer for all);
 * QB_E_STORAGE. */
QB_MUST_USE enum qb_error identity_operator_authenticate(struct store *reader, const char *token,
                                                         struct identity_operator *out);

/* Operators, revoked ones too, newest first from below seq `before` (0:
 * from the newest), up to max into out; *count how many. */
QB_MUST_USE enum qb_error identity_operators_list(struct store *reader, int64_t before,
                                                  struct identity_operator *out, size_t max,
                                                  size_t *count);

enum identity_operator_op {
    IDENTITY_OPERATOR_CREATE,
    IDENTITY_OPERATOR_ROTATE,
    IDENTITY_OPERATOR_REVOKE,
};

/* CREATE: a new operator `name` (valid: identity_operator_name_is_valid)
 * and its token, in token only (the caller wipes it once shown); outcome
 * QB_E_CONFLICT when the name was ever used. ROTATE: a new token for a live
 * operator, in token as CREATE's, and the old one opens nothing from the
 * commit on; outcome QB_E_NOT_FOUND for an unknown name, QB_E_CONFLICT for
 * a revoked one (it stays revoked). REVOKE: the operator stops
 * opening the admin API from the commit on; revoking again changes nothing
 * (changed false); outcome QB_E_NOT_FOUND for an unknown name. outcome
 * QB_OK fills operator with the row after. */
struct identity_operator_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    enum identity_operator_op op;
    char name[IDENTITY_OPERATOR_NAME_SIZE_MAX];
    char token[IDENTITY_TOKEN_TEXT_SIZE]; /* CREATE, ROTATE: shown once */
    enum qb_error outcome;
    bool changed;
    struct identity_operator operator;
};
void identity_operator_cmd_init(struct identity_operator_cmd *c, const struct domain_env *env,
                                enum identity_operator_op op);

#endif
