# Hexadecimal with the letters a..p as digits.
mode, arg = input().split()
if mode == "encode":
    print("".join(chr(ord("a") + int(d, 16)) for d in format(int(arg), "x")))
else:
    print(int("".join(format(ord(c) - ord("a"), "x") for c in arg), 16))
