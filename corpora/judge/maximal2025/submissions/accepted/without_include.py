print(int(input()) + {{example_constant}})
