"""Presence (RFC 6121 section 4 and 8.5) and invisibility (XEP-0186) between
real clients (slixmpp), against one cantod.

What people with contact lists notice: when Alice comes online, the
friends who follow her see it and nobody else does; when she logs in she
sees at once which devices of her friends are online and how; her changes
reach her followers and her own other devices; when she leaves, cleanly or
because her connection died, she goes offline for them; presence she sent
directly to a stranger is taken back when she leaves; the priorities of her
devices decide which one gets messages sent to her bare address; presence
sent to an address that does not exist goes nowhere; nobody who does not
follow her can find out whether she is online; and she can go invisible and
come back.

Subscriptions are set up by the book (subscribe, subscribed) with separate
short-lived clients before a test logs its clients in. Checks that
something did not arrive use settle(sender, target): the sender, then the
target, pings the server (a ping is a barrier in Canto).
"""

import uuid

import harness
from clients import (NS_INVISIBLE, clear_boxes, close_all, delay_of,
                     login_im, presences_from,
                     ptype, send_iq, settle, subscribe_and_approve,
                     wait_presence, xml_of)


def _uid():
    return uuid.uuid4().hex[:8]


async def _follow(server, follower, followed):
    """Setup: the `follower` account is subscribed to `followed`'s presence
    (RFC 6121 3.1), done with two short-lived clients."""
    f = await login_im(server, follower, "setup-" + _uid())
    t = await login_im(server, followed, "setup-" + _uid())
    try:
        await subscribe_and_approve(f, t)
    finally:
        await close_all(f, t)


def _available_from(client, bare):
    return presences_from(client, bare, "available")


def _describe(stanzas):
    return [xml_of(s) for s in stanzas]


def _status_is(text):
    return lambda p: p["status"] == text


# ---------------------------------------------------------------------------
# Broadcast

async def test_initial_presence_reaches_followers_only(server):
    """RFC 6121 4.2.2: initial presence goes to contacts with a 'from' or
    'both' subscription and to the user's own available resources; not to
    someone without a subscription, nor to someone Alice follows but who
    does not follow her."""
    alice, bob, carol, dave = (server.account(n) for n in ("alice", "bob", "carol", "dave"))
    await _follow(server, bob, alice)          # Bob follows Alice
    await _follow(server, alice, dave)         # Alice follows Dave, not the reverse
    b1 = await login_im(server, bob, "work")
    b2 = await login_im(server, bob, "mobile")
    c1 = await login_im(server, carol, "home")
    d1 = await login_im(server, dave, "pc")
    phone = await login_im(server, alice, "phone")
    desk = None
    try:
        desk = await login_im(server, alice, "desk", show="chat", status="good morning")
        for c in (b1, b2, phone):
            p = await wait_presence(c, desk.boundjid.full)
            assert p["show"] == "chat" and p["status"] == "good morning", xml_of(p)
        await settle(desk, c1, d1)
        for c in (c1, d1):
            got = _available_from(c, alice.jid)
            assert got == [], f"{c.boundjid.bare} does not follow Alice: {_describe(got)}"
    finally:
        await close_all(b1, b2, c1, d1, phone, desk)


async def test_login_shows_contacts_as_they_are(server):
    """RFC 6121 4.2.2 and 4.3: at login Alice gets the last presence of
    every available resource of everyone she follows (negative priority
    included), nothing available from a followed contact who is offline,
    and nothing from someone who follows her but whom she does not follow."""
    alice, bob, carol, dave = (server.account(n) for n in ("alice", "bob", "carol", "dave"))
    await _follow(server, alice, bob)
    await _follow(server, alice, carol)        # Carol stays offline
    await _follow(server, dave, alice)         # Dave follows Alice only
    b1 = await login_im(server, bob, "work", priority=3, status="in a meeting")
    b2 = await login_im(server, bob, "mobile", show="dnd", status="driving")
    b3 = await login_im(server, bob, "bot", priority=-1, status="background")
    d1 = await login_im(server, dave, "pc", status="dave is here")
    a1 = None
    try:
        b1.send_presence(ppriority=3, pstatus="back at my desk")     # the last one counts
        await b1.sync()
        a1 = await login_im(server, alice, "desk")
        p = await wait_presence(a1, b1.boundjid.full)
        assert p["status"] == "back at my desk" and p["priority"] == 3, xml_of(p)
        p = await wait_presence(a1, b2.boundjid.full)
        assert p["show"] == "dnd" and p["status"] == "driving", xml_of(p)
        p = await wait_presence(a1, b3.boundjid.full)
        assert p["priority"] == -1 and p["status"] == "background", xml_of(p)
        await settle(a1, a1)                # her login's probes are answered
        for who in (carol.jid, dave.jid):
            got = _available_from(a1, who)
            assert got == [], f"no available presence from {who} expected: {_describe(got)}"
        # Bob's three are reported once each.
        got = _available_from(a1, bob.jid)
        assert got == [], f"duplicates: {_describe(got)}"
    finally:
        await close_all(b1, b2, b3, d1, a1)


