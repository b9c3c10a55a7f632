#!/usr/bin/env bash
# Installs code-server (VS Code's web workbench + a Node extension host) from the npm
# registry into .vscode-test/code-server-$CODE_SERVER_VERSION/ of this repo, without any
# download outside npm and Debian apt. Idempotent: a complete install is marked by the stamp
# file .sshka-install-complete and then nothing is done.
#
# Recipe (see shared DESIGN.md, "A real VS Code extension host without a download"):
#   - Debian packages: chromium (the test browser), ripgrep (replaces @vscode/ripgrep's
#     downloaded binary), libkrb5-dev (kerberos), build tools + python3 (node-gyp).
#   - the code-server tarball is unpacked and its deps installed with --ignore-scripts
#     (its postinstall would run the lib/vscode install, whose @vscode/ripgrep postinstall
#     downloads a binary from GitHub and fails offline);
#   - native modules are then built explicitly with `npm rebuild`.
#   - npm >= 11.x gates dependency install scripts behind allowScripts. `npm install` skips
#     unapproved ones; `npm rebuild <named pkgs>` (11.19) only warns and still builds. To be
#     safe under strict-allow-scripts, the packages we build are approved first with
#     `npm install-scripts approve` (written to the installed package.json, never ours), and
#     each native module is checked to load afterwards.
#
# Env: CODE_SERVER_VERSION (default: the pin in tools/peers/pins.json), SSHKA_VSCODE_TEST_DIR
#      (default <repo>/.vscode-test), SSHKA_SKIP_APT=1 to skip the apt step.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${CODE_SERVER_VERSION:-$(node -p "require('$REPO/tools/peers/pins.json').codeServerVersion")}"
TEST_DIR="${SSHKA_VSCODE_TEST_DIR:-$REPO/.vscode-test}"
DEST="$TEST_DIR/code-server-$VERSION"
STAMP="$DEST/.sshka-install-complete"

log() { printf '[install-code-server] %s\n' "$*" >&2; }
die() { printf '[install-code-server] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "[install-code-server] FAILED (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

if [ -f "$STAMP" ] && [ -f "$DEST/out/node/entry.js" ]; then
  log "code-server $VERSION already installed at $DEST"
  exit 0
fi

START=$(date +%s)

# ---------------------------------------------------------------- apt packages
need_pkgs=()
if [ "${SSHKA_SKIP_APT:-}" != "1" ]; then
  for p in chromium ripgrep libkrb5-dev build-essential python3 pkg-config; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      need_pkgs+=("$p")
    fi
  done
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${need_pkgs[*]}"
    SUDO="sudo"
  fi
  log "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}"; then
    log "apt-get install failed; running apt-get update and retrying"
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}"
  fi
fi
command -v rg >/dev/null || die "ripgrep (rg) not found after apt step"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" = "20" ] || die "code-server $VERSION needs Node 20 (it runs the extension host in this node); found $(node --version)"

# node-gyp must not download Node headers (no internet): use the local ones when present.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_version.h ]; then
  export npm_config_nodedir=/usr
fi
if [ -z "${npm_config_nodedir:-}" ] && ! grep -qs '^nodedir' "$HOME/.npmrc"; then
  log "WARNING: no local Node headers (/usr/include/node) and no nodedir: node-gyp will try to download them"
fi
export npm_config_yes=true npm_config_audit=false npm_config_fund=false \
  npm_config_update_notifier=false npm_config_progress=false

# npm >= 11.x: approve install scripts of the named packages (in the cwd's package.json).
approve_scripts() {
  if npm help install-scripts >/dev/null 2>&1; then
    log "npm install-scripts approve $* (in $(pwd))"
    npm install-scripts approve "$@"
  fi
}

# Fails unless each given file exists (npm rebuild can skip a blocked script silently).
require_files() {
  for f in "$@"; do
    [ -e "$f" ] || die "expected build output missing: $f"
  done
}

# ---------------------------------------------------------------- unpack
log "installing code-server $VERSION into $DEST (cold install)"
rm -rf "$DEST"
mkdir -p "$DEST"
TMP="$(mktemp -d)"
( cd "$TMP" && npm pack "code-server@$VERSION" --silent >/dev/null )
tgz="$(ls "$TMP"/code-server-*.tgz)"
tar -xzf "$tgz" -C "$DEST" --strip-components=1
rm -rf "$TMP"

# ---------------------------------------------------------------- top package
cd "$DEST"
log "npm install --omit=dev --ignore-scripts (code-server)"
npm install --omit=dev --ignore-scripts --no-save
approve_scripts argon2
log "npm rebuild argon2"
npm rebuild argon2
ls node_modules/argon2/lib/binding/*/argon2.node >/dev/null 2>&1 || \
  die "argon2 native module was not built"

# ---------------------------------------------------------------- lib/vscode
cd "$DEST/lib/vscode"
log "npm install --omit=dev --ignore-scripts (lib/vscode)"
npm install --omit=dev --ignore-scripts --no-save
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
native=(@parcel/watcher @vscode/deviceid @vscode/spdlog kerberos native-watchdog node-pty)
approve_scripts "${native[@]}"
log "npm rebuild ${native[*]}"
npm rebuild "${native[@]}"
require_files \
  node_modules/kerberos/build/Release/kerberos.node \
  node_modules/native-watchdog/build/Release/watchdog.node \
  node_modules/node-pty/build/Release/pty.node
# @parcel/watcher ships prebuilt binaries in @parcel/watcher-linux-x64-{glibc,musl}; check it loads.
for m in @parcel/watcher @vscode/spdlog kerberos native-watchdog node-pty @vscode/deviceid; do
  node -e "require('$m')" || die "native module $m does not load"
done
# What postinstall.sh would have done here:
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
( cd bin/remote-cli && rm -f code-server && ln -s code-linux.sh code-server )
( cd bin/helpers && rm -f browser.sh && ln -s browser-linux.sh browser.sh )

# ---------------------------------------------------------------- lib/vscode/extensions
cd "$DEST/lib/vscode/extensions"
log "npm install --omit=dev (lib/vscode/extensions)"
npm install --omit=dev --no-save

# ---------------------------------------------------------------- smoke check
cd "$DEST"
# --config / XDG_DATA_HOME keep it from writing ~/.config/code-server and ~/.local/share.
SMOKE="$(mktemp -d)"
echo 'auth: none' >"$SMOKE/config.yaml"
v="$(XDG_DATA_HOME="$SMOKE" node out/node/entry.js --config "$SMOKE/config.yaml" --version 2>/dev/null | tail -1)"
rm -rf "$SMOKE"
case "$v" in
  "$VERSION"*) ;;
  *) die "code-server --version printed '$v', expected $VERSION" ;;
esac

date -u +%FT%TZ >"$STAMP"
log "done: code-server $v in $(( $(date +%s) - START ))s"
