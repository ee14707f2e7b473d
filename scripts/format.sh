#!/usr/bin/env bash
# The project's formatters and linters, one command (idempotent: a second run changes nothing).
#
#   bash scripts/format.sh           # rewrite: ruff format, ruff check --fix, clang-format -i
#   bash scripts/format.sh --check   # change nothing; exit 1 when a file is not formatted or a lint
#                                    # rule fails (scripts/test.sh's "style" step)
#
# Python: every tracked (and untracked, not ignored) *.py, with pyproject.toml's [tool.ruff].
# C++: kernels/ and android_demo/ (*.cc, *.h), with .clang-format (.clang-format-ignore lists the
# generated header). The tools are the versions pinned in setup.py's [dev] extra (the [test] extra
# includes it): pip install -e ".[dev]". PYTHON (default python3) is the interpreter that has them;
# CLANG_FORMAT overrides the clang-format binary.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: bash scripts/format.sh [--check]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3}
if ! "$PY" -m ruff --version >/dev/null 2>&1; then
  echo "format.sh: ruff is not installed for $PY: pip install -e \".[dev]\"" >&2
  exit 2
fi
if [ -z "${CLANG_FORMAT:-}" ]; then
  CLANG_FORMAT=$("$PY" -c 'from clang_format import get_executable; print(get_executable("clang-format"))' \
    2>/dev/null) || CLANG_FORMAT=$(command -v clang-format || true)
fi
if [ -z "$CLANG_FORMAT" ] || [ ! -x "$CLANG_FORMAT" ]; then
  echo "format.sh: clang-format is not installed for $PY: pip install -e \".[dev]\"" >&2
  exit 2
fi
CLANG_FORMAT_VERSION=$("$CLANG_FORMAT" --version | sed 's/^.*clang-format/clang-format/')
echo "format.sh: $("$PY" -m ruff --version), $CLANG_FORMAT_VERSION"

# Files of the checkout: tracked and untracked-but-not-ignored (git), else every file under it.
list() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard -- "$@" \
      | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done
  else
    local names=()
    for pattern in "$@"; do names+=(-o -path "./$pattern"); done
    find . -type f \( "${names[@]:1}" \) -not -path "./build/*" -print0
  fi
}
mapfile -d '' PY_FILES < <(list '*.py')
mapfile -d '' CXX_FILES < <(list 'kernels/*.cc' 'kernels/*.h' 'android_demo/*.cc' 'android_demo/*.h')

status=0
if [ "$CHECK" = 1 ]; then
  "$PY" -m ruff check --no-fix --output-format concise "${PY_FILES[@]}" || status=1
  "$PY" -m ruff format --check "${PY_FILES[@]}" || status=1
  "$CLANG_FORMAT" --dry-run -Werror --ferror-limit=3 "${CXX_FILES[@]}" || status=1
  if [ "$status" != 0 ]; then
    echo "format.sh --check: style check failed. Fix: bash scripts/format.sh (rewrites the files);" \
         "what it cannot fix (ruff check's remaining findings) needs a hand edit." >&2
  fi
  exit "$status"
fi

# The lint fixes first (they may change imports), then the formatter over the result; twice, as
# the formatter can move a `# noqa` comment off the line it was for (a wrapped signature), which the
# second fix pass then drops (RUF100), so that one run reaches what a second would leave unchanged.
for _ in 1 2; do
  "$PY" -m ruff check --fix --exit-zero --quiet "${PY_FILES[@]}"
  "$PY" -m ruff format --quiet "${PY_FILES[@]}"
done
"$CLANG_FORMAT" -i "${CXX_FILES[@]}"
# What ruff cannot fix by itself (long strings and comments, bugs B finds) is left for a hand edit:
"$PY" -m ruff check --no-fix --output-format concise --quiet "${PY_FILES[@]}" || status=$?
exit "$status"
