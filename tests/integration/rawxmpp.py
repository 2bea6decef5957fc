"""A raw asyncio XMPP client for exact wire tests.

Standard library only. It sends exactly the bytes a test gives it and keeps
everything it receives, so a test can check the wire two ways that share one
read position:

* `read_until(regex)` searches the text received since the last read (the
  bytes viewed as latin-1, so offsets are byte offsets; use stanzas, not
  regexes, to check non-ASCII content) and consumes up to the end of the match.
* `read_stanza()` / `wait_stanza(pred)` return the next complete top-level
  element (features, SASL elements, stanzas, stream errors) as an
  xml.etree Element with Clark-notation names ("{jabber:client}message").
  read_stanza consumes in order; wait_stanza takes the first match and leaves
  the others queued.

On top of that: open_stream(), starttls(), SCRAM-SHA-1/256/512 (and -PLUS
with tls-server-end-point) and PLAIN, bind(), iq(), login(). Python's ssl
module cannot export keying material, so tls-exporter is not available here.

Every wait has a timeout (default 10 s) and fails with what was received so
far, so a test never hangs and a failure shows the wire.
"""

import asyncio
import base64
import hashlib
import hmac
import itertools
import os
import re
import ssl
import xml.etree.ElementTree as ET
import xml.parsers.expat
from xml.sax.saxutils import escape, quoteattr

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_VERSION = "jabber:iq:version"
NS_TIME = "urn:xmpp:time"
NS_XML = "http://www.w3.org/XML/1998/namespace"

DEFAULT_TIMEOUT = 10.0

_ids = itertools.count(1)


def new_id(prefix="r"):
    return f"{prefix}{next(_ids)}"


def q(tag, ns):
    """Clark name: q('iq', NS_CLIENT) -> '{jabber:client}iq'."""
    return f"{{{ns}}}{tag}"


def tostring(el):
    return ET.tostring(el, encoding="unicode") if el is not None else "None"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


class ConnectionClosed(AssertionError):
    """The peer closed the connection while we waited for something."""


class WaitTimeout(AssertionError):
    """Nothing matching arrived in time."""


class SaslFailure(AssertionError):
    def __init__(self, condition, element):
        super().__init__(f"SASL failure <{condition}/>: {tostring(element)}")
        self.condition = condition
        self.element = element


class StreamError(AssertionError):
    def __init__(self, condition, element):
        super().__init__(f"stream error <{condition}/>: {tostring(element)}")
        self.condition = condition
        self.element = element


class StanzaError(AssertionError):
    def __init__(self, element):
        self.element = element
        err = element.find(q("error", NS_CLIENT))
        self.type = err.get("type") if err is not None else None
        self.condition = None
        if err is not None:
            for child in err:
                if child.tag.startswith("{" + NS_STANZAS + "}") and not child.tag.endswith("}text"):
                    self.condition = child.tag.split("}")[1]
        super().__init__(f"stanza error {self.type}/{self.condition}: {tostring(element)}")


def local(el):
    """Local name of an element: '{ns}name' -> 'name'."""
    return el.tag.split("}")[-1]


def ns_of(el):
    return el.tag[1:].split("}")[0] if el.tag.startswith("{") else ""


def condition(el, ns):
    """The first child of `el` in namespace `ns` other than <text/>."""
    for child in el:
        if ns_of(child) == ns and local(child) != "text":
            return local(child)
    return None


