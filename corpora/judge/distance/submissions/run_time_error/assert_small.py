# Assumes small numbers: an AssertionError (exit status 1) on large ones.
import sys

for line in sys.stdin:
    a, b = map(int, line.split())
    assert a < 10**9 and b < 10**9, "number too large"
    print(abs(a - b))
