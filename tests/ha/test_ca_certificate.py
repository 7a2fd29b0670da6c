"""A CA certificate pasted into the form, against the real Dovecot whose certificate the test CA
signed: it is checked on submit, it is what verifies the server (the system trust store does not
know the test CA in these tests), a wrong one is refused, and the options flow changes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import entity_id, use_ha_trust_store


@pytest.fixture(autouse=True)
def untrusted_system_store(trust_test_ca: None) -> None:
    """Undo the suite's trust in the test CA: only a pasted CA can verify the test Dovecot."""
    use_ha_trust_store(None)


def form(dovecot: DovecotServer, user: DovecotUser, ca_cert: str | None) -> dict[str, object]:
    data: dict[str, object] = {
        "host": dovecot.host,
        "port": dovecot.pop3s_port,
        "tls_mode": "implicit",
        "username": user.username,
        "password": user.password,
        "verify_ssl": True,
    }
    if ca_cert is not None:
        data["ca_cert"] = ca_cert
    return data


async def password_form(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    return str(result["flow_id"])


def bare_certificate() -> str:
    """A self-signed certificate with no extensions at all (as old tools made them): it does
    not say it is a CA, so it is not taken as one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old home server")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def pem(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode()


async def test_pasted_ca_verifies_the_server(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    """Without the CA the certificate is untrusted; with it pasted the entry is created, loads,
    and its polls verify the certificate."""
    flow_id = await password_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(dovecot, mailbox, ca_cert=None)
    )
    assert result["errors"] == {"verify_ssl": "cert_invalid"}

    pasted = f"\n  {pem(dovecot.ca)}  \n"  # stray whitespace from copying is fine
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(dovecot, mailbox, ca_cert=pasted)
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    entry = result["result"]
    assert entry.options["ca_cert"] == pem(dovecot.ca)
    assert entry.options["verify_ssl"] is True
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.last_poll.tls.verified is True
    connectivity = hass.states.get(entity_id(hass, entry.entry_id, "connectivity"))
    assert connectivity is not None
    assert connectivity.state == "on"


async def test_a_wrong_ca_is_cert_invalid(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    """A CA that did not sign the server's certificate: the error sits on the CA field."""
    flow_id = await password_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(dovecot, mailbox, ca_cert=pem(trustme.CA()))
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"ca_cert": "cert_invalid"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, form(dovecot, mailbox, ca_cert=pem(dovecot.ca))
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("pasted", "error"),
    [
        ("not a certificate", "ca_cert_invalid"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "ca_cert_invalid"),
        ("server", "ca_cert_not_ca"),
        ("bare", "ca_cert_not_ca"),
    ],
    ids=["text", "broken_pem", "server_certificate", "no_basic_constraints"],
)
async def test_what_is_not_a_ca_certificate_is_refused_before_any_login(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    pasted: str,
    error: str,
) -> None:
    """Text, a damaged PEM, or the server's own certificate (a usual mix-up): a form error on
    the CA field, with no poll made."""
    if pasted == "server":
        pasted = (dovecot.root / "server.pem").read_text()
    elif pasted == "bare":
        pasted = bare_certificate()
    flow_id = await password_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form(dovecot, mailbox, ca_cert=pasted)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"ca_cert": error}


async def test_options_set_and_replace_the_ca(
    hass: HomeAssistant, config_entry: MockConfigEntry, dovecot: DovecotServer
) -> None:
    """An entry that cannot verify the server (no CA) gets one in the options and loads; a
    wrong replacement is saved as asked and the poll then reports the certificate invalid."""
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY

    async def set_options(ca_cert: str) -> dict[str, object]:
        result = await hass.config_entries.options.async_init(config_entry.entry_id)
        assert result["step_id"] == "init"
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                "interval": 5,
                "unread_mode": "all",
                "verify_ssl": True,
                "ca_cert": ca_cert,
                "timeout": 10,
            },
        )
        await hass.async_block_till_done()
        return dict(result)

    result = await set_options("-----BEGIN CERTIFICATE-----")
    assert result["errors"] == {"ca_cert": "ca_cert_invalid"}

    result = await set_options(pem(dovecot.ca))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options["ca_cert"] == pem(dovecot.ca)
    assert config_entry.state is ConfigEntryState.LOADED

    await set_options(pem(trustme.CA()))
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "certificate is not valid" in str(config_entry.reason)  # what the UI shows
