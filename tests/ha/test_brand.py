"""The icon and logo in brand/: every file Home Assistant looks for, drawn by scripts/draw_brand.py,
and served by Home Assistant itself (2026.3 and newer serve a custom integration's brand/ folder).
"""

from __future__ import annotations

import importlib.util
import sys
from http import HTTPStatus
from pathlib import Path
from types import ModuleType

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.loader import IntegrationNotFound, async_get_integration
from homeassistant.setup import async_setup_component
from PIL import Image, ImageChops
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.pop3_monitor.const import DOMAIN

ROOT = Path(__file__).parents[2]
BRAND = ROOT / "custom_components" / DOMAIN / "brand"
NAMES = [
    f"{prefix}{kind}{suffix}.png"
    for prefix in ("", "dark_")
    for kind in ("icon", "logo")
    for suffix in ("", "@2x")
]


def _draw_brand() -> ModuleType:
    spec = importlib.util.spec_from_file_location("draw_brand", ROOT / "scripts" / "draw_brand.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_brand_image_has_home_assistants_sizes(name: str) -> None:
    """Icons square, 256 px (512 px for @2x); logos as tall, wider than high; transparent."""
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        height = 512 if "@2x" in name else 256
        assert image.height == height
        if "icon" in name:
            assert image.width == height
        else:
            assert image.width > height
        assert image.getchannel("A").getextrema()[0] == 0  # the corners show the background


def test_dark_images_differ_from_light_ones() -> None:
    for name in NAMES:
        if name.startswith("dark_"):
            with Image.open(BRAND / name) as dark, Image.open(BRAND / name[5:]) as light:
                assert dark.tobytes() != light.tobytes(), name


def test_brand_images_are_what_the_script_draws() -> None:
    """The committed files are scripts/draw-brand's output (a small tolerance for resampling in
    another Pillow release), so they can be redrawn after a change."""
    drawn = _draw_brand().brand_images()
    assert sorted(drawn) == sorted(NAMES)
    for name, image in drawn.items():
        with Image.open(BRAND / name) as committed:
            assert committed.size == image.size, name
            difference = ImageChops.difference(committed.convert("RGBA"), image)
            assert max(high for _, high in difference.getextrema()) <= 8, name


async def test_home_assistant_serves_the_brand_images(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """What the UI fetches for the integration's icon and logo comes from brand/."""
    try:
        await async_get_integration(hass, "brands")
    except IntegrationNotFound:
        pytest.skip("this Home Assistant has no brands integration (added in 2026.3)")
    integration = await async_get_integration(hass, DOMAIN)
    assert integration.has_branding
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    for name in NAMES:
        response = await client.get(f"/api/brands/integration/{DOMAIN}/{name}?placeholder=no")
        assert response.status == HTTPStatus.OK, name
        assert await response.read() == (BRAND / name).read_bytes(), name
