"""slixmpp clients for the integration tests: log in to a test cantod, keep an
inbox, wait with bounded timeouts, and leave cleanly or abruptly.

For Debian's /usr/bin/python3 with python3-slixmpp 1.8.3. Use with harness.py:

    a = await clients.login(server, account, resource="desk", priority=5)
    a.send_message(mto=b.boundjid.full, mbody="hi", mtype="chat")
    msg = await b.next_message()
    await a.close()

Channel binding. slixmpp 1.8.3 knows only `tls-unique`: over TLS 1.3 it picks
SCRAM-SHA-512-PLUS and sends `p=tls-unique` with the client Finished message,
a binding RFC 8446/9266 leave undefined for TLS 1.3 (slixmpp 1.8.5 stopped
doing it; cantod accepts it for such clients). So that the tests exercise a
standard binding, the SCRAM code is taught, here, to bind to what the caller
chooses:

    cb="tls-server-end-point"  SCRAM-*-PLUS with p=tls-server-end-point and the
                               SHA-256 of the server certificate (default)
    cb="none"                  gs2 flag 'n': non-PLUS SCRAM or PLAIN, as a
                               client without channel binding does
    cb="stock"                 slixmpp 1.8.3 unchanged (p=tls-unique)

The default can be changed with CANTO_SLIXMPP_CB. `client.mechanism` and
`client.gs2_header` tell what a login really used.
"""

import asyncio
import hashlib
import logging
import os
import ssl
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout  # noqa: F401 (re-exported)
from slixmpp.util.sasl import mechanisms as _sasl_mechanisms
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = "jabber:client"
NS_DELAY = "urn:xmpp:delay"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

DEFAULT_CB = os.environ.get("CANTO_SLIXMPP_CB", "tls-server-end-point")
TIMEOUT = 15.0   # seconds for any single wait

if os.environ.get("CANTO_SLIXMPP_DEBUG"):
    logging.basicConfig(level=logging.DEBUG)
else:
    # slixmpp logs expected failures (auth refused, stream closed) as errors.
    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)


class LoginFailed(Exception):
    """The client could not log in; the message says how far it got, and
    `failure` / `stream_error` hold the SASL failure and stream error
    conditions the server sent (None if it sent none)."""

    def __init__(self, message, client=None):
        super().__init__(message)
        self.failure = client.failure if client is not None else None
        self.stream_error = client.stream_error if client is not None else None


# ---------------------------------------------------------------------------
# Channel binding for slixmpp's SCRAM (see the module comment).

_CB_MARK = b"CANTO-CB:"
_stock_process_1 = _sasl_mechanisms.SCRAM.process_1


def _scram_process_1(self, challenge):
    cb = self.credentials.get("channel_binding") or b""
    if not cb.startswith(_CB_MARK):
        return _stock_process_1(self, challenge)      # cb="stock"
    cb_type, _, cb_data = cb[len(_CB_MARK):].partition(b"\0")
    if self.use_channel_binding:
        if not cb_type:
            from slixmpp.util.sasl.client import SASLCancelled
            raise SASLCancelled("no channel binding chosen")
        flag = b"p=" + cb_type
        self.credentials["channel_binding"] = cb_data
    else:
        flag = b"n"
        self.credentials["channel_binding"] = b""
    # Let the stock code build the message with no binding, then put our
    # gs2 header in front (process_2 reuses self.gs2_header).
    saved = self.credentials["channel_binding"]
    self.credentials["channel_binding"] = b""
    try:
        _stock_process_1(self, challenge)
    finally:
        self.credentials["channel_binding"] = saved
    authzid = b""
    if self.credentials.get("authzid"):
        authzid = b"a=" + self.saslname(self.credentials["authzid"])
    self.gs2_header = flag + b"," + authzid + b","
    self.client_first_message = self.gs2_header + self.client_first_message_bare
    return self.client_first_message


_sasl_mechanisms.SCRAM.process_1 = _scram_process_1


