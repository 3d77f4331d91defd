"""The service factory: one FastAPI app per service, with the same lifespan, health, readiness,
metrics, AsyncAPI and OpenAPI documents, error shape (RFC 9457) and trace context everywhere.

The HTTP side starts at once and needs only the database (writes go to the outbox). Kafka is
connected in the background with retries; until it answers, /readyz says so, and the relay and
consumer start as soon as it does.
"""

import asyncio
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadloop import openapi
from leadloop.consumer import ConsumerRunner, ConsumerTuning
from leadloop.db import UnitOfWork, create_engine
from leadloop.dead_letters_api import dead_letters_router
from leadloop.events.contracts import asyncapi_document
from leadloop.events.topology import CONSUMES, KEY_OWNER, topic_of
from leadloop.handlers import Handlers
from leadloop.kafka import close_producer, create_producer, start_client
from leadloop.keyring import KeyArrivals, KeysConsumer
from leadloop.observability import (
    BACKGROUND_TASK_RESTARTS,
    configure_logging,
    declare_series,
)
from leadloop.openapi import operation_id_generator, with_shared_operation_ids
from leadloop.outbox import OutboxRelay, RelayTuning
from leadloop.problems import (
    Refusal,
    from_http_exception,
    problem_response,
    refusal_response,
    validation_errors,
)
from leadloop.request_middleware import RequestMiddleware
from leadloop.retry import Backoff
from leadloop.security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    html_policy,
    inline_scripts,
)
from leadloop.settings import ServiceSettings
from leadloop.tracing import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)


TASK_CRASH_UNREADY_S = 60.0
"""How long a background task's death keeps `/readyz?strict=true` failing."""


