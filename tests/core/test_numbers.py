"""One strict reading of the numbers clients send: ASCII digits only, and not too many of them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.numbers import MAX_DIGITS, parse_non_negative_int

NOT_NUMBERS = [
    "²",  # a superscript two: str.isdigit() says yes, int() says no
    "٣",  # an Arabic-Indic three: int() reads it as 3
    "\uff15",  # a fullwidth five
    "+5",
    " 5",
    "5 ",
    "5\n",
    "-1",
    "1e3",
    "1_000",
    "0x10",
    "",
    "5" * 5000,
    "1" * (MAX_DIGITS + 1),
]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_anything_but_a_few_ascii_digits_is_refused(text):
    with pytest.raises(ValueError, match="digits"):
        parse_non_negative_int(text)


@pytest.mark.parametrize(
    ("text", "number"), [("0", 0), ("5", 5), ("0060", 60), ("9" * MAX_DIGITS, 10**MAX_DIGITS - 1)]
)
def test_ascii_digits_are_the_number_they_spell(text, number):
    assert parse_non_negative_int(text) == number


@given(st.integers(min_value=0, max_value=10**MAX_DIGITS - 1))
def test_every_number_within_the_bound_reads_back(number):
    assert parse_non_negative_int(str(number)) == number


@given(st.text())
def test_any_text_is_a_number_or_a_value_error_never_anything_else(text):
    try:
        number = parse_non_negative_int(text)
    except ValueError:
        return
    assert text.isascii()
    assert text.isdigit()
    assert len(text) <= MAX_DIGITS
    assert number == int(text)
