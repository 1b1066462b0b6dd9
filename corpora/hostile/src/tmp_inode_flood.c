/* Fills /tmp with empty files until the filesystem runs out of inodes. */
#include "hostile.h"
#include <fcntl.h>
int main(void) {
    char name[64];
    for (long i = 0; i < 5000000; i++) {
        snprintf(name, sizeof name, "/tmp/i%ld", i);
        int fd = open(name, O_WRONLY | O_CREAT, 0600);
        if (fd < 0) SAFE("stopped after %ld files: %s", i, strerror(errno));
        close(fd);
    }
    BREACH("created five million files");
}
