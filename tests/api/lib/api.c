/*
 * api.c — the helpers of api.h, on client.c and jansson.
 *
 * Every helper checks each answer it relies on (status and shape) and says
 * which step failed, so a broken registration shows up as "POST /v1/users
 * answered 500 {...}" rather than as a confusing failure later in the test.
 */
#include "api/lib/api.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_BODY_QUOTE_MAX 300

static _Thread_local char S_error[API_ERROR_SIZE_MAX];

const char *api_error(void) { return S_error; }

__attribute__((format(printf, 1, 2))) static bool S_fail(const char *fmt, ...);

static bool S_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(S_error, sizeof S_error, fmt, ap);
    va_end(ap);
    return false;
}

/* Fails with "what answered STATUS BODY" (the body cut short). */
static bool S_fail_res(const char *what, const struct client_response *res)
{
    return S_fail("%s answered %ld %.*s%s", what, res->status,
                  (int)(res->body.size < S_BODY_QUOTE_MAX ? res->body.size : S_BODY_QUOTE_MAX),
                  res->body.data != NULL ? res->body.data : "", res->error);
}

bool api_daemon_start(struct test_daemon *daemon, const char *root, const char *name,
                      const char *const *extra_args, char *admin_token)
{
    char dir[TEST_DAEMON_PATH_SIZE_MAX];
    char log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", root, name);
    const char *args[32] = {"--argon2-memory-kib", "8", "--argon2-ops", "1"};
    size_t count = 4;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && count < 31; i++)
        args[count++] = extra_args[i];
    args[count] = NULL;
    bool ok = test_daemon_start(daemon, dir, log_path, args) &&
              test_daemon_admin_token(daemon, admin_token, API_TOKEN_SIZE_MAX);
    if (!ok) {
        static char log[64 * 1024];
        if (test_file_read(log_path, log, sizeof log))
            fprintf(stderr, "--- %s ---\n%s", log_path, log);
        test_daemon_kill(daemon);
        return S_fail("qianbaod %s did not start", name);
    }
    return true;
}

void api_phone_new(char phone[API_PHONE_SIZE])
{
    static unsigned long long counter;
    static unsigned long long base;
    if (base == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        base = ((unsigned long long)ts.tv_nsec ^ (unsigned long long)getpid() * 7919ull) %
                   100000000ull +
               1;
    }
    unsigned long long n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(phone, API_PHONE_SIZE, "13%09llu", (base + n * 1009ull) % 1000000000ull);
}

long api_call_typed(struct client *client, const char *method, const char *path, const char *token,
                    const char *content_type, const void *body, size_t body_size,
                    struct client_response *res)
{
    char authorization[API_TOKEN_SIZE_MAX + 64];
    const char *headers[3];
    size_t count = 0;
    if (content_type != NULL)
        headers[count++] = content_type;
    if (token != NULL) {
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", token);
        headers[count++] = authorization;
    }
    headers[count] = NULL;
    client_request(client, method, path, headers, body, body_size, res);
    return res->status;
}

long api_call(struct client *client, const char *method, const char *path, const char *token,
              const char *body, struct client_response *res)
{
    return api_call_typed(client, method, path, token,
                          body != NULL ? "Content-Type: application/json" : NULL, body,
                          body != NULL ? strlen(body) : 0, res);
}

long api_call_idem(struct client *client, const char *method, const char *path, const char *token,
                   const char *key, const char *body, struct client_response *res)
{
    char authorization[API_TOKEN_SIZE_MAX + 64];
    char idempotency[512 + 32];
    const char *headers[4];
    size_t count = 0;
    if (body != NULL)
        headers[count++] = "Content-Type: application/json";
    if (token != NULL) {
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", token);
        headers[count++] = authorization;
    }
    if (key != NULL) {
        snprintf(idempotency, sizeof idempotency, "Idempotency-Key: %s", key);
        headers[count++] = idempotency;
    }
    headers[count] = NULL;
    client_request(client, method, path, headers, body, body != NULL ? strlen(body) : 0, res);
    return res->status;
}

