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
    """The client could not log in; the message says how far it got."""


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
                f"{client.stream_error}, reason: {reason})"))

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
                          f"{client.stream_error})") from None
    except BaseException:
        client.cancel_connection_attempt()
        client.drop()
        client.dispose()
        raise
    return client


async def login_fails(server, account, password=None, **kw):
    """Try to log in; return the LoginFailed exception (its text names the
    SASL failure condition) or raise AssertionError if the login worked."""
    try:
        c = await login(server, account, password=password, **kw)
    except LoginFailed as e:
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
