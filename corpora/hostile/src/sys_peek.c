/* Looks through /sys for what other workers and the host have: network interfaces other than
 * loopback (/sys/class/net) and the cgroup tree, where other workers' and other runs' memory
 * and CPU counters are readable. */
#include "hostile.h"
#include <dirent.h>

static int count(const char *dir, const char *except) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (except && strcmp(e->d_name, except) == 0) continue;
        n++;
    }
    closedir(d);
    return n;
}

int main(void) {
    int nets = count("/sys/class/net", "lo");
    int cgroups = count("/sys/fs/cgroup", NULL);
    if (nets > 0) BREACH("%d network interfaces of the host in /sys/class/net", nets);
    if (cgroups > 0) BREACH("%d entries of the host's cgroup tree in /sys/fs/cgroup", cgroups);
    SAFE("/sys shows only loopback and no cgroup tree");
}
