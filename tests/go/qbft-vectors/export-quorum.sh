#!/usr/bin/env bash
# Exports ConsenSys/quorum at the pinned commit into ./quorum from a local git dir of it
# (QUORUM_GIT_DIR: a clone or mirror). Regular files only: submodules (tests/testdata) and
# symlinks are not needed, nor signer/fourbyte/4byte.* (absent from some mirrors).
set -euo pipefail
: "${QUORUM_GIT_DIR:?set QUORUM_GIT_DIR to a git dir of ConsenSys/quorum}"
COMMIT=0d4a719f60b1ed264c4c4e124eb471e5434bfe7b
cd "$(dirname "$0")"
rm -rf quorum && mkdir quorum
git --git-dir="$QUORUM_GIT_DIR" ls-tree -r "$COMMIT" \
  | awk -F'\t' '{ split($1, m, " "); if (m[2] == "blob" && m[1] != "120000") print $2 }' \
  | grep -v '^signer/fourbyte/4byte\.' \
  | while IFS= read -r path; do
      mkdir -p "quorum/$(dirname "$path")"
      git --git-dir="$QUORUM_GIT_DIR" show "$COMMIT:$path" >"quorum/$path"
    done
echo "exported quorum@$COMMIT"
