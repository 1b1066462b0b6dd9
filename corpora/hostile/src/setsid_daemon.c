/* A classic daemon: fork, setsid, fork, chdir /, close stdio, sleep. */
#include "hostile.h"
int main(int argc, char **argv) {
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            chdir("/"); close(0); close(1); close(2);
            execl("/bin/sleep", marker(argc, argv), "1000", (char *)0);
            _exit(1);
        }
        _exit(0);
    }
    return 0;
}
