"""Rating codes: the short secret printed on a dossier's receipt (QR code or SMS) that proves
the one who rates it was served. Pure functions; the HMAC key lives in FINGERPRINT_KEYS.

Eight characters of Crockford's base32 (40 bits): no I, L, O or U, so what is read aloud or
typed from paper comes out the same; a typed O is taken for 0, I and L for 1, and spaces and
dashes are ignored. 2^40 codes against a few wrong attempts per install and dossier, and a
few hundred per dossier, per day (`RATING_CODE_INSTALL_FAILURES`, `RATING_CODE_DAILY_FAILURES`)
leaves guessing hopeless; and spending a dossier's budget, which would deny its applicant a
verified rating that day, takes many installs, not one.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8
PURPOSE = "rating-code"
RATING_CODE_DAILY_FAILURES = 200
"""Wrong codes checked for one dossier on one local day after which no code is checked for it
that day (one in 5 * 10^9 of the codes: guessing stays hopeless)."""
RATING_CODE_INSTALL_FAILURES = 5
"""Wrong codes checked for one dossier from one install on one local day, after which that
install's codes for it are not checked (nor counted) that day."""

_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


def generate_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_code(raw: str) -> str | None:
    """The code as stored, from what a person typed or a QR code held; None if it cannot be one."""
    code = raw.upper().translate(_TYPED)
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def code_payload(dossier_code: str, rating_code: str) -> bytes:
    """What is fingerprinted: the code bound to its dossier, so one dossier's hash says nothing
    of another's."""
    return dossier_code.encode() + b"\x00" + rating_code.encode()


def format_code(code: str) -> str:
    """As printed on a receipt: two groups of four."""
    return f"{code[:4]}-{code[4:]}"
