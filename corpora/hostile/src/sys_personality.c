/* Calls personality(ADDR_NO_RANDOMIZE); the default seccomp profile kills the process. */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
    long r = syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */);
    if (r == 0) _exit(0); /* a child of clone, or a call that worked */
    SAFE("personality(ADDR_NO_RANDOMIZE) returned %ld: %s", r, strerror(errno));
}
