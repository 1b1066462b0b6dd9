//! The language table: how to compile and run a submission (or a validator) of each
//! language, as command templates. Users extend or override it with a TOML or JSON file:
//!
//! ```toml
//! [languages.go]
//! extensions = ["go"]
//! compile = "go build -o {binary} {source}"   # a string (split like a shell) or a list
//! run = "{binary}"
//! env = { GOCACHE = "/tmp/go-cache" }
//! ```
//!
//! Placeholders: `{source}` (the main source file), `{sources}` (every source file, as
//! separate arguments; only as a whole argument), `{binary}` (the executable to produce),
//! `{dir}` (the build directory), `{memory_mib}` (the run's memory limit), `{mainclass}` (the
//! main source's file name without its extension: Java's main class).
//!
//! Built in: C, C++, Rust, Python 3, Python 2 (a `.py` file whose first line is a `#!` line
//! naming `python2`, as Kattis decides), Java, JavaScript (Node.js) and Bash (`.sh`,
//! `.bash`); and the rest of the format's table (Go, Haskell, Kotlin, C#, OCaml, Pascal,
//! Fortran, D, Ruby, Prolog, Perl, PHP, Lua, Common Lisp, PyPy) where its
//! toolchain is installed. A language whose
//! compiler or interpreter is not installed is a judge error that names the missing program;
//! `--verify-submissions` skips such submissions and says why (as verifyproblem does).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// One language.
#[derive(Debug, Clone, PartialEq)]
pub struct Language {
    pub name: String,
    /// File name extensions without the dot.
    pub extensions: Vec<String>,
    /// Compile command template; None for interpreted languages that need no step.
    pub compile: Option<Vec<String>>,
    /// Run command template.
    pub run: Vec<String>,
    /// Extra environment variables for compiling and running.
    pub env: Vec<(String, String)>,
}

/// A language as `--languages` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LanguageInfo {
    pub name: String,
    pub extensions: Vec<String>,
    /// The compiler, or the interpreter of a language without a compile step.
    pub program: String,
    pub available: bool,
    pub path: Option<String>,
    pub version: Option<String>,
}

impl Language {
    /// The compiler, or the interpreter of a language without a compile step.
    pub fn program(&self) -> &str {
        self.compile
            .as_ref()
            .and_then(|c| c.first())
            .unwrap_or(&self.run[0])
    }

    /// When the language's program is a name (not a placeholder) that is not installed
    /// here: that name.
    pub fn missing_program(&self) -> Option<&str> {
        let p = self.program();
        (!p.contains('{') && find_on_path(p).is_none()).then_some(p)
    }
}

/// The table of known languages.
#[derive(Debug, Clone)]
pub struct LanguageTable {
    langs: Vec<Language>,
}

fn words(s: &[&str]) -> Vec<String> {
    s.iter().map(|w| (*w).to_owned()).collect()
}

const PLACEHOLDERS: &[&str] = &[
    "{source}",
    "{sources}",
    "{binary}",
    "{dir}",
    "{memory_mib}",
    "{mainclass}",
];