def tls_context(alpn=None, min_version=None, max_version=None, ciphers=None):
    """A client context that verifies nothing (the test certificate is
    self-signed) and can be restricted to a TLS version range."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


# ---------------------------------------------------------------------------
# SCRAM (RFC 5802, RFC 7677) and PLAIN (RFC 4616), pure Python.

SCRAM_HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256",
                "SCRAM-SHA-512": "sha512"}


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class Scram:
    """One SCRAM exchange, client side. `gs2` is the whole GS2 header
    ('n,,', 'y,,', 'p=tls-server-end-point,,', or anything a test wants to
    send); `cb_data` the channel binding bytes appended to it in c=."""

    def __init__(self, mechanism, user, password, gs2="n,,", cb_data=b"",
                 nonce=None):
        base = mechanism[:-5] if mechanism.endswith("-PLUS") else mechanism
        self.hash = SCRAM_HASHES[base]
        self.user = user
        self.password = password
        self.gs2 = gs2
        self.cb_data = cb_data
        self.nonce = nonce or b64(os.urandom(18))
        self.client_first_bare = f"n={_saslname(user)},r={self.nonce}"
        self.server_signature = None

    def client_first(self):
        return (self.gs2 + self.client_first_bare).encode()

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hash).digest()

    def client_final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.nonce) or nonce == self.nonce:
            raise AssertionError(f"server nonce {nonce!r} does not extend ours {self.nonce!r}")
        channel = b64(self.gs2.encode() + self.cb_data)
        without_proof = f"c={channel},r={nonce}"
        salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash, client_key).digest()
        auth_message = ",".join([self.client_first_bare, server_first, without_proof]).encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={b64(proof)}".encode()

    def verify_server_final(self, data):
        data = data.decode()
        attrs = dict(kv.split("=", 1) for kv in data.split(",") if "=" in kv)
        if "v" not in attrs:
            raise AssertionError(f"server-final without v=: {data!r}")
        if base64.b64decode(attrs["v"]) != self.server_signature:
            raise AssertionError("server signature does not verify")


# ---------------------------------------------------------------------------

class Client:
    """One raw connection. Create with `await Client.connect(port)`."""

    def __init__(self, reader, writer, host):
        self.reader = reader
        self.writer = writer
        self.host = host
        self.text = ""              # everything received, latin-1 view of the bytes
        self.pos = 0                # read position in self.text
        self.eof = False
        self.stanzas = []           # [(end offset in text, Element)]
        self.stream_attrs = None    # attributes of the server's stream header
        self.stream_closed = False  # server sent </stream:stream>
        self.features = None        # last <stream:features> Element
        self.jid = None             # full JID once bound
        self.mechanisms = []
        self._reset_parser()

    # -- connection --------------------------------------------------------

    @classmethod
    async def connect(cls, port, direct_tls=False, host="localhost",
                      ssl_context=None, address="127.0.0.1", source=None):
        """Open a TCP connection (TLS at once if direct_tls), from the local
        address `source` if given (any 127.x.y.z works on loopback)."""
        local = {"local_addr": (source, 0)} if source else {}
        if direct_tls:
            ctx = ssl_context or tls_context(alpn=["xmpp-client"])
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                address, port, ssl=ctx, server_hostname=host, **local), DEFAULT_TIMEOUT)
        else:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, **local), DEFAULT_TIMEOUT)
        return cls(reader, writer, host)

    @property
    def ssl_object(self):
        return self.writer.get_extra_info("ssl_object")

    @property
    def tls(self):
        return self.ssl_object is not None

    def server_cert_der(self):
        return self.ssl_object.getpeercert(binary_form=True)

    def tls_server_end_point(self):
        """RFC 5929 channel binding data: SHA-256 of the server certificate
        (signed with SHA-256, so the hash is SHA-256)."""
        return hashlib.sha256(self.server_cert_der()).digest()

    async def send(self, data):
        """Write bytes (str is UTF-8 encoded). Raises ConnectionResetError
        once the connection is closing."""
        if isinstance(data, str):
            data = data.encode()
        if self.writer.transport.is_closing():
            raise ConnectionResetError("connection is closed")
        self.writer.write(data)
        await self.writer.drain()

    async def close(self):
        """Drop the connection without a closing handshake."""
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # -- receiving ---------------------------------------------------------

    def _reset_parser(self):
        """Start a fresh XML parser at the current end of the received text
        (a new stream: after STARTTLS or SASL success)."""
        p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        p.buffer_text = True
        p.StartElementHandler = self._on_start
        p.EndElementHandler = self._on_end
        p.CharacterDataHandler = self._on_text
        self._parser = p
        self._parser_base = len(self.text)
        self._depth = 0
        self._builder = None
        self._stanza_start = None   # offset of the current top-level element's '<'
        self.stream_tag = None
        self.stream_attrs = None
        self.stream_closed = False
        self.header_offset = None
        self.parse_error = None

    @staticmethod
    def _clark(name):
        if " " in name:
            uri, localname = name.split(" ", 1)
            return f"{{{uri}}}{localname}"
        return name

    def _on_start(self, name, attrs):
        self._depth += 1
        attrs = {self._clark(k): v for k, v in attrs.items()}
        if self._depth == 1:
            self.stream_tag = self._clark(name)
            self.stream_attrs = attrs
            self.header_offset = self._parser_base + self._parser.CurrentByteIndex
            return
        if self._depth == 2:
            self._builder = ET.TreeBuilder()
            self._stanza_start = self._parser_base + self._parser.CurrentByteIndex
        self._builder.start(self._clark(name), attrs)

    def _on_text(self, data):
        if self._depth >= 2:
            self._builder.data(data)

    def _on_end(self, name):
        if self._depth >= 2:
            self._builder.end(self._clark(name))
        if self._depth == 2:
            el = self._builder.close()
            self._builder = None
            end = self._stanza_end()
            if local(el) == "features" and ns_of(el) == NS_STREAM:
                self.features = el
            self.stanzas.append((end, el))
        elif self._depth == 1:
            self.stream_closed = True
        self._depth -= 1

    def _stanza_end(self):
        """Offset just past the top-level element that just ended. For
        <x>...</x> expat's position at the end event is the end tag's '<';
        for a self-closing <x/> it is already past the tag (the next tag's
        '<', if any), so there the element ends with its start tag."""
        start_tag_end = self._tag_end(self._stanza_start)
        if self.text[start_tag_end - 2:start_tag_end] == "/>":
            return start_tag_end
        return self._tag_end(self._parser_base + self._parser.CurrentByteIndex)

    def _tag_end(self, start):
        """Offset just past the tag that begins at `start` ('<'), skipping
        '>' inside quoted attribute values."""
        quote = None
        for i in range(start + 1, len(self.text)):
            c = self.text[i]
            if quote:
                if c == quote:
                    quote = None
            elif c in "'\"":
                quote = c
            elif c == ">":
                return i + 1
        return len(self.text)

    async def _fill(self, timeout):
        """Read one chunk within `timeout`. Returns False at EOF."""
        if self.eof:
            return False
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except asyncio.TimeoutError:    # a subclass of OSError since 3.11
            raise
        except (ConnectionError, ssl.SSLError, OSError):
            # StreamReader raises a reset before handing out what it had
            # buffered: keep those bytes, they may hold the stream error.
            data = bytes(getattr(self.reader, "_buffer", b""))
            if data:
                self.reader._buffer.clear()
                self._feed(data)
            data = b""
        if not data:
            self.eof = True
            return False
        self._feed(data)
        return True

    def _feed(self, data):
        self.text += data.decode("latin-1")
        if self.parse_error is None:
            try:
                self._parser.Parse(data, False)
            except xml.parsers.expat.ExpatError as e:
                if not self.stream_closed:
                    self.parse_error = e

    def unread(self):
        return self.text[self.pos:]

    async def read_until(self, pattern, timeout=DEFAULT_TIMEOUT, flags=re.S):
        """Wait until `pattern` matches the unread text; consume through the
        match and return the re.Match."""
        rx = re.compile(pattern, flags)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            m = rx.search(self.text, self.pos)
            if m:
                self.pos = m.end()
                return m
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"no /{pattern}/ within {timeout} s; unread: {self.unread()[-2000:]!r}")
            try:
                more = await self._fill(remaining)
            except asyncio.TimeoutError:
                continue
            if not more:
                raise ConnectionClosed(f"connection closed before /{pattern}/; unread: {self.unread()[-2000:]!r}")

    async def _take(self, pred, timeout):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.stanzas = [(end, el) for end, el in self.stanzas if end > self.pos]
            for i, (end, el) in enumerate(self.stanzas):
                if pred is None or pred(el):
                    del self.stanzas[i]
                    if i == 0:      # nothing unconsumed before it: consume it
                        self.pos = max(self.pos, end)
                    return end, el
            if self.parse_error:
                raise AssertionError(f"server sent malformed XML ({self.parse_error}); "
                                     f"received: {self.unread()[-2000:]!r}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"no matching element within {timeout} s; "
                                  f"unread: {self.unread()[-2000:]!r}")
            try:
                more = await self._fill(remaining)
            except asyncio.TimeoutError:
                continue
            if not more:
                raise ConnectionClosed(f"connection closed; unread: {self.unread()[-2000:]!r}")

    async def wait_stanza(self, pred=None, timeout=DEFAULT_TIMEOUT):
        """The first unconsumed top-level element for which pred(el) is true;
        it leaves the queue, the others stay (the read position moves past it
        only if nothing unconsumed came before it). Raises ConnectionClosed or
        WaitTimeout (with the unread text) if none comes."""
        return (await self._take(pred, timeout))[1]

    async def read_stanza(self, timeout=DEFAULT_TIMEOUT):
        """The next top-level element, in order; consumes through it."""
        end, el = await self._take(None, timeout)
        self.pos = max(self.pos, end)
        return el

    async def expect_closed(self, timeout=DEFAULT_TIMEOUT):
        """Wait for EOF; return the text that came before it. Fails if the
        connection is still open after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.eof:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"connection still open after {timeout} s; unread: {self.unread()[-2000:]!r}")
            try:
                await self._fill(remaining)
            except asyncio.TimeoutError:
                pass
        rest = self.unread()
        self.pos = len(self.text)
        return rest

    async def expect_stream_error(self, cond, timeout=DEFAULT_TIMEOUT):
        """Wait for <stream:error> with condition `cond` (or one of a tuple
        of conditions), then
        </stream:stream> and the connection closing. Matched on the text,
        so it works even where the XML before it was hostile. Returns the
        stream error's text."""
        m = await self.read_until(r"<stream:error\s*>(.*?)</stream:error\s*>", timeout)
        conds = re.findall(r"<([\w-]+)\s+xmlns=['\"]" + re.escape(NS_STREAMS) + "['\"]",
                           m.group(1))
        conds = [c for c in conds if c != "text"]
        wanted = (cond,) if isinstance(cond, str) else tuple(cond)
        assert len(conds) == 1 and conds[0] in wanted, \
            f"expected stream error {' or '.join(f'<{w}/>' for w in wanted)}, got {m.group(0)!r}"
        await self.read_until(r"</stream:stream\s*>", timeout)
        await self.expect_closed(timeout)
        return m.group(0)

    async def check_open(self):
        """Assert the stream is still usable: no stream error or close so
        far (it does not wait)."""
        for _, el in self.stanzas:
            if el.tag == q("error", NS_STREAM):
                raise StreamError(condition(el, NS_STREAMS), el)
        assert not self.eof, f"connection closed; received {self.unread()[-2000:]!r}"

    # -- stream ------------------------------------------------------------

    def header(self, to="localhost", version="1.0", lang=None, xmlns=NS_CLIENT,
               stream_ns=NS_STREAM, from_=None, decl=True):
        attrs = []
        if to is not None:
            attrs.append(f"to={quoteattr(to)}")
        if from_ is not None:
            attrs.append(f"from={quoteattr(from_)}")
        if version is not None:
            attrs.append(f"version={quoteattr(version)}")
        if lang is not None:
            attrs.append(f"xml:lang={quoteattr(lang)}")
        ns = f" xmlns={quoteattr(xmlns)}" if xmlns is not None else ""
        return (("<?xml version='1.0'?>" if decl else "")
                + f"<stream:stream{ns} xmlns:stream={quoteattr(stream_ns)} "
                + " ".join(attrs) + ">")

    async def open_stream(self, to="localhost", version="1.0", lang=None,
                          expect_features=True, timeout=DEFAULT_TIMEOUT, **kw):
        """Send a stream header; wait for the server's header and (unless
        expect_features is False) its features. Returns the received text
        from the header through </stream:features>."""
        self.pos = len(self.text)
        self.stanzas = []
        self._reset_parser()
        await self.send(self.header(to=to, version=version, lang=lang, **kw))
        start = self.pos
        if not expect_features:
            await self.read_until(r"<(?:[\w.-]+:)?stream\b[^>]*>", timeout)
            return self.text[start:self.pos]
        el = await self.read_stanza(timeout)
        if el.tag == q("error", NS_STREAM):
            raise StreamError(condition(el, NS_STREAMS), el)
        assert el.tag == q("features", NS_STREAM), f"expected features, got {tostring(el)}"
        self.mechanisms = [m.text for m in el.findall(f"{{{NS_SASL}}}mechanisms/{{{NS_SASL}}}mechanism")]
        return self.text[start:self.pos]

    async def close_stream(self, timeout=DEFAULT_TIMEOUT):
        """Closing handshake: send </stream:stream>, expect the server's and
        the connection to close."""
        await self.send("</stream:stream>")
        await self.read_until(r"</(?:[\w.-]+:)?stream\s*>", timeout)
        await self.expect_closed(timeout)

    async def starttls(self, ssl_context=None, send=True):
        """<starttls/> -> <proceed/>, then the TLS handshake on this socket."""
        if send:
            await self.send(f"<starttls xmlns='{NS_TLS}'/>")
        el = await self.read_stanza()
        assert el.tag == q("proceed", NS_TLS), f"expected <proceed/>, got {tostring(el)}"
        await self.upgrade_tls(ssl_context)

    async def upgrade_tls(self, ssl_context=None):
        ctx = ssl_context or tls_context()
        await asyncio.wait_for(self.writer.start_tls(ctx, server_hostname=self.host),
                               DEFAULT_TIMEOUT)

    # -- SASL --------------------------------------------------------------

    async def _sasl_next(self):
        el = await self.read_stanza()
        if el.tag == q("failure", NS_SASL):
            raise SaslFailure(condition(el, NS_SASL), el)
        if el.tag == q("error", NS_STREAM):
            raise StreamError(condition(el, NS_STREAMS), el)
        if ns_of(el) != NS_SASL:
            raise AssertionError(f"unexpected element during SASL: {tostring(el)}")
        return el

    @staticmethod
    def _payload(el):
        text = (el.text or "").strip()
        if text in ("", "="):
            return b""
        return base64.b64decode(text, validate=True)

    async def auth_scram(self, user, password, mechanism="SCRAM-SHA-256",
                         gs2=None, cb_data=None, nonce=None):
        """A full SCRAM exchange. For -PLUS the default binding is
        tls-server-end-point with the real certificate hash. Raises
        SaslFailure on <failure/>. Returns the <success/> element."""
        plus = mechanism.endswith("-PLUS")
        if gs2 is None:
            gs2 = "p=tls-server-end-point,," if plus else "n,,"
        if cb_data is None:
            cb_data = self.tls_server_end_point() if gs2.startswith("p=") else b""
        scram = Scram(mechanism, user, password, gs2=gs2, cb_data=cb_data, nonce=nonce)
        await self.send(f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>"
                        f"{b64(scram.client_first())}</auth>")
        el = await self._sasl_next()
        assert local(el) == "challenge", f"expected challenge, got {tostring(el)}"
        await self.send(f"<response xmlns='{NS_SASL}'>"
                        f"{b64(scram.client_final(self._payload(el)))}</response>")
        el = await self._sasl_next()
        if local(el) == "challenge":   # server-final as a challenge (RFC 6120 allows it)
            scram.verify_server_final(self._payload(el))
            await self.send(f"<response xmlns='{NS_SASL}'/>")
            el = await self._sasl_next()
            assert local(el) == "success", f"expected success, got {tostring(el)}"
        else:
            assert local(el) == "success", f"expected success, got {tostring(el)}"
            scram.verify_server_final(self._payload(el))
        return el

    async def auth_plain(self, user, password, authzid=""):
        creds = b64(f"{authzid}\0{user}\0{password}".encode())
        await self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{creds}</auth>")
        el = await self._sasl_next()
        assert local(el) == "success", f"expected success, got {tostring(el)}"
        return el

    async def authenticate(self, user, password, mechanism="SCRAM-SHA-256", **kw):
        if mechanism == "PLAIN":
            return await self.auth_plain(user, password)
        return await self.auth_scram(user, password, mechanism, **kw)

    # -- session -----------------------------------------------------------

    async def bind(self, resource=None):
        """Resource binding; returns the full JID the server assigned."""
        inner = f"<resource>{escape(resource)}</resource>" if resource is not None else ""
        res = await self.iq(f"<bind xmlns='{NS_BIND}'>{inner}</bind>", type="set", to=None)
        jid = res.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
        assert jid is not None and jid.text, f"bind result without jid: {tostring(res)}"
        self.jid = jid.text
        return self.jid

    async def iq(self, payload, type="get", to=None, id=None, raise_error=True,
                 timeout=DEFAULT_TIMEOUT):
        """Send an iq and wait for the result or error with the same id.
        Raises StanzaError on type='error' unless raise_error is False."""
        id = id or new_id("iq")
        to_attr = f" to={quoteattr(to)}" if to else ""
        await self.send(f"<iq type='{type}' id={quoteattr(id)}{to_attr}>{payload}</iq>")
        res = await self.wait_stanza(
            lambda e: (e.tag == q("iq", NS_CLIENT) and e.get("id") == id
                       and e.get("type") in ("result", "error"))
            or e.tag == q("error", NS_STREAM), timeout)
        if res.tag == q("error", NS_STREAM):
            raise StreamError(condition(res, NS_STREAMS), res)
        if res.get("type") == "error" and raise_error:
            raise StanzaError(res)
        return res

    async def ping(self, to=None):
        return await self.iq(f"<ping xmlns='{NS_PING}'/>", to=to)

    async def login(self, user, password, mechanism="SCRAM-SHA-256",
                    resource=None, presence=False, starttls=True, to=None):
        """Everything up to a bound resource: stream, STARTTLS (if not on TLS
        yet and `starttls`), SASL, restart, bind, and optionally initial
        presence. Returns the full JID."""
        to = to or self.host
        await self.open_stream(to=to)
        if starttls and not self.tls:
            await self.starttls()
            await self.open_stream(to=to)
        await self.authenticate(user, password, mechanism)
        await self.open_stream(to=to)
        jid = await self.bind(resource)
        if presence:
            await self.send("<presence/>")
        return jid


async def connect(port, direct_tls=False, **kw):
    return await Client.connect(port, direct_tls=direct_tls, **kw)


async def login(server, account, listener="required", mechanism="SCRAM-SHA-256",
                resource=None, presence=False):
    """Connect to `server` (a harness.Server) and log `account` in."""
    c = await Client.connect(server.ports[listener], direct_tls=(listener == "direct"))
    await c.login(account.user, account.password, mechanism, resource=resource,
                  presence=presence)
    return c


async def assert_serves(server):
    """A fresh, well-behaved client can still log in and ping: the check
    that follows every abuse test."""
    account = server.account("healthy")
    c = await login(server, account)
    try:
        res = await c.ping()
        assert res.get("type") == "result", tostring(res)
    finally:
        await c.close()
