/*
 * gateway_http.c — an SMS provider reached by one HTTP POST per message.
 *
 * Providers differ in field names but agree on the shape: a JSON body with
 * the number and the text. The operator writes that body once as a
 * template ("{\"mobile\":\"{phone}\",\"content\":\"{text}\"}") and the
 * gateway fills in {phone}, {code}, {purpose}, {text} (the whole message,
 * sms_message_text), {detail} (what the code authorises) and, for a
 * provider's own registered template, {card_last4} and {wallet_phone}
 * (struct sms_detail), each JSON-escaped, so a value can never break out
 * of its string.
 *
 * One libcurl easy handle per message: the worker sends a few messages a
 * second at most, and a fresh handle carries no state (cookies, a half-dead
 * connection) from one send to the next. Only http and https are allowed,
 * redirects are not followed, and each attempt is bounded by timeout_ms.
 *
 * Must never: log the body or the code. Failures are logged with the phone
 * masked to its last four digits and the HTTP status or libcurl's reason.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/url.h"
#include "sms/sms.h"

#define SMS_HTTP_URL_SIZE_MAX 2048
#define SMS_HTTP_TEMPLATE_SIZE_MAX 4096
#define SMS_HTTP_BODY_SIZE_MAX (4 * SMS_HTTP_TEMPLATE_SIZE_MAX)
#define SMS_HTTP_TIMEOUT_MS_MAX (120 * 1000)

struct sms_gateway_http {
    struct sms_gateway base; /* first: the ops table casts back */
    char *url;
    char *body_template;
    int64_t timeout_ms;
};

/* Appends text as the inside of a JSON string: quote, backslash and
 * control characters escaped, everything else (UTF-8 included) as is. */
static enum qb_error sms_json_escape_append(struct buf *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        enum qb_error err;
        if (*p == '"' || *p == '\\') {
            char pair[2] = {'\\', (char)*p};
            err = buf_append(out, pair, sizeof pair);
        } else if (*p < 0x20) {
            err = buf_printf(out, "\\u%04x", (unsigned)*p);
        } else {
            err = buf_append(out, p, 1);
        }
        if (err != QB_OK)
            return err;
    }
    return QB_OK;
}

/* The request body: body_template with each placeholder replaced. Text
 * in braces that is not a placeholder is copied as it stands. */
static enum qb_error sms_http_body_make(const char *body_template, const char *phone,
                                        enum sms_purpose purpose, const char *code,
                                        const struct sms_detail *detail, struct buf *out)
{
    static const char *const names[] = {"{phone}",  "{code}",       "{purpose}",     "{text}",
                                        "{detail}", "{card_last4}", "{wallet_phone}"};
    char text[SMS_TEXT_SIZE_MAX], deed[SMS_DETAIL_TEXT_SIZE_MAX];
    sms_message_text(purpose, code, detail, text);
    sms_message_detail(purpose, detail, deed);
    const char *values[] = {phone,
                            code,
                            sms_purpose_name(purpose),
                            text,
                            deed,
                            detail->card_last4,
                            detail->wallet_phone};
    _Static_assert(QB_ARRAY_COUNT(names) == QB_ARRAY_COUNT(values), "a value per placeholder");
    const char *p = body_template;
    enum qb_error err = QB_OK;
    while (*p != '\0') {
        const char *brace = strchr(p, '{');
        size_t plain_size = brace != NULL ? (size_t)(brace - p) : strlen(p);
        err = buf_append(out, p, plain_size);
        if (err != QB_OK || brace == NULL)
            break;
        p = brace;
        size_t i = 0;
        while (i < QB_ARRAY_COUNT(names) && strncmp(p, names[i], strlen(names[i])) != 0)
            i++;
        if (i < QB_ARRAY_COUNT(names)) {
            err = sms_json_escape_append(out, values[i]);
            p += strlen(names[i]);
        } else {
            err = buf_append(out, p, 1);
            p++;
        }
        if (err != QB_OK)
            break;
    }
    crypto_wipe(text, sizeof text);
    return err;
}

/* The provider's answer is not needed: only its status counts. */
static size_t sms_http_discard(char *data, size_t size, size_t count, void *arg)
{
    (void)data;
    (void)arg;
    return size * count;
}

