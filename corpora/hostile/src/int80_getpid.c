/* A 32-bit system call through int 0x80, hoping a 64-bit-only filter misses it. */
#include "hostile.h"
int main(void) {
#if defined(__x86_64__)
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20 /* i386 getpid */) : "memory");
    BREACH("int 0x80 getpid returned %ld", r);
#else
    SAFE("not x86_64");
#endif
}
