"""Hostile and careless input: cantod must turn bad XML, oversized or
over-deep stanzas, slow readers and silent clients into the stream errors
the spec names, and keep serving everyone else.

After every abuse, `assert_serves` logs a fresh, well-behaved client in and
pings the server. Tests that need other limits start their own Server.

The shared server reads each client at up to 64 MiB/s rather than the
default 64 kB/s (limits.c2s_rate), so that the tests that send megabytes
are not paced by it; test_fast_sender_throttled_not_cut tests the rate.
Timeouts are tested with the shortest the configuration allows, and a
client is closed once the server has closed its stream (a server waits a
few seconds for a peer that never closes before it can stop).
"""

import asyncio
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import (NS_CLIENT, Client, WaitTimeout, assert_serves, login, new_id,  # noqa: E402
                     q, tostring)


def is_message(el, id=None):
    return el.tag == q("message", NS_CLIENT) and (id is None or el.get("id") == id)


async def pre_auth(server):
    """A plaintext stream on the optional listener, features read."""
    c = await Client.connect(server.ports["optional"])
    await c.open_stream()
    return c


async def to_self(c, body, id=None, extra=""):
    """Send a chat message to our own full JID and return what arrives."""
    id = id or new_id("self")
    await c.send(f"<message to='{c.jid}' id='{id}' type='chat'>{extra}<body>{body}</body></message>")
    return await c.wait_stanza(lambda e: is_message(e, id))


# ---------------------------------------------------------------------------
# Malformed and restricted XML

async def test_not_well_formed(server):
    for bad in ("<message><body>x</bod></message>",
                "<iq type='get' id='a'><<</iq>",
                "<message type='chat' type='chat'/>",          # duplicate attribute
                "<message>\xff\xfe</message>".encode("latin-1"),  # not UTF-8
                "<x:message xmlns='jabber:client'/>"):          # unbound prefix
        c = await pre_auth(server)
        await c.send(bad)
        await c.expect_stream_error("not-well-formed")
    await assert_serves(server)


async def test_not_well_formed_authenticated(server):
    account = server.account()
    c = await login(server, account)
    await c.send("<message to='x@localhost'><body>&undefined;</body></message>")
    await c.expect_stream_error("not-well-formed")
    await assert_serves(server)


BILLION_LAUGHS = (
    "<?xml version='1.0'?>"
    "<!DOCTYPE lolz ["
    "<!ENTITY lol 'lol'>"
    + "".join(f"<!ENTITY lol{i} '{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}'>"
              for i in range(1, 10))
    + "]>"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    " to='localhost' version='1.0'>"
    "<message to='x@localhost'><body>&lol9;</body></message>")


async def test_billion_laughs(server):
    c = await Client.connect(server.ports["optional"])
    await c.send(BILLION_LAUGHS)
    await c.expect_stream_error("restricted-xml")
    await assert_serves(server)
    # Also on an authenticated stream, where a DOCTYPE cannot even appear
    # legally: an internal subset must never be expanded.
    account = server.account()
    c = await login(server, account)
    await c.send("<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'>]><message><body>&a;</body></message>")
    await c.expect_stream_error(("restricted-xml", "not-well-formed"))
    await assert_serves(server)


async def test_entity_declaration_in_stream(server):
    c = await Client.connect(server.ports["optional"])
    await c.send("<?xml version='1.0'?><!DOCTYPE stream:stream SYSTEM 'file:///etc/passwd'>"
                 + c.header(decl=False))
    await c.expect_stream_error("restricted-xml")
    assert "root:" not in c.text, c.text
    await assert_serves(server)


async def test_processing_instruction(server):
    for where in ("top", "in-stanza"):
        c = await pre_auth(server)
        if where == "top":
            await c.send("<?canto please?>")
        else:
            await c.send("<message to='x@localhost'><?canto please?></message>")
        await c.expect_stream_error("restricted-xml")
    account = server.account()
    c = await login(server, account)
    await c.send(f"<message to='{c.jid}'><body>a</body><?php system('id'); ?></message>")
    await c.expect_stream_error("restricted-xml")
    await assert_serves(server)


async def test_comment(server):
    for payload in ("<!-- hello -->", "<message to='x@localhost'><!-- hi --><body/></message>"):
        c = await pre_auth(server)
        await c.send(payload)
        await c.expect_stream_error("restricted-xml")
    account = server.account()
    c = await login(server, account)
    await c.send(f"<message to='{c.jid}'><body>a<!-- hidden --></body></message>")
    await c.expect_stream_error("restricted-xml")
    await assert_serves(server)


