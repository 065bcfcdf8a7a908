"""One time-ordered log of several processes, each line prefixed by its process's name.

Every process writes its own timestamp format; `parse_timestamp` reads all of ours:
the built-in node, ldk (`lnh-ldkd`) and Core Lightning (`2026-01-02T03:04:05.678Z ...`),
bitcoind and the embedded chain (`2026-01-02T03:04:05Z ...`, or `.678901Z` with
`-logtimemicros`), and LND (`2026-01-02 03:04:05.678 [INF] ...`, local time).

The merge is stable: a process's lines keep their order (a clock or rounding that goes
backwards never reorders one file), lines from different processes go by time, and a line
without a timestamp (a traceback, a wrapped message) stays with the line before it (or,
at the top of a file, with the first line that has one). Blank lines are left out.
"""
from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

_STAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?(?=\s|$)\s?")
#: width of a normalised timestamp, `2026-01-02T03:04:05.678901Z`
STAMP_WIDTH = 27

Entry = tuple[datetime, list[str]]


def parse_timestamp(line: str) -> tuple[datetime, str] | None:
    """(the time in UTC, the rest of the line) if `line` starts with a timestamp, else None.

    A timestamp without a zone is the local time of this machine (LND writes those)."""
    match = _STAMP.match(line)
    if match is None:
        return None
    frac = (match["frac"] or "").ljust(6, "0")[:6]
    try:
        naive = datetime.strptime(f"{match['date']} {match['time']}.{frac}", "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:  # digits in the shape of a date that are not one
        return None
    zone = match["zone"]
    if zone is None:
        stamp = naive.astimezone(timezone.utc)
    elif zone == "Z":
        stamp = naive.replace(tzinfo=timezone.utc)
    else:
        offset = datetime.strptime(zone.replace(":", ""), "%z").tzinfo
        stamp = naive.replace(tzinfo=offset).astimezone(timezone.utc)
    return stamp, line[match.end():]


def format_stamp(stamp: datetime) -> str:
    """`stamp` as `2026-01-02T03:04:05.678901Z` (UTC)."""
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entries(lines: Iterable[str]) -> list[Entry]:
    """A file's lines grouped as (time, [its stamped line, then the lines that follow it
    without a timestamp]), each already formatted (timestamp normalised, or indented)."""
    entries: list[Entry] = []
    leading: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():  # bitcoind starts each run's debug.log with blank lines
            continue
        parsed = parse_timestamp(line)
        if parsed is None:
            text = f"{' ' * STAMP_WIDTH} {line}".rstrip()
            (entries[-1][1] if entries else leading).append(text)
            continue
        stamp, rest = parsed
        entries.append((stamp, [f"{format_stamp(stamp)} {rest}".rstrip()]))
    if leading:
        if entries:
            entries[0][1][:0] = leading
        else:  # no timestamp at all: the file goes first, in its own order
            entries.append((datetime.min.replace(tzinfo=timezone.utc), leading))
    return entries


def merge_logs(sources: Sequence[tuple[str, Iterable[str]]]) -> Iterator[str]:
    """Lines of every (process name, lines) source in time order, each prefixed by its
    name (padded to the longest); lines without a timestamp are indented past it."""
    width = max((len(name) for name, _ in sources), default=0)
    streams = [[(stamp, index, name, group) for stamp, group in _entries(lines)]
               for index, (name, lines) in enumerate(sources)]
    for _, _, name, group in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        prefix = name.ljust(width)
        for text in group:
            yield f"{prefix} {text}".rstrip()


def read_lines(path: Path) -> list[str]:
    """A log file's lines (undecodable bytes replaced); [] when it does not exist."""
    try:
        return Path(path).read_bytes().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def write_merged_log(path: Path, sources: Sequence[tuple[str, Iterable[str]]]) -> int:
    """Write the merged log of `sources` to `path`; return how many lines it has."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for line in merge_logs(sources):
            out.write(line + "\n")
            count += 1
    return count
