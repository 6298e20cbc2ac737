/*
 * reconcile.c — `qianbao admin reconcile STATEMENT`: a day's top-ups and
 * withdrawals as Qianbao made them (GET /admin/payments?date=, every page)
 * matched with the bank's statement of the same day, line by line, by the
 * reference the bank knows each payment by (对账).
 *
 * The statement (a file, or "-" for standard input) is CSV with a header
 * row naming at least the columns
 * bank_ref, type and amount, in any order (other columns are ignored):
 * type is debit (the bank debited the card: a top-up), credit (it
 * credited the card: a withdrawal) or return (a credit the bank took back,
 * 退票: the reference of the withdrawal it paid), amount is in yuan
 * ("12.50"). A field
 * may be quoted, with "" for a quote inside; a blank line is skipped.
 *
 * A line matches a payment of the day with its reference, of its type and
 * amount, that Qianbao has as SUCCESS; one Qianbao still has PROCESSING is
 * waiting on the bank's answer (the worker settles it), not a difference.
 * Everything else is: a line of no payment of the day, a payment the bank
 * booked that Qianbao has as FAILED, another type or amount, a reference
 * booked twice, and a SUCCESS payment the statement does not have (often a
 * withdrawal the bank booked after midnight: it matches the next day).
 *
 * A bank books a withdrawal on the day it credits the card, often a day or
 * more after Qianbao made it (到账 the next day, a weekend's the Monday): a
 * line of no payment of the day is looked for among the payments of the
 * days before (--days-back, 3 by default; a day's payments are read only
 * while lines are left unmatched), and one that matches is listed apart,
 * booked for an earlier day: the timing difference that day's own
 * reconciliation showed as not_at_bank, settled, not a difference here.
 * One still left is looked up by its reference alone (GET
 * /admin/payments?bank_ref=), whatever day its payment was made: a
 * withdrawal the bank took back weeks later; a line of no payment at all
 * is not_at_qianbao.
 * A return matches a withdrawal of its amount that Qianbao has as RETURNED
 * (listed apart, returned); one Qianbao still has as SUCCESS is a
 * difference, return_not_at_qianbao, that an operator's query of the bank
 * (qianbao admin payment-query) settles. A withdrawal's credit line
 * matches it RETURNED as SUCCESS: the bank did pay it.
 * Exit status 0 when nothing differs, 5 (a check that found a problem)
 * otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_int.h"

#define S_PAGES_MAX 10000    /* a million payments in a day */
#define S_LINE_SIZE_MAX 4096 /* one line of the statement */
#define S_FIELDS_MAX 64
#define S_REF_SIZE_MAX 64
#define S_DAYS_BACK_DEFAULT 3
#define S_DAYS_BACK_MAX 31

/* One of a day's payments, found by its bank reference. */
struct S_payment {
    const char *bank_ref;
    const json_t *item;
    bool booked;          /* a debit or credit line of the statement names it */
    bool booked_returned; /* a return line names it */
    bool waiting;         /* listed as waiting on the bank */
};

/* What a line of the statement says the bank did. */
enum S_type {
    S_DEBIT,  /* debited the card: a top-up */
    S_CREDIT, /* credited the card: a withdrawal */
    S_RETURN, /* took a credit back: a withdrawal returned (退票) */
};

/* A day's top-ups and withdrawals, those with a bank reference sorted by it. */
struct S_day {
    char date[16];
    json_t *items;
    struct S_payment *payments;
    size_t payment_count;
};

/* A line of the statement that names no payment of the day, until the
 * days before are read. */
struct S_line {
    char bank_ref[S_REF_SIZE_MAX];
    enum S_type type;
    int64_t amount_minor;
    size_t at;     /* its place among the lines kept */
    size_t lookup; /* the look-up of its reference (S_earlier) */
};

struct S_run {
    struct S_day day;    /* the day of the statement */
    json_t *differences; /* [{kind, bank_ref, payment_id, detail}] */
    json_t *pending;     /* the ids of those waiting on the bank */
    json_t *earlier;     /* [{bank_ref, payment_id, date, type, amount}] */
    json_t *returned;    /* [{bank_ref, payment_id, date, amount}] */
    struct S_line *unmatched;
    size_t unmatched_count, unmatched_capacity;
    int64_t matched, debits_minor, credits_minor;
    int64_t earlier_debits_minor, earlier_credits_minor, returned_minor;
};