async def test_updates_reach_followers_and_own_devices(server):
    alice, bob, carol = (server.account(n) for n in ("alice", "bob", "carol"))
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    a2 = await login_im(server, alice, "phone")
    b1 = await login_im(server, bob, "work")
    b2 = await login_im(server, bob, "mobile")
    c1 = await login_im(server, carol, "home")
    try:
        await clear_boxes(a1, a2, b1, b2, c1)
        a1.send_presence(pshow="away", pstatus="lunch")
        for c in (b1, b2, a2):
            p = await wait_presence(c, a1.boundjid.full, pred=_status_is("lunch"))
            assert p["show"] == "away", xml_of(p)
        await settle(a1, c1)
        assert _available_from(c1, alice.jid) == [], _describe(_available_from(c1, alice.jid))
    finally:
        await close_all(a1, a2, b1, b2, c1)


async def test_clean_logout_is_seen_as_unavailable(server):
    """RFC 6121 4.5: explicit unavailable presence (with its status), and
    the end of the stream, each make the resource unavailable for
    followers and for the user's other resources."""
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    a2 = await login_im(server, alice, "phone")
    a3 = await login_im(server, alice, "tablet")
    b1 = await login_im(server, bob, "work")
    try:
        a1.send_raw("<presence type='unavailable'><status>gone home</status></presence>")
        for c in (b1, a2):
            p = await wait_presence(c, a1.boundjid.full, "unavailable")
            assert p["status"] == "gone home", xml_of(p)
        await a2.close()
        for c in (b1, a3):
            await wait_presence(c, a2.boundjid.full, "unavailable")
    finally:
        await close_all(a1, a2, a3, b1)


async def test_lost_connection_is_seen_as_unavailable(server):
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    a2 = await login_im(server, alice, "phone")
    b1 = await login_im(server, bob, "work")
    try:
        await wait_presence(b1, a1.boundjid.full)
        a1.drop()               # no </stream:stream>, no TLS close_notify
        for c in (b1, a2):
            await wait_presence(c, a1.boundjid.full, "unavailable", timeout=30)
    finally:
        await close_all(a1, a2, b1)


# ---------------------------------------------------------------------------
# Directed presence (RFC 6121 4.6)

async def test_directed_presence_is_taken_back_at_logout(server):
    alice, bob, carol = (server.account(n) for n in ("alice", "bob", "carol"))
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    c1 = await login_im(server, carol, "home")
    c2 = await login_im(server, carol, "phone")
    try:
        a1.send_presence(pto=carol.jid, pstatus="hi Carol")
        for c in (c1, c2):
            await wait_presence(c, a1.boundjid.full, pred=_status_is("hi Carol"))
        # A directed presence does not make Carol a follower.
        a1.send_presence(pstatus="for my followers")
        await wait_presence(b1, a1.boundjid.full, pred=_status_is("for my followers"))
        await settle(a1, c1, c2)
        for c in (c1, c2):
            got = [p for p in _available_from(c, alice.jid) if p["status"] == "for my followers"]
            assert got == [], _describe(got)
        await a1.close()
        for c in (b1, c1, c2):
            await wait_presence(c, a1.boundjid.full, "unavailable")
    finally:
        await close_all(a1, b1, c1, c2)


