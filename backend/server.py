"""The starter backend: a JSON API on PORT that stands in for the Django app.

Standard library only. It answers every path with JSON naming itself, shows
that it reaches redis (REDIS_ADDR, default redis:6379) with RESP over a plain
socket, and keeps notes in an SQLite database file (DB_PATH, default
/app/data/db.sqlite3: the prod and release stacks mount ./backend/.data
there), as the website keeps its production database, and in redis:

    /api/status      {"service": "backend", "redis": "PONG", "visits": N, ...}
    /api/redis       the reply to PING
    POST /api/notes  writes a note: a row in SQLite and a key in redis
    /api/data        what the data holds: rows, schema, keys, and a SHA-256
                     of each (503 when there is no database)
    /healthz         200 "ok" (not logged: the health check asks every 2 s)

    python3 server.py                serve
    python3 server.py --reload       serve, and restart when a .py file next
                                     to it changes (the debug stack's hot
                                     reload, as Django's runserver does)
    python3 server.py --healthcheck  exit 0 when the server answers /healthz
    python3 server.py --migrate      bring the database to the latest schema
                                     (PRE_DEPLOY's job, as manage.py migrate)
"""

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8000"))
REDIS_ADDR = os.environ.get("REDIS_ADDR", "redis:6379")
DEV = os.environ.get("DEV") == "1"
DB_PATH = os.environ.get("DB_PATH", "/app/data/db.sqlite3")

# The schema versions, kept in SQLite's user_version: 1 is what the server
# makes; --migrate brings it to the last (2 adds notes.tag).
SCHEMA = 2


def redis(*words):
    """Sends one command to redis and returns its reply: text for a simple
    reply or an integer ("+PONG" -> "PONG", ":7" -> "7"), None for a nil,
    a list for an array."""
    host, _, port = REDIS_ADDR.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        parts = [b"*%d\r\n" % len(words)]
        for w in words:
            b = w.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        conn.sendall(b"".join(parts))
        return read_reply(conn.makefile("rb"))


def read_reply(f):
    line = f.readline().decode().rstrip("\r\n")
    kind, rest = line[:1], line[1:]
    if kind == "-":
        raise RuntimeError(rest)
    if kind == "$":
        if int(rest) < 0:
            return None
        data = f.read(int(rest) + 2)
        return data[:-2].decode()
    if kind == "*":
        return [read_reply(f) for _ in range(max(int(rest), 0))]
    return rest


def database():
    """Opens the SQLite database; the caller closes it. WAL lets readers
    and the backup's online copy run beside a writer."""
    conn = sqlite3.connect(DB_PATH, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def ensure_schema():
    """Makes the notes table (schema 1) when the database is new; says why
    not when it cannot be opened, and the server goes on without it."""
    if not os.path.isdir(os.path.dirname(DB_PATH)):
        print("backend: no database: %s does not exist (the prod and release stacks mount ./backend/.data there)" % os.path.dirname(DB_PATH), flush=True)
        return False
    try:
        conn = database()
        try:
            with conn:
                conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at REAL NOT NULL)")
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    conn.execute("PRAGMA user_version = 1")
        finally:
            conn.close()
        return True
    except sqlite3.Error as err:
        print("backend: no database at %s: %s" % (DB_PATH, err), flush=True)
        return False


def migrate():
    """Brings the database to SCHEMA, one step at a time, each in a
    transaction: what PRE_DEPLOY runs before the new version serves."""
    if not ensure_schema():
        return 1
    conn = database()
    try:
        with conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < 2:
                conn.execute("ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT ''")
                conn.execute("PRAGMA user_version = 2")
        print("backend: %s is at schema %d (was %d)" % (DB_PATH, SCHEMA, version), flush=True)
        return 0
    except sqlite3.Error as err:
        print("backend: migrating %s failed: %s" % (DB_PATH, err), flush=True)
        return 1
    finally:
        conn.close()


def write_note(body):
    """Writes a note: a row in SQLite, then the key note:ID in redis."""
    conn = database()
    try:
        with conn:
            note = conn.execute("INSERT INTO notes (body, at) VALUES (?, ?)", (body, time.time())).lastrowid
    finally:
        conn.close()
    redis("SET", "note:%d" % note, body)
    return note


def data_summary():
    """What the data holds, for a test to compare two moments: the rows
    and schema of SQLite, the keys of redis, and a SHA-256 of each."""
    conn = database()
    try:
        rows = conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
        schema = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    rows_hash = hashlib.sha256()
    for note, body in rows:
        rows_hash.update(b"%d\x00%s\x00" % (note, body.encode()))
    keys = sorted(redis("KEYS", "*") or [])
    keys_hash = hashlib.sha256()
    for key, value in zip(keys, redis("MGET", *keys) if keys else []):
        keys_hash.update(b"%s\x00%s\x00" % (key.encode(), (value or "").encode()))
    return {"rows": len(rows), "schema": schema, "rows_sha256": rows_hash.hexdigest(),
            "keys": len(keys), "keys_sha256": keys_hash.hexdigest()}


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
            elif path == "/api/data":
                body.update(data_summary())
        except sqlite3.Error as err:
            code, body["error"] = 503, "database %s: %s" % (DB_PATH, err)
        except (OSError, RuntimeError, ValueError) as err:
            code, body["error"] = 502, "redis at %s: %s" % (REDIS_ADDR, err)
        self.send(code, json.dumps(body) + "\n", "application/json")

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
        text = self.rfile.read(length).decode(errors="replace") if length else ""
        if path != "/api/notes":
            return self.send(404, json.dumps({"service": "backend", "path": path, "error": "POST only to /api/notes"}) + "\n", "application/json")
        body = {"service": "backend", "path": path}
        code = 201
        try:
            body["id"] = write_note(text or "note")
        except sqlite3.Error as err:
            code, body["error"] = 503, "database %s: %s" % (DB_PATH, err)
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
    if "--migrate" in sys.argv[1:]:
        sys.exit(migrate())
    if "--reload" in sys.argv[1:]:
        reload_forever()
    ensure_schema()
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