static int S_by_ref(const void *a, const void *b)
{
    return strcmp(((const struct S_payment *)a)->bank_ref, ((const struct S_payment *)b)->bank_ref);
}

static struct S_payment *S_find(struct S_day *day, const char *bank_ref)
{
    struct S_payment key = {.bank_ref = bank_ref};
    return bsearch(&key, day->payments, day->payment_count, sizeof key, S_by_ref);
}

/* Lists p as waiting on the bank, once however many lines name it. */
static void S_waiting(struct S_run *run, struct S_payment *p)
{
    if (p->waiting)
        return;
    p->waiting = true;
    QB_ASSERT(json_array_append_new(run->pending, json_string(cli_json_str(p->item, "id"))) == 0);
}

static void S_differ(struct S_run *run, const char *kind, const char *bank_ref,
                     const char *payment_id, const char *detail)
{
    json_t *d = json_pack("{s:s, s:s, s:s?, s:s}", "kind", kind, "bank_ref", bank_ref, "payment_id",
                          payment_id, "detail", detail);
    QB_ASSERT(d != NULL && json_array_append_new(run->differences, d) == 0);
}

/* Every page of GET path into items; answers an exit code. */
static int S_fetch(struct cli *cli, const char *path, json_t *items)
{
    char cursor[128] = "";
    for (int page = 0; page < S_PAGES_MAX; page++) {
        char page_path[640];
        snprintf(page_path, sizeof page_path, "%s", path);
        if (cursor[0] != '\0' && !cli_query_add(page_path, sizeof page_path, "cursor", cursor))
            return cli_usage_error(cli, "the options are too long");
        struct cli_response res;
        int rc = cli_call(cli, "GET", page_path, CLI_AUTH_ADMIN, NULL, &res);
        json_t *listed = json_object_get(res.json, "items");
        if (rc == CLI_EXIT_OK && !json_is_array(listed))
            rc = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "BAD_ANSWER",
                          "admin reconcile: a page of the day's payments from %s has no items",
                          cli->server);
        if (rc == CLI_EXIT_OK) {
            QB_ASSERT(json_array_extend(items, listed) == 0);
            snprintf(cursor, sizeof cursor, "%s", cli_json_str(res.json, "next_cursor"));
        }
        cli_response_release(&res);
        if (rc != CLI_EXIT_OK || cursor[0] == '\0')
            return rc;
    }
    fprintf(stderr, "qianbao: admin reconcile: more than %d pages of payments\n", S_PAGES_MAX);
    return CLI_EXIT_UNAVAILABLE;
}

static int S_payments_load(struct cli *cli, const char *path, struct S_day *day);

/* Reads every top-up and withdrawal made on day->date into day; answers an
 * exit code. */
static int S_day_load(struct cli *cli, struct S_day *day)
{
    char path[128];
    snprintf(path, sizeof path, "/admin/payments?date=%s&limit=100", day->date);
    return S_payments_load(cli, path, day);
}

/* Every page of GET path (a list of payments) into day, indexed by the
 * bank's references; answers an exit code. */
static int S_payments_load(struct cli *cli, const char *path, struct S_day *day)
{
    day->items = json_array();
    QB_ASSERT(day->items != NULL);
    int rc = S_fetch(cli, path, day->items);
    if (rc != CLI_EXIT_OK)
        return rc;
    day->payments = calloc(json_array_size(day->items) + 1, sizeof *day->payments);
    QB_ASSERT(day->payments != NULL);
    size_t i;
    const json_t *item;
    json_array_foreach(day->items, i, item)
    {
        const char *ref = cli_json_str(item, "bank_ref");
        if (ref[0] != '\0')
            day->payments[day->payment_count++] =
                (struct S_payment){ref, item, false, false, false};
    }
    qsort(day->payments, day->payment_count, sizeof *day->payments, S_by_ref);
    return CLI_EXIT_OK;
}

static void S_day_release(struct S_day *day)
{
    free(day->payments);
    json_decref(day->items);
    *day = (struct S_day){0};
}

