/* Signals its parent and PID 1 with SIGKILL, SIGTERM and SIGSTOP. */
#include "hostile.h"
#include <signal.h>
int main(void) {
    pid_t pp = getppid();
    int sigs[] = {SIGTERM, SIGSTOP, SIGKILL};
    for (int i = 0; i < 3; i++) { kill(pp, sigs[i]); kill(1, sigs[i]); }
    usleep(100000);
    SAFE("signals sent to %d and 1; the runner must still answer", pp);
}
