#!/usr/bin/python3
"""verify.py JID PASSWORD HOST PORT [--tls starttls|direct|none] [--roster K]

Checks a provisioned account with an independent client (slixmpp, Debian's
python3-slixmpp): logs in and exits 0 if the session started; with
--roster K, also fetches the roster and requires K contacts with
subscription "both". VERIFY_DEBUG=1 in the environment shows the XML. Used by bench/compare after provisioning, so that a
wrong credential format fails loudly before any figure is measured.
"""
import argparse
import asyncio
import logging
import ssl
import sys

import slixmpp
import slixmpp.exceptions


class Check(slixmpp.ClientXMPP):
    def __init__(self, jid, password, want_roster):
        super().__init__(jid, password)
        self.want_roster = want_roster
        self.result = "disconnected before the session started"
        self.auto_authorize = None
        self.auto_subscribe = False
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", self.on_fail)

    async def on_start(self, _):
        self.result = "ok"
        if self.want_roster is not None:
            try:
                await self.get_roster()
            except slixmpp.exceptions.IqError as e:
                self.result = f"roster request failed: {e.iq['error']['condition']}"
            else:
                items = [j for j in self.client_roster if self.client_roster[j]["subscription"] == "both"]
                if len(items) != self.want_roster:
                    self.result = (f"roster has {len(items)} contacts with subscription both, "
                                   f"expected {self.want_roster}")
        self.disconnect()

    def on_fail(self, _):
        self.result = "authentication failed"
        self.disconnect()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jid")
    ap.add_argument("password")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--tls", default="starttls", choices=["starttls", "direct", "none"])
    ap.add_argument("--roster", type=int)
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if __import__("os").environ.get("VERIFY_DEBUG") else logging.CRITICAL)
    c = Check(a.jid, a.password, a.roster)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    if a.tls == "none":
        c["feature_mechanisms"].unencrypted_scram = True
    if a.tls == "direct":
        c.connect((a.host, a.port), use_ssl=True, disable_starttls=True)
    elif a.tls == "starttls":
        c.connect((a.host, a.port), force_starttls=True)
    else:
        c.connect((a.host, a.port), disable_starttls=True, force_starttls=False)
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(c.disconnected, a.timeout))
    except asyncio.TimeoutError:
        c.result = c.result or f"no session after {a.timeout:g}s"
    if c.result != "ok":
        print(f"verify: {a.jid}: {c.result}", file=sys.stderr)
        return 1
    print(f"verify: {a.jid} logged in" + (f", roster of {a.roster} both" if a.roster is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
