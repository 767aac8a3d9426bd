// The forwarding resolver. One Pending per distinct question in flight (identical questions are
// coalesced); it tries the upstreams in order, one attempt at a time: UDP with a random ID, TCP
// when the answer is truncated. Answers are believed only from the upstream's address and port
// with our ID and question (RFC 5452 §9.1).
#include "dns/resolver.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <sys/random.h>

#include <spdlog/spdlog.h>

#include "dns/upstream.hpp"
#include "dns/zone.hpp"

namespace horizon::dns {

namespace {

/// Unpredictable query IDs (RFC 5452 §4.3) from the kernel's CSPRNG, fetched in batches.
class KernelRandom {
public:
    uint16_t operator()() {
        if (pos_ + 2 > buf_->size()) {
            refill();
        }
        const auto v = static_cast<uint16_t>(((*buf_)[pos_] << 8) | (*buf_)[pos_ + 1]);
        pos_ += 2;
        return v;
    }

private:
    void refill() {
        size_t got = 0;
        while (got < buf_->size()) {
            const ssize_t n = ::getrandom(buf_->data() + got, buf_->size() - got, 0);
            if (n <= 0) {
                break;
            }
            got += static_cast<size_t>(n);
        }
        if (got < buf_->size()) { // getrandom cannot fail after boot; be safe anyway
            std::random_device rd;
            for (size_t i = got; i < buf_->size(); ++i) {
                (*buf_)[i] = static_cast<uint8_t>(rd());
            }
        }
        pos_ = 0;
    }

    std::shared_ptr<std::array<uint8_t, 256>> buf_ = std::make_shared<std::array<uint8_t, 256>>();
    size_t pos_ = 256;
};

Command for_attempt(Command::Kind kind, AttemptId attempt) {
    Command c;
    c.kind = kind;
    c.attempt = attempt;
    return c;
}

Command for_client(Command::Kind kind, ClientId client) {
    Command c;
    c.kind = kind;
    c.client = client;
    return c;
}

bool same_endpoint(const util::Endpoint& a, const util::Endpoint& b) {
    return a.addr.unmapped() == b.addr.unmapped() && a.port == b.port;
}

} // namespace

/// One client waiting for the answer to a question.
struct Resolver::Waiter {
    ClientId id = 0;
    std::vector<uint8_t> query; ///< the whole query: its question is echoed as received (0x20)
    Query q;                    ///< the engine's parse of it
    Client client;

    [[nodiscard]] Asker asker() const {
        return {q.id, q.flags,
                std::span<const uint8_t>(query).subspan(kHeaderSize, q.question_end - kHeaderSize),
                q.edns};
    }
};

/// Why one upstream did not give us an answer.
struct Resolver::Failure {
    util::Endpoint upstream;
    std::string why;
    bool network = false; ///< a network error (refused, unreachable), not a timeout or a refusal
};

/// One question in flight, shared by every client asking it.
struct Resolver::Pending {
    std::string key;
    Query q; ///< the first client's query: the question we ask and match
    std::vector<util::Endpoint> upstreams;
    std::string zone; ///< lower wire: the forward zone they serve, the bailiwick of their answers
    std::chrono::milliseconds timeout{0};
    size_t next = 0; ///< the upstream to try after the current one
    std::vector<Waiter> waiters;
    std::vector<Failure> failures;
    AttemptId attempt = 0; ///< the attempt in flight; 0 = none
    util::Endpoint upstream;
    bool tcp = false;
    uint16_t id = 0; ///< our query's ID
};

Resolver::Resolver(SocketBudget& budget, RandomFn random)
    : budget_(budget)
    , random_(random ? std::move(random) : RandomFn(KernelRandom{}))
    , scratch_(kMaxMessage) {}

Resolver::~Resolver() {
    budget_.open.fetch_sub(attempts_.size(), std::memory_order_relaxed);
}

void Resolver::configure(std::shared_ptr<const Snapshot> snap,
                         std::shared_ptr<const config::ResolverConfig> config) {
    if (snap && snap->generation != names_generation_) {
        names_generation_ = snap->generation;
        std::string now = std::to_string(reinterpret_cast<uintptr_t>(snap->zones.get()));
        for (const auto& c : snap->clusters) {
            now += c.apex;
        }
        if (now != names_) {
            cache_.clear(); // it may hold upstream data for names that are ours now
            names_ = std::move(now);
        }
    }
    snap_ = std::move(snap);
    if (config == config_) {
        return;
    }
    const bool same_sources =
        config_ && config && config_->upstreams == config->upstreams &&
        config_->forward.size() == config->forward.size() &&
        std::equal(config_->forward.begin(), config_->forward.end(), config->forward.begin(),
                   [](const config::ForwardZone& x, const config::ForwardZone& y) {
                       return x.zone == y.zone && x.upstreams == y.upstreams;
                   }) &&
        config_->min_ttl == config->min_ttl && config_->max_ttl == config->max_ttl &&
        config_->negative_ttl == config->negative_ttl;
    config_ = std::move(config);
    if (!same_sources) {
        cache_.clear(); // answers from other upstreams or under another TTL policy
    }
    zones_.clear();
    if (!config_) {
        cache_.set_capacity(0);
        return;
    }
    for (const auto& z : config_->forward) {
        zones_[to_wire_name(z.zone)] = z.upstreams;
    }
    policy_ = {config_->min_ttl, config_->max_ttl, config_->negative_ttl};
    cache_.set_capacity(config_->cache_size);
}

const std::vector<util::Endpoint>* Resolver::upstreams_for(const Query& q,
                                                           std::string* zone) const {
    for (unsigned i = 0; i < q.label_count && !zones_.empty(); ++i) { // longest suffix first
        if (const auto it = zones_.find(std::string(q.lower_suffix(i))); it != zones_.end()) {
            if (zone != nullptr) {
                *zone = it->first;
            }
            return &it->second;
        }
    }
    if (zone != nullptr) {
        zone->assign(1, '\0'); // the root: [resolver] upstreams answer for every name
    }
    return config_ && !config_->upstreams.empty() ? &config_->upstreams : nullptr;
}

AnswerOptions Resolver::options(const Waiter& w) const {
    const auto& server = snap_->server;
    return {server.udp_payload, server.identity, answer_limit(*snap_, w.q.edns, w.client.transport),
            true};
}

void Resolver::reply(const Waiter& w, const Written& written, Outcome o, std::string via,
                     Commands& out) {
    if (written.size == 0) {
        out.push_back(for_client(Command::Kind::Drop, w.id));
        return;
    }
    o.size = written.size;
    o.truncated = written.truncated;
    o.qtype = w.q.qtype;
    o.name_len = w.q.name_len;
    Command c = for_client(Command::Kind::Reply, w.id);
    c.message.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(o.size));
    c.outcome = o;
    c.via = std::move(via);
    out.push_back(std::move(c));
}

