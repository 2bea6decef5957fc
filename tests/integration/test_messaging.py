"""Messaging between real clients (slixmpp) through one cantod.

What a person would check with two chat clients: logging in over STARTTLS and
over direct TLS; chat to a full JID and to a bare JID with several resources
and priorities; messages to a user whose only resource has negative priority
wait for the next login; headlines reach every resource; what a client writes
arrives untouched except for a stamped from; iq between clients and to the
server; and a resource's other resources see it come and go.

Negative checks ("B2 did not get it") use the ping barrier settle(sender,
B2) from clients.py: once the sender's ping and then B2's are answered,
anything the server routed to B2 because of the sender's stanzas is already
in B2's inbox.
"""

import datetime
import uuid

import harness
from clients import (IqError, NS_CLIENT, bodies, close_all,
                     delay_of, error_condition, login, settle, xml_of)


def _uid():
    return uuid.uuid4().hex[:10]


async def _inbox_after_settle(sender, target):
    """The messages in target's inbox (taken out) once what `sender` sent
    so far has been routed and has reached the target: settle()."""
    await settle(sender, target)
    return target.drain()


def _bodies_of(msgs):
    return [m["body"] for m in msgs]


# ---------------------------------------------------------------------------
# Login

async def test_login_starttls_and_direct_tls(server):
    a = server.account("alice")
    c1 = await login(server, a, resource="starttls")
    c2 = await login(server, a, resource="direct", direct=True)
    try:
        assert c1.boundjid.full == a.jid + "/starttls", c1.boundjid.full
        assert c2.boundjid.full == a.jid + "/direct", c2.boundjid.full
        # Over TLS 1.3 the best offer is SCRAM-SHA-512-PLUS; clients.py binds
        # it to tls-server-end-point (slixmpp alone only knows tls-unique).
        for c in (c1, c2):
            assert c.mechanism == "SCRAM-SHA-512-PLUS", c.mechanism
            assert c.gs2_header.startswith(b"p=tls-server-end-point"), c.gs2_header
        # Both sessions work: one talks to the other.
        c1.send_message(mto=c2.boundjid.full, mbody="over starttls", mtype="chat")
        msg = await c2.next_message()
        assert msg["body"] == "over starttls"
        assert msg["from"].full == c1.boundjid.full
    finally:
        await close_all(c1, c2)


async def test_login_without_channel_binding(server):
    """A client that does not do channel binding (gs2 flag 'n') still logs
    in with plain SCRAM-SHA-512."""
    a = server.account("nocb")
    c = await login(server, a, resource="r", cb="none")
    try:
        assert c.mechanism == "SCRAM-SHA-512", c.mechanism
        assert c.gs2_header == b"n,,", c.gs2_header
    finally:
        await c.close()


async def test_login_with_plain_over_tls(server):
    """A client that only knows PLAIN (offered after TLS) logs in and can
    chat. go-sendxmpp is such a client."""
    a, b = server.account("plain"), server.account("bob")
    cb = await login(server, b, resource="phone")
    ca = None
    try:
        ca = await login(server, a, resource="r", cb="none", mechs={"PLAIN"})
        assert ca.mechanism == "PLAIN", ca.mechanism
        ca.send_message(mto=cb.boundjid.full, mbody="plain works", mtype="chat")
        msg = await cb.next_message()
        assert msg["body"] == "plain works"
        assert msg["from"].full == ca.boundjid.full
    finally:
        await close_all(ca, cb)


async def test_login_stock_slixmpp(server):
    """Debian 12's slixmpp 1.8.3 unchanged: over TLS 1.3 it chooses
    SCRAM-SHA-512-PLUS bound to tls-unique (the client Finished message).
    cantod accepts that binding for such clients (src/net/tls.c), so the
    login works."""
    a = server.account("stock")
    c = await login(server, a, resource="r", cb="stock")
    try:
        assert c.boundjid.full == a.jid + "/r"
        assert c.mechanism == "SCRAM-SHA-512-PLUS", c.mechanism
        assert c.gs2_header == b"p=tls-unique,,", c.gs2_header
    finally:
        await c.close()


# ---------------------------------------------------------------------------
# Routing

