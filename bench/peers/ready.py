#!/usr/bin/python3
"""ready.py HOST PORT DOMAIN [TIMEOUT] [--pid PID]: wait until an XMPP server answers.

Connects to HOST:PORT again and again until a connection is accepted and the
server answers a client stream header for DOMAIN with its own stream header
and stream features, or until TIMEOUT seconds (default 60) have passed.
With --pid, gives up at once if that process has exited (a server that
failed to start is reported in a second, not after the whole timeout).
Exit status 0 when ready, 1 otherwise (with the reason on stderr).
"""
import os
import socket
import sys
import time


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line
    except OSError:
        return False
    return True


def probe(host, port, domain, deadline):
    header = (f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
              "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(header.encode())
        data = b""
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, min(2, deadline - time.monotonic())))
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("connection closed: " + data.decode(errors="replace")[:200])
            data += chunk
            if b"<stream:stream" in data and b"features" in data:
                s.sendall(b"</stream:stream>")
                return True
    return False


def main():
    args = sys.argv[1:]
    pid = None
    if "--pid" in args:
        i = args.index("--pid")
        pid = int(args[i + 1])
        del args[i:i + 2]
    if len(args) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    host, port, domain = args[0], int(args[1]), args[2]
    timeout = float(args[3]) if len(args) > 3 else 60.0
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            print(f"ready.py: the server (PID {pid}) exited before it was ready", file=sys.stderr)
            return 1
        try:
            if probe(host, port, domain, deadline):
                return 0
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    print(f"ready.py: {host}:{port} not ready after {timeout:g}s ({last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