json_t *api_json(const struct client_response *res)
{
    if (res->body.data == NULL || res->body.size == 0)
        return NULL;
    return json_loadb(res->body.data, res->body.size, 0, NULL);
}

const char *api_json_str(const struct client_response *res, const char *name)
{
    static _Thread_local char value[1024];
    value[0] = '\0';
    json_t *body = api_json(res);
    const char *text = json_string_value(json_object_get(body, name));
    if (text != NULL)
        snprintf(value, sizeof value, "%s", text);
    json_decref(body);
    return value;
}

long long api_json_int(const struct client_response *res, const char *name, long long fallback)
{
    json_t *body = api_json(res);
    json_t *member = json_object_get(body, name);
    long long value = json_is_integer(member) ? (long long)json_integer_value(member) : fallback;
    json_decref(body);
    return value;
}

const char *api_error_code(const struct client_response *res)
{
    static _Thread_local char code[64];
    code[0] = '\0';
    json_t *body = api_json(res);
    const char *text = json_string_value(json_object_get(body, "code"));
    const char *message = json_string_value(json_object_get(body, "message"));
    /* Nothing but the two, or the one member docs/api.md adds to that code. */
    const char *extra = text == NULL                                ? NULL
                        : strcmp(text, "LIMIT_EXCEEDED") == 0       ? "limit"
                        : strcmp(text, "PASSWORD_LOCKED") == 0      ? "locked_until"
                        : strcmp(text, "PAYMENT_CODE_LOCKED") == 0  ? "locked_until"
                        : strcmp(text, "RATE_LIMITED") == 0         ? "locked_until"
                        : strcmp(text, "PHONE_CHANGE_HELD") == 0    ? "locked_until"
                        : strcmp(text, "ACCOUNT_NOT_EMPTY") == 0    ? "reason"
                        : strcmp(text, "TRANSFER_RETURNED") == 0    ? "return_id"
                        : strcmp(text, "INSUFFICIENT_BALANCE") == 0 ? "fee"
                                                                    : NULL;
    size_t size = json_object_size(body);
    json_t *member = extra != NULL ? json_object_get(body, extra) : NULL;
    bool member_ok = strcmp(extra != NULL ? extra : "", "fee") == 0 ? json_integer_value(member) > 0
                                                                    : json_is_string(member);
    if (text != NULL && message != NULL && message[0] != '\0' &&
        (size == 2 || (size == 3 && member_ok)))
        snprintf(code, sizeof code, "%s", text);
    json_decref(body);
    return code;
}

const char *api_header(const struct client_response *res, const char *name)
{
    static _Thread_local char value[512];
    return client_response_header(res, name, value, sizeof value) != NULL ? value : "";
}

long api_sms_request(struct client *client, const char *phone, const char *purpose)
{
    return api_sms_request_target(client, phone, purpose, NULL);
}

long api_sms_request_target(struct client *client, const char *phone, const char *purpose,
                            const char *target)
{
    return api_sms_request_as(client, NULL, phone, purpose, target);
}

long api_sms_request_as(struct client *client, const char *token, const char *phone,
                        const char *purpose, const char *target)
{
    char body[512];
    if (target != NULL)
        snprintf(body, sizeof body, "{\"phone\":\"%s\",\"purpose\":\"%s\",\"target\":\"%s\"}",
                 phone, purpose, target);
    else
        snprintf(body, sizeof body, "{\"phone\":\"%s\",\"purpose\":\"%s\"}", phone, purpose);
    struct client_response res;
    long status = api_call(client, "POST", "/v1/sms-codes", token, body, &res);
    if (status != 202)
        S_fail_res("POST /v1/sms-codes", &res);
    client_response_release(&res);
    return status;
}