async def test_directed_presence_is_taken_back_when_the_connection_dies(server):
    alice, carol = server.account("alice"), server.account("carol")
    a1 = await login_im(server, alice, "desk")
    c1 = await login_im(server, carol, "home")
    c2 = await login_im(server, carol, "phone")
    try:
        a1.send_presence(pto=c1.boundjid.full, pstatus="only to your home")
        await wait_presence(c1, a1.boundjid.full, pred=_status_is("only to your home"))
        a1.drop()
        await wait_presence(c1, a1.boundjid.full, "unavailable", timeout=30)
        # The drop is handled (Carol's home saw it): what it sent her phone
        # is queued before the pong to the phone's ping.
        await c2.sync()
        got = presences_from(c2, alice.jid)
        assert got == [], f"presence went to {c1.boundjid.full} only: {_describe(got)}"
    finally:
        await close_all(a1, c1, c2)


# ---------------------------------------------------------------------------
# Priorities and bare-JID delivery (RFC 6121 8.5.2.1.1)

async def test_priorities_choose_who_gets_bare_jid_messages(server):
    bob, carol = server.account("bob"), server.account("carol")
    b1 = await login_im(server, bob, "work", priority=1)
    b2 = await login_im(server, bob, "mobile", priority=5)
    c1 = await login_im(server, carol, "home")
    try:
        async def send_and_see(body, receiver, other):
            c1.send_message(mto=bob.jid, mbody=body, mtype="chat")
            await receiver.message_box.wait(lambda m: m["body"] == body,
                                            what=f"{body!r} at {receiver.boundjid.full}")
            await settle(c1, other)
            got = [m["body"] for m in other.message_box.matching()]
            assert body not in got, f"{other.boundjid.full} got {body!r} too"

        await send_and_see("to the highest", b2, b1)
        b1.send_presence(ppriority=10)
        await b1.sync()
        await send_and_see("work is higher now", b1, b2)
        b1.send_presence(ppriority=-1)
        await b1.sync()
        await send_and_see("work went negative", b2, b1)
    finally:
        await close_all(b1, b2, c1)


async def test_negative_priority_gets_no_bare_jid_messages(server):
    """A resource whose priority went negative is as good as offline for
    bare-JID messages: they wait for the next login. Full-JID messages
    still reach it."""
    bob, carol = server.account("bob"), server.account("carol")
    b1 = await login_im(server, bob, "work", priority=5)
    c1 = await login_im(server, carol, "home")
    b2 = None
    try:
        b1.send_presence(ppriority=-5)
        await b1.sync()
        c1.send_message(mto=bob.jid, mbody="for later", mtype="chat")
        c1.send_message(mto=b1.boundjid.full, mbody="for work now", mtype="chat")
        await b1.message_box.wait(lambda m: m["body"] == "for work now")
        await settle(c1, b1)
        assert "for later" not in [m["body"] for m in b1.message_box.matching()]
        b2 = await login_im(server, bob, "desk")
        msg = await b2.message_box.wait(lambda m: m["body"] == "for later")
        assert delay_of(msg) is not None, f"not an offline message: {xml_of(msg)}"
    finally:
        await close_all(b1, c1, b2)


# ---------------------------------------------------------------------------
# Presence that must go nowhere

async def test_presence_to_an_unknown_local_user(server):
    """RFC 6121 8.5.1: presence to an account that does not exist (bare or
    full JID) is silently ignored, whatever its type; a probe may also be
    answered with 'unsubscribed'. (3.1.2 also lets the user's server bounce
    a subscription request to a local contact that does not exist with an
    error, so a presence error for the request is accepted too.) Each type
    goes to an account of its own, so that the answers cannot interact."""
    alice = server.account("alice")
    a1 = await login_im(server, alice, "desk")
    try:
        await clear_boxes(a1)
        nobody = {}
        for type in (None, "unavailable", "subscribe", "subscribed",
                     "unsubscribe", "unsubscribed", "probe"):
            nobody[type] = f"nobody-{type or 'available'}-{_uid()}@{server.host}"
            for to in (nobody[type], nobody[type] + "/res"):
                attr = f" type='{type}'" if type else ""
                a1.send_raw(f"<presence to='{to}'{attr} id='p-{type}'><status>hello?</status></presence>")
        await settle(a1, a1)
        for type, jid in nobody.items():
            for p in presences_from(a1, jid):
                allowed = ((type == "probe" and ptype(p) == "unsubscribed")
                           or (type == "subscribe" and ptype(p) == "error"))
                assert allowed, f"presence type={type} to {jid} must be ignored: {xml_of(p)}"
        assert a1.message_box.matching() == [], _describe(a1.message_box.matching())
    finally:
        await a1.close()


