/*
 * cli_int.h — what the files of src/cli/ share: the command table, the
 * run context, HTTP calls, profiles, output helpers.
 *
 *   cli.c       global options, dispatch, help, man page, bash completion
 *   table.c     the command table: every command, its options and help text
 *   http.c      one libcurl request and the mapping of answers to exit codes
 *   profile.c   stored credentials under $XDG_CONFIG_HOME/qianbao/
 *   output.c    tables, key-value lists, colours, errors, amounts
 *   prompt.c    secrets from a terminal without echo, or from stdin
 *   user.c      the wallet holder's commands
 *   money.c     cards, top-ups, withdrawals, transfers, limits
 *   bills.c     bills (list and CSV), monthly statements and notices
 *   redpacket.c red packets: send, grab, show, verify the split
 *   collection.c group collections (群收款): ask, list, show, pay, close
 *   admin.c     the operator's commands
 *   qr.c        receive codes, scanning and paying QR codes (docs/qr.md)
 *   scan.c      finding a QR code in a PNG or JPEG file (libzbar)
 *   paycode.c   payment codes: this computer as a device, offline codes
 *   merchant.c  the merchant's commands: onboarding, signed /v3 orders, bills
 *   demo.c      `qianbao demo`: a small world of users, payments and a merchant
 *
 * To add a command: 1) write its run function (user.c or admin.c, or a new
 * file) and declare it below; 2) add its row to S_commands in table.c, with
 * its options and help text; 3) regenerate the golden files, the man page
 * and the completion script (QB_GOLDEN_UPDATE=1 ctest -R cli/, docs/cli.md)
 * and add golden cases for its outputs and errors.
 */
#ifndef QB_CLI_CLI_INT_H
#define QB_CLI_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/phone.h"
#include "cli/cli.h"

#define CLI_OPTIONS_MAX 12
#define CLI_POSITIONALS_MAX 4
#define CLI_URL_SIZE_MAX 256
#define CLI_PROFILE_NAME_SIZE_MAX 65 /* 64 characters and a NUL */
#define CLI_TOKEN_SIZE_MAX 256       /* admin tokens are 1..255 printable characters */
#define CLI_SECRET_SIZE_MAX 130      /* login passwords are at most 128 bytes */
#define CLI_CODE_SIZE_MAX 64         /* an SMS code, an id or card number, and some room */
#define CLI_IDEMPOTENCY_KEY_SIZE_MAX 256 /* 255 characters and a NUL */
#define CLI_RESPONSE_SIZE_MAX (4 * 1024 * 1024)
#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"
#define CLI_DEFAULT_PROFILE "default"
#define CLI_ADMIN_PROFILE "admin"

struct cli;
struct cli_args;
struct cli_profile;

/* One option of a command: --name, with a value when value_name is set. */
struct cli_option {
    const char *name;       /* "phone" for --phone; NULL ends a list */
    const char *value_name; /* "PHONE", or NULL for a flag */
    bool required;
    const char *choices; /* space-separated values for completion, or NULL */
    const char *help;
};

/* One row of the command table. A group ("admin") has no run function: it
 * lists its subcommands. */
struct cli_command {
    const char *name; /* "security sessions": the words typed, space-separated */
    const char *args; /* positional arguments for the synopsis: "ID N", "" */
    unsigned positional_min;
    unsigned positional_max;
    const char *summary;     /* one line, lower-case, no full stop */
    const char *description; /* paragraphs separated by blank lines; may be NULL */
    struct cli_option options[CLI_OPTIONS_MAX];
    int (*run)(struct cli *cli, const struct cli_args *args);
};

/* The command line after parsing against a command's options. */
struct cli_args {
    const char *values[CLI_OPTIONS_MAX]; /* per option; flags set to "" */
    const char *positionals[CLI_POSITIONALS_MAX];
    size_t positional_count;
};

struct cli {
    char server[CLI_URL_SIZE_MAX]; /* no trailing slash */
    bool server_explicit;          /* --server was given (not $QIANBAO_SERVER) */
    char profile[CLI_PROFILE_NAME_SIZE_MAX];
    bool profile_explicit; /* --profile was given */
    /* logout: a profile others can read is used once more, to end its
     * session (and revoke its payment-code device), never for more. */
    bool ending;
    bool json;
    bool color_out; /* stdout is a terminal and NO_COLOR is unset */
    bool color_err;
    bool quiet; /* cli_fail and cli_hint print nothing (version probes the server) */
    bool verbose; /* --verbose: each request and its Idempotency-Key on stderr */
    const struct cli_command *command;
    const struct cli_args *args; /* the running command's, for hints that repeat it */
};

