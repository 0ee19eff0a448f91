#!/usr/bin/env python3
"""The production packaging (docs/operations.md, "Production install").

Uses the build this test runs from (ORCH_BIN_DIR's parent), without
rebuilding it; needs no PostgreSQL.

1. `cmake --install BUILD --prefix P` installs the three programs (not
   orch-bench), the example configurations in P/etc/orchestrator, the units
   (naming P's paths), man pages 1/3/5/8 and the docs; a second install keeps
   an edited configuration.
2. `systemd-analyze verify` accepts both units with no complaint (it checks
   that ExecStart's programs exist and that the man pages of Documentation=
   are found); `systemd-analyze security --offline` rates their exposure at
   most 3.0. The unit's ExecStartPre (`orchestratord --check-config`) runs
   and says "configuration ok"; the worker unit's ExecStart starts a worker
   that drains and exits 0 on SIGTERM.
3. deploy/make-deb.sh --build-dir BUILD builds orchestrator_VERSION_ARCH.deb:
   its version is the project's and orchestratord --version's, Depends
   names the system libraries, the configurations are conffiles,
   --contents lists binaries, units, man pages, docs and the copyright.
4. `dpkg --root R -i` into a throwaway root (maintainer scripts run
   chrootless against stub adduser/getent/systemctl): the postinst creates
   the system user `orchestrator` (adduser --system) and neither starts nor
   enables a unit; dpkg lists the conffiles; reinstalling keeps an edited
   conffile.
5. The installed orchestratord prints the package's version and validates
   the installed /etc/orchestrator/orchestrator.yaml; orch-worker and
   orchctl run; the packaged units are deploy/systemd's, i.e. those verified
   in step 2 with /usr paths; the copyright file names the MIT (Expat)
   license.
6. `dpkg -r` keeps the conffiles, `dpkg --purge` removes them.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log  # noqa: E402

BUILD_DIR = os.path.dirname(harness.BIN_DIR)
SRC = harness.SOURCE_DIR
CMAKE = shutil.which("cmake") or "cmake"
UNITS = ("orchestratord.service", "orch-worker@.service")
LIBS = ("libzmq5", "libpq5", "libyaml-0-2", "libcurl4", "libjansson4", "libmicrohttpd12",
        "libsodium23", "libssl3")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(extra)
    return env


def run(argv, timeout=120, ok=True, env=None, what=None):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env or clean_env())
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    if ok:
        check(r.returncode == 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s"
              % (what or " ".join(argv), r.returncode, out, err))
    check(not harness.SANITIZER_RE.search(err), "%s: sanitizer report:\n%s" % (what or argv[0], err))
    return r.returncode, out, err


def project_version():
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        m = re.search(r"^CMAKE_PROJECT_VERSION:\w+=(\S+)$", f.read(), re.M)
    check(m is not None, "no CMAKE_PROJECT_VERSION in %s/CMakeCache.txt" % BUILD_DIR)
    return m.group(1)


def unit_lines(path, key):
    with open(path) as f:
        return [line.split("=", 1)[1].strip() for line in f if line.startswith(key + "=")]


# ---- 1. cmake --install ----

def part_install(tmp):
    prefix = os.path.join(tmp, "prefix")
    run([CMAKE, "--install", BUILD_DIR, "--prefix", prefix], what="cmake --install")
    for rel in ("bin/orchestratord", "bin/orch-worker", "bin/orchctl"):
        check(os.access(os.path.join(prefix, rel), os.X_OK), "%s not installed" % rel)
    check(not os.path.exists(os.path.join(prefix, "bin", "orch-bench")),
          "orch-bench (a development tool) was installed")
    for rel in ("etc/orchestrator/orchestrator.yaml", "etc/orchestrator/worker.yaml",
                "lib/systemd/system/orchestratord.service",
                "lib/systemd/system/orch-worker@.service",
                "share/man/man1/orchctl.1", "share/man/man3/liborch.3",
                "share/man/man5/orchestrator.yaml.5", "share/man/man8/orchestratord.8",
                "share/man/man8/orch-worker.8", "share/doc/orchestrator/README.md",
                "share/doc/orchestrator/LICENSE", "share/doc/orchestrator/docs/operations.md",
                "share/doc/orchestrator/proto/PROTOCOL.md", "include/orch_client.h"):
        check(os.path.isfile(os.path.join(prefix, rel)), "%s not installed under %s" % (rel, prefix))
    unitdir = os.path.join(prefix, "lib", "systemd", "system")
    for unit in UNITS:
        text = open(os.path.join(unitdir, unit)).read()
        settings = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        check(not re.search(r"(^|[=\s-])(/usr/bin/|/etc/orchestrator/)", settings, re.M),
              "%s still names /usr/bin or /etc/orchestrator for prefix %s:\n%s" % (unit, prefix, text))
        check(os.path.join(prefix, "bin") + "/" in text, "%s does not name %s/bin" % (unit, prefix))

    # installing again keeps an administrator's configuration
    conf = os.path.join(prefix, "etc", "orchestrator", "orchestrator.yaml")
    with open(conf, "a") as f:
        f.write("# edited by the administrator\n")
    _, out, _ = run([CMAKE, "--install", BUILD_DIR, "--prefix", prefix], what="cmake --install again")
    check(open(conf).read().endswith("# edited by the administrator\n"),
          "a second cmake --install replaced the edited %s:\n%s" % (conf, out))
    return prefix


# ---- 2. the units ----

def part_units(tmp, prefix):
    unitdir = os.path.join(prefix, "lib", "systemd", "system")
    analyze = shutil.which("systemd-analyze")
    check(analyze is not None, "systemd-analyze not found (Debian package systemd)")
    env = clean_env(MANPATH=os.path.join(prefix, "share", "man"), SYSTEMD_LOG_LEVEL="notice")
    for unit in UNITS:
        rc, out, err = run([analyze, "verify", os.path.join(unitdir, unit)], ok=False, env=env)
        complaints = [line for line in err.splitlines() if line.strip()]
        check(rc == 0 and not complaints,
              "systemd-analyze verify %s: exit %d\n%s%s" % (unit, rc, out, err))
        rc, out, err = run([analyze, "security", "--offline=yes", os.path.join(unitdir, unit)],
                           ok=False, env=env)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out + err)
        check(m is not None, "systemd-analyze security %s printed no exposure:\n%s%s" % (unit, out, err))
        log("%s: exposure %s" % (unit, m.group(1)))
        check(float(m.group(1)) <= 3.0, "%s: exposure %s > 3.0 (hardening lost?)" % (unit, m.group(1)))

    coord = os.path.join(unitdir, "orchestratord.service")
    pre = unit_lines(coord, "ExecStartPre")
    check(len(pre) == 1 and "--check-config" in pre[0], "orchestratord ExecStartPre: %r" % pre)
    # the packaged config leaves the database to orchestratord.env
    _, out, _ = run(shlex.split(pre[0]), what="ExecStartPre " + pre[0],
                    env=clean_env(ORCH_DATABASE_URL="dbname=orch host=/nonexistent"))
    check("configuration ok" in out, "ExecStartPre printed %r" % out)
    start = unit_lines(coord, "ExecStart")
    check(len(start) == 1 and start[0].startswith(os.path.join(prefix, "bin", "orchestratord")),
          "orchestratord ExecStart: %r" % start)
    for key, want in (("User", "orchestrator"), ("KillSignal", "SIGTERM"), ("Restart", "on-failure"),
                      ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")):
        check(unit_lines(coord, key) == [want], "orchestratord.service %s=%r" % (key, unit_lines(coord, key)))
    check(unit_lines(coord, "EnvironmentFile") ==
          ["-" + os.path.join(prefix, "etc", "orchestrator", "orchestratord.env")],
          "orchestratord.service EnvironmentFile=%r" % unit_lines(coord, "EnvironmentFile"))

    # the worker unit's command line, as systemd would expand it for
    # orch-worker@pkg-test, against a port nobody listens on
    worker = os.path.join(unitdir, "orch-worker@.service")
    envs = dict(e.split("=", 1) for e in unit_lines(worker, "Environment"))
    cmd = unit_lines(worker, "ExecStart")
    check(len(cmd) == 1, "orch-worker@.service ExecStart: %r" % cmd)
    argv = [a.replace("%i", "pkg-test") for a in shlex.split(cmd[0])]
    argv = [re.sub(r"\$\{(\w+)\}", lambda m: envs[m.group(1)], a) for a in argv]
    check(os.path.isfile(argv[argv.index("-c") + 1]), "worker config %r missing" % argv)
    stop = unit_lines(worker, "TimeoutStopSec")
    check(stop and int(stop[0].rstrip("s")) > 30,
          "orch-worker TimeoutStopSec=%r must exceed drain_timeout (30 s)" % stop)
    port = harness.free_tcp_port()
    logf = open(os.path.join(tmp, "worker.log"), "w+")
    p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                         env=clean_env(ORCH_WORKER_ENDPOINTS="tcp://127.0.0.1:%d" % port))
    try:
        time.sleep(1.5)
        check(p.poll() is None, "the worker unit's ExecStart exited %s: %s" % (p.returncode, argv))
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    logf.seek(0)
    text = logf.read()
    check(rc == 0, "the worker exited %d on SIGTERM:\n%s" % (rc, text))
    check(not harness.SANITIZER_RE.search(text), "worker: sanitizer report:\n%s" % text)


# ---- 3. the .deb ----

def part_deb(tmp):
    out = os.path.join(tmp, "deb")
    _, stdout, _ = run([os.path.join(SRC, "deploy", "make-deb.sh"), "--build-dir", BUILD_DIR,
                        "--output", out, "--compression", "gzip"], timeout=180, what="make-deb.sh")
    deb = stdout.strip().splitlines()[-1]
    version = project_version()
    check(os.path.basename(deb).startswith("orchestrator_%s_" % version) and os.path.isfile(deb),
          "make-deb.sh printed %r (version %s)" % (deb, version))

    _, info, _ = run(["dpkg-deb", "--info", deb])
    fields = dict(re.findall(r"^ (\S+): (.*)$", info, re.M))
    check(fields.get("Package") == "orchestrator" and fields.get("Version") == version,
          "dpkg-deb --info:\n%s" % info)
    depends = [d.strip().split()[0] for d in fields.get("Depends", "").split(",")]
    for lib in LIBS + ("adduser",):
        check(lib in depends, "Depends lacks %s: %s" % (lib, fields.get("Depends")))
    _, conffiles, _ = run(["dpkg-deb", "--info", deb, "conffiles"])
    check(sorted(conffiles.split()) == ["/etc/orchestrator/orchestrator.yaml",
                                        "/etc/orchestrator/worker.yaml"],
          "conffiles: %r" % conffiles)

    _, contents, _ = run(["dpkg-deb", "--contents", deb])
    paths = set(re.findall(r"\./(\S+)$", contents, re.M))
    for rel in ("usr/bin/orchestratord", "usr/bin/orch-worker", "usr/bin/orchctl",
                "etc/orchestrator/orchestrator.yaml", "etc/orchestrator/worker.yaml",
                "usr/lib/systemd/system/orchestratord.service",
                "usr/lib/systemd/system/orch-worker@.service",
                "usr/share/man/man1/orchctl.1.gz", "usr/share/man/man3/liborch.3.gz",
                "usr/share/man/man5/orchestrator.yaml.5.gz",
                "usr/share/man/man8/orchestratord.8.gz", "usr/share/man/man8/orch-worker.8.gz",
                "usr/share/doc/orchestrator/copyright", "usr/share/doc/orchestrator/README.md",
                "usr/share/doc/orchestrator/docs/operations.md"):
        check(rel in paths, "the .deb lacks /%s:\n%s" % (rel, contents))
    check(not any(p.endswith("orch-bench") for p in paths), "orch-bench is in the .deb")
    check(all(" root/root " in line for line in contents.splitlines() if line.strip()),
          "files not owned by root in the .deb:\n%s" % contents)
    return deb, version


# ---- 4. dpkg -i into a throwaway root ----

def dpkg_root(root, stubs, *args, ok=True):
    # chrootless: the maintainer scripts run here, with the stubs first in PATH
    return run(["dpkg", "--root=" + root, "--force-depends", "--force-script-chrootless",
                "--force-not-root", "--log=/dev/null"] + list(args), ok=ok,
               env=clean_env(PATH=stubs + ":" + os.environ.get("PATH", "/usr/bin:/bin")),
               what="dpkg --root %s %s" % (root, " ".join(args)))


def part_dpkg(tmp, deb):
    control = os.path.join(tmp, "control")
    run(["dpkg-deb", "--control", deb, control])
    run(["sh", "-n", os.path.join(control, "postinst")], what="sh -n postinst")
    run(["sh", "-n", os.path.join(control, "postrm")], what="sh -n postrm")

    # stubs that record what the maintainer scripts ask of the system
    stubs = os.path.join(tmp, "stubs")
    os.mkdir(stubs)
    calls = os.path.join(tmp, "calls")
    for name, rc in (("adduser", 0), ("useradd", 0), ("getent", 2), ("systemctl", 0),
                     ("deb-systemd-invoke", 0), ("deb-systemd-helper", 0), ("invoke-rc.d", 0)):
        path = os.path.join(stubs, name)
        with open(path, "w") as f:
            f.write('#!/bin/sh\necho "%s $*" >> %s\nexit %d\n' % (name, shlex.quote(calls), rc))
        os.chmod(path, 0o755)

    root = os.path.join(tmp, "root")
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        os.makedirs(os.path.join(root, d))
    open(os.path.join(root, "var", "lib", "dpkg", "status"), "w").close()
    dpkg_root(root, stubs, "-i", deb)
    lines = open(calls).read().splitlines() if os.path.exists(calls) else []
    added = [line.split() for line in lines if line.startswith("adduser ")]
    check(len(added) == 1 and "--system" in added[0] and added[0][-1] == "orchestrator",
          "postinst configure called: %r" % lines)
    check(not any(re.search(r"\b(start|enable|restart)\b", line) for line in lines
                  if not line.startswith("adduser ")),
          "postinst starts or enables a unit: %r" % lines)
    _, status, _ = dpkg_root(root, stubs, "-s", "orchestrator")
    check("Status: install ok installed" in status, "dpkg -s after dpkg -i:\n%s" % status)
    check(re.search(r"^Conffiles:\n /etc/orchestrator/orchestrator.yaml \w+\n"
                    r" /etc/orchestrator/worker.yaml \w+$", status, re.M) is not None,
          "dpkg -s does not list the conffiles:\n%s" % status)

    # reinstalling keeps an edited conffile; remove keeps the conffiles, purge removes them
    conf = os.path.join(root, "etc", "orchestrator", "orchestrator.yaml")
    with open(conf, "a") as f:
        f.write("# edited by the administrator\n")
    dpkg_root(root, stubs, "-i", deb)
    check(open(conf).read().endswith("# edited by the administrator\n"),
          "reinstalling the package replaced the edited conffile")
    return root


def part_installed(root, version, prefix):
    orchd = os.path.join(root, "usr", "bin", "orchestratord")
    _, out, _ = run([orchd, "--version"])
    check(out.strip() == "orchestratord %s" % version,
          "installed orchestratord --version: %r, package version %s" % (out, version))
    conf = os.path.join(root, "etc", "orchestrator", "orchestrator.yaml")
    _, out, _ = run([orchd, "--check-config", "-c", conf],
                    env=clean_env(ORCH_DATABASE_URL="dbname=orch host=/nonexistent"))
    check("configuration ok" in out, "--check-config of the packaged config: %r" % out)
    for prog in ("orch-worker", "orchctl"):
        rc, out, err = run([os.path.join(root, "usr", "bin", prog), "--help"], ok=False)
        check(rc == 0 and "usage" in (out + err).lower(), "installed %s --help: %d %s%s"
              % (prog, rc, out, err))
    for unit in UNITS:
        packaged = open(os.path.join(root, "usr", "lib", "systemd", "system", unit)).read()
        installed = open(os.path.join(prefix, "lib", "systemd", "system", unit)).read()
        installed = installed.replace("=" + prefix + "/bin/", "=/usr/bin/").replace(
            prefix + "/etc/orchestrator/", "/etc/orchestrator/")
        check(packaged == installed, "the packaged %s differs from the verified one" % unit)
        check(packaged == open(os.path.join(SRC, "deploy", "systemd", unit)).read(),
              "the packaged %s differs from deploy/systemd/%s" % (unit, unit))
    copyright_text = open(os.path.join(root, "usr", "share", "doc", "orchestrator", "copyright")).read()
    check("the orchestrator authors" in copyright_text and "Expat" in copyright_text,
          "copyright file:\n%s" % copyright_text)


def part_remove(tmp, root):
    stubs = os.path.join(tmp, "stubs")
    conf = os.path.join(root, "etc", "orchestrator", "orchestrator.yaml")
    dpkg_root(root, stubs, "-r", "orchestrator")
    check(not os.path.exists(os.path.join(root, "usr", "bin", "orchestratord")),
          "dpkg -r left /usr/bin/orchestratord")
    check(os.path.exists(conf), "dpkg -r removed the conffile %s" % conf)
    dpkg_root(root, stubs, "--purge", "orchestrator")
    check(not os.path.exists(conf), "dpkg --purge left the conffile %s" % conf)


def main():
    name = "test_packaging"
    signal.signal(signal.SIGALRM, lambda s, f: (_ for _ in ()).throw(
        harness.TestFailure("the test did not finish within its internal deadline")))
    signal.alarm(240)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="orch-pkg-")
    ok = False
    try:
        log("%s: temp dir %s, build %s" % (name, tmp, BUILD_DIR))
        prefix = part_install(tmp)
        part_units(tmp, prefix)
        deb, version = part_deb(tmp)
        root = part_dpkg(tmp, deb)
        part_installed(root, version, prefix)
        part_remove(tmp, root)
        ok = True
    except BaseException as e:  # noqa: B902 -- report everything
        sys.stderr.write("\n" + "".join(traceback.format_exception(type(e), e, e.__traceback__)))
        sys.stderr.write("\nFAIL %s: %s\n" % (name, e))
    finally:
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)
    if ok:
        log("PASS %s (%.1fs)" % (name, time.monotonic() - started))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
