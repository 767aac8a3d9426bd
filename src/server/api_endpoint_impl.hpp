// The API endpoint's insides, shared by its files (listeners and lifetime: api_endpoint.cpp; the
// gate applied: api_gate.cpp; one connection: api_connection.cpp; the admin view:
// api_endpoint_view.cpp). Private to src/server.
//
// Handle lifetime, the one pattern: a libuv handle lives inside the object that owns it, and that
// object is freed only in the close callback of its last handle (Conn counts its handles and
// pending requests, a Listener has one). The loop's own handles (the two asyncs) live in Impl,
// which is freed only after uv_run returned with every handle closed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>
#include <uv.h>

#include "control/api_access.hpp"
#include "control/gate.hpp"
#include "server/api_endpoint.hpp"
#include "server/api_responder.hpp"
#include "server/api_tls.hpp"

namespace horizon::server {

struct SnapshotHolder;

namespace api {

constexpr size_t kHeldBuffer = 64 * 1024;      ///< bytes read from a held client, then no more
constexpr size_t kConnectBuffer = 1024 * 1024; ///< bytes buffered while the upstream connects
constexpr size_t kHighWater = 1024 * 1024;     ///< stop reading a side while this much is unsent
constexpr size_t kLowWater = 256 * 1024;       ///< ... and read again below this
constexpr uint64_t kConnectTimeoutMs = 10000;
/// An open connection with no byte either way for this long is reset, as an AWS NLB resets a TCP
/// flow idle for 350 s: no client can keep a slot of max_connections forever.
constexpr uint64_t kIdleTimeoutMs = 350 * 1000;
constexpr int kBacklog = 511;
constexpr unsigned kLogPerSecond = 20; ///< decision log lines per second, beyond: counted only

enum class State : uint8_t { Held, Connecting, Proxied, Responder };

/// "held", "connecting", "proxied", "responder": the connections view's state.
std::string_view to_string(State s);

inline uv_stream_t* stream(uv_tcp_t* t) {
    return reinterpret_cast<uv_stream_t*>(t);
}

inline uv_handle_t* handle(void* h) {
    return reinterpret_cast<uv_handle_t*>(h);
}

/// A uv_* result: true when it succeeded; otherwise logs "api: <what>: <uv_strerror>".
inline bool uv_ok(int rc, std::string_view what) {
    if (rc == 0) {
        return true;
    }
    spdlog::warn("api: {}: {}", what, uv_strerror(rc));
    return false;
}

/// The cluster named `name` in `snap`, or null (a reload removed it).
const dns::Cluster* find_cluster(const dns::Snapshot& snap, const std::string& name);

/// One bound or unbound address, for the start-up log and the connections view.
struct Address {
    std::string cluster;
    control::ApiSide side = control::ApiSide::Public;
    util::Endpoint at;
    std::string error; ///< why it could not be bound; "" when bound
};

/// The metric labels: {name, cluster, side, label}.
using CounterKey = std::tuple<std::string, std::string, std::string, std::string>;

/// What the admin thread may see of a connection.
struct ConnInfo {
    std::string cluster;
    control::ApiSide side = control::ApiSide::Public;
    util::Endpoint local;
    util::Endpoint peer;
    State state = State::Held;
    std::chrono::system_clock::time_point since;
    uint64_t bytes_in = 0;  ///< from the client
    uint64_t bytes_out = 0; ///< to the client
};

struct Conn;

/// One listening socket. Freed in its handle's close callback.
struct Listener {
    uv_tcp_t tcp{};
    ApiEndpoint::Impl* impl = nullptr;
    Address address;

    /// Closes the handle; the callback frees this.
    void close();
};

} // namespace api

struct ApiEndpoint::Impl {
    Runtime* runtime = nullptr;
    SnapshotHolder* holder = nullptr;
    uv_loop_t loop{};
    uv_async_t stop_async{};
    uv_async_t publish_async{};
    bool loop_ready = false;
    bool shut_down = false; ///< shutdown() ran: every handle is closed or closing
    std::thread thread;
    std::atomic<bool> running{false};
    std::vector<api::Listener*> listeners;      ///< open ones; each freed by its close callback
    std::vector<api::Address> addresses;        ///< bound and unbound, immutable after create
    std::map<std::string, SslCtxPtr> tls;       ///< per cluster
    std::map<std::string, std::string> layout;  ///< cluster -> its API addresses at start
    std::atomic<uint64_t> layout_warned_gen{0}; ///< last generation warned about (notify)

