"""Sessions in cantod: resource binding, conflicts, from stamping, addressing
errors, and the iqs the server itself answers (RFC 6120 sections 7, 8 and 10;
XEP-0030, XEP-0092, XEP-0199, XEP-0202).
"""

import asyncio
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import (NS_BIND, NS_CLIENT, NS_DISCO_INFO,  # noqa: E402
                     NS_DISCO_ITEMS, NS_PING, NS_SESSION, NS_STANZAS, NS_TIME,
                     NS_VERSION, Client, login, new_id, q, tostring)


def is_message(el, id=None):
    return el.tag == q("message", NS_CLIENT) and (id is None or el.get("id") == id)


def stanza_error(el):
    """(type, condition) of an error stanza."""
    assert el.get("type") == "error", f"not an error: {tostring(el)}"
    err = el.find(q("error", NS_CLIENT))
    assert err is not None, tostring(el)
    conds = [c.tag.split("}")[1] for c in err
             if c.tag.startswith("{" + NS_STANZAS + "}") and not c.tag.endswith("}text")]
    assert len(conds) == 1, f"expected one condition: {tostring(el)}"
    return err.get("type"), conds[0]


# ---------------------------------------------------------------------------
# Binding

async def test_bind_chosen_resource(server):
    account = server.account()
    c = await login(server, account, resource="laptop")
    assert c.jid == f"{account.jid}/laptop", c.jid
    await c.close_stream()


async def test_bind_generated_resource(server):
    account = server.account()
    jids = []
    for _ in range(2):
        c = await login(server, account)
        bare, _, resource = c.jid.partition("/")
        assert bare == account.jid, c.jid
        assert resource, f"empty generated resource: {c.jid!r}"
        jids.append(c.jid)
        await c.close_stream()
    assert jids[0] != jids[1], f"generated resources repeat: {jids}"


async def test_session_iq(server):
    account = server.account()
    c = await login(server, account)
    res = await c.iq(f"<session xmlns='{NS_SESSION}'/>", type="set")
    assert res.get("type") == "result", tostring(res)
    assert len(list(res)) == 0, f"session result should be empty: {tostring(res)}"
    await c.close_stream()


async def test_resource_conflict(server):
    account = server.account()
    peer = server.account("peer")
    old = await login(server, account, resource="phone", presence=True)
    new = await login(server, account, resource="phone", presence=True)
    assert new.jid == old.jid == f"{account.jid}/phone", (old.jid, new.jid)
    await old.expect_stream_error("conflict")
    # The new session owns the resource.
    res = await new.ping()
    assert res.get("type") == "result", tostring(res)
    p = await login(server, peer)
    await p.send(f"<message to='{account.jid}/phone' id='c1' type='chat'><body>who</body></message>")
    msg = await new.wait_stanza(lambda e: is_message(e, "c1"))
    assert msg.findtext(q("body", NS_CLIENT)) == "who", tostring(msg)
    await new.close_stream()
    await p.close_stream()


async def test_stanzas_to_a_binding_session_follow_the_bind_result(server):
    """A message and an iq sent to a full JID while that session is still
    binding (its bind result waits for the account's roster and vCard hash
    to be read) are kept and delivered right after the bind result, in
    order; the iq gets its answer. They used to be dropped silently.

    Bob's bind and Alice's stanzas leave back to back on loopback, so the
    server reads Alice's while Bob's bind is still held; each round is
    checked with ping barriers, never with sleeps: once Alice's ping and
    then Bob's come back, everything the server did with Alice's stanzas
    is on Bob's wire before his pong."""
    alice, bob = server.account("alice"), server.account("bob")
    a = await login(server, alice, resource="a")
    for round in range(6):
        resource = f"binding-{round}"
        b = await Client.connect(server.ports["required"])
        await b.open_stream()
        await b.starttls()
        await b.open_stream()
        await b.authenticate(bob.user, bob.password)
        await b.open_stream()
        bind_id, msg_id, iq_id = new_id("bind"), new_id("early-msg"), new_id("early-iq")
        to = f"{bob.jid}/{resource}"
        b.writer.write(f"<iq type='set' id='{bind_id}'><bind xmlns='{NS_BIND}'>"
                       f"<resource>{resource}</resource></bind></iq>".encode())
        a.writer.write(f"<message to='{to}' id='{msg_id}' type='chat'><body>early</body></message>"
                       f"<iq to='{to}' type='get' id='{iq_id}'><query xmlns='urn:example:early'/></iq>"
                       .encode())
        await asyncio.gather(b.writer.drain(), a.writer.drain())
        await a.ping()
        first = await b.read_stanza()
        assert first.get("id") == bind_id and first.get("type") == "result", \
            f"round {round}: the bind result must come first: {tostring(first)}"
        ping_id = new_id("barrier")
        await b.send(f"<iq type='get' id='{ping_id}'><ping xmlns='{NS_PING}'/></iq>")
        got = []
        while True:
            el = await b.read_stanza()
            if el.get("id") == ping_id:
                break
            got.append(el)
        assert [e.get("id") for e in got] == [msg_id, iq_id], \
            f"round {round}: before the pong: {[tostring(e) for e in got]}"
        assert all(e.get("from") == a.jid for e in got), [tostring(e) for e in got]
        await b.send(f"<iq type='result' id='{iq_id}' to='{a.jid}'/>")
        answer = await a.wait_stanza(lambda e: e.get("id") == iq_id)
        assert answer.get("type") == "result" and answer.get("from") == to, tostring(answer)
        await b.close_stream()
    await a.close_stream()


