#!/usr/bin/env bash
# System packages codecprobe uses from a plain pip environment (no conda):
#   wordnet-base + wordnet-sense-index  WordNet 3.0 for the synonym pairs (read offline by nltk)
#   espeak-ng                           only to regenerate the synthetic demo corpus
#   libsndfile1                         FLAC reading (the soundfile wheel also bundles it)
# Installs them with apt-get when this is a Debian/Ubuntu machine and we are root;
# otherwise says what is missing. WordNet can come from elsewhere instead: see README.
set -euo pipefail
pkgs=(wordnet-base wordnet-sense-index espeak-ng libsndfile1)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq  # a fresh image's package lists may be empty
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "codecprobe: please install ${missing[*]} (or see README: 'WordNet without apt')" >&2
fi
