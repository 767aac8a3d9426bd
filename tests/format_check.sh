#!/usr/bin/env bash
# Fails (and lists the files) when a C++ file under src/ or tests/ differs from .clang-format.
# Run by ctest as lint.format; `clang-format -i FILE` applies the fix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "lint.format: clang-format is not installed (apt-get install clang-format)"; exit 1; }
bad=()
while IFS= read -r -d '' f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(find src tests \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z)
if [ ${#bad[@]} -gt 0 ]; then
    printf 'lint.format: not clang-formatted (clang-format -i FILE fixes it):\n'
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
echo "lint.format: every C++ file under src/ and tests/ is clang-formatted"
