/*
 * client.c — libcurl behind client.h.
 *
 * Bodies and headers are collected into capped buffers (struct buf), so a
 * runaway response fails the request instead of eating the test's memory.
 */
#include "api/lib/client.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "api/lib/openapi.h"

static bool S_curl_ready;

void client_init(struct client *client, const char *base_url)
{
    if (!S_curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        S_curl_ready = true;
    }
    snprintf(client->base_url, sizeof client->base_url, "%s", base_url);
    client->curl = curl_easy_init();
    client->openapi_unchecked = false;
}

void client_release(struct client *client)
{
    if (client->curl != NULL)
        curl_easy_cleanup(client->curl);
    client->curl = NULL;
}

static size_t S_on_body(char *data, size_t size, size_t count, void *arg)
{
    struct client_response *res = arg;
    return buf_append(&res->body, data, size * count) == QB_OK ? size * count : 0;
}

static size_t S_on_header(char *data, size_t size, size_t count, void *arg)
{
    struct client_response *res = arg;
    /* A new status line (after 100 Continue, say): keep only the last block. */
    if (size * count >= 5 && memcmp(data, "HTTP/", 5) == 0)
        buf_reset(&res->headers);
    return buf_append(&res->headers, data, size * count) == QB_OK ? size * count : 0;
}

bool client_request(struct client *client, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t body_size,
                    struct client_response *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->headers, CLIENT_HEADERS_SIZE_MAX);
    buf_init(&res->body, CLIENT_BODY_SIZE_MAX);
    CURL *curl = client->curl;
    if (curl == NULL) {
        snprintf(res->error, sizeof res->error, "no curl handle");
        return false;
    }
    curl_easy_reset(curl); /* options only: the connection cache stays */

    char url[2048];
    snprintf(url, sizeof url, "%s%s", client->base_url, path);
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, S_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, res);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)CLIENT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");

    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(list);
    if (rc != CURLE_OK) {
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
        res->status = 0;
        return false;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &res->connects);
    if (!client->openapi_unchecked)
        openapi_response_check(method, path, res);
    return true;
}

const char *client_response_header(const struct client_response *res, const char *name, char *buf,
                                   size_t buf_size)
{
    size_t name_size = strlen(name);
    const char *line = res->headers.data;
    while (line != NULL && *line != '\0') {
        const char *end = strstr(line, "\r\n");
        size_t line_size = end != NULL ? (size_t)(end - line) : strlen(line);
        if (line_size > name_size && line[name_size] == ':' &&
            strncasecmp(line, name, name_size) == 0) {
            const char *value = line + name_size + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            size_t value_size = line_size - (size_t)(value - line);
            if (value_size >= buf_size)
                value_size = buf_size - 1;
            memcpy(buf, value, value_size);
            buf[value_size] = '\0';
            return buf;
        }
        line = end != NULL ? end + 2 : NULL;
    }
    return NULL;
}

void client_response_release(struct client_response *res)
{
    buf_release(&res->headers);
    buf_release(&res->body);
}
