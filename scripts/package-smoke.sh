#!/usr/bin/env bash
# Smoke test of a packaged .vsix: installs it into a fresh code-server extensions dir with
# --install-extension and checks that --list-extensions shows it and that its main file is
# there. With --activate (or SSHKA_SMOKE_ACTIVATE=1) it also runs the extension test suite
# against the INSTALLED extension in a real extension host
# (SSHKA_USE_INSTALLED_VSIX=<vsix> node out/test/extension/run.js; needs `npm run compile-tests`).
# The code-server version is pinned in tools/peers/pins.json; the extension id comes from
# package.json (publisher.name).
#
# Usage: scripts/package-smoke.sh path/to/ssh-keepalive.vsix [--activate]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXT_ID="$(node -p "const m = require('$REPO/package.json'); m.publisher + '.' + m.name")"
VERSION="${CODE_SERVER_VERSION:-$(node -p "require('$REPO/tools/peers/pins.json').codeServerVersion")}"
CS="$REPO/.vscode-test/code-server-$VERSION/out/node/entry.js"

die() { printf '[package-smoke] FAIL: %s\n' "$*" >&2; exit 1; }
log() { printf '[package-smoke] %s\n' "$*" >&2; }

[ $# -ge 1 ] || die "usage: $0 path/to/extension.vsix [--activate]"
VSIX="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[ -f "$VSIX" ] || die "no such file: $1"
ACTIVATE="${SSHKA_SMOKE_ACTIVATE:-0}"
[ "${2:-}" = "--activate" ] && ACTIVATE=1

bash "$REPO/scripts/install-code-server.sh"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/sshka-smoke-XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/user-data" "$TMP/extensions" "$TMP/xdg"
echo 'auth: none' >"$TMP/config.yaml"
cs() {
  env -u PORT -u PASSWORD -u HASHED_PASSWORD XDG_DATA_HOME="$TMP/xdg" XDG_CACHE_HOME="$TMP/xdg" EXTENSIONS_GALLERY='{}' \
    node "$CS" --config "$TMP/config.yaml" --user-data-dir "$TMP/user-data" --extensions-dir "$TMP/extensions" "$@"
}

log "installing $VSIX"
cs --force --install-extension "$VSIX" || die "--install-extension failed"
listed="$(cs --list-extensions --show-versions)"
printf '%s\n' "$listed" >&2
printf '%s\n' "$listed" | grep -qi "^$EXT_ID@" || die "$EXT_ID is not in --list-extensions"

dir="$(find "$TMP/extensions" -maxdepth 1 -iname "$EXT_ID-*" -type d | head -1)"
[ -n "$dir" ] || die "no $EXT_ID-* folder in the extensions dir"
main="$(node -p "require('$dir/package.json').main || ''")"
if [ -n "$main" ]; then
  { [ -f "$dir/$main" ] || [ -f "$dir/$main.js" ]; } || die "main '$main' is missing from the installed extension"
fi
log "installed OK: $(printf '%s\n' "$listed" | grep -i "^$EXT_ID@") (main: ${main:-none})"

if [ "$ACTIVATE" = "1" ]; then
  log "activation check in a real extension host (installed extension)"
  # Only the activation tests: the rest drive the extension through its test API, which a
  # production install does not expose (it is returned only in ExtensionMode.Test).
  SSHKA_USE_INSTALLED_VSIX="$VSIX" SSHKA_SCREENSHOT_NAME="${SSHKA_SCREENSHOT_NAME:-package-smoke}" \
    SSHKA_TEST_GREP="${SSHKA_TEST_GREP:-^activation }" node "$REPO/out/test/extension/run.js"
fi
log "PASS"
