/* 32-bit arithmetic: right on small inputs, wrong once the sum overflows. */
#include <stdio.h>
int main(void) {
    int a, b;
    if (scanf("%d %d", &a, &b) != 2) return 0;
    printf("%d\n", (int)((unsigned)a + (unsigned)b));
    return 0;
}
