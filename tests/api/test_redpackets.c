/*
 * test_redpackets.c — red packets as clients see them: POST /v1/red-packets,
 * POST /v1/red-packets/{id}/claims, GET /v1/red-packets/{id} (and an
 * operator's GET /admin/red-packets/{id}), their lines in
 * the bills, a crowd of 200 grabbing one packet, the expiry refund (once, across a
 * restart), and the verifier (`qianbao redpacket verify`) run
 * against real answers and a tampered one.
 *
 * The main daemon keeps the default 24 h expiry; the expiry tests start a
 * second daemon with --red-packet-expiry-s 2 on a data directory of their
 * own. Money enters through the public top-up route (transfer_helpers.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* POST /v1/red-packets with key and body; checks the status and, when code
 * is not NULL, the error code. The answer stays in res. */
static void S_send_on(int line, struct client *client, const char *token, const char *key,
                      const char *body, long status, const char *code, struct client_response *res)
{
    api_call_idem(client, "POST", "/v1/red-packets", token, key, body, res);
    const char *got = res->status >= 400 ? api_json_str(res, "code") : "";
    if (res->status != status || (code != NULL && strcmp(got, code) != 0))
        TEST_FAIL_("line %d: %s: expected %ld %s, got %ld %.*s", line, body, status,
                   code != NULL ? code : "", res->status, (int)res->body.size,
                   res->body.data != NULL ? res->body.data : "");
}

#define EXPECT_SEND(token, key, body, status, code)                                                \
    do {                                                                                           \
        struct client_response r_;                                                                 \
        S_send_on(__LINE__, &S_client, token, key, body, status, code, &r_);                       \
        client_response_release(&r_);                                                              \
    } while (0)

