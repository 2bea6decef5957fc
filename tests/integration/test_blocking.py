"""Blocking (XEP-0191) between real clients (slixmpp), against one cantod.

What someone who blocks a pest would check: the block list starts empty,
lists what was blocked, and every device that looked at the list hears of
each change; the blocked person's messages, calls (iq) and subscription
requests do not get through, not even later as offline messages, and what
comes back to them does not say "blocked"; the blocked person sees the user
go offline at the moment of blocking, sees nothing afterwards, and sees the
user again after unblocking; writing to someone you blocked fails with the
<blocked/> error; the list survives a restart; and bad commands are refused.

Checks that something did not arrive use settle(sender, target): the
sender, then the target, pings the server (a ping is a barrier in Canto).
"""

import os
import sqlite3
import uuid

import harness
from clients import (IqError, NS_BLOCKING, NS_BLOCKING_ERRORS, NS_STANZAS,
                     block, block_push_of, blocklist_get, clear_boxes,
                     close_all, error_condition, from_account, iq_error,
                     login_im, presences_from, ptype, settle,
                     subscribe_and_approve, unblock, wait_presence, wait_push,
                     xml_of)

NONE = ("none", None)       # RFC 6121 2.1.2.5: an absent subscription means none


def _uid():
    return uuid.uuid4().hex[:8]


def _describe(stanzas):
    return [xml_of(s) for s in stanzas]


def _available_from(client, who):
    return presences_from(client, who, "available")


def _requests_from(client, bare):
    return [p for p in client.presence_box.matching()
            if ptype(p) == "subscribe" and from_account(p, bare)]


def _bodies(client):
    return [m["body"] for m in client.message_box.matching() if m["type"] != "error"]


def _blocked_error(stanza):
    """True if the stanza is an error not-acceptable with the XEP-0191
    <blocked/> application condition."""
    err = stanza.xml.find("{jabber:client}error")
    return (err is not None and err.get("type") == "cancel"
            and err.find("{%s}not-acceptable" % NS_STANZAS) is not None
            and err.find("{%s}blocked" % NS_BLOCKING_ERRORS) is not None)


async def _wait_block_push(client, kind, jids):
    """Take the block list push of `kind` ('block' or 'unblock') for
    exactly these JIDs (in any order; none for unblock-all)."""
    want = sorted(jids)
    iq = await client.block_pushes.wait(
        lambda iq: block_push_of(iq)[0] == kind and sorted(block_push_of(iq)[1]) == want,
        what=f"{kind} push {want} to {client.boundjid.full}")
    assert iq.xml.get("from") in (None, "", client.boundjid.bare), xml_of(iq)
    return iq


# ---------------------------------------------------------------------------
# The list

async def test_block_list_lifecycle(server):
    alice = server.account("alice")
    bob, carol = f"bob-{_uid()}@{server.host}", f"carol-{_uid()}@example.net"
    a1 = await login_im(server, alice, "desk", blocklist=True)
    try:
        info = await a1["xep_0030"].get_info(jid=server.host, timeout=10)
        assert NS_BLOCKING in set(info["disco_info"]["features"]), info
        assert await blocklist_get(a1) == []
        res = await block(a1, bob, carol)
        assert res["type"] == "result", xml_of(res)
        assert sorted(await blocklist_get(a1)) == sorted([bob, carol])
        await block(a1, "spam.example")
        assert sorted(await blocklist_get(a1)) == sorted([bob, carol, "spam.example"])
        await block(a1, bob)                       # again: no duplicate
        assert sorted(await blocklist_get(a1)) == sorted([bob, carol, "spam.example"])
        await unblock(a1, bob)
        assert sorted(await blocklist_get(a1)) == sorted([carol, "spam.example"])
        await unblock(a1)                          # everyone
        assert await blocklist_get(a1) == []
    finally:
        await a1.close()


async def test_changes_are_pushed_to_devices_that_read_the_list(server):
    """XEP-0191 3.3, 3.4, 3.5: every resource that requested the block list
    gets each change as a push; a resource that never asked gets none."""
    alice = server.account("alice")
    bob, carol = f"bob-{_uid()}@{server.host}", f"carol-{_uid()}@{server.host}"
    a1 = await login_im(server, alice, "desk", blocklist=True)
    a2 = await login_im(server, alice, "phone", blocklist=True, presence=False)
    a3 = await login_im(server, alice, "bot")
    try:
        await block(a1, bob, carol)
        for c in (a1, a2):
            await _wait_block_push(c, "block", [bob, carol])
        await unblock(a2, bob)
        for c in (a1, a2):
            await _wait_block_push(c, "unblock", [bob])
        await unblock(a1)
        for c in (a1, a2):
            await _wait_block_push(c, "unblock", [])
        await settle([a1, a2], a3)
        got = a3.block_pushes.matching()
        assert got == [], f"a resource that never asked got pushes: {_describe(got)}"
    finally:
        await close_all(a1, a2, a3)


