"""With pyln-client installed, lnharness.pyln hands out pyln-client's own classes.

A fresh virtual environment (the wheel of this checkout, as tests/test_packaging.py builds
it) gets pyln-client from the package index; lnharness.pyln must then give pyln-client's
`RpcError`, `Millisatoshi` and `LightningRpc`, and raise pyln-client's `RpcError`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.test_packaging import REPO, fresh_venv, wheel  # noqa: F401 (fixtures)

CHECK = textwrap.dedent("""
    import sys
    import pyln.client as pc
    from lnharness.errors import RpcError as HarnessRpcError
    from lnharness.pyln import client, utils
    from lnharness.pyln.rpc import NodeRpc
    from lnharness.pyln.utils import Millisatoshi, RpcError

    assert client.HAVE_PYLN_CLIENT
    assert RpcError is pc.RpcError and Millisatoshi is pc.Millisatoshi
    assert utils.LightningRpc is pc.LightningRpc

    sent = []
    def refuse(method, params):  # answers as a node's RPC does when the label exists
        sent.append((method, params))
        raise HarnessRpcError(method, 900, "Duplicate label 'a'")
    try:
        NodeRpc(refuse, name="l1").invoice(pc.Millisatoshi(1000), "a", "b")
    except pc.RpcError as exc:
        assert exc.error == {"code": 900, "message": "Duplicate label 'a'"}, exc.error
    else:
        raise AssertionError("no RpcError")
    assert sent == [("invoice", {"amount_msat": "1000msat", "label": "a", "description": "b"})], sent
    assert not pc.__file__.startswith(sys.argv[1]), pc.__file__
    print("pyln-client classes handed out")
""")


@pytest.fixture(scope="module")
def venv_with_pyln_client(fresh_venv: Path) -> Path:  # noqa: F811
    python = fresh_venv / "bin" / "python"
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                          "--quiet", "pyln-client"], capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and "No matching distribution" in out.stderr + out.stdout:
        pytest.skip(f"pyln-client cannot be installed here: {out.stderr.strip()[-300:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    return fresh_venv


def test_pyln_client_classes_are_handed_out_when_installed(venv_with_pyln_client: Path) -> None:
    # the checkout's root on the path, as in the project's own test runs: no folder of ours
    # may shadow Core Lightning's `pyln` package (a top-level pyln/ once did)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(REPO)}
    out = subprocess.run([str(venv_with_pyln_client / "bin" / "python"), "-c", CHECK, str(REPO)],
                         capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "pyln-client classes handed out" in out.stdout


def test_without_pyln_client_our_own_classes_are_handed_out() -> None:
    from lnharness.pyln import amounts, client, errors
    if client.HAVE_PYLN_CLIENT:
        pytest.skip("pyln-client is installed in this environment")
    assert client.RpcError is errors.RpcError and client.Millisatoshi is amounts.Millisatoshi
    assert client.LightningRpc is None
