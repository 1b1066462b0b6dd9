import sys

k = int(sys.argv[1]) if len(sys.argv) > 1 else 2
print(int(input()) * k)
