#!/usr/bin/python3
"""prosody.py: provision benchmark accounts (and rosters) for Prosody 0.12.

  prosody.py --data DATA_DIR --domain D --prefix P --first F --count N
             --password PW [--roster K] [--hash SHA-256] [--iterations 10000]

Writes Prosody's internal storage files directly, the way mod_storage_internal
and util.datamanager lay them out: DATA_DIR/<host>/accounts/<user>.dat, a Lua
table with iteration_count, salt, stored_key and server_key (hex) as
mod_auth_internal_hashed reads them, and with --roster K
DATA_DIR/<host>/roster/<user>.dat giving user i the contacts i+1..i+K
(modulo N) with subscription "both". Host and user names are encoded as
datamanager does (every non-alphanumeric byte as %xx).

The password hash must match the server's `password_hash` option (what
bench/peers/start-prosody.sh sets): SHA-1 offers SCRAM-SHA-1, SHA-256
SCRAM-SHA-256. One salt and one key derivation serve every account (see
scram.py: acceptable for benchmark accounts, which share one password).
Existing files are overwritten. Run it before Prosody starts, or while it
runs: Prosody reads these files at each login.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scram  # noqa: E402


def dm_encode(s):
    return "".join(c if c.isascii() and c.isalnum() else "".join(f"%{b:02x}" for b in c.encode()) for c in s)


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_atomic(path, text):
    tmp = path + "~"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="Prosody's data_path")
    scram.add_account_args(ap, iterations=10000)
    a = ap.parse_args()
    t0 = time.monotonic()
    salt = "canto-bench-" + a.hash.lower() + "-shared-salt"
    stored, server = scram.credentials(a.password, salt.encode(), a.iterations, a.hash)
    account = ("return {\n"
               f"\t[\"iteration_count\"] = {a.iterations};\n"
               f"\t[\"salt\"] = {lua_str(salt)};\n"
               f"\t[\"server_key\"] = \"{server.hex()}\";\n"
               f"\t[\"stored_key\"] = \"{stored.hex()}\";\n"
               "};\n")
    host_dir = os.path.join(a.data, dm_encode(a.domain))
    acc_dir = os.path.join(host_dir, "accounts")
    ros_dir = os.path.join(host_dir, "roster")
    os.makedirs(acc_dir, exist_ok=True)
    if a.roster:
        os.makedirs(ros_dir, exist_ok=True)
    for n in range(a.count):
        i = n + 1
        user = f"{a.prefix}{a.first + n}"
        write_atomic(os.path.join(acc_dir, dm_encode(user) + ".dat"), account)
        if a.roster:
            lines = ["return {", "\t[false] = {", "\t\t[\"pending\"] = {};", "\t\t[\"version\"] = 1;", "\t};"]
            for c in scram.roster_contacts(i, a.count, a.roster):
                jid = f"{a.prefix}{a.first + c - 1}@{a.domain}"
                lines.append(f"\t[{lua_str(jid)}] = {{")
                lines.append("\t\t[\"groups\"] = {};")
                lines.append("\t\t[\"subscription\"] = \"both\";")
                lines.append("\t};")
            lines.append("};\n")
            write_atomic(os.path.join(ros_dir, dm_encode(user) + ".dat"), "\n".join(lines))
    print(f"prosody: {a.count} accounts {a.prefix}{a.first}..{a.prefix}{a.first + a.count - 1}@{a.domain}"
          f"{f' with rosters of {a.roster}' if a.roster else ''} in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
