"""GET with a deadline and a size cap: a slow or endless server cannot hang the doctor."""

from __future__ import annotations

import http.client
import ipaddress
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

__all__ = ["Answer", "HttpError", "check_url", "get", "join"]

LIMIT = 64 << 20  # bytes read at most from one answer
_CHUNK = 64 << 10
# Loopback is reached directly: a proxy from the environment must not see it.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT = urllib.request.build_opener()


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
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{option} must be an http:// or https:// URL with a host, not {url!r}")
    return url


def join(base: str, path: str) -> str:
    """*path* (``/api/...``) under *base*, which may hold a path prefix."""
    return base.rstrip("/") + path


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return _DIRECT
    try:
        return _DIRECT if ipaddress.ip_address(host).is_loopback else _DEFAULT
    except ValueError:
        return _DEFAULT


def get(url: str, *, timeout: float, accept: str | None = None) -> Answer:
    """GET *url*; the whole exchange takes about *timeout* seconds at most.

    Raises:
        HttpError: no answer, a status of 400 or more, a timeout, or a body over `LIMIT`.
    """
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            status = response.status
            content_type = response.headers.get("Content-Type", "")
            body = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise HttpError(f"{url}: no complete answer within {timeout:g} s")
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
        if isinstance(reason, TimeoutError):
            raise HttpError(f"{url}: no answer within {timeout:g} s") from None
        raise HttpError(f"cannot reach {url}: {reason}") from None
    except TimeoutError:
        raise HttpError(f"{url}: no answer within {timeout:g} s") from None
    except (OSError, ValueError, http.client.HTTPException) as error:  # reset, bad status line
        raise HttpError(f"{url}: {type(error).__name__}: {error}") from None
    return Answer(status, content_type, bytes(body))
