"""The packages as users get them: the README's build command, run as written in a clean copy of the repository
with a new venv; then, built by ``.ci/build``, the wheel and sdist, the wheel installed the ways the README shows (pip
into a fresh venv, as pipx does, and uvx), and the Claude Desktop bundle, unpacked and launched exactly as Claude
Desktop launches it.

``.ci/build`` needs the release tools of ``.ci/release.lock`` in this venv (``.ci/run`` installs them); it installs
its own mcpb. The tests unpack and check the bundle with the mcpb of ``INTEROP_BIN``. The build fetches the release
tools from PyPI and mcpb from npm, and installing the wheel and launching the bundle fetch oas-mcp's dependencies from
PyPI, as they do on a user's machine; uv is pointed at this machine's Python and never downloads one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from oas_mcp import __version__
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME

from support import readme_command, released, running, structured

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[2]
VENV_BIN = Path(sys.executable).parent
# uv as on a user's machine, but on this venv's Python (its venvs are made from the base one): it never downloads one.
UV_ENV = {"UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never"}
USER_CONFIG = {"api_key": DEMO_API_KEY, "username": DEMO_USERNAME, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
# How Claude Desktop turns a bundle's manifest and the user's answers into the command it starts (mcpb's own code).
LAUNCH_CONFIG = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [module, extension, userConfig, home] = process.argv.slice(1);
const { getMcpConfigForManifest } = await import(pathToFileURL(module).href);
const config = await getMcpConfigForManifest({
  manifest: JSON.parse(readFileSync(`${extension}/manifest.json`, "utf8")),
  extensionPath: extension,
  systemDirs: { HOME: home, DESKTOP: `${home}/Desktop`, DOCUMENTS: `${home}/Documents` },
  userConfig: JSON.parse(userConfig),
  pathSeparator: "/",
});
process.stdout.write(JSON.stringify(config ?? null));
"""


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path
    bundle: Path

    @classmethod
    def into(cls, out: Path) -> Built:
        return cls(
            out / f"oas_mcp-{__version__}-py3-none-any.whl",
            out / f"oas_mcp-{__version__}.tar.gz",
            out / f"oas-mcp-{__version__}.mcpb",
        )


