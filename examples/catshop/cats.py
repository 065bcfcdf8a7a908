"""The goods: ASCII cats, one per order."""
from __future__ import annotations

CATS = (
    r"""
     /\_/\
    ( o.o )
     > ^ <
    """,
    r"""
      |\      _,,,---,,_
      /,`.-'`'    -.  ;-;;,_
     |,4-  ) )-,_..;\ (  `'-'
    '---''(_/--'  `-'\_)
    """,
    r"""
       /\_/\  (
      ( ^.^ ) _)
        \"/  (
      ( | | )
     (__d b__)
    """,
)


def cat_for(order_number: int) -> str:
    """The cat delivered for the `order_number`-th order."""
    return CATS[order_number % len(CATS)].strip("\n") + "\n"