# ---------------------------------------------------------------------------
# Addressing

async def test_from_is_stamped(server):
    alice = server.account("alice")
    bob = server.account("bob")
    a = await login(server, alice, resource="a")
    b = await login(server, bob, resource="b", presence=True)
    await a.send(f"<message from='victim@localhost/x' to='{b.jid}' id='forged' type='chat'>"
                 "<body>trust me</body></message>")
    await a.send(f"<message to='{b.jid}' id='plain' type='chat'><body>hello</body></message>")
    await a.send(f"<message from='{alice.jid}' to='{b.jid}' id='bare-from' type='chat'>"
                 "<body>hi</body></message>")
    for id in ("forged", "plain", "bare-from"):
        msg = await b.wait_stanza(lambda e: is_message(e, id))
        assert msg.get("from") == a.jid, f"from not stamped as {a.jid}: {tostring(msg)}"
    assert "victim@localhost" not in b.text, b.text
    await a.close_stream()
    await b.close_stream()


async def test_invalid_to_jid_malformed(server):
    account = server.account()
    c = await login(server, account)
    for bad in ("@localhost", "user@", "localhost/", "a@b@localhost", "x" * 1100 + "@localhost"):
        id = new_id("bad")
        await c.send(f"<message to='{bad}' id='{id}' type='chat'><body>x</body></message>")
        err = await c.wait_stanza(lambda e: is_message(e, id))
        assert stanza_error(err) == ("modify", "jid-malformed"), f"to={bad!r}: {tostring(err)}"
        res = await c.iq("<query xmlns='jabber:iq:version'/>", to=bad, raise_error=False)
        assert stanza_error(res) == ("modify", "jid-malformed"), f"iq to={bad!r}: {tostring(res)}"
    await c.check_open()
    await c.close_stream()


# ---------------------------------------------------------------------------
# iqs the server answers

async def test_ping_server(server):
    account = server.account()
    c = await login(server, account)
    for to in (None, "localhost"):
        res = await c.iq("<ping xmlns='urn:xmpp:ping'/>", to=to)
        assert res.get("type") == "result", tostring(res)
        if to:
            assert res.get("from") == to, f"reply should come from {to}: {tostring(res)}"
    await c.close_stream()


async def test_disco_info(server):
    account = server.account()
    c = await login(server, account)
    # An iq with no 'to' is about the sender's own account (RFC 6120
    # 10.3.3): the account identity, not the server's.
    res = await c.iq(f"<query xmlns='{NS_DISCO_INFO}'/>")
    ids = [(i.get("category"), i.get("type"))
           for i in res.find(q("query", NS_DISCO_INFO)).findall(q("identity", NS_DISCO_INFO))]
    assert ids == [("account", "registered")], f"identities {ids}"
    for to in ("localhost",):
        res = await c.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=to)
        query = res.find(q("query", NS_DISCO_INFO))
        assert query is not None, tostring(res)
        ids = [(i.get("category"), i.get("type"), i.get("name"))
               for i in query.findall(q("identity", NS_DISCO_INFO))]
        assert ("server", "im", "Canto") in ids, f"identities {ids}"
        features = {f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))}
        for var in (NS_DISCO_INFO, NS_DISCO_ITEMS, "urn:xmpp:ping", NS_VERSION, NS_TIME,
                    "msgoffline"):
            assert var in features, f"feature {var} missing from {sorted(features)}"
    await c.close_stream()


