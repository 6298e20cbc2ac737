/*
 * cli.c — qianbao's main: global options, finding the command, parsing its
 * options against the command table, and the generated documents: help
 * screens, the man page and the bash completion script.
 *
 * Global options (--server, --profile, --json, --help) may appear anywhere
 * before "--", so `qianbao me --json` and `qianbao --json me` are the same.
 * A command is the longest run of leading words that names a row of the
 * table ("security sessions"); what follows is parsed against that row's
 * options: "--name VALUE" or "--name=VALUE", flags without a value, and
 * positional arguments, each counted. Anything else is a usage error
 * (exit 2) that names the problem and where to read more.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/url.h"
#include "cli/cli_int.h"

#define S_ARGS_MAX 64
#define S_WRAP_COLUMNS 80

/* --- help screens ------------------------------------------------------- */

static const char *const S_exit_lines[][2] = {
    {"0", "success"},
    {"1", "the server refused the request (a 4xx answer); its error code is printed"},
    {"2", "usage error: unknown command or option, missing or bad value"},
    {"3", "the server cannot be reached, or it failed (a 5xx answer, or an answer that is not "
          "Qianbao's: not JSON, a redirect)"},
    {"4", "not logged in, or the server ended the session: run `qianbao login`"},
    {"5", "a check ran and found a problem (admin verify: the ledger does not add up; "
          "admin reconcile: the bank's statement and the day's payments differ; "
          "redpacket verify: the packet does not)"},
};

static const char *const S_global_lines[][2] = {
    {"--server URL", "the qianbaod to talk to (default " CLI_DEFAULT_SERVER ", or QIANBAO_SERVER)"},
    {"--profile NAME", "the stored credential to use (default \"default\"; admin commands: "
                       "\"admin\")"},
    {"--json", "print the server's JSON answer as it came (errors too) instead of text"},
    {"-v, --verbose", "print each request, its Idempotency-Key and the answer's status on "
                      "stderr"},
    {"-h, --help", "show help for qianbao or the command"},
};

static const char *const S_environment_lines[][2] = {
    {"QIANBAO_SERVER", "the server URL when --server is not given"},
    {"QIANBAO_ADMIN_TOKEN", "the operator's token, used by the admin commands instead of "
                            "the \"admin\" profile"},
    {"QIANBAO_TOKEN", "a user's session token, used by the user commands instead of the "
                      "profile unless --profile is given (for scripts)"},
    {"XDG_CONFIG_HOME", "profiles live in $XDG_CONFIG_HOME/qianbao/ (default ~/.config)"},
    {"NO_COLOR", "when set, no colours even on a terminal"},
};

/* Prints text wrapped at S_WRAP_COLUMNS, each line indented by indent
 * columns (the first by first_indent, for text after a label). */
