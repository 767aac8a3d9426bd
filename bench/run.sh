#!/usr/bin/env bash
# bench/run.sh - horizond vs Knot (geoip split) vs NSD (no views) with dnsperf, loopback only.
#
#   bench/run.sh                        ROUNDS=3 DUR=10: about 6-7 minutes
#   ROUNDS=1 DUR=3 bench/run.sh         smoke, about a minute
#
# Knobs (env): ROUNDS (3) DUR (10 s per run) SERVERS ("horizond knot nsd") MODES ("udp-vpc udp-pub tcp-vpc")
#              OUT (/tmp/horizon-bench/<timestamp>) SHARED_BENCH (<repo>/../shared/bench) HORIZOND (build/horizond)
#              CLIENTS (8) OUTSTANDING (100) UNATTR_MAX (15 % of a core) RETRIES (1) MAX_TOTAL (3000 s)
#              QUIET_WAIT (30 s) QUIET_MAX (15 % of a core)
# SERVERS may also include "echo": shared/bench's recvmmsg/sendmmsg responder (UDP floor, no TCP).
#
# Every server gets ONE worker and runs pinned to CPU 0 (taskset -c 0); dnsperf is pinned to CPU 1.
# Traffic: only 127.0.0.1 (server) <- 127.10.0.5 (VPC client) / 127.0.0.1 (public client).
# Servers run in their own session (setsid) and are stopped by PID: TERM, then KILL of the PIDs
# still left in that session. No pkill/killall. Every wait is bounded; MAX_TOTAL caps the whole run.
# Run on demand only (never from CI/ctest): it installs packages and saturates both cores.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO/bench
SHARED_BENCH=${SHARED_BENCH:-$(dirname "$REPO")/shared/bench}
HORIZOND=${HORIZOND:-$REPO/build/horizond}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10}
SERVERS=${SERVERS:-"horizond knot nsd"}
MODES=${MODES:-"udp-vpc udp-pub tcp-vpc"}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-100}
UNATTR_MAX=${UNATTR_MAX:-15}
RETRIES=${RETRIES:-1}
MAX_TOTAL=${MAX_TOTAL:-3000}
OUT=${OUT:-/tmp/horizon-bench/$(date +%Y%m%d-%H%M%S)}
QFILE=$SHARED_BENCH/queries/endpoint.txt
ZONES=$SHARED_BENCH/conf/zones
VPC_SRC=127.10.0.5
PUB_SRC=127.0.0.1
NAME=abcdef.gr7.ap-northeast-2.eks.amazonaws.com
VPC_ANS="192.168.1.10 192.168.2.10"        # eks.vpc.zone
PUB_ANS="3.35.213.124 43.201.10.20"        # eks.public.zone
HZ=$(getconf CLK_TCK)
DEADLINE=$((SECONDS + MAX_TOTAL))

die() { echo "FATAL: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/driver.log" >&2; }

port_of() {  # private range, away from shared/bench's 25301-25311
  case $1 in horizond) echo 25321;; knot) echo 25322;; nsd) echo 25323;; echo) echo 25324;; *) return 1;; esac
}

# ---------------------------------------------------------------- prerequisites
[ -f "$QFILE" ] || die "query file $QFILE not found (set SHARED_BENCH)"
[ "$(nproc)" -ge 2 ] || die "need at least 2 CPUs (server on CPU 0, dnsperf on CPU 1)"
need_pkgs=()
command -v dnsperf >/dev/null || need_pkgs+=(dnsperf)
for s in $SERVERS; do
  case $s in
    knot) command -v knotd >/dev/null || need_pkgs+=(knot)
          compgen -G '/usr/lib/*/knot/modules-*/geoip.so' >/dev/null || need_pkgs+=(knot-module-geoip);;
    nsd)  command -v nsd   >/dev/null || need_pkgs+=(nsd);;
    echo) command -v gcc >/dev/null || need_pkgs+=(gcc);;
    horizond) ;;
    *) die "unknown server '$s' (known: horizond knot nsd echo)";;
  esac
