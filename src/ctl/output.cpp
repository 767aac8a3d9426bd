// The AWS CLI v2's text and table output, ported from awscli/text.py, awscli/table.py and
// awscli/formatter.py; JSON as its json formatter dumps it.
#include "ctl/output.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <sys/ioctl.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "control/shorthand.hpp"

namespace horizon::ctl {

namespace {

using control::python_str;

// NOLINTBEGIN(misc-no-recursion): responses nest at most kMaxNesting deep (checked on receipt).

bool is_scalar(const Json& v) {
    return !v.is_object() && !v.is_array();
}

std::string upper(std::string s) {
    for (char& ch : s) {
        if (ch >= 'a' && ch <= 'z') {
            ch = static_cast<char>(ch - 'a' + 'A');
        }
    }
    return s;
}

std::vector<std::string> sorted_keys(const Json& obj) {
    std::vector<std::string> keys;
    for (const auto& [key, _] : obj.items()) {
        keys.push_back(key);
    }
    std::sort(keys.begin(), keys.end());
    return keys;
}

/// awscli/text.py: one line per structure (its scalar members, sorted by name, after the
/// upper-cased identifier), nested structures and lists on the following lines.
class TextFormatter {
public:
    std::string out;

    void format(const Json& item, const std::string* identifier = nullptr,
                const std::vector<std::string>* scalar_keys = nullptr) {
        if (item.is_object()) {
            format_dict(item, identifier, scalar_keys);
        } else if (item.is_array()) {
            format_list(item, identifier);
        } else {
            out += python_str(item) + "\n";
        }
    }

private:
    /// The scalar members of any structure in the list, sorted.
    static std::vector<std::string> scalar_keys_of(const Json& list) {
        std::set<std::string> keys;
        for (const Json& e : list) {
            if (!e.is_object()) {
                continue;
            }
            for (const auto& [key, val] : e.items()) {
                if (is_scalar(val)) {
                    keys.insert(key);
                }
            }
        }
        return {keys.begin(), keys.end()};
    }

    void format_list(const Json& item, const std::string* identifier) {
        const auto has = [&](bool (Json::*is)() const noexcept) {
            return std::any_of(item.begin(), item.end(), [&](const Json& e) { return (e.*is)(); });
        };
        if (has(&Json::is_object)) {
            const std::vector<std::string> all = scalar_keys_of(item);
            for (const Json& e : item) {
                format(e, identifier, &all);
            }
            return;
        }
        std::vector<Json> scalars;
        std::vector<const Json*> others;
        for (const Json& e : item) {
            if (is_scalar(e)) {
                scalars.push_back(e);
            } else {
                others.push_back(&e);
            }
        }
        if (!scalars.empty()) {
            format_scalar_list(scalars, identifier);
        }
        for (const Json* e : others) {
            format(*e, identifier);
        }
    }

    void format_scalar_list(const std::vector<Json>& elements, const std::string* identifier) {
        if (identifier != nullptr) {
            for (const Json& e : elements) {
                out += upper(*identifier) + "\t" + python_str(e) + "\n";
            }
            return;
        }
        for (size_t i = 0; i < elements.size(); ++i) {
            out += (i == 0 ? "" : "\t") + python_str(elements[i]);
        }
        out += "\n";
    }

    /// _partition_dict: the scalar values (of `scalar_keys`, or of the item's own scalar members,
    /// sorted) and the other members, sorted.
    static void partition(const Json& item, const std::vector<std::string>* scalar_keys,
                          std::vector<std::string>& scalars,
                          std::vector<std::pair<std::string, const Json*>>& others) {
        if (scalar_keys != nullptr) {
            for (const std::string& key : *scalar_keys) {
                scalars.push_back(item.contains(key) ? python_str(item.at(key)) : "");
            }
        }
        for (const std::string& key : sorted_keys(item)) {
            const Json& val = item.at(key);
            const bool listed =
                scalar_keys != nullptr &&
                std::find(scalar_keys->begin(), scalar_keys->end(), key) != scalar_keys->end();
            if (scalar_keys == nullptr && is_scalar(val)) {
                scalars.push_back(python_str(val));
            } else if (!listed) {
                others.emplace_back(key, &val);
            }
        }
    }

