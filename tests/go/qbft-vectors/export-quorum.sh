#!/usr/bin/env bash
# Exports ConsenSys/quorum at the pinned commit into ./quorum from a local git mirror of it
# (GIT_DIR=<mirror>), skipping blobs the mirror lacks (signer/fourbyte/4byte.* are not needed).
set -euo pipefail
: "${QUORUM_GIT_DIR:?set QUORUM_GIT_DIR to a git dir of ConsenSys/quorum (a bare clone or mirror)}"
COMMIT=0d4a719f60b1ed264c4c4e124eb471e5434bfe7b
cd "$(dirname "$0")"
rm -rf quorum && mkdir quorum
git --git-dir="$QUORUM_GIT_DIR" ls-tree -r --name-only "$COMMIT" \
  | grep -v '^signer/fourbyte/4byte\.' \
  | while IFS= read -r path; do
      mkdir -p "quorum/$(dirname "$path")"
      git --git-dir="$QUORUM_GIT_DIR" show "$COMMIT:$path" > "quorum/$path"
    done
echo "exported quorum@$COMMIT"
