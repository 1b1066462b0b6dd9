/* Writes where the invoking user may but a case must not: beside its own executable and in
 * its working directory (a normal user's hardened case runs as that user, so permissions
 * alone would let it; it would reach ~/.bashrc the same way). */
#include "hostile.h"
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>

static void try_create(const char *dir, const char *m) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/hatchery-probe-%s", dir, m);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        close(fd);
        unlink(path);
        BREACH("created %s", path);
    }
}

int main(int argc, char **argv) {
    const char *m = marker(argc, argv);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        try_create(dirname(exe), m);
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) try_create(cwd, m);
    SAFE("no file created beside the executable or in the working directory: %s", strerror(errno));
}
