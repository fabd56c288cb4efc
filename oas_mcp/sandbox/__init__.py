"""The sandbox: an in-memory emulator of the OAS API, for trying oas-mcp with no account and for tests.

It never imports the client: it is the API's side of the wire.
"""

from oas_mcp.sandbox._app import SANDBOX_URL, Sandbox
from oas_mcp.sandbox._faults import Fault
from oas_mcp.sandbox._store import (
    DEMO2_API_KEY,
    DEMO2_EMAIL,
    DEMO2_ORGANISATIONS,
    DEMO2_PASSWORD,
    DEMO2_USERNAME,
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_ORGANISATIONS,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Store,
    User,
    demo_store,
)

__all__ = [
    "DEMO2_API_KEY",
    "DEMO2_EMAIL",
    "DEMO2_ORGANISATIONS",
    "DEMO2_PASSWORD",
    "DEMO2_USERNAME",
    "DEMO_API_KEY",
    "DEMO_EMAIL",
    "DEMO_ORGANISATIONS",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "SANDBOX_URL",
    "Fault",
    "Sandbox",
    "Store",
    "User",
    "demo_store",
]
