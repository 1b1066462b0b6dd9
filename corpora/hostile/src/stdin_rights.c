/* The runner as a confused deputy: stdin names a file the case may not open itself (the
   selftest makes it root-only when it runs as root). The case must not get its content:
   hatchery refuses the case before it starts. argv[1] is the file's path. */
#include "hostile.h"
#include <fcntl.h>
int main(int argc, char **argv) {
    if (argc < 3) BREACH("usage: stdin_rights FILE MARKER");
    int fd = open(argv[1], O_RDONLY);
    char b[256];
    ssize_t got = read(0, b, sizeof b - 1);
    if (fd < 0 && got > 0) BREACH("got %zd bytes of %s, which I may not open (%s)", got, argv[1], strerror(errno));
    SAFE("stdin holds only what I may read myself (%s)", fd >= 0 ? "I can open the file" : "stdin is empty");
}
