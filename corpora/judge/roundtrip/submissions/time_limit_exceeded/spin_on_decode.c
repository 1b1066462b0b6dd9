/* Pass 1 is fine; pass 2 never finishes. */
#include <stdio.h>
#include <string.h>

int main(void) {
    char mode[16], arg[64];
    if (scanf("%15s %63s", mode, arg) != 2) return 1;
    if (strcmp(mode, "encode") == 0) {
        puts("z");
        return 0;
    }
    volatile unsigned long x = 0;
    for (;;) x++;
}
