#!/usr/bin/python3
"""fake-systemd.py: plays systemd's part for vaultfsd in tests without systemd as PID 1: the
notify socket (READY=1, FDSTORE=1 with FDNAME=, FDSTOREREMOVE=1) and the descriptor store, passed
back at each start as LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES (LISTEN_PID is the child's own:
set by a shell that then execs the daemon). Restarts the daemon whenever it exits (as
Restart=always), until SIGTERM: then SIGTERM to the daemon, wait, drop the store, exit.

    fake-systemd.py DIR CMD [ARGS...]

DIR/notify is the socket, DIR/pid the daemon's pid, DIR/ready the number of READY=1 heard,
DIR/store the names held, DIR/log what happened."""
import array
import fcntl
import os
import select
import signal
import socket
import subprocess
import sys
import time

def main():
    d, cmd = sys.argv[1], sys.argv[2:]
    path = os.path.join(d, "notify")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    store = {}  # name -> fd (dup'd high)
    ready = 0
    stop = False
    log = open(os.path.join(d, "log"), "a", buffering=1)

    def on_term(signo, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def write(name, text):
        tmp = os.path.join(d, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(d, name))

    def start():
        names = list(store)
        env = dict(os.environ, NOTIFY_SOCKET=path, FDSTORE="2")  # as systemd 254+ sets it
        if names:
            env["LISTEN_FDS"] = str(len(names))
            env["LISTEN_FDNAMES"] = ":".join(names)
        else:
            for k in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"):
                env.pop(k, None)
        fds = [store[n] for n in names]

        def place():
            for i, fd in enumerate(fds):
                os.dup2(fd, 3 + i)  # dup2 clears FD_CLOEXEC on the copy

        shell = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"' if names else 'exec "$@"'
        p = subprocess.Popen(["/bin/sh", "-c", shell, "sh"] + cmd, env=env, preexec_fn=place,
                             pass_fds=tuple(range(3, 3 + len(fds))))
        write("pid", "%d\n" % p.pid)
        log.write("start pid %d with %s\n" % (p.pid, ",".join(names) or "nothing"))
        return p

    def receive():
        nonlocal ready
        fds = array.array("i")
        msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
        got = []
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
                got = list(fds)
        fields = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
        if fields.get("READY") == "1":
            ready += 1
            write("ready", "%d\n" % ready)
        if fields.get("FDSTORE") == "1":
            name = fields.get("FDNAME", "stored")
            for fd in got:
                high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64)
                os.close(fd)
                if name in store:
                    os.close(store[name])
                store[name] = high
            got = []
            write("store", "".join(n + "\n" for n in store))
            log.write("stored %s\n" % name)
        if fields.get("FDSTOREREMOVE") == "1":
            name = fields.get("FDNAME")
            if name in store:
                os.close(store.pop(name))
            write("store", "".join(n + "\n" for n in store))
            log.write("removed %s\n" % name)
        for fd in got:
            os.close(fd)

    child = start()
    while True:
        try:
            r, _, _ = select.select([sock], [], [], 0.01)
        except InterruptedError:
            r = []
        if r:
            receive()
        if stop and child:
            child.send_signal(signal.SIGTERM)
            child.wait()
            while select.select([sock], [], [], 0)[0]:
                receive()
            log.write("stopped pid %d: %d\n" % (child.pid, child.returncode))
            break
        if child.poll() is not None:
            while select.select([sock], [], [], 0)[0]:
                receive()
            log.write("pid %d exited %d: restart\n" % (child.pid, child.returncode))
            child = start()
    for fd in store.values():
        os.close(fd)
    write("store", "")
    sock.close()
    os.unlink(path)

if __name__ == "__main__":
    main()
