// The gate's nftables table (gate_firewall.hpp).
#include "server/gate_firewall.hpp"

#include <spdlog/spdlog.h>

#include "control/gate_nft.hpp"
#include "util/process.hpp"

namespace horizon::server {

namespace {

/// nft's answer in one line: its messages joined, or how it ended.
std::string nft_error(int rc, const std::string& output) {
    std::string text;
    for (const char c : output) {
        text += c == '\n' ? ' ' : c;
    }
    while (!text.empty() && text.back() == ' ') {
        text.pop_back();
    }
    if (rc == 127) {
        return text.empty() ? "cannot run nft (is nftables installed?)" : text;
    }
    return text.empty() ? "nft exited with status " + std::to_string(rc) : text;
}

} // namespace

bool GateFirewall::apply(const std::vector<config::ClusterConfig>& clusters, std::string& error) {
    std::string script = control::gate_nft_ruleset(clusters, table_);
    if (script == loaded_) {
        return true;
    }
    std::string output;
    const int rc = util::run_command({"nft", "-f", "-"}, output, script);
    if (rc != 0) {
        error = nft_error(rc, output);
        return false;
    }
    loaded_ = std::move(script);
    return true;
}

GateFirewall::~GateFirewall() {
    if (loaded_.empty()) {
        return;
    }
    std::string output;
    if (const int rc =
            util::run_command({"nft", "-f", "-"}, output, control::gate_nft_removal(table_));
        rc != 0) {
        spdlog::warn("cannot remove nftables table inet {}: {} (remove it with: nft delete table "
                     "inet {})",
                     table_, nft_error(rc, output), table_);
    }
}

} // namespace horizon::server
