"""Grafana provisioning files that match what tracelog writes: ``tracelog grafana --out DIR``.

Three files, laid out to be mounted as Grafana's ``/etc/grafana/provisioning``:

- ``datasources/tracelog.yaml``: Prometheus, whose exemplars link to Tempo by
  tracelog's exemplar label; Loki, whose derived field finds the trace ID in
  the field profile's JSON and links to Tempo; Tempo, linking spans to their
  logs in Loki and to the request metrics in Prometheus.
- ``dashboards/tracelog.yaml``: the dashboard provider.
- ``dashboards/tracelog.json``: request rate, error rate and latency
  percentiles of tracelog's middleware metrics, with exemplars.

Names that must agree with what tracelog writes (the exemplar label, the
profiles' trace fields, the metric names) are read from the modules that
write them. Grafana expands ``$VAR`` in provisioning YAML, so every ``$`` of a
value is written as ``$$``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracelog import _dashboard
from tracelog._exemplar import TRACE_ID_LABEL
from tracelog._fields import PROFILES
from tracelog._middleware import DURATION_METRIC, LABELS, REQUESTS_METRIC

__all__ = [
    "DASHBOARD_FILE",
    "DATASOURCES_FILE",
    "DEFAULT_DASHBOARDS_PATH",
    "DEFAULT_LOKI_URL",
    "DEFAULT_PROMETHEUS_URL",
    "DEFAULT_TEMPO_URL",
    "LOKI_SERVICE_LABEL",
    "LOKI_UID",
    "PROMETHEUS_UID",
    "PROVIDER_FILE",
    "TEMPO_UID",
    "limitations",
    "provisioning",
    "trace_id_pattern",
    "write",
]

PROMETHEUS_UID, TEMPO_UID, LOKI_UID = "prometheus", "tempo", "loki"
# The service names of examples/grafana/docker-compose.yaml.
DEFAULT_PROMETHEUS_URL = "http://prometheus:9090"
DEFAULT_TEMPO_URL = "http://tempo:3200"
DEFAULT_LOKI_URL = "http://loki:3100"
DEFAULT_DASHBOARDS_PATH = "/etc/grafana/provisioning/dashboards"
# The Loki stream label holding the service name (what Loki itself derives from
# OpenTelemetry's service.name); span-to-logs links select streams by it.
LOKI_SERVICE_LABEL = "service_name"
# The Prometheus label that names the service: name the scrape job after it.
PROMETHEUS_SERVICE_LABEL = "job"

DATASOURCES_FILE = "datasources/tracelog.yaml"
PROVIDER_FILE = "dashboards/tracelog.yaml"
DASHBOARD_FILE = "dashboards/tracelog.json"
_MARKER = "# Written by `tracelog grafana"

# The value of each profile's trace field, one capture group for the ID as Tempo knows it.
_HEX = "([0-9a-f]{32})"
_VALUES = {
    "otel": _HEX,
    "ecs": _HEX,
    # 32 hex digits, as dd-trace-py writes a 128-bit trace ID (a 64-bit one, in
    # decimal, is not linked: Tempo cannot look it up).
    "datadog": _HEX,
    # The decimal lower 64 bits: captured as written; Tempo cannot look it up.
    "datadog64": "([0-9]{1,20})",
    # "projects/PROJECT/traces/ID" when a project is known, else the bare ID.
    "gcp": '(?:projects/[^/"]+/traces/)?' + _HEX,
}
_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")


def trace_id_pattern(fields: str = "otel") -> str:
    """The regular expression that captures the trace ID of a line in profile *fields*.

    Group 1 is the trace field's value as tracelog writes it (for ``gcp``, the
    ID without its ``projects/.../traces/`` prefix). It reads the key with its
    quotes, so ``extra.trace_id`` does not match, allows whitespace around the
    colon (other JSON renderers write it), and uses only syntax that Go's RE2
    (Grafana's backend), JavaScript (Grafana's frontend) and Python agree on.
    """
    _check_fields(fields)
    key = "".join("\\" + c if c in _REGEX_SPECIAL else c for c in PROFILES[fields].trace_id)
    return f'"{key}"\\s*:\\s*"{_VALUES[fields]}"'


def limitations(fields: str = "otel") -> list[str]:
    """What the files for profile *fields* cannot do, in sentences for people."""
    _check_fields(fields)
    if fields != "datadog64":
        return []
    return [
        "the datadog64 profile writes the trace ID as the decimal of its lower 64 bits, which"
        " Tempo cannot look up: log lines show it as a field (dd.trace_id) without a link to"
        " the trace, and a span's logs are its service's logs around the span's time, not"
        " filtered by trace ID (use `tracelog query TRACE_ID` on the files for that)"
    ]


def provisioning(
    *,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
    tempo_url: str = DEFAULT_TEMPO_URL,
    loki_url: str = DEFAULT_LOKI_URL,
    fields: str = "otel",
    dashboards_path: str = DEFAULT_DASHBOARDS_PATH,
) -> dict[str, str]:
    """The provisioning files: ``{relative path: text}``.

    Args:
        prometheus_url: Prometheus as Grafana's server reaches it (http or https).
        tempo_url: Tempo's HTTP API (port 3200 by default).
        loki_url: Loki's HTTP API (port 3100 by default).
        fields: the field profile the logs are written in (``tracelog.configure(fields=)``).
        dashboards_path: where Grafana finds the ``dashboards`` folder of these files.

    Raises:
        ValueError: for a URL that is not http(s) with a host, a relative
            *dashboards_path* or an unknown profile.
    """
    _check_fields(fields)
    urls = {
        "--prometheus-url": _checked_url(prometheus_url, "prometheus_url"),
        "--tempo-url": _checked_url(tempo_url, "tempo_url"),
        "--loki-url": _checked_url(loki_url, "loki_url"),
    }
    if (
        not isinstance(dashboards_path, str)
        or not dashboards_path.startswith("/")
        or not dashboards_path.isprintable()
    ):
        raise ValueError(
            f"dashboards_path must be an absolute path, as Grafana sees it, not {dashboards_path!r}"
        )
    command = " ".join(
        ["tracelog grafana --out DIR", "--fields", fields]
        + [f"{option} {_shown(url)}" for option, url in urls.items()]
        + ["--dashboards-path", dashboards_path]
    )
    header = [f"{_MARKER}`: regenerate it rather than edit it.", f"# {command}"]
    header += [f"# Note: {note}" for note in limitations(fields)]
    datasources = {
        "apiVersion": 1,
        "datasources": [
            _prometheus(prometheus_url),
            _loki(loki_url, fields),
            _tempo(tempo_url, fields),
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "tracelog",
                "orgId": 1,
                "type": "file",
                "folder": "tracelog",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }
    return {
        DATASOURCES_FILE: _yaml_file(header, datasources),
        PROVIDER_FILE: _yaml_file(header[:2], provider),
        DASHBOARD_FILE: json.dumps(
            _dashboard.dashboard(prometheus_uid=PROMETHEUS_UID), indent=2, ensure_ascii=False
        )
        + "\n",
    }


def write(
    out: str | os.PathLike[str],
    *,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
    tempo_url: str = DEFAULT_TEMPO_URL,
    loki_url: str = DEFAULT_LOKI_URL,
    fields: str = "otel",
    dashboards_path: str = DEFAULT_DASHBOARDS_PATH,
    force: bool = False,
) -> dict[Path, str]:
    """Write the `provisioning` files under *out*; return each path with what was done.

    What was done is ``"created"``, ``"updated"`` or ``"unchanged"``. A file
    is replaced only when tracelog wrote it (its first line, or the
    dashboard's uid, says so) or *force* is true; files of other names are
    never touched. Each file is replaced atomically.

    Raises:
        ValueError: for bad options (see `provisioning`), or an empty *out*.
        FileExistsError: a file to write exists and tracelog did not write it;
            nothing was written.
        OSError: the directory or a file could not be written.
    """
    if not os.fspath(out):
        # Path("") is the current directory: an unset variable must not write there.
        raise ValueError("out must name a directory, not ''")
    files = provisioning(
        prometheus_url=prometheus_url,
        tempo_url=tempo_url,
        loki_url=loki_url,
        fields=fields,
        dashboards_path=dashboards_path,
    )
    root = Path(out)
    plan: dict[Path, tuple[str, str]] = {}
    foreign: list[str] = []
    for name, text in files.items():
        path = root / name
        old = _read(path)
        if old is None:
            plan[path] = (text, "created")
        elif old == text:
            plan[path] = (text, "unchanged")
        else:
            if not force and not _ours(old):
                foreign.append(str(path))
            plan[path] = (text, "updated")
    if foreign:
        them = "it" if len(foreign) == 1 else "them"
        raise FileExistsError(
            f"not replacing {', '.join(foreign)}: tracelog did not write {them}"
            f" (move {them} away, or pass force=True)"
        )
    done: dict[Path, str] = {}
    for path, (text, what) in plan.items():
        if what != "unchanged":
            _replace(path, text)
        done[path] = what
    return done


def _check_fields(fields: str) -> None:
    if not isinstance(fields, str) or fields not in PROFILES:
        raise ValueError(f"fields must be one of {', '.join(PROFILES)}, not {fields!r}")


def _checked_url(url: str, name: str) -> str:
    if not isinstance(url, str):
        raise ValueError(f"{name} must be a string, not {type(url).__name__}")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError(f"{name} {_shown(url)!r} holds spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # reading it checks it
    except ValueError as error:
        raise ValueError(f"{name} {_shown(url)!r} is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} {_shown(url)!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} {_shown(url)!r} must not have a query or a fragment")
    return url


def _shown(url: str) -> str:
    """*url* with the password of its user info, if any, as ``***``: for messages and comments."""
    scheme, separator, rest = url.partition("://")
    end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    user_info, at, host = rest[:end].rpartition("@")
    if not at or ":" not in user_info:
        return url
    return f"{scheme}{separator}{user_info.partition(':')[0]}:***@{host}{rest[end:]}"


def _escape_env(value: Any) -> Any:
    """*value* with every ``$`` of its strings doubled: Grafana reads ``$$`` as ``$``."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {key: _escape_env(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_env(item) for item in value]
    return value


# What YAML 1.1 readers (Go's yaml.v2, PyYAML) do not take raw in a string, nor
# as a pair of surrogate escapes (PyYAML reads "\ud83d\ude00" as two characters):
# escaped one by one; everything else is written as itself.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")


def _yaml_file(header: list[str], document: dict[str, Any]) -> str:
    """*document* as YAML, written as JSON (a JSON text is a YAML document), after *header*.

    JSON's emitter is the standard library's, kept by others; YAML readers take
    its output as flow style. The comment lines before it are YAML's.
    """
    _check_keys(document)
    text = json.dumps(_escape_env(document), indent=2, ensure_ascii=False)
    return "\n".join(header) + "\n" + _YAML_UNSAFE.sub(_unicode_escape, text) + "\n"


def _check_keys(value: Any) -> None:
    """Refuse a key YAML readers would not take: over 1024 characters as written."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if len(json.dumps(key, ensure_ascii=False)) > 1024:
                raise ValueError(
                    f"a key longer than the 1024 characters YAML allows: {key[:40]!r}..."
                )
            _check_keys(item)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item)


def _unicode_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def _prometheus(url: str) -> dict[str, Any]:
    return {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": PROMETHEUS_UID,
        "access": "proxy",
        "url": url,
        "editable": False,
        "jsonData": {
            "httpMethod": "POST",
            # Named after the exemplar label whose value is the trace ID.
            "exemplarTraceIdDestinations": [
                {"name": TRACE_ID_LABEL, "datasourceUid": TEMPO_UID, "urlDisplayLabel": "Trace"}
            ],
        },
    }


def _loki(url: str, fields: str) -> dict[str, Any]:
    derived: dict[str, Any] = {
        "name": "TraceID",
        "matcherType": "regex",
        "matcherRegex": trace_id_pattern(fields),
    }
    if fields == "datadog64":
        derived["name"] = PROFILES[fields].trace_id  # shown, not linked: see limitations()
    else:
        derived.update(datasourceUid=TEMPO_UID, url="${__value.raw}", urlDisplayLabel="Trace")
    return {
        "name": "Loki",
        "type": "loki",
        "uid": LOKI_UID,
        "access": "proxy",
        "url": url,
        "editable": False,
        "jsonData": {"derivedFields": [derived]},
    }


def _tempo(url: str, fields: str) -> dict[str, Any]:
    by_trace = fields != "datadog64"  # a hex trace ID is not in a datadog64 line
    shift = "5m" if by_trace else "10s"
    service = {"key": "service.name"}
    # Grafana's trace view replaces this exact spelling with the tags as labels;
    # "${__tags}" is left in the query as written, which Prometheus rejects.
    selector = "$__tags"
    route = LABELS[1]
    return {
        "name": "Tempo",
        "type": "tempo",
        "uid": TEMPO_UID,
        "access": "proxy",
        "url": url,
        "editable": False,
        "jsonData": {
            # "Logs for this span": {service_name="..."} |= "<trace ID>", the
            # span's time widened by the shifts (log lines are stamped when read).
            "tracesToLogsV2": {
                "datasourceUid": LOKI_UID,
                "tags": [{**service, "value": LOKI_SERVICE_LABEL}],
                "filterByTraceID": by_trace,
                "filterBySpanID": False,
                "spanStartTimeShift": f"-{shift}",
                "spanEndTimeShift": shift,
            },
            "tracesToMetrics": {
                "datasourceUid": PROMETHEUS_UID,
                "tags": [{**service, "value": PROMETHEUS_SERVICE_LABEL}],
                "spanStartTimeShift": "-30m",
                "spanEndTimeShift": "30m",
                "queries": [
                    {
                        "name": "Request rate",
                        "query": f"sum by ({route}) (rate({REQUESTS_METRIC}{{{selector}}}[5m]))",
                    },
                    {
                        "name": "Latency p99",
                        "query": f"histogram_quantile(0.99, sum by (le, {route})"
                        f" (rate({DURATION_METRIC}_bucket{{{selector}}}[5m])))",
                    },
                ],
            },
            "nodeGraph": {"enabled": True},
        },
    }


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""  # not a file tracelog wrote


def _ours(text: str) -> bool:
    if text.startswith(_MARKER):
        return True
    try:
        model = json.loads(text)
    except ValueError:
        return False
    return isinstance(model, dict) and model.get("uid") == _dashboard.UID


def _mode_for(path: Path) -> int:
    """The mode the file at *path* keeps.

    Its own when it exists (an operator's ``chmod 600`` on a file holding
    credentials stays), else what a plain write gives under the umask
    (``mkstemp`` always makes 0600).
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask: from /proc where it is shown, else set and set back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
