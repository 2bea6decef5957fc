"""Private XML storage (XEP-0049) and legacy bookmarks (XEP-0048) with real
clients.

Alice keeps client preferences and bookmarks on the server: whatever she
stores under a (namespace, element name) pair comes back exactly, a later
set replaces it, and several elements in one set are stored together or not
at all. Nobody else can read or write her data (forbidden), reserved
namespaces are refused (not-acceptable), and an account's storage has size
limits. slixmpp's bookmarks plugin works on top of it, and everything
survives a restart.
"""

import xml.etree.ElementTree as ET

import harness
from clients import IqError, close_all, error_condition, login, xml_of

NS_PRIVATE = "jabber:iq:private"
NS_BOOKMARKS = "storage:bookmarks"

# The server's limits (src/modules/private.c).
ITEM_MAX_BYTES = 128 * 1024
MAX_ITEMS = 128
TOTAL_MAX_BYTES = 1024 * 1024


async def connect(server, account, resource="desk"):
    client = await login(server, account, resource=resource)
    for p in ("xep_0049", "xep_0048"):
        client.register_plugin(p)
    return client


def query(*elements):
    return f"<query xmlns='{NS_PRIVATE}'>{''.join(elements)}</query>"


async def send_iq(client, payload, type="get", to=None):
    """An iq whose child is exactly `payload` (XML text); the result Iq, or
    IqError."""
    iq = client.Iq(stype=type)
    if to is not None:
        iq["to"] = to
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=15)


async def store(client, *elements, to=None):
    return await send_iq(client, query(*elements), type="set", to=to)


async def fetch(client, element, to=None):
    """The element the server returns for a get of `element` (XML text)."""
    res = await send_iq(client, query(element), to=to)
    q = res.xml.find("{%s}query" % NS_PRIVATE)
    assert q is not None, f"no query in the result: {xml_of(res)}"
    children = list(q)
    assert len(children) == 1, f"one element expected: {xml_of(res)}"
    return children[0]


async def refused(coro):
    """(type, condition, text) of the error an iq must get."""
    try:
        res = await coro
    except IqError as e:
        t = e.iq.xml.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}text")
        return (*error_condition(e.iq), t.text if t is not None else None)
    raise AssertionError(f"expected an error, got {xml_of(res)}")


def canon(el):
    """Comparable form of an element (ElementTree with Clark names)."""
    if isinstance(el, str):
        el = ET.fromstring(el)
    return ET.tostring(el, encoding="unicode")


PREFS = ("<prefs xmlns='x-test:prefs' version='2'>"
         "<theme dark='yes'>Solarized &amp; co</theme>"
         "<greeting xml:lang='fr'>Bonjour à tous ✓</greeting>"
         "<empty/><nested><deeper><deepest>ok</deepest></deeper></nested>"
         "</prefs>")


# ---------------------------------------------------------------------------

async def test_disco_announces_private_storage(server):
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        info = await ca["xep_0030"].get_info(jid=server.host)
        assert NS_PRIVATE in info["disco_info"]["features"], xml_of(info)
    finally:
        await close_all(ca)


async def test_store_and_retrieve(server):
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        await store(ca, PREFS)
        got = await fetch(ca, "<prefs xmlns='x-test:prefs'/>")
        assert canon(got) == canon(PREFS), canon(got)
        # Addressed to her own bare JID, it is the same storage.
        got = await fetch(ca, "<prefs xmlns='x-test:prefs'/>", to=a.jid)
        assert canon(got) == canon(PREFS)
    finally:
        await close_all(ca)


async def test_nothing_stored_returns_the_empty_element(server):
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        got = await fetch(ca, "<prefs xmlns='x-test:never'/>")
        assert canon(got) == canon("<prefs xmlns='x-test:never'/>"), canon(got)
    finally:
        await close_all(ca)


async def test_a_set_replaces_and_names_are_kept_apart(server):
    """One element per (namespace, name): a set replaces it whole; another
    name in the same namespace is another element."""
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        await store(ca, "<prefs xmlns='x-test:p'><a>1</a><b>2</b></prefs>")
        await store(ca, "<other xmlns='x-test:p'>kept</other>")
        await store(ca, "<prefs xmlns='x-test:p'><c>3</c></prefs>")
        assert canon(await fetch(ca, "<prefs xmlns='x-test:p'/>")) == \
            canon("<prefs xmlns='x-test:p'><c>3</c></prefs>")
        assert canon(await fetch(ca, "<other xmlns='x-test:p'/>")) == \
            canon("<other xmlns='x-test:p'>kept</other>")
        # Same name, other namespace: separate too.
        assert canon(await fetch(ca, "<prefs xmlns='x-test:q'/>")) == \
            canon("<prefs xmlns='x-test:q'/>")
    finally:
        await close_all(ca)


