//! `hatchery-serve` end to end: each test starts a server on 127.0.0.1 (port 0) or a unix
//! socket, talks to it with real HTTP clients (reqwest; curl for the unix socket), and stops
//! and reaps it. Request bodies of go-judge's README are used verbatim.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn require_all() -> bool {
    std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all")
}

/// Prints why a test cannot run here; fails instead under HATCHERY_TEST_REQUIRE=all.
fn skip(why: &str) {
    if require_all() {
        panic!("HATCHERY_TEST_REQUIRE=all but: {why}");
    }
    eprintln!("SKIP: {why}");
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running server; stopped (SIGTERM, then SIGKILL after 20 s) and reaped on drop.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (TCP servers).
    url: String,
    socket: Option<PathBuf>,
    store: PathBuf,
}

enum Start {
    Up(Server),
    /// The host cannot run the tier (exit code 6): skip.
    Unsupported(String),
}

fn start(name: &str, extra: &[&str]) -> Start {
    // cgroup v2: step out of the test's own cgroup first (as the cli tests do).
    static DELEGATE: std::sync::Once = std::sync::Once::new();
    DELEGATE.call_once(|| drop(hatchery_sandbox::cgroup::CgroupSlot::allocate()));
    let store = scratch(name).join("store");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hatchery-serve"));
    cmd.arg("--store").arg(&store).args(["-j", "2"]);
    if !extra.iter().any(|a| *a == "--socket" || *a == "--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.args(extra)
        .env_remove("HATCHERY_SERVE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Owned by its guard from the start: stopped and reaped whatever happens.
    let mut srv = Server {
        child: cmd.spawn().expect("start hatchery-serve"),
        url: String::new(),
        socket: None,
        store,
    };
    let mut err = BufReader::new(srv.child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            let st = srv.child.wait().unwrap();
            if st.code() == Some(6) {
                return Start::Unsupported(seen);
            }
            panic!("hatchery-serve exited ({st}) before listening:\n{seen}");
        }
        seen.push_str(&line);
        if let Some(at) = line.trim().strip_prefix("hatchery serve: listening on ") {
            // Keep draining stderr so the server never blocks on it.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while err.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            srv.socket = at.strip_prefix("unix:").map(PathBuf::from);
            srv.url = at.to_owned();
            return Start::Up(srv);
        }
    }
}

/// Starts a server or returns None after saying why the test is skipped.
fn up(name: &str, extra: &[&str]) -> Option<Server> {
    match start(name, extra) {
        Start::Up(s) => Some(s),
        Start::Unsupported(why) => {
            skip(&format!("the host cannot run tier hardened: {why}"));
            None
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Server {
    fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
    }

    fn run(&self, body: &Value) -> Vec<Value> {
        let r = self
            .client()
            .post(format!("{}/run", self.url))
            .json(body)
            .send()
            .unwrap();
        let code = r.status();
        let text = r.text().unwrap();
        assert!(code.is_success(), "{code}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn run_status(&self, body: &str) -> (u16, Value) {
        let r = self
            .client()
            .post(format!("{}/run", self.url))
            .body(body.to_owned())
            .send()
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().unwrap_or(Value::Null))
    }

    /// Stops the server and returns its exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        self.child.wait().unwrap()
    }
}

fn have(prog: &str) -> bool {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .any(|d| Path::new(d).join(prog).is_file())
}

// go-judge's README, "Single": compile with copyOutCached, then run the cached binary.
const README_COMPILE: &str = r##"{
    "cmd": [{
        "args": ["/usr/bin/g++", "a.cc", "-o", "a"],
        "env": ["PATH=/usr/bin:/bin"],
        "files": [{
            "content": ""
        }, {
            "name": "stdout",
            "max": 10240
        }, {
            "name": "stderr",
            "max": 10240
        }],
        "cpuLimit": 10000000000,
        "memoryLimit": 104857600,
        "procLimit": 50,
        "copyIn": {
            "a.cc": {
                "content": "#include <iostream>\nusing namespace std;\nint main() {\nint a, b;\ncin >> a >> b;\ncout << a + b << endl;\n}"
            }
        },
        "copyOut": ["stdout", "stderr"],
        "copyOutCached": ["a.cc", "a"]
    }]
}"##;

// go-judge's README, "Multiple (interaction problem)".
const README_PIPE: &str = r#"{
    "cmd": [{
        "args": ["/bin/cat", "1"],
        "env": ["PATH=/usr/bin:/bin"],
        "files": [{
            "content": ""
        }, null, {
            "name": "stderr",
            "max": 10240
        }],
        "cpuLimit": 1000000000,
        "memoryLimit": 1048576,
        "procLimit": 50,
        "copyIn": {
            "1": { "content": "TEST 1" }
        },
        "copyOut": ["stderr"]
    },
    {
        "args": ["/bin/cat"],
        "env": ["PATH=/usr/bin:/bin"],
        "files": [null, {
            "name": "stdout",
            "max": 10240
        }, {
            "name": "stderr",
            "max": 10240
        }],
        "cpuLimit": 1000000000,
        "memoryLimit": 1048576,
        "procLimit": 50,
        "copyOut": ["stdout", "stderr"]
    }],
    "pipeMapping": [{
        "in" : {"index": 0, "fd": 1 },
        "out" : {"index": 1, "fd" : 0 }
    }]
}"#;

