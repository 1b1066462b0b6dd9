//! A custom test harness (`harness = false`) that speaks the protocol nextest defines:
//! `--list --format terse [--ignored]` prints `<name>: test` lines, and
//! `<name> --exact --nocapture [--ignored]` runs one test.

type Test = (&'static str, bool, fn() -> Result<(), String>);

const TESTS: &[Test] = &[
    ("mimic::adds", false, || {
        if 1 + 1 == 2 {
            Ok(())
        } else {
            Err("math".into())
        }
    }),
    ("mimic::fails", false, || Err("mimic failure".into())),
    ("mimic::ignored", true, || Ok(())),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let ignored_only = has("--ignored");
    let include_ignored = has("--include-ignored");
    if has("--list") {
        for (name, ignored, _) in TESTS {
            if !ignored_only || *ignored {
                println!("{name}: test");
            }
        }
        return;
    }
    let exact = has("--exact");
    let filter = args.iter().find(|a| !a.starts_with("--"));
    let mut failed = 0;
    for (name, ignored, f) in TESTS {
        let selected = match filter {
            Some(p) if exact => name == p,
            Some(p) => name.contains(p.as_str()),
            None => true,
        };
        let run_it = if ignored_only {
            *ignored
        } else {
            include_ignored || !*ignored
        };
        if !selected || !run_it {
            continue;
        }
        match f() {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                failed += 1;
            }
        }
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
