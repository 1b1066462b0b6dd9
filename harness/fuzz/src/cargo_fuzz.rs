//! cargo-fuzz targets by name: the crate's `fuzz/` directory found the way cargo-fuzz finds
//! it, the target built the way `cargo fuzz build TARGET` builds it (cargo-fuzz 0.13.1,
//! `src/project.rs`: release with line tables, debug assertions, SanitizerCoverage flags,
//! `--cfg fuzzing`, AddressSanitizer, one codegen unit, for the host triple), and its corpus
//! and artifacts in cargo-fuzz's layout (`fuzz/corpus/<target>/`, `fuzz/artifacts/<target>/`).
//!
//! The build runs outside the sandbox, as the user running hatchery, exactly as `cargo fuzz
//! build` would: it needs the network (crates.io), the user's cargo home and toolchains, and
//! writes the crate's target directory. Build scripts and proc macros therefore run with the
//! user's rights, as with cargo-fuzz; only the target's executions are sandboxed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which sanitizer the target is built with (cargo-fuzz's `--sanitizer`, default address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sanitizer {
    Address,
    None,
}

/// A crate's fuzz directory (the one holding the fuzz targets' `Cargo.toml`).
#[derive(Debug, Clone)]
pub struct FuzzDir {
    pub dir: PathBuf,
}

impl FuzzDir {
    /// `fuzz_dir` when given, else the first of `start` and its ancestors that has a
    /// `fuzz/Cargo.toml` (or is itself a fuzz crate: `[package.metadata] cargo-fuzz = true`).
    pub fn find(fuzz_dir: Option<&Path>, start: &Path) -> Result<FuzzDir, String> {
        if let Some(d) = fuzz_dir {
            let d = std::path::absolute(d).map_err(|e| format!("{}: {e}", d.display()))?;
            if !d.join("Cargo.toml").is_file() {
                return Err(format!(
                    "{}: no Cargo.toml in the fuzz directory",
                    d.display()
                ));
            }
            return Ok(FuzzDir { dir: d });
        }
        let start = std::path::absolute(start).map_err(|e| e.to_string())?;
        for d in start.ancestors() {
            if is_fuzz_crate(&d.join("Cargo.toml")) {
                return Ok(FuzzDir {
                    dir: d.to_path_buf(),
                });
            }
            if d.join("fuzz/Cargo.toml").is_file() {
                return Ok(FuzzDir {
                    dir: d.join("fuzz"),
                });
            }
        }
        Err(format!(
            "no fuzz directory: neither {} nor a parent has fuzz/Cargo.toml (cargo fuzz init \
             makes one; or pass --fuzz-dir)",
            start.display()
        ))
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join("Cargo.toml")
    }

    /// `fuzz/corpus/<target>` (cargo-fuzz's layout).
    pub fn corpus(&self, target: &str) -> PathBuf {
        self.dir.join("corpus").join(target)
    }

    /// `fuzz/artifacts/<target>` (cargo-fuzz's layout).
    pub fn artifacts(&self, target: &str) -> PathBuf {
        self.dir.join("artifacts").join(target)
    }

    /// The fuzz targets: the `[[bin]]` targets of the fuzz crate (from `cargo metadata`).
    pub fn targets(&self) -> Result<Vec<String>, String> {
        let md = self.metadata()?;
        let mut names: Vec<String> = md["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| Path::new(p["manifest_path"].as_str().unwrap_or("")) == self.manifest())
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    fn metadata(&self) -> Result<serde_json::Value, String> {
        let out = Command::new("cargo")
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--manifest-path",
            ])
            .arg(self.manifest())
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata failed on {}: {}",
                self.manifest().display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))
    }

    /// Builds `target` as `cargo fuzz build TARGET` does and returns the binary
    /// (`<target dir>/<host triple>/release/<target>`). Cargo's output goes to our stderr.
    pub fn build(&self, target: &str, sanitizer: Sanitizer) -> Result<PathBuf, String> {
        let targets = self.targets()?;
        if !targets.iter().any(|t| t == target) {
            return Err(format!(
                "no fuzz target {target:?} in {} (targets: {})",
                self.manifest().display(),
                if targets.is_empty() {
                    "none".to_owned()
                } else {
                    targets.join(", ")
                }
            ));
        }
        let toolchain = toolchain(sanitizer)?;
        let triple = host_triple(toolchain.as_deref())?;
        let mut cmd = Command::new("cargo");
        if let Some(t) = &toolchain {
            cmd.env("RUSTUP_TOOLCHAIN", t);
        }
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(self.manifest())
            .args(["--target", &triple])
            .args([
                "--release",
                "--config",
                "profile.release.debug=\"line-tables-only\"",
            ])
            .args(["--bin", target])
            .env("RUSTFLAGS", rustflags(sanitizer, &triple));
        eprintln!(
            "hatchery fuzz: building {target} (as cargo fuzz build does){}",
            toolchain
                .as_ref()
                .map(|t| format!(" with the {t} toolchain"))
                .unwrap_or_default()
        );
        let st = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !st.success() {
            return Err(format!("building fuzz target {target} failed ({st})"));
        }
        let md = self.metadata()?;
        let tdir = md["target_directory"]
            .as_str()
            .ok_or("cargo metadata has no target_directory")?;
        let bin = Path::new(tdir).join(&triple).join("release").join(target);
        if !bin.is_file() {
            return Err(format!(
                "cargo built {target} but {} is missing",
                bin.display()
            ));
        }
        Ok(bin)
    }
}