done
command -v dig >/dev/null || need_pkgs+=(bind9-dnsutils)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_pkgs[*]}; run as root or: apt-get install -y ${need_pkgs[*]}"
  echo "installing ${need_pkgs[*]} ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${need_pkgs[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y "${need_pkgs[@]}" >/dev/null; } ||
    die "apt-get install ${need_pkgs[*]} failed"
fi
command -v python3 >/dev/null || die "python3 is needed for the summary tables"

mkdir -p "$OUT/raw" "$OUT/run" || die "cannot create $OUT"
TSV=$OUT/results.tsv
VERIFY=$OUT/verify.tsv
printf 'round\tserver\tmode\tattempt\tqps\tsent\tcompleted\tlost\tavg_ms\tsrv_ticks\tsrv_us_per_query\tsrv_cpu_pct\tperf_cpu_pct\tunattr_pct\tclean\trcodes\traw\n' > "$TSV"
printf 'round\tserver\tcheck\texpected\tgot\tresult\n' > "$VERIFY"

# Snapshot horizond: the build tree may be rebuilt while we run; every round uses the same binary.
if [[ " $SERVERS " == *" horizond "* ]]; then
  for i in $(seq 1 60); do [ -x "$HORIZOND" ] && break; echo "waiting for $HORIZOND ($i/60)" >&2; sleep 2; done
  [ -x "$HORIZOND" ] || die "$HORIZOND not found; build it: cmake --build $REPO/build -j2"
  for i in $(seq 1 5); do cp "$HORIZOND" "$OUT/run/horizond.bin" 2>/dev/null && "$OUT/run/horizond.bin" --version >/dev/null 2>&1 && break; sleep 2; done
  "$OUT/run/horizond.bin" --version >/dev/null 2>&1 || die "could not snapshot a working $HORIZOND"
fi

{
  echo "date: $(date -Is)"
  echo "kernel: $(uname -r); cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
  echo "dnsperf: $(dnsperf -h 2>&1 | awk '/^Version/{print $2}')"
  command -v knotd >/dev/null && echo "knot: $(knotd -V 2>&1)"
  command -v nsd >/dev/null && echo "nsd: $(nsd -v 2>&1 | head -1)"
  if [ -x "$OUT/run/horizond.bin" ]; then
    echo "horizond: $("$OUT/run/horizond.bin" --version 2>&1 | head -1); sha256 $(sha256sum "$OUT/run/horizond.bin" | cut -c1-16)" \
         "; build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$REPO/build/CMakeCache.txt" 2>/dev/null)" \
         "; git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  fi
  echo "ROUNDS=$ROUNDS DUR=$DUR SERVERS='$SERVERS' MODES='$MODES' CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING"
  echo "pinning: server taskset -c 0 (1 worker), dnsperf taskset -c 1; query file $QFILE"
} > "$OUT/versions.txt"

