"""Seed data of the emulator: providers, zip codes, Link profiles, and extraction results.

The vendor's pages name provider ``4``, utility ``3150`` and zip codes ``00007`` and
``94110``; these are here with a realistic handful more. Extraction results are made up,
but deterministically: the same document bytes and provider always give the same fields,
so tests can assert them (:func:`expected_results`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

__all__ = [
    "LINK_PROFILES",
    "PROVIDERS",
    "UNSUPPORTED_PROVIDER",
    "ZIPS",
    "ZIP_PROVIDERS",
    "expected_results",
    "find_providers",
    "link_bills",
    "profile_bills",
    "raw_results",
    "sample_profiles",
]

#: The magic provider id whose jobs are UNSUPPORTED.
UNSUPPORTED_PROVIDER = 9999

#: Utility providers by WattzOn id: what ``GET /link/4.0/utilities/<id>`` answers.
PROVIDERS: Mapping[int, Mapping[str, str]] = {
    4: {
        "name": "Pacific Gas and Electric Company",
        "type": "electric,gas",
        "lseid": "734",
        "homepage_url": "https://www.pge.com",
    },
    12: {
        "name": "Southern California Edison",
        "type": "electric",
        "lseid": "2756",
        "homepage_url": "https://www.sce.com",
    },
    27: {
        "name": "San Diego Gas & Electric",
        "type": "electric,gas",
        "lseid": "1071",
        "homepage_url": "https://www.sdge.com",
    },
    88: {
        "name": "Southern California Gas Company",
        "type": "gas",
        "lseid": "2774",
        "homepage_url": "https://www.socalgas.com",
    },
    140: {
        "name": "Consolidated Edison Company of New York",
        "type": "electric,gas",
        "lseid": "2252",
        "homepage_url": "https://www.coned.com",
    },
    211: {
        "name": "Commonwealth Edison",
        "type": "electric",
        "lseid": "1059",
        "homepage_url": "https://www.comed.com",
    },
    305: {
        "name": "San Francisco Public Utilities Commission",
        "type": "water,electric",
        "homepage_url": "https://www.sfpuc.org",
    },
    410: {
        "name": "Austin Energy",
        "type": "electric",
        "lseid": "1201",
        "homepage_url": "https://austinenergy.com",
    },
    3150: {
        "name": "City of Palo Alto Utilities",
        "type": "electric,gas,water",
        "lseid": "2940",
        "homepage_url": "https://www.cityofpaloalto.org/utilities",
    },
    UNSUPPORTED_PROVIDER: {
        "name": "Unsupported Test Utility",
        "type": "electric",
        "homepage_url": "https://example.com/unsupported-utility",
    },
}

#: Zip codes: what ``GET /link/4.0/zips/<zipcode>`` answers.
ZIPS: Mapping[str, Mapping[str, Any]] = {
    "00007": {
        "zipcode": "00007",
        "city": "Testville",
        "county": "Test County",
        "state": "CA",
        "latitude": 37.4419,
        "longitude": -122.143,
    },
    "94110": {
        "zipcode": "94110",
        "city": "San Francisco",
        "county": "San Francisco",
        "state": "CA",
        "latitude": 37.7484,
        "longitude": -122.4156,
    },
    "94301": {
        "zipcode": "94301",
        "city": "Palo Alto",
        "county": "Santa Clara",
        "state": "CA",
        "latitude": 37.4443,
        "longitude": -122.1497,
    },
    "90012": {
        "zipcode": "90012",
        "city": "Los Angeles",
        "county": "Los Angeles",
        "state": "CA",
        "latitude": 34.0614,
        "longitude": -118.2385,
    },
    "92101": {
        "zipcode": "92101",
        "city": "San Diego",
        "county": "San Diego",
        "state": "CA",
        "latitude": 32.7194,
        "longitude": -117.1628,
    },
    "10001": {
        "zipcode": "10001",
        "city": "New York",
        "county": "New York",
        "state": "NY",
        "latitude": 40.7506,
        "longitude": -73.9972,
    },
    "60601": {
        "zipcode": "60601",
        "city": "Chicago",
        "county": "Cook",
        "state": "IL",
        "latitude": 41.8858,
        "longitude": -87.6181,
    },
    "78701": {
        "zipcode": "78701",
        "city": "Austin",
        "county": "Travis",
        "state": "TX",
        "latitude": 30.2711,
        "longitude": -97.7437,
    },
}

#: Which providers serve each zip code.
ZIP_PROVIDERS: Mapping[str, tuple[int, ...]] = {
    "00007": (3150, 4, UNSUPPORTED_PROVIDER),
    "94110": (4, 305),
    "94301": (3150, 4),
    "90012": (12, 88),
    "92101": (27,),
    "10001": (140,),
    "60601": (211,),
    "78701": (410,),
}

#: Link profiles that have bills: profile id to (provider id, number of monthly bills).
LINK_PROFILES: Mapping[str, tuple[int, int]] = {
    "1001": (4, 3),
    "1002": (140, 2),
    "1003": (3150, 1),
    "2001": (12, 0),
}


def sample_profiles() -> str:
    """The Link profile ids the emulator knows, with their bill counts, for people.

    Returns:
        E.g. ``1001 (3 bills), 1002 (2 bills), 1003 (1 bill), 2001 (no bills)``.
    """

    def bills(count: int) -> str:
        return "no bills" if not count else f"{count} bill{'s' if count != 1 else ''}"

    return ", ".join(f"{pid} ({bills(count)})" for pid, (_, count) in LINK_PROFILES.items())


_FIRST = ("DAVE", "MARIA", "JAMES", "LINDA", "ROBERT", "PRIYA", "WEI", "ANA", "SAM", "KAREN")
_LAST = ("SMITH", "GARCIA", "NGUYEN", "JOHNSON", "PATEL", "CHEN", "BROWN", "LOPEZ", "KIM")
_STREETS = ("VALENCIA ST", "MISSION ST", "OAK AVE", "MAIN ST", "ELM DR", "PARK BLVD", "PINE ST")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def find_providers(zipcode: str | None, name: str | None, kind: str | None) -> list[int]:
    """Provider ids serving ``zipcode``, whose name contains ``name``, of type ``kind``.

    Args:
        zipcode: Keep providers serving this zip code (None: any).
        name: Keep providers whose name contains this text, case-insensitively (None: any).
        kind: Keep providers of this type, e.g. ``electric`` (None: any).

    Returns:
        Matching provider ids, in the order the zip code lists them, else by id.
    """
    ids = list(ZIP_PROVIDERS.get(zipcode, ())) if zipcode else sorted(PROVIDERS)
    if name:
        ids = [i for i in ids if name.lower() in PROVIDERS[i]["name"].lower()]
    if kind:
        wanted = kind.strip().lower()
        ids = [i for i in ids if wanted in PROVIDERS[i]["type"].split(",")]
    return ids


def _rng(content: bytes, provider: int) -> random.Random:
    digest = hashlib.sha256(content + b"|provider=" + str(provider).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _long_date(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def _provider_kinds(provider: int) -> tuple[str, ...]:
    known = PROVIDERS.get(provider)
    return tuple(known["type"].split(",")) if known else ("electric", "gas")


def expected_results(content: bytes, provider: int) -> dict[str, str]:
    """The transformed results the emulator gives a COMPLETE job for this document.

    Deterministic: a hash of the document bytes and the provider seeds every value.

    Args:
        content: The document's bytes.
        provider: The job's provider id (it decides whether gas fields appear).

    Returns:
        Field name to extracted text, in the order the API lists them.
    """
    rng = _rng(content, provider)
    kinds = _provider_kinds(provider)
    bill_day = date(2015, 1, 1) + timedelta(days=rng.randrange(9 * 365))
    previous = rng.randrange(1500, 40000) / 100
    current = rng.randrange(1500, 40000) / 100
    fields = {
        "Previous_balance": f"${previous:,.2f}",
        "Name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        "Account_number": f"{rng.randrange(10**9, 10**10)}",
        "Bill_date": _long_date(bill_day),
        "Service_address": f"{rng.randrange(10, 9999)} {rng.choice(_STREETS)}",
        "Amount_due": f"${current:,.2f}",
        "Due_date": _long_date(bill_day + timedelta(days=21)),
    }
    if "electric" in kinds:
        fields["Elec_Meter_number"] = f"E{rng.randrange(10**5, 10**6)}"
        fields["Elec_Usage"] = str(rng.randrange(40, 1200))
    if "gas" in kinds:
        fields["Gas_Meter_number"] = f"G{rng.randrange(10**5, 10**6)}"
        fields["Gas_Usage"] = str(rng.randrange(5, 120))
    if "water" in kinds:
        fields["Water_Usage"] = str(rng.randrange(2, 30))
    return fields


def raw_results(content: bytes, provider: int) -> dict[str, Any]:
    """The raw results: each field's text and the pixel boxes of its tokens.

    Args:
        content: The document's bytes.
        provider: The job's provider id.

    Returns:
        Field name to ``{"tokens": {"raw": [token, ...], "content": text}}``, one token
        per word, as in the vendor's example.
    """
    rng = _rng(content, provider + 1)
    index = 0
    results: dict[str, Any] = {}
    for name, text in expected_results(content, provider).items():
        page = 3 if name.endswith(("_Usage", "_Meter_number")) else 1
        x = rng.randrange(300, 2000)
        y1 = rng.randrange(300, 3000)
        index += rng.randrange(1, 40)
        tokens = []
        for word in text.split():
            width = 18 * len(word) + rng.randrange(0, 20)
            tokens.append(
                {
                    "page_number": page,
                    "x1": x,
                    "y2": y1 + 30 + rng.randrange(0, 12),
                    "index": index,
                    "y1": y1,
                    "x2": x + width,
                }
            )
            x += width + 16
            index += 1
        results[name] = {"tokens": {"raw": tokens, "content": text}}
    return results


def link_bills(profile_id: str, pdf_base: str) -> list[dict[str, Any]] | None:
    """The bills Link extracted for a sample profile, or None for another profile.

    Args:
        profile_id: The Link profile id.
        pdf_base: Base URL the ``pdf`` URIs are built on (ends with a slash).

    Returns:
        The bills, most recent first, each with a ``pdf`` URI the emulator serves.
    """
    known = LINK_PROFILES.get(profile_id)
    if known is None:
        return None
    provider, count = known
    return profile_bills(profile_id, provider, count, pdf_base)


def profile_bills(
    profile_id: str, provider: int, count: int, pdf_base: str
) -> list[dict[str, Any]]:
    """The ``count`` most recent monthly bills of a Link profile, made up deterministically.

    Args:
        profile_id: The Link profile id (digits: bill ids are derived from it).
        provider: The profile's utility provider id.
        count: How many bills.
        pdf_base: Base URL the ``pdf`` URIs are built on (ends with a slash).

    Returns:
        The bills, most recent first, each with a ``pdf`` URI the emulator serves; the
        same arguments always give the same bills.
    """
    rng = _rng(profile_id.encode(), provider)
    account = f"{rng.randrange(10**9, 10**10)}"
    utility = PROVIDERS.get(provider, {}).get("name", f"Utility {provider}")
    end = date(2024, 6, 4)
    bills = []
    for number in range(count):
        start = end - timedelta(days=30)
        bill_id = int(profile_id) * 100 + count - number
        bills.append(
            {
                "id": bill_id,
                "provider_id": provider,
                "utility": utility,
                "account_number": account,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "bill_date": (end + timedelta(days=1)).isoformat(),
                "amount_due": rng.randrange(2000, 30000) / 100,
                "currency": "USD",
                "usage": {"electric_kwh": rng.randrange(100, 900)},
                "pdf": f"{pdf_base}data/bills/{profile_id}/{bill_id}.pdf",
            }
        )
        end = start
    return bills
