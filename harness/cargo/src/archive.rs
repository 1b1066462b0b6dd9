//! `cargo hatchery archive` and `test --archive-file`: nextest's archive format, so a build
//! made once runs on other machines (and nextest's own archives run here).
//!
//! The archive is a zstd-compressed tar holding, under `target/`:
//! - `nextest/binaries-metadata.json`: nextest-metadata's `BinaryListSummary` (binary ids,
//!   paths, package ids, kinds; the original target directory; build script `OUT_DIR`s,
//!   non-test binaries and linked paths, relative to the target directory);
//! - `nextest/cargo-metadata.json`: `cargo metadata --format-version 1` (with dependencies);
//! - the test binaries, the non-test binaries (`CARGO_BIN_EXE_*`), the build scripts' output
//!   directories and the linked paths, at their paths relative to the target directory.
//!
//! Running from an archive: it is extracted (to `--extract-to`, else a temporary directory),
//! paths under the original target directory are moved to `<extracted>/target`, and paths
//! under the original workspace root to `--workspace-remap` (where the sources are checked
//! out; the tests' working directories). Nothing is built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use camino::Utf8PathBuf;
use nextest_metadata::{
    BinaryListSummary, BuildPlatform, RustBinaryId, RustBuildMetaSummary, RustNonTestBinaryKind,
    RustNonTestBinarySummary, RustTestBinaryKind, RustTestBinarySummary,
};

use crate::cargo::{self, BuildOutput, Built, CargoOpts, Metadata, Target};

const BINARIES_JSON: &str = "target/nextest/binaries-metadata.json";
const CARGO_JSON: &str = "target/nextest/cargo-metadata.json";
/// Where nextest's archives keep the host toolchain's `libstd-*.so`.
const HOST_LIBDIR: &str = "target/nextest/libdirs/host";

/// The archived `cargo metadata` (with dependencies), remapped: filtersets read the package
/// graph from it instead of running cargo.
pub static ARCHIVED_METADATA: OnceLock<String> = OnceLock::new();

/// Options of `cargo hatchery archive`.
#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// Write the archive here (`.tar.zst`).
    #[arg(long, value_name = "PATH")]
    pub archive_file: PathBuf,
    /// zstd compression level.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "LEVEL",
        allow_hyphen_values = true
    )]
    pub zstd_level: i32,
    /// The nextest profile whose `archive.include` adds files (default: `$NEXTEST_PROFILE`,
    /// else `default`).
    #[arg(short = 'P', long, value_name = "NAME", env = "NEXTEST_PROFILE")]
    pub profile: Option<String>,
    /// nextest configuration file (default: `<workspace>/.config/nextest.toml`).
    #[arg(long, value_name = "PATH")]
    pub config_file: Option<PathBuf>,
    #[command(flatten)]
    pub cargo: CargoOpts,
}

/// Options of `test`/`list` that read an archive instead of building.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "Reuse a build")]
pub struct ReuseArgs {
    /// Run the tests of this archive (from `cargo hatchery archive` or `cargo nextest
    /// archive`) instead of building.
    #[arg(long, value_name = "PATH")]
    pub archive_file: Option<PathBuf>,
    /// Where the workspace's sources are on this machine (default: where they were when the
    /// archive was made).
    #[arg(long, value_name = "DIR", requires = "archive_file")]
    pub workspace_remap: Option<PathBuf>,
    /// Extract the archive here (default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR", requires = "archive_file")]
    pub extract_to: Option<PathBuf>,
    /// Allow --extract-to to name a directory that is not empty.
    #[arg(long, requires = "extract_to")]
    pub extract_overwrite: bool,
}

/// `cargo hatchery archive`.
pub fn archive_main(a: ArchiveArgs) -> u8 {
    let built = match cargo::build(&a.cargo) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                cargo::BuildError::Metadata(_) => crate::exit::METADATA_FAILED,
                cargo::BuildError::Build(_) => crate::exit::BUILD_FAILED,
            };
        }
    };
    match write(&a, &built) {
        Ok(n) => {
            eprintln!(
                "    Archived {n} files ({} test binaries) to {}",
                built.binaries.len(),
                a.archive_file.display()
            );
            crate::exit::OK
        }
        Err(e) => {
            eprintln!("error: archiving to {}: {e}", a.archive_file.display());
            crate::exit::USAGE
        }
    }
}

