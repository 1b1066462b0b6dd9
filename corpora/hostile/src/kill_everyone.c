/* kill(-1, SIGKILL): every process this uid may signal. */
#include "hostile.h"
#include <signal.h>
int main(void) {
    if (kill(-1, SIGKILL) == 0) SAFE("kill(-1) returned 0 inside the sandbox");
    SAFE("kill(-1) refused: %s", strerror(errno));
}
