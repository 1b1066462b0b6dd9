/* A libFuzzer target with known bugs, for hatchery's fuzz tests:
 * "BUG..." writes past a 4-byte heap block (ASan: heap-buffer-overflow WRITE in store);
 * "LEAK..." leaks 33 bytes (LeakSanitizer, which needs ptrace: the fuzz seccomp profile). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

__attribute__((noinline)) static void store(char *p, size_t i, char v) { p[i] = v; }

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
  if (n >= 3 && d[0] == 'B' && d[1] == 'U' && d[2] == 'G') {
    char *p = malloc(4);
    store(p, 4 + (n > 3), 'x');
    free(p);
  }
  if (n >= 4 && d[0] == 'L' && d[1] == 'E' && d[2] == 'A' && d[3] == 'K') {
    volatile char *q = malloc(33);
    q[0] = 1;
    q = 0;
  }
  return 0;
}
