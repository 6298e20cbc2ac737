/*
 * qianbao-redpacket-verify.c — checks a lucky red packet's split against
 * its commitment, as any user can (docs/redpacket.md).
 *
 *   QIANBAO_TOKEN=<token> qianbao-redpacket-verify [--url URL] ID
 *   qianbao-redpacket-verify --file PACKET.json
 *
 * Fetches GET /v1/red-packets/{ID} (or reads a saved answer), checks that
 * SHA-256 of the revealed seed is the commitment published from the start,
 * recomputes every share from the seed and the claim order with
 * redpacket_fair_verify (src/wallet/redpacket_fair.c, compiled in: this
 * program links base and libcurl only, like any client), and says whether
 * each published share is the derived one.
 *
 * The token comes from the environment, never the command line, where
 * other users of the machine could read it. The URL defaults to
 * $QIANBAO_URL, then http://127.0.0.1:8080.
 *
 * Exit status: 0 every share matches; 1 the packet does not match (a
 * share, or the seed against the commitment); 2 nothing to verify yet (the
 * seed is revealed once the packet is finished or expired) or bad usage;
 * 3 the packet could not be fetched or read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "base/buf.h"
#include "base/money.h"
#include "base/rand.h"
#include "wallet/redpacket_fair.h"

#define S_BODY_SIZE_MAX (1024 * 1024)
#define S_TIMEOUT_MS 10000
#define S_URL_SIZE_MAX 1024

enum { S_MATCH = 0, S_MISMATCH = 1, S_NOT_YET = 2, S_FAILED = 3 };

static size_t S_write(char *data, size_t size, size_t count, void *arg)
{
    struct buf *body = arg;
    return buf_append(body, data, size * count) == QB_OK ? size * count : 0;
}

/* GET base_url/v1/red-packets/id into body; the HTTP status, 0 when none came. */
static long S_fetch(const char *base_url, const char *id, const char *token, struct buf *body)
{
    char url[S_URL_SIZE_MAX + 64];
    char auth[256];
    if (snprintf(url, sizeof url, "%s/v1/red-packets/%s", base_url, id) >= (int)sizeof url ||
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) >= (int)sizeof auth)
        return 0;
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return 0;
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)S_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    crypto_wipe(auth, sizeof auth);
    return status;
}

static bool S_hex32(const json_t *value, uint8_t out[32])
{
    const char *text = json_string_value(value);
    size_t size = 0;
    return text != NULL && strlen(text) == 64 &&
           sodium_hex2bin(out, 32, text, 64, NULL, &size, NULL) == 0 && size == 32;
}

static void S_amount(int64_t minor, char out[MONEY_TEXT_SIZE_MAX])
{
    money_format(minor, currency_find("CNY"), out, MONEY_TEXT_SIZE_MAX);
}

