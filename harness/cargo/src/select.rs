//! Which listed tests run: name filters, `--skip`, `--run-ignored`, `--partition`.

use std::str::FromStr;

/// `--run-ignored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RunIgnored {
    /// Run only tests that are not `#[ignore]`d.
    #[default]
    Default,
    /// Run only the ignored tests.
    Only,
    /// Run both.
    All,
}

/// `--partition hash:K/N`, `count:K/N` or `slice:K/N` (K is 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// Bucket by a stable hash of binary id and test name: a test's shard never depends on
    /// which other tests exist.
    Hash { shard: u64, total: u64 },
    /// Round-robin over the selected tests in list order.
    Slice { shard: u64, total: u64 },
    /// nextest's `count:K/N`: round-robin within each test binary.
    Count { shard: u64, total: u64 },
}

impl FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid partition `{s}`: expected hash:K/N, count:K/N or slice:K/N with 1 <= K <= N")
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let (k, n) = rest.split_once('/').ok_or_else(bad)?;
        let shard: u64 = k.trim().parse().map_err(|_| bad())?;
        let total: u64 = n.trim().parse().map_err(|_| bad())?;
        if shard == 0 || total == 0 || shard > total {
            return Err(bad());
        }
        match kind {
            "hash" => Ok(Partition::Hash { shard, total }),
            "slice" => Ok(Partition::Slice { shard, total }),
            "count" => Ok(Partition::Count { shard, total }),
            _ => Err(bad()),
        }
    }
}

/// FNV-1a, 64 bit: stable across runs, machines and versions (unlike `DefaultHasher`).
pub fn stable_hash(binary_id: &str, test: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in binary_id
        .bytes()
        .chain(std::iter::once(0u8))
        .chain(test.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Name selection, applied in this order: ignored state, filters, skips, partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Substring filters (any match selects); none selects everything.
    pub filters: Vec<String>,
    /// Filters must equal the test name.
    pub exact: bool,
    /// Substring patterns that deselect (exact with `exact`).
    pub skip: Vec<String>,
    pub run_ignored: RunIgnored,
    pub partition: Option<Partition>,
}

/// Why a listed test does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Ignored,
    /// By name filters (`FILTERS`, `--skip`, `--exact`).
    Filtered,
    /// By the `-E` filtersets.
    Expression,
    /// By the profile's `default-filter`.
    DefaultFilter,
    Partition,
}

impl Selection {
    /// Decides for every `(binary_id, name, ignored)` in list order.
    pub fn apply(&self, tests: &[(&str, &str, bool)]) -> Vec<Option<Skip>> {
        self.apply_with(tests, &|_| None)
    }