# ---------------------------------------------------------------------------
# What the blocked contact can no longer do

async def test_blocked_contact_cannot_reach_the_user(server):
    """XEP-0191 3.3: nothing from the blocked JID is delivered. A message
    may bounce with service-unavailable (SHOULD), an iq get/set MUST bounce
    (SHOULD be service-unavailable), presence never bounces; none of it
    says that the sender is blocked."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk", blocklist=True)
    b1 = await login_im(server, bob, "work")
    a2 = None
    try:
        await block(a1, bob.jid)
        await clear_boxes(a1, b1)
        for to in (alice.jid, a1.boundjid.full):
            m = b1.make_message(mto=to, mbody=f"hello {to}", mtype="chat")
            m["id"] = "blocked-" + _uid()
            m.send()
        b1.send_presence(pto=alice.jid, ptype="subscribe")
        b1.send_presence(pto=a1.boundjid.full, pstatus="directed at Alice")
        try:
            iq = await b1["xep_0199"].send_ping(a1.boundjid.full, timeout=10)
        except IqError as e:
            assert error_condition(e.iq) == ("cancel", "service-unavailable"), xml_of(e.iq)
            assert e.iq.xml.find(".//{%s}blocked" % NS_BLOCKING_ERRORS) is None, xml_of(e.iq)
        else:
            raise AssertionError(f"a ping from a blocked JID was answered: {xml_of(iq)}")
        await settle(b1, a1, b1)
        assert _bodies(a1) == [], _bodies(a1)
        assert presences_from(a1, bob.jid) == [], _describe(presences_from(a1, bob.jid))
        for m in b1.message_box.matching(lambda m: m["type"] == "error"):
            assert error_condition(m)[1] == "service-unavailable", xml_of(m)
            assert m.xml.find(".//{%s}blocked" % NS_BLOCKING_ERRORS) is None, xml_of(m)
        got = presences_from(b1, alice.jid)
        assert got == [], f"presence from a blocked JID gets no answer: {_describe(got)}"
        # Not even as an offline message.
        await a1.close()
        b1.send_message(mto=alice.jid, mbody="while you are away", mtype="chat")
        await b1.sync()
        a2 = await login_im(server, alice, "phone")
        await settle(b1, a2)
        assert _bodies(a2) == [], _bodies(a2)
        assert presences_from(a2, bob.jid) == [], _describe(presences_from(a2, bob.jid))
        # Unblocked: Bob gets through again, but what was dropped stays
        # dropped (his subscription request is not delivered now).
        await unblock(a2, bob.jid)
        b1.send_message(mto=alice.jid, mbody="finally", mtype="chat")
        await a2.message_box.wait(lambda m: m["body"] == "finally")
        await settle([a2, b1], a2)
        got = presences_from(a2, bob.jid)
        assert got == [], f"a dropped request came back: {_describe(got)}"
    finally:
        await close_all(a1, b1, a2)


async def test_blocking_a_follower_hides_presence_both_ways(server):
    """XEP-0191 3.3: at the block the blocked follower gets unavailable
    presence, then nothing; the user gets nothing from him. 3.4: at the
    unblock he gets her current presence again."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk", blocklist=True, status="hi all")
    b1 = await login_im(server, bob, "work")
    b2 = None
    try:
        await subscribe_and_approve(a1, b1)
        await subscribe_and_approve(b1, a1)
        await wait_presence(b1, a1.boundjid.full)
        await clear_boxes(a1, b1)
        await block(a1, bob.jid)
        await wait_presence(b1, a1.boundjid.full, "unavailable")
        a1.send_presence(pstatus="not for Bob")
        b1.send_presence(pstatus="not for Alice")
        b2 = await login_im(server, bob, "mobile")          # probes Alice
        await settle([a1, b1, b2], a1, b1, b2)
        for c in (b1, b2):
            got = _available_from(c, alice.jid)
            assert got == [], f"{c.boundjid.full} saw Alice: {_describe(got)}"
        got = [p for p in presences_from(a1, bob.jid) if ptype(p) != "error"]
        assert got == [], f"Alice got Bob's presence: {_describe(got)}"
        await unblock(a1, bob.jid)
        for c in (b1, b2):
            p = await wait_presence(c, a1.boundjid.full)
            assert p["status"] == "not for Bob", xml_of(p)
    finally:
        await close_all(a1, b1, b2)


