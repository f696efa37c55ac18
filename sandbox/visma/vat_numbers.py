"""VAT number checks for customers (ErrorCode 4025 InvalidVatNumber).

The real API asks VIES; the simulator cannot reach it, so it checks what can be checked
offline: the format of every EU country, and the check digits for NL and BE.

* NL: ``NL`` + 9 digits + ``B`` + 2 digits. Since 2020 a sole trader's btw-id passes the
  mod-97 rule (``"NL" + number`` with letters as 2-digit numbers, A=10 … Z=35, mod 97 == 1);
  older numbers pass the mod-11 rule on the first 9 digits (weights 9…2, minus the 9th).
  Either is accepted.
* BE: ``BE`` + 10 digits starting with 0 or 1; the last two digits are 97 − (first 8 mod 97).
"""

from __future__ import annotations

import re

EU_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d[A-Z0-9+*]\d{5}[A-Z]{1,2}",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
}


def vat_number_problem(vat_number: str) -> str | None:
    """Why ``vat_number`` is not a valid VAT number, or None when it is (as far as we can tell)."""
    number = re.sub(r"[\s.\-]", "", vat_number).upper()
    country, rest = number[:2], number[2:]
    pattern = EU_FORMATS.get(country)
    if pattern is None:
        # Outside the EU there is no VIES check; the real API accepts what it cannot check.
        return None if re.fullmatch(r"[A-Z]{2}[A-Z0-9]{2,18}", number) else "unknown format"
    if not re.fullmatch(pattern, rest):
        return f"does not have the format of a {country} VAT number"
    if country == "NL" and not (_nl_mod97(number) or _nl_mod11(rest[:9])):
        return "the check digits of the Dutch VAT number do not match"
    if country == "BE" and 97 - int(rest[:8]) % 97 != int(rest[8:]):
        return "the check digits of the Belgian VAT number do not match"
    return None


def _nl_mod97(number: str) -> bool:
    digits = "".join(str(ord(c) - 55) if c.isalpha() else c for c in number)
    return int(digits) % 97 == 1


def _nl_mod11(nine_digits: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = sum(int(d) * w for d, w in zip(nine_digits, weights, strict=True))
    return total % 11 == 0
