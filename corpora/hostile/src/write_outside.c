/* Writes outside the allowed directories. */
#include "hostile.h"
#include <fcntl.h>
int main(void) {
    const char *t[] = {"/etc/hatchery-selftest-probe", "/usr/hatchery-selftest-probe", "/root/hatchery-selftest-probe", "/var/hatchery-selftest-probe"};
    for (int i = 0; i < 4; i++) { int fd = open(t[i], O_WRONLY | O_CREAT, 0600); if (fd >= 0) { unlink(t[i]); BREACH("created %s", t[i]); } }
    SAFE("writes outside refused");
}