def _endpoint_hash(der):
    """RFC 5929 tls-server-end-point: the certificate's signature hash, with
    MD5 and SHA-1 upgraded to SHA-256. The test certificates are
    ecdsa-with-SHA256 / sha256WithRSA, so SHA-256 unless told otherwise."""
    return hashlib.sha256(der).digest()


# ---------------------------------------------------------------------------

class Client(slixmpp.ClientXMPP):
    """A ClientXMPP with an inbox of every <message/> (errors included) and
    of every <presence/>, and helpers that never wait forever."""

    def __init__(self, jid, password, cb=DEFAULT_CB, mechs=None):
        super().__init__(jid, password)
        self.cb_mode = cb
        self.inbox = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.mechanism = None
        self.gs2_header = None
        self.failure = None
        self.stream_error = None
        self.closed = asyncio.Event()
        for plugin in ("xep_0030", "xep_0092", "xep_0199", "xep_0202"):
            self.register_plugin(plugin)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_handler(Callback(
            "canto inbox", MatchXPath("{%s}message" % NS_CLIENT),
            self.inbox.put_nowait))
        self.add_event_handler("presence", self.presences.put_nowait)
        self.add_event_handler("auth_success", self._on_auth_success)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("disconnected", lambda _e: self.closed.set())
        self.add_event_handler("killed", lambda _e: self.closed.set())
        mech = self["feature_mechanisms"]
        stock_creds = mech.sasl_callback
        if cb != "stock":
            mech.sasl_callback = self._creds_wrapper(stock_creds)
        if cb == "none":
            mech.use_mechs = {"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1",
                              "PLAIN"}
        if mechs is not None:
            mech.use_mechs = set(mechs)

    def _creds_wrapper(self, stock):
        def creds(required, optional):
            result = stock(required, optional)
            if "channel_binding" in result:
                value = _CB_MARK
                sock = self.socket
                if (self.cb_mode == "tls-server-end-point"
                        and isinstance(sock, (ssl.SSLSocket, ssl.SSLObject))):
                    value += (b"tls-server-end-point\0"
                              + _endpoint_hash(sock.getpeercert(True)))
                result["channel_binding"] = value
            return result
        return creds

    def _on_auth_success(self, _stanza):
        mech = self["feature_mechanisms"].mech
        self.mechanism = mech.name
        self.gs2_header = getattr(mech, "gs2_header", None)

    def _on_failed_auth(self, stanza):
        # Do not let slixmpp walk down its list of mechanisms: one wrong
        # password is one failure.
        self.failure = stanza["condition"] or "failure"
        self["feature_mechanisms"].mech_list = set()

    def _on_stream_error(self, err):
        self.stream_error = err["condition"]

    # -- waiting -----------------------------------------------------------

    async def next_message(self, timeout=TIMEOUT):
        """The next <message/> received (any type), or TimeoutError."""
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def message_matching(self, pred, timeout=TIMEOUT):
        """The next message for which pred(msg) is true; the ones skipped
        are returned too, as (match, skipped)."""
        skipped = []
        async def loop():
            while True:
                msg = await self.inbox.get()
                if pred(msg):
                    return msg
                skipped.append(msg)
        return await asyncio.wait_for(loop(), timeout), skipped

    async def next_presence(self, pred=lambda p: True, timeout=TIMEOUT):
        async def loop():
            while True:
                p = await self.presences.get()
                if pred(p):
                    return p
        return await asyncio.wait_for(loop(), timeout)

    def drain(self):
        """Everything in the inbox now, without waiting."""
        out = []
        while not self.inbox.empty():
            out.append(self.inbox.get_nowait())
        return out

    async def sync(self, timeout=TIMEOUT):
        """Ping the server and wait for the pong. The server handles a
        session's stanzas in order and answers this ping only when all that
        came before it is done (and durable), so afterwards anything it
        routed for us earlier has been written to our stream."""
        return await self["xep_0199"].send_ping(self.boundjid.domain,
                                                timeout=timeout)

    async def close(self, timeout=TIMEOUT):
        """Clean logout: </stream:stream>, wait for the server's."""
        if self.transport is None:
            self.dispose()
            return
        fut = self.disconnect(wait=timeout)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout + 1)
        except asyncio.TimeoutError:
            self.abort()
        self.dispose()

    def dispose(self):
        """Stop slixmpp's background send task (it would otherwise outlive
        the client and be reported as destroyed while pending)."""
        task = getattr(self, "_run_out_filters", None)
        if task is not None and not task.done():
            task.cancel()

    def drop(self):
        """Abrupt disconnect: the TCP connection goes away without
        </stream:stream> and without a TLS close_notify."""
        transport = self.transport
        if transport is not None:
            self.cancel_connection_attempt()
            transport.abort()

    async def wait_closed(self, timeout=TIMEOUT):
        await asyncio.wait_for(self.closed.wait(), timeout)