/* The date days before date (YYYY-MM-DD, a real one: the server took it). */
static void S_date_before(const char *date, int days, char out[16])
{
    struct tm tm = {.tm_hour = 12};
    QB_ASSERT(sscanf(date, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) == 3);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_mday -= days;
    time_t at = timegm(&tm);
    gmtime_r(&at, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

bool cli_csv_fields(char *line, char **fields, size_t max, size_t *count)
{
    *count = 0;
    char *in = line, *out = line;
    for (;;) {
        if (*count == max)
            return false;
        fields[(*count)++] = out;
        if (*in == '"') {
            for (in++;; in++) {
                if (*in == '\0')
                    return false;
                if (*in == '"' && in[1] == '"')
                    *out++ = *in++;
                else if (*in == '"')
                    break;
                else
                    *out++ = *in;
            }
            in++;
            if (*in != ',' && *in != '\0')
                return false;
        } else {
            while (*in != ',' && *in != '\0')
                *out++ = *in++;
        }
        if (*in == '\0') {
            *out = '\0';
            return true;
        }
        *out++ = '\0';
        in++;
    }
}

/* The line's CR LF or LF gone; false when it did not fit. */
static bool S_chomp(char *line)
{
    size_t size = strlen(line);
    if (size == 0 || line[size - 1] != '\n')
        return false;
    line[--size] = '\0';
    if (size > 0 && line[size - 1] == '\r')
        line[--size] = '\0';
    return true;
}

/* One line of the statement against the payments of day, the statement's
 * own or (earlier) one before it; false when none of them has its
 * reference. */
static bool S_line(struct S_run *run, struct S_day *day, bool earlier, const char *bank_ref,
                   enum S_type line_type, int64_t amount_minor)
{
    char detail[320], here[MONEY_TEXT_SIZE_MAX + 8], there[MONEY_TEXT_SIZE_MAX + 8];
    struct S_payment *p = S_find(day, bank_ref);
    if (p == NULL)
        return false;
    const char *id = cli_json_str(p->item, "id");
    bool *booked = line_type == S_RETURN ? &p->booked_returned : &p->booked;
    if (*booked) {
        S_differ(run, "booked_twice", bank_ref, id,
                 line_type == S_RETURN ? "the statement has a return of this reference twice"
                                       : "the statement has this reference twice");
        return true;
    }
    *booked = true;
    bool debit = line_type == S_DEBIT;
    const char *type = cli_json_str(p->item, "type");
    const char *status = cli_json_str(p->item, "status");
    int64_t amount = (int64_t)json_integer_value(json_object_get(p->item, "amount"));
    /* "withdrawal", or "withdrawal of 2026-12-02" for an earlier day's. */
    char what[48];
    snprintf(what, sizeof what, "%s%s%s", type, earlier ? " of " : "", earlier ? day->date : "");
    if (debit != (strcmp(type, "topup") == 0)) {
        snprintf(detail, sizeof detail, "the bank %s the card; Qianbao has a %s",
                 debit                   ? "debited"
                 : line_type == S_RETURN ? "took back a credit to"
                                         : "credited",
                 what);
        S_differ(run, "type", bank_ref, id, detail);
    } else if (amount != amount_minor) {
        cli_money_amount_text(amount_minor, "CNY", there, sizeof there);
        cli_money_amount_text(amount, cli_json_str(p->item, "currency"), here, sizeof here);
        snprintf(detail, sizeof detail, "the bank booked %s; Qianbao's %s is %s", there, what,
                 here);
        S_differ(run, "amount", bank_ref, id, detail);
    } else if (strcmp(status, "PROCESSING") == 0) {
        S_waiting(run, p);
    } else if (line_type == S_RETURN && strcmp(status, "SUCCESS") == 0) {
        snprintf(detail, sizeof detail,
                 "the bank took the %s back; Qianbao has it as SUCCESS (`qianbao admin "
                 "payment-query ID` asks the bank)",
                 what);
        S_differ(run, "return_not_at_qianbao", bank_ref, id, detail);
    } else if (line_type == S_RETURN && strcmp(status, "RETURNED") == 0) {
        json_t *r = json_pack("{s:s, s:s, s:s, s:I}", "bank_ref", bank_ref, "payment_id", id,
                              "date", day->date, "amount", (json_int_t)amount);
        QB_ASSERT(r != NULL && json_array_append_new(run->returned, r) == 0);
        run->returned_minor += amount;
    } else if (strcmp(status, "SUCCESS") != 0 && strcmp(status, "RETURNED") != 0) {
        snprintf(detail, sizeof detail, "the bank booked it; Qianbao has the %s as %s (%s)", what,
                 status, cli_json_str(p->item, "failure_code"));
        S_differ(run, "failed_at_qianbao", bank_ref, id, detail);
    } else if (earlier) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:I}", "bank_ref", bank_ref, "payment_id", id,
                              "date", day->date, "type", type, "amount", (json_int_t)amount);
        QB_ASSERT(e != NULL && json_array_append_new(run->earlier, e) == 0);
        if (debit)
            run->earlier_debits_minor += amount;
        else
            run->earlier_credits_minor += amount;
    } else {
        run->matched++;
        if (debit)
            run->debits_minor += amount;
        else
            run->credits_minor += amount;
    }
    return true;
}

