//! Embeds the hostile corpus (corpora/hostile) so `hatchery selftest` works from any
//! directory, without the source tree.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/hostile");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files: Vec<_> = std::fs::read_dir(root.join("src"))
        .expect("corpora/hostile/src")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out =
        String::from("/// (file name, contents) of every source in corpora/hostile/src.\n");
    out.push_str("pub const SOURCES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            f.canonicalize().unwrap()
        );
    }
    out.push_str("];\n");
    let manifest = root
        .join("manifest.json")
        .canonicalize()
        .expect("corpora/hostile/manifest.json");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let _ = writeln!(
        out,
        "/// corpora/hostile/manifest.json\npub const MANIFEST: &str = include_str!({manifest:?});"
    );
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("hostile_corpus.rs");
    std::fs::write(dest, out).unwrap();
}
