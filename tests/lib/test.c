/*
 * test.c — the harness state and helpers declared in test.h.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int test_passed_count;
int test_failed_count;
jmp_buf test_jump;
const char *test_current_name;

int test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed_count, test_failed_count);
    fflush(stdout);
    return test_failed_count == 0 ? 0 : 1;
}

void test_tmpdir(char *buf, size_t buf_size)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(buf, buf_size, "%s/qianbao-test-XXXXXX", base);
    if (n < 0 || (size_t)n >= buf_size || mkdtemp(buf) == NULL) {
        fprintf(stderr, "test_tmpdir: cannot make a temporary directory: %s\n", strerror(errno));
        abort();
    }
}

void test_rmtree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir == NULL) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            test_rmtree(child);
        else
            unlink(child);
    }
    closedir(dir);
    rmdir(path);
}

uint64_t test_seed(void)
{
    const char *text = getenv("QB_TEST_SEED");
    uint64_t seed;
    if (text != NULL && text[0] != '\0') {
        seed = strtoull(text, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    fprintf(stderr, "seed: QB_TEST_SEED=%" PRIu64 "\n", seed);
    return seed;
}
