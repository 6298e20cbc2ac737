/*
 * bin.c — what a card number says about itself: the Luhn check and the
 * issuing bank from the first six digits (the BIN, ISO/IEC 7812).
 *
 * The table is small on purpose: the debit BINs of the large Chinese banks
 * that wallet users bind most, plus the sandbox's own test BIN (999900,
 * docs/sandbox.md). A card whose BIN is not here is refused as
 * CARD_INVALID rather than guessed at: Qianbao binds debit cards only, and
 * an unknown BIN may be a credit card. A deployment with a real connector
 * replaces this table with its provider's BIN file.
 */
#include <string.h>

#include "bank/bank.h"
#include "base/luhn.h"

struct bin_row {
    const char bin[7];
    const char *bank;
    bool sandbox;
};

/* Sorted by bin, so that a reader can find a row by eye; searched linearly. */
static const struct bin_row S_bins[] = {
    {"436742", "中国建设银行", false}, /* 龙卡储蓄卡 (Visa) */
    {"621098", "中国邮政储蓄银行", false},
    {"621226", "中国工商银行", false},
    {"621483", "招商银行", false},
    {"621661", "中国银行", false},
    {"621700", "中国建设银行", false},
    {"622202", "中国工商银行", false}, /* 牡丹灵通卡 */
    {"622208", "中国工商银行", false},
    {"622262", "交通银行", false},
    {"622588", "招商银行", false}, /* 一卡通 */
    {"622700", "中国建设银行", false},
    {"622848", "中国农业银行", false}, /* 金穗借记卡 */
    {"999900", "沙箱银行", true},
};

bool bank_card_lookup(const char *card_number, struct bank_card_info *out)
{
    QB_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (card_number == NULL)
        return false;
    size_t size = strnlen(card_number, BANK_CARD_DIGITS_MAX + 1);
    if (size < BANK_CARD_DIGITS_MIN || size > BANK_CARD_DIGITS_MAX ||
        !luhn_is_valid(card_number, size))
        return false;
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_bins); i++) {
        if (memcmp(card_number, S_bins[i].bin, 6) != 0)
            continue;
        size_t bank_size = strlen(S_bins[i].bank);
        QB_ASSERT(bank_size < sizeof out->bank);
        memcpy(out->bank, S_bins[i].bank, bank_size + 1);
        memcpy(out->card_type, "debit", sizeof "debit");
        out->sandbox = S_bins[i].sandbox;
        return true;
    }
    return false;
}

const char *bank_status_name(enum bank_status status)
{
    switch (status) {
    case BANK_SUCCEEDED:
        return "SUCCEEDED";
    case BANK_FAILED:
        return "FAILED";
    case BANK_PENDING:
        return "PENDING";
    case BANK_UNKNOWN:
        return "UNKNOWN";
    case BANK_RETURNED:
        return "RETURNED";
    }
    return "INVALID";
}
