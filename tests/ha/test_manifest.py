"""The files HACS and Home Assistant read besides the code: manifest.json, hacs.json and
quality_scale.yaml, checked for what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

ROOT = Path(__file__).parents[2]
INTEGRATION = ROOT / "custom_components" / "pop3_monitor"


async def test_home_assistant_reads_the_manifest(hass: HomeAssistant) -> None:
    """Loaded by Home Assistant's own loader: a versioned custom integration with a config
    flow and no requirements (the POP3 client ships inside it)."""
    integration = await async_get_integration(hass, "pop3_monitor")
    assert integration.version is not None
    assert integration.config_flow
    assert integration.requirements == []
    assert integration.iot_class == "cloud_polling"
    assert integration.integration_type == "service"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def test_hacs_json_names_the_integration_and_a_version_tested() -> None:
    """HACS offers the integration from the Home Assistant version that hacs.json names: the
    oldest the tests run on (2026.2.3), so every version tested is at least that."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"] == "POP3 Monitor"
    assert hacs["content_in_root"] is False
    assert _version(hacs["homeassistant"]) <= _version(HA_VERSION)


def test_quality_scale_gives_a_reason_for_every_rule_not_done() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "exempt", "todo"}, name
        if status != "done":
            assert isinstance(rule, dict), f"{name}: {status} needs a reason"
            assert rule.get("comment"), f"{name}: {status} needs a reason"
