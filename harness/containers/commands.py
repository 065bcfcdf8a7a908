"""`lnharness images build|list|prune`: lnharness's images on the engine of `DOCKER_HOST`."""
from __future__ import annotations

import time
from typing import TextIO

from lnharness.containers.base_image import reference as base_reference
from lnharness.containers.engine import Engine, EngineError
from lnharness.containers.images import BASE, REPOSITORY, Images, image_names
from lnharness.errors import LnhError, UnavailableError

#: names of implementations and chains that run in another image
ALIASES = {"builtin": "python", "embedded": "python"}


def resolve_names(given: list[str] | None) -> list[str]:
    """Image names for `--impls` (image names, or `builtin`/`embedded` for `python`), in
    build order; every registered image when None."""
    known = image_names()
    if given is None:
        wanted = known
    else:
        wanted = []
        for name in given:
            image = ALIASES.get(name, name)
            if image not in known:
                raise LnhError(f"no image for {name!r}; images: {', '.join(known)} (and "
                               f"{', '.join(sorted(ALIASES))}, which run in `python`)")
            wanted.append(image)
    # the python image first: cln is built on it
    return sorted(dict.fromkeys(wanted), key=lambda n: (n != "python", n))


def build(names: list[str] | None, out: TextIO) -> int:
    """Build the base and the images named (all by default); report the unavailable ones.
    Exit status 1 if a build failed, or an image asked for by name could not be built."""
    started = time.monotonic()
    wanted = resolve_names(names)
    engine = Engine()
    engine.ping()
    images = Images(engine, out=out, build_missing=True)
    images.ensure(BASE)
    status = 0
    for name in wanted:
        try:
            images.ensure(name)
        except EngineError as exc:  # a failed build: the others are still built
            print(f"{REPOSITORY}/{name}: {exc}", file=out, flush=True)
            status = 1
        except UnavailableError as exc:
            print(f"{REPOSITORY}/{name}: unavailable: {exc}", file=out, flush=True)
            if names is not None:  # asked for by name
                status = 1
    print(f"images ready in {time.monotonic() - started:.1f} s on {engine.host}", file=out)
    return status


def list_images(out: TextIO) -> int:
    """Every lnharness image the engine has, marked current or not, and every registered
    image: its current reference, or why it cannot be built here."""
    engine = Engine()
    images = Images(engine)
    current = {}
    print(f"images on {engine.host}:", file=out)
    for name in [BASE, *image_names()]:
        try:
            current[name] = base_reference() if name == BASE else images.reference(name)
        except UnavailableError as exc:
            print(f"  {name}: unavailable: {exc}", file=out)
            continue
        state = "built" if engine.image(current[name]) else "not built"
        print(f"  {name}: {current[name]} ({state})", file=out)
    stale = [(tag, image) for image in engine.images(f"{REPOSITORY}/*")
             for tag in image.get("RepoTags") or [] if tag not in current.values()]
    if stale:
        print("older builds (lnharness images prune removes them):", file=out)
        for tag, image in stale:
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(image["Created"])))
            print(f"  {tag}  {int(image['Size']) / 2**20:.0f} MiB  {created}", file=out)
    return 0


def prune(out: TextIO) -> int:
    removed = Images(Engine()).prune()
    for tag in removed:
        print(f"removed {tag}", file=out)
    print(f"{len(removed)} image(s) removed", file=out)
    return 0
