"""A minimal streaming HTTP sink: PUT bodies are read in 1 MiB chunks and written to one file.

The baseline for bench_sandbox_upload.py: the least work a server that stores an upload can do
(no hashing, no database).  ``--discard`` drops the bytes instead of writing them.
Usage: python bench/streaming_sink.py PORT OUTPUT_FILE [--discard]
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    output = "/dev/null"
    discard = False

    def do_PUT(self) -> None:
        remaining = int(self.headers["Content-Length"])
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with open(self.output, "wb", buffering=0) as out:
            while remaining:
                got = self.rfile.readinto(view[: min(CHUNK, remaining)])
                if not got:
                    break
                if not self.discard:
                    out.write(view[:got])
                remaining -= got
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port, output = int(sys.argv[1]), sys.argv[2]
    Sink.output = output
    Sink.discard = "--discard" in sys.argv[3:]
    server = ThreadingHTTPServer(("127.0.0.1", port), Sink)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
