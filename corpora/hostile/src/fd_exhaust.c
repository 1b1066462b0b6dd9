/* Opens descriptors until refused. */
#include "hostile.h"
#include <fcntl.h>
int main(void) {
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0) if (++n > 1000000) BREACH("a million descriptors");
    SAFE("refused after %d descriptors: %s", n, strerror(errno));
}
