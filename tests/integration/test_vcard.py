"""vCards (XEP-0054) and vCard-based avatars (XEP-0153) with real clients.

Alice publishes her vCard with a photo from slixmpp's xep_0054 plugin; Bob
reads it at her bare JID (the server answers for her). From then on every
available presence Alice's sessions send carries
<x xmlns='vcard-temp:x:update'><photo>SHA-1 of the image</photo></x>, added
by the server when her client does not (XEP-0398 section 5), including her
very first presence after a login and directed presence. The presence is
observed by Alice's own other resource (which gets her broadcasts), by Bob
through directed presence, and by Bob as her contact (presence
subscription).

Refusals: a vCard over the size limit (not-acceptable, nothing changes), a
set on someone else's vCard (forbidden). Everything survives a restart.
"""

import asyncio
import base64
import hashlib
import os
import xml.etree.ElementTree as ET

import harness
from clients import (IqError, close_all, error_condition, login, login_im,
                     subscribe_and_approve, wait_presence, xml_of)

NS_VCARD = "vcard-temp"
NS_UPDATE = "vcard-temp:x:update"

# The server's limit on a serialized vCard (src/modules/vcard.c).
VCARD_MAX_BYTES = 128 * 1024


def image(size=3000):
    """Some bytes standing in for an avatar image, and their SHA-1 hex."""
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(size)
    return data, hashlib.sha1(data).hexdigest()


async def connect(server, account, resource, plugins=("xep_0054",), **kw):
    """Log in (initial presence sent by a client that knows nothing of
    avatars), then load the XEP plugins the test uses."""
    client = await login(server, account, resource=resource, **kw)
    for p in plugins:
        client.register_plugin(p)
    return client


def vcard_of(client, fn, photo=None, nickname=None):
    """A VCardTemp stanza object from slixmpp's xep_0054."""
    v = client["xep_0054"].make_vcard()
    v["FN"] = fn
    if nickname:
        v["NICKNAME"] = nickname
    if photo is not None:
        v["PHOTO"]["TYPE"] = "image/png"
        v["PHOTO"]["BINVAL"] = photo
    return v


async def publish(client, vcard):
    await client["xep_0054"].publish_vcard(vcard)


async def get_vcard(client, jid=None):
    """The vCard element of an iq get to jid (None: no 'to', one's own)."""
    iq = client.make_iq_get(ito=jid)
    iq.enable("vcard_temp")
    res = await iq.send(timeout=15)
    return res


def vcard_xml(res):
    v = res.xml.find("{%s}vCard" % NS_VCARD)
    assert v is not None, f"no vCard in the result: {xml_of(res)}"
    return v


def updates(presence):
    """The vcard-temp:x:update elements of a presence."""
    return presence.xml.findall("{%s}x" % NS_UPDATE)


def photo_of(presence):
    """The <photo/> text of the presence's single update element: None if
    it has no update element, '' for <photo/>."""
    xs = updates(presence)
    if not xs:
        return None
    assert len(xs) == 1, f"several update elements: {xml_of(presence)}"
    p = xs[0].find("{%s}photo" % NS_UPDATE)
    assert p is not None, f"update element without photo: {xml_of(presence)}"
    return (p.text or "").strip()


def from_jid(jid):
    return lambda p: p.xml.get("from") == jid and p.xml.get("type") is None


async def expect_error(coro):
    try:
        res = await coro
    except IqError as e:
        return error_condition(e.iq)
    raise AssertionError(f"expected an error, got {xml_of(res)}")


async def drain_presences(client):
    """Forget the presences received so far, after the ping barrier (so
    that none caused by what the client sent arrives later)."""
    await client.sync()
    while not client.presences.empty():
        client.presences.get_nowait()


# ---------------------------------------------------------------------------

async def test_disco_announces_vcard_temp(server):
    a = server.account("alice")
    ca = await connect(server, a, "desk")
    try:
        info = await ca["xep_0030"].get_info(jid=server.host)
        assert NS_VCARD in info["disco_info"]["features"], xml_of(info)
    finally:
        await close_all(ca)


