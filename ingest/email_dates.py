"""Dates as mail clients print them in forwarded-message blocks, in EN/DE/FR/ES.

"Mon, 17 Mar 2025 at 08:31" (Gmail), "Monday, March 17, 2025 8:31 AM" (Outlook),
"17 March 2025 at 08:31:00 GMT" (Apple Mail), "Montag, 17. März 2025 08:31",
"lun. 17 mars 2025 à 08:31", "lunes, 17 de marzo de 2025 8:31", "17.03.2025 08:31".
Clients print these in the forwarder's local time without a zone; callers pass the zone of
the forwarding mail's own Date header as the best guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

_MONTH_NAMES = {
    1: ("january", "januar", "janvier", "enero", "jänner"),
    2: ("february", "februar", "février", "fevrier", "febrero"),
    3: ("march", "märz", "maerz", "mars", "marzo", "mrz"),
    4: ("april", "avril", "abril"),
    5: ("may", "mai", "mayo"),
    6: ("june", "juni", "juin", "junio"),
    7: ("july", "juli", "juillet", "julio"),
    8: ("august", "août", "aout", "agosto"),
    9: ("september", "septembre", "septiembre", "setiembre"),
    10: ("october", "oktober", "octobre", "octubre"),
    11: ("november", "novembre", "noviembre"),
    12: ("december", "dezember", "décembre", "decembre", "diciembre"),
}


def _month_lookup() -> dict[str, int]:
    seen: dict[str, set[int]] = {}
    for month, names in _MONTH_NAMES.items():
        for name in names:
            for length in range(3, len(name) + 1):
                seen.setdefault(name[:length], set()).add(month)
    return {prefix: months.pop() for prefix, months in seen.items() if len(months) == 1}


_MONTHS = _month_lookup()
_ZONES = {
    "utc": 0, "gmt": 0, "z": 0, "ut": 0, "wet": 0, "bst": 60, "cet": 60, "mez": 60,
    "cest": 120, "mesz": 120, "eet": 120, "eest": 180, "est": -300, "edt": -240,
    "cst": -360, "cdt": -300, "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
}  # fmt: skip
_CONNECTORS = re.compile(r"\s(?:at|um|à|a las|a la|o|alle|om)\s", re.IGNORECASE)
_TIME = re.compile(r"\b(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?:\s*([ap])\.?\s?m\b\.?)?", re.IGNORECASE)
_OFFSET = re.compile(r"(?:\b(?:GMT|UTC))?([+-])(\d{1,2}):?(\d{2})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})([./])(\d{1,2})\2(\d{2,4})\b")
# RFC 5322 shape; the stdlib parser guesses wildly (and ignores AM/PM) on anything else.
_RFC_LIKE = re.compile(
    r"^(?:[A-Za-z]{3},?\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?"
    r"(?:\s*(?:[+-]\d{4}|[A-Z]{1,5}))?\s*(?:\([^()]{0,40}\))?$"
)
_WORD = re.compile(r"[^\W\d_]+\.?|\d+")


def _zone(value: str) -> tuple[tzinfo | None, str]:
    match = _OFFSET.search(value)
    if match is not None:
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        if minutes < 24 * 60:
            sign = -1 if match.group(1) == "-" else 1
            rest = value[: match.start()] + " " + value[match.end() :]
            return timezone(timedelta(minutes=sign * minutes)), rest
    for word in _WORD.findall(value):
        offset = _ZONES.get(word.lower())
        if offset is not None:
            return timezone(timedelta(minutes=offset)), value
    return None, value


def _calendar_date(value: str, us_order: bool) -> tuple[int, int, int] | None:
    iso = _ISO_DATE.search(value)
    if iso is not None:
        return int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
    numeric = _NUMERIC_DATE.search(value)
    if numeric is not None:
        first, second, year = int(numeric.group(1)), int(numeric.group(3)), int(numeric.group(4))
        year += 2000 if year < 100 else 0
        # Dots are day-first everywhere; slashes are month-first in US (12-hour) style.
        month_first = numeric.group(2) == "/" and (second > 12 or (us_order and first <= 12))
        month, day = (first, second) if month_first else (second, first)
        return year, month, day
    month = 0
    year = 0
    days: list[int] = []
    for word in _WORD.findall(value):
        if word.isdecimal():  # isdigit() also takes "²", which int() refuses
            number = int(word)
            if len(word) == 4:
                year = number
            elif 1 <= number <= 31:
                days.append(number)
        else:
            found = _MONTHS.get(word.rstrip(".").lower())
            if found:
                month = found
    if month and year and days:
        return year, month, days[0]
    return None


def parse_loose_date(value: str, default_zone: tzinfo | None) -> datetime | None:
    """A timezone-aware datetime, or None when `value` holds no recognisable date."""
    value = " ".join(value.split())[:200]
    if not value:
        return None
    cleaned = _CONNECTORS.sub(" ", f" {value} ").strip()
    parsed: datetime | None = None
    if _RFC_LIKE.match(cleaned):
        try:
            parsed = parsedate_to_datetime(cleaned)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
    if parsed is None:
        parsed = _parse_words(cleaned)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_zone or UTC)
    return parsed


def _parse_words(value: str) -> datetime | None:
    zone, value = _zone(value)
    hour = minute = second = 0
    time = _TIME.search(value)
    us_order = False
    if time is not None:
        hour, minute = int(time.group(1)), int(time.group(2))
        second = int(time.group(3) or 0)
        meridiem = (time.group(4) or "").lower()
        us_order = bool(meridiem)
        if meridiem == "p" and hour < 12:
            hour += 12
        elif meridiem == "a" and hour == 12:
            hour = 0
        value = value[: time.start()] + " " + value[time.end() :]
    found = _calendar_date(value, us_order)
    if found is None:
        return None
    year, month, day = found
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None
