#include <stdio.h>
int main(void) {
    printf("%d\n", 3)
    return 0;
}