fn utf8(p: &Path) -> Result<Utf8PathBuf, String> {
    Utf8PathBuf::from_path_buf(p.to_path_buf())
        .map_err(|p| format!("path is not UTF-8: {}", p.display()))
}

/// `p` relative to `base`, as nextest records build outputs.
fn rel(p: &Path, base: &Path) -> Result<Utf8PathBuf, String> {
    let r = p.strip_prefix(base).map_err(|_| {
        format!(
            "{} is outside the target directory {}",
            p.display(),
            base.display()
        )
    })?;
    utf8(r)
}

/// nextest's kind of a test binary.
fn kind_of(kind: &str) -> RustTestBinaryKind {
    match kind {
        "test" => RustTestBinaryKind::TEST,
        "bin" => RustTestBinaryKind::BIN,
        "bench" => RustTestBinaryKind::BENCH,
        "example" => RustTestBinaryKind::EXAMPLE,
        "proc-macro" => RustTestBinaryKind::PROC_MACRO,
        _ => RustTestBinaryKind::LIB,
    }
}

/// The summary nextest writes as `binaries-metadata.json`.
pub fn summary(built: &Built) -> Result<BinaryListSummary, String> {
    let td = &built.target_dir;
    let ids: HashMap<&str, &str> = built
        .meta
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.id.as_str()))
        .collect();
    let mut rust_binaries = BTreeMap::new();
    let mut base = BTreeSet::new();
    for b in &built.binaries {
        // `<profile dir>/deps/<binary>`: the profile directory is a base output directory.
        if let Some(profile) = b.path.parent().and_then(Path::parent) {
            base.insert(rel(profile, td)?);
        }
        let id = RustBinaryId::new(&b.binary_id);
        rust_binaries.insert(
            id.clone(),
            RustTestBinarySummary {
                binary_id: id,
                binary_name: b.target_name.clone(),
                package_id: ids
                    .get(b.package.as_str())
                    .copied()
                    .unwrap_or("")
                    .to_owned(),
                kind: kind_of(&b.kind),
                binary_path: utf8(&b.path)?,
                build_platform: BuildPlatform::Target,
            },
        );
    }
    let mut non_test_binaries: BTreeMap<String, BTreeSet<RustNonTestBinarySummary>> =
        BTreeMap::new();
    for (pkg, bins) in &built.output.bins {
        for (name, path) in bins {
            non_test_binaries
                .entry(pkg.clone())
                .or_default()
                .insert(RustNonTestBinarySummary {
                    name: name.clone(),
                    kind: RustNonTestBinaryKind::BIN_EXE,
                    path: rel(path, td)?,
                    build_platform: Some(BuildPlatform::Target),
                });
        }
    }
    let mut build_script_out_dirs = BTreeMap::new();
    for (pkg, dir) in &built.output.out_dirs {
        build_script_out_dirs.insert(pkg.clone(), rel(dir, td)?);
    }
    let mut linked_paths = BTreeSet::new();
    for p in &built.output.linked_paths {
        if let Ok(r) = rel(p, td) {
            linked_paths.insert(r);
        }
    }
    let host = cargo::host_triple().unwrap_or_default();
    let platform = target_spec::summaries::PlatformSummary::new(host);
    Ok(BinaryListSummary {
        rust_build_meta: RustBuildMetaSummary {
            target_directory: utf8(td)?,
            build_directory: None,
            base_output_directories: base,
            non_test_binaries,
            build_script_out_dirs,
            build_script_info: None,
            linked_paths,
            platforms: None,
            target_platforms: vec![platform],
            target_platform: None,
        },
        rust_binaries,
    })
}

