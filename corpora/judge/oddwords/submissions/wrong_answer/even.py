# The even words instead of the odd ones.
n = int(input())
words = [input() for _ in range(n)]
print("\n".join(words[1::2]))
