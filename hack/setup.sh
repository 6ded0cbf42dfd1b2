#!/usr/bin/env bash
# Installs what the tests and the demo need from Debian's packages and builds the cached binaries.
# Idempotent and quiet when everything is already there (a warm machine spends about a second here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# command -> Debian package that provides it
declare -A NEED=(
  [initdb]=postgresql            # the real Postgres behind DBOS
  [restic]=restic                # the peer tool in test/bench
  [bwrap]=bubblewrap             # the local node agent maps pod volumes with it
  [openssl]=openssl              # certificates for the local control plane
  [curl]=curl                    # readiness probes in hack/env.sh
  [python3]=python3-minimal      # the mover's SEEK_DATA/SEEK_HOLE helper (Node has no lseek), free ports
  [/usr/bin/time]=time           # wall time and peak RSS per run in test/bench
)
missing=()
for cmd in "${!NEED[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/"$cmd" >/dev/null 2>&1; then
    missing+=("${NEED[$cmd]}")
  fi
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# helm and promtool for the chart and alert-rule tests (test/integration/chart.test.ts), cached by version,
# built beside the control plane: a cold promtool build is mostly module downloads (ADR 0082).
bash hack/build-helm.sh helm >/dev/null & helm_pid=$!
bash hack/build-helm.sh promtool >/dev/null & promtool_pid=$!
bash hack/build-binaries.sh all
wait "$helm_pid"
wait "$promtool_pid"
