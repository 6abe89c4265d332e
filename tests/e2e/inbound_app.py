"""A small HTTP app for the inbound tests: records every delivery dragoman POSTs to it and
answers as the test says (200 with a JSON body, an error status with a text, or held until
released). Runs in the test's own process on a port chosen by the system."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App:
    def __init__(self):
        self.lock = threading.Lock()
        self.received = []       # (op, headers dict, body dict), in arrival order
        self.mode = "ok"          # ok | status | stall
        self.status = 500
        self.text = ""
        self.answer = {}
        self.concurrent = 0
        self.max_concurrent = 0
        self.release = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # the answer leaves in one write (no Nagle wait between header and body)

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                op = self.path.rsplit("/", 1)[-1]
                with app.lock:
                    app.received.append((op, dict(self.headers), body, self.path))
                    app.concurrent += 1
                    app.max_concurrent = max(app.max_concurrent, app.concurrent)
                    mode, status, text, answer = app.mode, app.status, app.text, app.answer
                try:
                    if mode == "stall":
                        app.release.wait(60)
                        mode = "ok"
                    if mode == "status":
                        out, code, ctype = text.encode(), status, "text/plain"
                    else:
                        out, code, ctype = json.dumps(answer).encode(), 200, "application/json"
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # dragoman gave up on it (its delivery timeout) and closed
                finally:
                    with app.lock:
                        app.concurrent -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, base="/hl7"):
        return f"http://127.0.0.1:{self.port}{base}"

    def ops(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
