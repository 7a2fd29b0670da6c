"""translations/en.json is strings.json with Home Assistant's `[%key:...%]` references resolved.

Home Assistant resolves those references only for its own integrations (at build time); a custom
integration must ship them resolved. Regenerate after editing strings.json, on the newest Home
Assistant tested, with `.venv-ha-newest/bin/python -m tests.ha.test_translations`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import homeassistant
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION

from custom_components.pop3_monitor.config_flow import FORM_ERRORS
from custom_components.pop3_monitor.const import DOMAIN
from custom_components.pop3_monitor.coordinator import BUSY_ERRORS
from custom_components.pop3_monitor.pop3probe import ErrorClass

INTEGRATION = Path(__file__).parents[2] / "custom_components" / DOMAIN
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")
COMMON_ONLY = re.compile(r"\[%key:common::[a-z0-9_:]+%\]")
# en.json holds the wording of Home Assistant's common strings as of this version (the newest
# tested); older versions word a few differently ("Timeout establishing connection").
TRANSLATED_ON = (2026, 10)


def _lookup(tree: dict[str, Any], path: str) -> str:
    node: Any = tree
    for part in path.split("::"):
        node = node[part]
    assert isinstance(node, str), path
    return node


def resolved_strings() -> dict[str, Any]:
    strings = json.loads((INTEGRATION / "strings.json").read_text())
    core = json.loads((Path(homeassistant.__file__).parent / "strings.json").read_text())
    roots = {"common": core["common"], "component": {DOMAIN: strings}}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, str):
            while match := REFERENCE.search(value):
                value = value.replace(match.group(0), _lookup(roots, match.group(1)))
            return value
        return value

    return resolve(strings)  # type: ignore[no-any-return]


def _without_common_texts(strings: Any, english: Any) -> Any:
    """`english` with each text that strings.json takes whole from HA's common strings blanked."""
    if isinstance(strings, dict) and isinstance(english, dict):
        return {key: _without_common_texts(strings.get(key), item) for key, item in english.items()}
    if isinstance(strings, str) and COMMON_ONLY.fullmatch(strings):
        return "<common>"
    return english


def test_english_translation_is_strings_json_resolved() -> None:
    """The UI shows exactly the texts written in strings.json, with no `[%key:` left over; texts
    taken from Home Assistant's common strings read as this version words them, or, on versions
    older than the one en.json was made on, are there."""
    english = json.loads((INTEGRATION / "translations" / "en.json").read_text())
    assert "[%key:" not in json.dumps(english)
    if (MAJOR_VERSION, MINOR_VERSION) >= TRANSLATED_ON:
        assert english == resolved_strings()
    else:
        strings = json.loads((INTEGRATION / "strings.json").read_text())
        assert _without_common_texts(strings, english) == _without_common_texts(
            strings, resolved_strings()
        )


def test_every_poll_error_has_a_message_and_a_form_error() -> None:
    """Each error class the core can report has its own translated exception text (what the
    entry shows when a poll fails) and maps to one of the config flow's form errors."""
    exceptions = json.loads((INTEGRATION / "strings.json").read_text())["exceptions"]
    form_errors = set(json.loads((INTEGRATION / "strings.json").read_text())["config"]["error"])
    for error in ErrorClass:
        if error in (ErrorClass.OK, ErrorClass.AUTH_FAILED):
            continue
        assert f"poll_{error.value}" in exceptions, error
        if error not in BUSY_ERRORS:  # busy means the login worked: the flow accepts it
            assert FORM_ERRORS[error][1] in form_errors, error
    assert "auth_failed" in exceptions


if __name__ == "__main__":
    (INTEGRATION / "translations" / "en.json").write_text(
        json.dumps(resolved_strings(), indent=2, ensure_ascii=False) + "\n"
    )
