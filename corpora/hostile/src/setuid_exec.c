/* Runs setuid-root programs, hoping to gain privileges. */
#include "hostile.h"
#include <sys/wait.h>
int main(void) {
    const char *bins[] = {"/usr/bin/su", "/bin/su", "/usr/bin/passwd", "/usr/bin/mount"};
    for (int i = 0; i < 4; i++) {
        if (access(bins[i], X_OK) != 0) continue;
        pid_t p = fork();
        if (p == 0) { execl(bins[i], bins[i], "--help", (char *)0); _exit(127); }
        waitpid(p, 0, 0);
    }
    if (geteuid() == 0) BREACH("euid 0");
    SAFE("no privilege gained (no_new_privs), euid %d", geteuid());
}
