//! Test-only entry point: `hatchery-test-zygote __zygote` is a zygote, for the integration
//! tests of this crate (which has no binary of its own otherwise).
//!
//! `hatchery-test-zygote __fake-retire __zygote` is a stand-in that speaks the protocol of a
//! tier `none` zygote without running anything: every case "exits 0 and prints `ran`", and
//! every reply says the zygote must retire (a cleanup failure no real case can provoke on
//! demand). It tests the supervisor's side of that contract.
//!
//! `hatchery-test-zygote __inotify-hold DIR`, run as a case: opens inotify instances until the
//! kernel refuses one, writes how many to `DIR/held`, and holds them until `DIR/release`
//! exists (at most a minute): what a case spends of the per-user budgets, at a moment the
//! test chooses.

use hatchery_report::{Captured, RawFacts, Termination};
use hatchery_sandbox::wire::{self, CaseReply, CaseRequest, Health, Hello, ZygoteInit};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["__zygote"] => hatchery_sandbox::zygote::main(),
        ["__fake-retire", "__zygote"] => fake_retire(),
        ["__inotify-hold", dir] => inotify_hold(std::path::Path::new(dir)),
        _ => {
            eprintln!("usage: hatchery-test-zygote [__fake-retire] __zygote (started by hatchery_sandbox::Sandbox)");
            std::process::exit(2);
        }
    }
}

fn fake_retire() {
    use std::os::fd::AsFd as _;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .expect("stdin is the control socket");
    let sock = std::os::unix::net::UnixStream::from(fd);
    let _ = wire::recv::<ZygoteInit>(&sock, 64 << 10).expect("init");
    let ready = Hello::Ready {
        enforcement: Default::default(),
    };
    wire::send(&sock, &ready, &[]).expect("hello");
    while let Ok((_req, _fds)) = wire::recv::<CaseRequest>(&sock, wire::MAX_REQUEST_BYTES) {
        let reply = CaseReply {
            facts: RawFacts {
                termination: Some(Termination::Exited(0)),
                stdout: Captured {
                    data: b"ran\n".to_vec(),
                    bytes: 4,
                    truncated: false,
                    file: None,
                },
                ..Default::default()
            },
            failure: None,
            health: Health::Retire {
                reason: "the zygote failed to wipe the scratch directories (remove /tmp/x): \
                         EBUSY (Device or resource busy)"
                    .to_owned(),
            },
        };
        if wire::send_reply(&sock, reply).is_err() {
            break;
        }
    }
}

fn inotify_hold(dir: &std::path::Path) {
    use nix::sys::inotify::{InitFlags, Inotify};
    let mut held = Vec::new();
    let why = loop {
        match Inotify::init(InitFlags::IN_CLOEXEC) {
            Ok(i) => held.push(i),
            Err(e) => break e,
        }
        if held.len() >= 100_000 {
            break nix::errno::Errno::UnknownErrno;
        }
    };
    let tmp = dir.join("held.part");
    std::fs::write(&tmp, format!("{} {why}", held.len())).expect("write the count");
    std::fs::rename(&tmp, dir.join("held")).expect("publish the count");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.join("release").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(held);
}
