/* Exits at once with a non-zero status, before reading anything: its end comes first, so
 * the verdict is RTE although the validator then reads end of file (WA). */
int main(void) { return 42; }