fn is_fuzz_crate(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest).is_ok_and(|s| {
        s.parse::<toml::Table>().is_ok_and(|t| {
            t.get("package")
                .and_then(|p| p.get("metadata"))
                .and_then(|m| m.get("cargo-fuzz"))
                .and_then(toml::Value::as_bool)
                == Some(true)
        })
    })
}

/// cargo-fuzz's RUSTFLAGS for `cargo fuzz build` with its defaults (release, debug
/// assertions, trace-compares, branch folding disabled, `--cfg fuzzing`), then the user's
/// `RUSTFLAGS` (theirs win, as with cargo-fuzz).
pub fn rustflags(sanitizer: Sanitizer, triple: &str) -> String {
    let mut f: Vec<&str> = vec![
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "--cfg",
        "fuzzing",
        "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
    ];
    if sanitizer == Sanitizer::Address {
        f.push("-Zsanitizer=address");
    }
    if triple.contains("-linux-") {
        f.push("-Cllvm-args=-sanitizer-coverage-stack-depth");
    }
    f.push("-Cdebug-assertions");
    f.push("-Ccodegen-units=1");
    let mut s = f.join(" ");
    if let Ok(user) = std::env::var("RUSTFLAGS") {
        s.push(' ');
        s.push_str(&user);
    }
    s
}

/// The toolchain to build with: none (the current one) when it is nightly or no sanitizer
/// is wanted, `nightly` when rustup has it (`-Zsanitizer` needs a nightly compiler).
fn toolchain(sanitizer: Sanitizer) -> Result<Option<String>, String> {
    if sanitizer == Sanitizer::None || rustc_vv(None)?.contains("-nightly") {
        return Ok(None);
    }
    match rustc_vv(Some("nightly")) {
        Ok(v) if v.contains("-nightly") => Ok(Some("nightly".into())),
        _ => Err(
            "building with AddressSanitizer needs a nightly Rust toolchain \
             (rustup toolchain install nightly), or pass --sanitizer none"
                .into(),
        ),
    }
}

fn rustc_vv(toolchain: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("rustc");
    cmd.arg("-vV");
    if let Some(t) = toolchain {
        cmd.env("RUSTUP_TOOLCHAIN", t);
    }
    let out = cmd.output().map_err(|e| format!("cannot run rustc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustc -vV failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn host_triple(toolchain: Option<&str>) -> Result<String, String> {
    rustc_vv(toolchain)?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV names no host".into())
}

/// cargo-fuzz's default `ASAN_OPTIONS` for running (`detect_odr_violation=0`), after the
/// user's own.
pub fn asan_options(user: Option<OsString>) -> OsString {
    let mut s = user.unwrap_or_default();
    if !s.is_empty() {
        s.push(":");
    }
    s.push("detect_odr_violation=0");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_cargo_fuzz() {
        let f = rustflags(Sanitizer::Address, "x86_64-unknown-linux-gnu");
        for want in [
            "--cfg fuzzing",
            "-Zsanitizer=address",
            "-Cdebug-assertions",
            "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
            "-Cllvm-args=-sanitizer-coverage-stack-depth",
            "-Ccodegen-units=1",
        ] {
            assert!(f.contains(want), "{want} missing from {f}");
        }
        assert!(!rustflags(Sanitizer::None, "x").contains("sanitizer=address"));
        assert_eq!(asan_options(None), "detect_odr_violation=0");
        assert_eq!(
            asan_options(Some("detect_leaks=0".into())),
            "detect_leaks=0:detect_odr_violation=0"
        );
    }

    #[test]
    fn finds_the_fuzz_directory_upwards() {
        let t = std::env::temp_dir().join(format!("hatchery-cf-{}", std::process::id()));
        let deep = t.join("src/a");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(t.join("fuzz")).unwrap();
        std::fs::write(t.join("fuzz/Cargo.toml"), "[package]\nname = \"x-fuzz\"\n").unwrap();
        let f = FuzzDir::find(None, &deep).unwrap();
        assert_eq!(f.dir, t.join("fuzz"));
        assert_eq!(f.corpus("t1"), t.join("fuzz/corpus/t1"));
        assert_eq!(f.artifacts("t1"), t.join("fuzz/artifacts/t1"));
        // Inside the fuzz crate itself (cargo-fuzz marks it in its manifest).
        std::fs::write(
            t.join("fuzz/Cargo.toml"),
            "[package]\nname = \"x-fuzz\"\n[package.metadata]\ncargo-fuzz = true\n",
        )
        .unwrap();
        std::fs::create_dir_all(t.join("fuzz/fuzz_targets")).unwrap();
        let f = FuzzDir::find(None, &t.join("fuzz/fuzz_targets")).unwrap();
        assert_eq!(f.dir, t.join("fuzz"));
        let _ = std::fs::remove_dir_all(&t);
    }
}
