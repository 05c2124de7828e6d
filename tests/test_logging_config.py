"""tracelog.logging_config(), the dictConfig handler, and what tracelog says of later set-ups."""

from __future__ import annotations

import inspect
import io
import json
import logging
import logging.config
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.trace import StatusCode

import tracelog
from tests.conftest import SPAN_HEX, TRACE_HEX, Captured, known_span, parse_lines
from tests.test_readme_scale import snippet
from tracelog import _context
from tracelog._logging_config import FRAMEWORK_LOGGERS

# Django's documented LOGGING example: a console handler (DEBUG only) on "django",
# and "django.request" kept to mail_admins with propagate False.
DJANGO_DOCS_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"simple": {"format": "{levelname} {message}", "style": "{"}},
    "filters": {"require_debug_true": {"()": "logging.Filter"}},
    "handlers": {
        "console": {
            "level": "INFO",
            "filters": ["require_debug_true"],
            "class": "logging.StreamHandler",
            "formatter": "simple",
        },
        "mail_admins": {"level": "ERROR", "class": "logging.NullHandler"},
    },
    "loggers": {
        "django": {"handlers": ["console"], "propagate": True},
        "django.request": {"handlers": ["mail_admins"], "level": "ERROR", "propagate": False},
    },
}


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """Undo what the dictConfigs here do to named loggers, and what tracelog said."""
    names = [*FRAMEWORK_LOGGERS, "shop", "tracelog"]
    saved = {
        name: (list(lg.handlers), lg.propagate, lg.level, lg.disabled)
        for name in names
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, propagate, level, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled
        logger.setLevel(level)
    _context.keep_request_trace(None)


def warnings_in(captured: Captured) -> list[dict[str, Any]]:
    """The warning lines of the `tracelog` logger."""
    return [r for r in captured.records() if r["logger"] == "tracelog"]


class TestTheDict:
    """What logging_config() returns, and applying it."""

    def test_takes_configures_options(self) -> None:
        """Its signature is configure()'s (typed), returning a dict."""
        ours = inspect.signature(tracelog.logging_config)
        theirs = inspect.signature(tracelog.configure)
        assert list(ours.parameters.values()) == list(theirs.parameters.values())
        assert ours.return_annotation == "dict[str, Any]"

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"format": "xml"}, ValueError),
            ({"level": "LOUD"}, ValueError),
            ({"colour": True}, TypeError),
            ({"integrations": ["structlog"]}, ValueError),
        ],
    )
    def test_invalid_options_fail_when_called(self, options: dict[str, Any], error: type) -> None:
        """Options are validated when the dict is made (settings import), not when applied."""
        with pytest.raises(error):
            tracelog.logging_config(**options)

    def test_is_plain_json_and_routes_the_frameworks(self) -> None:
        """A JSON round trip changes nothing; root: tracelog's handler; frameworks': none."""
        config = tracelog.logging_config(service_name="shop", level="DEBUG", output="app.log")
        assert json.loads(json.dumps(config)) == config
        assert config["root"] == {"level": "DEBUG", "handlers": ["tracelog"]}
        assert config["handlers"]["tracelog"] == {
            "()": "tracelog.stdlib.handler",
            "options": {"service_name": "shop", "level": "DEBUG", "output": "app.log"},
        }
        assert config["disable_existing_loggers"] is False
        for name in ("django", "django.request", "uvicorn.access", "gunicorn.error", "celery"):
            assert config["loggers"][name] == {"handlers": [], "propagate": True}

    def test_applied_it_does_what_configure_does(self, captured: Captured) -> None:
        """Lines of stdlib and structlog alike, stamped; one root handler, configure()'s."""
        logging.config.dictConfig(
            tracelog.logging_config(service_name="shop", output=captured.stream)
        )
        with known_span():
            logging.getLogger("shop").info("paid", extra={"order": 1})
            structlog.get_logger("shop").info("paid", order=1)
        stdlib, structured = captured.records()
        assert (stdlib["trace_id"], stdlib["span_id"], stdlib["order"]) == (TRACE_HEX, SPAN_HEX, 1)
        assert (structured["trace_id"], structured["service.name"]) == (TRACE_HEX, "shop")
        root = logging.getLogger()
        (handler,) = [h for h in root.handlers if h.name == "tracelog"]
        state = tracelog._configure.configured()
        assert state is not None
        assert state.installations["stdlib"].handler is handler

    def test_merged_into_djangos_documented_logging(self, captured: Captured) -> None:
        """The README's merge keeps the user's entries and routes Django's loggers to JSON."""
        code = snippet("To keep a `LOGGING` of your own", "python").replace(
            'service_name="shop"', 'service_name="shop", output=stream'
        )
        namespace: dict[str, Any] = {
            "tracelog": tracelog,
            "LOGGING": json.loads(json.dumps(DJANGO_DOCS_LOGGING)),
            "stream": captured.stream,
        }
        exec(code, namespace)
        merged = namespace["LOGGING"]
        assert set(merged["handlers"]) == {"console", "mail_admins", "tracelog"}
        logging.config.dictConfig(merged)
        logging.getLogger("django.request").error("Internal Server Error: /boom")
        logging.getLogger("django").info("checked")
        logging.getLogger("shop").info("paid")
        assert [(r["logger"], r["message"]) for r in captured.records()] == [
            ("django.request", "Internal Server Error: /boom"),
            ("django", "checked"),
            ("shop", "paid"),
        ]

    def test_its_formatter_and_filter_serve_handlers_of_ones_own(self) -> None:
        """A handler added to the dict uses tracelog's formatter and filter by name."""
        stream = io.StringIO()
        config = tracelog.logging_config(service_name="shop", output=io.StringIO())
        config["handlers"]["extra"] = {
            "class": "logging.StreamHandler",
            "stream": stream,
            "formatter": "tracelog",
            "filters": ["tracelog"],
        }
        config["loggers"]["shop"] = {"handlers": ["extra"], "propagate": False}
        logging.config.dictConfig(config)
        with known_span():
            logging.getLogger("shop").warning("own handler")
        (record,) = parse_lines(stream.getvalue())
        assert (record["message"], record["trace_id"], record["service.name"]) == (
            "own handler",
            TRACE_HEX,
            "shop",
        )

    def test_handler_by_dotted_name_in_a_dictconfig_of_ones_own(self) -> None:
        """{"()": "tracelog.stdlib.handler", "options": {...}}, "ext://" values converted."""
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {
                    "json": {
                        "()": "tracelog.stdlib.handler",
                        "options": {"service_name": "own", "output": "ext://sys.stderr"},
                    }
                },
                "root": {"level": "INFO", "handlers": ["json"]},
            }
        )
        state = tracelog._configure.configured()
        assert state is not None
        assert state.output.stream is sys.stderr
        assert state.installations["stdlib"].handler in logging.getLogger().handlers


