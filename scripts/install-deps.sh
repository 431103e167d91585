#!/usr/bin/env bash
# Installs the Debian 12 packages Switchboard needs to build; with --tests, also the peers
# the integration and fault tests start (a PostgreSQL server, wrk, a Redis server, nginx,
# RabbitMQ and Mosquitto, with the Python clients the tests publish and read with), dpkg-dev
# and file, with which CPack computes the .deb's dependencies in the install test, and
# hiredis for the example Redis plugin the SDK test builds out of tree.
# Idempotent: installs only what is missing, and runs `apt-get update` at most once.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost-program-options-dev libyaml-cpp-dev nlohmann-json3-dev
  libpugixml-dev catch2 python3 procps
  libssl-dev libcurl4-openssl-dev curl openssl libjq-dev
  libsqlite3-dev sqlite3 libpq-dev librabbitmq-dev libpcre2-dev libmimalloc-dev
  # scripts/fuzz.sh: clang 14; libclang-rt-14-dev carries libFuzzer and the sanitizer
  # runtimes for it, llvm-14 the symbolizer that puts names in their reports.
  clang-14 libclang-rt-14-dev llvm-14
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(postgresql-15 wrk dpkg-dev file redis-server libhiredis-dev pkg-config nginx-light
    rabbitmq-server mosquitto python3-pika python3-paho-mqtt)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node and npm run the node-soap peers of the soap tests. Checked as commands, not packages:
# a Node from elsewhere (NodeSource bundles npm) serves as well, and Debian's npm conflicts with it.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

# promtool checks the admin API's /metrics in the tests. Only the tool is taken from Debian's
# prometheus package: installing the package would also start a Prometheus server.
want_promtool=0
if [ "${1:-}" = "--tests" ] && ! command -v promtool >/dev/null; then
  want_promtool=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $want_promtool -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  # The brokers' packages would start system-wide RabbitMQ and Mosquitto services; the tests
  # start their own on free ports. policy-rc.d (Debian's switch for this) says no while apt runs.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    own_policy=1
  fi
  status=0
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  if [ $own_policy -eq 1 ]; then $sudo rm -f $policy; fi
  [ $status -eq 0 ] || exit $status
fi
if [ $want_promtool -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing promtool (from the prometheus package) into /usr/local/bin"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
chmod 755 "$download"  # apt's download user writes there
(cd "$download" && apt-get download -q prometheus)
dpkg-deb --fsys-tarfile "$download"/prometheus_*.deb | $sudo tar -x -C /usr/local/bin --strip-components=3 ./usr/bin/promtool
promtool --version | head -1