#[test]
fn readme_compile_once_then_run_three_tests_by_file_id() {
    if !have("g++") {
        return skip("g++ is needed for go-judge's README example");
    }
    let Some(s) = up("compile", &[]) else { return };
    let r = &s.run(&serde_json::from_str(README_COMPILE).unwrap())[0];
    assert_eq!(r["status"], "Accepted", "{r}");
    assert_eq!(r["exitStatus"], 0);
    assert_eq!(r["files"], json!({"stdout": "", "stderr": ""}));
    assert!(r["time"].as_u64().unwrap() > 0 && r["runTime"].as_u64().unwrap() > 0);
    assert!(r["memory"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["outcome"], "ok");
    assert!(r["enforcement"].is_object());
    let bin = r["fileIds"]["a"].as_str().unwrap().to_owned();
    let src = r["fileIds"]["a.cc"].as_str().unwrap().to_owned();
    // The cached source comes back byte for byte, the list names both.
    let got = s
        .client()
        .get(format!("{}/file/{src}", s.url))
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.text().unwrap().starts_with("#include <iostream>"));
    let list: Value = s
        .client()
        .get(format!("{}/file", s.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list[&bin], "a");
    assert_eq!(list[&src], "a.cc");
    // Three tests, one request each, the binary copied in by id; they run side by side.
    for (input, want) in [("1 1", "2\n"), ("2 3", "5\n"), ("-7 7", "0\n")] {
        let body = json!({"cmd": [{
            "args": ["a"],
            "env": ["PATH=/usr/bin:/bin"],
            "files": [{"content": input}, {"name": "stdout", "max": 10240},
                      {"name": "stderr", "max": 10240}],
            "cpuLimit": 10000000000u64, "memoryLimit": 104857600, "procLimit": 50,
            "copyIn": {"a": {"fileId": bin}},
            "copyOut": ["stdout"]
        }]});
        let r = &s.run(&body)[0];
        assert_eq!(r["status"], "Accepted", "{r}");
        assert_eq!(r["files"]["stdout"], want, "{r}");
    }
    // Several commands in one request: results in order.
    let many: Vec<Value> = (0..3)
        .map(|i| {
            json!({"args": ["/bin/sh", "-c", format!("echo {i}; exit {i}")],
                        "files": [null, {"name": "stdout", "max": 100}, null],
                        "copyOut": ["stdout"]})
        })
        .collect();
    let rs = s.run(&json!({ "cmd": many }));
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(r["files"]["stdout"], format!("{i}\n"));
        assert_eq!(r["exitStatus"], i);
        let want = if i == 0 {
            "Accepted"
        } else {
            "Nonzero Exit Status"
        };
        assert_eq!(r["status"], want);
    }
    assert!(s.stop().success());
}

