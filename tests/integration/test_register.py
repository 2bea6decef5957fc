"""In-band registration (XEP-0077) with real clients.

A new user's client (slixmpp, as Gajim, Dino or Conversations do it) finds
<register/> among the stream features, creates an account and logs in with
it. Registration is off unless the configuration allows it; a taken name,
a weak password and too many registrations from one address are refused
with the errors clients understand. Once logged in, the owner changes the
password (even where registration is off) or removes the account, which
closes every session and deletes what was stored. Raw XML is used where the
exact wire matters (features, errors, the order of result and stream error).
"""

import asyncio
import os
import sys
import time
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from clients import (IqError, bodies, client_for, close_all, login,  # noqa: E402
                     login_fails, login_im, send_iq, settle, subscribe_and_approve,
                     wait_presence, wait_push, watch_im, xml_of)
from rawxmpp import (NS_CLIENT, NS_STANZAS, Client, StanzaError, q,  # noqa: E402
                     tostring)
from rawxmpp import login as raw_login  # noqa: E402

NS_REGISTER = "jabber:iq:register"
NS_FEATURE = "http://jabber.org/features/iq-register"
NS_XDATA = "jabber:x:data"

# The shared server allows registration; a generous throttle keeps the
# tests of this file from running into it (test_throttle has its own).
SERVER = {"extra": {"allow_registration": True,
                    "registration_throttle": {"per_ip": 1000, "period": 60}}}


