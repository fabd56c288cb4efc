"""The OAS API client: HTTP, auth, errors and pagination; it knows nothing of MCP.

async with OASClient(api_key="...") as oas:
    print(await oas.hello())
    listing = await oas.list_organisations(limit=50)
"""

from oas_mcp.client._auth import Credentials, Token
from oas_mcp.client._client import OASClient, Progress
from oas_mcp.client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Credential,
    CredentialsError,
    NotFoundError,
    OASError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.client._models import (
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

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
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
    "Owner",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "ServerError",
    "Token",
    "UnexpectedResponseError",
    "User",
]
