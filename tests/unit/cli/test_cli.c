/*
 * test_cli.c — the client's pure parts: amounts typed and shown as
 * decimals (signed for bills, or "none" for limits), card masks, months,
 * Idempotency-Keys, terminal widths and cleaning of server text, profile names and
 * the profile file's round trip and permissions.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/config.h"
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "test.h"

static char S_root[512];

TEST(amounts_parse_exactly)
{
    // What a user types is converted exactly, with no floating point: 12.5 is 1250 fen.
    const struct currency *cny = currency_find("CNY");
    const struct currency *jpy = currency_find("JPY");
    int64_t v = 0;
    ASSERT_EQ_INT(cli_amount_parse("12.5", cny, &v), QB_OK);
    ASSERT_EQ_INT(v, 1250);
    ASSERT_EQ_INT(cli_amount_parse("0.01", cny, &v), QB_OK);
    ASSERT_EQ_INT(v, 1);
    ASSERT_EQ_INT(cli_amount_parse("92233720368547758.07", cny, &v), QB_OK);
    ASSERT_EQ_INT(v, INT64_MAX);
    ASSERT_EQ_INT(cli_amount_parse("1234", jpy, &v), QB_OK);
    ASSERT_EQ_INT(v, 1234);
}

TEST(amounts_refuse_what_is_not_a_positive_exact_amount)
{
    // An amount to move is positive and has no more digits than the currency: anything else
    // must be refused before a request is sent, never rounded.
    const struct currency *cny = currency_find("CNY");
    const struct currency *jpy = currency_find("JPY");
    int64_t v = 42;
    const char *bad[] = {"", "0", "0.00", "-1", "12.345", "1e3", "abc", "1,00", " 1", "+1",
                         "NaN", "0x10", "12.3.4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_amount_parse(bad[i], cny, &v) != QB_E_BAD_AMOUNT)
            TEST_FAIL_("\"%s\" was not refused as QB_E_BAD_AMOUNT", bad[i]);
    }
    ASSERT_EQ_INT(cli_amount_parse("1.5", jpy, &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(cli_amount_parse("92233720368547758.08", cny, &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(v, 42);
}

TEST(amounts_format_by_currency)
{
    char text[MONEY_TEXT_SIZE_MAX + 8];
    cli_amount_format(1250, "CNY", text, sizeof text);
    ASSERT_EQ_STR(text, "12.50");
    cli_amount_format(0, "CNY", text, sizeof text);
    ASSERT_EQ_STR(text, "0.00");
    cli_amount_format(1234, "JPY", text, sizeof text);
    ASSERT_EQ_STR(text, "1234");
    // An unknown currency is never scaled by a guessed exponent.
    cli_amount_format(1250, "XXQ", text, sizeof text);
    ASSERT_EQ_STR(text, "1250 (minor units)");
}

TEST(text_width_counts_wide_characters_twice)
{
    // Tables align Chinese names: each Han character takes two columns.
    ASSERT_EQ_INT(cli_text_width(""), 0);
    ASSERT_EQ_INT(cli_text_width("Wang Wu"), 7);
    ASSERT_EQ_INT(cli_text_width("张三"), 4);
    ASSERT_EQ_INT(cli_text_width("é"), 1);
    ASSERT_EQ_INT(cli_text_width("\xff"), 1);
    // Emoji take two columns too, beyond the first block of them: a red packet's 🧧
    // (U+1F9E7), a rocket (U+1F680), hot coffee (U+2615); a combining accent and an emoji's
    // variation selector take none, so names and greetings with them keep columns aligned.
    ASSERT_EQ_INT(cli_text_width("\xf0\x9f\xa7\xa7"), 2);
    ASSERT_EQ_INT(cli_text_width("\xe7\xba\xa2\xe5\x8c\x85\xf0\x9f\xa7\xa7"), 6);
    ASSERT_EQ_INT(cli_text_width("\xf0\x9f\x9a\x80"), 2);
    ASSERT_EQ_INT(cli_text_width("\xe2\x98\x95"), 2);
    ASSERT_EQ_INT(cli_text_width("e\xcc\x81"), 1);
    ASSERT_EQ_INT(cli_text_width("\xf0\x9f\x8e\x89\xef\xb8\x8f"), 2);
}

TEST(text_clean_neutralises_control_characters)
{
    // A display name must not be able to move the cursor or recolour the terminal.
    char out[64];
    cli_text_clean("a\033[31mb\n", out, sizeof out);
    ASSERT_EQ_STR(out, "a?[31mb?");
    cli_text_clean("x\xc2\x9by", out, sizeof out);
    ASSERT_EQ_STR(out, "x?y");
    cli_text_clean("张三", out, sizeof out);
    ASSERT_EQ_STR(out, "张三");
    // Nor reorder it: a right-to-left override (U+202E) or isolate (U+2067), a zero-width
    // space; a flag's tags stay.
    cli_text_clean("a\xe2\x80\xae"
                   "b\xe2\x81\xa7"
                   "c\xe2\x80\x8b"
                   "d",
                   out, sizeof out);
    ASSERT_EQ_STR(out, "a?b?c?d");
    cli_text_clean("1\xd8\x9c"
                   "2\xc2\xad"
                   "3",
                   out, sizeof out); /* U+061C, U+00AD */
    ASSERT_EQ_STR(out, "1?2?3");
    cli_text_clean("\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xbf", out, sizeof out);
    ASSERT_EQ_STR(out, "\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xbf");
    // Cut by the size, never inside a character: "张" is 3 bytes, so 5 bytes hold one.
    cli_text_clean("张三", out, 6);
    ASSERT_EQ_STR(out, "张");
}

