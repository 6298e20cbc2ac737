/*
 * replay.c — runs a fuzz target over its corpus without libFuzzer.
 *
 * Every fuzz target defines LLVMFuzzerTestOneInput. Built with clang and
 * -fsanitize=fuzzer (scripts/fuzz) the target explores; built normally it
 * is linked with this driver, which feeds it each file of the directories
 * or files named on the command line, so ctest replays the whole corpus on
 * every run (under the asan preset: with AddressSanitizer and UBSan).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    static uint8_t data[1 << 20];
    size_t size = fread(data, 1, sizeof data, f);
    fclose(f);
    /* A copy of exactly size bytes, so that reading past the input is
     * caught by AddressSanitizer as it would be under libFuzzer. */
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        return 1;
    memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, failures = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            failures++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failures += run_file(argv[i]);
            files++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        if (dir == NULL) {
            failures++;
            continue;
        }
        for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            failures += run_file(path);
            files++;
        }
        closedir(dir);
    }
    /* An empty corpus would make this test pass without testing anything. */
    if (files == 0)
        failures++;
    printf("%d passed, %d failed\n", files - (failures > files ? files : failures), failures);
    return failures == 0 ? 0 : 1;
}
