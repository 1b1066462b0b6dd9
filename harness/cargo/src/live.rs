//! Live output (`--no-capture`): the zygote copies each test's stdout and stderr into two pipes
//! as they arrive; a thread per pipe writes them to our stdout and stderr, line by line,
//! escaped like all output a test makes (no terminal control sequences get through).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::thread::JoinHandle;

use hatchery_report::escape_text;

/// The pipes' write ends (for [`hatchery_sandbox::CaseSpec::live`]) and the forwarding threads.
pub struct Live {
    pub ends: [Arc<OwnedFd>; 2],
    threads: Vec<JoinHandle<()>>,
}

impl Live {
    pub fn start() -> std::io::Result<Live> {
        let mut ends = Vec::new();
        let mut threads = Vec::new();
        for stream in 0..2 {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            ends.push(Arc::new(w));
            threads.push(std::thread::spawn(move || forward(r, stream == 1)));
        }
        let ends = [ends.remove(0), ends.remove(0)];
        Ok(Live { ends, threads })
    }

    /// Waits until everything written has been forwarded. Every other holder of the write
    /// ends (specs, zygote requests) must be gone, or this waits for them.
    pub fn finish(self) {
        drop(self.ends);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn forward(r: OwnedFd, to_stderr: bool) {
    let mut r = BufReader::with_capacity(64 << 10, std::fs::File::from(r));
    let mut line = Vec::new();
    loop {
        line.clear();
        // Lines, but never more than 64 KiB at once: a test without newlines still shows.
        let n = match (&mut r).take(64 << 10).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let text = escape_text(&line[..n]);
        let _ = if to_stderr {
            std::io::stderr().lock().write_all(text.as_bytes())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        };
    }
}
