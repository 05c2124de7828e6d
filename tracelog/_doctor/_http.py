"""GET with a deadline and a size cap: a slow or endless server cannot hang the doctor.

A socket timeout bounds each read only: a server that sends a byte now and
then (of its status line, a header or a chunk size, which ``http.client``
reads whole) would hold a read for ever. So a timer shuts the request's
sockets down at the deadline, which ends any read in progress.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

__all__ = ["Answer", "HttpError", "check_url", "get", "get_at_once", "join", "shown"]

LIMIT = 64 << 20  # bytes read at most from one answer
_CHUNK = 64 << 10


class Answer(NamedTuple):
    """A response: status, Content-Type (``""`` if none) and body."""

    status: int
    content_type: str
    body: bytes


class HttpError(Exception):
    """The request failed; the message says how, in words fit for a report."""


def check_url(url: object, option: str) -> str:
    """*url* if it is an http(s) URL with a host.

    Raises:
        ValueError: it is not, naming *option*.
    """
    if not isinstance(url, str):
        raise TypeError(f"{option} must be a string URL, not {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        good = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a bad port or IPv6 literal
        good = False
    if not good:
        raise ValueError(
            f"{option} must be an http:// or https:// URL with a host, not {shown(url)!r}"
        )
    return url


# The user:password@ of a URL, with or without a scheme or its //, valid or not.
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://)?[^/@:]*):[^/@]*@")


def shown(url: str) -> str:
    """*url* fit for a report: a password in it replaced by ``***``, even in a malformed URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return _USERINFO.sub(r"\1:***@", url)
        user, _, host = parts.netloc.rpartition("@")
        return parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}").geturl()
    except ValueError:
        return _USERINFO.sub(r"\1:***@", url)


