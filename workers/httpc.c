#include "httpc.h"

#include "orch_error.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTPC_DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static pthread_key_t s_key; /* per-thread CURL easy handle, cleaned at thread exit */
static int s_init_rc = -1;

static void s_handle_free(void *p) { curl_easy_cleanup(p); }

static void s_global_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    if (pthread_key_create(&s_key, s_handle_free) != 0)
        return;
    s_init_rc = 0;
}

int httpc_global_init(void)
{
    pthread_once(&s_once, s_global_init_once);
    return s_init_rc == 0 ? 0 : ORCH_EIO;
}

static CURL *s_thread_handle(void)
{
    CURL *h = pthread_getspecific(s_key);
    if (h) {
        curl_easy_reset(h);
        return h;
    }
    h = curl_easy_init();
    if (h)
        pthread_setspecific(s_key, h);
    return h;
}

typedef struct {
    strbuf_t body;
    size_t max;
    bool toobig;
    atomic_bool *cancelled;
} s_xfer_t;

static size_t s_on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    s_xfer_t *x = arg;
    size_t n = size * nmemb;
    if (x->body.len + n > x->max) {
        x->toobig = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    strbuf_append(&x->body, data, n);
    return n;
}

static int s_on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    s_xfer_t *x = arg;
    return (x->cancelled && atomic_load(x->cancelled)) ? 1 : 0;
}

static int s_map_curl_error(CURLcode cc, const s_xfer_t *x)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return ORCH_EUNAVAIL;
    case CURLE_OPERATION_TIMEDOUT:
        return ORCH_ETIMEOUT;
    case CURLE_ABORTED_BY_CALLBACK:
        return ORCH_ECANCELLED;
    case CURLE_WRITE_ERROR:
        return x->toobig ? ORCH_ETOOBIG : ORCH_EIO;
    default:
        return ORCH_EIO;
    }
}

/* Whether the configured headers set name (case-insensitive). */
static bool s_has_header(const httpc_request_t *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *p = req->headers; p && *p; p++)
        if (strncasecmp(*p, name, n) == 0 && (*p)[n] == ':')
            return true;
    return false;
}

static struct curl_slist *s_headers(const httpc_request_t *req)
{
    struct curl_slist *h = NULL;
    char line[512];
    if (req->content_type && !s_has_header(req, "Content-Type")) {
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        h = curl_slist_append(h, line);
    }
    if (!s_has_header(req, "Accept"))
        h = curl_slist_append(h, "Accept: application/json");
    for (const char *const *p = req->headers; p && *p; p++)
        h = curl_slist_append(h, *p);
    /* No "Expect: 100-continue" round trip for large bodies. */
    h = curl_slist_append(h, "Expect:");
    if (req->bearer) {
        size_t n = strlen(req->bearer) + 32;
        char *auth = xmalloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", req->bearer);
        h = curl_slist_append(h, auth);
        /* the key must not linger in freed heap memory longer than needed */
        memset(auth, 0, n);
        free(auth);
    }
    return h;
}

static void s_setup(CURL *h, const httpc_request_t *req, s_xfer_t *x, struct curl_slist *hdr,
                    char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 1));
    long connect_ms = req->timeout_ms > 0 && req->timeout_ms < 10000 ? (long)req->timeout_ms : 10000;
    if (req->connect_timeout_ms > 0 && req->connect_timeout_ms < connect_ms)
        connect_ms = (long)req->connect_timeout_ms;
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
}

int httpc_perform(const httpc_request_t *req, httpc_response_t *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    if (httpc_global_init() != 0) {
        snprintf(resp->error, sizeof resp->error, "could not initialise libcurl");
        return ORCH_EIO;
    }
    CURL *h = s_thread_handle();
    if (!h) {
        snprintf(resp->error, sizeof resp->error, "could not create a curl handle");
        return ORCH_EIO;
    }
    s_xfer_t x = {.max = req->max_response_bytes ? req->max_response_bytes
                                                 : HTTPC_DEFAULT_MAX_RESPONSE,
                  .cancelled = req->cancelled};
    strbuf_init(&x.body);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = s_headers(req);
    s_setup(h, req, &x, hdr, errbuf);
    CURLcode cc = curl_easy_perform(h);
    /* The header list holds the bearer token: drop it from the handle now. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = s_map_curl_error(cc, &x);
        if (rc == ORCH_ETOOBIG)
            snprintf(resp->error, sizeof resp->error, "response larger than %zu bytes", x.max);
        else if (rc == ORCH_ECANCELLED)
            snprintf(resp->error, sizeof resp->error, "request cancelled");
        else
            snprintf(resp->error, sizeof resp->error, "%s",
                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_off_t ra = 0;
        if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            resp->retry_after_s = (int64_t)ra;
    }
    resp->body_len = x.body.len;
    resp->body = strbuf_detach(&x.body);
    return rc;
}

void httpc_response_fini(httpc_response_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

httpc_class_t httpc_classify_status(long status)
{
    if (status >= 200 && status < 300)
        return HTTPC_CLASS_OK;
    if (status == 408 || status == 425 || status == 429 || status >= 500 || status == 0)
        return HTTPC_CLASS_RETRY;
    return HTTPC_CLASS_PERMANENT;
}

void httpc_url_escape(strbuf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            strbuf_putc(out, (char)c);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_append(out, enc, 3);
        }
    }
}

void httpc_redact_url(const char *url, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    size_t authority_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', authority_len);
    if (!at) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    snprintf(out, outlen, "%.*s%s", (int)(host - url), url, at + 1);
}
