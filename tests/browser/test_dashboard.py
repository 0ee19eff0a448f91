#!/usr/bin/env python3
"""The dashboard (orchestrator/http/ui) in a real headless Chromium.

Starts a real cluster with tests/integration/harness.py (PostgreSQL,
orchestratord with a tokens file, an orch-worker serving queues default and
webq), makes two tokens (ops: operate, viewer: submit) and runs
`node dashboard.test.js`, which drives Debian's chromium through
playwright-core and checks what the pages show against the API (see the
header of dashboard.test.js for the list). Screenshots go to
ORCH_SCREENSHOT_DIR (CTest: <build>/screenshots).

playwright-core is installed into tests/browser/node_modules with `npm ci`
when missing (package-lock.json pins it); no browser is downloaded.

With --open: no tokens file (every request is the local admin); the
dashboard must work without a token (scenario "open" of dashboard.test.js).
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402

CHROMIUM = os.environ.get("ORCH_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
TOKENS_DIR = tempfile.mkdtemp(prefix="orch-ui-tokens-", dir="/tmp")
TOKENS = os.path.join(TOKENS_DIR, "tokens")
SHOTS = os.environ.get("ORCH_SCREENSHOT_DIR") or os.path.join(harness.BIN_DIR, "..", "screenshots")


def ensure_playwright():
    check(NODE is not None, "node is not installed (deploy/install-deps.sh installs nodejs)")
    check(os.access(CHROMIUM, os.X_OK), "%s is missing (deploy/install-deps.sh installs chromium)"
          % CHROMIUM)
    if os.path.exists(os.path.join(HERE, "node_modules", "playwright-core", "package.json")):
        return
    npm = shutil.which("npm")
    check(npm is not None, "npm is not installed")
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    check(r.returncode == 0, "npm ci in %s failed: %s%s" % (HERE, r.stdout[-2000:], r.stderr[-2000:]))


def new_token(name, role):
    r = subprocess.run([os.path.join(harness.BIN_DIR, "orchestratord"), "--new-token", name, role,
                        "--tokens-file", TOKENS], capture_output=True, text=True)
    check(r.returncode == 0, "--new-token %s failed: %s" % (name, r.stderr))
    return r.stdout.strip()


def run_node(c, scenario, **extra):
    os.makedirs(SHOTS, exist_ok=True)
    env = dict(os.environ, ORCH_URL=c.http_base, ORCH_SCENARIO=scenario, ORCH_CHROMIUM=CHROMIUM,
               ORCH_SCREENSHOT_DIR=os.path.abspath(SHOTS), **extra)
    r = subprocess.run([NODE, os.path.join(HERE, "dashboard.test.js")], env=env,
                       stdin=subprocess.DEVNULL, timeout=150)
    check(r.returncode == 0, "dashboard.test.js (%s) failed (exit %s)" % (scenario, r.returncode))


def test_open(c):
    """No tokens file: the dashboard works without a token, as local/admin."""
    c.start_worker("w1", slots=2, queues=("default",))
    run_node(c, "open")


def test(c):
    c.start_worker("w1", slots=2, queues=("default", "webq"))
    run_node(c, "tokens", ORCH_TOKEN_OPERATE=TOK_OPS, ORCH_TOKEN_SUBMIT=TOK_VIEWER)
    # the UI's actions are in the audit trail under the operate token's name
    rows = c.sql("SELECT count(*) AS n FROM job_events WHERE event = 'retried' "
                 "AND detail->>'actor' = 'ops'")
    check(rows[0]["n"] >= 3, "expected >= 3 retried events by ops (one + a bulk of 2), got %r" % rows)
    rows = c.sql("SELECT count(*) AS n FROM job_events WHERE event = 'retried' "
                 "AND detail->>'actor' = 'viewer'")
    check(rows[0]["n"] == 0, "the read-only token retried something: %r" % rows)


ensure_playwright()
if "--open" in sys.argv[1:]:
    shutil.rmtree(TOKENS_DIR, ignore_errors=True)
    harness.main(test_open, name="test_dashboard_open", deadline=200)
TOK_OPS = new_token("ops", "operate")
TOK_VIEWER = new_token("viewer", "submit")
try:
    harness.main(test, deadline=200, coordinator_config={"security": {"tokens_file": TOKENS}})
finally:
    shutil.rmtree(TOKENS_DIR, ignore_errors=True)
