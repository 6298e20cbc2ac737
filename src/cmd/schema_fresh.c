/*
 * schema_fresh.c — writes the fresh database's schema, at build time.
 *
 *   qb_schema_fresh OUT.c
 *
 * Runs every SQLite migration in order on an empty in-memory database,
 * then writes OUT.c: the statements that make the same tables, indexes and
 * rows at once (store_sqlite_fresh_schema, one string each) and the version
 * they stand for (store_sqlite_fresh_version). store_open runs them on an empty file
 * instead of the migrations one by one: the same result, without SQLite
 * re-reading the whole schema after each of the migrations' ALTER TABLEs
 * (a fresh database of 38 migrations: about a fifth of the time, and under
 * valgrind a second less for every test that makes one). The statements are
 * SQLite's own record of the schema (sqlite_schema.sql, in the order of
 * creation), then the rows the migrations inserted, so nothing here
 * restates a table; unit/test_store_sqlite compares the two ways.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/schema.h"

static sqlite3 *S_db;
static FILE *S_out;

static void S_die(const char *what)
{
    fprintf(stderr, "qb_schema_fresh: %s: %s\n", what, S_db ? sqlite3_errmsg(S_db) : "");
    exit(1);
}

static int S_statements;

/* text as one C string literal of the array, split into lines of a few
 * dozen bytes; every byte outside printable ASCII (and \, ", ?) escaped. */
static void S_literal(const char *text)
{
    size_t column = 0;
    S_statements++;
    fputs("    \"", S_out);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"' || *p == '?')
            fprintf(S_out, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f)
            fputc(*p, S_out);
        else
            fprintf(S_out, "\\%03o", *p);
        if (++column >= 72 && p[1] != '\0') {
            fputs("\"\n    \"", S_out);
            column = 0;
        }
    }
    fputs("\",\n", S_out);
}

static sqlite3_stmt *S_prepare(const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(S_db, sql, -1, &st, NULL) != SQLITE_OK)
        S_die(sql);
    return st;
}

/* The rows of table as INSERT statements, their values in SQLite's own
 * literal form (quote()). */
static void S_rows(const char *table)
{
    char *sql = sqlite3_mprintf("SELECT name FROM pragma_table_info(%Q) ORDER BY cid", table);
    sqlite3_stmt *cols = S_prepare(sql);
    sqlite3_free(sql);
    char *select = sqlite3_mprintf("SELECT ");
    int count = 0;
    while (sqlite3_step(cols) == SQLITE_ROW) {
        char *next = sqlite3_mprintf("%s%squote(\"%w\")", select, count++ ? ", " : "",
                                     (const char *)sqlite3_column_text(cols, 0));
        sqlite3_free(select);
        select = next;
    }
    sqlite3_finalize(cols);
    char *query = sqlite3_mprintf("%s FROM \"%w\"", select, table);
    sqlite3_free(select);
    sqlite3_stmt *rows = S_prepare(query);
    sqlite3_free(query);
    while (sqlite3_step(rows) == SQLITE_ROW) {
        char *insert = sqlite3_mprintf("INSERT INTO \"%w\" VALUES (", table);
        for (int i = 0; i < count; i++) {
            char *next = sqlite3_mprintf("%s%s%s", insert, i ? ", " : "",
                                         (const char *)sqlite3_column_text(rows, i));
            sqlite3_free(insert);
            insert = next;
        }
        char *statement = sqlite3_mprintf("%s);", insert);
        sqlite3_free(insert);
        S_literal(statement);
        sqlite3_free(statement);
    }
    sqlite3_finalize(rows);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: qb_schema_fresh OUT.c\n");
        return 2;
    }
    if (sqlite3_open(":memory:", &S_db) != SQLITE_OK)
        S_die("open");
    for (size_t i = 0; i < store_sqlite_migration_count; i++)
        if (sqlite3_exec(S_db, store_sqlite_migrations[i], NULL, NULL, NULL) != SQLITE_OK)
            S_die("migration");
    char temp[4096];
    snprintf(temp, sizeof temp, "%s.tmp", argv[1]);
    S_out = fopen(temp, "w");
    if (S_out == NULL) {
        perror(temp);
        return 1;
    }
    fprintf(S_out,
            "/* Written by qb_schema_fresh (src/cmd/schema_fresh.c) from the migrations"
            " of\n * src/store/schema_sqlite.c at build time: do not edit. */\n"
            "#include <stddef.h>\n\n#include \"store/schema.h\"\n\n"
            "const size_t store_sqlite_fresh_version = %zu;\n\n"
            "const char *const store_sqlite_fresh_schema[] = {\n",
            store_sqlite_migration_count);
    /* Tables, indexes (and anything else with a statement) in the order
     * they were made, so each comes after what it names. SQLite's own
     * objects (sqlite_sequence, automatic indexes) come with their tables. */
    sqlite3_stmt *st = S_prepare("SELECT sql || ';' FROM sqlite_schema"
                                 " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                                 " ORDER BY rowid");
    int objects = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        S_literal((const char *)sqlite3_column_text(st, 0));
        objects++;
    }
    sqlite3_finalize(st);
    st = S_prepare("SELECT name FROM sqlite_schema WHERE type = 'table'"
                   " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid");
    while (sqlite3_step(st) == SQLITE_ROW)
        S_rows((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    fprintf(S_out, "};\n\nconst size_t store_sqlite_fresh_statement_count = %d;\n", S_statements);
    if (objects == 0 || fclose(S_out) != 0 || rename(temp, argv[1]) != 0) {
        fprintf(stderr, "qb_schema_fresh: cannot write %s\n", argv[1]);
        return 1;
    }
    sqlite3_close(S_db);
    return 0;
}