Written Resolver::write_cached(const Waiter& w, const CachedAnswer& a, uint32_t age, Outcome& o) {
    o.rcode = a.rcode;
    if (a.cut.empty()) {
        return write_answer(a, age, w.asker(), options(w), scratch_);
    }
    // The upstream's chain reached one of our names: the rest is ours, for this client.
    std::vector<uint8_t> chain;
    const uint16_t count = answer_records(a, age, chain);
    const Outcome ours =
        answer_forwarded(*snap_, w.query, w.q, w.client, chain, count, a.cut, scratch_);
    o.rcode = ours.rcode;
    return {ours.size, ours.truncated};
}

void Resolver::answer_now(const Waiter& w, Rcode rcode, std::string_view why, bool ede,
                          Commands& out) {
    AnswerOptions o = options(w);
    // RFC 1035 §4.1.1: RA only for a client we would recurse for.
    o.ra = snap_->recursion_allowed(w.client.addr);
    const auto written =
        write_error(w.asker(), rcode, ede ? std::optional<uint16_t>(ede::Other) : std::nullopt,
                    ede ? why : std::string_view{}, o, scratch_);
    Outcome outcome;
    outcome.rcode = rcode;
    reply(w, written, outcome, std::string(why), out);
}

Commands Resolver::on_query(ClientId id, std::span<const uint8_t> query, const Query& q,
                            const Client& client, TimePoint now) {
    Commands out;
    Waiter w{id, std::vector<uint8_t>(query.begin(), query.end()), q, client};
    if (!snap_ || !snap_->recursion_allowed(client.addr)) {
        // RFC 8906 §3.1.3: not ours, and this source may not recurse through us.
        answer_now(w, Rcode::Refused, "recursion not allowed", false, out);
        return out;
    }
    std::string zone;
    const auto* upstreams = config_ ? upstreams_for(q, &zone) : nullptr;
    if (upstreams == nullptr) {
        answer_now(w, Rcode::Refused, "no upstream for this name", false, out);
        return out;
    }
    if (q.qtype == type::AXFR || q.qtype == type::IXFR) {
        answer_now(w, Rcode::Refused, "no zone transfers through a forwarder", false, out);
        return out;
    }
    std::string key = cache_key(q);
    if (const auto hit = cache_.lookup(key, now)) {
        Outcome o;
        const Written written = write_cached(w, *hit->answer, hit->age, o);
        reply(w, written, o, "cache", out);
        return out;
    }
    if ((q.flags & flag::RD) == 0) {
        // RFC 1034 §4.3.1: without RD the client wants no recursion, so the cache alone answers.
        // Not cached: REFUSED, as Unbound does for non-recursive queries (access-control
        // "allow") and the PowerDNS Recursor by default since 5.0 (allow-no-rd); we have no
        // referral to give.
        answer_now(w, Rcode::Refused, "RD=0 and not cached", false, out);
        return out;
    }
    const auto it = pending_.find(key);
    if (it != pending_.end() ? it->second->waiters.size() >= kMaxWaiters
                             : pending_.size() >= kMaxPending) {
        answer_now(w, Rcode::ServFail, "too many queries in flight", true, out);
        return out;
    }
    if (const size_t limit = budget_.limit.load(std::memory_order_relaxed);
        it == pending_.end() && limit != 0 &&
        budget_.open.load(std::memory_order_relaxed) >= limit) {
        // A socket more could starve the listeners and the admin API of file descriptors:
        // SERVFAIL now, saying why (RFC 8914 §4.1: Other, with EXTRA-TEXT).
        answer_now(w, Rcode::ServFail, "too many upstream queries in flight", true, out);
        return out;
    }
    if (it != pending_.end()) {
        it->second->waiters.push_back(std::move(w)); // coalesced: already on its way upstream
        return out;
    }
    auto p = std::make_unique<Pending>();
    p->key = key;
    p->q = q;
    p->upstreams = *upstreams;
    p->zone = std::move(zone);
    p->timeout = config_->timeout;
    p->waiters.push_back(std::move(w));
    Pending& ref = *p;
    pending_.emplace(std::move(key), std::move(p));
    start(ref, out);
    return out;
}

