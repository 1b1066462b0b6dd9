print("HELLO WORLD!")
