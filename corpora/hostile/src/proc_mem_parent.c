/* Reads the zygote's memory, environment and descriptors through /proc. */
#include "hostile.h"
#include <fcntl.h>
#include <dirent.h>
int main(void) {
    char p[64]; int pp = getppid();
    const char *what[] = {"mem", "environ", "maps"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "/proc/%d/%s", pp, what[i]);
        int fd = open(p, O_RDONLY);
        char b[16];
        if (fd >= 0 && read(fd, b, sizeof b) > 0) BREACH("read %s", p);
    }
    snprintf(p, sizeof p, "/proc/%d/fd", pp);
    DIR *d = opendir(p);
    if (d && readdir(d)) BREACH("listed %s", p);
    SAFE("parent's /proc entries refused");
}
