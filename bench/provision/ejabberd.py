#!/usr/bin/python3
"""ejabberd.py: provision benchmark accounts (and rosters) for ejabberd 23.01.

  ejabberd.py --ctl 'bench/peers/ejabberdctl.sh DIR' --domain D --prefix P
              --first F --count N --password PW [--roster K] [--hash SHA-256]
              [--iterations 4096] [--file OUT.xml]

Writes one XEP-0227 (PIEFXIS) file with every account and, with --roster K,
a roster giving user i the contacts i+1..i+K (modulo N) with subscription
"both", then loads it in one call: `ejabberdctl import_piefxis FILE` against
the running private server (Mnesia). Each account carries precomputed SCRAM
credentials (<scram-credentials xmlns='urn:xmpp:pie:0#scram'>), so ejabberd
derives no key per account; all share one salt and one derivation (see
scram.py: acceptable for benchmark accounts, which share one password). The
hash must match the server's auth_scram_hash (start-ejabberd.sh: sha256).

ejabberd 23.01 quirk: its importer base64-decodes the key and salt fields
once, but its SCRAM code expects them still base64-encoded in Mnesia (that is
how it stores credentials it derives itself). The fields are therefore
written base64-encoded twice; bench/provision/verify.py proves the result
logs in. Existing accounts make the import fail: import into a fresh spool.
"""
import argparse
import base64
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scram  # noqa: E402


def b64(data, times):
    for _ in range(times):
        data = base64.b64encode(data)
    return data.decode()


def write_file(path, a):
    salt = ("canto-bench-" + a.hash.lower() + "-shared-salt").encode()
    stored, server = scram.credentials(a.password, salt, a.iterations, a.hash)
    n = a.encode_times
    cred = (f"<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-{a.hash}'>"
            f"<iter-count>{a.iterations}</iter-count><salt>{b64(salt, n)}</salt>"
            f"<server-key>{b64(server, n)}</server-key><stored-key>{b64(stored, n)}</stored-key>"
            "</scram-credentials>")
    with open(path, "w") as f:
        f.write("<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'>\n")
        f.write(f"<host jid='{a.domain}'>\n")
        for k in range(a.count):
            i = k + 1
            f.write(f"<user name='{a.prefix}{a.first + k}'>{cred}")
            if a.roster:
                f.write("<query xmlns='jabber:iq:roster'>")
                for c in scram.roster_contacts(i, a.count, a.roster):
                    f.write(f"<item jid='{a.prefix}{a.first + c - 1}@{a.domain}' subscription='both'/>")
                f.write("</query>")
            f.write("</user>\n")
        f.write("</host>\n</server-data>\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctl", required=True, help="command that runs ejabberdctl for the private server")
    scram.add_account_args(ap, iterations=4096)
    ap.add_argument("--encode-times", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--file", help="keep the PIEFXIS file here (default: a temporary file)")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    t0 = time.monotonic()
    path = a.file or tempfile.mkstemp(prefix="canto-bench-", suffix=".xml")[1]
    try:
        write_file(path, a)
        t1 = time.monotonic()
        cmd = shlex.split(a.ctl) + ["import_piefxis", os.path.abspath(path)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
        out = (r.stdout + r.stderr).strip()
        out = "\n".join(l for l in out.splitlines() if "not recommended to run ejabberd as root" not in l)
        if r.returncode != 0 or out:
            print(f"ejabberd.py: import_piefxis failed (exit {r.returncode}): {out}", file=sys.stderr)
            return 1
    finally:
        if not a.file:
            os.unlink(path)
    print(f"ejabberd: {a.count} accounts {a.prefix}{a.first}..{a.prefix}{a.first + a.count - 1}@{a.domain}"
          f"{f' with rosters of {a.roster}' if a.roster else ''} in {time.monotonic() - t0:.1f}s "
          f"(file {t1 - t0:.1f}s, import {time.monotonic() - t1:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
