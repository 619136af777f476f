/*
 * fuzz_entry.c - the libFuzzer entry point of one target, chosen at compile
 * time with -DFUZZ_TARGET=fuzz_store_open (or fuzz_store_repair,
 * fuzz_snapshot_load).  Built with clang -fsanitize=fuzzer,address,undefined.
 */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_current = "(libFuzzer input; see the crash-* file it writes)";
    return FUZZ_TARGET(data, size);
}