def run(*command: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``command`` in this environment plus ``env``; fails the test unless it exits with 0."""
    result = subprocess.run(
        [str(part) for part in command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{command} exited with {result.returncode}: {result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(node_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``.ci/build`` into a temporary folder, with this venv's Python."""
    missing = [tool for tool in ("uv", "uvx", "twine", "pyproject-build") if not (VENV_BIN / tool).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing from {VENV_BIN}; install .ci/release.lock (.ci/run does)")
    out = tmp_path_factory.mktemp("dist")
    run(ROOT / ".ci" / "build", out, PYTHON=sys.executable)
    return Built.into(out)


def clean_copy(destination: Path) -> Path:
    """The repository as a fresh clone of it would be once this work tree is committed: its tracked and new files,
    none of what is ignored (no venv, no npm tools, no dist/)."""
    listed = run("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.mark.usefixtures("node_bin")  # the interop stage only: it builds from scratch, fetching mcpb and Node
def test_the_readme_build_command_builds_the_three_packages_in_a_clean_copy_with_only_what_the_build_uses(
    tmp_path: Path,
) -> None:
    clone = clean_copy(tmp_path / "oas-mcp")
    # A user's shell: no venv of ours on the PATH, no INTEROP_BIN.
    path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if Path(part) != VENV_BIN)
    env = {name: value for name, value in os.environ.items() if name not in {"VIRTUAL_ENV", "INTEROP_BIN", "PYTHON"}}
    result = subprocess.run(
        ["bash", "-c", readme_command("build-command")],
        cwd=clone,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = Built.into(clone / "dist")
    tools = clone / ".ci" / "build-tools"
    from_npm = {
        str(path.parent.relative_to(tools))
        for path in (tools / "node_modules").rglob("package.json")
        if PACKAGE_FOLDER.fullmatch(str(path.parent.relative_to(tools)))
    }

    assert sorted(path.name for path in (clone / "dist").iterdir()) == sorted(
        [built.wheel.name, built.sdist.name, built.bundle.name, "server.json"]
    )
    assert json.loads((clone / "dist" / "server.json").read_text()) == released("server.json")
    # From PyPI the release lock's tools (and the venv's own pip); from npm its lock's, none of the interop tools.
    assert (
        {"build", "hatchling", "twine", "uv"}
        <= pip_installed(clone / ".venv")
        <= locked(".ci/release.lock") | {"pip", "setuptools"}
    )
    assert "node_modules/@anthropic-ai/mcpb" in from_npm
    assert from_npm <= set(json.loads((tools / "package-lock.json").read_text())["packages"])
    assert not (clone / ".ci" / "interop").exists()


PACKAGE_FOLDER = re.compile(r"node_modules/(@[^/]+/)?[^/@]+(/node_modules/(@[^/]+/)?[^/@]+)*")
"""A package's folder in node_modules (not a folder inside a package that has a package.json of its own)."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_installed(venv: Path) -> set[str]:
    freeze = run(venv / "bin" / "python", "-m", "pip", "freeze", "--all").stdout
    return {canonical(line.split("==")[0]) for line in freeze.splitlines()}


def locked(lock: str) -> set[str]:
    return {canonical(name) for name in re.findall(r"^([\w.-]+)==", (ROOT / lock).read_text(), re.M)}


def test_twine_check_passes_on_the_wheel_and_the_sdist(built: Built) -> None:
    result = run(sys.executable, "-m", "twine", "check", "--strict", built.wheel, built.sdist, NO_COLOR="1")

    assert result.stdout.count("PASSED") == 2


def test_the_wheel_holds_the_typed_package_its_license_and_complete_metadata(built: Built) -> None:
    info = f"oas_mcp-{__version__}.dist-info"
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())

    assert {name.split("/")[0] for name in names} == {"oas_mcp", info}  # no tests, no benchmarks
    assert {"oas_mcp/py.typed", "oas_mcp/sandbox/__init__.py", f"{info}/licenses/LICENSE"} <= set(names)
    assert (metadata["License-Expression"], metadata["License-File"]) == ("MIT", "LICENSE")
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert all(metadata[header] for header in ("Author", "Keywords", "Project-URL"))
    # What PyPI shows, where the MCP Registry looks for the project's ownership marker.
    assert f"<!-- mcp-name: {released('server.json')['name']} -->" in metadata.get_payload()


def test_the_sdist_holds_what_building_the_wheel_needs(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        top = {Path(name).parts[1] for name in sdist.getnames() if len(Path(name).parts) > 1}

    assert top == {"oas_mcp", "pyproject.toml", "README.md", "LICENSE", "PKG-INFO", ".gitignore"}


@pytest.fixture(params=["pip", "uvx"])
def installed(request: pytest.FixtureRequest, built: Built, tmp_path: Path) -> list[str]:
    """The ``oas-mcp`` command from the wheel: pip into a fresh venv (what pipx does), or uvx."""
    if request.param == "uvx":
        return [str(VENV_BIN / "uvx"), "--from", str(built.wheel), "oas-mcp"]
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    run(tmp_path / "venv" / "bin" / "pip", "install", "-q", built.wheel)
    return [str(tmp_path / "venv" / "bin" / "oas-mcp")]


def test_the_installed_wheel_passes_every_check_on_the_sandbox(installed: list[str]) -> None:
    version = run(*installed, "--version", **UV_ENV)
    check = run(*installed, "check", "--sandbox", **UV_ENV)

    assert version.stdout == f"oas-mcp {__version__}\n"
    assert check.stdout.endswith("All 4 checks passed.\n")


@pytest.fixture
def extension(built: Built, node_bin: Path, tmp_path: Path) -> Path:
    """The bundle unpacked by mcpb, as Claude Desktop unpacks it into its extensions folder."""
    run(
        node_bin / "mcpb",
        "unpack",
        built.bundle,
        tmp_path / "extension",
        PATH=f"{node_bin}{os.pathsep}{os.environ['PATH']}",
    )
    return tmp_path / "extension"


def test_the_bundle_is_the_sdists_code_and_the_bundle_folder_with_the_version(
    built: Built, extension: Path, node_bin: Path
) -> None:
    with tarfile.open(built.sdist) as sdist:
        source = {Path(*Path(member.name).parts[1:]) for member in sdist.getmembers() if member.isfile()}
    unpacked = {path.relative_to(extension) for path in extension.rglob("*") if path.is_file()}
    validated = run(node_bin / "mcpb", "validate", extension, PATH=f"{node_bin}{os.pathsep}{os.environ['PATH']}")

    # Not the README (nor PKG-INFO, which repeats it): the server never reads them; a short one stands in.
    assert unpacked == source - {Path(".gitignore"), Path("PKG-INFO")} | {Path("manifest.json"), Path("icon.png")}
    assert (extension / "README.md").read_text() == (ROOT / "bundle" / "README.md").read_text()
    assert (extension / "icon.png").read_bytes() == (ROOT / "bundle" / "icon.png").read_bytes()
    assert json.loads((extension / "manifest.json").read_text()) == released("bundle/manifest.json")
    assert "Manifest schema validation passes!" in validated.stdout


def test_the_readme_tells_the_bundles_size(built: Built) -> None:
    with zipfile.ZipFile(built.bundle) as bundle:
        unpacked = sum(entry.file_size for entry in bundle.infolist())
    told = re.search(r"\(about (\d+) KB, (\d+) KB\s+unpacked\)", (ROOT / "README.md").read_text())

    assert told, "the README says how big the bundle is"
    assert int(told[1]) == pytest.approx(built.bundle.stat().st_size / 1000, rel=0.1)
    assert int(told[2]) == pytest.approx(unpacked / 1000, rel=0.1)


def launch_config(node_bin: Path, extension: Path, user_config: dict[str, Any]) -> dict[str, Any] | None:
    """The command, arguments and environment Claude Desktop starts the bundle's server with (None: it does not)."""
    module = node_bin.parent / "@anthropic-ai" / "mcpb" / "dist" / "shared" / "config.js"
    home = extension.parent
    result = run(
        node_bin / "node",
        "--input-type=module",
        "-e",
        LAUNCH_CONFIG,
        "--",
        module,
        extension,
        json.dumps(user_config),
        home,
    )
    config: dict[str, Any] | None = json.loads(result.stdout)
    return config


def test_claude_desktop_starts_nothing_until_every_credential_is_given(node_bin: Path, extension: Path) -> None:
    for name in USER_CONFIG:
        assert launch_config(node_bin, extension, {**USER_CONFIG, name: ""}) is None


@pytest.mark.parametrize("read_only", [False, True])
async def test_the_bundle_launched_as_claude_desktop_does_serves_every_tool(
    node_bin: Path, extension: Path, read_only: bool
) -> None:
    with running("sandbox") as api:
        config = launch_config(node_bin, extension, {**USER_CONFIG, "base_url": api.url, "read_only": read_only})
        assert config is not None
        # Claude Desktop's own environment (uv on its PATH), then the manifest's.
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **config["env"], **UV_ENV}
        server = StdioServerParameters(command=config["command"], args=config["args"], env=env)
        async with Client(server, mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            hello = structured(await client.call_tool("hello", {}))
            login = structured(await client.call_tool("login", {}))
            listing = structured(await client.call_tool("list_organisations", {"limit": 2}))
            if not read_only:
                arguments = {"name": "Bundle Ltd", "base_currency": "eur", "currencies": ["GBP"]}
                created = structured(await client.call_tool("create_organisation", arguments))
                activated = structured(
                    await client.call_tool("activate_organisation", {"organisation_id": created["id"]})
                )

    assert (config["command"], config["args"]) == ("uv", ["run", "--directory", str(extension), "oas-mcp"])
    assert (hello["message"], login["user"]["username"], listing["returned"]) == ("Hello world @demo", "demo", 2)
    if read_only:
        assert names == ["hello", "login", "list_organisations"]
    else:
        assert names == ["hello", "login", "list_organisations", "create_organisation", "activate_organisation"]
        assert (created["currencies"], activated["organisation_id"]) == (["EUR", "GBP"], created["id"])


async def test_run_by_uvx_install_writes_the_uvx_command_not_uvs_cache_and_it_starts(
    built: Built, tmp_path: Path
) -> None:
    home, cache = tmp_path / "home", tmp_path / "uv-cache"
    home.mkdir()
    env = {**UV_ENV, "HOME": str(home), "UV_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(home / ".config")}
    uvx = [str(VENV_BIN / "uvx"), "--from", str(built.wheel), "oas-mcp"]

    result = run(*uvx, "install", "claude-desktop", "--sandbox", **env)
    entry = json.loads((home / ".config" / "Claude" / "claude_desktop_config.json").read_text())["mcpServers"]["oas"]
    run(VENV_BIN / "uv", "cache", "clean", **env)  # what made the installation temporary: it is gone now
    server = StdioServerParameters(command=entry["command"], args=entry["args"], env={**os.environ, **env})
    async with Client(server, mode="legacy") as client:
        hello = structured(await client.call_tool("hello", {}))

    assert entry == {"command": uvx[0], "args": [*uvx[1:], "--sandbox"]}
    assert str(cache) not in result.stdout.split("Note:")[0]  # the entry names no folder in uv's cache
    assert "Note: this oas-mcp runs from uv's cache" in result.stdout
    assert hello["username"] == DEMO_USERNAME
