#!/usr/bin/python3
"""reader-loop.py: a consumer that reads a secret again and again (open, read, close) across
restarts, hand-overs and crashes of vaultfsd, and says what it saw.

    reader-loop.py FILE ALLOWED STOP OUT [TRACE]

Reads FILE until the file STOP exists. Each value read must be one of the lines of ALLOWED (read
again whenever a value is not in it, so a writer adds the next value there before it sets it).
OUT gets "reads N", "errors N" and one line per error ("error ERRNO_NAME") or foreign value
("foreign VALUE_LENGTH"), never a value. TRACE (optional) gets "START_NS DURATION_NS" per read
(tests/bench/restart-pause.sh)."""
import errno
import os
import sys
import time

def allowed_values(path):
    with open(path, "rb") as f:
        return set(f.read().split(b"\n")) - {b""}

def main():
    path, allowed_path, stop, out = sys.argv[1:5]
    trace = open(sys.argv[5], "w") if len(sys.argv) > 5 else None
    allowed = allowed_values(allowed_path)
    reads, problems = 0, []
    while not os.path.exists(stop):
        t0 = time.monotonic_ns()
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                value = os.read(fd, 65536)
            finally:
                os.close(fd)
        except OSError as e:
            problems.append("error %s" % errno.errorcode.get(e.errno, str(e.errno)))
            time.sleep(0.01)
            continue
        t1 = time.monotonic_ns()
        if trace:
            trace.write("%d %d\n" % (t0, t1 - t0))
        reads += 1
        if value not in allowed:
            allowed = allowed_values(allowed_path)
            if value not in allowed:
                problems.append("foreign %d" % len(value))
    with open(out + ".tmp", "w") as f:
        f.write("reads %d\nerrors %d\n" % (reads, len(problems)))
        f.write("".join(p + "\n" for p in problems))
    os.rename(out + ".tmp", out)

if __name__ == "__main__":
    main()
