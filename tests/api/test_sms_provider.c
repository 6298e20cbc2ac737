/*
 * test_sms_provider.c — codes delivered through an HTTP SMS provider.
 *
 * The test plays the provider: a thread listens on 127.0.0.1 (a kernel-chosen
 * port), reads each HTTP request, records its body and answers 200 — or 500
 * for the first `fail_count` requests, to see the daemon retry, or nothing at
 * all when `hang` is set. qianbaod runs
 * with --sms-provider-url pointing at it and a body template of our own, so
 * the test can check the substitution, that the delivered code works, and
 * that the code shows up nowhere it must not: the daemon's log and, once
 * delivered, the operator's outbox.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "test.h"

#define S_RECEIVED_MAX 32
#define S_REQUEST_SIZE_MAX 16384
#define S_LOG_SIZE_MAX (4 * 1024 * 1024)
#define S_TEMPLATE                                                                                 \
    "{\"mobile\":\"{phone}\",\"text\":\"Qianbao code {code}\",\"kind\":\"{purpose}\","             \
    "\"sms\":\"{text}\",\"what\":\"{detail}\",\"card\":\"{card_last4}\",\"wallet\":\"{wallet_"     \
    "phone}\"}"

struct receiver {
    int listen_fd;
    unsigned short port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    int fail_count; /* answer 500 to this many requests first */
    bool hang;      /* read requests and never answer them */
    int hung_fds[S_RECEIVED_MAX];
    int hung_count;
    int request_count; /* every request, answered 200 or 500 */
    char path[S_RECEIVED_MAX][256];
    char content_type[S_RECEIVED_MAX][128];
    char attempt_body[S_RECEIVED_MAX][2048]; /* every request's body */
    char body[S_RECEIVED_MAX][2048];
    int body_count; /* bodies of the requests answered 200 */
};

static char S_root[512];
static struct receiver S_receiver;
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static char S_log[S_LOG_SIZE_MAX];
static const char *S_args[8]; /* the daemon's flags after the Argon2id ones */

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Reads one HTTP/1.1 request (headers, then Content-Length bytes of body)
 * from fd into buf; the body starts at *body_at. False on a short read. */
static bool S_request_read(int fd, char *buf, size_t buf_size, size_t *size, size_t *body_at)
{
    *size = 0;
    size_t need = 0;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 5000) <= 0)
            return false;
        ssize_t n = read(fd, buf + *size, buf_size - 1 - *size);
        if (n <= 0)
            return false;
        *size += (size_t)n;
        buf[*size] = '\0';
        if (need == 0) {
            char *end = strstr(buf, "\r\n\r\n");
            if (end == NULL) {
                if (*size == buf_size - 1)
                    return false;
                continue;
            }
            *body_at = (size_t)(end + 4 - buf);
            size_t length = 0;
            for (char *line = buf; line < end; line = strstr(line, "\r\n") + 2) {
                if (strncasecmp(line, "Content-Length:", 15) == 0)
                    length = (size_t)strtoul(line + 15, NULL, 10);
            }
            need = *body_at + length;
            if (need >= buf_size)
                return false;
        }
        if (*size >= need)
            return true;
    }
}

/* Copies the value of header name from the request head into out. */
static void S_header_copy(const char *request, const char *name, char *out, size_t out_size)
{
    out[0] = '\0';
    size_t name_size = strlen(name);
    for (const char *line = request; line != NULL && strncmp(line, "\r\n", 2) != 0;) {
        if (strncasecmp(line, name, name_size) == 0 && line[name_size] == ':') {
            const char *v = line + name_size + 1;
            v += strspn(v, " \t");
            snprintf(out, out_size, "%.*s", (int)strcspn(v, "\r\n"), v);
            return;
        }
        line = strstr(line, "\r\n");
        if (line != NULL)
            line += 2;
    }
}