async def test_writing_to_a_blocked_contact_fails_with_blocked_error(server):
    """XEP-0191 3.3: stanzas from the user to a blocked JID are not routed;
    she gets not-acceptable with <blocked xmlns='urn:xmpp:blocking:errors'/>."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk", blocklist=True)
    b1 = await login_im(server, bob, "work")
    try:
        await block(a1, bob.jid)
        m = a1.make_message(mto=bob.jid, mbody="can you hear me?", mtype="chat")
        m["id"] = "to-blocked"
        m.send()
        err = await a1.message_box.wait(lambda m: m["id"] == "to-blocked" and m["type"] == "error")
        assert _blocked_error(err), xml_of(err)
        try:
            iq = await a1["xep_0199"].send_ping(b1.boundjid.full, timeout=10)
        except IqError as e:
            assert _blocked_error(e.iq), xml_of(e.iq)
        else:
            raise AssertionError(f"an iq reached a blocked JID: {xml_of(iq)}")
        await settle(a1, b1)
        assert _bodies(b1) == [], _bodies(b1)
    finally:
        await close_all(a1, b1)


async def test_blocking_one_resource_leaves_the_others(server):
    """XEP-0191 section 7: user@domain/resource matches only that
    resource."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk", blocklist=True)
    phone = await login_im(server, bob, "phone")
    laptop = await login_im(server, bob, "laptop")
    try:
        await block(a1, phone.boundjid.full)
        phone.send_message(mto=a1.boundjid.full, mbody="from the phone", mtype="chat")
        laptop.send_message(mto=a1.boundjid.full, mbody="from the laptop", mtype="chat")
        await a1.message_box.wait(lambda m: m["body"] == "from the laptop")
        await settle([phone, laptop], a1)
        assert "from the phone" not in _bodies(a1), _bodies(a1)
    finally:
        await close_all(a1, phone, laptop)


async def test_own_resources_are_never_blocked(server):
    """XEP-0191 section 6: communication between a user's own resources is
    never blocked, even if she blocks her own JID."""
    alice = server.account("alice")
    a1 = await login_im(server, alice, "desk", blocklist=True)
    a2 = await login_im(server, alice, "phone")
    try:
        # Canto lets her (the XEP does not forbid it); it changes nothing
        # between her own resources.
        await block(a1, alice.jid)
        assert await blocklist_get(a1) == [alice.jid]
        a1.send_message(mto=a2.boundjid.full, mbody="note to self", mtype="chat")
        await a2.message_box.wait(lambda m: m["body"] == "note to self")
        a2.send_message(mto=a1.boundjid.full, mbody="got it", mtype="chat")
        await a1.message_box.wait(lambda m: m["body"] == "got it")
    finally:
        await close_all(a1, a2)


# ---------------------------------------------------------------------------
# Refused commands, durability

async def test_invalid_jids_are_jid_malformed(server):
    alice = server.account("alice")
    ok = f"bob-{_uid()}@{server.host}"
    a1 = await login_im(server, alice, "desk", blocklist=True)
    try:
        await block(a1, ok)
        host = server.host
        for bad in ("a@b@" + host, "@" + host, "user@", host + "/", "x" * 1100 + "@" + host):
            for verb in ("block", "unblock"):
                err_type, cond, err = await iq_error(
                    a1, f"<{verb} xmlns='{NS_BLOCKING}'><item jid='{bad}'/></{verb}>")
                assert (err_type, cond) == ("modify", "jid-malformed"), \
                    f"{verb} {bad!r}: {xml_of(err)[:400]}"
        # A command with one bad JID changes nothing, not even for the good one.
        other = f"carol-{_uid()}@{server.host}"
        await iq_error(a1, f"<block xmlns='{NS_BLOCKING}'><item jid='{other}'/>"
                           f"<item jid='a@b@{host}'/></block>")
        assert await blocklist_get(a1) == [ok]
    finally:
        await a1.close()


async def test_empty_block_is_bad_request(server):
    alice = server.account("alice")
    a1 = await login_im(server, alice, "desk", blocklist=True)
    try:
        err_type, cond, err = await iq_error(a1, f"<block xmlns='{NS_BLOCKING}'/>")
        assert (err_type, cond) == ("modify", "bad-request"), xml_of(err)
        _, cond, err = await iq_error(a1, f"<block xmlns='{NS_BLOCKING}'><item/></block>")
        assert cond in ("bad-request", "jid-malformed"), xml_of(err)
        assert await blocklist_get(a1) == []
        await settle(a1, a1)
        assert a1.block_pushes.matching() == [], _describe(a1.block_pushes.matching())
    finally:
        await a1.close()


