#!/usr/bin/env bash
# Installs what the tests need from Debian's packages (idempotent; root or sudo):
# OpenSSH server and client and Dropbear (integration tests run against both servers),
# passwd (useradd: the ssh -G differential test runs ssh as an unprivileged user), iproute2 +
# iptables + conntrack (natlab), socat (natlab unix bridge), autossh (bench/restore), tmux
# (shell reattach), curl (forward checks), faketime (libfaketime: sshd under a wall clock that
# jumps, test/integration/serverFaultsKeeper.test.ts), and for code-server + the browser tests:
# chromium, a font, ripgrep, libkrb5-dev and the native build tools
# (scripts/install-code-server.sh checks them again).
set -euo pipefail
pkgs=(openssh-server openssh-client dropbear-bin passwd iproute2 iptables conntrack procps socat autossh tmux curl faketime
      chromium fonts-dejavu-core ripgrep libkrb5-dev build-essential python3 pkg-config)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# sshd wants its privilege-separation directory even when started by hand.
$SUDO mkdir -p /run/sshd