static void *S_receiver_run(void *arg)
{
    struct receiver *r = arg;
    static char request[S_REQUEST_SIZE_MAX];
    while (!atomic_load(&r->stop)) {
        struct pollfd pfd = {r->listen_fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(r->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        size_t size = 0, body_at = 0;
        if (S_request_read(fd, request, sizeof request, &size, &body_at)) {
            pthread_mutex_lock(&r->lock);
            bool fail = r->request_count < r->fail_count;
            int index = r->request_count < S_RECEIVED_MAX ? r->request_count : -1;
            r->request_count++;
            if (index >= 0) {
                snprintf(r->path[index], sizeof r->path[index], "%.*s",
                         (int)strcspn(request, "\r\n"), request);
                S_header_copy(request, "Content-Type", r->content_type[index],
                              sizeof r->content_type[index]);
                snprintf(r->attempt_body[index], sizeof r->attempt_body[index], "%s",
                         request + body_at);
            }
            if (r->hang && r->hung_count < S_RECEIVED_MAX) {
                r->hung_fds[r->hung_count++] = fd;
                pthread_mutex_unlock(&r->lock);
                continue;
            }
            if (!fail && r->body_count < S_RECEIVED_MAX) {
                snprintf(r->body[r->body_count], sizeof r->body[0], "%s", request + body_at);
                r->body_count++;
            }
            pthread_mutex_unlock(&r->lock);
            const char *answer =
                fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n"
                     : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
            size_t left = strlen(answer);
            while (left > 0) {
                ssize_t n = write(fd, answer, left);
                if (n <= 0)
                    break;
                answer += n;
                left -= (size_t)n;
            }
        }
        close(fd);
    }
    return NULL;
}

static bool S_receiver_start(struct receiver *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t addr_size = sizeof addr;
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(r->listen_fd, 16) != 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&addr, &addr_size) != 0) {
        fprintf(stderr, "receiver: %s\n", strerror(errno));
        return false;
    }
    r->port = ntohs(addr.sin_port);
    return pthread_create(&r->thread, NULL, S_receiver_run, r) == 0;
}

static void S_receiver_stop(struct receiver *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    for (int i = 0; i < r->hung_count; i++)
        close(r->hung_fds[i]);
    close(r->listen_fd);
    pthread_mutex_destroy(&r->lock);
}

/* Waits up to timeout_ms for a body (answered 200) that holds needle;
 * copies it into out. */
static bool S_body_wait(const char *needle, char *out, size_t out_size, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        pthread_mutex_lock(&S_receiver.lock);
        bool found = false;
        for (int i = 0; i < S_receiver.body_count && !found; i++) {
            if (strstr(S_receiver.body[i], needle) != NULL) {
                snprintf(out, out_size, "%s", S_receiver.body[i]);
                found = true;
            }
        }
        pthread_mutex_unlock(&S_receiver.lock);
        if (found)
            return true;
        S_sleep_ms(20);
    }
    return false;
}

/* Requests a register code for phone, waits for the provider to receive it,
 * checks the templated body and writes the code into code. */
static void S_code_delivered(const char *phone, char code[API_SMS_CODE_SIZE], int timeout_ms)
{
    ASSERT_EQ_INT(api_sms_request(&S_client, phone, "register"), 202);
    char body[2048];
    if (!S_body_wait(phone, body, sizeof body, timeout_ms))
        TEST_FAIL_("the provider received nothing for %s within %d ms", phone, timeout_ms);
    json_t *json = json_loads(body, 0, NULL);
    if (json == NULL)
        TEST_FAIL_("the provider got a body that is not JSON: %s", body);
    ASSERT_EQ_INT(json_object_size(json), 7);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "mobile")), phone);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "kind")), "register");
    const char *text = json_string_value(json_object_get(json, "text"));
    ASSERT(text != NULL && strncmp(text, "Qianbao code ", 13) == 0);
    ASSERT_EQ_INT(strlen(text + 13), 6);
    ASSERT_EQ_INT(strspn(text + 13, "0123456789"), 6);
    snprintf(code, API_SMS_CODE_SIZE, "%s", text + 13);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "what")), "您正在注册钱包账号");
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "card")), "");
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "wallet")), "");
    json_decref(json);
}

