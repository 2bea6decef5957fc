"""Offline messages (XEP-0160) seen from real clients (slixmpp).

Alice writes to Bob while Bob is away; Bob logs in later and finds the
messages, in order, each with a urn:xmpp:delay stamp from the server.
Headlines are not kept; a full mailbox bounces; and a message the server
acknowledged (the ping after it came back) survives kill -9. Two resources
coming online together get each message once between them, and messages
whose connection dropped before they were written are kept for the next
login.
"""

import asyncio
import datetime
import re
import select
import socket
import uuid

import harness
import rawxmpp
from clients import close_all, delay_of, error_condition, login, xml_of
from rawxmpp import NS_CLIENT, NS_PING, q, tostring

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _uid():
    return uuid.uuid4().hex[:8]


def _check_delay(msg, host, not_before, not_after):
    d = delay_of(msg)
    assert d is not None, f"no urn:xmpp:delay: {xml_of(msg)}"
    assert d.get("from") == host, f"delay from={d.get('from')!r}: {xml_of(msg)}"
    stamp = d.get("stamp") or ""
    assert STAMP.match(stamp), f"stamp {stamp!r} is not YYYY-MM-DDThh:mm:ss.sssZ"
    when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    # The stamp says when the server stored it: between the send and the
    # login (with a second of slack for rounding), on the same clock.
    assert not_before - datetime.timedelta(seconds=1) <= when, (stamp, not_before)
    assert when <= not_after + datetime.timedelta(seconds=1), (stamp, not_after)
    return when


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


