"""The vendor's name and colour on portal pages, with text colours that stay readable.

A vendor may pick any brand colour, so the text on it is chosen by WCAG contrast (white or
near-black, whichever reads better), and links on the white page use the colour darkened
until it reaches the 4.5:1 contrast WCAG asks of body text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from metering.catalog.vendors.models import Vendor
from metering.platform.settings import Settings

HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
WHITE = "#ffffff"
INK = "#111827"
READABLE = 4.5


def parse_color(value: str) -> str:
    """`#4F46E5` or `#abc` -> `#4f46e5` / `#aabbcc`; ValueError for anything else."""
    text = value.strip()
    if not HEX_COLOR.match(text):
        raise ValueError(f"'{value}' is not a hex colour such as #4f46e5")
    digits = text[1:].lower()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return f"#{digits}"


def _channels(color: str) -> tuple[int, int, int]:
    digits = parse_color(color)[1:]
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(color: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two colours, 1 to 21."""
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(background: str) -> str:
    """White or near-black, whichever contrasts more with `background`."""
    return WHITE if contrast(background, WHITE) >= contrast(background, INK) else INK


def darkened_for_white(color: str) -> str:
    """`color`, darkened in steps until it reads on white at 4.5:1 (unchanged if it does)."""
    r, g, b = _channels(color)
    for _ in range(40):
        candidate = f"#{r:02x}{g:02x}{b:02x}"
        if contrast(candidate, WHITE) >= READABLE:
            return candidate
        r, g, b = (int(c * 0.9) for c in (r, g, b))
    return INK


@dataclass(frozen=True, slots=True)
class Branding:
    """What the portal's header and links are painted with."""

    name: str
    color: str
    text_color: str
    link_color: str


def branding_of(vendor: Vendor, settings: Settings) -> Branding:
    """The vendor's own portal name and colour, else the settings', else the vendor name."""
    name = vendor.portal_name or settings.portal_vendor_name or vendor.name
    color = parse_color(vendor.portal_color or settings.portal_brand_color)
    return Branding(
        name=name, color=color, text_color=text_on(color), link_color=darkened_for_white(color)
    )
