#!/usr/bin/env python3
"""Check a GuardCast admin-log export without Go.

    python3 verify_adminlog.py EXPORT.json [PUBKEY_BASE64_OR_FILE]

EXPORT.json is either a JSON array of entries (as the admin-log API
returns them) or JSON lines, one entry per line (as `adminlog export`
writes them); a line with a "public_key" field gives the key. A key on the
command line — base64 as in DATA/adminlog.pub, hex, or a file holding
either — takes precedence. Signatures are checked when the `cryptography`
package is installed. Prints one line per problem ("SEQ RULE") and exits 1
if there is any.
This script is the reference in docs/users-and-admin-log.md.
"""
import base64, hashlib, json, os, sys

ZERO = "0" * 64


def canonical(e):
    detail = json.dumps(e["detail"], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    fields = [str(e["seq"]), str(e["at_ns"]), e["actor"], e["action"], e["target"], e["prev"], detail]
    out = b"guardcast-adminlog-v1\n"
    for f in fields:
        b = f.encode("utf-8")
        out += str(len(b)).encode("ascii") + b":" + b + b"\n"
    return out


def key_bytes(text):
    text = text.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    return base64.b64decode(text)


def verifier(pub):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    key = Ed25519PublicKey.from_public_bytes(key_bytes(pub))

    def ok(message, sig):
        try:
            key.verify(base64.b64decode(sig), message)
            return True
        except Exception:
            return False
    return ok


def verify(entries, pub_b64=None):
    problems = []
    check_sig = verifier(pub_b64) if pub_b64 else None
    first = {}
    for i, e in enumerate(entries):
        first.setdefault(e["seq"], i)
    expect, hashes = 1, {}
    for i, e in enumerate(entries):
        seq = e["seq"]
        h = hashlib.sha256(canonical(e)).hexdigest()
        if h != e["hash"]:
            problems.append((seq, "hash_mismatch"))
        if check_sig and not check_sig(b"guardcast-adminlog-sig-v1\n" + e["hash"].encode("ascii"), e["sig"]):
            problems.append((seq, "bad_signature"))
        is_first = first[seq] == i
        if not is_first:
            problems.append((seq, "duplicate"))
        elif seq < expect:
            problems.append((seq, "out_of_order"))
        elif seq > expect:
            later = first.get(expect)
            problems.append((seq, "out_of_order" if later is not None and later > i else "gap"))
        if e["hash"] in hashes and is_first:
            problems.append((seq, "duplicate"))
        else:
            hashes.setdefault(e["hash"], seq)
        if is_first:
            if seq == 1:
                if e["prev"] != ZERO:
                    problems.append((seq, "broken_chain"))
            elif seq - 1 in first and entries[first[seq - 1]]["hash"] != e["prev"]:
                problems.append((seq, "broken_chain"))
            if seq >= expect:
                expect = seq + 1
    return problems


def load(path):
    text = open(path, encoding="utf-8").read()
    if text.lstrip().startswith("["):
        return json.loads(text), None
    entries, pub = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if "public_key" in obj and "seq" not in obj:
            pub = obj["public_key"]
        else:
            entries.append(obj)
    return entries, pub


def main():
    entries, pub = load(sys.argv[1])
    if len(sys.argv) > 2:
        pub = sys.argv[2]
        if os.path.exists(pub):
            pub = open(pub).read().strip()
    problems = verify(entries, pub)
    for seq, rule in problems:
        print(f"{seq} {rule}")
    if pub and verifier(pub) is None:
        print("signatures not checked: pip install cryptography", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
