//! Looking at text eight bytes at a time, for the scans that every row's
//! explanation goes through (is there anything to escape?). A byte-by-byte
//! scan of a 200-byte explanation was a fifth of a text replay's rendering.
//!
//! The tests are the classic "has a byte less than n" and "has a zero
//! byte" bit tricks: each gives a mask whose high bits say whether some
//! byte of the word matches, exactly (which byte is not needed: the caller
//! then looks byte by byte). Masks are OR-ed, so a word is one branch.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The words of `bytes` and where each starts; the tail (under 8 bytes)
/// is left for the caller, at `bytes.len() / 8 * 8`.
pub fn words(bytes: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
    bytes.chunks_exact(8).enumerate().map(|(i, chunk)| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        (i * 8, u64::from_le_bytes(word))
    })
}

/// Non-zero when some byte of `word` is below `n` (`n` at most 0x80).
#[inline]
pub fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH
}

/// Non-zero when some byte of `word` is `b`.
#[inline]
pub fn equal(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Non-zero when some byte of `word` is 0x80 or above (not ASCII).
#[inline]
pub fn high(word: u64) -> u64 {
    word & HIGH
}

#[cfg(test)]
mod tests {
    use super::{below, equal, high, words};

    #[test]
    fn each_test_finds_a_byte_at_any_place_and_only_then() {
        for place in 0..8 {
            for b in 0u8..=255 {
                let mut word = [b'a'; 8];
                word[place] = b;
                let w = u64::from_le_bytes(word);
                assert_eq!(below(w, 0x20) != 0, b < 0x20, "{b:#x} at {place}");
                assert_eq!(equal(w, b'"') != 0, b == b'"', "{b:#x} at {place}");
                assert_eq!(equal(w, 0x7f) != 0, b == 0x7f, "{b:#x} at {place}");
                assert_eq!(high(w) != 0, b >= 0x80, "{b:#x} at {place}");
            }
        }
        let starts: Vec<usize> = words(&[0; 20]).map(|(at, _)| at).collect();
        assert_eq!(starts, [0, 8]);
    }
}
