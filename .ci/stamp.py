"""Print a JSON file of the repository with the package version written in: `version` after `name` and, in
server.json, after each package's `identifier`. The version is written once, in oas_mcp/__init__.py:
bundle/manifest.json and server.json carry none, and .ci/build writes them out with it.

Usage: python .ci/stamp.py VERSION FILE > OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def versioned(mapping: dict[str, Any], after: str, version: str) -> dict[str, Any]:
    """``mapping`` with ``version`` right after the key ``after``."""
    if "version" in mapping or after not in mapping:
        raise SystemExit(f"expected {after!r} and no version (oas_mcp/__init__.py has it) in {json.dumps(mapping)}")
    keys = list(mapping)
    position = keys.index(after) + 1
    return {**dict(list(mapping.items())[:position]), "version": version, **{k: mapping[k] for k in keys[position:]}}


def stamped(document: dict[str, Any], version: str) -> dict[str, Any]:
    """``document`` (bundle/manifest.json or server.json) with the version written in."""
    out = versioned(document, "name", version)
    if "packages" in out:
        out["packages"] = [versioned(package, "identifier", version) for package in out["packages"]]
    return out


if __name__ == "__main__":
    version, path = sys.argv[1:]
    json.dump(stamped(json.loads(Path(path).read_text()), version), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
