/* Pushes a command into the terminal input queue (TIOCSTI) of every tty it can open. */
#include "hostile.h"
#include <fcntl.h>
#include <sys/ioctl.h>
int main(void) {
    const char *c = "echo pwned\n";
    int fds[3] = {0, open("/dev/tty", O_RDWR), 2};
    for (int i = 0; i < 3; i++) if (fds[i] >= 0 && ioctl(fds[i], TIOCSTI, c) == 0) BREACH("TIOCSTI on fd %d", fds[i]);
    SAFE("no terminal to inject into: %s", strerror(errno));
}
