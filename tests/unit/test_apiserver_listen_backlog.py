"""The apiserver's accept queue is as long as the kernel allows, as Go's net.Listen asks."""

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from minik8s.apiserver import listeners


def test_the_backlog_is_the_kernels_limit(tmp_path: Path) -> None:
    limit = tmp_path / "somaxconn"
    limit.write_text("65535\n")
    assert listeners.listen_backlog(limit) == 65535
    limit.write_text("not a number")
    assert listeners.listen_backlog(limit) == socket.SOMAXCONN
    assert listeners.listen_backlog(tmp_path / "absent") == socket.SOMAXCONN


def test_listen_sockets_listen_with_it() -> None:
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    (sock,) = listeners.listen_sockets("127.0.0.1", 0, None)
    try:
        port = sock.getsockname()[1]
        out = subprocess.run(
            [ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert int(out[2]) == listeners.listen_backlog(), f"ss: {out}"  # Send-Q: the backlog
    finally:
        sock.close()
