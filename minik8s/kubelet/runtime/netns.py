"""Sockets made inside another process's network namespace (a pod's), for port forwarding.

A socket belongs to the network namespace it was created in, whatever thread uses it later.
So a short-lived helper thread enters the pod's namespace (`setns(2)` on
`/proc/<sandbox pid>/ns/net`; a thread's namespace is its own), creates the socket, and goes
back before it ends; the kubelet's event loop then connects it to `127.0.0.1:<port>` and
relays bytes with no process or copy in between. This is what containerd's CRI does
(`netns.Do` around `net.Dial` on a locked OS thread); the older `nsenter … socat` helper
process would cost a process start per connection and a second copy of every byte. A fresh
thread per socket means a thread that could not return to the host's namespace is never
reused: it ends, and the call fails. Needs CAP_SYS_ADMIN (the kubelet runs as root).
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _socket_in(pid: int, family: int) -> socket.socket:
    """Run in a helper thread only: the socket, made in `pid`'s network namespace."""
    with (
        open(f"/proc/{pid}/ns/net", "rb") as target,
        open("/proc/thread-self/ns/net", "rb") as home,
    ):
        _setns(target.fileno())
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            _setns(home.fileno())  # if this fails the thread ends anyway, never reused


def socket_in_netns(pid: int, family: int = socket.AF_INET) -> socket.socket:
    """A new (unconnected, non-blocking) TCP socket in the network namespace of `pid`."""
    result: list[socket.socket | BaseException] = []

    def work() -> None:
        try:
            result.append(_socket_in(pid, family))
        except BaseException as e:  # handed to the caller
            result.append(e)

    thread = threading.Thread(target=work, name=f"netns-{pid}", daemon=True)
    thread.start()
    thread.join()
    found = result[0] if result else OSError("the namespace helper thread died")
    if isinstance(found, BaseException):
        raise found
    found.setblocking(False)
    return found
