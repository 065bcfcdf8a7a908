"""The `rpc` object of a pyln-style node: attribute calls over the node's JSON-RPC.

`rpc.invoice(1000, 'lbl', 'desc')`, `rpc.pay(bolt11)`, `rpc.call('listpays', {...})`:
positional arguments are named after Core Lightning's parameter order (see `params`),
`Millisatoshi` values are sent as "<n>msat", and an error answer is raised as
`lnharness.pyln.client.RpcError` with `.error = {'code': ..., 'message': ...}`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lnharness.backend import UnsupportedFeature
from lnharness.errors import RpcError as HarnessRpcError
from lnharness.pyln import client
from lnharness.pyln.params import command_name, named_params

#: calls a node's JSON-RPC: (method, params) -> result, raising lnharness's RpcError
Caller = Callable[[str, Any], Any]


def encode_amounts(value: Any) -> Any:
    """`value` with every Millisatoshi (ours or pyln-client's) as its "<n>msat" string."""
    if isinstance(value, dict):
        return {k: encode_amounts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_amounts(v) for v in value]
    if hasattr(value, "millisatoshis") and hasattr(value, "to_json"):
        return f"{int(value.millisatoshis)}msat"
    return value


def pyln_error(method: str, payload: Any, exc: HarnessRpcError) -> Exception:
    """lnharness's RpcError as pyln's: `.error` holds the node's `code` and `message`."""
    return client.RpcError(method, payload, {"code": exc.code, "message": exc.message})


class NodeRpc:
    """pyln-client's calling conventions over `caller` (one request per call: thread-safe)."""

    def __init__(self, caller: Caller, *, name: str):
        self._caller = caller
        self._name = name

    def call(self, method: str, payload: Any = None, cmdprefix: str | None = None,
             filter: Any = None) -> Any:  # noqa: A002 (pyln-client's name)
        """Call `method` with `payload` (a dict by name or a list by position).

        `cmdprefix` only shapes pyln-client's request ids and is ignored; `filter` is not
        supported (the built-in node has no reply filters)."""
        if filter is not None:
            raise UnsupportedFeature(f"{self._name}: rpc.call(filter=...) is not supported by "
                                     "lnharness.pyln; filter the result in the test")
        if payload is None:
            payload = {}
        elif isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if v is not None}
        elif isinstance(payload, tuple):
            payload = list(payload)
        payload = encode_amounts(payload)
        try:
            return self._caller(method, payload)
        except HarnessRpcError as exc:
            raise pyln_error(method, payload, exc) from None

    def getpeer(self, peer_id: str, level: str | None = None) -> dict[str, Any] | None:
        """pyln-client's helper: the `listpeers` entry of `peer_id`, or None."""
        if level is not None:
            raise UnsupportedFeature(f"{self._name}: getpeer(level=...) (log levels of "
                                     "listpeers) is not supported by lnharness.pyln")
        peers = self.call("listpeers", {"id": peer_id}).get("peers") or []
        return peers[0] if peers else None

    def __getattr__(self, attribute: str) -> Callable[..., Any]:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        method = command_name(attribute)

        def caller(*args: Any, **kwargs: Any) -> Any:
            return self.call(method, named_params(method, args, kwargs))

        caller.__name__ = attribute
        return caller

    def __repr__(self) -> str:
        return f"<NodeRpc {self._name}>"
