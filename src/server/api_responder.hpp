// The built-in API responder: what an EKS endpoint answers an anonymous client, over HTTPS
// (OpenSSL with memory BIOs) or plain HTTP. Sans-I/O: bytes in, bytes out.
#pragma once

#include <cstdint>
#include <memory>
#include <openssl/ssl.h>
#include <string>
#include <string_view>

namespace horizon::server {

/// What the answers depend on, copied when the connection is accepted.
struct ResponderInfo {
    std::string kubernetes_version = "1.31"; ///< "MAJOR.MINOR"
};

/// One HTTP answer, before framing.
struct HttpAnswer {
    int status = 200;
    std::string content_type;
    std::string body;
};

/// What kube-apiserver answers an anonymous request (system:public-info-viewer allows only
/// /version, /healthz, /livez and /readyz; everything else is 403 with a Status), as EKS does:
///   GET /version                      kube-apiserver's version JSON for the cluster's version
///   GET /healthz, /livez, /readyz     "ok"
///   anything else                     403 Status "forbidden: User \"system:anonymous\" cannot
///                                     get path \"/x\"", or for a resource path "pods is
///                                     forbidden: ... cannot list resource \"pods\" in API group
///                                     \"\" in the namespace \"default\"".
HttpAnswer answer_request(std::string_view method, std::string_view target,
                          const ResponderInfo& info);

/// One connection's protocol state: detects TLS (a handshake record, 0x16) or plain HTTP from
/// the first byte, then answers HTTP/1.1 requests one after the other (keep-alive).
class ApiResponder {
public:
    /// `ctx`: the TLS context; null = plain HTTP only (TLS clients are closed).
    ApiResponder(SSL_CTX* ctx, ResponderInfo info);
    ~ApiResponder();
    ApiResponder(const ApiResponder&) = delete;
    ApiResponder& operator=(const ApiResponder&) = delete;

    enum class Next : uint8_t { Continue, Close };
    /// Feeds bytes from the client and appends what to send back to `out`. Close: send `out`,
    /// then close the connection (an error, Connection: close, or TLS close_notify).
    Next feed(std::string_view in, std::string& out);

    /// True once the protocol is known and it is TLS.
    [[nodiscard]] bool tls() const { return mode_ == Mode::Tls; }

private:
    enum class Mode : uint8_t { Unknown, Plain, Tls };
    /// Answers every complete request buffered in `in_`, appending plaintext to `reply`.
    Next serve_http(std::string& reply);

    SSL_CTX* ctx_;
    ResponderInfo info_;
    Mode mode_ = Mode::Unknown;
    SSL* ssl_ = nullptr;
    std::string in_;          ///< plaintext request bytes not yet answered
    size_t body_to_skip_ = 0; ///< bytes of a request body still to discard
};

} // namespace horizon::server
