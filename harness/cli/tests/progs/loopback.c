/* A TCP server and client on 127.0.0.1 and on ::1 in one process, then a route lookup for an
 * address outside the host (UDP connect: a lookup only, no packet is sent) and the list of
 * network interfaces. Prints one line per check; exits 0 when every loopback check worked. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int roundtrip(int family) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    int srv = socket(family, SOCK_STREAM, 0);
    if (srv < 0) return errno;
    if (bind(srv, (struct sockaddr *)&ss, len) < 0 || listen(srv, 1) < 0) return errno;
    if (getsockname(srv, (struct sockaddr *)&ss, &len) < 0) return errno;
    int cli = socket(family, SOCK_STREAM, 0);
    if (cli < 0) return errno;
    if (connect(cli, (struct sockaddr *)&ss, len) < 0) return errno;
    int acc = accept(srv, NULL, NULL);
    if (acc < 0) return errno;
    if (write(cli, "ping", 4) != 4) return errno;
    char buf[8] = {0};
    if (read(acc, buf, sizeof buf) != 4 || memcmp(buf, "ping", 4) != 0) return EIO;
    close(acc);
    close(cli);
    close(srv);
    return 0;
}

int main(void) {
    int v4 = roundtrip(AF_INET);
    int v6 = roundtrip(AF_INET6);
    printf("v4=%d v6=%d\n", v4, v6);
    /* 192.0.2.1 (TEST-NET-1, RFC 5737): connecting a UDP socket only looks up a route. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in out = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "192.0.2.1", &out.sin_addr);
    int route = u < 0 ? errno : (connect(u, (struct sockaddr *)&out, sizeof out) < 0 ? errno : 0);
    printf("route=%d\n", route);
    struct if_nameindex *ifs = if_nameindex();
    printf("interfaces=");
    for (struct if_nameindex *i = ifs; i && i->if_index; i++) printf("%s,", i->if_name);
    printf("\n");
    return v4 == 0 && v6 == 0 ? 0 : 1;
}
