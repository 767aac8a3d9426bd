// UDP on a worker: recvmmsg/sendmmsg batches driven by a uv_poll_t on our own REUSEPORT socket,
// with IP_PKTINFO/IPV6_PKTINFO so that wildcard listeners answer from the arrival address.
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "server/worker.hpp"

namespace horizon::server {

namespace {

constexpr unsigned kBatch = 32;           // datagrams per recvmmsg/sendmmsg
constexpr unsigned kBatchesPerWakeup = 8; // then yield to the loop's other handles
constexpr size_t kQueryBuffer = 4096;     // larger UDP queries are dropped (MSG_TRUNC)
constexpr size_t kAnswerBuffer = 4096;    // udp_payload is at most 4096; the engine truncates
constexpr size_t kControl = CMSG_SPACE(sizeof(in6_pktinfo)) > CMSG_SPACE(sizeof(in_pktinfo))
                                ? CMSG_SPACE(sizeof(in6_pktinfo))
                                : CMSG_SPACE(sizeof(in_pktinfo));

struct UdpListener;

/// What a forwarded query's late answer holds on to: null once the listener is closed.
struct UdpGuard {
    UdpListener* listener = nullptr;
};

struct UdpListener final : Owned {
    uv_poll_t poll{};
    Worker* worker = nullptr;
    int fd = -1;
    bool pktinfo = false;
    const ListenSocket* socket = nullptr; ///< its marker (resolver listener); owned by the worker
    std::shared_ptr<UdpGuard> guard = std::make_shared<UdpGuard>(UdpGuard{this});

    std::array<mmsghdr, kBatch> in{};
    std::array<iovec, kBatch> in_iov{};
    std::array<sockaddr_storage, kBatch> peers{};
    std::array<std::array<uint8_t, kQueryBuffer>, kBatch> queries{};
    std::array<std::array<char, kControl>, kBatch> in_control{};

    std::array<mmsghdr, kBatch> out{};
    std::array<iovec, kBatch> out_iov{};
    std::array<std::array<uint8_t, kAnswerBuffer>, kBatch> answers{};
    std::array<std::array<char, kControl>, kBatch> out_control{};

    UdpListener() = default;
    UdpListener(const UdpListener&) = delete;
    UdpListener& operator=(const UdpListener&) = delete;

    ~UdpListener() override {
        if (fd >= 0) {
            ::close(fd);
        }
    }

