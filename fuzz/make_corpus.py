#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ (committed).

Seeds are well-formed inputs of each format, so the fuzzer starts deep inside the parsers:
real TPM structures made by tpm2-tools (crates/cairn-tpm/tests/fixtures), the SMBIOS table of
the bare-metal scan fixture, and statements, tokens, key sets and files shaped as DESIGN.md
pins them (their signatures are not valid: nothing fuzzed may verify). An EWC seed comes from
`cairn workload seal` when a built `cairn` is given: make_corpus.py [PATH/TO/cairn].
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seed(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def read(*path):
    with open(os.path.join(ROOT, *path), "rb") as f:
        return f.read()


REPORT = {
    "components": [
        {"class": "board", "id": "board", "values": {"serial": "CN7016347A0042", "vendor": "Dell Inc."}},
        {"class": "cpu", "id": "cpu0", "values": {"model": "Intel(R) Xeon(R) Gold 6338", "microcode": "0xd0003a5"}},
        {"class": "memory", "id": "DIMM_A1", "values": {"serial": "3A5B7C9D", "size_mb": "32768"}},
        {"class": "nic", "id": "eth0", "values": {"mac": "b4:96:91:00:00:01", "pci": "8086:1521"}},
    ]
}
HOST_ID = "h_0123456789abcdef0123456789abcdef"
NONCE = b64(bytes(range(32)))
TIME = "2026-12-02T01:00:00Z"


def statements():
    plain = {"alg": "EdDSA", "value": b64(b"\x01" * 64)}
    tpm = {
        "alg": "TPM2",
        "value": b64(read("crates/cairn-tpm/tests/fixtures/quote-ecc.sig")),
        "attest": b64(read("crates/cairn-tpm/tests/fixtures/quote-ecc.attest")),
        "pcrs": {"sha256": {"0": "00" * 32, "7": "ab" * 32}},
    }
    enrollment = {
        "nonce": NONCE,
        "name": "rack7-host3",
        "report": REPORT,
        "hk": {"alg": "EdDSA", "public_key": b64(b"\x07" * 32)},
        "join_token": "tok_" + "a" * 40,
    }
    tpm_enrollment = dict(enrollment, hk={"alg": "TPM2", "public_key": b64(read("crates/cairn-tpm/tests/fixtures/ak-ecc.pub"))},
                          ek_cert=b64(b"\x30\x82\x01\x00" + b"\x00" * 16))
    evidence = {
        "host_id": HOST_ID,
        "nonce": NONCE,
        "instance_key": b64(b"\x09" * 32),
        "security_token_digest": "cd" * 32,
        "time": TIME,
        "report": REPORT,
    }
    completion = {"erot_id": "e_" + "0f" * 16, "host_id": HOST_ID, "exit_status": 0,
                  "output_digest": "ef" * 32, "time": TIME}
    seed("statement", "enrollment.json", json.dumps({"enrollment": enrollment, "signature": plain}))
    seed("statement", "enrollment-tpm.json", json.dumps({"enrollment": tpm_enrollment, "signature": tpm}))
    seed("statement", "evidence.json", json.dumps({"evidence": evidence, "signature": plain}))
    seed("statement", "evidence-tpm.json", json.dumps({"evidence": evidence, "signature": tpm}))
    seed("statement", "completion.json", json.dumps({"completion": completion, "signature": plain}))
    for name in os.listdir(os.path.join(CORPUS, "statement")):
        with open(os.path.join(CORPUS, "statement", name), "rb") as f:
            seed("jcs", name, f.read())
    seed("jcs", "numbers.json", '[1e21, 1E-7, -0, 0.1, 123456789012345680000, 5e-324, 1.7976931348623157e308]')
    seed("jcs", "strings.json", '{"\\u20ac":"\\ud83d\\ude00","b":"\\u0000\\u001f\\"\\\\/","a":{"z":[],"y":{}}}')


def jwt(header, claims):
    part = lambda v: b64(json.dumps(v, separators=(",", ":")).encode())
    return part(header) + "." + part(claims) + "." + b64(b"\x02" * 64)


def tokens():
    kid = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    base = {"iss": "https://cairn", "iat": 1796000000, "nbf": 1796000000, "exp": 1796000300}
    pat = dict(base, sub=HOST_ID, aud="cairn-kbs", jti="AAECAwQFBgcICQoLDA0ODw", hwfp="12" * 32,
               cnf={"jwk": {"kty": "OKP", "crv": "X25519", "x": b64(b"\x09" * 32)}},
               tkd="cd" * 32, status="warning", drift=["nic/eth0", "pcr:7"])
    st = dict(base, sub="i-1", aud=["cairn-kbs", "other"], host_id=HOST_ID, volume_ids=["vol-1"])
    receipt = dict(base, sub="e_" + "0f" * 16, aud="cairn-rhem", workload={"name": "w", "runtime": "wasm", "memory_mb": 64},
                   workload_digest="34" * 32, host_id=HOST_ID, hk_pub=b64(b"\x07" * 32), nonce=b64(b"\x03" * 40),
                   erot_pub=b64(b"\x04" * 32), ewc_digest="56" * 32)
    seed("jwt", "pat", jwt({"alg": "EdDSA", "kid": kid, "typ": "pat+jwt"}, pat))
    seed("jwt", "security-token", jwt({"alg": "EdDSA", "kid": kid, "typ": "st+jwt"}, st))
    seed("jwt", "receipt", jwt({"alg": "EdDSA", "kid": kid, "typ": "erot-receipt+jwt"}, receipt))
    seed("jwt", "none", jwt({"alg": "none", "typ": "pat+jwt"}, pat))
    seed("jwt", "crit", jwt({"alg": "ES256", "kid": kid, "crit": ["exp"], "exp": 1}, st))
    # Bare claims, which the target also signs with its own key.
    seed("jwt", "pat-claims.json", json.dumps(dict(pat, exp=4102444800)))
    seed("jwt", "security-token-claims.json", json.dumps(dict(st, exp=4102444800)))
    jwks = {"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": b64(b"\x07" * 32), "kid": kid, "alg": "EdDSA", "use": "sig"},
        {"kty": "EC", "crv": "P-256", "x": b64(b"\x01" * 32), "y": b64(b"\x02" * 32), "kid": "ec"},
        {"kty": "RSA", "n": b64(b"\xc1" * 256), "e": "AQAB", "kid": "rsa", "alg": "PS256"},
        {"kty": "OKP", "crv": "X25519", "x": b64(b"\x09" * 32)},
    ]}
    seed("jwks", "mixed.json", json.dumps(jwks))


