/* Unit tests of the `security:` section (config/config_security.c) and the
 * CURVE keys of orch-worker: which endpoints count as loopback, the rule
 * that a non-loopback listener needs CURVE or security.insecure (message
 * naming the setting), the allow-list with its roles and queues and every
 * error it can give, key files (relative paths, content never echoed), the
 * environment variables, and orch-worker's key files and flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include "orch_error.h"
#include "proto_curve.h"
#include "worker_args.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static char s_dir[64];
static char s_err[1024];
static char s_pub[41], s_sec[41];   /* a key pair written to pub.key / sec.key */
static char s_pub2[41], s_sec2[41]; /* another one */

static const char *s_env_vars[] = {
    "ORCH_DATABASE_URL",    "ORCH_WORKER_ENDPOINT", "ORCH_CLIENT_ENDPOINT", "ORCH_EVENT_ENDPOINT",
    "ORCH_SECRET_KEY_FILE", "ORCH_SERVER_KEY_FILE", "ORCH_WORKER_ENDPOINTS"};

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) {                                                            \
            print_error("expected \"%s\" in \"%s\"\n", (needle), (hay));                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_lacks(hay, needle)                                                                  \
    do {                                                                                           \
        if (strstr((hay), (needle))) {                                                             \
            print_error("did not expect \"%s\" in \"%s\"\n", (needle), (hay));                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Writes text to name in the temporary directory; returns its path (static). */
static const char *s_write(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int s_setup_group(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_config_security.XXXXXX");
    if (!mkdtemp(s_dir) || zmq_curve_keypair(s_pub, s_sec) != 0 ||
        zmq_curve_keypair(s_pub2, s_sec2) != 0)
        return -1;
    char line[64];
    snprintf(line, sizeof line, "%s\n", s_pub);
    s_write("pub.key", line);
    snprintf(line, sizeof line, "  %s  \n", s_sec); /* white space is trimmed */
    s_write("sec.key", line);
    snprintf(line, sizeof line, "%s\n", s_pub2);
    s_write("pub2.key", line);
    s_write("junk.key", "hunter2_this_is_not_a_key_at_all_0123456\n");
    return 0;
}

static int s_teardown_group(void **state)
{
    (void)state;
    return nftw(s_dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static int s_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_env_vars / sizeof s_env_vars[0]; i++)
        unsetenv(s_env_vars[i]);
    s_err[0] = '\0';
    return 0;
}

static int s_orch(const char *yaml, orch_config_t **out)
{
    *out = NULL;
    return orch_config_load(s_write("orchestrator.yaml", yaml), out, s_err, sizeof s_err);
}

/* Loads yaml, expecting ORCH_ECONFIG with want in the message. */
static void s_orch_fails(const char *yaml, const char *want)
{
    orch_config_t *cfg = NULL;
    int rc = s_orch(yaml, &cfg);
    if (rc != ORCH_ECONFIG) {
        orch_config_destroy(&cfg);
        fail_msg("expected a config error containing \"%s\" for:\n%s", want, yaml);
    }
    assert_null(cfg);
    assert_contains(s_err, want);
}

/* The security section with the standard key pair: "yaml" ... */
static void s_curve_yaml(char *buf, size_t len, const char *keys)
{
    snprintf(buf, len, "security:\n  secret_key_file: sec.key\n  keys:\n%s", keys);
}

/* text with the first `from` replaced by to, into buf. */
static void s_subst(char *buf, size_t len, const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (!at) {
        snprintf(buf, len, "%s", text);
        return;
    }
    snprintf(buf, len, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

/* ---- loopback ------------------------------------------------------------ */

static void test_loopback_endpoints(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "ipc:///tmp/w.sock", "inproc://events",         "tcp://127.0.0.1:5555",
        "tcp://127.1.2.3:1", "tcp://127.0.0.1:*",       "tcp://localhost:5555",
        "tcp://[::1]:5555",  "tcp://127.255.255.255:9",
    };
    static const char *const no[] = {
        "tcp://0.0.0.0:5555",
        "tcp://*:5555",
        "tcp://192.168.1.10:5555",
        "tcp://eth0:5555",
        "tcp://[::]:5555",
        "tcp://localhost.example.com:1",
        "tcp://127.0.0.1.evil.example:1",
        "tcp://127.0.0:1",
        "tcp://127.0.0.256:1",
        "tcp://1270.0.0.1:1",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1;10.0.0.1:5555",
        "tcp://[::ffff:127.0.0.1]:1",
        "udp://127.0.0.1:1",
        "",
        "tcp://128.0.0.1:1",
        "tcp://127..0.1:1",
        "tcp://127.0.0.1.:1",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!orch_endpoint_loopback(yes[i]))
            fail_msg("\"%s\" should be loopback", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (orch_endpoint_loopback(no[i]))
            fail_msg("\"%s\" should not be loopback", no[i]);
    assert_false(orch_endpoint_loopback(NULL));
}

/* ---- the listener rule ---------------------------------------------------- */

static void test_defaults_are_local_and_open(void **state)
{
    (void)state;
    orch_config_t *cfg = NULL;
    assert_int_equal(orch_config_load(NULL, &cfg, s_err, sizeof s_err), 0);
    assert_null(cfg->secret_key_file);
    assert_null(cfg->secret_key);
    assert_int_equal(cfg->nkeys, 0);
    assert_false(cfg->insecure);
    orch_config_destroy(&cfg);
}

static void test_non_loopback_needs_curve(void **state)
{
    (void)state;
    s_orch_fails("listen:\n  workers: tcp://0.0.0.0:5555\n",
                 "orchestrator.yaml:2:12: \"listen.workers\": \"tcp://0.0.0.0:5555\" is not a "
                 "loopback endpoint and CURVE is off: set security.secret_key_file and "
                 "security.keys, or security.insecure: true");
    s_orch_fails("listen: {clients: \"tcp://*:5556\"}\n", "\"listen.clients\": \"tcp://*:5556\"");
    s_orch_fails("listen: {events: tcp://10.1.2.3:5557}\n", "\"listen.events\"");
    /* the environment is named when it set the endpoint */
    setenv("ORCH_WORKER_ENDPOINT", "tcp://0.0.0.0:5555", 1);
    s_orch_fails("log: {level: info}\n", "ORCH_WORKER_ENDPOINT (\"listen.workers\"): ");
    orch_config_t *cfg = NULL;
    assert_int_equal(orch_config_load(NULL, &cfg, s_err, sizeof s_err), ORCH_ECONFIG);
    assert_contains(s_err, "\"listen.workers\"");
    unsetenv("ORCH_WORKER_ENDPOINT");
}

static void test_insecure_allows_non_loopback(void **state)
{
    (void)state;
    orch_config_t *cfg = NULL;
    assert_int_equal(s_orch("listen:\n  workers: tcp://0.0.0.0:5555\n  clients: tcp://*:5556\n"
                            "security:\n  insecure: true\n",
                            &cfg),
                     0);
    assert_true(cfg->insecure);
    assert_null(cfg->secret_key);
    orch_config_destroy(&cfg);
    s_orch_fails("security: {insecure: maybe}\n", "\"security.insecure\"");
}

/* ---- CURVE ------------------------------------------------------------------ */

static void test_curve_config(void **state)
{
    (void)state;
    char keys[1024], yaml[2048];
    snprintf(keys, sizeof keys,
             "    - name: w-a\n      public_key: \"%s\"\n      role: worker\n"
             "      queues: [default, embeddings]\n"
             "    - {name: ci, public_key_file: pub2.key, role: submit}\n"
             "    - {name: ops, public_key: \"%s\", role: operate}\n"
             "    - {name: root, public_key_file: %s/sec.key, role: admin}\n",
             s_pub, s_sec2, s_dir);
    s_curve_yaml(yaml, sizeof yaml, keys);
    strncat(yaml, "listen: {workers: \"tcp://0.0.0.0:5555\"}\n", sizeof yaml - strlen(yaml) - 1);
    orch_config_t *cfg = NULL;
    assert_int_equal(s_orch(yaml, &cfg), 0);
    assert_string_equal(cfg->secret_key, s_sec);
    assert_int_equal(cfg->nkeys, 4);
    assert_string_equal(cfg->keys[0].name, "w-a");
    assert_string_equal(cfg->keys[0].public_key, s_pub);
    assert_int_equal(cfg->keys[0].role, ORCH_ROLE_WORKER);
    assert_int_equal(cfg->keys[0].nqueues, 2);
    assert_string_equal(cfg->keys[0].queues[1], "embeddings");
    assert_string_equal(cfg->keys[1].public_key, s_pub2); /* from the file, relative */
    assert_int_equal(cfg->keys[1].role, ORCH_ROLE_SUBMIT);
    assert_int_equal(cfg->keys[2].role, ORCH_ROLE_OPERATE);
    assert_int_equal(cfg->keys[3].role, ORCH_ROLE_ADMIN);
    assert_string_equal(orch_role_name(cfg->keys[2].role), "operate");
    orch_config_destroy(&cfg);
    /* the secret key file from the environment */
    char path[128];
    snprintf(path, sizeof path, "%s/sec.key", s_dir);
    setenv("ORCH_SECRET_KEY_FILE", path, 1);
    snprintf(yaml, sizeof yaml,
             "security:\n  keys:\n    - {name: a, public_key: \"%s\", role: admin}\n", s_pub);
    assert_int_equal(s_orch(yaml, &cfg), 0);
    assert_string_equal(cfg->secret_key, s_sec);
    orch_config_destroy(&cfg);
    unsetenv("ORCH_SECRET_KEY_FILE");
}

static void test_curve_errors(void **state)
{
    (void)state;
    char yaml[2048], keys[1024];
    /* keys without a secret key, and the other way round */
    snprintf(yaml, sizeof yaml,
             "security:\n  keys:\n    - {name: a, public_key: \"%s\", role: admin}\n", s_pub);
    s_orch_fails(yaml, "\"security.keys\": keys are checked only with CURVE on: set "
                       "security.secret_key_file");
    s_orch_fails("security:\n  secret_key_file: sec.key\n",
                 "2:20: \"security.secret_key_file\": no peer could connect");
    /* a file that is not a key: named, never echoed */
    snprintf(yaml, sizeof yaml,
             "security:\n  secret_key_file: junk.key\n  keys:\n"
             "    - {name: a, public_key: \"%s\", role: admin}\n",
             s_pub);
    s_orch_fails(yaml, "does not hold a CURVE secret key");
    assert_lacks(s_err, "hunter2");
    s_orch_fails("security: {secret_key_file: missing.key}\n", "cannot open");
    /* entries */
    static const struct {
        const char *entry, *want;
    } cases[] = {
        {"    - {public_key: \"KEY\", role: admin}\n", "missing required key \"name\""},
        {"    - {name: a, public_key: \"KEY\"}\n", "missing required key \"role\""},
        {"    - {name: a, role: admin}\n", "set exactly one of public_key and public_key_file"},
        {"    - {name: a, public_key: \"KEY\", public_key_file: pub.key, role: admin}\n",
         "set exactly one of public_key and public_key_file"},
        {"    - {name: a, public_key: \"tooshort\", role: admin}\n", "is not a CURVE public key"},
        {"    - {name: a, public_key_file: junk.key, role: admin}\n", "is not a CURVE public key"},
        {"    - {name: a, public_key: \"KEY\", role: root}\n",
         "\"security.keys[0].role\": expected one of worker, submit, operate, admin, got \"root\""},
        {"    - {name: a, public_key: \"KEY\", role: worker}\n", "a worker key needs \"queues\""},
        {"    - {name: a, public_key: \"KEY\", role: submit, queues: [q]}\n",
         "\"security.keys[0].queues\": only a key with role worker has queues"},
        {"    - {name: \"bad name\", public_key: \"KEY\", role: admin}\n",
         "\"security.keys[0].name\""},
        {"    - {name: a, public_key: \"KEY\", role: admin, colour: red}\n",
         "unknown key \"security.keys[0].colour\""},
        {"    - just-a-string\n", "\"security.keys[0]\": expected a mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_subst(keys, sizeof keys, cases[i].entry, "KEY", s_pub);
        s_curve_yaml(yaml, sizeof yaml, keys);
        s_orch_fails(yaml, cases[i].want);
    }
    s_orch_fails("security: {secret_key_file: sec.key, keys: {a: 1}}\n",
                 "\"security.keys\": expected a list of mappings");
    /* unique names and keys */
    snprintf(keys, sizeof keys,
             "    - {name: a, public_key: \"%s\", role: admin}\n"
             "    - {name: a, public_key: \"%s\", role: admin}\n",
             s_pub, s_pub2);
    s_curve_yaml(yaml, sizeof yaml, keys);
    s_orch_fails(yaml, "\"security.keys[1].name\": key \"a\" is already defined");
    snprintf(keys, sizeof keys,
             "    - {name: a, public_key: \"%s\", role: admin}\n"
             "    - {name: b, public_key_file: pub.key, role: submit}\n",
             s_pub);
    s_curve_yaml(yaml, sizeof yaml, keys);
    s_orch_fails(yaml, "\"security.keys[1].public_key_file\": the same public key as key \"a\"");
}

/* ---- orch-worker --------------------------------------------------------- */

static int s_worker(const char *yaml, worker_config_t **out)
{
    *out = NULL;
    return worker_config_load(s_write("worker.yaml", yaml), handler_types, out, s_err,
                              sizeof s_err);
}

static void test_worker_keys(void **state)
{
    (void)state;
    worker_config_t *cfg = NULL;
    assert_int_equal(s_worker("worker: {name: w}\n", &cfg), 0);
    assert_null(cfg->server_key);
    assert_null(cfg->secret_key);
    worker_config_destroy(&cfg);
    assert_int_equal(
        s_worker("worker: {server_key_file: pub.key, secret_key_file: sec.key}\n", &cfg), 0);
    assert_string_equal(cfg->server_key, s_pub);
    assert_string_equal(cfg->secret_key, s_sec);
    worker_config_destroy(&cfg);
    assert_int_equal(s_worker("worker: {server_key_file: pub.key}\n", &cfg), ORCH_ECONFIG);
    assert_contains(s_err, "\"worker.server_key_file\": CURVE needs both");
    assert_int_equal(
        s_worker("worker: {server_key_file: pub.key, secret_key_file: junk.key}\n", &cfg),
        ORCH_ECONFIG);
    assert_contains(s_err, "\"worker.secret_key_file\"");
    assert_contains(s_err, "does not hold a CURVE key");
    assert_lacks(s_err, "hunter2");
    /* the environment */
    char pub[128], sec[128];
    snprintf(pub, sizeof pub, "%s/pub.key", s_dir);
    snprintf(sec, sizeof sec, "%s/sec.key", s_dir);
    setenv("ORCH_SERVER_KEY_FILE", pub, 1);
    setenv("ORCH_SECRET_KEY_FILE", sec, 1);
    assert_int_equal(s_worker("worker: {name: w}\n", &cfg), 0);
    assert_string_equal(cfg->server_key, s_pub);
    assert_string_equal(cfg->secret_key, s_sec);
    worker_config_destroy(&cfg);
}

static void test_worker_key_flags(void **state)
{
    (void)state;
    char pub[128], sec[128], junk[128];
    snprintf(pub, sizeof pub, "%s/pub.key", s_dir);
    snprintf(sec, sizeof sec, "%s/sec.key", s_dir);
    snprintf(junk, sizeof junk, "%s/junk.key", s_dir);
    worker_args_t a;
    char *ok[] = {"orch-worker", "--server-key", pub, "--key", sec, NULL};
    assert_int_equal(worker_args_parse(5, ok, &a, s_err, sizeof s_err), 0);
    assert_string_equal(a.server_key, s_pub);
    assert_string_equal(a.secret_key, s_sec);
    worker_config_t *cfg = NULL;
    assert_int_equal(s_worker("worker: {name: w}\n", &cfg), 0);
    worker_args_apply(&a, cfg);
    assert_string_equal(cfg->server_key, s_pub);
    assert_string_equal(cfg->secret_key, s_sec);
    worker_config_destroy(&cfg);
    worker_args_fini(&a);
    char *bad[] = {"orch-worker", "--key", junk, NULL};
    assert_int_equal(worker_args_parse(3, bad, &a, s_err, sizeof s_err), ORCH_EINVAL);
    assert_contains(s_err, "--key: ");
    assert_contains(s_err, "does not hold a CURVE key");
    assert_lacks(s_err, "hunter2");
    worker_args_fini(&a);
    char *missing[] = {"orch-worker", "--server-key", NULL};
    assert_int_equal(worker_args_parse(2, missing, &a, s_err, sizeof s_err), ORCH_EINVAL);
    assert_string_equal(s_err, "--server-key: missing value");
    worker_args_fini(&a);
}

/* ---- key files --------------------------------------------------------------- */

static void test_keygen_and_read(void **state)
{
    (void)state;
    char prefix[128], path[160], pub[41], got[41];
    snprintf(prefix, sizeof prefix, "%s/gen", s_dir);
    assert_int_equal(proto_curve_keygen(prefix, pub, s_err, sizeof s_err), 0);
    assert_true(proto_curve_key_valid(pub));
    snprintf(path, sizeof path, "%s.key", prefix);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(proto_curve_read(path, got, s_err, sizeof s_err), 0);
    char derived[41];
    assert_int_equal(zmq_curve_public(derived, got), 0);
    assert_string_equal(derived, pub); /* the pair matches */
    /* never overwrites */
    assert_int_equal(proto_curve_keygen(prefix, pub, s_err, sizeof s_err), ORCH_EIO);
    assert_contains(s_err, "File exists");
    snprintf(path, sizeof path, "%s/junk.key", s_dir);
    assert_int_equal(proto_curve_read(path, got, s_err, sizeof s_err), ORCH_EINVAL);
    assert_lacks(s_err, "hunter2");
    proto_curve_t k;
    assert_int_equal(proto_curve_set(&k, s_pub, s_sec), 0);
    assert_string_equal(k.public_key, s_pub); /* derived from the secret */
    assert_true(proto_curve_on(&k));
    assert_int_equal(proto_curve_set(&k, "short", s_sec), ORCH_EINVAL);
    assert_false(proto_curve_on(&k));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_loopback_endpoints, s_setup),
        cmocka_unit_test_setup(test_defaults_are_local_and_open, s_setup),
        cmocka_unit_test_setup(test_non_loopback_needs_curve, s_setup),
        cmocka_unit_test_setup(test_insecure_allows_non_loopback, s_setup),
        cmocka_unit_test_setup(test_curve_config, s_setup),
        cmocka_unit_test_setup(test_curve_errors, s_setup),
        cmocka_unit_test_setup(test_worker_keys, s_setup),
        cmocka_unit_test_setup(test_worker_key_flags, s_setup),
        cmocka_unit_test_setup(test_keygen_and_read, s_setup),
    };
    return cmocka_run_group_tests(tests, s_setup_group, s_teardown_group);
}
