/* The HTTP listener's thread (see http.h). Everything here runs on that
 * one thread: libmicrohttpd in external mode, driven by the same poll that
 * waits for the loop's replies and events, so no lock is needed. */
#include "http.h"
#include "coord.h"
#include "hmap.h"
#include "http_int.h"
#include "log.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "xalloc.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_POLL_MAX_MS 200

/* ---- the loop's pipe ---- */

int http_send_command(http_t *h, uint64_t num, int token, int cmd, const json_t *body)
{
    proto_envelope_t env = {.delimiter = true};
    env.id_len = (size_t)snprintf((char *)env.id, sizeof env.id, "%llu:%d",
                                  (unsigned long long)num, token);
    char *text = json_dumps(body, JSON_COMPACT);
    int rc = proto_send(h->pipe, &env, PROTO_CLIENT_V1, proto_ccmd_name(cmd), text, strlen(text));
    free(text);
    return rc;
}

/* Every REPLY waiting on the pipe, to the request (or stream) that asked. */
static void s_on_replies(http_t *h)
{
    for (int i = 0; i < 4096; i++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(h->pipe, ZMQ_DONTWAIT, true, &m) != ORCH_OK)
            break;
        proto_envelope_t env;
        proto_envelope_from(&m, &env);
        proto_frame_t frames[PROTO_MAX_PARTS];
        size_t nf = proto_rawmsg_frames(&m, frames, PROTO_MAX_PARTS);
        char num_text[32];
        size_t n = env.id_len < sizeof num_text - 1 ? env.id_len : sizeof num_text - 1;
        memcpy(num_text, env.id, n);
        num_text[n] = '\0';
        uint64_t num = strtoull(num_text, NULL, 10);
        if (nf == 3) {
            http_req_t *r = hmap_i64_get(h->pending, (int64_t)num);
            http_sse_t *s = r ? NULL : hmap_i64_get(h->replays, (int64_t)num);
            if (r)
                http_req_on_reply(r, frames[2].data, frames[2].size);
            else if (s)
                http_sse_on_reply(s, frames[2].data, frames[2].size);
        }
        proto_rawmsg_close(&m);
    }
}

/* ---- libmicrohttpd's callbacks ---- */

static void s_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    /* a client that went away (an event stream closed by its reader) is
     * not a problem of ours */
    if (strstr(msg, "Failed to send") || strstr(msg, "no longer available"))
        LOG_DEBUG("http: %s", msg);
    else
        LOG_WARN("http: %s", msg);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                        enum MHD_RequestTerminationCode why)
{
    (void)conn, (void)why;
    http_t *h = cls;
    http_req_t *r = *ctx;
    if (r)
        http_req_free(h, r);
    *ctx = NULL;
}

/* ---- start and stop ---- */

static void *s_thread(void *arg)
{
    http_t *h = arg;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    int epfd = info ? info->epoll_fd : -1;
    while (!h->stop) {
        long wait = S_POLL_MAX_MS;
        MHD_UNSIGNED_LONG_LONG to = 0;
        if (MHD_get_timeout(h->d, &to) == MHD_YES && (long long)to < wait)
            wait = (long)to;
        zmq_pollitem_t items[3] = {
            {h->pipe, 0, ZMQ_POLLIN, 0},
            {h->sub, 0, ZMQ_POLLIN, 0},
            {NULL, epfd, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 3, wait) < 0 && errno != EINTR)
            LOG_WARN("http: poll failed error=\"%s\"", zmq_strerror(errno));
        if (items[0].revents & ZMQ_POLLIN)
            s_on_replies(h);
        if (items[1].revents & ZMQ_POLLIN)
            http_sse_on_events(h);
        http_req_timeouts(h);
        http_sse_tick(h);
        MHD_run(h->d);
    }
    return NULL;
}

static void *s_socket(void *zctx, int type, const char *endpoint, char *err, size_t errlen)
{
    void *s = zmq_socket(zctx, type);
    int zero = 0, hwm = 1000000;
    if (!s) {
        snprintf(err, errlen, "could not create a socket: %s", zmq_strerror(errno));
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(s, endpoint) != 0) {
        snprintf(err, errlen, "could not connect \"%s\": %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static struct MHD_Daemon *s_daemon(http_t *h, char *err, size_t errlen)
{
    const orch_config_t *cfg = h->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    bool v6 = strchr(cfg->http_host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)cfg->http_port);
        if (inet_pton(AF_INET6, cfg->http_host, &a->sin6_addr) != 1)
            goto bad_host;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)cfg->http_port);
        const char *host = strcmp(cfg->http_host, "localhost") == 0 ? "127.0.0.1" : cfg->http_host;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto bad_host;
    }
    if (cfg->http_tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "http.tls_cert_file is set but libmicrohttpd has no TLS support");
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)s_log, h}, /* first: it sees the others' errors */
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->http_max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)((cfg->http_timeout_ms + 999) / 1000), NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s_completed, h},
        {cfg->http_tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
         (void *)cfg->http_tls_cert},
        {cfg->http_tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0,
         (void *)cfg->http_tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, http_req_access, h,
                                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d)
        snprintf(err, errlen, "could not listen on http \"%s\" (listen.http): %s",
                 cfg->listen_http, errno ? strerror(errno) : "libmicrohttpd refused");
    return d;
bad_host:
    snprintf(err, errlen, "listen.http \"%s\": the host must be an IP address (or localhost)",
             cfg->listen_http);
    return NULL;
}

http_t *http_start(void *zctx, const orch_config_t *cfg, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!cfg->http_host)
        return NULL;
    http_t *h = xcalloc(1, sizeof *h);
    h->cfg = cfg;
    h->pending = hmap_new_i64();
    h->replays = hmap_new_i64();
    h->next_num = 1;
    if (!(h->pipe = s_socket(zctx, ZMQ_PAIR, COORD_HTTP_PIPE, err, errlen)) ||
        !(h->sub = s_socket(zctx, ZMQ_SUB, COORD_HTTP_EVENTS, err, errlen)) ||
        !(h->d = s_daemon(h, err, errlen))) {
        http_stop(&h);
        return NULL;
    }
    if (pthread_create(&h->thread, NULL, s_thread, h) != 0) {
        snprintf(err, errlen, "could not start the http thread");
        http_stop(&h);
        return NULL;
    }
    h->started = true;
    LOG_INFO("http listening address=%s:%d tls=%s tokens=%zu", cfg->http_host, cfg->http_port,
             cfg->http_tls_cert ? "on" : "off", cfg->ntokens);
    return h;
}

void http_stop(http_t **hp)
{
    if (!hp || !*hp)
        return;
    http_t *h = *hp;
    h->stop = 1;
    if (h->started)
        pthread_join(h->thread, NULL);
    if (h->d) {
        /* no connection may stay suspended when the daemon stops */
        http_req_abort_all(h);
        http_sse_close_all(h);
        MHD_run(h->d);
        MHD_stop_daemon(h->d); /* completes (frees) every request */
    }
    if (h->pipe)
        zmq_close(h->pipe);
    if (h->sub)
        zmq_close(h->sub);
    hmap_destroy(&h->pending);
    hmap_destroy(&h->replays);
    free(h);
    *hp = NULL;
}
