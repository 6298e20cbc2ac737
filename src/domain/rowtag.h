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
 * and does not act.
 *
 * Rows an earlier version wrote have no tag. The first start with this
 * version tags them as they are (domain_row_tags_open), once: meta
 * "row_tags_written" says it is done, and from then on a row with no tag is
 * damage too. The start logs how many it tagged, so a tagging after the
 * upgrade's start (meta's row removed and tags emptied, to have edited
 * rows tagged) is in the log. `qianbaod --verify` checks every row of every
 * tagged table (domain_row_tags_check).
 */
#ifndef QB_DOMAIN_ROWTAG_H
#define QB_DOMAIN_ROWTAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The tag of the row st stands on, whose tied columns (t->columns) are
 * st's columns first on. chain_key: 32 bytes; NULL stands for 32 zero
 * bytes, as struct ledger_options has it. */
void domain_row_tag(const uint8_t *chain_key, const struct domain_tagged *t, struct store_stmt *st,
                    int first, uint8_t out[CRYPTO_SHA256_SIZE]);
/* Whether the row st stands on is as tagged: its tied columns st's
 * columns first on, its tag the column after them. Logs a row that is not
 * at error ("domain.row_tag_broken"). */
QB_MUST_USE bool domain_row_tag_holds(const uint8_t *chain_key, const struct domain_tagged *t,
                                      struct store_stmt *st, int first);
/* Tags the row of t named key as it now is, inside the writer's
 * transaction: after each write of a tied column. QB_E_NOT_FOUND. */
QB_MUST_USE enum qb_error domain_row_tag_write(struct store *writer, const uint8_t *chain_key,
                                               const struct domain_tagged *t, const char *key);
/* Once per database, at start, before any request: tags the rows of
 * each of tables[0..count) that have none, and notes it is done in meta.
 * *tagged: rows tagged by this call. */
QB_MUST_USE enum qb_error domain_row_tags_open(struct ledger *ledger, const uint8_t *chain_key,
                                               const struct domain_tagged *const *tables,
                                               size_t count, int64_t *tagged);
/* The operator's check: every row of t is as tagged (one with no tag too,
 * once the tags were written). *rows: rows checked. QB_E_INTERNAL with
 * problem naming the first that is not. */
QB_MUST_USE enum qb_error domain_row_tags_check(struct store *reader, const uint8_t *chain_key,
                                                const struct domain_tagged *t, int64_t *rows,
                                                char *problem, size_t problem_size);

#endif