/* Registers phone with its register code (POST /v1/users, 201). */
static void S_register(const char *phone, const char *code)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"phone\":\"%s\",\"sms_code\":\"%s\",\"password\":\"good pass 1\","
             "\"display_name\":\"n\"}",
             phone, code);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/users", NULL, body, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "phone"), phone);
    client_response_release(&res);
}

TEST(code_is_posted_to_the_provider_and_works)
{
    // In production the code reaches the user only through the provider: it must arrive there in
    // the operator's template, as JSON, with the phone and a six-digit code that registers.
    char phone[API_PHONE_SIZE];
    api_phone_new(phone);
    char code[API_SMS_CODE_SIZE];
    S_code_delivered(phone, code, 5000);

    pthread_mutex_lock(&S_receiver.lock);
    char path[256], content_type[128];
    snprintf(path, sizeof path, "%s", S_receiver.path[0]);
    snprintf(content_type, sizeof content_type, "%s", S_receiver.content_type[0]);
    pthread_mutex_unlock(&S_receiver.lock);
    ASSERT_EQ_STR(path, "POST /sms/send HTTP/1.1");
    ASSERT(strncmp(content_type, "application/json", 16) == 0);

    S_register(phone, code);
}

TEST(a_code_of_every_purpose_reaches_the_provider)
{
    // A purpose the worker does not know is dropped as unsendable: a user who forgot the password
    // would never get the code that sets a new one. Every purpose a registered user may ask for
    // must reach the provider, named in the template's {purpose}.
    char phone[API_PHONE_SIZE];
    api_phone_new(phone);
    char code[API_SMS_CODE_SIZE];
    S_code_delivered(phone, code, 5000);
    S_register(phone, code);
    /* A bind_card code is asked for in the wallet's session. */
    char body[256];
    snprintf(body, sizeof body,
             "{\"phone\":\"%s\",\"password\":\"good pass 1\",\"device_name\":\"test\"}", phone);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/sessions", NULL, body, &res), 201);
    char token[API_TOKEN_SIZE_MAX];
    snprintf(token, sizeof token, "%s", api_json_str(&res, "token"));
    client_response_release(&res);
    const char *purposes[] = {"login",      "bind_card", "reset_payment_password",
                              "new_device", "unfreeze",  "reset_password"};
    for (size_t i = 0; i < sizeof purposes / sizeof purposes[0]; i++) {
        bool card = strcmp(purposes[i], "bind_card") == 0;
        ASSERT_EQ_INT(api_sms_request_as(&S_client, card ? token : NULL, phone, purposes[i],
                                         card ? "9999000000000012" : NULL),
                      202);
        char kind[64];
        snprintf(kind, sizeof kind, "\"kind\":\"%s\"", purposes[i]);
        bool found = false;
        for (int waited = 0; waited <= 5000 && !found; waited += 20) {
            pthread_mutex_lock(&S_receiver.lock);
            for (int j = 0; j < S_receiver.body_count && !found; j++)
                found = strstr(S_receiver.body[j], phone) != NULL &&
                        strstr(S_receiver.body[j], kind) != NULL;
            pthread_mutex_unlock(&S_receiver.lock);
            if (!found)
                S_sleep_ms(20);
        }
        if (!found)
            TEST_FAIL_("no %s code for %s reached the provider within 5 s", purposes[i], phone);
    }
    /* A notice reaches it too, with no code and its own purpose: the password changed. */
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/password", token,
                           "{\"password\":\"better pass 2\",\"current_password\":\"good pass 1\"}",
                           &res),
                  204);
    client_response_release(&res);
    char body_seen[2048] = "";
    for (int waited = 0; waited <= 5000 && body_seen[0] == '\0'; waited += 20) {
        pthread_mutex_lock(&S_receiver.lock);
        for (int j = 0; j < S_receiver.body_count; j++)
            if (strstr(S_receiver.body[j], phone) != NULL &&
                strstr(S_receiver.body[j], "\"kind\":\"notice_password_changed\"") != NULL)
                snprintf(body_seen, sizeof body_seen, "%s", S_receiver.body[j]);
        pthread_mutex_unlock(&S_receiver.lock);
        if (body_seen[0] == '\0')
            S_sleep_ms(20);
    }
    json_t *json = json_loads(body_seen, 0, NULL);
    if (json == NULL)
        TEST_FAIL_("no notice for %s reached the provider within 5 s", phone);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "text")), "Qianbao code ");
    ASSERT_EQ_STR(
        json_string_value(json_object_get(json, "sms")),
        "您的钱包登录密码已修改，其他设备上的登录已退出。如非本人操作，请立即冻结钱包并联系客服。");
    json_decref(json);
}

