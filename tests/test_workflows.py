"""The GitHub Actions workflows (.github/workflows/): actionlint finds nothing wrong in them (syntax, expressions,
action inputs, untrusted text in scripts, and the `run:` scripts through shellcheck where it is installed, as .ci/run
does), and they do what the README says: CI runs .ci/run on every push and pull request; a version tag runs the
README's build command, publishes to PyPI by trusted publishing, and attaches the bundle to the GitHub release."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import ROOT, readme_command

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def workflow(name: str) -> dict[str, Any]:
    """The workflow, every value a string (YAML 1.1 would read the key `on` as true)."""
    loaded: dict[str, Any] = yaml.load((WORKFLOWS / name).read_text(), Loader=yaml.BaseLoader)
    return loaded


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow  # actionlint runs shellcheck on every script
def test_actionlint_finds_nothing_wrong_in_the_workflows() -> None:
    result = actionlint(ROOT)

    assert sorted(path.name for path in WORKFLOWS.iterdir()) == ["ci.yml", "release.yml"]
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.slow  # actionlint runs shellcheck on every script
def test_actionlint_reports_untrusted_text_pasted_into_a_script(tmp_path: Path) -> None:
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    ci = tmp_path / ".github" / "workflows" / "ci.yml"
    ci.write_text(ci.read_text().replace("run: .ci/run", 'run: .ci/run "${{ github.head_ref }}"'))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)

    result = actionlint(tmp_path)

    assert result.returncode == 1
    assert '"github.head_ref" is potentially untrusted' in result.stdout


def test_ci_runs_ci_run_on_every_push_and_pull_request_with_read_only_access() -> None:
    ci = workflow("ci.yml")

    assert ci["on"] == {"push": "", "pull_request": ""}
    assert ci["permissions"] == {"contents": "read"}
    assert [step["run"] for job in ci["jobs"].values() for step in job["steps"] if "run" in step] == [".ci/run"]


def test_a_version_tag_builds_as_the_readme_says_then_publishes_to_pypi_and_the_release() -> None:
    release = workflow("release.yml")
    jobs = release["jobs"]

    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {}
    assert readme_command("build-command") in [step.get("run") for step in jobs["build"]["steps"]]
    assert (jobs["pypi"]["needs"], jobs["github-release"]["needs"]) == ("build", "pypi")
    # trusted publishing: an OIDC token, in an environment PyPI names as the publisher, and nothing else
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    assert jobs["pypi"]["steps"][-1]["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert jobs["github-release"]["permissions"] == {"contents": "write"}
    assert "gh release upload" in jobs["github-release"]["steps"][-1]["run"]
    assert "dist/*.mcpb" in jobs["github-release"]["steps"][-1]["run"]


def test_every_action_but_pypas_publisher_is_pinned_to_a_commit() -> None:
    uses = [
        step["uses"]
        for name in ("ci.yml", "release.yml")
        for job in workflow(name)["jobs"].values()
        for step in job["steps"]
        if "uses" in step
    ]

    assert uses
    unpinned = [use for use in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", use)]
    assert unpinned == ["pypa/gh-action-pypi-publish@release/v1"]  # PyPA's documented ref for trusted publishing
