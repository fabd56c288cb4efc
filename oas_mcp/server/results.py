"""What each tool returns: its output schema and structured content. API data is cleaned on the way in: names
keep what they say (only control characters and known secrets go), URLs are http(s) or null. The API's messages
(the greeting, a confirmation) come cleaned by the client already, and are taken as they are.

A result showing a client model is named after it with ``Result`` (``OrganisationResult`` shows a
``client.Organisation``), and its schema keeps the API's name as its title."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from oas_mcp import client
from oas_mcp.untrusted import clean, clean_data


def _short(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: clean_data(value, limit) if isinstance(value, str) else value)


@cache
def _image_url() -> TypeAdapter[str]:
    return TypeAdapter(client.ImageURL)


def _web_url(value: object) -> object:
    """A URL the API sent, kept only when it is one the client would send (http or https); else None, since a
    ``javascript:`` or ``data:`` URL shown as a link runs or hides something."""
    if not isinstance(value, str):
        return value
    try:
        return _image_url().validate_python(value)
    except ValidationError:
        return None


Text = Annotated[str, _short(255)]
URL = Annotated[str | None, BeforeValidator(_web_url)]
_GREETING = re.compile(r"@([\w.@+-]+)")


class Greeting(BaseModel):
    message: Annotated[str, Field(description="The API's greeting, e.g. 'Hello world @username'.")]
    username: Annotated[str | None, Field(description="The credential's owner, read from the greeting.")] = None
    checked: Annotated[
        Literal["api_key", "session"],
        Field(description="What the API accepted: the API key alone, or (with no key set) the signed-in session."),
    ]

    @classmethod
    def of(cls, message: str, checked: Literal["api_key", "session"]) -> Greeting:
        found = _GREETING.search(message)
        return cls(message=message, username=found.group(1) if found else None, checked=checked)


class Profile(BaseModel):
    id: int | None
    username: Text | None
    email: Text | None
    is_staff: bool | None
    is_superuser: bool | None
    is_active: bool | None
    last_login: Annotated[Text | None, Field(description="When the user last signed in, as the API wrote it.")]


class SignedIn(BaseModel):
    user: Profile
    expires_at: Annotated[
        datetime | None, Field(description="When the session token expires (UTC); null when the API does not say.")
    ]
    expires_in_seconds: int | None

    @classmethod
    def of(cls, session: client.Token) -> SignedIn:
        expires = session.expires_at
        return cls(
            user=Profile.model_validate(session.user, from_attributes=True),
            expires_at=expires,
            expires_in_seconds=None if expires is None else int((expires - datetime.now(UTC)).total_seconds()),
        )


class OwnerResult(BaseModel):
    model_config = ConfigDict(title="Owner")

    id: int | None = None
    username: Text | None = None
    email: Text | None = None


class OrganisationResult(BaseModel):
    model_config = ConfigDict(title="Organisation")

    id: int
    name: Text
    base_currency: Text | None
    currencies: list[Annotated[str, _short(8)]]
    image: URL
    owner: OwnerResult | None

    @classmethod
    def of(cls, organisation: client.Organisation) -> OrganisationResult:
        return cls.model_validate(organisation, from_attributes=True)


@cache
def _organisations() -> TypeAdapter[list[OrganisationResult]]:
    """Reads the client's organisations straight into results, text cleaned on the way: one pass, no copy between.
    Built on first use: start-up does not need it."""
    return TypeAdapter(list[OrganisationResult])


class CreatedOrganisationResult(OrganisationResult):
    model_config = ConfigDict(title="CreatedOrganisation")

    note: Annotated[str | None, Field(description="Set when the API's reply was lost and a listing confirmed it.")] = (
        None
    )
    same_name_ids: Annotated[
        list[int],
        Field(description="Organisations that already had this name (any case); unless the user was asked, tell them."),
    ] = []

    @classmethod
    def of_created(cls, created: client.CreatedOrganisation, same_name_ids: list[int]) -> CreatedOrganisationResult:
        result = cls.model_validate(created, from_attributes=True)
        result.same_name_ids = same_name_ids
        if lost := created.recovered_after:
            result.note = f"Created once; confirmed by a listing after the reply was lost ({clean(lost, 160)})."
        return result


class Organisations(BaseModel):
    count: Annotated[int, Field(description="How many organisations the API has in all, before filters.")]
    returned: Annotated[int, Field(description="How many are in `organisations`.")]
    truncated: Annotated[
        bool, Field(description="True when `limit` stopped the listing and more may match: raise limit or filter.")
    ]
    organisations: list[OrganisationResult]
    note: Annotated[str | None, Field(description="Why the listing stopped early, when the API caused it.")] = None

    @classmethod
    def of(cls, listing: client.OrganisationList) -> Organisations:
        return cls(
            count=listing.count,
            returned=len(listing.organisations),
            truncated=listing.truncated,
            organisations=_organisations().validate_python(listing.organisations, from_attributes=True),
            note=listing.note,
        )


class Activated(BaseModel):
    organisation_id: int
    message: Annotated[str, Field(description="The API's confirmation.")]