    /// Like [`Selection::apply`], with `refused(i)` (filtersets: `Expression`, `DefaultFilter`)
    /// deciding too, after name filters and before partitioning.
    pub fn apply_with(
        &self,
        tests: &[(&str, &str, bool)],
        refused: &dyn Fn(usize) -> Option<Skip>,
    ) -> Vec<Option<Skip>> {
        let matches = |pat: &str, name: &str| {
            if self.exact {
                name == pat
            } else {
                name.contains(pat)
            }
        };
        let mut out = Vec::with_capacity(tests.len());
        let mut slice_pos = 0u64;
        let mut count_pos: std::collections::HashMap<&str, u64> = Default::default();
        for (i, &(bin, name, ignored)) in tests.iter().enumerate() {
            let d = if match self.run_ignored {
                RunIgnored::Default => ignored,
                RunIgnored::Only => !ignored,
                RunIgnored::All => false,
            } {
                Some(Skip::Ignored)
            } else if !self.filters.is_empty() && !self.filters.iter().any(|f| matches(f, name))
                || self.skip.iter().any(|s| matches(s, name))
            {
                Some(Skip::Filtered)
            } else if let Some(why) = refused(i) {
                Some(why)
            } else {
                match self.partition {
                    None => None,
                    Some(Partition::Hash { shard, total }) => {
                        (stable_hash(bin, name) % total != shard - 1).then_some(Skip::Partition)
                    }
                    Some(Partition::Count { shard, total }) => {
                        let p = count_pos.entry(bin).or_default();
                        let mine = *p % total == shard - 1;
                        *p += 1;
                        (!mine).then_some(Skip::Partition)
                    }
                    Some(Partition::Slice { shard, total }) => {
                        let p = slice_pos;
                        slice_pos += 1;
                        (p % total != shard - 1).then_some(Skip::Partition)
                    }
                }
            };
            out.push(d);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse() {
        assert_eq!(
            "hash:1/3".parse::<Partition>().unwrap(),
            Partition::Hash { shard: 1, total: 3 }
        );
        assert_eq!(
            "slice:2/2".parse::<Partition>().unwrap(),
            Partition::Slice { shard: 2, total: 2 }
        );
        for bad in [
            "hash:0/3",
            "hash:4/3",
            "hash:1/0",
            "count:0/2",
            "hash:1",
            "1/2",
            "hash:a/b",
        ] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_is_stable() {
        // Pinned values: changing the hash would move tests between CI shards.
        assert_eq!(stable_hash("", ""), 0xaf63_bd4c_8601_b7df);
        assert_eq!(stable_hash("a", "b"), stable_hash("a", "b"));
        assert_ne!(stable_hash("a", "b"), stable_hash("ab", ""));
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("mod::t{i:03}")).collect()
    }

    #[test]
    fn hash_shards_cover_everything_once_and_do_not_depend_on_other_tests() {
        let all = names(200);
        let tests: Vec<(&str, &str, bool)> =
            all.iter().map(|n| ("bin", n.as_str(), false)).collect();
        let mut seen = vec![0; tests.len()];
        for k in 1..=3 {
            let sel = Selection {
                partition: Some(Partition::Hash { shard: k, total: 3 }),
                ..Default::default()
            };
            let d = sel.apply(&tests);
            let chosen = d.iter().filter(|x| x.is_none()).count();
            assert!(chosen > 30, "shard {k} has only {chosen} of 200");
            for (i, x) in d.iter().enumerate() {
                if x.is_none() {
                    seen[i] += 1;
                }
            }
            // Removing tests does not move the others.
            let half: Vec<_> = tests.iter().step_by(2).cloned().collect();
            let dh = sel.apply(&half);
            for (j, x) in dh.iter().enumerate() {
                assert_eq!(*x, d[j * 2]);
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn filters_skips_and_ignored() {
        let tests = [
            ("b", "a::one", false),
            ("b", "a::two", false),
            ("b", "c::one", true),
            ("b", "c::three", false),
        ];
        let sel = Selection {
            filters: vec!["one".into(), "three".into()],
            skip: vec!["c::three".into()],
            ..Default::default()
        };
        assert_eq!(
            sel.apply(&tests),
            vec![
                None,
                Some(Skip::Filtered),
                Some(Skip::Ignored),
                Some(Skip::Filtered)
            ]
        );
        let only = Selection {
            run_ignored: RunIgnored::Only,
            ..Default::default()
        };
        assert_eq!(
            only.apply(&tests),
            vec![
                Some(Skip::Ignored),
                Some(Skip::Ignored),
                None,
                Some(Skip::Ignored)
            ]
        );
        let exact = Selection {
            filters: vec!["a::one".into(), "one".into()],
            exact: true,
            run_ignored: RunIgnored::All,
            ..Default::default()
        };
        assert_eq!(
            exact.apply(&tests),
            vec![
                None,
                Some(Skip::Filtered),
                Some(Skip::Filtered),
                Some(Skip::Filtered)
            ]
        );
        let slice = Selection {
            partition: Some(Partition::Slice { shard: 2, total: 2 }),
            ..Default::default()
        };
        assert_eq!(
            slice.apply(&tests),
            vec![
                Some(Skip::Partition),
                None,
                Some(Skip::Ignored),
                Some(Skip::Partition)
            ]
        );
    }

    #[test]
    fn count_partitions_go_round_robin_within_each_binary() {
        let tests = [
            ("a", "t1", false),
            ("a", "t2", false),
            ("a", "t3", false),
            ("b", "u1", false),
            ("b", "u2", false),
        ];
        let sel = |shard| Selection {
            filters: vec![],
            exact: false,
            skip: vec![],
            run_ignored: RunIgnored::Default,
            partition: Some(Partition::Count { shard, total: 2 }),
        };
        let runs = |shard| -> Vec<&str> {
            sel(shard)
                .apply(&tests)
                .iter()
                .zip(&tests)
                .filter(|(d, _)| d.is_none())
                .map(|(_, t)| t.1)
                .collect()
        };
        assert_eq!(runs(1), ["t1", "t3", "u1"]);
        assert_eq!(runs(2), ["t2", "u2"]);
    }
}