async def test_nobody_learns_presence_without_a_subscription(server):
    """RFC 6121 4.3.2: a probe from someone without a 'from' subscription
    reveals nothing (at most an 'unsubscribed' answer). Tried by a
    stranger, by someone whose request is still pending, and by someone
    whom Alice follows but who does not follow her; at her bare and her full
    JID."""
    alice, bob, carol, dave = (server.account(n) for n in ("alice", "bob", "carol", "dave"))
    await _follow(server, alice, bob)          # Bob: 'from' only
    a1 = await login_im(server, alice, "desk", status="secret")
    b1 = await login_im(server, bob, "work")
    c1 = await login_im(server, carol, "home")
    d1 = await login_im(server, dave, "pc")
    try:
        d1.send_presence(pto=alice.jid, ptype="subscribe")
        await wait_presence(a1, dave.jid, "subscribe")          # left pending
        await clear_boxes(b1, c1, d1)
        for c in (b1, c1, d1):
            c.send_raw(f"<presence to='{alice.jid}' type='probe'/>")
            c.send_raw(f"<presence to='{a1.boundjid.full}' type='probe'/>")
        await settle([b1, c1, d1], b1, c1, d1)     # the probers get any answer
        for c in (b1, c1, d1):
            for p in presences_from(c, alice.jid):
                # 'unsubscribed' (SHOULD) or a refusal; an 'unavailable'
                # from her bare JID tells nothing either.
                harmless = (ptype(p) in ("unsubscribed", "error")
                            or (ptype(p) == "unavailable" and p.xml.get("from") == alice.jid))
                assert harmless, f"{c.boundjid.bare} learnt Alice's presence: {xml_of(p)}"
    finally:
        await close_all(a1, b1, c1, d1)


# ---------------------------------------------------------------------------
# Invisibility (XEP-0186)

async def _invisible(client, probe):
    res = await send_iq(client, f"<invisible xmlns='{NS_INVISIBLE}' probe='{probe}'/>", type="set")
    assert res["type"] == "result", xml_of(res)


async def _visible(client):
    res = await send_iq(client, f"<visible xmlns='{NS_INVISIBLE}'/>", type="set")
    assert res["type"] == "result", xml_of(res)


async def test_invisibility_is_advertised(server):
    a1 = await login_im(server, server.account("alice"), "desk")
    try:
        info = await a1["xep_0030"].get_info(jid=server.host, timeout=10)
        features = set(info["disco_info"]["features"])
        assert NS_INVISIBLE in features, sorted(features)
    finally:
        await a1.close()


async def test_invisible_user_appears_offline(server):
    """XEP-0186 3.1: going invisible sends unavailable to the followers;
    later broadcasts are held back, probes are answered as if offline,
    messages and directed presence still work. 3.2: after <visible/> the
    session is as before initial presence: the next <presence/> is seen."""
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk", status="visible")
    b1 = await login_im(server, bob, "work")
    b2 = None
    try:
        await wait_presence(b1, a1.boundjid.full, pred=_status_is("visible"))
        await _invisible(a1, "false")
        await wait_presence(b1, a1.boundjid.full, "unavailable")
        a1.send_presence(pstatus="nobody sees this")
        b2 = await login_im(server, bob, "mobile")          # probes Alice
        await settle([a1, b2], b1, b2)
        for c in (b1, b2):
            got = _available_from(c, alice.jid)
            assert got == [], f"an invisible user was seen: {_describe(got)}"
        # Messages to her full JID still reach her.
        b1.send_message(mto=a1.boundjid.full, mbody="are you there?", mtype="chat")
        await a1.message_box.wait(lambda m: m["body"] == "are you there?")
        # Directed presence is delivered.
        a1.send_presence(pto=b2.boundjid.full, pstatus="only you")
        await wait_presence(b2, a1.boundjid.full, pred=_status_is("only you"))
        # Visible again, and available: followers see her.
        await _visible(a1)
        a1.send_presence(pstatus="back")
        for c in (b1, b2):
            await wait_presence(c, a1.boundjid.full, pred=_status_is("back"))
    finally:
        await close_all(a1, b1, b2)


