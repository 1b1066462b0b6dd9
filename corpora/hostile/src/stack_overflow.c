/* Unbounded recursion. */
#include "hostile.h"
static int deep(int n) { volatile char b[4096]; b[0] = n; return deep(n + 1) + b[0]; }
int main(void) { return deep(0); }