def client_for(account, resource=None, cb=DEFAULT_CB, password=None,
               mechs=None):
    jid = account.jid + ("/" + resource if resource else "")
    return Client(jid, password if password is not None else account.password,
                  cb=cb, mechs=mechs)


async def login(server, account, resource=None, *, direct=False, port=None,
                priority=None, presence=True, roster=False, cb=DEFAULT_CB,
                password=None, mechs=None, timeout=TIMEOUT, sync=True):
    """Connect `account` (a harness Account) to `server`, log in and, unless
    presence=False, send initial presence (with <priority/> when given).
    mechs limits the SASL mechanisms slixmpp may choose (e.g. {"PLAIN"}).
    STARTTLS on the `required` port, or direct TLS on the `direct` port when
    direct=True. Returns the Client once the session started (and, with
    sync=True, once the server has processed the initial presence). Raises
    LoginFailed with the reason otherwise."""
    client = client_for(account, resource, cb=cb, password=password,
                        mechs=mechs)
    started = asyncio.get_running_loop().create_future()

    async def on_session_start(_event):
        try:
            if roster:
                await client.get_roster(timeout=timeout)
            if presence:
                client.send_presence(ppriority=priority)
            if sync:
                await client.sync(timeout=timeout)
            if not started.done():
                started.set_result(True)
        except Exception as e:  # noqa: report it to the waiter
            if not started.done():
                started.set_exception(e)

    def on_end(reason):
        if not started.done():
            started.set_exception(LoginFailed(
                f"{account.jid}: disconnected before the session started "
                f"(sasl failure: {client.failure}, stream error: "
                f"{client.stream_error}, reason: {reason})", client))

    client.add_event_handler("session_start", on_session_start)
    client.add_event_handler("disconnected", on_end)
    client.add_event_handler("killed", on_end)
    client.add_event_handler("connection_failed", on_end)
    if port is None:
        port = server.ports["direct" if direct else "required"]
    if direct:
        client.connect(("127.0.0.1", port), use_ssl=True, disable_starttls=True)
    else:
        client.connect(("127.0.0.1", port), force_starttls=True)
    try:
        await asyncio.wait_for(started, timeout)
    except asyncio.TimeoutError:
        client.cancel_connection_attempt()
        client.drop()
        client.dispose()
        raise LoginFailed(f"{account.jid}: no session within {timeout} s "
                          f"(sasl failure: {client.failure}, stream error: "
                          f"{client.stream_error})", client) from None
    except BaseException:
        client.cancel_connection_attempt()
        client.drop()
        client.dispose()
        raise
    return client


async def login_fails(server, account, password=None, condition="not-authorized", **kw):
    """Try to log in; expect the server to refuse it with the SASL failure
    `condition` (None: any refusal, even a timeout). Returns the LoginFailed
    exception (its text names the SASL failure condition); AssertionError if
    the login worked or failed some other way."""
    try:
        c = await login(server, account, password=password, **kw)
    except LoginFailed as e:
        assert condition is None or e.failure == condition, \
            f"expected SASL failure <{condition}/>: {e}"
        return e
    await c.close()
    raise AssertionError(f"{account.jid} logged in, but it should not have")


