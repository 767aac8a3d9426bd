// The admin API's client over cpp-httplib, and botocore's REST-JSON reply parsing.
#include "ctl/http_client.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <httplib.h>
#include <iostream>
#include <utility>

#include "control/shorthand.hpp"

#ifndef HORIZON_VERSION
#define HORIZON_VERSION "0.0.0"
#endif

namespace horizon::ctl {

namespace {

Failure transport_failure(httplib::Error err, const std::string& url) {
    if (err == httplib::Error::Connection || err == httplib::Error::ConnectionTimeout) {
        return {kExitOther, "Could not connect to the endpoint URL: \"" + url +
                                "\"\nIs horizond running, with its admin API listening "
                                "there? Check [server] admin_listen in horizond's "
                                "configuration (default \"127.0.0.1:8053\"), or give the "
                                "address with --endpoint-url."};
    }
    if (err == httplib::Error::SSLConnection || err == httplib::Error::SSLLoadingCerts ||
        err == httplib::Error::SSLServerVerification) {
        // The AWS CLI's words; --no-verify-ssl and --ca-bundle as in the AWS CLI.
        return {kExitOther, "SSL validation failed for " + url + " (" + httplib::to_string(err) +
                                "; an http:// endpoint given as https://? a self-signed "
                                "certificate: --ca-bundle FILE or --no-verify-ssl)"};
    }
    if (err == httplib::Error::Read) {
        return {kExitOther, "Read timeout on endpoint URL, or the connection was closed "
                            "before a complete response: \"" +
                                url + "\""};
    }
    return {kExitOther,
            "Request to the endpoint URL \"" + url + "\" failed: " + httplib::to_string(err)};
}

/// botocore's REST-JSON error parsing: the x-amzn-ErrorType header (up to ':') wins over the
/// body's __type (after '#'); the message is the body's message, else the raw body.
Reply error_reply(const httplib::Response& res, const Json& parsed) {
    const auto string_member = [&](std::initializer_list<const char*> keys) {
        for (const char* key : keys) {
            const auto it = parsed.find(key);
            if (it != parsed.end() && it->is_string()) {
                return it->get<std::string>();
            }
        }
        return std::string();
    };
    Reply r;
    std::string type = res.get_header_value("x-amzn-ErrorType");
    type = type.substr(0, type.find(':'));
    if (type.empty()) {
        type = string_member({"__type", "code", "Code"});
        type = type.substr(type.rfind('#') + 1);
    }
    r.error = type.empty() ? std::to_string(res.status) : type;
    r.message = string_member({"message", "Message"});
    if (r.message.empty() && parsed.empty()) {
        r.message = res.body.substr(0, 200);
        while (!r.message.empty() && (r.message.back() == '\n' || r.message.back() == '\r')) {
            r.message.pop_back();
        }
    }
    if (r.message.empty()) {
        r.message = "Unknown";
    }
    return r;
}

std::variant<Reply, Failure> reply_of(const httplib::Response& res, const std::string& url) {
    Json parsed = res.body.empty() ? Json::object() : Json::parse(res.body, nullptr, false);
    const bool json_ok = !parsed.is_discarded() && parsed.is_object() &&
                         control::nesting_depth(parsed) <= control::kMaxNesting;
    if (res.status >= 200 && res.status < 300) {
        if (!json_ok) {
            return Failure{kExitOther, "Unable to parse the response of \"" + url + "\" (HTTP " +
                                           std::to_string(res.status) +
                                           ") as a JSON object: " + res.body.substr(0, 200)};
        }
        return Reply{std::move(parsed), "", ""};
    }
    return error_reply(res, json_ok ? parsed : Json::object());
}

} // namespace

std::optional<Url> parse_url(std::string_view text, std::string& why) {
    Url u;
    size_t pos = 0;
    if (text.starts_with("http://")) {
        pos = 7;
    } else if (text.starts_with("https://")) {
        pos = 8;
    } else {
        why = "scheme is missing.  Must be of the form http://<hostname>/ or https://<hostname>/";
        return std::nullopt;
    }
    const size_t slash = text.find('/', pos);
    const std::string_view authority =
        text.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (authority.empty()) {
        why = "the host name is missing.  Must be of the form http://<hostname>/ or "
              "https://<hostname>/";
        return std::nullopt;
    }
    u.origin = std::string(text.substr(0, pos)) + std::string(authority);
    if (slash != std::string_view::npos) {
        u.base = std::string(text.substr(slash));
        while (!u.base.empty() && u.base.back() == '/') {
            u.base.pop_back();
        }
    }
    u.shown = u.origin + u.base;
    return u;
}

std::string percent_encode(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += ch;
        } else {
            std::array<char, 4> buf{};
            std::snprintf(buf.data(), buf.size(), "%%%02X", c);
            out += buf.data();
        }
    }
    return out;
}

Failure service_error(const Reply& r, std::string_view operation) {
    return {kExitService, "An error occurred (" + r.error + ") when calling the " +
                              std::string(operation) + " operation: " + r.message};
}

HttpClient::HttpClient(Url url, const HttpOptions& options)
    : url_(std::move(url))
    , options_(options)
    , client_(std::make_unique<httplib::Client>(url_.origin)) {
    const auto to_duration = [](double secs) {
        return std::chrono::microseconds(
            secs <= 0 ? std::chrono::microseconds::rep{24LL * 3600 * 1000000}
                      : static_cast<std::chrono::microseconds::rep>(secs * 1e6));
    };
    client_->set_connection_timeout(to_duration(options.connect_timeout));
    client_->set_read_timeout(to_duration(options.read_timeout));
    client_->set_write_timeout(to_duration(options.read_timeout));
    client_->set_keep_alive(true);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    client_->enable_server_certificate_verification(options.verify_ssl);
    if (!options.ca_bundle.empty()) {
        client_->set_ca_cert_path(options.ca_bundle);
    }
#endif
}

HttpClient::~HttpClient() = default;

std::variant<Reply, Failure> HttpClient::call(const std::string& method, const std::string& path,
                                              const std::string& body) {
    const std::string url = url_.shown + path;
    if (!client_->is_valid()) {
        return Failure{kExitOther, "Cannot use the endpoint URL \"" + url_.shown +
                                       "\": this build of horizonctl has no TLS support"};
    }
    httplib::Headers headers{{"Accept", "application/json"},
                             {"User-Agent", "horizonctl/" HORIZON_VERSION}};
    if (!options_.token.empty()) {
        headers.emplace("Authorization", "Bearer " + options_.token);
    }
    if (options_.debug) {
        std::cerr << "horizonctl: " << method << " " << url << "\n";
        if (!body.empty()) {
            std::cerr << "horizonctl: request body: " << body << "\n";
        }
    }
    const httplib::Result res =
        method == "POST" ? client_->Post(url_.base + path, headers, body, "application/json")
                         : client_->Get(url_.base + path, headers);
    if (!res) {
        return transport_failure(res.error(), url);
    }
    if (options_.debug) {
        std::cerr << "horizonctl: -> HTTP " << res->status << "\n";
        for (const auto& [k, v] : res->headers) {
            std::cerr << "horizonctl:    " << k << ": " << v << "\n";
        }
        std::cerr << "horizonctl: response body: " << res->body << "\n";
    }
    return reply_of(*res, url);
}

} // namespace horizon::ctl
