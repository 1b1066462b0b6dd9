/* 0 + N = N, but the numbers must be positive (validator_flags: min_value 1). */
#include <stdio.h>
int main(void) {
    long long n;
    if (scanf("%lld", &n) != 1) return 1;
    printf("0 %lld\n", n);
    return 0;
}
