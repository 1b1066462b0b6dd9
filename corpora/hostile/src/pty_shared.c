/* Opens a pseudo-terminal and looks for others in /dev/pts: the host's (an administrator's
 * session) or other workers' cases'. With the host's devpts, a pty of another case that runs
 * as the same uid can be opened and read, and its input injected. */
#include "hostile.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>

int main(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) SAFE("no pseudo-terminal to open: %s", strerror(errno));
    if (grantpt(m) != 0 || unlockpt(m) != 0) SAFE("pty not usable: %s", strerror(errno));
    const char *name = ptsname(m);
    if (!name) SAFE("no name for the pty: %s", strerror(errno));
    const char *own = strrchr(name, '/') + 1;
    DIR *d = opendir("/dev/pts");
    if (!d) SAFE("no /dev/pts: %s", strerror(errno));
    int others = 0;
    char first[64] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "ptmx") == 0 || strcmp(e->d_name, own) == 0) continue;
        if (!others) snprintf(first, sizeof first, "%s", e->d_name);
        others++;
    }
    closedir(d);
    if (others) BREACH("%d pseudo-terminals of others in /dev/pts (first: %s)", others, first);
    SAFE("only our own pty (%s) in /dev/pts", name);
}