# ---------------------------------------------------------------------------
# Size, depth and attribute limits

async def test_stanza_over_size_limit():
    with harness.Server(limits={"c2s_max_stanza_size": 10000}) as server:
        account = server.account()
        c = await login(server, account)
        # Well under the limit: delivered untouched.
        body = "a" * 5000
        msg = await to_self(c, body)
        assert msg.findtext(q("body", NS_CLIENT)) == body, "5000-byte body altered"
        # Over it, in one write and in many.
        await c.send(f"<message to='{c.jid}' type='chat'><body>{'b' * 20000}</body></message>")
        await c.expect_stream_error("policy-violation")
        await c.close()
        c = await login(server, account)
        await c.send(f"<message to='{c.jid}' type='chat'><body>")
        try:
            for _ in range(40):
                await c.send("c" * 500)
        except (ConnectionError, OSError):
            pass                     # closed while we wrote: fine
        await c.expect_stream_error("policy-violation", timeout=20)
        await c.close()
        # Before authentication, too (the limit does not wait for SASL).
        c = await pre_auth(server)
        await c.send("<message><body>" + "d" * 20000 + "</body></message>")
        await c.expect_stream_error(("policy-violation", "not-authorized"))
        await c.close()
        await assert_serves(server)
        assert server.alive()


async def test_stanza_never_ending_text(server):
    """One huge text node with the default limit (256 KiB): cut off, not
    buffered forever."""
    account = server.account()
    c = await login(server, account)
    await c.send(f"<message to='{c.jid}' type='chat'><body>")
    chunk = "e" * 65536
    try:
        for _ in range(64):          # 4 MiB, far beyond the limit
            await c.send(chunk)
    except (ConnectionError, OSError):
        pass                         # the server may close while we write
    await c.expect_stream_error("policy-violation", timeout=20)
    await assert_serves(server)


async def test_deep_nesting(server):
    account = server.account()
    c = await login(server, account)
    shallow = "<x xmlns='urn:example:deep'>" * 10 + "</x>" * 10
    msg = await to_self(c, "shallow", extra=shallow)
    assert msg.find("{urn:example:deep}x") is not None, tostring(msg)
    await c.send(f"<message to='{c.jid}'>" + "<x xmlns='urn:example:deep'>" * 200)
    await c.expect_stream_error("policy-violation")
    # Before authentication too.
    c = await pre_auth(server)
    await c.send("<a>" * 1000)
    await c.expect_stream_error("policy-violation")
    await assert_serves(server)


async def test_too_many_attributes(server):
    account = server.account()
    c = await login(server, account)
    few = "<x xmlns='urn:example:attrs' " + " ".join(f"a{i}='{i}'" for i in range(5)) + "/>"
    msg = await to_self(c, "few", extra=few)
    x = msg.find("{urn:example:attrs}x")
    assert x is not None and x.get("a4") == "4", tostring(msg)
    many = "<x xmlns='urn:example:attrs' " + " ".join(f"a{i}='{i}'" for i in range(500)) + "/>"
    await c.send(f"<message to='{c.jid}'>{many}</message>")
    await c.expect_stream_error("policy-violation")
    await assert_serves(server)


# ---------------------------------------------------------------------------
# Framing: a stanza in many writes, many stanzas in one write

def no_delay(c):
    sock = c.writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def test_stanza_split_byte_by_byte(server):
    account = server.account()
    c = await Client.connect(server.ports["optional"])
    no_delay(c)
    # The stream header itself, one byte per write.
    c.pos = len(c.text)
    for byte in c.header().encode():
        await c.send(bytes([byte]))
        await asyncio.sleep(0)
    el = await c.read_stanza()
    assert el.tag.endswith("}features"), tostring(el)
    await c.close()

    c = await login(server, account, resource="bytes")
    no_delay(c)
    body = "h\u00e9llo \u20ac \U0001f600 <&>"   # multi-byte UTF-8 split too
    escaped = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    stanza = f"<message to='{c.jid}' id='split' type='chat'><body>{escaped}</body></message>"
    for byte in stanza.encode():
        await c.send(bytes([byte]))
        await asyncio.sleep(0.001)
    msg = await c.wait_stanza(lambda e: is_message(e, "split"))
    assert msg.findtext(q("body", NS_CLIENT)) == body, tostring(msg)
    # And a larger stanza in uneven chunks.
    big = "z" * 30000
    stanza = f"<message to='{c.jid}' id='chunks' type='chat'><body>{big}</body></message>".encode()
    i, step = 0, 1
    while i < len(stanza):
        await c.send(stanza[i:i + step])
        i += step
        step = step * 3 % 4099 + 1
    msg = await c.wait_stanza(lambda e: is_message(e, "chunks"))
    assert msg.findtext(q("body", NS_CLIENT)) == big
    await c.close_stream()


