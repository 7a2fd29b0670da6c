"""Draws the integration's brand images (custom_components/pop3_monitor/brand/): an envelope with a
pulse line across it and a dot for mail waiting, light and dark, 256 and 512 px.

Run through scripts/draw-brand, which brings Pillow. Shapes are drawn at four times the target size
and scaled down, which smooths their edges.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SUPERSAMPLE = 4
BRAND_DIR = Path(__file__).parents[1] / "custom_components" / "pop3_monitor" / "brand"


@dataclass(frozen=True, kw_only=True)
class Palette:
    envelope: str
    flap: str
    pulse: str
    pulse_edge: str
    dot: str
    text: str


LIGHT = Palette(
    envelope="#2563EB",
    flap="#DBEAFE",
    pulse="#34D399",
    pulse_edge="#1E3A8A",
    dot="#F59E0B",
    text="#1F2937",
)
# For dark backgrounds: a brighter envelope, and light text.
DARK = Palette(
    envelope="#3B82F6",
    flap="#E0ECFF",
    pulse="#6EE7B7",
    pulse_edge="#1E3A8A",
    dot="#FBBF24",
    text="#F3F4F6",
)


def _points(size: float, pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x * size, y * size) for x, y in pairs]


def draw_icon(size: int, palette: Palette) -> Image.Image:
    """A square icon `size` px wide, on a transparent background."""
    s = size * SUPERSAMPLE
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    body = (0.06 * s, 0.22 * s, 0.90 * s, 0.84 * s)
    draw.rounded_rectangle(body, radius=0.08 * s, fill=palette.envelope)
    # The flap: two strokes meeting a little above the middle of the body.
    flap = _points(s, [(0.12, 0.29), (0.48, 0.56), (0.84, 0.29)])
    draw.line(flap, fill=palette.flap, width=round(0.035 * s), joint="curve")

    # The pulse: flat, a beat, flat again, across the lower part of the envelope.
    pulse = _points(
        s,
        [
            (0.12, 0.70),
            (0.34, 0.70),
            (0.41, 0.60),
            (0.50, 0.78),
            (0.57, 0.64),
            (0.61, 0.70),
            (0.84, 0.70),
        ],
    )
    draw.line(pulse, fill=palette.pulse_edge, width=round(0.085 * s), joint="curve")
    draw.line(pulse, fill=palette.pulse, width=round(0.045 * s), joint="curve")
    for x, y in (pulse[0], pulse[-1]):  # round ends
        r = 0.0225 * s
        draw.ellipse((x - r, y - r, x + r, y + r), fill=palette.pulse)

    # Mail waiting: a dot on the top right corner, ringed in transparency so it stands apart.
    centre, radius, ring = (0.86 * s, 0.22 * s), 0.12 * s, 0.035 * s
    cut = Image.new("L", (s, s), 0)
    ImageDraw.Draw(cut).ellipse(
        (
            centre[0] - radius - ring,
            centre[1] - radius - ring,
            centre[0] + radius + ring,
            centre[1] + radius + ring,
        ),
        fill=255,
    )
    image.putalpha(Image.composite(Image.new("L", (s, s), 0), image.getchannel("A"), cut))
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius),
        fill=palette.dot,
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def draw_logo(height: int, palette: Palette) -> Image.Image:
    """The icon and the name beside it, `height` px tall, on a transparent background."""
    s = height * SUPERSAMPLE
    font = ImageFont.load_default(size=round(0.36 * s))
    name = "POP3 Monitor"
    left, top, right, bottom = font.getbbox(name)
    gap = round(0.12 * s)
    width = s + gap + (right - left) + round(0.04 * s)
    image = Image.new("RGBA", (width, s), (0, 0, 0, 0))
    image.alpha_composite(draw_icon(height, palette).resize((s, s), Image.Resampling.LANCZOS))
    draw = ImageDraw.Draw(image)
    draw.text((s + gap - left, (s - (bottom - top)) / 2 - top), name, font=font, fill=palette.text)
    return image.resize((round(width / SUPERSAMPLE), height), Image.Resampling.LANCZOS)


def brand_images() -> dict[str, Image.Image]:
    """Every file Home Assistant looks for in brand/, by name."""
    images: dict[str, Image.Image] = {}
    for prefix, palette in (("", LIGHT), ("dark_", DARK)):
        for suffix, size in (("", 256), ("@2x", 512)):
            images[f"{prefix}icon{suffix}.png"] = draw_icon(size, palette)
            images[f"{prefix}logo{suffix}.png"] = draw_logo(size, palette)
    return images


def main(target: Path = BRAND_DIR) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, image in brand_images().items():
        image.save(target / name, optimize=True)
        print(f"{target / name}: {image.width}x{image.height}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else BRAND_DIR)
