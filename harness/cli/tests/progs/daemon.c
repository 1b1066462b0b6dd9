/* Double fork + setsid; the grandchild execs sleep with argv[0] = argv[1] (a marker). */
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            char *args[] = {argc > 1 ? argv[1] : "hatchery-marker", "1000", 0};
            execv("/bin/sleep", args);
            _exit(1);
        }
        _exit(0);
    }
    return 0;
}