static int S_line_by_ref(const void *a, const void *b)
{
    const struct S_line *x = a, *y = b;
    int by_ref = strcmp(x->bank_ref, y->bank_ref);
    return by_ref != 0 ? by_ref : (x->at > y->at) - (x->at < y->at);
}

static int S_line_by_place(const void *a, const void *b)
{
    const struct S_line *x = a, *y = b;
    return (x->at > y->at) - (x->at < y->at);
}

/* Keeps a line of no payment of the day for the days before. */
static void S_unmatched_add(struct S_run *run, const char *bank_ref, enum S_type type,
                            int64_t amount_minor)
{
    if (run->unmatched_count == run->unmatched_capacity) {
        size_t capacity = run->unmatched_capacity == 0 ? 16 : run->unmatched_capacity * 2;
        struct S_line *grown = realloc(run->unmatched, capacity * sizeof *grown);
        QB_ASSERT(grown != NULL);
        run->unmatched = grown;
        run->unmatched_capacity = capacity;
    }
    struct S_line *l = &run->unmatched[run->unmatched_count];
    l->at = run->unmatched_count++;
    snprintf(l->bank_ref, sizeof l->bank_ref, "%s", bank_ref);
    l->type = type;
    l->amount_minor = amount_minor;
}

/* The lines of no payment of the day against the payments of each day
 * before it, the nearest first, while any are left; what is left after
 * days_back days looked up one by one by its reference; what is left then
 * is a line of no payment Qianbao made. Answers an exit code. */
