/*
 * lock_holder.c - a test helper: takes the writers' lock of STORE and stops
 * itself (SIGSTOP) while holding it, as a process stopped by a debugger or
 * kill -STOP would.  Prints "locked PID" first.  With --pause it waits for
 * a signal instead of stopping (an "alive" holder).
 *
 *   lock-holder STORE [--pause]
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    brain *b = NULL;
    if (brain_open(argv[1], 0, NULL, &b) != BRAIN_OK) {
        fprintf(stderr, "%s\n", brain_errdetail());
        return 1;
    }
    if (brain__writer_lock(b) != 0) {
        fprintf(stderr, "%s\n", brain_errdetail());
        return 1;
    }
    printf("locked %d\n", (int)getpid());
    fflush(stdout);
    if (argc > 2)
        for (;;)
            pause();
    raise(SIGSTOP);
    brain__writer_unlock(b);
    brain_close(b);
    return 0;
}
