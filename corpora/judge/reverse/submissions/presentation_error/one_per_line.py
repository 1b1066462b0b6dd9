# Right words in the right order, but one per line.
for w in reversed(input().split()):
    print(w)
