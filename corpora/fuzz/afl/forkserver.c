/* An AFL++ target in forkserver mode (afl-cc): reads one input from stdin and crashes
 * (a write through a null pointer, SIGSEGV) on inputs starting with "BUG". Shallow: a seed
 * starting with "BUF" is one bit flip away from it (AFL++'s first deterministic stage, and
 * a likely havoc mutation). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void check(const char *buf, ssize_t n) {
    if (n >= 3 && buf[0] == 'B' && buf[1] == 'U' && buf[2] == 'G') {
        volatile int *p = NULL;
        *p = 1;
    }
}

int main(void) {
    char buf[256];
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0)
        return 1;
    check(buf, n);
    return 0;
}
