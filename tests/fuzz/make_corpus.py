#!/usr/bin/env python3
"""Writes the seed corpora: fuzz_engine's into tests/fuzz/corpus/, each other target's into
tests/fuzz/corpus_<target>/ (deterministic; rerun to refresh).

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


def rr(owner, rtype, rdata, ttl=300, rclass=1):
    return (owner if isinstance(owner, bytes) else name(owner)) + \
        struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def response(qname, qtype=1, rcode=0, an=(), ns=(), ar=(), flags=0x8180, qd=1, tail=b""):
    flags |= rcode
    return struct.pack(">HHHHHH", 0xBEEF, flags, qd, len(an), len(ns), len(ar)) + name(qname) + \
        struct.pack(">HH", qtype, 1) + b"".join(an) + b"".join(ns) + b"".join(ar) + tail


SOA = name("ns.example.com") + name("hostmaster.example.com") + struct.pack(">IIIII", 1, 3600, 600, 86400, 60)

# Upstream answers for fuzz_upstream: positive, negative with and without SOA, CNAME chains into
# our names (lab.internal), out-of-bailiwick additionals, OPT, compression, truncation, junk.
UPSTREAM = {
    "a": response("www.example.com", an=[rr("www.example.com", 1, b"\xc0\x00\x02\x01")]),
    "a_compressed": response("www.example.com", an=[rr(b"\xc0\x0c", 1, b"\xc0\x00\x02\x01")]),
    "aaaa": response("www.example.com", 28, an=[rr("www.example.com", 28, bytes(15) + b"\x01")]),
    "cname_chain": response("www.example.com", an=[rr("www.example.com", 5, name("b.example.net")),
                                                   rr("b.example.net", 1, b"\x01\x02\x03\x04", 30)]),
    "cname_to_ours": response("www.example.com", an=[rr("www.example.com", 5, name("x.lab.internal")),
                                                     rr("x.lab.internal", 1, b"\x0a\x00\x00\x01")]),
    "ours_in_additional": response("www.example.com", an=[rr("www.example.com", 1, b"\x01\x01\x01\x01")],
                                   ar=[rr("ns.lab.internal", 1, b"\x0a\x00\x00\x35")]),
    "nxdomain_soa": response("nope.example.com", rcode=3, ns=[rr("example.com", 6, SOA, 900)]),
    "nxdomain_no_soa": response("nope.example.com", rcode=3),
    "nodata": response("www.example.com", 16, ns=[rr("example.com", 6, SOA)]),
    "servfail": response("www.example.com", rcode=2),
    "truncated": response("www.example.com", flags=0x8380),
    "with_opt": response("www.example.com", an=[rr("www.example.com", 1, b"\x01\x02\x03\x04")],
                         ar=[b"\x00" + struct.pack(">HHBBHH", 41, 1232, 0, 0, 0, 0)]),
    "referral": response("www.example.com", flags=0x8100, ns=[rr("example.com", 2, name("ns.example.com"))],
                         ar=[rr("ns.example.com", 1, b"\xc0\x00\x02\x35")]),
    "ttl_huge": response("www.example.com", an=[rr("www.example.com", 1, b"\x01\x02\x03\x04", 0xFFFFFFFF)]),
    "rdlen_overrun": response("www.example.com")+ name("www.example.com") + struct.pack(">HHIH", 1, 1, 60, 40) + b"\x01",
    "pointer_loop": struct.pack(">HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
    "short": b"\xbe\xef\x81\x80\x00",
}

# Admin API bodies for fuzz_admin: the first byte is the route (0 update-config, 1 authorize,
# 2 revoke, 3 EC2 Query form, 4 the form parser alone).
ADMIN = {
    "update_public": b"\x00" + b'{"resourcesVpcConfig":{"endpointPublicAccess":true,"endpointPrivateAccess":true,"publicAccessCidrs":["203.0.113.5/32"]},"clientRequestToken":"t1"}',
    "update_private": b"\x00" + b'{"resourcesVpcConfig":{"endpointPublicAccess":false,"endpointPrivateAccess":true}}',
    "update_bad_cidr": b"\x00" + b'{"resourcesVpcConfig":{"publicAccessCidrs":["10.0.0.0/33"]}}',
    "update_empty": b"\x00",
    "update_wrong_types": b"\x00" + b'{"resourcesVpcConfig":{"endpointPublicAccess":"yes","subnetIds":{}}}',
    "authorize_json": b"\x01" + b'{"IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"192.168.0.0/16","Description":"lab"}]}]}',
    "authorize_v6": b"\x01" + b'{"IpPermissions":[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"2001:db8::/32"}]}]}',
    "revoke_json": b"\x02" + b'{"IpPermissions":[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"192.168.0.0/16"}]}]}',
    "revoke_ids": b"\x02" + b'{"SecurityGroupRuleIds":["sgr-0123456789abcdef0"]}',
    "ec2_authorize": b"\x03" + b"Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-0123456789abcdef0&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=192.168.0.0%2F16",
    "ec2_describe": b"\x03" + b"Action=DescribeSecurityGroupRules&Version=2016-11-15&Filter.1.Name=group-id&Filter.1.Value.1=sg-0123456789abcdef0",
    "ec2_describe_groups": b"\x03" + b"Action=DescribeSecurityGroups&Version=2016-11-15",
    "ec2_revoke_ids": b"\x03" + b"Action=RevokeSecurityGroupIngress&GroupId=sg-0123456789abcdef0&SecurityGroupRuleId.1=sgr-0123456789abcdef0",
    "form_nested": b"\x04" + b"a.1.b.2.c=x&a.1.b.1.c=y&k=%zz&=v&plus+sign=a+b",
    "form_big_index": b"\x04" + b"k.1000=x&k.99999999999999999999=y",
}

ZONE = {
    "small": b"$ORIGIN lab.internal.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 10.0.0.53\n"
             b"www IN AAAA fd00::10\nalias IN CNAME www\n*.apps IN A 10.0.1.1\ntxt IN TXT \"a b\" c \"\\065\\\"\"\n"
             b"( multi IN A\n 10.0.0.9 )\nsub IN NS ns.sub\nmx IN MX 10 mail\n; comment\n",
    "errors": b"$TTL x\n@ IN SOA ns1\nwww IN A 300.1.1.1\nbad IN CNAME\n$INCLUDE /etc/passwd\n",
}

CONFIG = {
    "minimal": b'[[cluster]]\nname = "c"\nendpoint = "0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"\n'
               b'private_ips = ["10.0.0.1"]\npublic_ips = ["203.0.113.1"]\nvpc_cidrs = ["10.0.0.0/16"]\n',
    "syntax_error": b"[server\nlisten = ",
}

SHORTHAND = {
    "vpc": b"endpointPublicAccess=true,endpointPrivateAccess=false,publicAccessCidrs=203.0.113.5/32,198.51.100.0/24",
    "list": b"publicAccessCidrs=[1.2.3.4/32,5.6.7.8/32],subnetIds=subnet-1",
    "nested": b"a={b=[c,{d=e}],f='g,h'},i=\"j\\\"k\"",
    "json": b' {"endpointPublicAccess": false, "publicAccessCidrs": ["0.0.0.0/0"]}',
    "escape": b"a=b\\,c,d=",
    "unknown": b"foo=bar",
    "deep": b"a=" + b"[" * 70,
}

SCENARIO = {
    "tiny": b'name = "tiny"\nduration = "60s"\n[cluster]\nname = "c"\n',
}

here = os.path.dirname(os.path.abspath(__file__))
for corpus, seeds in (("corpus", SEEDS), ("corpus_upstream", UPSTREAM), ("corpus_admin", ADMIN),
                      ("corpus_zone", ZONE), ("corpus_config", CONFIG),
                      ("corpus_shorthand", SHORTHAND), ("corpus_scenario", SCENARIO)):
    out = os.path.join(here, corpus)
    os.makedirs(out, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(out, k), "wb") as f:
            f.write(v)
    print(f"wrote {len(seeds)} seeds to {out}")
