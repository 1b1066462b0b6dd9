# N, then N words of lowercase letters and digits, one a line; N <= max_n (an argument,
# `max_n=K`, default 100).
import re
import sys

max_n = 100
for arg in sys.argv[1:]:
    if arg.startswith("max_n="):
        max_n = int(arg[len("max_n="):])
lines = sys.stdin.read().split("\n")
if not lines or lines[-1] != "" or not re.fullmatch(r"[1-9][0-9]*", lines[0]):
    sys.exit(43)
n = int(lines[0])
words = lines[1:-1]
if not 1 <= n <= max_n:
    print(f"N = {n} is not in [1, {max_n}]", file=sys.stderr)
    sys.exit(43)
if len(words) != n or not all(re.fullmatch(r"[a-z0-9]{1,30}", x) for x in words):
    print("expected N words of lowercase letters and digits", file=sys.stderr)
    sys.exit(43)
sys.exit(42)