Resolver::Pending* Resolver::attempt(AttemptId id) {
    const auto it = attempts_.find(id);
    return it == attempts_.end() ? nullptr : it->second;
}

Commands Resolver::on_response(AttemptId id, const util::Endpoint& from,
                               std::span<const uint8_t> message, TimePoint now) {
    Commands out;
    Pending* p = attempt(id);
    if (p == nullptr) {
        return out;
    }
    const char* why = nullptr;
    const char* tcp_why = nullptr; // the same, as EDE EXTRA-TEXT (RFC 8914 §2) for a TCP answer
    if (!same_endpoint(from, p->upstream)) {
        why = "wrong source";
        tcp_why = "answered from another address over TCP";
    } else {
        switch (match_response(message, p->id, p->q)) {
        case Match::Ok:
            break;
        case Match::Short:
            why = "cut short";
            tcp_why = "sent an answer cut short over TCP (it ends before its question)";
            break;
        case Match::NotAResponse:
            why = "not a response";
            tcp_why = "sent a message that is not a response over TCP";
            break;
        case Match::WrongId:
            why = "wrong ID";
            tcp_why = "answered with another query ID over TCP";
            break;
        case Match::WrongQuestion:
            why = "wrong question";
            tcp_why = "answered another question over TCP";
            break;
        }
    }
    if (why != nullptr && p->tcp) {
        // On a connection we opened, a mismatch is the upstream's fault, not a spoofer's.
        failed(*p, tcp_why, false, out);
        return out;
    }
    if (why != nullptr) {
        // RFC 5452 §9.1: ignored while we keep waiting for the real answer.
        ++ignored_;
        spdlog::debug("forward: ignored an answer from {} to our query to {}: {}", from.to_string(),
                      p->upstream.to_string(), why);
        return out;
    }
    answered(*p, message, now, out);
    return out;
}

Commands Resolver::on_error(AttemptId id, std::string_view why, TimePoint /*now*/) {
    Commands out;
    if (Pending* p = attempt(id); p != nullptr) {
        failed(*p, std::string(why), true, out);
    }
    return out;
}

Commands Resolver::on_timeout(AttemptId id, TimePoint /*now*/) {
    Commands out;
    if (Pending* p = attempt(id); p != nullptr) {
        failed(*p, p->tcp ? "timed out over TCP" : "timed out", false, out);
    }
    return out;
}

Commands Resolver::shutdown() {
    Commands out;
    for (auto& [key, p] : pending_) {
        close_attempt(*p, out);
        for (const auto& w : p->waiters) {
            out.push_back(for_client(Command::Kind::Drop, w.id));
        }
    }
    pending_.clear();
    return out;
}

void Resolver::start(Pending& p, Commands& out) {
    if (p.next >= p.upstreams.size()) {
        finish(p, nullptr, "", out);
        return;
    }
    const util::Endpoint upstream = p.upstreams[p.next++];
    start_attempt(p, upstream, false, out);
}

