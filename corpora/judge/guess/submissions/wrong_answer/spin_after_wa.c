/* A wrong guess, then it keeps running: the validator has already rejected it and exited,
 * so the verdict is WA (as problemtools decides), never TLE. */
#include <stdio.h>

int main(void) {
    printf("banana\n");
    fflush(stdout);
    for (volatile unsigned long i = 0;; i++) {
    }
}