    void close() override {
        if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll)) != 0) {
            return;
        }
        guard->listener = nullptr; // late forwarded answers are dropped from now on
        uv_close(reinterpret_cast<uv_handle_t*>(&poll), [](uv_handle_t* h) {
            delete static_cast<Owned*>(h->data); // NOLINT(cppcoreguidelines-owning-memory)
        });
    }

    void prepare_receive() {
        for (unsigned i = 0; i < kBatch; ++i) {
            in_iov[i] = {queries[i].data(), queries[i].size()};
            auto& h = in[i].msg_hdr;
            h.msg_name = &peers[i];
            h.msg_namelen = sizeof(sockaddr_storage);
            h.msg_iov = &in_iov[i];
            h.msg_iovlen = 1;
            h.msg_control = pktinfo ? in_control[i].data() : nullptr;
            h.msg_controllen = pktinfo ? kControl : 0;
            h.msg_flags = 0;
        }
    }

    /// Copies the arrival address of datagram i into the reply's control data (RFC 1122
    /// §3.3.4.2: answer from the address the query was sent to).
    size_t reply_control(unsigned i, char* ctl) {
        msghdr& h = in[i].msg_hdr;
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo got{};
                std::memcpy(&got, CMSG_DATA(c), sizeof got);
                in_pktinfo send{};
                send.ipi_spec_dst = got.ipi_addr;
                auto* o = reinterpret_cast<cmsghdr*>(ctl);
                o->cmsg_level = IPPROTO_IP;
                o->cmsg_type = IP_PKTINFO;
                o->cmsg_len = CMSG_LEN(sizeof send);
                std::memcpy(CMSG_DATA(o), &send, sizeof send);
                return CMSG_SPACE(sizeof send);
            }
            if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo got{};
                std::memcpy(&got, CMSG_DATA(c), sizeof got);
                auto* o = reinterpret_cast<cmsghdr*>(ctl);
                o->cmsg_level = IPPROTO_IPV6;
                o->cmsg_type = IPV6_PKTINFO;
                o->cmsg_len = CMSG_LEN(sizeof got);
                std::memcpy(CMSG_DATA(o), &got, sizeof got); // same address and interface
                return CMSG_SPACE(sizeof got);
            }
        }
        return 0;
    }

    /// Hands datagram i to the forwarder; returns the size of an answer ready at once (in
    /// `answer_now`).
    /// A later answer goes out by sendmsg from this socket, from the same address as a batched
    /// one would (PKTINFO), if the listener is still open.
    size_t forward(unsigned i, std::span<const uint8_t> query, const dns::Query& q,
                   const dns::Client& client, std::span<uint8_t> answer_now) {
        struct Destination {
            sockaddr_storage peer{};
            socklen_t peer_len = 0;
            std::array<char, kControl> control{};
            size_t control_len = 0;
        };

        auto to = std::make_shared<Destination>();
        std::memcpy(&to->peer, &peers[i], sizeof to->peer);
        to->peer_len = in[i].msg_hdr.msg_namelen;
        if (pktinfo) {
            to->control_len = reply_control(i, to->control.data());
        }
        return worker->forwarder().resolve(
            query, q, client, answer_now, [g = guard, to](std::span<const uint8_t> answer) {
                UdpListener* l = g->listener;
                if (l == nullptr) {
                    return;
                }
                iovec iov{const_cast<uint8_t*>(answer.data()), answer.size()};
                msghdr h{};
                h.msg_name = &to->peer;
                h.msg_namelen = to->peer_len;
                h.msg_iov = &iov;
                h.msg_iovlen = 1;
                if (to->control_len > 0) {
                    h.msg_control = to->control.data();
                    h.msg_controllen = to->control_len;
                }
                ssize_t n = -1;
                do {
                    n = ::sendmsg(l->fd, &h, MSG_DONTWAIT);
                } while (n < 0 && errno == EINTR);
                if (n < 0) {
                    l->worker->metrics().dropped[static_cast<size_t>(Drop::SendFailed)].add();
                }
            });
    }

    /// One recvmmsg batch answered with one sendmmsg. Returns false when the socket is drained.
    bool serve_batch() {
        prepare_receive();
        const int n = recvmmsg(fd, in.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                spdlog::warn("udp: recvmmsg failed: {}", std::strerror(errno));
            }
            return false;
        }
        unsigned replies = 0;
        dns::Query parsed;
        for (unsigned i = 0; i < static_cast<unsigned>(n); ++i) {
            if ((in[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
                worker->metrics().dropped[static_cast<size_t>(Drop::UdpOversize)].add();
                continue; // bigger than any sane query
            }
            const dns::Client client = socket->client(
                util::IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&peers[i])),
                dns::Transport::Udp);
            const std::span<const uint8_t> query(queries[i].data(), in[i].msg_len);
            const dns::Outcome o = worker->answer(query, parsed, client, answers[replies]);
            const size_t size =
                o.forward ? forward(i, query, parsed, client, answers[replies]) : o.size;
            if (size == 0) {
                continue;
            }
            out_iov[replies] = {answers[replies].data(), size};
            auto& h = out[replies].msg_hdr;
            h = {};
            h.msg_name = &peers[i];
            h.msg_namelen = in[i].msg_hdr.msg_namelen;
            h.msg_iov = &out_iov[replies];
            h.msg_iovlen = 1;
            if (pktinfo) {
                h.msg_control = out_control[replies].data();
                h.msg_controllen = reply_control(i, out_control[replies].data());
                if (h.msg_controllen == 0) {
                    h.msg_control = nullptr;
                }
            }
            ++replies;
        }
        unsigned sent = 0;
        while (sent < replies) {
            const int m = sendmmsg(fd, out.data() + sent, replies - sent, MSG_DONTWAIT);
            if (m <= 0) {
                if (m < 0 && errno == EINTR) {
                    continue;
                }
                // A full send buffer or an unreachable peer loses this datagram only.
                worker->metrics().dropped[static_cast<size_t>(Drop::SendFailed)].add();
                ++sent;
                continue;
            }
            sent += static_cast<unsigned>(m);
        }
        return static_cast<unsigned>(n) == kBatch;
    }
};

void on_readable(uv_poll_t* handle, int status, int /*events*/) noexcept {
    auto* l = static_cast<UdpListener*>(static_cast<Owned*>(handle->data));
    if (status < 0) {
        spdlog::warn("udp: poll error: {}", uv_strerror(status));
        return;
    }
    try {
        for (unsigned b = 0; b < kBatchesPerWakeup && l->serve_batch(); ++b) {
        }
    } catch (const std::exception& e) {
        spdlog::error("udp: dropped a batch: {}", e.what());
    }
}

} // namespace

bool start_udp(Worker& w, const ListenSocket& s) {
    auto l = std::make_unique<UdpListener>();
    l->worker = &w;
    l->fd = s.udp_fd;
    l->pktinfo = s.wildcard;
    l->socket = &s;
    if (const int rc = uv_poll_init_socket(w.loop(), &l->poll, s.udp_fd); rc != 0) {
        spdlog::error("udp: cannot watch socket: {}", uv_strerror(rc));
        return false;
    }
    l->poll.data = static_cast<Owned*>(l.get());
    auto* owned = l.release(); // the loop owns it from here: freed in its close callback
    if (const int rc = uv_poll_start(&owned->poll, UV_READABLE, on_readable); rc != 0) {
        spdlog::error("udp: cannot start polling: {}", uv_strerror(rc));
        owned->close();
        return false;
    }
    return true;
}

} // namespace horizon::server
