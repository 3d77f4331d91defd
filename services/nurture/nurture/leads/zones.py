"""A lead's time zone from its country, for a lead that did not give one, so that quiet hours
and "wait until 09:00" steps fall in its working day (HubSpot and Marketo send in the
recipient's time too), not in UTC's.

A country whose zones all keep the same time (tzdata's zone.tab: Germany's Berlin and Büsingen,
Argentina's twelve zones) has that time. A country that spans several times has one only where
CLDR names a primary zone (Spain's Madrid over the Canaries, China's Shanghai over Urumqi); the
others (the United States, Canada, Russia, Brazil, ...) have none here, and their leads keep the
service's default time zone.
"""

import functools
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# CLDR's primary zones (common/supplemental/metaZones.xml): the zone a country's time is read
# in when it spans several.
PRIMARY_ZONES = {"CL": "America/Santiago", "CN": "Asia/Shanghai", "DE": "Europe/Berlin",
                 "EC": "America/Guayaquil", "ES": "Europe/Madrid", "MH": "Pacific/Majuro",
                 "MY": "Asia/Kuala_Lumpur", "NZ": "Pacific/Auckland", "PT": "Europe/Lisbon",
                 "UA": "Europe/Kyiv", "UZ": "Asia/Tashkent"}
SYSTEM_ZONE_TABLE = Path("/usr/share/zoneinfo/zone.tab")


def zones_by_country(table: str) -> dict[str, list[str]]:
    """Each ISO 3166 country code's zones, in the order of a zone.tab text."""
    zones: dict[str, list[str]] = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            code, _coordinates, name, *_comment = line.split("\t")
            zones.setdefault(code, []).append(name)
    return zones


def keep_one_time(names: list[str], year: int) -> bool:
    """Whether these zones show the same time in January and in July of `year`."""
    moments = (datetime(year, 1, 15, 12, tzinfo=UTC), datetime(year, 7, 15, 12, tzinfo=UTC))
    return len({tuple(moment.astimezone(ZoneInfo(name)).utcoffset() for moment in moments)
                for name in names}) == 1


def _zone_table() -> str:
    """zone.tab from the tzdata package (a dependency, so it is there in slim images too), or
    the system's."""
    try:
        return (resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return SYSTEM_ZONE_TABLE.read_text("utf-8") if SYSTEM_ZONE_TABLE.exists() else ""


@functools.cache
def _country_zones() -> dict[str, str]:
    year = datetime.now(UTC).year
    found: dict[str, str] = {}
    for code, names in zones_by_country(_zone_table()).items():
        try:
            if keep_one_time(names, year):
                found[code] = names[0]
        except ZoneInfoNotFoundError:  # a zone.tab newer than the zone files: skip it
            continue
    return {**found, **PRIMARY_ZONES}


def country_zone(country: str | None) -> str | None:
    """The time zone of a country (ISO 3166-1 alpha-2, as capture stores it), or None when it
    spans several times with no primary one, or is unknown."""
    return _country_zones().get(country.strip().upper()) if country else None
