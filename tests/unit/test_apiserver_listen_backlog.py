"""The apiserver's accept queue is as long as the kernel allows, as Go's net.Listen asks."""

import socket
from pathlib import Path

from minik8s.apiserver import listeners


def test_the_backlog_is_the_kernels_limit(tmp_path: Path) -> None:
    limit = tmp_path / "somaxconn"
    limit.write_text("65535\n")
    assert listeners.listen_backlog(limit) == 65535
    limit.write_text("not a number")
    assert listeners.listen_backlog(limit) == socket.SOMAXCONN
    assert listeners.listen_backlog(tmp_path / "absent") == socket.SOMAXCONN


def test_listen_sockets_listen_with_it() -> None:
    (sock,) = listeners.listen_sockets("127.0.0.1", 0, None)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert listeners.listen_backlog() >= socket.SOMAXCONN
    finally:
        sock.close()
