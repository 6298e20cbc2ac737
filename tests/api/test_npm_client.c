/*
 * test_npm_client.c — Qianbao's merchant API driven by a real WeChat Pay
 * client: tests/npm/merchant_client.js, written with the unchanged
 * `wechatpay-axios-plugin` from npm. This program installs the npm packages
 * (scripts/npm-install, into the build directory; nothing is fetched when
 * they are there already), starts qianbaod on loopback, onboards a merchant
 * and a paying user through the API, hands their credentials to node in the
 * environment and files (mode 0600), and checks node's verdict and the money
 * it moved. The daemon runs with --allow-private-notify: the orders'
 * notify_url is the script's own receiver on loopback, which verifies and
 * decrypts the payment's, the refund's and a transfer to the user's
 * (商家转账, which the user takes through the wallet API) notifications. And
 * tests/npm/openapi_lint.js has a real OpenAPI tool (@apidevtools/
 * swagger-parser) validate docs/openapi.json, as a client generator reads
 * it. Without node, npm or a reachable registry it is skipped (77).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"

#define S_SKIP 77

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static const char *const S_args[] = {"--allow-private-notify", NULL};

static bool S_write_secret(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return false;
    bool ok = chmod(path, 0600) == 0 && fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

TEST(a_wechatpay_axios_plugin_merchant_works_unchanged)
{
    // The npm client creates a native and a jsapi order, the user pays one through /v1, the
    // client queries both, closes the other, refunds 5.00 of the paid one, verifies every answer
    // with its own verifier, and receives, verifies and decrypts both notifications.
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_admin,
                           "{\"name\":\"npm 商户\"}", &res),
                  201);
    json_t *m = api_json(&res);
    client_response_release(&res);
    ASSERT(m != NULL);
    char key_path[600], platform_path[600];
    snprintf(key_path, sizeof key_path, "%s/merchant-key.pem", S_root);
    snprintf(platform_path, sizeof platform_path, "%s/platform-key.pem", S_root);
    ASSERT(S_write_secret(key_path, json_string_value(json_object_get(m, "private_key_pem"))));
    ASSERT(S_write_secret(platform_path,
                          json_string_value(json_object_get(m, "platform_public_key_pem"))));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));

    setenv("QB_BASE_URL", S_daemon.base_url, 1);
    setenv("QB_MCHID", json_string_value(json_object_get(m, "mchid")), 1);
    setenv("QB_APPID", json_string_value(json_object_get(m, "appid")), 1);
    setenv("QB_SERIAL", json_string_value(json_object_get(m, "serial_no")), 1);
    setenv("QB_APIV3_KEY", json_string_value(json_object_get(m, "apiv3_key")), 1);
    setenv("QB_PLATFORM_SERIAL", json_string_value(json_object_get(m, "platform_serial_no")), 1);
    setenv("QB_PRIVATE_KEY_FILE", key_path, 1);
    setenv("QB_PLATFORM_KEY_FILE", platform_path, 1);
    setenv("QB_USER_TOKEN", u.token, 1);
    setenv("QB_PAY_PASSWORD", TH_PAY_PASSWORD, 1);
    json_decref(m);
    char command[2048];
    snprintf(command, sizeof command, "NODE_PATH='%s/npm/node_modules' node '%s/tests/npm/merchant_client.js'",
             getenv("QB_BUILD_DIR"), getenv("QB_SOURCE_DIR"));
    int status = system(command);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 0);
    /* Exactly the native order was paid, 5.00 of it came back, and the merchant's transfer of
     * 1.00 was taken once. */
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000 - 1234 + 500 + 100);
}

TEST(an_openapi_tool_reads_the_document_as_valid_openapi_3_1)
{
    // A client engineer feeds docs/openapi.json to their generator; a document that is not valid
    // OpenAPI stops them there. This test's own checks (test_openapi.c) know the routes and the
    // answers; the tool knows the specification.
    char command[2048];
    snprintf(command, sizeof command,
             "NODE_PATH='%s/npm/node_modules' node '%s/tests/npm/openapi_lint.js' "
             "'%s/docs/openapi.json'",
             getenv("QB_BUILD_DIR"), getenv("QB_SOURCE_DIR"), getenv("QB_SOURCE_DIR"));
    int status = system(command);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 0);
}

int main(void)
{
    const char *build = getenv("QB_BUILD_DIR");
    const char *source = getenv("QB_SOURCE_DIR");
    if (build == NULL || source == NULL) {
        fprintf(stderr, "QB_BUILD_DIR and QB_SOURCE_DIR must be set (ctest sets them)\n");
        return 1;
    }
    char install[1200];
    snprintf(install, sizeof install, "'%s/scripts/npm-install' '%s/npm'", source, build);
    int status = system(install);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == S_SKIP) {
        printf("skipped: the npm packages cannot be installed here\n");
        return S_SKIP;
    }
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_step(WEXITSTATUS(status) == 0, "scripts/npm-install") ||
        !api_suite_daemon(&suite, &S_daemon, "npm", S_args, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(a_wechatpay_axios_plugin_merchant_works_unchanged);
    RUN(an_openapi_tool_reads_the_document_as_valid_openapi_3_1);
    return api_suite_end(&suite);
}