static int S_earlier(struct cli *cli, struct S_run *run, int days_back)
{
    for (int back = 1; back <= days_back && run->unmatched_count > 0; back++) {
        struct S_day day = {0};
        S_date_before(run->day.date, back, day.date);
        int rc = S_day_load(cli, &day);
        size_t kept = 0;
        for (size_t i = 0; rc == CLI_EXIT_OK && i < run->unmatched_count; i++) {
            const struct S_line *l = &run->unmatched[i];
            if (!S_line(run, &day, true, l->bank_ref, l->type, l->amount_minor))
                run->unmatched[kept++] = *l;
        }
        S_day_release(&day);
        if (rc != CLI_EXIT_OK)
            return rc;
        run->unmatched_count = kept;
    }
    /* What is left, looked up by its reference, whatever day it was made
     * (a withdrawal the bank took back weeks after paying it), on that day:
     * once for all the lines of a reference, so that one booked twice is
     * named so, as within a day; then the lines in the statement's order. */
    if (run->unmatched_count == 0)
        return CLI_EXIT_OK; /* (and run->unmatched may be NULL, which qsort may not take) */
    qsort(run->unmatched, run->unmatched_count, sizeof *run->unmatched, S_line_by_ref);
    struct S_day *lookups = calloc(run->unmatched_count + 1, sizeof *lookups);
    QB_ASSERT(lookups != NULL);
    size_t lookup_count = 0;
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; rc == CLI_EXIT_OK && i < run->unmatched_count; i++) {
        struct S_line *l = &run->unmatched[i];
        if (i > 0 && strcmp(l->bank_ref, run->unmatched[i - 1].bank_ref) == 0) {
            l->lookup = run->unmatched[i - 1].lookup;
            continue;
        }
        l->lookup = lookup_count++;
        struct S_day *day = &lookups[l->lookup];
        /* The reference escaped (up to three bytes for one) after the rest. */
        char path[64 + 3 * S_REF_SIZE_MAX] = "/admin/payments?limit=10";
        if (!cli_query_add(path, sizeof path, "bank_ref", l->bank_ref))
            rc = cli_usage_error(cli, "a bank_ref is too long");
        else
            rc = S_payments_load(cli, path, day);
        /* The payment's day (UTC+8), as its created_at says it: no bank
         * books a payment on a day before it was made. */
        if (rc == CLI_EXIT_OK && day->payment_count > 0)
            snprintf(day->date, sizeof day->date, "%.10s",
                     cli_json_str(day->payments[0].item, "created_at"));
    }
    qsort(run->unmatched, run->unmatched_count, sizeof *run->unmatched, S_line_by_place);
    size_t kept = 0;
    for (size_t i = 0; rc == CLI_EXIT_OK && i < run->unmatched_count; i++) {
        const struct S_line *l = &run->unmatched[i];
        struct S_day *day = &lookups[l->lookup];
        bool made = day->payment_count > 0 && strcmp(day->date, run->day.date) <= 0;
        if (!made || !S_line(run, day, true, l->bank_ref, l->type, l->amount_minor))
            run->unmatched[kept++] = *l;
    }
    for (size_t i = 0; i < lookup_count; i++)
        S_day_release(&lookups[i]);
    free(lookups);
    if (rc != CLI_EXIT_OK)
        return rc;
    run->unmatched_count = kept;
    for (size_t i = 0; i < run->unmatched_count; i++)
        S_differ(run, "not_at_qianbao", run->unmatched[i].bank_ref, NULL,
                 "the bank booked it; no top-up or withdrawal Qianbao made by that day has this "
                 "reference");
    return CLI_EXIT_OK;
}

static enum S_type S_type_of(const char *type)
{
    return strcmp(type, "debit") == 0 ? S_DEBIT : strcmp(type, "credit") == 0 ? S_CREDIT : S_RETURN;
}

/* Reads the statement at path ("-": standard input) line by line into run;
 * answers an exit code. */
