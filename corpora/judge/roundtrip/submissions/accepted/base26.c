/* Base 26 with the letters a..z as digits, least significant first. */
#include <stdio.h>
#include <string.h>

int main(void) {
    char mode[16], arg[64];
    if (scanf("%15s %63s", mode, arg) != 2) return 1;
    if (strcmp(mode, "encode") == 0) {
        unsigned long long n;
        sscanf(arg, "%llu", &n);
        do {
            putchar('a' + (int)(n % 26));
            n /= 26;
        } while (n);
        putchar('\n');
    } else {
        unsigned long long n = 0;
        for (int i = (int)strlen(arg) - 1; i >= 0; i--) n = n * 26 + (unsigned)(arg[i] - 'a');
        printf("%llu\n", n);
    }
    return 0;
}
