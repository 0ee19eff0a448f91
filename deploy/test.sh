#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, builds with
# AddressSanitizer + UndefinedBehaviorSanitizer and -Werror in build-test/,
# runs every CTest entry (unit and integration). Needs no terminal.
# Exit code = ctest's; the last line is CTest's summary.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${ORCH_TEST_BUILD_DIR:-$ROOT/build-test}
JOBS=${ORCH_TEST_JOBS:-2}

exec </dev/null

bash deploy/install-deps.sh || { echo "test.sh: installing dependencies failed" >&2; exit 1; }

# Sanitizer findings must fail the test that triggers them.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"

cmake -S "$ROOT" -B "$BUILD" -DORCH_SANITIZE=ON -DORCH_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
    || { echo "test.sh: cmake configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j"$JOBS" || { echo "test.sh: build failed" >&2; exit 1; }

LOG=$BUILD/ctest-output.log
# Integration tests are RUN_SERIAL; unit tests may share the two cores.
ctest --test-dir "$BUILD" --output-on-failure --timeout 600 -j"$JOBS" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$LOG" | tail -n 1 || true)
echo
if [ -n "$summary" ]; then
    echo "$summary"
else
    echo "test.sh: ctest produced no summary (exit code $rc)"
fi
exit "$rc"
