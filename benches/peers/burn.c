/* Burns CPU until the process has used the number of seconds given as the first argument,
 * then prints its own CPU time (user plus system, from getrusage) in seconds. The printed
 * value is the ground truth that the measured CPU time is compared with. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double own_cputime(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
         + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    double target = argc > 1 ? atof(argv[1]) : 2.0;
    volatile unsigned long counter = 0;
    while (own_cputime() < target) {
        for (int i = 0; i < 100000; i++) counter++;
    }
    printf("groundtruth=%.9f\n", own_cputime());
    return 0;
}
