"""Test helpers: an HTTP server on 127.0.0.1 that can misbehave on demand, standing in for
Zenodo (record metadata + file contents with Range support), and tiny FISBe release archives."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

RECORD = "10875063"


class Handler(BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` support; ``server.plan`` scripts failures per request."""

    server: FlakyServer

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""

    def do_GET(self) -> None:
        server = self.server
        path = self.path.split("?")[0]
        server.requests.append((path, self.headers.get("Range")))
        action = server.plan.pop(0) if server.plan else "ok"
        body = server.files.get(path)
        if body is None or action in ("404", "403", "500"):
            self.send_error(404 if body is None else int(action))
            return
        start, status = 0, 200
        requested = self.headers.get("Range")
        if requested and not server.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if action in ("truncate", "drop"):
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
            if action == "drop":  # abort with a TCP reset instead of a clean close
                self.wfile.flush()
                time.sleep(0.2)  # let the client take in the first half before the reset
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
            return
        self.wfile.write(payload)


class FlakyServer(ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes); ``plan`` lists per-request failures
    (``404``, ``403``, ``500``, ``truncate``, ``drop``), ``requests`` logs (path, Range)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.plan: list[str] = []
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}?download=1"

    @property
    def api(self) -> str:
        """Base URL of the stand-in Zenodo REST API."""
        return f"http://127.0.0.1:{self.server_address[1]}/api"

    def content_path(self, name: str) -> str:
        return f"/api/records/{RECORD}/files/{name}/content"

    def publish(self, files: dict[str, bytes], **changes: dict[str, object]) -> dict:
        """Serve ``files`` and the record listing them (Zenodo's JSON layout); ``changes``
        overrides fields of one file's entry (e.g. ``{"a.zip": {"size": 1}}``)."""
        entries = []
        for name, body in files.items():
            self.files[self.content_path(name)] = body
            entry = {
                "id": hashlib.sha1(name.encode()).hexdigest(),
                "key": name,
                "size": len(body),
                "checksum": f"md5:{hashlib.md5(body).hexdigest()}",
                "links": {"self": f"{self.api}/records/{RECORD}/files/{name}/content"},
            }
            entries.append({**entry, **changes.get(name, {})})
        record = {"id": int(RECORD), "metadata": {"title": "FISBe stand-in"}, "files": entries}
        self.files[f"/api/records/{RECORD}"] = json.dumps(record).encode()
        return record


@contextmanager
def serving() -> Iterator[FlakyServer]:
    """A :class:`FlakyServer` running in a thread for the duration of the block."""
    httpd = FlakyServer()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def tiny_sample(folder: Path) -> dict[str, bytes]:
    """Files (relative path -> bytes) of one 16x24x24 sample in the FISBe layout, one neuron."""
    from fisbe_bench.contract import DIM_NEURONS_ATTR, GT_KEY, RAW_KEY
    from fisbe_bench.sample_io import write_array

    raw = np.full((3, 16, 24, 24), 100, np.uint16)
    raw[:, 1:15, 7:17, 7:17] = 1200
    gt = np.zeros((1, 16, 24, 24), np.uint8)
    gt[0, 1:15, 7:17, 7:17] = 1
    group = folder / "sample.zarr"
    write_array(group, RAW_KEY, raw, raw.shape)
    write_array(group, GT_KEY, gt, gt.shape, attrs={DIM_NEURONS_ATTR: []})
    return {
        p.relative_to(group).as_posix(): p.read_bytes() for p in group.rglob("*") if p.is_file()
    }


def release_zip(
    set_name: str, samples: list[tuple[str, str]], sample: dict[str, bytes], *, wrapped: bool
) -> bytes:
    """A release archive: ``[fisbe_v1.0_<set>/]<set>/<split>/<name>.zarr`` for each
    (name, split) of ``samples``, every one a copy of ``sample``."""
    top = f"fisbe_v1.0_{set_name}/" if wrapped else ""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, split in samples:
            for relative, body in sample.items():
                archive.writestr(f"{top}{set_name}/{split}/{name}.zarr/{relative}", body)
    return buffer.getvalue()