async def test_account_disco_info_lists_what_modules_declare(server):
    """An account's bare JID answers disco#info with the features the
    modules declare for accounts (vCard and last activity are answered on
    the account's behalf), asked by the owner or by anyone else; server-only
    features (ping, version) are not among them."""
    alice, bob = server.account("alice"), server.account("bob")
    a = await login(server, alice)
    b = await login(server, bob)
    for c, to in ((a, None), (a, alice.jid), (b, alice.jid)):
        res = await c.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to=to)
        query = res.find(q("query", NS_DISCO_INFO))
        assert query is not None, tostring(res)
        ids = [(i.get("category"), i.get("type"))
               for i in query.findall(q("identity", NS_DISCO_INFO))]
        assert ids == [("account", "registered")], f"identities {ids}"
        features = sorted(f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO)))
        assert features == sorted([NS_DISCO_INFO, NS_DISCO_ITEMS, "jabber:iq:last",
                                   "vcard-temp"]), features
    await a.close_stream()
    await b.close_stream()


async def test_disco_items(server):
    account = server.account()
    c = await login(server, account)
    res = await c.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to="localhost")
    assert res.get("type") == "result", tostring(res)
    assert res.find(q("query", NS_DISCO_ITEMS)) is not None, tostring(res)
    await c.close_stream()


async def test_version(server):
    account = server.account()
    c = await login(server, account)
    res = await c.iq(f"<query xmlns='{NS_VERSION}'/>", to="localhost")
    query = res.find(q("query", NS_VERSION))
    assert query is not None, tostring(res)
    assert query.findtext(q("name", NS_VERSION)) == "Canto", tostring(res)
    assert (query.findtext(q("version", NS_VERSION)) or "").strip(), tostring(res)
    assert (query.findtext(q("os", NS_VERSION)) or "").strip(), tostring(res)
    await c.close_stream()


async def test_time(server):
    account = server.account()
    c = await login(server, account)
    res = await c.iq(f"<time xmlns='{NS_TIME}'/>", to="localhost")
    t = res.find(q("time", NS_TIME))
    assert t is not None, tostring(res)
    tzo = t.findtext(q("tzo", NS_TIME)) or ""
    utc = t.findtext(q("utc", NS_TIME)) or ""
    assert re.fullmatch(r"[+-]\d\d:\d\d|Z", tzo), f"tzo {tzo!r}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", utc), f"utc {utc!r}"
    await c.close_stream()


async def test_unknown_iq_service_unavailable(server):
    account = server.account()
    c = await login(server, account)
    for type in ("get", "set"):
        for to in (None, "localhost"):
            res = await c.iq("<query xmlns='urn:example:canto:unknown'/>", type=type, to=to,
                             raise_error=False)
            assert stanza_error(res) == ("cancel", "service-unavailable"), \
                f"{type} to={to}: {tostring(res)}"
    await c.check_open()
    await c.close_stream()


# ---------------------------------------------------------------------------
# Routing errors

async def test_message_to_unknown_local_user(server):
    account = server.account()
    c = await login(server, account)
    await c.send("<message to='nosuchuser-canto@localhost' id='nouser' type='chat'>"
                 "<body>anyone?</body></message>")
    err = await c.wait_stanza(lambda e: is_message(e, "nouser"))
    assert stanza_error(err)[1] == "service-unavailable", tostring(err)
    assert err.get("from") == "nosuchuser-canto@localhost", tostring(err)
    await c.close_stream()


async def test_message_to_unknown_domain(server):
    account = server.account()
    c = await login(server, account)
    await c.send("<message to='someone@nowhere.invalid' id='nodomain' type='chat'>"
                 "<body>hello?</body></message>")
    err = await c.wait_stanza(lambda e: is_message(e, "nodomain"), timeout=45)
    assert stanza_error(err)[1] == "remote-server-not-found", tostring(err)
    await c.close_stream()


async def test_iq_to_bare_jid_of_user(server):
    """An iq to a user's bare JID (or an offline full JID) is answered by
    the server with service-unavailable."""
    account = server.account()
    peer = server.account("peer")
    c = await login(server, account)
    p = await login(server, peer, resource="here")
    for to in (peer.jid, f"{peer.jid}/elsewhere"):
        res = await c.iq("<query xmlns='urn:example:canto:private'/>", to=to, raise_error=False)
        assert stanza_error(res)[1] == "service-unavailable", f"to={to}: {tostring(res)}"
    # And to the online full JID it is delivered.
    id = new_id("fwd")
    await c.send(f"<iq type='get' id='{id}' to='{p.jid}'><query xmlns='urn:example:canto:private'/></iq>")
    got = await p.wait_stanza(lambda e: e.get("id") == id)
    assert got.get("from") == c.jid, tostring(got)
    await c.close_stream()
    await p.close_stream()


if __name__ == "__main__":
    harness.main(globals())
