/* Attaches to its parent (the zygote) with ptrace. */
#include "hostile.h"
#include <sys/ptrace.h>
int main(void) {
    if (ptrace(PTRACE_ATTACH, getppid(), 0, 0) == 0) BREACH("attached to %d", getppid());
    SAFE("ptrace refused: %s", strerror(errno));
}
