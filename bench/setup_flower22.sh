#!/usr/bin/env bash
# Creates the two virtual environments the benchmark uses. Idempotent: a venv that already has what it
# needs is left alone. Needs network access to PyPI only on the first run.
#
#   bench/.venv-flower22   Flower 2.2.0 from PyPI (the server we compare with), celery[redis], redis
#   bench/.venv-tools      the event publisher and the chart: celery[redis], redis, matplotlib
#
# Usage: bash bench/setup_flower22.sh            (PYTHON=python3.11 bash bench/setup_flower22.sh to pick one)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
# Run everything from outside the repository: with the repo as the working directory, `import flower` and
# its metadata would find OUR package instead of the one installed in the venv.
cd /

quiet_pip() {  # quiet_pip DIR ARGS...: pip install, failing on pip's failure
    local dir="$1"; shift
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | { grep -v 'is ignored' || true; }
    return "${PIPESTATUS[0]}"
}

make_venv() {  # make_venv DIR CHECK_PY PACKAGES...
    local dir="$1" check="$2"; shift 2
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$check" >/dev/null 2>&1; then
        echo "ok: $dir already set up"
        return
    fi
    echo "setting up $dir ..."
    [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
    # (pip's config on some machines points at local wheel folders that may be missing: drop that noise)
    quiet_pip "$dir" --upgrade pip
    quiet_pip "$dir" "$@"
    "$dir/bin/python" -c "$check"
    echo "ok: $dir"
}

make_venv "$here/.venv-flower22" \
    "import importlib.metadata as m, celery, redis; assert m.version('flower') == '2.2.0'; print('flower', m.version('flower'), 'celery', celery.__version__)" \
    'flower==2.2.0' 'celery[redis]' redis

make_venv "$here/.venv-tools" \
    "import celery, redis, matplotlib; print('celery', celery.__version__, 'matplotlib', matplotlib.__version__)" \
    'celery[redis]' redis matplotlib
