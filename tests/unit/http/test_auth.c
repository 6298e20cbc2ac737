/*
 * test_auth.c — the server's HTTP_AUTH_USER check, against a real ledger and
 * real identity commands.
 *
 * The auth checklist in server.h asks for a good and a bad credential per
 * kind: a live session token must reach the handler with its session, every
 * other token (none, malformed, unknown, revoked) must be 401 before the
 * handler runs, and a user token on an admin route must be 403 while the
 * admin token still passes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/rand.h"
#include "domain/domain.h"
#include "http/server.h"
#include "identity/identity.h"
#include "ledger/ledger.h"
#include "sms/sms.h"
#include "store/pool.h"
#include "test.h"

#define S_ADMIN_TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define S_PHONE "13800138000"

static struct store *S_writer;
static struct store_pool *S_pool;
static struct ledger *S_ledger;
static struct domain_env S_env;
static struct http_server *S_server;
static char S_token[IDENTITY_TOKEN_TEXT_SIZE];
static char S_session_id[ID_TEXT_SIZE_MAX];
static char S_user_id[ID_TEXT_SIZE_MAX];
static char S_response[8192];

static void S_handle_whoami(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    if (session == NULL || http_request_env(req) != &S_env) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    json_t *body = json_pack("{s:s}", "user_id", session->user_id);
    http_reply_json(req, 200, body);
    json_decref(body);
}

static void S_handle_admin(struct http_request *req)
{
    if (http_request_session(req) != NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    http_reply_raw(req, 204, NULL, NULL, 0);
}

static const struct http_route S_routes[] = {
    {"GET", "/t/whoami", S_handle_whoami, HTTP_AUTH_USER, NULL},
    {"GET", "/t/admin", S_handle_admin, HTTP_AUTH_ADMIN, NULL},
};

/* GET path with an optional Authorization value; answers the status and
 * leaves the whole response in S_response. */
static int S_get(const char *path, const char *authorization)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(http_server_port(S_server));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return -1;
    char request[512];
    int size = snprintf(
        request, sizeof request, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s\r\n",
        path, authorization != NULL ? "Authorization: " : "",
        authorization != NULL ? authorization : "", authorization != NULL ? "\r\n" : "");
    if (write(fd, request, (size_t)size) != size) {
        close(fd);
        return -1;
    }
    size_t used = 0;
    ssize_t n;
    while (used < sizeof S_response - 1 &&
           (n = read(fd, S_response + used, sizeof S_response - 1 - used)) > 0)
        used += (size_t)n;
    S_response[used] = '\0';
    close(fd);
    int status = -1;
    if (sscanf(S_response, "HTTP/1.1 %d", &status) != 1)
        return -1;
    return status;
}

static int S_get_bearer(const char *path, const char *token)
{
    char value[256];
    snprintf(value, sizeof value, "Bearer %s", token);
    return S_get(path, value);
}

/* A user and a session through the real commands: code, register, login. */
static bool S_user_setup(void)
{
    struct sms_send_cmd send;
    sms_send_cmd_init(&send, &S_env);
    snprintf(send.phone, sizeof send.phone, "%s", S_PHONE);
    send.purpose = SMS_PURPOSE_REGISTER;
    bool ok = ledger_execute(S_ledger, &send.cmd) == QB_OK && send.outcome == QB_OK;
    ledger_cmd_release(&send.cmd);
    struct store *reader = NULL;
    struct sms_outbox_item item;
    size_t count = 0;
    ok = ok && store_pool_acquire(S_pool, 1000, &reader) == QB_OK;
    ok = ok && sms_outbox_list(&S_env, reader, S_PHONE, 0, &item, 1, &count) == QB_OK && count == 1;
    if (reader != NULL)
        store_pool_release(S_pool, reader);

    struct identity_cmd *c = calloc(1, sizeof *c);
    ok = ok && c != NULL;
    if (ok) {
        identity_cmd_init(c, &S_env, IDENTITY_OP_REGISTER);
        snprintf(c->phone, sizeof c->phone, "%s", S_PHONE);
        snprintf(c->sms_code, sizeof c->sms_code, "%s", item.code);
        snprintf(c->display_name, sizeof c->display_name, "Auth Test");
        ok = identity_password_hash(&S_env, "correct horse", c->password_hash) == QB_OK &&
             ledger_execute(S_ledger, &c->cmd) == QB_OK && c->outcome == QB_OK;
        snprintf(S_user_id, sizeof S_user_id, "%s", c->user.id);
        ledger_cmd_release(&c->cmd);
    }
    if (ok) {
        identity_cmd_init(c, &S_env, IDENTITY_OP_SESSION_CREATE);
        snprintf(c->user_id, sizeof c->user_id, "%s", S_user_id);
        ok = ledger_execute(S_ledger, &c->cmd) == QB_OK && c->outcome == QB_OK;
        snprintf(S_token, sizeof S_token, "%s", c->token);
        snprintf(S_session_id, sizeof S_session_id, "%s", c->session.id);
        ledger_cmd_release(&c->cmd);
    }
    free(c);
    return ok;
}