async def test_offline_messages_delivered_in_order_with_delay(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = None
    try:
        t0 = _now()
        sent = []
        for i in range(5):
            body = f"offline {i} {_uid()}"
            mtype = "normal" if i == 2 else "chat"
            ca.send_message(mto=b.jid, mbody=body, mtype=mtype)
            sent.append((body, mtype))
        await ca.sync()                 # all five are stored now
        t1 = _now()
        cb = await login(server, b, resource="phone")
        got = [await cb.next_message() for _ in sent]
        assert [m["body"] for m in got] == [s[0] for s in sent], \
            [m["body"] for m in got]
        last = None
        for msg, (body, mtype) in zip(got, sent):
            assert msg["from"].full == ca.boundjid.full, xml_of(msg)
            assert (msg["type"] or "normal") == mtype, xml_of(msg)
            when = _check_delay(msg, server.host, t0, t1)
            assert last is None or when >= last, "stamps go backwards"
            last = when
        # Delivered once: a second login finds nothing.
        await cb.close()
        cb = await login(server, b, resource="tablet")
        await cb.sync()
        left = cb.drain()
        assert left == [], [xml_of(m) for m in left]
    finally:
        await close_all(ca, cb)


async def test_many_offline_messages_all_arrive_in_order(server):
    """More stored messages than the server fetches at once (it reads the
    store in batches): every one arrives, in order, exactly once."""
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = None
    try:
        tag = _uid()
        bodies = [f"batch {tag} {i}" for i in range(137)]
        for body in bodies:
            ca.send_message(mto=b.jid, mbody=body, mtype="chat")
        await ca.sync()
        cb = await login(server, b, resource="phone")
        got = [(await cb.next_message())["body"] for _ in bodies]
        assert got == bodies, got[:5]
        await cb.sync()
        extra = cb.drain()
        assert extra == [], [xml_of(m) for m in extra]
    finally:
        await close_all(ca, cb)


async def test_offline_to_full_jid_of_absent_user(server):
    """A message to bob@host/resource while Bob is away is treated as one to
    his bare JID: it is stored."""
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = None
    try:
        ca.send_message(mto=b.jid + "/phone", mbody="to a resource", mtype="chat")
        await ca.sync()
        cb = await login(server, b, resource="desk")
        msg = await cb.next_message()
        assert msg["body"] == "to a resource", xml_of(msg)
        assert delay_of(msg) is not None, xml_of(msg)
    finally:
        await close_all(ca, cb)


async def test_headline_is_not_stored(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await login(server, a, resource="laptop")
    cb = None
    try:
        ca.send_message(mto=b.jid, mbody="breaking news", mtype="headline")
        ca.send_message(mto=b.jid, mbody="a real message", mtype="chat")
        await ca.sync()
        cb = await login(server, b, resource="phone")
        msg = await cb.next_message()
        assert msg["body"] == "a real message", \
            f"first offline message was {xml_of(msg)}"
        await cb.sync()
        left = cb.drain()
        assert left == [], [xml_of(m) for m in left]
        # And the sender got no error for the headline either.
        await ca.sync()
        errs = ca.drain()
        assert errs == [], [xml_of(m) for m in errs]
    finally:
        await close_all(ca, cb)


async def test_offline_limit_bounces_with_service_unavailable():
    with harness.Server(limits={"offline_messages": 3}) as server:
        a, b = server.account("alice"), server.account("bob")
        ca = await login(server, a, resource="laptop")
        cb = None
        try:
            for i in range(1, 5):
                m = ca.make_message(mto=b.jid, mbody=f"message {i}", mtype="chat")
                m["id"] = f"limit-{i}"
                m.send()
            await ca.sync()
            bounced = ca.drain()
            assert len(bounced) == 1, [xml_of(m) for m in bounced]
            err = bounced[0]
            assert err["type"] == "error", xml_of(err)
            assert error_condition(err) == ("cancel", "service-unavailable"), xml_of(err)
            assert err["from"].bare == b.jid, xml_of(err)
            # The bounce is the fourth message's, not an earlier one's.
            assert err["id"] == "limit-4", xml_of(err)
            assert err["body"] in ("message 4", ""), xml_of(err)
            cb = await login(server, b, resource="phone")
            got = [(await cb.next_message())["body"] for _ in range(3)]
            assert got == ["message 1", "message 2", "message 3"], got
            await cb.sync()
            left = cb.drain()
            assert left == [], [xml_of(m) for m in left]
            # Once read, the mailbox has room again.
            await cb.close()
            cb = None
            ca.send_message(mto=b.jid, mbody="message 5", mtype="chat")
            await ca.sync()
            assert ca.drain() == []
        finally:
            await close_all(ca, cb)


async def test_acknowledged_message_survives_kill9():
    with harness.Server() as server:
        a, b = server.account("alice"), server.account("bob")
        ca = await login(server, a, resource="laptop")
        body = "survive " + _uid()
        try:
            ca.send_message(mto=b.jid, mbody=body, mtype="chat")
            # The pong means the message is on disk.
            await ca.sync()
        finally:
            ca.drop()
        status = server.kill9()
        assert status == -9, status
        server.restart()
        cb = await login(server, b, resource="phone")
        try:
            msg = await cb.next_message()
            assert msg["body"] == body, xml_of(msg)
            assert msg["from"].bare == a.jid, xml_of(msg)
            assert delay_of(msg) is not None, xml_of(msg)
        finally:
            await cb.close()


async def _until_pong(c):
    """Every element c receives up to the answer to a ping it sends now (a
    ping is a barrier: the server answers it after everything before it,
    storage included, is done)."""
    ping_id = rawxmpp.new_id("barrier")
    await c.send(f"<iq type='get' id='{ping_id}'><ping xmlns='{NS_PING}'/></iq>")
    got = []
    while True:
        el = await c.read_stanza()
        if el.get("id") == ping_id:
            return got
        got.append(el)


async def _collect(count, *clients):
    """The bodies of the messages the clients receive until, between them,
    `count` have come, and then until each answers a ping sent at that
    moment (a barrier: whatever more was on its way has arrived)."""
    got = []
    enough = asyncio.Event()
    barrier = {}

    async def read(c):
        while True:
            el = await c.read_stanza(timeout=60)
            if barrier.get(c) is not None and el.get("id") == barrier[c]:
                return
            got.extend(_bodies([el]))
            if len(got) >= count:
                enough.set()
            await asyncio.sleep(0)  # the stanzas may all be read already: let others run

    tasks = [asyncio.create_task(read(c)) for c in clients]
    await asyncio.wait_for(enough.wait(), 60)
    for c in clients:
        barrier[c] = rawxmpp.new_id("barrier")
        await c.send(f"<iq type='get' id='{barrier[c]}'><ping xmlns='{NS_PING}'/></iq>")
    await asyncio.gather(*tasks)
    return got


def _bodies(elements):
    return [e.findtext(q("body", NS_CLIENT)) for e in elements
            if e.tag == q("message", NS_CLIENT)]


async def test_two_resources_online_together_get_each_message_once():
    """Both resources send their initial presence at the same moment: the
    stored messages are delivered once, to one of them, not once to each.
    The messages are big enough that reading them takes the server a while,
    so that the second presence comes while the first delivery is read."""
    count, body_size = 40, 100 * 1024
    limits = {"send_queue": 4 * count * body_size, "c2s_rate": 1024 * 1024 * 1024}
    with harness.Server(limits=limits) as server:
        a, b = server.account("alice"), server.account("bob")
        sender = await rawxmpp.login(server, a, resource="laptop")
        tag = _uid()
        bodies = [f"together {tag} {i} " + "x" * body_size for i in range(count)]
        for body in bodies:
            await sender.send(f"<message to='{b.jid}' type='chat'><body>{body}</body></message>")
        await _until_pong(sender)  # all stored
        phone = await rawxmpp.login(server, b, resource="phone")
        desk = await rawxmpp.login(server, b, resource="desk")
        phone.writer.write(b"<presence/>")
        desk.writer.write(b"<presence/>")
        await asyncio.gather(phone.writer.drain(), desk.writer.drain())
        # Read both until as many messages as were stored have come...
        got = await _collect(count, phone, desk)
        assert sorted(got) == sorted(bodies), \
            f"{len(got)} messages came for {count} stored ({len(set(got))} different)"
        # ...and nothing more comes to either.
        assert _bodies(await _until_pong(phone)) == []
        assert _bodies(await _until_pong(desk)) == []
        for c in (sender, phone, desk):
            await c.close()


def _kernel_buffer_max():
    """The most a socket's send buffer may grow to on this machine."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        return int(f.read().split()[2])


async def test_messages_not_written_before_a_drop_are_kept():
    """The stored messages are deleted only once they were written to the
    client's connection. A client stops reading at login, so the server
    cannot write them all (more than the kernel buffers hold, less than the
    send queue that would cut it off), then its connection drops: the next
    login gets every one of them."""
    # Storage reads the messages in pages that end once they hold 4 MiB, so
    # with 2 MiB messages the first part sent is 3 of them: 6 MiB, more than
    # the kernel buffers between server and client can take.
    body_size, count = 2 * 1024 * 1024, 4
    assert 3 * body_size > _kernel_buffer_max() + 1024 * 1024, \
        "the kernel's buffers are too large for this test"
    limits = {"c2s_max_stanza_size": body_size + 64 * 1024, "send_queue": 64 * body_size,
              "c2s_rate": 1024 * 1024 * 1024}
    with harness.Server(limits=limits) as server:
        a, b = server.account("alice"), server.account("bob")
        sender = await rawxmpp.login(server, a, resource="laptop")
        # Another resource of Bob's, available but with a negative priority:
        # messages are stored meanwhile, and it sees the other one leave.
        watcher = await rawxmpp.login(server, b, resource="watcher")
        await watcher.send("<presence><priority>-1</priority></presence>")
        await _until_pong(watcher)
        tag = _uid()
        bodies = [f"{tag} {i} " + "x" * body_size for i in range(count)]
        for body in bodies:
            await sender.send(f"<message to='{b.jid}' type='chat'><body>{body}</body></message>")
        await _until_pong(sender)  # all stored

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.ports["optional"]))
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        dropper = rawxmpp.Client(reader, writer, "localhost")
        await dropper.login(b.user, b.password, resource="dropper", starttls=False)
        await dropper.send("<presence/>")
        # Its own presence comes back first; then stop reading and wait
        # until the server has begun to write the stored messages.
        await dropper.wait_stanza(lambda e: e.tag == q("presence", NS_CLIENT))
        writer.transport.pause_reading()
        readable = await asyncio.get_running_loop().run_in_executor(
            None, lambda: select.select([sock], [], [], 30)[0])
        assert readable, "the stored messages did not start to come"
        # Drop it (a reset: unread data is waiting), and see it leave.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        writer.transport.abort()
        gone = await watcher.wait_stanza(
            lambda e: e.tag == q("presence", NS_CLIENT) and e.get("type") == "unavailable"
            and e.get("from") == f"{b.jid}/dropper", timeout=30)
        assert gone is not None

        again = await rawxmpp.login(server, b, resource="again")
        await again.send("<presence/>")
        got = await _collect(count, again)
        assert got == bodies, f"not all of them, or not in order: {[g[:12] for g in got]}"
        assert _bodies(await _until_pong(again)) == []
        for c in (sender, watcher, again):
            await c.close()


async def test_a_mailbox_bigger_than_the_send_queue_arrives_whole():
    """Stored messages are sent a part at a time, each part well under the
    send queue and sent once the one before it was written: a full batch of
    large messages (more than the send queue holds) reaches the client
    instead of getting its connection cut off at login."""
    count, body_size, send_queue = 50, 30 * 1024, 512 * 1024
    limits = {"send_queue": send_queue, "c2s_rate": 1024 * 1024 * 1024}
    with harness.Server(limits=limits) as server:
        assert count * body_size > 2 * send_queue
        a, b = server.account("alice"), server.account("bob")
        sender = await rawxmpp.login(server, a, resource="laptop")
        tag = _uid()
        bodies = [f"big {tag} {i} " + "x" * body_size for i in range(count)]
        for body in bodies:
            await sender.send(f"<message to='{b.jid}' type='chat'><body>{body}</body></message>")
        await _until_pong(sender)
        c = await rawxmpp.login(server, b, resource="phone", presence=True)
        got = await _collect(count, c)
        assert got == bodies, f"{len(got)} messages, not in order"
        assert _bodies(await _until_pong(c)) == []
        await c.check_open()
        for cl in (sender, c):
            await cl.close()


if __name__ == "__main__":
    harness.main(globals())
