/*
 * prompt.c — reading secrets: from the terminal without echo, or one line
 * of standard input with --password-stdin (for scripts, as `docker login
 * --password-stdin` does). Never from a command-line argument, which other
 * users of the machine can read in the process list.
 *
 * The other secrets (SMS codes, id and card numbers) are options for
 * scripts that have them at hand, but left out (or given as "-") they are
 * read the same way: without echo at a terminal, else one line of standard
 * input each, in the order of the command's options and before the
 * password's line.
 *
 * While echo is off, SIGINT, SIGTERM and SIGHUP restore the terminal before
 * the process ends, so Ctrl-C at a password prompt leaves a usable shell.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_int.h"

static struct termios S_saved;
static volatile sig_atomic_t S_echo_off;

static void S_on_signal(int sig)
{
    if (S_echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &S_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_secret_wipe(char *secret, size_t size)
{
    volatile char *p = secret;
    for (size_t i = 0; i < size; i++)
        p[i] = 0;
}

/* Reads one line of stdin into out without its newline. False at end of
 * input or when the line is longer than out. */
static bool S_line(char *out, size_t out_size)
{
    if (fgets(out, (int)out_size, stdin) == NULL)
        return false;
    size_t size = strcspn(out, "\n");
    if (out[size] != '\n' && !feof(stdin))
        return false; /* too long */
    out[size] = '\0';
    if (size > 0 && out[size - 1] == '\r')
        out[size - 1] = '\0';
    return true;
}

/* Prompts on stderr and reads a line from the terminal with echo off. */
static bool S_read_hidden(const char *prompt, char *out, size_t out_size)
{
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    struct termios off;
    if (tcgetattr(STDIN_FILENO, &S_saved) != 0)
        return false;
    off = S_saved;
    off.c_lflag &= ~(tcflag_t)ECHO;
    off.c_lflag |= ECHONL;
    struct sigaction action, old_int, old_term, old_hup;
    memset(&action, 0, sizeof action);
    action.sa_handler = S_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    sigaction(SIGHUP, &action, &old_hup);
    S_echo_off = 1;
    bool ok = tcsetattr(STDIN_FILENO, TCSAFLUSH, &off) == 0 && S_line(out, out_size);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &S_saved);
    S_echo_off = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return ok;
}

int cli_secret_read(struct cli *cli, bool from_stdin, const char *prompt,
                    const char *confirm_prompt, char *out, size_t out_size)
{
    if (from_stdin) {
        if (!S_line(out, out_size) || out[0] == '\0')
            return cli_usage_error(cli, "--password-stdin: no password (or one too long) on "
                                        "standard input");
        return CLI_EXIT_OK;
    }
    if (!isatty(STDIN_FILENO))
        return cli_usage_error(cli, "no terminal to read the password from: pipe it in with "
                                    "--password-stdin");
    if (!S_read_hidden(prompt, out, out_size) || out[0] == '\0')
        return cli_usage_error(cli, "no password was typed");
    if (confirm_prompt != NULL) {
        char again[CLI_SECRET_SIZE_MAX];
        bool same = S_read_hidden(confirm_prompt, again, sizeof again) && strcmp(again, out) == 0;
        cli_secret_wipe(again, sizeof again);
        if (!same) {
            cli_secret_wipe(out, out_size);
            return cli_usage_error(cli, "the two entries differ; nothing was changed");
        }
    }
    return CLI_EXIT_OK;
}

int cli_secret_arg(struct cli *cli, const struct cli_args *args, const char *name,
                   const char *prompt, char *out, size_t out_size)
{
    const char *given = cli_arg(cli, args, name);
    if (given != NULL && strcmp(given, "-") != 0) {
        if (strlen(given) >= out_size)
            return cli_usage_error(cli, "--%s is too long", name);
        snprintf(out, out_size, "%s", given);
        return CLI_EXIT_OK;
    }
    if (!isatty(STDIN_FILENO)) {
        if (!S_line(out, out_size) || out[0] == '\0') {
            cli_secret_wipe(out, out_size);
            return cli_usage_error(cli,
                                   "--%s: no line for it (or one too long) on standard "
                                   "input, and no terminal to ask on",
                                   name);
        }
        return CLI_EXIT_OK;
    }
    if (!S_read_hidden(prompt, out, out_size) || out[0] == '\0') {
        cli_secret_wipe(out, out_size);
        return cli_usage_error(cli, "--%s: nothing was typed", name);
    }
    return CLI_EXIT_OK;
}

int cli_line_read(struct cli *cli, const char *prompt, char *out, size_t out_size)
{
    if (!isatty(STDIN_FILENO))
        return cli_usage_error(cli, "no terminal to ask on: pass --phone");
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (!S_line(out, out_size) || out[0] == '\0')
        return cli_usage_error(cli, "nothing was typed");
    return CLI_EXIT_OK;
}

bool cli_yes_read(const char *prompt)
{
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    char answer[16];
    if (!S_line(answer, sizeof answer)) {
        /* Ctrl-D, or an answer too long to be a yes: the rest of its line
         * must not be read as the next answer. */
        if (!feof(stdin))
            for (int c = getchar(); c != EOF && c != '\n'; c = getchar())
                ;
        fputc('\n', stderr);
        return false;
    }
    return strcasecmp(answer, "y") == 0 || strcasecmp(answer, "yes") == 0;
}
