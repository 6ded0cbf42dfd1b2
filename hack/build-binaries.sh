#!/usr/bin/env bash
# Builds the real control-plane binaries (kube-apiserver, kube-controller-manager, kubectl, etcd) and the
# S3 server (versitygw) from the Go module proxy, and caches them outside the repo by version, so the
# second run takes well under a second. Prints nothing but progress on stderr; the cache dir on stdout.
#
# Why a wrapper module: k8s.io/kubernetes' go.mod replaces every k8s.io/* staging module with ./staging,
# which `go install pkg@version` refuses. A tiny module that requires k8s.io/kubernetes and replaces each
# staging module (the ones at v0.0.0 in its go.mod) with the published v0.<minor>.<patch> builds fine.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

log() { printf '[build-binaries] %s\n' "$*" >&2; }

build_k8s() {
  local out="$TRESOR_BIN/k8s-$K8S_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kubectl" ]]; then
    return 0
  fi
  log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kubectl); cold build takes ~10-20 min on 2 cores"
  local work; work=$(mktemp -d "$TRESOR_CACHE/build-k8s.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    go mod init tresor.local/k8s-build >/dev/null 2>&1
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    local gomod; gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
    local staging_version="v0.${K8S_VERSION#v1.}"
    {
      echo "require k8s.io/kubernetes $K8S_VERSION"
      grep -E '^\s*k8s\.io/\S+ v0\.0\.0$' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } >>go.mod
    printf 'package main\nimport (\n _ "k8s.io/kubernetes/cmd/kube-apiserver"\n _ "k8s.io/kubernetes/cmd/kube-controller-manager"\n _ "k8s.io/kubernetes/cmd/kubectl"\n)\nfunc main() {}\n' >tools.go
    go mod tidy >/dev/null 2>&1 || go mod tidy
    mkdir -p out
    # Stamp the version the way Kubernetes' own build does, so `kubectl version` and clients see 1.x.y.
    local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    local x="" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      x+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w$x" -o out/ \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl
  )
  mkdir -p "$out.tmp" && mv "$work"/out/* "$out.tmp"/ && rm -rf "$out" && mv "$out.tmp" "$out"
}

build_etcd() {
  local out="$TRESOR_BIN/etcd-$ETCD_VERSION"
  [[ -x "$out/etcd" ]] && return 0
  log "building etcd $ETCD_VERSION"
  local work; work=$(mktemp -d "$TRESOR_CACHE/build-etcd.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    go mod init tresor.local/etcd-build >/dev/null 2>&1
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION" >>go.mod
    # etcd's main package lives in the root module (go.etcd.io/etcd/v3), which has replace directives;
    # a three-line main calling etcdmain.Main is what that package does.
    printf 'package main\nimport (\n "os"\n "go.etcd.io/etcd/server/v3/etcdmain"\n)\nfunc main() { etcdmain.Main(os.Args) }\n' >main.go
    go mod tidy >/dev/null 2>&1 || go mod tidy
    mkdir -p out
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o out/etcd .
  )
  mkdir -p "$out" && mv "$work/out/etcd" "$out/etcd"
}

build_versitygw() {
  local out="$TRESOR_BIN/versitygw-$VERSITYGW_VERSION"
  [[ -x "$out/versitygw" ]] && return 0
  log "building versitygw $VERSITYGW_VERSION"
  mkdir -p "$out"
  CGO_ENABLED=0 GOBIN="$out" go install -trimpath -ldflags="-s -w" \
    "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

mkdir -p "$TRESOR_BIN"
case "${1:-all}" in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  versitygw) build_versitygw ;;
  all)
    # Independent builds; run them side by side and fail if any failed.
    build_etcd & p1=$!
    build_versitygw & p2=$!
    build_k8s & p3=$!
    rc=0
    for p in $p1 $p2 $p3; do wait "$p" || rc=1; done
    exit $rc
    ;;
  *) echo "usage: $0 [all|k8s|etcd|versitygw]" >&2; exit 2 ;;
esac
