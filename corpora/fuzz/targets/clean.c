/* A libFuzzer target without bugs (some branches to cover), for campaign statistics. */
#include <stddef.h>
#include <stdint.h>

volatile int sink;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
  for (size_t i = 0; i < n && i < 8; i++) {
    if (d[i] == (uint8_t)('a' + i)) sink++;
    else break;
  }
  return 0;
}
