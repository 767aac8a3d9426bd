// The built-in API responder's TLS: a self-signed certificate made at start-up and the OpenSSL
// server context that presents it. No sockets.
#pragma once

#include <memory>
#include <openssl/ssl.h>
#include <optional>
#include <string>
#include <vector>

#include "util/address.hpp"

namespace horizon::server {

struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

/// A certificate and its private key, PEM.
struct ApiCertificate {
    std::string cert_pem;
    std::string key_pem;
};

/// A self-signed certificate (EC P-256, SHA-256, valid from an hour ago for 825 days) with
/// subject CN=kube-apiserver as EKS's, and as subjectAltName every name of `dns_names` (the
/// endpoint name first) and every address of `ips`. It is its own CA (basicConstraints CA:TRUE),
/// so that `curl --cacert FILE` and a kubeconfig's certificate-authority can trust it directly.
/// nullopt with `error` set when OpenSSL fails.
std::optional<ApiCertificate> make_certificate(const std::vector<std::string>& dns_names,
                                               const std::vector<util::IpAddress>& ips,
                                               std::string& error);

/// A TLS 1.2+ server context presenting `cert`, offering ALPN http/1.1 only (kubectl then speaks
/// HTTP/1.1). Null with `error` set on failure.
SslCtxPtr make_server_context(const ApiCertificate& cert, std::string& error);

/// The last OpenSSL error as text (and the queue cleared), "" when there is none.
std::string ssl_error_text();

} // namespace horizon::server