# ---------------------------------------------------------------- process helpers
sess_pids() {  # PIDs whose session id is $1
  local sid=$1 f line rest
  for f in /proc/[0-9]*/stat; do
    { read -r line < "$f"; } 2>/dev/null || continue
    rest=${line##*) }; set -- $rest
    [ "${4:-}" = "$sid" ] && echo "${line%% *}"
  done
}
sess_ticks() {  # utime+stime (clock ticks) summed over the live processes of session $1 (all threads)
  local sid=$1 tot=0 f line rest
  for f in /proc/[0-9]*/stat; do
    { read -r line < "$f"; } 2>/dev/null || continue
    rest=${line##*) }; set -- $rest
    [ "${4:-}" = "$sid" ] && tot=$((tot + ${12} + ${13}))
  done
  echo $tot
}
cpu_snap() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6}' /proc/stat; }

# Wait (at most QUIET_WAIT s) until the machine is quiet: it is shared, e.g. with concurrent builds.
QUIET_WAIT=${QUIET_WAIT:-30}
QUIET_MAX=${QUIET_MAX:-15}          # % of one core busy (all CPUs together) that counts as quiet
wait_quiet() {
  local i a b busy
  for i in $(seq 1 "$QUIET_WAIT"); do
    a=$(cpu_snap); sleep 1; b=$(cpu_snap)
    busy=$(awk -v a="$a" -v b="$b" -v hz="$HZ" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.0f", 100*(y[1]-x[1])/hz}')
    [ "$busy" -le "$QUIET_MAX" ] && return 0
    [ "$i" = 1 ] && log "   machine busy (${busy}% of a core used by others); waiting up to ${QUIET_WAIT}s"
  done
  log "   still busy after ${QUIET_WAIT}s (${busy}%); measuring anyway"
}

SPID=""
render() { sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$PORT|g" -e "s|@WORKERS@|1|g" -e "s|@ZONES@|$ZONES|g" "$1" > "$2"; }

start_server() {  # start_server NAME -> sets SPID (= PID = session id)
  SRV=$1; PORT=$(port_of "$SRV"); RUN=$OUT/run/$SRV
  rm -rf "$RUN"; mkdir -p "$RUN/db"
  local cmd
  case $SRV in
    horizond) render "$BENCH_DIR/horizond.toml.in" "$RUN/horizond.toml"
              cmd=("$OUT/run/horizond.bin" --config "$RUN/horizond.toml");;
    knot)     render "$SHARED_BENCH/conf/knot/knot.conf.in" "$RUN/knot.conf"
              render "$SHARED_BENCH/conf/knot/geo.conf.in" "$RUN/geo.conf"
              cmd=(knotd -c "$RUN/knot.conf");;
    nsd)      render "$SHARED_BENCH/conf/nsd/nsd.conf.in" "$RUN/nsd.conf"
              cmd=(nsd -d -c "$RUN/nsd.conf");;
    echo)     # shared/bench's recvmmsg/sendmmsg responder: the UDP syscall floor (no DNS logic, no TCP)
              [ -x "$OUT/run/udpecho" ] || gcc -O2 -Wall -pthread -o "$OUT/run/udpecho" "$SHARED_BENCH/echo/udpecho.c" ||
                { log "ERROR: cannot build udpecho"; return 1; }
              cmd=("$OUT/run/udpecho" "$PORT" 1);;
  esac
  if [ -n "$(ss -Hlnu "sport = :$PORT"; ss -Hlnt "sport = :$PORT")" ]; then
    log "ERROR: port $PORT already in use; not starting $SRV"; return 1
  fi
  # The background subshell is not a group leader, so setsid execs in place: $! is the server's PID
  # and its session id. taskset pins it (and every thread/child it makes) to CPU 0.
  ( cd "$RUN" && exec taskset -c 0 setsid "${cmd[@]}" ) > "$RUN/server.log" 2>&1 &
  SPID=$!
  local i ok=0
  for i in $(seq 1 150); do   # <= ~30 s
    kill -0 "$SPID" 2>/dev/null || break
    dig +time=1 +tries=1 -p "$PORT" @127.0.0.1 -b $PUB_SRC $NAME A 2>/dev/null | grep -q 'status: NOERROR' && { ok=1; break; }
    sleep 0.2
  done
  if [ $ok != 1 ]; then
    log "ERROR: $SRV did not become ready; server.log:"; tail -20 "$RUN/server.log" >&2; stop_server; return 1
  fi
  sleep 0.5
  log "started $SRV pid=$SPID port=$PORT threads=$(ls /proc/$SPID/task | wc -l) procs=$(sess_pids $SPID | wc -l)"
}

stop_server() {
  [ -n "$SPID" ] || return 0
  kill -TERM "$SPID" 2>/dev/null
  local i left
  for i in $(seq 1 100); do   # <= 10 s
    left=$(sess_pids "$SPID"); [ -z "$left" ] && break; sleep 0.1
  done
  left=$(sess_pids "$SPID")
  if [ -n "$left" ]; then
    log "WARN: $SRV session $SPID still has PIDs [$left] after TERM; KILL"
    for p in $left; do kill -KILL "$p" 2>/dev/null; done
  fi
  wait "$SPID" 2>/dev/null; local rc=$?
  [ "$SRV" = horizond ] && [ $rc != 0 ] && [ $rc != 143 ] && log "WARN: horizond exited with status $rc"
  SPID=""
}
trap 'stop_server; exit 130' INT TERM
trap 'stop_server' EXIT

