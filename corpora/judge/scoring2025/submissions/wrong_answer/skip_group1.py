import sys

# Wrong on group 1, right on group 2, which requires group 1: scores nothing.
n = int(input())
print(n * int(sys.argv[1]) if len(sys.argv) > 1 else n * 2 + 1)
