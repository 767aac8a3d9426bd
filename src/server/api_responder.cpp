// The built-in API responder: kube-apiserver's answers to an anonymous client, over TLS with
// memory BIOs or plain HTTP/1.1.
#include "server/api_responder.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <vector>

#include "util/crypto.hpp"
#include "util/time_text.hpp"

namespace horizon::server {

namespace {

using OrderedJson = nlohmann::ordered_json;

/// A request head larger than this is refused (431) rather than buffered.
constexpr size_t kMaxHead = 16 * 1024;

std::string audit_id() {
    std::array<unsigned char, 16> b{};
    RAND_bytes(b.data(), static_cast<int>(b.size()));
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40); // RFC 9562 §5.4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    const std::string h = util::hex(b);
    return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4),
                       h.substr(16, 4), h.substr(20));
}

std::string_view reason_phrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Error";
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](char ch) {
        return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
    });
    return out;
}

std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return "";
    }
    const auto last = s.find_last_not_of(" \t");
    return std::string(s.substr(first, last - first + 1));
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start < path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string_view::npos ? path.size() : slash;
        if (end > start) {
            out.push_back(path.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

OrderedJson forbidden_status(const std::string& message, OrderedJson details) {
    OrderedJson j;
    j["kind"] = "Status";
    j["apiVersion"] = "v1";
    j["metadata"] = OrderedJson::object();
    j["status"] = "Failure";
    j["message"] = message;
    j["reason"] = "Forbidden";
    j["details"] = std::move(details);
    j["code"] = 403;
    return j;
}

/// kube-apiserver's RequestInfo for a resource path (/api/v1/..., /apis/GROUP/VERSION/...), as
/// the authorizer words it; nullopt for a non-resource path.
struct ResourceRequest {
    std::string verb;
    std::string group;
    std::string resource;
    std::string subresource;
    std::string name;
    std::string ns;
};

std::optional<ResourceRequest> resource_request(std::string_view method, std::string_view path,
                                                std::string_view query) {
    const auto parts = split_path(path);
    size_t i = 0;
    ResourceRequest r;
    if (parts.size() >= 3 && parts[0] == "api") {
        i = 2; // /api/v1
    } else if (parts.size() >= 4 && parts[0] == "apis") {
        r.group = parts[1];
        i = 3; // /apis/GROUP/VERSION
    } else {
        return std::nullopt;
    }
    std::vector<std::string_view> rest(parts.begin() + static_cast<ptrdiff_t>(i), parts.end());
    if (rest.size() >= 3 && rest[0] == "namespaces") {
        r.ns = rest[1];
        rest.erase(rest.begin(), rest.begin() + 2);
    }
    r.resource = rest[0];
    if (rest.size() >= 2) {
        r.name = rest[1];
    }
    if (rest.size() >= 3) {
        r.subresource = rest[2];
    }
    const std::string m = lower(method);
    const bool watch = query.find("watch=true") != std::string_view::npos ||
                       query.find("watch=1") != std::string_view::npos;
    if (m == "get" || m == "head") {
        r.verb = watch ? "watch" : r.name.empty() ? "list" : "get";
    } else if (m == "post") {
        r.verb = "create";
    } else if (m == "put") {
        r.verb = "update";
    } else if (m == "patch") {
        r.verb = "patch";
    } else if (m == "delete") {
        r.verb = r.name.empty() ? "deletecollection" : "delete";
    } else {
        r.verb = m;
    }
    return r;
}

std::string frame(const HttpAnswer& a, bool head_only, bool close) {
    std::string out = fmt::format("HTTP/1.1 {} {}\r\n", a.status, reason_phrase(a.status));
    out += "Audit-Id: " + audit_id() + "\r\n";
    out += "Cache-Control: no-cache, private\r\n";
    out += "Content-Type: " + a.content_type + "\r\n";
    out += "X-Content-Type-Options: nosniff\r\n";
    out += "Date: " + util::http_date(std::chrono::system_clock::now()) + "\r\n";
    out += fmt::format("Content-Length: {}\r\n", a.body.size());
    if (close) {
        out += "Connection: close\r\n";
    }
    out += "\r\n";
    if (!head_only) {
        out += a.body;
    }
    return out;
}

} // namespace

HttpAnswer answer_request(std::string_view method, std::string_view target,
                          const ResponderInfo& info) {
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    const bool get = method == "GET" || method == "HEAD";
    if (get && (path == "/version" || path == "/version/")) {
        const auto dot = info.kubernetes_version.find('.');
        OrderedJson v;
        v["major"] = info.kubernetes_version.substr(0, dot);
        v["minor"] = info.kubernetes_version.substr(dot + 1) + "+"; // EKS builds say "31+"
        v["gitVersion"] = fmt::format("v{}.0-eks-{}", info.kubernetes_version,
                                      util::sha256_hex("eks/" + info.kubernetes_version, 7));
        v["gitCommit"] = util::sha256_hex("commit/" + info.kubernetes_version, 40);
        v["gitTreeState"] = "clean";
        v["buildDate"] = "2024-11-20T00:00:00Z";
        v["goVersion"] = "go1.22.8";
        v["compiler"] = "gc";
        v["platform"] = "linux/amd64";
        return {200, "application/json", v.dump(2)};
    }
    if (get && (path == "/healthz" || path == "/livez" || path == "/readyz")) {
        return {200, "text/plain; charset=utf-8", "ok"};
    }
    static constexpr std::string_view kUser = R"(User "system:anonymous")";
    if (const auto r = resource_request(method, path, query)) {
        const std::string what =
            r->name.empty() ? r->resource : fmt::format("{} \"{}\"", r->resource, r->name);
        const std::string resource =
            r->subresource.empty() ? r->resource : r->resource + "/" + r->subresource;
        const std::string scope = r->ns.empty() ? std::string("at the cluster scope")
                                                : fmt::format("in the namespace \"{}\"", r->ns);
        OrderedJson details = OrderedJson::object();
        if (!r->name.empty()) {
            details["name"] = r->name;
        }
        if (!r->group.empty()) {
            details["group"] = r->group;
        }
        details["kind"] = r->resource;
        const std::string message =
            fmt::format("{} is forbidden: {} cannot {} resource \"{}\" in API group \"{}\" {}",
                        what, kUser, r->verb, resource, r->group, scope);
        return {403, "application/json", forbidden_status(message, details).dump(2)};
    }
    const std::string verb = method == "HEAD" ? "get" : lower(method);
    const std::string message =
        fmt::format("forbidden: {} cannot {} path \"{}\"", kUser, verb, std::string(path));
    return {403, "application/json", forbidden_status(message, OrderedJson::object()).dump(2)};
}

ApiResponder::ApiResponder(SSL_CTX* ctx, ResponderInfo info)
    : ctx_(ctx)
    , info_(std::move(info)) {}

ApiResponder::~ApiResponder() {
    if (ssl_ != nullptr) {
        SSL_free(ssl_);
    }
}

ApiResponder::Next ApiResponder::serve_http(std::string& reply) {
    while (true) {
        if (body_to_skip_ > 0) {
            const size_t n = std::min(body_to_skip_, in_.size());
            in_.erase(0, n);
            body_to_skip_ -= n;
            if (body_to_skip_ > 0) {
                return Next::Continue;
            }
        }
        const auto end = in_.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (in_.size() > kMaxHead) {
                reply += frame({431, "text/plain; charset=utf-8", "request header too large"},
                               false, true);
                return Next::Close;
            }
            return Next::Continue;
        }
        const std::string head = in_.substr(0, end);
        in_.erase(0, end + 4);
        const auto line_end = head.find("\r\n");
        const std::string line = head.substr(0, line_end);
        const auto sp1 = line.find(' ');
        const auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
        if (sp2 == std::string::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
            reply += frame({400, "text/plain; charset=utf-8", "400 Bad Request"}, false, true);
            return Next::Close;
        }
        const std::string method = line.substr(0, sp1);
        const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        bool keep_alive = line.substr(sp2 + 1) == "HTTP/1.1";
        bool chunked = false;
        size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            auto eol = head.find("\r\n", pos);
            if (eol == std::string::npos) {
                eol = head.size();
            }
            const std::string_view field(head.data() + pos, eol - pos);
            pos = eol + 2;
            const auto colon = field.find(':');
            if (colon == std::string_view::npos) {
                continue;
            }
            const std::string name = lower(field.substr(0, colon));
            const std::string value = trim(field.substr(colon + 1));
            if (name == "content-length") {
                size_t n = 0;
                std::from_chars(value.data(), value.data() + value.size(), n);
                body_to_skip_ = n;
            } else if (name == "transfer-encoding") {
                chunked = true; // not parsed: answer, then close
            } else if (name == "connection") {
                const std::string v = lower(value);
                keep_alive = v == "close" ? false : v == "keep-alive" ? true : keep_alive;
            }
        }
        const bool close = !keep_alive || chunked;
        reply += frame(answer_request(method, target, info_), method == "HEAD", close);
        if (close) {
            return Next::Close;
        }
    }
}