async def test_visible_alone_does_not_announce(server):
    """XEP-0186 3.2: <visible/> puts the session back before initial
    presence; the server itself broadcasts nothing."""
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    try:
        await wait_presence(b1, a1.boundjid.full)
        await _invisible(a1, "false")
        await wait_presence(b1, a1.boundjid.full, "unavailable")
        await _visible(a1)
        await settle(a1, b1)
        got = _available_from(b1, alice.jid)
        assert got == [], f"<visible/> alone announced Alice: {_describe(got)}"
    finally:
        await close_all(a1, b1)


async def test_invisible_logout_takes_back_directed_presence_only(server):
    """XEP-0186 3.1 item 9: unavailable presence from an invisible session
    goes only to those it sent directed presence to while invisible."""
    alice, bob, carol = (server.account(n) for n in ("alice", "bob", "carol"))
    await _follow(server, bob, alice)
    a1 = await login_im(server, alice, "desk")
    b1 = await login_im(server, bob, "work")
    c1 = await login_im(server, carol, "home")
    try:
        await wait_presence(b1, a1.boundjid.full)
        await _invisible(a1, "false")
        await wait_presence(b1, a1.boundjid.full, "unavailable")
        a1.send_presence(pto=carol.jid, pstatus="psst")
        await wait_presence(c1, a1.boundjid.full, pred=_status_is("psst"))
        await clear_boxes(b1)
        a1.send_raw("<presence type='unavailable'/>")
        await wait_presence(c1, a1.boundjid.full, "unavailable")
        await settle(a1, b1)
        got = presences_from(b1, alice.jid)
        assert got == [], f"Bob already had Alice offline: {_describe(got)}"
    finally:
        await close_all(a1, b1, c1)


async def test_invisibility_is_per_session(server):
    """XEP-0186 section 2: invisibility belongs to one session; another
    resource, or the next login, is seen as usual."""
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, bob, alice)
    b1 = await login_im(server, bob, "work")
    a1 = await login_im(server, alice, "desk", presence=False)
    a2 = a3 = None
    try:
        await _invisible(a1, "false")
        a1.send_presence(pstatus="hidden")
        a2 = await login_im(server, alice, "phone", status="phone is visible")
        await wait_presence(b1, a2.boundjid.full, pred=_status_is("phone is visible"))
        await settle(a1, b1)
        got = [p for p in _available_from(b1, alice.jid)
               if p.xml.get("from") == a1.boundjid.full]
        assert got == [], f"the invisible session was seen: {_describe(got)}"
        await a1.close()
        a3 = await login_im(server, alice, "desk", status="desk again")
        await wait_presence(b1, a3.boundjid.full, pred=_status_is("desk again"))
    finally:
        await close_all(a1, a2, a3, b1)


async def test_invisible_probe_attribute(server):
    """XEP-0186 3.1: probe='true' fetches the contacts' presence for the
    invisible user, probe='false' does not; inbound presence is delivered
    either way, and the contacts see nothing of her."""
    alice, bob = server.account("alice"), server.account("bob")
    await _follow(server, alice, bob)
    await _follow(server, bob, alice)
    b1 = await login_im(server, bob, "work", status="bob here")
    looking = await login_im(server, alice, "looking", presence=False)
    blind = await login_im(server, alice, "blind", presence=False)
    try:
        await _invisible(looking, "true")
        looking.send_presence()
        p = await wait_presence(looking, b1.boundjid.full)
        assert p["status"] == "bob here", xml_of(p)
        await _invisible(blind, "false")
        blind.send_presence()
        await settle(blind, blind)
        got = _available_from(blind, bob.jid)
        assert got == [], f"probe='false' but Bob's presence was fetched: {_describe(got)}"
        b1.send_presence(pstatus="bob changed")
        for c in (looking, blind):
            await wait_presence(c, b1.boundjid.full, pred=_status_is("bob changed"))
        await settle([looking, blind], b1)
        got = _available_from(b1, alice.jid)
        assert got == [], f"invisible resources were seen: {_describe(got)}"
    finally:
        await close_all(b1, looking, blind)


if __name__ == "__main__":
    harness.main(globals())
