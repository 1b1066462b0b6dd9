/* Fills /tmp with one big file until the filesystem refuses. */
#include "hostile.h"
#include <fcntl.h>
int main(void) {
    int fd = open("/tmp/hatchery-flood", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char b[1 << 16]; memset(b, 'd', sizeof b);
    long total = 0;
    if (fd < 0) SAFE("cannot create: %s", strerror(errno));
    for (;;) {
        ssize_t n = write(fd, b, sizeof b);
        if (n < 0) SAFE("stopped after %ld MiB: %s", total >> 20, strerror(errno));
        total += n;
        if (total > (4L << 30)) BREACH("wrote 4 GiB to /tmp");
    }
}
