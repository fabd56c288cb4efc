"""What the OAS API sends and accepts, read tolerantly: unknown fields are ignored, optional ones may be missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from oas_mcp.client._fields import CurrencyCode, ImageURL, OrganisationName


class NewOrganisation(BaseModel):
    """The body of ``POST /api/organisations/``, validated and normalised before anything is sent.

    Currency codes are upper-cased and de-duplicated; the base currency is added to ``currencies`` when missing.
    """

    name: OrganisationName
    base_currency: CurrencyCode
    currencies: list[CurrencyCode]
    image: ImageURL | None = None

    @model_validator(mode="after")
    def _base_among_currencies(self) -> NewOrganisation:
        codes = list(dict.fromkeys(self.currencies))
        if self.base_currency not in codes:
            codes.insert(0, self.base_currency)
        self.currencies = codes
        return self

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def matches(self, organisation: Organisation) -> bool:
        """Whether ``organisation`` is what this request would create (name, base currency, currencies)."""
        return (
            organisation.name.strip().casefold() == self.name.casefold()
            and organisation.base_currency == self.base_currency
            and set(organisation.currencies) == set(self.currencies)
        )


def _owner(value: object) -> object:
    """The guide says the owner is an object; accept an id or a username too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return {"id": value}
    if isinstance(value, str):
        return {"username": value}
    return value


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class Owner:
    id: int | None = None
    username: str | None = None
    email: str | None = None


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class Organisation:
    """One organisation as the API lists or creates it.

    A slotted dataclass rather than a BaseModel: a big account lists thousands, and each then takes about a
    sixth of the memory (no per-instance ``__dict__`` or fields-set).
    """

    id: int
    name: str = ""
    base_currency: str | None = None
    currencies: list[str] = Field(default_factory=list)
    image: str | None = None
    owner: Annotated[Owner | None, BeforeValidator(_owner)] = None

    def supports(self, currency: str) -> bool:
        return currency == self.base_currency or currency in self.currencies


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class CreatedOrganisation(Organisation):
    """A new organisation, read from the API's reply. When that reply was lost and a listing confirmed the
    organisation instead, ``recovered_after`` says how the reply was lost (the guide's reply has no such field)."""

    recovered_after: str | None = None

    @classmethod
    def recovered(cls, organisation: Organisation, lost: str) -> CreatedOrganisation:
        """``organisation``, as a listing found it after the reply to creating it was lost (``lost`` says how)."""
        fields = {name: getattr(organisation, name) for name in Organisation.__dataclass_fields__}
        return cls(**fields, recovered_after=lost)


class User(_Tolerant):
    """The signed-in user, as ``POST /api/auth/login/`` describes them."""

    id: int | None = None
    username: str | None = None
    email: str | None = None
    is_staff: bool | None = None
    is_superuser: bool | None = None
    is_active: bool | None = None
    last_login: str | None = None


@dataclass(frozen=True)
class OrganisationList:
    """Organisations flattened across pages.

    ``count`` is the API's total (unfiltered) as the first page reported it; ``truncated`` means the
    limit stopped the listing while more may exist; ``note`` explains an early stop the API caused.
    """

    count: int
    organisations: list[Organisation] = field(default_factory=list)
    truncated: bool = False
    pages: int = 0
    note: str | None = None
