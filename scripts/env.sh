# Shared settings for the project's scripts (sourced, not run).
# The cargo target directory lives outside the clone so fresh clones and CI
# runs reuse earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/delegraph/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
mkdir -p "$CARGO_TARGET_DIR"
