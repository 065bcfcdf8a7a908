"""The merged log of a repro bundle: every process's timestamp format, time order, grouping."""
from datetime import datetime, timedelta, timezone

import pytest
from lnharness.mergelog import format_stamp, merge_logs, parse_timestamp, write_merged_log

UTC = timezone.utc

# One real-shaped line of each process the harness runs.
BUILTIN = "2026-12-05T07:25:43.227Z INFO node: Server started with public key 02ab, alias l2"
LDK = "2026-12-05T07:25:43.010Z INFO ldk_node: Starting up LDK Node with node ID 03fb"
LIGHTNINGD = "2026-12-05T07:25:43.100Z INFO    lightningd: Server started with public key 03cd"
BITCOIND = "2026-12-05T07:25:43Z init message: Done loading"
BITCOIND_MICROS = "2026-12-05T07:25:43.123456Z UpdateTip: new best=6c6d height=108"
REGTESTD_MICROS = "2026-12-05T07:25:43.035793Z regtestd starting (Bitcoin Core RPC compatible)"
LND = "2026-12-05 07:25:42.967 [INF] LTND: Version Info version=0.21.2-beta"


@pytest.mark.parametrize("line, expected, rest", [
    (BUILTIN, datetime(2026, 12, 5, 7, 25, 43, 227000, UTC), "INFO node: Server started"),
    (LDK, datetime(2026, 12, 5, 7, 25, 43, 10000, UTC), "INFO ldk_node: Starting up"),
    (LIGHTNINGD, datetime(2026, 12, 5, 7, 25, 43, 100000, UTC), "INFO    lightningd: Server"),
    (BITCOIND, datetime(2026, 12, 5, 7, 25, 43, 0, UTC), "init message: Done loading"),
    (BITCOIND_MICROS, datetime(2026, 12, 5, 7, 25, 43, 123456, UTC), "UpdateTip: new best"),
    (REGTESTD_MICROS, datetime(2026, 12, 5, 7, 25, 43, 35793, UTC), "regtestd starting"),
    ("2026-12-05T09:25:43.5+02:00 offset given", datetime(2026, 12, 5, 7, 25, 43, 500000, UTC),
     "offset given"),
], ids=["builtin", "ldk", "lightningd", "bitcoind", "bitcoind-micros", "regtestd-micros",
        "offset"])
def test_each_process_timestamp_is_read_in_utc(line, expected, rest):
    stamp, remainder = parse_timestamp(line)
    assert stamp == expected
    assert remainder.startswith(rest)


def test_lnd_timestamps_without_a_zone_are_local_time():
    stamp, rest = parse_timestamp(LND)
    local = datetime(2026, 12, 5, 7, 25, 42, 967000).astimezone()  # this machine's zone
    assert stamp == local.astimezone(UTC)
    assert rest == "[INF] LTND: Version Info version=0.21.2-beta"


@pytest.mark.parametrize("line", ["Traceback (most recent call last):", "  File \"x.py\", line 1",
                                  "", "2026-13-45T99:00:00Z not a date", "2026-12-05Tnoon"])
def test_lines_without_a_timestamp_are_not_parsed(line):
    assert parse_timestamp(line) is None


def test_processes_interleave_by_time_each_line_prefixed_by_its_name():
    chain = [BITCOIND_MICROS]                               # 43.123456
    l1 = [BUILTIN]                                          # 43.227
    l2 = [LDK, "2026-12-05T07:25:44.000Z INFO ldk_node: later"]  # 43.010, 44.000
    merged = list(merge_logs([("chain", chain), ("l1", l1), ("l2", l2)]))
    assert [line.split()[0] for line in merged] == ["l2", "chain", "l1", "l2"]
    assert merged[1] == "chain 2026-12-05T07:25:43.123456Z UpdateTip: new best=6c6d height=108"
    assert merged[2].startswith("l1    2026-12-05T07:25:43.227000Z INFO node: Server started")


def test_lines_without_a_timestamp_stay_with_the_line_before():
    l1 = ["2026-12-05T07:25:43.000Z ERROR rpc: failed", "Traceback (most recent call last):",
          "  File \"x.py\", line 1", "2026-12-05T07:25:45.000Z INFO node: after"]
    l2 = ["2026-12-05T07:25:44.000Z INFO node: in between"]
    merged = list(merge_logs([("l1", l1), ("l2", l2)]))
    assert [line.split()[0] for line in merged] == ["l1", "l1", "l1", "l2", "l1"]
    assert merged[1].split(None, 1)[1] == "Traceback (most recent call last):"
    assert merged[2].endswith("  File \"x.py\", line 1")


def test_lines_before_the_first_timestamp_go_with_it():
    l1 = ["a banner", "2026-12-05T07:25:44.000Z INFO node: first"]
    l2 = ["2026-12-05T07:25:43.000Z INFO node: earlier"]
    merged = list(merge_logs([("l1", l1), ("l2", l2)]))
    assert [line.split(None, 1)[1].strip() for line in merged] == [
        "2026-12-05T07:25:43.000000Z INFO node: earlier", "a banner",
        "2026-12-05T07:25:44.000000Z INFO node: first"]


def test_blank_lines_are_left_out():
    """bitcoind starts each run's debug.log with five blank lines: none becomes a bare name."""
    chain = ["", "", "", "", "", BITCOIND, "   ", BITCOIND_MICROS]
    merged = list(merge_logs([("chain", chain), ("l1", [BUILTIN])]))
    assert [line.split(None, 1)[0] for line in merged] == ["chain", "chain", "l1"]
    assert all(len(line.split(None, 1)) == 2 for line in merged)


def test_a_process_s_own_order_is_kept_when_its_clock_goes_back():
    # whole-second stamps next to finer ones: one file is never reordered
    chain = ["2026-12-05T07:25:43.900000Z first", "2026-12-05T07:25:43Z second"]
    l1 = ["2026-12-05T07:25:43.500Z INFO node: x"]
    merged = [line.split(None, 2)[2] for line in merge_logs([("chain", chain), ("l1", l1)])]
    assert merged.index("first") < merged.index("second")


def test_equal_times_keep_the_order_of_the_sources():
    same = "2026-12-05T07:25:43.000Z INFO node: same"
    merged = list(merge_logs([("l2", [same]), ("l1", [same]), ("chain", [same])]))
    assert [line.split()[0] for line in merged] == ["l2", "l1", "chain"]


def test_write_merged_log_writes_every_line(tmp_path):
    start = datetime(2026, 12, 5, 7, 0, 0, tzinfo=UTC)
    lines = [f"{format_stamp(start + timedelta(seconds=i))} line {i}" for i in range(5)]
    path = tmp_path / "merged.log"
    assert write_merged_log(path, [("l1", lines[::2]), ("l2", lines[1::2])]) == 5
    assert [line.split()[-1] for line in path.read_text().splitlines()] == list("01234")
