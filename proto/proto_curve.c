/* CURVE key files and the client side of CURVE (see proto_curve.h). The
 * cryptography is libzmq's and libsodium's: this file only moves keys. */
#include "proto_curve.h"
#include "orch_error.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define S_FILE_MAX 4096 /* a key file is 40 characters and a newline */

bool proto_curve_available(void)
{
    return zmq_has("curve") != 0;
}

bool proto_curve_key_valid(const char *text)
{
    uint8_t bin[32];
    if (!text || strlen(text) != PROTO_CURVE_KEY_LEN)
        return false;
    bool ok = zmq_z85_decode(bin, text) != NULL;
    sodium_memzero(bin, sizeof bin);
    return ok;
}

bool proto_curve_on(const proto_curve_t *k)
{
    return k && k->server[0] && k->secret[0];
}

/* The file's bytes, white space trimmed, when they are one key. */
static bool s_take_key(char *buf, size_t n, char key[PROTO_CURVE_KEY_LEN + 1])
{
    size_t start = 0;
    while (start < n && isspace((unsigned char)buf[start]))
        start++;
    while (n > start && isspace((unsigned char)buf[n - 1]))
        n--;
    if (n - start != PROTO_CURVE_KEY_LEN)
        return false;
    memcpy(key, buf + start, PROTO_CURVE_KEY_LEN);
    key[PROTO_CURVE_KEY_LEN] = '\0';
    return proto_curve_key_valid(key);
}

int proto_curve_read(const char *path, char key[PROTO_CURVE_KEY_LEN + 1], char *err, size_t errlen)
{
    key[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        return ORCH_EIO;
    }
    char buf[S_FILE_MAX + 1];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "could not read \"%s\": %s", path, strerror(errno));
            close(fd);
            sodium_memzero(buf, sizeof buf);
            return ORCH_EIO;
        }
        n += (size_t)r;
    }
    close(fd);
    bool ok = n <= S_FILE_MAX && s_take_key(buf, n, key);
    sodium_memzero(buf, sizeof buf);
    if (!ok) {
        key[0] = '\0';
        snprintf(err, errlen,
                 "\"%s\" does not hold a CURVE key (40 characters of Z85 text, as "
                 "`orchctl keygen` writes)",
                 path);
        return ORCH_EINVAL;
    }
    return 0;
}

int proto_curve_set(proto_curve_t *k, const char *server, const char *secret)
{
    memset(k, 0, sizeof *k);
    if (!proto_curve_key_valid(server) || !proto_curve_key_valid(secret))
        return ORCH_EINVAL;
    memcpy(k->server, server, PROTO_CURVE_KEY_LEN + 1);
    memcpy(k->secret, secret, PROTO_CURVE_KEY_LEN + 1);
    if (zmq_curve_public(k->public_key, k->secret) != 0) {
        sodium_memzero(k, sizeof *k);
        return ORCH_EINVAL;
    }
    return 0;
}

int proto_curve_load(proto_curve_t *k, const char *server_file, const char *secret_file, char *err,
                     size_t errlen)
{
    char server[PROTO_CURVE_KEY_LEN + 1], secret[PROTO_CURVE_KEY_LEN + 1];
    memset(k, 0, sizeof *k);
    int rc = proto_curve_read(server_file, server, err, errlen);
    if (rc == 0)
        rc = proto_curve_read(secret_file, secret, err, errlen);
    if (rc == 0 && proto_curve_set(k, server, secret) != 0) {
        snprintf(err, errlen, "could not derive the public key from \"%s\"", secret_file);
        rc = ORCH_EINVAL;
    }
    sodium_memzero(secret, sizeof secret);
    return rc;
}

int proto_curve_client(void *sock, const proto_curve_t *k)
{
    if (!proto_curve_on(k))
        return 0;
    /* Z85 text: 40 characters and the terminating NUL, as zmq_setsockopt
     * documents for the three key options. */
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, k->server, PROTO_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->public_key, PROTO_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret, PROTO_CURVE_KEY_LEN + 1) != 0)
        return ORCH_EIO;
    return 0;
}

/* Creates path (it must not exist) with mode and writes key and a newline. */
static int s_write_new(const char *path, mode_t mode, const char *key, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create \"%s\": %s", path, strerror(errno));
        return ORCH_EIO;
    }
    char line[PROTO_CURVE_KEY_LEN + 2];
    memcpy(line, key, PROTO_CURVE_KEY_LEN);
    line[PROTO_CURVE_KEY_LEN] = '\n';
    ssize_t w = write(fd, line, PROTO_CURVE_KEY_LEN + 1);
    sodium_memzero(line, sizeof line);
    bool ok = w == PROTO_CURVE_KEY_LEN + 1 && fsync(fd) == 0;
    int saved = w >= 0 && !ok && w != PROTO_CURVE_KEY_LEN + 1 ? EIO : errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        snprintf(err, errlen, "could not write \"%s\": %s", path, strerror(saved));
        unlink(path);
        return ORCH_EIO;
    }
    return 0;
}

int proto_curve_keygen(const char *prefix, char public_key[PROTO_CURVE_KEY_LEN + 1], char *err,
                       size_t errlen)
{
    char pub_path[4096], key_path[4096];
    if (!prefix || !*prefix || strlen(prefix) > sizeof pub_path - 5) {
        snprintf(err, errlen, "invalid key file prefix");
        return ORCH_EINVAL;
    }
    snprintf(pub_path, sizeof pub_path, "%s.pub", prefix);
    snprintf(key_path, sizeof key_path, "%s.key", prefix);
    if (!proto_curve_available()) {
        snprintf(err, errlen, "this libzmq was built without CURVE support");
        return ORCH_EINVAL;
    }
    char secret[PROTO_CURVE_KEY_LEN + 1];
    if (zmq_curve_keypair(public_key, secret) != 0) {
        snprintf(err, errlen, "could not generate a key pair: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    /* the public file first: if the secret cannot be written, nothing
     * names a key that does not exist */
    int rc = s_write_new(pub_path, 0644, public_key, err, errlen);
    if (rc == 0 && (rc = s_write_new(key_path, 0600, secret, err, errlen)) != 0)
        unlink(pub_path);
    sodium_memzero(secret, sizeof secret);
    return rc;
}