/* Sends a packet and copies its id into id. */
static void S_packet_new(struct client *client, const struct api_user *u, const char *type,
                         long long amount, int count, char id[API_ID_SIZE_MAX])
{
    static int serial;
    char body[256], key[64];
    snprintf(body, sizeof body,
             "{\"type\":\"%s\",\"%s\":%lld,\"count\":%d,\"greeting\":\"恭喜发财\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             type, strcmp(type, "equal") == 0 ? "amount_per_share" : "total_amount", amount, count);
    snprintf(key, sizeof key, "rp-%d-%ld", ++serial, (long)getpid());
    struct client_response res;
    S_send_on(__LINE__, client, u->token, key, body, 201, NULL, &res);
    snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

static long S_claim(struct client *client, const struct api_user *u, const char *id,
                    struct client_response *res)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", id);
    return api_call(client, "POST", path, u->token, NULL, res);
}

/* GET /v1/red-packets/{id} as u; the body as JSON (decref it). */
static json_t *S_get(struct client *client, const struct api_user *u, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/red-packets/%s", id);
    struct client_response res;
    long status = api_call(client, "GET", path, u->token, NULL, &res);
    json_t *body = api_json(&res);
    if (status != 200 || body == NULL)
        TEST_FAIL_("GET %s: %ld %.*s", path, status, (int)res.body.size,
                   res.body.data != NULL ? res.body.data : "");
    client_response_release(&res);
    return body;
}

static long long S_int(const json_t *object, const char *name)
{
    const json_t *v = json_object_get(object, name);
    if (!json_is_integer(v))
        TEST_FAIL_("\"%s\" is not an integer", name);
    return (long long)json_integer_value(v);
}

/* Runs `qianbao redpacket verify` on packet id (the token in QIANBAO_TOKEN,
 * as a script passes it) or on a saved answer (--file); its exit status,
 * its output into out. */
static int S_verify_run(const char *base_url, const char *token, const char *id, const char *file,
                        char *out, size_t out_size)
{
    const char *dir = getenv("QB_BUILD_DIR");
    char tool[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(tool, sizeof tool, "%s/qianbao", dir != NULL ? dir : ".");
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s/verify-%ld.out", S_root, (long)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("XDG_CONFIG_HOME", S_root, 1);
        if (token != NULL)
            setenv("QIANBAO_TOKEN", token, 1);
        if (file != NULL)
            execl(tool, tool, "redpacket", "verify", "--file", file, (char *)NULL);
        else
            execl(tool, tool, "--server", base_url, "redpacket", "verify", id, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    out[0] = '\0';
    test_file_read(out_path, out, out_size);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(bad_inputs_are_refused_and_move_nothing)
{
    // The body's shape, the amounts, the limit of one packet, the currency, the key and the
    // password each answer their own code; none of it takes money. Claims and reads of ids
    // that name no packet are 404, and a claim with a body is refused.
    struct api_user a;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 50000));
#define PW ",\"payment_password\":\"" TH_PAY_PASSWORD "\"}"
    EXPECT_SEND(a.token, "b1", "{}", 400, "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":", 400, "INVALID_JSON");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"big\",\"total_amount\":100,\"count\":1" PW, 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"lucky\",\"amount_per_share\":100,\"count\":1" PW,
                400, "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"lucky\",\"total_amount\":100,\"amount_per_share\":100,\"count\":1" PW,
                400, "PARAM_ERROR");
    /* An equal packet named by its total (the contract's total_amount) splits into count equal
     * shares or is refused; with both amounts, they must agree. */
    EXPECT_SEND(a.token, "b1", "{\"type\":\"equal\",\"total_amount\":100,\"count\":3" PW, 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"equal\",\"total_amount\":300,\"amount_per_share\":99,\"count\":3" PW,
                400, "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"equal\",\"total_amount\":-300,\"count\":3" PW, 400,
                "INVALID_AMOUNT");
    /* a negative total is a bad amount before it is one that does not split */
    EXPECT_SEND(a.token, "b1", "{\"type\":\"equal\",\"total_amount\":-10,\"count\":3" PW, 400,
                "INVALID_AMOUNT");
    /* Several things wrong at once: the order the table gives, shape, currency, amount. */
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"lucky\",\"total_amount\":0,\"count\":1,\"payment_password\":\"12\"}",
                400, "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"lucky\",\"total_amount\":0,\"count\":1,\"currency\":\"XYZ\"" PW, 400,
                "INVALID_CURRENCY");
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"lucky\",\"total_amount\":0,\"count\":1,\"currency\":\"USD\"" PW, 400,
                "INVALID_CURRENCY");
    /* An amount given as null is not given: the message says which one the type needs. */
    struct client_response null_amount;
    S_send_on(__LINE__, &S_client, a.token, "b1",
              "{\"type\":\"lucky\",\"total_amount\":null,\"count\":1" PW, 400, "PARAM_ERROR",
              &null_amount);
    ASSERT(strstr(api_json_str(&null_amount, "message"), "needs total_amount") != NULL);
    client_response_release(&null_amount);
    /* A greeting that would show the claimers something else than was stored. */
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1,"
                "\"greeting\":\"\\u202e\\u2066x\"" PW,
                400, "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"lucky\",\"total_amount\":100,\"count\":0" PW, 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"lucky\",\"total_amount\":1000,\"count\":101" PW, 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"lucky\",\"total_amount\":\"100\",\"count\":1" PW, 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1",
                "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1,"
                "\"payment_password\":\"12345\"}",
                400, "PARAM_ERROR");
    EXPECT_SEND(a.token, "b1", "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1}", 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, NULL, "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1" PW, 400,
                "PARAM_ERROR");
    EXPECT_SEND(a.token, "b2", "{\"type\":\"lucky\",\"total_amount\":0,\"count\":1" PW, 400,
                "INVALID_AMOUNT");
    EXPECT_SEND(a.token, "b3", "{\"type\":\"lucky\",\"total_amount\":9,\"count\":10" PW, 400,
                "INVALID_AMOUNT");
    EXPECT_SEND(a.token, "b4", "{\"type\":\"equal\",\"amount_per_share\":-1,\"count\":10" PW, 400,
                "INVALID_AMOUNT");
    struct client_response over;
    S_send_on(__LINE__, &S_client, a.token, "b5",
              "{\"type\":\"lucky\",\"total_amount\":20001,\"count\":10" PW, 403, "LIMIT_EXCEEDED",
              &over);
    /* The bound in yuan as well: a person reads 20000 as yuan. */
    ASSERT(strstr(api_json_str(&over, "message"), "20000 fen (200.00 CNY)") != NULL);
    client_response_release(&over);
    EXPECT_SEND(a.token, "b6", "{\"type\":\"equal\",\"amount_per_share\":201,\"count\":100" PW,
                403, "LIMIT_EXCEEDED");
    EXPECT_SEND(a.token, "b7",
                "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1,\"currency\":\"USD\"" PW,
                400, "INVALID_CURRENCY");
    EXPECT_SEND(a.token, "b8",
                "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1,"
                "\"payment_password\":\"246802\"}",
                403, "PASSWORD_WRONG");
    char greeting[300];
    memset(greeting, 'g', 101);
    greeting[101] = '\0';
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1,\"greeting\":\"%s\"" PW,
             greeting);
    EXPECT_SEND(a.token, "b9", body, 400, "PARAM_ERROR");
    struct api_user poor;
    API_MUST(th_user_new(&S_client, S_admin, &poor));
    EXPECT_SEND(poor.token, "b10", "{\"type\":\"lucky\",\"total_amount\":100,\"count\":1" PW, 402,
                "INSUFFICIENT_BALANCE");