    // Loop thread only. Every count is per cluster and side: each side has its own budget.
    std::unordered_set<api::Conn*> conns;
    std::map<std::pair<std::string, control::ApiSide>, unsigned> open_count;
    std::map<std::pair<std::string, control::ApiSide>, unsigned> held_count;
    /// Connections open or held per source (max_connections_per_source); an entry goes when
    /// its last connection closes, so the map holds only sources with a connection.
    std::map<std::tuple<std::string, control::ApiSide, util::SourceKey>, unsigned> source_count;
    uint64_t next_id = 1;
    std::chrono::steady_clock::time_point log_window;
    unsigned logged_in_window = 0;
    unsigned suppressed = 0;

    // Shared with the admin thread.
    mutable std::mutex mu;
    std::map<uint64_t, api::ConnInfo> registry;
    std::map<api::CounterKey, uint64_t> counters;

    Impl() = default;
    /// Closes whatever is still open, runs the loop until every close callback ran, closes it.
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    void count(const char* name, const std::string& cluster, control::ApiSide side,
               std::string_view label);
    /// Rate-limited decision log: a flood must not flood the log.
    void log_decision(const std::string& line);
    /// The load the gate weighs for connection `c` (its cluster, side and source).
    control::GateLoad load_of(const api::Conn& c);

    void on_connection(api::Listener& l);
    void on_publish();
    void shutdown();
    std::string layout_of(const config::ClusterConfig& c) const;
};

namespace api {

/// One accepted connection. Freed when its last handle is closed and no request is pending.
struct Conn {
    ApiEndpoint::Impl* impl = nullptr;
    uint64_t id = 0;
    std::string cluster;
    control::ApiSide side = control::ApiSide::Public;
    util::Endpoint local;
    util::Endpoint peer;
    State state = State::Held;
    uv_tcp_t client{};
    uv_tcp_t upstream{};
    uv_timer_t timer{};
    uv_connect_t connect_req{};
    uv_getaddrinfo_t resolve_req{};
    bool upstream_open = false; ///< upstream handle initialised
    bool resolving = false;
    int handles = 0;
    bool closing = false;
    bool client_reading = false;
    bool upstream_reading = false;
    bool client_eof = false;
    bool upstream_eof = false;
    bool counted_open = false;
    bool counted_held = false;
    bool counted_source = false; ///< in impl->source_count (from open() or hold() until close)
    util::SourceKey source;      ///< util::source_key(peer.addr)
    std::string pending;         ///< client bytes not yet delivered (held, connecting)
    std::unique_ptr<ApiResponder> responder;
    std::optional<config::ApiUpstream> target;

    /// Initialises the client and timer handles on `loop`; false (logged) if one failed, and
    /// then the handles that were initialised are closed and this frees itself.
    bool init(uv_loop_t& loop);
    void close(bool reset);
    void maybe_free();

    void start_client_reading();
    void stop_client_reading();
    void start_upstream_reading();
    void stop_upstream_reading();

    void on_client_data(const char* data, size_t len);
    void on_upstream_data(const char* data, size_t len);
    /// (Re)arms the idle timer of a proxied or answered connection.
    void touch();
    void write(uv_tcp_t* to, std::string data);
    void shutdown_then_close(uv_tcp_t* which);
    void open(const config::ClusterConfig& cfg);
    void hold(const config::ClusterConfig& cfg);
    /// Counts this connection against its source's max_connections_per_source, once.
    void count_source();
    void connect_upstream();
    void connect_to(const sockaddr* addr);
    void upstream_failed(const std::string& why);

    void set_state(State s);
    void add_bytes(uint64_t in, uint64_t out);
    [[nodiscard]] std::string who() const;
    /// A uv_* result for this connection: true when it succeeded; otherwise logs
    /// "api: <who>: <what>: <uv_strerror>".
    bool ok(int rc, const char* what) const;

    [[nodiscard]] control::GateRequest request() const { return {side, peer.addr, false}; }
};

} // namespace api

} // namespace horizon::server
