/* The metrics listener (worker_metrics_http.h). libmicrohttpd runs it on
 * its internal polling thread: the only state that thread shares with the
 * rest of the worker is the counters, which it only loads. */
#include "worker_metrics_http.h"
#include "log.h"
#include "strbuf.h"
#include "worker_metrics_render.h"
#include "xalloc.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_CONNECTIONS 16 /* scrapers are few; more are refused, not queued */
#define S_TIMEOUT_S 10       /* an idle connection is closed after this */

struct worker_metrics_http {
    struct MHD_Daemon *d;
    const worker_metrics_t *m;
    int port;
};

static void s_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    LOG_WARN("metrics http: %s", msg);
}

static enum MHD_Result s_answer(struct MHD_Connection *conn, unsigned status, const char *text,
                                const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s_metrics(struct MHD_Connection *conn, const worker_metrics_t *m)
{
    worker_metrics_snapshot_t snap;
    worker_metrics_snapshot(m, &snap);
    strbuf_t out;
    strbuf_init(&out);
    worker_metrics_render(&snap, &out);
    worker_metrics_snapshot_fini(&snap);
    size_t len = out.len;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, strbuf_detach(&out), MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, WORKER_METRICS_CONTENT_TYPE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* Answers on the first call: no route takes a body (one sent is dropped
 * with the connection). */
static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    (void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
    const worker_metrics_http_t *h = cls;
    if (strcmp(url, "/metrics") != 0)
        return s_answer(conn, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    return s_metrics(conn, h->m);
}

/* host:port as a socket address; false when host is not an IP address. */
static bool s_addr(const char *host, int port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    *v6 = strchr(host, ':') != NULL;
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &a->sin_addr) ==
           1;
}

worker_metrics_http_t *worker_metrics_http_start(const char *host, int port,
                                                 const worker_metrics_t *m, char *err,
                                                 size_t errlen)
{
    struct sockaddr_storage ss;
    bool v6;
    if (!s_addr(host, port, &ss, &v6)) {
        snprintf(err, errlen, "worker.metrics_listen: \"%s\" is not an IP address", host);
        return NULL;
    }
    worker_metrics_http_t *h = xcalloc(1, sizeof *h);
    h->m = m;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    errno = 0;
    /* option, value pairs; the logger first, so it sees the others' errors */
    /* clang-format off */
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, s_access, h,
                            MHD_OPTION_EXTERNAL_LOGGER, s_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_TIMEOUT_S,
                            MHD_OPTION_END);
    /* clang-format on */
    if (!h->d) {
        snprintf(err, errlen, "could not listen on \"%s:%d\" (worker.metrics_listen): %s", host,
                 port, errno ? strerror(errno) : "libmicrohttpd refused");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : port;
    LOG_INFO("metrics listening address=%s%s%s:%d path=/metrics", v6 ? "[" : "", host,
             v6 ? "]" : "", h->port);
    return h;
}

int worker_metrics_http_port(const worker_metrics_http_t *h)
{
    return h->port;
}

void worker_metrics_http_stop(worker_metrics_http_t **hp)
{
    worker_metrics_http_t *h = hp ? *hp : NULL;
    if (!h)
        return;
    MHD_stop_daemon(h->d); /* joins its thread */
    free(h);
    *hp = NULL;
}
