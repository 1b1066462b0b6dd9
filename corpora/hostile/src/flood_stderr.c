/* Floods stderr. */
#include "hostile.h"
int main(void) { char b[65536]; memset(b, 'e', sizeof b); for (;;) if (write(2, b, sizeof b) < 0) return 1; }
