# Helpers the real-process scripts share (source it: `. "$root/scripts/lib.sh"`; needs $root).

# Installs Debian's etcd-server unless an etcd is on the PATH.
ensure_etcd() {
  command -v etcd >/dev/null && return 0
  echo "== installing etcd-server (Debian)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y etcd-server >/dev/null; else sudo apt-get install -y etcd-server >/dev/null; fi
}

# Installs Debian's openssl (scripts/make-certs runs it) unless it is on the PATH.
ensure_openssl() {
  command -v openssl >/dev/null && return 0
  echo "== installing openssl (Debian)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y openssl >/dev/null; else sudo apt-get install -y openssl >/dev/null; fi
}

# Builds the real (tokio) binary and sets $bin to it. PROFILE: release (default) or debug.
build_real() {
  local profile="${1:-release}" flags=()
  case "$profile" in
    release) flags=(--release) ;;
    debug) ;;
    *) echo "the profile must be release or debug, not $profile" >&2; exit 2 ;;
  esac
  echo "== building the real (tokio) binary ($profile)"
  cargo build "${flags[@]}" --quiet --manifest-path "$root/Cargo.toml" --bin faultline
  bin="$root/target/$profile/faultline"
}

now_ms() { date +%s%3N; }

# port_open PORT [HOST]: whether something listens there (default host 127.0.0.1).
port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# wait_port PORT [HOST]: waits up to 10 s for the port to open.
wait_port() {
  for _ in $(seq 100); do port_open "$1" "${2:-127.0.0.1}" && return 0; sleep 0.1; done
  echo "${2:-127.0.0.1}:$1 never opened" >&2
  return 1
}
