# Shared settings for the project's scripts (sourced, not run).
# The cargo target directory lives outside the clone so fresh clones and CI
# runs reuse earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/delegraph/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
mkdir -p "$CARGO_TARGET_DIR"
# The real data sets written by others (Stratus Red Team, AgentDojo,
# tau-bench) live beside the checkout; DELEGRAPH_SHARED_DATA moves them
# (the tests read the same variable).
export SHARED_DATA="${DELEGRAPH_SHARED_DATA:-$REPO_ROOT/../shared/data}"