async def test_several_elements_in_one_set_all_or_nothing(server):
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        await store(ca, "<one xmlns='x-test:multi'>1</one>",
                    "<two xmlns='x-test:multi'>2</two>")
        assert (await fetch(ca, "<one xmlns='x-test:multi'/>")).text == "1"
        assert (await fetch(ca, "<two xmlns='x-test:multi'/>")).text == "2"
        # One bad element refuses the whole set: 'three' is not stored and
        # 'one' keeps its value.
        err = await refused(store(ca, "<one xmlns='x-test:multi'>changed</one>",
                                  "<three xmlns='x-test:multi'>3</three>",
                                  "<query xmlns='jabber:iq:roster'/>"))
        assert err[:2] == ("modify", "not-acceptable"), err
        assert (await fetch(ca, "<one xmlns='x-test:multi'/>")).text == "1"
        assert len(await fetch(ca, "<three xmlns='x-test:multi'/>")) == 0
        assert (await fetch(ca, "<three xmlns='x-test:multi'/>")).text is None
    finally:
        await close_all(ca)


async def test_pipelined_set_then_get_sees_the_new_data(server):
    """A client that sends a set and a get back to back gets what it just
    stored."""
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        await store(ca, "<p xmlns='x-test:pipe'>old</p>")
        s = send_iq(ca, query("<p xmlns='x-test:pipe'>new</p>"), type="set")
        g = send_iq(ca, query("<p xmlns='x-test:pipe'/>"))
        import asyncio
        _, res = await asyncio.gather(s, g)
        assert res.xml.find(".//{x-test:pipe}p").text == "new", xml_of(res)
    finally:
        await close_all(ca)


async def test_other_users_data_is_forbidden(server):
    a, m = server.account("alice"), server.account("mallory")
    ca = await connect(server, a)
    cm = await connect(server, m, "evil")
    try:
        await store(ca, "<secret xmlns='x-test:s'>mine</secret>")
        err = await refused(fetch(cm, "<secret xmlns='x-test:s'/>", to=a.jid))
        assert err[:2] == ("auth", "forbidden"), err
        err = await refused(store(cm, "<secret xmlns='x-test:s'>yours</secret>", to=a.jid))
        assert err[:2] == ("auth", "forbidden"), err
        # The server's domain is not anyone's storage either.
        err = await refused(fetch(cm, "<secret xmlns='x-test:s'/>", to=server.host))
        assert err[:2] == ("auth", "forbidden"), err
        assert (await fetch(ca, "<secret xmlns='x-test:s'/>")).text == "mine"
        # Mallory's own storage under the same name is hers alone.
        assert (await fetch(cm, "<secret xmlns='x-test:s'/>")).text is None
    finally:
        await close_all(ca, cm)


async def test_reserved_namespaces_are_refused(server):
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        for el in ("<query xmlns='jabber:iq:roster'/>",
                   "<message xmlns='jabber:client'/>",
                   "<x xmlns='jabber:x:data'/>",
                   "<query xmlns='jabber:iq:private'/>",
                   "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                   "<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>",
                   "<bare xmlns=''/>"):
            err = await refused(store(ca, el))
            assert err[:2] == ("modify", "not-acceptable"), (el, err)
            err = await refused(fetch(ca, el))
            assert err[:2] == ("modify", "not-acceptable"), (el, err)
    finally:
        await close_all(ca)


async def test_malformed_requests(server):
    """XEP-0049: a set with nothing to store is not-acceptable; a get must
    name exactly one element (bad-request)."""
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        err = await refused(send_iq(ca, query(), type="set"))
        assert err[:2] == ("modify", "not-acceptable"), err
        err = await refused(send_iq(ca, query()))
        assert err[:2] == ("modify", "bad-request"), err
        err = await refused(send_iq(ca, query("<a xmlns='x-test:a'/>", "<b xmlns='x-test:b'/>")))
        assert err[:2] == ("modify", "bad-request"), err
    finally:
        await close_all(ca)