def _request(url: str, accept: str | None) -> urllib.request.Request:
    """A GET of *url*; a ``user:password@`` in it is sent as Basic authorization instead."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        request = urllib.request.Request(url)
    else:
        request = urllib.request.Request(
            parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        )
        credentials = f"{parts.username or ''}:{parts.password or ''}"
        token = base64.b64encode(urllib.parse.unquote(credentials).encode()).decode("ascii")
        # Unredirected: a redirect to another host must not carry the credentials.
        request.add_unredirected_header("Authorization", f"Basic {token}")
    if accept:
        request.add_header("Accept", accept)
    return request


def join(base: str, path: str) -> str:
    """*path* (``/api/...``) under *base*, which may hold a path prefix."""
    return base.rstrip("/") + path


class _Watch:
    """Shuts down the sockets of one request when its deadline passes."""

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Watch:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        self._timer.join()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)


class _Watched(http.client.HTTPConnection):
    """A connection whose socket the request's `_Watch` can shut down."""

    def __init__(self, *args: Any, watch: _Watch, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watch = watch

    def connect(self) -> None:
        super().connect()
        self._watch.add(self.sock)


class _WatchedTLS(_Watched, http.client.HTTPSConnection):
    """`_Watched` over TLS."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self._watch = watch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_Watched, req, watch=self._watch)  # type: ignore[arg-type]


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self._watch = watch

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedTLS, req, watch=self._watch)  # type: ignore[arg-type]


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http and https URLs only (urllib's own follows ftp:// too)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = urllib.parse.urljoin(req.full_url, newurl)
        if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
            raise HttpError(
                f"{shown(req.full_url)} answered {code}, a redirect to {shown(target)!r}:"
                " not an http(s) URL, not followed"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(url: str, watch: _Watch) -> urllib.request.OpenerDirector:
    handlers: list[urllib.request.BaseHandler] = [
        _HTTPHandler(watch),
        _HTTPSHandler(watch),
        _Redirects(),
    ]
    # Loopback: a proxy from the environment must not see it.
    if _is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def get(url: str, *, timeout: float, accept: str | None = None) -> Answer:
    """GET *url*; the whole exchange takes about *timeout* seconds at most.

    The exchange runs in a thread of its own, waited for *timeout* seconds
    (and a little): whatever it is stuck in past that (a name lookup, which
    no socket deadline bounds), the answer is a timeout.

    Raises:
        HttpError: no answer, a status of 400 or more, a redirect off http(s),
            a timeout, or a body over `LIMIT`.
    """
    outcome: list[Answer | BaseException] = []

    def run() -> None:
        try:
            outcome.append(_get(url, timeout=timeout, accept=accept))
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    worker = threading.Thread(target=run, name="tracelog-doctor-get", daemon=True)
    worker.start()
    worker.join(timeout + _GRACE)
    if not outcome:
        raise HttpError(_late(shown(url), timeout))
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


_GRACE = 0.5  # seconds past the deadline for the watched sockets' own ending to come first


def _silent(url: str, timeout: float) -> str:
    """Why there is no answer: nothing came from *url* (already `shown`) within *timeout*."""
    return f"{url}: no answer within {timeout:g} s"


def _late(url: str, timeout: float) -> str:
    """Why there is no answer: *url*'s was not complete within *timeout* (or not known to be)."""
    return f"{url}: no complete answer within {timeout:g} s"


def _get(url: str, *, timeout: float, accept: str | None) -> Answer:
    deadline = time.monotonic() + timeout
    request = _request(url, accept)
    url = shown(url)
    silent = _silent(url, timeout)
    late = _late(url, timeout)
    with _Watch(timeout) as watch:
        try:
            with _opener(url, watch).open(request, timeout=timeout) as response:
                silent = late  # the status and headers came
                status = response.status
                content_type = response.headers.get("Content-Type", "")
                body = bytearray()
                while True:
                    if time.monotonic() > deadline:
                        raise HttpError(late)
                    chunk = response.read1(_CHUNK)
                    if not chunk:
                        break
                    body += chunk
                    if len(body) > LIMIT:
                        raise HttpError(f"{url}: the answer is over {LIMIT >> 20} MiB")
        except urllib.error.HTTPError as error:
            error.close()
            raise HttpError(f"{url} answered {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError) or watch.expired:
                raise HttpError(silent) from None
            raise HttpError(f"cannot reach {url}: {reason}") from None
        except TimeoutError:
            raise HttpError(silent) from None
        except (OSError, ValueError, http.client.HTTPException) as error:  # reset, bad status line
            if watch.expired:
                raise HttpError(silent) from None
            raise HttpError(f"{url}: {type(error).__name__}: {error}") from None
        if watch.expired:  # the shut-down socket read as the end of the body
            raise HttpError(late)
    return Answer(status, content_type, bytes(body))


def get_at_once(
    url: str, count: int, *, timeout: float, accept: str | None = None
) -> list[Answer | HttpError]:
    """*count* GETs of *url* together, each on a connection of its own; each answer or error.

    For a plain-http URL reached directly, every connection is made before any
    request is sent: a pre-fork server's worker that accepted one waits for its
    request, so the others go to other workers (sent one after another, or even
    at once, the same idle worker can take them all). Otherwise (https, a
    proxy) the requests are simply sent at once.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    proxied = bool(urllib.request.getproxies().get("http")) and not (
        _is_loopback(host) or urllib.request.proxy_bypass(host)
    )
    if parts.scheme != "http" or proxied:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="tracelog-doctor") as pool:
            return list(pool.map(lambda _: _outcome(url, timeout, accept), range(count)))
    request = _request(url, accept)
    target = parts._replace(scheme="", netloc="").geturl() or "/"
    headers = dict(request.header_items())
    shown_url = shown(url)
    with _Watch(timeout) as watch:
        connections = []
        try:
            for _ in range(count):
                connection = _Watched(host, parts.port or 80, timeout=timeout, watch=watch)
                connection.connect()
                connections.append(connection)
        except OSError as error:
            for connection in connections:
                connection.close()
            failure = HttpError(
                _silent(shown_url, timeout)
                if watch.expired or isinstance(error, TimeoutError)
                else f"cannot reach {shown_url}: {error}"
            )
            return [failure] * count

        def ask(connection: http.client.HTTPConnection) -> Answer | HttpError:
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                if response.status >= 300:
                    return HttpError(f"{shown_url} answered {response.status} {response.reason}")
                body = response.read(LIMIT + 1)
                if len(body) > LIMIT:
                    return HttpError(f"{shown_url}: the answer is over {LIMIT >> 20} MiB")
                return Answer(response.status, response.getheader("Content-Type", ""), body)
            except (OSError, http.client.HTTPException) as error:
                if watch.expired or isinstance(error, TimeoutError):
                    return HttpError(_late(shown_url, timeout))
                return HttpError(f"{shown_url}: {type(error).__name__}: {error}")
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="tracelog-doctor") as pool:
            answers = list(pool.map(ask, connections))
    return [
        HttpError(_late(shown_url, timeout))
        if watch.expired and isinstance(answer, Answer)
        else answer
        for answer in answers
    ]


def _outcome(url: str, timeout: float, accept: str | None) -> Answer | HttpError:
    try:
        return get(url, timeout=timeout, accept=accept)
    except HttpError as error:
        return error


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
