"""The running integration against the real Dovecot: new mail, outages, buttons, unread modes,
and a clean unload. Time is advanced with the freezer; each poll is a real POP3S session."""

from __future__ import annotations

import poplib
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.pop3_monitor.certificates import async_client_context
from custom_components.pop3_monitor.const import DOMAIN, EVENT_NEW_MESSAGE
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import entity_id, next_poll, settled_connections, use_ha_trust_store

INTERVAL = timedelta(minutes=5)


@pytest.fixture(autouse=True)
def frozen_time(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """Freeze the clock before the entry is set up, so its poll timer runs on frozen time."""
    return freezer


MEASUREMENTS = ("messages", "unread", "mailbox_size", "newest_message", "certificate_expiry")


def state(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    found = hass.states.get(entity_id(hass, entry.entry_id, key))
    assert found is not None
    return found.state


async def press(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> None:
    await hass.services.async_call(
        "button", "press", {ATTR_ENTITY_ID: entity_id(hass, entry.entry_id, key)}, blocking=True
    )
    await hass.async_block_till_done()


async def test_new_mail_fires_one_event_per_message_and_never_again(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two deliveries, one poll: two bus events with sender and subject, the event entity fires
    twice, the sensors count them. Later polls, a reload and an unload/load repeat nothing;
    mail that came while unloaded is announced once."""
    events = async_capture_events(hass, EVENT_NEW_MESSAGE)
    event_entity = entity_id(hass, loaded_entry.entry_id, "new_message")
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    dovecot.deliver(mailbox, subject="Report card", sender="School <office@school.example>")
    dovecot.deliver(mailbox, subject="Invoice 42", sender="Shop <billing@shop.example>")

    await next_poll(hass, freezer, INTERVAL)

    assert [(e.data["sender"], e.data["subject"]) for e in events] == [
        ("School <office@school.example>", "Report card"),
        ("Shop <billing@shop.example>", "Invoice 42"),
    ]
    for event in events:
        assert event.data["entry_id"] == loaded_entry.entry_id
        assert event.data["mailbox"] == loaded_entry.title
        assert event.data["message_id"].endswith("@test.example.org>")
        assert event.data["size"] > 0
        assert event.data["date"] is not None
    entity_fired = [e for e in state_changes if e.data["entity_id"] == event_entity]
    assert len(entity_fired) == 2
    fired = hass.states.get(event_entity)
    assert fired is not None
    assert fired.attributes["event_type"] == "new_message"
    assert fired.attributes["subject"] == "Invoice 42"
    assert fired.attributes["sender"] == "Shop <billing@shop.example>"
    assert state(hass, loaded_entry, "messages") == "2"
    newest = hass.states.get(entity_id(hass, loaded_entry.entry_id, "newest_message"))
    assert newest is not None
    assert newest.attributes["subject"] == "Invoice 42"

    await next_poll(hass, freezer, INTERVAL)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await next_poll(hass, freezer, INTERVAL)
    assert len(events) == 2
    assert state(hass, loaded_entry, "messages") == "2"

    # Mail that arrives while the entry is unloaded (Home Assistant down) is announced once
    # when it loads again, on the bus and by the event entity, and the old mail is not.
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    dovecot.deliver(mailbox, subject="While away")
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert [e.data["subject"] for e in events[2:]] == ["While away"]
    fired = hass.states.get(event_entity)
    assert fired is not None
    assert fired.attributes["subject"] == "While away"

    dovecot.deliver(mailbox, subject="One more")
    await next_poll(hass, freezer, INTERVAL)
    assert [e.data["subject"] for e in events[2:]] == ["While away", "One more"]
    assert state(hass, loaded_entry, "messages") == "4"


async def test_mail_present_when_added_is_not_announced(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The first poll is the baseline: old mail is counted, never reported as new."""
    dovecot.deliver(mailbox, subject="Old news")
    events = async_capture_events(hass, EVENT_NEW_MESSAGE)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await next_poll(hass, freezer, INTERVAL)

    assert state(hass, config_entry, "messages") == "1"
    assert events == []


async def test_server_down_then_back(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Dovecot stopped: the measurements become unavailable, connectivity turns off but stays
    available (with the reason), "Check now" stays usable. Dovecot back: all recovers."""
    dovecot.deliver(mailbox)
    await next_poll(hass, freezer, INTERVAL)
    assert state(hass, loaded_entry, "messages") == "1"
    assert state(hass, loaded_entry, "connectivity") == STATE_ON

    await hass.async_add_executor_job(dovecot.stop)
    try:
        await next_poll(hass, freezer, INTERVAL)
        for key in MEASUREMENTS:
            assert state(hass, loaded_entry, key) == STATE_UNAVAILABLE, key
        connectivity = hass.states.get(entity_id(hass, loaded_entry.entry_id, "connectivity"))
        assert connectivity is not None
        assert connectivity.state == STATE_OFF
        assert connectivity.attributes["error"] == "connect_refused"
        assert state(hass, loaded_entry, "check_now") != STATE_UNAVAILABLE
    finally:
        await hass.async_add_executor_job(dovecot.start)

    await next_poll(hass, freezer, INTERVAL)
    assert state(hass, loaded_entry, "connectivity") == STATE_ON
    assert state(hass, loaded_entry, "messages") == "1"
    for key in MEASUREMENTS:
        assert state(hass, loaded_entry, key) != STATE_UNAVAILABLE, key


def hold_sessions(dovecot: DovecotServer, user: DovecotUser, count: int) -> list[poplib.POP3]:
    """Log `count` POP3 sessions in and keep them open, as busy mail clients would."""
    sessions = []
    for _ in range(count):
        session = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
        session.user(user.username)
        session.pass_(user.password)
        sessions.append(session)
    return sessions


async def test_a_busy_mailbox_keeps_its_last_data(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Ten other sessions hold the mailbox, so Dovecot answers [IN-USE]: busy is not down. The
    sensors keep their values, connectivity stays on and names the reason; free again, the
    next check brings the news."""
    dovecot.deliver(mailbox)
    sessions = await hass.async_add_executor_job(hold_sessions, dovecot, mailbox, 10)
    try:
        await press(hass, loaded_entry, "check_now")
        assert state(hass, loaded_entry, "messages") == "0"
        connectivity = hass.states.get(entity_id(hass, loaded_entry.entry_id, "connectivity"))
        assert connectivity is not None
        assert connectivity.state == STATE_ON
        assert connectivity.attributes["error"] == "in_use"
    finally:
        for session in sessions:
            await hass.async_add_executor_job(session.quit)

    await next_poll(hass, freezer, timedelta(minutes=1))  # [IN-USE] retries sooner
    assert state(hass, loaded_entry, "messages") == "1"


async def test_a_certificate_that_stops_verifying_still_shows_its_expiry(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The server's certificate no longer verifies (here: its CA is no longer trusted): the
    mailbox sensors go unavailable and connectivity says cert_invalid, but the certificate
    expiry, read without credentials, stays visible."""
    use_ha_trust_store(None)
    coordinator = loaded_entry.runtime_data
    coordinator._ssl_context = await async_client_context(hass, True, None)

    await next_poll(hass, freezer, INTERVAL)

    assert state(hass, loaded_entry, "messages") == STATE_UNAVAILABLE
    connectivity = hass.states.get(entity_id(hass, loaded_entry.entry_id, "connectivity"))
    assert connectivity is not None
    assert connectivity.state == STATE_OFF
    assert connectivity.attributes["error"] == "cert_invalid"
    assert state(hass, loaded_entry, "certificate_expiry") == "3000-01-01T00:00:00+00:00"


async def test_check_now_polls_at_once(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser, loaded_entry: MockConfigEntry
) -> None:
    """No time passes: the press alone brings the new message in."""
    events = async_capture_events(hass, EVENT_NEW_MESSAGE)
    dovecot.deliver(mailbox, subject="Right now")

    await press(hass, loaded_entry, "check_now")

    assert state(hass, loaded_entry, "messages") == "1"
    assert [e.data["subject"] for e in events] == ["Right now"]


@pytest.mark.parametrize("options", [{"unread_mode": "since_acknowledged"}])
async def test_mark_as_read_in_since_acknowledged_mode(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unread counts arrivals since the last "Mark as read"; the button and the action zero it,
    new mail raises it again, and the acknowledgement survives a reload."""
    dovecot.deliver(mailbox, subject="There before the mailbox was added")
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert state(hass, config_entry, "unread") == "0"

    dovecot.deliver(mailbox, subject="First")
    dovecot.deliver(mailbox, subject="Second")
    await next_poll(hass, freezer, INTERVAL)
    assert state(hass, config_entry, "unread") == "2"
    assert state(hass, config_entry, "messages") == "3"

    await press(hass, config_entry, "mark_as_read")
    assert state(hass, config_entry, "unread") == "0"
    assert state(hass, config_entry, "messages") == "3"

    dovecot.deliver(mailbox, subject="Third")
    await next_poll(hass, freezer, INTERVAL)
    assert state(hass, config_entry, "unread") == "1"

    await hass.services.async_call(
        DOMAIN, "mark_as_read", {"config_entry_id": config_entry.entry_id}, blocking=True
    )
    assert state(hass, config_entry, "unread") == "0"

    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert state(hass, config_entry, "unread") == "0"
    assert state(hass, config_entry, "messages") == "4"


async def test_all_mode_counts_every_message_as_unread(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The default: a client that downloads and deletes leaves only unread mail on the server."""
    dovecot.deliver(mailbox)
    dovecot.deliver(mailbox)
    await next_poll(hass, freezer, INTERVAL)
    await press(hass, loaded_entry, "mark_as_read")
    assert state(hass, loaded_entry, "unread") == "2"


async def test_unload_leaves_no_connection_open(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After polls and an unload, no socket to Dovecot stays open (tasks and timers are checked
    by the harness's lingering checks after every test)."""
    await next_poll(hass, freezer, INTERVAL)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()

    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert await settled_connections({dovecot.pop3s_port, dovecot.pop3_port}) == 0
