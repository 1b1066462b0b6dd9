/* AF_NETLINK socket (routing, audit, ...). */
#include "hostile.h"
#include <sys/socket.h>
#include <linux/netlink.h>
int main(void) { if (socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) < 0) SAFE("refused: %s", strerror(errno)); BREACH("netlink socket created"); }
