# Versions of everything hack/ builds or fetches, and where the cache lives. Sourced, never run.
# Bump a version here and the cache key changes with it (old builds stay until `rm -rf $TRESOR_CACHE`).
K8S_VERSION=${K8S_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.7.0}
NODE_MAJOR=24

TRESOR_CACHE=${TRESOR_CACHE:-$HOME/.cache/tresor}
TRESOR_BIN=$TRESOR_CACHE/bin
export TRESOR_CACHE TRESOR_BIN
