/* A judge's classic leak: stdin is the test's .in file, so /proc/self/fd/0 names it and the
   .ans beside it (or any other file there) is one open away. Also tries to change the input
   the runner gave it (write, reopen for writing, truncate). */
#include "hostile.h"
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
int main(void) {
    char link[4096];
    ssize_t n = readlink("/proc/self/fd/0", link, sizeof link - 1);
    if (n < 0) SAFE("stdin has no name (%s)", strerror(errno));
    link[n] = 0;
    char *deleted = strstr(link, " (deleted)");
    if (deleted) *deleted = 0;
    if (link[0] == '/') {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", link);
        DIR *d = opendir(dirname(dir));
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && strcmp(e->d_name + l - 4, ".ans") == 0) {
                char p[8192];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                char b[64];
                int fd = open(p, O_RDONLY);
                if (fd >= 0 && read(fd, b, sizeof b) > 0) BREACH("read the answers beside stdin: %s", p);
            }
        }
    }
    if (write(0, "x", 1) == 1) BREACH("wrote into stdin (%s)", link);
    int w = open("/proc/self/fd/0", O_RDWR);
    if (w >= 0 && write(w, "x", 1) == 1) BREACH("reopened stdin (%s) for writing and wrote", link);
    if (ftruncate(0, 0) == 0 || (w >= 0 && ftruncate(w, 0) == 0)) BREACH("truncated stdin (%s)", link);
    char b[256];
    ssize_t got = read(0, b, sizeof b - 1);
    if (got <= 0) BREACH("stdin is empty: the input was lost or truncated (%s)", link);
    b[got] = 0;
    if (strstr(b, "1 2") != b) BREACH("stdin does not hold the input: %.40s", b);
    SAFE("stdin is %s: nothing beside it to open, writes refused", link);
}
