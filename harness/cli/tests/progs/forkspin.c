/* Burns CPU in argv[1] child processes; the parent only waits. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2;
    for (int i = 0; i < n; i++)
        if (fork() == 0) { volatile unsigned long x = 0; for (;;) x++; }
    for (;;) wait(0);
}
