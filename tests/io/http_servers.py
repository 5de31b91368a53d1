"""Real HTTP servers on 127.0.0.1 serving ../shared/data, well-behaved or misbehaving on purpose."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """``python -m http.server`` plus byte ranges, with optional faults for testing clients.

    ``fault`` is one of ``None``, ``"drop_first"`` (the first response is cut midway and the
    connection closed), ``"corrupt"`` (one byte of every body is flipped) or ``"html"`` (an HTML
    error page with status 200, as some portals send instead of the file). ``content_encoding``, when
    set, is sent as the ``Content-Encoding`` header of the file's unchanged bytes (as servers label
    ``.gz`` files ``gzip``, whatever the client asked for).
    """

    fault: str | None = None
    content_encoding: str | None = None
    requests_seen: list[dict[str, str]]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        """Stay quiet: pytest shows failures, not access logs."""

    def do_GET(self) -> None:  # noqa: N802 - base class name
        self.requests_seen.append({"path": self.path, "range": self.headers.get("Range", ""),
                                   "accept_encoding": self.headers.get("Accept-Encoding", "")})
        if self.fault == "html":
            body = b"<!DOCTYPE html><html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        range_header = self.headers.get("Range")
        if range_header:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if self.fault == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        self.send_header("Content-Type", "application/octet-stream")
        if self.content_encoding:
            self.send_header("Content-Encoding", self.content_encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.fault == "drop_first" and len(self.requests_seen) == 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serve(
    directory: Path, fault: str | None = None, content_encoding: str | None = None
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Serve ``directory`` on a free port of 127.0.0.1; yield the base URL and the request log."""
    seen: list[dict[str, str]] = []
    attributes = {"fault": fault, "content_encoding": content_encoding, "requests_seen": seen}
    handler = type("Handler", (RangeRequestHandler,), attributes)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
