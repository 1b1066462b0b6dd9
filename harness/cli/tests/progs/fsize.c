/* Writes to the file argv[1] forever. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argc > 1 ? argv[1] : "/tmp/big", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[65536];
    memset(buf, 'x', sizeof buf);
    if (fd < 0) return 2;
    for (;;) if (write(fd, buf, sizeof buf) < 0) return 1;
}
