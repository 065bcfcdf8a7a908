"""lnharness's images: what goes into each one, its content-hash tag, building and listing.

An image is `lnharness/<name>:<tag>`, the tag being the first 16 hex digits of a SHA-256 over
everything that goes in: its Dockerfile, the files of its build context (binaries,
libraries, sources), the text its `prepare` step depends on, and the reference of the image
it is built FROM. An image whose tag the engine already has is never built again; a change
to any input gives a new tag and a build (the engine's layer cache keeps that build short).

Images are registered in the entry-point group `lnharness.images`: a name mapped to a
function returning its `ImageSpec`, or raising `UnavailableError` with the reason (lnd not
installed, no bitcoind). Dockerfiles are package data of `lnharness.dockerfiles` (docker/ in
the repository) and hold nothing machine-specific: what is machine-specific (which binary,
which libraries) goes into the build context.
"""
from __future__ import annotations

import collections
import fcntl
import functools
import hashlib
import importlib.resources
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from lnharness import registry
from lnharness.containers import base_image
from lnharness.containers.engine import Engine, EngineError
from lnharness.errors import UnavailableError

IMAGES_GROUP = "lnharness.images"
DOCKERFILES_PACKAGE = "lnharness.dockerfiles"
REPOSITORY = base_image.REPOSITORY
BASE = base_image.NAME
TAG_LENGTH = 16
LABEL_IMAGE = "lnharness.image"
LABEL_CONTENT = "lnharness.content"
BUILD_HINT = "run `lnharness images build`"
#: lines of a failed build's output its error shows
BUILD_TAIL_LINES = 15
#: `0`: an image the engine lacks is never built at first use (read when `Images` is made);
#: it must come from `lnharness images build` (CI builds once, bounded, then sets this)
BUILD_ENV = "LNH_BUILD_IMAGES"


class ImageBuildError(EngineError, UnavailableError):
    """An image could not be built: an engine error, and the image is unavailable to what
    needs it (a test skips with this reason)."""


#: references whose build failed in this process, with the error: not tried again
_FAILED_BUILDS: dict[str, str] = {}


@dataclass(frozen=True)
class ImageSpec:
    """What goes into one image.

    `files` and `texts` map paths in the build context to a file of this machine or to
    bytes; `prepare(context_dir)` adds derived files when the image is built (e.g. Python
    wheels fetched for it) and `prepare_key` is what those depend on, hashed in their place.
    `base` is the image built FROM: `base` (the Debian base) or another image's name.
    """
    name: str
    dockerfile: str
    description: str
    files: dict[str, Path] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)
    base: str = BASE
    prepare: Callable[[Path], None] | None = None
    prepare_key: str = ""


def image_names() -> list[str]:
    """Names of every registered image (the base excluded), sorted."""
    return registry.names(IMAGES_GROUP)


def image_spec(name: str) -> ImageSpec:
    """The spec of image `name`; `UnavailableError` with the reason if it cannot be made here."""
    known = image_names()
    if name not in known:
        raise UnavailableError(f"no image named {name!r}; images: {', '.join(known)}")
    spec = registry.load(IMAGES_GROUP, name)()
    if not isinstance(spec, ImageSpec):
        raise TypeError(f"entry point {IMAGES_GROUP}:{name} gave {spec!r}, not an ImageSpec")
    return spec


def dockerfile(name: str) -> bytes:
    """The text of the Dockerfile `name` (package data of lnharness.dockerfiles)."""
    return (importlib.resources.files(DOCKERFILES_PACKAGE) / name).read_bytes()