#undef PW
    ASSERT_EQ_INT(th_balance(&S_client, &a), 50000);

    struct client_response res;
    ASSERT_EQ_INT(S_claim(&S_client, &a, "rp_0000000000000000000000000a", &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(S_claim(&S_client, &a, "not-an-id", &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/red-packets/rp_0000000000000000000000000a",
                           a.token, NULL, &res),
                  404);
    client_response_release(&res);
    char id[API_ID_SIZE_MAX];
    S_packet_new(&S_client, &a, "lucky", 100, 2, id);
    char path[128];
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, poor.token, "{\"amount\":100}", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, poor.token, "{}", &res), 201);
    client_response_release(&res);
}

#define S_PW "\"payment_password\":\"" TH_PAY_PASSWORD "\"}"

TEST(an_equal_packet_is_sent_by_its_total_or_its_share)
{
    // The contract names an equal packet by total_amount and count, as a lucky one; Qianbao's
    // own clients send amount_per_share. Both make the same packet: 3 shares of 100 fen.
    struct api_user a;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    const char *bodies[] = {
        "{\"type\":\"equal\",\"total_amount\":300,\"count\":3," S_PW,
        "{\"type\":\"equal\",\"total_amount\":300,\"amount_per_share\":100,\"count\":3," S_PW,
        "{\"type\":\"equal\",\"amount_per_share\":100,\"count\":3," S_PW,
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(bodies); i++) {
        char key[16];
        snprintf(key, sizeof key, "eq-%zu", i);
        struct client_response res;
        S_send_on(__LINE__, &S_client, a.token, key, bodies[i], 201, NULL, &res);
        ASSERT_EQ_INT(api_json_int(&res, "total_amount", -1), 300);
        ASSERT_EQ_INT(api_json_int(&res, "amount_per_share", -1), 100);
        ASSERT_EQ_INT(api_json_int(&res, "count", -1), 3);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 900);
}

