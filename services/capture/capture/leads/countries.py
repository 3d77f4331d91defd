"""Countries as people write them: ISO 3166-1 alpha-2 codes (any case, U.S. too), English
names, names in other languages written in Latin letters (Deutschland, Brasil, España), and
ISO's "Name, qualifier" form (Korea, Republic of).

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
    "north korea": "KP", "democratic peoples republic of korea": "KP",
    # ISO 3166's own short names where they differ from the English one
    "lao peoples democratic republic": "LA", "syrian arab republic": "SY", "holy see": "VA",
    "brunei darussalam": "BN",
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


def _latin(name: str) -> bool:
    return all("LATIN" in unicodedata.name(c, "") for c in name if c.isalpha())


@functools.cache
def _by_name() -> dict[str, str]:
    table = {_key(alias): code for alias, code in _ALIASES.items()}
    for code in COUNTRY_CODES:
        name = english_name(code)
        if name:
            table.setdefault(_key(name), code)
    # Other languages' names come after every English one, and a name that stands for two
    # countries in two languages is left out rather than guessed.
    local: dict[str, str | None] = {}
    for code in COUNTRY_CODES:
        for name in LOCALE_DATA.get(code, {}).values():
            key = _key(name) if _latin(name) and not name.startswith("*") else ""
            if key and key not in table:
                local[key] = code if local.get(key, code) == code else None
    table.update({key: code for key, code in local.items() if code is not None})
    return table


def _spellings(text: str) -> list[str]:
    """The keys to look a country up by: as written, and ISO's "Korea, Republic of" turned
    around ("republic of korea"), then its first part alone ("Iran, Islamic Republic of")."""
    key = _key(text)
    head, comma, tail = key.partition(",")
    if not comma:
        return [key]
    return [key, _key(f"{tail} {head}"), head.strip()]


def country_code(raw: str) -> str:
    """The ISO 3166-1 alpha-2 code of a code or English name; ValueError listing the valid
    codes otherwise."""
    text = raw.strip()
    if text.upper() in COUNTRY_CODES:
        return text.upper()
    for key in _spellings(text) if text else []:
        if len(key) == 2 and key.upper() in COUNTRY_CODES:  # U.S., u.k
            return key.upper()
        code = _by_name().get(key)
        if code is not None:
            return code
    raise ValueError(
        f"'{raw}' is not a country: use an ISO 3166-1 alpha-2 code or its English name "
        f"(e.g. IN or India); valid codes: {', '.join(sorted(COUNTRY_CODES))}")
