#!/usr/bin/env bash
# Installs the system packages Scribe needs to build, test or package, and only those that are missing.
#
#   scripts/deps.sh [build|test|package|all]     (default: all)
#
# Idempotent and quick when everything is present: one dpkg-query (or brew list) call, no network.
# Debian/Ubuntu: apt-get (sudo when not root). macOS: Homebrew. Elsewhere: prints what to install.
set -euo pipefail

group=${1:-all}

# Debian/Ubuntu package names, by what they are for (see /work/shared/MACHINE-NOTES.md).
build_pkgs=(
	make gcc libc6-dev pkg-config ca-certificates locales
	# Fyne's GLFW driver (cgo)
	libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
	# audio capture
	portaudio19-dev
)
test_pkgs=(
	# a real window under a virtual X server, driven and photographed
	xvfb xauth xdotool imagemagick
	# virtual microphones and test speech
	pulseaudio pulseaudio-utils libasound2-plugins alsa-utils espeak-ng sox
	# a private bus for the sleep-inhibitor tests (logind stand-in)
	dbus-daemon
)
package_pkgs=(xz-utils)
brew_pkgs=(portaudio pkg-config espeak-ng sox)

case $group in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
package) want=("${build_pkgs[@]}" "${package_pkgs[@]}") ;;
all) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${package_pkgs[@]}") ;;
*)
	echo "deps.sh: unknown group '$group'; use one of: build, test, package, all" >&2
	exit 2
	;;
esac

say() { echo "deps.sh: $*" >&2; }

# as_root runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		say "need root to run '$*', and sudo is not installed; run this script as root"
		exit 1
	fi
}

check_go() {
	if ! command -v go >/dev/null; then
		say "Go is not on PATH. Install Go 1.26 or newer from https://go.dev/dl/ (and add its bin folder to PATH)."
		exit 1
	fi
}

# ensure_locale generates en_US.UTF-8, which the Makefile sets as LANG (with C, Fyne logs a locale error).
ensure_locale() {
	if locale -a 2>/dev/null | grep -qiE '^en_US\.utf-?8$'; then
		return
	fi
	say "generating the en_US.UTF-8 locale"
	if [[ -f /etc/locale.gen ]] && command -v locale-gen >/dev/null; then
		# Debian: enable it in locale.gen so later locale-gen runs keep it.
		as_root sed -i -E 's/^#[[:space:]]*(en_US\.UTF-8[[:space:]]+UTF-8)/\1/' /etc/locale.gen
		grep -qE '^en_US\.UTF-8[[:space:]]+UTF-8' /etc/locale.gen ||
			echo 'en_US.UTF-8 UTF-8' | as_root tee -a /etc/locale.gen >/dev/null
		as_root locale-gen >/dev/null
	elif command -v locale-gen >/dev/null; then
		as_root locale-gen en_US.UTF-8 >/dev/null # Ubuntu's locale-gen takes the name
	else
		as_root localedef -i en_US -f UTF-8 en_US.UTF-8
	fi
}

deps_apt() {
	local installed missing=() p
	# One dpkg-query for all: "ii" means installed; unknown names print nothing (and an error we discard).
	installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${want[@]}" 2>/dev/null | awk '$2 == "ii" { print $1 }' || true)
	for p in "${want[@]}"; do
		grep -qxF "$p" <<<"$installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		say "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		as_root apt-get update -qq
		as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
	ensure_locale
}

deps_brew() {
	if ! command -v brew >/dev/null; then
		say "Homebrew is missing. Install it from https://brew.sh, then run: brew install ${brew_pkgs[*]}"
		exit 1
	fi
	local installed missing=() p
	installed=$(brew list --formula -1 2>/dev/null || true)
	for p in "${brew_pkgs[@]}"; do
		grep -qxF "$p" <<<"$installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		say "installing ${missing[*]}"
		brew install "${missing[@]}"
	fi
	if ! xcode-select -p >/dev/null 2>&1; then
		say "the Xcode command line tools (the C compiler cgo needs) are missing; run: xcode-select --install"
		exit 1
	fi
}

case $(uname -s) in
Linux)
	if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
		deps_apt
	else
		say "this Linux has no apt-get. Install the equivalents of these Debian packages with your package manager:"
		say "  ${want[*]}"
		say "and make sure the en_US.UTF-8 locale exists. Then run make again."
		exit 1
	fi
	;;
Darwin)
	deps_brew
	;;
*)
	say "no automatic set-up for $(uname -s). Install: a C compiler, pkg-config, OpenGL and X11/Cocoa headers"
	say "for Fyne (https://docs.fyne.io/started/), PortAudio, espeak-ng and sox."
	exit 1
	;;
esac
check_go
