#!/usr/bin/env python3
"""liborch against a real coordinator, built and installed.

1. The example built by CMake (liborch-submit, linked against liborch.so)
   submits one job, pipelines ten more on one connection, follows the first
   job's events and prints "job N succeeded" once a worker ran it; all
   eleven jobs exist and succeed.
2. `cmake --install` into a temporary prefix installs orch_client.h,
   liborch.so (SONAME liborch.so.1), liborch.a and orch.pc.
3. `pkg-config --cflags --libs orch` (PKG_CONFIG_PATH at that prefix)
   compiles the example against the installed header and shared library;
   the static library links it too. Both programs run against the
   coordinator and see their job succeed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

BUILD_DIR = os.path.dirname(harness.BIN_DIR)
EXAMPLE = os.path.join(harness.SOURCE_DIR, "examples", "liborch", "submit.c")


def run_example(c, argv, env=None, what="example"):
    r = subprocess.run(argv + [c.client_endpoint, "default", "noop"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env or c.env, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s" % (what, r.returncode, out, err))
    check(not harness.SANITIZER_RE.search(err), "%s: sanitizer report:\n%s" % (what, err))
    m = re.search(r"^submitted (\d+)$", out, re.M)
    check(m is not None, "%s printed no 'submitted ID':\n%s" % (what, out))
    first = int(m.group(1))
    check("pipelined 10 jobs" in out, "%s did not pipeline 10 jobs:\n%s" % (what, out))
    check(re.search(r"^job %d succeeded$" % first, out, re.M) is not None,
          "%s did not see job %d succeed:\n%s" % (what, first, out))
    return first


def part_example(c):
    before = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    first = run_example(c, [c.bin("liborch-submit")], what="liborch-submit")
    rows = c.sql("SELECT id FROM jobs WHERE id >= :'first'::bigint ORDER BY id", first=first)
    ids = [r["id"] for r in rows]
    check(len(ids) == 11 and c.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == before + 11,
          "expected 11 new jobs from job %d on, got %r" % (first, ids))
    c.wait_terminal(ids, timeout=60)
    states = c.states(ids)
    check(all(s == "succeeded" for s in states.values()), "states of the example's jobs: %r" % states)


def install(c):
    prefix = os.path.join(c.tmp, "prefix")
    r = subprocess.run([shutil.which("cmake") or "cmake", "--install", BUILD_DIR, "--prefix", prefix],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    check(r.returncode == 0, "cmake --install failed:\n%s" % r.stdout.decode())
    check(os.path.isfile(os.path.join(prefix, "include", "orch_client.h")), "header not installed")
    pcs = glob.glob(os.path.join(prefix, "lib*", "**", "pkgconfig", "orch.pc"), recursive=True)
    check(len(pcs) == 1, "orch.pc installed %d times under %s" % (len(pcs), prefix))
    libdir = os.path.dirname(os.path.dirname(pcs[0]))
    for name in ("liborch.so", "liborch.so.1", "liborch.a"):
        check(os.path.exists(os.path.join(libdir, name)), "%s not installed in %s" % (name, libdir))
    dyn = subprocess.run(["readelf", "-d", os.path.join(libdir, "liborch.so")],
                         stdout=subprocess.PIPE, timeout=30).stdout.decode()
    check("Library soname: [liborch.so.1]" in dyn, "SONAME of liborch.so:\n%s" % dyn)
    for needed in ("libzmq", "libjansson"):
        check(needed in dyn, "liborch.so does not link %s:\n%s" % (needed, dyn))
    # a sanitized build installs sanitized libraries: programs need the runtime too
    sanitize = ["-fsanitize=address,undefined"] if "libasan" in dyn else []
    return prefix, libdir, sanitize


def pkg_config(env, *args, modules=("orch",)):
    r = subprocess.run(["pkg-config"] + list(args) + list(modules), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=30)
    check(r.returncode == 0, "pkg-config %s orch failed: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout.decode().split()


def compile_ok(argv, what):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    check(r.returncode == 0, "%s failed:\n%s\n%s" % (what, " ".join(argv), r.stdout.decode()))


def part_installed(c):
    prefix, libdir, sanitize = install(c)
    env = dict(c.env)
    env["PKG_CONFIG_PATH"] = os.path.join(libdir, "pkgconfig")
    cflags = pkg_config(env, "--cflags")
    includes = [os.path.normpath(f[2:]) for f in cflags if f.startswith("-I")]
    check(os.path.join(prefix, "include") in includes,
          "pkg-config --cflags orch: %r (prefix %s)" % (cflags, prefix))
    libs = pkg_config(env, "--libs")
    check("-lorch" in libs, "pkg-config --libs orch: %r" % libs)

    shared = os.path.join(c.tmp, "submit-shared")
    compile_ok(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + sanitize + [EXAMPLE, "-o", shared]
               + cflags + libs, "compiling against the installed liborch.so")
    run_env = dict(c.env)
    run_env["LD_LIBRARY_PATH"] = libdir
    run_example(c, [shared], env=run_env, what="example linked against the installed liborch.so")

    static = os.path.join(c.tmp, "submit-static")
    # liborch.a with the shared system libraries (Debian's libzmq.pc --static
    # names archives that are not installed)
    private = pkg_config(env, "--libs", modules=("jansson", "libzmq", "libsodium")) + ["-lpthread"]
    compile_ok(["cc", "-std=c11"] + sanitize + [EXAMPLE, "-o", static] + cflags
               + [os.path.join(libdir, "liborch.a")] + private,
               "compiling against the installed liborch.a")
    ldd = subprocess.run(["ldd", static], stdout=subprocess.PIPE, timeout=30).stdout.decode()
    check("liborch" not in ldd, "the static build still needs liborch.so:\n%s" % ldd)
    run_example(c, [static], what="example linked against the installed liborch.a")


def test(c):
    c.start_worker("w1", slots=4)
    part_example(c)
    part_installed(c)


harness.main(test)
