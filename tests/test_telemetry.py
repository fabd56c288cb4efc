"""Traces and metrics (the otel extra): what an operator's collector and Prometheus get.

Most assertions use the SDK's in-memory exporter and reader, installed once per test process (OpenTelemetry allows
one provider per process); the end-to-end tests run real oas-mcp processes that export over OTLP/HTTP to a loopback
receiver, and serve /metrics to a Prometheus scrape.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from mcp import Client
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import Counter, Histogram
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind
from prometheus_client.parser import text_string_to_metric_families

from oas_mcp.observability.telemetry import install, instrument, start
from oas_mcp.sandbox import DEMO2_API_KEY, DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, Fault, Sandbox
from oas_mcp.server.server import Server

from http_clients import session
from support import (
    BASE_ENV,
    DOCS,
    NO_CREDENTIALS,
    PYTHON,
    Running,
    running,
    server_for,
    stopped_by_signal,
    structured,
)

pytestmark = pytest.mark.anyio

KEY = "Canary00.KeyKeyKeyKeyKeyKeyKeyKeyKeyKey000"
PASSWORD = "canary-password-7f3a9c"
ORGANISATION = "Canary Secret Holdings"
LOGIN_ONLY = {**NO_CREDENTIALS, "username": DEMO_USERNAME, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@dataclass
class Recorded:
    """What the SDK records in this process: finished spans, and metrics since the last read."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def points(self) -> dict[tuple[str, frozenset[tuple[str, Any]]], Any]:
        """Each metric's data points since the last read, by name and attributes (a histogram's: its count)."""
        data = self.reader.get_metrics_data()
        found: dict[tuple[str, frozenset[tuple[str, Any]]], Any] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "count", getattr(point, "value", None))  # a histogram's: its count
                        found[metric.name, frozenset((point.attributes or {}).items())] = value
        return found


@pytest.fixture(scope="session")
def recorded() -> Recorded:
    delta: dict[type, AggregationTemporality] = {
        Counter: AggregationTemporality.DELTA,
        Histogram: AggregationTemporality.DELTA,
    }
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader(preferred_temporality=delta)
    install([SimpleSpanProcessor(spans)], [reader])
    return Recorded(spans, reader)


@pytest.fixture
def telemetry(recorded: Recorded) -> Recorded:
    """The SDK's records, from this test on only."""
    recorded.spans.clear()
    recorded.reader.get_metrics_data()
    return recorded


def instrumented(sandbox: Sandbox, **values: Any) -> Server:
    server = server_for(sandbox, **values)
    instrument(server)
    return server


def tool_span(spans: tuple[ReadableSpan, ...], tool: str) -> ReadableSpan:
    """The MCP SDK's server span of the first call of ``tool``."""
    return next(s for s in spans if s.kind is SpanKind.SERVER and s.name == f"tools/call {tool}")


def ids(span: ReadableSpan) -> SpanContext:
    context = span.context
    assert isinstance(context, SpanContext)
    return context


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == ids(parent).span_id]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_listing_of_three_pages_is_the_tool_span_with_a_child_span_per_request(telemetry: Recorded) -> None:
    sandbox = Sandbox(page_size=2)  # the demo user's 5 organisations: 3 pages
    async with Client(instrumented(sandbox)) as client:
        assert structured(await client.call_tool("list_organisations", {}))["returned"] == 5

    spans = telemetry.spans.get_finished_spans()
    tool = tool_span(spans, "list_organisations")
    requests = children(spans, tool)
    assert attributes(tool)["gen_ai.tool.name"] == "list_organisations"
    assert [(span.name, span.kind) for span in requests] == [("GET /api/organisations/", SpanKind.CLIENT)] * 3
    assert {ids(span).trace_id for span in requests} == {ids(tool).trace_id}
    for span in requests:
        recorded = attributes(span)
        assert recorded.pop("http.response.body.size") > 0
        assert recorded == {
            "http.request.method": "GET",
            "url.template": "/api/organisations/",
            "http.request.resend_count": 0,
            "http.response.status_code": 200,
            "server.address": "sandbox.oas.invalid",
            "server.port": 80,
        }


def canary_sandbox() -> Sandbox:
    sandbox = Sandbox(auth="either", page_size=2)
    user = sandbox.store.add_user("canary", "canary@example.test", PASSWORD, KEY)
    for number in range(5):
        sandbox.store.add_organisation(user, f"{ORGANISATION} {number}", "USD", ["USD"])
    return sandbox


