# Lines of `a b` with 0 <= a, b <= 10^15, no leading zeros, at least one line.
import re
import sys

line = re.compile(r"(0|[1-9][0-9]*) (0|[1-9][0-9]*)")
lines = sys.stdin.read().split("\n")
if len(lines) < 2 or lines[-1] != "":
    print("the input must be non-empty lines, each ending with a newline", file=sys.stderr)
    sys.exit(43)
for no, text in enumerate(lines[:-1], 1):
    m = line.fullmatch(text)
    if not m or max(int(m.group(1)), int(m.group(2))) > 10**15:
        print(f"line {no}: expected two integers in [0, 10^15]", file=sys.stderr)
        sys.exit(43)
sys.exit(42)
