/* Allocates and touches argv[1] MiB, then exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 16;
    char *p = malloc(mib << 20);
    if (!p) { perror("malloc"); return 12; }
    memset(p, 7, mib << 20);
    printf("touched %zu MiB\n", mib);
    return p[mib] == 7 ? 0 : 1;
}
