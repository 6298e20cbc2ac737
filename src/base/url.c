/*
 * url.c — see url.h.
 */
#include "base/url.h"

#include <string.h>

#include <curl/curl.h>

bool url_has_host_and_port(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL &&
              host[0] != '\0';
    /* Only a port written in it: 0 is none a server listens on. */
    if (ok && curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port != NULL)
        ok = strcmp(port, "0") != 0;
    curl_free(port);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}
