#!/usr/bin/python3
# events-reader.py PATH N OUT [block|poll|nonblock]: open PATH (an .events file), touch OUT.ready,
# read until N lines or 20 s, write the lines to OUT. block: blocking read(2); poll: poll(2)
# then a non-blocking read (a wake-up with nothing to read is counted in OUT.spurious);
# nonblock: one non-blocking read, its errno in OUT ("EAGAIN").
import errno, os, select, signal, sys, time

path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "block"
fd = os.open(path, os.O_RDONLY | (os.O_NONBLOCK if mode != "block" else 0))
open(out + ".ready", "w").close()
if mode == "nonblock":
    try:
        os.read(fd, 4096)
        print("data", file=open(out, "w"))
    except OSError as e:
        print(errno.errorcode[e.errno], file=open(out, "w"))
    sys.exit(0)
def timeout(*a):
    raise TimeoutError()
signal.signal(signal.SIGALRM, timeout)
lines, buf, spurious = [], b"", 0
deadline = time.time() + 20
while len(lines) < n and time.time() < deadline:
    if mode == "poll":
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(int((deadline - time.time()) * 1000)):
            break
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            spurious += 1
            continue
    else:
        signal.alarm(max(1, int(deadline - time.time())))
        try:
            data = os.read(fd, 65536)
        except TimeoutError:
            break
        signal.alarm(0)
    buf += data
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        lines.append(line.decode())
with open(out, "w") as f:
    f.write("".join(l + "\n" for l in lines))
if spurious:
    open(out + ".spurious", "w").write("%d\n" % spurious)
