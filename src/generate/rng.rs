//! The generator's only source of randomness: xoshiro256** seeded through
//! splitmix64. Written here rather than taken from a crate so that the
//! sequence for a seed can never change under us with a dependency update:
//! the same seed must give the same log, byte for byte, forever and on
//! every platform (integer arithmetic only, no floats).

/// A seeded pseudo-random number generator (not for cryptography).
pub(crate) struct Rng {
    state: [u64; 4],
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
/// The alphabet of AWS access key ids after their four-letter prefix.
const KEY_ID: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // splitmix64 spreads any seed (0 included) over the whole state;
        // xoshiro must not start from all zeroes, which splitmix64 never
        // produces for four consecutive outputs.
        let mut s = seed;
        Rng {
            state: [
                splitmix64(&mut s),
                splitmix64(&mut s),
                splitmix64(&mut s),
                splitmix64(&mut s),
            ],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A number in `0..n` (0 when n is 0). Multiply-shift instead of `%`:
    /// no division, and the bias is below 2^-32 for the small n used here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `per_mille` times in a thousand.
    pub(crate) fn per_mille(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// One element of a non-empty slice (the generator's tables are
    /// constants, never empty).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// One element of a non-empty table of (weight, item), in proportion
    /// to the weights.
    pub(crate) fn weighted<T: Copy>(&mut self, items: &[(u32, T)]) -> T {
        let total: u64 = items.iter().map(|&(w, _)| u64::from(w)).sum();
        let mut ticket = self.below(total);
        for &(weight, item) in items {
            let weight = u64::from(weight);
            if ticket < weight {
                return item;
            }
            ticket -= weight;
        }
        items[items.len() - 1].1
    }

    /// A random version-4 UUID in its usual text form, as CloudTrail writes
    /// eventID and most requestIDs.
    pub(crate) fn uuid(&mut self) -> String {
        let (hi, lo) = (self.next_u64(), self.next_u64());
        // Version 4 and the RFC 4122 variant, as real ids carry.
        let hi = (hi & !0xF000) | 0x4000;
        let lo = (lo & !(0xC << 60)) | (0x8 << 60);
        let mut text = String::with_capacity(36);
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                text.push('-');
            }
            let word = if i < 16 { hi } else { lo };
            let nibble = (word >> (60 - 4 * (i % 16))) & 0xF;
            text.push(char::from(HEX_LOWER[nibble as usize]));
        }
        text
    }

    /// `len` characters drawn from `alphabet` (at most 64 symbols).
    fn chars(&mut self, alphabet: &[u8], len: usize) -> String {
        let mut text = String::with_capacity(len);
        let mut bits = 0u64;
        let mut left = 0;
        for _ in 0..len {
            // Six bits per character; a fresh word every ten characters.
            if left == 0 {
                bits = self.next_u64();
                left = 10;
            }
            let index = (bits & 63) as usize % alphabet.len();
            text.push(char::from(alphabet[index]));
            bits >>= 6;
            left -= 1;
        }
        text
    }

    /// Lowercase hex digits (log stream names, EC2 ids).
    pub(crate) fn hex(&mut self, len: usize) -> String {
        self.chars(HEX_LOWER, len)
    }

    /// Uppercase hex digits and letters, as S3 request ids look.
    pub(crate) fn hex_upper(&mut self, len: usize) -> String {
        self.chars(HEX_UPPER, len)
    }

    /// An access key id: `prefix` (AKIA, ASIA) and 16 characters.
    pub(crate) fn access_key(&mut self, prefix: &str) -> String {
        let mut key = String::with_capacity(20);
        key.push_str(prefix);
        key.push_str(&self.chars(KEY_ID, 16));
        key
    }

    /// Base64-looking text (S3 x-amz-id-2, session tokens).
    pub(crate) fn base64(&mut self, len: usize) -> String {
        self.chars(BASE64, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_sequence() {
        // Pinned: a change here changes every generated log.
        let mut rng = Rng::new(1);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        let mut again = Rng::new(1);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(first, {
            let mut other = Rng::new(2);
            (0..3).map(|_| other.next_u64()).collect::<Vec<_>>()
        });
    }

    #[test]
    fn ids_have_their_shapes() {
        let mut rng = Rng::new(7);
        let uuid = rng.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
        assert_eq!(uuid.matches('-').count(), 4);
        let key = rng.access_key("ASIA");
        assert_eq!(key.len(), 20);
        assert!(key.starts_with("ASIA"));
        assert!(rng.hex_upper(16).bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn below_and_weighted_stay_in_range() {
        let mut rng = Rng::new(3);
        assert!((0..1000).all(|_| rng.below(7) < 7));
        assert!((0..1000).all(|_| (5..=9).contains(&rng.range(5, 9))));
        let table = [(0, 'a'), (1, 'b'), (0, 'c')];
        assert!((0..100).all(|_| rng.weighted(&table) == 'b'));
    }
}
