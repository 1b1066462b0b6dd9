/* Connects to an abstract unix socket the host listens on (name in argv[1]). */
#include "hostile.h"
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    const char *name = argc > 2 ? argv[1] : "hatchery-selftest";
    strncpy(a.sun_path + 1, name, sizeof a.sun_path - 2);
    if (connect(s, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + strlen(name)) == 0) BREACH("reached host socket @%s", name);
    SAFE("abstract socket unreachable: %s", strerror(errno));
}
