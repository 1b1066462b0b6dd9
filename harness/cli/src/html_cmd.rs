//! `hatchery html REPORT.jsonl [-o FILE]`: the HTML page of any event stream written by
//! `--report` (`hatchery batch`, `hatchery judge`, `cargo hatchery test`).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;

use hatchery_report::html::{render_events, HtmlOptions};
use hatchery_report::{parse_event_line, Event};

use crate::exit;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  the page was written
  2  bad command line, or the output file cannot be written
  7  the report cannot be read, is empty, does not start with run_started, or has a schema
     version this hatchery does not know (nothing written)
Lines after the first that cannot be read (a line cut short by a killed run, an event of a
newer hatchery) are skipped with a warning, and the page says so.";

#[derive(clap::Args)]
pub struct HtmlArgs {
    /// The JSON Lines event stream (`--report` of batch, judge or `cargo hatchery test`).
    pub report: PathBuf,
    /// Write the page here (default, or `-`: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Title of the page (default: the report's file name).
    #[arg(long)]
    pub title: Option<String>,
    /// Most rows in the verdict table of a run (failing cases first, so a cut drops passing
    /// cases).
    #[arg(long, default_value_t = HtmlOptions::default().max_rows)]
    pub max_rows: usize,
}

/// Most unreadable lines named one by one on stderr (the page counts them all).
const MAX_WARNINGS: usize = 10;

pub fn html(a: HtmlArgs) -> u8 {
    let f = match std::fs::File::open(&a.report) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hatchery: cannot read {}: {e}", a.report.display());
            return exit::BAD_INPUT;
        }
    };
    let mut events: Vec<Event> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for (i, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hatchery: cannot read {}: {e}", a.report.display());
                return exit::BAD_INPUT;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_event_line(&line, i + 1, events.is_empty()) {
            Ok(e) => events.push(e),
            Err(e) if events.is_empty() => {
                eprintln!(
                    "hatchery: {} is not a hatchery event stream: {e}",
                    a.report.display()
                );
                return exit::BAD_INPUT;
            }
            Err(e) => {
                if skipped.len() < MAX_WARNINGS {
                    eprintln!("hatchery: {}: skipping {e}", a.report.display());
                }
                skipped.push(e.to_string());
            }
        }
    }
    if events.is_empty() {
        eprintln!(
            "hatchery: {} is empty: not a hatchery event stream",
            a.report.display()
        );
        return exit::BAD_INPUT;
    }
    let mut opts = HtmlOptions {
        title: a.title.unwrap_or_else(|| {
            format!(
                "hatchery report: {}",
                a.report
                    .file_name()
                    .map_or("events".into(), |n| n.to_string_lossy())
            )
        }),
        max_rows: a.max_rows,
        ..Default::default()
    };
    if !skipped.is_empty() {
        opts.notes.push(format!(
            "{} line(s) of the report could not be read and were skipped; first: {}",
            skipped.len(),
            skipped[0]
        ));
    }
    let page = render_events(&events, &opts);
    let written = match &a.output {
        Some(p) if p.as_os_str() != "-" => std::fs::write(p, &page).map_err(|e| (p.clone(), e)),
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(page.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| (PathBuf::from("standard output"), e))
        }
    };
    match written {
        Ok(()) => exit::OK,
        Err((p, e)) => {
            eprintln!("hatchery: cannot write {}: {e}", p.display());
            exit::USAGE
        }
    }
}
