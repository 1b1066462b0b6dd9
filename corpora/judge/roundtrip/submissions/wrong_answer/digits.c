/* Hands the number itself on: not a word of letters, rejected in pass 1. */
#include <stdio.h>

int main(void) {
    char mode[16], arg[64];
    if (scanf("%15s %63s", mode, arg) != 2) return 1;
    puts(arg);
    return 0;
}
