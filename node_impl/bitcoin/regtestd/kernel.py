"""libbitcoinkernel (py-bitcoinkernel) wrapper: the only place blocks are validated and connected."""

from __future__ import annotations

import ctypes
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pbk
import pbk.capi.bindings as _k

_KERNEL_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
_REASON_PATTERNS = (
    re.compile(r"ConnectBlock \w+ failed, ([a-z0-9-]+)"),
    re.compile(r"AcceptBlock FAILED \(([a-z0-9-]+)"),
    re.compile(r"CheckBlock\w*: ([a-z0-9-]+)"),
    re.compile(r"(?:failed|FAILED)[,:]? \(?([a-z0-9]+-[a-z0-9-]+)"),
)


@dataclass
class ChainEvent:
    """A block connected to or disconnected from the active chain, in kernel order."""

    kind: str  # "connect" or "disconnect"
    raw_block: bytes
    height: int
    block_hash: bytes  # internal order


@dataclass
class ProcessResult:
    """Outcome of handing one block to the kernel."""

    block_hash: bytes
    is_new: bool
    checked: bool  # the kernel fully validated this block (block_checked fired for it)
    valid: bool
    reason: str | None
    events: list[ChainEvent] = field(default_factory=list)


def _make_block(raw: bytes) -> pbk.Block:
    """pbk.Block from bytes without the per-byte ctypes copy pbk.Block() does."""
    buf = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
    ptr = _k.btck_block_create(buf, len(raw))
    if not ptr:
        raise ValueError("block deserialization failed")
    return pbk.Block._from_handle(ptr)


class KernelChain:
    """Owns the ChainstateManager; collects validation events while a block is processed."""

    def __init__(self, net_dir: Path, logger: logging.Logger) -> None:
        self._logger = logger
        self._events: list[ChainEvent] = []
        self._checked: dict[bytes, tuple[int, int]] = {}
        self._kernel_lines: list[str] = []
        self._log_connection = pbk.LoggingConnection(self._on_kernel_log)
        self._callbacks = pbk.ValidationInterfaceCallbacks(
            block_connected=self._on_connected,
            block_disconnected=self._on_disconnected,
            block_checked=self._on_checked,
        )
        self.chainman = pbk.load_chainman(net_dir, validation_callbacks=self._callbacks)
        self.consensus_params = pbk.ChainParameters(pbk.ChainType.REGTEST).consensus_params

    # -- callbacks (run synchronously inside process_block) -------------
    def _on_kernel_log(self, message: str) -> None:
        line = _KERNEL_TIMESTAMP.sub("", message.rstrip("\n"), count=1)
        self._kernel_lines.append(line)
        if len(self._kernel_lines) > 200:
            del self._kernel_lines[:100]
        self._logger.debug("kernel: %s", line)

    def _on_connected(self, _user_data, block, entry) -> None:
        self._events.append(ChainEvent("connect", bytes(block), entry.height, bytes(entry.block_hash)))

    def _on_disconnected(self, _user_data, block, entry) -> None:
        self._events.append(ChainEvent("disconnect", bytes(block), entry.height, bytes(entry.block_hash)))

    def _on_checked(self, _user_data, block, state) -> None:
        self._checked[bytes(block.block_hash)] = (
            int(state.validation_mode),
            int(state.block_validation_result),
        )

    # -- operations --------------------------------------------------------
    def process_block(self, raw_block: bytes) -> ProcessResult:
        """Validate and (if it has the most work) connect a block; never raises for invalid blocks."""
        self._events = []
        self._checked = {}
        self._kernel_lines = []
        block = _make_block(raw_block)
        block_hash = bytes(block.block_hash)
        try:
            is_new = self.chainman.process_block(block)
            failed = False
        except pbk.ProcessBlockException:
            is_new = True
            failed = True
        state = self._checked.get(block_hash)
        checked = state is not None
        valid = not failed and (state is None or state[0] == int(pbk.ValidationMode.VALID))
        reason = None
        if not valid:
            reason = self._reason_from_log() or "invalid"
        elif not checked and is_new and not self.knows_block(block_hash):
            valid = False
            reason = self._reason_from_log() or "rejected"
        return ProcessResult(block_hash, is_new, checked, valid, reason, self._events)

    def _reason_from_log(self) -> str | None:
        for line in self._kernel_lines:
            for pattern in _REASON_PATTERNS:
                match = pattern.search(line)
                if match:
                    return match.group(1)
        return None

    def knows_block(self, block_hash: bytes) -> bool:
        return pbk.BlockHash(block_hash) in self.chainman.block_tree_entries

    def entry(self, block_hash: bytes) -> pbk.BlockTreeEntry | None:
        try:
            return self.chainman.block_tree_entries[pbk.BlockHash(block_hash)]
        except KeyError:
            return None

    def tip_height(self) -> int:
        return self.chainman.get_active_chain().height

    def hash_at(self, height: int) -> bytes:
        return bytes(self.chainman.get_active_chain()._get_by_height(height).block_hash)

    def active_hashes(self) -> list[bytes]:
        chain = self.chainman.get_active_chain()
        return [bytes(chain._get_by_height(h).block_hash) for h in range(chain.height + 1)]

    def read_block(self, block_hash: bytes) -> bytes | None:
        entry = self.entry(block_hash)
        if entry is None:
            return None
        try:
            return bytes(self.chainman.blocks[entry])
        except RuntimeError:
            return None

    def header_bytes(self, block_hash: bytes) -> bytes | None:
        entry = self.entry(block_hash)
        return None if entry is None else bytes(entry.block_header)

    def in_active_chain(self, block_hash: bytes) -> bool:
        entry = self.entry(block_hash)
        if entry is None:
            return False
        return entry in self.chainman.get_active_chain().block_tree_entries

    def close(self) -> None:
        """Destroy the chainstate manager, which flushes the kernel's state to disk."""
        chainman = self.chainman
        chainman.__del__()
