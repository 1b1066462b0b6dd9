/* Calls unshare(CLONE_NEWUSER); the default seccomp profile kills the process. */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
    long r = syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
    if (r == 0) _exit(0); /* a child of clone, or a call that worked */
    SAFE("unshare(CLONE_NEWUSER) returned %ld: %s", r, strerror(errno));
}
