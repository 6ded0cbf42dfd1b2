#!/usr/bin/env bash
# Builds helm and promtool (tools the chart and alert-rule tests use) from the Go module proxy and caches
# them outside the repo by version, like hack/build-binaries.sh. Prints the binary's path on stdout;
# progress on stderr. Usage: hack/build-helm.sh [helm|promtool]
#
# Kept apart from build-binaries.sh because only the chart and alert tests need these: the unit suites and
# the local environment never wait for them. setup.sh builds both so CI has them.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

log() { printf '[build-helm] %s\n' "$*" >&2; }

build_helm() {
  local out="$TRESOR_BIN/helm-$HELM_VERSION"
  if [[ ! -x "$out/helm" ]]; then
    log "building helm $HELM_VERSION (cold build takes a few minutes on 2 cores)"
    mkdir -p "$out.tmp"
    CGO_ENABLED=0 GOBIN="$out.tmp" go install -trimpath \
      -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  echo "$out/helm"
}

build_promtool() {
  local out="$TRESOR_BIN/promtool-$PROMETHEUS_VERSION"
  if [[ ! -x "$out/promtool" ]]; then
    log "building promtool $PROMETHEUS_VERSION"
    mkdir -p "$out.tmp"
    # Prometheus tags its Go module v0.<major*100+minor>.<patch> (3.5.0 is v0.305.0).
    CGO_ENABLED=0 GOBIN="$out.tmp" go install -trimpath -ldflags="-s -w" \
      "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  echo "$out/promtool"
}

mkdir -p "$TRESOR_BIN"
case "${1:-helm}" in
  helm) build_helm ;;
  promtool) build_promtool ;;
  *) echo "usage: $0 [helm|promtool]" >&2; exit 2 ;;
esac