bool api_sms_code_read(struct client *client, const char *admin_token, const char *phone,
                       const char *purpose, char code[API_SMS_CODE_SIZE])
{
    char path[128];
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s", phone);
    struct client_response res;
    if (api_call(client, "GET", path, admin_token, NULL, &res) != 200) {
        S_fail_res("GET /admin/sms-outbox", &res);
        client_response_release(&res);
        return false;
    }
    json_t *body = api_json(&res);
    json_t *items = json_object_get(body, "items");
    bool found = false;
    for (size_t i = 0; i < json_array_size(items) && !found; i++) {
        json_t *item = json_array_get(items, i);
        const char *item_phone = json_string_value(json_object_get(item, "phone"));
        const char *item_purpose = json_string_value(json_object_get(item, "purpose"));
        const char *item_code = json_string_value(json_object_get(item, "code"));
        if (item_phone != NULL && strcmp(item_phone, phone) == 0 && item_purpose != NULL &&
            strcmp(item_purpose, purpose) == 0 && item_code != NULL &&
            strlen(item_code) == API_SMS_CODE_SIZE - 1) {
            snprintf(code, API_SMS_CODE_SIZE, "%s", item_code);
            found = true;
        }
    }
    if (!found)
        S_fail_res("GET /admin/sms-outbox (no code for this phone and purpose)", &res);
    json_decref(body);
    client_response_release(&res);
    return found;
}

long api_sms_notices(struct client *client, const char *admin_token, const char *phone,
                     const char *purpose, char *text, size_t text_size)
{
    char path[96];
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s&limit=100", phone);
    long count = 0;
    text[0] = '\0';
    for (int tries = 0; tries < 50; tries++) { /* the worker marks a row within 200 ms */
        struct client_response res;
        if (api_call(client, "GET", path, admin_token, NULL, &res) != 200) {
            S_fail_res("GET /admin/sms-outbox", &res);
            client_response_release(&res);
            return -1;
        }
        json_t *page = api_json(&res);
        client_response_release(&res);
        json_t *items = json_object_get(page, "items");
        long delivered = 0;
        count = 0;
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *item = json_array_get(items, i);
            const char *item_purpose = json_string_value(json_object_get(item, "purpose"));
            const char *code = json_string_value(json_object_get(item, "code"));
            const char *delivery = json_string_value(json_object_get(item, "delivery"));
            if (item_purpose == NULL || strcmp(item_purpose, purpose) != 0)
                continue;
            if (code == NULL || code[0] != '\0') {
                fprintf(stderr, "  a notice with a code in the outbox of %s\n", phone);
                json_decref(page);
                return -1;
            }
            if (count++ == 0)
                snprintf(text, text_size, "%s",
                         json_string_value(json_object_get(item, "text")) != NULL
                             ? json_string_value(json_object_get(item, "text"))
                             : "");
            delivered += delivery != NULL && strcmp(delivery, "delivered") == 0;
        }
        json_decref(page);
        if (delivered == count)
            break;
        usleep(100 * 1000);
    }
    return count;
}

bool api_sms_code_get(struct client *client, const char *admin_token, const char *phone,
                      const char *purpose, char code[API_SMS_CODE_SIZE])
{
    if (api_sms_request(client, phone, purpose) != 202)
        return false;
    return api_sms_code_read(client, admin_token, phone, purpose, code);
}

bool api_sms_code_get_for(struct client *client, const char *admin_token,
                          const struct api_user *user, const char *purpose,
                          char code[API_SMS_CODE_SIZE])
{
    if (api_sms_request(client, user->phone, purpose) != 202)
        return false;
    return api_sms_code_read(client, admin_token, user->phone, purpose, code);
}

bool api_phone_code_get(struct client *client, const char *admin_token, const struct api_user *user,
                        const char *new_phone, char code[API_SMS_CODE_SIZE])
{
    if (api_sms_request_as(client, user->token, new_phone, "change_phone", NULL) != 202)
        return false;
    return api_sms_code_read(client, admin_token, new_phone, "change_phone", code);
}

/* POST /v1/sessions with the password, device_name and sms_code (NULL:
 * absent); its status, the token into token_out on a 201, and the answer
 * printed when the status is not `expected`. */
