# Input: one line `encode N` with 0 <= N <= 10^18, N without leading zeros. Exit 42 if so.
import re
import sys

data = sys.stdin.read()
m = re.fullmatch(r"encode (0|[1-9][0-9]{0,18})\n", data)
if not m:
    print("expected one line `encode N`", file=sys.stderr)
    sys.exit(43)
if int(m.group(1)) > 10**18:
    print("N is larger than 10^18", file=sys.stderr)
    sys.exit(43)
sys.exit(42)
