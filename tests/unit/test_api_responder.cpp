// The built-in API responder without sockets: kube-apiserver's answers to an anonymous client,
// HTTP/1.1 framing and keep-alive, and a full TLS handshake against an in-memory OpenSSL client
// that verifies the generated certificate for the endpoint name.
#include <array>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string>

#include <doctest/doctest.h>

#include "server/api_responder.hpp"
#include "server/api_tls.hpp"

namespace {

using horizon::server::answer_request;
using horizon::server::ApiResponder;
using horizon::server::ResponderInfo;
using nlohmann::json;

const std::string kName = "4EF9B1C9A5F24DCBD324557BF7056DC0.gr7.ap-northeast-2.eks.amazonaws.com";

std::string status_message(std::string_view method, std::string_view target) {
    const auto a = answer_request(method, target, ResponderInfo{"1.30"});
    CHECK(a.status == 403);
    const json j = json::parse(a.body);
    CHECK(j["kind"] == "Status");
    CHECK(j["reason"] == "Forbidden");
    CHECK(j["code"] == 403);
    return j["message"];
}

} // namespace

TEST_CASE("what an EKS endpoint answers an anonymous client") {
    const auto version = answer_request("GET", "/version", ResponderInfo{"1.30"});
    CHECK(version.status == 200);
    CHECK(version.content_type == "application/json");
    const json v = json::parse(version.body);
    CHECK(v["major"] == "1");
    CHECK(v["minor"] == "30+");
    CHECK(v["gitVersion"].get<std::string>().starts_with("v1.30.0-eks-"));
    CHECK(v["platform"] == "linux/amd64");
    CHECK(version.body.find("\"major\"") < version.body.find("\"minor\"")); // kube's order
    for (const char* path : {"/healthz", "/livez", "/readyz", "/readyz?verbose=0"}) {
        INFO(path);
        const auto a = answer_request("GET", path, ResponderInfo{});
        CHECK(a.status == 200);
        CHECK(a.body == "ok");
    }
    CHECK(status_message("GET", "/") ==
          R"(forbidden: User "system:anonymous" cannot get path "/")");
    CHECK(status_message("POST", "/version") ==
          R"(forbidden: User "system:anonymous" cannot post path "/version")");
    CHECK(status_message("GET", "/api") ==
          R"(forbidden: User "system:anonymous" cannot get path "/api")");
    CHECK(
        status_message("GET", "/api/v1/namespaces/default/pods?limit=500") ==
        R"(pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default")");
    CHECK(
        status_message("GET", "/api/v1/nodes") ==
        R"(nodes is forbidden: User "system:anonymous" cannot list resource "nodes" in API group "" at the cluster scope)");
    CHECK(
        status_message("GET", "/api/v1/namespaces/kube-system/pods/coredns-1/log") ==
        R"(pods "coredns-1" is forbidden: User "system:anonymous" cannot get resource "pods/log" in API group "" in the namespace "kube-system")");
    CHECK(
        status_message("GET", "/apis/apps/v1/namespaces/default/deployments?watch=true") ==
        R"(deployments is forbidden: User "system:anonymous" cannot watch resource "deployments" in API group "apps" in the namespace "default")");
    CHECK(
        status_message("DELETE", "/api/v1/namespaces/demo") ==
        R"(namespaces "demo" is forbidden: User "system:anonymous" cannot delete resource "namespaces" in API group "" at the cluster scope)");
}