#[test]
fn readme_interaction_through_pipe_mapping() {
    let Some(s) = up("pipe", &[]) else { return };
    let rs = s.run(&serde_json::from_str(README_PIPE).unwrap());
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0]["status"], "Accepted", "{}", rs[0]);
    assert_eq!(rs[0]["files"], json!({"stderr": ""}));
    assert_eq!(rs[1]["status"], "Accepted", "{}", rs[1]);
    assert_eq!(rs[1]["files"]["stdout"], "TEST 1");
    // Both directions: an interactor asks, a solution answers, the interactor checks.
    let body = json!({
        "cmd": [
            {"args": ["/bin/sh", "-c", "echo 20; read x; [ \"$x\" = 21 ] && echo ok >&2"],
             "files": [null, null, {"name": "stderr", "max": 100}], "copyOut": ["stderr"]},
            {"args": ["/bin/sh", "-c", "read n; echo $((n+1))"],
             "files": [null, null, {"name": "stderr", "max": 100}]}
        ],
        "pipeMapping": [
            {"in": {"index": 0, "fd": 1}, "out": {"index": 1, "fd": 0}},
            {"in": {"index": 1, "fd": 1}, "out": {"index": 0, "fd": 0}}
        ]
    });
    let rs = s.run(&body);
    assert_eq!(rs[0]["status"], "Accepted", "{}", rs[0]);
    assert_eq!(rs[0]["files"]["stderr"], "ok\n");
    assert_eq!(rs[1]["status"], "Accepted", "{}", rs[1]);
    // Three commands cannot be paired.
    let (code, msg) = s.run_status(
        r#"{"cmd":[{"args":["/bin/true"]},{"args":["/bin/true"]},{"args":["/bin/true"]}],
            "pipeMapping":[{"in":{"index":0,"fd":1},"out":{"index":1,"fd":0}}]}"#,
    );
    assert_eq!(code, 400, "{msg}");
}

#[test]
fn statuses_limits_and_server_maximums() {
    let Some(s) = up("limits", &["--max-cpu-time", "2s", "--max-memory", "256M"]) else {
        return;
    };
    let out =
        |max: u64| json!([null, {"name": "stdout", "max": max}, {"name": "stderr", "max": max}]);
    let cases = [
        // CPU loop under 300 ms: killed at the limit.
        (
            json!({"args": ["/bin/sh", "-c", "while :; do :; done"], "cpuLimit": 300_000_000u64,
                   "files": out(100)}),
            "Time Limit Exceeded",
            "time_limit",
        ),
        (
            json!({"args": ["/bin/sh", "-c", "exit 3"], "files": out(100)}),
            "Nonzero Exit Status",
            "nonzero_exit",
        ),
        (
            json!({"args": ["/bin/sh", "-c", "kill -SEGV $$"], "files": out(100)}),
            "Signalled",
            "signaled",
        ),
        // 1000 bytes into a 10-byte collector.
        (
            json!({"args": ["/bin/sh", "-c", "head -c 1000 /dev/zero"], "files": out(10),
                   "copyOut": ["stdout"]}),
            "Output Limit Exceeded",
            "",
        ),
        (
            json!({"args": ["/usr/bin/perl", "-e", "$x = 'a' x (400 << 20); print length $x"],
                   "memoryLimit": 64u64 << 20, "files": out(100)}),
            "Memory Limit Exceeded",
            "memory_limit",
        ),
    ];
    let rs = s.run(&json!({"cmd": cases.iter().map(|c| c.0.clone()).collect::<Vec<_>>()}));
    for (r, (_, status, outcome)) in rs.iter().zip(&cases) {
        assert_eq!(r["status"], *status, "{r}");
        if !outcome.is_empty() {
            assert_eq!(r["outcome"], *outcome, "{r}");
        }
    }
    assert_eq!(rs[0]["limit"], "cpu");
    assert_eq!(rs[2]["signal"], "SIGSEGV");
    assert_eq!(rs[2]["exitStatus"], 11);
    assert_eq!(rs[3]["files"]["stdout"].as_str().unwrap().len(), 10);
    assert_eq!(rs[3]["fileError"][0]["type"], "CollectSizeExceeded");
    // A command that copies nothing in or out runs in a private directory of its own:
    // what one writes there, the next does not see; one that copies a file out still gets
    // its working directory in the work tree.
    let out2 = json!([null, {"name": "stdout", "max": 1000}, {"name": "stderr", "max": 1000}]);
    for _ in 0..2 {
        let r = &s.run(
            &json!({"cmd": [{"args": ["/bin/sh", "-c", "ls -A; echo x > left"],
            "files": out2, "copyOut": ["stdout"]}]}),
        )[0];
        assert_eq!(r["status"], "Accepted", "{r}");
        // (Under a server whose store is below /tmp, the way to it shows there too.)
        let listed = r["files"]["stdout"].as_str().unwrap();
        assert!(!listed.lines().any(|l| l == "left"), "{r}");
    }
    let r = &s.run(
        &json!({"cmd": [{"args": ["/bin/sh", "-c", "echo made > out.txt"],
        "files": out2, "copyOut": ["out.txt"]}]}),
    )[0];
    assert_eq!(r["files"]["out.txt"], "made\n", "{r}");
    // Asking beyond the server's maximums gets the maximums; asking nothing too.
    let r = &s.run(
        &json!({"cmd": [{"args": ["/bin/true"], "cpuLimit": 100_000_000_000u64,
                                     "memoryLimit": 1u64 << 40}, {"args": ["/bin/true"]}]}),
    );
    for r in r {
        assert_eq!(r["limits"]["cpu_us"], 2_000_000, "{r}");
        assert_eq!(r["limits"]["memory_bytes"], 256u64 << 20, "{r}");
    }
}

