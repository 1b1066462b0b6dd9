/* Double fork: the grandchild (argv[0] = marker) sleeps, hoping to outlive the case. */
#include "hostile.h"
int main(int argc, char **argv) {
    if (fork() == 0) {
        if (fork() == 0) { execl("/bin/sleep", marker(argc, argv), "1000", (char *)0); _exit(1); }
        _exit(0);
    }
    printf("forked\n");
    return 0;
}
