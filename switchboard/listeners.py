"""Who is listening on a port: the checks that tell our server from a foreign process.

An open port proves only that something listens. These look further: which process
owns the listening socket (Linux /proc), and what name a NATS server gives in the INFO
line it sends every client.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path


def listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (Linux /proc), or None where /proc cannot tell."""
    found: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if readable else None


def owns_listener(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds a socket listening on `port`; None when this OS cannot tell."""
    inodes = listening_inodes(port)
    if inodes is None:
        return None
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None if not Path("/proc/self/fd").is_dir() else False
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def nats_server_info(host: str, port: int, timeout: float = 1.0) -> dict | None:
    """The INFO a NATS server sends on connect (server_name, server_id, version...), or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        return json.loads(line[5:])
    except ValueError:
        return None
