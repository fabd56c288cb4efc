"""Traces and metrics for the people who run oas-mcp, through OpenTelemetry, set up from the standard ``OTEL_*``
environment variables when the otel extra is installed (``pip install 'oas-mcp[otel]'``).

- Traces (``OTEL_TRACES_EXPORTER=otlp``, or just ``OTEL_EXPORTER_OTLP_ENDPOINT``): the MCP SDK's span per MCP
  request (``tools/call list_organisations``), and under it the client's span per OAS API request (see
  :mod:`oas_mcp.client._telemetry`), sent over OTLP/HTTP.
- Metrics (``OTEL_METRICS_EXPORTER=prometheus`` and/or ``otlp``): the client's (API requests, retries, sign-ins)
  and the server's own from :func:`instrument` (tool calls, open sessions, cached per-request clients); Prometheus
  text at ``http://127.0.0.1:9464/metrics`` (``OTEL_EXPORTER_PROMETHEUS_HOST``/``_PORT``, loopback only).

When no variable asks for either, :func:`start` imports nothing and returns None. A telemetry problem (the extra
missing, an exporter it does not offer, a port in use) is one warning at start-up: it never stops the server.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult
from opentelemetry import metrics, trace
from opentelemetry.metrics import Observation, get_meter
from pydantic import ValidationError

from oas_mcp import DURATION_BUCKETS, __version__
from oas_mcp.redact import remember
from oas_mcp.server._sdk import open_sessions, tool_input_schema
from oas_mcp.settings import is_loopback

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from opentelemetry.metrics import Histogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from oas_mcp.server.server import Server
    from oas_mcp.server.state import State

logger = logging.getLogger("oas_mcp.observability.telemetry")

EXTRA = "pip install 'oas-mcp[otel]'"
PROMETHEUS_HOST = "127.0.0.1"
PROMETHEUS_PORT = 9464
"""Where Prometheus scrapes ``/metrics`` unless ``OTEL_EXPORTER_PROMETHEUS_HOST``/``_PORT`` say otherwise."""
_OFFERED = {"traces": ("otlp",), "metrics": ("otlp", "prometheus")}
_HTTP = "http/protobuf"


@dataclass(frozen=True)
class Wanted:
    """The exporters the environment asks for, per signal (``otlp``, ``prometheus``)."""

    traces: tuple[str, ...]
    metrics: tuple[str, ...]

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Wanted | None:
        """What ``environ`` asks for, as OpenTelemetry's variables say (an exporter variable, else ``otlp`` when an
        OTLP endpoint is set); None when it asks for nothing, or ``OTEL_SDK_DISABLED`` is true."""
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        traces, metrics = (_exporters(environ, signal) for signal in ("traces", "metrics"))
        return cls(traces, metrics) if traces or metrics else None


def _exporters(environ: Mapping[str, str], signal: str) -> tuple[str, ...]:
    named = environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower()
    if named:
        return tuple(name for part in named.split(",") if (name := part.strip()) and name != "none")
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    return ("otlp",) if any(environ.get(name, "").strip() for name in endpoints) else ()


@dataclass(frozen=True)
class Telemetry:
    """Traces, metrics or both are on (the SDK's ``providers`` are the process's own from now on); ``metrics``
    says whether metrics are."""

    metrics: bool
    providers: tuple[TracerProvider | MeterProvider, ...]

    def instrument(self, server: Server) -> None:
        """The server's own metrics, when metrics are on (see :func:`instrument`)."""
        if self.metrics:
            instrument(server)

    def flush(self, seconds: float) -> bool:
        """Send the spans and metrics still batched, taking at most ``seconds`` (a collector that does not answer
        holds the caller up no longer): whether all were sent in time. For a process that is to end without
        Python's exit hooks, which would send them."""
        sent: list[bool] = []

        def send() -> None:
            deadline = time.monotonic() + seconds
            for provider in self.providers:
                sent.append(provider.force_flush(timeout_millis=int(max(0.0, deadline - time.monotonic()) * 1000)))

        sending = threading.Thread(target=send, name="oas-mcp telemetry flush", daemon=True)
        sending.start()
        sending.join(seconds)
        return len(sent) == len(self.providers) and all(sent)  # each flushed, in time


