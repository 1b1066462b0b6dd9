import sys

# Right without arguments (group 1), half the answer with them (group 2).
n = int(input())
print(n * int(sys.argv[1]) // 2 if len(sys.argv) > 1 else n * 2)
