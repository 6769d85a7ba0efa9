"""Do-nothing servers that answer a webhook with the gateway's own 200 bytes.

`static`: an asyncio protocol on uvloop that finds the end of each request and writes a
fixed response; no framework, no parsing beyond Content-Length. It shows what the load
generator can do when the server costs next to nothing.
`fastapi`: FastAPI under uvicorn, configured like the gateway, with a route that reads
the body and returns the same TwiML: the framework's own ceiling, with no signature
check, no event and no JetStream.

`python -m tests.bench.gateway_responders static|fastapi --port N`
"""

from __future__ import annotations

import argparse
import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import Response

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STATIC_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"server: uvicorn\r\n"
    b"content-type: text/xml; charset=utf-8\r\n"
    + f"content-length: {len(EMPTY_TWIML)}\r\n\r\n".encode()
    + EMPTY_TWIML
)


class StaticResponder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            marker = head.find(b"\r\ncontent-length:")
            length = 0
            if marker >= 0:
                stop = head.find(b"\r\n", marker + 2)
                length = int(head[marker + 17 : stop if stop >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.transport.write(STATIC_RESPONSE)  # type: ignore[attr-defined]


async def serve_static(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(StaticResponder, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def fastapi_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.post("/twilio/messages")
    async def inbound_message(request: Request) -> Response:
        await request.body()
        return Response(EMPTY_TWIML, media_type="text/xml")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["static", "fastapi"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.kind == "static":
        import uvloop

        uvloop.run(serve_static(args.host, args.port))
    else:
        import uvicorn

        uvicorn.run(fastapi_app(), host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
