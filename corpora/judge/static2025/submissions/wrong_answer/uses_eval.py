print(eval("2 * " + input()))
