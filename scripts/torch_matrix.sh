#!/usr/bin/env bash
# Runs the test suite against several torch releases, each in a throwaway virtual environment that is
# deleted afterwards, and prints one line per release. Not part of CI: it downloads a torch wheel
# per release (~200 MB for a CPU build; PyPI's default Linux wheels are CUDA builds of several GB).
#
#   bash scripts/torch_matrix.sh [VERSION ...] [-- PYTEST_ARGS ...]
#
# VERSIONs default to "2.13.0 2.14.1". The declared torch range of pyproject.toml is bypassed on
# purpose (torch is installed first, the project with --no-deps), so a release outside it can be tried.
# PYTHON picks the interpreter (>= 3.11); TORCH_INDEX_URL an extra index for torch only (e.g. the
# PyTorch CPU wheel index); MATRIX_KEEP=1 keeps the environments for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
versions=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; break; fi
  versions+=("$1"); shift
done
pytest_args=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.13.0 2.14.1)

deps=$("$PY" - <<'EOF'
import re, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = p["dependencies"] + p["optional-dependencies"]["test"]
print(" ".join(r for r in reqs if re.split(r"[<>=!~ \[]", r)[0] != "torch"))
EOF
)

results=()
for v in "${versions[@]}"; do
  dir=$(mktemp -d "${TMPDIR:-/tmp}/torch-matrix-$v.XXXXXX")
  log="$dir/pytest.log"
  echo "== torch $v in $dir" >&2
  "$PY" -m venv "$dir/venv"
  vpy="$dir/venv/bin/python"
  extra=()
  [ -z "${TORCH_INDEX_URL:-}" ] || extra=(--extra-index-url "$TORCH_INDEX_URL")
  if ! "$vpy" -m pip install --quiet --disable-pip-version-check "${extra[@]}" "torch==$v"; then
    results+=("$v  install failed")
  else
    # shellcheck disable=SC2086
    "$vpy" -m pip install --quiet --disable-pip-version-check $deps
    "$vpy" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    set +e
    "$vpy" -m pytest -p no:cacheprovider "${pytest_args[@]}" >"$log" 2>&1   # pyproject's addopts hold -q
    rc=$?
    set -e
    summary=$(grep -E "(passed|failed|error)" "$log" | tail -1 || true)
    results+=("$v  rc=$rc  $summary")
    if [ $rc -ne 0 ]; then
      grep -E "^(FAILED|ERROR)" "$log" | head -20 >&2 || true
    fi
  fi
  if [ "${MATRIX_KEEP:-0}" = "1" ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
done

echo
echo "torch     result"
for r in "${results[@]}"; do echo "$r"; done