def start(environ: Mapping[str, str] = os.environ) -> Telemetry | None:
    """Set up what the ``OTEL_*`` variables in ``environ`` ask for; None when they ask for nothing, or nothing can be
    set up (each reason logged as a warning)."""
    wanted = Wanted.of(environ)
    if wanted is None:
        return None
    try:
        processors = [processor for name in wanted.traces if (processor := _span_processor(name, environ))]
        readers = [reader for name in wanted.metrics if (reader := _metric_reader(name, environ))]
    except ImportError as missing:
        logger.warning("OTEL_* asks for telemetry, but the otel extra is not installed (%s): %s", missing.name, EXTRA)
        return None
    if not processors and not readers:
        return None
    telemetry = install(processors, readers)
    _exit_through_python_on_sigterm()
    return telemetry


def install(span_processors: Sequence[SpanProcessor], metric_readers: Sequence[MetricReader]) -> Telemetry:
    """Make the SDK's tracer provider (with ``span_processors``) and meter provider (with ``metric_readers``) the
    process's own, each only when given some. OpenTelemetry allows this once per process."""
    # The otel extra: imported only when OTEL_* asks for telemetry (start() says when it is missing).
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    resource = Resource.create({SERVICE_VERSION: __version__})  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES too
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "oas-mcp"}))
    providers: list[TracerProvider | MeterProvider] = []
    if span_processors:
        tracer_provider = TracerProvider(resource=resource)
        for processor in span_processors:
            tracer_provider.add_span_processor(processor)
        trace.set_tracer_provider(tracer_provider)
        providers.append(tracer_provider)
    if metric_readers:
        meter_provider = MeterProvider(metric_readers=metric_readers, resource=resource)
        metrics.set_meter_provider(meter_provider)
        providers.append(meter_provider)
    return Telemetry(metrics=bool(metric_readers), providers=tuple(providers))


def _exit_through_python_on_sigterm() -> None:
    """On SIGTERM, exit as on Ctrl-C, through Python, so that the providers' exit hooks send what they still hold
    (uvicorn hands a SIGTERM it caught to this handler once it has shut down). Only when nothing else handles it."""

    def leave(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, leave)


def _span_processor(name: str, environ: Mapping[str, str]) -> SpanProcessor | None:
    if not _offered("traces", name) or not _over_http("traces", environ):
        return None
    # The otel extra, as in install().
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    logger.info("exports traces over OTLP/HTTP to %s", _endpoint("traces", environ))
    return BatchSpanProcessor(OTLPSpanExporter())


def _metric_reader(name: str, environ: Mapping[str, str]) -> MetricReader | None:
    if not _offered("metrics", name):
        return None
    if name == "prometheus":
        return _prometheus(environ)
    if not _over_http("metrics", environ):
        return None
    # The otel extra, as in install().
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415

    logger.info("exports metrics over OTLP/HTTP to %s", _endpoint("metrics", environ))
    return PeriodicExportingMetricReader(OTLPMetricExporter())


def _prometheus(environ: Mapping[str, str]) -> MetricReader | None:
    """A reader that Prometheus scrapes at ``http://HOST:PORT/metrics``, on loopback only; None when it cannot be."""
    # The otel extra, as in install().
    from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
    from prometheus_client import start_http_server  # noqa: PLC0415

    host = environ.get("OTEL_EXPORTER_PROMETHEUS_HOST", "").strip() or PROMETHEUS_HOST
    port_text = environ.get("OTEL_EXPORTER_PROMETHEUS_PORT", "").strip() or str(PROMETHEUS_PORT)
    if not is_loopback(host):
        logger.warning(
            "no Prometheus metrics: OTEL_EXPORTER_PROMETHEUS_HOST=%s is not a loopback address, and /metrics has no "
            "authentication; scrape it on the host (or through a sidecar), or push metrics with "
            "OTEL_METRICS_EXPORTER=otlp to a collector",
            host,
        )
        return None
    if not port_text.isdigit() or int(port_text) > 65535:
        logger.warning("no Prometheus metrics: OTEL_EXPORTER_PROMETHEUS_PORT=%s is not a port number", port_text)
        return None
    try:
        server, _ = start_http_server(int(port_text), addr=host)
    except OSError as exc:
        logger.warning("no Prometheus metrics: cannot listen on %s port %s: %s", host, port_text, exc.strerror or exc)
        return None
    where = f"[{host}]" if ":" in host else host
    logger.info("Prometheus metrics: http://%s:%d/metrics", where, server.server_port)
    return PrometheusMetricReader(scope_info_enabled=False)  # no otel_scope_* labels on every series


