import re
import sys

line = sys.stdin.read()
m = re.fullmatch(r"(-?\d+) (-?\d+)\n", line)
if not m or any(abs(int(x)) > 10**9 for x in m.groups()):
    print("expected two integers of at most 10^9 in absolute value on one line")
    sys.exit(43)
sys.exit(42)
