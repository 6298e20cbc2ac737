/*
 * url.h — whether a URL names a place a client can send to.
 *
 * Owns: the one reading of a URL's host and port, as libcurl (which sends
 * the requests) reads them, for the settings and options that name a
 * server: the SMS provider's url, the CLI's --server. Each caller checks
 * its own scheme and characters first, with its own words for a refusal.
 */
#ifndef QB_BASE_URL_H
#define QB_BASE_URL_H

#include <stdbool.h>

/* Whether libcurl reads url as a URL with a host, and a port of 1..65535
 * when it names one. */
bool url_has_host_and_port(const char *url);

#endif
