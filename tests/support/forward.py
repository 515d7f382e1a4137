"""A TCP port on 127.0.0.1 forwarding every connection to a unix socket (a daemon's API
reached as ``tcp://``), byte for byte in both directions."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path


def _pipe(source: socket.socket, dest: socket.socket, counted: list[int] | None = None
          ) -> None:
    try:
        while data := source.recv(1 << 16):
            dest.sendall(data)
            if counted is not None:
                counted.append(len(data))
        dest.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _serve(listener: socket.socket, target: Path, stop: threading.Event,
           sent: list[int] | None) -> None:
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(str(target))
        for a, b, counted in ((client, upstream, sent), (upstream, client, None)):
            threading.Thread(target=_pipe, args=(a, b, counted), daemon=True).start()


@contextlib.contextmanager
def tcp_to_unix(target: Path, sent: list[int] | None = None) -> Iterator[str]:
    """Yield ``tcp://127.0.0.1:<port>`` forwarding to the unix socket ``target`` (counting
    the bytes sent to it into ``sent``)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()
    threading.Thread(target=_serve, args=(listener, target, stop, sent), daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
