#!/bin/bash
# Fetch the Debian packages libess needs on the GPU machine, whose image
# lacks them (liburing, isa-l), into .gpu-deps/ (git-ignored; carry it with
# the device call).  cuda/gpu-run.sh unpacks them there (liburing2: the
# shared libess of the Python example links the shared liburing).
set -e
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download liburing-dev liburing2 libisal-dev libisal2