/// Writes the archive; returns the number of files in it.
fn write(a: &ArchiveArgs, built: &Built) -> Result<usize, String> {
    let summary = summary(built)?;
    let profile = crate::config::Profile::load(
        &built.meta.workspace_root,
        a.config_file.as_deref(),
        a.profile.as_deref().unwrap_or("default"),
    )?;
    let meta_json = crate::filter::metadata_json(&a.cargo)?;
    if let Some(parent) = a
        .archive_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let file =
        std::fs::File::create(&a.archive_file).map_err(|e| format!("cannot create it: {e}"))?;
    let enc = zstd::Encoder::new(file, a.zstd_level).map_err(|e| e.to_string())?;
    let mut tar = tar::Builder::new(enc);
    tar.follow_symlinks(true);
    let io = |e: std::io::Error| e.to_string();
    let mut n = 0;
    let add_bytes = |tar: &mut tar::Builder<_>, name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        h.set_cksum();
        tar.append_data(&mut h, name, bytes).map_err(io)
    };
    let bjson = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
    add_bytes(&mut tar, BINARIES_JSON, &bjson)?;
    add_bytes(&mut tar, CARGO_JSON, meta_json.as_bytes())?;
    n += 2;
    let td = &built.target_dir;
    let mut files: BTreeSet<PathBuf> = built.binaries.iter().map(|b| b.path.clone()).collect();
    for bins in built.output.bins.values() {
        files.extend(bins.values().cloned());
    }
    for f in &files {
        let name = Path::new("target").join(rel(f, td)?);
        tar.append_path_with_name(f, &name)
            .map_err(|e| format!("{}: {e}", f.display()))?;
        n += 1;
    }
    let dirs = summary
        .rust_build_meta
        .build_script_out_dirs
        .values()
        .chain(&summary.rust_build_meta.linked_paths);
    for d in dirs {
        let src = td.join(d);
        if src.is_dir() {
            tar.append_dir_all(Path::new("target").join(d), &src)
                .map_err(|e| format!("{}: {e}", src.display()))?;
            n += walk_count(&src);
        }
    }
    // The profile's `archive.include`: more files below the target directory, as nextest.
    for inc in &profile.archive_include {
        let src = td.join(&inc.path);
        let name = Path::new("target").join(&inc.path);
        match std::fs::symlink_metadata(&src) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let what = format!("archive.include path {} does not exist", src.display());
                match inc.on_missing {
                    crate::config::OnMissing::Error => return Err(what),
                    crate::config::OnMissing::Warn => eprintln!("warning: {what}"),
                    crate::config::OnMissing::Ignore => {}
                }
            }
            Err(e) => return Err(format!("{}: {e}", src.display())),
            Ok(m) if m.is_dir() => {
                if inc.depth == 0 {
                    eprintln!(
                        "warning: archive.include directory {} has depth 0: nothing of it is \
                         archived",
                        src.display()
                    );
                }
                n += append_dir_to_depth(&mut tar, &src, &name, inc.depth)?;
            }
            Ok(_) => {
                tar.append_path_with_name(&src, &name)
                    .map_err(|e| format!("{}: {e}", src.display()))?;
                n += 1;
            }
        }
    }
    // The toolchain's standard library, for tests built with `-C prefer-dynamic` on a
    // machine that has another toolchain or none (nextest's place for it).
    let libdir = built.output.toolchain_libdir.as_deref();
    if let Some(lib) = libdir.and_then(cargo::std_dylib) {
        let file = lib.file_name().unwrap_or_default();
        tar.append_path_with_name(&lib, Path::new(HOST_LIBDIR).join(file))
            .map_err(|e| format!("{}: {e}", lib.display()))?;
        n += 1;
    }
    tar.into_inner()
        .and_then(|enc| enc.finish())
        .map_err(|e| format!("finishing: {e}"))?;
    Ok(n)
}

/// Adds the files of `dir` as `name/...`, `depth` levels of directories deep (1: its own
/// files only); returns how many files went in.
fn append_dir_to_depth<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    name: &Path,
    depth: u32,
) -> Result<usize, String> {
    if depth == 0 {
        return Ok(0);
    }
    let err = |e: std::io::Error| format!("{}: {e}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(err)?
        .collect::<Result<_, _>>()
        .map_err(err)?;
    entries.sort_by_key(|e| e.file_name());
    let mut n = 0;
    for e in entries {
        let (src, to) = (e.path(), name.join(e.file_name()));
        if src.is_dir() {
            n += append_dir_to_depth(tar, &src, &to, depth - 1)?;
        } else {
            tar.append_path_with_name(&src, &to)
                .map_err(|e| format!("{}: {e}", src.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk_count(&p)
                } else {
                    1
                }
            })
            .sum()
    })
}

/// An extracted archive; a temporary extraction directory is removed on drop.
pub struct Extracted {
    pub built: Built,
    pub temp: Option<tempfile::TempDir>,
}

/// Replaces the prefix `from` of `p` with `to` (paths elsewhere are kept).
fn remap(p: &Path, from: &Path, to: &Path) -> PathBuf {
    p.strip_prefix(from)
        .map_or_else(|_| p.to_path_buf(), |r| to.join(r))
}

