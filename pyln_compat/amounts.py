"""`Millisatoshi`: an amount in msat with pyln-client's behaviour, for when pyln-client is
not installed (`lnharness.pyln.client` hands out pyln-client's own class when it is)."""
from __future__ import annotations

from decimal import Decimal
from math import floor
from typing import Any

_UNITS_MSAT = (("msat", 1), ("sat", 1000), ("btc", 1000 * 10**8))


class Millisatoshi:
    """A non-negative whole number of millisatoshis.

    Built from an int (msat), another Millisatoshi, or a string ending in `msat`, `sat` or
    `btc` ("123msat", "1sat", "0.001btc"). Compares and adds with ints (taken as msat) and
    other Millisatoshis; in JSON it is the string "<n>msat".
    """

    __slots__ = ("millisatoshis",)

    def __init__(self, value: int | str | Decimal | Millisatoshi):
        self.millisatoshis = self._parse(value)
        if self.millisatoshis < 0:
            raise ValueError(f"Millisatoshi must be >= 0, got {value!r}")

    @staticmethod
    def _parse(value: Any) -> int:
        if isinstance(value, Millisatoshi):
            return value.millisatoshis
        if isinstance(value, str):
            for suffix, factor in _UNITS_MSAT:
                if value.endswith(suffix):
                    amount = Decimal(value[:-len(suffix)]) * factor
                    if amount != int(amount):
                        raise ValueError(f"Millisatoshi must be a whole number of msat, got {value!r}")
                    return int(amount)
            raise TypeError(f"Millisatoshi string needs an msat, sat or btc suffix, got {value!r}")
        if isinstance(value, float):
            raise TypeError(f"Millisatoshi does not take a float ({value!r}): use an int or a string")
        if isinstance(value, (int, Decimal)) and int(value) == value:
            return int(value)
        raise TypeError(f"Millisatoshi takes an int or a string with an msat/sat/btc suffix, got {value!r}")

    # -- conversions ---------------------------------------------------------------------
    def __int__(self) -> int:
        return self.millisatoshis

    def __repr__(self) -> str:
        return f"{self.millisatoshis}msat"

    def to_json(self) -> str:
        return repr(self)

    def to_satoshi(self) -> Decimal:
        return Decimal(self.millisatoshis) / 1000

    def to_whole_satoshi(self) -> int:
        """Whole satoshis, rounded up."""
        return (self.millisatoshis + 999) // 1000

    def to_btc(self) -> Decimal:
        return Decimal(self.millisatoshis) / 1000 / 10**8

    def to_satoshi_str(self) -> str:
        if self.millisatoshis % 1000:
            return f"{self.to_satoshi():.3f}sat"
        return f"{self.to_satoshi():.0f}sat"

    def to_btc_str(self) -> str:
        if self.millisatoshis % 1000:
            return f"{self.to_btc():.11f}btc"
        return f"{self.to_btc():.8f}btc"

    # -- comparisons (an int is msat) ----------------------------------------------------
    @staticmethod
    def _other(other: object) -> int | None:
        if isinstance(other, Millisatoshi):
            return other.millisatoshis
        if isinstance(other, int) and not isinstance(other, bool):
            return other
        return None

    def __eq__(self, other: object) -> bool:
        value = self._other(other)
        return value is not None and self.millisatoshis == value

    def __hash__(self) -> int:
        return hash(self.millisatoshis)

    def _compare(self, other: object) -> int:
        value = self._other(other)
        if value is None:
            raise TypeError(f"cannot compare Millisatoshi with {type(other).__name__}")
        return value

    def __lt__(self, other: object) -> bool:
        return self.millisatoshis < self._compare(other)

    def __le__(self, other: object) -> bool:
        return self.millisatoshis <= self._compare(other)

    def __gt__(self, other: object) -> bool:
        return self.millisatoshis > self._compare(other)

    def __ge__(self, other: object) -> bool:
        return self.millisatoshis >= self._compare(other)

    # -- arithmetic ----------------------------------------------------------------------
    def __add__(self, other: Millisatoshi | int) -> Millisatoshi:
        return Millisatoshi(self.millisatoshis + int(other))

    __radd__ = __add__

    def __sub__(self, other: Millisatoshi | int) -> Millisatoshi:
        return Millisatoshi(self.millisatoshis - int(other))

    def __mul__(self, other: int | float) -> Millisatoshi:
        if isinstance(other, Millisatoshi):
            raise TypeError("Millisatoshi * Millisatoshi has no meaning (msat squared)")
        return Millisatoshi(floor(self.millisatoshis * other))

    __rmul__ = __mul__

    def __truediv__(self, other: Millisatoshi | int | float) -> Millisatoshi | float:
        if isinstance(other, Millisatoshi):
            return self.millisatoshis / other.millisatoshis
        return Millisatoshi(floor(self.millisatoshis / other))

    def __floordiv__(self, other: Millisatoshi | int | float) -> Millisatoshi | int:
        if isinstance(other, Millisatoshi):
            return self.millisatoshis // other.millisatoshis
        return Millisatoshi(floor(self.millisatoshis // other))

    def __mod__(self, other: int | float) -> Millisatoshi:
        return Millisatoshi(int(self.millisatoshis % other))
