"""The example app of examples/py-app: a small HTTP service on Python's standard library.

  GET /             its name and version ("pyapp 1.2.0"), from the VERSION file the release
                    playbook packs with it
  GET /healthcheck  200 "ok"

It listens on 127.0.0.1:PORT (the unit sets PORT; BIND to listen elsewhere) and runs from its
release directory, where systemd starts it (WorkingDirectory=/opt/apps/active/pyapp).
"""

import http.server
import os


def version():
    try:
        with open("VERSION", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


NAME = os.environ.get("APP_NAME", "pyapp")
VERSION = version()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthcheck":
            body = "ok\n"
        elif self.path == "/":
            body = f"{NAME} {VERSION}\n"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        # One line a request on stderr: the journal keeps it (journalctl -u pyapp).
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    address = (os.environ.get("BIND", "127.0.0.1"), int(os.environ.get("PORT", "8000")))
    server = http.server.ThreadingHTTPServer(address, Handler)
    print(f"{NAME} {VERSION} listening on {address[0]}:{address[1]}", flush=True)
    server.serve_forever()
