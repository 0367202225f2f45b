#!/bin/bash
# The default workload of 'make run'.
set -eu
cd "$(dirname "$0")/.."
echo "ess: nothing to run yet"