TEST_CASE("plain HTTP/1.1: keep-alive, pipelining, bodies, Connection: close, bad requests") {
    ApiResponder r(nullptr, ResponderInfo{});
    std::string out;
    // Two pipelined requests split at an awkward place, the first with a body to skip.
    CHECK(r.feed("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab", out) ==
          ApiResponder::Next::Continue);
    CHECK(out.starts_with("HTTP/1.1 403 Forbidden\r\n"));
    out.clear();
    CHECK(r.feed("cdeGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", out) ==
          ApiResponder::Next::Continue);
    CHECK(out.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(out.find("Content-Length: 2\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\nok"));
    out.clear();
    CHECK(r.feed("HEAD /version HTTP/1.1\r\nConnection: close\r\n\r\n", out) ==
          ApiResponder::Next::Close);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\n")); // HEAD: no body

    ApiResponder old(nullptr, ResponderInfo{});
    out.clear();
    CHECK(old.feed("GET /livez HTTP/1.0\r\n\r\n", out) == ApiResponder::Next::Close);
    ApiResponder bad(nullptr, ResponderInfo{});
    out.clear();
    CHECK(bad.feed("hello\r\n\r\n", out) == ApiResponder::Next::Close);
    CHECK(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    ApiResponder huge(nullptr, ResponderInfo{});
    out.clear();
    CHECK(huge.feed("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a'), out) ==
          ApiResponder::Next::Close);
    CHECK(out.starts_with("HTTP/1.1 431 "));
    // A TLS client where no TLS is set up is closed.
    ApiResponder no_tls(nullptr, ResponderInfo{});
    out.clear();
    CHECK(no_tls.feed("\x16\x03\x01", out) == ApiResponder::Next::Close);
}

TEST_CASE("HTTPS with the generated certificate, verified for the endpoint name") {
    std::string error;
    const auto cert = horizon::server::make_certificate(
        {kName, "kubernetes"}, {*horizon::util::IpAddress::parse("127.20.0.10")}, error);
    REQUIRE_MESSAGE(cert.has_value(), error);
    CHECK(cert->cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    const auto server_ctx = horizon::server::make_server_context(*cert, error);
    REQUIRE_MESSAGE(server_ctx != nullptr, error);

    // The client trusts exactly the generated certificate, as `curl --cacert` does.
    const horizon::server::SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
    BIO* pem = BIO_new_mem_buf(cert->cert_pem.data(), static_cast<int>(cert->cert_pem.size()));
    X509* ca = PEM_read_bio_X509(pem, nullptr, nullptr, nullptr);
    BIO_free(pem);
    REQUIRE(ca != nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.get()), ca);
    X509_free(ca);
    SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr);
    static constexpr unsigned char kAlpn[] = {2,   'h', '2', 8,   'h', 't',
                                              't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(client_ctx.get(), kAlpn, sizeof kAlpn);

    SSL* client = SSL_new(client_ctx.get());
    BIO* c_in = BIO_new(BIO_s_mem());
    BIO* c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(client, c_in, c_out);
    SSL_set_connect_state(client);
    SSL_set_tlsext_host_name(client, kName.c_str());
    SSL_set1_host(client, "4ef9b1c9a5f24dcbd324557bf7056dc0.gr7.ap-northeast-2.eks.amazonaws.com");

    ApiResponder server(server_ctx.get(), ResponderInfo{"1.31"});
    const auto pump = [&](std::string& plaintext) {
        for (int round = 0; round < 10; ++round) {
            std::array<char, 16384> buf{};
            const int n = SSL_read(client, buf.data(), static_cast<int>(buf.size()));
            if (n > 0) {
                plaintext.append(buf.data(), static_cast<size_t>(n));
            }
            std::string to_server;
            while (BIO_ctrl_pending(c_out) > 0) {
                const int k = BIO_read(c_out, buf.data(), static_cast<int>(buf.size()));
                to_server.append(buf.data(), static_cast<size_t>(k));
            }
            if (to_server.empty() && round > 0 && SSL_is_init_finished(client) == 1 && n <= 0) {
                break;
            }
            std::string to_client;
            server.feed(to_server, to_client);
            BIO_write(c_in, to_client.data(), static_cast<int>(to_client.size()));
        }
    };
    std::string plaintext;
    pump(plaintext);
    REQUIRE(SSL_is_init_finished(client) == 1);
    CHECK(server.tls());
    CHECK(SSL_get_verify_result(client) == X509_V_OK);
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(client, &alpn, &alpn_len);
    CHECK(std::string(reinterpret_cast<const char*>(alpn), alpn_len) == "http/1.1");

    const std::string request = "GET /version HTTP/1.1\r\nHost: x\r\n\r\n";
    SSL_write(client, request.data(), static_cast<int>(request.size()));
    pump(plaintext);
    CHECK(plaintext.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(plaintext.find("\"minor\": \"31+\"") != std::string::npos);
    SSL_free(client);
}

TEST_CASE("a client that does not trust the certificate fails the handshake and is closed") {
    std::string error;
    const auto cert = horizon::server::make_certificate({kName}, {}, error);
    REQUIRE(cert.has_value());
    const auto server_ctx = horizon::server::make_server_context(*cert, error);
    const horizon::server::SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr); // empty trust store
    SSL* client = SSL_new(client_ctx.get());
    BIO* c_in = BIO_new(BIO_s_mem());
    BIO* c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(client, c_in, c_out);
    SSL_set_connect_state(client);
    ApiResponder server(server_ctx.get(), ResponderInfo{});
    ApiResponder::Next next = ApiResponder::Next::Continue;
    for (int round = 0; round < 10 && next == ApiResponder::Next::Continue; ++round) {
        std::array<char, 16384> buf{};
        SSL_do_handshake(client);
        std::string to_server;
        while (BIO_ctrl_pending(c_out) > 0) {
            const int k = BIO_read(c_out, buf.data(), static_cast<int>(buf.size()));
            to_server.append(buf.data(), static_cast<size_t>(k));
        }
        if (to_server.empty()) {
            break;
        }
        std::string to_client;
        next = server.feed(to_server, to_client);
        BIO_write(c_in, to_client.data(), static_cast<int>(to_client.size()));
    }
    CHECK(next == ApiResponder::Next::Close); // the client's alert ends it
    CHECK(SSL_get_verify_result(client) != X509_V_OK);
    ERR_clear_error();
    SSL_free(client);
}
