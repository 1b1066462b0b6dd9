/* Looks for descriptors it did not open (the control socket, cgroup files, ...). */
#include "hostile.h"
#include <fcntl.h>
int main(void) {
    for (int fd = 3; fd < 4096; fd++) if (fcntl(fd, F_GETFD) >= 0) BREACH("descriptor %d is open", fd);
    SAFE("only stdin, stdout and stderr");
}
