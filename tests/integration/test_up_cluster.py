"""`up --cluster` (SWITCHBOARD_NATS_CLUSTER=true): three local nodes, the stream on three replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats

from shared.bus import NatsAccess
from switchboard.home import StackHome
from switchboard.provisioning import provision_stream, settings_from
from switchboard.servers import BackingServers


async def replicas(url: str, access: NatsAccess) -> tuple[int, str | None]:
    nc = await nats.connect(url.split(","), **access.options())
    try:
        info = await nc.jetstream().stream_info("WHATSAPP")
        return info.config.num_replicas, info.cluster.leader if info.cluster else None
    finally:
        await nc.close()


def test_up_runs_a_three_node_cluster_and_remembers_its_ports(tmp_path: Path, postgres_url: str):
    home = StackHome(tmp_path / "home").create()
    notes: list[str] = []
    servers = BackingServers(home, {"SWITCHBOARD_NATS_CLUSTER": "true", "DATABASE_URL": postgres_url}, notes.append)
    try:
        servers.start()
        assert servers.cluster and len(servers.nats_url.split(",")) == 3
        assert len(servers.started) == 3  # the three nodes; Postgres came from DATABASE_URL
        assert any("3-node JetStream cluster" in note and "monitoring on http://127.0.0.1:" in note for note in notes)
        report = asyncio.run(provision_stream(settings_from(
            {"NATS_URL": servers.nats_url, "STREAM_REPLICAS": "3", **servers.nats_env("admin")})))
        assert report.name == "WHATSAPP"
        admin = servers.nats_env("admin")
        count, leader = asyncio.run(replicas(servers.nats_url, NatsAccess(admin["NATS_USER"], admin["NATS_PASSWORD"])))
        assert count == 3 and leader and leader.startswith("switchboard-local-n")
        saved = home.saved_ports()
        assert {f"nats-{kind}-{i}" for kind in ("client", "route", "monitor") for i in (1, 2, 3)} <= set(saved)
    finally:
        servers.stop()
        home.release_ports()
