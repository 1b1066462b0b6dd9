/* argv[1] = create: leaves files in /tmp and /dev/shm; check: reports whether they exist. */
#include "hostile.h"
#include <fcntl.h>
int main(int argc, char **argv) {
    const char *f[] = {"/tmp/hatchery-leftover", "/dev/shm/hatchery-leftover"};
    if (argc > 2 && !strcmp(argv[1], "create")) { for (int i = 0; i < 2; i++) close(open(f[i], O_CREAT | O_WRONLY, 0644)); printf("created\n"); return 0; }
    for (int i = 0; i < 2; i++) if (access(f[i], F_OK) == 0) BREACH("%s from an earlier case is here", f[i]);
    SAFE("no files from an earlier case");
}
