/* Prints every open descriptor above 2. */
#include <fcntl.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    for (int fd = 3; fd < 65536; fd++)
        if (fcntl(fd, F_GETFD) >= 0) { printf("open %d\n", fd); n++; }
    printf("count=%d\n", n);
    return 0;
}
