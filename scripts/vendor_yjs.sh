#!/bin/sh
# Rebuild static/vendor/yjs.js: Yjs and its lib0 dependency as one ES module, bundled once with
# esbuild and committed (the server never builds anything, and the page loads nothing from
# another host). Run from the repository root; needs node and npm. Issue #16.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent yjs@13.6.33 lib0@0.2.120 esbuild@0.28.2
cat > entry.js <<'JS'
export * from "yjs";
export { toBase64, fromBase64 } from "lib0/buffer";
JS
./node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --legal-comments=none \
  --target=es2020 --outfile=yjs.js
cd - >/dev/null
cp "$work/yjs.js" static/vendor/yjs.js
for pkg in yjs lib0 isomorphic.js; do cp "$work/node_modules/$pkg/LICENSE" "static/vendor/LICENSE.$pkg"; done
