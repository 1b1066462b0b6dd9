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
    /// nextest's: bucket by a stable hash of the test name ([`shard_hash`]); a test's shard
    /// never depends on which other tests exist.
    Hash { shard: u64, total: u64 },
    /// nextest's `slice:K/N`: round-robin over the selected tests of all binaries in list
    /// order.
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

/// nextest's shard hash (fixed for the whole cargo-nextest 0.9 series): xxHash64 with seed 0
/// of the test name alone (not the binary id), so `hash:K/N` puts every test on the shard
/// nextest puts it on.
pub fn shard_hash(test: &str) -> u64 {
    xxhash_rust::xxh64::xxh64(test.as_bytes(), 0)
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
        // As nextest, ignored and other tests are dealt out independently.
        let mut slice_pos = [0u64; 2];
        let mut count_pos: std::collections::HashMap<(&str, bool), u64> = Default::default();
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
                        // A harness run as one case is listed by nextest under its binary id.
                        let name = if name.is_empty() { bin } else { name };
                        (shard_hash(name) % total != shard - 1).then_some(Skip::Partition)
                    }
                    Some(Partition::Count { shard, total }) => {
                        let p = count_pos.entry((bin, ignored)).or_default();
                        let mine = *p % total == shard - 1;
                        *p += 1;
                        (!mine).then_some(Skip::Partition)
                    }
                    Some(Partition::Slice { shard, total }) => {
                        let p = &mut slice_pos[usize::from(ignored)];
                        let mine = *p % total == shard - 1;
                        *p += 1;
                        (!mine).then_some(Skip::Partition)
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
    fn hash_is_nextests_xxh64() {
        // Reference values of XXH64 with seed 0 (the xxHash specification's test vectors),
        // and of test names computed with Python's `xxhash` package (an independent
        // implementation): `xxhash.xxh64_intdigest(name, seed=0)`.
        assert_eq!(shard_hash(""), 0xef46_db37_51d8_e999);
        assert_eq!(shard_hash("a"), 0xd24e_c4f1_a98c_6e5b);
        assert_eq!(shard_hash("abc"), 0x44bc_2cf5_ad77_0999);
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