static enum qb_error sms_gateway_http_send(struct sms_gateway *gateway, const char *phone,
                                           enum sms_purpose purpose, const char *code,
                                           const struct sms_detail *detail)
{
    struct sms_gateway_http *g = (struct sms_gateway_http *)gateway;
    QB_ASSERT(g != NULL && g->url != NULL && g->body_template != NULL);
    QB_ASSERT(phone != NULL && code != NULL && detail != NULL);
    char masked[16];
    log_mask_pan(phone, masked, sizeof masked);

    struct buf body;
    buf_init(&body, SMS_HTTP_BODY_SIZE_MAX);
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    long status = 0;
    enum qb_error err = sms_http_body_make(g->body_template, phone, purpose, code, detail, &body);
    if (err != QB_OK) {
        log_event(LOG_ERROR, "sms.gateway.body_failed", "gateway=http phone=%s error=%s", masked,
                  error_name(err));
        goto out;
    }

    err = QB_E_BUSY;
    curl = curl_easy_init();
    if (curl == NULL)
        goto out;
    struct curl_slist *more = curl_slist_append(NULL, "Content-Type: application/json");
    if (more == NULL)
        goto out;
    headers = more;
    /* No "Expect: 100-continue" round trip before the body. */
    if ((more = curl_slist_append(headers, "Expect:")) == NULL)
        goto out;
    headers = more;

    CURLcode rc = curl_easy_setopt(curl, CURLOPT_URL, g->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)g->timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)g->timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.size);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sms_http_discard);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        rc = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        log_event(LOG_WARN, "sms.gateway.failed", "gateway=http phone=%s error=\"%s\"", masked,
                  curl_easy_strerror(rc));
        goto out;
    }
    if (status < 200 || status > 299) {
        log_event(LOG_WARN, "sms.gateway.refused", "gateway=http phone=%s status=%ld", masked,
                  status);
        goto out;
    }
    err = QB_OK;
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    if (body.data != NULL)
        crypto_wipe(body.data, body.size);
    buf_release(&body);
    return err;
}

static void sms_gateway_http_free(struct sms_gateway *gateway)
{
    struct sms_gateway_http *g = (struct sms_gateway_http *)gateway;
    free(g->url);
    free(g->body_template);
    free(g);
    curl_global_cleanup();
}

static const struct sms_gateway_ops sms_gateway_http_ops = {
    .name = "http",
    .send = sms_gateway_http_send,
    .free = sms_gateway_http_free,
};

static char *sms_strdup_max(const char *text, size_t size_max)
{
    size_t size = strnlen(text, size_max);
    if (size == 0 || size >= size_max)
        return NULL;
    char *copy = malloc(size + 1);
    if (copy != NULL)
        memcpy(copy, text, size + 1);
    return copy;
}

/* Whether url is an http(s) URL libcurl reads, with a host, and nothing
 * in it a URL cannot hold as it stands (spaces, control characters: a
 * value copied with its line's end): else why. */
static bool sms_http_url_check(const char *url, char *why, size_t why_size)
{
    size_t size = strnlen(url, SMS_HTTP_URL_SIZE_MAX);
    if (size == 0 || size >= SMS_HTTP_URL_SIZE_MAX) {
        snprintf(why, why_size, "the url must be 1 to %d bytes", SMS_HTTP_URL_SIZE_MAX - 1);
        return false;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(why, why_size, "the url must begin http:// or https://");
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= ' ' || c == 0x7f) {
            snprintf(why, why_size, "the url holds a space or a control character (byte %zu)",
                     i + 1);
            return false;
        }
    }
    bool ok = url_has_host_and_port(url);
    if (!ok)
        snprintf(why, why_size,
                 "the url is not one libcurl can send to (a host, and a port of 1..65535 if "
                 "any)");
    return ok;
}

/* Whether body_template holds {phone}, and {code} or {text} (a message
 * without them reaches nobody or says nothing), and is JSON once filled in
 * for any message: else why. It is filled in three times, as a bind_card
 * message (every placeholder), as a login one (no card, no wallet), with a
 * code of a leading zero, and as a notice (no code): a placeholder but
 * {phone} outside a string's quotes is then no JSON in one of them, as it
 * would be for some real message. */