ApiResponder::Next ApiResponder::feed(std::string_view in, std::string& out) {
    if (mode_ == Mode::Unknown && !in.empty()) {
        if (static_cast<unsigned char>(in.front()) == 0x16) { // TLS handshake record
            if (ctx_ == nullptr) {
                return Next::Close;
            }
            ssl_ = SSL_new(ctx_);
            if (ssl_ == nullptr) {
                return Next::Close;
            }
            SSL_set_bio(ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
            SSL_set_accept_state(ssl_);
            mode_ = Mode::Tls;
        } else {
            mode_ = Mode::Plain;
        }
    }
    if (mode_ == Mode::Plain) {
        in_.append(in);
        return serve_http(out);
    }
    if (mode_ != Mode::Tls) {
        return Next::Continue;
    }
    Next next = Next::Continue;
    BIO_write(SSL_get_rbio(ssl_), in.data(), static_cast<int>(in.size()));
    std::array<char, 16384> buf{};
    while (true) {
        const int n = SSL_read(ssl_, buf.data(), static_cast<int>(buf.size()));
        if (n > 0) {
            in_.append(buf.data(), static_cast<size_t>(n));
            continue;
        }
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN) {
            next = Next::Close; // the client's close_notify
        } else if (err != SSL_ERROR_WANT_READ) {
            next = Next::Close; // a handshake failure (e.g. the client rejects our certificate)
            ERR_clear_error();
        }
        break;
    }
    if (next == Next::Continue && SSL_is_init_finished(ssl_) == 1) {
        std::string reply;
        next = serve_http(reply);
        if (!reply.empty()) {
            SSL_write(ssl_, reply.data(), static_cast<int>(reply.size())); // memory BIO: all
        }
        if (next == Next::Close) {
            SSL_shutdown(ssl_);
        }
    }
    BIO* wbio = SSL_get_wbio(ssl_);
    while (BIO_ctrl_pending(wbio) > 0) {
        const int n = BIO_read(wbio, buf.data(), static_cast<int>(buf.size()));
        if (n <= 0) {
            break;
        }
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return next;
}

} // namespace horizon::server
