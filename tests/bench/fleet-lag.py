#!/usr/bin/python3
"""fleet-lag.py: the fleet bench's measures (tests/bench/fleet-bench.sh), through the hosts'
mounts only.

    fleet-lag.py lag N PREFIX WRITER_VAULT_DIR HOST_VAULT_DIR...
        N changes, one at a time: each a new secret PREFIXnnnn written through the writer's
        mount (open, write, close: the close commits it to the center, then here), and timed
        until every other host's change stream (VAULT_DIR/.events, one blocking reader thread
        per host, so nothing polls the daemons) says it was set there. Prints, in ms: the
        write's own latency and the lag to each host and to the last host, p50, p99 and max.
    fleet-lag.py rate SECONDS PREFIX VAULT_DIR...
        One writer per VAULT_DIR (each a host's mount of the same fleet vault), all at once
        for SECONDS, each writing PREFIX<writer>-nnnn: prints the changes committed per second
        in all, and per writer, and the failed writes.

Never prints a value (the values are counters)."""
import errno
import json
import os
import sys
import threading
import time


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def summary(label, xs):
    return "%-22s p50 %8.1f  p99 %8.1f  max %8.1f ms  (%d)" % (
        label, pct(xs, 50), pct(xs, 99), max(xs) if xs else float("nan"), len(xs))


def write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)


def lag(n, prefix, writer, hosts):
    seen = {}  # (host index, name) -> monotonic ns
    cond = threading.Condition()

    def reader(i, d):
        with open(os.path.join(d, ".events"), "rb", buffering=0) as f:
            buf = b""
            while True:
                chunk = f.read(65536)
                if not chunk:
                    return
                now = time.monotonic_ns()
                buf += chunk
                *lines, buf = buf.split(b"\n")
                with cond:
                    for line in lines:
                        try:
                            ev = json.loads(line)
                        except ValueError:
                            continue
                        if ev.get("event") == "set" and ev.get("name", "").startswith(prefix):
                            seen.setdefault((i, ev["name"]), now)
                    cond.notify_all()

    for i, d in enumerate(hosts):
        threading.Thread(target=reader, args=(i, d), daemon=True).start()
    time.sleep(0.5)  # the readers are in their read(2)
    wlat, last, per = [], [], [[] for _ in hosts]
    lost = 0
    for k in range(n):
        name = "%s%04d" % (prefix, k)
        t0 = time.monotonic_ns()
        write(os.path.join(writer, name), b"%d" % k)
        t1 = time.monotonic_ns()
        wlat.append((t1 - t0) / 1e6)
        deadline = time.monotonic() + 10
        with cond:
            while not all((i, name) in seen for i in range(len(hosts))):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                cond.wait(left)
            got = [seen.get((i, name)) for i in range(len(hosts))]
        if None in got:
            lost += 1
            continue
        for i, t in enumerate(got):
            per[i].append((t - t0) / 1e6)
        last.append((max(got) - t0) / 1e6)
    print(summary("write (close returns)", wlat))
    for i, d in enumerate(hosts):
        print(summary("lag to %s" % d.split("/")[-3], per[i]))
    print(summary("lag to all %d hosts" % len(hosts), last))
    print("TSV\tlag\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d" % (
        len(hosts) + 1, pct(last, 50), pct(last, 99), pct(wlat, 50), pct(wlat, 99), lost))
    return 0 if not lost else 1


def rate(seconds, prefix, dirs):
    counts = [0] * len(dirs)
    fails = [0] * len(dirs)
    why = {}
    stop = time.monotonic() + seconds

    def writer(i, d):
        k = 0
        while time.monotonic() < stop:
            try:
                write(os.path.join(d, "%s%d-%04d" % (prefix, i, k)), b"%d" % k)
                counts[i] += 1
            except OSError as e:
                fails[i] += 1
                name = errno.errorcode.get(e.errno, str(e.errno))
                why[name] = why.get(name, 0) + 1
            k += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=writer, args=(i, d)) for i, d in enumerate(dirs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.monotonic() - t0
    print("%d writer(s): %.1f changes/s through the center (%s), %d failed %s" % (
        len(dirs), sum(counts) / el, " ".join("%.1f" % (c / el) for c in counts), sum(fails),
        " ".join("%s:%d" % kv for kv in sorted(why.items()))))
    print("TSV\trate\t%d\t%.1f\t%d" % (len(dirs), sum(counts) / el, sum(fails)))
    return 0


def main():
    if sys.argv[1] == "lag":
        return lag(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:])
    if sys.argv[1] == "rate":
        return rate(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