void Resolver::start_attempt(Pending& p, const util::Endpoint& upstream, bool tcp, Commands& out) {
    p.attempt = next_attempt_++;
    p.upstream = upstream;
    p.tcp = tcp;
    p.id = random_();
    attempts_.emplace(p.attempt, &p);
    budget_.open.fetch_add(1, std::memory_order_relaxed);
    std::array<uint8_t, 512> query{};
    const size_t n = write_upstream_query(p.q, p.id, snap_->server.udp_payload, query);
    Command send = for_attempt(Command::Kind::Send, p.attempt);
    send.upstream = upstream;
    send.tcp = tcp;
    send.message.assign(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(n));
    out.push_back(std::move(send));
    Command timer = for_attempt(Command::Kind::ArmTimer, p.attempt);
    timer.after = p.timeout;
    out.push_back(std::move(timer));
}

void Resolver::close_attempt(Pending& p, Commands& out) {
    if (p.attempt == 0) {
        return;
    }
    out.push_back(for_attempt(Command::Kind::Close, p.attempt));
    attempts_.erase(p.attempt);
    budget_.open.fetch_sub(1, std::memory_order_relaxed);
    p.attempt = 0;
}

void Resolver::failed(Pending& p, std::string why, bool network, Commands& out) {
    close_attempt(p, out);
    spdlog::debug("forward: {} for {}: {}", p.upstream.to_string(), name_to_text(p.q.lower_name()),
                  why);
    p.failures.push_back({p.upstream, std::move(why), network});
    start(p, out);
}

void Resolver::answered(Pending& p, std::span<const uint8_t> response, TimePoint now,
                        Commands& out) {
    // TC first: a truncated answer may be cut mid-record and not parse (RFC 2181 §9).
    const uint16_t flags = get16(response, 2);
    if ((flags & flag::TC) != 0 && !p.tcp) {
        const util::Endpoint upstream = p.upstream;
        close_attempt(p, out); // RFC 7766 §5: a truncated answer is retried over TCP, same upstream
        start_attempt(p, upstream, true, out);
        return;
    }
    const Snapshot& snap = *snap_;
    // Upstream data about our names never reaches a client (docs/horizond.md, Forwarding): the cut.
    // Additional records outside the forward zone, or about no host the answer names, go too.
    const auto normalized = normalize(
        response, policy_,
        [&snap](std::string_view name) {
            return snap.find_apex(name) != nullptr ||
                   (snap.zones && (snap.zones->find(name, config::View::Vpc) != nullptr ||
                                   snap.zones->find(name, config::View::Public) != nullptr));
        },
        p.zone);
    if (!normalized) {
        failed(p, p.tcp ? "sent a malformed answer over TCP" : "sent a malformed answer", false,
               out);
        return;
    }
    if (normalized->rcode != Rcode::NoError && normalized->rcode != Rcode::NxDomain) {
        const auto rcode = static_cast<uint16_t>(normalized->rcode);
        failed(p,
               rcode < 16 ? "answered " + std::string(to_string(normalized->rcode))
                          : "answered RCODE " + std::to_string(rcode),
               false, out);
        return;
    }
    const std::string via = "forwarded to " + p.upstream.to_string();
    close_attempt(p, out);
    cache_.insert(p.key, *normalized, now);
    finish(p, &*normalized, via, out);
}

void Resolver::finish(Pending& p, const CachedAnswer* answer, const std::string& via,
                      Commands& out) {
    auto node = pending_.extract(p.key);
    if (node.empty()) {
        return;
    }
    const std::unique_ptr<Pending> owned = std::move(node.mapped());
    close_attempt(*owned, out);
    std::string text;
    bool all_network = !owned->failures.empty();
    for (const auto& f : owned->failures) {
        all_network = all_network && f.network;
        std::string item = f.upstream.to_string() + " " + f.why;
        if (text.size() + item.size() + 2 > kMaxFailureText) {
            text += text.empty() ? "" : "; ...";
            break;
        }
        text += (text.empty() ? "" : "; ") + item;
    }
    // RFC 8914 §4.23 / §4.24: a network error everywhere, else no upstream would answer.
    const uint16_t code = all_network ? ede::NetworkError : ede::NoReachableAuthority;
    const std::string outcome = answer != nullptr ? via : "all upstreams failed: " + text;
    if (answer == nullptr) {
        spdlog::debug("forward: SERVFAIL for {}: {}", name_to_text(owned->q.lower_name()), text);
    }
    for (const auto& w : owned->waiters) {
        Outcome o;
        o.rcode = Rcode::ServFail;
        const Written written = answer != nullptr ? write_cached(w, *answer, 0, o)
                                                  : write_error(w.asker(), Rcode::ServFail, code,
                                                                text, options(w), scratch_);
        reply(w, written, o, outcome, out);
    }
}

} // namespace horizon::dns
