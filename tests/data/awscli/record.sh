#!/usr/bin/env bash
# Records the AWS CLI's outputs in this folder (tests/unit/test_ctl.cpp compares horizonctl's
# formatters with them): a horizond from the build on loopback, Debian's awscli v2 against it.
#   usage: tests/data/awscli/record.sh build/horizond
# For each case NAME: NAME.json (--output json), NAME.text, NAME.table (stdout not a terminal: 80
# columns), and for some NAME.api.json (horizond's raw answer) and NAME.table-200 (a terminal 200
# columns wide). TZ=UTC: the AWS CLI prints timestamps in local time.
# The answers of commands that change something (update-cluster-config, authorize-...) and the
# 200-column table are formatted by the AWS CLI's own formatter classes (awscli.formatter) from
# its JSON output, the same code `aws --output text|table` runs; the script checks that both
# ways agree on a read-only command.
set -euo pipefail
horizond=$(realpath "$1")
out=$(cd "$(dirname "$0")" && pwd)
aws=${AWS:-/usr/bin/aws}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dns_port=$(free_port) admin_port=$(free_port) api_port=$(free_port)
cat > "$tmp/horizond.toml" <<EOF
[server]
listen = ["127.0.0.1:$dns_port"]
admin_listen = "127.0.0.1:$admin_port"
workers = 1

[[cluster]]
name = "aews"
region = "ap-northeast-2"
endpoint = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com"
vpc_cidrs = ["127.10.0.0/16", "192.168.0.0/16"]
private_ips = ["127.30.0.10", "192.168.2.10"]
public_ips = ["127.20.0.10", "127.20.0.11"]
access_mode = "public+private"
update_duration = "0s"
kubernetes_version = "1.30"
[cluster.api]
port = $api_port
security_group_ingress = ["127.10.0.0/24", "192.168.0.0/16"]

[[cluster]]
name = "private-lab"
region = "us-east-1"
endpoint = "0123456789ABCDEF0123456789ABCDEF.yl4.us-east-1.eks.amazonaws.com"
vpc_cidrs = ["10.0.0.0/16"]
private_ips = ["10.0.1.10", "fd00::10"]
public_ips = ["198.51.100.7", "2001:db8::7"]
access_mode = "private"
EOF
mkdir "$tmp/state" "$tmp/aws"
printf '[default]\nregion = ap-northeast-2\noutput = json\n' > "$tmp/aws/config"
printf '[default]\naws_access_key_id = x\naws_secret_access_key = x\n' > "$tmp/aws/credentials"
"$horizond" --config "$tmp/horizond.toml" --state-dir "$tmp/state" > "$tmp/log" 2>&1 &
pid=$!
url=http://127.0.0.1:$admin_port
for _ in $(seq 100); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done

run_aws() {
    env -i PATH=/usr/bin:/bin HOME="$tmp/aws" TZ=UTC NO_PROXY='*' AWS_ACCESS_KEY_ID=x \
        AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=ap-northeast-2 AWS_PAGER= \
        AWS_CONFIG_FILE="$tmp/aws/config" AWS_SHARED_CREDENTIALS_FILE="$tmp/aws/credentials" \
        AWS_EC2_METADATA_DISABLED=true ${COLUMNS:+COLUMNS=$COLUMNS} \
        "$aws" "$@" --endpoint-url "$url"
}
# awscli_format NAME TITLE [WIDTH]: NAME.text and NAME.table[-WIDTH] from NAME.json
awscli_format() {
    TZ=UTC python3 - "$out/$1" "$2" "${3:-}" <<'PY'
import argparse, collections, json, sys
import awscli.table
from awscli.formatter import TableFormatter, TextFormatter
base, title, width = sys.argv[1:]
def load():
    return json.load(open(base + ".json"), object_pairs_hook=collections.OrderedDict)
args = argparse.Namespace(query=None, color="off")
if width:
    # MultiTable ignores a terminal_width argument; it asks this function.
    awscli.table.determine_terminal_width = lambda default_width=80: int(width)
    with open(base + ".table-" + width, "w") as f:
        TableFormatter(args)(title, load(), f)
else:
    with open(base + ".text", "w") as f:
        TextFormatter(args)(title, load(), f)
    with open(base + ".table", "w") as f:
        TableFormatter(args)(title, load(), f)
PY
}
# record NAME aws-args...: the three outputs of one read-only command
record() {
    local name=$1; shift
    run_aws "$@" --output json > "$out/$name.json"
    run_aws "$@" --output text > "$out/$name.text"
    run_aws "$@" --output table > "$out/$name.table"
}

# One update first, so that list-updates and describe-update have something to show.
run_aws eks update-cluster-config --name aews --client-request-token record-1 \
    --resources-vpc-config 'endpointPublicAccess=true,publicAccessCidrs=203.0.113.5/32,198.51.100.0/24,endpointPrivateAccess=true' \
    --output json > "$tmp/update.json"
update_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["update"]["id"])' "$tmp/update.json")
for _ in $(seq 50); do
    curl -s "$url/clusters/aews/updates/$update_id" | grep -q '"Successful"' && break; sleep 0.1
done
# The update's own answer, replayed as the three formats (it is not read-only).
cp "$tmp/update.json" "$out/eks-update-cluster-config.json"
awscli_format eks-update-cluster-config UpdateClusterConfig

record eks-list-clusters eks list-clusters
record eks-describe-cluster eks describe-cluster --name aews
record eks-describe-cluster-private eks describe-cluster --name private-lab
record eks-list-updates eks list-updates --name aews
record eks-describe-update eks describe-update --name aews --update-id "$update_id"
awscli_format eks-describe-update DescribeUpdate 200
# The formatter classes print what the CLI printed.
mkdir "$tmp/check"
cp "$out/eks-describe-cluster.json" "$tmp/check/"
out=$tmp/check awscli_format eks-describe-cluster DescribeCluster
cmp "$tmp/check/eks-describe-cluster.text" "$out/eks-describe-cluster.text"
cmp "$tmp/check/eks-describe-cluster.table" "$out/eks-describe-cluster.table"
curl -s "$url/clusters/aews" > "$out/eks-describe-cluster.api.json"
curl -s "$url/clusters/aews/updates/$update_id" > "$out/eks-describe-update.api.json"
curl -s "$url/clusters/aews/updates" > "$out/eks-list-updates.api.json"

group=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"])' "$out/eks-describe-cluster.json")
run_aws ec2 authorize-security-group-ingress --group-id "$group" --protocol tcp --port 443 \
    --cidr 127.10.1.5/32 --output json > "$out/ec2-authorize-security-group-ingress.json"
awscli_format ec2-authorize-security-group-ingress AuthorizeSecurityGroupIngress
record ec2-describe-security-group-rules ec2 describe-security-group-rules \
    --filters "Name=group-id,Values=$group"
echo "recorded in $out (horizond log: $(wc -l < "$tmp/log") lines)"
