#!/usr/bin/env bash
# The lower bounds we declare, tested: a venv without ROS holding every runtime dependency and the
# given extras at the lower bound declared in setup.cfg (the test extra unpinned), then the fast
# tests (not ros, not slow). Usage: test_lowest.sh PYTHON VENV EXTRAS setup|test
set -euo pipefail
py=$1; venv=$2; extras=$3; phase=$4
here=$(cd "$(dirname "$0")" && pwd)
step() { printf '\033[1m[lowest]\033[0m %s\n' "$*"; }
if ! command -v "$py" >/dev/null; then py=python3; fi
start=$(date +%s)
if [ "$phase" = setup ]; then
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$py" "$here/deps.py" lowest "$extras" >"$venv/constraints.txt"
  step "installing the lower bounds: $(tr '\n' ' ' <"$venv/constraints.txt")"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$venv/constraints.txt" \
    -e ".[test,$extras]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  step "setup took $(( $(date +%s) - start )) s"
  exit 0
fi
# what is installed must be exactly the bounds (a constraint pip could not honour fails the setup)
"$venv/bin/python" - "$venv/constraints.txt" <<'PY'
import importlib.metadata as md, sys
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    got = md.version(name)
    if [int(p) for p in got.split("+")[0].split(".")] != [int(p) for p in want.split(".")]:
        sys.exit(f"lowest: {name} {got} installed, expected the lower bound {want}")
print("[lowest] installed:", " ".join(ln.strip() for ln in open(sys.argv[1])), "python", sys.version.split()[0])
PY
step "fast tests (-m 'not ros and not slow') on the lower bounds:"
# no ROS here: the ament index of the main venv must not leak in
env -u AMENT_PREFIX_PATH "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not ros and not slow" test
step "tests took $(( $(date +%s) - start )) s"
