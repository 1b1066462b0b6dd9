/* An AFL++ target in persistent mode (__AFL_LOOP, shared-memory test cases): aborts on
 * inputs starting with "BUG" (a seed "BUF" is one bit flip away). Built with afl-cc;
 * outside afl-fuzz (a replay) it reads one input from stdin. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef __AFL_FUZZ_TESTCASE_LEN
/* A plain compiler: one input from stdin. */
static unsigned char fuzz_buf[1 << 16];
static ssize_t fuzz_len;
#define __AFL_FUZZ_TESTCASE_LEN fuzz_len
#define __AFL_FUZZ_TESTCASE_BUF fuzz_buf
#define __AFL_FUZZ_INIT() void sync(void)
#define __AFL_LOOP(x) ((fuzz_len = read(0, fuzz_buf, sizeof fuzz_buf)) > 0 ? 1 : 0)
#define __AFL_INIT() sync()
#endif

__AFL_FUZZ_INIT();

static void check(const unsigned char *buf, int len) {
    if (len >= 3 && buf[0] == 'B' && buf[1] == 'U' && buf[2] == 'G')
        abort();
}

int main(void) {
    __AFL_INIT();
    unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(100000)) {
        int len = __AFL_FUZZ_TESTCASE_LEN;
        check(buf, len);
    }
    return 0;
}
