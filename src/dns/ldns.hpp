// The only place that includes <ldns/ldns.h>: <stdbool.h> must come first, or ldns/common.h
// redefines bool/true/false as macros and breaks C++ headers (see BUILD-NOTES).
#pragma once

#include <cstdint>
#include <memory>
#include <stdbool.h> // NOLINT(modernize-deprecated-headers): must precede ldns
#include <vector>

#include <ldns/ldns.h>

namespace horizon::dns {

struct LdnsRrDeleter {
    void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};

struct LdnsRdfDeleter {
    void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};

struct LdnsBufferDeleter {
    void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};

using RrPtr = std::unique_ptr<ldns_rr, LdnsRrDeleter>;
using RdfPtr = std::unique_ptr<ldns_rdf, LdnsRdfDeleter>;
using BufferPtr = std::unique_ptr<ldns_buffer, LdnsBufferDeleter>;

/// One record as TYPE CLASS TTL RDLENGTH RDATA (no owner, names in RDATA uncompressed, case
/// kept); empty when ldns cannot encode it.
std::vector<uint8_t> encode_rr(const ldns_rr* rr);

} // namespace horizon::dns
