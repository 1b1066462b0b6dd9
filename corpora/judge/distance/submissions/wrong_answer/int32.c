/* 32-bit integers: wrong as soon as the numbers get large. */
#include <stdio.h>

int main(void) {
    long long a, b;
    while (scanf("%lld %lld", &a, &b) == 2) {
        int x = (int)a, y = (int)b;
        printf("%d\n", x > y ? x - y : y - x);
    }
    return 0;
}
