#!/usr/bin/env python3
"""A listener other hosts can reach needs CURVE (docs/security.md), checked
by `orchestratord --check-config` and at start, without a database:

1. listen.workers tcp://0.0.0.0 and no keys: --check-config exits non-zero
   naming listen.workers and security.insecure; starting refuses the same
   way; the same endpoint from ORCH_WORKER_ENDPOINT names the variable.
2. The same file with security.insecure: true passes.
3. With a coordinator key and one client key (orchctl keygen, secret file
   mode 0600) the non-loopback endpoint passes; keys without
   security.secret_key_file are refused naming security.keys; a secret key
   file that does not hold a key is refused without echoing its content.
4. Loopback endpoints (127.0.0.1, ipc) need nothing.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}


def run(argv, env=None, timeout=30):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env or ENV, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    coord = os.path.join(harness.BIN_DIR, "orchestratord")
    ctl = os.path.join(harness.BIN_DIR, "orchctl")
    d = tempfile.mkdtemp(prefix="orch-auth-check-", dir="/tmp")
    try:
        base = ("database: {url: \"dbname=none host=/nonexistent\"}\n"
                "listen:\n  workers: tcp://0.0.0.0:15555\n"
                "  clients: tcp://127.0.0.1:15556\n  events: ipc://%s/events.sock\n" % d)

        # 1. refused, naming the setting
        open_cfg = write(d, "open.yaml", base)
        rc, out, err = run([coord, "--check-config", "-c", open_cfg])
        check(rc != 0, "--check-config accepted tcp://0.0.0.0 without keys")
        check('"listen.workers"' in err and "security.insecure" in err and "0.0.0.0" in err,
              "the message does not name the setting: %r" % err)
        rc, out, err2 = run([coord, "-c", open_cfg], timeout=30)
        check(rc != 0 and '"listen.workers"' in err2, "start was not refused: %d %r" % (rc, err2))
        env = dict(ENV, ORCH_CLIENT_ENDPOINT="tcp://0.0.0.0:15557")
        rc, out, err = run([coord, "--check-config", "-c", write(d, "lo.yaml", "log: {level: info}\n")],
                           env=env)
        check(rc != 0 and "ORCH_CLIENT_ENDPOINT" in err and "listen.clients" in err,
              "an endpoint from the environment: %d %r" % (rc, err))

        # 2. written permission
        rc, out, err = run([coord, "--check-config", "-c",
                            write(d, "insecure.yaml", base + "security: {insecure: true}\n")])
        check(rc == 0 and "configuration ok" in out, "insecure: true refused: %d %r" % (rc, err))

        # 3. CURVE
        for name in ("coordinator", "ci"):
            rc, out, err = run([ctl, "keygen", os.path.join(d, name)])
            check(rc == 0, "orchctl keygen %s: %r" % (name, err))
        mode = stat.S_IMODE(os.stat(os.path.join(d, "coordinator.key")).st_mode)
        check(mode == 0o600, "secret key file mode %o, expected 600" % mode)
        rc, out, err = run([ctl, "keygen", os.path.join(d, "ci")])
        check(rc != 0 and "exists" in err, "keygen overwrote a key pair: %d %r" % (rc, err))
        keys = ("  keys:\n    - name: ci\n      public_key_file: ci.pub\n      role: submit\n")
        curve = write(d, "curve.yaml",
                      base + "security:\n  secret_key_file: coordinator.key\n" + keys)
        rc, out, err = run([coord, "--check-config", "-c", curve])
        check(rc == 0, "CURVE config refused: %r" % err)
        rc, out, err = run([coord, "--check-config", "-c",
                            write(d, "nosecret.yaml", base + "security:\n" + keys)])
        check(rc != 0 and '"security.keys"' in err and "secret_key_file" in err,
              "keys without a secret key: %d %r" % (rc, err))
        bad = write(d, "bad.key", "not-a-key-but-a-secret-0123456789abcdef\n")
        rc, out, err = run([coord, "--check-config", "-c",
                            write(d, "badsecret.yaml",
                                  base + "security:\n  secret_key_file: bad.key\n" + keys)])
        check(rc != 0 and "does not hold a CURVE secret key" in err, "bad key: %d %r" % (rc, err))
        check("not-a-key-but" not in err, "the secret file's content was echoed: %r" % err)

        # 4. loopback only
        rc, out, err = run([coord, "--check-config", "-c",
                            write(d, "loop.yaml", base.replace("0.0.0.0", "127.0.0.1"))])
        check(rc == 0, "loopback endpoints refused: %r" % err)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    harness.log("PASS test_auth_check_config")


try:
    main()
except harness.TestFailure as e:
    sys.stderr.write("FAIL test_auth_check_config: %s\n" % e)
    sys.exit(1)
