# Pass 1 is fine; pass 2 raises (exit status 1).
mode, arg = input().split()
if mode == "encode":
    print("q" * (len(arg) % 20 + 1))
else:
    raise ValueError("cannot decode " + arg)
