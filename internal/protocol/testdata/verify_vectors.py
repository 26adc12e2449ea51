#!/usr/bin/env python3
"""Recompute GuardCast's known answers (vectors.json) from docs/protocol.md alone.

An auditor's check that the published recipe is exact: every proof-record
hash is rebuilt from the record's JSON fields, every signed message from
its parts, the enrollment MAC from the secret; with the `cryptography`
package installed, every Ed25519 key, signature and head_sig is checked
(and re-made: Ed25519 signing is deterministic) too.

    python3 verify_vectors.py vectors.json

Exit status 0 when everything matches; 1 with a list of what did not.
"""

import base64
import hashlib
import hmac
import json
import struct
import sys

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
except ImportError:  # hashes and MACs are still checked
    Ed25519PrivateKey = None

GENESIS = "0" * 64
failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


# --- docs/protocol.md, "The hash of a record" ---------------------------

def s(v):
    b = v.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def u(n):
    return struct.pack(">Q", n % 2**64)


def canonical(r):
    return (s("guardcast/proof/v1") + s(r["device"]) + u(r["seq"]) + s(r["prev"]) + u(r["version"])
            + s(r["output"]) + s(r.get("playlist", "")) + s(r.get("media_sha256", ""))
            + u(r["start_ns"]) + u(r["end_ns"]) + u(r["mono_ns"])
            + bytes([1 if r["clock_synced"] else 0])
            + s(r["result"]) + s(r.get("reason", "")))


def record_hash(r):
    return hashlib.sha256(canonical(r)).hexdigest()


# --- "Batches and signatures", "Desired state", "Hello and enrollment" ----

def head_message(device, seq, h):
    return b"guardcast/proof-head/v1\n" + device.encode() + b"\n" + str(seq).encode() + b"\n" + h.encode()


def desired_message(payload):
    return b"guardcast/desired/v1\n" + payload


def enroll_mac(secret, device, pub):
    return hmac.new(secret, b"guardcast/enroll/v1\n" + device.encode() + b"\n" + pub, hashlib.sha256).digest()


def key_id(pub):
    return hashlib.sha256(pub).digest()[:8].hex()


def verify(pub, msg, sig, what):
    if Ed25519PrivateKey is None:
        return
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
    except InvalidSignature:
        failures.append(f"{what}: signature does not verify")


def main(path):
    with open(path, encoding="utf-8") as f:
        v = json.load(f)

    keys = {}
    for name in ("content_key", "device_key"):
        k = v[name]
        pub = bytes.fromhex(k["public_key_hex"])
        check(f"{name} base64", base64.b64decode(k["public_key_base64"], validate=True), pub)
        check(f"{name} key_id", key_id(pub), k["key_id"])
        priv = None
        if Ed25519PrivateKey is not None:
            priv = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(k["seed_hex"]))
            raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            check(f"{name} public key from its seed", raw.hex(), k["public_key_hex"])
        keys[name] = (pub, priv)

    cpub, cpriv = keys["content_key"]
    for d in v["desired"]:
        payload = d["payload"].encode("utf-8")
        env = json.loads(d["envelope"])
        check(f"desired {d['name']!r}: envelope payload", base64.b64decode(env["payload"], validate=True), payload)
        check(f"desired {d['name']!r}: envelope key_id", env["key_id"], key_id(cpub))
        check(f"desired {d['name']!r}: envelope v", env["v"], 1)
        msg = desired_message(payload)
        check(f"desired {d['name']!r}: message", msg.hex(), d["message_hex"])
        sig = base64.b64decode(env["sig"], validate=True)
        check(f"desired {d['name']!r}: envelope sig", sig.hex(), d["sig_hex"])
        verify(cpub, msg, sig, f"desired {d['name']!r}")
        if cpriv is not None:
            check(f"desired {d['name']!r}: signature re-made", cpriv.sign(msg).hex(), d["sig_hex"])

    by_name = {}
    for p in v["proof_records"]:
        r = json.loads(p["record"]) if isinstance(p["record"], str) else p["record"]
        c = canonical(r)
        check(f"proof {p['name']!r}: canonical bytes", c.hex(), p["canonical_hex"])
        check(f"proof {p['name']!r}: hash", record_hash(r), p["hash"])
        by_name[p["name"]] = r

    dpub, dpriv = keys["device_key"]
    for h in v["heads"]:
        msg = head_message(h["device"], h["seq"], h["hash"])
        check(f"head {h['name']!r}: message", msg.hex(), h["message_hex"])
        sig = bytes.fromhex(h["sig_hex"])
        verify(dpub, msg, sig, f"head {h['name']!r}")
        if dpriv is not None:
            check(f"head {h['name']!r}: signature re-made", dpriv.sign(msg).hex(), h["sig_hex"])

    # A batch as an auditor receives it: rebuild the chain, check the head.
    b = json.loads(v["batch"])
    prev = GENESIS
    for i, r in enumerate(b["records"]):
        check(f"batch record {r['seq']}: device", r["device"], b["device"])
        if i == 0 and r["seq"] == 1:
            check("batch record 1: prev", r["prev"], GENESIS)
        elif i > 0:
            check(f"batch record {r['seq']}: seq", r["seq"], b["records"][i - 1]["seq"] + 1)
            check(f"batch record {r['seq']}: prev", r["prev"], prev)
        prev = record_hash(r)
    last = b["records"][-1]
    verify(dpub, head_message(b["device"], last["seq"], prev), base64.b64decode(b["head_sig"], validate=True), "batch head_sig")

    for e in v["enroll"]:
        mac = enroll_mac(bytes.fromhex(e["secret_hex"]), e["device"], bytes.fromhex(e["public_key_hex"]))
        check(f"enroll {e['device']}: message",
              (b"guardcast/enroll/v1\n" + e["device"].encode() + b"\n" + bytes.fromhex(e["public_key_hex"])).hex(),
              e["message_hex"])
        check(f"enroll {e['device']}: mac", mac.hex(), e["mac_hex"])

    if failures:
        print("\n".join(failures))
        return 1
    sigs = "signatures checked" if Ed25519PrivateKey is not None else "signatures NOT checked (no cryptography package)"
    print(f"ok: {len(v['proof_records'])} record hashes, {len(v['desired'])} documents, "
          f"{len(v['heads'])} heads, {len(b['records'])}-record batch, {len(v['enroll'])} enroll MAC; {sigs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "vectors.json"))
