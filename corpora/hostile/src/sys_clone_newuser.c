/* Calls clone(CLONE_NEWUSER); the default seccomp profile kills the process. */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
    long r = syscall(SYS_clone, 0x10000000 | 17 /* CLONE_NEWUSER | SIGCHLD */, 0, 0, 0, 0);
    if (r == 0) _exit(0); /* a child of clone, or a call that worked */
    SAFE("clone(CLONE_NEWUSER) returned %ld: %s", r, strerror(errno));
}