def _offered(signal: str, name: str) -> bool:
    if name in _OFFERED[signal]:
        return True
    logger.warning(
        "no %s exported through OTEL_%s_EXPORTER=%s: oas-mcp offers %s",
        signal,
        signal.upper(),
        name,
        " and ".join(_OFFERED[signal]),
    )
    return False


def _over_http(signal: str, environ: Mapping[str, str]) -> bool:
    """Whether OTLP goes over HTTP with protobuf, the one protocol oas-mcp sends; a warning when not. The OTLP
    headers (``OTEL_EXPORTER_OTLP_HEADERS``: often a vendor's API key) are masked in logs from now on."""
    for variable in ("OTEL_EXPORTER_OTLP_HEADERS", f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"):
        remember(*(unquote(pair.partition("=")[2]).strip() for pair in environ.get(variable, "").split(",")))
    variable = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    if variable not in environ:
        variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
    protocol = environ.get(variable, _HTTP).strip().lower()
    if protocol == _HTTP:
        return True
    logger.warning(
        "no %s exported: %s=%s, but oas-mcp sends OTLP over HTTP only; set it to %s, with the collector's HTTP "
        "endpoint (port 4318)",
        signal,
        variable,
        protocol,
        _HTTP,
    )
    return False


def _endpoint(signal: str, environ: Mapping[str, str]) -> str:
    """Where OTLP ``signal`` goes, as the exporter works it out, without a user, password or query."""
    url = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if not url:
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
        url = f"{base.rstrip('/')}/v1/{signal}"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


# -- the server's own metrics -------------------------------------------------------------------------------------


def instrument(server: Server) -> None:
    """Record ``server``'s tool calls (by tool and outcome, with their durations), its open MCP sessions over HTTP,
    and how many per-request clients it keeps."""
    meter = get_meter("oas_mcp", __version__)
    calls = ToolCalls(
        server,
        meter.create_histogram(
            "oas_mcp.tool.duration",
            unit="s",
            description="Tool calls and how long each took, by tool and outcome (ok, error, refused, failed).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
    )
    server.middleware.append(calls)
    meter.create_observable_gauge(
        "oas_mcp.sessions.open",
        [lambda _: _observe(_open_sessions(server))],
        unit="{session}",
        description="MCP sessions open over HTTP (none in stateless mode, nor over stdio).",
    )
    meter.create_observable_gauge(
        "oas_mcp.clients.cached",
        [lambda _: _observe(calls.state.cached_clients if calls.state is not None else 0)],
        unit="{client}",
        description="Per-request OAS clients kept, one per recent API key (per-request credentials only).",
    )


def _observe(value: int | None) -> Iterable[Observation]:
    return [] if value is None else [Observation(value)]


def _open_sessions(server: Server) -> int | None:
    """The MCP sessions open over HTTP; None when the server does not serve HTTP."""
    try:
        manager = server.session_manager
    except RuntimeError:  # no HTTP app was made: stdio
        return None
    return len(open_sessions(manager))  # the SDK's own count, which max_sessions limits


class ToolCalls:
    """MCP middleware: each tool call's duration, by tool (``unknown`` for a name the server has no tool of) and
    outcome: ``ok``, ``error`` (a tool error the model reads), ``refused`` (an MCP error: bad arguments, an unknown
    tool) or ``failed`` (cancelled, or a crash). It also keeps the server's :class:`State`, for the gauge."""

    def __init__(self, server: Server, durations: Histogram) -> None:
        self._server = server
        self._durations = durations
        self.state: State | None = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        self.state = ctx.lifespan_context
        if ctx.method != "tools/call":
            return await call_next(ctx)
        name = ctx.params.get("name") if ctx.params else None
        known = isinstance(name, str) and tool_input_schema(self._server, name) is not None
        tool = name if known and isinstance(name, str) else "unknown"
        outcome = "failed"
        started = time.perf_counter()
        try:
            result = await call_next(ctx)
            outcome = "error" if _is_error(result) else "ok"
            return result
        except Exception as error:
            outcome = "refused" if _refused(error) else outcome
            raise
        finally:
            self._durations.record(time.perf_counter() - started, {"tool": tool, "outcome": outcome})


def _is_error(result: object) -> bool:
    """Whether a tools/call result reaches the client as a tool error (as the MCP SDK's own span tells it)."""
    if isinstance(result, CallToolResult):
        return result.is_error is True
    return isinstance(result, dict) and result.get("isError") is True


def _refused(error: Exception) -> bool:
    return isinstance(error, MCPError | ValidationError)