impl LanguageTable {
    /// C, C++, Rust, Python 3 and 2, Java, JavaScript.
    pub fn builtin() -> LanguageTable {
        let lang = |name: &str, ext: &[&str], compile: Option<&[&str]>, run: &[&str]| Language {
            name: name.into(),
            extensions: words(ext),
            compile: compile.map(words),
            run: words(run),
            env: Vec::new(),
        };
        let mut t = LanguageTable {
            langs: vec![
                lang(
                    "c",
                    &["c"],
                    Some(&[
                        "gcc",
                        "-x",
                        "c",
                        "-std=gnu17",
                        "-O2",
                        "-pipe",
                        "-o",
                        "{binary}",
                        "{sources}",
                        "-lm",
                    ]),
                    &["{binary}"],
                ),
                lang(
                    "cpp",
                    &["cpp", "cc", "cxx", "c++", "C"],
                    Some(&[
                        "g++",
                        "-x",
                        "c++",
                        "-std=gnu++17",
                        "-O2",
                        "-pipe",
                        "-o",
                        "{binary}",
                        "{sources}",
                    ]),
                    &["{binary}"],
                ),
                lang(
                    "rust",
                    &["rs"],
                    Some(&[
                        "rustc",
                        "-O",
                        "--edition",
                        "2021",
                        "-o",
                        "{binary}",
                        "{source}",
                    ]),
                    &["{binary}"],
                ),
                // The compile step only checks the syntax, as Kattis does, so that a syntax
                // error is a compilation error and not a run-time error.
                lang(
                    "python3",
                    &["py", "py3"],
                    Some(&["python3", "-S", "-c", PY_SYNTAX_CHECK, "{source}"]),
                    &["python3", "{source}"],
                ),
                // Chosen by the `#!` line of a `.py` file (see `for_path`), or by name.
                lang(
                    "python2",
                    &["py2"],
                    Some(&["python2", "-S", "-c", PY_SYNTAX_CHECK, "{source}"]),
                    &["python2", "{source}"],
                ),
                // Kattis' flags; the serial collector keeps the JVM's threads few.
                lang(
                    "java",
                    &["java"],
                    Some(&["javac", "-encoding", "UTF-8", "-d", "{dir}", "{sources}"]),
                    &[
                        "java",
                        "-XX:+UseSerialGC",
                        "-Xss64m",
                        "-Xmx{memory_mib}m",
                        "-cp",
                        "{dir}",
                        "{mainclass}",
                    ],
                ),
                lang(
                    "javascript",
                    &["js"],
                    Some(&["node", "--check", "{source}"]),
                    &["node", "{source}"],
                ),
                // The spec's `bash` (`.sh`) and DOMjudge's `.bash`; `bash -n` checks the
                // syntax first, so that a syntax error is CE.
                lang(
                    "bash",
                    &["sh", "bash"],
                    Some(&["bash", "-n", "{source}"]),
                    &["bash", "{source}"],
                ),
            ],
        };
        // The rest of the problem package format's language table, each only when its
        // compiler or interpreter is installed here (a file of a language without one is
        // then "unknown language", skipped by --verify-submissions, not a JE).
        for (name, ext, compile, run) in SPEC_LANGUAGES {
            let tool = compile.map_or(run[0], |c| c[0]);
            if find_on_path(tool).is_some() {
                t.langs.push(lang(name, ext, *compile, run));
            }
        }
        t
    }

    /// What `--languages` lists: each language, its extensions, the program it needs, and
    /// where that is and its version (when installed).
    pub fn describe(&self) -> Vec<LanguageInfo> {
        self.langs
            .iter()
            .map(|l| {
                let program = l.program().to_owned();
                let path = find_on_path(&program);
                LanguageInfo {
                    name: l.name.clone(),
                    extensions: l.extensions.clone(),
                    program,
                    available: path.is_some(),
                    version: path.as_deref().map(tool_version),
                    path: path.map(|p| p.display().to_string()),
                }
            })
            .collect()
    }

    /// Every language, in lookup order.
    pub fn languages(&self) -> &[Language] {
        &self.langs
    }

    /// Looks up a language by name, alias (`c++`, `python`, `py`, ...) or extension.
    pub fn get(&self, name: &str) -> Option<&Language> {
        let n = name.to_ascii_lowercase();
        let alias = match n.as_str() {
            "c++" | "cxx" | "cc" | "cplusplus" => "cpp",
            "python" | "py" | "py3" => "python3",
            "py2" => "python2",
            "js" | "node" | "nodejs" => "javascript",
            "rs" => "rust",
            other => other,
        };
        self.langs
            .iter()
            .find(|l| l.name == alias)
            .or_else(|| self.by_extension(name))
    }

    /// The language of a file name extension (case-sensitive: `.C` is C++).
    pub fn by_extension(&self, ext: &str) -> Option<&Language> {
        self.langs
            .iter()
            .find(|l| l.extensions.iter().any(|e| e == ext))
    }

    /// The language of a path, by its extension; a `.py` file whose `#!` line names
    /// `python2` is Python 2 (when the table has it), as Kattis decides.
    pub fn for_path(&self, p: &Path) -> Option<&Language> {
        let ext = p.extension()?.to_str()?;
        if ext == "py" && shebang_names_python2(p) {
            if let Some(l) = self.langs.iter().find(|l| l.name == "python2") {
                return Some(l);
            }
        }
        self.by_extension(ext)
    }

