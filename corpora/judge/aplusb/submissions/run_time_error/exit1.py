import sys
a, b = map(int, input().split())
sys.exit(1)