    void format_dict(const Json& item, const std::string* identifier,
                     const std::vector<std::string>* scalar_keys) {
        std::vector<std::string> scalars;
        std::vector<std::pair<std::string, const Json*>> others;
        partition(item, scalar_keys, scalars, others);
        if (!scalars.empty()) {
            if (identifier != nullptr) {
                scalars.insert(scalars.begin(), upper(*identifier));
            }
            for (size_t i = 0; i < scalars.size(); ++i) {
                out += i == 0 ? "" : "\t";
                out += scalars[i];
            }
            out += "\n";
        }
        for (const auto& [key, val] : others) {
            format(*val, &key);
        }
    }
};

/// Display width as awscli/table.py counts it (one column per code point; wide characters are
/// rare enough in these answers to be counted as one).
long text_length(std::string_view s) {
    return static_cast<long>(control::code_points(s));
}

std::string spaces(long n) {
    return n > 0 ? std::string(static_cast<size_t>(n), ' ') : std::string();
}

std::string center_text(const std::string& text, long length, const std::string& left_edge,
                        const std::string& right_edge) {
    const long text_len = text_length(text);
    const long char_start = (length / 2) - (text_len / 2) - 1;
    std::string out = left_edge + spaces(char_start) + text;
    const long so_far = text_length(left_edge) + char_start + text_len;
    out += spaces(length - text_length(right_edge) - so_far) + right_edge;
    return out;
}

std::string align_left(const std::string& text, long length, const std::string& left_edge,
                       const std::string& right_edge) {
    constexpr long kLeftPadding = 2;
    const long text_len = text_length(text);
    const long computed =
        text_len + kLeftPadding + text_length(left_edge) + text_length(right_edge);
    const long padding = length - computed >= 0 ? kLeftPadding : 0;
    return left_edge + spaces(padding) + text +
           spaces(length - text_length(left_edge) - padding - text_len - text_length(right_edge)) +
           right_edge;
}

/// awscli/table.py's MultiTable with the plain styler: one section per structure, a section with
/// a single row turned vertical when the table is wider than the terminal.
class Table {
public:
    struct Section {
        std::string title;
        std::vector<std::string> headers;
        std::vector<std::vector<std::string>> rows;
        long indent = 0;
        std::vector<long> max_widths;

        void update_widths(const std::vector<std::string>& row) {
            if (max_widths.empty()) {
                for (const std::string& e : row) {
                    max_widths.push_back(text_length(e));
                }
                return;
            }
            for (size_t i = 0; i < row.size() && i < max_widths.size(); ++i) {
                max_widths[i] = std::max(max_widths[i], text_length(row[i]));
            }
        }

        [[nodiscard]] std::vector<long> column_widths(long padding,
                                                      std::optional<long> max_width) const {
            std::vector<long> widths;
            for (const long w : max_widths) {
                widths.push_back(w + padding);
            }
            if (!max_width || widths.empty()) {
                return widths;
            }
            long sum = 0;
            for (const long w : widths) {
                sum += w;
            }
            const double scale = static_cast<double>(*max_width) / static_cast<double>(sum);
            std::vector<long> scaled;
            long total = 0;
            for (const long w : widths) {
                // Python's round(): half to even, which nearbyint does in the default mode.
                scaled.push_back(static_cast<long>(std::nearbyint(scale * static_cast<double>(w))));
                total += scaled.back();
            }
            long off_by = total - *max_width;
            while (off_by != 0) {
                const long n = static_cast<long>(scaled.size());
                for (long k = 0; k < n; ++k) {
                    const auto i = static_cast<size_t>(off_by < 0 ? n - 1 - k : k);
                    if (off_by > 0) {
                        --scaled[i];
                        --off_by;
                    } else {
                        ++scaled[i];
                        ++off_by;
                    }
                    if (off_by == 0) {
                        break;
                    }
                }
            }
            return scaled;
        }

