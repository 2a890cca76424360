# Sourced by scripts/setup and scripts/test: finds a Rust toolchain at least
# as new as Cargo.toml's rust-version. Sets CARGO, and RUSTC when PATH would
# find another rustc than the one beside that cargo.

# The rust-version line of Cargo.toml, e.g. 1.85.
rust_needed() {
  sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml
}

# True when version $1 >= version $2 (dotted numbers).
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# The version of the rustc beside cargo $1 (e.g. 1.85.0), or nothing.
rustc_version_of() {
  local rustc
  rustc="$(dirname "$1")/rustc"
  [ -x "$rustc" ] || return 0
  "$rustc" --version 2>/dev/null | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p'
}

# Sets CARGO/RUSTC to the first cargo (PATH, then the distribution's) whose
# rustc is at least $1; FOUND_RUST says what was seen, for the error line.
find_rust() {
  local c v
  FOUND_RUST=""
  for c in "$(command -v cargo 2>/dev/null || true)" /usr/bin/cargo; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    v=$(rustc_version_of "$c")
    [ -n "$v" ] || continue
    [ -n "$FOUND_RUST" ] || FOUND_RUST="Rust $v ($c)"
    if version_ge "$v" "$1"; then
      CARGO=$c
      # Only when PATH would find another rustc: cargo's own choice otherwise.
      if [ "$(command -v rustc 2>/dev/null)" != "$(dirname "$c")/rustc" ]; then
        RUSTC="$(dirname "$c")/rustc"
        export RUSTC
      fi
      return 0
    fi
  done
  return 1
}

# The upstream version of the distribution's rustc package (e.g. 1.85.0 from
# 1.85.0+dfsg3-1), or nothing when apt has none.
distro_rust_version() {
  command -v apt-cache >/dev/null || return 0
  apt-cache policy rustc 2>/dev/null |
    sed -n 's/^ *Candidate: *\([0-9]*:\)\{0,1\}\([0-9][0-9.]*\).*/\2/p'
}
