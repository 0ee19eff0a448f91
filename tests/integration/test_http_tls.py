#!/usr/bin/env python3
"""The HTTP API over TLS, and the rule for listeners other hosts can reach.

1. With http.tls_cert_file and http.tls_key_file (a self-signed certificate
   made here with openssl), the API answers HTTPS: a client that trusts the
   certificate gets /healthz and submits a job with a bearer token (201,
   and the job exists in PostgreSQL); the token's name is the audit
   trail's actor.
2. A plain-HTTP request to the TLS port gets no HTTP answer, and the
   coordinator keeps serving HTTPS afterwards.
3. `orchestratord --check-config`: listen.http on 0.0.0.0 without TLS is
   refused naming listen.http; with TLS but no tokens it is refused too;
   with TLS and tokens it is accepted; security.insecure accepts it alone.
   A tokens file line with a bad role or hash is refused naming the line.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

CERT_DIR = tempfile.mkdtemp(prefix="orch-tls-", dir="/tmp")
CERT = os.path.join(CERT_DIR, "cert.pem")
KEY = os.path.join(CERT_DIR, "key.pem")
TOKENS = os.path.join(CERT_DIR, "tokens")


def make_cert():
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", KEY, "-out", CERT], check=True, capture_output=True)


def new_token(name, role, path=TOKENS):
    r = subprocess.run([os.path.join(harness.BIN_DIR, "orchestratord"), "--new-token", name, role,
                        "--tokens-file", path], capture_output=True, text=True)
    check(r.returncode == 0, "--new-token failed: %s" % r.stderr)
    tok = r.stdout.strip()
    check(tok.startswith("orch_") and len(tok) == 69, "unexpected token shape %r" % tok)
    with open(path) as f:
        check(tok not in f.read(), "the tokens file holds the token itself, not its hash")
    return tok


def https(c, method, path, body=None, token=None):
    ctx = ssl.create_default_context(cafile=CERT)
    conn = http.client.HTTPSConnection("127.0.0.1", c.http_port, context=ctx, timeout=10)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                 headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def check_config(tmp, extra, want_ok, want_text=None):
    path = os.path.join(tmp, "check.yaml")
    # a database, or --check-config refuses the file for want of one
    extra = harness._merge({"database": {"url": "dbname=none host=/nonexistent"}}, extra)
    with open(path, "w") as f:
        f.write(harness.to_yaml(extra) + "\n")
    r = subprocess.run([os.path.join(harness.BIN_DIR, "orchestratord"), "-c", path,
                        "--check-config"], capture_output=True, text=True)
    out = r.stdout + r.stderr
    if want_ok:
        check(r.returncode == 0, "--check-config refused %r: %s" % (extra, out))
    else:
        check(r.returncode == 2, "--check-config accepted %r: %s" % (extra, out))
        check(want_text in out, "--check-config said %r, expected it to mention %r"
              % (out, want_text))


def test(c):
    st, doc = https(c, "GET", "/healthz")
    check(st == 200 and doc == {"status": "ok"}, "HTTPS /healthz: %r %r" % (st, doc))
    st, doc = https(c, "POST", "/v1/jobs", {"queue": "parked", "type": "noop"}, token=TOKEN)
    check(st == 201 and len(doc["ids"]) == 1, "HTTPS submit: %r %r" % (st, doc))
    jid = doc["ids"][0]
    rows = c.sql("SELECT state, (SELECT detail->>'actor' FROM job_events WHERE job_id = :'id'::bigint"
                 " ORDER BY id LIMIT 1) AS actor FROM jobs WHERE id = :'id'::bigint", id=jid)
    check(rows and rows[0]["state"] == "queued", "job %d row: %r" % (jid, rows))
    check(rows[0]["actor"] == "tls-gw", "the submitted event's actor is %r, expected the token's "
          "name tls-gw" % rows[0]["actor"])
    st, doc = https(c, "GET", "/v1/jobs/%d" % jid)
    check(st == 401, "HTTPS without a token: %r %r" % (st, doc))

    # plain HTTP to the TLS port: no HTTP answer
    s = socket.create_connection(("127.0.0.1", c.http_port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = s.recv(4096)
    except (socket.timeout, ConnectionResetError):
        data = b""
    s.close()
    check(not data.startswith(b"HTTP/1.1 200"), "plain HTTP on the TLS port answered: %r" % data)
    st, _ = https(c, "GET", "/healthz")
    check(st == 200, "HTTPS after a plain-HTTP attempt: %r" % st)

    tmp = c.tmp
    wide = {"listen": {"http": "0.0.0.0:%d" % harness.free_tcp_port()}}
    check_config(tmp, wide, False, "listen.http")
    check_config(tmp, harness._merge(dict(wide), {"http": {"tls_cert_file": CERT,
                                                         "tls_key_file": KEY}}),
                 False, "no bearer token is configured")
    check_config(tmp, {"listen": wide["listen"],
                       "http": {"tls_cert_file": CERT, "tls_key_file": KEY},
                       "security": {"tokens_file": TOKENS}}, True)
    check_config(tmp, {"listen": wide["listen"], "security": {"insecure": True}}, True)
    check_config(tmp, {"http": {"tls_cert_file": CERT}}, False, "http.tls_key_file")
    bad = os.path.join(tmp, "bad-tokens")
    with open(bad, "w") as f:
        f.write("# comment\n\nops superuser sha256:%s\n" % ("ab" * 32))
    check_config(tmp, {"security": {"tokens_file": bad}}, False, "line 3")
    with open(bad, "w") as f:
        f.write("ops admin sha256:1234\n")
    check_config(tmp, {"security": {"tokens_file": bad}}, False, "64 hex digits")


make_cert()
TOKEN = new_token("tls-gw", "submit")
harness.main(test, coordinator_config={
    "http": {"tls_cert_file": CERT, "tls_key_file": KEY},
    "security": {"tokens_file": TOKENS},
})
