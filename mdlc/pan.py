"""Card numbers (PANs) kept out of ids and feature definitions.

A decision request's ids are recorded (decisions table, events, data capture) and returned;
a card number there would spread cardholder data beyond the systems built to hold it. A
value "looks like a PAN" when, with spaces and dashes removed, it is 13-19 digits that pass
the Luhn check (ISO/IEC 7812). Only whole values are tested: an id such as ``T42-00000001``
holds digits but is not a card number. Messages never repeat the value.

Standard library only: the collect-features Lambda imports this on every cold start.
"""

from __future__ import annotations

import re

PAN_MIN_DIGITS = 13
PAN_MAX_DIGITS = 19
_SEPARATORS = re.compile(r"[ -]")
#: Names that say a column holds card numbers: a ``pan`` word, card number, primary account number.
_PAN_NAME = re.compile(r"(^|_)pans?(_|$)|card_?(number|num|no)s?(_|$)|primary_?account_?numbers?", re.I)
#: In a description: "PAN" in capitals (not "pan-European"), "card number(s)", "primary account number".
_PAN_TEXT = re.compile(r"\bPANs?\b|(?i:\bprimary account numbers?\b|\bcard ?(number|num|no)s?\b)")

PAN_EXPECTED = (f"an id that is not a card number (a value of {PAN_MIN_DIGITS}-{PAN_MAX_DIGITS} digits, "
                "spaces or dashes that passes the Luhn check is refused): use a token or surrogate "
                "key from your card vault")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def looks_like_pan(value: object) -> bool:
    """True for a string (or integer) that is a Luhn-valid 13-19 digit number, spaces/dashes aside."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    if len(text) > 2 * PAN_MAX_DIGITS:  # never more than one separator per digit
        return False
    digits = _SEPARATORS.sub("", text)
    return (PAN_MIN_DIGITS <= len(digits) <= PAN_MAX_DIGITS and digits.isascii() and digits.isdigit()
            and luhn_valid(digits))


def pan_name(name: str) -> bool:
    """True for a column name that says it holds card numbers (``card_number``, ``pan``, ...)."""
    return bool(_PAN_NAME.search(name))


def pan_text(text: str) -> bool:
    """True for a description that says the column holds card numbers."""
    return bool(_PAN_TEXT.search(text))
