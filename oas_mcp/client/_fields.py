"""The checked values a caller gives the client (names, currency codes, image URLs): also the MCP tools' argument
types."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

from oas_mcp.client._currencies import ISO_4217

MAX_NAME_LENGTH = 255
MAX_URL_LENGTH = 2048
MAX_ORGANISATION_ID = 2**63 - 1
"""The largest id an organisation can have: the API's ids are 64-bit database keys."""


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if not value.isprintable():
        raise ValueError("must not contain control or invisible characters")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters (got {len(value)})")
    return value


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError(f"must be a three-letter ISO 4217 code such as USD, not {value[:20]!r}")
    if code not in ISO_4217:
        raise ValueError(f"{code} is not an ISO 4217 currency code")
    return code


def _image_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isprintable() or " " in value:
        raise ValueError("must be an http:// or https:// URL of an image")
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    return value


OrganisationName = Annotated[str, AfterValidator(_name)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
ImageURL = Annotated[str, AfterValidator(_image_url)]
