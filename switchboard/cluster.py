"""A local JetStream cluster: three nats-server processes from the same wheel, on loopback.

Each node has its own client, cluster (route) and monitoring ports and its own store
directory; every node is given every route, so the three find each other whichever
starts first. Tests use it (the `nats_cluster` fixture) to show that what runs on one
node runs on three replicas, and that losing the stream leader loses nothing.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from switchboard.infra import InfraError, NatsServer, free_port

CLUSTER_NAME = "switchboard-local"


class NatsCluster:
    """`size` nats-servers with JetStream clustered under `root`/n1, n2, n3."""

    def __init__(
        self, root: Path, size: int = 3, host: str = "127.0.0.1", name: str = CLUSTER_NAME,
        ports: Callable[[str], int] | None = None, config_file: Path | None = None,
    ):
        """`ports(key)` gives the port for "client-1", "route-1", "monitor-1"...; free ones by default."""
        self.root = Path(root)
        self.host = host
        self.name = name
        port_for = ports or (lambda key: free_port(host))
        route_ports = [port_for(f"route-{index}") for index in range(1, size + 1)]
        routes = ",".join(f"nats://{host}:{port}" for port in route_ports)
        self.nodes = [
            NatsServer(
                self.root / f"n{index}", port=port_for(f"client-{index}"), host=host,
                http_port=port_for(f"monitor-{index}"), server_name=f"{name}-n{index}",
                extra_args=["--cluster_name", name, "--cluster", f"nats://{host}:{route_port}", "--routes", routes],
                config_file=config_file,
            )
            for index, route_port in enumerate(route_ports, start=1)
        ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated, as NATS_URL takes it."""
        return ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> NatsServer:
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(server_name)

    def start(self, timeout: float = 60) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = 60, nodes: list[NatsServer] | None = None) -> None:
        """Until every (running) node's /healthz says JetStream is current: a meta leader exists."""
        deadline = time.monotonic() + timeout
        waiting = [node for node in (nodes or self.nodes) if node.proc is not None]
        while waiting:
            waiting = [node for node in waiting if not _healthy(node)]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(node.server_name for node in waiting)
                raise InfraError(f"JetStream cluster not healthy within {timeout}s: {names}")
            time.sleep(0.1)

    def kill(self, server_name: str) -> NatsServer:
        """SIGKILL one node (as a crash would); `restart` brings it back on the same ports and data."""
        node = self.node(server_name)
        if node.proc is not None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(10)
        node.proc = None
        return node

    def restart(self, server_name: str) -> NatsServer:
        return self.node(server_name).start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _healthy(node: NatsServer) -> bool:
    try:
        with urllib.request.urlopen(f"{node.monitor_url}/healthz", timeout=2) as response:
            return response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False
