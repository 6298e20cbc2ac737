/*
 * test_http.c — what the client makes of answers no healthy qianbaod gives:
 * a body cut short, a proxy's error page, a redirect, amounts that are no
 * integers, words a shell or a terminal would take for commands; and what
 * it sends: secrets read from standard input or a terminal instead of the
 * command line. A one-answer server on loopback plays the odd server and
 * keeps the last request's body; cli_main runs in this process with its
 * stdout and stderr caught in files (or a pseudo-terminal, for prompts), so
 * each case sees the exit status and both streams as a user would.
 */
/* grantpt, unlockpt, ptsname: the pseudo-terminal of the prompts. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "qr/qr.h"
#include "test.h"

#define S_OUTPUT_SIZE_MAX 16384

static char S_root[512];

/* The odd server: answers every request with S_server.answer, whole; or,
 * while S_server.then is set, the first with answer and every later one
 * with then ("" closes the connection without a word, as when an answer is
 * lost). */
static struct {
    int listen_fd;
    char url[64];
    const char *_Atomic answer;
    const char *_Atomic then;
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t lock;    /* over authorization and the answers' text */
    char authorization[512]; /* the Authorization header of the last request, or "" */
    char body[4096];         /* the body of the last request, or "" */
    char line[512];          /* the request line of the last request */
} S_server = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *S_server_run(void *unused)
{
    (void)unused;
    char request[16384];
    while (!atomic_load(&S_server.stop)) {
        struct pollfd pfd = {S_server.listen_fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int client = accept(S_server.listen_fd, NULL, NULL);
        if (client < 0)
            continue;
        /* The request's head (and the small body that follows it). */
        size_t size = 0;
        while (size + 1 < sizeof request) {
            ssize_t n = read(client, request + size, sizeof request - 1 - size);
            if (n <= 0)
                break;
            size += (size_t)n;
            request[size] = '\0';
            const char *end = strstr(request, "\r\n\r\n");
            const char *length = strstr(request, "\r\nContent-Length: ");
            if (end != NULL &&
                (length == NULL || length > end ||
                 size >= (size_t)(end + 4 - request) + strtoul(length + 18, NULL, 10)))
                break;
        }
        const char *body = strstr(request, "\r\n\r\n");
        pthread_mutex_lock(&S_server.lock);
        snprintf(S_server.body, sizeof S_server.body, "%s", body != NULL ? body + 4 : "");
        snprintf(S_server.line, sizeof S_server.line, "%.*s", (int)strcspn(request, "\r\n"),
                 request);
        pthread_mutex_unlock(&S_server.lock);
        const char *header = strstr(request, "\r\nAuthorization: ");
        size_t header_size = header != NULL ? strcspn(header + 17, "\r\n") : 0;
        pthread_mutex_lock(&S_server.lock);
        snprintf(S_server.authorization, sizeof S_server.authorization, "%.*s", (int)header_size,
                 header != NULL ? header + 17 : "");
        pthread_mutex_unlock(&S_server.lock);
        /* A copy, taken under the lock the test writes answers under: the
         * socket orders the two, but a race detector does not see it. */
        static char answer[8192];
        pthread_mutex_lock(&S_server.lock);
        snprintf(answer, sizeof answer, "%s", atomic_load(&S_server.answer));
        const char *then = atomic_load(&S_server.then);
        if (then != NULL)
            atomic_store(&S_server.answer, then);
        pthread_mutex_unlock(&S_server.lock);
        for (size_t at = 0, total = strlen(answer); at < total;) {
            ssize_t n = write(client, answer + at, total - at);
            if (n <= 0)
                break;
            at += (size_t)n;
        }
        close(client);
    }
    return NULL;
}

static void S_server_start(void)
{
    S_server.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    QB_ASSERT(S_server.listen_fd >= 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_size = sizeof addr;
    QB_ASSERT(bind(S_server.listen_fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    QB_ASSERT(listen(S_server.listen_fd, 16) == 0);
    QB_ASSERT(getsockname(S_server.listen_fd, (struct sockaddr *)&addr, &addr_size) == 0);
    snprintf(S_server.url, sizeof S_server.url, "http://127.0.0.1:%d", ntohs(addr.sin_port));
    QB_ASSERT(pthread_create(&S_server.thread, NULL, S_server_run, NULL) == 0);
}

static void S_server_stop(void)
{
    atomic_store(&S_server.stop, true);
    pthread_join(S_server.thread, NULL);
    close(S_server.listen_fd);
}

/* What one run of the client printed, and its exit status. */
static struct {
    int rc;
    char out[S_OUTPUT_SIZE_MAX];
    char err[S_OUTPUT_SIZE_MAX];
} S_last;

static void S_file_read(const char *path, char *out, size_t out_size)
{
    FILE *f = fopen(path, "r");
    QB_ASSERT(f != NULL);
    size_t n = fread(out, 1, out_size - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* What the next run reads on standard input ("" for nothing). */
static const char *S_stdin_text = "";

/* A pseudo-terminal for the next run's stdin and stderr, as a user at a
 * terminal has them (-1: files): what is typed is written to its master
 * before the run, and what the run wrote to stderr is read back from it. */
static int S_tty_master = -1, S_tty_slave = -1;

static void S_tty_open(const char *typed)
{
    /* /dev/ptmx is what posix_openpt opens on Linux; opened by name, the
     * ThreadSanitizer build sees a new descriptor, where posix_openpt would
     * leave it the history of a socket the server thread closed under the
     * same number, and report a race no one has. */
    S_tty_master = open("/dev/ptmx", O_RDWR | O_NOCTTY);
    QB_ASSERT(S_tty_master >= 0 && grantpt(S_tty_master) == 0 && unlockpt(S_tty_master) == 0);
    S_tty_slave = open(ptsname(S_tty_master), O_RDWR | O_NOCTTY);
    QB_ASSERT(S_tty_slave >= 0);
    size_t size = strlen(typed);
    QB_ASSERT(write(S_tty_master, typed, size) == (ssize_t)size);
}

/* What the run wrote on the terminal (its echo of what was typed included),
 * into S_last.err; closes the terminal. */
static void S_tty_close(char *out, size_t out_size)
{
    close(S_tty_slave);
    size_t size = 0;
    for (;;) {
        struct pollfd pfd = {S_tty_master, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0 || size + 1 >= out_size)
            break;
        ssize_t n = read(S_tty_master, out + size, out_size - 1 - size);
        if (n <= 0)
            break;
        size += (size_t)n;
    }
    out[size] = '\0';
    close(S_tty_master);
    S_tty_master = S_tty_slave = -1;
}

/* Runs `qianbao --server URL ARGS...` (NULL-terminated) against the odd
 * server, which answers with answer. */
static void S_run(const char *answer, ...)
{
    atomic_store(&S_server.answer, answer);
    char *argv[16];
    int argc = 0;
    argv[argc++] = "qianbao";
    argv[argc++] = "--server";
    argv[argc++] = S_server.url;
    va_list ap;
    va_start(ap, answer);
    for (char *arg; (arg = va_arg(ap, char *)) != NULL;) {
        QB_ASSERT(argc < 15);
        argv[argc++] = arg;
    }
    va_end(ap);
    argv[argc] = NULL;

    char out_path[600], err_path[600], in_path[600];
    snprintf(out_path, sizeof out_path, "%s/out", S_root);
    snprintf(err_path, sizeof err_path, "%s/err", S_root);
    snprintf(in_path, sizeof in_path, "%s/in", S_root);
    FILE *in_file = fopen(in_path, "w");
    QB_ASSERT(in_file != NULL && fputs(S_stdin_text, in_file) >= 0 && fclose(in_file) == 0);
    fflush(stdout);
    fflush(stderr);
    int saved_in = dup(STDIN_FILENO);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    int in = open(in_path, O_RDONLY);
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    QB_ASSERT(saved_out >= 0 && saved_err >= 0 && out >= 0 && err >= 0 && in >= 0);
    dup2(S_tty_slave >= 0 ? S_tty_slave : in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(S_tty_slave >= 0 ? S_tty_slave : err, STDERR_FILENO);
    clearerr(stdin);
    S_last.rc = cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_in, STDIN_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    clearerr(stdin);
    close(in);
    close(out);
    close(err);
    close(saved_in);
    close(saved_out);
    close(saved_err);
    S_stdin_text = "";
    atomic_store(&S_server.then, NULL);
    S_file_read(out_path, S_last.out, sizeof S_last.out);
    S_file_read(err_path, S_last.err, sizeof S_last.err);
    if (S_tty_master >= 0)
        S_tty_close(S_last.err, sizeof S_last.err);
}

/* Fails the case unless stdout is one JSON object whose code is code. */
static void S_assert_json_error(const char *code)
{
    json_error_t error;
    json_t *doc = json_loads(S_last.out, 0, &error);
    if (!json_is_object(doc))
        TEST_FAIL_("stdout is not one JSON object: \"%s\"", S_last.out);
    const char *got = json_string_value(json_object_get(doc, "code"));
    char copy[64];
    snprintf(copy, sizeof copy, "%s", got != NULL ? got : "(none)");
    json_decref(doc);
    ASSERT_EQ_STR(copy, code);
}

#define S_JSON_200_CUT                                                                             \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 37\r\n"                  \
    "Connection: close\r\n\r\n"                                                                    \
    "{\"balances\":[{\"currency\":\"CNY\",\"avail"

#define S_HTML_200                                                                                 \
    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\n"                         \
    "Connection: close\r\n\r\n"                                                                    \
    "<html>captive portal</html>"

#define S_EMPTY_200                                                                                \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n"                   \
    "Connection: close\r\n\r\n"

TEST(an_answer_that_is_not_json_is_no_success)
{
    // A body cut short, an empty one where JSON was due, or a captive portal's page, is no
    // balance: a script must not read "(none)" and exit 0 as if the wallet were empty, nor a
    // top-up answered with nothing as a blank payment made.
    S_run(S_EMPTY_200, "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT_EQ_STR(S_last.out, "");
    S_run(S_EMPTY_200, "me", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("BAD_ANSWER");
    S_run(S_JSON_200_CUT, "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT_EQ_STR(S_last.out, "");
    ASSERT(strstr(S_last.err, "not JSON") != NULL);
    S_run(S_JSON_200_CUT, "balance", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("BAD_ANSWER");
    S_run(S_HTML_200, "admin", "users", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "text/html") != NULL);
}

#define S_HTML_502                                                                                 \
    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 50\r\n"                \
    "Connection: close\r\n\r\n"                                                                    \
    "<html><body><h1>502 Bad Gateway</h1></body></html>"

#define S_HTML_404                                                                                 \
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 22\r\n"                  \
    "Connection: close\r\n\r\n"                                                                    \
    "<html>not found</html>"

TEST(an_error_page_still_answers_one_json_document)
{
    // With --json, stdout is one JSON document whatever happens (docs/cli.md): a proxy's HTML
    // page in front of the daemon must not reach a script's JSON parser in its place.
    S_run(S_HTML_502, "balance", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("BAD_ANSWER");
    ASSERT(strstr(S_last.err, "HTTP 502") != NULL);
    S_run(S_HTML_404, "me", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_REFUSED);
    S_assert_json_error("BAD_ANSWER");
    ASSERT(strstr(S_last.err, "HTTP 404") != NULL);
}

#define S_REDIRECT                                                                                 \
    "HTTP/1.1 301 Moved Permanently\r\nLocation: https://wallet.example/v1/me/balances\r\n"        \
    "Content-Length: 0\r\nConnection: close\r\n\r\n"

TEST(a_redirect_says_where_it_points)
{
    // A plain-http --server in front of an https site answers 301: no refusal by Qianbao (exit
    // 1), but a server to be named differently, and where the redirect points says how.
    S_run(S_REDIRECT, "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "https://wallet.example/v1/me/balances") != NULL);
    S_run(S_REDIRECT, "balance", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("BAD_ANSWER");
}

/* An answer of status 200 with body, JSON. */
static char S_answer[4096];
static const char *S_json_200(const char *body)
{
    pthread_mutex_lock(&S_server.lock);
    snprintf(S_answer, sizeof S_answer,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(body), body);
    pthread_mutex_unlock(&S_server.lock);
    return S_answer;
}

TEST(a_page_without_its_items_stops_reconcile_without_a_crash)
{
    // A page of the day's payments that lacks "items" (another server, another version) is a
    // server's failure, exit 3: the reconciliation must not abort on it and leave no answer.
    char path[600];
    snprintf(path, sizeof path, "%s/statement.csv", S_root);
    FILE *f = fopen(path, "w");
    QB_ASSERT(f != NULL && fputs("bank_ref,type,amount\n", f) >= 0 && fclose(f) == 0);
    S_run(S_json_200("{\"next_cursor\":null}"), "admin", "reconcile", "--date", "2026-01-01", path,
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "items") != NULL);
}

TEST(a_merchant_answered_without_its_fee_rate_is_still_printed)
{
    // merchant create --json builds its own summary of the answer: a member the answer lacks
    // is null there, not an abort after the keys were saved.
    S_run(S_json_200("{\"mchid\":\"1900000001\",\"appid\":\"wx0000000000000001\","
                     "\"name\":\"Shop\",\"serial_no\":\"AB12\",\"apiv3_key\":\"k\","
                     "\"platform_serial_no\":\"CD34\",\"private_key_pem\":\"-----BEGIN PRIVATE "
                     "KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\",\"platform_public_key_pem\":"
                     "\"-----BEGIN PUBLIC KEY-----\\nBBBB\\n-----END PUBLIC KEY-----\\n\"}"),
          "merchant", "create", "--name", "Shop", "--save-as", "shop", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    json_t *doc = json_loads(S_last.out, 0, NULL);
    ASSERT(json_is_object(doc));
    ASSERT(json_is_null(json_object_get(doc, "fee_rate_ppm")));
    ASSERT_EQ_STR(json_string_value(json_object_get(doc, "mchid")), "1900000001");
    json_decref(doc);
}

TEST(a_session_answered_without_a_usable_token_is_no_login)
{
    // A login whose answer holds no token, or one that is not one line of printable text,
    // must neither say "logged in" and exit 0 nor write a profile that the next command finds
    // unreadable (or that a newline in the token would give lines of the server's choosing).
    char path[700];
    snprintf(path, sizeof path, "%s/config/qianbao/default", S_root);
    S_stdin_text = "correct horse 9\n";
    S_run(S_json_200("{\"user_id\":\"u_x\",\"expires_at\":\"2026-12-31T00:00:00Z\"}"), "login",
          "--phone", "13800138000", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "token") != NULL);
    ASSERT(access(path, F_OK) != 0);
    S_stdin_text = "correct horse 9\n";
    S_run(S_json_200("{\"token\":\"t\\nkind=admin\",\"user_id\":\"u_x\","
                     "\"expires_at\":\"2026-12-31T00:00:00Z\"}"),
          "login", "--phone", "13800138000", "--password-stdin", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("BAD_ANSWER");
    ASSERT(access(path, F_OK) != 0);
}

TEST(a_payment_made_but_not_looked_at_again_is_shown)
{
    // `topup --wait` made the payment (PROCESSING: the bank answers later), then its next look
    // at it got no answer. The command must still show the payment it made, with exit 3 as for
    // a wait that ran out, not only "cannot reach the server": else a script that reads exit 3
    // and no payment tops up again, and the card pays twice.
    static const char processing[] =
        "{\"id\":\"p_made\",\"type\":\"topup\",\"status\":\"PROCESSING\",\"amount\":2000,"
        "\"currency\":\"CNY\"}";
    atomic_store(&S_server.then, "");
    S_stdin_text = "258036\n";
    S_run(S_json_200(processing), "topup", "c_card", "20", "--password-stdin", "--wait", "--json",
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    json_t *doc = json_loads(S_last.out, 0, NULL);
    ASSERT(json_is_object(doc));
    ASSERT_EQ_STR(json_string_value(json_object_get(doc, "id")), "p_made");
    json_decref(doc);
    ASSERT(strstr(S_last.err, "p_made") != NULL);
}

/* 张记 in GBK, as a terminal set to a GBK locale types it: no UTF-8. */
#define S_GBK "\xd5\xc5\xbc\xc7"

TEST(text_that_is_not_utf8_is_a_usage_error_of_merchant_commands)
{
    // A merchant's name, an order's description or a refund's reason typed in a GBK terminal is
    // not UTF-8, which JSON cannot carry: a usage error (exit 2) before anything is sent, as the
    // wallet's commands answer it; not an abort, nor a request sent without the field.
    S_run(S_JSON_200_CUT, "merchant", "create", "--name", S_GBK, NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "--name") != NULL);
    struct cli_profile *m = calloc(1, sizeof *m);
    ASSERT(m != NULL);
    m->kind = CLI_PROFILE_MERCHANT;
    snprintf(m->server, sizeof m->server, "%s", S_server.url);
    snprintf(m->mchid, sizeof m->mchid, "1900000001");
    snprintf(m->appid, sizeof m->appid, "wx0000000000000001");
    snprintf(m->serial_no, sizeof m->serial_no, "AB12");
    snprintf(m->platform_serial_no, sizeof m->platform_serial_no, "CD34");
    snprintf(m->private_key, sizeof m->private_key, "AAAA");
    snprintf(m->platform_public_key, sizeof m->platform_public_key, "BBBB");
    enum qb_error err = cli_profile_save(CLI_MERCHANT_PROFILE, m);
    free(m);
    ASSERT_EQ_INT(err, QB_OK);
    S_run(S_JSON_200_CUT, "merchant", "order", "native", "1", "--description", S_GBK,
          "--notify-url", "https://example.com/n", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "--description") != NULL);
    S_run(S_JSON_200_CUT, "merchant", "order", "native", "1", "--description", "noodles",
          "--notify-url", "https://example.com/n", "--attach", S_GBK, NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    S_run(S_JSON_200_CUT, "transfer-bill", "o_openid", "1", "--out-bill-no", "ABCDE1", "--remark",
          S_GBK, NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    S_run(S_JSON_200_CUT, "refund", "order-000001", "1", "--out-refund-no", "R1", "--reason", S_GBK,
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "--reason") != NULL);
}

/* Saves profile name: a user of the test server. */
static void S_user_profile_save(const char *name, const char *token, const char *user_id,
                                const char *phone)
{
    struct cli_profile *u = calloc(1, sizeof *u);
    ASSERT(u != NULL);
    u->kind = CLI_PROFILE_USER;
    snprintf(u->server, sizeof u->server, "%s", S_server.url);
    snprintf(u->token, sizeof u->token, "%s", token);
    snprintf(u->user_id, sizeof u->user_id, "%s", user_id);
    snprintf(u->phone, sizeof u->phone, "%s", phone);
    snprintf(u->expires_at, sizeof u->expires_at, "2026-12-31T00:00:00Z");
    enum qb_error err = cli_profile_save(name, u);
    free(u);
    ASSERT_EQ_INT(err, QB_OK);
}

#define S_NO_CONTENT "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"

TEST(an_id_of_dots_stays_in_the_path)
{
    // "." and ".." typed as an id would be taken out of the URL by its own rules: `card remove
    // ..` was sent as DELETE /v1/me/. They go as typed, escaped; an empty id goes nowhere.
    S_user_profile_save("default", "the-profiles-token", "u_someone", "13800138000");
    S_run(S_NO_CONTENT, "card", "remove", "..", NULL);
    char line[sizeof S_server.line];
    pthread_mutex_lock(&S_server.lock);
    snprintf(line, sizeof line, "%s", S_server.line);
    pthread_mutex_unlock(&S_server.lock);
    ASSERT_EQ_STR(line, "DELETE /v1/me/cards/%2E%2E HTTP/1.1");
    S_run(S_NO_CONTENT, "payment", "show", "", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "ID is empty") != NULL);
    S_run(S_NO_CONTENT, "logout", NULL); /* the profile gone again, as later cases expect */
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
}

#define S_USERS_EMPTY                                                                              \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 31\r\n"                  \
    "Connection: close\r\n\r\n"                                                                    \
    "{\"items\":[],\"next_cursor\":null}"

#define S_401                                                                                      \
    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n"                                    \
    "Content-Type: application/json\r\nContent-Length: 62\r\nConnection: close\r\n\r\n"            \
    "{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication is required\"}"

TEST(a_refused_token_from_the_environment_is_named)
{
    // A script's QIANBAO_TOKEN or QIANBAO_ADMIN_TOKEN the server refuses: logging in again would
    // change nothing while the variable wins, so the message names the variable.
    S_run(S_401, "me", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_NOT_LOGGED_IN);
    ASSERT(strstr(S_last.err, "the token in QIANBAO_TOKEN") != NULL);
    S_run(S_401, "admin", "users", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_NOT_LOGGED_IN);
    ASSERT(strstr(S_last.err, "the token in QIANBAO_ADMIN_TOKEN") != NULL);
}

TEST(a_phone_filter_is_sent_as_its_digits)
{
    // An operator pastes the number as the caller gave it: "+86 139-0000-0012" is sent as its
    // eleven digits, which the server takes; a prefix goes as typed.
    S_run(S_USERS_EMPTY, "admin", "users", "--phone", "+86 139-0000-0012", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    char line[sizeof S_server.line];
    pthread_mutex_lock(&S_server.lock);
    snprintf(line, sizeof line, "%s", S_server.line);
    pthread_mutex_unlock(&S_server.lock);
    ASSERT_EQ_STR(line, "GET /admin/users?phone=13900000012 HTTP/1.1");
    S_run(S_USERS_EMPTY, "admin", "users", "--phone", "139", NULL);
    pthread_mutex_lock(&S_server.lock);
    snprintf(line, sizeof line, "%s", S_server.line);
    pthread_mutex_unlock(&S_server.lock);
    ASSERT_EQ_STR(line, "GET /admin/users?phone=139 HTTP/1.1");
}

TEST(logout_ends_the_profiles_session_not_the_environments)
{
    // QIANBAO_TOKEN stands in for the profile in the user commands; but `logout` removes the
    // profile, and must end that profile's session: ending the script's session instead left
    // the profile's own open on the server, with its file gone.
    S_user_profile_save("default", "the-profiles-token", "u_someone", "13800138000");
    S_run(S_NO_CONTENT, "logout", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    char authorization[sizeof S_server.authorization];
    pthread_mutex_lock(&S_server.lock);
    snprintf(authorization, sizeof authorization, "%s", S_server.authorization);
    pthread_mutex_unlock(&S_server.lock);
    ASSERT_EQ_STR(authorization, "Bearer the-profiles-token");
}

TEST(closing_the_environments_wallet_keeps_the_profile)
{
    // With QIANBAO_TOKEN set, close-account closes that token's wallet: the profile on disk may
    // be another user's, and must not be removed with it (its session would stay open on the
    // server with nothing left here to end it).
    S_user_profile_save("default", "another-users-token", "u_another", "13800138001");
    S_stdin_text = "258036\n";
    S_run(S_json_200("{\"id\":\"u_script\",\"status\":\"closed\"}"), "close-account", "--code",
          "123456", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    struct cli_profile kept;
    ASSERT_EQ_INT(cli_profile_load("default", &kept), QB_OK);
    ASSERT_EQ_STR(kept.user_id, "u_another");
}

TEST(merchants_all_says_where_it_stopped)
{
    // `admin merchants --all` reads at most 1,000 pages: a listing cut there must say so and
    // how to go on, as `bills --all` does, not print the rows read as if they were all.
    S_run(S_json_200("{\"items\":[{\"mchid\":\"1900000001\",\"name\":\"Shop\"}],"
                     "\"next_cursor\":\"k1.0123456789abcdef\"}"),
          "admin", "merchants", "--all", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "--cursor k1.0123456789abcdef") != NULL);
}

TEST(a_profile_others_can_read_is_not_used)
{
    // A profile holds a bearer token (a merchant's, its private key). One that other users of
    // the computer can read (copied with the umask's 0644, restored from a backup) is refused
    // before its token is sent, as the payment-code seed file is, with how to make it private.
    S_user_profile_save("shared", "a-token-others-read", "u_someone", "13800138000");
    char path[700];
    ASSERT(cli_profile_path("shared", path, sizeof path));
    ASSERT_EQ_INT(chmod(path, 0644), 0);
    pthread_mutex_lock(&S_server.lock);
    S_server.authorization[0] = '\0';
    pthread_mutex_unlock(&S_server.lock);
    S_run(S_json_200("{\"balances\":[]}"), "--profile", "shared", "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_NOT_LOGGED_IN);
    ASSERT(strstr(S_last.err, "chmod 600") != NULL);
    pthread_mutex_lock(&S_server.lock);
    bool sent = S_server.authorization[0] != '\0';
    pthread_mutex_unlock(&S_server.lock);
    ASSERT(!sent);
    ASSERT_EQ_INT(chmod(path, 0600), 0);
    S_run(S_json_200("{\"balances\":[]}"), "--profile", "shared", "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    // `logout` still ends its session, as the refusal advises: the token others may have read
    // is sent once more, to be revoked, and the profile goes.
    ASSERT_EQ_INT(chmod(path, 0644), 0);
    pthread_mutex_lock(&S_server.lock);
    S_server.authorization[0] = '\0';
    pthread_mutex_unlock(&S_server.lock);
    S_run(S_json_200("{}"), "--profile", "shared", "logout", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    pthread_mutex_lock(&S_server.lock);
    bool revoked = strstr(S_server.authorization, "a-token-others-read") != NULL &&
                   strstr(S_server.line, "DELETE /v1/sessions/current") != NULL;
    pthread_mutex_unlock(&S_server.lock);
    ASSERT(revoked);
    ASSERT(access(path, F_OK) != 0);
}

TEST(notices_mark_read_that_fails_prints_one_json_document)
{
    // `notices --mark-read --json` reads the page, then marks it read. When the marking is
    // refused, stdout must still be one JSON document (the refusal), not the page followed
    // by an error object that no JSON parser reads as one.
    atomic_store(&S_server.then,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                 "Content-Length: 47\r\nConnection: close\r\n\r\n"
                 "{\"code\":\"SYSTEM_BUSY\",\"message\":\"try it again\"}");
    S_run(S_json_200("{\"items\":[{\"id\":7,\"type\":\"topup_failed\"}],\"next_cursor\":null}"),
          "notices", "--mark-read", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("SYSTEM_BUSY");
}

TEST(a_device_is_not_added_under_the_environments_token)
{
    // `device add` keeps the new payment-code device's seed in the profile's seed file. Under
    // QIANBAO_TOKEN the device would be that token's user's, its seed kept for the profile:
    // `qianbao paycode` of the profile would then show codes that pay from another wallet.
    pthread_mutex_lock(&S_server.lock);
    S_server.authorization[0] = '\0';
    pthread_mutex_unlock(&S_server.lock);
    S_stdin_text = "258036\n";
    S_run(S_json_200("{\"id\":\"d_1\",\"slot\":1234567,\"seed\":\"00\"}"), "device", "add",
          "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "--profile") != NULL);
    pthread_mutex_lock(&S_server.lock);
    bool sent = S_server.authorization[0] != '\0';
    pthread_mutex_unlock(&S_server.lock);
    ASSERT(!sent);
}

TEST(watch_stops_on_an_answer_without_a_cursor)
{
    // `watch` asks again with the cursor each answer gives. An answer without one would send
    // it back to the start, which answers at once: a loop asking as fast as it can, for ever.
    S_run(S_json_200("{\"changed\":[]}"), "watch", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "cursor") != NULL);
}

TEST(a_money_answer_that_cannot_be_read_names_its_key)
{
    // A transfer answered 200 with a body cut short may have been applied: the message must give
    // the Idempotency-Key to find out with, as it does when no answer came, or the user sends
    // it again under a new key and pays twice.
    S_stdin_text = "258036\n";
    S_run(S_JSON_200_CUT, "send", "13800138000", "1", "--idempotency-key", "golden-key-7",
          "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "--idempotency-key golden-key-7") != NULL);
}

TEST(an_amount_that_is_not_whole_fen_is_a_bad_answer)
{
    // Amounts are integers of fen (docs/api.md). 12.5 or "1250" read as an integer is 0: the
    // balance would print as 0.00, and a payment's amount as nothing paid, with exit 0. Such an
    // answer is no Qianbao answer, refused as one, whatever member carries it.
    S_run(S_json_200("{\"balances\":[{\"currency\":\"CNY\",\"available\":1250.0,"
                     "\"pending\":0}]}"),
          "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.out, "0.00") == NULL);
    ASSERT(strstr(S_last.err, "available") != NULL);
    S_run(S_json_200("{\"balances\":[{\"currency\":\"CNY\",\"available\":0,"
                     "\"pending\":\"1250\"}]}"),
          "balance", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("BAD_ANSWER");
    // A merchant's order as /v3 shapes it: the amount is an object of integers.
    S_stdin_text = "258036\n";
    S_run(S_json_200("{\"id\":\"p_0123456789abcdefghjkmnpqrs\",\"status\":\"SUCCESS\","
                     "\"amount\":{\"total\":\"12.34\",\"currency\":\"CNY\"}}"),
          "send", "13800138000", "1", "--idempotency-key", "golden-key-8", "--password-stdin",
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "--idempotency-key golden-key-8") != NULL);
    // The spending limits' "used" and the analytics' "sales" are amounts as well.
    S_run(S_json_200("{\"limits\":[{\"name\":\"daily\",\"currency\":\"CNY\",\"amount\":5000,"
                     "\"used\":12.5}]}"),
          "limits", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.err, "\"used\"") != NULL);
    // A statement's sums are objects of currencies, each an amount.
    S_run(S_json_200("{\"month\":\"2026-11\",\"income\":{\"CNY\":12.5},\"expense\":{\"CNY\":0}}"),
          "statement", "2026-11", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_run(S_json_200("{\"month\":\"2026-11\",\"income\":{\"CNY\":0},\"expense\":{\"CNY\":\"99\"}}"),
          "statement", "2026-11", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    // A null where the API answers an integer reads as 0 too; only the amounts the API may
    // answer null (an open code's, a quote's, no daily limit) are answers as null.
    S_run(S_json_200("{\"balances\":[{\"currency\":\"CNY\",\"available\":null,"
                     "\"pending\":0}]}"),
          "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strstr(S_last.out, "0.00") == NULL);
    ASSERT(strstr(S_last.err, "available") != NULL);
    // Integers, nulls (an open code's amount) and a count's booleans stay answers.
    S_run(S_json_200("{\"balances\":[{\"currency\":\"CNY\",\"available\":1250,"
                     "\"pending\":0,\"fee\":null}]}"),
          "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.out, "12.50") != NULL);
}

TEST(enter_at_pay_it_pays_nothing_and_says_so)
{
    // "Pay it? [y/N]": the capital N is the default, what Enter answers. It was taken for a
    // mistake ("nothing was typed", a usage error) that left the payer unsure whether the
    // scan paid; Enter and "n" both answer no, plainly, and exit 0 as a "no" does.
    struct buf png;
    buf_init(&png, QR_IMAGE_SIZE_MAX);
    ASSERT_EQ_INT(qr_render_png("qianbao://pay?v=1&k=u&id=u_0123456789abcdefghjkmnpqrs&a=1234"
                                "&c=CNY&s=AbCdEfGhIjKlMnOpQrStUv",
                                4, &png),
                  QB_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/code.png", S_root);
    FILE *f = fopen(path, "wb");
    QB_ASSERT(f != NULL && fwrite(png.data, 1, png.size, f) == png.size && fclose(f) == 0);
    buf_release(&png);
    const char *resolved = S_json_200("{\"kind\":\"transfer\",\"payee_name\":\"*三\","
                                      "\"amount\":1234,\"currency\":\"CNY\"}");
    static const char *const answers[] = {"\n", "n\n", "no\n"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(answers); i++) {
        S_tty_open(answers[i]);
        S_run(resolved, "scan", path, NULL);
        ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
        ASSERT(strstr(S_last.err, "Pay it?") != NULL);
        ASSERT(strstr(S_last.err, "usage") == NULL && strstr(S_last.err, "nothing") == NULL);
        ASSERT(strstr(S_last.out, "not paid") != NULL);
    }
    // The end of input (Ctrl-D) answers no as well.
    S_tty_open("\x04");
    S_run(resolved, "scan", path, NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.out, "not paid") != NULL);
}

TEST(admin_verify_waits_no_longer_than_its_timeout)
{
    // A check the server never finishes (a stuck checker, a proxy replaying one answer) kept
    // `admin verify` polling for ever: a cron job at 3 a.m. never ended, nor said why. It gives
    // up at --timeout, exit 3, saying how to look again, and the check goes on at the server.
    const char *running = S_json_200("{\"number\":7,\"status\":\"running\","
                                     "\"entries_checked\":5,\"entries_total\":10}");
    int64_t start_ns = clock_monotonic_ns();
    S_run(running, "admin", "verify", "--timeout", "1", NULL);
    int64_t took_ms = (clock_monotonic_ns() - start_ns) / 1000000;
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(took_ms >= 1000 && took_ms < 5000);
    ASSERT(strstr(S_last.err, "admin verify --status") != NULL);
    ASSERT(strstr(S_last.err, "5 of 10") != NULL);
    S_run(running, "admin", "verify", "--timeout", "1", "--json", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    S_assert_json_error("TIMEOUT");
    S_run(running, "admin", "verify", "--timeout", "0", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
}

/* Whether the last request's body holds text. */
static bool S_body_has(const char *text)
{
    pthread_mutex_lock(&S_server.lock);
    bool has = strstr(S_server.body, text) != NULL;
    pthread_mutex_unlock(&S_server.lock);
    return has;
}

TEST(secrets_are_read_without_the_command_line)
{
    // An SMS code, an id number or a card number given as an argument is in every local user's
    // `ps` and in /proc/PID/cmdline, and stays in the shell's history. Left out (or given as
    // -), each is read as a line of standard input when it is no terminal, before the
    // password's line, and the request carries it all the same.
    S_stdin_text = "135790\ncorrect horse 9\n";
    S_run(S_json_200("{\"id\":\"u_0123456789abcdefghjkmnpqrs\",\"phone\":\"13800138000\"}"),
          "register", "--phone", "13800138000", "--name", "Li", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"sms_code\":\"135790\"") && S_body_has("\"correct horse 9\""));

    S_stdin_text = "310115198506154568\n";
    S_run(S_json_200("{\"kyc_level\":2,\"id_number_last4\":\"4568\"}"), "kyc", "--name", "Li",
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"id_number\":\"310115198506154568\""));

    S_stdin_text = "246800\n";
    S_run(S_json_200("{\"status\":\"ACTIVE\"}"), "security", "unfreeze", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE); /* the code's line, then none for the password */
    S_stdin_text = "246800\ncorrect horse 9\n";
    S_run(S_json_200("{\"status\":\"ACTIVE\"}"), "security", "unfreeze", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"sms_code\":\"246800\""));

    S_stdin_text = "111222\n310115198506154568\n258036\n";
    S_run(S_json_200("{}"), "payment-password", "set", "--id-number", "-", "--password-stdin",
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"sms_code\":\"111222\"") &&
           S_body_has("\"id_number\":\"310115198506154568\"") && S_body_has("\"258036\""));

    S_stdin_text = "333444\n258036\n";
    S_run(S_json_200("{\"id\":\"u_0123456789abcdefghjkmnpqrs\",\"phone\":\"13900139000\"}"),
          "phone-change", "13900139000", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"sms_code\":\"333444\""));

    S_stdin_text = "9999000000000012\n555666\n";
    S_run(S_json_200("{\"id\":\"c_0123456789abcdefghjkmnpqrs\",\"bank\":\"Sandbox\","
                     "\"last4\":\"0012\",\"card_type\":\"DEBIT\"}"),
          "card", "add", "--holder", "Li", "--phone", "13800138000", "--code", "-", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"card_number\":\"9999000000000012\"") &&
           S_body_has("\"sms_code\":\"555666\""));

    // Login's codes are optional: "-" reads them, before the password.
    S_stdin_text = "777888\ncorrect horse 9\n";
    S_run(S_json_200("{\"token\":\"t\",\"user_id\":\"u_0123456789abcdefghjkmnpqrs\","
                     "\"expires_at\":\"2026-12-01T00:00:00+08:00\"}"),
          "--profile", "secrets", "login", "--phone", "13800138000", "--code", "-",
          "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"sms_code\":\"777888\"") && S_body_has("\"correct horse 9\""));

    // Nothing on standard input: a usage error naming the option, and nothing sent.
    S_stdin_text = "";
    S_run(S_json_200("{\"kyc_level\":2}"), "kyc", "--name", "Li", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "--id-number") != NULL);
}

/* Types line on the terminal once its echo is off, as a user at a prompt
 * for a secret does (what is typed before is flushed by the prompt). */
static void *S_typist(void *line)
{
    for (int i = 0; i < 500; i++) {
        struct termios t;
        if (tcgetattr(S_tty_master, &t) == 0 && (t.c_lflag & ECHO) == 0) {
            size_t size = strlen(line);
            QB_ASSERT(write(S_tty_master, line, size) == (ssize_t)size);
            return NULL;
        }
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

TEST(a_secret_left_out_is_asked_on_the_terminal_without_echo)
{
    // At a terminal, a secret left out is asked for with echo off: neither the command line nor
    // the screen (nor a recording of it) shows it.
    S_tty_open("");
    pthread_t typist;
    QB_ASSERT(pthread_create(&typist, NULL, S_typist, "310115198506154568\n") == 0);
    S_run(S_json_200("{\"kyc_level\":2,\"id_number_last4\":\"4568\"}"), "kyc", "--name", "Li",
          NULL);
    pthread_join(typist, NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(S_body_has("\"id_number\":\"310115198506154568\""));
    ASSERT(strstr(S_last.err, "number") != NULL);             /* the prompt */
    ASSERT(strstr(S_last.err, "310115198506154568") == NULL); /* no echo */
}

TEST(watch_survives_news_that_is_not_named)
{
    // An answer's "changed" lists the parts that changed by name: one that is no string (a
    // newer server's object, a proxy's garbage) was compared as text and crashed `watch`, the
    // shop's "money arrived" screen, instead of being passed over.
    S_run(S_json_200("{\"cursor\":\"c2\",\"changed\":[1,{\"part\":\"bills\"},null,"
                     "\"notices\"],\"bills\":[]}"),
          "watch", "--once", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.out, "a new notice") != NULL);
}

TEST(watch_asks_again_from_its_cursor_after_a_blip)
{
    // A shop's `merchant watch` or a wallet's `watch` runs for hours: a 503 while the daemon
    // restarts, a 429, a dropped connection ended it, and without --json the cursor to start
    // again from was never shown, so the payments in between were never announced. From a cursor
    // it says what happened, waits and asks again from the same cursor.
    atomic_store(&S_server.then, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 48\r\nConnection: close\r\n\r\n"
                                 "{\"cursor\":\"c2\",\"changed\":[\"notices\"],\"bills\":[]}");
    S_run("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Content-Length: 53\r\nConnection: close\r\n\r\n"
          "{\"code\":\"SYSTEM_BUSY\",\"message\":\"the server is busy\"}",
          "watch", "--since", "c1", "--once", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.out, "a new notice") != NULL);
    ASSERT(strstr(S_last.err, "SYSTEM_BUSY") != NULL);
    ASSERT(strstr(S_last.err, "asking again") != NULL);
    // Not logged in any more is no blip: it ends at once.
    atomic_store(&S_server.then, NULL);
    S_run("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
          "WWW-Authenticate: Bearer\r\nContent-Length: 62\r\nConnection: close\r\n\r\n"
          "{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication is required\"}",
          "watch", "--since", "c1", "--once", NULL);
    ASSERT(S_last.rc != CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "asking again") == NULL);
}

TEST(a_currency_cannot_rewrite_the_amount_on_the_screen)
{
    // The lines that say what money moved ("took 1.00 CNY from ...", "you got ...", watch's
    // "received ...") printed the answer's currency as it came: a carriage return and an
    // escape sequence in it redrew the line, so a payee could be shown 9999.00 where 1.00 was
    // taken. The currency is text from the server like any other, made safe first.
    S_run(S_json_200("{\"id\":\"pt_1\",\"amount\":100,\"currency\":\"CNY\\r\\u001b[2K"
                     "took 9999.00 CNY\",\"merchant\":{\"name\":\"Shop\"},\"remark\":\"r\"}"),
          "accept-payout", "pt_1", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strchr(S_last.out, '\r') == NULL && strchr(S_last.out, '\x1b') == NULL);
    S_run(S_json_200(
              "{\"cursor\":\"c3\",\"changed\":[\"bills\"],\"bills\":[{\"amount\":100,"
              "\"currency\":\"CNY\\r\\u001b[2K\",\"direction\":\"in\",\"type\":\"transfer\"}]}"),
          "watch", "--once", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strchr(S_last.out, '\r') == NULL && strchr(S_last.out, '\x1b') == NULL);
}

/* An error answer of status 403 with body, JSON. */
static char S_refusal[4096];
static const char *S_json_403(const char *body)
{
    pthread_mutex_lock(&S_server.lock);
    snprintf(S_refusal, sizeof S_refusal,
             "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(body), body);
    pthread_mutex_unlock(&S_server.lock);
    return S_refusal;
}

TEST(hints_never_ask_for_a_code_on_the_command_line)
{
    // What the client tells a user to type next is what they type: a hint that says
    // "--code CODE" or "--id-number NUMBER" puts the secret into `ps` and the shell's history
    // again. The hints name the forms that ask for it.
    S_run(S_json_200("{}"), "security", "freeze", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.out, "unfreeze") != NULL && strstr(S_last.out, "CODE") == NULL);
    S_stdin_text = "correct horse 9\n";
    S_run(S_json_403("{\"code\":\"SMS_CODE_REQUIRED\",\"message\":\"a new device\"}"), "login",
          "--phone", "13800138000", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_REFUSED);
    ASSERT(strstr(S_last.err, "--code CODE") == NULL && strstr(S_last.err, "--code -") != NULL);
    S_run(S_json_403("{\"code\":\"ACCOUNT_FROZEN\",\"message\":\"frozen\"}"), "balance", NULL);
    ASSERT(strstr(S_last.err, "CODE") == NULL);
    S_run(S_json_403("{\"code\":\"PASSWORD_LOCKED\",\"message\":\"locked\"}"), "balance", NULL);
    ASSERT(strstr(S_last.err, "--login-code CODE") == NULL);
    S_run(S_json_403("{\"code\":\"PAYMENT_PASSWORD_NOT_SET\",\"message\":\"none\"}"), "balance",
          NULL);
    ASSERT(strstr(S_last.err, "CODE") == NULL);
    S_run(S_json_200("{\"reasons\":[]}"), "close-account", NULL);
    ASSERT(strstr(S_last.out, "--code CODE") == NULL);
    S_run(S_json_200("{\"score\":10,\"items\":[{\"name\":\"payment_password_set\",\"ok\":false},"
                     "{\"name\":\"kyc_level_2\",\"ok\":false},{\"name\":\"not_frozen\","
                     "\"ok\":false}]}"),
          "security", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.out, "payment-password") != NULL);
    ASSERT(strstr(S_last.out, "CODE") == NULL && strstr(S_last.out, "NUMBER") == NULL);
}

/* Whether the odd server took no request since its line was emptied. */
static bool S_no_request(void)
{
    pthread_mutex_lock(&S_server.lock);
    bool none = S_server.line[0] == '\0';
    pthread_mutex_unlock(&S_server.lock);
    return none;
}

TEST(a_refusal_answered_again_under_its_key_says_so)
{
    // A refusal is kept under its Idempotency-Key and answered again as it was: the same key
    // with the right payment password is told "the payment password is wrong" once more. The
    // client says that this answer is the first request's, not a check of this one.
    S_stdin_text = "258036\n";
    pthread_mutex_lock(&S_server.lock);
    static const char body[] = "{\"code\":\"PASSWORD_WRONG\",\"message\":\"the payment "
                               "password is wrong; 4 tries left\"}";
    snprintf(S_refusal, sizeof S_refusal,
             "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %zu"
             "\r\nIdempotent-Replayed: true\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    pthread_mutex_unlock(&S_server.lock);
    S_run(S_refusal, "send", "13800138000", "1", "--idempotency-key", "k-test-2",
          "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_REFUSED);
    ASSERT(strstr(S_last.err, "this is that request's answer") != NULL);
    ASSERT(strstr(S_last.err, "locks") == NULL); /* no hint of the first request's */
    S_stdin_text = "258036\n";
    S_run(S_json_403(body), "send", "13800138000", "1", "--idempotency-key", "k-test-3",
          "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_REFUSED);
    ASSERT(strstr(S_last.err, "this is that request's answer") == NULL);
}

TEST(a_phone_that_is_none_is_refused_before_the_password)
{
    // A password typed at the phone's prompt by mistake, or a phone short of a digit, goes
    // nowhere: a usage error, before the password is asked for and before any request.
    pthread_mutex_lock(&S_server.lock);
    S_server.line[0] = '\0'; /* no request since */
    pthread_mutex_unlock(&S_server.lock);
    S_stdin_text = "correct horse 9\n";
    S_run(S_json_200("{}"), "login", "--phone", "1380013800", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "--phone must be a mobile number") != NULL);
    ASSERT(S_no_request());
    S_tty_open("my secret pass\n");
    S_run(S_json_200("{}"), "login", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "Password") == NULL);
    ASSERT(strstr(S_last.err, "the phone must be a mobile number") != NULL);
    S_run(S_json_200("{}"), "sms-code", "abc", "--purpose", "register", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    S_run(S_json_200("{}"), "sms-code", "12800138000", "--purpose", "register", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE); /* no mobile number starts 12 */
    S_run(S_json_200("{}"), "card", "add", "--holder", "张三", "--phone", "139", "--send-code",
          NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(S_no_request());
    // So is a lucky red packet whose shares cannot be a fen each, before its password.
    S_stdin_text = "258036\n";
    S_run(S_json_200("{}"), "redpacket", "send", "0.02", "3", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "at least 0.03") != NULL);
    ASSERT(S_no_request());
    // A number as people write it is sent as the server takes it: eleven digits.
    static const char *const written[] = {"+86 138-0013-8000", "8613800138000", "138 0013 8000",
                                          "0086 13800138000"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(written); i++) {
        S_run(S_json_200("{\"expires_in\":300}"), "sms-code", written[i], "--purpose", "register",
              NULL);
        ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
        pthread_mutex_lock(&S_server.lock);
        bool sent = strstr(S_server.body, "\"phone\":\"13800138000\"") != NULL;
        pthread_mutex_unlock(&S_server.lock);
        if (!sent)
            TEST_FAIL_("%s was not sent as 13800138000", written[i]);
    }
}

TEST(a_server_url_with_a_password_is_refused)
{
    // Qianbao's credentials are bearer tokens from the profile: a user name and password in
    // --server (http://ops:pw@host) serve nothing, sit in `ps` and the shell's history, and
    // were repeated in every message that names the server. Such a URL is a usage error that
    // does not repeat it.
    char url[128];
    snprintf(url, sizeof url, "http://ops:hunter2@%.64s", S_server.url + strlen("http://"));
    char *argv[] = {"qianbao", "--server", url, "balance", NULL};
    fflush(stderr);
    int saved_err = dup(STDERR_FILENO);
    char err_path[600];
    snprintf(err_path, sizeof err_path, "%s/err", S_root);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    QB_ASSERT(saved_err >= 0 && err >= 0);
    dup2(err, STDERR_FILENO);
    int rc = cli_main(4, argv);
    fflush(stderr);
    dup2(saved_err, STDERR_FILENO);
    close(err);
    close(saved_err);
    S_file_read(err_path, S_last.err, sizeof S_last.err);
    ASSERT_EQ_INT(rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "hunter2") == NULL);
    ASSERT(strstr(S_last.err, "--server") != NULL);
}

TEST(the_next_page_hint_quotes_the_servers_cursor)
{
    // "more rows: run `qianbao card list --cursor C`" is there to be pasted into a shell: a
    // cursor with a ; or a ' in it (a hostile or broken server's) ran as commands of its own.
    // The cursor is quoted for the shell like every other word of the hint.
    S_run(S_json_200("{\"items\":[],\"next_cursor\":\"c1; touch pwned\"}"), "card", "list", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "--cursor 'c1; touch pwned'`") != NULL);
    S_run(S_json_200("{\"items\":[],\"next_cursor\":\"a'; touch pwned; '\"}"), "card", "list",
          NULL);
    ASSERT(strstr(S_last.err, "--cursor 'a'\\''; touch pwned; '\\'''`") != NULL);
}

TEST(hints_quote_what_the_server_names)
{
    // The same for the other hints that name the server's words: bills' next cursor, and the
    // payout the balance says waits (`qianbao accept-payout ID`), whose currency also said how
    // much: a carriage return in it redrew the line.
    S_run(S_json_200("{\"items\":[],\"next_cursor\":\"c1; touch pwned\"}"), "bills", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "--cursor 'c1; touch pwned'") != NULL);
    S_run(S_json_200("{\"balances\":[{\"currency\":\"CNY\",\"available\":0,\"pending\":0}],"
                     "\"unread\":0,\"items\":[{\"id\":\"pt_1; touch pwned\",\"amount\":100,"
                     "\"currency\":\"CNY\\r\",\"merchant\":{\"name\":\"Shop\"}}],"
                     "\"next_cursor\":null}"),
          "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "accept-payout 'pt_1; touch pwned'`") != NULL);
    ASSERT(strchr(S_last.err, '\r') == NULL);
}

TEST(a_device_id_that_is_no_word_is_not_stored)
{
    // A payment-code device's id goes into the seed file's one line, words split by spaces,
    // and into what is printed: an id with a space (or a newline, a carriage return) from the
    // server wrote a file the next `paycode` cannot read, and redrew the terminal. Such an
    // answer stores nothing and is said to be the bad answer it is.
    S_stdin_text = "correct horse 9\n";
    S_run(S_json_200("{\"token\":\"t\",\"user_id\":\"u_0123456789abcdefghjkmnpqrs\","
                     "\"expires_at\":\"2026-12-01T00:00:00+08:00\"}"),
          "--profile", "device", "login", "--phone", "13800138000", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    S_stdin_text = "258036\n";
    S_run(S_json_200(
              "{\"id\":\"pd_1 \\r\\u001b[2Kok\",\"name\":\"n\",\"slot\":\"1234567\","
              "\"seed\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}"),
          "--profile", "device", "device", "add", "--password-stdin", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_UNAVAILABLE);
    ASSERT(strchr(S_last.err, '\r') == NULL && strchr(S_last.out, '\r') == NULL);
    char path[700];
    snprintf(path, sizeof path, "%s/config/qianbao/paycode/device", S_root);
    ASSERT(access(path, F_OK) != 0);
}

TEST(hints_name_the_profile_the_command_ran_under)
{
    // A command a hint tells the user to run runs under the profile this one did: `qianbao
    // notices` as told, without it, would read the default profile's wallet (or none).
    S_user_profile_save("demo-lina", "a-token-of-lina", "u_lina", "13800138001");
    /* One answer for both requests: the balances, then the unread count. */
    const char *both = S_json_200("{\"balances\":[],\"unread\":2}");
    S_run(both, "--profile", "demo-lina", "balance", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "`qianbao --profile demo-lina notices`") != NULL);
    S_run(both, "balance", NULL); /* QIANBAO_TOKEN's: no profile to name */
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(strstr(S_last.err, "`qianbao notices`") != NULL);
}

TEST(a_seed_file_others_can_read_is_not_used)
{
    // A payment-code seed makes codes that pay at a till. One others can read is refused as a
    // profile others can read is: PROFILE_UNSAFE, exit 4, with the chmod that makes it private;
    // a seed file that does not read as one says how to replace its device.
    S_user_profile_save("seedy", "a-token-of-seedy", "u_seedy", "13800138002");
    char dir[700], path[760];
    snprintf(dir, sizeof dir, "%s/config/qianbao/paycode", S_root);
    char parent[700];
    snprintf(parent, sizeof parent, "%s/config/qianbao", S_root);
    (void)mkdir(parent, 0700);
    (void)mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/seedy", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs("qianbao-paycode 1 pd_0123456789abcdefghjkmnpqrs 1234567 "
          "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0 -1\n",
          f);
    ASSERT_EQ_INT(fclose(f), 0);
    ASSERT_EQ_INT(chmod(path, 0644), 0);
    S_run(S_json_200("{}"), "--profile", "seedy", "paycode", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_NOT_LOGGED_IN);
    ASSERT(strstr(S_last.err, "chmod 600") != NULL);
    ASSERT(strstr(S_last.err, "revoke-device pd_0123456789abcdefghjkmnpqrs") != NULL);
    // Revoking its device removes it all the same, as the advice says; then `device add` may.
    S_run(S_json_200("{}"), "--profile", "seedy", "security", "revoke-device",
          "pd_0123456789abcdefghjkmnpqrs", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    ASSERT(access(path, F_OK) != 0);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs("qianbao-paycode 1 pd_0123456789abcdefghjkmnpqrs 1234567 "
          "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0 -1\n",
          f);
    ASSERT_EQ_INT(fclose(f), 0);
    ASSERT_EQ_INT(chmod(path, 0600), 0);
    S_run(S_json_200("{}"), "--profile", "seedy", "paycode", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_OK);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs("qianbao-paycode 1 pd_x 12 nothex 0 -1\n", f);
    ASSERT_EQ_INT(chmod(path, 0600), 0);
    ASSERT_EQ_INT(fclose(f), 0);
    S_run(S_json_200("{}"), "--profile", "seedy", "paycode", NULL);
    ASSERT_EQ_INT(S_last.rc, CLI_EXIT_USAGE);
    ASSERT(strstr(S_last.err, "remove it") != NULL);
    ASSERT_EQ_INT(unlink(path), 0);
}

int main(void)
{
    test_tmpdir(S_root, sizeof S_root);
    char config[600];
    snprintf(config, sizeof config, "%s/config", S_root);
    setenv("XDG_CONFIG_HOME", config, 1);
    setenv("QIANBAO_TOKEN", "a-user-token", 1);
    setenv("QIANBAO_ADMIN_TOKEN", "an-admin-token", 1);
    unsetenv("QIANBAO_SERVER");
    S_server_start();
    RUN(an_answer_that_is_not_json_is_no_success);
    RUN(an_id_of_dots_stays_in_the_path);
    RUN(a_phone_filter_is_sent_as_its_digits);
    RUN(a_refused_token_from_the_environment_is_named);
    RUN(an_error_page_still_answers_one_json_document);
    RUN(a_redirect_says_where_it_points);
    RUN(a_page_without_its_items_stops_reconcile_without_a_crash);
    RUN(a_merchant_answered_without_its_fee_rate_is_still_printed);
    RUN(a_session_answered_without_a_usable_token_is_no_login);
    RUN(a_payment_made_but_not_looked_at_again_is_shown);
    RUN(text_that_is_not_utf8_is_a_usage_error_of_merchant_commands);
    RUN(logout_ends_the_profiles_session_not_the_environments);
    RUN(closing_the_environments_wallet_keeps_the_profile);
    RUN(merchants_all_says_where_it_stopped);
    RUN(a_profile_others_can_read_is_not_used);
    RUN(notices_mark_read_that_fails_prints_one_json_document);
    RUN(a_device_is_not_added_under_the_environments_token);
    RUN(watch_stops_on_an_answer_without_a_cursor);
    RUN(a_money_answer_that_cannot_be_read_names_its_key);
    RUN(an_amount_that_is_not_whole_fen_is_a_bad_answer);
    RUN(a_refusal_answered_again_under_its_key_says_so);
    RUN(a_phone_that_is_none_is_refused_before_the_password);
    RUN(a_seed_file_others_can_read_is_not_used);
    RUN(hints_name_the_profile_the_command_ran_under);
    RUN(enter_at_pay_it_pays_nothing_and_says_so);
    RUN(admin_verify_waits_no_longer_than_its_timeout);
    RUN(secrets_are_read_without_the_command_line);
    RUN(a_secret_left_out_is_asked_on_the_terminal_without_echo);
    RUN(watch_survives_news_that_is_not_named);
    RUN(watch_asks_again_from_its_cursor_after_a_blip);
    RUN(a_currency_cannot_rewrite_the_amount_on_the_screen);
    RUN(hints_never_ask_for_a_code_on_the_command_line);
    RUN(a_server_url_with_a_password_is_refused);
    RUN(the_next_page_hint_quotes_the_servers_cursor);
    RUN(hints_quote_what_the_server_names);
    RUN(a_device_id_that_is_no_word_is_not_stored);
    S_server_stop();
    test_rmtree(S_root);
    return test_summary();
}
