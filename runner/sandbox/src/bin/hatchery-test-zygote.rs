//! Test-only entry point: `hatchery-test-zygote __zygote` is a zygote, for the integration
//! tests of this crate (which has no binary of its own otherwise).
//!
//! `hatchery-test-zygote __fake-retire __zygote` is a stand-in that speaks the protocol of a
//! tier `none` zygote without running anything: every case "exits 0 and prints `ran`", and
//! every reply says the zygote must retire (a cleanup failure no real case can provoke on
//! demand). It tests the supervisor's side of that contract.

use hatchery_report::{Captured, RawFacts, Termination};
use hatchery_sandbox::wire::{self, CaseReply, CaseRequest, Health, Hello, ZygoteInit};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["__zygote"] => hatchery_sandbox::zygote::main(),
        ["__fake-retire", "__zygote"] => fake_retire(),
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