static bool sms_http_template_check(const char *body_template, char *why, size_t why_size)
{
    size_t size = strnlen(body_template, SMS_HTTP_TEMPLATE_SIZE_MAX);
    if (size == 0 || size >= SMS_HTTP_TEMPLATE_SIZE_MAX) {
        snprintf(why, why_size, "the template must be 1 to %d bytes",
                 SMS_HTTP_TEMPLATE_SIZE_MAX - 1);
        return false;
    }
    if (strstr(body_template, "{phone}") == NULL ||
        (strstr(body_template, "{code}") == NULL && strstr(body_template, "{text}") == NULL)) {
        snprintf(why, why_size, "the template must hold {phone}, and {code} or {text}");
        return false;
    }
    const struct sms_detail card = {.card_last4 = "1234", .wallet_phone = "138****0000"};
    const struct sms_detail none = {{0}, {0}};
    const struct {
        enum sms_purpose purpose;
        const struct sms_detail *detail;
        const char *code;
    } fills[] = {{SMS_PURPOSE_BIND_CARD, &card, "012345"},
                 {SMS_PURPOSE_LOGIN, &none, "012345"},
                 {SMS_PURPOSE_NOTICE_PHONE_CHANGED, &card, ""}};
    bool ok = true;
    for (size_t i = 0; ok && i < QB_ARRAY_COUNT(fills); i++) {
        struct buf body;
        buf_init(&body, SMS_HTTP_BODY_SIZE_MAX);
        json_error_t error;
        json_t *parsed = NULL;
        ok = sms_http_body_make(body_template, "13800000000", fills[i].purpose, fills[i].code,
                                fills[i].detail, &body) == QB_OK &&
             (parsed = json_loadb(body.data, body.size, JSON_DECODE_ANY, &error)) != NULL;
        if (!ok)
            snprintf(why, why_size,
                     "the template filled in for a %s message is no JSON (%s): a placeholder "
                     "goes inside a string's quotes, as \"{code}\"",
                     sms_purpose_name(fills[i].purpose), parsed == NULL ? error.text : "too long");
        json_decref(parsed);
        buf_release(&body);
    }
    return ok;
}

bool sms_gateway_http_says_notices(const char *body_template)
{
    QB_ASSERT(body_template != NULL);
    return strstr(body_template, "{text}") != NULL || strstr(body_template, "{purpose}") != NULL;
}

bool sms_gateway_http_check(const char *url, const char *body_template, char *why, size_t why_size)
{
    QB_ASSERT(body_template != NULL && why != NULL && why_size > 0);
    why[0] = '\0';
    return (url == NULL || sms_http_url_check(url, why, why_size)) &&
           sms_http_template_check(body_template, why, why_size);
}

/* Refuses (NULL) what sms_gateway_http_check refuses and a timeout outside
 * 1 ms .. 2 min. Calls curl_global_init, so create gateways at start-up,
 * before other threads use libcurl. */
struct sms_gateway *sms_gateway_http_new(const char *url, const char *body_template,
                                         int64_t timeout_ms)
{
    char why[256];
    if (url == NULL || body_template == NULL ||
        !sms_gateway_http_check(url, body_template, why, sizeof why))
        return NULL;
    if (timeout_ms < 1 || timeout_ms > SMS_HTTP_TIMEOUT_MS_MAX)
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct sms_gateway_http *g = calloc(1, sizeof *g);
    if (g == NULL)
        goto fail;
    g->base.ops = &sms_gateway_http_ops;
    g->timeout_ms = timeout_ms;
    g->url = sms_strdup_max(url, SMS_HTTP_URL_SIZE_MAX);
    g->body_template = sms_strdup_max(body_template, SMS_HTTP_TEMPLATE_SIZE_MAX);
    if (g->url == NULL || g->body_template == NULL)
        goto fail;
    return &g->base;
fail:
    if (g != NULL) {
        free(g->url);
        free(g->body_template);
        free(g);
    }
    curl_global_cleanup();
    return NULL;
}
