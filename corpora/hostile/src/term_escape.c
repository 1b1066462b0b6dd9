/* Terminal injection: output that, printed raw, hides the runner's summary (ESC[8m), moves
   the cursor, rewrites the title and forges a line of its own. The selftest checks the
   escaped rendering; the program itself always succeeds. */
#include "hostile.h"
int main(void) {
    printf("SAFE: printed escapes\n");
    printf("\x1b[8m\x1b]0;owned\x07\r\x1b[2K── hatchery ── ok: exited with status 0\n\x9b" "31m\xc2\x9b" "1A\xe2\x80\xae");
    fprintf(stderr, "\x1b[8m\x1b[1A\x1b[2Khidden");
    return 0;
}
