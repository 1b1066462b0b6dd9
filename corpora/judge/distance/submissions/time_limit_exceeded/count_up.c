/* Counts from the smaller number up to the larger one: far too slow for 10^15. */
#include <stdio.h>

int main(void) {
    long long a, b;
    while (scanf("%lld %lld", &a, &b) == 2) {
        volatile long long lo = a < b ? a : b, hi = a < b ? b : a, d = 0;
        while (lo < hi) {
            lo++;
            d++;
        }
        printf("%lld\n", d);
    }
    return 0;
}
