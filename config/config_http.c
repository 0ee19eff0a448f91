/* The HTTP API's settings: where it listens, TLS, and the bearer tokens.
 * A token file line is "NAME ROLE sha256:HEX [tenant=NAME]" (blank lines
 * and lines starting with # are ignored; a tenant scopes a submit or
 * operate token to that tenant's jobs): the file holds hashes only, so reading it
 * reveals no token. `orchestratord --new-token NAME ROLE` appends a line
 * and prints the token once. Tokens are 32 random bytes, so one SHA-256
 * is the right hash (a slow password hash protects guessable secrets). */
#include "config_http.h"
#include "config_listen.h"
#include "cfgtab_key.h"
#include "orch_error.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_TOKENS_BYTES (1024 * 1024)

/* ---- tokens ------------------------------------------------------------ */

void orch_token_hash(const char *token, size_t len, unsigned char out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)token, len);
}

const orch_token_t *orch_token_find(const orch_config_t *cfg, const char *token, size_t len)
{
    unsigned char h[32];
    orch_token_hash(token, len, h);
    const orch_token_t *found = NULL;
    for (size_t i = 0; i < cfg->ntokens; i++)
        if (sodium_memcmp(h, cfg->tokens[i].sha256, sizeof h) == 0)
            found = &cfg->tokens[i];
    return found;
}

static int s_token_role(const char *s)
{
    static const char *const roles[] = {"submit", "operate", "admin"};
    static const int ids[] = {ORCH_ROLE_SUBMIT, ORCH_ROLE_OPERATE, ORCH_ROLE_ADMIN};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(s, roles[i]) == 0)
            return ids[i];
    return -1;
}

static int s_line_fail(cfgtab_t *ct, const char *file, int line, const char *fmt, const char *what)
{
    return cfgtab_fail(ct, &ct->root, "security.tokens_file", "\"%s\" line %d: %s%s", file, line,
                       fmt, what ? what : "");
}

static int s_parse_line(cfgtab_t *ct, orch_config_t *cfg, const char *file, int lineno,
                        char *line)
{
    char *save = NULL;
    char *name = strtok_r(line, " \t", &save);
    if (!name || name[0] == '#')
        return 0;
    char *role = strtok_r(NULL, " \t", &save);
    char *hash = strtok_r(NULL, " \t", &save);
    char *scope = hash ? strtok_r(NULL, " \t", &save) : NULL;
    if (!role || !hash || (scope && strtok_r(NULL, " \t", &save)))
        return s_line_fail(ct, file, lineno, "expected \"NAME ROLE sha256:HEX [tenant=NAME]\"",
                           NULL);
    if (scope && (strncmp(scope, "tenant=", 7) != 0 || cfgtab_check_name(scope + 7)))
        return s_line_fail(ct, file, lineno,
                           "the fourth field must be tenant=NAME (1..64 characters "
                           "[A-Za-z0-9_.:-]), not ",
                           scope);
    if (cfgtab_check_name(name))
        return s_line_fail(ct, file, lineno,
                           "the name must be 1..64 characters [A-Za-z0-9_.:-]", NULL);
    orch_token_t t = {.role = s_token_role(role)};
    if (t.role < 0)
        return s_line_fail(ct, file, lineno, "the role must be submit, operate or admin, not ",
                           role);
    if (scope && t.role == ORCH_ROLE_ADMIN)
        return s_line_fail(ct, file, lineno,
                           "an admin token acts for every tenant: tenant= is for submit and "
                           "operate tokens",
                           NULL);
    size_t bin_len = 0;
    if (strncmp(hash, "sha256:", 7) != 0 || strlen(hash + 7) != 64 ||
        sodium_hex2bin(t.sha256, sizeof t.sha256, hash + 7, 64, NULL, &bin_len, NULL) != 0 ||
        bin_len != 32)
        return s_line_fail(ct, file, lineno,
                           "the hash must be sha256: and 64 hex digits (orchestratord "
                           "--new-token writes such lines)",
                           NULL);
    for (size_t i = 0; i < cfg->ntokens; i++)
        if (strcmp(cfg->tokens[i].name, name) == 0)
            return s_line_fail(ct, file, lineno, "a token named ", name);
    t.name = xstrdup(name);
    t.tenant = scope ? xstrdup(scope + 7) : NULL;
    cfg->tokens = xrealloc(cfg->tokens, (cfg->ntokens + 1) * sizeof *cfg->tokens);
    cfg->tokens[cfg->ntokens++] = t;
    return 0;
}

static int s_read_tokens(cfgtab_t *ct, orch_config_t *cfg)
{
    char full[4096];
    if (cfg->tokens_file[0] != '/' && ct->dir)
        snprintf(full, sizeof full, "%s/%s", ct->dir, cfg->tokens_file);
    else
        snprintf(full, sizeof full, "%s", cfg->tokens_file);
    FILE *f = fopen(full, "r");
    if (!f)
        return cfgtab_fail(ct, &ct->root, "security.tokens_file", "could not open \"%s\": %s",
                           full, strerror(errno));
    char line[1024];
    int lineno = 0, rc = 0;
    long total = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        total += (long)strlen(line);
        if (total > S_MAX_TOKENS_BYTES) {
            rc = s_line_fail(ct, full, lineno, "the file is larger than 1 MiB", NULL);
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        rc = s_parse_line(ct, cfg, full, lineno, line);
    }
    fclose(f);
    if (rc == 0 && cfg->ntokens == 0)
        rc = cfgtab_fail(ct, &ct->root, "security.tokens_file",
                         "\"%s\" holds no token: add one with orchestratord --new-token", full);
    return rc;
}

