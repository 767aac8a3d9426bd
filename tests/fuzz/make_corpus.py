#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_engine into tests/fuzz/corpus/ (deterministic; rerun to refresh).

Each seed is one DNS message covering a path through the engine: answers in every view, EDNS and
its errors, CHAOS, truncation-sized names, and malformed headers, names and records.
"""
import os
import struct

NAME = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
NX = "0123456789ABCDEF0123456789ABCDEF.yl4.eu-west-1.eks.amazonaws.com"


def name(n):
    out = b""
    for label in n.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qname, qtype=1, qclass=1, flags=0x0100, qd=1, an=0, ns=0, ar=0, tail=b""):
    return struct.pack(">HHHHHH", 0xBEEF, flags, qd, an, ns, ar) + name(qname) + \
        struct.pack(">HH", qtype, qclass) + tail


def opt(size=1232, version=0, do=False, options=b"", owner=b"\0"):
    return owner + struct.pack(">HHBBHH", 41, size, 0, version, 0x8000 if do else 0,
                               len(options)) + options


SEEDS = {
    "zone_a": query("www.lab.internal"),
    "zone_cname": query("alias.lab.internal", ar=1, tail=opt()),
    "zone_cname_loop": query("loop1.lab.internal"),
    "zone_wildcard": query("x.y.apps.lab.internal"),
    "zone_ent_nx": query("c.b.apps.lab.internal", 16),
    "zone_referral": query("host.sub.lab.internal"),
    "zone_nxdomain": query("nope.lab.internal", 28),
    "zone_any": query("lab.internal", 255),
    "a_apex": query(NAME),
    "aaaa_apex": query(NAME, 28),
    "soa_apex": query(NAME, 6),
    "ns_apex": query(NAME, 2),
    "any_apex": query(NAME, 255),
    "txt_nodata": query(NAME, 16),
    "below_apex": query("x." + NAME),
    "mixed_case": query(NAME.lower().swapcase()),
    "other_zone": query("example.com"),
    "root": query(""),
    "private_nx": query(NX),
    "private_nx_below": query("a.b." + NX),
    "edns": query(NAME, ar=1, tail=opt()),
    "edns_do_nsid": query(NAME, ar=1, tail=opt(do=True, options=struct.pack(">HH", 3, 0))),
    "edns_badvers": query(NAME, ar=1, tail=opt(version=1)),
    "edns_small": query(NAME, ar=1, tail=opt(size=100)),
    "edns_unknown_option": query(NAME, ar=1, tail=opt(options=struct.pack(">HHH", 65001, 2, 7))),
    "edns_two_opt": query(NAME, ar=2, tail=opt() + opt()),
    "edns_bad_owner": query(NAME, ar=1, tail=opt(owner=b"\x01x\0")),
    "edns_option_overrun": query(NAME, ar=1, tail=opt(options=struct.pack(">HH", 3, 9))),
    "opt_in_answer": query(NAME, an=1, tail=opt()),
    "chaos_id": query("id.server", 16, 3),
    "chaos_version": query("version.bind", 16, 3),
    "chaos_other": query("authors.bind", 16, 3),
    "axfr": query(NAME, 252),
    "class_hs": query(NAME, 1, 4),
    "notify": query(NAME, flags=0x2000),
    "response": query(NAME, flags=0x8000),
    "qdcount0": query(NAME, qd=0),
    "qdcount2": query(NAME, qd=2),
    "short": b"\xbe\xef\x01\x00\x00\x01",
    "cut_question": query(NAME)[:-3],
    "pointer_loop": struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
    "label_0x40": struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\x41a\x00\x00\x01\x00\x01",
    "compressed_additional": query(NAME, ar=1, tail=b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"),
    "arcount_past_end": query(NAME, ar=3),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(out, exist_ok=True)
for k, v in SEEDS.items():
    with open(os.path.join(out, k), "wb") as f:
        f.write(v)
print(f"wrote {len(SEEDS)} seeds to {out}")
