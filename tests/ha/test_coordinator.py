"""Polling on the mocked core, as the user sees it: the entry's setup outcome for each kind of
failure, entities going unavailable and recovering, connectivity naming the reason, busy keeping
the last data, new mail on the bus, and "Check now". (The same against the real Dovecot, with
the tracker deciding what is new: test_polling.py and test_init.py.)"""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import AsyncMock

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.pop3_monitor.const import DOMAIN, EVENT_NEW_MESSAGE
from custom_components.pop3_monitor.pop3probe import ErrorClass

from .helpers import entity_id, next_poll
from .polls import CERT_NOT_AFTER, REPORT_CARD, WELCOME, failed_poll, good_poll

INTERVAL = timedelta(minutes=5)
MEASUREMENTS = ("messages", "unread", "mailbox_size", "newest_message", "certificate_expiry")


def state(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    found = hass.states.get(entity_id(hass, entry.entry_id, key))
    assert found is not None
    return found.state


def connectivity_error(hass: HomeAssistant, entry: MockConfigEntry) -> str | None:
    found = hass.states.get(entity_id(hass, entry.entry_id, "connectivity"))
    assert found is not None
    error: str | None = found.attributes["error"]
    return error


@pytest.fixture(autouse=True)
def frozen_time(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """Freeze the clock before the entry is set up, so its poll timer runs on frozen time."""
    return freezer


@pytest.mark.parametrize(
    ("error", "entry_state", "reason"),
    [
        (ErrorClass.TIMEOUT, ConfigEntryState.SETUP_RETRY, "did not answer within the timeout"),
        (ErrorClass.CONNECT_REFUSED, ConfigEntryState.SETUP_RETRY, "refused the connection"),
        (ErrorClass.AUTH_FAILED, ConfigEntryState.SETUP_ERROR, "refused the credentials"),
    ],
    ids=str,
)
async def test_a_failed_first_poll_says_why_setup_stopped(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_poll: AsyncMock,
    error: ErrorClass,
    entry_state: ConfigEntryState,
    reason: str,
) -> None:
    """A failed first poll: the entry waits to retry (or, for refused credentials, for the
    user), with the translated reason naming the mailbox."""
    mock_poll.return_value = failed_poll(error, tls=None)
    mock_config_entry.add_to_hass(hass)

    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is entry_state
    assert reason in str(mock_config_entry.reason)
    assert mock_config_entry.title in str(mock_config_entry.reason)


async def test_refused_credentials_while_loaded_ask_for_reauth(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    mock_poll.return_value = failed_poll(ErrorClass.AUTH_FAILED)
    await next_poll(hass, freezer, INTERVAL)

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_server_down_then_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The measurements become unavailable, connectivity turns off but stays available (with
    the reason), "Check now" stays usable; then all recovers."""
    assert state(hass, init_integration, "connectivity") == STATE_ON
    assert connectivity_error(hass, init_integration) == "ok"

    mock_poll.return_value = failed_poll(ErrorClass.CONNECT_REFUSED, tls=None)
    await next_poll(hass, freezer, INTERVAL)
    for key in MEASUREMENTS:
        assert state(hass, init_integration, key) == STATE_UNAVAILABLE, key
    assert state(hass, init_integration, "connectivity") == STATE_OFF
    assert connectivity_error(hass, init_integration) == "connect_refused"
    assert state(hass, init_integration, "check_now") != STATE_UNAVAILABLE

    mock_poll.return_value = good_poll()
    await next_poll(hass, freezer, INTERVAL)
    assert state(hass, init_integration, "connectivity") == STATE_ON
    assert state(hass, init_integration, "messages") == "1"
    for key in MEASUREMENTS:
        assert state(hass, init_integration, key) != STATE_UNAVAILABLE, key


@pytest.mark.parametrize("error", [ErrorClass.IN_USE, ErrorClass.LOGIN_DELAY], ids=str)
async def test_a_busy_mailbox_keeps_its_last_data(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
    error: ErrorClass,
) -> None:
    """Busy is not down: the sensors keep their values, connectivity stays on and names the
    reason."""
    mock_poll.return_value = failed_poll(error)
    await next_poll(hass, freezer, INTERVAL)

    assert state(hass, init_integration, "messages") == "1"
    assert state(hass, init_integration, "connectivity") == STATE_ON
    assert connectivity_error(hass, init_integration) == error.value


async def test_an_in_use_mailbox_is_polled_again_sooner(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After [IN-USE] the next poll comes after a minute, not the 5-minute interval."""
    mock_poll.return_value = failed_poll(ErrorClass.IN_USE)
    await next_poll(hass, freezer, INTERVAL)
    polls = mock_poll.await_count

    mock_poll.return_value = good_poll(WELCOME, REPORT_CARD)
    await next_poll(hass, freezer, timedelta(minutes=1))

    assert mock_poll.await_count == polls + 1
    assert state(hass, init_integration, "messages") == "2"
    assert connectivity_error(hass, init_integration) == "ok"


async def test_a_certificate_that_stops_verifying_still_shows_its_expiry(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    mock_poll.return_value = failed_poll(ErrorClass.CERT_INVALID)
    await next_poll(hass, freezer, INTERVAL)

    assert state(hass, init_integration, "messages") == STATE_UNAVAILABLE
    assert state(hass, init_integration, "connectivity") == STATE_OFF
    assert connectivity_error(hass, init_integration) == "cert_invalid"
    assert state(hass, init_integration, "certificate_expiry") == CERT_NOT_AFTER.isoformat()


async def test_new_mail_is_announced_on_the_bus_and_by_the_event_entity(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    events = async_capture_events(hass, EVENT_NEW_MESSAGE)
    mock_poll.return_value = good_poll(WELCOME, REPORT_CARD, new_messages=(REPORT_CARD,))

    await next_poll(hass, freezer, INTERVAL)

    assert [event.data for event in events] == [
        {
            "entry_id": init_integration.entry_id,
            "mailbox": "ana@pop.example.org",
            "sender": "School <office@school.example>",
            "subject": "Report card",
            "date": REPORT_CARD.date.isoformat() if REPORT_CARD.date else None,
            "message_id": "<report-card@school.example>",
            "size": 3400,
        }
    ]
    fired = hass.states.get(entity_id(hass, init_integration.entry_id, "new_message"))
    assert fired is not None
    assert fired.attributes["subject"] == "Report card"
    assert state(hass, init_integration, "messages") == "2"


async def test_check_now_polls_at_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    """No time passes: the press alone polls and brings the new count in."""
    polls = mock_poll.await_count
    mock_poll.return_value = good_poll(WELCOME, REPORT_CARD, new_messages=(REPORT_CARD,))

    await hass.services.async_call(
        "button",
        "press",
        {ATTR_ENTITY_ID: entity_id(hass, init_integration.entry_id, "check_now")},
        blocking=True,
    )
    await hass.async_block_till_done()

    assert mock_poll.await_count == polls + 1
    assert state(hass, init_integration, "messages") == "2"
