#!/usr/bin/env python3
"""An exec job type in Python (standard library only): counts the words of
a text and returns the most frequent ones.

The contract with orch-worker's exec handler (docs/handlers.md):
  - the job's payload arrives as one line of JSON on stdin;
  - the last non-empty line printed on stdout is the result (JSON);
  - "progress N message" lines on stderr report progress (N = 0..100);
  - any other stderr line is kept: the last few become the error message;
  - exit 0: success; exit 75 (EX_TEMPFAIL, see retry_exit_codes): try again
    later; any other exit code: permanent failure (the job is dead).
  - ORCH_JOB_ID, ORCH_JOB_TYPE and ORCH_JOB_ATTEMPT are in the environment.

Payload: {"text": "...", "top": 5, "pace": 0.0, "unavailable_attempts": 0}
  top                   how many words to return (default 5)
  pace                  seconds to pause after each chunk of lines, to watch
                        progress (and to try cancelling a running job)
  unavailable_attempts  pretend a dependency is down for the first N attempts
                        (exit 75), to see a retry succeed
Result: {"words": N, "distinct": M, "top": [[word, count], ...]}
"""
import collections
import json
import os
import re
import sys
import time

EX_DATAERR = 65    # bad input: retrying cannot help
EX_TEMPFAIL = 75   # try again later


def fail(code, message):
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


def progress(percent, message=""):
    print("progress %d %s" % (percent, message), file=sys.stderr, flush=True)


def main():
    try:
        payload = json.loads(sys.stdin.readline() or "null")
    except ValueError as e:
        fail(EX_DATAERR, "payload is not JSON: %s" % e)
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        fail(EX_DATAERR, 'payload must be an object with a string "text"')
    top = payload.get("top", 5)
    pace = payload.get("pace", 0)
    if not isinstance(top, int) or top < 0 or not isinstance(pace, (int, float)) or pace < 0:
        fail(EX_DATAERR, '"top" must be an integer >= 0 and "pace" a number >= 0')

    attempt = int(os.environ.get("ORCH_JOB_ATTEMPT", "1"))
    if attempt <= int(payload.get("unavailable_attempts", 0)):
        fail(EX_TEMPFAIL, "dictionary service unavailable (attempt %d)" % attempt)

    lines = payload["text"].splitlines() or [""]
    counts = collections.Counter()
    chunk = max(1, len(lines) // 10)
    for i in range(0, len(lines), chunk):
        for line in lines[i:i + chunk]:
            counts.update(w.lower() for w in re.findall(r"\w+", line))
        done = min(len(lines), i + chunk)
        progress(100 * done // len(lines), "%d/%d lines" % (done, len(lines)))
        if pace:
            time.sleep(pace)

    print(json.dumps({"words": sum(counts.values()), "distinct": len(counts),
                      "top": [[w, n] for w, n in counts.most_common(top)]}))


if __name__ == "__main__":
    main()