    /// Adds (or replaces, by name) the languages of a TOML (`.toml`) or JSON file.
    pub fn load_file(&mut self, path: &Path) -> Result<(), String> {
        let text = crate::problem::read_capped(path).map_err(|e| e.to_string())?;
        let file: LanguageFile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        };
        for (name, entry) in file.languages {
            let field = |f: &str| format!("{}: languages.{name}.{f}", path.display());
            let compile = match entry.compile {
                None => None,
                Some(c) => Some(
                    c.into_words()
                        .map_err(|e| format!("{}: {e}", field("compile")))?,
                ),
            };
            let run = entry
                .run
                .into_words()
                .map_err(|e| format!("{}: {e}", field("run")))?;
            if run.is_empty() {
                return Err(format!("{}: the run command is empty", field("run")));
            }
            if compile.as_ref().is_some_and(Vec::is_empty) {
                return Err(format!(
                    "{}: the compile command is empty",
                    field("compile")
                ));
            }
            for (what, cmd) in [("compile", compile.as_ref()), ("run", Some(&run))] {
                for w in cmd.into_iter().flatten() {
                    if let Some(bad) = unknown_placeholder(w) {
                        return Err(format!(
                            "{}: unknown placeholder `{bad}` (known: {})",
                            field(what),
                            PLACEHOLDERS.join(", ")
                        ));
                    }
                }
            }
            if entry.extensions.is_empty() {
                return Err(format!("{}: no extensions given", field("extensions")));
            }
            let lang = Language {
                name: name.clone(),
                extensions: entry
                    .extensions
                    .iter()
                    .map(|e| e.trim_start_matches('.').to_owned())
                    .collect(),
                compile,
                run,
                env: entry.env.into_iter().collect(),
            };
            // The new language's extensions now belong to it alone.
            for l in &mut self.langs {
                l.extensions.retain(|e| !lang.extensions.contains(e));
            }
            match self.langs.iter_mut().find(|l| l.name == name) {
                Some(l) => *l = lang,
                None => self.langs.push(lang),
            }
        }
        Ok(())
    }
}

/// Languages of the problem package format's table beyond the always-built-in ones: name,
/// extensions, compile and run templates (Kattis' and DOMjudge's usual commands).
type SpecLanguage = (
    &'static str,
    &'static [&'static str],
    Option<&'static [&'static str]>,
    &'static [&'static str],
);
const SPEC_LANGUAGES: &[SpecLanguage] = &[
    (
        "go",
        &["go"],
        Some(&["go", "build", "-o", "{binary}", "{sources}"]),
        &["{binary}"],
    ),
    (
        "haskell",
        &["hs"],
        Some(&[
            "ghc",
            "-O2",
            "-outputdir",
            "{dir}",
            "-o",
            "{binary}",
            "{sources}",
        ]),
        &["{binary}"],
    ),
    (
        "kotlin",
        &["kt"],
        Some(&["kotlinc", "-d", "{dir}", "{sources}"]),
        &["kotlin", "-cp", "{dir}", "{mainclass}Kt"],
    ),
    (
        "csharp",
        &["cs"],
        Some(&["mcs", "-optimize+", "-out:{binary}", "{sources}"]),
        &["mono", "{binary}"],
    ),
    (
        "ocaml",
        &["ml"],
        Some(&[
            "ocamlfind",
            "ocamlopt",
            "-O3",
            "-o",
            "{binary}",
            "{sources}",
        ]),
        &["{binary}"],
    ),
    (
        "pascal",
        &["pas"],
        Some(&["fpc", "-O2", "-o{binary}", "{source}"]),
        &["{binary}"],
    ),
    (
        "fortran",
        &["f90", "f95", "f03", "f", "for"],
        Some(&["gfortran", "-O2", "-o", "{binary}", "{sources}"]),
        &["{binary}"],
    ),
    (
        "d",
        &["d"],
        Some(&["gdc", "-O2", "-o", "{binary}", "{sources}"]),
        &["{binary}"],
    ),
    (
        "ruby",
        &["rb"],
        Some(&["ruby", "-c", "{source}"]),
        &["ruby", "{source}"],
    ),
    // `.pl` is Prolog's in the format's table (and problemtools'); Perl's `(.pl)` there is
    // the ambiguous one. A `.pl` file is never taken for Perl (that judged problemtools'
    // Prolog example as Perl: CE): without SWI-Prolog it has no language (skipped, named);
    // `--language perl` or submissions.yaml `language: perl` judge one as Perl.
    (
        "prolog",
        &["pl"],
        None,
        &["swipl", "-O", "-q", "-g", "main", "-t", "halt", "{source}"],
    ),
    (
        "perl",
        &["pm"],
        Some(&["perl", "-c", "{source}"]),
        &["perl", "{source}"],
    ),
    (
        "php",
        &["php"],
        Some(&["php", "-l", "{source}"]),
        &["php", "{source}"],
    ),
    (
        "lua",
        &["lua"],
        Some(&["luac", "-p", "{source}"]),
        &["lua", "{source}"],
    ),
    (
        "commonlisp",
        &["lisp", "cl"],
        None,
        &["sbcl", "--script", "{source}"],
    ),
    ("pypy", &["pypy"], None, &["pypy3", "{source}"]),
];