async def test_chat_to_full_jid(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb1 = await login(server, b, resource="one")
    cb2 = await login(server, b, resource="two")
    try:
        ca.send_message(mto=cb2.boundjid.full, mbody="to two only", mtype="chat")
        msg = await cb2.next_message()
        assert msg["body"] == "to two only"
        assert msg["type"] == "chat"
        assert msg["from"].full == ca.boundjid.full, msg["from"]
        assert msg["to"].full == cb2.boundjid.full, msg["to"]
        before = await _inbox_after_settle(ca, cb1)
        assert before == [], _bodies_of(before)
    finally:
        await close_all(ca, cb1, cb2)


async def test_bare_jid_goes_to_highest_priority(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    high = await login(server, b, resource="high", priority=10)
    low = await login(server, b, resource="low", priority=1)
    try:
        ca.send_message(mto=b.jid, mbody="to the best resource", mtype="chat")
        msg = await high.next_message()
        assert msg["body"] == "to the best resource"
        assert msg["from"].full == ca.boundjid.full
        ca.send_message(mto=b.jid, mbody="normal too", mtype="normal")
        msg = await high.next_message()
        assert msg["body"] == "normal too"
        before = await _inbox_after_settle(ca, low)
        assert before == [], f"low-priority resource got {_bodies_of(before)}"
    finally:
        await close_all(ca, high, low)


async def test_bare_jid_equal_priorities_both_get_it(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    b1 = await login(server, b, resource="one", priority=3)
    b2 = await login(server, b, resource="two", priority=3)
    try:
        ca.send_message(mto=b.jid, mbody="to both", mtype="chat")
        for c in (b1, b2):
            msg = await c.next_message()
            assert msg["body"] == "to both", msg["body"]
            assert msg["from"].full == ca.boundjid.full
    finally:
        await close_all(ca, b1, b2)


async def test_negative_priority_only_goes_offline(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    shy = await login(server, b, resource="shy", priority=-1)
    bob2 = None
    try:
        ca.send_message(mto=b.jid, mbody="stored for later", mtype="chat")
        before = await _inbox_after_settle(ca, shy)
        assert before == [], f"negative-priority resource got {_bodies_of(before)}"
        await ca.sync()       # the message is stored now
        bob2 = await login(server, b, resource="desk", priority=0)
        msg = await bob2.next_message()
        assert msg["body"] == "stored for later", xml_of(msg)
        assert msg["from"].full == ca.boundjid.full, msg["from"]
        d = delay_of(msg)
        assert d is not None, f"no urn:xmpp:delay on an offline message: {xml_of(msg)}"
        assert d.get("from") == server.host, d.attrib
    finally:
        await close_all(ca, shy, bob2)


async def test_headline_to_bare_reaches_all_non_negative(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    b1 = await login(server, b, resource="one", priority=5)
    b2 = await login(server, b, resource="two", priority=0)
    b3 = await login(server, b, resource="three", priority=-5)
    try:
        ca.send_message(mto=b.jid, mbody="news", mtype="headline")
        for c in (b1, b2):
            msg = await c.next_message()
            assert msg["body"] == "news" and msg["type"] == "headline", xml_of(msg)
        before = await _inbox_after_settle(ca, b3)
        assert before == [], f"negative-priority resource got {_bodies_of(before)}"
    finally:
        await close_all(ca, b1, b2, b3)


async def test_groupchat_and_error_messages_to_a_user(server):
    """RFC 6121 8.5.2: a groupchat message to a user's bare or to an absent
    full JID is answered service-unavailable (no room here); an error
    message to a bare JID is dropped silently (no error loops); a normal
    message to the bare JID reaches the user."""
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = await login(server, b, resource="phone")
    try:
        for to in (b.jid, b.jid + "/gone"):
            ca.send_raw(f"<message to='{to}' type='groupchat' id='gc-1'><body>x</body></message>")
            err = await ca.next_message()
            assert err["type"] == "error", xml_of(err)
            assert error_condition(err) == ("cancel", "service-unavailable"), xml_of(err)
        ca.send_raw(f"<message to='{b.jid}' type='error' id='e-1'><body>oops</body></message>")
        ca.send_message(mto=b.jid, mbody="plain", mtype="normal")
        msg = await cb.next_message()
        assert msg["body"] == "plain" and msg["type"] == "normal", xml_of(msg)
        before = await _inbox_after_settle(ca, cb)
        assert before == [], f"an error message was delivered: {_bodies_of(before)}"
    finally:
        await close_all(ca, cb)


async def test_payload_arrives_untouched(server):
    """Thread, two bodies in two languages, a subject, a receipt request, a
    chat state and an unknown extension pass through as they were sent."""
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = await login(server, b, resource="phone")
    try:
        ca.send_raw(
            f"<message to='{cb.boundjid.full}' type='chat' id='rich-1'>"
            "<subject>Sub &amp; ject</subject>"
            "<body>Hello &lt;world&gt; &amp; caf\u00e9 \U0001F600</body>"
            "<body xml:lang='de'>Hallo Welt</body>"
            "<thread parent='p-0'>th-42</thread>"
            "<request xmlns='urn:xmpp:receipts'/>"
            "<active xmlns='http://jabber.org/protocol/chatstates'/>"
            "<x xmlns='urn:example:canto-test' a='1'><item n='2'>v&apos;al</item></x>"
            "</message>")
        msg = await cb.next_message()
        x = msg.xml
        assert x.get("id") == "rich-1", xml_of(msg)
        got = bodies(msg)
        assert got.get("de") == "Hallo Welt", got
        default = got.get(None, got.get("en"))
        assert default == "Hello <world> & caf\u00e9 \U0001F600", got
        assert len(got) == 2, got
        thread = x.find("{%s}thread" % NS_CLIENT)
        assert thread is not None and thread.text == "th-42", xml_of(msg)
        assert thread.get("parent") == "p-0", xml_of(msg)
        subject = x.find("{%s}subject" % NS_CLIENT)
        assert subject is not None and subject.text == "Sub & ject", xml_of(msg)
        assert x.find("{urn:xmpp:receipts}request") is not None, xml_of(msg)
        assert x.find("{http://jabber.org/protocol/chatstates}active") is not None
        ext = x.find("{urn:example:canto-test}x")
        assert ext is not None and ext.get("a") == "1", xml_of(msg)
        item = ext.find("{urn:example:canto-test}item")
        assert item is not None and item.get("n") == "2" and item.text == "v'al", xml_of(msg)
    finally:
        await close_all(ca, cb)


async def test_forged_from_is_overwritten(server):
    a, b, victim = server.account("alice"), server.account("bob"), server.account("carol")
    ca = await login(server, a, resource="laptop")
    cb = await login(server, b, resource="phone")
    try:
        ca.send_raw(f"<message to='{cb.boundjid.full}' from='{victim.jid}/forged' "
                    "type='chat'><body>who am I</body></message>")
        msg = await cb.next_message()
        assert msg["body"] == "who am I"
        assert msg["from"].full == ca.boundjid.full, \
            f"from should be the sender's full JID, got {msg['from']}"
    finally:
        await close_all(ca, cb)


async def test_full_jid_of_gone_resource_goes_to_bare(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    best = await login(server, b, resource="best", priority=2)
    other = await login(server, b, resource="other", priority=1)
    try:
        ca.send_message(mto=b.jid + "/gone-" + _uid(), mbody="where are you",
                        mtype="chat")
        msg = await best.next_message()
        assert msg["body"] == "where are you", xml_of(msg)
        assert msg["from"].full == ca.boundjid.full
        before = await _inbox_after_settle(ca, other)
        assert before == [], _bodies_of(before)
        # A resource that really left: same thing.
        await other.close()
        other = None
        ca.send_message(mto=b.jid + "/other", mbody="after logout", mtype="chat")
        msg = await best.next_message()
        assert msg["body"] == "after logout", xml_of(msg)
    finally:
        await close_all(ca, best, other)


# ---------------------------------------------------------------------------
# iq

async def test_iq_ping_between_clients(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = await login(server, b, resource="phone")
    try:
        iq = await ca["xep_0199"].send_ping(cb.boundjid.full, timeout=10)
        assert iq["type"] == "result", xml_of(iq)
        assert iq["from"].full == cb.boundjid.full, iq["from"]
    finally:
        await close_all(ca, cb)


async def test_iq_to_offline_full_jid_or_bare_jid(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = await login(server, b, resource="phone")
    try:
        for to in (b.jid + "/nowhere", b.jid):
            try:
                iq = await ca["xep_0199"].send_ping(to, timeout=10)
            except IqError as e:
                assert error_condition(e.iq) == ("cancel", "service-unavailable"), \
                    f"iq to {to}: {xml_of(e.iq)}"
            else:
                raise AssertionError(f"iq to {to} should fail: {xml_of(iq)}")
    finally:
        await close_all(ca, cb)


async def test_server_disco_version_ping_time(server):
    a = server.account("alice")
    c = await login(server, a, resource="laptop")
    try:
        info = await c["xep_0030"].get_info(jid=server.host, timeout=10)
        ids = info["disco_info"]["identities"]
        assert any(i[0] == "server" and i[1] == "im" and i[3] == "Canto" for i in ids), ids
        features = set(info["disco_info"]["features"])
        for f in ("http://jabber.org/protocol/disco#info",
                  "http://jabber.org/protocol/disco#items", "urn:xmpp:ping",
                  "jabber:iq:version", "urn:xmpp:time", "msgoffline"):
            assert f in features, f"{f} missing from {sorted(features)}"

        items = await c["xep_0030"].get_items(jid=server.host, timeout=10)
        assert items["type"] == "result", xml_of(items)

        ver = await c["xep_0092"].get_version(server.host, timeout=10)
        q = ver.xml.find("{jabber:iq:version}query")
        assert q is not None, xml_of(ver)
        assert q.findtext("{jabber:iq:version}name") == "Canto", xml_of(ver)
        assert (q.findtext("{jabber:iq:version}version") or "").strip(), xml_of(ver)
        assert q.find("{jabber:iq:version}os") is not None, xml_of(ver)

        pong = await c["xep_0199"].send_ping(server.host, timeout=10)
        assert pong["type"] == "result" and pong["from"].full == server.host, xml_of(pong)

        t = await c["xep_0202"].get_entity_time(server.host, timeout=10)
        el = t.xml.find("{urn:xmpp:time}time")
        assert el is not None, xml_of(t)
        tzo = el.findtext("{urn:xmpp:time}tzo")
        utc = el.findtext("{urn:xmpp:time}utc")
        assert tzo and (tzo == "Z" or tzo[0] in "+-"), xml_of(t)
        assert utc and utc.endswith("Z"), xml_of(t)
        when = datetime.datetime.fromisoformat(utc[:-1] + "+00:00")
        now = datetime.datetime.now(datetime.timezone.utc)
        # Same machine, same clock: the server's UTC is today's UTC.
        assert abs((now - when).total_seconds()) < 300, (utc, now)
    finally:
        await c.close()


# ---------------------------------------------------------------------------
# Presence

async def test_own_resources_see_each_other_come_and_go(server):
    b = server.account("bob")
    phone = await login(server, b, resource="phone")
    desk = None
    try:
        desk = await login(server, b, resource="desk", priority=4)
        desk_jid = desk.boundjid.full
        p = await phone.next_presence(lambda p: p["from"].full == desk_jid)
        assert p["type"] in ("available", ""), p
        assert p["priority"] == 4, p
        # The desk loses its connection: no </stream:stream>, no close_notify.
        desk.drop()
        desk = None
        p = await phone.next_presence(lambda p: p["from"].full == desk_jid, timeout=30)
        assert p["type"] == "unavailable", p
    finally:
        await close_all(phone, desk)


async def test_clean_logout_sends_unavailable(server):
    b = server.account("bob")
    phone = await login(server, b, resource="phone")
    desk = await login(server, b, resource="desk")
    try:
        desk_jid = desk.boundjid.full
        await phone.next_presence(lambda p: p["from"].full == desk_jid)
        await desk.close()
        p = await phone.next_presence(lambda p: p["from"].full == desk_jid)
        assert p["type"] == "unavailable", p
    finally:
        await close_all(phone, desk)


if __name__ == "__main__":
    harness.main(globals())
