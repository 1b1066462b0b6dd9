/* Raises its limits back to (and beyond) the hard limit. */
#include "hostile.h"
#include <sys/resource.h>
int main(void) {
    int res[] = {RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_AS};
    for (int i = 0; i < 5; i++) {
        struct rlimit r; getrlimit(res[i], &r);
        if (r.rlim_max == RLIM_INFINITY) continue;
        struct rlimit up = {r.rlim_max + 1, r.rlim_max + 1};
        if (setrlimit(res[i], &up) == 0) BREACH("raised limit %d above its hard limit", res[i]);
    }
    SAFE("hard limits hold");
}