def everything_recorded(spans: tuple[ReadableSpan, ...]) -> str:
    """Every name, attribute, event, status and resource of ``spans``, as text."""
    parts = []
    for span in spans:
        parts += [span.name, str(span.status.description), json.dumps(dict(span.resource.attributes))]
        parts += [f"{key}={value!s}" for key, value in attributes(span).items()]
        parts += [f"{event.name} {dict(event.attributes or {})}" for event in span.events]
    return "\n".join(parts)


async def test_no_secret_query_or_organisation_data_reaches_a_span(telemetry: Recorded) -> None:
    credentials = {"api_key": KEY, "username": "canary", "email": "canary@example.test", "password": PASSWORD}
    sandbox = canary_sandbox()
    sandbox.inject(Fault("GET /api/organisations/?page=2", status=429, headers={"Retry-After": "0"}))
    async with Client(instrumented(sandbox, **credentials)) as client:
        await client.call_tool("login", {})
        organisations = structured(await client.call_tool("list_organisations", {}))["organisations"]
        await client.call_tool("activate_organisation", {"organisation_id": organisations[0]["id"]})
        await client.call_tool("create_organisation", {"name": f"{ORGANISATION} new", "base_currency": "EUR"})
        await client.call_tool("list_organisations", {"name_contains": KEY})
    text = everything_recorded(telemetry.spans.get_finished_spans())

    assert "POST /api/organisations/{id}/make_active/" in text  # it was all recorded
    assert "oas_mcp.retry" in text
    for canary in (KEY, PASSWORD, ORGANISATION, "?", "page=", f"/{organisations[0]['id']}/"):
        assert canary not in text
    assert not JWT.search(text)


async def test_retries_and_sign_ins_are_events_on_the_tool_span_and_counted(telemetry: Recorded) -> None:
    sandbox = Sandbox(auth="bearer", page_size=2)
    sandbox.inject(Fault("GET /api/organisations/?page=3", status=429, headers={"Retry-After": "0"}))
    async with Client(instrumented(sandbox, **LOGIN_ONLY)) as client:
        structured(await client.call_tool("list_organisations", {}))  # signs in first
        sandbox.store.revoke_tokens()
        structured(await client.call_tool("hello", {}))  # 401: signs in again
    async with Client(instrumented(Sandbox(), **{**LOGIN_ONLY, "password": "wrong"})) as client:
        await client.call_tool("hello", {})

    spans = telemetry.spans.get_finished_spans()
    listing, hello = (tool_span(spans, name) for name in ("list_organisations", "hello"))
    assert [(event.name, dict(event.attributes or {})) for event in listing.events] == [
        ("oas_mcp.sign_in", {"kind": "first", "outcome": "ok"}),
        ("oas_mcp.retry", {"url.template": "/api/organisations/", "retry": 1, "wait_s": 0.0, "reason": "429"}),
    ]
    assert [(event.name, dict(event.attributes or {})) for event in hello.events][-1:] == [
        ("oas_mcp.sign_in", {"kind": "renewal", "outcome": "ok"})
    ]
    resent = [span for span in children(spans, listing) if attributes(span)["http.request.resend_count"] == 1]
    assert [attributes(span)["http.response.status_code"] for span in resent] == [200]
    points = telemetry.points()
    assert (
        points[
            "oas_mcp.api.retries", frozenset({"method": "GET", "route": "/api/organisations/", "reason": "429"}.items())
        ]
        == 1
    )
    assert points["oas_mcp.api.sign_ins", frozenset({"kind": "first", "outcome": "ok"}.items())] == 1
    assert points["oas_mcp.api.sign_ins", frozenset({"kind": "renewal", "outcome": "ok"}.items())] == 1
    assert points["oas_mcp.api.sign_ins", frozenset({"kind": "first", "outcome": "refused"}.items())] == 1


async def test_tool_calls_and_requests_are_counted_by_outcome_and_status(telemetry: Recorded) -> None:
    sandbox = Sandbox(page_size=2)
    sandbox.inject(Fault("GET /helloworld", drop="before"))  # never reached the API: tried again at once
    async with Client(instrumented(sandbox)) as client:
        await client.call_tool("hello", {})
        await client.call_tool("list_organisations", {})
        await client.call_tool("activate_organisation", {"organisation_id": 999})
        await client.call_tool("activate_organisation", {"organisation_id": "many"})
        await client.call_tool("no_such_tool", {"secret": KEY})

    points = telemetry.points()
    tool = "oas_mcp.tool.duration"
    assert points[tool, frozenset({"tool": "list_organisations", "outcome": "ok"}.items())] == 1
    assert points[tool, frozenset({"tool": "activate_organisation", "outcome": "error"}.items())] == 2
    assert points[tool, frozenset({"tool": "unknown", "outcome": "error"}.items())] == 1
    request = "oas_mcp.api.request.duration"
    assert points[request, frozenset({"method": "GET", "route": "/api/organisations/", "status": "200"}.items())] == 3
    activate = {"method": "POST", "route": "/api/organisations/{id}/make_active/", "status": "404"}
    assert points[request, frozenset(activate.items())] == 1
    assert points[request, frozenset({"method": "GET", "route": "/helloworld", "status": "connection"}.items())] == 1
    assert points[request, frozenset({"method": "GET", "route": "/helloworld", "status": "200"}.items())] == 1


