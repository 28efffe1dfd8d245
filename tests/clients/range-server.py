"""A breach corpus for the tests: a real HTTP server (Python's http.server) answering the
Have I Been Pwned range API, GET /range/{first five hex of the SHA-1}, with "SUFFIX:COUNT"
lines and padding lines of count 0, as the public service does with Add-Padding.

The corpus is the file passwords.txt in DIR, one password per line, read again on every
request (so a test can add a password later). With --hang, the server accepts connections
and never answers (a corpus that times out).

Usage: python3 range-server.py DIR [--hang]; prints the port it listens on (127.0.0.1), then
serves until killed.
"""
import hashlib
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
HANG = "--hang" in sys.argv[2:]


def corpus():
    try:
        with open(os.path.join(DIR, "passwords.txt"), encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        lines = []
    return [hashlib.sha1(p.encode("utf-8")).hexdigest().upper() for p in lines]


class Range(BaseHTTPRequestHandler):
    def do_GET(self):
        prefix = self.path.rsplit("/", 1)[-1].upper()
        if len(prefix) != 5 or any(c not in "0123456789ABCDEF" for c in prefix):
            self.send_error(400)
            return
        found = [h[5:] + ":" + str(1000 + i) for i, h in enumerate(corpus()) if h.startswith(prefix)]
        padding = [hashlib.sha1(f"pad{prefix}{i}".encode()).hexdigest().upper()[5:] + ":0" for i in range(20)]
        body = "\r\n".join(sorted(found + padding)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if HANG:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(sock.getsockname()[1], flush=True)
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)
else:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Range)
    print(server.server_address[1], flush=True)
    server.serve_forever()
