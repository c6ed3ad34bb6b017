#!/usr/bin/env bash
# Fetch the third-party browser libraries the dashboard uses, at the pinned versions, from the npm registry
# (released package tarballs, via `npm pack`), and copy their distribution files and licences into
# flower/static/vendor/. Run it to reproduce or to upgrade (change a version below, run, commit the result).
#
# Nothing here is built or minified by us: the files are the packages' own released dist files.
set -euo pipefail

BOOTSTRAP=5.3.9
JQUERY=3.7.1
DATATABLES=2.3.8          # datatables.net and datatables.net-bs5 are released together

cd "$(dirname "$0")/.."
dest=flower/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # package version -> unpacked in $work/<package>/; the tarball's registry integrity is noted
  local name=$1 version=$2 dir="$work/$1"
  mkdir -p "$dir"
  # npm checks the tarball against the registry's integrity (sha512) as it downloads it
  (cd "$dir" && npm pack --silent --json "$name@$version" > pack.json && tar -xzf ./*.tgz)
  node -e 'const p = require(process.argv[1])[0]; console.log(`${p.name} ${p.version} ${p.integrity}`)' \
    "$dir/pack.json" >> "$work/integrity.txt"
  echo "$dir/package"
}

copy() {  # from to
  install -D -m 0644 "$1" "$2"
}

rm -rf "$dest"
mkdir -p "$dest"

pkg=$(fetch bootstrap "$BOOTSTRAP")
for file in css/bootstrap.min.css css/bootstrap.min.css.map js/bootstrap.bundle.min.js js/bootstrap.bundle.min.js.map; do
  copy "$pkg/dist/$file" "$dest/bootstrap/$(basename "$file")"   # the .map files are named by the minified ones
done
copy "$pkg/LICENSE" "$dest/bootstrap/LICENSE"

pkg=$(fetch jquery "$JQUERY")
copy "$pkg/dist/jquery.min.js" "$dest/jquery/jquery.min.js"
copy "$pkg/LICENSE.txt" "$dest/jquery/LICENSE.txt"

pkg=$(fetch datatables.net "$DATATABLES")
copy "$pkg/js/dataTables.min.js" "$dest/datatables/dataTables.min.js"
copy "$pkg/License.txt" "$dest/datatables/License.txt"

pkg=$(fetch datatables.net-bs5 "$DATATABLES")
copy "$pkg/js/dataTables.bootstrap5.min.js" "$dest/datatables/dataTables.bootstrap5.min.js"
copy "$pkg/css/dataTables.bootstrap5.min.css" "$dest/datatables/dataTables.bootstrap5.min.css"

{
  echo "# Vendored by scripts/vendor-assets.sh from the npm registry; do not edit by hand."
  echo "# package version and the registry's integrity of its released tarball"
  cat "$work/integrity.txt"
} > "$dest/VERSIONS.txt"
# the sha256 of every vendored file, checked by tests/unit/test_vendored_assets.py
(cd "$dest" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum) > "$dest/SHA256SUMS"
echo "vendored into $dest:"
find "$dest" -type f | sort