# -- real processes -----------------------------------------------------------------------------------------------


@dataclass
class Collector:
    """A loopback OTLP/HTTP receiver: what each POST to /v1/traces and /v1/metrics carried, decoded."""

    url: str
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


@pytest.fixture
def collector() -> Iterator[Collector]:
    received: dict[str, Collector] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            sink = received["collector"]
            sink.raw.append(body)
            if self.path == "/v1/traces":
                sink.traces.append(ExportTraceServiceRequest.FromString(body))
            elif self.path == "/v1/metrics":
                sink.metrics.append(ExportMetricsServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    received["collector"] = Collector(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received["collector"]
    finally:
        server.shutdown()
        server.server_close()


def exported_spans(collector: Collector) -> list[Any]:
    return [
        span
        for request in collector.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


@pytest.mark.slow  # a server process with the OpenTelemetry SDK loaded: .ci/run runs it after the README's command
async def test_a_server_exports_its_spans_over_otlp_http_and_its_json_logs_carry_their_ids(
    collector: Collector,
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "oas-mcp-test", "OAS_LOG_FORMAT": "json"}
    with running("--sandbox", "--transport", "http", **env) as server:
        async with session(server.mcp, token=None, mode="legacy") as client:
            structured(await client.call_tool("list_organisations", {}))
        logs = [json.loads(line) for line in server.stderr.read_text().splitlines()]
    # The process has stopped: it sent what it had recorded on its way out.

    spans = exported_spans(collector)
    [tool] = [span for span in spans if span.name == "tools/call list_organisations"]
    requests = [span for span in spans if span.parent_span_id == tool.span_id]
    assert [span.name for span in requests] == ["GET /api/organisations/"] * 3
    assert {span.trace_id for span in requests} == {tool.trace_id}
    service = {a.key: a.value.string_value for r in collector.traces for a in r.resource_spans[0].resource.attributes}
    assert service["service.name"] == "oas-mcp-test"
    assert DEMO_API_KEY.encode() not in b"".join(collector.raw)
    points = [
        point
        for request in collector.metrics
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "oas_mcp.tool.duration"
        for point in metric.histogram.data_points
    ]
    assert [(point.count, {a.key: a.value.string_value for a in point.attributes}) for point in points][-1:] == [
        (1, {"tool": "list_organisations", "outcome": "ok"})
    ]
    [listed] = [line for line in logs if line["message"].startswith("listed")]
    assert (listed["trace_id"], listed["span_id"]) == (tool.trace_id.hex(), tool.span_id.hex())


BATCHED = {"OTEL_BSP_SCHEDULE_DELAY": "600000", "OTEL_METRIC_EXPORT_INTERVAL": "600000"}
"""Spans and metrics are sent every 10 minutes: until then, only a flush sends them."""


def interrupted_after_a_tool_call(stop: signal.Signals, **env: str) -> tuple[int, float, str]:
    """A stdio oas-mcp on the sandbox, with ``env``, calls hello for its client and is then sent ``stop``:
    its exit code, the seconds it took to exit, and what it wrote on stderr."""
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    return stopped_by_signal(
        stop,
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "hello", "arguments": {}}},
        **BATCHED,
        **env,
    )


@pytest.mark.slow  # a server process with the OpenTelemetry SDK loaded: .ci/run runs it after the README's command
def test_ctrl_c_on_stdio_sends_the_spans_and_metrics_still_batched(collector: Collector) -> None:
    code, _, stderr = interrupted_after_a_tool_call(signal.SIGINT, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)

    assert code == 130
    assert "tools/call hello" in [span.name for span in exported_spans(collector)]
    metrics = {metric.name for request in collector.metrics for metric in metric_list(request)}
    assert "oas_mcp.tool.duration" in metrics
    assert "is lost" not in stderr


@pytest.mark.slow  # a server process with the OpenTelemetry SDK loaded: .ci/run runs it after the README's command
def test_sigterm_on_stdio_stops_within_its_bound_when_the_collector_never_answers() -> None:
    """As a client stops its server, and the collector is stuck (before, with telemetry on, it never stopped)."""
    with socket.socket() as hung:  # takes connections (the kernel does), reads nothing, answers nothing
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        endpoint = f"http://127.0.0.1:{hung.getsockname()[1]}"
        code, took, stderr = interrupted_after_a_tool_call(
            signal.SIGTERM, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="30"
        )

    assert code == 143
    assert took < 10  # 2 s, and generous on a loaded machine; unbounded, the exporter would wait 30 s
    assert "oas-mcp: telemetry not sent within 2 s is lost (is the collector up?)" in stderr


def metric_list(request: ExportMetricsServiceRequest) -> list[Any]:
    return [
        metric for resource in request.resource_metrics for scope in resource.scope_metrics for metric in scope.metrics
    ]


def scrape(server: Running) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus's view: GET /metrics at the address the server logged, parsed by prometheus_client."""
    url = re.search(r"Prometheus metrics: (http://\S+/metrics)", server.stderr.read_text())
    assert url, server.output()
    text = httpx2.get(url.group(1), timeout=30).raise_for_status().text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.slow  # a server process with the OpenTelemetry SDK loaded: .ci/run runs it after the README's command
async def test_prometheus_scrapes_tool_calls_requests_sessions_and_cached_clients() -> None:
    env = {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"}
    with running("--sandbox", "--transport", "http", "--per-request-credentials", **env) as server:
        async with (
            session(server.mcp, token=None, api_key=DEMO_API_KEY, mode="legacy") as alice,
            session(server.mcp, token=None, api_key=DEMO2_API_KEY, mode="legacy") as bob,
        ):
            await alice.call_tool("list_organisations", {})
            await alice.call_tool("activate_organisation", {"organisation_id": 999})
            await bob.call_tool("hello", {})
            metrics = scrape(server)

    def sample(name: str, **labels: str) -> float:
        return metrics[name, frozenset(labels.items())]

    assert sample("oas_mcp_tool_duration_seconds_count", tool="list_organisations", outcome="ok") == 1
    assert sample("oas_mcp_tool_duration_seconds_count", tool="activate_organisation", outcome="error") == 1
    assert sample("oas_mcp_tool_duration_seconds_count", tool="hello", outcome="ok") == 1
    pages = {"method": "GET", "route": "/api/organisations/", "status": "200"}
    assert sample("oas_mcp_api_request_duration_seconds_count", **pages) == 3
    missing = {"method": "POST", "route": "/api/organisations/{id}/make_active/", "status": "404"}
    assert sample("oas_mcp_api_request_duration_seconds_count", **missing) == 1
    assert sample("oas_mcp_sessions_open") == 2
    assert sample("oas_mcp_clients_cached") == 2
    documented = re.findall(r"^\| `(oas_mcp_\w+)` \|", DOCS["docs/operating.md"], re.M)  # the table of metrics
    ours = {name for name, _ in metrics if name.startswith("oas_mcp_")}
    assert {name for name in ours if not name.startswith(tuple(documented))} == set()


# -- what the environment asks for --------------------------------------------------------------------------------


def test_nothing_is_set_up_unless_otel_variables_ask() -> None:
    assert start({}) is None
    assert start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}) is None
    assert start({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}) is None


