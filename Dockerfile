# syntax=docker/dockerfile:1
# One image recipe for the five LeadLoop services, from the repository root:
#   docker build --build-arg SERVICE=capture --build-arg PORT=8001 -t leadloop/capture .
# (SERVICE: capture, scoring, handoff, nurture or outcomes; PORT: its port, 8001-8005.)
#
# The base image is pinned by digest, so a rebuild gets the same Python and Debian layers.
# TODO(verify): this digest was taken from a public Renovate-pinned Dockerfile and could not be
# checked here (no Docker engine); confirm it with
#   docker buildx imagetools inspect python:3.12.7-slim-bookworm
# and put the index digest it prints into BASE if it differs.
ARG BASE=python:3.12.7-slim-bookworm@sha256:032c52613401895aa3d418a4c563d2d05f993bc3ecc065c8f4e2280978acd249

# Build stage: the service and the shared package, with exactly the versions in uv.lock, into a
# virtualenv (not editable), so the runtime image gets installed packages and no build tooling.
FROM ${BASE} AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install uv==0.13.9
WORKDIR /src
# The workspace: its root, the lock, and every member's pyproject.toml (uv reads them all to
# check the lock); the sources of the shared package and the services.
COPY pyproject.toml uv.lock /src/
COPY deploy/local/pyproject.toml /src/deploy/local/pyproject.toml
COPY shared/ /src/shared/
COPY services/ /src/services/
RUN uv sync --frozen --no-default-groups --no-editable --package leadloop-${SERVICE}

FROM ${BASE}
ARG SERVICE
ARG PORT
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_SERVICE=${SERVICE} \
    APP_PORT=${PORT}
# A fixed numeric UID, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 leadloop \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin leadloop
COPY --from=build /opt/venv /opt/venv
# Alembic's script directory is not part of the installed package; the migrations step runs
# `alembic upgrade head` from here.
COPY services/${SERVICE}/alembic.ini /app/alembic.ini
COPY services/${SERVICE}/migrations/ /app/migrations/
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}
# The slim image has no curl; Python's standard library does the probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${APP_PORT}/healthz', timeout=2)"
# Behind a reverse proxy or ingress the client address (per-IP rate limits, logs) comes from
# X-Forwarded-For, trusted only from the addresses in FORWARDED_ALLOW_IPS (comma-separated IPs or
# networks; uvicorn reads it); set it to the proxy's, e.g. the ingress controller's pod network.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
# uvicorn drains in-flight requests and runs the lifespan shutdown (consumer commits) on SIGTERM;
# `exec` makes it PID 1, so it receives the signal (the shell form expands the service's name).
# No `server` header: the server and its version are a scanner's first clue; no client needs them.
CMD exec uvicorn "${APP_SERVICE}.main:app" --proxy-headers --host 0.0.0.0 --port "${APP_PORT}" --no-server-header --timeout-graceful-shutdown 20
