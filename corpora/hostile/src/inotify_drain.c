/* Takes inotify instances until the kernel refuses one. The count is charged to the case's
 * uid and to the owner of every user namespace above it: with a namespace created by root, a
 * case could leave every root process on the host unable to get one. Inside hatchery's
 * namespace (owned by the worker's own uid) the namespace's own ceiling (128) stops it first. */
#include "hostile.h"
#include <sys/inotify.h>

int main(void) {
    int n = 0;
    while (inotify_init1(IN_CLOEXEC) >= 0) {
        n++;
        if (n > 100000) break;
    }
    int e = errno;
    if (n > 128) BREACH("%d inotify instances before the kernel refused one", n);
    SAFE("refused after %d inotify instances: %s", n, strerror(e));
}