TEST(send_claim_and_read_a_packet_then_verify_it)
{
    // A whole packet's life: the total leaves the sender at once, a replayed key answers the
    // same bytes, claims answer their share (a second claim the same answer again), the GET
    // shows the claims with masked names and hides the seed until the last share is taken,
    // and the standalone verifier then agrees with the split; a tampered answer it refuses.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    const char *body = "{\"type\":\"lucky\",\"total_amount\":1000,\"count\":3,\"greeting\":\"发财\","
                       "\"payment_password\":\"" TH_PAY_PASSWORD "\"}";
    struct client_response sent, replay;
    S_send_on(__LINE__, &S_client, a.token, "life-1", body, 201, NULL, &sent);
    S_send_on(__LINE__, &S_client, a.token, "life-1", body, 201, NULL, &replay);
    ASSERT_EQ_INT(sent.body.size, replay.body.size);
    ASSERT(memcmp(sent.body.data, replay.body.data, sent.body.size) == 0);
    ASSERT_EQ_STR(api_header(&replay, "Idempotent-Replayed"), "true");
    client_response_release(&replay);
    char id[API_ID_SIZE_MAX], commitment[80];
    snprintf(id, sizeof id, "%s", api_json_str(&sent, "id"));
    snprintf(commitment, sizeof commitment, "%s", api_json_str(&sent, "commitment"));
    ASSERT_EQ_INT(strlen(commitment), 64);
    ASSERT_EQ_STR(api_json_str(&sent, "status"), "ACTIVE");
    ASSERT(strstr(sent.body.data, TH_PAY_PASSWORD) == NULL);
    client_response_release(&sent);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 9000);

    struct client_response res, again;
    ASSERT_EQ_INT(S_claim(&S_client, &b, id, &res), 201);
    long long b_amount = api_json_int(&res, "amount", -1);
    ASSERT(b_amount >= 1 && b_amount <= 666);
    ASSERT_EQ_INT(S_claim(&S_client, &b, id, &again), 200);
    ASSERT_EQ_INT(api_json_int(&again, "amount", -1), b_amount);
    ASSERT_EQ_STR(api_json_str(&again, "id"), api_json_str(&res, "id"));
    client_response_release(&res);
    client_response_release(&again);
    ASSERT_EQ_INT(th_balance(&S_client, &b), b_amount);

    /* Not finished: the seed stays hidden and the verifier cannot tell yet. */
    json_t *v = S_get(&S_client, &c, id);
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "ACTIVE");
    ASSERT_EQ_INT(S_int(v, "remaining_count"), 2);
    ASSERT_EQ_INT(S_int(v, "remaining_amount"), 1000 - b_amount);
    ASSERT(json_is_null(json_object_get(json_object_get(v, "fairness"), "seed")));
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(v, "fairness"), "commitment")),
                  commitment);
    ASSERT(json_is_null(json_object_get(v, "my_claim")));
    char *text = json_dumps(v, 0);
    ASSERT(text != NULL && strstr(text, b.id) == NULL && strstr(text, b.phone) == NULL);
    free(text);
    json_decref(v);
    char out[8192];
    ASSERT_EQ_INT(S_verify_run(S_daemon.base_url, c.token, id, NULL, out, sizeof out), 1);
    ASSERT(strstr(out, "nothing to verify yet") != NULL);

    /* The sender takes a share too; the last one finishes the packet. */
    ASSERT_EQ_INT(S_claim(&S_client, &a, id, &res), 201);
    long long a_amount = api_json_int(&res, "amount", -1);
    client_response_release(&res);
    ASSERT_EQ_INT(S_claim(&S_client, &c, id, &res), 201);
    long long c_amount = api_json_int(&res, "amount", -1);
    client_response_release(&res);
    ASSERT_EQ_INT(a_amount + b_amount + c_amount, 1000);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 9000 + a_amount);
    struct api_user d;
    API_MUST(api_user_new(&S_client, S_admin, &d));
    ASSERT_EQ_INT(S_claim(&S_client, &d, id, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "RED_PACKET_EMPTY");
    client_response_release(&res);

    v = S_get(&S_client, &b, id);
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "FINISHED");
    ASSERT_EQ_INT(S_int(v, "remaining_amount"), 0);
    ASSERT_EQ_INT(S_int(v, "my_claim"), b_amount);
    json_t *claims = json_object_get(v, "claims");
    ASSERT_EQ_INT(json_array_size(claims), 3);
    ASSERT_EQ_INT(S_int(json_array_get(claims, 0), "amount"), b_amount);
    ASSERT(json_is_true(json_object_get(json_array_get(claims, 0), "me")));
    long long best = b_amount > a_amount ? b_amount : a_amount;
    best = c_amount > best ? c_amount : best;
    ASSERT_EQ_INT(S_int(json_object_get(v, "luckiest"), "amount"), best);
    ASSERT(json_string_value(json_object_get(json_object_get(v, "fairness"), "seed")) != NULL);

    /* The verifier agrees, over HTTP and from a saved answer; one fen moved between two
     * claims (the total unchanged) it reports as a mismatch. */
    ASSERT_EQ_INT(S_verify_run(S_daemon.base_url, c.token, id, NULL, out, sizeof out), 0);
    ASSERT(strstr(out, "match") != NULL);
    char file[600];
    snprintf(file, sizeof file, "%s/packet.json", S_root);
    ASSERT_EQ_INT(json_dump_file(v, file, 0), 0);
    ASSERT_EQ_INT(S_verify_run(NULL, NULL, NULL, file, out, sizeof out), 0);
    json_t *first = json_array_get(claims, 0);
    json_t *second = json_array_get(claims, 1);
    long long x = S_int(first, "amount"), y = S_int(second, "amount");
    bool up = y > 1;
    json_object_set_new(first, "amount", json_integer(up ? x + 1 : x - 1));
    json_object_set_new(second, "amount", json_integer(up ? y - 1 : y + 1));
    ASSERT_EQ_INT(json_dump_file(v, file, 0), 0);
    ASSERT_EQ_INT(S_verify_run(NULL, NULL, NULL, file, out, sizeof out), 5);
    ASSERT(strstr(out, "MISMATCH: share #1 should be") != NULL);
    json_decref(v);
}

/* GET /admin/red-packets/{id} with the admin token of client's daemon; the
 * body as JSON (decref it). */
static json_t *S_admin_get(struct client *client, const char *admin, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/admin/red-packets/%s", id);
    return th_get_json(client, path, admin);
}