TEST(a_template_that_cannot_say_a_notice_sends_none)
{
    // A provider of registered templates whose body names neither the text nor the purpose would
    // send a notice as a code's message with no code: the daemon sends no notices then, and says
    // so when it starts.
    char dir[700], log_path[700], url[128];
    snprintf(dir, sizeof dir, "%s/no-notices", S_root);
    snprintf(log_path, sizeof log_path, "%s/no-notices.log", S_root);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sms/send", (unsigned int)S_receiver.port);
    const char *args[] = {"--sms-provider-url", url, "--sms-body-template",
                          "{\"mobile\":\"{phone}\",\"template\":\"SMS_1\",\"code\":\"{code}\"}",
                          NULL};
    struct test_daemon d;
    ASSERT(test_daemon_start(&d, dir, log_path, args));
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT(test_file_read(log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "event=sms.notices_off") != NULL);
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "sms.notices_off") == NULL);
}

TEST(a_bind_card_message_says_which_card_and_which_wallet)
{
    // A provider's template takes what the code authorises as well as the code: {text}, the
    // whole message; {detail}, what it authorises; and for bind_card {card_last4} and
    // {wallet_phone}, the masked phone of the wallet that asked. The card's phone, which may be
    // a victim's, reads which card is being bound to whose wallet; never the whole number.
    char asker[API_PHONE_SIZE], card_phone[API_PHONE_SIZE], code[API_SMS_CODE_SIZE];
    api_phone_new(asker);
    api_phone_new(card_phone);
    S_code_delivered(asker, code, 5000);
    S_register(asker, code);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"phone\":\"%s\",\"password\":\"good pass 1\",\"device_name\":\"test\"}", asker);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/sessions", NULL, body, &res), 201);
    char token[API_TOKEN_SIZE_MAX];
    snprintf(token, sizeof token, "%s", api_json_str(&res, "token"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_sms_request_as(&S_client, token, card_phone, "bind_card", "9999000000000012"),
                  202);
    if (!S_body_wait(card_phone, body, sizeof body, 5000))
        TEST_FAIL_("the provider received nothing for %s within 5 s", card_phone);
    ASSERT(strstr(body, "9999000000000012") == NULL);
    ASSERT(strstr(body, asker) == NULL);
    json_t *json = json_loads(body, 0, NULL);
    ASSERT(json != NULL);
    const char *text = json_string_value(json_object_get(json, "text"));
    ASSERT(text != NULL && strlen(text) == 13 + 6);
    char masked[16], what[256], sms[512];
    snprintf(masked, sizeof masked, "%.3s****%s", asker, asker + 7);
    snprintf(what, sizeof what, "您正在将尾号 0012 的银行卡绑定到钱包账号 %s", masked);
    snprintf(sms, sizeof sms, "验证码 %s：%s，切勿告诉任何人。", text + 13, what);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "card")), "0012");
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "wallet")), masked);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "what")), what);
    ASSERT_EQ_STR(json_string_value(json_object_get(json, "sms")), sms);
    json_decref(json);
}