/* --- table.c ------------------------------------------------------------- */

const struct cli_command *cli_commands(size_t *count);
/* The command named exactly name ("admin users"), or NULL. */
const struct cli_command *cli_command_find(const char *name);
/* The value of option --name of the running command: NULL when not given,
 * "" for a flag that was given. */
const char *cli_arg(const struct cli *cli, const struct cli_args *args, const char *name);

/* --- output.c ------------------------------------------------------------ */

/* Prints "qianbao: <message>" to stderr and, with --json, an error object
 * {"code": code, "message": message} on stdout, so scripts always read one
 * JSON document. Answers exit_code. */
int cli_fail(struct cli *cli, int exit_code, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error body on stdout, as the server's: {"code", "message"} and, for a
 * refusal by a limit, "limit" (NULL: none). */
void cli_error_json_print(const char *code, const char *message, const char *limit);
/* A usage error of the running command: the message, then where to read
 * more. Answers CLI_EXIT_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage error for a phone given as what (an option or argument's
 * name) that phone_normalize (base/phone.h: the server's own reading) does
 * not take: refused before a request, and before a password is asked for. */
int cli_phone_refuse(struct cli *cli, const char *what);
/* "hint: ..." on stderr (never with --json on stdout). */
/* A hint on standard error. A command it gives (`qianbao notices`) runs
 * under the profile this one did, and says so (`qianbao --profile NAME
 * notices`), unless it names its profile already or is someone else's to
 * run: CLI_OTHERS right after its opening backtick (friends grab with
 * "`" CLI_OTHERS "qianbao redpacket grab ID`"), which is not printed. */
void cli_hint(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CLI_OTHERS "\x1f"
/* Sleeps ms milliseconds, through signals that interrupt it. */
void cli_sleep_ms(long ms);

/* Text from the server made safe for a terminal: control characters become
 * '?', so a display name cannot move the cursor or change colours. */
void cli_text_clean(const char *text, char *out, size_t out_size);

/* word (the server's or the user's) as one word of a POSIX shell, for a
 * hint's command to paste, into out of at least CLI_SHELL_WORD_SIZE_MAX:
 * cleaned as cli_text_clean does (and cut past 254 bytes), as it is when
 * plain ([A-Za-z0-9_-.:/+=@,]), else single-quoted with a quote inside as
 * '\''. A cursor with "; rm" in it stays an argument. */
#define CLI_SHELL_WORD_SIZE_MAX 1024
void cli_shell_word(const char *word, char *out, size_t out_size);

enum cli_color { CLI_COLOR_NONE, CLI_COLOR_BOLD, CLI_COLOR_GREEN, CLI_COLOR_RED, CLI_COLOR_DIM };
/* Prints text to stdout, coloured when stdout takes colours. */
void cli_print_colored(const struct cli *cli, enum cli_color color, const char *text);

/* Aligned "label  value" lines. */
void cli_print_field(const struct cli *cli, const char *label, const char *value);
/* One column of a "balances" array (a user's, a merchant's): member
 * ("available" or "pending") of each currency, joined, "12.50 CNY". */
void cli_balances_text(const json_t *balances, const char *member, char *out, size_t out_size);
/* Its "available" and "pending" lines, as cli_print_field's. */
void cli_print_balances(const struct cli *cli, const json_t *balances);

#define CLI_TABLE_COLUMNS_MAX 8
#define CLI_TABLE_ROWS_MAX 100000 /* bills --all: 1,000 pages of 100 */
#define CLI_TABLE_CELL_SIZE_MAX 160
struct cli_table {
    size_t column_count;
    size_t row_count;
    size_t row_capacity;
    const char *headers[CLI_TABLE_COLUMNS_MAX];
    char *cells; /* row_count x column_count cells of CLI_TABLE_CELL_SIZE_MAX */
};
void cli_table_init(struct cli_table *table, const char *const *headers, size_t column_count);
/* Adds a row of column_count strings (cleaned), growing the table; rows
 * past CLI_TABLE_ROWS_MAX are dropped (bills --all stops before). */
void cli_table_add(struct cli_table *table, const char *const *cells);
/* Prints the table aligned, headers first; "(none)" when it is empty. */
void cli_table_print(const struct cli *cli, const struct cli_table *table);
void cli_table_release(struct cli_table *table);

/* The string member name of object, or "" when it is absent or not a string. */
const char *cli_json_str(const json_t *object, const char *name);
/* Whether an item of GET /admin/sms-outbox is a notice, which has no code
 * (its purpose begins "notice_"). */
bool cli_sms_is_notice(const json_t *item);

/* --- http.c -------------------------------------------------------------- */

enum cli_auth { CLI_AUTH_NONE, CLI_AUTH_USER, CLI_AUTH_ADMIN };

struct cli_response {
    long status;
    struct buf body;
    json_t *json; /* the body parsed, or NULL */
    char request_id[80];
    char retry_after[32];
    bool www_authenticate; /* the answer carried WWW-Authenticate */
    bool replayed;         /* Idempotent-Replayed: true: the stored answer of an earlier try */
    char next_cursor[128]; /* X-Next-Cursor (CSV pages), or "" */
    char content_type[128]; /* Content-Type, or "" */
    char location[256];     /* Location (a redirect, never followed), or "" */
    /* The platform's signature of a /v3 answer (merchant calls). */
    char wechatpay_timestamp[24];
    char wechatpay_nonce[80];
    char wechatpay_serial[64];
    char wechatpay_signature[700];
};

void cli_response_release(struct cli_response *res);

/* Whether the credential of auth comes from the environment
 * (QIANBAO_TOKEN, QIANBAO_ADMIN_TOKEN) rather than a profile. */
bool cli_token_from_env(const struct cli *cli, enum cli_auth auth);

/* Sends method path (with its query) to the server, with the credential
 * auth asks for (read from the profile) and body (may be NULL; not
 * consumed). Answers CLI_EXIT_OK when the answer is a 2xx whose body is
 * empty, a JSON object (res->json) or a file (CSV, PNG, gzip: res->body),
 * with res filled; otherwise prints what went wrong and what to do (the
 * server's error code included; with --json the server's error body on
 * stdout) and answers the exit code: REFUSED for a 4xx, NOT_LOGGED_IN for a
 * missing or ended credential, UNAVAILABLE for no answer, a 5xx or a 2xx
 * that is none of those (BAD_ANSWER). Always release res. */
int cli_call(struct cli *cli, const char *method, const char *path, enum cli_auth auth,
             const json_t *body, struct cli_response *res);
/* The same with a token given by the caller instead of the profile's
 * (login checks an admin token before storing it). */
int cli_call_token(struct cli *cli, const char *method, const char *path, enum cli_auth auth,
                   const char *token, const json_t *body, struct cli_response *res);

/* A money-moving POST with user authentication and "Idempotency-Key:
 * idempotency_key". When no answer comes, it is sent once more with the
 * same key (the server answers a request it already applied with the same
 * payment, never a second one). Otherwise as cli_call. */
int cli_call_idem(struct cli *cli, const char *path, const char *idempotency_key,
                  const json_t *body, struct cli_response *res);

/* cli_call_idem with the user token given by the caller (the demo acts as
 * several users in one run). */
int cli_call_token_idem(struct cli *cli, const char *path, const char *token,
                        const char *idempotency_key, const json_t *body, struct cli_response *res);
/* A /v3 call as a WeChat Pay merchant makes it, with the merchant profile
 * (--profile, else "merchant"): the body (may be NULL) is sent as compact
 * JSON, and "Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,
 * timestamp=…,serial_no=…,signature=…" signs METHOD, PATH (with its
 * query), the time, a fresh nonce and that body with the profile's private
 * key. Every answer, refusals included, must carry the platform's
 * signature (Wechatpay-Serial the profile's platform serial, the time
 * within five minutes, the signature over "TIMESTAMP\nNONCE\nBODY\n" by
 * the profile's platform key), else exit UNAVAILABLE with
 * SIGNATURE_INVALID. Otherwise as cli_call. No retry: an order's
 * out_trade_no is its idempotency key, and the caller may run it again. */
/* text sealed for the platform as a WeChat SDK seals a sensitive field (a
 * payee's user_name): RSA-OAEP (SHA-1) under the profile's platform public
 * key, in base64, into out. False when the key or the size does not allow
 * it. A merchant call names that key in Wechatpay-Serial. */
bool cli_merchant_seal(const struct cli_profile *profile, const char *text, char *out,
                       size_t out_size);
int cli_call_merchant(struct cli *cli, const char *method, const char *path, const json_t *body,
                      struct cli_response *res);
/* A money-moving /v3 POST whose key is the merchant's own number (a
 * refund's out_refund_no, a transfer's out_bill_no), given on the command
 * line as key_option key: as cli_call_merchant, and when no answer comes
 * (it may have been applied) the message names key_option key to run the
 * command again with, which answers the first request instead of moving
 * the money twice. */
int cli_call_merchant_keyed(struct cli *cli, const char *path, const json_t *body,
                            const char *key_option, const char *key, struct cli_response *res);
/* The same for a trade bill's download, whose caller checks the body
 * against the SHA-1 of a signed answer: a 200 answer that carries no
 * signature at all is accepted too (the server streams large bills
 * unsigned, as WeChat Pay serves downloads); a signature present must
 * verify, and every other answer must be signed. */
int cli_call_merchant_download(struct cli *cli, const char *path, struct cli_response *res);
/* The merchant profile a merchant command uses, loaded into profile;
 * answers an exit code (NOT_LOGGED_IN when there is none for this server). */
int cli_merchant_profile(struct cli *cli, struct cli_profile *profile);

/* Prints the body of a successful answer as it came, for --json; a 204's
 * empty body as {}. */
void cli_print_body(const struct cli_response *res);

/* Now, in Unix milliseconds: the time merchant signatures carry and
 * answers are checked against, the payment code's step and the day the
 * demo names. Test builds only:
 * QIANBAO_TEST_CLOCK_OFFSET_MS=N, as qianbaod reads it (|N| at most 400
 * days), moves it N ms ahead, so that a test can run the CLI and a daemon
 * on one clock that is not the machine's. Elsewhere, the system clock. */
int64_t cli_now_ms(void);

/* Appends "?name=value" or "&name=value" (value URL-escaped) to path. */
bool cli_query_add(char *path, size_t path_size, const char *name, const char *value);
/* url as --verbose shows it, into out: the values of query parameters that
 * carry a credential (token, access_token, key, signature, sign, password;
 * any case) and a user name and password before the host replaced by
 * "[redacted]". Cut short when out is too small, never inside a secret. */
void cli_url_redact(const char *url, char *out, size_t out_size);
/* Escapes one path segment (an id typed by the user) into out; "." and
 * ".." escaped whole, so that the URL keeps them. False when empty or too
 * long for out. */
bool cli_path_escape(const char *segment, char *out, size_t out_size);

/* --- profile.c ----------------------------------------------------------- */

enum cli_profile_kind { CLI_PROFILE_USER, CLI_PROFILE_ADMIN, CLI_PROFILE_MERCHANT };

#define CLI_MERCHANT_PROFILE "merchant"
#define CLI_KEY_B64_SIZE_MAX 4096 /* base64 DER of an RSA-4096 PKCS#8 key: about 3,200 */

/* A merchant profile (kind=merchant) keeps what onboarding answered and a
 * WeChat Pay merchant configures its SDK with: no token; the private key
 * and the platform public key as the base64 body of their PEM (one line). */
struct cli_profile {
    enum cli_profile_kind kind;
    char server[CLI_URL_SIZE_MAX];
    char token[CLI_TOKEN_SIZE_MAX];
    char user_id[64];
    char phone[32];
    char expires_at[40];
    char device_key[CLI_TOKEN_SIZE_MAX]; /* user: this computer's key on the account ("" none) */
    char mchid[16];
    char appid[32];
    char serial_no[48];
    char apiv3_key[40];
    char platform_serial_no[48];
    char private_key[CLI_KEY_B64_SIZE_MAX];
    char platform_public_key[CLI_KEY_B64_SIZE_MAX];
    bool readable_by_others; /* the file's mode lets its group or others read it */
};

/* True when name is a valid profile name: 1..64 of [A-Za-z0-9._-], not
 * starting with '.'. */
bool cli_profile_name_valid(const char *name);
/* The profile's file path: $XDG_CONFIG_HOME/qianbao/NAME (fallback
 * $HOME/.config/qianbao/NAME). False when neither variable is set. */
bool cli_profile_path(const char *name, char *path, size_t path_size);
/* Reads the profile; QB_E_NOT_FOUND when there is no such file,
 * QB_E_PARAM when it is malformed. A file others may read is read all the
 * same (logout must still end its session), readable_by_others set: the
 * callers that would send its secrets refuse it (cli_profile_unsafe). */
QB_MUST_USE enum qb_error cli_profile_load(const char *name, struct cli_profile *profile);
/* Writes the profile atomically (a temporary file, fsync, rename, fsync of
 * the directory), the file 0600 in a 0700 directory. */
QB_MUST_USE enum qb_error cli_profile_save(const char *name, const struct cli_profile *profile);
/* The device key this computer holds for phone's account on server: the
 * one of the profile `name` when it is that account's, else of any other
 * user profile of it (one computer, one device); false when none has one. */
bool cli_device_key_find(const char *name, const char *server, const char *phone, char *key,
                         size_t key_size);
/* When profile (read as name) is readable by others: says so, with the
 * chmod that makes it private, and answers NOT_LOGGED_IN; else OK. */
int cli_profile_unsafe(struct cli *cli, const char *name, const struct cli_profile *profile);
/* Removes the profile; QB_OK when it did not exist. */
QB_MUST_USE enum qb_error cli_profile_remove(const char *name);

/* --- prompt.c ------------------------------------------------------------ */

/* Reads a secret: one line of stdin when from_stdin, else from the terminal
 * on stdin with echo off, prompting on stderr (twice with confirm_prompt,
 * which must match). Answers an exit code: USAGE when there is no terminal
 * and no --password-stdin, or the two entries differ, or it is empty. */
int cli_secret_read(struct cli *cli, bool from_stdin, const char *prompt,
                    const char *confirm_prompt, char *out, size_t out_size);
/* The value of the secret option --name (an SMS code, an id or card
 * number) into out: the argument when one is given, which scripts may do
 * although other local users see it in the process list; left out or "-",
 * read from the terminal without echo after prompt, or as one line of
 * standard input when that is no terminal. Answers an exit code: USAGE
 * when nothing came or it does not fit. Callers read these before the
 * password, so that piped lines come in the order docs/cli.md gives. */
int cli_secret_arg(struct cli *cli, const struct cli_args *args, const char *name,
                   const char *prompt, char *out, size_t out_size);
/* Reads one visible line from the terminal (a phone number). */
int cli_line_read(struct cli *cli, const char *prompt, char *out, size_t out_size);
/* Asks a yes-or-no question whose default is no ("Pay it? [y/N] ") on the
 * terminal: true only for y or yes (any case); Enter, the end of input and
 * anything else answer no. */
bool cli_yes_read(const char *prompt);
/* Overwrites a secret before its memory is reused. */
void cli_secret_wipe(char *secret, size_t size);

/* --- money.c: what the paying commands share ------------------------------- */

/* AMOUNT typed by the user (yuan, at most two decimals) into fen; a usage
 * error saying what a valid amount is otherwise. */
int cli_money_amount_arg(struct cli *cli, const char *text, int64_t *amount);
/* COUNT typed by the user: a whole number 1..max without leading zeros (a
 * red packet's shares, a collection's payers) into *count; a usage error
 * "COUNT must be <what>, 1 to max" otherwise. */
int cli_money_count_arg(struct cli *cli, const char *text, int max, const char *what, int *count);
/* "12.50 CNY" */
void cli_money_amount_text(json_int_t amount, const char *currency, char *out, size_t out_size);
/* The --idempotency-key given (checked), or a fresh one. */
int cli_money_key_arg(struct cli *cli, const struct cli_args *args, char *key, size_t key_size);
/* A payment as GET /v1/me/payments/{id} answers it (a top-up or a
 * withdrawal), or as GET /admin/payments/{id} does (any payment, with who
 * made it, the bank's reference and the next time the bank is asked). */
void cli_payment_print(const struct cli *cli, const json_t *payment);
/* A money-moving POST (cli_call_idem) of body, which it takes, under key;
 * the answer printed: the server's body with --json, else by print; a
 * replayed answer noted either way. */
int cli_money_post(struct cli *cli, const char *path, const char *key, json_t *body,
                   void (*print)(const struct cli *cli, const json_t *answer));
/* A transfer (or its return) as POST /v1/transfers answers it, field by field. */
void cli_transfer_print(const struct cli *cli, const json_t *t);
/* An order payment as POST /v1/me/order-payments answers it, field by field. */
void cli_order_payment_print(const struct cli *cli, const json_t *p);
/* The payment password: six digits from the terminal or --password-stdin. */
int cli_money_payment_password(struct cli *cli, const struct cli_args *args, char *out,
                               size_t out_size);
/* A hint when the answer is the stored one of an earlier try (nothing moved again). */
void cli_money_replayed_note(struct cli *cli, const struct cli_response *res);
/* base + "/" + id escaped as a path segment; a usage error when too long. */
int cli_id_path(struct cli *cli, const char *base, const char *id, char *path, size_t path_size);

/* --- the commands (user.c, admin.c, cli.c) -------------------------------- */

int cli_run_help(struct cli *cli, const struct cli_args *args);
int cli_run_version(struct cli *cli, const struct cli_args *args);
int cli_run_completion(struct cli *cli, const struct cli_args *args);
int cli_run_man(struct cli *cli, const struct cli_args *args);
int cli_run_sms_code(struct cli *cli, const struct cli_args *args);
int cli_run_register(struct cli *cli, const struct cli_args *args);
int cli_run_login(struct cli *cli, const struct cli_args *args);
int cli_run_logout(struct cli *cli, const struct cli_args *args);
int cli_run_me(struct cli *cli, const struct cli_args *args);
int cli_run_balance(struct cli *cli, const struct cli_args *args);
int cli_run_security(struct cli *cli, const struct cli_args *args);
int cli_run_security_sessions(struct cli *cli, const struct cli_args *args);
int cli_run_security_events(struct cli *cli, const struct cli_args *args);
int cli_run_security_revoke(struct cli *cli, const struct cli_args *args);
int cli_run_security_freeze(struct cli *cli, const struct cli_args *args);
int cli_run_security_unfreeze(struct cli *cli, const struct cli_args *args);
int cli_run_kyc(struct cli *cli, const struct cli_args *args);
int cli_run_payment_password_set(struct cli *cli, const struct cli_args *args);
int cli_run_password_set(struct cli *cli, const struct cli_args *args);
int cli_run_phone_change(struct cli *cli, const struct cli_args *args);
int cli_run_name_change(struct cli *cli, const struct cli_args *args);
int cli_run_close_account(struct cli *cli, const struct cli_args *args);
int cli_run_card_add(struct cli *cli, const struct cli_args *args);
int cli_run_card_list(struct cli *cli, const struct cli_args *args);
int cli_run_payees(struct cli *cli, const struct cli_args *args);
int cli_run_card_remove(struct cli *cli, const struct cli_args *args);
int cli_run_topup(struct cli *cli, const struct cli_args *args);
int cli_run_withdraw(struct cli *cli, const struct cli_args *args);
int cli_run_payment_show(struct cli *cli, const struct cli_args *args);
int cli_run_send(struct cli *cli, const struct cli_args *args);
int cli_run_send_back(struct cli *cli, const struct cli_args *args);
int cli_run_cancel_transfer(struct cli *cli, const struct cli_args *args);
int cli_run_payouts(struct cli *cli, const struct cli_args *args);
/* A transfer bill (商家转账: created, cancelled, queried, or an operator's
 * stop), human or --json (merchant.c). */
void cli_transfer_bill_print(struct cli *cli, const struct cli_response *res);
int cli_run_transfer_bill(struct cli *cli, const struct cli_args *args);
int cli_run_admin_payout_cancel(struct cli *cli, const struct cli_args *args);
int cli_run_transfer_bill_show(struct cli *cli, const struct cli_args *args);
int cli_run_transfer_bill_cancel(struct cli *cli, const struct cli_args *args);
int cli_run_accept_payout(struct cli *cli, const struct cli_args *args);
int cli_run_limits(struct cli *cli, const struct cli_args *args);
int cli_run_limits_set(struct cli *cli, const struct cli_args *args);
int cli_run_bills(struct cli *cli, const struct cli_args *args);
int cli_run_notices(struct cli *cli, const struct cli_args *args);
int cli_run_watch(struct cli *cli, const struct cli_args *args);
/* Waits for news at route (a changes route: GET /v1/me/changes, a
 * merchant's /v1/merchants/me/changes, with a query of its own or none)
 * again and again: print for each answer with news (its body with --json),
 * until the first with --once. Options read: wait, once, since. Answers an
 * exit code. */
int cli_watch(struct cli *cli, const struct cli_args *args, const char *route,
              void (*print)(struct cli *cli, const json_t *answer));
int cli_run_admin_verify(struct cli *cli, const struct cli_args *args);
int cli_run_admin_security_events(struct cli *cli, const struct cli_args *args);
int cli_run_admin_notices(struct cli *cli, const struct cli_args *args);
int cli_run_admin_user(struct cli *cli, const struct cli_args *args);
int cli_run_admin_bills(struct cli *cli, const struct cli_args *args);
/* A user id argument of an admin command (admin.c): "u_..." escaped into
 * out, or a mobile number, the id of the user who has it (asked of the
 * server; NOT_FOUND, exit 1, when nobody does); a usage error for anything
 * else. */
int cli_user_id_arg(struct cli *cli, const char *arg, char *out, size_t out_size);
int cli_run_admin_payments(struct cli *cli, const struct cli_args *args);
int cli_run_admin_reconcile(struct cli *cli, const struct cli_args *args);
/* Splits one line of CSV (its line end gone) into at most max fields, in
 * place: a field may be quoted, with "" for a quote inside and commas kept.
 * False when a quote is left open, text follows a closing quote, or there
 * are more than max (reconcile.c). */
bool cli_csv_fields(char *line, char **fields, size_t max, size_t *count);
/* Whether text is a day of the calendar as YYYY-MM-DD, from 1970 on, as the
 * server's days (2026-02-30 is not). */
bool cli_date_is_valid(const char *text);
/* A day as the server takes it into out: YYYY-MM-DD as given (its shape
 * checked), or today or yesterday in UTC+8; answers an exit code. */
int cli_day_arg(struct cli *cli, const char *text, char out[16]);
int cli_run_admin_payment(struct cli *cli, const struct cli_args *args);
int cli_run_admin_payment_query(struct cli *cli, const struct cli_args *args);
int cli_run_admin_transfer_cancel(struct cli *cli, const struct cli_args *args);
int cli_run_collect(struct cli *cli, const struct cli_args *args);
int cli_run_collections(struct cli *cli, const struct cli_args *args);
int cli_run_collection_show(struct cli *cli, const struct cli_args *args);
int cli_run_collection_pay(struct cli *cli, const struct cli_args *args);
int cli_run_collection_close(struct cli *cli, const struct cli_args *args);
int cli_run_redpacket_send(struct cli *cli, const struct cli_args *args);
int cli_run_redpacket_grab(struct cli *cli, const struct cli_args *args);
int cli_run_redpacket_show(struct cli *cli, const struct cli_args *args);
int cli_run_redpacket_verify(struct cli *cli, const struct cli_args *args);
/* Prints a red packet as GET /v1/red-packets/{id} answers it (redpacket.c),
 * field by field and its claims as a table; for an operator (GET
 * /admin/red-packets/{id}) with the sender's and each claimer's user id and
 * when a refund is due. */
void cli_redpacket_print(struct cli *cli, const json_t *packet, bool for_operator);
int cli_run_admin_red_packet(struct cli *cli, const struct cli_args *args);
int cli_run_admin_collection(struct cli *cli, const struct cli_args *args);
int cli_run_statement(struct cli *cli, const struct cli_args *args);
/* Draws text as a QR symbol on the terminal (qr.c); nothing when it
 * cannot be drawn. Call only when stdout is a terminal. */
void cli_qr_draw(const char *text);
int cli_run_receive(struct cli *cli, const struct cli_args *args);
int cli_run_collection_code(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_till_code(struct cli *cli, const struct cli_args *args);
int cli_run_scan(struct cli *cli, const struct cli_args *args);
int cli_run_pay(struct cli *cli, const struct cli_args *args);
int cli_run_device_add(struct cli *cli, const struct cli_args *args);
int cli_run_paycode(struct cli *cli, const struct cli_args *args);
/* At logout: revokes the current profile's payment-code device on the
 * server (while its session still works) and removes its seed file, so
 * that a shared computer keeps nothing that pays; *revoked says whether
 * the server took the revocation. CLI_EXIT_OK when the profile has no
 * device; else as cli_call, nothing changed. */
int cli_paycode_forget(struct cli *cli, bool *revoked);
/* Removes profile name's seed file, if any, without asking the server: the
 * profile now holds another user (cli_profile_save), whose codes it must
 * not show. False when it cannot be removed. */
bool cli_paycode_seed_drop(const char *name);
int cli_run_paycode_pending(struct cli *cli, const struct cli_args *args);
int cli_run_paycode_confirm(struct cli *cli, const struct cli_args *args);
int cli_run_paycode_limits(struct cli *cli, const struct cli_args *args);
int cli_run_security_devices(struct cli *cli, const struct cli_args *args);
int cli_run_security_revoke_device(struct cli *cli, const struct cli_args *args);
int cli_run_admin_users(struct cli *cli, const struct cli_args *args);
int cli_run_admin_freeze(struct cli *cli, const struct cli_args *args);
int cli_run_admin_unfreeze(struct cli *cli, const struct cli_args *args);
int cli_run_admin_user_close(struct cli *cli, const struct cli_args *args);
int cli_run_admin_user_unlock(struct cli *cli, const struct cli_args *args);
int cli_run_admin_kyc_level(struct cli *cli, const struct cli_args *args);
int cli_run_admin_sms_outbox(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchants(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchant(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchant_suspend(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchant_resume(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchant_apiv3_key(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchant_certificate(struct cli *cli, const struct cli_args *args);
int cli_run_admin_merchant_payouts(struct cli *cli, const struct cli_args *args);
int cli_run_admin_operators(struct cli *cli, const struct cli_args *args);
int cli_run_admin_audit(struct cli *cli, const struct cli_args *args);
int cli_run_admin_operator_add(struct cli *cli, const struct cli_args *args);
int cli_run_admin_operator_token(struct cli *cli, const struct cli_args *args);
int cli_run_admin_operator_revoke(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_create(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_order_native(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_order_jsapi(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_order_h5(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_bill(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_balance(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_analytics(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_payments(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_watch(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_refund(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_close(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_show(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_withdraw(struct cli *cli, const struct cli_args *args); /* money.c */
/* A merchant as GET /admin/merchants/{mchid} or the owner's GET
 * /v1/merchants/me answers it: its status, apps, balance, certificate. */
void cli_merchant_print(struct cli *cli, const json_t *m);
int cli_run_merchant_apiv3_key_reset(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_certificate_replace(struct cli *cli, const struct cli_args *args);
int cli_run_order_show(struct cli *cli, const struct cli_args *args);
int cli_run_order_close(struct cli *cli, const struct cli_args *args);
int cli_run_order_reverse(struct cli *cli, const struct cli_args *args);
int cli_run_refund(struct cli *cli, const struct cli_args *args);
int cli_run_refund_show(struct cli *cli, const struct cli_args *args);
int cli_run_merchant_notifications(struct cli *cli, const struct cli_args *args); /* merchant.c */
int cli_run_merchant_notification_resend(struct cli *cli, const struct cli_args *args);
int cli_run_demo(struct cli *cli, const struct cli_args *args);                   /* demo.c */

/* The base64 body of a PEM (its lines between BEGIN and END, joined) into
 * out; false when pem is no PEM or out is too small (merchant.c). */
bool cli_pem_body(const char *pem, char *out, size_t out_size);

/* Pays payload, which POST /v1/qr/resolve answered as resolved (money.c):
 * a transfer for a receive code, an order payment for a till code or a
 * code_url; the amount is the code's, or --amount for an open code (a
 * different --amount is a usage error). Options read: amount, memo,
 * password-stdin, idempotency-key. Prints the payment; answers an exit
 * code. */
int cli_qr_pay(struct cli *cli, const struct cli_args *args, const char *payload,
               const json_t *resolved);
/* The text of the first QR code in the PNG or JPEG file at path, into out
 * (scan.c); NULL on success, else what went wrong, for a message. */
const char *cli_image_qr_read(const char *path, char *out, size_t out_size);

/* Parses --limit (1..100) when given; answers an exit code. */
int cli_limit_arg(struct cli *cli, const struct cli_args *args, char *out, size_t out_size);
/* Parses --limit as 1..max when given into out ("" when absent). */
int cli_limit_arg_max(struct cli *cli, const struct cli_args *args, long max, char *out,
                      size_t out_size);
/* path plus ?limit= and ?cursor= from the options; answers an exit code. */
int cli_page_path(struct cli *cli, const struct cli_args *args, char *path, size_t path_size);
/* "hint: more rows: run `qianbao COMMAND ARGS --cursor C`" when page has a
 * next_cursor (not with --json): the command as given, --server and
 * --profile when they were, its arguments and options (filters, --limit)
 * included, with the next cursor. */
void cli_next_page_hint(struct cli *cli, const json_t *page);
/* GETs path (a page of security events: /v1/me/security-events or an
 * operator's /admin/users/{id}/security-events) and prints it (user.c). */
int cli_security_events_show(struct cli *cli, const char *path, enum cli_auth auth);
/* GETs a page of a list at path and prints it: the body with --json; else
 * a table of the headers with one row per item, added by row, and the
 * next-page hint; `empty` (may be NULL) instead of a table without items. */
int cli_page_show(struct cli *cli, const char *path, enum cli_auth auth, const char *const *headers,
                  size_t column_count, void (*row)(struct cli_table *table, const json_t *item),
                  const char *empty);
/* The same for a page already read into res. */
void cli_page_print(struct cli *cli, const struct cli_response *res, const char *const *headers,
                    size_t column_count, void (*row)(struct cli_table *table, const json_t *item),
                    const char *empty);
/* Prints a JSON value built by the CLI on stdout and releases it. */
void cli_print_json(json_t *value);

#endif
