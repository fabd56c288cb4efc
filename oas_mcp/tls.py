"""TLS for the HTTPS clients oas-mcp makes (to the OAS API, to the OAuth issuer): one context for the process."""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def context() -> ssl.SSLContext:
    """httpx's default context (its CA certificates, or those SSL_CERT_FILE and SSL_CERT_DIR name), made once.
    Making one reads every CA certificate, 35 ms of CPU, and a server with per-request credentials or linked
    accounts makes a client for each person."""
    return httpx2.create_ssl_context()
