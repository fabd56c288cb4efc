"""The OAS API client: HTTP, auth, errors and pagination; it knows nothing of MCP.

async with OASClient(api_key="...") as oas:
    print(await oas.hello())
    listing = await oas.list_organisations(limit=50)
"""

from oas_mcp.client._auth import Credentials, Token
from oas_mcp.client._client import OASClient, Progress
from oas_mcp.client._currencies import ISO_4217
from oas_mcp.client._currencies import NAMES as CURRENCY_NAMES
from oas_mcp.client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExhaustedError,
    Credential,
    CredentialsError,
    NotFoundError,
    OASError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestNotSentError,
    ResponseTooLargeError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.client._fields import MAX_ORGANISATION_ID, CurrencyCode, ImageURL, OrganisationName
from oas_mcp.client._models import CreatedOrganisation, NewOrganisation, Organisation, OrganisationList, Owner, User
from oas_mcp.client._retry import RetryPolicy, budget
from oas_mcp.client._routes import API_KEY_HEADER

__all__ = [
    "API_KEY_HEADER",
    "CURRENCY_NAMES",
    "ISO_4217",
    "MAX_ORGANISATION_ID",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExhaustedError",
    "CreatedOrganisation",
    "Credential",
    "Credentials",
    "CredentialsError",
    "CurrencyCode",
    "ImageURL",
    "NewOrganisation",
    "NotFoundError",
    "OASClient",
    "OASError",
    "Organisation",
    "OrganisationList",
    "OrganisationName",
    "OutcomeUnknownError",
    "Owner",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "RequestNotSentError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "Token",
    "UnexpectedResponseError",
    "User",
    "budget",
]
