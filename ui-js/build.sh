#!/usr/bin/env bash
# Rebuild the viewer's vendored JavaScript from the npm registry (versions pinned in
# package-lock.json). The output is committed, so installing mediastore needs no Node.js.
set -euo pipefail
cd "$(dirname "$0")"
out=../mediastore/ui/static/vendor
npm ci --silent --no-audit --no-fund
mkdir -p "$out"
npx esbuild three-entry.js --bundle --minify --format=esm --legal-comments=none --outfile="$out/three.min.js"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$out/"
{
  echo "The viewer's JavaScript libraries, bundled by ui-js/build.sh from the npm registry."
  for pkg in three uplot; do
    version=$(node -p "require('./node_modules/$pkg/package.json').version")
    echo; echo "=== $pkg $version ($(node -p "require('./node_modules/$pkg/package.json').license")) ==="; echo
    cat node_modules/$pkg/LICENSE*
  done
} > "$out/LICENSES.txt"