TEST(delivered_code_is_not_kept_in_the_outbox)
{
    // With a real provider the operator's outbox must not become a second place to read codes
    // from: once delivered, the message is listed as delivered and without its code.
    char phone[API_PHONE_SIZE];
    api_phone_new(phone);
    char code[API_SMS_CODE_SIZE];
    S_code_delivered(phone, code, 5000);
    char path[128];
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s", phone);
    bool delivered = false;
    bool listed = false;
    char shown[16] = "";
    for (int i = 0; i < 100 && !delivered; i++) {
        struct client_response res;
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
        json_t *outbox = api_json(&res);
        client_response_release(&res);
        json_t *items = json_object_get(outbox, "items");
        json_t *item = json_array_get(items, 0);
        listed = json_array_size(items) == 1;
        const char *delivery = json_string_value(json_object_get(item, "delivery"));
        delivered = listed && delivery != NULL && strcmp(delivery, "delivered") == 0;
        const char *text = json_string_value(json_object_get(item, "code"));
        snprintf(shown, sizeof shown, "%s", text != NULL ? text : "(none)");
        json_decref(outbox);
        if (!delivered)
            S_sleep_ms(20);
    }
    ASSERT(listed);
    ASSERT(delivered);
    ASSERT_EQ_STR(shown, "");
}

/* Has the provider fail from now on (until fail_count is reset), asks for a
 * register code for a new phone (in phone) and waits for the first try,
 * which failed. */
static void S_code_failing(char phone[API_PHONE_SIZE])
{
    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.fail_count = S_receiver.request_count + 1000;
    int before = S_receiver.request_count;
    pthread_mutex_unlock(&S_receiver.lock);
    api_phone_new(phone);
    ASSERT_EQ_INT(api_sms_request(&S_client, phone, "register"), 202);
    for (int waited = 0;; waited += 10) {
        pthread_mutex_lock(&S_receiver.lock);
        int tried = S_receiver.request_count - before;
        pthread_mutex_unlock(&S_receiver.lock);
        if (tried > 0)
            return;
        if (waited > 5000)
            TEST_FAIL_("no delivery attempt for %s within 5 s", phone);
        S_sleep_ms(10);
    }
}

TEST(undelivered_code_is_not_shown_either)
{
    // Nor while the provider fails: a code waiting for its next try (or given up after the
    // last) is listed without it, or the outbox would be a way round the provider for whoever
    // can read /admin.
    char phone[API_PHONE_SIZE];
    S_code_failing(phone);
    char path[128];
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s", phone);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *outbox = api_json(&res);
    client_response_release(&res);
    json_t *item = json_array_get(json_object_get(outbox, "items"), 0);
    ASSERT(item != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "code")), "");
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "delivery")), "retrying");
    json_decref(outbox);
    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.fail_count = 0;
    pthread_mutex_unlock(&S_receiver.lock);
}

/* The value of the gauge line that starts with name in /metrics; -1 when absent. */
static double S_gauge(const char *name)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/metrics", NULL, NULL, &res), 200);
    char needle[160];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *line = strstr(res.body.data, needle);
    double value = line != NULL ? strtod(line + strlen(needle), NULL) : -1;
    client_response_release(&res);
    return value;
}

#define S_SMS_AGE "qianbao_sms_undelivered_oldest_seconds"

TEST(stuck_code_shows_its_age_in_the_metrics)
{
    // An operator woken at night must tell from /metrics whether codes are stuck on the way to
    // their users: while the provider fails, the age of the oldest message still tried grows
    // from the moment it was asked for; once the provider takes it, the gauge is 0 again.
    for (int waited = 0; S_gauge(S_SMS_AGE) != 0; waited += 20) {
        if (waited > 10000) /* what the tests before left to retry */
            TEST_FAIL_("%s is not 0 before the test", S_SMS_AGE);
        S_sleep_ms(20);
    }
    char phone[API_PHONE_SIZE];
    S_code_failing(phone);
    S_sleep_ms(100);
    double first = S_gauge(S_SMS_AGE);
    ASSERT(first >= 0.1);
    ASSERT(first < 300); /* younger than the code's TTL, or it would be expired */
    S_sleep_ms(200);
    double later = S_gauge(S_SMS_AGE);
    ASSERT(later >= first + 0.15);

    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.fail_count = 0;
    pthread_mutex_unlock(&S_receiver.lock);
    char body[2048];
    if (!S_body_wait(phone, body, sizeof body, 8000))
        TEST_FAIL_("the provider received nothing for %s within 8 s", phone);
    double age = -1;
    for (int waited = 0; (age = S_gauge(S_SMS_AGE)) != 0 && waited <= 5000; waited += 20)
        S_sleep_ms(20); /* the worker records the delivery after the provider's answer */
    if (age != 0)
        TEST_FAIL_("%s is %.3f after the delivery", S_SMS_AGE, age);
}

