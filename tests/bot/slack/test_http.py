"""The HTTP front's signature check on its own: what it accepts as Slack's."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.slack.http import check_signature

NOW = 1_763_208_000


def signature(key: bytes, timestamp: bytes, body: bytes) -> bytes:
    return b"v0=" + hmac.new(key, b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest().encode()


@pytest.mark.parametrize("secret", [b"", b"  "])
def test_an_empty_signing_secret_accepts_no_signature_not_even_one_made_with_the_empty_key(secret: bytes) -> None:
    timestamp, body = str(NOW).encode(), b"command=%2Fmargin&text=acme"
    why = check_signature(secret, timestamp, signature(secret, timestamp, body), body, now=NOW)
    assert why == "no SLACK_SIGNING_SECRET is set, so no signature can be checked"


def test_a_signature_made_with_the_signing_secret_is_accepted() -> None:
    timestamp, body = str(NOW).encode(), b"command=%2Fmargin&text=acme"
    assert check_signature(b"s3cret", timestamp, signature(b"s3cret", timestamp, body), body, now=NOW) is None
