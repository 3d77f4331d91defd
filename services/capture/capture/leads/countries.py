"""Countries as people write them: ISO 3166-1 alpha-2 codes (any case) or English names.

Names come from the phonenumbers package's locale data (already a dependency), plus the
common short forms people type (USA, UK, Czechia, Ivory Coast, ...). Accents, case, dots and
a leading "the" do not matter.
"""

import functools
import unicodedata

import phonenumbers
from phonenumbers.geodata.locale import LOCALE_DATA

# Regions phonenumbers knows, and the few ISO codes with no telephone numbering of their own.
COUNTRY_CODES = frozenset(phonenumbers.SUPPORTED_REGIONS) | {"AQ", "BV", "GS", "HM", "PN",
                                                             "TF", "UM"}
_MISSING_NAMES = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}
_ALIASES = {
    "usa": "US", "united states of america": "US", "america": "US", "uk": "GB",
    "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "czechia": "CZ", "north macedonia": "MK", "turkiye": "TR",
    "ivory coast": "CI", "korea": "KR", "republic of korea": "KR", "dr congo": "CD",
    "democratic republic of the congo": "CD", "republic of the congo": "CG", "holland": "NL",
    "russian federation": "RU", "viet nam": "VN", "uae": "AE", "burma": "MM",
    "eswatini": "SZ", "swaziland": "SZ", "cabo verde": "CV", "vatican city": "VA",
}


def _key(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = plain.replace(".", "").replace("'", "").casefold().split()
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


def english_name(code: str) -> str | None:
    """The English name of an ISO code, e.g. IN -> India."""
    names = LOCALE_DATA.get(code)
    if names is None:
        return _MISSING_NAMES.get(code)
    name = names.get("en", "")
    while name.startswith("*"):  # "*aa": the same as that language's name
        name = names.get(name[1:], "")
    return name or _MISSING_NAMES.get(code)


@functools.cache
def _by_name() -> dict[str, str]:
    table = {_key(alias): code for alias, code in _ALIASES.items()}
    for code in COUNTRY_CODES:
        name = english_name(code)
        if name:
            table.setdefault(_key(name), code)
    return table


def country_code(raw: str) -> str:
    """The ISO 3166-1 alpha-2 code of a code or English name; ValueError listing the valid
    codes otherwise."""
    text = raw.strip()
    if text.upper() in COUNTRY_CODES:
        return text.upper()
    code = _by_name().get(_key(text)) if text else None
    if code is not None:
        return code
    raise ValueError(
        f"'{raw}' is not a country: use an ISO 3166-1 alpha-2 code or its English name "
        f"(e.g. IN or India); valid codes: {', '.join(sorted(COUNTRY_CODES))}")
