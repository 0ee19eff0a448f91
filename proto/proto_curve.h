/* CURVE keys (libzmq's CurveZMQ, libsodium underneath) for the peers of
 * orchestratord: reading key files, the client side of a socket's CURVE
 * options, and writing a new key pair. The coordinator's own side (server
 * key, ZAP) is in orchestrator/coord/coord_auth.c.
 *
 * A key file holds one key as 40 characters of Z85 text (what
 * zmq_curve_keypair returns), surrounding white space ignored:
 * NAME.pub the public key, NAME.key the secret key (mode 0600). A secret
 * key is never printed: messages name the file, not its content. */
#ifndef PROTO_CURVE_H
#define PROTO_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#define PROTO_CURVE_KEY_LEN 40 /* Z85 characters of a 32-byte key */

/* What a connecting peer needs: the coordinator's public key and its own
 * key pair (the public half derived from the secret). All "" = CURVE off. */
typedef struct {
    char server[PROTO_CURVE_KEY_LEN + 1];
    char public_key[PROTO_CURVE_KEY_LEN + 1];
    char secret[PROTO_CURVE_KEY_LEN + 1];
} proto_curve_t;

/* Whether libzmq was built with CURVE (zmq_has("curve")). */
bool proto_curve_available(void);

/* Whether text is a key: exactly 40 characters of Z85 that decode. */
bool proto_curve_key_valid(const char *text);

/* Reads the key in file path into key. Returns 0, or ORCH_EIO / ORCH_EINVAL
 * with a message naming the file (never its content). */
int proto_curve_read(const char *path, char key[PROTO_CURVE_KEY_LEN + 1], char *err, size_t errlen);

/* Fills k from the coordinator's public key file and this peer's secret key
 * file (both required). 0, or ORCH_EIO / ORCH_EINVAL with a message. */
int proto_curve_load(proto_curve_t *k, const char *server_file, const char *secret_file, char *err,
                     size_t errlen);

/* Fills k from keys already read (server public key and own secret, Z85):
 * derives the public half. ORCH_EINVAL when a key is not valid. */
int proto_curve_set(proto_curve_t *k, const char *server, const char *secret);

/* Whether k holds keys (CURVE on). k may be NULL. */
bool proto_curve_on(const proto_curve_t *k);

/* Makes sock (before zmq_connect) a CURVE client of the server in k; does
 * nothing when k is NULL or off. 0, or ORCH_EIO (errno kept by zmq). */
int proto_curve_client(void *sock, const proto_curve_t *k);

/* Writes a new key pair: prefix.key (the secret, created 0600) and
 * prefix.pub (the public key). Neither may exist yet. Stores the public
 * key in public_key. 0, or ORCH_EIO / ORCH_EINVAL with a message. */
int proto_curve_keygen(const char *prefix, char public_key[PROTO_CURVE_KEY_LEN + 1], char *err,
                       size_t errlen);

#endif
