/*
 * test_bank.c — the card checks (Luhn, BIN table) and every answer of the
 * sandbox connector, which API tests and integrators rely on by number.
 */
#include <string.h>

#include "bank/bank.h"
#include "base/luhn.h"
#include "test.h"

static const struct currency *S_cny;

/* A valid number of size digits that starts with bin. */
static void S_card(const char *bin, size_t size, char out[BANK_CARD_NUMBER_SIZE_MAX])
{
    memset(out, '0', size);
    memcpy(out, bin, strlen(bin));
    out[size - 2] = '7';
    out[size - 1] = (char)('0' + luhn_check_digit(out, size - 1));
    out[size] = '\0';
}

TEST(bin_table_names_the_big_banks)
{
    // The bank shown for a bound card comes from its first six digits; a wrong name would show
    // the user someone else's bank.
    static const struct {
        const char *bin;
        const char *bank;
    } cases[] = {
        {"622202", "中国工商银行"}, {"621700", "中国建设银行"}, {"622848", "中国农业银行"},
        {"621661", "中国银行"},     {"621483", "招商银行"},     {"622588", "招商银行"},
        {"622262", "交通银行"},     {"621098", "中国邮政储蓄银行"},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(cases); i++) {
        for (size_t size = BANK_CARD_DIGITS_MIN; size <= BANK_CARD_DIGITS_MAX; size++) {
            char number[BANK_CARD_NUMBER_SIZE_MAX];
            S_card(cases[i].bin, size, number);
            struct bank_card_info info;
            ASSERT(bank_card_lookup(number, &info));
            ASSERT_EQ_STR(info.bank, cases[i].bank);
            ASSERT_EQ_STR(info.card_type, "debit");
            ASSERT(!info.sandbox);
        }
    }
    struct bank_card_info info;
    ASSERT(bank_card_lookup("9999000000000012", &info));
    ASSERT(info.sandbox);
}

TEST(lookup_refuses_bad_length_luhn_and_unknown_bins)
{
    // Only 16-19 digit, Luhn-valid numbers of a known debit BIN may be bound.
    struct bank_card_info info;
    char number[BANK_CARD_NUMBER_SIZE_MAX + 4];
    S_card("622202", 15, number);
    ASSERT(!bank_card_lookup(number, &info));
    ASSERT_EQ_STR(info.bank, "");
    memset(number, '0', 20);
    memcpy(number, "622202", 6);
    number[19] = (char)('0' + luhn_check_digit(number, 19));
    number[20] = '\0';
    ASSERT(luhn_is_valid(number, 20));
    ASSERT(!bank_card_lookup(number, &info)); /* 20 digits */
    S_card("622202", 19, number);
    number[5] = '3'; /* 622203: Luhn now fails */
    ASSERT(!bank_card_lookup(number, &info));
    S_card("411111", 16, number); /* a Visa credit BIN: not in the table */
    ASSERT(luhn_is_valid(number, 16));
    ASSERT(!bank_card_lookup(number, &info));
    ASSERT(!bank_card_lookup(NULL, &info));
    ASSERT(!bank_card_lookup("62220200000000001x", &info));
}

static struct bank_request S_req(enum bank_op op, const char *card, int64_t age_ms)
{
    struct bank_request req = {op, "p_test", card, S_cny, 1000, 1000000, 1000000 + age_ms};
    return req;
}

static void S_expect(const char *card, enum bank_op op, int64_t age_ms, bool query,
                     enum qb_error want_err, enum bank_status want_status, enum qb_error want_failure)
{
    struct bank_connector *bank = bank_sandbox();
    struct bank_request req = S_req(op, card, age_ms);
    struct bank_result out;
    enum qb_error err = query ? bank->ops->query(bank, &req, &out) : bank->ops->submit(bank, &req, &out);
    ASSERT_EQ_INT(err, want_err);
    if (err != QB_OK)
        return;
    ASSERT_EQ_STR(bank_status_name(out.status), bank_status_name(want_status));
    ASSERT_EQ_INT(out.failure, want_failure);
    if (out.status != BANK_UNKNOWN)
        ASSERT(strstr(out.bank_ref, "p_test") != NULL);
}

