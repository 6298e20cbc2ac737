/*
 * kyc.c — the identity-verification interface behind KYC level 2.
 *
 * A real deployment asks an identity-verification provider (in China, the
 * public-security citizen-identity service through a licensed agent)
 * whether a real name and a resident id number belong together. Until a
 * provider is configured this is the sandbox: it accepts every name with a
 * well-formed number, except the test identities documented in
 * docs/sandbox.md, so that client developers can exercise the refusal path
 * the way a provider's test mode lets them.
 *
 * It does no I/O and may run inside a command on the writer thread; a real
 * provider will not, and will move to the calling thread then.
 */
#include <string.h>

#include "identity/identity.h"

/* Real names that the sandbox always refuses. */
static const char *const sandbox_refused_names[] = {"测试失败"};

enum qb_error identity_verify_real_name(const char *real_name, const char *id_number)
{
    if (real_name == NULL || id_number == NULL || real_name[0] == '\0' ||
        strnlen(id_number, IDENTITY_ID_NUMBER_SIZE) != IDENTITY_ID_NUMBER_SIZE - 1)
        return QB_E_PARAM;
    for (size_t i = 0; i < QB_ARRAY_COUNT(sandbox_refused_names); i++)
        if (strcmp(real_name, sandbox_refused_names[i]) == 0)
            return QB_E_IDENTITY_MISMATCH;
    /* Positions 15-17 (1-based) are the sequence code; "999" is the
     * sandbox's "no such person". */
    if (memcmp(id_number + 14, "999", 3) == 0)
        return QB_E_IDENTITY_MISMATCH;
    return QB_OK;
}
