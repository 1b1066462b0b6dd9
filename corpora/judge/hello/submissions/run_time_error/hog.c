/* Touches 256 MiB, a page at a time, with a 64 MiB limit: MLE, which run_time_error
 * accepts. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    size_t n = 256u << 20;
    volatile char *p = malloc(n);
    if (!p) return 1;
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    printf("%d\n", p[n - 4096]);
    return 0;
}