async def test_many_stanzas_one_write(server):
    account = server.account()
    c = await login(server, account, resource="batch")
    ids = [f"m{i}" for i in range(100)]
    batch = "".join(f"<message to='{c.jid}' id='{i}' type='chat'><body>{i}</body></message>"
                    for i in ids)
    await c.send(batch + "<iq type='get' id='batch-ping'><ping xmlns='urn:xmpp:ping'/></iq>")
    got = []
    while len(got) < len(ids):
        el = await c.wait_stanza(lambda e: is_message(e))
        got.append(el.get("id"))
    assert got == ids, f"out of order or lost: {got}"
    pong = await c.wait_stanza(lambda e: e.get("id") == "batch-ping")
    assert pong.get("type") == "result", tostring(pong)
    # Whole login in one write after TLS: auth is not pipelined, but the
    # stream restart and bind are (RFC 6120 allows sending them together).
    await c.close_stream()


async def test_large_stanza_delivered_on_each_listener(server):
    """Stanzas larger than one TLS record (16 KiB) and than a socket buffer
    arrive whole, without any further traffic to push them out."""
    account = server.account()
    for listener in ("optional", "required", "direct"):
        c = await Client.connect(server.ports[listener], direct_tls=(listener == "direct"))
        await c.login(account.user, account.password, resource=f"large-{listener}",
                      starttls=(listener != "optional"))
        for size in (16000, 17000, 40000, 200000):
            body = "L" * size
            msg = await to_self(c, body)
            assert msg.findtext(q("body", NS_CLIENT)) == body, f"{listener}: {size} bytes altered"
        await c.close_stream()


# ---------------------------------------------------------------------------
# A reader that never reads