/* The operator's view v less what it adds to the sender's (every user_id,
 * refund_due_at): what must then equal the sender's view. */
static json_t *S_without_operator_fields(const json_t *v)
{
    json_t *copy = json_deep_copy(v);
    ASSERT(copy != NULL);
    ASSERT_EQ_INT(json_object_del(copy, "refund_due_at"), 0);
    ASSERT_EQ_INT(json_object_del(json_object_get(copy, "sender"), "user_id"), 0);
    size_t i;
    json_t *claim;
    json_array_foreach(json_object_get(copy, "claims"), i, claim)
        ASSERT_EQ_INT(json_object_del(claim, "user_id"), 0);
    json_t *luckiest = json_object_get(copy, "luckiest");
    if (json_is_object(luckiest))
        ASSERT_EQ_INT(json_object_del(luckiest, "user_id"), 0);
    return copy;
}

TEST(an_operator_sees_everything_the_sender_sees_and_whose_it_is)
{
    // "I sent a red packet and nobody got it": support looks the packet up by its id and sees
    // all that the sender sees (the same answer, field for field), and besides the sender's
    // user id, each claimer's user id with the share and its time, and while the money is in
    // escrow when the refund of the rest is due. A user's token is refused; an id of no packet
    // is 404.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    char equal[API_ID_SIZE_MAX], lucky[API_ID_SIZE_MAX];
    S_packet_new(&S_client, &a, "equal", 100, 3, equal);
    struct client_response res;
    ASSERT_EQ_INT(S_claim(&S_client, &b, equal, &res), 201);
    client_response_release(&res);
    ASSERT_EQ_INT(S_claim(&S_client, &a, equal, &res), 201);
    client_response_release(&res);

    json_t *v = S_admin_get(&S_client, S_admin, equal);
    json_t *sender_view = S_get(&S_client, &a, equal);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(v, "sender"), "user_id")),
                  a.id);
    ASSERT(json_is_true(json_object_get(json_object_get(v, "sender"), "me")));
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "ACTIVE");
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "refund_due_at")),
                  json_string_value(json_object_get(v, "expires_at")));
    json_t *claims = json_object_get(v, "claims");
    ASSERT_EQ_INT(json_array_size(claims), 2);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(claims, 0), "user_id")), b.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(claims, 1), "user_id")), a.id);
    ASSERT_EQ_INT(S_int(json_array_get(claims, 0), "amount"), 100);
    ASSERT(json_string_value(json_object_get(json_array_get(claims, 0), "claimed_at")) != NULL);
    ASSERT_EQ_INT(S_int(v, "remaining_amount"), 100);
    json_t *stripped = S_without_operator_fields(v);
    if (!json_equal(stripped, sender_view)) {
        char *got = json_dumps(stripped, JSON_SORT_KEYS),
             *want = json_dumps(sender_view, JSON_SORT_KEYS);
        TEST_FAIL_("the operator's view is not the sender's:\n  %s\n  %s", got, want);
    }
    json_decref(stripped);
    json_decref(sender_view);
    json_decref(v);

    /* A finished lucky packet: the luckiest share names its claimer too, and no refund is
     * due. */
    S_packet_new(&S_client, &a, "lucky", 300, 1, lucky);
    ASSERT_EQ_INT(S_claim(&S_client, &c, lucky, &res), 201);
    client_response_release(&res);
    v = S_admin_get(&S_client, S_admin, lucky);
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "FINISHED");
    ASSERT(json_is_null(json_object_get(v, "refund_due_at")));
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(v, "luckiest"), "user_id")),
                  c.id);
    ASSERT(json_string_value(json_object_get(json_object_get(v, "fairness"), "seed")) != NULL);
    sender_view = S_get(&S_client, &a, lucky);
    stripped = S_without_operator_fields(v);
    ASSERT(json_equal(stripped, sender_view));
    json_decref(stripped);
    json_decref(sender_view);
    json_decref(v);

    char path[128];
    snprintf(path, sizeof path, "/admin/red-packets/%s", equal);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 403);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/red-packets/rp_0000000000000000000000000a",
                           S_admin, NULL, &res),
                  404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/red-packets/p_1", S_admin, NULL, &res), 404);
    client_response_release(&res);
}