async def test_blocking_a_requester_refuses_the_request(server):
    """Blocking someone whose subscription request is pending refuses it,
    as Prosody does: the requester gets unsubscribed (his roster says his
    request is over), and the request is never shown again, not at the next
    login and not after unblocking."""
    alice, bob = server.account("alice"), server.account("bob")
    a1 = await login_im(server, alice, "desk", blocklist=True)
    b1 = await login_im(server, bob, "work")
    a2 = a3 = None
    try:
        b1.send_presence(pto=alice.jid, ptype="subscribe")
        await wait_presence(a1, bob.jid, "subscribe")
        await block(a1, bob.jid)
        await wait_presence(b1, alice.jid, "unsubscribed")
        await wait_push(b1, alice.jid, subscription=NONE, ask=None)
        await a1.close()
        a2 = await login_im(server, alice, "phone")    # ends with a ping barrier
        assert _requests_from(a2, bob.jid) == [], _describe(_requests_from(a2, bob.jid))
        await unblock(a2, bob.jid)
        await a2.close()
        a3 = await login_im(server, alice, "tablet")
        assert _requests_from(a3, bob.jid) == [], _describe(_requests_from(a3, bob.jid))
    finally:
        await close_all(a1, b1, a2, a3)


# Roster items as Canto stores them (src/modules/contacts.c): a request
# pending in (not in the roster proper), and one asked for (in the roster).
PENDING_IN = ("<item xmlns='jabber:iq:roster' jid='{jid}' subscription='none' "
              "pending='true' listed='false'/>")
ASKED = ("<item xmlns='jabber:iq:roster' jid='{jid}' subscription='none' "
         "ask='subscribe' listed='true'/>")


async def test_a_stored_request_from_a_blocked_contact_can_be_refused():
    """A database written before blocking refused pending requests may hold
    a request from someone already blocked. It is not shown at login (the
    block check that probes get), and Alice's refusal is not swallowed by
    the block filter: Bob gets unsubscribed, and the request is gone for
    good (not shown even after unblocking)."""
    with harness.Server() as server:
        alice, bob = server.account("alice"), server.account("bob")
        server.stop()
        db = sqlite3.connect(os.path.join(server.dir, "data", "canto.db"))
        with db:
            db.executemany(
                "INSERT INTO kv (owner_kind, host, owner, store, key, value) "
                "VALUES (0, ?, ?, ?, ?, ?)",
                [(server.host, alice.user, "roster", bob.jid,
                  PENDING_IN.format(jid=bob.jid).encode()),
                 (server.host, bob.user, "roster", alice.jid,
                  ASKED.format(jid=alice.jid).encode()),
                 (server.host, alice.user, "blocklist", bob.jid, b"")])
        db.close()
        server.start()
        a1 = await login_im(server, alice, "desk")     # ends with a ping barrier
        b1 = await login_im(server, bob, "work")
        a2 = None
        try:
            assert _requests_from(a1, bob.jid) == [], _describe(_requests_from(a1, bob.jid))
            a1.send_presence(pto=bob.jid, ptype="unsubscribed")
            await wait_presence(b1, alice.jid, "unsubscribed")
            await wait_push(b1, alice.jid, subscription=NONE, ask=None)
            await unblock(a1, bob.jid)
            await a1.close()
            a2 = await login_im(server, alice, "phone")
            assert _requests_from(a2, bob.jid) == [], _describe(_requests_from(a2, bob.jid))
        finally:
            await close_all(a1, b1, a2)


async def test_block_list_survives_restart():
    with harness.Server() as server:
        alice, bob = server.account("alice"), server.account("bob")
        a1 = await login_im(server, alice, "desk", blocklist=True)
        try:
            await block(a1, bob.jid, "spam.example")
        finally:
            await a1.close()
        server.restart()
        a1 = await login_im(server, alice, "desk", blocklist=True)
        b1 = await login_im(server, bob, "work")
        try:
            assert sorted(await blocklist_get(a1)) == sorted([bob.jid, "spam.example"])
            b1.send_message(mto=a1.boundjid.full, mbody="after the restart", mtype="chat")
            await settle(b1, a1)
            assert _bodies(a1) == [], _bodies(a1)
        finally:
            await close_all(a1, b1)


if __name__ == "__main__":
    harness.main(globals())
