/* An x32-ABI system call number (bit 30 set). */
#include "hostile.h"
#include <sys/syscall.h>
int main(void) {
#if defined(__x86_64__)
    long r = syscall(0x40000000 | SYS_getpid);
    if (r > 0) BREACH("x32 getpid returned %ld", r);
    SAFE("x32 call failed: %s", strerror(errno));
#else
    SAFE("not x86_64");
#endif
}
