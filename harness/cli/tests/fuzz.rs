//! `hatchery fuzz`: campaigns, triage, minimization, replay and repro on real libFuzzer
//! targets (built with clang from `corpora/fuzz/targets/`). Deterministic: the bug is in the
//! seed corpus, so finding it does not depend on the mutator's luck.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Builds a libFuzzer+ASan target with clang (a child process writes the executable).
fn target(name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpora/fuzz/targets")
        .join(format!("{name}.c"));
    let out = common::prog_dir().join(format!("fuzz-{name}"));
    let tmp = common::prog_dir().join(format!("fuzz-{name}.tmp.{}", std::process::id()));
    let st = Command::new("clang")
        .args(["-g", "-O1", "-fsanitize=fuzzer,address", "-o"])
        .arg(&tmp)
        .arg(&src)
        .status();
    match st {
        Ok(s) if s.success() => {
            std::fs::rename(&tmp, &out).unwrap();
            Some(out)
        }
        _ => {
            common::need(
                false,
                "clang with -fsanitize=fuzzer,address is needed (apt-get install clang)",
            );
            None
        }
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = common::prog_dir().join(format!("fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn events(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(ev: &'a [Value], t: &str) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| e["type"] == t)
        .map(|e| &e["data"])
        .collect()
}

#[test]
fn campaign_finds_triages_minimizes_and_replays_a_heap_overflow() {
    let Some(bin) = target("overflow") else {
        return;
    };
    let d = fresh_dir("overflow");
    let corpus = d.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(
        corpus.join("seed"),
        b"BUG and some more bytes to minimize away",
    )
    .unwrap();
    let art = d.join("artifacts");
    let out = Command::new(common::hatchery_bin())
        .args(["fuzz", "run", "--binary"])
        .arg(&bin)
        .arg("--corpus")
        .arg(&corpus)
        .arg("--artifacts")
        .arg(&art)
        .args(["-j", "1", "--max-total-time", "3s", "--minimize-time", "5s"])
        .arg("--report")
        .arg(d.join("r.jsonl"))
        .arg("--junit")
        .arg(d.join("j.xml"))
        .arg("--html")
        .arg(d.join("r.html"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let ev = events(&d.join("r.jsonl"));
    assert_eq!(ev[0]["type"], "run_started");
    assert_eq!(of_type(&ev, "fuzz_started").len(), 1);
    let found = of_type(&ev, "crash_found");
    let first = found
        .iter()
        .find(|c| c["new_signature"] == true)
        .expect(&stderr);
    assert_eq!(first["kind"], "crash");
    assert_eq!(
        first["signature"],
        "crash: heap-buffer-overflow WRITE | store | LLVMFuzzerTestOneInput"
    );
    assert_eq!(first["frames"][0], "store");
    // The reproducer is libFuzzer-named and on disk; the minimized one keeps the signature
    // and is smaller.
    let artifact = PathBuf::from(first["artifact"].as_str().unwrap());
    assert!(artifact
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("crash-"));
    assert!(artifact.is_file());
    let min = first["minimized"].as_str().expect("minimized");
    assert!(min.contains("minimized-from-"));
    assert!(first["minimized_size"].as_u64().unwrap() < first["size"].as_u64().unwrap());
    let fin = of_type(&ev, "fuzz_finished");
    assert_eq!(fin[0]["unique_crashes"], 1);
    assert_eq!(ev.last().unwrap()["type"], "run_finished");
    let junit = std::fs::read_to_string(d.join("j.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 1, "{junit}");
    assert!(junit.contains("heap-buffer-overflow WRITE"));
    // The HTML page: the campaign's facts and the crash table (its plots need two samples).
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.contains("<h2>Fuzz campaign</h2>"), "{html}");
    assert!(html.contains("<table class=\"crashes\">"));
    assert!(html.contains("heap-buffer-overflow WRITE | store | LLVMFuzzerTestOneInput"));
    assert!(html.contains("minimized-from-"));

    // repro: the artifact still fails, with the same signature.
    let r = Command::new(common::hatchery_bin())
        .args(["fuzz", "repro", "--binary"])
        .arg(&bin)
        .arg(&artifact)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("heap-buffer-overflow WRITE | store"),
        "{text}"
    );

    // replay: the artifacts plus a clean input, as one case each.
    let clean = d.join("clean-input");
    std::fs::write(&clean, b"hello").unwrap();
    let replay = |extra: &[&str]| {
        Command::new(common::hatchery_bin())
            .args(["fuzz", "replay", "--binary"])
            .arg(&bin)
            .args(extra)
            .arg(&art)
            .arg(&clean)
            .output()
            .unwrap()
    };
    let r = replay(&[]);
    assert_eq!(r.status.code(), Some(0));
    let r = replay(&[
        "--fail-on-crash",
        "--junit",
        d.join("replay.xml").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains("PASS") && text.contains("FAIL"), "{text}");
    assert!(text.contains("heap-buffer-overflow WRITE"), "{text}");
    // In batches (libFuzzer's list of files): the same verdicts, each failure replayed alone.
    let r = replay(&["--batch", "--fail-on-crash"]);
    let batched = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{batched}");
    let verdicts = |t: &str| {
        let mut v: Vec<String> = t
            .lines()
            .filter(|l| l.contains("PASS [") || l.contains("FAIL ["))
            .map(|l| {
                let kind = if l.contains("PASS [") { "PASS" } else { "FAIL" };
                format!("{kind} {}", l.rsplit("] ").next().unwrap_or_default())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(verdicts(&batched), verdicts(&text), "{batched}");
    let _ = std::fs::remove_dir_all(&d);
}

/// `corpora/fuzz/targets/dnsname.c` built as a shared library in `dir/lib` and a target in
/// `dir/bin` linked to it without a run path (clang, a child process, writes both).
fn shared_library_target(dir: &Path) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/fuzz/targets/dnsname.c");
    let (lib, bin) = (dir.join("lib"), dir.join("bin"));
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    let built = ok(Command::new("clang")
        .args(["-g", "-O1", "-fPIC", "-shared", "-DDNSNAME_LIB"])
        .args(["-fsanitize=address,fuzzer-no-link", "-o"])
        .arg(lib.join("libdnsname.so"))
        .arg(&src))
        && ok(Command::new("clang")
            .args(["-g", "-O1", "-fsanitize=fuzzer,address", "-o"])
            .arg(bin.join("dnsname"))
            .arg(&src)
            .arg("-L")
            .arg(&lib)
            .arg("-ldnsname"));
    if !built {
        common::need(
            false,
            "clang with -fsanitize=fuzzer,address is needed (apt-get install clang)",
        );
        return None;
    }
    Some(bin.join("dnsname"))
}

/// A C target whose bug is in a shared library found through LD_LIBRARY_PATH (as a library
/// built beside its fuzz target often is; c-ares CVE-2016-5180's pattern): without `--env`
/// the sandbox's clean environment leaves the library unfound, and `fuzz run` says so with
/// the loader's words (exit 7, the target cannot be used, not hatchery's failure); with
/// `--env LD_LIBRARY_PATH=...` the overflow is found from a crashing seed, triaged to one
/// signature in the library's function, minimized keeping it, and reproduced by the printed
/// command, which repeats `--env`.
#[test]
fn shared_library_target_needs_env_and_is_triaged_in_the_library() {
    let d = fresh_dir("dnsname");
    let Some(bin) = shared_library_target(&d) else {
        return;
    };
    let corpus = d.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("seed"), b"mail.example.org\\.").unwrap();
    let run = |name: &str, env: &[String]| {
        let out = Command::new(common::hatchery_bin())
            .args(["fuzz", "run", "--binary"])
            .arg(&bin)
            .args(env)
            .arg("--corpus")
            .arg(&corpus)
            .arg("--artifacts")
            .arg(d.join(name))
            .args(["-j", "1", "--max-total-time", "3s", "--minimize-time", "5s"])
            .arg("--report")
            .arg(d.join(format!("{name}.jsonl")))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let (code, stderr) = run("no-env", &[]);
    assert_eq!(code, Some(7), "{stderr}");
    assert!(
        stderr.contains("error while loading shared libraries: libdnsname.so"),
        "{stderr}"
    );
    assert!(stderr.contains("did not start fuzzing"), "{stderr}");
    // Nor are replay and repro findings: the target never ran an input.
    for sub in [&["replay", "--fail-on-crash"][..], &["repro"]] {
        let r = Command::new(common::hatchery_bin())
            .arg("fuzz")
            .args(sub)
            .arg("--binary")
            .arg(&bin)
            .arg(corpus.join("seed"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(7), "{sub:?}: {text}");
        assert!(text.contains("the target cannot start"), "{text}");
    }

    let env = [
        "--env".to_owned(),
        format!("LD_LIBRARY_PATH={}", d.join("lib").display()),
    ];
    let (code, stderr) = run("with-env", &env);
    assert_eq!(code, Some(1), "{stderr}");
    let ev = events(&d.join("with-env.jsonl"));
    let found = of_type(&ev, "crash_found");
    let sig = "crash: heap-buffer-overflow WRITE | dn_encode | LLVMFuzzerTestOneInput";
    assert!(found.iter().all(|c| c["signature"] == sig), "{found:?}");
    let first = found
        .iter()
        .find(|c| c["new_signature"] == true)
        .expect(&stderr);
    assert_eq!(first["size"], 18);
    // Smaller, with the same signature (the shortest such name, `\.`, when time allows).
    assert!(first["minimized_size"].as_u64().unwrap() < 18, "{first}");
    let repro = first["reproduce"].as_str().unwrap();
    assert!(repro.contains("--env LD_LIBRARY_PATH="), "{repro}");
    let min = first["minimized"].as_str().unwrap();
    let r = Command::new(common::hatchery_bin())
        .args(["fuzz", "repro", "--binary"])
        .arg(&bin)
        .args(&env)
        .arg(min)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("signature  {sig}")), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn leak_sanitizer_works_under_the_fuzz_profile() {
    let Some(bin) = target("overflow") else {
        return;
    };
    let d = fresh_dir("leak");
    let input = d.join("leak-input");
    std::fs::write(&input, b"LEAK").unwrap();
    let r = Command::new(common::hatchery_bin())
        .args(["fuzz", "repro", "--binary"])
        .arg(&bin)
        .arg(&input)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains("kind       leak"), "{text}");
    assert!(
        text.contains("leak: memory leak | LLVMFuzzerTestOneInput"),
        "{text}"
    );
    // Under the default profile LeakSanitizer's ptrace is a policy violation.
    let r = Command::new(common::hatchery_bin())
        .args(["run", "--json", "--seccomp", "default", "--"])
        .arg(&bin)
        .arg(&input)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["outcome"], "policy_violation", "{v}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn clean_campaign_reports_stats_and_grows_the_corpus() {
    let Some(bin) = target("clean") else { return };
    let d = fresh_dir("clean");
    let corpus = d.join("corpus");
    let out = Command::new(common::hatchery_bin())
        .args(["fuzz", "run", "--binary"])
        .arg(&bin)
        .arg("--corpus")
        .arg(&corpus)
        .arg("--artifacts")
        .arg(d.join("artifacts"))
        .args([
            "-j",
            "2",
            "--max-total-time",
            "3s",
            "--stats-interval",
            "500ms",
        ])
        .arg("--report")
        .arg(d.join("r.jsonl"))
        .arg("--html")
        .arg(d.join("r.html"))
        .args(["--", "-seed=1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // execs/s and coverage over time, from the fuzz_stats events.
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(
        html.contains("aria-label=\"executions per second\""),
        "{html}"
    );
    assert!(html.contains("aria-label=\"coverage over time\""));
    assert!(html.contains("No crash, timeout, OOM or leak was found."));
    let ev = events(&d.join("r.jsonl"));
    let stats = of_type(&ev, "fuzz_stats");
    assert!(!stats.is_empty(), "{stderr}");
    let last = stats.last().unwrap();
    assert!(last["execs"].as_u64().unwrap() > 0, "{last}");
    assert!(last["features"].as_u64().unwrap() > 0, "{last}");
    let fin = of_type(&ev, "fuzz_finished")[0];
    assert_eq!(fin["unique_crashes"], 0);
    assert!(fin["execs"].as_u64().unwrap() > 0);
    // New inputs were copied back into the corpus under their SHA-1.
    let n = std::fs::read_dir(&corpus).unwrap().count();
    assert!(n > 0 && fin["corpus_size"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&d);
}

/// Copies a directory tree (the fixture crate: a few small files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// `hatchery fuzz run TARGET` in a crate with cargo-fuzz's `fuzz/`: the target is built as
/// `cargo fuzz build` builds it (nightly, AddressSanitizer), its Rust panic is found from the
/// seed, triaged to one signature with the panic's location, minimized, and kept in
/// `fuzz/artifacts/<target>/`; `fuzz replay --target` turns the artifacts into failing cases.
/// Needs a nightly toolchain (not installed by CI: skipped there) and crates.io or a cargo
/// cache holding libfuzzer-sys.
#[test]
fn cargo_fuzz_target_by_name() {
    let nightly = Command::new("rustc")
        .arg("-vV")
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("-nightly")
        });
    if !nightly {
        eprintln!("SKIP: no nightly Rust toolchain (rustup toolchain install nightly)");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/fuzz/cargo");
    // A stable place, so that the build is incremental from one run to the next.
    let krate = common::prog_dir().join("cargo-fuzz-demo");
    let _ = std::fs::remove_dir_all(&krate);
    copy_tree(&src, &krate);
    let corpus = krate.join("fuzz/corpus/records");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("seed"), b"REC\x05ab").unwrap();
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cargo-fuzz-target");
    let report = krate.join("r.jsonl");
    let out = Command::new(common::hatchery_bin())
        .current_dir(krate.join("src"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .args([
            "fuzz",
            "run",
            "records",
            "--max-total-time",
            "4s",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let ev = events(&report);
    let found = of_type(&ev, "crash_found");
    let unique: Vec<_> = found
        .iter()
        .filter(|c| c["new_signature"] == true)
        .collect();
    assert_eq!(unique.len(), 1, "{stderr}");
    let c = unique[0];
    assert_eq!(c["kind"], "crash");
    let sig = c["signature"].as_str().unwrap();
    assert!(
        sig.starts_with("crash: rust panic | ") && sig.contains("last_payload_byte"),
        "{sig}"
    );
    assert!(
        c["reason"].as_str().unwrap().contains("src/lib.rs:11:"),
        "{c}"
    );
    let artifacts = krate.join("fuzz/artifacts/records");
    assert!(c["artifact"]
        .as_str()
        .unwrap()
        .starts_with(artifacts.to_str().unwrap()));
    let min = c["minimized_size"].as_u64().expect("minimized");
    assert!(min < c["size"].as_u64().unwrap() && min >= 4, "{c}");
    assert!(std::fs::read_dir(&corpus).unwrap().count() >= 1);
    // Regression: the corpus and artifacts of the target by name, replayed.
    let r = Command::new(common::hatchery_bin())
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["fuzz", "replay", "--target", "records", "--fail-on-crash"])
        .output()
        .unwrap();
    let rs = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{rs}");
    assert!(rs.contains("FAIL") && rs.contains("rust panic"), "{rs}");
    let _ = std::fs::remove_dir_all(&krate);
}

/// Builds an AFL++ target from `corpora/fuzz/afl/` with afl-cc (a child process writes the
/// executable); `None` (a SKIP, or a failure under HATCHERY_TEST_REQUIRE=all) when afl-cc or
/// afl-fuzz is missing.
fn afl_target(name: &str) -> Option<PathBuf> {
    let have_fuzz = Command::new("afl-fuzz")
        .arg("-h")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("afl-fuzz"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpora/fuzz/afl")
        .join(format!("{name}.c"));
    let out = common::prog_dir().join(format!("afl-{name}"));
    let tmp = common::prog_dir().join(format!("afl-{name}.tmp.{}", std::process::id()));
    let built = have_fuzz
        && Command::new("afl-cc")
            .args(["-O1", "-o"])
            .arg(&tmp)
            .arg(&src)
            .env("AFL_QUIET", "1")
            .status()
            .is_ok_and(|s| s.success());
    if !common::need(
        built,
        "AFL++ (afl-cc and afl-fuzz) is needed (apt-get install afl++)",
    ) {
        return None;
    }
    std::fs::rename(&tmp, &out).unwrap();
    Some(out)
}

/// `fuzz run --afl` with a seed one bit flip from the bug; AFL++ stops at its first crash
/// (AFL_BENCH_UNTIL_CRASH), so the generous budget bounds a loaded machine, not the test.
fn afl_campaign(bin: &Path, d: &Path, seed: &[u8], jobs: &str) -> (Vec<Value>, String) {
    let corpus = d.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("seed"), seed).unwrap();
    let out = Command::new(common::hatchery_bin())
        .env("AFL_BENCH_UNTIL_CRASH", "1")
        .args(["fuzz", "run", "--afl", "--binary"])
        .arg(bin)
        .arg("--corpus")
        .arg(&corpus)
        .arg("--artifacts")
        .arg(d.join("artifacts"))
        .args([
            "-j",
            jobs,
            "--max-total-time",
            "90s",
            "--stats-interval",
            "1s",
        ])
        .arg("--report")
        .arg(d.join("r.jsonl"))
        .arg("--junit")
        .arg(d.join("j.xml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    (events(&d.join("r.jsonl")), stderr)
}

/// The one new signature of a campaign, checked to be an AFL++ finding saved under
/// libFuzzer's name with the input that crashes.
fn afl_unique_crash<'a>(ev: &'a [Value], stderr: &str, signature: &str) -> &'a Value {
    assert_eq!(of_type(ev, "fuzz_started")[0]["engine"], "afl++");
    let found = of_type(ev, "crash_found");
    let unique: Vec<_> = found
        .iter()
        .filter(|c| c["new_signature"] == true)
        .collect();
    assert_eq!(unique.len(), 1, "{stderr}");
    let c = unique[0];
    assert_eq!(c["kind"], "crash", "{c}");
    assert_eq!(c["signature"], signature, "{c}");
    let artifact = PathBuf::from(c["artifact"].as_str().unwrap());
    let name = artifact.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("crash-") && name.len() == 6 + 40, "{name}");
    assert!(std::fs::read(&artifact).unwrap().starts_with(b"BUG"));
    assert!(c["reproduce"]
        .as_str()
        .unwrap()
        .starts_with("hatchery fuzz repro --afl"));
    // AFL++'s fuzzer_stats became fuzz_stats; its queue came back into the corpus.
    let stats = of_type(ev, "fuzz_stats");
    assert!(
        stats.iter().any(|s| s["execs"].as_u64().unwrap() > 0),
        "{stderr}"
    );
    let fin = of_type(ev, "fuzz_finished")[0];
    assert_eq!(fin["unique_crashes"], 1, "{fin}");
    assert!(fin["execs"].as_u64().unwrap() > 0, "{fin}");
    assert!(fin["corpus_size"].as_u64().unwrap() > 0, "{fin}");
    c
}

/// A forkserver target (afl-cc, input on stdin): afl-fuzz runs inside the sandbox, its
/// crash is copied out as `crash-<sha1>`, triaged (SIGSEGV), minimized by afl-tmin in the
/// sandbox to the bytes the bug needs, and `fuzz repro`/`fuzz replay --afl` fail on it.
#[test]
fn afl_forkserver_campaign_finds_triages_and_minimizes() {
    let Some(bin) = afl_target("forkserver") else {
        return;
    };
    let d = fresh_dir("afl-forkserver");
    let (ev, stderr) = afl_campaign(&bin, &d, b"BUF and some bytes to minimize away", "1");
    let c = afl_unique_crash(&ev, &stderr, "crash: SIGSEGV");
    assert_eq!(c["replay"]["signal"], "SIGSEGV", "{c}");
    let min = c["minimized"].as_str().expect("minimized");
    assert!(min.contains("minimized-from-"), "{min}");
    assert!(
        c["minimized_size"].as_u64().unwrap() < c["size"].as_u64().unwrap(),
        "{c}"
    );
    assert!(std::fs::read(min).unwrap().starts_with(b"BUG"));
    let junit = std::fs::read_to_string(d.join("j.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 1, "{junit}");

    let artifact = c["artifact"].as_str().unwrap();
    let r = Command::new(common::hatchery_bin())
        .args(["fuzz", "repro", "--afl", "--binary"])
        .arg(&bin)
        .arg(artifact)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains("crash: SIGSEGV"), "{text}");
    let clean = d.join("clean-input");
    std::fs::write(&clean, b"hello").unwrap();
    let r = Command::new(common::hatchery_bin())
        .args(["fuzz", "replay", "--afl", "--fail-on-crash", "--binary"])
        .arg(&bin)
        .arg(d.join("artifacts"))
        .arg(&clean)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains("PASS") && text.contains("FAIL"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A persistent-mode target (`__AFL_LOOP`, test cases in shared memory of the case's IPC
/// namespace) under two workers, a main (-M) and a secondary (-S) on one sync directory.
#[test]
fn afl_persistent_campaign_with_two_workers() {
    let Some(bin) = afl_target("persistent") else {
        return;
    };
    let d = fresh_dir("afl-persistent");
    let (ev, stderr) = afl_campaign(&bin, &d, b"BUF", "2");
    let c = afl_unique_crash(&ev, &stderr, "crash: SIGABRT");
    assert_eq!(c["replay"]["signal"], "SIGABRT", "{c}");
    let workers: Vec<_> = of_type(&ev, "case_started")
        .into_iter()
        .filter_map(|s| s["id"].as_str())
        .filter(|id| id.starts_with("worker "))
        .collect();
    assert_eq!(workers, ["worker 0", "worker 1"], "{stderr}");
    let _ = std::fs::remove_dir_all(&d);
}