TEST(failed_delivery_is_retried)
{
    // Providers fail now and then: a 500 must be retried (after about 1 s) until the provider
    // takes the message, and the code then still works.
    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.fail_count = S_receiver.request_count + 1;
    int before = S_receiver.request_count;
    pthread_mutex_unlock(&S_receiver.lock);
    char phone[API_PHONE_SIZE];
    api_phone_new(phone);
    char code[API_SMS_CODE_SIZE];
    S_code_delivered(phone, code, 8000);
    pthread_mutex_lock(&S_receiver.lock);
    int attempts = S_receiver.request_count - before;
    pthread_mutex_unlock(&S_receiver.lock);
    ASSERT(attempts >= 2);
    S_register(phone, code);
    // The operator can tell which message waits, and for how long: the outbox row and the next
    // attempt, beside the provider's failure.
    char masked[16], want[128];
    snprintf(masked, sizeof masked, "****%s", phone + strlen(phone) - 4);
    snprintf(want, sizeof want, "purpose=register phone=%s attempts=1 next_attempt_in_ms=1000",
             masked);
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    const char *line = strstr(S_log, want);
    ASSERT(line != NULL);
    while (line > S_log && line[-1] != '\n')
        line--;
    ASSERT(strstr(line, "event=sms.retry_scheduled outbox_id=") != NULL);
}

TEST(log_never_holds_a_code)
{
    // Logs are read by more people than codes may be: no code the provider received appears in
    // the daemon's log.
    pthread_mutex_lock(&S_receiver.lock);
    int count = S_receiver.body_count;
    static char bodies[S_RECEIVED_MAX][2048];
    memcpy(bodies, S_receiver.body, sizeof bodies);
    pthread_mutex_unlock(&S_receiver.lock);
    ASSERT(count >= 3);
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    ASSERT(strlen(S_log) > 0);
    for (int i = 0; i < count; i++) {
        const char *at = strstr(bodies[i], "Qianbao code ");
        ASSERT(at != NULL);
        char code[API_SMS_CODE_SIZE];
        snprintf(code, sizeof code, "%.6s", at + 13);
        const char *found = api_log_secret(S_log, code);
        if (found != NULL) {
            const char *line = found;
            while (line > S_log && line[-1] != '\n')
                line--;
            TEST_FAIL_("code %s is in the log: %.*s", code, (int)strcspn(line, "\n"), line);
        }
    }
}

TEST(bad_provider_url_is_refused_at_start)
{
    // A typo in the provider URL would silently drop every code; the daemon must refuse to start
    // instead, saying why.
    char dir[700], output[700];
    snprintf(dir, sizeof dir, "%s/bad-url", S_root);
    snprintf(output, sizeof output, "%s/bad-url.log", S_root);
    const char *args[] = {
        "--data-dir",           dir, "--listen", "127.0.0.1:0", "--sms-provider-url",
        "ftp://127.0.0.1/send", NULL};
    int status = test_daemon_run(args, output, 20000);
    ASSERT(test_file_read(output, S_log, sizeof S_log));
    if (status == 0 || status == -1)
        TEST_FAIL_("qianbaod with an ftp:// provider exited %d: %s", status, S_log);
    ASSERT(strstr(S_log, "--sms-provider-url refused: the url must begin http:// or https://") !=
           NULL);
}

/* How many requests the provider received (answered or not) whose body
 * holds needle. */
static int S_attempts_for(const char *needle)
{
    pthread_mutex_lock(&S_receiver.lock);
    int count = 0;
    for (int i = 0; i < S_receiver.request_count && i < S_RECEIVED_MAX; i++)
        count += strstr(S_receiver.attempt_body[i], needle) != NULL;
    pthread_mutex_unlock(&S_receiver.lock);
    return count;
}

