/* clone3 with CLONE_NEWUSER: seccomp cannot read clone3's flags, so it must be refused outright. */
#include "hostile.h"
#include <linux/sched.h>
#include <sys/syscall.h>
int main(void) {
    struct clone_args a; memset(&a, 0, sizeof a);
    a.flags = CLONE_NEWUSER; a.exit_signal = 17;
    long r = syscall(SYS_clone3, &a, sizeof a);
    if (r == 0) _exit(0);
    if (r > 0) BREACH("clone3(CLONE_NEWUSER) made process %ld", r);
    SAFE("clone3 refused: %s", strerror(errno));
}
