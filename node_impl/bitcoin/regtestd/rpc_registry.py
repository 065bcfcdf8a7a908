"""RPC method registry: names, parameter names (positional and named calls) and dispatch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .rpc_errors import RPC_INVALID_PARAMETER, RPC_METHOD_NOT_FOUND, RPC_MISC_ERROR, RpcError

if TYPE_CHECKING:
    from .node import Node


@dataclass
class RequestContext:
    node: Node
    wallet_name: str | None  # from a /wallet/<name> URL, None for "/"
    server: Any = None


@dataclass
class RpcMethod:
    name: str
    func: Callable[..., Any]
    params: list[str]
    required: int
    category: str
    wallet: bool
    uses_lock: bool


METHODS: dict[str, RpcMethod] = {}


def rpc(category: str, *, name: str | None = None, wallet: bool = False,
        lock: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register func(ctx, <params...>) as an RPC; parameter names come from its signature."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        code = func.__code__
        param_names = list(code.co_varnames[1:code.co_argcount])
        required = len(param_names) - len(func.__defaults__ or ())
        method_name = name or func.__name__
        METHODS[method_name] = RpcMethod(
            method_name, func, [p.rstrip("_") for p in param_names], required, category, wallet, lock
        )
        return func

    return register


def usage(method: RpcMethod) -> str:
    args = " ".join(
        p if i < method.required else f"( {p} )" for i, p in enumerate(method.params)
    )
    return f"{method.name} {args}".strip()


def call(ctx: RequestContext, method_name: str, params: Any) -> Any:
    method = METHODS.get(method_name)
    if method is None:
        raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
    if params is None:
        params = []
    if isinstance(params, dict):
        positional: list[Any] = []
        names = method.params
        for key in params:
            if key not in names:
                raise RpcError(RPC_INVALID_PARAMETER, f"Unknown named parameter {key}")
        last = max((names.index(k) for k in params), default=-1)
        positional = [params.get(names[i]) for i in range(last + 1)]
    elif isinstance(params, list):
        positional = params
    else:
        raise RpcError(-32600, "Params must be an array or object")
    if len(positional) > len(method.params):
        raise RpcError(RPC_MISC_ERROR, usage(method))
    for i in range(method.required):
        if i >= len(positional) or positional[i] is None:
            raise RpcError(RPC_MISC_ERROR, usage(method))
    kwargs = {
        method.func.__code__.co_varnames[1 + i]: value
        for i, value in enumerate(positional)
        if value is not None
    }
    if method.uses_lock:
        with ctx.node.locked():
            return method.func(ctx, **kwargs)
    return method.func(ctx, **kwargs)
