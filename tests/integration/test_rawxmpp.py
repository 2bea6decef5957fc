"""The raw test client itself (rawxmpp.py): where it says a stanza ends.

Every wire test trusts rawxmpp to hand out each top-level element once and in
order, and read_until() to see the text after the last element consumed. So
these tests feed it known bytes from a small loopback peer (no cantod: the
subject is the client) in one write and in one-byte writes, and check both
views after self-closing elements, which expat reports differently from
elements with an end tag.
"""

import asyncio
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from rawxmpp import NS_CLIENT, Client, q, tostring  # noqa: E402

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' id='s1' version='1.0'>")

# Self-closing stanzas before, between and after others, one of them with a
# '/>' inside an attribute value.
STANZAS = ["<iq type='result' id='a'/>",
           "<iq type='result' id='b'/>",
           "<message id='c'><body>x</body></message>",
           "<iq type='result' id='d' note='1/>2'/>",
           "<presence id='e'></presence>",
           "<iq type='result' id='f'/>"]


async def _peer(chunks):
    """A loopback server that writes `chunks` to whoever connects, one
    write each, then keeps the connection open. Returns (server, port)."""
    async def serve(reader, writer):
        for chunk in chunks:
            writer.write(chunk.encode())
            await writer.drain()
        await reader.read()         # until the client goes
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


def _one_write():
    return [HEADER + "".join(STANZAS)]


def _byte_by_byte():
    return list(HEADER + "".join(STANZAS))


async def _client_for(chunks):
    srv, port = await _peer(chunks)
    c = await Client.connect(port)
    await c.read_until(r"<stream:stream[^>]*>")
    return srv, c


async def test_read_stanza_returns_each_element_once_in_order():
    for name, chunks in (("one write", _one_write()), ("byte by byte", _byte_by_byte())):
        srv, c = await _client_for(chunks)
        try:
            ids = [(await c.read_stanza()).get("id") for _ in STANZAS]
            assert ids == list("abcdef"), f"{name}: {ids}"
        finally:
            await c.close()
            srv.close()


async def test_two_self_closing_stanzas_ending_what_arrived():
    """Nothing after them yet: the second one must not be taken for read
    with the first."""
    srv, c = await _client_for([HEADER + STANZAS[0] + STANZAS[1]])
    try:
        ids = [(await c.read_stanza(timeout=5)).get("id") for _ in range(2)]
        assert ids == ["a", "b"], ids
    finally:
        await c.close()
        srv.close()


async def _next_text_is(c, text):
    """read_until() finds `text` right at the read position."""
    start = c.pos
    m = await c.read_until(re.escape(text), timeout=5)
    assert m.start() == start, f"skipped {c.text[start:m.start()]!r} before {text!r}"


async def test_read_until_sees_what_follows_a_self_closing_stanza():
    """After read_stanza() of <iq/>, the unread text starts right after it:
    the next start tag is still there for read_until()."""
    for name, chunks in (("one write", _one_write()), ("byte by byte", _byte_by_byte())):
        srv, c = await _client_for(chunks)
        try:
            el = await c.read_stanza()
            assert el.get("id") == "a", f"{name}: {tostring(el)}"
            await _next_text_is(c, STANZAS[1])
            el = await c.read_stanza()
            assert el.get("id") == "c", f"{name}: {tostring(el)}"
            el = await c.read_stanza()
            assert el.get("id") == "d", f"{name}: {tostring(el)}"
            await _next_text_is(c, STANZAS[4])
            el = await c.read_stanza()
            assert el.get("id") == "f", f"{name}: {tostring(el)}"
            assert c.unread() == "", f"{name}: unread {c.unread()!r}"
        finally:
            await c.close()
            srv.close()


async def test_wait_stanza_out_of_order_keeps_the_others():
    srv, c = await _client_for(_one_write())
    try:
        el = await c.wait_stanza(lambda e: e.tag == q("message", NS_CLIENT))
        assert el.get("id") == "c", tostring(el)
        ids = [(await c.read_stanza()).get("id") for _ in range(5)]
        assert ids == list("abdef"), ids
    finally:
        await c.close()
        srv.close()


if __name__ == "__main__":
    harness.main(globals())
