"""How many SMS segments a text takes (3GPP TS 23.038). Pure, no I/O.

A text made only of GSM 03.38 characters goes as GSM-7: 160 septets in one message, 153 per
segment once split (the concatenation header takes the rest); a character of the extension
table (e.g. { } [ ] ~ \\ | ^ €) takes two septets (escape + code), and a segment never ends
between the two. Any other character makes the whole text UCS-2: 70 UTF-16 code units alone,
67 per segment once split, and a surrogate pair (an emoji) is never split either.
"""

from dataclasses import dataclass

# The GSM 03.38 basic character set (one septet each), in code order (0x1B, the escape to the
# extension table, is no character of its own).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
# The extension table reached through the escape: two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsLength:
    """The encoding a text needs, its length in that encoding's units, and its segments."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def _split(sizes: list[int], single: int, part: int) -> int:
    """Segments needed for characters of `sizes` units, none split across segments."""
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


def sms_length(text: str) -> SmsLength:
    """The encoding, length and segment count of `text` as an SMS."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        sizes = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return SmsLength("GSM-7", sum(sizes), _split(sizes, GSM7_SINGLE, GSM7_PART))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SmsLength("UCS-2", sum(sizes), _split(sizes, UCS2_SINGLE, UCS2_PART))
