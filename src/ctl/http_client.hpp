// horizonctl's HTTP client of horizond's admin API: endpoint URLs, one request at a time, and
// botocore's reading of a REST-JSON reply (the error type and message of a failed call).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "ctl/failure.hpp"
#include "ctl/shapes.hpp"

namespace httplib {
class Client;
} // namespace httplib

namespace horizon::ctl {

/// The AWS CLI's connection options (--cli-connect-timeout, --ca-bundle, ...) and --token.
struct HttpOptions {
    std::string token;           ///< bearer token; "" = none
    double connect_timeout = 60; ///< seconds, 0 = none
    double read_timeout = 60;    ///< seconds, 0 = none
    std::string ca_bundle;       ///< for an https endpoint; "" = the system's
    bool verify_ssl = true;
    bool debug = false; ///< each request and response on stderr
};

struct Url {
    std::string origin; ///< scheme://host[:port], what httplib::Client takes
    std::string base;   ///< a path prefix, "" or "/prefix"
    std::string shown;  ///< as given, without a trailing slash
};

/// An http:// or https:// URL; none (and `why`, the AWS CLI's words) if it is not one.
std::optional<Url> parse_url(std::string_view text, std::string& why);

/// Percent-encodes one path segment or query value (RFC 3986 §2.3 unreserved kept).
std::string percent_encode(std::string_view s);

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann's moves do not throw
struct Reply {
    Json body;         ///< the parsed body on success
    std::string error; ///< the error type, "" on success
    std::string message;
};

/// "An error occurred (<Type>) when calling the <Operation> operation: <message>", exit 254.
Failure service_error(const Reply& r, std::string_view operation);

/// One keep-alive connection to the endpoint. Not thread-safe.
class HttpClient {
public:
    HttpClient(Url url, const HttpOptions& options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    /// One request; a transport problem is a Failure (exit 255), an HTTP error a Reply with
    /// `error` set.
    std::variant<Reply, Failure> call(const std::string& method, const std::string& path,
                                      const std::string& body = "");

private:
    Url url_;
    HttpOptions options_;
    std::unique_ptr<httplib::Client> client_;
};

} // namespace horizon::ctl
