def answer(x):
    return x + 1
