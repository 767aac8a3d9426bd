// The lab's own long-lived processes, each a hidden `horizonctl lab` subcommand run inside a
// namespace: ipinfo.io, the AWS API relay, and the node agents (kubelet, kube-proxy).
#pragma once

#include <string>
#include <vector>

namespace horizon::lab {

/// `serve-ipinfo ADDR:PORT`: GET /ip answers the caller's address (as curl -s ipinfo.io/ip),
/// GET / a JSON {"ip": ...}.
int serve_ipinfo(const std::vector<std::string>& args);

/// `serve-aws-api ADDR:PORT CERT KEY ADMIN`: HTTPS on ADDR:PORT (eks. and ec2.<region>.
/// amazonaws.com resolve there in the lab), each request relayed to horizond's admin API ADMIN.
int serve_aws_api(const std::vector<std::string>& args);

/// `serve-relay CONNECT NS...`: listens on CONNECT's address and port in each namespace NS and
/// relays every connection to CONNECT in this one: the lab's AWS API (horizond's loopback-only
/// admin listener) on the operator and internet hosts' loopback.
int serve_relay(const std::vector<std::string>& args);

/// `agent kubelet|kube-proxy ENDPOINT`: resolves ENDPOINT once through the namespace's resolver
/// and holds a TLS connection to it on port 443, a request every 10 s (kubelet) or 30 s
/// (kube-proxy); reconnects to the same address with backoff when it breaks, as the real agents
/// do, and re-resolves only when restarted. kubelet also listens on :10250.
int run_agent(const std::vector<std::string>& args);

} // namespace horizon::lab
