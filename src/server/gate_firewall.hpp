// The kernel half of the API endpoint gate ([server] gate_nft_table): an nftables table kept equal
// to the gate's drop decisions, so a denied client's SYN never gets an answer (a real connect
// timeout, as EKS gives). The rules come from control::gate_nft_ruleset; this runs `nft -f -`.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace horizon::server {

class GateFirewall {
public:
    explicit GateFirewall(std::string table)
        : table_(std::move(table)) {}

    GateFirewall(const GateFirewall&) = delete;
    GateFirewall& operator=(const GateFirewall&) = delete;
    /// Removes the table (the gate's own accept/hold/reset is all that is left).
    ~GateFirewall();

    /// Replaces the table's rules with those for `clusters`, in one nft transaction; nothing is
    /// run when they are what is loaded already. False with `error` (nft's own words) when nft
    /// fails: the previous rules, if any, stay in force.
    bool apply(const std::vector<config::ClusterConfig>& clusters, std::string& error);

    [[nodiscard]] const std::string& table() const { return table_; }

private:
    std::string table_;
    std::string loaded_; ///< the script nft last accepted
};

} // namespace horizon::server