def new_name(prefix="new"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def account(server, user, password):
    return harness.Account(user, server.host, f"{user}@{server.host}", password)


async def preauth(server, listener="required"):
    """A raw connection, TLS up (unless on the plaintext-allowing listener),
    features of the stream before authentication read."""
    c = await Client.connect(server.ports[listener], direct_tls=(listener == "direct"))
    await c.open_stream()
    if listener == "required":
        await c.starttls()
        await c.open_stream()
    return c


def offers_register(c):
    return c.features is not None and c.features.find(q("register", NS_FEATURE)) is not None


async def raw_register(c, user, password):
    """Legacy fields; the iq answer (result or error)."""
    return await c.iq(f"<query xmlns='{NS_REGISTER}'><username>{user}</username>"
                      f"<password>{password}</password></query>", type="set",
                      raise_error=False)


def error_of(el):
    """(type, condition, text) of an error iq."""
    err = StanzaError(el)
    text = el.find(f"{q('error', NS_CLIENT)}/{q('text', NS_STANZAS)}")
    return err.type, err.condition, (text.text if text is not None else None)


async def slixmpp_register(server, user, password, timeout=15):
    """What a real client does: connect, see <register/>, fetch the form,
    send username and password, then authenticate with them. Returns
    (client with a session, form) on success; raises AssertionError with the
    server's error otherwise."""
    client = client_for(account(server, user, password))
    client.register_plugin("xep_0077")
    # slixmpp 1.8.3 holds back every stanza until the session has started,
    # its own registration iqs included, so registration never leaves it
    # (later versions let them through). Let them through, as those do,
    # until the registration is over.
    client._always_send_everything = True
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    seen = {}

    async def on_register(form):
        seen["form"] = form
        iq = client.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = user
        iq["register"]["password"] = password
        try:
            await iq.send(timeout=timeout)
        except IqError as e:
            if not done.done():
                done.set_exception(AssertionError(f"registration refused: {xml_of(e.iq)}"))
            client.drop()
        finally:
            client._always_send_everything = False

    def on_session(_event):
        if not done.done():
            done.set_result(True)

    def on_end(_event):
        if not done.done():
            done.set_exception(AssertionError(
                f"disconnected (sasl failure {client.failure}, stream error "
                f"{client.stream_error})"))

    client.add_event_handler("register", on_register)
    client.add_event_handler("session_start", on_session)
    client.add_event_handler("disconnected", on_end)
    client.connect(("127.0.0.1", server.ports["required"]), force_starttls=True)
    try:
        await asyncio.wait_for(done, timeout)
    except BaseException:
        client.drop()
        client.dispose()
        raise
    return client, seen.get("form")


# ---------------------------------------------------------------------------
# Registration switched off (the default)

async def test_registration_is_off_by_default():
    with harness.Server() as server:
        c = await preauth(server)
        try:
            assert not offers_register(c), tostring(c.features)
            res = await c.iq(f"<query xmlns='{NS_REGISTER}'/>", raise_error=False)
            assert error_of(res)[:2] == ("cancel", "service-unavailable"), tostring(res)
            name = new_name()
            res = await raw_register(c, name, "a good long password")
            assert error_of(res)[:2] == ("cancel", "service-unavailable"), tostring(res)
            await c.check_open()    # an iq error, not the end of the stream
        finally:
            await c.close()
        assert f"{name}@{server.host}" not in server.users()


# ---------------------------------------------------------------------------
# Creating an account

async def test_new_client_registers_then_logs_in(server):
    name, password = new_name(), "correct horse battery"
    client, form = await slixmpp_register(server, name, password)
    try:
        assert client.boundjid.bare == f"{name}@{server.host}"
        reg = form["register"]
        assert "username" in reg["fields"] and "password" in reg["fields"], xml_of(form)
        assert reg["instructions"], xml_of(form)
        await client.sync()
    finally:
        await client.close()
    assert f"{name}@{server.host}" in server.users()
    # A later login with the new password, as any client would.
    c = await login(server, account(server, name, password))
    await c.close()


async def test_a_name_found_missing_then_registered_gets_messages(server):
    """A message to a name that does not exist bounces (RFC 6121 8.5.1),
    and the server remembers the name is missing for a while; once the
    name is registered in-band, messages to it are stored for it at once,
    not bounced for as long as the server's memory lasts."""
    alice = server.account()
    name, password = new_name(), "a good long password"
    a = await login_im(server, alice)
    try:
        a.send_message(mto=f"{name}@{server.host}", mbody="too early", mtype="chat")
        err = await a.message_box.wait()
        assert err["type"] == "error", xml_of(err)
        c = await preauth(server)
        res = await raw_register(c, name, password)
        assert res.get("type") == "result", tostring(res)
        await c.close()
        a.send_message(mto=f"{name}@{server.host}", mbody="welcome", mtype="chat")
        await settle(a, a)
        assert not a.message_box.items, [xml_of(m) for m in a.message_box.items]
    finally:
        await a.close()
    new = watch_im(await login(server, account(server, name, password), presence=False))
    try:
        new.send_presence()
        msg = await new.message_box.wait()
        assert bodies(msg) == {None: "welcome"}, xml_of(msg)
    finally:
        await new.close()


async def test_feature_and_form_on_the_wire(server):
    # Before STARTTLS on a listener that requires it: no <register/>.
    c = await Client.connect(server.ports["required"])
    try:
        await c.open_stream()
        assert not offers_register(c), tostring(c.features)
        await c.starttls()
        await c.open_stream()
        assert offers_register(c), tostring(c.features)
        res = await c.iq(f"<query xmlns='{NS_REGISTER}'/>", to=server.host)
        query = res.find(q("query", NS_REGISTER))
        assert query is not None, tostring(res)
        for field in ("instructions", "username", "password"):
            assert query.find(q(field, NS_REGISTER)) is not None, tostring(res)
        x = query.find(q("x", NS_XDATA))
        assert x is not None and x.get("type") == "form", tostring(res)
        fields = {f.get("var"): f for f in x.findall(q("field", NS_XDATA))}
        assert fields["FORM_TYPE"].findtext(q("value", NS_XDATA)) == NS_REGISTER
        assert fields["password"].get("type") == "text-private", tostring(res)
        assert fields["username"].find(q("required", NS_XDATA)) is not None
    finally:
        await c.close()
    # A listener that allows plaintext offers it without TLS.
    c = await Client.connect(server.ports["optional"])
    try:
        await c.open_stream()
        assert offers_register(c), tostring(c.features)
    finally:
        await c.close()


async def test_register_with_data_form(server):
    name, password = new_name(), "a data form password"
    c = await preauth(server)
    try:
        res = await c.iq(
            f"<query xmlns='{NS_REGISTER}'><x xmlns='{NS_XDATA}' type='submit'>"
            f"<field type='hidden' var='FORM_TYPE'><value>{NS_REGISTER}</value></field>"
            f"<field var='username'><value>{name}</value></field>"
            f"<field var='password'><value>{password}</value></field></x></query>",
            type="set", raise_error=False)
        assert res.get("type") == "result", tostring(res)
        # The same stream goes on to authenticate with the new account.
        await c.authenticate(name, password)
        await c.open_stream()
        jid = await c.bind()
        assert jid.startswith(f"{name}@{server.host}/"), jid
    finally:
        await c.close()


async def test_taken_username_is_a_conflict(server):
    existing = server.account("taken")
    c = await preauth(server)
    try:
        for spelling in (existing.user, existing.user.upper()):
            res = await raw_register(c, spelling, "another good password")
            kind, cond, text = error_of(res)
            assert (kind, cond) == ("cancel", "conflict"), tostring(res)
            assert text and "taken" in text, tostring(res)
    finally:
        await c.close()
    # The owner's password is unchanged.
    cl = await login(server, existing)
    await cl.close()


async def test_weak_password_and_bad_username_refused(server):
    name = new_name("weak")
    c = await preauth(server)
    try:
        for password, says in (("short", "at least 8"),
                               (name.upper(), "same as the username"),
                               ("", "Choose a username and a password")):
            res = await raw_register(c, name, password)
            kind, cond, text = error_of(res)
            assert (kind, cond) == ("modify", "not-acceptable"), tostring(res)
            assert text and says in text, tostring(res)
            if password:
                assert "password" in text.lower(), text   # what Conversations looks for
        res = await raw_register(c, "two words", "long enough password")
        kind, cond, text = error_of(res)
        assert (kind, cond) == ("modify", "jid-malformed"), tostring(res)
        assert text, tostring(res)
        # Not authenticated: removing an account makes no sense yet.
        res = await c.iq(f"<query xmlns='{NS_REGISTER}'><remove/></query>", type="set",
                         raise_error=False)
        assert error_of(res)[1] == "unexpected-request", tostring(res)
        await c.check_open()
    finally:
        await c.close()
    assert not any(u.startswith(name) for u in server.users())


async def test_throttle_per_address():
    extra = {"allow_registration": True,
             "registration_throttle": {"per_ip": 2, "period": 3}}
    with harness.Server(extra=extra) as server:
        taken = server.account("taken")
        c = await preauth(server)
        try:
            # A refused name does not use up the address's allowance.
            res = await raw_register(c, taken.user, "another good password")
            assert error_of(res)[1] == "conflict", tostring(res)
            names = [new_name("thr") for _ in range(3)]
            for n in names[:2]:
                res = await raw_register(c, n, "throttled password")
                assert res.get("type") == "result", tostring(res)
            t0 = time.monotonic()
            res = await raw_register(c, names[2], "throttled password")
            kind, cond, text = error_of(res)
            assert (kind, cond) == ("wait", "resource-constraint"), tostring(res)
            assert text and "try again in" in text, text
            users = server.users()
            assert all(f"{n}@{server.host}" in users for n in names[:2]), users
            assert f"{names[2]}@{server.host}" not in users, users
            # The window ends (3 s after the first registration).
            await asyncio.sleep(max(0.0, 3.2 - (time.monotonic() - t0)))
            res = await raw_register(c, names[2], "throttled password")
            assert res.get("type") == "result", tostring(res)
        finally:
            await c.close()


async def test_each_host_has_its_own_settings():
    """A host's mapping overrides the top level for that host only: here
    registration stays off on localhost and is on for open.test, whose
    throttle allows one account per address (the top level's allows 1000)."""
    hosts = ["localhost",
             {"name": "open.test", "allow_registration": True,
              "registration_throttle": {"per_ip": 1}}]
    extra = {"hosts": hosts, "registration_throttle": {"per_ip": 1000, "period": 3600}}
    with harness.Server(hosts=("localhost", "open.test"), extra=extra) as server:
        c = await preauth(server)
        try:
            assert not offers_register(c), tostring(c.features)
            res = await raw_register(c, new_name("off"), "a good password")
            assert error_of(res)[1] == "service-unavailable", tostring(res)
        finally:
            await c.close()
        c = await Client.connect(server.ports["required"], host="open.test")
        try:
            await c.open_stream(to="open.test")
            await c.starttls()
            await c.open_stream(to="open.test")
            assert offers_register(c), tostring(c.features)
            first, second = new_name("open"), new_name("open")
            res = await raw_register(c, first, "a good password")
            assert res.get("type") == "result", tostring(res)
            res = await raw_register(c, second, "a good password")
            assert error_of(res)[:2] == ("wait", "resource-constraint"), tostring(res)
        finally:
            await c.close()
        assert f"{first}@open.test" in server.users("open.test")
        assert not any(u.startswith(("off", "open")) for u in server.users("localhost"))


# ---------------------------------------------------------------------------
# The owner, after logging in

async def test_registered_account_sees_registered(server):
    acct = server.account("reg")
    c = await login(server, acct)
    try:
        c.register_plugin("xep_0077")
        res = await c["xep_0077"].get_registration()
        assert res["register"]["registered"], xml_of(res)
        assert res["register"]["username"] == acct.user, xml_of(res)
    finally:
        await c.close()


async def test_password_change_even_when_registration_is_off():
    with harness.Server() as server:        # registration off
        acct = server.account("pw")
        c = await login(server, acct)
        try:
            c.register_plugin("xep_0077")
            try:
                await c["xep_0077"].change_password("tiny")
                raise AssertionError("a weak password was accepted")
            except IqError as e:
                assert e.iq["error"]["condition"] == "not-acceptable", xml_of(e.iq)
                assert "at least 8" in e.iq["error"]["text"], xml_of(e.iq)
            await c["xep_0077"].change_password("a brand new password")
        finally:
            await c.close()
        err = await login_fails(server, acct)
        assert "not-authorized" in str(err), err
        c = await login(server, acct, password="a brand new password")
        await c.close()


def _change_payload(acct, password):
    return (f"<query xmlns='{NS_REGISTER}'><username>{acct.user}</username>"
            f"<password>{password}</password></query>")


async def test_one_password_change_at_a_time():
    """Each change costs three key derivations on the thread pool that PLAIN
    logins share: a second one while the first is running is refused with
    resource-constraint, and the first still completes."""
    with harness.Server() as server:
        acct = server.account("pw")
        c = await login(server, acct)
        try:
            first, second = await asyncio.gather(
                send_iq(c, _change_payload(acct, "new password number 1"), type="set"),
                send_iq(c, _change_payload(acct, "new password number 2"), type="set"),
                return_exceptions=True)
            assert not isinstance(first, Exception), first
            assert isinstance(second, IqError), second
            assert second.iq["error"]["condition"] == "resource-constraint", xml_of(second.iq)
        finally:
            await c.close()
        c = await login(server, acct, password="new password number 1")
        await c.close()


async def test_stop_while_passwords_are_derived():
    """A server told to stop while key derivations run on its thread pool
    waits for them before freeing what their completions use, and exits
    cleanly (under the sanitizers, a completion after the free is a crash)."""
    with harness.Server() as server:
        clients = []
        try:
            for i in range(4):
                acct = server.account(f"stop{i}")
                clients.append((acct, await login(server, acct)))
            for acct, c in clients:
                iq = c.Iq(stype="set")
                iq.append(ET.fromstring(_change_payload(acct, "a password while stopping")))
                iq.send()   # no wait for the answer: the server stops meanwhile
            # The connections go at once, so the stop has no stream to wait
            # for while the derivations are still running.
            await asyncio.sleep(0.005)
            for _, c in clients:
                c.drop()
            await asyncio.sleep(0.005)
            rc = server.stop()
            assert rc == 0, f"cantod exited with {rc}:\n{server.log_tail()}"
        finally:
            for _, c in clients:
                c.drop()


async def test_other_accounts_are_not_yours(server):
    alice, bob = server.account("alice"), server.account("bob")
    c = await raw_login(server, alice)
    try:
        res = await c.iq(f"<query xmlns='{NS_REGISTER}'><remove/></query>", type="set",
                         to=bob.jid, raise_error=False)
        assert error_of(res)[1] == "forbidden", tostring(res)
        res = await c.iq(f"<query xmlns='{NS_REGISTER}'><username>{bob.user}</username>"
                         "<password>taking over bob</password></query>", type="set",
                         to=server.host, raise_error=False)
        assert error_of(res)[1] == "forbidden", tostring(res)
        res = await c.iq(f"<query xmlns='{NS_REGISTER}'><remove/><username/></query>",
                         type="set", raise_error=False)
        assert error_of(res)[:2] == ("modify", "bad-request"), tostring(res)
    finally:
        await c.close()
    for acct in (alice, bob):
        cl = await login(server, acct)
        await cl.close()


async def test_account_removal_closes_sessions_and_deletes_data(server):
    alice, bob = server.account("alice"), server.account("bob")
    # Alice's first session speaks raw XML (the wire order is checked);
    # her second is a real client.
    raw = await raw_login(server, alice, resource="raw")   # no presence: offline
    phone = cb = None
    try:
        cb = await login(server, bob)
        cb.send_message(mto=alice.jid, mbody="kept for later", mtype="chat")
        await cb.sync()                 # stored as an offline message
        phone = await login(server, alice, resource="phone", presence=False)
        phone.register_plugin("xep_0077")

        await raw.send(f"<iq type='set' id='unreg1'><query xmlns='{NS_REGISTER}'>"
                       "<remove/></query></iq>")
        res = await raw.read_stanza()
        assert res.tag == q("iq", NS_CLIENT) and res.get("id") == "unreg1", tostring(res)
        assert res.get("type") == "result", tostring(res)
        # Then the stream ends, as XEP-0077 section 3.2 says.
        await raw.expect_stream_error("not-authorized")
        await phone.wait_closed()
        assert phone.stream_error == "not-authorized", phone.stream_error
    finally:
        await raw.close()
        await close_all(phone, cb)
    assert alice.jid not in server.users()
    err = await login_fails(server, alice)
    assert "not-authorized" in str(err), err
    # A new account of the same name starts empty: no offline message.
    server.adduser(alice.jid, alice.password)
    c = await login(server, alice)
    try:
        await c.sync()
        left = c.drain()
        assert left == [], [xml_of(m) for m in left]
    finally:
        await c.close()


async def test_removal_ends_the_contacts_subscriptions(server):
    """XEP-0077 3.2: removing an account cancels its subscriptions; the
    contact sees it go offline, gets unsubscribe and unsubscribed, and its
    roster item falls to subscription 'none'."""
    alice, bob = server.account("alice"), server.account("bob")
    ca = await login_im(server, alice, "desk")
    cb = await login_im(server, bob, "work")
    try:
        await subscribe_and_approve(ca, cb)
        await subscribe_and_approve(cb, ca)
        await wait_presence(cb, ca.boundjid.full)
        ca.register_plugin("xep_0077")
        await ca["xep_0077"].cancel_registration()
        await ca.wait_closed()
        await wait_presence(cb, ca.boundjid.full, "unavailable")
        for kind in ("unsubscribe", "unsubscribed"):
            await wait_presence(cb, alice.jid, kind)
        await wait_push(cb, alice.jid, subscription="none")
    finally:
        await close_all(ca, cb)


async def test_removal_with_slixmpp(server):
    name, password = new_name("bye"), "leaving very soon"
    client, _ = await slixmpp_register(server, name, password)
    try:
        client.register_plugin("xep_0077")
        await client["xep_0077"].cancel_registration()
        await client.wait_closed()
        assert client.stream_error == "not-authorized", client.stream_error
    finally:
        await client.close()
    await login_fails(server, account(server, name, password))


if __name__ == "__main__":
    harness.main(globals(), **SERVER)
