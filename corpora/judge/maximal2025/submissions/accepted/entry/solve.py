from aaa_helpers import answer

print(answer(int(input())))
