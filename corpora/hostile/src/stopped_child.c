/* A child that stops itself (SIGSTOP) and a parent that leaves it behind. */
#include "hostile.h"
#include <signal.h>
int main(int argc, char **argv) {
    if (fork() == 0) { raise(SIGSTOP); execl("/bin/sleep", marker(argc, argv), "1000", (char *)0); _exit(1); }
    usleep(100000);
    return 0;
}