class TestLaterSetUps:
    """Another set-up after tracelog's: said once, as a JSON line with the fix."""

    def test_a_dictconfig_that_removes_the_handler_is_said_once(
        self, configured: Callable[..., Captured]
    ) -> None:
        """Django's LOGGING after configure(): one warning on tracelog's output, with the fix."""
        captured = configured()
        logging.config.dictConfig({**DJANGO_DOCS_LOGGING, "root": {"handlers": []}})
        logging.getLogger("shop").info("lost")
        logging.getLogger("shop").info("lost again")
        (warning,) = warnings_in(captured)
        assert warning["level"] == "warning"
        assert warning["message"].startswith("tracelog's handler was taken off the root logger")
        assert "LOGGING = tracelog.logging_config(...)" in warning["fix"]
        assert "trace_id" not in warning
        assert [r["message"] for r in captured.records()] == [warning["message"]]

    def test_basic_config_force_is_said(self, configured: Callable[..., Captured]) -> None:
        """basicConfig(force=True) closes tracelog's handler: said at the next record."""
        captured = configured()
        logging.basicConfig(force=True, stream=io.StringIO())
        with known_span():
            logging.getLogger("shop").info("x")
        (warning,) = warnings_in(captured)
        assert "taken off the root logger" in warning["message"]
        assert "trace_id" not in warning  # about the set-up, not the span current then

    def test_configure_after_a_plain_root_handler_says_lines_are_doubled(
        self, configured: Callable[..., Captured]
    ) -> None:
        """configure() in AppConfig.ready() after Django's LOGGING: doubled and unrouted, said."""
        logging.config.dictConfig(DJANGO_DOCS_LOGGING)
        captured = configured()
        logging.getLogger("django").info("checked")
        logging.getLogger("django").info("checked again")
        said = {w["message"]: w["fix"] for w in warnings_in(captured)}
        console = [m for m in said if m.startswith("records of the 'django' logger are written")]
        assert len(console) == 1
        assert "StreamHandler" in console[0]
        assert said[console[0]].startswith("take that handler off the logger")
        unrouted = [m for m in said if m.startswith("the 'django.request' logger")]
        assert len(unrouted) == 1
        assert "does not propagate to the root logger" in unrouted[0]
        assert said[unrouted[0]].startswith("django: LOGGING = tracelog.logging_config(...)")
        assert len(said) == 2

    def test_uvicorns_own_config_is_named(self, configured: Callable[..., Captured]) -> None:
        """The default log_config of uvicorn after configure(): its loggers unrouted, said."""
        uvicorn_config = pytest.importorskip("uvicorn.config")
        captured = configured()
        logging.config.dictConfig(uvicorn_config.LOGGING_CONFIG)
        logging.getLogger("shop").info("x")
        messages = [w["message"] for w in warnings_in(captured)]
        assert [m.split(" logger ")[0] for m in messages] == ["the 'uvicorn'"]
        assert "log_config=tracelog.logging_config" in warnings_in(captured)[0]["fix"]

    def test_its_own_dict_applied_again_says_nothing(self, captured: Captured) -> None:
        """Applying logging_config() twice (as a reload does): no warning."""
        config = tracelog.logging_config(output=captured.stream)
        logging.config.dictConfig(config)
        logging.config.dictConfig(config)
        logging.getLogger("shop").info("once")
        assert [r["message"] for r in captured.records()] == ["once"]

    def test_a_json_handler_of_ones_own_is_not_doubling(self, captured: Captured) -> None:
        """A handler with tracelog's formatter writes JSON elsewhere on purpose: no warning."""
        config = tracelog.logging_config(output=captured.stream)
        config["handlers"]["copy"] = {
            "class": "logging.StreamHandler",
            "stream": io.StringIO(),
            "formatter": "tracelog",
        }
        config["root"]["handlers"].append("copy")
        logging.config.dictConfig(config)
        logging.getLogger("shop").info("copied")
        assert warnings_in(captured) == []

    def test_after_reset_nothing_is_said(self, configured: Callable[..., Captured]) -> None:
        """reset() leaves no check behind to say anything."""
        captured = configured()
        logging.basicConfig(force=True, stream=io.StringIO())
        tracelog.reset()
        logging.getLogger("shop").info("x")
        assert captured.text == ""


