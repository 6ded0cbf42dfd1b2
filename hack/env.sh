#!/usr/bin/env bash
# The local environment for tests and the demo: a real control plane (etcd, kube-apiserver,
# kube-controller-manager), a real Postgres for DBOS and a real S3-compatible server (versitygw),
# all on free 127.0.0.1 ports, in the background, with state under $TRESOR_ENV_DIR.
#
#   eval "$(npm run -s env:up)"   # starts what is not running; prints export lines (idempotent)
#   npm run -s env:down           # stops everything and removes the state (idempotent)
#   bash hack/env.sh status       # says what runs
#
# Everything listens on loopback only. Progress goes to stderr; only `export` lines go to stdout.
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HACK/versions.sh"

ENV_DIR=${TRESOR_ENV_DIR:-/tmp/tresor-env}
export TRESOR_ENV_DIR=$ENV_DIR
K8S_BIN=$TRESOR_BIN/k8s-$K8S_VERSION
ETCD=$TRESOR_BIN/etcd-$ETCD_VERSION/etcd
VERSITYGW=$TRESOR_BIN/versitygw-$VERSITYGW_VERSION/versitygw
S3_ACCESS_KEY=tresor
S3_SECRET_KEY=tresor-local-secret
S3_REGION=us-east-1

log() { printf '[env] %s\n' "$*" >&2; }
die() { printf '[env] error: %s\n' "$*" >&2; exit 1; }