/// The program `name` on our `PATH` (a version manager's shim with no version behind it
/// does not count, see [`dead_shim`]).
pub fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    if name.contains('/') {
        return Some(Path::new(name).to_path_buf()).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                && !dead_shim(p)
        })
}

/// Whether `p` is a version manager's shim (pyenv, rbenv, nodenv: a program in a `shims`
/// directory) for a command that no selected version provides: pyenv installs a `python2`
/// shim as soon as any installed version has one, and the shim then answers "command not
/// found" with exit status 127 unless that version is selected.
pub fn dead_shim(p: &Path) -> bool {
    let in_shims = matches!(p.parent().and_then(|d| d.file_name()), Some(n) if n == "shims");
    if !in_shims {
        return false;
    }
    std::process::Command::new(p)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.code() == Some(127))
}

/// The first line a tool prints for `--version` (or `-version`, Java's and OCaml's way).
fn tool_version(p: &Path) -> String {
    for flag in ["--version", "-version"] {
        let Ok(out) = std::process::Command::new(p)
            .arg(flag)
            .stdin(std::process::Stdio::null())
            .output()
        else {
            continue;
        };
        let text = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&text);
        if let Some(l) = text.lines().map(str::trim).find(|l| !l.is_empty()) {
            if out.status.success() {
                return l.chars().take(100).collect();
            }
        }
    }
    "version unknown".into()
}

/// Compiles the source without running it; exits 1 with the error on a syntax error.
const PY_SYNTAX_CHECK: &str = "import sys\nsrc = open(sys.argv[1], 'rb').read()\ntry:\n    compile(src, sys.argv[1], 'exec')\nexcept SyntaxError as e:\n    sys.stderr.write('%s:%s: %s\\n' % (e.filename, e.lineno, e.msg))\n    sys.exit(1)\n";

/// Whether the file's first line is a `#!` line naming `python2`.
fn shebang_names_python2(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    line.starts_with(b"#!") && line.windows(7).any(|w| w == b"python2")
}

