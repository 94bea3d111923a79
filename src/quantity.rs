//! Memory quantities as users write them for Flink and Kubernetes: `1g`, `512m`, `2Gi`,
//! `1536mb`, `1073741824`.
//!
//! Single-letter and two-letter units follow Flink's `MemorySize`: case-insensitive and
//! binary (`m` = `mb` = MiB, `g` = GiB), so `512m` is 512 MiB, as in Flink, not the
//! Kubernetes milli-unit. Kubernetes' binary suffixes `Ki`, `Mi`, `Gi`, `Ti` mean the
//! same as Flink's. A plain number is bytes. Fractions are allowed (`1.5g`).

use std::fmt;

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
pub const TIB: u64 = 1024 * GIB;

impl Bytes {
    /// Parses a quantity; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Bytes, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let unit = unit.trim();
        let invalid = || {
            format!(
                "`{text}` is not a memory quantity (write a number with a unit: 512m, 1g, 2Gi, 1536mb)"
            )
        };
        if number.is_empty() || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let factor = match unit.to_ascii_lowercase().as_str() {
            "" | "b" | "bytes" => 1,
            "k" | "kb" | "ki" | "kib" => KIB,
            "m" | "mb" | "mi" | "mib" => MIB,
            "g" | "gb" | "gi" | "gib" => GIB,
            "t" | "tb" | "ti" | "tib" => TIB,
            _ => return Err(invalid()),
        };
        let bytes = value * factor as f64;
        if !bytes.is_finite() || bytes > u64::MAX as f64 {
            return Err(format!("`{text}` is too large"));
        }
        Ok(Bytes(bytes.round() as u64))
    }

    /// The size in whole MiB, rounded down (Flink's `…memory.process.size: NNNm`).
    pub fn mebibytes(self) -> u64 {
        self.0 / MIB
    }
}

impl fmt::Display for Bytes {
    /// The largest binary unit that divides the size exactly, in Flink's spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [("t", TIB), ("g", GIB), ("m", MIB), ("k", KIB)] {
            if b >= size && b % size == 0 {
                return write!(f, "{}{unit}", b / size);
            }
        }
        write!(f, "{b}b")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_and_kubernetes_spellings() {
        assert_eq!(Bytes::parse("1g"), Ok(Bytes(GIB)));
        assert_eq!(Bytes::parse("1G"), Ok(Bytes(GIB)));
        assert_eq!(Bytes::parse("512m"), Ok(Bytes(512 * MIB)));
        assert_eq!(Bytes::parse("2Gi"), Ok(Bytes(2 * GIB)));
        assert_eq!(Bytes::parse("1536mb"), Ok(Bytes(1536 * MIB)));
        assert_eq!(Bytes::parse("1.5g"), Ok(Bytes(1536 * MIB)));
        assert_eq!(Bytes::parse("1024"), Ok(Bytes(1024)));
        assert_eq!(Bytes::parse("64 kb"), Ok(Bytes(64 * KIB)));
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for bad in ["", "g", "1x", "1.2.3g", "-1g", "one gig", "1e3g"] {
            let err = Bytes::parse(bad).unwrap_err();
            assert!(err.contains("not a memory quantity"), "{bad}: {err}");
        }
        assert!(Bytes::parse("99999999999999999999t")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Bytes(GIB).to_string(), "1g");
        assert_eq!(Bytes(1536 * MIB).to_string(), "1536m");
        assert_eq!(Bytes(1000).to_string(), "1000b");
        assert_eq!(Bytes(1536 * MIB).mebibytes(), 1536);
    }
}