TEST(a_greeting_that_shows_nothing_is_the_default_one)
{
    // A packet's greeting is what claimers see first: left out, or only spaces (ASCII and
    // ideographic), it is the default, never a blank.
    struct api_user a;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    const char *bodies[] = {
        "{\"type\":\"lucky\",\"total_amount\":10,\"count\":1,"
        "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
        "{\"type\":\"lucky\",\"total_amount\":10,\"count\":1,\"greeting\":\"   \u3000\","
        "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(bodies); i++) {
        char key[32];
        snprintf(key, sizeof key, "greeting-%zu", i);
        struct client_response res;
        S_send_on(__LINE__, &S_client, a.token, key, bodies[i], 201, NULL, &res);
        ASSERT_EQ_STR(api_json_str(&res, "greeting"), "恭喜发财，大吉大利");
        client_response_release(&res);
    }
}

TEST(a_crowd_of_two_hundred_grabs_ten_shares)
{
    // Two hundred users claim one 10-share packet at the same moment, each on its own
    // connection: exactly ten get a share, the other 190 are told it is empty, the shares
    // add up to the total, and nobody is paid twice.
    enum { S_CROWD = 200 };
    struct api_user a;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 20000));
    static struct api_user users[S_CROWD];
    for (int i = 0; i < S_CROWD; i++)
        API_MUST(api_user_new(&S_client, S_admin, &users[i]));
    char id[API_ID_SIZE_MAX];
    S_packet_new(&S_client, &a, "lucky", 20000, 10, id);
    char path[128];
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", id);
    static struct api_parallel_call calls[S_CROWD];
    for (int i = 0; i < S_CROWD; i++)
        calls[i] = (struct api_parallel_call){"POST", path, users[i].token, NULL, 0, ""};
    api_call_parallel(S_daemon.base_url, calls, S_CROWD);
    int won = 0, empty = 0;
    for (int i = 0; i < S_CROWD; i++) {
        if (calls[i].status == 201)
            won++;
        else if (calls[i].status == 409 && strcmp(calls[i].code, "RED_PACKET_EMPTY") == 0)
            empty++;
        else
            fprintf(stderr, "  claim %d: %ld %s\n", i, calls[i].status, calls[i].code);
    }
    ASSERT_EQ_INT(won, 10);
    ASSERT_EQ_INT(empty, S_CROWD - 10);

    long long paid = 0;
    for (int i = 0; i < S_CROWD; i++) {
        long long balance = th_balance(&S_client, &users[i]);
        ASSERT(calls[i].status == 201 ? balance >= 1 : balance == 0);
        paid += balance;
    }
    ASSERT_EQ_INT(paid, 20000);
    json_t *v = S_get(&S_client, &a, id);
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "FINISHED");
    json_t *claims = json_object_get(v, "claims");
    ASSERT_EQ_INT(json_array_size(claims), 10);
    long long sum = 0;
    for (size_t i = 0; i < 10; i++) {
        ASSERT_EQ_INT(S_int(json_array_get(claims, i), "position"), (long long)i);
        sum += S_int(json_array_get(claims, i), "amount");
    }
    ASSERT_EQ_INT(sum, 20000);
    json_decref(v);
    char out[8192];
    ASSERT_EQ_INT(S_verify_run(S_daemon.base_url, a.token, id, NULL, out, sizeof out), 0);
}

TEST(reading_a_packet_while_a_crowd_grabs_it_always_answers)
{
    // While a crowd claims a packet, its sender refreshes it and their bills: each read is one
    // moment of it, never a 500 from a claim that landed between two of its reads (the packet
    // said it had one claim fewer than the claims listed, or was still ACTIVE with every share
    // gone).
    enum { S_CLAIMERS = 100, S_READS = 100, S_ROUNDS = 3 };
    struct api_user a;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 20000 * S_ROUNDS));
    static struct api_user users[S_CLAIMERS];
    for (int i = 0; i < S_CLAIMERS; i++)
        API_MUST(api_user_new(&S_client, S_admin, &users[i]));
    for (int round = 0; round < S_ROUNDS; round++) {
        char id[API_ID_SIZE_MAX];
        S_packet_new(&S_client, &a, "lucky", 20000, S_CLAIMERS, id);
        char claim_path[128], read_path[128];
        snprintf(claim_path, sizeof claim_path, "/v1/red-packets/%s/claims", id);
        snprintf(read_path, sizeof read_path, "/v1/red-packets/%s", id);
        static struct api_parallel_call calls[S_CLAIMERS + S_READS];
        size_t n = 0;
        for (int i = 0; i < S_CLAIMERS; i++) {
            calls[n++] =
                (struct api_parallel_call){"POST", claim_path, users[i].token, NULL, 0, ""};
            if (i < S_READS)
                calls[n++] = (struct api_parallel_call){
                    "GET",   i % 4 == 3 ? "/v1/me/transactions?type=red_packet_sent" : read_path,
                    a.token, NULL,
                    0,       ""};
        }
        api_call_parallel(S_daemon.base_url, calls, n);
        for (size_t i = 0; i < n; i++) {
            long want = strcmp(calls[i].method, "POST") == 0 ? 201 : 200;
            if (calls[i].status != want)
                TEST_FAIL_("round %d: %s %s: %ld %s", round, calls[i].method, calls[i].path,
                           calls[i].status, calls[i].code);
        }
    }
}