#[test]
fn client_paths_never_leave_the_working_directory_or_the_store() {
    let Some(s) = up("paths", &[]) else { return };
    for bad in [
        r#"{"cmd":[{"args":["/bin/true"],"copyIn":{"../x":{"content":"a"}}}]}"#,
        r#"{"cmd":[{"args":["/bin/true"],"copyIn":{"/etc/x":{"content":"a"}}}]}"#,
        r#"{"cmd":[{"args":["/bin/true"],"copyOut":["../../etc/passwd"]}]}"#,
        r#"{"cmd":[{"args":["/bin/true"],"copyOutCached":["/etc/passwd"]}]}"#,
        r#"{"cmd":[{"args":["/bin/true"],"copyOutDir":"/tmp/out"}]}"#,
        r#"{"cmd":[{"args":[]}]}"#,
        r#"{"cmd":[]}"#,
        r#"not json"#,
    ] {
        let (code, msg) = s.run_status(bad);
        assert_eq!(code, 400, "{bad}: {msg}");
        assert!(msg.is_string(), "{msg}");
    }
    // `src` outside the store, a fileId that is a path: file errors, nothing read.
    let rs = s.run(&json!({"cmd": [
        {"args": ["/bin/cat", "x"], "copyIn": {"x": {"src": "/etc/passwd"}}},
        {"args": ["/bin/cat", "x"], "copyIn": {"x": {"fileId": "../../../etc/passwd"}}},
        {"args": ["/bin/cat"], "files": [{"src": "/etc/hostname"}, null, null]}
    ]}));
    for r in &rs {
        assert_eq!(r["status"], "File Error", "{r}");
        assert!(r.get("outcome").is_none_or(Value::is_null), "{r}");
    }
    // A case that leaves a link to a host file: copyOut refuses to follow it.
    let rs = s.run(&json!({"cmd": [{
        "args": ["/bin/sh", "-c", "ln -s /etc/passwd p && mkdir d && echo hi > d/f"],
        "copyOut": ["p", "d/f", "missing?"]
    }]}));
    let r = &rs[0];
    assert_eq!(r["status"], "File Error", "{r}");
    assert_eq!(r["outcome"], "ok");
    assert!(r["files"].get("p").is_none(), "{r}");
    assert_eq!(r["files"]["d/f"], "hi\n");
    assert_eq!(r["fileError"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["fileError"][0]["name"], "p");
    // Working directories are per command and gone afterwards.
    let left: Vec<_> = std::fs::read_dir(s.store.join("work")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn file_store_upload_list_get_delete_quota() {
    let Some(s) = up("store", &["--store-quota", "1000", "--max-file", "600"]) else {
        return;
    };
    let c = s.client();
    let add = |name: &str, data: Vec<u8>| {
        let form = reqwest::blocking::multipart::Form::new().part(
            "file",
            reqwest::blocking::multipart::Part::bytes(data).file_name(name.to_owned()),
        );
        c.post(format!("{}/file", s.url))
            .multipart(form)
            .send()
            .unwrap()
    };
    let r = add("one.txt", vec![b'1'; 400]);
    assert_eq!(r.status(), 200);
    let one: String = r.json().unwrap();
    let two: String = add("two.txt", vec![b'2'; 400]).json().unwrap();
    let got = c.get(format!("{}/file/{one}", s.url)).send().unwrap();
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"one.txt\""
    );
    assert_eq!(got.bytes().unwrap().as_ref(), &[b'1'; 400][..]);
    // `one` was used after `two`: adding a third evicts `two`.
    let three: String = add("three.txt", vec![b'3'; 400]).json().unwrap();
    let list: Value = c
        .get(format!("{}/file", s.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list, json!({ &one: "one.txt", &three: "three.txt" }));
    assert_eq!(
        c.get(format!("{}/file/{two}", s.url))
            .send()
            .unwrap()
            .status(),
        404
    );
    // Too large for the store.
    assert_eq!(add("big", vec![0; 700]).status(), 413);
    // A stored file as stdin and as a copied-in file.
    let rs = s.run(&json!({"cmd": [{
        "args": ["/bin/sh", "-c", "wc -c < in; wc -c"],
        "files": [{"fileId": three}, {"name": "stdout", "max": 100}, null],
        "copyIn": {"in": {"fileId": one}},
        "copyOut": ["stdout"]
    }]}));
    assert_eq!(rs[0]["files"]["stdout"], "400\n400\n", "{}", rs[0]);
    // A path inside the store is accepted as `src`.
    let src = s.store.join("files").join(&one);
    let rs = s.run(&json!({"cmd": [{"args": ["/bin/sh", "-c", "wc -c < x"],
        "files": [null, {"name": "stdout", "max": 100}, null],
        "copyIn": {"x": {"src": src}}, "copyOut": ["stdout"]}]}));
    assert_eq!(rs[0]["files"]["stdout"], "400\n", "{}", rs[0]);
    assert_eq!(
        c.delete(format!("{}/file/{one}", s.url))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.delete(format!("{}/file/{one}", s.url))
            .send()
            .unwrap()
            .status(),
        404
    );
    // The store's files are nobody's business but ours (mode 0700, hidden from cases).
    let rs = s.run(&json!({"cmd": [{"args": ["/bin/ls", s.store.join("files")],
        "files": [null, {"name": "stdout", "max": 1000}, null], "copyOut": ["stdout"]}]}));
    assert_eq!(rs[0]["files"]["stdout"], "", "{}", rs[0]);
}

#[test]
fn token_version_health_metrics_and_body_cap() {
    // A non-loopback address without a token is refused before anything is bound
    // (192.0.2.1 is TEST-NET-1: never this host's).
    let out = Command::new(env!("CARGO_BIN_EXE_hatchery-serve"))
        .args(["--listen", "192.0.2.1:5050", "--store"])
        .arg(scratch("refuse"))
        .env_remove("HATCHERY_SERVE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 192.0.2.1:5050 without --token"),
        "{err}"
    );

    let Some(s) = up("token", &["--token", "s3cret", "--max-body", "2K"]) else {
        return;
    };
    let c = s.client();
    let body = r#"{"cmd":[{"args":["/bin/true"]}]}"#;
    let r = c.post(format!("{}/run", s.url)).body(body).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/run", s.url))
        .bearer_auth("wrong")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/run", s.url))
        .bearer_auth("s3cret")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(format!("{}/health", s.url)).send().unwrap().status(),
        200
    );
    let v: Value = c
        .get(format!("{}/version", s.url))
        .bearer_auth("s3cret")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(v["buildVersion"].as_str().unwrap().starts_with("hatchery "));
    assert_eq!(v["tier"], "hardened");
    // Beyond --max-body.
    let big = format!(
        r#"{{"cmd":[{{"args":["/bin/true"],"copyIn":{{"x":{{"content":"{}"}}}}}}]}}"#,
        "a".repeat(4096)
    );
    let r = c
        .post(format!("{}/run", s.url))
        .bearer_auth("s3cret")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    let m = c
        .get(format!("{}/metrics", s.url))
        .bearer_auth("s3cret")
        .send()
        .unwrap()
        .text()
        .unwrap();
    for want in [
        r#"hatchery_serve_cases_total{outcome="ok",status="Accepted"} 1"#,
        "hatchery_serve_queue_depth 0",
        "hatchery_serve_case_latency_seconds_count 1",
        r#"hatchery_serve_http_requests_total{endpoint="/run",code="401"} 2"#,
        "hatchery_serve_workers 2",
    ] {
        assert!(m.contains(want), "missing `{want}` in:\n{m}");
    }
    assert!(s.stop().success());
}

#[test]
fn unix_socket_with_curl() {
    let dir = scratch("unix");
    let sock = dir.join("serve.sock");
    let sock_s = sock.to_str().unwrap();
    let Some(s) = up("unix-server", &["--socket", sock_s]) else {
        return;
    };
    assert_eq!(s.socket.as_deref(), Some(sock.as_path()));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--unix-socket", sock_s])
            .args(args)
            .output()
            .expect("curl");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let v: Value = serde_json::from_str(&curl(&["http://localhost/version"])).unwrap();
    assert_eq!(v["workers"], 2);
    let rs: Value = serde_json::from_str(&curl(&[
        "-d",
        r#"{"cmd":[{"args":["/bin/echo","over","unix"],"files":[null,{"name":"stdout","max":64},null],"copyOut":["stdout"]}]}"#,
        "http://localhost/run",
    ]))
    .unwrap();
    assert_eq!(rs[0]["files"]["stdout"], "over unix\n", "{rs}");
    assert!(s.stop().success());
    assert!(!sock.exists(), "the socket is removed at exit");
}

/// One server-sent event: its name and its data as JSON.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let (mut name, mut data) = (String::from("message"), String::new());
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
        }
        // Keep-alive comments (`:`) carry no data.
        if !data.is_empty() {
            out.push((
                name,
                serde_json::from_str(&data).expect("event data is JSON"),
            ));
        }
    }
    out
}

