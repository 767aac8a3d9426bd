#!/usr/bin/env bash
# setup.sh: the one set-up script. Installs what is missing (Debian 12 packages), builds, and runs.
#
#   bash setup.sh run [horizond args]   set up, build, and start horizond in the foreground
#                                       (built-in default config unless --config FILE is given)
#   bash setup.sh test                  set up, build, and run the whole test suite with ctest:
#                                       the plain build, an ASan+UBSan build, and a short
#                                       libFuzzer run on the engine
#   bash setup.sh build                 set up and build only (build/)
#   bash setup.sh lab                   set up, build, and build the seed lab (horizonctl lab up)
#
# Idempotent: packages already installed are not touched, builds are incremental.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

BUILD_PACKAGES=(cmake g++ make pkg-config libldns-dev libuv1-dev libtomlplusplus-dev libspdlog-dev
                doctest-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev libyaml-cpp-dev)
TEST_PACKAGES=(python3 bind9-dnsutils knot-dnsutils ldnsutils clang libclang-rt-14-dev awscli jq
               curl gnuplot-nox python3-yaml python3-dnspython clang-format iproute2 nftables openssl)
# What `horizonctl lab` and the seed's commands inside it use.
LAB_PACKAGES=(iproute2 nftables openssl curl bind9-dnsutils awscli)
JOBS=$(nproc)

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "setup: installing packages needs root (apt-get); run as root or install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {  # build DIR [cmake args...]
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

# ctest in DIR (extra environment as NAME=VALUE arguments), then the system checks skipped there:
# each script appends its `N passed, M failed, K skipped` line and one `SKIP` line per skipped
# check to DIR/system-summary.txt (tests/system/harness.py). Sets SKIPPED to their total.
SKIPPED=0
run_ctest() {  # run_ctest DIR [NAME=VALUE...]
    local dir=$1 rc=0; shift
    rm -f "$dir/system-summary.txt"
    (cd "$dir" && env "$@" ctest --output-on-failure -j "$JOBS") || rc=$?
    SKIPPED=0
    if [ -f "$dir/system-summary.txt" ]; then
        grep -h ': SKIP ' "$dir/system-summary.txt" | sort || true
        SKIPPED=$(awk '!/: SKIP / && / skipped$/ { n += $(NF - 1) } END { print n + 0 }' \
            "$dir/system-summary.txt")
    fi
    echo "setup: $SKIPPED system check(s) skipped in $dir"
    return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
run)
    install_missing "${BUILD_PACKAGES[@]}"
    build build
    exec ./build/horizond "$@"
    ;;
build)
    install_missing "${BUILD_PACKAGES[@]}"
    build build
    ;;
lab)
    install_missing "${BUILD_PACKAGES[@]}" "${LAB_PACKAGES[@]}"
    build build
    exec ./build/horizonctl lab up "$@"
    ;;
test)
    install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    echo "== plain build"
    build build
    run_ctest build
    skipped_plain=$SKIPPED
    echo "== ASan+UBSan build"
    build build-asan -DHORIZON_SANITIZE=ON
    run_ctest build-asan ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
    skipped_asan=$SKIPPED
    echo "== libFuzzer smoke run on the engine (${FUZZ_SECONDS:-30} s)"
    CXX=clang++ build build-fuzz -DHORIZON_FUZZ=ON -DHORIZON_WERROR=OFF
    mkdir -p build-fuzz/corpus
    ./build-fuzz/tests/fuzz_engine -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=1 \
        build-fuzz/corpus tests/fuzz/corpus 2>&1 | tail -n 3
    echo "== skipped system checks: $skipped_plain (plain build), $skipped_asan (ASan+UBSan build)"
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
