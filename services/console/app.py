"""The console's ASGI app: the composition root that wires settings, the audit reader,
NATS and the templates to the routes. Every route but health, static files and the
login form goes through `guarded`, which finds the operator or answers 401."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.console import pages, webchat
from services.console.auth import COOKIE, Authenticator, Forbidden, Unauthenticated, session_value
from services.console.config import ConsoleSettings
from services.console.deps import HERE, ConsoleDeps
from services.console.readmodels import AuditReader, create_engine

Handler = Callable[[Request, ConsoleDeps, str], Awaitable[Response]]

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


def guarded(deps: ConsoleDeps, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            operator = deps.auth.operator(request)
        except Unauthenticated:
            return _unauthenticated(request, deps)
        try:
            response = await handler(request, deps, operator)
        except Forbidden as exc:
            response = PlainTextResponse(f"403 Forbidden: {exc}\n", status_code=403)
        response.headers.update(SECURITY_HEADERS)
        return response

    return endpoint


def _unauthenticated(request: Request, deps: ConsoleDeps) -> Response:
    wants_html = "text/html" in request.headers.get("accept", "") and request.method == "GET"
    if wants_html and deps.settings.auth_token:
        response: Response = deps.templates.TemplateResponse(
            request, "login.html", {"error": "", "next": request.url.path}, status_code=401)
    else:
        response = PlainTextResponse("401 Unauthorized: the console needs credentials "
                                     "(a bearer token, or sign-in through the OIDC proxy)\n", status_code=401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="switchboard-console"'
    response.headers.update(SECURITY_HEADERS)
    return response


def create_app(settings: ConsoleSettings, deps: ConsoleDeps | None = None) -> Starlette:
    if deps is None:
        deps = ConsoleDeps(
            settings=settings, auth=Authenticator.build(settings),
            reader=AuditReader(create_engine(settings.database_url, settings.db_pool_size)),
            http=httpx.AsyncClient(timeout=10.0),
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        deps.start()
        try:
            yield
        finally:
            await deps.close()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        try:
            await deps.reader.ping()
        except Exception as exc:
            return PlainTextResponse(f"not ready: Postgres ({type(exc).__name__})\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return deps.templates.TemplateResponse(request, "login.html", {"error": "", "next": "/"})
        form = await request.form()
        given, target = str(form.get("token", "")), str(form.get("next", "/"))
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if not deps.auth.token_matches(given):
            return deps.templates.TemplateResponse(
                request, "login.html", {"error": "That token is not the console's.", "next": target}, status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session_value(given), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https" or settings.environment == "production")
        return response

    async def logout(request: Request, deps: ConsoleDeps, operator: str) -> Response:
        form = await request.form()
        deps.auth.check_csrf(request, operator, str(form.get("csrf_token", "")))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def route(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, guarded(deps, handler), methods=list(methods))

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/login", login, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        route("/logout", logout, ("POST",)),
        *(route(path, handler, methods) for path, handler, methods in pages.ROUTES),
        *(route(path, handler, methods) for path, handler, methods in webchat.ROUTES),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.deps = deps
    return app
