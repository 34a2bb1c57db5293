"""pyproject.toml, environment.yml and constraints.txt pin the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines):
    out = {}
    for line in lines:
        match = PIN.match(line)
        assert match, f"not an exact pin (name==version): {line!r}"
        out[canonical(match.group(1))] = match.group(2)
    return out


def pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return pins(project["dependencies"] + project["optional-dependencies"]["dev"])


def environment_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    lines = [line for line in pip_sections[0] if not line.startswith("-e")]
    assert "-e ." in pip_sections[0], "environment.yml must install the package itself (-e .)"
    return pins(lines)


def constraint_pins():
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return pins(lines)


def test_every_direct_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert PIN.match(requirement), f"pyproject.toml: {requirement!r} is not pinned with =="


def test_environment_yml_agrees_with_pyproject():
    assert environment_pins() == pyproject_pins()


def test_constraints_pin_every_direct_dependency_at_the_same_version():
    locked = constraint_pins()
    for name, version in pyproject_pins().items():
        assert locked.get(name) == version, f"constraints.txt pins {name}=={locked.get(name)}, pyproject {version}"


def test_torch_is_pinned_to_the_cpu_friendly_release():
    assert pyproject_pins()["torch"] == "2.13.0"


def test_environment_yml_python_satisfies_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python, "environment.yml must pin python"
    major, minor = (int(part) for part in python[0].split("=")[-1].split(".")[:2])
    assert (major, minor) >= (3, 11)
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11"


def test_installed_versions_match_the_pins():
    """The environment the tests run in is the pinned one (catches a stale ./.venv)."""
    from importlib.metadata import PackageNotFoundError, version

    for name, pinned in pyproject_pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            raise AssertionError(f"{name} is not installed; run make test to update ./.venv")
        assert installed.split("+")[0] == pinned, f"{name}: installed {installed}, pinned {pinned}"


def test_every_notebook_names_the_kernel_that_make_registers():
    import json
    import sys

    names = {}
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            names[path.name] = json.loads(path.read_text())["metadata"]["kernelspec"]["name"]
    assert set(names.values()) == {"contrastlab"}, names
    makefile = (ROOT / "Makefile").read_text()
    assert makefile.count("ipykernel install") >= 2 and makefile.count("--name contrastlab") >= 2  # make test, make lab
    # `make test` registered it in this environment (--sys-prefix): a hub or Binder image does the same
    kernel = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "contrastlab" / "kernel.json"
    if not (Path(sys.prefix) / ".contrastlab-installed").exists():
        import pytest

        pytest.skip(f"this interpreter ({sys.prefix}) was not set up by make; the kernel check needs it")
    spec = json.loads(kernel.read_text())
    assert spec["argv"][0].startswith(sys.prefix) and spec["display_name"] == "Python (contrastlab)"
