#!/usr/bin/env python3
"""Peak memory of the `hatchery batch` process itself (not its zygotes or cases) while 20 cases
print 60 MiB each: `python3 reports/bench/runner-memory.py [HATCHERY_BINARY ...]`.

The jobs run in tier `none` under `--memory 16M`, with `--report` and `--junit`, two workers.
The peak is the process's VmHWM, sampled every 50 ms until it exits (its rusage would also
count the tier-none zygote, a child it waits for)."""
import json, os, subprocess, sys, tempfile, time

def run(exe, d):
    jobs = os.path.join(d, "jobs.jsonl")
    with open(jobs, "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"p{i}", "tier": "none",
                                "argv": ["/bin/sh", "-c", "head -c 62914560 /dev/zero | tr '\\0' x"]}) + "\n")
    args = [exe, "batch", "-j", "2", "--memory", "16M", "--junit", os.path.join(d, "j.xml"),
            "--report", os.path.join(d, "r.jsonl"), jobs]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        try:
            for line in open(f"/proc/{p.pid}/status"):
                if line.startswith("VmHWM"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    return p.returncode, peak

for exe in sys.argv[1:] or ["target/release/hatchery"]:
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as d:
        code, kib = run(os.path.abspath(exe), d)
    print(f"{exe}: exit {code}, peak RSS {kib // 1024} MiB")
