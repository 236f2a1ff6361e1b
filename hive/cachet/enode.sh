#!/bin/bash
# Prints the running node's enode URL (hive replaces its IP with the container's).
set -euo pipefail
port="${CACHET_HTTP_PORT:-8545}"
response="$(curl -s -X POST -H 'Content-Type: application/json' \
  --data '{"jsonrpc":"2.0","method":"admin_nodeInfo","params":[],"id":1}' "http://127.0.0.1:$port")"
enode="$(echo "$response" | jq -r '.result.enode')"
if [ -n "${HIVE_DISCV5:-}" ] && [ "${HIVE_DISCV5}" != "0" ]; then
  # With HIVE_DISCV5 the enode's own UDP port is discv5's (cachet.sh); drop discv4's discport.
  enode="${enode%%\?*}"
fi
echo "$enode"
