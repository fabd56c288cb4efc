"""How this oas-mcp was installed, and so the command a client's entry runs to start it: this installation's, or
``uvx`` for one in uv's cache, which does not last."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

PORTABLE_COMMAND = "oas-mcp"
"""The command a project's shared file runs: oas-mcp as found on each person's PATH, never a path on this computer."""
_UV_ARCHIVE = re.compile(r"archive-v\d+")


def this_installation() -> list[str]:
    scripts = Path(sys.executable).parent
    installed = shutil.which(PORTABLE_COMMAND, path=str(scripts))
    return [os.path.abspath(installed)] if installed else [os.path.abspath(sys.executable), "-m", "oas_mcp"]


def lasting_command() -> list[str] | None:
    """When this oas-mcp runs from a temporary environment, one uvx made in uv's cache (which ``uv cache clean`` or
    ``prune`` deletes), the command that gets it back from where it came: ``uvx [--from SOURCE] oas-mcp``. None for
    an installation that lasts (a venv, pipx, ``uv tool install``)."""
    if not _in_uv_cache(Path(sys.executable).absolute(), os.environ):
        return None
    source = installed_from()
    return [_uvx(), *(["--from", source] if source else []), PORTABLE_COMMAND]


def _uvx() -> str:
    """The uvx that ran this, by absolute path: beside the uv that uv names in ``$UV``, else on the PATH."""
    beside_uv = Path(os.environ["UV"]).with_stem("uvx") if os.environ.get("UV") else None
    if beside_uv is not None and beside_uv.is_file():
        return str(beside_uv)
    return shutil.which("uvx") or "uvx"


def _in_uv_cache(path: Path, environ: Mapping[str, str]) -> bool:
    """Whether ``path`` is in uv's cache: ``$UV_CACHE_DIR``, else its default folder, or any folder uv names
    ``archive-v0`` (a cache set in uv.toml)."""
    if environ.get("UV_CACHE_DIR"):
        cache = Path(environ["UV_CACHE_DIR"])
    elif sys.platform == "win32":
        cache = Path(environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "uv" / "cache"
    else:
        cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"
    return path.is_relative_to(cache.absolute()) or any(_UV_ARCHIVE.fullmatch(part) for part in path.parts)


def installed_from() -> str | None:
    """Where this oas-mcp was installed from, as ``uvx --from`` takes it: a VCS URL (with the revision asked for), an
    archive's URL, or a wheel, sdist or folder on this computer; None for a package index (PyPI), which says none
    (PEP 610's ``direct_url.json``)."""
    try:
        recorded = distribution("oas-mcp").read_text("direct_url.json")
        found: dict[str, Any] = json.loads(recorded) if recorded else {}
        url = str(found["url"]) if found else None
    except (PackageNotFoundError, ValueError, KeyError, TypeError):
        return None
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is not None:  # PEP 610 wants none recorded; never write one into a client's file
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    if isinstance(vcs := found.get("vcs_info"), dict) and vcs.get("vcs"):
        revision = vcs.get("requested_revision")
        url = f"{vcs['vcs']}+{url}" + (f"@{revision}" if revision else "")
    elif url.startswith("file://"):
        url = url2pathname(urlsplit(url).path)
    subdirectory = found.get("subdirectory")
    return f"{url}#subdirectory={subdirectory}" if subdirectory else url


def install_for_good() -> str:
    source = installed_from()
    return f"uv tool install {shlex.quote(source) if source else PORTABLE_COMMAND}, or pipx install"