TEST(profile_names)
{
    ASSERT(cli_profile_name_valid("default"));
    ASSERT(cli_profile_name_valid("shop-1.test_2"));
    ASSERT(!cli_profile_name_valid(""));
    ASSERT(!cli_profile_name_valid(".hidden"));
    ASSERT(!cli_profile_name_valid("../x"));
    ASSERT(!cli_profile_name_valid("a/b"));
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    ASSERT(!cli_profile_name_valid(long_name));
}

TEST(profile_round_trip_is_private)
{
    // A profile holds a bearer token: 0600 in a 0700 directory, read back exactly, and a file
    // that was tampered with is refused rather than half-trusted.
    char config[600];
    snprintf(config, sizeof config, "%s/config", S_root);
    ASSERT(setenv("XDG_CONFIG_HOME", config, 1) == 0);
    struct cli_profile p, q;
    ASSERT_EQ_INT(cli_profile_load("default", &q), QB_E_NOT_FOUND);
    memset(&p, 0, sizeof p);
    p.kind = CLI_PROFILE_USER;
    snprintf(p.server, sizeof p.server, "http://127.0.0.1:8080");
    snprintf(p.token, sizeof p.token, "%064d", 7);
    snprintf(p.user_id, sizeof p.user_id, "u_0123456789abcdefghjkmnpqrs");
    snprintf(p.phone, sizeof p.phone, "13800138000");
    snprintf(p.expires_at, sizeof p.expires_at, "2026-11-22T10:00:00+08:00");
    ASSERT_EQ_INT(cli_profile_save("default", &p), QB_OK);
    ASSERT_EQ_INT(cli_profile_load("default", &q), QB_OK);
    ASSERT_EQ_INT(q.kind, CLI_PROFILE_USER);
    ASSERT_EQ_STR(q.server, p.server);
    ASSERT_EQ_STR(q.token, p.token);
    ASSERT_EQ_STR(q.user_id, p.user_id);
    ASSERT_EQ_STR(q.phone, p.phone);
    ASSERT_EQ_STR(q.expires_at, p.expires_at);

    char path[700];
    struct stat st;
    ASSERT(cli_profile_path("default", path, sizeof path));
    ASSERT(stat(path, &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/qianbao", config);
    ASSERT(stat(path, &st) == 0);
    ASSERT_EQ_INT(st.st_mode & 0777, 0700);

    ASSERT(cli_profile_path("default", path, sizeof path));
    FILE *f = fopen(path, "a");
    ASSERT(f != NULL);
    fputs("extra=1\n", f);
    fclose(f);
    ASSERT_EQ_INT(cli_profile_load("default", &q), QB_E_PARAM);
    ASSERT_EQ_STR(q.token, "");

    ASSERT_EQ_INT(cli_profile_remove("default"), QB_OK);
    ASSERT_EQ_INT(cli_profile_load("default", &q), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(cli_profile_remove("default"), QB_OK);
}

TEST(amount_or_none)
{
    // `limits set --daily none` removes a limit; anything else must be an amount to set.
    const struct currency *cny = currency_find("CNY");
    int64_t v = 42;
    bool none = false;
    ASSERT_EQ_INT(cli_amount_or_none_parse("none", cny, &v, &none), QB_OK);
    ASSERT(none);
    ASSERT_EQ_INT(v, 0);
    ASSERT_EQ_INT(cli_amount_or_none_parse("500", cny, &v, &none), QB_OK);
    ASSERT(!none);
    ASSERT_EQ_INT(v, 50000);
    ASSERT_EQ_INT(cli_amount_or_none_parse("0.01", cny, &v, &none), QB_OK);
    ASSERT_EQ_INT(v, 1);
    const char *bad[] = {"None", "NONE", "", "0", "-1", "1.234", "none "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 42;
        if (cli_amount_or_none_parse(bad[i], cny, &v, &none) != QB_E_BAD_AMOUNT || v != 42)
            TEST_FAIL_("\"%s\" was not refused", bad[i]);
    }
}

TEST(signed_amounts)
{
    // A bill's amount is unsigned with a direction; the sign shows it, exactly.
    char text[MONEY_TEXT_SIZE_MAX + 8];
    cli_amount_signed_format(1250, false, "CNY", text, sizeof text);
    ASSERT_EQ_STR(text, "+12.50");
    cli_amount_signed_format(10, true, "CNY", text, sizeof text);
    ASSERT_EQ_STR(text, "-0.10");
    cli_amount_signed_format(0, true, "CNY", text, sizeof text);
    ASSERT_EQ_STR(text, "-0.00");
    cli_amount_signed_format(INT64_MAX, false, "CNY", text, sizeof text);
    ASSERT_EQ_STR(text, "+92233720368547758.07");
    cli_amount_signed_format(7, true, "JPY", text, sizeof text);
    ASSERT_EQ_STR(text, "-7");
}

TEST(card_masks)
{
    // The bind_card code's target: six and four digits kept, one '*' per digit between.
    char out[24];
    ASSERT(cli_card_mask("9999000000000012", out, sizeof out));
    ASSERT_EQ_STR(out, "999900******0012");
    ASSERT(cli_card_mask("6222020000000000018", out, sizeof out));
    ASSERT_EQ_STR(out, "622202*********0018");
    const char *bad[] = {"", "999900000000001", "62220200000000000180", "9999 0000 0000 0012",
                         "999900000000001x", "-999000000000012"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_card_mask(bad[i], out, sizeof out))
            TEST_FAIL_("\"%s\" was masked", bad[i]);
    }
    ASSERT(!cli_card_mask("9999000000000012", out, 16)); /* no room for the NUL */
}

TEST(months)
{
    ASSERT(cli_month_valid("2026-11"));
    ASSERT(cli_month_valid("1970-01"));
    ASSERT(cli_month_valid("2026-12"));
    const char *bad[] = {"", "2026-13", "2026-00", "1969-12", "2026-1", "2026/11", "202611",
                         "2026-11-01", "20x6-11", " 2026-11"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_month_valid(bad[i]))
            TEST_FAIL_("\"%s\" was taken for a month", bad[i]);
    }
}

TEST(csv_lines_split_into_fields)
{
    char *fields[4];
    size_t count = 0;
    char plain[] = "p_1,debit,12.50";
    ASSERT(cli_csv_fields(plain, fields, 4, &count));
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(fields[0], "p_1");
    ASSERT_EQ_STR(fields[2], "12.50");
    char quoted[] = "\"a, \"\"b\"\"\",,\"\"";
    ASSERT(cli_csv_fields(quoted, fields, 4, &count));
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(fields[0], "a, \"b\"");
    ASSERT_EQ_STR(fields[1], "");
    ASSERT_EQ_STR(fields[2], "");
    char trailing[] = "x,";
    ASSERT(cli_csv_fields(trailing, fields, 4, &count));
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_STR(fields[1], "");
    char open_quote[] = "\"never closed,x";
    ASSERT(!cli_csv_fields(open_quote, fields, 4, &count));
    char after_quote[] = "\"a\"b,c";
    ASSERT(!cli_csv_fields(after_quote, fields, 4, &count));
    char too_many[] = "1,2,3,4,5";
    ASSERT(!cli_csv_fields(too_many, fields, 4, &count));
    char just_enough[] = "1,2,3,4";
    ASSERT(cli_csv_fields(just_enough, fields, 4, &count));
    ASSERT_EQ_INT(count, 4);
}

TEST(idempotency_keys)
{
    // A fresh key is a version-4 UUID, different every time; a given one is printable ASCII.
    char a[40], b[40];
    cli_idempotency_key_new(a, sizeof a);
    cli_idempotency_key_new(b, sizeof b);
    ASSERT_EQ_INT(strlen(a), 36);
    ASSERT(strcmp(a, b) != 0);
    ASSERT(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    ASSERT(a[14] == '4');
    ASSERT(strchr("89ab", a[19]) != NULL);
    ASSERT_EQ_INT(strspn(a, "0123456789abcdef-"), 36);
    ASSERT(cli_idempotency_key_valid(a));
    ASSERT(cli_idempotency_key_valid("golden-send-1"));
    ASSERT(!cli_idempotency_key_valid(""));
    ASSERT(!cli_idempotency_key_valid("two words"));
    ASSERT(!cli_idempotency_key_valid("tab\there"));
    ASSERT(!cli_idempotency_key_valid("\xe4\xb8\xad"));
    char longest[300];
    memset(longest, 'k', 255);
    longest[255] = '\0';
    ASSERT(cli_idempotency_key_valid(longest));
    longest[255] = 'k';
    longest[256] = '\0';
    ASSERT(!cli_idempotency_key_valid(longest));
}

TEST(verbose_urls_hide_their_secrets)
{
    // --verbose prints each request's URL for a bug report or a terminal someone looks over:
    // a bill's download token in its query, or a password in the server's URL, would let
    // whoever reads it fetch the bill or log in. The path stays, to say what was asked.
    char out[CLI_URL_SIZE_MAX + 1024];
    cli_url_redact("http://127.0.0.1:8080/v3/billdownload/file?token=AbC123_secret", out,
                   sizeof out);
    ASSERT_EQ_STR(out, "http://127.0.0.1:8080/v3/billdownload/file?token=[redacted]");
    cli_url_redact("https://ops:hunter2@pay.example/v1/me?limit=5&access_token=x&cursor=c1", out,
                   sizeof out);
    ASSERT_EQ_STR(out, "https://[redacted]@pay.example/v1/me?limit=5&access_token=[redacted]"
                       "&cursor=c1");
    cli_url_redact("http://h/v1/me/transactions?type=topup&limit=20", out, sizeof out);
    ASSERT_EQ_STR(out, "http://h/v1/me/transactions?type=topup&limit=20");
    // An @ in the path or the query is no user name.
    cli_url_redact("http://h/v1/x?memo=a@b&TOKEN=t", out, sizeof out);
    ASSERT_EQ_STR(out, "http://h/v1/x?memo=a@b&TOKEN=[redacted]");
    // Cut short rather than overflowing, never with the secret's start.
    char small[40];
    cli_url_redact("http://h/v3/billdownload/file?token=AbC123_secret", small, sizeof small);
    ASSERT(strstr(small, "AbC") == NULL);
}

/* One command line of docs/operations.md (a code span, or a line of a code
 * block): fails the test when a `qianbao` command it names does not exist or
 * is given an option it does not have, or `qianbaod` a flag qianbaod --help
 * does not list. */
static void S_doc_command_check(const char *segment, const char *usage)
{
    enum { S_WORDS_MAX = 64 };
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", segment);
    char *words[S_WORDS_MAX];
    size_t count = 0;
    for (char *p = copy; *p != '\0' && count < S_WORDS_MAX;) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        words[count++] = p;
        p += strcspn(p, " \t");
        if (*p != '\0')
            *p++ = '\0';
    }
    for (size_t i = 0; i < count; i++) {
        const char *slash = strrchr(words[i], '/');
        const char *program = slash != NULL ? slash + 1 : words[i];
        bool daemon = strcmp(program, "qianbaod") == 0;
        if (!daemon && strcmp(program, "qianbao") != 0)
            continue;
        /* The command: the longest run of words after it that names one. */
        const struct cli_command *command = NULL;
        size_t j = i + 1;
        char name[256] = "";
        for (size_t k = i + 1; !daemon && k < count && words[k][0] != '-'; k++) {
            size_t used = strlen(name);
            snprintf(name + used, sizeof name - used, "%s%s", used > 0 ? " " : "", words[k]);
            const struct cli_command *found = cli_command_find(name);
            if (found != NULL) {
                command = found;
                j = k + 1;
            }
        }
        if (!daemon && command == NULL)
            continue; /* the daemon's user, "runuser -u qianbao --" */
        if (!daemon && command->run == NULL && j < count && words[j][0] >= 'a' &&
            words[j][0] <= 'z')
            TEST_FAIL_("docs/operations.md: \"%s\": `qianbao %s` has no command \"%s\"", segment,
                       command->name, words[j]);
        for (; j < count; j++) {
            const char *w = words[j];
            if (strcmp(w, "|") == 0 || strcmp(w, "&&") == 0 || strcmp(w, "||") == 0 ||
                w[0] == '#' || w[0] == ';')
                break;
            if (strncmp(w, "--", 2) != 0 || w[2] == '\0')
                continue;
            char option[128];
            snprintf(option, sizeof option, "%.*s", (int)strcspn(w + 2, "=`"), w + 2);
            if (daemon) {
                char with_space[140], alone[140];
                snprintf(with_space, sizeof with_space, "\n  --%s ", option);
                snprintf(alone, sizeof alone, "\n  --%s\n", option);
                if (strstr(usage, with_space) == NULL && strstr(usage, alone) == NULL)
                    TEST_FAIL_("docs/operations.md: \"%s\": qianbaod has no --%s", segment, option);
                continue;
            }
            static const char *const globals[] = {"server", "profile", "json", "verbose", "help"};
            bool known = false;
            for (size_t g = 0; g < QB_ARRAY_COUNT(globals); g++)
                known = known || strcmp(option, globals[g]) == 0;
            for (size_t o = 0; o < CLI_OPTIONS_MAX && command->options[o].name != NULL; o++)
                known = known || strcmp(option, command->options[o].name) == 0;
            if (!known)
                TEST_FAIL_("docs/operations.md: \"%s\": `qianbao %s` has no --%s", segment,
                           command->name, option);
        }
    }
}

TEST(operations_doc_names_only_commands_and_options_that_exist)
{
    // An operator at 3 a.m. copies the commands of docs/operations.md as they stand. Every
    // `qianbao` command it names must exist with the options it gives it, and every flag it
    // gives `qianbaod` must be one `qianbaod --help` lists, or the copied line fails when it is
    // needed most.
    static char doc[262144], usage[32768];
    char path[4096];
    const char *root = getenv("QB_SOURCE_DIR");
    if (root != NULL && root[0] != '\0') {
        snprintf(path, sizeof path, "%s/docs/operations.md", root);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir_len = slash == NULL ? 1 : (int)(slash - __FILE__);
        snprintf(path, sizeof path, "%.*s/../../../docs/operations.md", dir_len,
                 slash == NULL ? "." : __FILE__);
    }
    FILE *f = fopen(path, "r");
    if (f == NULL)
        TEST_FAIL_("cannot open %s", path);
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    ASSERT(n > 10000 && n < sizeof doc - 1);
    char usage_path[1100];
    snprintf(usage_path, sizeof usage_path, "%s/usage.txt", S_root);
    f = fopen(usage_path, "w+");
    ASSERT(f != NULL);
    config_usage(f);
    rewind(f);
    n = fread(usage, 1, sizeof usage - 1, f);
    usage[n] = '\0';
    fclose(f);
    ASSERT(strstr(usage, "\n  --verify") != NULL);

    /* Code blocks line by line (what follows a " # " is a comment); code spans whole, also
     * across a line break. */
    size_t segments = 0;
    bool block = false, span = false;
    char segment[1024];
    size_t segment_size = 0;
    for (const char *p = doc; *p != '\0'; p++) {
        bool line_start = p == doc || p[-1] == '\n';
        if (line_start && strncmp(p, "```", 3) == 0) {
            block = !block;
            span = false;
            segment_size = 0;
            p += strcspn(p, "\n");
            if (*p == '\0')
                break;
            continue;
        }
        if (block) {
            size_t line_size = strcspn(p, "\n");
            snprintf(segment, sizeof segment, "%.*s", (int)line_size, p);
            char *comment = strstr(segment, " #");
            if (comment != NULL)
                *comment = '\0';
            S_doc_command_check(segment, usage);
            segments++;
            p += line_size;
            if (*p == '\0')
                break;
            continue;
        }
        if (*p == '`') {
            if (span) {
                segment[segment_size] = '\0';
                S_doc_command_check(segment, usage);
                segments++;
            }
            span = !span;
            segment_size = 0;
            continue;
        }
        if (span && segment_size + 1 < sizeof segment)
            segment[segment_size++] = *p == '\n' ? ' ' : *p;
    }
    ASSERT(!block);
    ASSERT(segments > 100);
}

int main(void)
{
    test_tmpdir(S_root, sizeof S_root);
    RUN(amounts_parse_exactly);
    RUN(amounts_refuse_what_is_not_a_positive_exact_amount);
    RUN(amounts_format_by_currency);
    RUN(text_width_counts_wide_characters_twice);
    RUN(text_clean_neutralises_control_characters);
    RUN(amount_or_none);
    RUN(signed_amounts);
    RUN(card_masks);
    RUN(months);
    RUN(csv_lines_split_into_fields);
    RUN(idempotency_keys);
    RUN(verbose_urls_hide_their_secrets);
    RUN(profile_names);
    RUN(profile_round_trip_is_private);
    RUN(operations_doc_names_only_commands_and_options_that_exist);
    test_rmtree(S_root);
    return test_summary();
}
