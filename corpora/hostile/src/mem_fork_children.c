/* Memory through 16 forked children that each allocate 64 MiB: the limit is for all of them. */
#include "hostile.h"
#include <sys/wait.h>
int main(void) {
    for (int i = 0; i < 16; i++)
        if (fork() == 0) { char *p = malloc(64 << 20); if (p) memset(p, 1, 64 << 20); pause(); }
    for (;;) if (wait(0) < 0 && errno == ECHILD) break;
    sleep(30);
    BREACH("all children allocated");
}
