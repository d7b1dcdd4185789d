"""Record ids as InvenioRDM mints them (RecordIdProviderV2), e.g. ``3jhv2-ycx91`` (API-v3 §1.4).

One job: mint and check record ids, so that clients see ids of the real form.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import re
import secrets

#: Crockford base32 without i, l, o, u (base32-lib's alphabet).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECORD_ID_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{3}[0-9]{2}$")


def _encode(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 32)
        digits = ALPHABET[rest] + digits
        if number == 0:
            return digits


def checksum(number: int) -> int:
    """The two check digits: ISO 7064 mod 97-10 as base32-lib computes them."""
    return 97 - ((100 * number) % 97) + 1


def format_record_id(number: int) -> str:
    """``number`` (< 32**8) as a 10-character, hyphenated id with check digits."""
    text = (_encode(number) + f"{checksum(number):02d}").rjust(10, "0")
    return f"{text[:5]}-{text[5:]}"


def new_record_id() -> str:
    return format_record_id(secrets.randbelow(32**8))


def is_valid_record_id(value: str) -> bool:
    """Shape and check digits both right (a typo in an id is caught, as upstream)."""
    if not RECORD_ID_RE.match(value):
        return False
    body = value.replace("-", "")
    number = 0
    for char in body[:-2]:
        number = number * 32 + ALPHABET.index(char)
    return checksum(number) == int(body[-2:])
