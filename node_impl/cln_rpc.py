"""A small client for Core Lightning's JSON-RPC over its unix socket.

Written here rather than depending on pyln-client, whose dependency pyln-proto pulls in a
fork of coincurve that installs over the real one.
"""
from __future__ import annotations

import codecs
import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

from lnharness.errors import RpcError

_MAX_REPLY = 256 * 1024 * 1024


class ClnRpc:
    """One socket connection per call, so an instance is safe to share between threads."""

    def __init__(self, socket_path: Path | str, *, name: str = "lightningd", timeout: float = 60.0):
        self.socket_path = Path(socket_path)
        self.name = name
        self.timeout = timeout
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """Call `method`; return its result or raise `RpcError` with Core Lightning's code."""
        request = {"jsonrpc": "2.0", "id": f"lnharness:{next(self._ids)}", "method": method,
                   "params": params if params is not None else {}}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            self._connect(sock, method)
            sock.sendall(json.dumps(request).encode())
            reply = self._read_reply(sock, method)
        if "error" in reply:
            error = reply["error"]
            raise RpcError(method, error.get("code"), str(error.get("message", error)),
                           peer=self.name)
        return reply.get("result")

    def _connect(self, sock: socket.socket, method: str) -> None:
        # A unix socket path is limited to 108 bytes; deep test directories exceed it, so
        # connect through the directory's file descriptor instead.
        dir_fd = os.open(self.socket_path.parent, os.O_RDONLY)
        try:
            target = str(self.socket_path)
            if len(target) > 100:
                target = f"/proc/self/fd/{dir_fd}/{self.socket_path.name}"
            sock.connect(target)
        except OSError as exc:
            raise RpcError(method, None, f"cannot connect to {self.socket_path}: {exc}",
                           peer=self.name) from None
        finally:
            os.close(dir_fd)

    def _read_reply(self, sock: socket.socket, method: str) -> dict[str, Any]:
        decoder = json.JSONDecoder()
        utf8 = codecs.getincrementaldecoder("utf-8")()
        text = ""
        received = 0
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise RpcError(method, None, "connection closed before a complete reply",
                               peer=self.name)
            received += len(chunk)
            if received > _MAX_REPLY:
                raise RpcError(method, None, "reply larger than 256 MiB", peer=self.name)
            text += utf8.decode(chunk)
            while True:
                text = text.lstrip()
                try:
                    message, end = decoder.raw_decode(text)
                except ValueError:
                    break  # incomplete: read more
                text = text[end:]
                # notifications (no id) may come before the reply
                if isinstance(message, dict) and "id" in message:
                    return message

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def caller(**params: Any) -> Any:
            return self.call(method, params)
        return caller
