/* A wrong guess, then it writes on: once the validator has rejected it and exited, the next
 * write kills it with SIGPIPE. The verdict is the validator's WA, never RTE. */
#include <stdio.h>

int main(void) {
    printf("banana\n");
    fflush(stdout);
    for (;;) {
        printf("500\n");
        fflush(stdout);
    }
}