/* The bill lines of u of the given type (?type=), as a JSON array (decref). */
static json_t *S_bills(struct client *client, const struct api_user *u, const char *type)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/transactions?type=%s", type);
    struct client_response res;
    long status = api_call(client, "GET", path, u->token, NULL, &res);
    json_t *body = api_json(&res);
    if (status != 200 || body == NULL)
        TEST_FAIL_("GET %s: %ld", path, status);
    client_response_release(&res);
    json_t *items = json_incref(json_object_get(body, "items"));
    json_decref(body);
    return items;
}

TEST(packets_appear_in_the_bills_with_their_own_types)
{
    // The sender's bill shows the packet as red_packet_sent (out, the whole total, the greeting
    // as memo); a claimer's shows red_packet_received (in, the share, from the sender, masked).
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char id[API_ID_SIZE_MAX];
    S_packet_new(&S_client, &a, "equal", 250, 2, id);
    struct client_response res;
    ASSERT_EQ_INT(S_claim(&S_client, &b, id, &res), 201);
    client_response_release(&res);

    json_t *sent = S_bills(&S_client, &a, "red_packet_sent");
    ASSERT_EQ_INT(json_array_size(sent), 1);
    json_t *line = json_array_get(sent, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "id")), id);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "out");
    ASSERT_EQ_INT(S_int(line, "amount"), 500);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "memo")), "恭喜发财");
    ASSERT_EQ_INT(S_int(line, "balance_after"), 4500);
    json_decref(sent);

    json_t *got = S_bills(&S_client, &b, "red_packet_received");
    ASSERT_EQ_INT(json_array_size(got), 1);
    line = json_array_get(got, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "in");
    ASSERT_EQ_INT(S_int(line, "amount"), 250);
    json_t *party = json_object_get(line, "counterparty");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "id")), a.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "type")), "user");
    json_decref(got);
    /* The other types' filters leave them out. */
    json_t *none = S_bills(&S_client, &b, "transfer");
    ASSERT_EQ_INT(json_array_size(none), 0);
    json_decref(none);
}

/* Waits up to ms for the packet's status to become want; the last view. */
static json_t *S_wait_status(struct client *client, const struct api_user *u, const char *id,
                             const char *want, int ms)
{
    for (int waited = 0;; waited += 100) {
        json_t *v = S_get(client, u, id);
        const char *status = json_string_value(json_object_get(v, "status"));
        if ((status != NULL && strcmp(status, want) == 0 && S_int(v, "remaining_amount") == 0) ||
            waited >= ms)
            return v;
        json_decref(v);
        usleep(100 * 1000);
    }
}

