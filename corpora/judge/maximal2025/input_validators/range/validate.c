/* One integer of absolute value at most {{max_abs}} on one line. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    long x;
    char nl, extra;
    if (scanf("%ld%c", &x, &nl) != 2 || nl != '\n' || scanf("%c", &extra) == 1)
        return 43;
    if (labs(x) > {{max_abs}}) {
        fprintf(stderr, "%ld is out of range\n", x);
        return 43;
    }
    return 42;
}
