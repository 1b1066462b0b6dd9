/* Hostile: stdin names the test's .in file (/proc/self/fd/0), so the .ans beside it would
   be one open away. If it were readable this prints the right answer (and gets AC); in
   hatchery stdin is a sealed copy that names no file, so it prints a wrong one: WA. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    char p[4096];
    ssize_t n = readlink("/proc/self/fd/0", p, sizeof p - 5);
    if (n > 3 && memcmp(p + n - 3, ".in", 3) == 0) {
        strcpy(p + n - 3, ".ans");
        FILE *f = fopen(p, "r");
        int c;
        if (f) {
            while ((c = fgetc(f)) != EOF) putchar(c);
            return 0;
        }
    }
    puts("-1");
    return 0;
}
