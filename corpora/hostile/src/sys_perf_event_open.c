/* Calls perf_event_open; the default seccomp profile kills the process. */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
    long r = syscall(SYS_perf_event_open, 0, 0, -1, -1, 0);
    if (r == 0) _exit(0); /* a child of clone, or a call that worked */
    SAFE("perf_event_open returned %ld: %s", r, strerror(errno));
}
