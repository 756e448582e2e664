/* Allocates the number of MiB given as the first argument, writes to every page, and
 * prints how many bytes it touched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t bytes = (size_t)(argc > 1 ? atol(argv[1]) : 300) << 20;
    char *block = malloc(bytes);
    if (block == NULL) {
        perror("malloc");
        return 1;
    }
    memset(block, 1, bytes);
    printf("touched=%zu\n", bytes);
    return block[bytes / 2] == 1 ? 0 : 2;
}