int orch_token_new(const char *file, const char *name, const char *role, const char *tenant,
                   char *token, size_t tokenlen, char *err, size_t errlen)
{
    if (cfgtab_check_name(name)) {
        snprintf(err, errlen, "token name \"%s\": must be 1..64 characters [A-Za-z0-9_.:-]",
                 name);
        return ORCH_EINVAL;
    }
    if (s_token_role(role) < 0) {
        snprintf(err, errlen, "token role \"%s\": must be submit, operate or admin", role);
        return ORCH_EINVAL;
    }
    if (tenant && cfgtab_check_name(tenant)) {
        snprintf(err, errlen, "--tenant \"%s\": must be 1..64 characters [A-Za-z0-9_.:-]",
                 tenant);
        return ORCH_EINVAL;
    }
    if (tenant && s_token_role(role) == ORCH_ROLE_ADMIN) {
        snprintf(err, errlen, "--tenant: an admin token acts for every tenant (use submit or "
                              "operate)");
        return ORCH_EINVAL;
    }
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    if (tokenlen < 5 + sizeof hex) {
        snprintf(err, errlen, "token buffer too small");
        return ORCH_EINVAL;
    }
    snprintf(token, tokenlen, "orch_%s", hex);
    sodium_memzero(hex, sizeof hex);
    unsigned char h[32];
    orch_token_hash(token, strlen(token), h);
    char hhex[65];
    sodium_bin2hex(hhex, sizeof hhex, h, sizeof h);
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "could not open \"%s\": %s", file, strerror(errno));
        return ORCH_EIO;
    }
    char line[256];
    int n = snprintf(line, sizeof line, "%s %s sha256:%s%s%s\n", name, role, hhex,
                     tenant ? " tenant=" : "", tenant ? tenant : "");
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
        snprintf(err, errlen, "could not write \"%s\": %s", file, strerror(saved));
        return ORCH_EIO;
    }
    return ORCH_OK;
}

/* ---- the section ------------------------------------------------------- */

static int s_read_tls(cfgtab_t *ct, orch_config_t *cfg)
{
    if (!cfg->http_tls_cert_file != !cfg->http_tls_key_file)
        return cfgtab_fail(ct, &ct->root,
                           cfg->http_tls_cert_file ? "http.tls_key_file" : "http.tls_cert_file",
                           "set both http.tls_cert_file and http.tls_key_file for HTTPS");
    if (!cfg->http_tls_cert_file)
        return 0;
    int rc = cfgtab_read_secret(ct, &ct->root, "http.tls_cert_file", cfg->http_tls_cert_file,
                                &cfg->http_tls_cert);
    if (rc == 0)
        rc = cfgtab_read_secret(ct, &ct->root, "http.tls_key_file", cfg->http_tls_key_file,
                                &cfg->http_tls_key);
    if (rc == 0 && !strstr(cfg->http_tls_cert, "-----BEGIN"))
        rc = cfgtab_fail(ct, &ct->root, "http.tls_cert_file", "\"%s\" is not a PEM certificate",
                         cfg->http_tls_cert_file);
    if (rc == 0 && !strstr(cfg->http_tls_key, "-----BEGIN"))
        rc = cfgtab_fail(ct, &ct->root, "http.tls_key_file", "\"%s\" is not a PEM private key",
                         cfg->http_tls_key_file);
    return rc;
}

int config_http_check(cfgtab_t *ct, orch_config_t *cfg)
{
    int rc = 0;
    if (cfg->tokens_file && (rc = s_read_tokens(ct, cfg)) < 0)
        return rc;
    if (config_listen_off(cfg->listen_http))
        return 0;
    if (!config_listen_split(cfg->listen_http, &cfg->http_host, &cfg->http_port))
        return cfgtab_fail(ct, &ct->root, "listen.http",
                           "expected HOST:PORT (e.g. 127.0.0.1:5580, [::1]:5580) or off, got "
                           "\"%s\"",
                           cfg->listen_http);
    if ((rc = s_read_tls(ct, cfg)) < 0)
        return rc;
    if (cfg->insecure || config_listen_loopback(cfg->http_host))
        return 0;
    if (!cfg->http_tls_cert || cfg->ntokens == 0)
        return cfgtab_fail(ct, &ct->root, "listen.http",
                           "\"%s\" is not a loopback address and %s: set http.tls_cert_file, "
                           "http.tls_key_file and security.tokens_file, or security.insecure: "
                           "true to serve the API unauthenticated or in clear text",
                           cfg->listen_http,
                           !cfg->http_tls_cert ? "TLS is off" : "no bearer token is configured");
    return 0;
}

void config_http_free(orch_config_t *cfg)
{
    for (size_t i = 0; i < cfg->ntokens; i++) {
        free(cfg->tokens[i].name);
        free(cfg->tokens[i].tenant);
    }
    free(cfg->tokens);
    cfg->tokens = NULL;
    cfg->ntokens = 0;
    free(cfg->http_host);
    cfg->http_host = NULL;
    free(cfg->http_tls_cert);
    cfg->http_tls_cert = NULL;
    if (cfg->http_tls_key) {
        sodium_memzero(cfg->http_tls_key, strlen(cfg->http_tls_key));
        free(cfg->http_tls_key);
        cfg->http_tls_key = NULL;
    }
}