async def connect_small_rcvbuf(port):
    """A TCP connection whose receive buffer is tiny, so a client that never
    reads backs up into the server quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    return Client(reader, writer, "localhost")


async def test_slow_reader_disconnected():
    # send_queue may not be below c2s_max_stanza_size (a config rule).
    limits = {"send_queue": 65536, "c2s_max_stanza_size": 65536, "c2s_rate": 1 << 30}
    with harness.Server(limits=limits) as server:
        lazy_account = server.account("lazy")
        flood_account = server.account("flood")
        lazy = await connect_small_rcvbuf(server.ports["optional"])
        # No TLS on the optional listener: the test is about queues, and it
        # keeps the lazy side's buffers small and simple.
        await lazy.open_stream()
        await lazy.auth_scram(lazy_account.user, lazy_account.password)
        await lazy.open_stream()
        lazy_jid = await lazy.bind("lazy")
        await lazy.send("<presence/>")

        flood = await login(server, flood_account, resource="flood")
        # headline: dropped once the lazy session is gone, so no bounces
        # come back to the flooder.
        one = (f"<message to='{lazy_jid}' type='headline'><body>" + "f" * 1000
               + "</body></message>").encode()
        chunk = one * 1000                     # ~1 MB per write
        for _ in range(16):
            await flood.send(chunk)
        res = await flood.ping()               # everything above was processed
        assert res.get("type") == "result", tostring(res)

        # The lazy client finally reads: what was buffered, then EOF.
        await lazy.expect_closed(timeout=30)
        await lazy.close()
        received = lazy.text.count("<message")
        assert received < 16000, f"lazy client got all {received} messages: not disconnected"

        # The flooder and the server are fine.
        res = await flood.ping()
        assert res.get("type") == "result", tostring(res)
        await flood.check_open()
        await assert_serves(server)
        await flood.close_stream()
        assert server.alive()


async def test_fast_sender_throttled_not_cut():
    """A client that sends faster than c2s_rate is slowed down (the server
    stops reading it), not disconnected; everyone else is served meanwhile."""
    # 16 kB/s: the flood comes over TLS, whose records (up to 16 kB) are
    # read in full before any ping in them is answered, so a slower rate
    # would make answers come only every few seconds.
    with harness.Server(limits={"c2s_rate": 16384}) as server:
        flood = await login(server, server.account("fast"))
        n = 15000  # ~840 kB of pings: about 50 s of a 16 kB/s budget
        await flood.send("".join(f"<iq type='get' id='p{i}'><ping xmlns='urn:xmpp:ping'/></iq>"
                                 for i in range(n)))
        # Another client logs in and is answered while the flood is pending.
        await assert_serves(server)
        try:
            await flood.read_until(f"id=.p{n - 1}.", timeout=1)
            all_answered = True
        except WaitTimeout:
            all_answered = False
        assert not all_answered, "every ping answered at once: the sender was not throttled"
        # Slowed, not cut: the stream stays open and more answers keep coming.
        answered = len(re.findall(r"id=.p(\d+).", flood.text))
        await flood.read_until(f"id=.p{answered + 5}.", timeout=30)
        await flood.check_open()
        assert server.alive()
        # Drop the flood (a reset: the unsent pings would hold a polite
        # close open), so that the server can stop at once.
        flood.writer.transport.abort()


# ---------------------------------------------------------------------------
# Timeouts

# The shortest deadlines the configuration accepts are used, so that the
# waits are short: CONNECT_TIMEOUT still leaves a login (a few hundred ms on
# a loaded machine) several times the time it needs.
CONNECT_TIMEOUT = 1   # s, limits.connect_timeout
IDLE_TIMEOUT = 2      # s, limits.idle_timeout


async def test_connect_timeout():
    with harness.Server(limits={"connect_timeout": CONNECT_TIMEOUT}) as server:
        # Silent after the header.
        c = await pre_auth(server)
        await c.expect_stream_error("connection-timeout", timeout=30)
        await c.close()
        # Never even sends a header: closed too (with or without a header
        # and an error, the connection must not stay open).
        c = await Client.connect(server.ports["optional"])
        await c.expect_closed(timeout=30)
        await c.close()
        # Busy but never authenticating: whitespace keep-alives reset the
        # idle timer, not the deadline for authentication. Keep talking for
        # up to ten times the deadline: the error must come meanwhile.
        c = await pre_auth(server)
        loop = asyncio.get_running_loop()
        end = loop.time() + 10 * CONNECT_TIMEOUT
        while loop.time() < end and not c.eof and "<stream:error" not in c.unread():
            try:
                await c.send(" ")
            except (ConnectionError, OSError):
                break
            try:
                await c._fill(CONNECT_TIMEOUT / 10)
            except asyncio.TimeoutError:
                pass
        assert c.eof or "<stream:error" in c.unread(), \
            f"whitespace kept an unauthenticated stream open for {10 * CONNECT_TIMEOUT} s " \
            f"(connect_timeout {CONNECT_TIMEOUT})"
        await c.expect_stream_error("connection-timeout", timeout=10)
        await c.close()
        # Authenticated sessions are not affected by connect_timeout: one
        # stays open well past the deadline.
        account = server.account()
        c = await login(server, account)
        await asyncio.sleep(2 * CONNECT_TIMEOUT)
        res = await c.ping()
        assert res.get("type") == "result", tostring(res)
        await c.close_stream()
        await assert_serves(server)



async def test_idle_timeout():
    """Silent for idle_timeout: connection-timeout. Whitespace keep-alives
    reset the idle timer."""
    with harness.Server(limits={"idle_timeout": IDLE_TIMEOUT}) as server:
        silent = await login(server, server.account("silent"))
        talker = await login(server, server.account("talker"))
        loop = asyncio.get_running_loop()
        end = loop.time() + 2.5 * IDLE_TIMEOUT
        while loop.time() < end:
            await talker.send(" ")
            await asyncio.sleep(IDLE_TIMEOUT / 8)
        await talker.check_open()
        res = await talker.ping()
        assert res.get("type") == "result", tostring(res)
        # The silent one was cut meanwhile (or is about to be).
        await silent.expect_stream_error("connection-timeout", timeout=30)
        await silent.close()
        await talker.close_stream()
        await assert_serves(server)



if __name__ == "__main__":
    harness.main(globals(), limits={"c2s_rate": 64 << 20})
