"""Reading the numbers clients send (query parameters, form fields): one strict rule everywhere.

Python's own readings are too lenient for input from the network: `int()` accepts signs, spaces,
underscores and every Unicode decimal digit ("٣" is 3), and raises something other than a clean
error past 4300 digits; `str.isdigit()` is true for "²", which `int()` then refuses. A number from a
client is ASCII digits only, and at most MAX_DIGITS of them.
"""

import re

# Ten digits hold every count of seconds or items Latch reads (up to 9,999,999,999).
MAX_DIGITS = 10

_ASCII_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def parse_non_negative_int(text: str) -> int:
    """The number `text` spells in 1 to MAX_DIGITS ASCII digits; ValueError for anything else."""
    if not _ASCII_DIGITS.fullmatch(text):
        raise ValueError(f"expected 1 to {MAX_DIGITS} ASCII digits")
    return int(text)