fn unknown_placeholder(w: &str) -> Option<String> {
    let mut rest = w;
    while let Some(i) = rest.find('{') {
        let after = &rest[i..];
        let end = after.find('}')?;
        let ph = &after[..=end];
        if !PLACEHOLDERS.contains(&ph) {
            return Some(ph.to_owned());
        }
        rest = &after[end + 1..];
    }
    None
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageFile {
    languages: BTreeMap<String, LanguageEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageEntry {
    extensions: Vec<String>,
    compile: Option<Command>,
    run: Command,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Line(String),
    Words(Vec<String>),
}

impl Command {
    fn into_words(self) -> Result<Vec<String>, String> {
        match self {
            Command::Words(w) => Ok(w),
            Command::Line(s) => {
                shlex::split(&s).ok_or_else(|| format!("cannot split `{s}` into words"))
            }
        }
    }
}

/// Values for the placeholders of a command template.
pub struct Vars<'a> {
    pub source: &'a Path,
    pub sources: &'a [std::path::PathBuf],
    pub binary: &'a Path,
    pub dir: &'a Path,
    pub memory_mib: u64,
}

impl Vars<'_> {
    /// `{mainclass}`: the main source's file name without its extension.
    fn main_class(&self) -> String {
        self.source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Expands a command template.
pub fn expand(template: &[String], v: &Vars<'_>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    for w in template {
        if w == "{sources}" {
            out.extend(v.sources.iter().map(|s| s.as_os_str().to_owned()));
            continue;
        }
        let s = w
            .replace("{source}", &v.source.to_string_lossy())
            .replace("{binary}", &v.binary.to_string_lossy())
            .replace("{dir}", &v.dir.to_string_lossy())
            .replace("{memory_mib}", &v.memory_mib.to_string())
            .replace("{mainclass}", &v.main_class());
        out.push(s.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lookup() {
        let t = LanguageTable::builtin();
        assert_eq!(t.get("C++").unwrap().name, "cpp");
        assert_eq!(t.get("python").unwrap().name, "python3");
        assert_eq!(t.get("rs").unwrap().name, "rust");
        assert_eq!(t.for_path(Path::new("a/b.cc")).unwrap().name, "cpp");
        assert_eq!(t.for_path(Path::new("x.py")).unwrap().name, "python3");
        assert_eq!(t.for_path(Path::new("x.java")).unwrap().name, "java");
        assert_eq!(t.get("node").unwrap().name, "javascript");
        assert!(t.for_path(Path::new("x.kt")).is_none());
        assert!(t.get("cobol").is_none());
        // `.pl` is Prolog's (the format's table), never Perl's, whatever is installed.
        assert!(t
            .for_path(Path::new("x.pl"))
            .is_none_or(|l| l.name == "prolog"));
    }

    #[test]
    fn python2_by_shebang_and_java_main_class() {
        let d = tempfile::tempdir().unwrap();
        let t = LanguageTable::builtin();
        let file = |name: &str, text: &str| {
            let p = d.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let py2 = file("a.py", "#!/usr/bin/env python2\nprint 1\n");
        assert_eq!(t.for_path(&py2).unwrap().name, "python2");
        // Kattis: a bare `python` or none at all is Python 3.
        for (n, text) in [
            ("b.py", "#!/usr/bin/python\nprint(1)\n"),
            ("c.py", "#!/usr/bin/env python3\n"),
            ("d.py", "print('python2')\n"),
        ] {
            assert_eq!(t.for_path(&file(n, text)).unwrap().name, "python3", "{n}");
        }
        let java = t.get("java").unwrap();
        let argv = expand(
            &java.run,
            &Vars {
                source: Path::new("/w/Different.java"),
                sources: &["/w/Different.java".into()],
                binary: Path::new("/w/prog"),
                dir: Path::new("/w"),
                memory_mib: 256,
            },
        );
        let argv: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(argv.last().unwrap(), "Different");
        assert!(argv.contains(&"-Xmx256m".to_string()), "{argv:?}");
    }

    #[test]
    fn config_files_add_and_override() {
        let d = tempfile::tempdir().unwrap();
        let toml_path = d.path().join("langs.toml");
        std::fs::write(
            &toml_path,
            "[languages.go]\nextensions = [\".go\"]\ncompile = \"go build -o {binary} {source}\"\n\
             run = [\"{binary}\"]\nenv = { GOCACHE = \"/tmp/gc\" }\n\
             [languages.c]\nextensions = [\"c\"]\ncompile = \"clang -O2 -o {binary} {sources}\"\nrun = \"{binary}\"\n",
        )
        .unwrap();
        let mut t = LanguageTable::builtin();
        t.load_file(&toml_path).unwrap();
        let go = t.get("go").unwrap();
        assert_eq!(go.extensions, ["go"]);
        assert_eq!(
            go.compile.as_ref().unwrap(),
            &["go", "build", "-o", "{binary}", "{source}"]
        );
        assert_eq!(go.env, [("GOCACHE".to_string(), "/tmp/gc".to_string())]);
        assert_eq!(t.get("c").unwrap().compile.as_ref().unwrap()[0], "clang");
        let argv = expand(
            t.get("c").unwrap().compile.as_ref().unwrap(),
            &Vars {
                source: Path::new("/w/a.c"),
                sources: &["/w/a.c".into(), "/w/b.c".into()],
                binary: Path::new("/w/prog"),
                dir: Path::new("/w"),
                memory_mib: 64,
            },
        );
        assert_eq!(
            argv,
            ["clang", "-O2", "-o", "/w/prog", "/w/a.c", "/w/b.c"].map(std::ffi::OsString::from)
        );

        let json_path = d.path().join("langs.json");
        std::fs::write(
            &json_path,
            r#"{"languages": {"sh": {"extensions": ["sh"], "run": ["/bin/sh", "{source}"]}}}"#,
        )
        .unwrap();
        t.load_file(&json_path).unwrap();
        assert!(t.get("sh").unwrap().compile.is_none());

        std::fs::write(
            &json_path,
            r#"{"languages": {"x": {"extensions": ["x"], "run": ["{prog}"]}}}"#,
        )
        .unwrap();
        let e = t.load_file(&json_path).unwrap_err();
        assert!(
            e.contains("languages.x.run: unknown placeholder `{prog}`"),
            "{e}"
        );
        std::fs::write(&json_path, r#"{"languages": {"x": {"run": "a"}}}"#).unwrap();
        assert!(t.load_file(&json_path).unwrap_err().contains("extensions"));
    }
}