@dataclass
class Runtime:
    """What a running service holds: settings, database engine, Kafka producer, workers."""

    settings: ServiceSettings
    engine: AsyncEngine
    producer: AIOKafkaProducer
    kafka_connected: bool = False
    consumer: ConsumerRunner | None = None
    relay: OutboxRelay | None = None
    tasks: list["asyncio.Task[None]"] = field(default_factory=list)
    # Set at shutdown: background workers finish what they hold and return when they see it.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Named wake-ups: a request sets one so a background worker starts now, not at its next poll.
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # When each background task last died (time.monotonic()); see `supervise`.
    crashes: dict[str, float] = field(default_factory=dict)

    def wakeup(self, name: str) -> asyncio.Event:
        """The wake-up event of the worker called `name` (created on first use)."""
        return self.wakeups.setdefault(name, asyncio.Event())

    def supervise(self, name: str, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a background task, and start it again (after a backoff) whenever it dies; each
        death counts in a metric and keeps `/readyz?strict=true` failing for a while."""
        self.tasks.append(asyncio.create_task(self._supervised(name, start)))

    async def _supervised(self, name: str, start: Callable[[], Coroutine[Any, Any, None]]
                          ) -> None:
        backoff = Backoff(max_s=30.0)
        while not self.stopping.is_set():
            try:
                await start()
                return
            except Exception:  # whatever killed it, the service must not go on without it
                if self.stopping.is_set():
                    return
                log.exception("background task %s died; restarting it", name)
                BACKGROUND_TASK_RESTARTS.labels(self.settings.service_name, name).inc()
                self.crashes[name] = time.monotonic()
                await backoff.sleep()

    def failing_tasks(self) -> list[str]:
        """Background tasks that died within the last TASK_CRASH_UNREADY_S."""
        now = time.monotonic()
        return sorted(name for name, at in self.crashes.items()
                      if now - at < TASK_CRASH_UNREADY_S)

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work whose events are published as this service."""
        return UnitOfWork(self.engine, self.settings.service_name)


S = TypeVar("S", bound=ServiceSettings)


YOUNG_GENERATION_THRESHOLD = 10_000
"""Container objects allocated (net of those freed) between two collections of the youngest
generation (CPython's default: 700)."""


def settle_heap(young_generation: int = YOUNG_GENERATION_THRESHOLD) -> None:
    """Keep the objects a started service holds for its whole life (modules, models, compiled
    statements: hundreds of thousands) out of garbage collection, and collect the young
    generation less often. A consumer batch allocates tens of objects per event; with the
    defaults the collections it triggered scanned that start-up heap again and again, about a
    third of a consumer's CPU per event. Cycles are still collected, among younger objects.
    Once per process (apps started again in one process, as tests do, keep the first heap)."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_generation, *gc.get_threshold()[1:])


def settings_of(runtime: Runtime, kind: type[S]) -> S:
    """The running service's settings as its own class (`settings_of(runtime, HandoffSettings)`):
    the one typed way to read a setting, so mypy checks every name and no caller restates a
    default. A runtime holding another class is a wiring bug, and says so."""
    settings = runtime.settings
    if not isinstance(settings, kind):
        raise TypeError(f"{settings.service_name} runs with {type(settings).__name__}, "
                        f"not {kind.__name__}")
    return settings


BackgroundWorker = Callable[[Runtime], Coroutine[Any, Any, None]]
"""A long-running job a service adds (timers, schedulers); it gets the runtime, and runs its
rounds in `leadloop.worker.run_worker` (idling, wake-ups, backoff, shutdown)."""


def runtime_of(request: Request) -> Runtime:
    """The running service's runtime, from inside a request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


# Dependencies are async on purpose: FastAPI runs a sync dependency in a worker thread, which
# costs a thread hop on every request.
async def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the running service's runtime."""
    return runtime_of(request)


async def unit_of_work(request: Request) -> UnitOfWork:
    """FastAPI dependency: a fresh unit of work; the endpoint commits it (or it rolls back)."""
    return runtime_of(request).unit_of_work()


def create_service_app(
    *,
    settings: ServiceSettings,
    routers: Sequence[APIRouter] = (),
    handlers: Handlers | None = None,
    workers: Sequence[BackgroundWorker] = (),
    description: str = "",
    large_body_paths: Sequence[str] = (),
    operation_ids: Mapping[str, str] | None = None,
    rate_limited: Iterable[tuple[str, str]] = (),
    openapi_models: Sequence[type[BaseModel]] = (),
    young_generation: int = YOUNG_GENERATION_THRESHOLD,
) -> FastAPI:
    """Build a service's app; its lifespan runs the relay, the consumer and `workers`.

    `large_body_paths` (regular expressions) are routes that stream big uploads and enforce
    their own size limit; every other route gets `settings.max_request_bytes`.
    `operation_ids` names the OpenAPI operations whose endpoint function's name is not already
    a verb phrase (see leadloop.openapi); `rate_limited` lists the (METHOD, path) operations
    that can answer 429, for the document; `openapi_models` are schemas only an operation's
    `openapi_extra` refers to. `young_generation`: see `settle_heap` (a service that keeps
    many objects between batches collects less often).
    """
    service = settings.service_name
    if handlers is not None:
        handlers.bind(settings)
    # Now, as uvicorn imports the app, so that its "Started server process" line is JSON too;
    # the lifespan configures it again for servers that set up their logging later.
    configure_logging(service, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service, settings.log_level)
        settings.require_secrets()  # before anything connects or anything is signed
        declare_series(service, topic_of(service),
                       [topic_of(p) for p in CONSUMES[service]] if handlers else [],
                       handlers.event_types if handlers else [])
        setup_tracing(service, settings.otlp_traces_endpoint, settings.trace_export_delay_ms)
        runtime = Runtime(
            settings=settings,
            engine=create_engine(settings.database_url, settings.db_pool_size,
                                 settings.database_tls),
            producer=create_producer(settings.kafka, service,
                                     settings.producer_linger_ms),
        )
        app.state.runtime = runtime
        settle_heap(young_generation)
        runtime.tasks.append(asyncio.create_task(_start_kafka_side(runtime, handlers, workers)))
        try:
            yield
        finally:
            await _stop(runtime)
            shutdown_tracing()

    app = FastAPI(title=f"LeadLoop {service}", description=description, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  generate_unique_id_function=operation_id_generator(
                      with_shared_operation_ids(operation_ids or {})),
                  # FastAPI's own OpenTelemetry (on once a tracer provider is set) would add a
                  # second server span per request, HTTP metrics beside ours and logs with
                  # validation messages (personal data): RequestMiddleware does the first two.
                  telemetry={"tracing": False, "metrics": False, "logs": False,
                             "operation_spans": False})
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes,
                       exempt=large_body_paths)
    app.add_middleware(RequestMiddleware, service=service)
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age_s=settings.hsts_max_age_s)

    # Every error is a problem (RFC 9457): HTTPException (404 of an unknown path included),
    # refused input, a Refusal raised below a router, and (in RequestMiddleware) whatever a
    # handler raised.
    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return from_http_exception(exc, request.url.path)

    @app.exception_handler(Refusal)
    async def on_refusal(request: Request, exc: Refusal) -> Response:
        return refusal_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(422, "request is invalid", instance=request.url.path,
                                errors=validation_errors(exc))

    limited = frozenset(rate_limited)
    app.openapi = lambda: openapi.document(  # type: ignore[method-assign]
        app, limited, openapi_models)
    app.include_router(_ops_router(service, handlers))
    app.include_router(_docs_router(app.title))
    if CONSUMES[service]:
        app.include_router(dead_letters_router(service))
    for router in routers:
        app.include_router(router)
    return app


