"""Writes an NDJSON import file of `count` accounts whose password hashes are made by the
libraries other systems use: Python's bcrypt ($2b$, and the $2a$ and $2y$ spellings),
argon2-cffi (argon2id and argon2i), hashlib's scrypt and PBKDF2-SHA256 (as PHC strings);
with bad lines at known places.

Usage: import-users.py '{"path": ..., "count": 10000, "tag": "...", "domain": "example.com",
                         "group": "imported"}'
Prints {"samples": [{"line", "email", "password", "kind"}], "bad": [{"line", "code"}],
        "lines": total}.
"""
import base64
import hashlib
import json
import os
import sys

import argon2
import bcrypt

args = json.loads(sys.argv[1])
count, tag, domain, group = args["count"], args["tag"], args.get("domain", "example.com"), args["group"]


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def make(kind, password):
    pw = password.encode()
    if kind in ("bcrypt-2b", "bcrypt-2a", "bcrypt-2y"):
        h = bcrypt.hashpw(pw, bcrypt.gensalt(rounds=4)).decode()
        return h.replace("$2b$", "$" + kind.split("-")[1] + "$", 1)
    if kind == "argon2id":
        return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password)
    if kind == "argon2i":
        salt = os.urandom(16)
        return argon2.low_level.hash_secret(pw, salt, time_cost=1, memory_cost=1024, parallelism=1,
                                            hash_len=32, type=argon2.low_level.Type.I).decode()
    if kind == "scrypt":
        salt = os.urandom(16)
        dk = hashlib.scrypt(pw, salt=salt, n=2 ** 10, r=8, p=1, dklen=32)
        return f"$scrypt$ln=10,r=8,p=1${b64(salt)}${b64(dk)}"
    if kind == "pbkdf2-sha256":
        salt = os.urandom(16)
        dk = hashlib.pbkdf2_hmac("sha256", pw, salt, 1000, 32)
        return f"$pbkdf2-sha256$i=1000,l=32${b64(salt)}${b64(dk)}"
    raise ValueError(kind)


KINDS = ["bcrypt-2b", "bcrypt-2a", "bcrypt-2y", "argon2id", "argon2i", "scrypt", "pbkdf2-sha256"]
# A few distinct passwords per kind, reused across lines (hashing 10,000 would only be slow).
hashes = []
for kind in KINDS:
    for i in range(3):
        password = f"old {kind} password {i}"
        hashes.append((kind, password, make(kind, password)))

lines, samples, bad = [], [], []


def email(i):
    return f"{tag}.{i}@{domain}"


def wallet(i):
    return "eip155:1:0x" + hashlib.sha256(f"{tag}-{i}".encode()).hexdigest()[:40]


# Bad lines, each refused for its own reason, placed among the good ones.
BAD = {
    101: ("{not json", "invalid_json"),
    202: (json.dumps({"email": email(202), "shoe_size": 42}), "invalid_line"),
    303: (json.dumps({"email": "not an email"}), "invalid_email"),
    404: (json.dumps({"email": email(404), "password_hash": "$md5$abc$def"}), "invalid_password_hash"),
    505: (json.dumps({"email": email(505), "groups": ["no-such-group"]}), "group_not_found"),
    606: (json.dumps({"email": email(1).upper()}), "email_taken"),  # line 1's address, spelled otherwise
    707: (json.dumps({"email": email(707), "wallets": [wallet(3)]}), "wallet_already_linked"),
    808: (json.dumps({"attributes": {"name": "nobody"}}), "invalid_line"),
    909: (json.dumps({"email": email(909), "attributes": {"shoe": "42"}}), "invalid_attributes"),
}
for n in range(1, count + 1):
    if n in BAD:
        text, code = BAD[n]
        lines.append(text)
        bad.append({"line": n, "code": code})
        continue
    kind, password, h = hashes[n % len(hashes)]
    line = {"email": email(n), "email_verified": n % 2 == 0, "attributes": {"name": f"User {n}"},
            "password_hash": h}
    if n % 3 == 0:
        line["wallets"] = [wallet(n)]
    if n % 5 == 0:
        line["groups"] = [group]
    lines.append(json.dumps(line))
    if n <= 60 and len([s for s in samples if s["kind"] == kind]) < 2:
        samples.append({"line": n, "email": email(n), "password": password, "kind": kind})

with open(args["path"], "w") as f:
    f.write("\n".join(lines) + "\n")
print(json.dumps({"samples": samples, "bad": bad, "lines": len(lines)}))
