#!/usr/bin/env bash
# Bazel wrapper of check_deploy.py: Debian's /usr/bin/python3 with python3-yaml (not whatever
# python3 comes first on PATH), the runfiles tree as the repository root, the built binaries.
set -euo pipefail
root="${TEST_SRCDIR:?run me with bazel test}/${TEST_WORKSPACE:-murmur}"
if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  echo "deploy_check_test: /usr/bin/python3 cannot import yaml: apt-get install python3-yaml" >&2
  exit 1
fi
exec /usr/bin/python3 "$root/deploy/check_deploy.py" --root "$root" \
  --bin "murmur-coordinator=$root/coordinator/murmur-coordinator" \
  --bin "murmur-worker=$root/worker/murmur-worker" \
  --bin "murmur-serve=$root/serving/murmur-serve" \
  --bin "murmur=$root/client/murmur" \
  --self-test
