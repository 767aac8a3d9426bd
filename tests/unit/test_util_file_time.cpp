// util's bounded file reads, atomic writer and time text.
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <doctest/doctest.h>

#include "util/file.hpp"
#include "util/time_text.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST_CASE("read_file: the whole file within the limit, errno values otherwise") {
    const fs::path path =
        fs::temp_directory_path() / ("horizon_test_read_" + std::to_string(::getpid()));
    std::ofstream(path) << "twelve bytes";
    const auto whole = horizon::util::read_file(path.string(), 12);
    CHECK(whole.ok());
    CHECK(whole.text == "twelve bytes");
    const auto big = horizon::util::read_file(path.string(), 11);
    CHECK(big.error == EFBIG);
    CHECK(big.text.empty());
    CHECK(big.reason() == "File too large");
    fs::remove(path);
    const auto missing = horizon::util::read_file(path.string(), 100);
    CHECK(missing.error == ENOENT);
    CHECK(missing.reason() == "No such file or directory");
    CHECK(horizon::util::read_file(fs::temp_directory_path().string(), 100).error == EISDIR);
}

TEST_CASE("write_file_atomically: a bare name is written in the working directory") {
    const fs::path dir =
        fs::temp_directory_path() / ("horizon_test_write_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto saved = fs::current_path();
    fs::current_path(dir);
    std::string error;
    CHECK(horizon::util::write_file_atomically("state.json", "{}", error));
    CHECK(horizon::util::read_file("state.json", 10).text == "{}");
    // Private by default; the mode asked for otherwise (a certificate is world-readable).
    CHECK((fs::status("state.json").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(horizon::util::write_file_atomically("api.crt", "PEM", error, 0644));
    CHECK((fs::status("api.crt").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
           fs::perms::others_read));
    fs::current_path(saved);
    fs::remove_all(dir);
}

TEST_CASE("rfc3339 and http_date: UTC, fractions truncated") {
    using horizon::util::SubSecond;
    // 2024-05-01T12:00:00Z is 1714564800 s after the epoch.
    const horizon::util::SystemTime t{1714564800s + 123456us};
    CHECK(horizon::util::rfc3339(t) == "2024-05-01T12:00:00Z");
    CHECK(horizon::util::rfc3339(t, SubSecond::Millis) == "2024-05-01T12:00:00.123Z");
    CHECK(horizon::util::rfc3339(t, SubSecond::Micros) == "2024-05-01T12:00:00.123456Z");
    CHECK(horizon::util::rfc3339(horizon::util::SystemTime{}) == "1970-01-01T00:00:00Z");
    // RFC 9110 §5.6.7's own example.
    CHECK(horizon::util::http_date(horizon::util::SystemTime{784111777s}) ==
          "Sun, 06 Nov 1994 08:49:37 GMT");
}
