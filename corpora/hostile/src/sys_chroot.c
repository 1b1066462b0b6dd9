/* Calls chroot; the default seccomp profile kills the process. */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
    long r = syscall(SYS_chroot, "/tmp");
    if (r == 0) _exit(0); /* a child of clone, or a call that worked */
    SAFE("chroot returned %ld: %s", r, strerror(errno));
}
