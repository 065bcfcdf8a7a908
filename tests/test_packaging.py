"""lnharness installs as ONE import namespace, `lnharness`, and never shadows a user's modules.

Core Lightning's tests start with `from fixtures import *` (their own tests/fixtures.py);
before this layout, installing lnharness made that import silently take our package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
CONSOLE_SCRIPTS = {"lnharness", "lnharness-bitcoin-cli"}


def test_every_package_folder_is_listed_under_its_lnharness_name() -> None:
    on_disk = set()
    for import_name, folder in SETUPTOOLS["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            on_disk.add(".".join((import_name, *rel)))
    assert set(SETUPTOOLS["packages"]) == on_disk


def test_every_entry_point_names_an_lnharness_module() -> None:
    project = PYPROJECT["project"]
    targets = dict(project["scripts"])
    for group in project["entry-points"].values():
        targets.update(group)
    assert targets and all(t.startswith("lnharness.") for t in targets.values()), targets


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from this checkout (offline when setuptools and wheel are at hand,
    else in pip's isolated build environment)."""
    out = tmp_path_factory.mktemp("wheel")
    # a copy of the source: setuptools writes build/ and *.egg-info beside the sources, and
    # two xdist workers building from the checkout at once would trip over each other
    source = out / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
    offline = all(importlib.util.find_spec(m) for m in ("setuptools", "wheel"))
    isolation = ["--no-build-isolation"] if offline else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *isolation,
                    "--wheel-dir", str(out), str(source)], check=True, cwd=out)
    (built,) = out.glob("lnharness-*.whl")
    return built


def test_the_wheel_has_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"lnharness", next(t for t in tops if t.endswith(".dist-info"))}
    assert {t for t in tops if t.endswith(".dist-info")} == {wheel.name.split("-py")[0] + ".dist-info"}


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with only the wheel installed into it; the dependencies come
    from this interpreter's site-packages through a path entry (lnharness itself excluded)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    deps = tmp_path_factory.mktemp("deps")
    ours = sysconfig.get_paths()["purelib"]
    for entry in Path(ours).iterdir():
        if not entry.name.startswith(("lnharness", "__editable__", "_lnharness")):
            (deps / entry.name).symlink_to(entry)
    (site_packages(venv) / "dependencies.pth").write_text(f"{deps}\n")
    return venv


def site_packages(venv: Path) -> Path:
    (path,) = (venv / "lib").glob("python3*/site-packages")
    return path


def test_a_fresh_venv_holds_one_top_level_name_and_the_console_scripts(fresh_venv: Path) -> None:
    installed = {p.name for p in site_packages(fresh_venv).iterdir()} - {"dependencies.pth"}
    names = {n for n in installed if not n.endswith(".dist-info")}
    assert names == {"lnharness"}
    scripts = {p.name for p in (fresh_venv / "bin").iterdir()}
    assert CONSOLE_SCRIPTS <= scripts
    out = subprocess.run([str(fresh_venv / "bin" / "lnharness"), "impls"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "builtin" in out.stdout, out.stderr


def test_a_users_fixtures_and_examples_modules_stay_theirs(fresh_venv: Path, tmp_path: Path) -> None:
    """A test directory with its own fixtures.py and examples/ package, as Core Lightning's
    tests have, imports its own modules and still gets lnharness's fixtures from the plugin."""
    project = tmp_path / "project"
    (project / "examples").mkdir(parents=True)
    (project / "examples" / "__init__.py").write_text("WHOSE = 'the user'\n")
    (project / "fixtures.py").write_text("WHOSE = 'the user'\n")
    (project / "harness.py").write_text("WHOSE = 'the user'\n")
    (project / "test_user.py").write_text(f"VENV = {str(fresh_venv)!r}\n" + textwrap.dedent("""
        from fixtures import *  # noqa: F403, as Core Lightning's tests do
        import examples
        import fixtures
        import harness
        import lnharness


        def test_own_modules_and_our_plugin(node_factory):
            assert fixtures.WHOSE == examples.WHOSE == harness.WHOSE == "the user"
            assert lnharness.__file__.startswith(VENV)
            node = node_factory.get_node()
            assert node.info()["id"] == node.node_id
    """))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(fresh_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "no:xdist", "test_user.py"],
                         cwd=project, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout
