//! Capture and call times: nanoseconds since the Unix epoch, as `i64`.
//! They are data, not clock readings: a pcapng `if_tsoffset`, a damaged
//! block or a crafted file can put them anywhere in `i64`, and an
//! `a - b` of two of them can overflow (a panic in debug and fuzz builds).
//! Every difference and step between them goes through here, saturating.

/// How long after `earlier` `later` came, in nanoseconds (negative when
/// it came before); saturates at the ends of `i64`.
pub fn since(later: i64, earlier: i64) -> i64 {
    later.saturating_sub(earlier)
}

/// How far apart two times are, in nanoseconds, whichever came first.
pub fn apart(a: i64, b: i64) -> u64 {
    a.abs_diff(b)
}

/// The time `ns` nanoseconds before `t`.
pub fn before(t: i64, ns: i64) -> i64 {
    t.saturating_sub(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_of_extreme_times_saturate() {
        assert_eq!(since(i64::MAX, i64::MIN), i64::MAX);
        assert_eq!(since(i64::MIN, i64::MAX), i64::MIN);
        assert_eq!(since(5, 3), 2);
        assert_eq!(apart(i64::MIN, i64::MAX), u64::MAX);
        assert_eq!(apart(3, 5), 2);
        assert_eq!(before(i64::MIN, 1), i64::MIN);
    }
}
