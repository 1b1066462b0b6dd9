/* Forks sleeping children until fork fails; prints how many it made and exits 0. */
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int n = 0;
    for (;;) {
        pid_t p = fork();
        if (p < 0) break;
        if (p == 0) { for (;;) pause(); }
        n++;
        if (n > 100000) break;
    }
    printf("%d\n", n);
    return 0;
}
