"""Sensitive values never reach the output, at any depth, in any library."""

from __future__ import annotations

import collections
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelog._redact import Redactor, key_words

from .conftest import LIBRARIES, emit

SENSITIVE = [
    "password",
    "db_password",
    "Authorization",
    "X-Api-Key",
    "access_token",
    "client_secret",
    "Set-Cookie",
    "PASSWORD",
    "refreshToken",
    "APIKey",
    "session_id",
]
HARMLESS = [
    "input_tokens",
    "max_tokens",
    "output_tokens",
    "author",
    "keyboard",
    "user",
    "cache_key",
]


@pytest.mark.parametrize("key", SENSITIVE)
def test_sensitive_keys(key: str) -> None:
    """The issue's examples and their case and separator variants are sensitive."""
    assert Redactor().is_sensitive(key)


@pytest.mark.parametrize("key", HARMLESS)
def test_harmless_keys(key: str) -> None:
    """LLM token counters and lookalike words are not redacted."""
    assert not Redactor().is_sensitive(key)


def test_key_words() -> None:
    """Keys split on separators, camelCase and acronyms, lowercased."""
    assert key_words("X-Api-Key") == ("x", "api", "key")
    assert key_words("accessToken") == ("access", "token")
    assert key_words("APIKey") == ("api", "key")
    assert key_words("set-cookie") == ("set", "cookie")


def test_custom_and_empty_key_lists() -> None:
    """redact= replaces the defaults; an empty list turns redaction off."""
    custom = Redactor(["ssn", "card number"])
    assert custom.is_sensitive("customer_SSN")
    assert custom.is_sensitive("cardNumber")
    assert not custom.is_sensitive("password")
    assert not Redactor([]).is_sensitive("password")
    with pytest.raises(TypeError):
        Redactor("password")


@pytest.mark.parametrize("library", LIBRARIES)
def test_redaction_at_every_depth(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Top level, nested dicts and dicts inside lists are all redacted; the rest is kept."""
    out = configured()
    secret = "hunter2-do-not-log"
    payload = {
        "db": {"host": "db1", "password": secret},
        "headers": [{"Authorization": f"Bearer {secret}"}, {"X-Api-Key": secret, "accept": "json"}],
        "usage": {"input_tokens": 12, "max_tokens": 512},
        "deep": [[{"inner": {"client_secret": secret}}]],
    }
    original = repr(payload)
    emit(library, "info", "call", password=secret, access_token=secret, request=payload)
    assert secret not in out.text
    (record,) = out.records()
    assert record["password"] == "[REDACTED]"
    assert record["access_token"] == "[REDACTED]"
    assert record["request"] == {
        "db": {"host": "db1", "password": "[REDACTED]"},
        "headers": [{"Authorization": "[REDACTED]"}, {"X-Api-Key": "[REDACTED]", "accept": "json"}],
        "usage": {"input_tokens": 12, "max_tokens": 512},
        "deep": [[{"inner": {"client_secret": "[REDACTED]"}}]],
    }
    assert repr(payload) == original, "the caller's objects must not be modified"


def test_redact_option_of_configure(configured) -> None:  # type: ignore[no-untyped-def]
    """configure(redact=...) sets the key words for all libraries."""
    out = configured(redact=["email"])
    for library in LIBRARIES:
        emit(library, "info", "signup", user_email="a@example.com", password="kept-on-purpose")
    records = out.records()
    assert [r["user_email"] for r in records] == ["[REDACTED]"] * 3
    assert [r["password"] for r in records] == ["kept-on-purpose"] * 3


key_text = st.sampled_from(SENSITIVE + HARMLESS) | st.text(max_size=12)
nested = st.recursive(
    st.just("s3cr3t-marker") | st.integers() | st.none(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(key_text, children, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(key_text, nested, max_size=4))
def test_no_value_under_a_sensitive_key_survives(value: dict[str, object]) -> None:
    """After cleaning, every dict key the redactor calls sensitive maps to "[REDACTED]"."""
    redactor = Redactor()
    cleaned = redactor.clean(value)

    def check(node: object) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str) and redactor.is_sensitive(key):
                    assert item == "[REDACTED]"
                else:
                    check(item)
        elif isinstance(node, list):
            for item in node:
                check(item)

    check(cleaned)


@dataclasses.dataclass
class Login:
    """A dataclass holding a credential."""

    user: str
    password: str


class Settings:
    """A pydantic-like model: fields come from model_dump()."""

    def model_dump(self) -> dict[str, object]:
        """Return the fields, as pydantic v2 does."""
        return {"region": "eu", "api_key": "k-123"}


@pytest.mark.parametrize("library", LIBRARIES)
def test_records_and_other_containers_are_redacted(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Dataclasses, pydantic-like models, deques, dict views and bytes keys are redacted too."""
    out = configured()
    secret = "hunter2-do-not-log"
    emit(
        library,
        "info",
        "containers",
        login=Login("bob", secret),
        settings=Settings(),
        queue=collections.deque([{"token": secret}]),
        views=list({"a": {"secret": secret}}.values()),
        user_list=collections.UserList([{"cookie": secret}]),
        headers={b"authorization": secret.encode(), b"accept": b"json"},
    )
    assert secret not in out.text
    (record,) = out.records()
    assert record["login"] == {"user": "bob", "password": "[REDACTED]"}
    assert record["settings"] == {"region": "eu", "api_key": "[REDACTED]"}
    assert record["queue"] == [{"token": "[REDACTED]"}]
    assert record["views"] == [{"secret": "[REDACTED]"}]
    assert record["user_list"] == [{"cookie": "[REDACTED]"}]
    assert record["headers"] == {"b'authorization'": "[REDACTED]", "b'accept'": "json"}


def test_digits_and_plurals() -> None:
    """password1/password2 and plural credential words are sensitive; token counters are not."""
    redactor = Redactor()
    for key in ("password1", "password2", "passwords", "cookies", "secrets", "api_keys"):
        assert redactor.is_sensitive(key), key
    for key in ("tokens", "input_tokens", "sha256", "utf8"):
        assert not redactor.is_sensitive(key), key


class Unreadable(dict):  # type: ignore[type-arg]
    """A mapping whose items cannot be read, and whose str() would show a secret."""

    def items(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("cannot read")

    def __str__(self) -> str:
        return "password=hunter2"


def test_unreadable_containers_become_a_marker_not_their_str(configured) -> None:  # type: ignore[no-untyped-def]
    """A container that cannot be walked is written as a marker, never via str()."""
    out = configured()
    emit("stdlib", "info", "odd", data=Unreadable(password="hunter2"))
    (record,) = out.records()
    assert record["data"] == "<unrepresentable Unreadable>"
    assert "hunter2" not in out.text


class ArrayLike:
    """Has __len__, __iter__ and __contains__ (like a numpy array) but is no declared sequence."""

    def __len__(self) -> int:
        return 3

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([1, 2, 3])

    def __contains__(self, item: object) -> bool:
        return False

    def __str__(self) -> str:
        return "[1 2 3]"


def test_duck_collections_and_ranges_render_as_themselves(configured) -> None:  # type: ignore[no-untyped-def]
    """Only declared sequences, sets and mappings are walked: an array-like keeps its str()."""
    out = configured()
    emit("structlog", "info", "shapes", array=ArrayLike(), span=range(10**12))
    (record,) = out.records()
    assert (record["array"], record["span"]) == ("[1 2 3]", "range(0, 1000000000000)")