static void S_wrap(FILE *out, const char *text, size_t indent, size_t first_column)
{
    size_t column = first_column;
    const char *p = text;
    bool line_start = true;
    while (*p != '\0') {
        if (*p == '\n') {
            fputc('\n', out);
            column = 0;
            line_start = true;
            p++;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t word = strcspn(p, " \n");
        if (!line_start && column + 1 + word > S_WRAP_COLUMNS) {
            fputc('\n', out);
            column = 0;
            line_start = true;
        }
        if (line_start) {
            for (; column < indent; column++)
                fputc(' ', out);
        } else {
            fputc(' ', out);
            column++;
        }
        fwrite(p, 1, word, out);
        column += word;
        line_start = false;
        p += word;
    }
    fputc('\n', out);
}

/* "  label     text", the text wrapped and aligned at column width + 4; a
 * label that leaves fewer than two spaces before that column has the text
 * begin on the next line. */
static void S_labelled(FILE *out, const char *label, const char *text, size_t width)
{
    fprintf(out, "  %s", label);
    size_t column = 2 + strlen(label);
    if (column + 2 > width + 4) {
        fputc('\n', out);
        column = 0;
    }
    for (; column < width + 4; column++)
        fputc(' ', out);
    S_wrap(out, text, width + 4, column);
}

/* The synopsis: "qianbao security unfreeze --code CODE [--password-stdin]". */
static void S_synopsis(const struct cli_command *cmd, char *out, size_t out_size)
{
    size_t n = (size_t)snprintf(out, out_size, "qianbao %s", cmd->name);
    for (size_t i = 0; i < CLI_OPTIONS_MAX && cmd->options[i].name != NULL && n < out_size; i++) {
        const struct cli_option *o = &cmd->options[i];
        n += (size_t)snprintf(out + n, out_size - n, " %s--%s%s%s%s", o->required ? "" : "[",
                              o->name, o->value_name ? " " : "", o->value_name ? o->value_name : "",
                              o->required ? "" : "]");
    }
    if (cmd->args[0] != '\0' && n < out_size)
        snprintf(out + n, out_size - n, " %s", cmd->args);
}

static bool S_is_subcommand(const struct cli_command *group, const struct cli_command *cmd)
{
    size_t size = strlen(group->name);
    return strncmp(cmd->name, group->name, size) == 0 && cmd->name[size] == ' ';
}

static void S_help_command(FILE *out, const struct cli_command *cmd)
{
    size_t count;
    const struct cli_command *all = cli_commands(&count);
    char synopsis[512];
    if (cmd->run == NULL) {
        fprintf(out, "Usage: qianbao %s COMMAND\n\n", cmd->name);
        S_wrap(out, cmd->summary, 0, 0);
        fprintf(out, "\nCommands:\n");
        for (size_t i = 0; i < count; i++) {
            if (S_is_subcommand(cmd, &all[i]))
                S_labelled(out, all[i].name, all[i].summary, 24);
        }
    } else {
        S_synopsis(cmd, synopsis, sizeof synopsis);
        fprintf(out, "Usage: %s\n\n", synopsis);
        S_wrap(out, cmd->summary, 0, 0);
        if (cmd->description != NULL) {
            fputc('\n', out);
            S_wrap(out, cmd->description, 0, 0);
        }
        if (cmd->options[0].name != NULL) {
            fprintf(out, "\nOptions:\n");
            for (size_t i = 0; i < CLI_OPTIONS_MAX && cmd->options[i].name != NULL; i++) {
                const struct cli_option *o = &cmd->options[i];
                char label[96];
                snprintf(label, sizeof label, "--%s%s%s", o->name, o->value_name ? " " : "",
                         o->value_name ? o->value_name : "");
                S_labelled(out, label, o->help, 24);
            }
        }
    }
    fprintf(out, "\nGlobal options --server URL, --profile NAME, --json and the exit status: "
                 "see `qianbao --help`.\n");
}

static void S_help_main(FILE *out)
{
    size_t count;
    const struct cli_command *all = cli_commands(&count);
    fprintf(out, "Usage: qianbao [--server URL] [--profile NAME] [--json] [--verbose] COMMAND "
                 "[OPTIONS] [ARGS]\n\n");
    S_wrap(out,
           "The Qianbao wallet on the command line: a client of qianbaod's HTTP API for "
           "wallet holders and operators. Amounts are typed and shown as decimals (12.50).",
           0, 0);
    fprintf(out, "\nCommands:\n");
    for (size_t i = 0; i < count; i++) {
        if (all[i].run != NULL)
            S_labelled(out, all[i].name, all[i].summary, 22);
    }
    fprintf(out, "\nGlobal options:\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_global_lines); i++)
        S_labelled(out, S_global_lines[i][0], S_global_lines[i][1], 22);
    fprintf(out, "\nExit status:\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_exit_lines); i++)
        S_labelled(out, S_exit_lines[i][0], S_exit_lines[i][1], 2);
    fprintf(out, "\nEnvironment:\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_environment_lines); i++)
        S_labelled(out, S_environment_lines[i][0], S_environment_lines[i][1], 22);
    fprintf(out, "\nRun `qianbao help COMMAND` for a command's options; docs/cli.md and "
                 "`man qianbao` say more.\n");
}

/* Joins words[0..count) with spaces into out. */
static void S_join(const char *const *words, size_t count, char *out, size_t out_size)
{
    out[0] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < count && n < out_size; i++)
        n += (size_t)snprintf(out + n, out_size - n, "%s%s", i > 0 ? " " : "", words[i]);
}

int cli_run_help(struct cli *cli, const struct cli_args *args)
{
    if (args->positional_count == 0) {
        S_help_main(stdout);
        return CLI_EXIT_OK;
    }
    char name[128];
    S_join(args->positionals, args->positional_count, name, sizeof name);
    const struct cli_command *cmd = cli_command_find(name);
    if (cmd == NULL)
        return cli_usage_error(cli, "no command \"%s\"", name);
    S_help_command(stdout, cmd);
    return CLI_EXIT_OK;
}

/* --- the man page -------------------------------------------------------- */

/* Writes text as roff: backslashes escaped, a leading '.' or '\'' guarded,
 * `code` in bold, "--" and "-" as \- so they copy as hyphens. */
static void S_roff_text(const char *text, bool newline)
{
    bool line_start = true, bold = false;
    for (const char *p = text; *p != '\0'; p++) {
        char c = *p;
        if (line_start && (c == '.' || c == '\''))
            fputs("\\&", stdout);
        line_start = false;
        if (c == '\\') {
            fputs("\\e", stdout);
        } else if (c == '-') {
            fputs("\\-", stdout);
        } else if (c == '`') {
            fputs(bold ? "\\fR" : "\\fB", stdout);
            bold = !bold;
        } else if (c == '\n') {
            if (p[1] == '\n') {
                fputs("\n.PP\n", stdout);
                p++;
            } else {
                fputc('\n', stdout);
            }
            line_start = true;
        } else {
            fputc(c, stdout);
        }
    }
    if (bold)
        fputs("\\fR", stdout);
    if (newline)
        fputc('\n', stdout);
}

static void S_roff(const char *text) { S_roff_text(text, true); }

static void S_roff_item(const char *label, const char *text)
{
    printf(".TP\n\\fB");
    S_roff_text(label, false);
    printf("\\fR\n");
    S_roff(text);
}

int cli_run_man(struct cli *cli, const struct cli_args *args)
{
    (void)cli;
    (void)args;
    size_t count;
    const struct cli_command *all = cli_commands(&count);
    printf(".\\\" Generated by `qianbao man` from the command table (src/cli/table.c).\n"
           ".\\\" Do not edit: change the table and run QB_GOLDEN_UPDATE=1 ctest -R cli/.\n");
    printf(".TH QIANBAO 1 \"\" \"qianbao %s\" \"Qianbao Manual\"\n", CLI_VERSION);
    printf(".SH NAME\nqianbao \\- the Qianbao wallet on the command line\n");
    printf(".SH SYNOPSIS\n\\fBqianbao\\fR [\\fB\\-\\-server\\fR \\fIURL\\fR] "
           "[\\fB\\-\\-profile\\fR \\fINAME\\fR] [\\fB\\-\\-json\\fR] [\\fB\\-\\-verbose\\fR] "
           "\\fICOMMAND\\fR "
           "[\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n");
    printf(".SH DESCRIPTION\n");
    S_roff("qianbao is a client of the HTTP API of qianbaod, the Qianbao wallet daemon, for "
           "wallet holders and operators. Output is aligned text on a terminal (with colours "
           "unless NO_COLOR is set), plain text when piped, and the server's JSON with "
           "`--json`. Amounts are typed and shown as decimals (12.50), converted exactly.");
    printf(".SH COMMANDS\n");
    for (size_t i = 0; i < count; i++) {
        if (all[i].run == NULL)
            continue;
        char synopsis[512];
        S_synopsis(&all[i], synopsis, sizeof synopsis);
        printf(".TP\n\\fB");
        S_roff_text(synopsis, false);
        printf("\\fR\n");
        S_roff(all[i].summary);
        if (all[i].description != NULL) {
            printf(".IP\n");
            S_roff(all[i].description);
        }
        if (all[i].options[0].name != NULL)
            printf(".RS\n");
        for (size_t j = 0; j < CLI_OPTIONS_MAX && all[i].options[j].name != NULL; j++) {
            const struct cli_option *o = &all[i].options[j];
            char label[96];
            snprintf(label, sizeof label, "--%s%s%s", o->name, o->value_name ? " " : "",
                     o->value_name ? o->value_name : "");
            S_roff_item(label, o->help);
        }
        if (all[i].options[0].name != NULL)
            printf(".RE\n");
    }
    printf(".SH OPTIONS\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_global_lines); i++)
        S_roff_item(S_global_lines[i][0], S_global_lines[i][1]);
    printf(".SH EXIT STATUS\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_exit_lines); i++)
        S_roff_item(S_exit_lines[i][0], S_exit_lines[i][1]);
    printf(".SH ENVIRONMENT\n");
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_environment_lines); i++)
        S_roff_item(S_environment_lines[i][0], S_environment_lines[i][1]);
    printf(".SH FILES\n");
    S_roff_item("$XDG_CONFIG_HOME/qianbao/PROFILE",
                "one stored credential per profile (mode 0600, directory 0700); "
                "~/.config/qianbao/PROFILE when XDG_CONFIG_HOME is unset");
    printf(".SH SEE ALSO\n\\fBqianbaod --help\\fR (the daemon's settings), docs/cli.md, "
           "docs/api.md and docs/operations.md in the Qianbao sources\n");
    return CLI_EXIT_OK;
}

/* --- bash completion ----------------------------------------------------- */

int cli_run_completion(struct cli *cli, const struct cli_args *args)
{
    if (strcmp(args->positionals[0], "bash") != 0)
        return cli_usage_error(cli, "only bash is supported, not \"%s\"", args->positionals[0]);
    size_t count;
    const struct cli_command *all = cli_commands(&count);
    printf("# bash completion for qianbao. Generated by `qianbao completion bash` from the\n"
           "# command table (src/cli/table.c); do not edit. Load it with\n"
           "#   source <(qianbao completion bash)\n");
    printf("_qianbao()\n{\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    local globals='--server --profile --json --verbose --help'\n"
           "    local known='|");
    for (size_t i = 0; i < count; i++)
        printf("%s|", all[i].name);
    printf("'\n"
           "    local cmd='' i w\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        w=${COMP_WORDS[i]}\n"
           "        case $w in\n"
           "        --server | --profile) ((i++)) ;;\n"
           "        -*) ;;\n"
           "        *) [[ $known == *\"|${cmd:+$cmd }$w|\"* ]] && cmd=${cmd:+$cmd }$w ;;\n"
           "        esac\n"
           "    done\n"
           "    case $prev in\n"
           "    --server | --profile) return ;;\n"
           "    esac\n"
           "    local words=''\n"
           "    case $cmd in\n");
    /* The top level: every first word. */
    printf("    '')\n        words='");
    for (size_t i = 0; i < count; i++) {
        if (strchr(all[i].name, ' ') == NULL)
            printf("%s%s", i > 0 ? " " : "", all[i].name);
    }
    printf("' ;;\n");
    for (size_t i = 0; i < count; i++) {
        const struct cli_command *cmd = &all[i];
        printf("    '%s')\n", cmd->name);
        /* Options that take a value: complete their choices, or nothing. */
        bool any_value = false;
        for (size_t j = 0; j < CLI_OPTIONS_MAX && cmd->options[j].name != NULL; j++)
            any_value = any_value || cmd->options[j].value_name != NULL;
        if (any_value) {
            printf("        case $prev in\n");
            for (size_t j = 0; j < CLI_OPTIONS_MAX && cmd->options[j].name != NULL; j++) {
                const struct cli_option *o = &cmd->options[j];
                if (o->value_name == NULL)
                    continue;
                if (o->choices != NULL)
                    printf("        --%s) COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return ;;\n",
                           o->name, o->choices);
                else
                    printf("        --%s) return ;;\n", o->name);
            }
            printf("        esac\n");
        }
        printf("        words='");
        bool first = true;
        for (size_t j = 0; j < count; j++) {
            if (S_is_subcommand(cmd, &all[j]) && strchr(all[j].name + strlen(cmd->name) + 1, ' ') == NULL) {
                printf("%s%s", first ? "" : " ", all[j].name + strlen(cmd->name) + 1);
                first = false;
            }
        }
        if (strcmp(cmd->name, "help") == 0 || strcmp(cmd->name, "completion") == 0) {
            for (size_t j = 0; j < count; j++) {
                if (strcmp(cmd->name, "help") == 0 && strchr(all[j].name, ' ') == NULL) {
                    printf("%s%s", first ? "" : " ", all[j].name);
                    first = false;
                }
            }
            if (strcmp(cmd->name, "completion") == 0)
                printf("bash");
        }
        for (size_t j = 0; j < CLI_OPTIONS_MAX && cmd->options[j].name != NULL; j++) {
            printf("%s--%s", first ? "" : " ", cmd->options[j].name);
            first = false;
        }
        printf("' ;;\n");
    }
    printf("    esac\n"
           "    if [[ $cur == -* ]]; then\n"
           "        words=\"$words $globals\"\n"
           "    fi\n"
           "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
           "}\n"
           "complete -F _qianbao qianbao\n");
    return CLI_EXIT_OK;
}

/* --- version ------------------------------------------------------------- */

int cli_run_version(struct cli *cli, const struct cli_args *args)
{
    (void)args;
    struct cli_response res;
    cli->quiet = true;
    int rc = cli_call(cli, "GET", "/healthz", CLI_AUTH_NONE, NULL, &res);
    cli->quiet = false;
    const json_t *health = rc == CLI_EXIT_OK ? res.json : NULL;
    if (cli->json) {
        json_t *out = json_pack("{s:s, s:s, s:O}", "client", CLI_VERSION, "server_url",
                                cli->server, "server", health != NULL ? health : json_null());
        QB_ASSERT(out != NULL);
        char *text = json_dumps(out, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
        json_decref(out);
    } else {
        printf("qianbao %s\n", CLI_VERSION);
        char clean[128];
        cli_text_clean(cli_json_str(health, "version"), clean, sizeof clean);
        if (health != NULL)
            printf("server  %s: qianbaod %s (schema %lld)\n", cli->server, clean,
                   json_integer_value(json_object_get(health, "schema_version")));
        else if (rc == CLI_EXIT_UNAVAILABLE && res.status == 0)
            printf("server  %s: unreachable\n", cli->server);
        else
            printf("server  %s: unhealthy (HTTP %ld)\n", cli->server, res.status);
    }
    cli_response_release(&res);
    return CLI_EXIT_OK;
}

/* --- parsing and dispatch ------------------------------------------------ */

/* The edit distance of a and b, capped: for "did you mean". */
static size_t S_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

static int S_unknown_command(struct cli *cli, const char *name)
{
    size_t count;
    const struct cli_command *all = cli_commands(&count);
    const struct cli_command *best = NULL;
    size_t best_distance = 3;
    for (size_t i = 0; i < count; i++) {
        size_t d = S_distance(name, all[i].name);
        if (d < best_distance) {
            best = &all[i];
            best_distance = d;
        }
    }
    char clean[128];
    cli_text_clean(name, clean, sizeof clean);
    if (best != NULL)
        return cli_fail(cli, CLI_EXIT_USAGE, "USAGE_ERROR",
                        "unknown command \"%s\"; did you mean `qianbao %s`? (see `qianbao "
                        "--help`)",
                        clean, best->name);
    return cli_fail(cli, CLI_EXIT_USAGE, "USAGE_ERROR",
                    "unknown command \"%s\" (see `qianbao --help`)", clean);
}

/* Whether value is one of the space-separated words of choices. */
static bool S_choice_is_one(const char *choices, const char *value)
{
    size_t size = strlen(value);
    for (const char *p = choices; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n == size && size > 0 && strncmp(p, value, n) == 0)
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

/* Parses words (after the command's name) against cmd's options. */
static int S_parse_args(struct cli *cli, const struct cli_command *cmd, char **words,
                        size_t word_count, struct cli_args *args)
{
    memset(args, 0, sizeof *args);
    bool options_end = false;
    for (size_t i = 0; i < word_count; i++) {
        char *word = words[i];
        char clean[128];
        cli_text_clean(word, clean, sizeof clean);
        if (!options_end && strcmp(word, "--") == 0) {
            options_end = true;
            continue;
        }
        /* "-5" is an argument (a negative amount, refused by its command
         * with what a valid one looks like), not an option. */
        if (options_end || word[0] != '-' || word[1] == '\0' ||
            (word[1] >= '0' && word[1] <= '9')) {
            if (args->positional_count >= cmd->positional_max ||
                args->positional_count >= CLI_POSITIONALS_MAX)
                return cli_usage_error(cli, "unexpected argument \"%s\"", clean);
            args->positionals[args->positional_count++] = word;
            continue;
        }
        if (word[1] != '-')
            return cli_usage_error(cli, "unknown option \"%s\"", clean);
        const char *name = word + 2;
        const char *equals = strchr(name, '=');
        size_t name_size = equals != NULL ? (size_t)(equals - name) : strlen(name);
        size_t index = CLI_OPTIONS_MAX;
        for (size_t j = 0; j < CLI_OPTIONS_MAX && cmd->options[j].name != NULL; j++) {
            if (strlen(cmd->options[j].name) == name_size &&
                strncmp(cmd->options[j].name, name, name_size) == 0)
                index = j;
        }
        if (index == CLI_OPTIONS_MAX) {
            clean[strcspn(clean, "=")] = '\0';
            return cli_usage_error(cli, "unknown option \"%s\"", clean);
        }
        const struct cli_option *o = &cmd->options[index];
        if (args->values[index] != NULL)
            return cli_usage_error(cli, "--%s is given twice", o->name);
        if (o->value_name == NULL) {
            if (equals != NULL)
                return cli_usage_error(cli, "--%s takes no value", o->name);
            args->values[index] = "";
        } else if (equals != NULL) {
            args->values[index] = equals + 1;
        } else if (i + 1 < word_count) {
            args->values[index] = words[++i];
        } else {
            return cli_usage_error(cli, "--%s needs a value (%s)", o->name, o->value_name);
        }
        /* An option with choices takes one of them: anything else is the
         * caller's mistake, not the server's to refuse. */
        if (o->choices != NULL && !S_choice_is_one(o->choices, args->values[index])) {
            char value[64];
            cli_text_clean(args->values[index], value, sizeof value);
            return cli_usage_error(cli, "--%s %s is none of: %s", o->name, value, o->choices);
        }
    }
    for (size_t j = 0; j < CLI_OPTIONS_MAX && cmd->options[j].name != NULL; j++) {
        if (cmd->options[j].required && args->values[j] == NULL)
            return cli_usage_error(cli, "--%s %s is required", cmd->options[j].name,
                                   cmd->options[j].value_name);
    }
    if (args->positional_count < cmd->positional_min)
        return cli_usage_error(cli, "%s is missing", cmd->args);
    return CLI_EXIT_OK;
}

/* A server URL: http:// or https://, printable, no spaces; trailing
 * slashes dropped. */
static bool S_server_set(struct cli *cli, const char *url)
{
    size_t size = strlen(url);
    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        size >= sizeof cli->server)
        return false;
    for (size_t i = 0; i < size; i++) {
        if (url[i] <= 0x20 || url[i] >= 0x7f)
            return false;
    }
    /* A host, and a port of 1..65535 if any, as libcurl reads them: a typo
     * there is the user's to mend, not a daemon to look for. */
    if (!url_has_host_and_port(url))
        return false;
    memcpy(cli->server, url, size + 1);
    while (size > 8 && cli->server[size - 1] == '/')
        cli->server[--size] = '\0';
    return true;
}

static int S_main(struct cli *cli, int argc, char **argv)
{
    char *rest[S_ARGS_MAX];
    size_t rest_count = 0;
    bool help = false;
    const char *server = NULL, *profile = NULL;
    if (argc - 1 > S_ARGS_MAX)
        return cli_usage_error(cli, "too many arguments");
    /* Pass 1: the global options, wherever they are before "--". */
    bool options_end = false;
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        if (options_end) {
            rest[rest_count++] = argv[i];
            continue;
        }
        if (strcmp(word, "--") == 0) {
            /* Before the command it only ends the global options; after
             * it, the command's own parse reads it too. */
            options_end = true;
            if (rest_count > 0)
                rest[rest_count++] = argv[i];
        } else if (strcmp(word, "--json") == 0) {
            cli->json = true;
        } else if (strcmp(word, "--verbose") == 0 || strcmp(word, "-v") == 0) {
            cli->verbose = true;
        } else if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
            help = true;
        } else if (strcmp(word, "--server") == 0 || strcmp(word, "--profile") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(cli, "%s needs a value", word);
            *(word[2] == 's' ? &server : &profile) = argv[++i];
        } else if (strncmp(word, "--server=", 9) == 0) {
            server = word + 9;
        } else if (strncmp(word, "--profile=", 10) == 0) {
            profile = word + 10;
        } else {
            rest[rest_count++] = argv[i];
        }
    }
    cli->server_explicit = server != NULL;
    if (server != NULL && server[0] == '\0') /* not the default in disguise */
        return cli_usage_error(cli, "--server needs a URL");
    if (server == NULL)
        server = getenv("QIANBAO_SERVER");
    if (server == NULL || server[0] == '\0')
        server = CLI_DEFAULT_SERVER;
    /* A user name and password before the host serve nothing (the
     * credential is the profile's token) and would be in the process list
     * and in every message that names the server. */
    const char *authority = strstr(server, "://");
    if (authority != NULL && memchr(authority + 3, '@', strcspn(authority + 3, "/?#")) != NULL)
        return cli_usage_error(cli, "--server (or QIANBAO_SERVER) must not hold a user name or "
                                    "password: log in with `qianbao login` instead");
    if (!S_server_set(cli, server))
        return cli_usage_error(cli, "--server must be an http:// or https:// URL: a host, and a "
                                    "port of 1..65535 if any");
    if (profile != NULL) {
        if (!cli_profile_name_valid(profile))
            return cli_usage_error(cli, "--profile: a name of letters, digits, '.', '_' and "
                                        "'-', at most 64, not starting with '.'");
        snprintf(cli->profile, sizeof cli->profile, "%s", profile);
        cli->profile_explicit = true;
    }

    /* Pass 2: the command, the longest run of leading words in the table. */
    if (rest_count == 0) {
        S_help_main(help ? stdout : stderr);
        if (help)
            return CLI_EXIT_OK;
        /* With --json, stdout carries one document whatever happens. */
        return cli->json ? cli_usage_error(cli, "no command given") : CLI_EXIT_USAGE;
    }
    const struct cli_command *cmd = NULL;
    size_t words = 0;
    char name[128] = "";
    for (size_t n = 1; n <= rest_count && n <= 3 && rest[n - 1][0] != '-'; n++) {
        S_join((const char *const *)rest, n, name, sizeof name);
        const struct cli_command *found = cli_command_find(name);
        if (found != NULL) {
            cmd = found;
            words = n;
        }
    }
    if (cmd == NULL)
        return S_unknown_command(cli, rest[0]);
    cli->command = cmd;
    if (help) {
        S_help_command(stdout, cmd);
        return CLI_EXIT_OK;
    }
    if (cmd->run == NULL) {
        if (words < rest_count && rest[words][0] != '-') {
            char clean[128];
            cli_text_clean(rest[words], clean, sizeof clean);
            cli->command = NULL;
            return cli_fail(cli, CLI_EXIT_USAGE, "USAGE_ERROR",
                            "unknown command \"%s %s\" (see `qianbao help %s`)", cmd->name, clean,
                            cmd->name);
        }
        S_help_command(stderr, cmd);
        return cli->json ? cli_usage_error(cli, "\"%s\" needs a command after it", cmd->name)
                         : CLI_EXIT_USAGE;
    }

    /* Pass 3: the command's own options and arguments. */
    struct cli_args args;
    int rc = S_parse_args(cli, cmd, rest + words, rest_count - words, &args);
    if (rc != CLI_EXIT_OK)
        return rc;
    cli->args = &args;
    rc = cmd->run(cli, &args);
    cli->args = NULL;
    return rc;
}

int cli_main(int argc, char **argv)
{
    struct cli cli;
    memset(&cli, 0, sizeof cli);
    snprintf(cli.profile, sizeof cli.profile, "%s", CLI_DEFAULT_PROFILE);
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    bool colors = (no_color == NULL || no_color[0] == '\0') &&
                  !(term != NULL && strcmp(term, "dumb") == 0);
    cli.color_out = colors && isatty(STDOUT_FILENO);
    cli.color_err = colors && isatty(STDERR_FILENO);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "qianbao: cannot initialise libcurl\n");
        return CLI_EXIT_UNAVAILABLE;
    }
    int rc = S_main(&cli, argc, argv);
    curl_global_cleanup();
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_UNAVAILABLE; /* stdout is gone (a closed pipe, a full disk) */
    return rc;
}
