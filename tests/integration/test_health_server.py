"""The health server on a real loopback socket (moved from the unit tier: it listens)."""

from __future__ import annotations

import httpx

from shared.health import HealthServer


async def test_liveness_readiness_and_metrics():
    state = {"nats": False}
    server = HealthServer("127.0.0.1", 0, {"nats": lambda: state["nats"], "db": lambda: True})
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503 and not_ready.json()["failing"] == ["nats"]
            state["nats"] = True
            assert (await client.get("/readyz")).status_code == 200
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and "python_info" in metrics.text
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/healthz")).status_code == 405
    finally:
        await server.stop()