/* Checks one packet as GET /v1/red-packets/{id} shows it; the exit status. */
static int S_verify(const json_t *packet)
{
    const char *id = json_string_value(json_object_get(packet, "id"));
    const char *type = json_string_value(json_object_get(packet, "type"));
    const char *status = json_string_value(json_object_get(packet, "status"));
    const json_t *total = json_object_get(packet, "total_amount");
    const json_t *count = json_object_get(packet, "count");
    const json_t *claims = json_object_get(packet, "claims");
    if (id == NULL || type == NULL || status == NULL || !json_is_integer(total) ||
        !json_is_integer(count) || !json_is_array(claims) ||
        json_array_size(claims) > REDPACKET_COUNT_MAX || strlen(id) >= REDPACKET_ID_SIZE_MAX) {
        fprintf(stderr, "qianbao-redpacket-verify: the answer is not a red packet\n");
        return S_FAILED;
    }
    bool lucky = strcmp(type, "lucky") == 0;
    int64_t amounts[REDPACKET_COUNT_MAX];
    size_t amount_count = json_array_size(claims);
    for (size_t i = 0; i < amount_count; i++) {
        const json_t *claim = json_array_get(claims, i);
        const json_t *amount = json_object_get(claim, "amount");
        const json_t *position = json_object_get(claim, "position");
        if (!json_is_integer(amount) || !json_is_integer(position) ||
            json_integer_value(position) != (json_int_t)i) {
            fprintf(stderr, "qianbao-redpacket-verify: claim %zu is not in claim order\n", i);
            return S_FAILED;
        }
        amounts[i] = (int64_t)json_integer_value(amount);
    }
    char total_text[MONEY_TEXT_SIZE_MAX];
    S_amount((int64_t)json_integer_value(total), total_text);
    printf("packet %s: %s, %lld shares, %s CNY, %s, %zu claimed\n", id, type,
           (long long)json_integer_value(count), total_text, status, amount_count);

    uint8_t seed[REDPACKET_SEED_SIZE], commitment[CRYPTO_SHA256_SIZE];
    struct redpacket_fair_packet p = {
        .id = id,
        .lucky = lucky,
        .total_minor = (int64_t)json_integer_value(total),
        .count = (int64_t)json_integer_value(count),
        .amounts = amounts,
        .amount_count = amount_count,
    };
    if (lucky) {
        const json_t *fairness = json_object_get(packet, "fairness");
        const char *scheme = json_string_value(json_object_get(fairness, "scheme"));
        if (scheme == NULL || strcmp(scheme, REDPACKET_FAIR_SCHEME) != 0 ||
            !S_hex32(json_object_get(fairness, "commitment"), commitment)) {
            fprintf(stderr, "qianbao-redpacket-verify: no %s commitment in the answer\n",
                    REDPACKET_FAIR_SCHEME);
            return S_FAILED;
        }
        const json_t *seed_json = json_object_get(fairness, "seed");
        if (json_is_null(seed_json) || seed_json == NULL) {
            printf("not yet: the seed is revealed once the packet is finished or expired\n");
            return S_NOT_YET;
        }
        if (!S_hex32(seed_json, seed)) {
            fprintf(stderr, "qianbao-redpacket-verify: the seed is not 64 hex characters\n");
            return S_FAILED;
        }
        printf("commitment %s\nseed       %s\n",
               json_string_value(json_object_get(fairness, "commitment")),
               json_string_value(seed_json));
        p.seed = seed;
        p.commitment = commitment;
    }
    size_t bad = 0;
    int64_t expected = 0;
    enum redpacket_fair_verdict verdict = redpacket_fair_verify(&p, &bad, &expected);
    for (size_t i = 0; i < amount_count; i++) {
        char text[MONEY_TEXT_SIZE_MAX];
        S_amount(amounts[i], text);
        /* Shares after the first wrong one are not judged: the split after
         * it depends on what that claim should have taken. */
        const char *mark = "-";
        if (verdict == REDPACKET_FAIR_MATCH)
            mark = "ok";
        else if (verdict == REDPACKET_FAIR_SHARE_MISMATCH)
            mark = i < bad ? "ok" : i == bad ? "MISMATCH" : "-";
        printf("  #%-3zu %10s  %s\n", i, text, mark);
    }
    switch (verdict) {
    case REDPACKET_FAIR_MATCH:
        printf("match: every share is what the committed seed derives\n");
        return S_MATCH;
    case REDPACKET_FAIR_COMMITMENT_MISMATCH:
        printf("MISMATCH: SHA-256 of the seed is not the commitment\n");
        return S_MISMATCH;
    case REDPACKET_FAIR_SHARE_MISMATCH: {
        char text[MONEY_TEXT_SIZE_MAX];
        S_amount(expected, text);
        printf("MISMATCH: share #%zu should be %s\n", bad, text);
        return S_MISMATCH;
    }
    case REDPACKET_FAIR_INVALID:
        printf("MISMATCH: these numbers cannot be a packet (count, total or claims)\n");
        return S_MISMATCH;
    }
    return S_FAILED;
}

static void S_usage(FILE *out)
{
    fprintf(out, "usage: QIANBAO_TOKEN=<token> qianbao-redpacket-verify [--url URL] ID\n"
                 "       qianbao-redpacket-verify --file PACKET.json\n"
                 "exit: 0 match, 1 mismatch, 2 not verifiable yet or bad usage, 3 fetch failed\n");
}

int main(int argc, char **argv)
{
    const char *url = getenv("QIANBAO_URL");
    const char *file = NULL;
    const char *id = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            S_usage(stdout);
            return S_MATCH;
        } else if (argv[i][0] != '-' && id == NULL)
            id = argv[i];
        else {
            S_usage(stderr);
            return S_NOT_YET;
        }
    }
    if ((file == NULL) == (id == NULL)) {
        S_usage(stderr);
        return S_NOT_YET;
    }
    if (sodium_init() < 0)
        return S_FAILED;
    json_t *packet = NULL;
    json_error_t error;
    if (file != NULL) {
        packet = json_load_file(file, JSON_REJECT_DUPLICATES, &error);
    } else {
        const char *token = getenv("QIANBAO_TOKEN");
        if (token == NULL || token[0] == '\0') {
            fprintf(stderr, "qianbao-redpacket-verify: set QIANBAO_TOKEN to a session token\n");
            return S_NOT_YET;
        }
        if (!id_is_valid(id, strlen(id), "rp")) {
            fprintf(stderr, "qianbao-redpacket-verify: \"%s\" is not a red packet id\n", id);
            return S_NOT_YET;
        }
        if (url == NULL || url[0] == '\0')
            url = "http://127.0.0.1:8080";
        if (strlen(url) >= S_URL_SIZE_MAX) {
            fprintf(stderr, "qianbao-redpacket-verify: the URL is too long\n");
            return S_NOT_YET;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        struct buf body;
        buf_init(&body, S_BODY_SIZE_MAX);
        long status = S_fetch(url, id, token, &body);
        if (status == 200)
            packet = json_loadb((const char *)body.data, body.size, JSON_REJECT_DUPLICATES, &error);
        else
            fprintf(stderr, "qianbao-redpacket-verify: GET /v1/red-packets/%s answered %ld %.*s\n",
                    id, status, (int)(body.size < 200 ? body.size : 200),
                    body.data != NULL ? (const char *)body.data : "");
        buf_release(&body);
        curl_global_cleanup();
        if (status != 200)
            return S_FAILED;
    }
    if (packet == NULL) {
        fprintf(stderr, "qianbao-redpacket-verify: not JSON: %s\n", error.text);
        return S_FAILED;
    }
    int rc = S_verify(packet);
    json_decref(packet);
    return rc;
}