def tpm():
    fixtures = "crates/cairn-tpm/tests/fixtures"
    for kind in ("ecc", "rsa"):
        public = read(fixtures, f"ak-{kind}.pub")
        attest = read(fixtures, f"quote-{kind}.attest")
        sig = read(fixtures, f"quote-{kind}.sig")
        # The target's framing: len(public) ‖ public ‖ len(attest) ‖ attest ‖ signature.
        framed = len(public).to_bytes(2, "big") + public + len(attest).to_bytes(2, "big") + attest + sig
        seed("tpm", f"quote-{kind}", framed)


def smbios():
    tables = "crates/cairn-hfm/tests/fixtures/baremetal/sys/firmware/dmi/tables"
    seed("smbios", "baremetal", read(tables, "smbios_entry_point") + b"\xff" * 4 + read(tables, "DMI"))


def server_files():
    seed("server_files", "pcr-reference.json", json.dumps({
        "on_mismatch": "warn",
        "default": {"0": ["aa" * 32], "7": ["bb" * 32, "cc" * 32]},
        "hosts": {HOST_ID: {"7": ["dd" * 32]}},
    }))
    seed("server_files", "issuers.json", json.dumps({"issuers": [
        {"issuer": "https://oidc.example", "audience": "cairn-kbs", "typ": "JWT", "jwks_url": "https://oidc.example/jwks"},
        {"issuer": "https://k8s.example", "jwks_file": "/etc/cairn/k8s-jwks.json"},
    ]}))


def ewc(cairn):
    with tempfile.TemporaryDirectory() as work:
        # The X25519 public key of private bytes [7; 32]: the ewc target's fixed ERoT key.
        erot_pub = bytes.fromhex("13be4feaeaf204c7fd3358fc9c00721881d174278128227ec674f37f7fe97b6d")
        erot = {"erot_id": "e_" + "0f" * 16, "erot_pub": b64(erot_pub), "nonce": b64(b"\x03" * 40),
                "workload_digest": "34" * 32, "expires_at": TIME}
        erot_path = os.path.join(work, "erot.json")
        with open(erot_path, "w") as f:
            json.dump(erot, f)
        payload = os.path.join(work, "payload")
        with open(payload, "wb") as f:
            f.write(b"\0asm\x01\0\0\0" + bytes(range(256)) * 8)
        out = os.path.join(work, "app.ewc")
        subprocess.run([cairn, "workload", "seal", payload, "--erot", erot_path, "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
        with open(out, "rb") as f:
            seed("ewc", "small.ewc", f.read())


if __name__ == "__main__":
    statements()
    tokens()
    tpm()
    smbios()
    server_files()
    if len(sys.argv) > 1:
        ewc(sys.argv[1])
