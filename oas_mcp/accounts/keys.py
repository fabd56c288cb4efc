"""The keys that encrypt linked accounts at rest: Fernet keys read from a file, one a line.

The first key encrypts; every key decrypts. To rotate, put a new key first, restart the servers, run
``oas-mcp accounts rotate``, then remove the old key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from oas_mcp.settings import SettingsError, read_secret_file

MAKE_KEY = "make a key with python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def read_keys(path: Path | None, setting: str) -> MultiFernet:
    """The keys in ``path``; blank lines and lines starting with ``#`` are skipped.

    Raises SettingsError, naming ``setting`` (where the path came from) and how to make a key, when there is no
    path, or the file cannot be read (see :func:`~oas_mcp.settings.read_secret_file`), holds something that is not
    a key, or holds no key. The message never quotes the file.
    """
    if path is None:
        raise SettingsError(
            f"{setting} is not set: linked accounts are encrypted with keys from a file; {MAKE_KEY} > FILE "
            f"(readable by the server alone), and set {setting} to FILE"
        )
    where = f"the accounts key file {path} ({setting})"
    try:
        text = read_secret_file(path, where)
    except SettingsError as exc:
        raise SettingsError(f"{exc}; {MAKE_KEY}") from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        try:
            keys.append(Fernet(key))
        except ValueError:
            raise SettingsError(f"line {number} of {where} is not a Fernet key; {MAKE_KEY}") from None
    if not keys:
        raise SettingsError(f"{where} holds no key; {MAKE_KEY}")
    return MultiFernet(keys)
