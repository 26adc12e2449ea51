#!/usr/bin/env bash
# ensure-packages.sh CMD:PACKAGE... — install the Debian package for every
# command that is missing, saying what it does. Used by `make demo` and
# `make test`; safe to run again.
set -euo pipefail
missing=()
for pair in "$@"; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if [[ $cmd == /* ]]; then
		[[ -e $cmd ]] && continue
	elif command -v "$cmd" >/dev/null 2>&1; then
		continue
	fi
	missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "GuardCast needs these Debian packages and cannot install them without root: ${missing[*]}" >&2
		exit 1
	fi
fi
echo ">> installing Debian packages: ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo ">> installed: ${missing[*]}"
