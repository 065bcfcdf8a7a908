"""The lnd adapter's pieces that need no lnd: normalisation, options, discovery, the REST client."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from lnharness.errors import RpcError
from lnharness.node_impl.lnd import config, shapes
from lnharness.node_impl.lnd.adapter import LndNode
from lnharness.node_impl.lnd.rest import LndRest

TXID = "a1" * 31 + "0f"


def test_txid_bytes_are_reversed_base64():
    raw = bytes.fromhex(TXID)[::-1]
    assert shapes.txid_from_bytes(base64.b64encode(raw).decode()) == TXID


def test_channel_id_xors_the_output_index_into_the_funding_txid():
    channel_id = shapes.channel_id_from_point(f"{TXID}:1")
    internal = bytes.fromhex(TXID)[::-1]
    assert channel_id[:60] == internal.hex()[:60]
    assert channel_id[-4:] == f"{int.from_bytes(internal[-2:], 'big') ^ 1:04x}"


def test_short_channel_id_from_lnd_chan_id():
    assert shapes.short_channel_id(str((103 << 40) | (1 << 16) | 0)) == "103x1x0"
    assert shapes.short_channel_id("0") is None


def test_open_channel_balances_add_up_to_the_capacity():
    record = {"channel_point": f"{TXID}:0", "chan_id": str(103 << 40), "remote_pubkey": "02" * 33,
              "capacity": "1000000", "local_balance": "946530", "remote_balance": "50000",
              "commit_fee": "2810", "initiator": True, "commitment_type": "ANCHORS",
              "active": False}
    channel = shapes.channel_from_open(record)
    assert channel.state == "active"  # inactive is still open: `native["active"]` tells the link
    assert channel.local_msat == 950_000_000 and channel.remote_msat == 50_000_000
    assert channel.local_msat + channel.remote_msat == 1_000_000_000
    assert channel.short_channel_id == "103x0x0" and channel.funding_txid == TXID


def test_pending_and_closed_states():
    entry = {"channel": {"channel_point": f"{TXID}:0", "remote_node_pub": "03" * 33,
                         "capacity": "20000", "local_balance": "0", "remote_balance": "19000",
                         "initiator": "INITIATOR_REMOTE", "commitment_type": "STATIC_REMOTE_KEY"},
             "commit_fee": "1000"}
    assert shapes.channel_from_pending(entry, "opening").remote_msat == 20_000_000
    closed = shapes.channel_from_closed({"channel_point": f"{TXID}:0", "chan_id": "0",
                                         "remote_pubkey": "03" * 33, "capacity": "20000",
                                         "settled_balance": "15000", "time_locked_balance": "0"})
    assert closed.state == "closed" and closed.local_msat == 15_000_000


@pytest.mark.parametrize(("state", "age", "status"), [
    ("OPEN", 0, "unpaid"), ("SETTLED", 0, "paid"), ("CANCELED", 0, "expired"),
    ("OPEN", 7200, "expired"), ("ACCEPTED", 0, "unpaid")])
def test_invoice_states(state, age, status):
    record = {"state": state, "creation_date": "1000", "expiry": "3600"}
    assert shapes.invoice_status(record, now=1000 + age) == status


def test_payment_states_and_preimage():
    ok = shapes.payment_from_lnd({"payment_hash": "11" * 32, "payment_preimage": "22" * 32,
                                  "status": "SUCCEEDED", "fee_msat": "1001", "value_msat": "5000"})
    assert (ok.status, ok.preimage, ok.fee_msat, ok.amount_msat) == ("complete", "22" * 32, 1001, 5000)
    failed = shapes.payment_from_lnd({"payment_hash": "11" * 32, "payment_preimage": "00" * 32,
                                      "status": "FAILED", "fee_msat": "0", "value_msat": "0"})
    assert failed.status == "failed" and failed.preimage is None


def test_options_override_defaults_and_managed_ones_are_refused():
    known = frozenset({"trickledelay", "protocol.no-anchors", "accept-keysend", "alias"})
    args = config.option_args({"trickledelay": 1000, "protocol.no-anchors": True,
                               "accept_keysend": False}, known)
    assert "--trickledelay=1000" in args and "--trickledelay=50" not in args
    assert "--protocol.no-anchors" in args and "--accept-keysend" not in args
    with pytest.raises(TypeError, match="'restlisten' is set by the harness"):
        config.option_args({"restlisten": "127.0.0.1:1"}, known)
    with pytest.raises(TypeError, match="unknown lnd option 'colour'"):
        config.option_args({"colour": "red"}, known)


def test_discovery_order_and_the_reason_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("LNH_BIN_DIR", str(tmp_path / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LNH_LND", raising=False)
    availability = LndNode.availability()
    assert not availability.available
    assert "lnharness install lnd" in availability.reason
    (tmp_path / "lnd").write_text("#!/bin/sh\necho 'lnd version 9.9.9-path'\n")
    (tmp_path / "lnd").chmod(0o755)
    assert config.find_lnd() == config.Found(str(tmp_path / "lnd"), "PATH")
    assert "9.9.9-path" in LndNode.availability().version
    monkeypatch.setenv("LNH_LND", "/nonexistent/lnd")
    availability = LndNode.availability()
    assert not availability.available
    assert availability.reason.startswith("/nonexistent/lnd (LNH_LND) does not exist")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        if self.path.startswith("/v1/getinfo"):
            body = json.dumps({"identity_pubkey": "02" * 33, "macaroon":
                               self.headers.get("Grpc-Metadata-macaroon")}).encode()
            self.send_response(200)
        else:
            body = json.dumps({"code": 2, "message": "unable to find a path", "details": []}).encode()
            self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for status in ("IN_FLIGHT", "SUCCEEDED", "NEVER_READ"):
            line = json.dumps({"result": {"status": status}}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


def self_signed(directory: Path) -> tuple[str, str]:
    """An EC P-256 certificate for 127.0.0.1 (a CA, as lnd's tls.cert) and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lnd autogenerated cert")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "tls.cert", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_server(tmp_path: Path):
    """An HTTPS server with a self-signed certificate for 127.0.0.1, as lnd has."""
    import ssl
    cert, key = self_signed(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()


def test_rest_client_auth_errors_and_streams(tls_server, tmp_path):
    port, cert = tls_server
    (tmp_path / "admin.macaroon").write_bytes(b"\x01\x02")
    rest = LndRest(port, cert, tmp_path / "admin.macaroon", name="l1")
    assert rest.get("/v1/getinfo")["macaroon"] == "0102"
    with pytest.raises(RpcError) as info:
        rest.get("/v1/graph/routes/x/0")
    assert info.value.code == 2 and info.value.message == "unable to find a path"
    updates = rest.stream("POST", "/v2/router/send", {},
                          until=lambda u: u["status"] == "SUCCEEDED")
    assert [u["status"] for u in updates] == ["IN_FLIGHT", "SUCCEEDED"]


def test_benign_log_lines_are_allowed_and_others_are_not():
    from lnharness.node_impl.lnd.logs import is_benign
    assert is_benign("2026-12-04 16:30:36.546 [ERR] RPCS: [/lnrpc.Lightning/LookupInvoice]: "
                     "rpc error: code = NotFound desc = there are no existing invoices")
    assert is_benign("2026-12-04 16:35:31.298 [ERR] SWPR: Failed to init fee function: "
                     "startingFeeRate=668 sat/kw, endingFeeRate=668 sat/kw, width=1006, delta=0 mSAT/kw")
    assert not is_benign("2026-12-04 16:35:31.298 [ERR] SWPR: Failed to init fee function: "
                         "startingFeeRate=668 sat/kw, endingFeeRate=700 sat/kw, width=1006")
    node = "0396bea9496d154f1617f7045e9a7fc2fa7036507d587b43ab70b3e9adc304e7be"
    assert is_benign(f"2026-12-04 18:42:07.460 [ERR] DISC: unable to add node {node} to the "
                     "graph: ChannelGraph shutting down")
    assert is_benign(f"2026-12-04 18:42:07.460 [ERR] GRPH: process network updates got: unable "
                     f"to add node {node} to the graph: ChannelGraph shutting down")
    assert not is_benign(f"2026-12-04 18:42:07.460 [ERR] DISC: unable to add node {node} to the "
                         "graph: invalid signature")
    point = "c733ef21cf53ed0e2216bc7ce024506c0e1cf9d880e8f65f0c60255af7aa353a:0"
    assert is_benign(f"2026-12-04 18:46:05.925 [ERR] HSWC: ChannelLink({point}): failing link: "
                     f"ChannelPoint({point}): received error from peer: chan_id=3a35, "
                     "err=Forcibly closed by `close` command with error: remote error")
    assert is_benign(f"2026-12-05 07:44:45.247 [ERR] RPCS: unable to populate arbitrator force "
                     f"close resp:{point}, unable to find arbitrator")
    assert not is_benign(f"2026-12-05 07:44:45.247 [ERR] RPCS: unable to populate arbitrator force "
                         f"close resp:{point}, unable to fetch channel")
    # lnd splitting a multi-part payment again after a part missed a local channel's bandwidth
    assert is_benign("2026-12-05 08:43:53.187 [ERR] HSWC: Link 104:1:1 policy for local forward not "
                     "satisfied")
    assert is_benign("2026-12-05 08:43:53.187 [ERR] CRTR: Failed sending attempt 2 for payment "
                     f"{'fc' * 32} to switch: insufficient bandwidth to route htlc")
    assert not is_benign("2026-12-05 08:43:53.187 [ERR] CRTR: Failed sending attempt 2 for payment "
                         f"{'fc' * 32} to switch: link not found")
    # lnd stopping while the switch still held an HTLC to forward
    assert is_benign("2026-12-05 16:59:47.118 [ERR] HSWC: unable to forward htlc packet htlc "
                     "switch was stopped")
    assert not is_benign("2026-12-05 16:59:47.118 [ERR] HSWC: unable to forward htlc packet "
                         "unknown channel")
    assert not is_benign("2026-12-04 16:33:10.200 [ERR] FNDG: unable to cancel reservation: "
                         "no active reservations for peer(02aa)")
    assert not is_benign("2026-12-04 17:12:17.120 [ERR] HSWC: ChannelLink(ab:1): failing link: "
                         "ChannelPoint(ab:1): received error from peer: chan_id=53, err=invalid "
                         "commitment signature with error: remote error")
