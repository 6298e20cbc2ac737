/*
 * qianbao.c — the command-line client: `qianbao --help` lists what it does.
 *
 * Everything lives in src/cli/ (cli.h); this file only hands over argv, so
 * that the client's code is a library the tests and the man page generator
 * share with the binary.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
