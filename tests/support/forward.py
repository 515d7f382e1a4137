"""A TCP port on 127.0.0.1 forwarding every connection to a unix socket (a daemon's API
reached as ``tcp://``), byte for byte in both directions.

On leaving, the listener is shut down before it is closed and its thread joined: a thread
left blocked in ``accept()`` on a closed socket keeps the old socket listening, and when a
signal (a child's exit) restarts that call, the kernel runs it again on the same descriptor
number, which by then may be another server's listener. It would take that server's
connections and forward them here."""

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


def _connection(client: socket.socket, target: Path, sent: list[int] | None) -> None:
    """Carry one connection both ways until both sides are done, then close both."""
    with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
        try:
            upstream.connect(str(target))
        except OSError:
            return
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream, sent)
        back.join()


def _serve(listener: socket.socket, target: Path, sent: list[int] | None) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:  # shut down
            return
        threading.Thread(target=_connection, args=(client, target, sent), daemon=True).start()


@contextlib.contextmanager
def tcp_to_unix(target: Path, sent: list[int] | None = None) -> Iterator[str]:
    """Yield ``tcp://127.0.0.1:<port>`` forwarding to the unix socket ``target`` (counting
    the bytes sent to it into ``sent``)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        serving = threading.Thread(target=_serve, args=(listener, target, sent), daemon=True)
        serving.start()
        try:
            yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() with EINVAL
            serving.join()