class TestRequestTrace:
    """The request's trace, kept by the middleware for the server's lines after the span."""

    def test_a_record_outside_any_span_takes_the_kept_trace(
        self, configured: Callable[..., Captured]
    ) -> None:
        """Outside spans the kept trace is stamped; a span current wins; None forgets it."""
        captured = configured()
        with known_span():
            kept = tracelog.current_trace()
        _context.keep_request_trace(kept)
        logging.getLogger("uvicorn.error").error("Exception in ASGI application")
        with known_span(0xABC, 0xDEF):
            logging.getLogger("shop").info("other span")
        _context.keep_request_trace(None)
        logging.getLogger("shop").info("no request")
        ids = [record.get("trace_id") for record in captured.records()]
        assert ids == [TRACE_HEX, f"{0xABC:032x}", None]


class TestRecordFields:
    """Fields frameworks add to records that are not data."""

    def test_uvicorns_color_message_is_not_written(
        self, configured: Callable[..., Captured]
    ) -> None:
        """The ANSI copy of the message uvicorn adds stays out of the JSON."""
        captured = configured()
        logging.getLogger("uvicorn.error").info(
            "Started server process [%d]", 7, extra={"color_message": "\x1b[36m%d\x1b[0m"}
        )
        (record,) = captured.records()
        assert record["message"] == "Started server process [7]"
        assert "color_message" not in record

    def test_djangos_request_objects_are_not_written(
        self, configured: Callable[..., Captured]
    ) -> None:
        """django.* records' `request` is for Django's handlers; elsewhere it is a field."""
        captured = configured()
        socket_like = object()
        logging.getLogger("django.server").info(
            '"GET / HTTP/1.1" 200', extra={"request": socket_like, "status_code": 200}
        )
        logging.getLogger("shop").info("mine", extra={"request": "GET /"})
        server, mine = captured.records()
        assert "request" not in server
        assert server["status_code"] == 200
        assert mine["request"] == "GET /"

    def test_access_lines_are_not_span_events(
        self, configured: Callable[..., Captured], tracer: Any
    ) -> None:
        """uvicorn's, gunicorn's and runserver's access lines are lines only."""
        configured()
        spans, exporter = tracer
        with spans.start_as_current_span("request"):
            for name in ("uvicorn.access", "gunicorn.access", "django.server", "shop"):
                logging.getLogger(name).info("%s line", name)
        (span,) = exporter.get_finished_spans()
        assert [event.name for event in span.events] == ["shop line"]


