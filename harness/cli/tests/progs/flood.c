/* Writes to fd argv[1] (1 or 2) forever. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = argc > 1 ? atoi(argv[1]) : 1;
    char buf[65536];
    memset(buf, 'x', sizeof buf);
    for (;;) if (write(fd, buf, sizeof buf) < 0) return 1;
}
