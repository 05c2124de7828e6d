"""`tracelog grafana`: provisioning that matches the lines, exemplars and metrics written."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import tracelog._fields
import tracelog.metrics
from tests._prometheus import Prometheus, binary, get, wait_for
from tests.conftest import LIBRARIES, Captured, emit
from tests.test_metrics_middleware import Route, asgi_scope, run_asgi
from tests.test_prometheus_e2e import App
from tracelog import grafana
from tracelog.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "grafana"
PROFILES = tuple(tracelog._fields.PROFILES)  # a new profile must be handled here too
SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# CI sets it (and installs node): the JavaScript regex test then fails instead of skipping.
REQUIRE_NODE = "TRACELOG_REQUIRE_NODE"


def grafana_expand(value: Any) -> Any:
    """What Grafana makes of a provisioning value: ``$$`` is ``$``; any other ``$`` is expanded.

    Fails the test when a lone ``$`` is left, which Grafana would replace with
    an environment variable (or nothing).
    """
    if isinstance(value, str):
        parts = value.split("$$")
        assert not any("$" in part for part in parts), f"unescaped $ in {value!r}"
        return "$".join(parts)
    if isinstance(value, dict):
        return {key: grafana_expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [grafana_expand(item) for item in value]
    return value


def metrics_link_query(query: str, tags: list[dict[str, str]], attributes: dict[str, str]) -> str:
    """The PromQL of a "Metrics for this span" link, built as Grafana's trace view builds it.

    Grafana replaces the literal ``$__tags`` (and only that spelling) with
    ``label="value"`` for each configured tag the span has; the rest of the
    query reaches Prometheus as written.
    """
    labels = [
        f'{tag.get("value") or tag["key"]}="{attributes[tag["key"]]}"'
        for tag in tags
        if attributes.get(tag["key"])
    ]
    if tags and "$__tags" in query:
        query = query.replace("$__tags", ", ".join(labels))
    return query


def datasources(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The provisioned data sources by type, as Grafana reads them."""
    document = grafana_expand(yaml.safe_load(files[grafana.DATASOURCES_FILE]))
    assert document["apiVersion"] == 1
    return {source["type"]: source for source in document["datasources"]}


