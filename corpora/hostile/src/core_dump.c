/* Raises its core limit and aborts, hoping to write a core file. */
#include "hostile.h"
#include <sys/resource.h>
int main(void) {
    struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &r) == 0) BREACH("raised RLIMIT_CORE");
    r.rlim_cur = r.rlim_max = 0;
    getrlimit(RLIMIT_CORE, &r);
    if (r.rlim_max != 0) BREACH("hard core limit is %lu", (unsigned long)r.rlim_max);
    abort();
}
