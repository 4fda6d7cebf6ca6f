"""A minimal HTTPS sink: reads request bodies as fast as it can and throws them away.

Used by ``bench_upload.py --target sink`` to measure what the *clients* can send
when the server is not the bottleneck (the sandbox parses and checksums every
byte, and re-reads the stored file, in Python). It speaks just enough HTTP/1.1:
``Content-Length`` or chunked bodies, ``Expect: 100-continue``, keep-alive;
every PUT/POST answers ``{"genome_id": 0}``, every GET ``{"objects": []}`` -- or, when
a third argument names a file, every GET of a ``.../variants`` path answers with that
file's bytes (``bench_export.py --target source``: a server that costs nothing to export from).

``--rate BYTES_PER_SECOND`` emulates a link: each request body is read no faster than
that (TCP flow control then holds every client to it, as a real link would), so
``bench_upload_link.py`` can compare clients at 1 Gbit/s or 100 Mbit/s.

    python _sink.py CERT KEY [SERVE_FILE] [--rate B/s]   # prints the port, then serves until killed
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import time

BUFFER = 1 << 20
PACED_READ = 1 << 16  # bytes per read when pacing: small enough for a smooth rate


class Pace:
    """Hold body reads to ``rate`` bytes per second from the first byte of a request body."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started: float | None = None
        self.count = 0

    def take(self, nbytes: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
        self.count += nbytes
        ahead = self.started + self.count / self.rate - now
        if ahead > 0:
            time.sleep(ahead)


def _read_headers(conn: ssl.SSLSocket, pending: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in pending:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    pending[:] = rest
    return head


def _discard(conn: ssl.SSLSocket, pending: bytearray, length: int, scratch: memoryview, pace: Pace) -> None:
    take = min(length, len(pending))
    del pending[:take]
    pace.take(take)
    length -= take
    limit = PACED_READ if pace.rate else len(scratch)
    while length > 0:
        got = conn.recv_into(scratch, min(length, limit))
        if not got:
            raise ConnectionError("client went away")
        length -= got
        pace.take(got)


def _read_line(conn: ssl.SSLSocket, pending: bytearray) -> bytes:
    while b"\r\n" not in pending:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client went away")
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\r\n")
    pending[:] = rest
    return line


def _send_file(conn: ssl.SSLSocket, path: str) -> None:
    size = os.path.getsize(path)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + f"Content-Length: {size}\r\n\r\n".encode()
    )
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(BUFFER), b""):
            conn.sendall(chunk)


def serve(conn: ssl.SSLSocket, serve_file: str | None, rate: float | None) -> None:
    pending = bytearray()
    scratch = memoryview(bytearray(BUFFER))
    try:
        while True:
            head = _read_headers(conn, pending)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            if headers.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            pace = Pace(rate)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size = int(_read_line(conn, pending).split(b";")[0], 16)
                    _discard(conn, pending, size + 2, scratch, pace)
                    if size == 0:
                        break
            else:
                _discard(conn, pending, int(headers.get("content-length", "0")), scratch, pace)
            target = lines[0].split(" ")[1] if " " in lines[0] else ""
            if method == "GET" and serve_file and target.split("?")[0].endswith("/variants"):
                _send_file(conn, serve_file)
                continue
            body = b'{"objects": []}' if method == "GET" else b'{"genome_id": 0}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
    except (ConnectionError, ssl.SSLError, OSError):
        return
    finally:
        conn.close()


def main() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    args = sys.argv[1:]
    rate = None
    if "--rate" in args:
        at = args.index("--rate")
        rate = float(args[at + 1])
        del args[at : at + 2]
    context.load_cert_chain(args[0], args[1])
    serve_file = args[2] if len(args) > 2 else None
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        raw, _ = listener.accept()
        try:
            conn = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn, serve_file, rate), daemon=True).start()


if __name__ == "__main__":
    main()