async def close_all(*clients):
    await asyncio.gather(*(c.close() for c in clients if c is not None),
                         return_exceptions=True)


# ---------------------------------------------------------------------------
# Small readers of received stanzas (on the raw XML, so that nothing slixmpp
# would normalise can hide a difference).

def bodies(msg):
    """{lang or None: text} of every <body/> child."""
    return {b.get(XML_LANG): (b.text or "")
            for b in msg.xml.findall("{%s}body" % NS_CLIENT)}


def delay_of(msg):
    """The urn:xmpp:delay element of a message, or None."""
    return msg.xml.find("{%s}delay" % NS_DELAY)


def error_condition(stanza):
    """(type, condition) of a stanza's <error/>, or None."""
    err = stanza.xml.find("{%s}error" % NS_CLIENT)
    if err is None:
        return None
    for child in err:
        if child.tag.startswith("{%s}" % NS_STANZAS) and not child.tag.endswith("}text"):
            return err.get("type"), child.tag.split("}")[1]
    return err.get("type"), None


def xml_of(stanza):
    return ET.tostring(stanza.xml, encoding="unicode")


# ---------------------------------------------------------------------------
# Instant messaging: rosters, subscriptions, presence and blocking (RFC 6121,
# XEP-0191, XEP-0186), for test_roster.py, test_subscriptions.py,
# test_presence.py and test_blocking.py.
#
# A client from login_im() behaves like a real IM client that lets its user
# decide: slixmpp's automatic answers to subscription requests are off, it
# asks for the roster (and, if told, the block list) before its initial
# presence, and it keeps what it receives in Mailboxes, from which a test
# takes the stanza it waits for and leaves the others for later checks:
#
#     client.presence_box   every <presence/> (errors and subscriptions too)
#     client.message_box    every <message/>
#     client.roster_pushes  roster pushes (iq type='set', jabber:iq:roster)
#     client.block_pushes   block list pushes (iq type='set', urn:xmpp:blocking)
#
# Absence ("Carol did not get it") is checked after settle(sender, carol),
# the ping barrier: whatever the sender's stanzas made the server send has
# then arrived.

import collections as _collections
from xml.sax.saxutils import escape as _escape, quoteattr as _quoteattr

from slixmpp.xmlstream.matcher.base import MatcherBase as _MatcherBase

NS_ROSTER = "jabber:iq:roster"
NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_INVISIBLE = "urn:xmpp:invisible:1"