free_port() {
  # Ask the kernel for a free loopback port (the tiny race until the server binds is acceptable here).
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

alive() { [[ -f "$ENV_DIR/$1.pid" ]] && kill -0 "$(cat "$ENV_DIR/$1.pid")" 2>/dev/null; }

# start NAME CMD...: runs CMD detached in its own session, logs to $ENV_DIR/NAME.log, records its pid.
start() {
  local name=$1; shift
  # 9>&-: the daemons must not inherit the lock that serialises `up`.
  setsid "$@" >"$ENV_DIR/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$ENV_DIR/$name.pid"
}

wait_for() { # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready after ${secs}s; its log: $(ls "$ENV_DIR"/*.log | tr '\n' ' ')"
    sleep 0.2
  done
}

make_certs() {
  local d=$ENV_DIR/pki
  [[ -f $d/admin.crt ]] && return 0
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=tresor-local-ca" 2>/dev/null
    sign() { # sign NAME SUBJECT EXTENSIONS
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 \
        -extfile <(printf '%s\n' "$3") 2>/dev/null
    }
    sign server "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
    sign admin "/O=system:masters/CN=tresor-admin" "extendedKeyUsage=clientAuth"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# The aggregation layer: the apiserver proxies aggregated APIs (the local node agent serves KubeVirt's
# freeze subresource this way) with a client certificate from a CA of its own, as kubeadm sets it up.
make_front_proxy_certs() {
  local d=$ENV_DIR/pki
  [[ -f $d/front-proxy-client.crt ]] && return 0
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt -days 3650 \
      -subj "/CN=tresor-front-proxy-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout front-proxy-client.key -out front-proxy-client.csr \
      -subj "/CN=front-proxy-client" 2>/dev/null
    openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial \
      -out front-proxy-client.crt -days 3650 -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
  )
}

write_kubeconfig() { # write_kubeconfig PORT
  local d=$ENV_DIR/pki b64='base64 -w0'
  cat >"$ENV_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tresor-local
  cluster:
    server: https://127.0.0.1:$1
    certificate-authority-data: $($b64 <"$d/ca.crt")
users:
- name: tresor-admin
  user:
    client-certificate-data: $($b64 <"$d/admin.crt")
    client-key-data: $($b64 <"$d/admin.key")
contexts:
- name: tresor-local
  context: {cluster: tresor-local, user: tresor-admin}
current-context: tresor-local
EOF
}

start_etcd() {
  alive etcd && return 0
  local client peer d=$ENV_DIR/pki
  client=$(free_port); peer=$(free_port)
  echo "$client" >"$ENV_DIR/etcd.port"
  # --unsafe-no-fsync: test data is thrown away, and fsync dominates etcd latency on shared disks.
  start etcd "$ETCD" --name tresor --data-dir "$ENV_DIR/etcd" --log-level warn --unsafe-no-fsync \
    --listen-client-urls "https://127.0.0.1:$client" --advertise-client-urls "https://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "tresor=http://127.0.0.1:$peer" \
    --cert-file "$d/server.crt" --key-file "$d/server.key" --client-cert-auth --trusted-ca-file "$d/ca.crt"
  wait_for etcd 30 curl -sf --cacert "$d/ca.crt" --cert "$d/server.crt" --key "$d/server.key" "https://127.0.0.1:$client/health"
}

start_apiserver() {
  alive kube-apiserver && return 0
  local port d=$ENV_DIR/pki
  # Keep the port across a restart of the apiserver alone, so exported kubeconfigs stay valid.
  if [[ -f $ENV_DIR/kube-apiserver.port ]]; then port=$(cat "$ENV_DIR/kube-apiserver.port"); else port=$(free_port); fi
  echo "$port" >"$ENV_DIR/kube-apiserver.port"
  write_kubeconfig "$port"
  # --endpoint-reconciler-type=none: the default reconciler would publish 127.0.0.1 as the `kubernetes`
  # Service endpoint, which endpoint validation rejects (loopback) and retries forever.
  start kube-apiserver "$K8S_BIN/kube-apiserver" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$port" --etcd-servers="https://127.0.0.1:$(cat "$ENV_DIR/etcd.port")" \
    --etcd-cafile="$d/ca.crt" --etcd-certfile="$d/server.crt" --etcd-keyfile="$d/server.key" \
    --tls-cert-file="$d/server.crt" --tls-private-key-file="$d/server.key" --client-ca-file="$d/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC --allow-privileged=true \
    --endpoint-reconciler-type=none --profiling=false --cert-dir="$ENV_DIR/apiserver-certs" \
    --requestheader-client-ca-file="$d/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$d/front-proxy-client.crt" --proxy-client-key-file="$d/front-proxy-client.key"
  wait_for kube-apiserver 120 bash -c "curl -sf --cacert '$d/ca.crt' --cert '$d/admin.crt' --key '$d/admin.key' https://127.0.0.1:$port/readyz | grep -qx ok"
}

start_controller_manager() {
  alive kube-controller-manager && return 0
  local port d=$ENV_DIR/pki
  port=$(free_port)
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$ENV_DIR/kubeconfig" \
    --authentication-kubeconfig="$ENV_DIR/kubeconfig" --authorization-kubeconfig="$ENV_DIR/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$port" --leader-elect=false --cert-dir="$ENV_DIR/kcm-certs" \
    --service-account-private-key-file="$d/sa.key" --root-ca-file="$d/ca.crt" \
    --cluster-signing-cert-file="$d/ca.crt" --cluster-signing-key-file="$d/ca.key" --profiling=false
  wait_for kube-controller-manager 60 curl -sfk "https://127.0.0.1:$port/healthz"
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

# Postgres refuses to run as root; Debian's package creates the `postgres` user, so root runs it as that.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() {
  local bin data=$ENV_DIR/pg/data port
  bin=$(pg_bin); [[ -n $bin ]] || die "Postgres not found: run 'bash hack/setup.sh' (installs Debian's postgresql)"
  if [[ -f $ENV_DIR/postgres.port ]] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then return 0; fi
  mkdir -p "$ENV_DIR/pg"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$ENV_DIR/pg"
  if [[ ! -f $data/PG_VERSION ]]; then
    as_pg "$bin/initdb" -D "$data" -U tresor --auth=trust -E UTF8 --no-sync >"$ENV_DIR/postgres-initdb.log" 2>&1
  fi
  port=$(free_port)
  echo "$port" >"$ENV_DIR/postgres.port"
  # fsync off: a throw-away test database; DBOS's durability is tested by killing processes, not the host.
  as_pg "$bin/pg_ctl" -D "$data" -l "$ENV_DIR/pg/postgres.log" -w -t 60 start \
    -o "-p $port -k $ENV_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >&2 9>&-
  as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U tresor -d postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname='tresor'" | grep -q 1 ||
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U tresor tresor
}

start_s3() {
  alive versitygw && return 0
  local port
  port=$(free_port)
  echo "$port" >"$ENV_DIR/versitygw.port"
  mkdir -p "$ENV_DIR/s3"
  start versitygw "$VERSITYGW" --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --region "$S3_REGION" \
    --port "127.0.0.1:$port" --quiet posix "$ENV_DIR/s3"
  wait_for versitygw 30 curl -s -o /dev/null "http://127.0.0.1:$port/"
}

print_exports() {
  local q="'"
  cat <<EOF
export TRESOR_ENV_DIR=$q$ENV_DIR$q
export KUBECONFIG=$q$ENV_DIR/kubeconfig$q
export PATH=$q$K8S_BIN:$PATH$q
export TRESOR_PG_URL=${q}postgresql://tresor:tresor@127.0.0.1:$(cat "$ENV_DIR/postgres.port")/tresor$q
export TRESOR_S3_ENDPOINT=${q}http://127.0.0.1:$(cat "$ENV_DIR/versitygw.port")$q
export AWS_ACCESS_KEY_ID=$q$S3_ACCESS_KEY$q
export AWS_SECRET_ACCESS_KEY=$q$S3_SECRET_KEY$q
export AWS_REGION=$q$S3_REGION$q
export TRESOR_FRONT_PROXY_CA=$q$ENV_DIR/pki/front-proxy-ca.crt$q
EOF
}

up() {
  [[ -x $K8S_BIN/kube-apiserver && -x $ETCD && -x $VERSITYGW ]] || bash "$HACK/build-binaries.sh" all
  mkdir -p "$ENV_DIR"
  # Another `up` (a parallel test run, a second shell) must not start a second set of servers.
  exec 9>"$ENV_DIR/.lock"; flock 9
  make_certs
  make_front_proxy_certs
  start_etcd
  start_apiserver
  start_controller_manager
  start_postgres
  start_s3
  log "ready: KUBECONFIG=$ENV_DIR/kubeconfig"
  print_exports
}

down() {
  [[ -d $ENV_DIR ]] || return 0
  local bin; bin=$(pg_bin)
  if [[ -n $bin && -f $ENV_DIR/pg/data/PG_VERSION ]]; then
    as_pg "$bin/pg_ctl" -D "$ENV_DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  for name in versitygw kube-controller-manager kube-apiserver etcd; do
    if alive "$name"; then
      kill -TERM -- "-$(cat "$ENV_DIR/$name.pid")" 2>/dev/null || kill -TERM "$(cat "$ENV_DIR/$name.pid")" 2>/dev/null || true
    fi
  done
  for name in versitygw kube-controller-manager kube-apiserver etcd; do
    for _ in $(seq 50); do alive "$name" || break; sleep 0.1; done
    alive "$name" && kill -KILL "$(cat "$ENV_DIR/$name.pid")" 2>/dev/null || true
  done
  rm -rf "$ENV_DIR"
  log "stopped and removed $ENV_DIR"
}

status() {
  for name in etcd kube-apiserver kube-controller-manager versitygw; do
    if alive "$name"; then echo "$name: running (pid $(cat "$ENV_DIR/$name.pid"))"; else echo "$name: stopped"; fi
  done
  if [[ -f $ENV_DIR/pg/data/postmaster.pid ]]; then echo "postgres: running"; else echo "postgres: stopped"; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