        [[nodiscard]] long total_width(long padding, long outer_padding) const {
            long total = 2; // the border
            for (const long w : column_widths(0, std::nullopt)) {
                total += w + padding;
            }
            total += 2 * outer_padding;
            return std::max(text_length(title) + 2 + 2 * outer_padding, total);
        }
    };

    explicit Table(long terminal_width)
        : terminal_width_(terminal_width) {}

    void new_section(const std::string& title, long indent) {
        sections_.push_back(Section{title, {}, {}, indent, {}});
    }

    void add_header(const std::vector<std::string>& headers) {
        sections_.back().update_widths(headers);
        sections_.back().headers = headers;
    }

    void add_row(const std::vector<std::string>& row) {
        sections_.back().rows.push_back(row);
        sections_.back().update_widths(row);
    }

    [[nodiscard]] std::string render() {
        long max_width = calculate_max_width();
        if (max_width > terminal_width_) {
            for (Section& s : sections_) {
                if (s.rows.size() == 1 && !s.headers.empty()) {
                    Section vertical{s.title, {}, {}, s.indent, {}};
                    for (size_t i = 0; i < s.headers.size() && i < s.rows[0].size(); ++i) {
                        vertical.rows.push_back({s.headers[i], s.rows[0][i]});
                        vertical.update_widths(vertical.rows.back());
                    }
                    s = std::move(vertical);
                }
            }
            max_width = calculate_max_width();
        }
        std::string out(static_cast<size_t>(std::max(0L, max_width)), '-');
        out += "\n";
        for (const Section& s : sections_) {
            render_section(s, max_width, out);
        }
        return out;
    }

private:
    std::vector<Section> sections_;
    long terminal_width_;

    [[nodiscard]] long calculate_max_width() const {
        long w = 0;
        for (const Section& s : sections_) {
            w = std::max(w, s.total_width(4, s.indent));
        }
        return w;
    }

    static void write(std::string& out, long indent, const std::string& line) {
        const std::string bars(static_cast<size_t>(indent), '|');
        out += bars + line + bars + "\n";
    }

    static std::string line_break(const std::vector<long>& widths) {
        std::string s;
        for (size_t i = 0; i < widths.size(); ++i) {
            s += i == 0 ? "+" + std::string(static_cast<size_t>(std::max(0L, widths[i] - 2)), '-') +
                              "+"
                        : std::string(static_cast<size_t>(std::max(0L, widths[i] - 1)), '-') + "+";
        }
        return s;
    }

    static void render_section(const Section& s, long max_width, std::string& out) {
        const long width = max_width - s.indent * 2;
        if (!s.title.empty()) {
            write(out, s.indent, center_text(s.title, width, "|", "|"));
            if (s.headers.empty() && s.rows.empty()) {
                write(out, s.indent,
                      "+" + std::string(static_cast<size_t>(std::max(0L, width - 2)), '-') + "+");
            }
        }
        if (!s.headers.empty()) {
            const std::vector<long> widths = s.column_widths(4, width);
            std::string line;
            for (size_t i = 0; i < widths.size() && i < s.headers.size(); ++i) {
                line += center_text(s.headers[i], widths[i], i == 0 ? "|" : "", "|");
            }
            write(out, s.indent, line_break(widths));
            write(out, s.indent, line);
        }
        if (s.rows.empty()) {
            return;
        }
        const std::vector<long> widths = s.column_widths(4, width);
        if (widths.empty()) {
            return;
        }
        write(out, s.indent, line_break(widths));
        for (const auto& row : s.rows) {
            std::string line;
            for (size_t i = 0; i < widths.size() && i < row.size(); ++i) {
                line += align_left(row[i], widths[i], i == 0 ? "|" : "", "|");
            }
            write(out, s.indent, line);
        }
        write(out, s.indent, line_break(widths));
    }
};

/// awscli's TableFormatter: builds the sections of a Table from the response.
class TableBuilder {
public:
    explicit TableBuilder(Table& table)
        : table_(table) {}