static long S_login(struct client *client, const struct api_user *user, const char *device_name,
                    const char *device_key, const char *sms_code, long expected, char *token_out,
                    char *device_key_out)
{
    json_t *body = json_pack("{s:s, s:s}", "phone", user->phone, "password", user->password);
    if (device_name != NULL)
        json_object_set_new(body, "device_name", json_string(device_name));
    if (device_key != NULL && device_key[0] != '\0')
        json_object_set_new(body, "device_key", json_string(device_key));
    if (sms_code != NULL)
        json_object_set_new(body, "sms_code", json_string(sms_code));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct client_response res;
    long status = api_call(client, "POST", "/v1/sessions", NULL, text, &res);
    free(text);
    char token[API_TOKEN_SIZE_MAX], key[API_TOKEN_SIZE_MAX];
    snprintf(token, sizeof token, "%s", api_json_str(&res, "token"));
    snprintf(key, sizeof key, "%s", api_json_str(&res, "device_key"));
    if (status == 201 && strlen(token) == 64 && strlen(key) == 64) {
        snprintf(token_out, API_TOKEN_SIZE_MAX, "%s", token);
        if (device_key_out != NULL)
            snprintf(device_key_out, API_TOKEN_SIZE_MAX, "%s", key);
    } else if (status == 201) {
        status = 0;
    }
    if (status != expected)
        S_fail_res("POST /v1/sessions", &res);
    client_response_release(&res);
    return status;
}

bool api_login(struct client *client, const struct api_user *user, const char *device_name,
               char *token_out)
{
    return S_login(client, user, device_name, user->device_key, NULL, 201, token_out, NULL) == 201;
}

bool api_login_new_device(struct client *client, const char *admin_token,
                          const struct api_user *user, const char *device_name, char *token_out)
{
    char code[API_SMS_CODE_SIZE];
    return S_login(client, user, device_name, NULL, NULL, 403, token_out, NULL) == 403 &&
           api_sms_code_get_for(client, admin_token, user, "new_device", code) &&
           S_login(client, user, device_name, NULL, code, 201, token_out, NULL) == 201;
}

bool api_user_new(struct client *client, const char *admin_token, struct api_user *user)
{
    memset(user, 0, sizeof *user);
    api_phone_new(user->phone);
    snprintf(user->password, sizeof user->password, "%s", API_PASSWORD_DEFAULT);
    char code[API_SMS_CODE_SIZE];
    if (!api_sms_code_get(client, admin_token, user->phone, "register", code))
        return false;

    char body[512];
    snprintf(body, sizeof body,
             "{\"phone\":\"%s\",\"sms_code\":\"%s\",\"password\":\"%s\","
             "\"display_name\":\"Tester %s\"}",
             user->phone, code, user->password, user->phone + 7);
    struct client_response res;
    long status = api_call(client, "POST", "/v1/users", NULL, body, &res);
    const char *id = api_json_str(&res, "id");
    bool ok = status == 201 && id[0] != '\0';
    if (ok)
        snprintf(user->id, sizeof user->id, "%s", id);
    else
        S_fail_res("POST /v1/users", &res);
    client_response_release(&res);
    return ok &&
           S_login(client, user, "test", NULL, NULL, 201, user->token, user->device_key) == 201;
}

bool api_session_id_current(struct client *client, struct api_user *user)
{
    struct client_response res;
    long status = api_call(client, "GET", "/v1/me/sessions", user->token, NULL, &res);
    json_t *body = api_json(&res);
    json_t *items = json_object_get(body, "items");
    bool found = false;
    for (size_t i = 0; status == 200 && i < json_array_size(items) && !found; i++) {
        json_t *item = json_array_get(items, i);
        const char *id = json_string_value(json_object_get(item, "id"));
        if (json_is_true(json_object_get(item, "current")) && id != NULL) {
            snprintf(user->session_id, sizeof user->session_id, "%s", id);
            found = true;
        }
    }
    if (!found)
        S_fail_res("GET /v1/me/sessions (no current session)", &res);
    json_decref(body);
    client_response_release(&res);
    return found;
}