async def test_vcard_with_photo_is_stored_and_read_by_another_user(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk")
    cb = await connect(server, b, "phone")
    try:
        data, _ = image()
        await publish(ca, vcard_of(ca, "Alice Liddell", photo=data, nickname="alice"))

        # Bob asks at Alice's bare JID: the server answers for her.
        res = await cb["xep_0054"].get_vcard(a.jid)
        assert res["from"].full == a.jid, xml_of(res)
        v = res["vcard_temp"]
        assert v["FN"] == "Alice Liddell", xml_of(res)
        assert vcard_xml(res).find("{%s}NICKNAME" % NS_VCARD).text == "alice", xml_of(res)
        assert v["PHOTO"]["TYPE"] == "image/png", xml_of(res)
        assert v["PHOTO"]["BINVAL"] == data, "the photo came back different"

        # Alice reads her own with no 'to' and gets the same.
        own = vcard_xml(await get_vcard(ca))
        assert own.find("{%s}FN" % NS_VCARD).text == "Alice Liddell"
    finally:
        await close_all(ca, cb)


async def test_no_vcard_yet(server):
    """The owner gets an empty <vCard/>; anyone else item-not-found; an
    account that does not exist, service-unavailable."""
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk")
    try:
        own = vcard_xml(await get_vcard(ca))
        assert len(own) == 0 and not (own.text or "").strip(), xml_of(own)
        own = vcard_xml(await get_vcard(ca, a.jid))
        assert len(own) == 0, "own bare JID: empty vCard too"

        assert await expect_error(get_vcard(ca, b.jid)) == ("cancel", "item-not-found")
        nobody = f"nobody-{os.getpid()}@{server.host}"
        assert await expect_error(get_vcard(ca, nobody)) == ("cancel", "service-unavailable")
    finally:
        await close_all(ca)


async def test_without_a_photo_presence_is_left_alone(server):
    """No vCard, or one without a photo: the server adds no update element
    (the client may advertise an avatar published another way)."""
    a = server.account("alice")
    c = await connect(server, a, "desk")
    try:
        p = await c.next_presence(from_jid(c.boundjid.full))
        assert updates(p) == [], xml_of(p)
        await publish(c, vcard_of(c, "Alice"))
        c.send_presence(pstatus="no photo")
        p = await c.next_presence(lambda p: from_jid(c.boundjid.full)(p)
                                  and p["status"] == "no photo")
        assert updates(p) == [], xml_of(p)
    finally:
        await close_all(c)


async def test_replacing_the_vcard(server):
    """A set replaces the whole vCard (no partial updates)."""
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk")
    cb = await connect(server, b, "phone")
    try:
        data, _ = image()
        await publish(ca, vcard_of(ca, "First", photo=data))
        await publish(ca, vcard_of(ca, "Second"))
        v = (await cb["xep_0054"].get_vcard(a.jid))["vcard_temp"]
        assert v["FN"] == "Second"
        assert vcard_xml(await get_vcard(cb, a.jid)).find("{%s}PHOTO" % NS_VCARD) is None
    finally:
        await close_all(ca, cb)


async def test_setting_someone_elses_vcard_is_forbidden(server):
    a, m = server.account("alice"), server.account("mallory")
    ca = await connect(server, a, "desk")
    cm = await connect(server, m, "evil")
    try:
        await publish(ca, vcard_of(ca, "Alice"))
        iq = cm.make_iq_set(ito=a.jid)
        iq.append(vcard_of(cm, "Pwned"))
        assert await expect_error(iq.send(timeout=15)) == ("auth", "forbidden")
        # The server's own domain has no vCard anyone may set.
        iq = cm.make_iq_set(ito=server.host)
        iq.append(vcard_of(cm, "Pwned"))
        assert await expect_error(iq.send(timeout=15)) == ("auth", "forbidden")
        v = (await cm["xep_0054"].get_vcard(a.jid))["vcard_temp"]
        assert v["FN"] == "Alice", xml_of(v)
    finally:
        await close_all(ca, cm)


async def test_oversize_vcard_is_refused_and_nothing_changes(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk")
    cb = await connect(server, b, "phone")
    try:
        small, small_hash = image()
        await publish(ca, vcard_of(ca, "Alice", photo=small))
        # Larger than the vCard limit, smaller than the stanza limit.
        big, _ = image(VCARD_MAX_BYTES * 3 // 4 + 1000)
        try:
            await publish(ca, vcard_of(ca, "Too big", photo=big))
            raise AssertionError("an oversize vCard was accepted")
        except IqError as e:
            assert error_condition(e.iq) == ("modify", "not-acceptable"), xml_of(e.iq)
            text = e.iq.xml.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}text")
            assert text is not None and "128 KiB" in text.text, xml_of(e.iq)
        v = (await cb["xep_0054"].get_vcard(a.jid))["vcard_temp"]
        assert v["FN"] == "Alice" and v["PHOTO"]["BINVAL"] == small
        # The presence still carries the old photo's hash.
        await drain_presences(ca)
        ca.send_presence(pstatus="still here")
        p = await ca.next_presence(from_jid(ca.boundjid.full))
        assert photo_of(p) == small_hash, xml_of(p)
    finally:
        await close_all(ca, cb)


async def test_a_vcard_just_under_the_limit_is_accepted(server):
    a = server.account("alice")
    ca = await connect(server, a, "desk")
    try:
        data, _ = image(VCARD_MAX_BYTES * 3 // 4 - 2000)
        await publish(ca, vcard_of(ca, "Alice", photo=data))
        v = (await get_vcard(ca, a.jid))["vcard_temp"]
        assert v["PHOTO"]["BINVAL"] == data
    finally:
        await close_all(ca)


# --- avatars in presence ------------------------------------------------------

async def test_other_resource_sees_the_hash_in_presence(server):
    """Alice sets a photo from her desk; when her phone (a client that knows
    nothing of avatars) comes online, its presence carries the hash, as the
    desk sees."""
    a = server.account("alice")
    desk = await connect(server, a, "desk")
    phone = None
    try:
        data, digest = image()
        await publish(desk, vcard_of(desk, "Alice", photo=data))
        await drain_presences(desk)
        phone = await connect(server, a, "phone", plugins=())
        p = await desk.next_presence(from_jid(phone.boundjid.full))
        assert photo_of(p) == digest, xml_of(p)
    finally:
        await close_all(desk, phone)


async def test_first_presence_after_login_already_has_the_hash(server):
    """The hash is loaded while the session binds: the initial presence of
    the account's only session (reflected to itself) already has it."""
    a = server.account("alice")
    c = await connect(server, a, "desk")
    data, digest = image()
    await publish(c, vcard_of(c, "Alice", photo=data))
    await c.close()
    c = await connect(server, a, "laptop", plugins=())
    try:
        p = await c.next_presence(from_jid(c.boundjid.full))
        assert photo_of(p) == digest, xml_of(p)
    finally:
        await close_all(c)


async def test_resources_logging_in_together_all_have_the_hash(server):
    """Several sessions of the account bind while its hash is still being
    read: each waits for it, and each first presence has it."""
    a = server.account("alice")
    c = await connect(server, a, "desk")
    data, digest = image()
    await publish(c, vcard_of(c, "Alice", photo=data))
    await c.close()
    clients = await asyncio.gather(
        *(connect(server, a, f"r{i}", plugins=()) for i in range(4)))
    try:
        for cl in clients:
            p = await cl.next_presence(from_jid(cl.boundjid.full))
            assert photo_of(p) == digest, xml_of(p)
    finally:
        await close_all(*clients)


async def test_directed_presence_carries_the_hash(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk")
    cb = await connect(server, b, "phone", plugins=())
    try:
        data, digest = image()
        await publish(ca, vcard_of(ca, "Alice", photo=data))
        ca.send_presence(pto=cb.boundjid.full, pstatus="hi Bob")
        p = await cb.next_presence(from_jid(ca.boundjid.full))
        assert photo_of(p) == digest, xml_of(p)
        assert p["status"] == "hi Bob", "the rest of the presence is kept"
    finally:
        await close_all(ca, cb)


async def test_contacts_see_the_hash(server):
    """Bob is subscribed to Alice's presence: when she sets a photo he gets
    her presence again with the hash; a resource she brings online later
    and the answer to a probe (Bob's next login) carry it too."""
    a, b = server.account("alice"), server.account("bob")
    ca = await login_im(server, a, "desk")
    ca.register_plugin("xep_0054")
    cb = await login_im(server, b, "phone")
    phone = cb2 = None
    try:
        await subscribe_and_approve(cb, ca)
        data, digest = image()
        await publish(ca, vcard_of(ca, "Alice", photo=data))
        p = await wait_presence(cb, ca.boundjid.full, pred=lambda p: photo_of(p) == digest)
        phone = await login_im(server, a, "phone")
        await wait_presence(cb, phone.boundjid.full, pred=lambda p: photo_of(p) == digest)
        cb2 = await login_im(server, b, "laptop")
        for c in (ca, phone):
            p = await wait_presence(cb2, c.boundjid.full)
            assert photo_of(p) == digest, xml_of(p)
    finally:
        await close_all(ca, cb, phone, cb2)


async def test_changing_the_photo_rebroadcasts_presence(server):
    """Alice's phone says nothing after the desk changes the photo; the
    server sends the phone's presence again with the new hash, and when the
    photo is removed, with an empty <photo/>."""
    a = server.account("alice")
    desk = await connect(server, a, "desk")
    phone = await connect(server, a, "phone", plugins=())
    try:
        phone.send_presence(pstatus="on the train")
        await desk.next_presence(from_jid(phone.boundjid.full))
        for _ in range(2):
            data, digest = image()
            await publish(desk, vcard_of(desk, "Alice", photo=data))
            p = await desk.next_presence(
                lambda p: from_jid(phone.boundjid.full)(p) and photo_of(p) == digest)
            assert p["status"] == "on the train", "the phone's last presence, resent"
        await publish(desk, vcard_of(desk, "Alice, no photo"))
        p = await desk.next_presence(
            lambda p: from_jid(phone.boundjid.full)(p) and photo_of(p) == "")
        assert p["status"] == "on the train", xml_of(p)
        # Without a photo the server adds nothing to what the phone says.
        phone.send_presence(pstatus="tunnel")
        p = await desk.next_presence(
            lambda p: from_jid(phone.boundjid.full)(p) and p["status"] == "tunnel")
        assert updates(p) == [], xml_of(p)
    finally:
        await close_all(desk, phone)


async def test_a_new_photo_followed_at_once_by_another_set_is_rebroadcast(server):
    """Two sets sent together: the first brings a new photo, the second
    keeps it (only the nickname changes). The phone's presence still goes
    out again with the new hash."""
    a = server.account("alice")
    desk = await connect(server, a, "desk")
    phone = await connect(server, a, "phone", plugins=())
    try:
        phone.send_presence(pstatus="on the bus")
        await desk.next_presence(from_jid(phone.boundjid.full))
        data, digest = image()
        await asyncio.gather(publish(desk, vcard_of(desk, "Alice", photo=data)),
                             publish(desk, vcard_of(desk, "Alice", photo=data, nickname="Al")))
        p = await desk.next_presence(
            lambda p: from_jid(phone.boundjid.full)(p) and photo_of(p) == digest)
        assert p["status"] == "on the bus", xml_of(p)
    finally:
        await close_all(desk, phone)


async def test_what_the_client_says_about_its_photo(server):
    """A matching hash from the client is left as it is; an explicit empty
    <photo/> ("no avatar") is never overridden; an empty update element
    ("not ready") and a stale hash are replaced with the current one."""
    a = server.account("alice")
    desk = await connect(server, a, "desk")
    phone = await connect(server, a, "phone", plugins=())
    try:
        data, digest = image()
        await publish(desk, vcard_of(desk, "Alice", photo=data))
        cases = [
            (f"<x xmlns='{NS_UPDATE}'><photo>{digest.upper()}</photo></x>", digest.upper()),
            (f"<x xmlns='{NS_UPDATE}'><photo/></x>", ""),
            (f"<x xmlns='{NS_UPDATE}'/>", digest),
            (f"<x xmlns='{NS_UPDATE}'><photo>{'0' * 40}</photo></x>", digest),
            (f"<x xmlns='{NS_UPDATE}'><photo>{'1' * 40}</photo></x>"
             f"<x xmlns='{NS_UPDATE}'><photo>{'2' * 40}</photo></x>", digest),
        ]
        for i, (x, want) in enumerate(cases):
            pres = phone.make_presence(pstatus=f"case {i}")
            for el in ET.fromstring(f"<wrap>{x}</wrap>"):
                pres.append(el)
            pres.send()
            p = await desk.next_presence(
                lambda p: from_jid(phone.boundjid.full)(p) and p["status"] == f"case {i}")
            assert photo_of(p) == want, f"case {i}: {xml_of(p)}"
    finally:
        await close_all(desk, phone)


async def test_presence_sent_right_after_the_set_has_the_new_hash(server):
    """A client may send its presence before the set's result comes back:
    the presence that follows the set on the stream already carries the
    new hash."""
    a = server.account("alice")
    desk = await connect(server, a, "desk")
    phone = await connect(server, a, "phone", plugins=())
    try:
        old, old_hash = image()
        await publish(desk, vcard_of(desk, "Alice", photo=old))
        new, new_hash = image()
        iq = desk.make_iq_set()
        iq.append(vcard_of(desk, "Alice", photo=new))
        pending = iq.send(timeout=15)
        desk.send_presence(pstatus="new look")
        await pending
        p = await phone.next_presence(
            lambda p: from_jid(desk.boundjid.full)(p) and p["status"] == "new look")
        assert photo_of(p) == new_hash, xml_of(p)
    finally:
        await close_all(desk, phone)


async def test_base64_with_line_breaks(server):
    """BINVAL as many clients write it (RFC 2045 lines of 76 characters,
    indented): the whitespace is ignored when the server hashes the image,
    and the vCard comes back as it was sent."""
    a = server.account("alice")
    desk = await connect(server, a, "desk")
    phone = await connect(server, a, "phone", plugins=())
    try:
        data, digest = image(5000)
        b64 = base64.b64encode(data).decode()
        lines = "\n      ".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        raw = (f"<vCard xmlns='{NS_VCARD}'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE>"
               f"<BINVAL>\n      {lines}\n    </BINVAL></PHOTO></vCard>")
        iq = desk.make_iq_set()
        iq.append(ET.fromstring(raw))
        await iq.send(timeout=15)
        p = await phone.next_presence(
            lambda p: from_jid(phone.boundjid.full)(p) and photo_of(p) == digest)
        back = vcard_xml(await get_vcard(phone, a.jid))
        assert back.find(f"{{{NS_VCARD}}}PHOTO/{{{NS_VCARD}}}BINVAL").text == \
            f"\n      {lines}\n    ", "the vCard is stored as sent"
    finally:
        await close_all(desk, phone)


async def test_slixmpp_vcard_avatar_plugin(server):
    """slixmpp's own XEP-0153 support sets the avatar (fetch vCard, add the
    photo, publish, send presence with an empty update element while it
    recomputes the hash); Bob, who gets Alice's directed presence, sees the
    hash and can fetch the image."""
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk", plugins=("xep_0054", "xep_0153"))
    cb = await connect(server, b, "phone")
    try:
        data, digest = image()
        await ca["xep_0153"].set_avatar(avatar=data, mtype="image/png", timeout=15)
        ca.send_presence(pto=cb.boundjid.full)
        p = await cb.next_presence(from_jid(ca.boundjid.full))
        assert photo_of(p) == digest, xml_of(p)
        v = (await cb["xep_0054"].get_vcard(a.jid))["vcard_temp"]
        assert hashlib.sha1(v["PHOTO"]["BINVAL"]).hexdigest() == digest
    finally:
        await close_all(ca, cb)


async def test_vcard_and_hash_survive_a_restart(server):
    a, b = server.account("alice"), server.account("bob")
    ca = await connect(server, a, "desk")
    data, digest = image()
    await publish(ca, vcard_of(ca, "Alice Persistent", photo=data))
    await ca.close()
    server.restart()
    ca = await connect(server, a, "desk", plugins=())
    cb = await connect(server, b, "phone")
    try:
        p = await ca.next_presence(from_jid(ca.boundjid.full))
        assert photo_of(p) == digest, xml_of(p)
        v = (await cb["xep_0054"].get_vcard(a.jid))["vcard_temp"]
        assert v["FN"] == "Alice Persistent" and v["PHOTO"]["BINVAL"] == data
    finally:
        await close_all(ca, cb)


if __name__ == "__main__":
    # vCards of ~128 KiB: lift the read rate limit so that they take
    # milliseconds, not seconds.
    harness.main(globals(), limits={"c2s_rate": 8 * 1024 * 1024})
