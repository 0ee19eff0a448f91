/* HOST:PORT listen addresses (config_listen.h). */
#include "config_listen.h"
#include "config.h"
#include "xalloc.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool config_listen_off(const char *s)
{
    return !s || !s[0] || strcmp(s, "off") == 0;
}

bool config_listen_split(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return false;
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535)
        return false;
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return false;
        h++;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)h[i]) || strchr(".-:", h[i])))
            return false;
    *host = xstrndup(h, n);
    *port = (int)p;
    return true;
}

bool config_listen_loopback(const char *host)
{
    char ep[300];
    snprintf(ep, sizeof ep, strchr(host, ':') ? "tcp://[%s]:1" : "tcp://%s:1", host);
    return orch_endpoint_loopback(ep);
}
