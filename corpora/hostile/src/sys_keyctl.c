/* Calls keyctl; the default seccomp profile kills the process. */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
    long r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
    if (r == 0) _exit(0); /* a child of clone, or a call that worked */
    SAFE("keyctl returned %ld: %s", r, strerror(errno));
}