TEST(expiry_refunds_the_rest_once_even_across_a_restart)
{
    // With --red-packet-expiry-s 2: what nobody claimed goes back to the sender by itself, the
    // packet then refuses claims, and its refund shows in the bills once. What came back never
    // left: the sender's limits count only what was claimed. A packet that expires while the
    // daemon is stopped is refunded after the next start; restarting again refunds nothing twice
    // nor gives the limits back twice; the ledger verifies at the end.
    struct test_daemon d;
    char admin[API_TOKEN_SIZE_MAX];
    const char *args[] = {"--red-packet-expiry-s", "2", NULL};
    API_MUST(api_daemon_start(&d, S_root, "expiry", args, admin));
    struct client client;
    client_init(&client, d.base_url);
    struct api_user a, b, c;
    API_MUST(th_user_new(&client, admin, &a));
    API_MUST(api_user_new(&client, admin, &b));
    API_MUST(api_user_new(&client, admin, &c));
    API_MUST(th_fund(&client, admin, &a, 10000));
    char first[API_ID_SIZE_MAX], second[API_ID_SIZE_MAX];
    S_packet_new(&client, &a, "lucky", 1000, 3, first);
    struct client_response res;
    ASSERT_EQ_INT(S_claim(&client, &b, first, &res), 201);
    long long b_amount = api_json_int(&res, "amount", -1);
    client_response_release(&res);

    json_t *v = S_wait_status(&client, &a, first, "EXPIRED", 8000);
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "EXPIRED");
    ASSERT_EQ_INT(S_int(v, "refunded_amount"), 1000 - b_amount);
    ASSERT(json_string_value(json_object_get(json_object_get(v, "fairness"), "seed")) != NULL);
    json_decref(v);
    /* The operator sees it expired with the rest refunded, no refund still due, and who got
     * the one share. */
    v = S_admin_get(&client, admin, first);
    ASSERT_EQ_STR(json_string_value(json_object_get(v, "status")), "EXPIRED");
    ASSERT_EQ_INT(S_int(v, "refunded_amount"), 1000 - b_amount);
    ASSERT_EQ_INT(S_int(v, "remaining_amount"), 0);
    ASSERT(json_is_null(json_object_get(v, "refund_due_at")));
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(v, "sender"), "user_id")),
                  a.id);
    ASSERT_EQ_STR(json_string_value(
                      json_object_get(json_array_get(json_object_get(v, "claims"), 0), "user_id")),
                  b.id);
    json_decref(v);
    ASSERT_EQ_INT(th_balance(&client, &a), 10000 - b_amount);
    ASSERT_EQ_INT(th_limit_used(&client, &a, "kyc_lifetime"), b_amount);
    ASSERT_EQ_INT(S_claim(&client, &c, first, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "RED_PACKET_EXPIRED");
    client_response_release(&res);
    char out[8192];
    ASSERT_EQ_INT(S_verify_run(d.base_url, a.token, first, NULL, out, sizeof out), 0);

    /* The second packet expires while no daemon runs. */
    S_packet_new(&client, &a, "equal", 100, 5, second);
    ASSERT_EQ_INT(th_balance(&client, &a), 10000 - b_amount - 500);
    client_release(&client);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    usleep(2500 * 1000);
    API_MUST(api_daemon_start(&d, S_root, "expiry", args, admin));
    client_init(&client, d.base_url);
    v = S_wait_status(&client, &a, second, "EXPIRED", 8000);
    ASSERT_EQ_INT(S_int(v, "refunded_amount"), 500);
    json_decref(v);
    ASSERT_EQ_INT(th_balance(&client, &a), 10000 - b_amount);
    ASSERT_EQ_INT(th_limit_used(&client, &a, "kyc_lifetime"), b_amount);

    /* Once more: a restart and a few worker passes refund nothing again. */
    client_release(&client);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    API_MUST(api_daemon_start(&d, S_root, "expiry", args, admin));
    client_init(&client, d.base_url);
    usleep(1500 * 1000);
    ASSERT_EQ_INT(th_balance(&client, &a), 10000 - b_amount);
    ASSERT_EQ_INT(th_limit_used(&client, &a, "kyc_lifetime"), b_amount);
    json_t *refunds = S_bills(&client, &a, "red_packet_refund");
    ASSERT_EQ_INT(json_array_size(refunds), 2);
    ASSERT_EQ_INT(S_int(json_array_get(refunds, 0), "amount") +
                      S_int(json_array_get(refunds, 1), "amount"),
                  1000 - b_amount + 500);
    json_decref(refunds);
    client_release(&client);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);

    char verify_out[600];
    snprintf(verify_out, sizeof verify_out, "%s/expiry-verify.out", S_root);
    const char *verify[] = {"--data-dir", d.data_dir, "--verify", NULL};
    ASSERT_EQ_INT(test_daemon_run(verify, verify_out, 30000), 0);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(bad_inputs_are_refused_and_move_nothing);
    RUN(an_equal_packet_is_sent_by_its_total_or_its_share);
    RUN(send_claim_and_read_a_packet_then_verify_it);
    RUN(an_operator_sees_everything_the_sender_sees_and_whose_it_is);
    RUN(a_greeting_that_shows_nothing_is_the_default_one);
    RUN(a_crowd_of_two_hundred_grabs_ten_shares);
    RUN(reading_a_packet_while_a_crowd_grabs_it_always_answers);
    RUN(packets_appear_in_the_bills_with_their_own_types);
    RUN(expiry_refunds_the_rest_once_even_across_a_restart);

    /* The books balance after all of it. */
    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}