class Mailbox:
    """Stanzas of one kind in arrival order, until a test takes them."""

    def __init__(self, what):
        self.what = what
        self.items = []
        self._changed = asyncio.Event()

    def put(self, stanza):
        self.items.append(stanza)
        self._changed.set()

    def clear(self):
        self.items.clear()

    def matching(self, pred=lambda s: True):
        """The stanzas here now for which pred is true (they stay)."""
        return [s for s in self.items if pred(s)]

    async def wait(self, pred=lambda s: True, timeout=TIMEOUT, what=None):
        """Take the first stanza for which pred is true, waiting up to
        `timeout` s for it; the others stay. AssertionError (listing what
        did arrive) if none comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, s in enumerate(self.items):
                if pred(s):
                    del self.items[i]
                    return s
            remaining = deadline - loop.time()
            if remaining <= 0:
                have = "\n  ".join(xml_of(s) for s in self.items) or "nothing"
                raise AssertionError(f"no {what or self.what} within {timeout} s; "
                                     f"{self.what} received:\n  {have}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


class _Match(_MatcherBase):
    """A slixmpp matcher from a predicate on the stanza."""

    def match(self, xml):
        return self._criteria(xml)


def _is_block_push(stanza):
    x = stanza.xml
    return (x.tag == "{%s}iq" % NS_CLIENT and x.get("type") == "set"
            and any(c.tag in ("{%s}block" % NS_BLOCKING, "{%s}unblock" % NS_BLOCKING)
                    for c in x))


def watch_im(client):
    """Give `client` the four mailboxes (see above) and acknowledge block
    list pushes (slixmpp already acknowledges roster pushes). Returns it."""
    if getattr(client, "presence_box", None) is not None:
        return client
    client.presence_box = Mailbox("presence")
    client.message_box = Mailbox("message")
    client.roster_pushes = Mailbox("roster push")
    client.block_pushes = Mailbox("block list push")
    client.add_event_handler("presence", client.presence_box.put)
    client.register_handler(Callback(
        "canto message box", MatchXPath("{%s}message" % NS_CLIENT),
        client.message_box.put))

    def on_roster(iq):
        if iq["type"] == "set":
            client.roster_pushes.put(iq)
    client.add_event_handler("roster_update", on_roster)

    def on_block_push(iq):
        client.block_pushes.put(iq)
        iq.reply(clear=True).send()
    client.register_handler(Callback("canto block push", _Match(_is_block_push),
                                     on_block_push))
    return client


async def clear_boxes(*clients):
    """Forget what the clients received so far (e.g. during a setup), after
    the barrier settle(clients, *clients): nothing that what they sent
    caused can arrive after the clearing and pass for something new."""
    clients = [c for c in clients if c is not None]
    await settle(clients, *clients)
    for c in clients:
        for box in (c.presence_box, c.message_box, c.roster_pushes, c.block_pushes):
            box.clear()


async def login_im(server, account, resource=None, *, roster=True,
                   blocklist=False, presence=True, priority=None, show=None,
                   status=None, **kw):
    """Log in as an IM client that answers subscription requests itself:
    bind, then (slixmpp's auto_authorize and auto_subscribe off, mailboxes
    on) request the roster if `roster` (the result's view is kept in
    client.initial_roster) and the block list if `blocklist`, then send
    initial presence (with priority, show and status when given) if
    `presence`, and sync. Other keywords go to login()."""
    client = await login(server, account, resource, presence=False, **kw)
    try:
        client.auto_authorize = None
        client.auto_subscribe = False
        watch_im(client)
        client.initial_roster = await roster_get(client, ver="") if roster else None
        if blocklist:
            await blocklist_get(client)
        if presence:
            client.send_presence(ppriority=priority, pshow=show, pstatus=status)
        await client.sync()
    except BaseException:
        await client.close()
        raise
    return client


# -- iq with an exact payload ------------------------------------------------

async def send_iq(client, payload, type="get", to=None, timeout=TIMEOUT):
    """Send an iq whose child is exactly `payload` (XML text); return the
    result Iq, or raise IqError (e.iq is the error)."""
    iq = client.Iq(stype=type)
    if to is not None:
        iq["to"] = to
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=timeout)


async def iq_error(client, payload, type="set", to=None, timeout=TIMEOUT):
    """Send an iq that must fail; return its <error/> as (type, condition,
    Iq). AssertionError if it succeeds."""
    try:
        res = await send_iq(client, payload, type=type, to=to, timeout=timeout)
    except IqError as e:
        err_type, cond = error_condition(e.iq)
        return err_type, cond, e.iq
    raise AssertionError(f"expected an error for {payload[:300]!r}, got {xml_of(res)}")


# -- rosters (RFC 6121 section 2) ---------------------------------------------

RosterView = _collections.namedtuple("RosterView", "ver items")


def roster_items(query):
    """{jid: {'name', 'subscription', 'ask', 'approved', 'groups'}} of the
    <item/>s of a jabber:iq:roster <query/> element. Absent attributes are
    None; groups is the sorted list of <group/> texts (a set, in RFC 6121)."""
    items = {}
    for it in query.findall("{%s}item" % NS_ROSTER):
        items[it.get("jid")] = {
            "name": it.get("name"),
            "subscription": it.get("subscription"),
            "ask": it.get("ask"),
            "approved": it.get("approved"),
            "groups": sorted(g.text or "" for g in it.findall("{%s}group" % NS_ROSTER)),
        }
    return items


async def roster_get(client, ver=None):
    """Roster get (with ver='...' when ver is not None). Returns a
    RosterView(ver, items), or None for an empty result (RFC 6121 2.6.3:
    the client's version is current)."""
    attr = "" if ver is None else f" ver={_quoteattr(ver)}"
    res = await send_iq(client, f"<query xmlns='{NS_ROSTER}'{attr}/>")
    q = res.xml.find("{%s}query" % NS_ROSTER)
    if q is None:
        assert len(res.xml) == 0, f"unexpected roster result: {xml_of(res)}"
        return None
    return RosterView(q.get("ver"), roster_items(q))


def roster_item_xml(jid, name=None, groups=(), subscription=None, extra=""):
    attrs = f"jid={_quoteattr(jid)}"
    if name is not None:
        attrs += f" name={_quoteattr(name)}"
    if subscription is not None:
        attrs += f" subscription={_quoteattr(subscription)}"
    inner = "".join(f"<group>{_escape(g)}</group>" for g in groups)
    return f"<item {attrs}{extra}>{inner}</item>"


async def roster_set(client, jid, name=None, groups=(), subscription=None, to=None):
    """Roster set of one item; returns the result Iq (IqError on error)."""
    item = roster_item_xml(jid, name, groups, subscription)
    return await send_iq(client, f"<query xmlns='{NS_ROSTER}'>{item}</query>",
                         type="set", to=to)


async def roster_remove(client, jid):
    return await roster_set(client, jid, subscription="remove")


_UNSET = object()


def push_of(iq, account=None):
    """(jid, item dict, ver) of a roster push. Asserts what RFC 6121 2.1.6
    requires of every push: one item, and no 'from' other than the
    account's bare JID (`account`, by default the bare 'to' of the push)."""
    q = iq.xml.find("{%s}query" % NS_ROSTER)
    assert q is not None, xml_of(iq)
    items = roster_items(q)
    assert len(items) == 1, f"a roster push carries exactly one item: {xml_of(iq)}"
    if account is None:
        account = iq.xml.get("to", "").split("/")[0]
    assert iq.xml.get("from") in (None, "", account), \
        f"roster push from someone else than the account: {xml_of(iq)}"
    (jid, item), = items.items()
    return jid, item, q.get("ver")


async def wait_push(client, jid, subscription=_UNSET, ask=_UNSET, timeout=TIMEOUT,
                    **attrs):
    """Take the first roster push on `client` about `jid` whose item has the
    given values (subscription may be a tuple of accepted values; None means
    the attribute is absent; other item keys such as name=, approved=,
    groups= work alike). Returns (item dict, ver)."""
    want = dict(attrs)
    if subscription is not _UNSET:
        want["subscription"] = subscription
    if ask is not _UNSET:
        want["ask"] = ask

    account = client.boundjid.bare

    def ok(iq):
        pjid, item, _ = push_of(iq, account)
        if pjid != jid:
            return False
        for k, v in want.items():
            if isinstance(v, tuple) and k != "groups":
                if item[k] not in v:
                    return False
            elif k == "groups":
                if sorted(item[k]) != sorted(v):
                    return False
            elif item[k] != v:
                return False
        return True

    desc = ", ".join(f"{k}={v!r}" for k, v in want.items())
    iq = await client.roster_pushes.wait(
        ok, timeout, what=f"roster push for {jid} ({desc}) to {client.boundjid.full}")
    _, item, ver = push_of(iq, account)
    return item, ver


def pushes_about(client, jid):
    """Roster pushes about `jid` received so far and not taken."""
    return [iq for iq in client.roster_pushes.matching()
            if push_of(iq, client.boundjid.bare)[0] == jid]


# -- presence -------------------------------------------------------------------

def ptype(p):
    """A presence's type attribute, 'available' when absent (slixmpp's
    p['type'] gives the <show/> value instead)."""
    return p.xml.get("type") or "available"


def from_is(p, jid):
    """True if the stanza comes from `jid` (full JID if it has a resource,
    else the bare JID exactly, without a resource)."""
    return p.xml.get("from", "") == jid


def from_account(p, bare):
    """True if the stanza comes from the account `bare` (any resource or
    none)."""
    return p.xml.get("from", "").split("/")[0] == bare


async def wait_presence(client, frm, type="available", timeout=TIMEOUT, pred=None):
    """Take the first presence on `client` from `frm` (exact JID) of the
    given type (None: any) that also satisfies pred."""
    def ok(p):
        return (from_is(p, frm) and (type is None or ptype(p) == type)
                and (pred is None or pred(p)))
    return await client.presence_box.wait(
        ok, timeout, what=f"presence type={type} from {frm} to {client.boundjid.full}")


def presences_from(client, bare, type=None):
    """Presences from the account `bare` received so far and not taken."""
    return client.presence_box.matching(
        lambda p: from_account(p, bare) and (type is None or ptype(p) == type))


# -- the barrier ----------------------------------------------------------------

async def settle(senders, *targets):
    """The barrier to pass before asserting that something did not arrive:
    each of `senders` (a client or a list of clients) pings the server, then
    each of `targets` does. Canto answers a client's ping only once it has
    routed (and, where it stores, made durable) everything that client sent
    before it, and it writes the pong after everything already queued for
    that client. So after the senders' pongs, whatever their stanzas made
    the server send is queued for the targets, and after each target's
    pong it has reached that target's mailboxes. No sleep, no marker.

    It covers what the senders sent, not what others send meanwhile nor
    what the server does later on its own (a timeout, a drop it notices
    later): wait for such an event itself. A client may be both a sender
    and a target (its stanzas to itself, or to others and back)."""
    if senders is None or not isinstance(senders, (list, tuple)):
        senders = [senders]
    for c in (*senders, *targets):
        if c is not None:
            await c.sync()


# -- subscriptions ----------------------------------------------------------------

async def subscribe_and_approve(user, contact):
    """RFC 6121 3.1 by the book, for setting up a test: `user` subscribes to
    the contact's presence and `contact` (an available, interested client
    of the contact's account) approves. Returns when the user's roster push
    says 'to' or 'both' and the contact's says 'from' or 'both'."""
    ubare, cbare = user.boundjid.bare, contact.boundjid.bare
    user.send_presence(pto=cbare, ptype="subscribe")
    await contact.presence_box.wait(
        lambda p: ptype(p) == "subscribe" and from_account(p, ubare),
        what=f"subscription request from {ubare}")
    contact.send_presence(pto=ubare, ptype="subscribed")
    await wait_push(user, cbare, subscription=("to", "both"), ask=None)
    await wait_push(contact, ubare, subscription=("from", "both"))


# -- blocking (XEP-0191) ----------------------------------------------------------

def _items_xml(jids):
    return "".join(f"<item jid={_quoteattr(j)}/>" for j in jids)


async def blocklist_get(client):
    """The block list, as a list of JIDs in the server's order."""
    res = await send_iq(client, f"<blocklist xmlns='{NS_BLOCKING}'/>")
    bl = res.xml.find("{%s}blocklist" % NS_BLOCKING)
    assert bl is not None, f"no <blocklist/> in the result: {xml_of(res)}"
    return [it.get("jid") for it in bl.findall("{%s}item" % NS_BLOCKING)]


async def block(client, *jids):
    return await send_iq(client, f"<block xmlns='{NS_BLOCKING}'>{_items_xml(jids)}</block>",
                         type="set")


async def unblock(client, *jids):
    """Unblock the JIDs; with none, unblock everyone."""
    return await send_iq(client, f"<unblock xmlns='{NS_BLOCKING}'>{_items_xml(jids)}</unblock>",
                         type="set")


def block_push_of(iq):
    """('block' or 'unblock', [jids]) of a block list push."""
    for c in iq.xml:
        if c.tag in ("{%s}block" % NS_BLOCKING, "{%s}unblock" % NS_BLOCKING):
            return (c.tag.split("}")[1],
                    [it.get("jid") for it in c.findall("{%s}item" % NS_BLOCKING)])
    raise AssertionError(f"not a block list push: {xml_of(iq)}")
