/* ptrace is refused by the sandbox's seccomp policy: the process is killed by SIGSYS. */
#include <sys/ptrace.h>
#include <stdio.h>
int main(void) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    puts("3");
    return 0;
}
