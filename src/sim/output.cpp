// The timeline's records as horizon-sim prints them (text or json), and the table and JSON
// layouts the observed tools use.
#include "sim/output.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "sim/node_state.hpp"

namespace horizon::sim {

void Timeline::emit(Record r) const {
    r.t = now_;
    if (sink_) {
        sink_(r);
    }
}

void Timeline::node_event(uint32_t ip, const std::string& text, const char* type) const {
    if (!node_events_) {
        return;
    }
    const std::string name = node_name(ip, region_);
    Record r;
    r.type = type;
    r.text = name + ": " + text;
    r.data["node"] = name;
    emit(std::move(r));
}

void append_record(std::string& out, const Record& r, bool json) {
    if (json) {
        nlohmann::ordered_json j;
        j["t"] = r.t;
        j["time"] = clock_text(r.t);
        j["type"] = r.type;
        j["text"] = r.text;
        for (const auto& [k, v] : r.data.items()) {
            j[k] = v;
        }
        if (!r.lines.empty()) {
            j["output"] = r.lines;
        }
        out += j.dump();
        out += '\n';
        return;
    }
    if (r.type == "start") {
        out += "# " + r.text + "\n";
        return;
    }
    const bool command = r.type == "action" || r.type == "observe";
    out += fmt::format("{}  {}{}\n", clock_text(r.t), command ? "$ " : "", r.text);
    for (const auto& line : r.lines) {
        out += fmt::format("{:14}{}\n", "", line);
    }
}

std::vector<std::string> table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> width;
    for (const auto& r : rows) {
        width.resize(std::max(width.size(), r.size()));
        for (size_t c = 0; c < r.size(); ++c) {
            width[c] = std::max(width[c], r[c].size());
        }
    }
    std::vector<std::string> out;
    for (const auto& r : rows) {
        std::string line;
        for (size_t c = 0; c < r.size(); ++c) {
            line += r[c];
            if (c + 1 < r.size()) {
                line += std::string(width[c] - r[c].size() + 3, ' ');
            }
        }
        out.push_back(std::move(line));
    }
    return out;
}

std::vector<std::string> json_lines(const nlohmann::json& j) {
    std::vector<std::string> out;
    const std::string text = j.dump(4);
    size_t start = 0;
    while (start <= text.size()) {
        const auto nl = text.find('\n', start);
        out.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) {
            break;
        }
        start = nl + 1;
    }
    return out;
}

} // namespace horizon::sim
