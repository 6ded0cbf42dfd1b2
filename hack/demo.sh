#!/usr/bin/env bash
# The local demo: a real control plane, the operator, a VM, a policy, a backup, a recovery point, a restore.
# Sets everything up first (Debian packages, binaries built from the Go module proxy and cached), starts
# the local environment if it is not running, then runs hack/demo/main.ts. `npm run demo -- --keep`
# leaves the demo namespace for a look around (the operator and node agent stop with the demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash hack/setup.sh
eval "$(bash hack/env.sh up)"
exec node hack/demo/main.ts "$@"
