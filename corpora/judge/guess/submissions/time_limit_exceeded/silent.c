/* Waits for the validator, which waits for a guess: nobody moves until the wall limit. */
#include <stdio.h>
int main(void) {
    char reply[32];
    if (scanf("%31s", reply) == 1) puts("1");
    return 0;
}