impl Server {
    /// `POST /judge`: the status, the content type and the body.
    fn judge(&self, body: &Value) -> (u16, String, String) {
        let r = self
            .client()
            .post(format!("{}/judge", self.url))
            .json(body)
            .send()
            .unwrap();
        let code = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (code, ct, r.text().unwrap())
    }
}

fn problems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/judge")
}

/// The event stream of a judging: `compile` first, a `case` per judged case, `result` last;
/// returns the case events and the result.
fn judged(srv: &Server, body: &Value) -> (Vec<Value>, Value) {
    let (code, ct, text) = srv.judge(body);
    assert_eq!(code, 200, "{text}");
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"compile"), "{text}");
    assert_eq!(names.last(), Some(&"result"), "{text}");
    assert!(
        names[1..names.len() - 1].iter().all(|n| *n == "case"),
        "{names:?}"
    );
    assert_eq!(events[0].1["verdict"], "AC", "{text}");
    let cases = events[1..events.len() - 1]
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    (cases, events.last().unwrap().1.clone())
}

#[test]
fn judge_streams_cases_then_the_verdict() {
    if !have("gcc") {
        return skip("no gcc to compile the submissions");
    }
    let problems = problems_dir();
    let Some(srv) = up(
        "judge",
        &[
            "--problems",
            problems.to_str().unwrap(),
            "--max-cpu-time",
            "5s",
        ],
    ) else {
        return;
    };
    let sum = std::fs::read_to_string(problems.join("aplusb/submissions/accepted/sum.c")).unwrap();

    // AC: every case judged and streamed, the final result as `hatchery judge --json`.
    let (cases, result) = judged(
        &srv,
        &json!({"problem": "aplusb", "files": {"sum.c": {"content": sum}}}),
    );
    assert_eq!(result["verdict"], "AC", "{result}");
    assert_eq!(result["problem"], "A plus B");
    assert_eq!(result["submission"], "sum.c");
    assert_eq!(result["language"], "c");
    assert_eq!(result["compile"]["verdict"], "AC");
    let in_result: Vec<&Value> = result["cases"].as_array().unwrap().iter().collect();
    assert_eq!(in_result.len(), 4, "sample and 3 secret cases: {result}");
    assert_eq!(cases.len(), 4, "{cases:?}");
    let mut streamed: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let mut named: Vec<&str> = in_result
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    streamed.sort();
    named.sort();
    assert_eq!(streamed, named);
    for c in &cases {
        assert_eq!(c["verdict"], "AC", "{c}");
        // The shape of `hatchery judge --json`'s cases.
        for k in [
            "cpu_us",
            "wall_us",
            "peak_memory_bytes",
            "message",
            "exit_code",
        ] {
            assert!(c.get(k).is_some(), "{k} missing in {c}");
        }
    }

    // WA, with the source from the store by fileId and a named entry point: the first
    // failing case streamed before the verdict that names it.
    let wa = sum.replace("a + b", "a + b + 1");
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(wa.into_bytes()).file_name("wa.c"),
    );
    let id: String = srv
        .client()
        .post(format!("{}/file", srv.url))
        .multipart(form)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (cases, result) = judged(
        &srv,
        &json!({"problem": "aplusb", "language": "c", "entrypoint": "wa.c",
                "files": {"wa.c": {"fileId": id}}}),
    );
    assert_eq!(result["verdict"], "WA", "{result}");
    let failed = result["failed_case"].as_str().unwrap();
    assert!(
        cases
            .iter()
            .any(|c| c["name"] == failed && c["verdict"] == "WA"),
        "{failed} not streamed as WA: {cases:?}"
    );
    assert!(!cases.is_empty() && cases.len() <= 4);

    // A compile error: the compile event says so, no case runs.
    let (code, _, text) =
        srv.judge(&json!({"problem": "aplusb", "files": {"bad.c": {"content": "int main( {"}}}));
    assert_eq!(code, 200);
    let ev = sse_events(&text);
    assert_eq!(ev.len(), 2, "{text}");
    assert_eq!(ev[0].0, "compile");
    assert_eq!(ev[0].1["verdict"], "CE");
    assert_eq!(ev[1].0, "result");
    assert_eq!(ev[1].1["verdict"], "CE");
}

#[test]
fn judge_refuses_names_outside_the_problems_directory() {
    let problems = problems_dir();
    let Some(srv) = up("judge-names", &["--problems", problems.to_str().unwrap()]) else {
        return;
    };
    let files = json!({"a.c": {"content": "int main(void) { return 0; }"}});
    for name in [
        "..",
        "../judge",
        "aplusb/../aplusb",
        "/etc",
        "aplusb/data",
        ".",
        ".hidden",
        "",
    ] {
        let (code, _, text) = srv.judge(&json!({"problem": name, "files": files}));
        assert_eq!(code, 400, "{name:?}: {text}");
    }
    let (code, _, text) = srv.judge(&json!({"problem": "no-such-problem", "files": files}));
    assert_eq!(code, 404, "{text}");
    // Source file names are plain names too.
    for f in ["../a.c", "dir/a.c", ".."] {
        let (code, _, text) =
            srv.judge(&json!({"problem": "aplusb", "files": {f: {"content": "x"}}}));
        assert_eq!(code, 400, "{f:?}: {text}");
    }
    let (code, _, text) = srv.judge(&json!({"problem": "aplusb", "files": {}}));
    assert_eq!(code, 400, "{text}");
}
