"""lnharness's images: content-hash tags, a build only when something changed, binaries
with their libraries, the registered images."""
from __future__ import annotations

import io
import secrets
import shutil
from pathlib import Path

import pytest
from lnharness.containers import commands
from lnharness.containers.bundles import LIB_PLACEHOLDER, bundle, shared_libraries
from lnharness.containers.engine import Engine
from lnharness.containers.images import BUILD_ENV, ImageBuildError, Images, ImageSpec, content_hash
from lnharness.errors import LnhError, UnavailableError

from tests.docker.conftest import require_image

TEST_IMAGE = "lnh-test-smoke"


#: in every test script: each run's images are its own (runs sharing an engine, or an
#: interrupted run's leftovers, never hand a test an image it did not build)
RUN = secrets.token_hex(6)


def _script(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\n# run {RUN}\necho lnh-ldkd {version}\n")
    path.chmod(0o755)
    return path


def _spec(binary: Path) -> ImageSpec:
    # the ldk Dockerfile runs `lnh-ldkd --version`: a script answering it makes a tiny image
    files, texts = bundle({"lnh-ldkd": binary})
    return ImageSpec(name=TEST_IMAGE, dockerfile="ldk.Dockerfile", description="a test image",
                     files=files, texts=texts)


class _TestImages(Images):
    def __init__(self, engine: Engine, spec: ImageSpec, out: io.StringIO, *,
                 build_missing: bool = True):
        super().__init__(engine, out=out, build_missing=build_missing)
        self.test_spec = spec

    def spec(self, name: str) -> ImageSpec:
        return self.test_spec if name == TEST_IMAGE else super().spec(name)


def test_the_hash_covers_files_texts_and_base(tmp_path):
    binary = _script(tmp_path / "d", "1")
    spec = _spec(binary)
    first = content_hash(spec, "lnharness/base:1")
    assert content_hash(_spec(binary), "lnharness/base:1") == first
    assert content_hash(spec, "lnharness/base:2") != first
    _script(binary, "2")
    assert content_hash(_spec(binary), "lnharness/base:1") != first
    with_text = ImageSpec(**{**spec.__dict__, "texts": {**spec.texts, "x": b"y"}})
    assert content_hash(with_text, "lnharness/base:1") != content_hash(spec, "lnharness/base:1")


def test_a_script_has_no_libraries_and_a_dynamic_binary_has_them_without_libc(tmp_path):
    assert shared_libraries(_script(tmp_path / "s", "1")) == {}
    found = shared_libraries(Path(shutil.which("ls") or "/bin/ls"))
    assert found and not any(name.startswith(("libc.so", "ld-linux")) for name in found)
    files, texts = bundle({"ls": Path("/bin/ls")})
    assert files["bin/ls"] == Path("/bin/ls") and set(texts) == {LIB_PLACEHOLDER}
    assert all(path.startswith(("bin/", "lib/")) for path in files)


def test_an_image_is_built_once_and_again_only_after_a_change(engine, base_image, tmp_path):
    binary = _script(tmp_path / "lnh-ldkd", "1")
    out = io.StringIO()
    images = _TestImages(engine, _spec(binary), out)
    built: list[str] = []
    try:
        first = images.ensure(TEST_IMAGE)
        built.append(first)
        assert first.startswith(f"lnharness/{TEST_IMAGE}:") and engine.image(first) is not None
        assert f"{first}: building" in out.getvalue() and "Step 6/8 : RUN lnh-ldkd --version" in out.getvalue()
        out.truncate(0)
        assert images.ensure(TEST_IMAGE) == first
        assert f"{first}: up to date" in out.getvalue() and "building" not in out.getvalue()
        _script(binary, "2")
        changed = _TestImages(engine, _spec(binary), out)
        second = changed.ensure(TEST_IMAGE)
        built.append(second)
        assert second != first and f"{second}: building" in out.getvalue()
    finally:
        for reference in built:
            engine.remove_image(reference)


def test_a_failing_smoke_test_fails_the_build_with_its_output(engine, base_image, tmp_path):
    binary = tmp_path / "lnh-ldkd"
    binary.write_text("#!/bin/sh\necho cannot run here >&2\nexit 7\n")
    binary.chmod(0o755)
    out = io.StringIO()
    images = _TestImages(engine, _spec(binary), out)
    with pytest.raises(LnhError, match="returned a non-zero code: 7") as failed:
        images.ensure(TEST_IMAGE)
    assert "the build failed" in str(failed.value) and "cannot run here" in str(failed.value)
    assert engine.image(images.reference(TEST_IMAGE)) is None
    # unavailable to what needs it (a test skips with the reason), and not built again
    assert isinstance(failed.value, UnavailableError)
    out.truncate(0)
    out.seek(0)
    with pytest.raises(ImageBuildError, match="cannot run here"):
        _TestImages(engine, _spec(binary), out).ensure(TEST_IMAGE)
    assert "building" not in out.getvalue()


def test_without_builds_at_first_use_a_missing_image_is_unavailable(monkeypatch, engine,
                                                                   base_image, tmp_path):
    monkeypatch.setenv(BUILD_ENV, "0")
    images = Images(engine)
    assert not images.build_missing
    spec = _spec(_script(tmp_path / "lnh-ldkd", "never built"))
    reference = _TestImages(engine, spec, io.StringIO()).reference(TEST_IMAGE)
    with pytest.raises(UnavailableError, match=f"{reference} is not built and {BUILD_ENV}=0 "
                                               "forbids building it at first use: run "
                                               "`lnharness images build`"):
        _TestImages(engine, spec, io.StringIO(), build_missing=False).ensure(TEST_IMAGE)
    assert engine.image(reference) is None


def test_images_names_are_checked_and_builtin_means_python():
    assert commands.resolve_names(["lnd", "builtin", "embedded"]) == ["python", "lnd"]
    with pytest.raises(LnhError, match="no image for 'eclair'; images: bitcoind, cln, ldk, lnd, python"):
        commands.resolve_names(["eclair"])


def test_the_python_image_runs_the_daemons_of_this_checkout(images):
    reference = require_image(images, "python")
    spec = images.spec("python")
    assert "site/lnharness/node_impl/builtin/node.py" in spec.files
    assert not any(path.startswith("site/lnharness/fixtures/") for path in spec.files)
    assert any(pin.startswith("py-bitcoinkernel==") for pin in spec.prepare_key.splitlines())
    assert images.engine.image(reference)["Config"]["Labels"]["lnharness.image"] == "python"


def test_an_unavailable_image_says_why(monkeypatch, images):
    monkeypatch.setenv("LNH_BITCOIND", "/nonexistent/bitcoind")
    with pytest.raises(UnavailableError, match="/nonexistent/bitcoind is not a file"):
        images.ensure("bitcoind")


def test_the_images_command_names_what_is_wrong(capsys):
    from lnharness.cli import main

    assert main(["images", "build", "--impls", "eclair"]) == 1
    assert "lnharness images: error: no image for 'eclair'" in capsys.readouterr().err
    assert main(["images", "list", "--impls", "lnd"]) == 1
    assert "--impls applies to `images build`" in capsys.readouterr().err


def test_images_list_shows_the_current_reference_of_each_image(images, capsys):
    from lnharness.cli import main

    python = require_image(images, "python")
    assert main(["images", "list"]) == 0
    out = capsys.readouterr().out
    assert f"  base: {images.require_base()} (built)" in out
    assert f"  python: {python} (built)" in out
