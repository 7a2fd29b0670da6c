"""Sign-in with Microsoft or Google: the two providers' presets and their OAuth2 implementation.

Microsoft 365, Outlook.com and Gmail take no passwords over POP3, only OAuth2 bearer tokens
(SASL XOAUTH2). The user brings their own app registration through Home Assistant's application
credentials; the client ID's form says whose it is, so each credential signs in with its own
provider and refreshes its tokens there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.core import HomeAssistant


class Provider(StrEnum):
    MICROSOFT = "microsoft"
    GOOGLE = "google"


@dataclass(frozen=True, kw_only=True)
class ProviderPreset:
    """Where a provider's mailboxes are and how its sign-in works."""

    name: str
    host: str
    port: int
    authorize_url: str
    token_url: str
    scope: str
    extra_authorize_data: MappingProxyType[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )


PRESETS: dict[Provider, ProviderPreset] = {
    # Microsoft identity platform v2 ("common": work, school and personal accounts).
    # offline_access brings a refresh token.
    Provider.MICROSOFT: ProviderPreset(
        name="Microsoft 365 / Outlook.com",
        host="outlook.office365.com",
        port=995,
        authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",  # noqa: S106 (a URL)
        scope="https://outlook.office.com/POP.AccessAsUser.All offline_access",
    ),
    # Google returns a refresh token only for offline access, and again only after consent.
    Provider.GOOGLE: ProviderPreset(
        name="Gmail",
        host="pop.gmail.com",
        port=995,
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",  # noqa: S106 (a URL)
        scope="https://mail.google.com/",
        extra_authorize_data=MappingProxyType({"access_type": "offline", "prompt": "consent"}),
    ),
}

_GOOGLE_CLIENT_ID = re.compile(r"\.apps\.googleusercontent\.com$", re.IGNORECASE)


def provider_of(client_id: str) -> Provider:
    """Google's client IDs end in .apps.googleusercontent.com; Microsoft's are GUIDs."""
    return Provider.GOOGLE if _GOOGLE_CLIENT_ID.search(client_id.strip()) else Provider.MICROSOFT


class MailOAuth2Implementation(AuthImplementation):
    """An application credential, bound to the provider its client ID belongs to."""

    def __init__(self, hass: HomeAssistant, auth_domain: str, credential: ClientCredential) -> None:
        self.provider = provider_of(credential.client_id)
        preset = PRESETS[self.provider]
        super().__init__(
            hass,
            auth_domain,
            credential,
            AuthorizationServer(authorize_url=preset.authorize_url, token_url=preset.token_url),
        )

    @property
    def extra_authorize_data(self) -> dict[str, Any]:
        preset = PRESETS[self.provider]
        return {"scope": preset.scope, **preset.extra_authorize_data}
