"""Offline messages (XEP-0160) seen from real clients (slixmpp).

Alice writes to Bob while Bob is away; Bob logs in later and finds the
messages, in order, each with a urn:xmpp:delay stamp from the server.
Headlines are not kept; a full mailbox bounces; and a message the server
acknowledged (the ping after it came back) survives kill -9.
"""

import datetime
import re
import uuid

import harness
from clients import close_all, delay_of, error_condition, login, xml_of

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


if __name__ == "__main__":
    harness.main(globals())
