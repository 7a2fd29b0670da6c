"""Sign-in (OAuth2) pieces that need no provider and no server: the application-credentials
dialog and which provider a client ID belongs to. (Signing in for real: test_oauth2.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from homeassistant.core import HomeAssistant

from custom_components.pop3_monitor import application_credentials, oauth
from custom_components.pop3_monitor.const import DOMAIN
from custom_components.pop3_monitor.oauth import Provider

INTEGRATION = Path(__file__).parents[2] / "custom_components" / DOMAIN
MICROSOFT_CLIENT_ID = "5f0c9a34-6f2e-4d8b-9d3a-2a1f6b7c8d90"
GOOGLE_CLIENT_ID = "123456789012-abcdefghijklmnop.apps.googleusercontent.com"


async def test_the_credentials_dialog_gets_every_link_it_names(hass: HomeAssistant) -> None:
    """The application-credentials dialog text names placeholders; each one has a value."""
    translations = json.loads((INTEGRATION / "strings.json").read_text())
    description = translations["application_credentials"]["description"]
    placeholders = await application_credentials.async_get_description_placeholders(hass)
    assert set(re.findall(r"{(\w+)}", description)) == set(placeholders)


def test_the_client_id_says_whose_app_it_is() -> None:
    assert oauth.provider_of(GOOGLE_CLIENT_ID) is Provider.GOOGLE
    assert oauth.provider_of(MICROSOFT_CLIENT_ID) is Provider.MICROSOFT