@pytest.mark.parametrize(
    ("environ", "warning"),
    [
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "no traces exported: OTEL_EXPORTER_OTLP_PROTOCOL=grpc, but oas-mcp sends OTLP over HTTP only",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "zipkin"},
            "no traces exported through OTEL_TRACES_EXPORTER=zipkin: oas-mcp offers otlp",
        ),
        (
            {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0"},
            "no Prometheus metrics: OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0 is not a loopback address",
        ),
        (
            {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "lots"},
            "no Prometheus metrics: OTEL_EXPORTER_PROMETHEUS_PORT=lots is not a port number",
        ),
    ],
)
def test_what_cannot_be_set_up_is_one_warning_and_the_server_goes_on(
    environ: dict[str, str], warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert start(environ) is None
    assert [record.getMessage()[: len(warning)] for record in caplog.records] == [warning]


def test_without_the_otel_extra_otel_variables_get_one_warning_and_serving_goes_on() -> None:
    without_the_sdk = "import sys; sys.modules['opentelemetry.sdk'] = None; from oas_mcp.cli.main import main; main()"
    env = {**BASE_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OAS_LOG_FORMAT": "json"}

    served = subprocess.run(
        [PYTHON, "-c", without_the_sdk, "--sandbox"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert served.returncode == 0
    [line] = [json.loads(line) for line in served.stderr.decode().splitlines()]
    assert line["level"] == "WARNING"
    assert line["message"].startswith("OTEL_* asks for telemetry, but the otel extra is not installed")
    assert line["message"].endswith(": pip install 'oas-mcp[otel]'")