/// Extracts an archive and describes its test binaries as a build would.
pub fn load(r: &ReuseArgs) -> Result<Extracted, String> {
    let file = r.archive_file.as_ref().expect("archive_file");
    let (dir, temp) = match &r.extract_to {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            let empty = std::fs::read_dir(d).map_or(true, |mut i| i.next().is_none());
            if !empty && !r.extract_overwrite {
                return Err(format!(
                    "--extract-to {} is not empty (add --extract-overwrite)",
                    d.display()
                ));
            }
            (std::path::absolute(d).map_err(|e| e.to_string())?, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("hatchery-archive-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    // The cases run under other uids: they must reach the binaries.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let dec = zstd::Decoder::new(f).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut ar = tar::Archive::new(dec);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    ar.unpack(&dir)
        .map_err(|e| format!("extracting {}: {e}", file.display()))?;
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| {
            format!(
                "{}: no {name} in it ({e}): not a nextest archive",
                file.display()
            )
        })
    };
    let summary: BinaryListSummary =
        serde_json::from_str(&read(BINARIES_JSON)?).map_err(|e| format!("{BINARIES_JSON}: {e}"))?;
    let meta_text = read(CARGO_JSON)?;
    let mut meta: Metadata =
        serde_json::from_str(&meta_text).map_err(|e| format!("{CARGO_JSON}: {e}"))?;
    let old_target = summary
        .rust_build_meta
        .target_directory
        .as_std_path()
        .to_path_buf();
    let new_target = dir.join("target");
    let old_ws = meta.workspace_root.clone();
    let new_ws = match &r.workspace_remap {
        Some(w) => std::path::absolute(w).map_err(|e| e.to_string())?,
        None => old_ws.clone(),
    };
    if !new_ws.is_dir() {
        return Err(format!(
            "the workspace {} is not here: check the sources out and pass --workspace-remap DIR",
            new_ws.display()
        ));
    }
    // Filtersets read the package graph from the archive, with the remapped workspace.
    let old_ws_s = old_ws.to_string_lossy().into_owned();
    let new_ws_s = new_ws.to_string_lossy().into_owned();
    let _ = ARCHIVED_METADATA.set(meta_text.replace(&old_ws_s, &new_ws_s));
    meta.workspace_root = new_ws.clone();
    meta.target_directory = new_target.clone();
    let workspace_ids: BTreeSet<String> = summary
        .rust_binaries
        .values()
        .map(|b| b.package_id.clone())
        .collect();
    for p in &mut meta.packages {
        p.manifest_path = remap(&p.manifest_path, &old_ws, &new_ws);
    }
    meta.packages.retain(|p| workspace_ids.contains(&p.id));

    let mut output = BuildOutput {
        success: Some(true),
        ..BuildOutput::default()
    };
    for (pkg, bins) in &summary.rust_build_meta.non_test_binaries {
        for b in bins
            .iter()
            .filter(|b| b.kind == RustNonTestBinaryKind::BIN_EXE)
        {
            output
                .bins
                .entry(pkg.clone())
                .or_default()
                .insert(b.name.clone(), new_target.join(&b.path));
        }
    }
    for (pkg, d) in &summary.rust_build_meta.build_script_out_dirs {
        output.out_dirs.insert(pkg.clone(), new_target.join(d));
    }
    for p in &summary.rust_build_meta.linked_paths {
        output.linked_paths.insert(new_target.join(p));
    }
    // The archived standard library, else this machine's.
    let std_dir = dir.join(HOST_LIBDIR);
    let toolchain = match std_dir.is_dir() {
        true => Some(std_dir),
        false => cargo::host_libdir(),
    };
    output.toolchain_libdir = toolchain;
    for b in summary.rust_binaries.values() {
        let kind = b.kind.as_str().to_owned();
        let target = Target {
            name: b.binary_name.clone(),
            kind: vec![kind],
        };
        let path = remap(b.binary_path.as_std_path(), &old_target, &new_target);
        output.tests.push((b.package_id.clone(), target, path));
    }
    let binaries = cargo::describe(&meta, &output, &new_target);
    Ok(Extracted {
        built: Built {
            meta,
            binaries,
            output,
            target_dir: new_target,
        },
        temp,
    })
}