# ---------------------------------------------------------------- verification (fail loudly)
dq() {  # dq SRC QTYPE [+tcp] -> "STATUS|sorted answers"
  local o st an
  o=$(dig +time=2 +tries=1 ${3:-} -p "$PORT" @127.0.0.1 -b "$1" $NAME "$2" 2>&1)
  st=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<< "$o")
  an=$(awk -v t="$2" '!/^;/ && $4==t {print $5}' <<< "$o" | sort | tr '\n' ' ' | sed 's/ $//')
  echo "$st|$an"
}
verify() {  # verify ROUND: the view each source gets; returns 1 on any mismatch
  local vpc_exp="NOERROR|$VPC_ANS" pub_exp="NOERROR|$PUB_ANS" fail=0 c name src t tcp exp got res
  [ "$SRV" = nsd ] && vpc_exp=$pub_exp              # NSD has no views: the plain authoritative bound
  local checks=("A-udp-vpc|$VPC_SRC|A||$vpc_exp" "A-udp-public|$PUB_SRC|A||$pub_exp"
                "AAAA-udp-vpc|$VPC_SRC|AAAA||NOERROR|")
  [ "$SRV" = echo ] || checks+=("A-tcp-vpc|$VPC_SRC|A|+tcp|$vpc_exp")
  for c in "${checks[@]}"; do
    IFS='|' read -r name src t tcp exp_st exp_an <<< "$c"; exp="$exp_st|$exp_an"
    got=$(dq "$src" "$t" "$tcp")
    [ "$got" = "$exp" ] && res=PASS || { res=FAIL; fail=1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$SRV" "$name" "$exp" "$got" "$res" >> "$VERIFY"
    [ $res = PASS ] || log "VERIFY FAIL $SRV $name: expected '$exp' got '$got'"
  done
  return $fail
}

# ---------------------------------------------------------------- measurement
parse_perf() {  # -> "qps sent completed lost avg_ms rcodes"
  awk '/Queries sent:/{s=$3} /Queries completed:/{c=$3} /Queries lost:/{l=$3}
       /Response codes:/{sub(/^ *Response codes: */,""); gsub(/ /,""); rc=$0}
       /Queries per second:/{q=$4} /Average Latency/{a=$4*1000}
       END{printf "%.0f %d %d %d %.3f %s\n", q+0, s, c, l, a, (rc==""?"-":rc)}' "$1"
}

run_once() {  # run_once ROUND MODE ATTEMPT -> sets LAST_CLEAN
  local r=$1 m=$2 a=$3 base=$OUT/raw/r$1-$SRV-$2-a$3 src extra=()
  case $m in
    udp-vpc) src=$VPC_SRC;;
    udp-pub) src=$PUB_SRC;;
    tcp-vpc) src=$VPC_SRC; extra=(-m tcp);;
    *) log "unknown mode $m"; return 1;;
  esac
  wait_quiet
  local t0 c0 t1 c1
  t0=$(sess_ticks "$SPID"); c0=$(cpu_snap)
  timeout $((DUR + 30)) /usr/bin/time -f '%U %S %e' -o "$base.time" \
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -a "$src" -d "$QFILE" -l "$DUR" \
      -c "$CLIENTS" -q "$OUTSTANDING" "${extra[@]}" > "$base.out" 2>&1
  local prc=$?
  t1=$(sess_ticks "$SPID"); c1=$(cpu_snap)
  [ $prc = 0 ] || log "WARN: dnsperf exited $prc ($base.out)"
  local qps sent comp lost avg rc perf_s us scpu pcpu unattr
  read -r qps sent comp lost avg rc <<< "$(parse_perf "$base.out")"
  perf_s=$(awk '{printf "%.2f", $1+$2; exit}' "$base.time" 2>/dev/null); perf_s=${perf_s:-0}
  read -r us scpu pcpu unattr <<< "$(awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$HZ" \
      -v d="$DUR" -v ps="$perf_s" -v comp="$comp" -v n="$(nproc)" 'BEGIN{
      split(c0,x," "); split(c1,y," "); wall=(y[2]-x[2])/hz/n; if (wall<=0) wall=d
      srv=(t1-t0)/hz; busy=(y[1]-x[1])/hz
      printf "%.3f %.0f %.0f %.0f\n", (comp>0 ? srv*1e6/comp : 0), 100*srv/d, 100*ps/d, 100*(busy-srv-ps)/wall }')"
  LAST_CLEAN=1; [ "${unattr:-0}" -gt "$UNATTR_MAX" ] && LAST_CLEAN=0
  local alive=1; kill -0 "$SPID" 2>/dev/null || alive=0
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$SRV" "$m" "$a" \
    "$qps" "$sent" "$comp" "$lost" "$avg" "$((t1 - t0))" "$us" "$scpu" "$pcpu" "$unattr" "$LAST_CLEAN" "$rc" \
    "$(basename "$base")" >> "$TSV"
  log "r$r $SRV $m: qps=$qps sent=$sent lost=$lost rcodes=$rc cpu=${us}us/q srv=${scpu}% dnsperf=${pcpu}% unattr=${unattr}% clean=$LAST_CLEAN"
  # anything but a clean all-NOERROR run is worth shouting about
  [ "$alive" = 1 ] || { log "ERROR: $SRV (pid $SPID) DIED during $m; server.log:"; tail -20 "$RUN/server.log" >&2; return 2; }
  [ "$comp" -gt 0 ] || log "ERROR: $SRV completed no queries in $m"
  [ "$lost" -gt 0 ] && log "NOTE: $SRV lost $lost of $sent queries in $m"
  case $rc in NOERROR*'('*'('*|[!N]*) log "NOTE: $SRV answered rcodes other than NOERROR in $m: $rc";; esac
  sleep 1
  return 0
}

