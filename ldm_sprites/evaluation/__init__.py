"""Numbers to compare runs: FD/KID with pluggable features, memorisation, per-class counts."""
