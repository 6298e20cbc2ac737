/*
 * rowtag.h — rows tied to the chain key: the fields of a row that say where
 * money goes or who may act (a card's sealed number and holder, a
 * merchant's owner and signing keys), tagged so that whoever can write the
 * database but does not hold the key cannot redirect money by editing them.
 *
 * A row's tag is HMAC-SHA-256, under the chain key (DATA_DIR/chain-key),
 * of "QBT1", the table's label, and each tied column in order, each
 * length-prefixed, so no two rows' fields give one text. The tag is kept
 * in the row's own `tag` column. A secretbox keeps a card number secret
 * but does not say which card it belongs to: a sealed number copied from
 * another row opens as well as the row's own; a tag over the row's id and
 * its sealed number does not hold for the copy.
 *
 * One mechanism for each such table: the owning module describes it
 * (struct domain_tagged: its table, the column naming a row, the columns
 * tied), writes the tag in the transaction that writes the row
 * (domain_row_tag_write, after the insert or update), and checks it where
 * the row is read to act on (domain_row_tag_holds, over the columns its
 * read selects). A row that fails is damage: the reader logs it at error
 * and does not act. The tag is made from the values the command meant to
 * write, never read back: a trigger someone put in the database, which
 * runs inside the command's own write, would have its change tagged.
 *
 * Rows an earlier version wrote have no tag. The start that migrates the
 * database to the schema that gave the tables their tag column tags them
 * as they are (domain_row_tags_open), logs how many, and records it on
 * the operators' audit trail (sealed under the chain key, its newest row
 * kept in DATA_DIR/chain-head); no other start does, so from then on a row
 * with no tag is damage too, to the readers and to `qianbaod --verify`,
 * which checks every row of every tagged table (domain_row_tags_check). A
 * database whose tag columns were taken off and its schema version put
 * back, to have edited rows tagged as found, is refused that by the
 * trail's row, and so is one whose trail's seals do not hold; one whose
 * trail was cut at its end and chain-head removed is not.
 *
 * What a tag does not tell: a whole row put back as it was before a later
 * write of it (an old signing key with its old tag). A row written once
 * (a card, a merchant's owner) has no earlier state.
 */
#ifndef QB_DOMAIN_ROWTAG_H
#define QB_DOMAIN_ROWTAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/crypto.h"
#include "base/error.h"
#include "ledger/ledger.h"
#include "store/store.h"

/* A tagged table. columns is an SQL list of the tied columns, the first
 * the unique text column that names a row (key); kinds one letter for
 * each: 't' text, 'b' blob, 'i' integer. */
struct domain_tagged {
    const char *label;   /* in the tag and in messages: "card" */
    const char *table;   /* "cards" */
    const char *columns; /* "id, user_id, number_sealed, holder_name_sealed" */
    const char *kinds;   /* "ttbb" */
};

/* A tied column's value as a command writes it: data and size for 't' and
 * 'b', integer for 'i'. */
struct domain_tag_field {
    const void *data;
    size_t size;
    int64_t integer;
};
#define DOMAIN_TAG_FIELDS_MAX 16
#define DOMAIN_TAG_TEXT(text) ((struct domain_tag_field){(text), strlen(text), 0})
#define DOMAIN_TAG_BLOB(bytes, n) ((struct domain_tag_field){(bytes), (n), 0})
#define DOMAIN_TAG_INT(value) ((struct domain_tag_field){NULL, 0, (value)})

/* The tag of a row whose tied columns hold fields (one per letter of
 * t->kinds, in order). chain_key: 32 bytes; NULL stands for 32 zero bytes,
 * as struct ledger_options has it. */
void domain_row_tag_fields(const uint8_t *chain_key, const struct domain_tagged *t,
                           const struct domain_tag_field *fields, uint8_t out[CRYPTO_SHA256_SIZE]);
/* The tag of the row st stands on, whose tied columns (t->columns) are
 * st's columns first on. */
void domain_row_tag(const uint8_t *chain_key, const struct domain_tagged *t, struct store_stmt *st,
                    int first, uint8_t out[CRYPTO_SHA256_SIZE]);
/* Whether the row st stands on is as tagged: its tied columns st's
 * columns first on, its tag the column after them. Logs a row that is not
 * at error ("domain.row_tag_broken"). */
QB_MUST_USE bool domain_row_tag_holds(const uint8_t *chain_key, const struct domain_tagged *t,
                                      struct store_stmt *st, int first);
/* Tags the row of t that fields name (fields[0], its key) with the tag of
 * fields, inside the writer's transaction, after each write of a tied
 * column: fields are what the command wrote, every tied column's value. */
QB_MUST_USE enum qb_error domain_row_tag_write(struct store *writer, const uint8_t *chain_key,
                                               const struct domain_tagged *t,
                                               const struct domain_tag_field *fields);
/* At start, before any request: when version_found (the schema version
 * the database had before this start migrated it; 0 for a new one, -1
 * when not known) is older than the tag columns, tags the rows of each of
 * tables[0..count) that have none, as they stand, and records it on the
 * trail. QB_E_CONFLICT, tagging nothing (the refusal on the trail too),
 * when the trail says the rows were tagged before. *tagged: rows tagged. */
QB_MUST_USE enum qb_error domain_row_tags_open(struct ledger *ledger, const uint8_t *chain_key,
                                               int64_t version_found,
                                               const struct domain_tagged *const *tables,
                                               size_t count, int64_t *tagged);
/* The operator's check: every row of t is as tagged, one with no tag
 * too (but in a database an earlier version left, before its first start
 * with this one). *rows: rows checked. QB_E_INTERNAL with problem naming
 * the first that is not. */
QB_MUST_USE enum qb_error domain_row_tags_check(struct store *reader, const uint8_t *chain_key,
                                                const struct domain_tagged *t, int64_t *rows,
                                                char *problem, size_t problem_size);

#endif