# ---------------------------------------------------------------- main loop
log "OUT=$OUT ROUNDS=$ROUNDS DUR=$DUR SERVERS='$SERVERS' MODES='$MODES'"
read -r -a SRV_ARR <<< "$SERVERS"
N=${#SRV_ARR[@]}
FAILED=0
for r in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((N - 1))); do
    s=${SRV_ARR[$(( (k + r - 1) % N ))]}    # rotate the order every round (interleaving)
    if (( SECONDS + 60 > DEADLINE )); then log "MAX_TOTAL reached, stopping"; break 2; fi
    start_server "$s" || { FAILED=1; continue; }
    if ! verify "$r"; then
      log "ERROR: $s does not answer the expected views; not measuring it (see $VERIFY)"
      FAILED=1; stop_server; continue
    fi
    for m in $MODES; do
      [ "$s" = echo ] && [ "${m#tcp}" != "$m" ] && continue   # echo is UDP-only
      for a in $(seq 0 "$RETRIES"); do
        if (( SECONDS + DUR + 40 > DEADLINE )); then log "MAX_TOTAL reached: skipping $s $m"; break 2; fi
        run_once "$r" "$m" "$a"; rc=$?
        [ $rc = 2 ] && { FAILED=1; break 2; }
        [ "$LAST_CLEAN" = 1 ] && break
        log "   foreign CPU load during $s $m (attempt $((a + 1))); flagged unclean"
      done
    done
    # the server must still answer correctly after the load
    if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
      verify "post$r" || { log "ERROR: $s answers wrongly after load"; FAILED=1; }
    fi
    stop_server
    grep -v '^\s*$' "$RUN/server.log" > /dev/null 2>&1 && cp "$RUN/server.log" "$OUT/raw/r$r-$s-server.log"
  done
done

python3 "$BENCH_DIR/summarize.py" "$OUT" | tee "$OUT/summary.md"
echo "results: $OUT (results.tsv, verify.tsv, summary.md, versions.txt, raw/)"
[ "$FAILED" = 0 ] || { echo "FAILED: see errors above and $OUT/driver.log" >&2; exit 1; }
