"""Headers are redacted in every form frameworks hand them out, and the cache stays small.

Each form is logged through each library, and must not leak into the JSON
line, the span event or the OpenTelemetry LogRecord (OTLP attributes).
"""

from __future__ import annotations

import collections
import email.message
import gc
import http.client
import io
import json
import logging
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogExporter
from werkzeug.datastructures import EnvironHeaders, Headers

from tracelog._redact import Redactor

from .conftest import LIBRARIES, emit
from .test_span_events import events_of

SECRET = "Bearer s3cr3t-value"
COOKIE = "session=c00kie-value"
Credentials = collections.namedtuple("Credentials", ["user", "password"])


def asgi_scope() -> dict[str, Any]:
    """An ASGI HTTP scope as uvicorn builds it: headers are a list of byte pairs."""
    return {
        "type": "http",
        "method": "GET",
        "path": "/items",
        "headers": [
            (b"host", b"shop.example"),
            (b"authorization", SECRET.encode()),
            (b"cookie", COOKIE.encode()),
        ],
    }


def werkzeug_headers() -> Headers:
    """Flask's request.headers for a request (werkzeug's EnvironHeaders over a WSGI environ)."""
    return EnvironHeaders(
        {"HTTP_HOST": "shop.example", "HTTP_AUTHORIZATION": SECRET, "HTTP_COOKIE": COOKIE}
    )


def email_headers() -> email.message.Message:
    """http.client's response headers (an email.message.Message subclass)."""
    raw = f"Host: shop.example\r\nAuthorization: {SECRET}\r\nCookie: {COOKIE}\r\n\r\n"
    return http.client.parse_headers(io.BytesIO(raw.encode()))


FORMS: dict[str, Callable[[], object]] = {
    "asgi scope": asgi_scope,
    "scope headers": lambda: asgi_scope()["headers"],
    "werkzeug Headers": lambda: Headers(
        [("Host", "shop.example"), ("Authorization", SECRET), ("Cookie", COOKIE)]
    ),
    "werkzeug EnvironHeaders": werkzeug_headers,
    "email Message": email_headers,
    "namedtuple": lambda: Credentials("bob", SECRET),
    "dict items": {"host": "x", "authorization": SECRET, "cookie": COOKIE}.items,
    "str pairs": lambda: [("Authorization", SECRET), ("Cookie", COOKIE)],
    "one pair": lambda: ("Authorization", SECRET),
}


def assert_hidden(text: str) -> None:
    """Neither secret, nor any part of it, is in *text*."""
    for secret in (SECRET, COOKIE, "s3cr3t", "c00kie"):
        assert secret not in text


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("form", FORMS)
def test_headers_are_redacted_in_the_json_line(library: str, form: str, configured) -> None:  # type: ignore[no-untyped-def]
    """The JSON line keeps the header names and harmless values, never the secrets."""
    out = configured()
    emit(library, "info", "request", value=FORMS[form]())
    assert_hidden(out.text)
    (record,) = out.records()
    rendered = json.dumps(record["value"])
    assert "[REDACTED]" in rendered
    if form not in ("namedtuple", "one pair", "str pairs"):
        assert "shop.example" in rendered or '"x"' in rendered  # the rest stays readable


def test_the_forms_render_as_their_shape(configured) -> None:  # type: ignore[no-untyped-def]
    """Pairs stay pairs, header objects become mappings, a namedtuple a mapping of fields."""
    out = configured()
    log = logging.getLogger("app")
    log.info("forms", extra={"pairs": asgi_scope()["headers"], "flask": werkzeug_headers()})
    log.info("forms", extra={"creds": Credentials("bob", "pw"), "http": email_headers()})
    first, second = out.records()
    assert first["pairs"][1] == ["authorization", "[REDACTED]"]
    assert first["pairs"][0] == ["host", "shop.example"]
    assert first["flask"] == {
        "Host": "shop.example",
        "Authorization": "[REDACTED]",
        "Cookie": "[REDACTED]",
    }
    assert second["creds"] == {"user": "bob", "password": "[REDACTED]"}
    assert second["http"]["Authorization"] == "[REDACTED]"
    assert second["http"]["Host"] == "shop.example"


def test_repeated_headers_keep_every_value(configured) -> None:  # type: ignore[no-untyped-def]
    """A header given twice (Set-Cookie, Via) keeps both values, as a list."""
    out = configured()
    headers = Headers([("Via", "1.1 a"), ("Via", "1.1 b"), ("Set-Cookie", "a=1")])
    logging.getLogger("app").info("response", extra={"headers": headers})
    (record,) = out.records()
    assert record["headers"] == {"Via": ["1.1 a", "1.1 b"], "Set-Cookie": "[REDACTED]"}


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("form", FORMS)
def test_headers_are_redacted_in_span_events(library: str, form: str, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """The span event made from the record holds no secret either."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("request"):
        emit(library, "info", "request", value=FORMS[form]())
    (event,) = events_of(exporter, "request")
    text = json.dumps(dict(event.attributes or {}), default=str)
    assert_hidden(text)
    assert "[REDACTED]" in text


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("form", FORMS)
def test_headers_are_redacted_in_otlp_log_records(
    library: str, form: str, configured, log_exporter: InMemoryLogExporter
) -> None:  # type: ignore[no-untyped-def]
    """configure(otel_logs=True): the LogRecord's attributes hold no secret either."""
    configured(otel_logs=True)
    emit(library, "info", "request", value=FORMS[form]())
    (exported,) = log_exporter.get_finished_logs()
    text = json.dumps(dict(exported.log_record.attributes or {}), default=str)
    assert_hidden(text)
    assert "[REDACTED]" in text


def test_long_keys_are_never_cached(configured) -> None:  # type: ignore[no-untyped-def]
    """40 request bodies, each with a client-chosen 1 MB key: memory comes back after each."""
    out = configured()
    log = logging.getLogger("app")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(40):
            body = {f"{number:04d}" + "k" * 1_000_000: 1, "nested": {f"{number}" + "q" * 500: 2}}
            log.info("body", extra={"body": body})
            del body
            out.stream.seek(0)
            out.stream.truncate()  # the captured output is not what is measured
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 5_000_000, f"{kept / 1e6:.0f} MB kept after 40 bodies"


def test_the_cache_is_bounded_by_characters() -> None:
    """Many distinct short keys: the cache never holds more than its character budget."""
    redactor = Redactor()
    for number in range(20_000):
        assert redactor.is_sensitive(f"password_{number:0100d}")
        if number % 500 == 0:
            assert sum(len(key) for key in redactor._cache) <= 256 * 1024
    assert not redactor.is_sensitive("x" * 10_000)
    assert "x" * 10_000 not in redactor._cache