static int S_statement(struct cli *cli, const char *path, struct S_run *run)
{
    bool piped = strcmp(path, "-") == 0;
    FILE *f = piped ? stdin : fopen(path, "r");
    if (f == NULL)
        return cli_usage_error(cli, "cannot read %s: %s", path, strerror(errno));
    if (piped)
        path = "standard input";
    static char line[S_LINE_SIZE_MAX];
    char *fields[S_FIELDS_MAX];
    size_t count = 0, columns[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    static const char *const names[] = {"bank_ref", "type", "amount"};
    int rc = CLI_EXIT_OK;
    long number = 0;
    while (rc == CLI_EXIT_OK && fgets(line, sizeof line, f) != NULL) {
        number++;
        if (!S_chomp(line) && !feof(f)) {
            rc = cli_usage_error(cli, "%s, line %ld: longer than %d bytes", path, number,
                                 S_LINE_SIZE_MAX - 2);
            break;
        }
        /* A byte order mark before the header, as spreadsheets write it. */
        char *text = number == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0 ? line + 3 : line;
        if (text[0] == '\0')
            continue;
        if (!cli_csv_fields(text, fields, S_FIELDS_MAX, &count)) {
            rc = cli_usage_error(cli,
                                 "%s, line %ld: not CSV (a quote left open, or more than %d "
                                 "fields)",
                                 path, number, S_FIELDS_MAX);
            break;
        }
        if (columns[0] == SIZE_MAX) {
            for (size_t c = 0; c < 3; c++)
                for (size_t i = 0; i < count && columns[c] == SIZE_MAX; i++)
                    if (strcmp(fields[i], names[c]) == 0)
                        columns[c] = i;
            for (size_t c = 0; c < 3 && rc == CLI_EXIT_OK; c++)
                if (columns[c] == SIZE_MAX)
                    rc = cli_usage_error(cli,
                                         "%s: the header row names no %s column (it needs "
                                         "bank_ref, type and amount)",
                                         path, names[c]);
            continue;
        }
        const char *bank_ref = columns[0] < count ? fields[columns[0]] : "";
        const char *type = columns[1] < count ? fields[columns[1]] : "";
        const char *amount = columns[2] < count ? fields[columns[2]] : "";
        int64_t amount_minor = 0;
        if (bank_ref[0] == '\0' || strlen(bank_ref) >= S_REF_SIZE_MAX)
            rc = cli_usage_error(cli, "%s, line %ld: bank_ref must be 1 to %d characters", path,
                                 number, S_REF_SIZE_MAX - 1);
        else if (strcmp(type, "debit") != 0 && strcmp(type, "credit") != 0 &&
                 strcmp(type, "return") != 0)
            rc = cli_usage_error(cli, "%s, line %ld: type must be debit, credit or return", path,
                                 number);
        else if (money_parse(amount, strlen(amount), currency_find("CNY"), &amount_minor) !=
                     QB_OK ||
                 amount_minor <= 0)
            rc = cli_usage_error(cli, "%s, line %ld: amount must be yuan above zero (12.50)", path,
                                 number);
        else if (!S_line(run, &run->day, false, bank_ref, S_type_of(type), amount_minor))
            S_unmatched_add(run, bank_ref, S_type_of(type), amount_minor);
    }
    if (rc == CLI_EXIT_OK && ferror(f))
        rc = cli_usage_error(cli, "cannot read %s: %s", path, strerror(errno));
    if (rc == CLI_EXIT_OK && columns[0] == SIZE_MAX)
        rc = cli_usage_error(cli, "%s: no header row (bank_ref, type, amount)", path);
    if (!piped)
        fclose(f);
    return rc;
}

/* What the day has that the statement has not: SUCCESS payments no line
 * named, and PROCESSING ones waiting. */
static void S_unbooked(struct S_run *run)
{
    for (size_t i = 0; i < run->day.payment_count; i++) {
        struct S_payment *p = &run->day.payments[i];
        const char *status = cli_json_str(p->item, "status");
        const char *id = cli_json_str(p->item, "id");
        if (p->booked || strcmp(status, "FAILED") == 0)
            continue;
        if (strcmp(status, "PROCESSING") == 0) {
            S_waiting(run, p);
            continue;
        }
        char detail[256];
        snprintf(detail, sizeof detail,
                 "Qianbao has the %s as %s; the statement has not booked it (one the bank "
                 "books on a later day is listed then, booked for an earlier day)",
                 cli_json_str(p->item, "type"), status);
        S_differ(run, "not_at_bank", p->bank_ref, id, detail);
    }
}

static void S_print(struct cli *cli, const struct S_run *run)
{
    char debits[MONEY_TEXT_SIZE_MAX + 8], credits[MONEY_TEXT_SIZE_MAX + 8];
    cli_money_amount_text(run->debits_minor, "CNY", debits, sizeof debits);
    cli_money_amount_text(run->credits_minor, "CNY", credits, sizeof credits);
    size_t differ = json_array_size(run->differences);
    size_t earlier = json_array_size(run->earlier);
    cli_print_colored(cli, differ == 0 ? CLI_COLOR_GREEN : CLI_COLOR_RED,
                      differ == 0 ? "reconciled" : "differences");
    printf(": %s, %lld payments matched (debits %s, credits %s)", run->day.date,
           (long long)run->matched, debits, credits);
    if (earlier > 0) {
        cli_money_amount_text(run->earlier_debits_minor, "CNY", debits, sizeof debits);
        cli_money_amount_text(run->earlier_credits_minor, "CNY", credits, sizeof credits);
        printf(", %zu of earlier days (debits %s, credits %s)", earlier, debits, credits);
    }
    size_t returned = json_array_size(run->returned);
    if (returned > 0) {
        cli_money_amount_text(run->returned_minor, "CNY", credits, sizeof credits);
        printf(", %zu returned (credits %s)", returned, credits);
    }
    printf(", %zu different, %zu waiting on the bank\n", differ, json_array_size(run->pending));
    if (differ > 0) {
        static const char *const headers[] = {"BANK REF", "PAYMENT", "KIND", "DETAIL"};
        struct cli_table table;
        cli_table_init(&table, headers, QB_ARRAY_COUNT(headers));
        size_t i;
        const json_t *d;
        json_array_foreach(run->differences, i, d)
        {
            const char *id = cli_json_str(d, "payment_id");
            const char *row[] = {cli_json_str(d, "bank_ref"), id[0] != '\0' ? id : "-",
                                 cli_json_str(d, "kind"), cli_json_str(d, "detail")};
            cli_table_add(&table, row);
        }
        cli_table_print(cli, &table);
        cli_table_release(&table);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(run->earlier, i, e)
        printf("booked for an earlier day: %s, the %s of %s (%s)\n", cli_json_str(e, "payment_id"),
               cli_json_str(e, "type"), cli_json_str(e, "date"), cli_json_str(e, "bank_ref"));
    json_array_foreach(run->returned, i, e)
        printf("returned by the bank: %s, the withdrawal of %s (%s)\n",
               cli_json_str(e, "payment_id"), cli_json_str(e, "date"), cli_json_str(e, "bank_ref"));
    json_array_foreach(run->pending, i, e)
        printf("waiting on the bank: %s\n", json_string_value(e));
    if (differ > 0)
        cli_hint(cli, "`qianbao admin payment ID` shows a payment; docs/operations.md, "
                      "\"Reconciling a day with the bank\", says what each kind means");
}

int cli_run_admin_reconcile(struct cli *cli, const struct cli_args *args)
{
    struct S_run run = {.differences = json_array(),
                        .pending = json_array(),
                        .earlier = json_array(),
                        .returned = json_array()};
    QB_ASSERT(run.differences != NULL && run.pending != NULL && run.earlier != NULL &&
              run.returned != NULL);
    const char *date_arg = cli_arg(cli, args, "date");
    int rc = cli_day_arg(cli, date_arg != NULL ? date_arg : "yesterday", run.day.date);
    int days_back = S_DAYS_BACK_DEFAULT;
    const char *days_arg = cli_arg(cli, args, "days-back");
    if (rc == CLI_EXIT_OK && days_arg != NULL) {
        char *end = NULL;
        long n = strtol(days_arg, &end, 10);
        if (days_arg[0] < '0' || days_arg[0] > '9' || *end != '\0' || n > S_DAYS_BACK_MAX)
            rc = cli_usage_error(cli, "--days-back must be a number of days, 0 to %d",
                                 S_DAYS_BACK_MAX);
        days_back = (int)n;
    }
    if (rc == CLI_EXIT_OK)
        rc = S_day_load(cli, &run.day);
    if (rc == CLI_EXIT_OK) {
        /* One not yet sent to the bank has no reference: it waits. One that
         * failed without a reference never reached the bank (BANK_UNAVAILABLE):
         * no line of the statement is its, and it waits for nothing. */
        size_t i;
        const json_t *item;
        json_array_foreach(run.day.items, i, item)
        {
            if (cli_json_str(item, "bank_ref")[0] == '\0' &&
                strcmp(cli_json_str(item, "status"), "FAILED") != 0)
                QB_ASSERT(
                    json_array_append_new(run.pending, json_string(cli_json_str(item, "id"))) == 0);
        }
        rc = S_statement(cli, args->positionals[0], &run);
    }
    if (rc == CLI_EXIT_OK)
        rc = S_earlier(cli, &run, days_back);
    if (rc == CLI_EXIT_OK) {
        S_unbooked(&run);
        if (cli->json)
            cli_print_json(json_pack(
                "{s:s, s:I, s:I, s:I, s:O, s:O, s:O, s:O}", "date", run.day.date, "matched",
                (json_int_t)run.matched, "debits", (json_int_t)run.debits_minor, "credits",
                (json_int_t)run.credits_minor, "differences", run.differences, "earlier",
                run.earlier, "returned", run.returned, "pending", run.pending));
        else
            S_print(cli, &run);
        rc = json_array_size(run.differences) == 0 ? CLI_EXIT_OK : CLI_EXIT_CHECK_FAILED;
    }
    S_day_release(&run.day);
    free(run.unmatched);
    json_decref(run.differences);
    json_decref(run.pending);
    json_decref(run.earlier);
    json_decref(run.returned);
    return rc;
}
