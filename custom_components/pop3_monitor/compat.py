"""What differs between the Home Assistant versions the integration supports (2026.2 onwards).

Each name comes from where the running Home Assistant defines it, so that `mypy --strict` checks
the integration against each version's own types (tests/ha/test_typing.py sets HA_2026_9 for mypy
with `--always-true`/`--always-false`).
"""

from __future__ import annotations

from homeassistant.const import MAJOR_VERSION, MINOR_VERSION

# Home Assistant 2026.9 replaced voluptuous by probatio (installed under the name `voluptuous` too)
# and its type hints name probatio's classes; HA's own integrations import probatio.
HA_2026_9 = (MAJOR_VERSION, MINOR_VERSION) >= (2026, 9)

if HA_2026_9:
    import probatio as vol
    from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
else:
    import voluptuous as vol
    from homeassistant.components.binary_sensor import BinarySensorDeviceClass

__all__ = ["HA_2026_9", "BinarySensorDeviceClass", "vol"]
