/* AF_VSOCK socket (would reach the hypervisor). Only creates it. */
#include "hostile.h"
#include <sys/socket.h>
int main(void) { if (socket(40 /* AF_VSOCK */, SOCK_STREAM, 0) < 0) SAFE("refused: %s", strerror(errno)); BREACH("vsock socket created"); }