async def _start_kafka_side(runtime: Runtime, handlers: Handlers | None,
                            workers: Sequence[BackgroundWorker]) -> None:
    settings = runtime.settings
    backoff = Backoff(max_s=5.0)
    while True:
        try:
            await start_client(runtime.producer, settings.kafka)
            break
        except KafkaError as exc:
            log.warning("%s; retrying", exc)
            await backoff.sleep()
    runtime.kafka_connected = True
    key_arrivals = KeyArrivals()  # the key feed tells the consumer when keys came in

    def run_relay() -> Coroutine[Any, Any, None]:
        runtime.relay = OutboxRelay(
            service=settings.service_name, engine=runtime.engine, producer=runtime.producer,
            listen_dsn=settings.asyncpg_dsn,
            tuning=RelayTuning(batch_size=settings.outbox_batch_size,
                               poll_interval_s=settings.outbox_poll_interval_s))
        return runtime.relay.run()

    def run_consumer(handlers: Handlers) -> Coroutine[Any, Any, None]:
        runtime.consumer = ConsumerRunner(
            service=settings.service_name, engine=runtime.engine, producer=runtime.producer,
            bootstrap_servers=settings.kafka,
            topics=[topic_of(p) for p in CONSUMES[settings.service_name]],
            handlers=handlers, tuning=ConsumerTuning.of(settings), key_arrivals=key_arrivals)
        return runtime.consumer.run()

    def run_keys() -> Coroutine[Any, Any, None]:
        # The keys this service needs to read personal fields in events; see leadloop.keyring.
        return KeysConsumer(service=settings.service_name, engine=runtime.engine,
                            bootstrap_servers=settings.kafka,
                            stopping=runtime.stopping, arrivals=key_arrivals,
                            fetch_min_bytes=settings.consumer_fetch_min_bytes,
                            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms).run()

    runtime.supervise("outbox-relay", run_relay)
    if handlers:
        runtime.supervise("consumer", lambda: run_consumer(handlers))
        if settings.service_name != KEY_OWNER:  # the owner issues the keys it would copy
            runtime.supervise("key-feed", run_keys)
    for worker in workers:
        runtime.supervise(worker.__name__, functools.partial(worker, runtime))


async def _stop(runtime: Runtime) -> None:
    """Clean shutdown: stop taking work, finish and commit what is in hand, close connections."""
    runtime.stopping.set()
    if runtime.consumer is not None:
        runtime.consumer.stop()
    if runtime.relay is not None:
        runtime.relay.stop()
    starter, workers = runtime.tasks[0], runtime.tasks[1:]
    starter.cancel()
    _done, pending = await asyncio.wait(workers, timeout=10) if workers else (set(), set())
    for task in pending:
        task.cancel()
    await asyncio.gather(starter, *workers, return_exceptions=True)
    if runtime.kafka_connected:
        await close_producer(runtime.producer)
    await runtime.engine.dispose()


def _ops_router(service: str, handlers: Handlers | None) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request, strict: bool = False) -> JSONResponse:
        """Readiness to serve HTTP: the database answers. Kafka and the consumer are reported
        too, but only `?strict=true` waits for them: the HTTP side writes to the outbox and keeps
        working through a Kafka outage, so a load balancer should keep sending it requests."""
        runtime = runtime_of(request)
        checks = {"database": await _database_ok(runtime), "kafka": await _kafka_ok(runtime)}
        if CONSUMES[service]:
            checks["consumer"] = runtime.consumer is not None and runtime.consumer.running
        checks["background_tasks"] = not runtime.failing_tasks()
        ready = all(checks.values()) if strict else checks["database"]
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", response_class=Response,
                responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json")
    async def asyncapi() -> dict[str, Any]:
        """The AsyncAPI 3 document of what this service publishes and consumes."""
        return asyncapi_document(service, handlers.event_types if handlers else None)

    return router


_CDN = "https://cdn.jsdelivr.net"


def _docs_router(title: str) -> APIRouter:
    """FastAPI's /docs and /redoc pages, with a policy that pins their inline scripts by hash
    (styles stay open: both UIs inject style elements at run time)."""
    router = APIRouter(include_in_schema=False)

    def page(html: HTMLResponse, fonts: bool = False) -> HTMLResponse:
        text = bytes(html.body).decode()
        policy = html_policy(
            scripts=inline_scripts(text), script_sources=[_CDN],
            style_sources=[_CDN, "https://fonts.googleapis.com", "'unsafe-inline'"],
            img_sources=["'self'", "data:", "https://fastapi.tiangolo.com", _CDN],
            connect_sources=["'self'"], font_sources=["https://fonts.gstatic.com"] if fonts
            else [])
        return HTMLResponse(text, headers={"Content-Security-Policy": policy})

    @router.get("/docs")
    async def swagger() -> HTMLResponse:
        return page(get_swagger_ui_html(openapi_url="/openapi.json", title=f"{title} - docs",
                                        oauth2_redirect_url="/docs/oauth2-redirect"))

    @router.get("/docs/oauth2-redirect")
    async def swagger_redirect() -> HTMLResponse:
        return page(get_swagger_ui_oauth2_redirect_html())

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return page(get_redoc_html(openapi_url="/openapi.json", title=f"{title} - ReDoc"),
                    fonts=True)

    return router


async def _database_ok(runtime: Runtime) -> bool:
    try:
        async with asyncio.timeout(2):
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means not ready
        return False


async def _kafka_ok(runtime: Runtime) -> bool:
    if not runtime.kafka_connected:
        return False
    try:
        async with asyncio.timeout(2):
            await runtime.producer.client.fetch_all_metadata()
        return True
    except Exception:
        return False