@functools.lru_cache(maxsize=512)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same."""
    info = path.stat()
    return _digest(str(path), info.st_size, info.st_mtime_ns)


def content_hash(spec: ImageSpec, base_reference: str) -> str:
    """The hash of everything that goes into `spec`'s image built on `base_reference`."""
    digest = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)
    add("lnharness-image-v1", spec.name, base_reference, dockerfile(spec.dockerfile),
        spec.prepare_key)
    for path, source in sorted(spec.files.items()):
        add(path, file_digest(source), "x" if os.access(source, os.X_OK) else "-")
    for path, text in sorted(spec.texts.items()):
        add(path, text)
    return digest.hexdigest()


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder of image `name` at a time on this machine (pytest-xdist workers)."""
    directory = Path(tempfile.gettempdir()) / f"lnharness-images-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    with open(directory / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


class Images:
    """lnharness's images on one engine: their references, built when missing."""

    def __init__(self, engine: Engine, *, out: TextIO | None = None,
                 build_missing: bool | None = None):
        self.engine = engine
        self.out = out
        #: build a missing image at first use (default: unless LNH_BUILD_IMAGES=0)
        self.build_missing = (os.environ.get(BUILD_ENV, "1") != "0" if build_missing is None
                              else build_missing)
        self._references: dict[str, str] = {}

    def spec(self, name: str) -> ImageSpec:
        return image_spec(name)

    def reference(self, name: str) -> str:
        """`lnharness/<name>:<tag>` of the image as it would be built now (not built here)."""
        if name == BASE:
            return base_image.reference()
        if name not in self._references:
            spec = self.spec(name)
            tag = content_hash(spec, self.reference(spec.base))[:TAG_LENGTH]
            self._references[name] = f"{REPOSITORY}/{name}:{tag}"
        return self._references[name]

    def is_built(self, name: str) -> bool:
        return self.engine.image(self.reference(name)) is not None

    def require_base(self) -> str:
        """The base image's reference; `UnavailableError` if the engine does not have it."""
        reference = base_image.reference()
        if self.engine.image(reference) is None:
            raise UnavailableError(f"the engine at {self.engine.host} has no base image "
                                   f"{reference}: {BUILD_HINT}")
        return reference

    def ensure(self, name: str, *, say_current: bool = True) -> str:
        """The image's reference, built first (with what it is built on) if missing."""
        if name == BASE:
            if not self.build_missing:
                return self.require_base()
            with _locked(BASE):
                return base_image.ensure(self.engine, self.out if say_current else None)
        spec = self.spec(name)
        self.ensure(spec.base, say_current=False)
        reference = self.reference(name)
        with _locked(name):
            if self.engine.image(reference) is not None:
                if say_current:
                    _say(self.out, f"{reference}: up to date ({spec.description})")
                return reference
            if reference in _FAILED_BUILDS:
                raise ImageBuildError(_FAILED_BUILDS[reference])
            if not self.build_missing:
                raise UnavailableError(f"{reference} is not built and {BUILD_ENV}=0 forbids "
                                       f"building it at first use: {BUILD_HINT}")
            try:
                self._build(spec, reference, self.reference(spec.base))
            except EngineError as exc:
                _FAILED_BUILDS[reference] = str(exc)
                raise ImageBuildError(str(exc), status=exc.status) from None
        return reference

    def _build(self, spec: ImageSpec, reference: str, base_reference: str) -> None:
        started = time.monotonic()
        _say(self.out, f"{reference}: building ({spec.description}) on {base_reference}")
        with tempfile.TemporaryDirectory(prefix="lnh-image-") as tmp:
            archive = Path(tmp) / "context.tar"
            prepared = Path(tmp) / "prepared"
            prepared.mkdir()
            if spec.prepare is not None:
                spec.prepare(prepared)
            _write_context(archive, spec, prepared)
            labels = {LABEL_IMAGE: spec.name, LABEL_CONTENT: reference.rsplit(":", 1)[1]}
            output: collections.deque[str] = collections.deque(maxlen=BUILD_TAIL_LINES)
            try:
                with open(archive, "rb") as data:
                    for item in self.engine.stream(
                            "POST", "/build", data=data, size=archive.stat().st_size,
                            params={"t": reference, "buildargs": {"BASE": base_reference},
                                    "labels": labels, "rm": 1, "forcerm": 1}):
                        text = str(item.get("stream", "")).rstrip()
                        output.extend(line for line in text.splitlines() if line.strip())
                        if text.startswith("Step "):
                            _say(self.out, f"  {text}")
            except EngineError as exc:
                raise EngineError(f"{reference}: the build failed: {exc}\n  last output:\n"
                                  + "\n".join(f"    {line}" for line in output)) from None
        if self.engine.image(reference) is None:
            raise UnavailableError(f"{reference}: the engine finished the build without "
                                   "tagging the image")
        _say(self.out, f"{reference}: built in {time.monotonic() - started:.1f} s")

    def prune(self) -> list[str]:
        """Remove the lnharness images that are not the current build of their name; the
        references removed. Images whose spec is unavailable here are kept."""
        current = set()
        for name in [BASE, *image_names()]:
            try:
                current.add(self.reference(name))
            except UnavailableError:
                current.update(tag for image in self.engine.images(f"{REPOSITORY}/{name}")
                               for tag in image.get("RepoTags") or [])
        removed = []
        for image in self.engine.images(f"{REPOSITORY}/*"):
            for tag in image.get("RepoTags") or []:
                if tag not in current:
                    self.engine.remove_image(tag)
                    removed.append(tag)
        return removed


def _write_context(archive: Path, spec: ImageSpec, prepared: Path) -> None:
    """The build context: Dockerfile, the spec's files and texts, what `prepare` made."""
    def add_bytes(tar: tarfile.TarFile, path: str, data: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.mtime = len(data), mode, 0
        tar.addfile(info, io.BytesIO(data))

    def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(archive, "w") as tar:
        add_bytes(tar, "Dockerfile", dockerfile(spec.dockerfile))
        for path, source in sorted(spec.files.items()):
            # a binary may be a link (lnd -> lnd-v0.x): the image gets the file it points to
            tar.add(source.resolve(), arcname=path, recursive=False, filter=normalised)
        for path, text in sorted(spec.texts.items()):
            add_bytes(tar, path, text)
        for entry in sorted(prepared.rglob("*")):
            tar.add(entry, arcname=entry.relative_to(prepared).as_posix(), recursive=False,
                    filter=normalised)
