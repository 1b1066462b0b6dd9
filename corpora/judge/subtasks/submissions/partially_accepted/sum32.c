/* 32-bit sums: group1 only (30 points). */
#include <stdio.h>
int main(void) {
    int n;
    unsigned s = 0;
    long long x;
    if (scanf("%d", &n) != 1) return 1;
    while (n-- > 0 && scanf("%lld", &x) == 1) s += (unsigned)x;
    printf("%d\n", (int)s);
    return 0;
}
