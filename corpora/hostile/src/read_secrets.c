/* Looks for host secrets: the selftest's secret variable, /etc/shadow, root's files. */
#include "hostile.h"
#include <fcntl.h>
extern char **environ;
int main(void) {
    for (char **e = environ; *e; e++) if (strstr(*e, "HATCHERY_SELFTEST_SECRET")) BREACH("environment: %s", *e);
    char b[64];
    int fd = open("/etc/shadow", O_RDONLY);
    if (fd >= 0 && read(fd, b, sizeof b) > 0) BREACH("read /etc/shadow");
    fd = open("/proc/1/environ", O_RDONLY);
    if (fd >= 0) { ssize_t n = read(fd, b, sizeof b); if (n > 0 && memmem(b, n, "HATCHERY", 8)) BREACH("/proc/1/environ"); }
    SAFE("no secrets reachable");
}
