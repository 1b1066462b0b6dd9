/* Memory through mmap(MAP_NORESERVE) of 8 GiB, then touching every page. */
#include "hostile.h"
#include <sys/mman.h>
int main(void) {
    size_t n = 8UL << 30;
    char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) SAFE("mmap refused: %s", strerror(errno));
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    BREACH("touched 8 GiB");
}