TEST(sandbox_answers_by_card_number)
{
    // Every documented test card, both operations, submit and query: docs/sandbox.md promises
    // exactly these answers, and clients build their own tests on them.
    const bool sub = false, qry = true;
    for (int op = BANK_OP_DEBIT; op <= BANK_OP_CREDIT; op++) {
        enum bank_op o = (enum bank_op)op;
        S_expect("9999000000000012", o, 0, sub, QB_OK, BANK_SUCCEEDED, QB_OK);
        S_expect("6222020000000000018", o, 0, sub, QB_OK, BANK_SUCCEEDED, QB_OK);
        S_expect("9999000000000020", o, 0, sub, QB_OK, BANK_FAILED, QB_E_CARD_DECLINED);
        S_expect("9999000000000020", o, 0, qry, QB_OK, BANK_FAILED, QB_E_CARD_DECLINED);
        S_expect("9999000000000046", o, 0, sub, QB_E_BANK_UNAVAILABLE, BANK_UNKNOWN, QB_OK);
        S_expect("9999000000000046", o, 5000, qry, QB_OK, BANK_SUCCEEDED, QB_OK);
        S_expect("9999000000000053", o, 0, sub, QB_E_BANK_UNAVAILABLE, BANK_UNKNOWN, QB_OK);
        S_expect("9999000000000053", o, 5000, qry, QB_OK, BANK_UNKNOWN, QB_OK);
        S_expect("9999000000000061", o, 0, sub, QB_OK, BANK_PENDING, QB_OK);
        S_expect("9999000000000061", o, 2999, qry, QB_OK, BANK_PENDING, QB_OK);
        S_expect("9999000000000061", o, 3000, qry, QB_OK, BANK_SUCCEEDED, QB_OK);
        S_expect("9999000000000079", o, 0, sub, QB_OK, BANK_PENDING, QB_OK);
        S_expect("9999000000000079", o, 2999, qry, QB_OK, BANK_PENDING, QB_OK);
        S_expect("9999000000000079", o, 3000, qry, QB_OK, BANK_FAILED, QB_E_CARD_DECLINED);
    }
    S_expect("9999000000000038", BANK_OP_DEBIT, 0, sub, QB_OK, BANK_FAILED,
             QB_E_BANK_INSUFFICIENT_FUNDS);
    S_expect("9999000000000038", BANK_OP_CREDIT, 0, sub, QB_OK, BANK_SUCCEEDED, QB_OK);
    // The returned credit (退票): paid at once, taken back from the delay on; a debit stays paid.
    S_expect("9999000000000129", BANK_OP_CREDIT, 0, sub, QB_OK, BANK_SUCCEEDED, QB_OK);
    S_expect("9999000000000129", BANK_OP_CREDIT, 2999, qry, QB_OK, BANK_SUCCEEDED, QB_OK);
    S_expect("9999000000000129", BANK_OP_CREDIT, 3000, qry, QB_OK, BANK_RETURNED,
             QB_E_CARD_DECLINED);
    S_expect("9999000000000129", BANK_OP_DEBIT, 0, sub, QB_OK, BANK_SUCCEEDED, QB_OK);
    S_expect("9999000000000129", BANK_OP_DEBIT, 86400000, qry, QB_OK, BANK_SUCCEEDED, QB_OK);
}

TEST(sandbox_refuses_malformed_requests)
{
    // A connector is called with Qianbao's own records; a request without a ref or amount is a
    // bug that must be refused, not answered SUCCEEDED.
    struct bank_connector *bank = bank_sandbox();
    struct bank_result out;
    struct bank_request req = S_req(BANK_OP_DEBIT, "9999000000000012", 0);
    req.amount_minor = 0;
    ASSERT_EQ_INT(bank->ops->submit(bank, &req, &out), QB_E_PARAM);
    req = S_req(BANK_OP_CREDIT, "9999000000000012", 0);
    req.ref = "";
    ASSERT_EQ_INT(bank->ops->query(bank, &req, &out), QB_E_PARAM);
    req = S_req((enum bank_op)9, "9999000000000012", 0);
    ASSERT_EQ_INT(bank->ops->submit(bank, &req, &out), QB_E_PARAM);
}

TEST(sandbox_checks_a_card_before_binding)
{
    // The card check: yes for any card, holder and phone, except the card whose bank has another
    // phone, the holder name the bank does not have, and the card whose bank does not answer.
    struct bank_connector *bank = bank_sandbox();
    struct bank_result out;
    struct bank_card_check check = {"9999000000000012", "张三", "13800138000"};
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_OK);
    ASSERT_EQ_INT(out.status, BANK_SUCCEEDED);
    check.card_number = "6222020000000000018";
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_OK);
    ASSERT_EQ_INT(out.status, BANK_SUCCEEDED);
    check.card_number = "9999000000000095";
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_OK);
    ASSERT_EQ_INT(out.status, BANK_FAILED);
    ASSERT_EQ_INT(out.failure, QB_E_CARD_PHONE_MISMATCH);
    check.card_number = "9999000000000012";
    check.holder_name = "测试失败";
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_OK);
    ASSERT_EQ_INT(out.status, BANK_FAILED);
    ASSERT_EQ_INT(out.failure, QB_E_CARD_HOLDER_MISMATCH);
    check.holder_name = "张三";
    check.card_number = "9999000000000111";
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_OK);
    ASSERT_EQ_INT(out.status, BANK_FAILED);
    ASSERT_EQ_INT(out.failure, QB_E_CARD_DECLINED);
    check.card_number = "9999000000000103";
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_E_BANK_UNAVAILABLE);
    check.phone = NULL;
    ASSERT_EQ_INT(bank->ops->verify(bank, &check, &out), QB_E_PARAM);
}

int main(void)
{
    S_cny = currency_find("CNY");
    RUN(bin_table_names_the_big_banks);
    RUN(lookup_refuses_bad_length_luhn_and_unknown_bins);
    RUN(sandbox_answers_by_card_number);
    RUN(sandbox_refuses_malformed_requests);
    RUN(sandbox_checks_a_card_before_binding);
    return test_summary();
}
