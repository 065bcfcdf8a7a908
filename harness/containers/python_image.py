"""The `python` image: lnharness's own Python, for the embedded chain, the built-in node and
the fault proxy in containers.

Debian's python3 with lnharness's dependencies at the versions installed here, and
lnharness's modules as installed here (the engine and node_impl: what the daemons import),
compiled. No registry is needed: the wheels are fetched on this machine with its pip (for
the base's Python, `base_image.PYTHON_VERSION`) and go in the build context; a dependency
published only as source is built into a wheel here, which must then be pure Python.
"""
from __future__ import annotations

import importlib.util
import platform
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from lnharness.containers.base_image import PYTHON_VERSION
from lnharness.containers.images import ImageSpec
from lnharness.errors import UnavailableError

#: the packages of the lnharness namespace the daemons need (fixtures, examples and the
#: pyln layer are pytest-side only)
PACKAGES = ("lnharness", "lnharness.node_impl")
LEFT_OUT = {"fixtures", "examples", "pyln", "dockerfiles"}
#: dependencies only the pytest side uses
NOT_IN_IMAGE = {"pytest", "pytest-xdist"}
SITE = "site"
WHEELS = "wheels"
OLDEST_MANYLINUX_GLIBC, BASE_GLIBC = 17, 36  # manylinux_2_17 .. the base's glibc 2.36


def module_files() -> dict[str, Path]:
    """`site/lnharness/...py` -> the installed module, for every module the daemons may import."""
    files: dict[str, Path] = {}
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise UnavailableError(f"{package} is not importable by {sys.executable}")
        root = Path(list(spec.submodule_search_locations)[0])
        prefix = Path(*package.split("."))
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if "__pycache__" in relative.parts or (
                    package == "lnharness" and relative.parts[0] in LEFT_OUT):
                continue
            files[(Path(SITE) / prefix / relative).as_posix()] = path
    return files


def requirements() -> list[str]:
    """lnharness's dependencies the daemons need, pinned to the versions installed here."""
    pinned = []
    for requirement in requires("lnharness") or []:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        if match is None or match[0].lower() in NOT_IN_IMAGE:
            continue
        try:
            pinned.append(f"{match[0]}=={version(match[0])}")
        except PackageNotFoundError:
            raise UnavailableError(f"{match[0]} (a dependency of lnharness) is not installed "
                                   f"for {sys.executable}") from None
    return sorted(pinned)


def _platform_args() -> list[str]:
    machine = platform.machine()
    tags = [f"manylinux_2_{minor}_{machine}"
            for minor in range(OLDEST_MANYLINUX_GLIBC, BASE_GLIBC + 1)]
    tags += [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    abi = "cp" + PYTHON_VERSION.replace(".", "")
    return ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
            "--abi", abi, "--abi", "abi3", "--abi", "none",
            *[arg for tag in tags for arg in ("--platform", tag)]]


def fetch_wheels(pins: list[str], directory: Path) -> None:
    """Wheels of `pins` and their dependencies for the base's Python into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "requirements.txt").write_text("\n".join(pins) + "\n")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built: set[str] = set()
    while True:
        done = subprocess.run([*pip, "download", "--quiet", "--dest", str(directory),
                               "--find-links", str(directory), *_platform_args(),
                               "-r", str(directory / "requirements.txt")],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        missing = re.search(r"No matching distribution found for (\S+)", done.stderr)
        if missing is None or missing[1] in built:
            raise UnavailableError(f"pip could not fetch the Python image's wheels:\n"
                                   f"{done.stderr.strip()[-2000:]}")
        built.add(missing[1])
        _build_pure_wheel(pip, missing[1], directory)


def _build_pure_wheel(pip: list[str], requirement: str, directory: Path) -> None:
    before = set(directory.glob("*.whl"))
    done = subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(directory),
                           requirement], capture_output=True, text=True)
    made = set(directory.glob("*.whl")) - before
    if done.returncode != 0 or not made:
        raise UnavailableError(f"pip has no wheel of {requirement} for Python {PYTHON_VERSION} "
                               f"and could not build one:\n{done.stderr.strip()[-2000:]}")
    for wheel in made:
        if not wheel.name.endswith("-none-any.whl"):
            raise UnavailableError(f"{requirement} has no wheel for Python {PYTHON_VERSION} on "
                                   f"Linux, and the one built here ({wheel.name}) is for this "
                                   "machine's Python only")


def image_spec() -> ImageSpec:
    """The `python` image (entry point `lnharness.images: python`)."""
    pins = requirements()
    return ImageSpec(
        name="python", dockerfile="python.Dockerfile",
        description="lnharness's Python: the embedded chain, the built-in node, the fault proxy",
        files=module_files(),
        prepare=lambda context: fetch_wheels(pins, context / WHEELS),
        prepare_key="\n".join([f"python {PYTHON_VERSION}", platform.machine(), *pins]))