/* Restarts the daemon on its data directory with the same flags. */
static bool S_daemon_restart(void)
{
    client_release(&S_client);
    char dir[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s", S_daemon.data_dir);
    char log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(log_path, sizeof log_path, "%s", S_daemon.log_path);
    const char *args[16];
    size_t count = 0;
    args[count++] = "--argon2-memory-kib";
    args[count++] = "8";
    args[count++] = "--argon2-ops";
    args[count++] = "1";
    for (size_t i = 0; S_args[i] != NULL; i++)
        args[count++] = S_args[i];
    args[count] = NULL;
    bool ok = test_daemon_start(&S_daemon, dir, log_path, args);
    client_init(&S_client, S_daemon.base_url);
    return ok;
}

/* A register code for a new phone (into phone) that the provider failed to
 * take at least once, then the daemon killed (SIGKILL) and the provider
 * taking messages again: a message left undelivered by a crash. */
static void S_code_undelivered_at_a_kill(char phone[API_PHONE_SIZE])
{
    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.fail_count = 1000000;
    pthread_mutex_unlock(&S_receiver.lock);
    api_phone_new(phone);
    ASSERT_EQ_INT(api_sms_request(&S_client, phone, "register"), 202);
    for (int waited = 0; S_attempts_for(phone) == 0; waited += 20) {
        if (waited > 5000)
            TEST_FAIL_("no delivery attempt for %s within 5 s", phone);
        S_sleep_ms(20);
    }
    test_daemon_kill(&S_daemon);
    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.fail_count = 0;
    pthread_mutex_unlock(&S_receiver.lock);
}

TEST(undelivered_code_survives_a_crash)
{
    // The outbox row is written with the code in one transaction, so a crash while the provider is
    // failing loses nothing: after a restart the message is delivered and the code works.
    char phone[API_PHONE_SIZE];
    S_code_undelivered_at_a_kill(phone);
    ASSERT(S_daemon_restart());

    char body[2048];
    if (!S_body_wait(phone, body, sizeof body, 10000))
        TEST_FAIL_("the message for %s was not delivered within 10 s of the restart", phone);
    json_t *json = json_loads(body, 0, NULL);
    ASSERT(json != NULL);
    const char *text = json_string_value(json_object_get(json, "text"));
    ASSERT(text != NULL && strlen(text) == 19);
    char register_body[512];
    snprintf(register_body, sizeof register_body,
             "{\"phone\":\"%s\",\"sms_code\":\"%s\",\"password\":\"good pass 1\","
             "\"display_name\":\"n\"}",
             phone, text + 13);
    json_decref(json);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/users", NULL, register_body, &res), 201);
    client_response_release(&res);
}

/* The value of the gauge line that starts with name in /metrics; -1 when absent. */
static long long S_metric(const char *name)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/metrics", NULL, NULL, &res), 200);
    char needle[160];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *line = strstr(res.body.data, needle);
    long long value = line != NULL ? atoll(line + strlen(needle)) : -1;
    client_response_release(&res);
    return value;
}

TEST(expired_code_is_not_sent_after_a_restart)
{
    // A code that reaches its user after its TTL (300 s here) no longer works and only confuses
    // them: a message still failing when the daemon stopped, started again once its code expired,
    // is given up unsent, shown to the operator as expired (and not as still tried), and logged
    // with the phone's last four digits only.
    char phone[API_PHONE_SIZE];
    S_code_undelivered_at_a_kill(phone);
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", "301000", 1);
    bool restarted = S_daemon_restart();
    unsetenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    ASSERT(restarted);

    char masked[32];
    snprintf(masked, sizeof masked, "phone=****%s", phone + 7);
    const char *line = NULL;
    for (int waited = 0; line == NULL; waited += 20) {
        if (waited > 5000)
            TEST_FAIL_("no sms.expired_undelivered for %s within 5 s of the restart", masked);
        S_sleep_ms(20);
        ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
        for (const char *at = strstr(S_log, "sms.expired_undelivered"); at != NULL && line == NULL;
             at = strstr(at + 1, "sms.expired_undelivered")) {
            const char *start = at;
            while (start > S_log && start[-1] != '\n')
                start--;
            size_t size = strcspn(start, "\n");
            const char *found = strstr(start, masked);
            if (found != NULL && found < start + size)
                line = start;
        }
    }
    size_t line_size = strcspn(line, "\n");
    char logged[1024];
    snprintf(logged, sizeof logged, "%.*s", (int)line_size, line);
    ASSERT(strstr(logged, "level=warn") != NULL);
    ASSERT(strstr(logged, "purpose=register") != NULL);
    ASSERT(strstr(logged, "outbox_id=") != NULL);
    ASSERT(strstr(logged, phone) == NULL);
    S_sleep_ms(600); /* three of the worker's passes: nothing more goes out */
    ASSERT_EQ_INT(S_attempts_for(phone), 1);

    char path[128];
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s", phone);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *outbox = api_json(&res);
    client_response_release(&res);
    json_t *item = json_array_get(json_object_get(outbox, "items"), 0);
    ASSERT(item != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "delivery")), "expired");
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "code")), "");
    json_decref(outbox);
    ASSERT(S_metric("qianbao_sms_undelivered{state=\"expired\"}") >= 1);
    ASSERT_EQ_INT(S_metric("qianbao_sms_undelivered{state=\"retrying\"}"), 0);
}

TEST(hanging_provider_does_not_hold_up_stop)
{
    // A provider that accepts and never answers must neither slow the API down nor keep the daemon
    // from stopping: SIGTERM ends it cleanly within the provider timeout (5 s) and a margin.
    pthread_mutex_lock(&S_receiver.lock);
    S_receiver.hang = true;
    pthread_mutex_unlock(&S_receiver.lock);
    char phone[API_PHONE_SIZE];
    api_phone_new(phone);
    ASSERT_EQ_INT(api_sms_request(&S_client, phone, "register"), 202);
    for (int waited = 0; S_attempts_for(phone) == 0; waited += 20) {
        if (waited > 5000)
            TEST_FAIL_("no delivery attempt for %s within 5 s", phone);
        S_sleep_ms(20);
    }
    /* Meanwhile the API answers as usual: the worker holds no lock the
     * request path needs. */
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char other[API_PHONE_SIZE];
    api_phone_new(other);
    ASSERT_EQ_INT(api_sms_request(&S_client, other, "register"), 202);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/sms-outbox", S_admin, NULL, &res), 200);
    client_response_release(&res);
    clock_gettime(CLOCK_MONOTONIC, &end);
    long busy_ms =
        (long)(end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    ASSERT(busy_ms < 1000);

    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = test_daemon_stop(&S_daemon);
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed_ms =
        (long)(end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    fprintf(stderr, "  stopped in %ld ms\n", elapsed_ms);
    ASSERT_EQ_INT(status, 0);
    ASSERT(elapsed_ms < 10000);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_step(S_receiver_start(&S_receiver), "start the provider's receiver"))
        return api_suite_end(&suite);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sms/send", (unsigned int)S_receiver.port);
    const char *args[] = {
        "--sms-provider-url", url, "--sms-body-template", S_TEMPLATE, "--log-level", "debug", NULL};
    memcpy(S_args, args, sizeof args);
    if (api_suite_daemon(&suite, &S_daemon, "provider", args, S_admin, &S_client)) {
        RUN(code_is_posted_to_the_provider_and_works);
        RUN(a_code_of_every_purpose_reaches_the_provider);
        RUN(a_bind_card_message_says_which_card_and_which_wallet);
        RUN(delivered_code_is_not_kept_in_the_outbox);
        RUN(undelivered_code_is_not_shown_either);
        RUN(stuck_code_shows_its_age_in_the_metrics);
        RUN(failed_delivery_is_retried);
        RUN(undelivered_code_survives_a_crash);
        RUN(expired_code_is_not_sent_after_a_restart);
        RUN(log_never_holds_a_code);
        RUN(bad_provider_url_is_refused_at_start);
        RUN(a_template_that_cannot_say_a_notice_sends_none);
        RUN(hanging_provider_does_not_hold_up_stop);
    }
    api_suite_stop(&suite); /* the daemon first: it may be sending to the receiver */
    S_receiver_stop(&S_receiver);
    return api_suite_end(&suite);
}
