/* CPU burned in child processes while the parent only waits: it must count. */
#include "hostile.h"
#include <sys/wait.h>
int main(void) {
    for (int i = 0; i < 4; i++) if (fork() == 0) { volatile unsigned long x = 0; for (;;) x++; }
    for (;;) wait(0);
}
