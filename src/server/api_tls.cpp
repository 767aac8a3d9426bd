// Self-signed certificate generation and the TLS server context of the built-in API responder.
#include "server/api_tls.hpp"

#include <array>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace horizon::server {

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};

struct BnFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};

struct ExtFree {
    void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

bool add_extension(X509* cert, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    const std::unique_ptr<X509_EXTENSION, ExtFree> ext(
        X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

/// ALPN: http/1.1 when the client offers it; otherwise no ALPN (the handshake goes on).
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                const unsigned char* in, unsigned int inlen, void* /*arg*/) {
    static constexpr std::array<unsigned char, 8> kHttp11 = {'h', 't', 't', 'p',
                                                             '/', '1', '.', '1'};
    for (unsigned i = 0; i < inlen;) {
        const unsigned len = in[i];
        if (i + 1 + len > inlen) {
            break;
        }
        if (len == kHttp11.size() && std::equal(kHttp11.begin(), kHttp11.end(), in + i + 1)) {
            *out = in + i + 1;
            *outlen = static_cast<unsigned char>(len);
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

} // namespace

std::string ssl_error_text() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        out += (out.empty() ? "" : "; ") + std::string(buf.data());
    }
    return out;
}

std::optional<ApiCertificate> make_certificate(const std::vector<std::string>& dns_names,
                                               const std::vector<util::IpAddress>& ips,
                                               std::string& error) {
    const auto fail = [&](const char* step) -> std::optional<ApiCertificate> {
        error = fmt::format("cannot make the API certificate ({}): {}", step, ssl_error_text());
        return std::nullopt;
    };
    const std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
    if (!key) {
        return fail("key");
    }
    const std::unique_ptr<X509, X509Free> cert(X509_new());
    if (!cert || X509_set_version(cert.get(), 2) != 1) {
        return fail("certificate");
    }
    // RFC 5280 §4.1.2.2: a positive serial of up to 20 octets; 16 random ones.
    std::array<unsigned char, 16> serial{};
    if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) {
        return fail("serial");
    }
    serial[0] &= 0x7f;
    const std::unique_ptr<BIGNUM, BnFree> bn(
        BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
    if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) {
        return fail("serial");
    }
    static constexpr long kHour = 3600;
    static constexpr long kValidity = 825L * 24 * kHour; // what browsers still accept
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kHour);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidity);
    X509_NAME* name = X509_get_subject_name(cert.get());
    // The endpoint name is longer than the 64 characters a CN may have: it goes in the SAN.
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("kube-apiserver"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    std::string san;
    for (const auto& n : dns_names) {
        san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    for (const auto& ip : ips) {
        san += (san.empty() ? "IP:" : ",IP:") + ip.to_string();
    }
    if (!add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
        !add_extension(cert.get(), NID_key_usage,
                       "critical,digitalSignature,keyEncipherment,keyCertSign") ||
        !add_extension(cert.get(), NID_ext_key_usage, "serverAuth") ||
        !add_extension(cert.get(), NID_subject_key_identifier, "hash") ||
        (!san.empty() && !add_extension(cert.get(), NID_subject_alt_name, san))) {
        return fail("extensions");
    }
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
        return fail("signature");
    }
    const std::unique_ptr<BIO, BioFree> cert_bio(BIO_new(BIO_s_mem()));
    const std::unique_ptr<BIO, BioFree> key_bio(BIO_new(BIO_s_mem()));
    if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
        PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1) {
        return fail("PEM");
    }
    return ApiCertificate{bio_text(cert_bio.get()), bio_text(key_bio.get())};
}

SslCtxPtr make_server_context(const ApiCertificate& pem, std::string& error) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    const std::unique_ptr<BIO, BioFree> cert_bio(
        BIO_new_mem_buf(pem.cert_pem.data(), static_cast<int>(pem.cert_pem.size())));
    const std::unique_ptr<BIO, BioFree> key_bio(
        BIO_new_mem_buf(pem.key_pem.data(), static_cast<int>(pem.key_pem.size())));
    const std::unique_ptr<X509, X509Free> cert(
        cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    const std::unique_ptr<EVP_PKEY, PkeyFree> key(
        key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!ctx || !cert || !key || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
        error = "cannot set up TLS for the API endpoint: " + ssl_error_text();
        return nullptr;
    }
    SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
    // Each connection is short and from a lab client: no session cache to bound.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    return ctx;
}

} // namespace horizon::server
