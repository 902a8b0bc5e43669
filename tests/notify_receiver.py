"""A webhook receiver for the notification tests: a real HTTP server in its own process that
appends every POST it gets (headers and body) as one JSON line to a file, then answers.

    python tests/notify_receiver.py --port 8123 --record hits.jsonl [--status 500] [--slow-first 1 --slow-seconds 3]

The line is written (and flushed) before the answer, so a test sees what arrived even when the
answer is late or never sent.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--slow-first", type=int, default=0, help="answer the first N requests late")
    parser.add_argument("--slow-seconds", type=float, default=0.0)
    args = parser.parse_args()
    lock = threading.Lock()
    seen = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                seen[0] += 1
                number = seen[0]
                with open(args.record, "a", encoding="utf-8") as out:
                    out.write(json.dumps({"path": self.path, "headers": dict(self.headers.items()),
                                          "body": body.decode(), "received_at": time.time()}) + "\n")
            if number <= args.slow_first:
                time.sleep(args.slow_seconds)
            self.send_response(args.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *values: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
