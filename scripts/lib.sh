# Helpers the real-process scripts share (source it: `. "$root/scripts/lib.sh"`; needs $root).

# apt_install PKG: installs a Debian package (as root, or through sudo), reading the package
# lists first if the install fails without them (a fresh machine has none).
apt_install() {
  local run=()
  [ "$(id -u)" = 0 ] || run=(sudo)
  "${run[@]}" apt-get install -y "$1" >/dev/null 2>&1 && return 0
  "${run[@]}" apt-get update -qq >/dev/null 2>&1 || true
  "${run[@]}" apt-get install -y "$1" >/dev/null
}

# Installs Debian's etcd-server unless an etcd is on the PATH.
ensure_etcd() {
  command -v etcd >/dev/null && return 0
  echo "== installing etcd-server (Debian)"
  apt_install etcd-server
}

# Installs Debian's openssl (scripts/make-certs runs it) unless it is on the PATH.
ensure_openssl() {
  command -v openssl >/dev/null && return 0
  echo "== installing openssl (Debian)"
  apt_install openssl
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

# Installs Debian's PostgreSQL server unless its binaries are there.
ensure_postgres() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  echo "== installing postgresql (Debian)"
  apt_install postgresql
}

# start_postgres PORT: a throwaway PostgreSQL instance on 127.0.0.1:PORT (trust
# authentication: a test database only) with its data in a new /tmp directory, database
# `faultline`. Sets $pg_url and $pg_dir; stop_postgres stops it. As root it runs as the
# `postgres` user (PostgreSQL refuses root).
start_postgres() {
  local port="$1" bin run=()
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  pg_dir="$(mktemp -d /tmp/faultline-pg.XXXXXX)"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir"; run=(runuser -u postgres --); fi
  "${run[@]}" "$bin/initdb" -D "$pg_dir/data" -U faultline --auth=trust -E UTF8 > "$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; return 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir" start > /dev/null \
    || { cat "$pg_dir/postgres.log" >&2; return 1; }
  "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U faultline faultline
  pg_url="postgres://faultline@127.0.0.1:$port/faultline"
}

# stop_postgres: stops the instance start_postgres started, and removes its data.
stop_postgres() {
  local bin run=()
  [ -n "${pg_dir:-}" ] || return 0
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$pg_dir"
  pg_dir=""
}
