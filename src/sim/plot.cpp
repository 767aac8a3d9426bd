// CSV rows and gnuplot charts of the metrics time series.
#include "sim/plot.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace horizon::sim {

std::string sample_row(const Sample& s) {
    return fmt::format("{:.3f},{},{},{},{},{},{:.1f},{:.1f},{},{},{},{},{},{}",
                       static_cast<double>(s.t) / 1000.0, s.ready, s.not_ready, s.unknown,
                       s.tainted, s.leases_fresh, s.etcd_bytes_per_s, s.api_requests_per_s,
                       s.dns_private, s.dns_public, s.dns_nxdomain, s.conns_public, s.conns_private,
                       s.pods_evicted);
}

bool plot(const std::vector<Sample>& samples, const std::string& dir, const std::string& title,
          std::string& error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        error = fmt::format("cannot create {}: {}", dir, ec.message());
        return false;
    }
    const std::string csv = dir + "/metrics.csv";
    {
        std::ofstream out(csv);
        out << kSampleHeader << '\n';
        for (const auto& s : samples) {
            out << sample_row(s) << '\n';
        }
        if (!out) {
            error = fmt::format("cannot write {}", csv);
            return false;
        }
    }
    const std::string gp = dir + "/plot.gp";
    {
        std::ofstream out(gp);
        out << "set datafile separator ','\n"
               "set terminal svg size 900,420 dynamic background rgb 'white'\n"
               "set key outside right top\n"
               "set grid\n"
               "set xlabel 'virtual time (s)'\n"
            << fmt::format("set output '{}/nodes.svg'\n", dir)
            << fmt::format("set title '{}: nodes'\n", title) << "plot '" << csv
            << "' using 1:2 with lines title 'Ready', '' using 1:4 with lines title 'Unknown', "
               "'' using 1:3 with lines title 'NotReady', '' using 1:5 with lines title "
               "'tainted', '' using 1:6 with lines title 'fresh leases'\n"
            << fmt::format("set output '{}/load.svg'\n", dir)
            << fmt::format("set title '{}: control-plane load'\n", title)
            << "set ylabel 'etcd bytes/s'\nset y2label 'API requests/s'\nset y2tics\n"
            << "plot '" << csv
            << "' using 1:7 with lines title 'etcd bytes/s', '' using 1:8 axes x1y2 with lines "
               "title 'API requests/s'\n"
            << "unset y2tics\nunset y2label\nset ylabel 'per interval'\n"
            << fmt::format("set output '{}/dns.svg'\n", dir)
            << fmt::format("set title '{}: DNS answers and connections'\n", title) << "plot '"
            << csv
            << "' using 1:9 with steps title 'DNS private', '' using 1:10 with steps title 'DNS "
               "public', '' using 1:12 with lines title 'conns to NLB', '' using 1:13 with lines "
               "title 'conns to ENIs'\n";
        if (!out) {
            error = fmt::format("cannot write {}", gp);
            return false;
        }
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        error = std::strerror(errno);
        return false;
    }
    if (pid == 0) {
        ::execlp("gnuplot", "gnuplot", gp.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        error = WIFEXITED(status) && WEXITSTATUS(status) == 127
                    ? "gnuplot not found (Debian package gnuplot-nox); the data is in " + csv
                    : "gnuplot failed on " + gp;
        return false;
    }
    return true;
}

} // namespace horizon::sim
