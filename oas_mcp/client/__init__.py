"""The OAS API client: HTTP, auth, errors and pagination; it knows nothing of MCP.

async with OASClient(api_key="...") as oas:
    print(await oas.hello())
    listing = await oas.list_organisations(limit=50)
"""

from oas_mcp.client._auth import Credentials, Token
from oas_mcp.client._client import OASClient
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
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.client._models import (
    CreatedOrganisation,
    CurrencyCode,
    ImageURL,
    LoginResult,
    NewOrganisation,
    Organisation,
    OrganisationList,
    OrganisationName,
    Owner,
    User,
)
from oas_mcp.client._retry import RetryPolicy

__all__ = [
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
    "LoginResult",
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
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Token",
    "UnexpectedResponseError",
    "User",
]
