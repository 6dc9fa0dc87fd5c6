"""What an authority reads of a feedback item is a redacted copy: e-mail addresses, ID
numbers (CMND 9 digits, CCCD 12 digits) and phone numbers in the text are masked. The
reporter's identity is never part of the copy to begin with (it lives encrypted elsewhere).

Pure: `redact(text)` returns the masked text; `findings(text)` says what would be masked.
Order matters: e-mails first (they may hold digits), then numbers with the country code,
then ID numbers (a CCCD starts with 0 and would otherwise look like a phone number), then
the other phone numbers.
"""

from __future__ import annotations

import re

EMAIL_MASK = "[email đã ẩn]"
ID_MASK = "[số giấy tờ đã ẩn]"
PHONE_MASK = "[số điện thoại đã ẩn]"

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# 12 or 9 digits, written together or in groups of three with one kind of separator.
ID_NUMBER = re.compile(r"(?<![\w+])(?:\d{12}|\d{9}|\d{3}([ .-])\d{3}\1\d{3}\1\d{3}|\d{3}([ .-])\d{3}\2\d{3})(?![\d])")
# Vietnamese numbers: +84/84/0 then 8-10 more digits, with spaces, dots, dashes or
# parentheses between them (0912 345 678, +84 912.345.678, (024) 3825 1234). The country
# code form goes before ID numbers: "+84 912 345 678" ends in three groups of three.
INTERNATIONAL_PHONE = re.compile(r"(?<![\w])\(?\+?84\)?(?:[ .\-)]{0,2}\d){8,10}(?![\d])")
PHONE = re.compile(r"(?<![\w])\(?0(?:[ .\-)]{0,2}\d){8,10}(?![\d])")

_PATTERNS = (
    ("email", EMAIL, EMAIL_MASK),
    ("phone", INTERNATIONAL_PHONE, PHONE_MASK),
    ("id_number", ID_NUMBER, ID_MASK),
    ("phone", PHONE, PHONE_MASK),
)


def redact(text: str) -> str:
    """The text with e-mail addresses, ID numbers and phone numbers masked."""
    for _, pattern, mask in _PATTERNS:
        text = pattern.sub(mask, text)
    return text


def findings(text: str) -> dict[str, int]:
    """How many of each kind `redact` masks (for the forward's event, never the values)."""
    counts: dict[str, int] = {}
    for kind, pattern, mask in _PATTERNS:
        text, found = pattern.subn(mask, text)
        if found:
            counts[kind] = counts.get(kind, 0) + found
    return counts
