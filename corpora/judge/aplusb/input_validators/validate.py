# One line: two integers a and b with |a|, |b| <= 10^12.
import re
import sys

m = re.fullmatch(r"(-?[0-9]+) (-?[0-9]+)\n", sys.stdin.read())
if not m or any(abs(int(x)) > 10**12 for x in m.groups()):
    print("expected one line with two integers of absolute value at most 10^12", file=sys.stderr)
    sys.exit(43)
sys.exit(42)