    bool build(const std::string* title, const Json& current, long indent = 0) {
        if (current.empty() || current.is_null() ||
            (current.is_boolean() && !current.get<bool>()) ||
            (current.is_string() && current.get_ref<const std::string&>().empty())) {
            return false; // Python's `not current`
        }
        if (title != nullptr) {
            table_.new_section(*title, indent);
        }
        if (current.is_array()) {
            if (current[0].is_object()) {
                from_list(current, indent, title);
            } else {
                for (const Json& item : current) {
                    if (is_scalar(item)) {
                        table_.add_row({python_str(item)});
                    } else if (std::all_of(item.begin(), item.end(), is_scalar)) {
                        std::vector<std::string> row;
                        for (const Json& e : item) {
                            row.push_back(python_str(e));
                        }
                        table_.add_row(row);
                    } else {
                        build(nullptr, item);
                    }
                }
            }
        }
        if (current.is_object()) {
            from_dict(current, indent);
        }
        return true;
    }

private:
    Table& table_;

    static void group(const Json& obj, std::set<std::string>& headers,
                      std::set<std::string>& more) {
        for (const auto& [key, val] : obj.items()) {
            (is_scalar(val) ? headers : more).insert(key);
        }
    }

    void from_dict(const Json& current, long indent) {
        std::set<std::string> hs;
        std::set<std::string> ms;
        group(current, hs, ms);
        const std::vector<std::string> headers(hs.begin(), hs.end());
        if (headers.size() == 1) {
            table_.add_row({headers[0], python_str(current.at(headers[0]))});
        } else if (!headers.empty()) {
            table_.add_header(headers);
            std::vector<std::string> row;
            row.reserve(headers.size());
            for (const std::string& h : headers) {
                row.push_back(python_str(current.at(h)));
            }
            table_.add_row(row);
        }
        for (const std::string& key : ms) {
            build(&key, current.at(key), indent + 1);
        }
    }

    void from_list(const Json& current, long indent, const std::string* title) {
        std::set<std::string> hs;
        std::set<std::string> ms;
        for (const Json& e : current) {
            if (e.is_object()) {
                group(e, hs, ms);
            }
        }
        const std::vector<std::string> headers(hs.begin(), hs.end());
        table_.add_header(headers);
        bool first = true;
        for (const Json& e : current) {
            if (!first && !ms.empty() && title != nullptr) {
                table_.new_section(*title, indent);
                table_.add_header(headers);
            }
            first = false;
            std::vector<std::string> row;
            row.reserve(headers.size());
            for (const std::string& h : headers) {
                row.push_back(e.is_object() && e.contains(h) ? python_str(e.at(h)) : "");
            }
            table_.add_row(row);
            for (const std::string& key : ms) {
                if (e.is_object() && e.contains(key)) {
                    build(&key, e.at(key), indent + 1);
                }
            }
        }
    }
};

// NOLINTEND(misc-no-recursion)

} // namespace

std::string format_text(const Json& response) {
    TextFormatter f;
    f.format(response);
    return f.out;
}

std::string format_table(const Json& response, const std::string& title, long width) {
    Table table(width);
    TableBuilder builder(table);
    return builder.build(&title, response) ? table.render() : "";
}

std::string format_json(const Json& response) {
    if (response.is_object() && response.empty()) {
        return ""; // the AWS CLI prints nothing for an empty response
    }
    return response.dump(4, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string render(const Json& response, std::string_view output, const std::string& operation,
                   long width) {
    if (output == "text") {
        return format_text(response);
    }
    if (output == "table") {
        return format_table(response, operation, width);
    }
    return format_json(response);
}

long terminal_width() {
    winsize ws{};
    if (isatty(STDOUT_FILENO) != 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 80;
}

} // namespace horizon::ctl