TEST(live_session_reaches_the_handler)
{
    /* The good credential: the handler sees the session of the token. */
    ASSERT_EQ_INT(S_get_bearer("/t/whoami", S_token), 200);
    ASSERT(strstr(S_response, S_user_id) != NULL);
}

TEST(bad_tokens_are_401_before_the_handler)
{
    /* Missing, not Bearer, malformed, unknown: one answer for all. */
    ASSERT_EQ_INT(S_get("/t/whoami", NULL), 401);
    ASSERT(strstr(S_response, "\"code\":\"UNAUTHORIZED\"") != NULL);
    ASSERT(strstr(S_response, "WWW-Authenticate: Bearer") != NULL);
    char basic[128];
    snprintf(basic, sizeof basic, "Basic %s", S_token);
    ASSERT_EQ_INT(S_get("/t/whoami", basic), 401);
    ASSERT_EQ_INT(S_get_bearer("/t/whoami", "not-a-token"), 401);
    char unknown[IDENTITY_TOKEN_TEXT_SIZE];
    snprintf(unknown, sizeof unknown, "%s", S_token);
    unknown[0] = unknown[0] == '0' ? '1' : '0';
    ASSERT_EQ_INT(S_get_bearer("/t/whoami", unknown), 401);
    /* The admin token is no user session. */
    ASSERT_EQ_INT(S_get_bearer("/t/whoami", S_ADMIN_TOKEN), 401);
}

TEST(admin_route_refuses_a_user_token_with_403)
{
    ASSERT_EQ_INT(S_get_bearer("/t/admin", S_ADMIN_TOKEN), 204);
    ASSERT_EQ_INT(S_get_bearer("/t/admin", S_token), 403);
    ASSERT(strstr(S_response, "\"code\":\"FORBIDDEN\"") != NULL);
    ASSERT(strstr(S_response, "WWW-Authenticate") == NULL);
    ASSERT_EQ_INT(S_get("/t/admin", NULL), 401);
    ASSERT_EQ_INT(S_get_bearer("/t/admin", "0000"), 401);
}

TEST(revoked_session_is_401)
{
    /* Run last: revokes the shared session. */
    struct identity_cmd *c = calloc(1, sizeof *c);
    ASSERT(c != NULL);
    identity_cmd_init(c, &S_env, IDENTITY_OP_SESSION_REVOKE);
    snprintf(c->user_id, sizeof c->user_id, "%s", S_user_id);
    snprintf(c->session_id, sizeof c->session_id, "%s", S_session_id);
    enum qb_error err = ledger_execute(S_ledger, &c->cmd);
    enum qb_error outcome = c->outcome;
    ledger_cmd_release(&c->cmd);
    free(c);
    ASSERT_EQ_INT(err, QB_OK);
    ASSERT_EQ_INT(outcome, QB_OK);
    ASSERT_EQ_INT(S_get_bearer("/t/whoami", S_token), 401);
    ASSERT_EQ_INT(S_get_bearer("/t/admin", S_token), 401);
}

int main(void)
{
    char dir[512];
    char db[600];
    char err[512] = "";
    test_tmpdir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    if (!crypto_init() || store_open(db, STORE_MODE_WRITE, &S_writer, err, sizeof err) != QB_OK ||
        store_pool_open(db, 2, &S_pool, err, sizeof err) != QB_OK ||
        ledger_open(S_writer, NULL, &S_ledger) != QB_OK) {
        fprintf(stderr, "setup failed: %s\n", err);
        return 1;
    }
    struct domain_settings settings;
    domain_settings_default(&settings);
    settings.argon2_ops = 1;
    settings.argon2_memory_size = 8 * 1024;
    uint8_t pepper[DOMAIN_KEY_SIZE] = {1};
    uint8_t data_key[DOMAIN_KEY_SIZE] = {2};
    domain_env_init(&S_env, clock_system(), rand_system(), S_ledger, &settings, pepper, data_key);
    struct http_server_options options = {
        .listen = "127.0.0.1:0",
        .threads = 1,
        .connections_max = 64,
        .body_size_max = 4096,
        .routes = S_routes,
        .route_count = QB_ARRAY_COUNT(S_routes),
        .ledger = S_ledger,
        .pool = S_pool,
        .admin_token = S_ADMIN_TOKEN,
        .env = &S_env,
        .version = "test",
    };
    if (http_server_start(&options, &S_server, err, sizeof err) != QB_OK || !S_user_setup()) {
        fprintf(stderr, "server or user setup failed: %s\n", err);
        return 1;
    }

    RUN(live_session_reaches_the_handler);
    RUN(bad_tokens_are_401_before_the_handler);
    RUN(admin_route_refuses_a_user_token_with_403);
    RUN(revoked_session_is_401);

    http_server_quiesce(S_server);
    struct ledger *ledger = http_server_detach_ledger(S_server);
    if (ledger != NULL)
        ledger_close(ledger);
    http_server_stop(S_server);
    domain_env_release(&S_env);
    store_pool_close(S_pool);
    store_close(S_writer);
    test_rmtree(dir);
    return test_summary();
}
