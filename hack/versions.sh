# Versions of everything hack/ builds or fetches, and where the cache lives. Sourced, never run.
# Bump a version here and the cache key changes with it (old builds stay until `rm -rf $TRESOR_CACHE`).
K8S_VERSION=${K8S_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.7.0}
NODE_MAJOR=24
# Chart and alert-rule test tools (hack/build-helm.sh). Prometheus tags its Go module v0.<maj*100+min>.<patch>.
HELM_VERSION=${HELM_VERSION:-v3.22.0}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}

TRESOR_CACHE=${TRESOR_CACHE:-$HOME/.cache/tresor}
TRESOR_BIN=$TRESOR_CACHE/bin
export TRESOR_CACHE TRESOR_BIN