def referenced_uids(node: Any) -> list[str]:
    """Every data source uid a provisioning or dashboard model refers to."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasourceUid":
                found.append(value)
            elif key == "datasource" and isinstance(value, dict):
                found.append(value["uid"])
            else:
                found.extend(referenced_uids(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(referenced_uids(item))
    return found


yaml_scalars = st.none() | st.booleans() | st.integers() | st.text()
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


class TestYaml:
    """The provisioning YAML is written as JSON by the standard library (no emitter of our own)."""

    @given(yaml_values)
    def test_round_trips_through_pyyaml_and_json(self, value: Any) -> None:
        """Whatever it writes, PyYAML reads back as the same value, and so does json."""
        text = grafana._yaml_file(["# a header", "# of two lines"], {"v": value})
        expected = {"v": grafana._escape_env(value)}  # "$" doubled for Grafana's ${VAR}
        assert yaml.safe_load(text) == expected
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        assert json.loads(body) == expected

    def test_strings_yaml_would_misread_stay_strings(self) -> None:
        """Booleans, numbers, nulls, indicators, line separators and astral characters."""
        value = {
            "plain": "tracelog",
            "words": ["yes", "No", "on", "OFF", "y", "null", "~", ""],
            "numbers": ["123", "0x1f", "1e3", ".inf", "12:30", "2026-11-23"],
            "indicators": ["- a", "? b", "a: b", "#c", "&x", "*x", "!t", "|", ">", "@", "`"],
            "breaks": "a\nb\r\tc\x85d\u2028e\u2029f\ufeffg\x7fh\x00",
            "quotes": "'\"\\",
            "astral": "\U0001f600",
            "longest key": {"k" * 1022: "v"},
        }
        text = grafana._yaml_file(["# h"], value)
        assert yaml.safe_load(text) == value
        assert '"plain": "tracelog"' in text
        with pytest.raises(ValueError, match="longer than the 1024 characters"):
            grafana._yaml_file(["# h"], {"outer": {"k" * 1023: "v"}})


class TestProvisioning:
    """The files `tracelog.grafana.provisioning` returns."""

    def test_files_parse_and_every_uid_exists(self) -> None:
        """YAML and JSON parse; every uid referenced anywhere is a provisioned data source."""
        files = grafana.provisioning()
        assert sorted(files) == sorted(
            [grafana.DATASOURCES_FILE, grafana.PROVIDER_FILE, grafana.DASHBOARD_FILE]
        )
        sources = datasources(files)
        uids = {source["uid"] for source in sources.values()}
        assert uids == {grafana.PROMETHEUS_UID, grafana.TEMPO_UID, grafana.LOKI_UID}
        dashboard = json.loads(files[grafana.DASHBOARD_FILE])
        references = referenced_uids(list(sources.values())) + referenced_uids(dashboard)
        assert set(references) <= uids
        # The walk found each kind of link: exemplars, derived field, trace to logs and metrics.
        assert set(referenced_uids(list(sources.values()))) == uids
        assert set(referenced_uids(dashboard)) == {grafana.PROMETHEUS_UID}
        provider = yaml.safe_load(files[grafana.PROVIDER_FILE])
        assert provider["providers"][0]["options"]["path"] == grafana.DEFAULT_DASHBOARDS_PATH

    def test_links_as_grafana_reads_them(self) -> None:
        """After Grafana's $-expansion the links hold Grafana's own variables, intact."""
        sources = datasources(grafana.provisioning())
        (derived,) = sources["loki"]["jsonData"]["derivedFields"]
        assert derived == {
            "name": "TraceID",
            "matcherType": "regex",
            "matcherRegex": grafana.trace_id_pattern("otel"),
            "datasourceUid": grafana.TEMPO_UID,
            "url": "${__value.raw}",
            "urlDisplayLabel": "Trace",
        }
        tempo = sources["tempo"]["jsonData"]
        assert tempo["tracesToLogsV2"] == {
            "datasourceUid": grafana.LOKI_UID,
            "tags": [{"key": "service.name", "value": grafana.LOKI_SERVICE_LABEL}],
            "filterByTraceID": True,
            "filterBySpanID": False,
            "spanStartTimeShift": "-5m",
            "spanEndTimeShift": "5m",
        }
        queries = [query["query"] for query in tempo["tracesToMetrics"]["queries"]]
        assert queries == [
            "sum by (route) (rate(http_server_requests_total{$__tags}[5m]))",
            "histogram_quantile(0.99, sum by (le, route)"
            " (rate(http_server_request_duration_seconds_bucket{$__tags}[5m])))",
        ]
        # "Metrics for this span" on a span of service "shop": the scrape job's series.
        links = tempo["tracesToMetrics"]
        assert [
            metrics_link_query(query, links["tags"], {"service.name": "shop"}) for query in queries
        ] == [
            'sum by (route) (rate(http_server_requests_total{job="shop"}[5m]))',
            "histogram_quantile(0.99, sum by (le, route)"
            ' (rate(http_server_request_duration_seconds_bucket{job="shop"}[5m])))',
        ]
        assert sources["prometheus"]["url"] == grafana.DEFAULT_PROMETHEUS_URL

    def test_urls_are_written_as_given(self) -> None:
        """Each URL option lands in its data source, a literal $ in it included."""
        sources = datasources(
            grafana.provisioning(
                prometheus_url="https://prom.example:9443/sub$path",
                tempo_url="http://127.0.0.1:3200",
                loki_url="http://[::1]:3100/",
            )
        )
        urls = {kind: source["url"] for kind, source in sources.items()}
        assert urls == {
            "prometheus": "https://prom.example:9443/sub$path",
            "tempo": "http://127.0.0.1:3200",
            "loki": "http://[::1]:3100/",
        }

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"prometheus_url": "prometheus:9090"}, "prometheus_url .* http:// or https://"),
            ({"tempo_url": "ftp://tempo"}, "tempo_url .* http:// or https://"),
            ({"loki_url": "http://"}, "loki_url .* with a host"),
            ({"loki_url": "http://loki:99999"}, "loki_url .* not a valid URL"),
            ({"loki_url": "http://lo ki"}, "loki_url .* spaces or control"),
            ({"loki_url": "http://loki?x=1"}, "loki_url .* query or a fragment"),
            ({"fields": "json"}, "fields must be one of otel, ecs, datadog, datadog64, gcp"),
            ({"fields": ["otel"]}, "fields must be one of otel, ecs, datadog, datadog64, gcp"),
            ({"dashboards_path": "/a\nb"}, "dashboards_path must be an absolute path"),
            ({"dashboards_path": "dashboards"}, "dashboards_path must be an absolute path"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, Any], message: str) -> None:
        """A bad URL, profile or path raises ValueError saying which option is wrong."""
        with pytest.raises(ValueError, match=message):
            grafana.provisioning(**options)  # type: ignore[arg-type]

    def test_datadog64_states_what_it_cannot_link(self) -> None:
        """datadog64: the decimal ID is shown unlinked and span-to-logs does not filter by it."""
        sources = datasources(grafana.provisioning(fields="datadog64"))
        (derived,) = sources["loki"]["jsonData"]["derivedFields"]
        assert derived == {
            "name": "dd.trace_id",
            "matcherType": "regex",
            "matcherRegex": grafana.trace_id_pattern("datadog64"),
        }
        logs = sources["tempo"]["jsonData"]["tracesToLogsV2"]
        assert (logs["filterByTraceID"], logs["spanStartTimeShift"]) == (False, "-10s")
        (note,) = grafana.limitations("datadog64")
        assert "Tempo cannot look up" in note
        profiles = ("otel", "ecs", "datadog", "gcp")
        assert [grafana.limitations(p) for p in profiles] == [[], [], [], []]

    def test_datadog_links_its_hex_trace_id(self) -> None:
        """Datadog writes a 128-bit trace ID in hex, as ddtrace does: linked to Tempo."""
        sources = datasources(grafana.provisioning(fields="datadog"))
        (derived,) = sources["loki"]["jsonData"]["derivedFields"]
        assert derived["datasourceUid"] == grafana.TEMPO_UID
        assert sources["tempo"]["jsonData"]["tracesToLogsV2"]["filterByTraceID"] is True


class TestExemplarsAndMetrics:
    """The names the files use are the ones tracelog.metrics writes."""

    def scrape(self, registry: CollectorRegistry) -> list[Any]:
        """The registry as Prometheus reads it: OpenMetrics, parsed."""
        return list(text_string_to_metric_families(generate_latest(registry).decode()))

    def test_exemplar_destination_is_the_trace_label(
        self, tracer: tuple[trace.Tracer, InMemorySpanExporter]
    ) -> None:
        """The Prometheus destination is named after the exemplar label holding the trace ID."""
        registry = CollectorRegistry()
        histogram = tracelog.metrics.Histogram("work_seconds", "Work.", registry=registry)
        with tracer[0].start_as_current_span("work") as span:
            histogram.observe(0.2)
            trace_hex = format(span.get_span_context().trace_id, "032x")
        exemplars = [
            sample.exemplar.labels
            for family in self.scrape(registry)
            for sample in family.samples
            if sample.exemplar is not None
        ]
        assert exemplars
        holding_trace = {
            name for labels in exemplars for name, v in labels.items() if v == trace_hex
        }
        sources = datasources(grafana.provisioning())
        destinations = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
        assert [(d["name"], d["datasourceUid"]) for d in destinations] == [
            (holding_trace.pop(), grafana.TEMPO_UID)
        ]
        assert not holding_trace

    def test_dashboard_queries_name_the_middleware_metrics(self) -> None:
        """Every metric and label the dashboard queries is one the ASGI middleware exposes."""
        registry = CollectorRegistry()
        provider = TracerProvider()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope["route"] = Route("/items/{item_id}")
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        traced = OpenTelemetryMiddleware(
            tracelog.metrics.ASGIMiddleware(app, registry=registry), tracer_provider=provider
        )
        run_asgi(traced, asgi_scope("/items/7", traceparent=SAMPLED))
        provider.shutdown()
        exposed: dict[str, set[str]] = {}
        exemplar_labels: set[str] = set()
        for family in self.scrape(registry):
            for sample in family.samples:
                exposed.setdefault(sample.name, set()).update(sample.labels)
                if sample.exemplar is not None:
                    exemplar_labels.update(sample.exemplar.labels)
        dashboard = json.loads(grafana.provisioning()[grafana.DASHBOARD_FILE])
        targets = [t for panel in dashboard["panels"] for t in panel["targets"]]
        variables = [v["definition"] for v in dashboard["templating"]["list"]]
        tempo = datasources(grafana.provisioning())["tempo"]["jsonData"]
        queries = [t["expr"] for t in targets] + variables
        queries += [q["query"] for q in tempo["tracesToMetrics"]["queries"]]
        used = {name for query in queries for name in re.findall(r"\bhttp_server_\w+", query)}
        assert used == {
            "http_server_requests_total",
            "http_server_request_duration_seconds_bucket",
        }
        assert used <= set(exposed)
        labels = set().union(*(exposed[name] for name in used)) | {"job"}  # job: the scrape's
        for query in queries:
            for grouping in re.findall(r"by \(([^)]*)\)", query):
                assert {label.strip() for label in grouping.split(",")} <= labels
            for label in re.findall(r"(\w+)\s*=~", query):
                assert label in labels
        # The latency panel's queries ask Grafana for exemplars; the middleware wrote them.
        latency = [t for t in targets if "histogram_quantile" in t["expr"]]
        assert [t["exemplar"] for t in latency] == [True, True, True]
        assert exemplar_labels == {"trace_id", "span_id"}


# A message that quotes each profile's trace field, as a JSON line would hold it.
DECOY = json.dumps(
    {
        profile.trace_id: "1" * 20 if name == "datadog64" else "e" * 32
        for name, profile in tracelog._fields.PROFILES.items()
    },
    separators=(",", ":"),
)


def trace_lines(
    configured: Callable[..., Captured],
    tracer: tuple[trace.Tracer, InMemorySpanExporter],
    fields: str,
) -> tuple[str, list[str]]:
    """Real lines from stdlib, structlog and loguru inside a real span; and its trace ID.

    Each message quotes every profile's trace field with another ID (escaped in
    the line, so no regex may take it), and each record has an extra ``trace_id``.
    """
    captured = configured(fields=fields, service_name="shop")
    with tracer[0].start_as_current_span("request") as span:
        for library in LIBRARIES:
            emit(library, "info", f"from {library}: {DECOY}", trace_id="f" * 32, n=1)
        trace_hex = format(span.get_span_context().trace_id, "032x")
    emit("stdlib", "info", f"outside any span: {DECOY}")
    lines = captured.text.splitlines()
    assert len(lines) == 4
    return trace_hex, lines


def respaced(line: str) -> str:
    """The same record as another JSON renderer might write it: keys reversed, spaces after ':'."""
    record = json.loads(line)
    return json.dumps(dict(reversed(list(record.items()))), ensure_ascii=False)


def javascript_captures(pattern: str, lines: list[str]) -> list[str | None]:
    """Group 1 of ``line.match(pattern)`` for each line, as Grafana's frontend computes it."""
    script = (
        "const {pattern, lines} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(lines.map((l) => { const m = l.match(pattern);"
        " return m && m[1] ? m[1] : null; })));"
    )
    node = shutil.which("node")
    if node is None:
        message = "node is not installed (Debian: apt-get install nodejs)"
        if os.environ.get(REQUIRE_NODE):
            pytest.fail(f"{REQUIRE_NODE} is set but {message}")
        pytest.skip(message)
    result = subprocess.run(
        [node, "-e", script],
        input=json.dumps({"pattern": pattern, "lines": lines}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    captures: list[str | None] = json.loads(result.stdout)
    return captures


class TestLokiRegex:
    """The derived field's regex on lines tracelog really writes, in every profile."""

    @pytest.fixture(params=[*PROFILES, "gcp-project"])
    def profile(self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
        """Each profile; gcp once more with a project (``projects/P/traces/ID``)."""
        for variable in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"):
            monkeypatch.delenv(variable, raising=False)
        if request.param == "gcp-project":
            monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "shop-prod-42")
            return "gcp"
        return str(request.param)

    @pytest.fixture
    def written(
        self,
        profile: str,
        configured: Callable[..., Captured],
        tracer: tuple[trace.Tracer, InMemorySpanExporter],
    ) -> tuple[str, str, list[str]]:
        """(the ID the profile writes, the regex, the lines in the span then one outside)."""
        trace_hex, lines = trace_lines(configured, tracer, profile)
        expected = str(int(trace_hex[16:], 16)) if profile == "datadog64" else trace_hex
        field = tracelog._fields.PROFILES[profile].trace_id
        if profile == "gcp" and os.environ.get("GOOGLE_CLOUD_PROJECT"):
            assert json.loads(lines[0])[field] == f"projects/shop-prod-42/traces/{trace_hex}"
        else:
            assert json.loads(lines[0])[field] == expected
        return expected, grafana.trace_id_pattern(profile), lines

    def test_python_captures_exactly_the_trace_id(
        self, written: tuple[str, str, list[str]]
    ) -> None:
        """Python's re captures the ID from each library's line, in any key order or spacing."""
        expected, pattern, lines = written
        inside, outside = lines[:3], lines[3]
        for line in [*inside, *map(respaced, inside)]:
            match = re.search(pattern, line)
            assert match is not None, line
            assert match.group(1) == expected
        assert re.search(pattern, outside) is None

    def test_re2_agrees(self, written: tuple[str, str, list[str]]) -> None:
        """RE2, the engine of Grafana's Go backend, compiles it and captures the same."""
        expected, pattern, lines = written
        compiled = re2.compile(pattern)
        captures = [compiled.search(line) for line in [*lines, respaced(lines[0])]]
        assert [m.group(1) if m else None for m in captures] == [expected] * 3 + [None, expected]

    def test_javascript_agrees(self, written: tuple[str, str, list[str]]) -> None:
        """JavaScript's RegExp, which Grafana's frontend applies to each line, captures the same."""
        expected, pattern, lines = written
        assert javascript_captures(pattern, [*lines, respaced(lines[1])]) == [expected] * 3 + [
            None,
            expected,
        ]

    def test_datasource_holds_the_pattern(self, profile: str) -> None:
        """The provisioned derived field uses the pattern of the chosen profile."""
        sources = datasources(grafana.provisioning(fields=profile))
        (derived,) = sources["loki"]["jsonData"]["derivedFields"]
        assert derived["matcherRegex"] == grafana.trace_id_pattern(profile)


class TestCli:
    """``tracelog grafana``."""

    def run(self, *argv: str) -> tuple[int, str, str]:
        """Run the command; return its status, stdout and stderr."""
        out, err = io.StringIO(), io.StringIO()
        status = main(["grafana", *argv], stdout=out, stderr=err)
        return status, out.getvalue(), err.getvalue()

    def test_an_updated_file_keeps_its_mode(self, tmp_path: Path) -> None:
        """Chmod 600 on the datasources file (it may hold credentials) survives an update."""
        assert self.run("--out", str(tmp_path))[0] == 0
        datasources_file = tmp_path / grafana.DATASOURCES_FILE
        datasources_file.chmod(0o600)
        status, _, err = self.run("--out", str(tmp_path), "--loki-url", "http://loki2:3100")
        assert (status, err) == (0, "")
        assert "loki2" in datasources_file.read_text()  # rewritten, not left alone
        assert stat.S_IMODE(datasources_file.stat().st_mode) == 0o600

    @pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
    def test_a_new_file_follows_the_umask(self, tmp_path: Path, umask: int, mode: int) -> None:
        """New files get what a plain write would give: 0666 less the umask."""
        before = os.umask(umask)
        try:
            assert self.run("--out", str(tmp_path))[0] == 0
        finally:
            os.umask(before)
        for name in grafana.provisioning():
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name

    def test_writes_the_files_and_says_so(self, tmp_path: Path) -> None:
        """The files are the generator's; a second run reports them unchanged."""
        status, out, err = self.run("--out", str(tmp_path), "--fields", "ecs")
        assert (status, err) == (0, "")
        expected = grafana.provisioning(fields="ecs")
        assert {
            name: (tmp_path / name).read_text(encoding="utf-8") for name in expected
        } == expected
        assert out.splitlines() == [f"created   {tmp_path / name}" for name in expected]
        status, out, _ = self.run("--out", str(tmp_path), "--fields", "ecs")
        assert status == 0
        assert out.splitlines() == [f"unchanged {tmp_path / name}" for name in expected]
        status, out, _ = self.run("--out", str(tmp_path), "--loki-url", "http://logs:3100")
        assert status == 0
        assert [line.split()[0] for line in out.splitlines()] == ["updated", "updated", "unchanged"]
        assert "http://logs:3100" in (tmp_path / grafana.DATASOURCES_FILE).read_text()

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--prometheus-url", "localhost:9090"], "--prometheus-url 'localhost:9090' must be"),
            (["--tempo-url", "http://tempo:3200/#x"], "--tempo-url 'http://tempo:3200/#x' must"),
            (["--loki-url", "http://loki\x1b[31m"], "--loki-url 'http://loki\\x1b[31m' holds"),
            (
                ["--fields", "json"],
                "--fields must be one of otel, ecs, datadog, datadog64, gcp, not 'json'",
            ),
            (["--dashboards-path", "x"], "--dashboards-path must be an absolute path"),
            # An option's Python name inside the value is the user's text, echoed as given.
            (["--loki-url", "http://fields:99999"], "--loki-url 'http://fields:99999' is not"),
            (["--tempo-url", "http://loki_url/?q"], "--tempo-url 'http://loki_url/?q' must not"),
        ],
    )
    def test_bad_options_exit_2_and_write_nothing(
        self, tmp_path: Path, argv: list[str], message: str
    ) -> None:
        """A bad option is named in a one-line error (terminal-safe), exit 2, nothing written."""
        out_dir = tmp_path / "out"
        status, out, err = self.run("--out", str(out_dir), *argv)
        assert (status, out) == (2, "")
        assert err.startswith("tracelog grafana: error: ")
        assert message in err
        assert "\x1b" not in err
        assert err.count("\n") == 1
        assert not out_dir.exists()

    def test_a_password_in_a_url_is_not_repeated(self, tmp_path: Path) -> None:
        """A URL's password is used in the data source, but never echoed in errors or comments."""
        url = "http://reader:s3cret@prom:9090"
        status, _, err = self.run("--out", str(tmp_path / "bad"), "--prometheus-url", url + "/?q")
        assert (status, err) == (
            2,
            "tracelog grafana: error: --prometheus-url 'http://reader:***@prom:9090/?q'"
            " must not have a query or a fragment\n",
        )
        status, _, _ = self.run("--out", str(tmp_path), "--prometheus-url", url)
        assert status == 0
        text = (tmp_path / grafana.DATASOURCES_FILE).read_text(encoding="utf-8")
        assert datasources({grafana.DATASOURCES_FILE: text})["prometheus"]["url"] == url
        assert "--prometheus-url http://reader:***@prom:9090 " in text
        assert text.count("s3cret") == 1

    def test_empty_out_is_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """--out "" (an unset shell variable) is a usage error, not the current directory."""
        monkeypatch.chdir(tmp_path)
        status, out, err = self.run("--out", "")
        assert (status, out) == (2, "")
        assert err == "tracelog grafana: error: --out must name a directory, not ''\n"
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(ValueError, match="out must name a directory"):
            grafana.write("")

    def test_out_is_required(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --out argparse's usage error, exit 2."""
        status, _, _ = self.run()
        assert status == 2
        assert "the following arguments are required: --out" in capsys.readouterr().err

    def test_foreign_files_are_kept_unless_forced(self, tmp_path: Path) -> None:
        """A file tracelog did not write stops the run (nothing written) until --force."""
        mine = tmp_path / grafana.DATASOURCES_FILE
        mine.parent.mkdir(parents=True)
        mine.write_text("apiVersion: 1\ndatasources: []\n")
        status, out, err = self.run("--out", str(tmp_path))
        assert (status, out) == (2, "")
        assert f"not replacing {mine}: tracelog did not write it" in err
        assert err.endswith("(move it away, or use --force)\n")
        assert mine.read_text() == "apiVersion: 1\ndatasources: []\n"
        assert not (tmp_path / "dashboards").exists()
        status, out, _ = self.run("--out", str(tmp_path), "--force")
        assert status == 0
        assert out.splitlines()[0] == f"updated   {mine}"
        assert mine.read_text() == grafana.provisioning()[grafana.DATASOURCES_FILE]

    def test_unwritable_out_exits_2(self, tmp_path: Path) -> None:
        """--out naming a file: a clear error, exit 2."""
        (tmp_path / "file").write_text("x")
        status, _, err = self.run("--out", str(tmp_path / "file"))
        assert status == 2
        assert err.startswith("tracelog grafana: error: cannot write ")

    def test_out_that_cannot_be_made_a_directory_exits_2(self, tmp_path: Path) -> None:
        """--out naming a dangling symlink: "cannot write" that path, not a foreign-file error."""
        link = tmp_path / "link"
        link.symlink_to(tmp_path / "missing")
        status, out, err = self.run("--out", str(link))
        assert (status, out) == (2, "")
        assert err == f"tracelog grafana: error: cannot write {link}: File exists\n"

    def test_datadog64_warns(self, tmp_path: Path) -> None:
        """--fields datadog64 writes the files and warns what cannot be linked."""
        status, _, err = self.run("--out", str(tmp_path), "--fields", "datadog64")
        assert status == 0
        assert err == f"tracelog grafana: warning: {grafana.limitations('datadog64')[0]}\n"

    def test_help_states_the_real_defaults(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The help's defaults are tracelog.grafana's (the parser does not import it)."""
        status, _, _ = self.run("--help")
        assert status == 0
        text = " ".join(capsys.readouterr().out.split())
        for default in (
            grafana.DEFAULT_PROMETHEUS_URL,
            grafana.DEFAULT_TEMPO_URL,
            grafana.DEFAULT_LOKI_URL,
            grafana.DEFAULT_DASHBOARDS_PATH,
        ):
            assert f"(default: {default})" in text


class TestExample:
    """examples/grafana: the compose setup that uses the generated files."""

    def test_committed_provisioning_is_the_generators(self) -> None:
        """examples/grafana/provisioning is exactly `tracelog grafana`'s output for compose."""
        expected = grafana.provisioning()
        committed = {
            str(path.relative_to(EXAMPLE / "provisioning")): path.read_text(encoding="utf-8")
            for path in (EXAMPLE / "provisioning").rglob("*")
            if path.is_file()
        }
        assert committed == expected, (
            "regenerate: tracelog grafana --out examples/grafana/provisioning"
        )

    def test_compose_mounts_what_exists_and_agrees_with_the_files(self) -> None:
        """Mounted files exist; service names, ports, labels and flags match the provisioning."""
        compose = yaml.safe_load((EXAMPLE / "docker-compose.yaml").read_text())
        services = compose["services"]
        for service in services.values():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    assert (EXAMPLE / source).exists(), source
                else:
                    assert source in compose["volumes"], source
        grafana_volumes = services["grafana"]["volumes"]
        assert "./provisioning:/etc/grafana/provisioning:ro" in grafana_volumes
        assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
        for url in (
            grafana.DEFAULT_PROMETHEUS_URL,
            grafana.DEFAULT_TEMPO_URL,
            grafana.DEFAULT_LOKI_URL,
        ):
            host, port = url.removeprefix("http://").split(":")
            assert host in services
            assert any(mapping.endswith(f":{port}") for mapping in services[host]["ports"])
        app = services["app"]
        service_name = app["environment"]["OTEL_SERVICE_NAME"]
        assert app["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo:4318"
        command = " ".join(app["command"])
        assert "examples/fastapi_app.py --host 0.0.0.0 --port 8000" in command
        assert "--log-file /var/log/tracelog/app.log" in command
        # Span to logs selects {service_name="<service.name>"}; span to metrics job="<...>".
        alloy = (EXAMPLE / "config.alloy").read_text()
        assert f'"{grafana.LOKI_SERVICE_LABEL}" = "{service_name}"' in alloy
        assert '"__path__" = "/var/log/tracelog/*.log"' in alloy
        prometheus = yaml.safe_load((EXAMPLE / "prometheus.yml").read_text())
        assert [job["job_name"] for job in prometheus["scrape_configs"]] == [service_name]
        tempo = yaml.safe_load((EXAMPLE / "tempo.yaml").read_text())
        otlp = tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
        assert otlp == "0.0.0.0:4318"
        assert yaml.safe_load((EXAMPLE / "loki.yaml").read_text())["server"] == {
            "http_listen_port": 3100
        }

    def test_prometheus_config_passes_promtool(self) -> None:
        """The promtool of Debian's prometheus package accepts the example's prometheus.yml."""
        promtool = shutil.which("promtool")
        if promtool is None:
            if os.environ.get("TRACELOG_REQUIRE_PROMETHEUS"):
                pytest.fail("TRACELOG_REQUIRE_PROMETHEUS is set but promtool is not installed")
            pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
        result = subprocess.run(
            [promtool, "check", "config", str(EXAMPLE / "prometheus.yml")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def prometheus_query(server: Prometheus, path: str, **params: str) -> Any:
    """GET a Prometheus API path; the data of its successful answer."""
    answer = json.loads(get(f"{server.url}{path}?{urllib.parse.urlencode(params)}"))
    assert answer["status"] == "success", answer
    return answer["data"]


def test_queries_run_on_a_real_prometheus(tmp_path: Path) -> None:
    """Each dashboard and trace-to-metrics query returns data; the latency ones, exemplars."""
    prometheus = binary()
    with contextlib.ExitStack() as stack:
        app = App(tmp_path / "app.jsonl")
        stack.callback(app.close)
        server = Prometheus(prometheus, tmp_path, app.port)  # scrape job "app"
        stack.callback(server.stop)
        wait_for(server.ready, timeout=60, failure=lambda: f"not ready:\n{server.log_tail()}")
        start = time.time() - 60
        traces = set()
        for n in range(4):
            trace_id = f"6b{n:030x}"
            traces.add(trace_id)
            get(
                f"http://127.0.0.1:{app.port}/orders/{n}",
                {"traceparent": f"00-{trace_id}-{n + 1:016x}-01"},
            )
            # Two scrapes more: rate() needs two samples, and each exemplar its own scrape.
            seen = len(app.scrapes)
            wait_for(
                lambda seen=seen: len(app.scrapes) > seen + 1,
                timeout=30,
                failure=server.log_tail,
            )

        def query(expr: str) -> list[dict[str, Any]]:
            # Grafana's values for "All" and the rate interval.
            for name, value in {"$job": ".*", "$route": ".*", "$__rate_interval": "1m"}.items():
                expr = expr.replace(name, value)
            result: list[dict[str, Any]] = prometheus_query(server, "/api/v1/query", query=expr)[
                "result"
            ]
            assert result, f"no data for {expr}"
            if "histogram_quantile" in expr:
                found = prometheus_query(
                    server,
                    "/api/v1/query_exemplars",
                    query=expr,
                    start=str(start),
                    end=str(time.time() + 60),
                )
                labels = [e["labels"] for series in found for e in series["exemplars"]]
                assert labels, f"no exemplars for {expr}"
                assert {label["trace_id"] for label in labels} <= traces
            return result

        dashboard = json.loads(grafana.provisioning()[grafana.DASHBOARD_FILE])
        results = {
            panel["title"]: [query(target["expr"]) for target in panel["targets"]]
            for panel in dashboard["panels"]
        }
        # No request failed: the error ratio reads 0 rather than no data.
        ((ratio,),) = results["Error rate (5xx)"]
        assert (ratio["metric"], ratio["value"][1]) == ({"route": "/orders/{id}"}, "0")
        # The variables' label_values(metric{...}, label), as Grafana asks for them.
        jobs = prometheus_query(
            server, "/api/v1/label/job/values", **{"match[]": "http_server_requests_total"}
        )
        routes = prometheus_query(
            server,
            "/api/v1/label/route/values",
            **{"match[]": 'http_server_requests_total{job=~".*"}'},
        )
        assert (jobs, routes) == (["app"], ["/orders/{id}"])
        tempo = datasources(grafana.provisioning())["tempo"]["jsonData"]
        links = tempo["tracesToMetrics"]
        for linked in links["queries"]:
            # A span of the scraped service: its service.name is the scrape job's name.
            query(metrics_link_query(linked["query"], links["tags"], {"service.name": "app"}))