class TestOneExceptionEvent:
    """An exception the instrumentation records is not added a second time by the bridge."""

    def test_recorded_already_on_the_span(
        self, configured: Callable[..., Captured], tracer: Any
    ) -> None:
        """record_exception() first (Celery's): the logged exception adds no event, sets status."""
        configured()
        spans, exporter = tracer
        with spans.start_as_current_span("task", record_exception=False) as span:
            try:
                raise KeyError("card")
            except KeyError as error:
                span.record_exception(error)
                logging.getLogger("shop").exception("failed")
            try:
                raise ValueError("another")
            except ValueError:
                logging.getLogger("shop").exception("failed differently")
        (finished,) = exporter.get_finished_spans()
        assert [
            (event.name, (event.attributes or {}).get("exception.type"))
            for event in finished.events
        ] == [("exception", "KeyError"), ("exception", "ValueError")]

    def test_recorded_already_still_sets_the_status(
        self, configured: Callable[..., Captured], tracer: Any
    ) -> None:
        """No second event, but an ERROR record with the exception still sets ERROR."""
        configured()
        spans, exporter = tracer
        with spans.start_as_current_span("task", record_exception=False) as span:
            try:
                raise KeyError("card")
            except KeyError as error:
                span.record_exception(error)
                logging.getLogger("shop").exception("failed")
        (finished,) = exporter.get_finished_spans()
        assert [event.name for event in finished.events] == ["exception"]
        assert (finished.status.status_code, finished.status.description) == (
            StatusCode.ERROR,
            "KeyError: 'card'",
        )

    def test_recorded_later_by_the_instrumentation(
        self, configured: Callable[..., Captured], tracer: Any
    ) -> None:
        """An exception noted as recorded later (Django's) becomes no event of tracelog's."""
        configured()
        spans, exporter = tracer
        with spans.start_as_current_span("request"):
            try:
                raise RuntimeError("boom")
            except RuntimeError as error:
                tracelog._events.recorded_by_instrumentation(error, later=True)
                logging.getLogger("django.request").exception("Internal Server Error: /boom")
        (finished,) = exporter.get_finished_spans()
        assert finished.events == ()
