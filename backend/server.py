"""The starter backend: a JSON API on PORT that stands in for the Django app.

Standard library only. It answers every path with JSON naming itself, and
shows that it reaches redis (REDIS_ADDR, default redis:6379) with RESP over a
plain socket:

    /api/status   {"service": "backend", "redis": "PONG", "visits": N, ...}
    /api/redis    the reply to PING
    /healthz      200 "ok" (not logged: the health check asks every 2 s)

    python3 server.py                serve
    python3 server.py --reload       serve, and restart when a .py file next
                                     to it changes (the debug stack's hot
                                     reload, as Django's runserver does)
    python3 server.py --healthcheck  exit 0 when the server answers /healthz
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8000"))
REDIS_ADDR = os.environ.get("REDIS_ADDR", "redis:6379")
DEV = os.environ.get("DEV") == "1"


def redis(*words):
    """Sends one command to redis and returns its reply as text."""
    host, _, port = REDIS_ADDR.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        parts = [b"*%d\r\n" % len(words)]
        for w in words:
            b = w.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        conn.sendall(b"".join(parts))
        reply = conn.makefile("rb").readline().decode().rstrip("\r\n")
    if reply[:1] == "-":
        raise RuntimeError(reply[1:])
    return reply[1:]  # "+PONG" -> "PONG", ":7" -> "7"


class Handler(BaseHTTPRequestHandler):
    server_version = "dtx-backend"
    sys_version = ""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            return self.send(200, "ok\n", "text/plain")
        body = {"service": "backend", "path": path, "dev": DEV}
        code = 200
        try:
            if path == "/api/redis":
                body["redis"] = redis("PING")
            elif path == "/api/status":
                body["redis"] = redis("PING")
                body["visits"] = int(redis("INCR", "visits"))
        except (OSError, RuntimeError, ValueError) as err:
            code, body["error"] = 502, "redis at %s: %s" % (REDIS_ADDR, err)
        self.send(code, json.dumps(body) + "\n", "application/json")

    def send(self, code, text, ctype):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Dtx-Service", "backend")
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        if self.path != "/healthz":
            print("backend: %s %s %s" % (self.command, self.path, code), flush=True)


def healthcheck():
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % PORT, timeout=2) as r:
            return 0 if r.status == 200 else 1
    except OSError:
        return 1


def sources(root):
    """Maps each .py file under root (hidden folders left out: redis's data)
    to its modification time and size."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                found[path] = (st.st_mtime_ns, st.st_size)
    return found


def reload_forever():
    """Runs the server as a child and starts a new one when a source file
    changes: an edit in the mounted ./backend is served within a second,
    without a rebuild. SIGTERM and SIGINT stop the child, then us."""
    root = os.path.dirname(os.path.abspath(__file__))
    child = None
    stopping = False

    def start():
        return subprocess.Popen([sys.executable, os.path.abspath(__file__)] + [a for a in sys.argv[1:] if a != "--reload"])

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    seen = sources(root)
    child = start()
    while not stopping:
        time.sleep(0.25)
        now = sources(root)
        if now != seen:
            changed = sorted(p for p in set(now) | set(seen) if now.get(p) != seen.get(p))
            print("backend: %s changed, restarting" % ", ".join(os.path.relpath(p, root) for p in changed), flush=True)
            seen = now
            child.terminate()
            child.wait()
            child = start()
        elif child.poll() is not None:
            # It crashed (a syntax error, say): wait for the next edit.
            time.sleep(0.25)
    sys.exit(child.wait() if child else 0)


def main():
    if "--healthcheck" in sys.argv[1:]:
        sys.exit(healthcheck())
    if "--reload" in sys.argv[1:]:
        reload_forever()
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    # On SIGTERM the requests under way finish (server_close waits for
    # their threads): a deploy drains an old container without dropping one.
    server.daemon_threads = False

    # PID 1 in a container gets no default signal handling: stop on purpose.
    def stop(signum, _frame):
        print("backend: %s, stopping" % signal.Signals(signum).name, flush=True)
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("backend: serving on :%d (redis %s%s)" % (PORT, REDIS_ADDR, ", dev" if DEV else ""), flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
