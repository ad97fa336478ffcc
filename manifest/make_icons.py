"""Regenerate the Teams app icons ``color.png`` and ``outline.png`` in this folder.

Only needed when the icon design changes: the PNGs are committed, and neither ``build.py`` nor the
tests import this script. It needs Pillow, which is deliberately not a project dependency, so run
it with any Python that has Pillow installed::

    python -m pip install pillow   # in a throwaway environment
    python manifest/make_icons.py

Teams' icon rules (https://learn.microsoft.com/microsoftteams/platform/concepts/build-and-test/apps-package#app-icons):
the colour icon is 192×192; the outline icon is 32×32, white on a fully transparent background.
Both are written as non-interlaced 8-bit RGBA so the tests can check pixels with a tiny stdlib
PNG decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent

# Rijksoverheid dark blue, the same value as "accentColor" in the manifest template.
ACCENT = (0x15, 0x42, 0x73)
WHITE = (0xFF, 0xFF, 0xFF)
# A light tint of the accent for the folded paper corner.
FOLD = (0xC9, 0xD6, 0xE3)

# Shapes are drawn at this multiple of the final size and scaled down, which gives smooth edges
# with Pillow's (aliased) drawing primitives.
SUPERSAMPLE = 8


Shapes = Callable[[ImageDraw.ImageDraw, float], None]


def _mask(size: int, draw_shapes: Shapes) -> Image.Image:
    """Draw white-on-black shapes at high resolution and return the scaled-down coverage mask."""
    big = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    draw_shapes(ImageDraw.Draw(big), float(SUPERSAMPLE))
    return big.resize((size, size), Image.Resampling.LANCZOS)


def _page_points(
    left: float, top: float, right: float, bottom: float, fold: float
) -> list[tuple[float, float]]:
    """Outline of a sheet of paper with its top-right corner folded."""
    return [
        (left, top),
        (right - fold, top),
        (right, top + fold),
        (right, bottom),
        (left, bottom),
    ]


def make_color(path: Path) -> None:
    """192×192: white report page with text lines and a check-mark badge on a dark-blue tile."""
    size = 192

    def tile(draw: ImageDraw.ImageDraw, s: float) -> None:
        draw.rounded_rectangle((0, 0, size * s - 1, size * s - 1), radius=36 * s, fill=255)

    def page(draw: ImageDraw.ImageDraw, s: float) -> None:
        pts = [(x * s, y * s) for x, y in _page_points(54, 32, 134, 156, 22)]
        draw.polygon(pts, fill=255)

    def lines(draw: ImageDraw.ImageDraw, s: float) -> None:
        for y, right in ((66, 116), (84, 116), (102, 100)):
            draw.rounded_rectangle((70 * s, (y - 3) * s, right * s, (y + 3) * s), 3 * s, fill=255)

    def fold(draw: ImageDraw.ImageDraw, s: float) -> None:
        draw.polygon([(112 * s, 32 * s), (112 * s, 54 * s), (134 * s, 54 * s)], fill=255)

    def badge_ring(draw: ImageDraw.ImageDraw, s: float) -> None:
        cx, cy, r = 132, 140, 32
        draw.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), fill=255)

    def badge(draw: ImageDraw.ImageDraw, s: float) -> None:
        cx, cy, r = 132, 140, 26
        draw.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), fill=255)

    def check(draw: ImageDraw.ImageDraw, s: float) -> None:
        pts = [(119 * s, 141 * s), (128 * s, 150 * s), (146 * s, 130 * s)]
        draw.line(pts, fill=255, width=int(7 * s), joint="curve")
        for x, y in (pts[0], pts[2]):
            r = 3.5 * s
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)

    # Paint opaque layers on a full tile, then cut the rounded corners out with the tile's alpha,
    # so the transparent corners carry the accent colour and never bleed dark edges.
    image = Image.new("RGB", (size, size), ACCENT)
    for layer_mask, colour in (
        (_mask(size, page), WHITE),
        (_mask(size, fold), FOLD),
        (_mask(size, lines), ACCENT),
        (_mask(size, badge_ring), WHITE),
        (_mask(size, badge), ACCENT),
        (_mask(size, check), WHITE),
    ):
        image.paste(Image.new("RGB", (size, size), colour), (0, 0), layer_mask)
    image = image.convert("RGBA")
    image.putalpha(_mask(size, tile))
    image.save(path, format="PNG", optimize=True)


def make_outline(path: Path) -> None:
    """32×32: the same page and check mark as strokes, white on a transparent background."""
    size = 32

    def glyph(draw: ImageDraw.ImageDraw, s: float) -> None:
        pts = [(x * s, y * s) for x, y in _page_points(7, 3, 25, 29, 5)]
        draw.polygon(pts, outline=255, width=int(2 * s))
        check = [(11 * s, 17 * s), (14.5 * s, 21 * s), (21 * s, 12.5 * s)]
        draw.line(check, fill=255, width=int(2.2 * s), joint="curve")

    # Every pixel is pure white; only the alpha channel carries the shape, as Teams requires.
    image = Image.new("RGBA", (size, size), (*WHITE, 0))
    image.putalpha(_mask(size, glyph))
    image.save(path, format="PNG", optimize=True)


def main() -> None:
    make_color(HERE / "color.png")
    make_outline(HERE / "outline.png")
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")


if __name__ == "__main__":
    main()
