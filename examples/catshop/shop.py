"""The shop's web server (standard library only).

    GET /            a new order: a 100 sat invoice for a cat (BOLT 11 text), as text/plain
                     or, with `Accept: application/json`, as JSON {order, bolt11, ...}
    GET /cat/<id>    402 Payment Required until the order's invoice is paid, then the cat;
                     404 for an unknown order, 410 Gone once its invoice has expired unpaid
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lnharness.examples.catshop.cats import cat_for
from lnharness.node import LightningNode

PRICE_MSAT = 100_000
INVOICE_EXPIRY_S = 600


@dataclass(frozen=True)
class Order:
    """One cat ordered: its invoice and when it expires."""
    number: int
    label: str
    bolt11: str
    payment_hash: str
    expires_at: float


class CatShop:
    """A web shop in front of a Lightning node. Use as a context manager or start()/stop()."""

    def __init__(self, node: LightningNode, *, host: str = "127.0.0.1", port: int = 0,
                 price_msat: int = PRICE_MSAT, invoice_expiry_s: int = INVOICE_EXPIRY_S):
        if price_msat <= 0:
            raise ValueError(f"price_msat must be positive, got {price_msat}")
        self.node = node
        self.price_msat = price_msat
        self.invoice_expiry_s = invoice_expiry_s
        self.orders: dict[int, Order] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CatShop:
        self._thread = threading.Thread(target=self._server.serve_forever, name="catshop",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> CatShop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the shop's logic -----------------------------------------------------------------
    def new_order(self) -> Order:
        """Create an invoice for one cat."""
        with self._lock:
            number = next(self._numbers)
        label = f"cat-{number}-{time.time_ns()}"
        invoice = self.node.invoice(self.price_msat, label=label,
                                    description=f"ASCII cat #{number}",
                                    expiry=self.invoice_expiry_s)
        order = Order(number, label, invoice.bolt11, invoice.payment_hash,
                      time.time() + self.invoice_expiry_s)
        with self._lock:
            self.orders[number] = order
        return order

    def order_status(self, number: int) -> str:
        """`unknown`, `unpaid`, `paid` or `expired`."""
        order = self.orders.get(number)
        if order is None:
            return "unknown"
        return self.node.lookup_invoice(order.label).status

    # -- HTTP -----------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "CatShop/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/":
                    shop._offer(self)
                elif self.path.startswith("/cat/"):
                    shop._deliver(self, self.path[len("/cat/"):])
                else:
                    _send(self, HTTPStatus.NOT_FOUND, f"no such page: {self.path}\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo narrates what matters

        return Handler

    def _offer(self, request: BaseHTTPRequestHandler) -> None:
        order = self.new_order()
        body = {"order": order.number, "bolt11": order.bolt11, "amount_msat": self.price_msat,
                "payment_hash": order.payment_hash, "cat_url": f"/cat/{order.number}"}
        if "application/json" in request.headers.get("Accept", ""):
            _send(request, HTTPStatus.OK, json.dumps(body) + "\n", "application/json")
        else:
            _send(request, HTTPStatus.OK,
                  f"One ASCII cat: {self.price_msat // 1000} sat.\n"
                  f"Pay this invoice:\n\n{order.bolt11}\n\n"
                  f"then fetch your cat at {body['cat_url']}\n")

    def _deliver(self, request: BaseHTTPRequestHandler, order_id: str) -> None:
        if not order_id.isdigit():
            _send(request, HTTPStatus.NOT_FOUND, f"no order {order_id!r}\n")
            return
        number = int(order_id)
        status = self.order_status(number)
        if status == "unknown":
            _send(request, HTTPStatus.NOT_FOUND, f"no order {number}\n")
        elif status == "expired":
            _send(request, HTTPStatus.GONE, f"order {number}: the invoice expired unpaid\n")
        elif status == "paid":
            _send(request, HTTPStatus.OK, cat_for(number))
        else:
            _send(request, HTTPStatus.PAYMENT_REQUIRED,
                  f"order {number} is not paid yet; pay:\n{self.orders[number].bolt11}\n")


def _send(request: BaseHTTPRequestHandler, status: HTTPStatus, body: str,
          content_type: str = "text/plain; charset=utf-8") -> None:
    data = body.encode()
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
