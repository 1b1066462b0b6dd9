/* Floods stdout. */
#include "hostile.h"
int main(void) { char b[65536]; memset(b, 'o', sizeof b); for (;;) if (write(1, b, sizeof b) < 0) return 1; }