async def test_size_limits(server):
    """An element over 128 KiB is refused and nothing changes; an account
    holds at most 128 elements and 1 MiB."""
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        await store(ca, "<big xmlns='x-test:size'>small</big>")
        filler = "x" * ITEM_MAX_BYTES
        err = await refused(store(ca, f"<big xmlns='x-test:size'>{filler}</big>"))
        assert err[:2] == ("modify", "not-acceptable") and "128 KiB" in err[2], err
        assert (await fetch(ca, "<big xmlns='x-test:size'/>")).text == "small"

        # Total size: eight more elements of 120 KiB fit, the ninth does not.
        chunk = "y" * (120 * 1024)
        for i in range(8):
            await store(ca, f"<c{i} xmlns='x-test:size'>{chunk}</c{i}>")
        err = await refused(store(ca, f"<c8 xmlns='x-test:size'>{chunk}</c8>"))
        assert err[:2] == ("modify", "not-acceptable") and "1 MiB" in err[2], err
        assert (await fetch(ca, "<c8 xmlns='x-test:size'/>")).text is None
        # Replacing an element with a smaller one always works.
        await store(ca, "<c0 xmlns='x-test:size'>short</c0>")
        assert (await fetch(ca, "<c0 xmlns='x-test:size'/>")).text == "short"
    finally:
        await close_all(ca)


async def test_element_count_limit(server):
    b = server.account("bob")
    cb = await connect(server, b)
    try:
        half = MAX_ITEMS // 2
        await store(cb, *(f"<e{i} xmlns='x-test:n'/>" for i in range(half)))
        await store(cb, *(f"<e{i} xmlns='x-test:n'/>" for i in range(half, MAX_ITEMS)))
        err = await refused(store(cb, "<one-more xmlns='x-test:n'/>"))
        assert err[:2] == ("modify", "not-acceptable"), err
        # Overwriting one of the 128 is still fine.
        await store(cb, "<e0 xmlns='x-test:n'>again</e0>")
        assert (await fetch(cb, "<e0 xmlns='x-test:n'/>")).text == "again"
    finally:
        await close_all(cb)


async def test_bookmarks_round_trip_with_slixmpp(server):
    """slixmpp's XEP-0048 plugin keeps bookmarks in private storage."""
    a = server.account("alice")
    ca = await connect(server, a)
    try:
        Bookmarks = ca["xep_0048"].stanza.Bookmarks
        bm = Bookmarks()
        bm.add_conference("tea@conference.example.org", "alice", name="Tea party",
                          autojoin=True)
        bm.add_conference("chess@conference.example.org", "al", password="s3cret")
        bm.add_url("https://example.org/rabbit-hole", name="Rabbit hole")
        await ca["xep_0048"].set_bookmarks(bm, timeout=15)

        res = await ca["xep_0048"].get_bookmarks(timeout=15)
        got = res["private"]["bookmarks"]
        confs = {str(c["jid"]): c for c in got["conferences"]}
        assert set(confs) == {"tea@conference.example.org",
                              "chess@conference.example.org"}, xml_of(res)
        assert confs["tea@conference.example.org"]["autojoin"] is True
        assert confs["tea@conference.example.org"]["name"] == "Tea party"
        assert confs["chess@conference.example.org"]["password"] == "s3cret"
        assert confs["chess@conference.example.org"]["nick"] == "al"
        assert [u["url"] for u in got["urls"]] == ["https://example.org/rabbit-hole"]
    finally:
        await close_all(ca)


async def test_private_data_survives_a_restart(server):
    a = server.account("alice")
    ca = await connect(server, a)
    await store(ca, PREFS, f"<storage xmlns='{NS_BOOKMARKS}'>"
                "<conference jid='x@conference.example.org' autojoin='true'>"
                "<nick>al</nick></conference></storage>")
    await ca.close()
    server.restart()
    ca = await connect(server, a)
    try:
        assert canon(await fetch(ca, "<prefs xmlns='x-test:prefs'/>")) == canon(PREFS)
        bm = await fetch(ca, f"<storage xmlns='{NS_BOOKMARKS}'/>")
        conf = bm.find("{%s}conference" % NS_BOOKMARKS)
        assert conf is not None and conf.get("jid") == "x@conference.example.org"
    finally:
        await close_all(ca)


if __name__ == "__main__":
    # Sets of several hundred KiB: lift the read rate limit so that they
    # take milliseconds, not seconds.
    harness.main(globals(), limits={"c2s_rate": 8 * 1024 * 1024})
