# Encodes properly, but cannot decode: always answers 0 in pass 2.
mode, arg = input().split()
print("a" if mode == "encode" else 0)