bool api_payment_password_set(struct client *client, const char *admin_token,
                              const struct api_user *user, const char *payment_password)
{
    char code[API_SMS_CODE_SIZE];
    if (!api_sms_code_get_for(client, admin_token, user, "reset_payment_password", code))
        return false;
    char body[256];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"sms_code\":\"%s\"}",
             payment_password, code);
    struct client_response res;
    long status = api_call(client, "PUT", "/v1/me/payment-password", user->token, body, &res);
    bool ok = status == 204;
    if (!ok)
        S_fail_res("PUT /v1/me/payment-password", &res);
    client_response_release(&res);
    return ok;
}

void api_id_number_complete(const char *body17, char out[19])
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char checks[] = "10X98765432";
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (body17[i] - '0') * weights[i];
    memcpy(out, body17, 17);
    out[17] = checks[sum % 11];
    out[18] = '\0';
}

bool api_user_verify(struct client *client, const struct api_user *user, const char *real_name)
{
    /* The phone's last eight digits: a day of 1950-1999 and a sequence of
     * three, never 999, the sandbox's "no such person" (docs/sandbox.md): a
     * phone that made one failed the test it was drawn for. */
    unsigned long n = strtoul(user->phone + 3, NULL, 10);
    char body17[18], id_number[19];
    snprintf(body17, sizeof body17, "110101%04lu%02lu%02lu%03lu", 1950 + n % 50, 1 + n / 50 % 12,
             1 + n / 600 % 28, n / 16800 % 999);
    api_id_number_complete(body17, id_number);
    json_t *body = json_pack("{s:s, s:s}", "real_name", real_name, "id_number", id_number);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return false;
    struct client_response res;
    long status = api_call(client, "POST", "/v1/me/kyc", user->token, text, &res);
    free(text);
    bool ok = status == 200;
    if (!ok)
        S_fail_res("POST /v1/me/kyc", &res);
    client_response_release(&res);
    return ok;
}

struct S_parallel_arg {
    const char *base_url;
    struct api_parallel_call *call;
    pthread_barrier_t *start;
};

static void *S_parallel_run(void *arg)
{
    struct S_parallel_arg *a = arg;
    struct client c;
    client_init(&c, a->base_url);
    pthread_barrier_wait(a->start);
    struct client_response res;
    a->call->status =
        api_call(&c, a->call->method, a->call->path, a->call->token, a->call->body, &res);
    snprintf(a->call->code, sizeof a->call->code, "%s", api_error_code(&res));
    client_response_release(&res);
    client_release(&c);
    return NULL;
}

void api_call_parallel(const char *base_url, struct api_parallel_call *calls, size_t count)
{
    if (count == 0 || count > API_PARALLEL_MAX)
        abort();
    static pthread_t threads[API_PARALLEL_MAX];
    static struct S_parallel_arg args[API_PARALLEL_MAX];
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, (unsigned int)count) != 0)
        abort();
    for (size_t i = 0; i < count; i++) {
        args[i] = (struct S_parallel_arg){base_url, &calls[i], &start};
        calls[i].status = 0;
        calls[i].code[0] = '\0';
        if (pthread_create(&threads[i], NULL, S_parallel_run, &args[i]) != 0)
            abort();
    }
    for (size_t i = 0; i < count; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

double api_metric(struct client *client, const char *name)
{
    struct client_response res;
    long status = api_call(client, "GET", "/metrics", NULL, NULL, &res);
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = status == 200 && res.body.data != NULL ? strstr(res.body.data, needle) : NULL;
    double value = at != NULL ? atof(at + strlen(needle)) : -1;
    client_response_release(&res);
    return value;
}

static bool S_word_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

const char *api_log_secret(const char *log, const char *digits)
{
    static const char measured[] = "duration_us=";
    size_t size = strlen(digits);
    for (const char *at = strstr(log, digits); at != NULL; at = strstr(at + 1, digits)) {
        size_t before = (size_t)(at - log);
        if ((before > 0 && S_word_char(at[-1])) || S_word_char(at[size]))
            continue;
        if (before >= sizeof measured - 1 &&
            memcmp(at - (sizeof measured - 1), measured, sizeof measured - 1) == 0)
            continue;
        return at;
    }
    return NULL;
}
