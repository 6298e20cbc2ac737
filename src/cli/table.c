/*
 * table.c — the command table: every command of qianbao, its options and
 * its help text, in the order `qianbao --help` lists them.
 *
 * This table is the single source of the help screens, the man page
 * (`qianbao man`, docs/qianbao.1) and the bash completion (`qianbao
 * completion bash`, scripts/completion/qianbao.bash): a command or option
 * added here appears in all three. Help text is plain sentences; `...`
 * marks a command line the user can type.
 */
#include <string.h>

#include "cli/cli_int.h"

#define S_PASSWORD_STDIN                                                                           \
    {"password-stdin", NULL, false, NULL,                                                          \
     "read the password from standard input (one line) instead of the terminal"}
/* The end of a secret option's help (cli_secret_arg): */
#define S_SECRET " (left out: asked without echo, or a line of standard input)"
#define S_SECRET_DASH " (- asks without echo, or reads a line of standard input)"
/* and of the description of a command that takes one. */
#define S_SECRET_NOTE                                                                              \
    "\n\nA code or number given as an argument is visible to other users of the computer (ps, "    \
    "/proc) and stays in the shell's history: leave it out (or give -) to type it without echo. "  \
    "Piped, each is one line of standard input, in the order of the options, before the "          \
    "password's line."
#define S_LIMIT {"limit", "N", false, NULL, "rows per page, 1 to 100 (default 20)"}
#define S_PAYMENT_PASSWORD_STDIN                                                                   \
    {"password-stdin", NULL, false, NULL,                                                          \
     "read the payment password from standard input (one line) instead of the terminal"}
#define S_IDEMPOTENCY_KEY                                                                          \
    {"idempotency-key", "KEY", false, NULL,                                                        \
     "send this Idempotency-Key instead of a random one: running the command again with the "      \
     "same KEY answers the first payment instead of paying twice"}
#define S_KEY_NOTE                                                                                 \
    "The request carries an Idempotency-Key (random unless --idempotency-key is given; shown "     \
    "with --verbose) and is sent once more with the same key when no answer comes, so it never "   \
    "pays twice."
#define S_MONEY_NOTE "\n\nAMOUNT is in yuan with at most two decimals (12.50). " S_KEY_NOTE
#define S_CURSOR                                                                                   \
    {"cursor", "CURSOR", false, NULL, "the page after the one that printed this cursor"}
/* The options of a bill list, the user's own (bills) or an operator's (admin bills). */
#define S_BILL_OPTION_LIST                                                                         \
    {"type", "TYPE", false,                                                                        \
     "topup withdrawal transfer order_payment order_refund red_packet_sent "                       \
     "red_packet_received red_packet_refund withdrawal_refund withdrawal_return transfer_return "  \
     "merchant_remainder transfer_refund merchant_payout other",                                   \
     "only topup, withdrawal, transfer, order_payment (paying a merchant), order_refund (a "       \
     "merchant's refund), red_packet_sent, red_packet_received, red_packet_refund, "               \
     "withdrawal_refund (a failed withdrawal's money back), withdrawal_return (a withdrawal "      \
     "the bank took back), transfer_return (a transfer sent "                                      \
     "back by its payee), merchant_remainder (what was left of your closed merchant), "            \
     "transfer_refund (a delayed transfer's money back: cancelled, or not taken), "                \
     "merchant_payout (a merchant's transfer you took) or other"},                                 \
        {"direction", "DIR", false, "in out", "only money in or out"},                             \
        {"from", "TIME", false, NULL, "lines at or after TIME (YYYY-MM-DD or RFC 3339)"},          \
        {"to", "TIME", false, NULL, "lines before TIME; a date takes in the whole day"},           \
        {"counterparty", "ID", false, NULL,                                                        \
         "only lines with this counterparty: a user id, a card id or a merchant's mchid"},         \
        {"search", "TEXT", false, NULL,                                                            \
         "only lines whose memo or counterparty name holds TEXT (letters in either case)"},        \
        {"limit", "N", false, NULL, "lines per page, 1 to 100 (with --csv 1 to 1000)"}, S_CURSOR,  \
        {"all", NULL, false, NULL, "follow every page to the end"},                                \
    {                                                                                              \
        "csv", NULL, false, NULL, "write CSV instead of a table"                                   \
    }

#define S_ORDER_HELP                                                                               \
    "AMOUNT is in yuan with at most two decimals (12.50). The request is signed with the "        \
    "merchant profile's private key exactly as a WeChat Pay v3 merchant signs it, and the "        \
    "answer is accepted only with the platform's signature. The out_trade_no is the order's "     \
    "idempotency key: the same request again answers the same order."
#define S_ORDER_OPTION_LIST                                                                        \
    {"description", "TEXT", true, NULL, "what is sold, 1 to 127 bytes"},                          \
        {"notify-url", "URL", true, NULL, "the http(s) URL payment notifications go to"},        \
        {"out-trade-no", "N", false, NULL,                                                         \
         "the merchant's order number, 6 to 32 of 0-9 A-Z a-z _ - | * @ (default: a new one)"}, \
        {"attach", "TEXT", false, NULL, "the merchant's data, given back by queries"}
#define S_ORDER_OPTIONS {S_ORDER_OPTION_LIST}

static const struct cli_command S_commands[] = {
    {"sms-code",
     "[PHONE]",
     0,
     1,
     "send a six-digit SMS code to a phone",
     "Asks the server to send a code to PHONE for one purpose. Without PHONE, the phone of the "
     "logged-in profile. The answer is the same whether or not a code was sent, so it never "
     "tells whether a phone is registered. In development (no SMS provider) the operator reads "
     "codes with `qianbao admin sms-outbox`.",
     {{"purpose", "PURPOSE", true,
       "register reset_payment_password unfreeze login bind_card new_device reset_password "
       "change_phone close_account",
       "what the code is for: register, login (for `login --login-code`), new_device (for `login "
       "--code`, "
       "with the password from a new device), reset_payment_password (for `payment-password "
       "set`), reset_password (for `password set`), "
       "unfreeze (for `security unfreeze`), bind_card (for `card add`, asked as the logged-in "
       "user: the code binds the card in that wallet alone), change_phone (to the "
       "new phone, for `phone-change`, asked as the logged-in user: the code moves that wallet "
       "alone), close_account (for `close-account`)"},
      {"target", "TARGET", false, NULL,
       "what the code authorises, for bind_card the whole card number to bind "
       "(9999000000000012)"}},
     cli_run_sms_code},
    {"register",
     "",
     0,
     0,
     "create a wallet with a phone number and an SMS code",
     "Registers a new user. Ask for the code first with `qianbao sms-code PHONE --purpose "
     "register`. The password (8 to 128 bytes, not all digits) is read from the terminal "
     "without echo, twice, or once from standard input with --password-stdin. Log in "
     "afterwards with `qianbao login`." S_SECRET_NOTE,
     {{"phone", "PHONE", true, NULL, "the mobile number, 11 digits"},
      {"code", "CODE", false, NULL, "the SMS code of purpose register" S_SECRET},
      {"name", "NAME", true, NULL, "the display name, 1 to 64 bytes"},
      S_PASSWORD_STDIN},
     cli_run_register},
    {"login",
     "",
     0,
     0,
     "log in and store the session in a profile",
     "Opens a session and stores its token in the profile's file under "
     "$XDG_CONFIG_HOME/qianbao/ (mode 0600), bound to the server it came from. Without "
     "--phone the phone is asked on the terminal; the password is read without echo, or from "
     "standard input with --password-stdin.\n\n"
     "A device the account never used needs an SMS code to the account's phone as well as "
     "the password: the server then refuses with SMS_CODE_REQUIRED; ask for a code with "
     "`qianbao sms-code PHONE --purpose new_device` and log in again with --code CODE. With "
     "--login-code CODE (purpose login) the code alone logs in, without the password.\n\n"
     "The operator logs in with --admin: the admin token is read from --admin-token-file "
     "(DATA_DIR/admin-token of the daemon) or from QIANBAO_ADMIN_TOKEN, checked against the "
     "server and stored in the profile \"admin\" (or --profile), which the admin commands "
     "use." S_SECRET_NOTE,
     {{"phone", "PHONE", false, NULL, "the mobile number"},
      S_PASSWORD_STDIN,
      {"device", "NAME", false, NULL,
       "the device name shown in `security sessions` (default: qianbao on HOSTNAME)"},
      {"code", "CODE", false, NULL,
       "the SMS code of purpose new_device, for a device new to the account" S_SECRET_DASH},
      {"login-code", "CODE", false, NULL,
       "log in with this SMS code of purpose login instead of the password" S_SECRET_DASH},
      {"admin", NULL, false, NULL, "log in as the operator (QIANBAO_ADMIN_TOKEN)"},
      {"admin-token-file", "FILE", false, NULL,
       "log in as the operator with the token in FILE (implies --admin)"}},
     cli_run_login},
    {"logout",
     "",
     0,
     0,
     "end the session and forget the profile",
     "Revokes the profile's session on the server it was opened on, then removes the "
     "profile's file. An operator profile is only removed (the admin token stays valid).",
     {{"admin", NULL, false, NULL, "the operator's profile (\"admin\" unless --profile)"}},
     cli_run_logout},
    {"me",
     "",
     0,
     0,
     "show who is logged in",
     "Shows the user of the profile: id, phone, name, KYC level, status.",
     {{0}},
     cli_run_me},
    {"balance",
     "",
     0,
     0,
     "show the balance of each currency",
     "Available is what may be spent now; pending is reserved by payments in progress. A hint "
     "below says when notices are unread, and when a merchant's transfer waits for you to take "
     "it.",
     {{0}},
     cli_run_balance},
    {"security",
     "",
     0,
     0,
     "show the security score and its checklist",
     "The security centre: a score out of 100 and the checks behind it, each with what to do "
     "when it is not met.",
     {{0}},
     cli_run_security},
    {"security sessions",
     "",
     0,
     0,
     "list the sessions (devices) of this user",
     "Newest first, ended ones included. The current session is marked.",
     {S_LIMIT, S_CURSOR},
     cli_run_security_sessions},
    {"security events",
     "",
     0,
     0,
     "list what happened to the account: new devices, lockouts, freezes",
     "The account's history, newest first: logins from a device never used before (with its "
     "name), lockouts after wrong passwords or codes, the payment password set, the real name "
     "verified, freezes and who lifted them, payment-code devices added and revoked. For "
     "\"was that me?\".",
     {S_LIMIT, S_CURSOR},
     cli_run_security_events},
    {"security revoke",
     "ID",
     1,
     1,
     "end one session, for a lost device",
     "Ends the session ID (from `qianbao security sessions`). Ending another session needs a "
     "recent login (15 minutes by default): log in again first if it is refused "
     "RECENT_LOGIN_REQUIRED.",
     {{0}},
     cli_run_security_revoke},
    {"security devices",
     "",
     0,
     0,
     "list the payment-code devices of this user",
     "Every device that can make payment codes, newest first, revoked ones included; the "
     "`server` device makes the codes the app shows online.",
     {{0}},
     cli_run_security_devices},
    {"security revoke-device",
     "ID",
     1,
     1,
     "revoke a payment-code device, for a lost phone",
     "Every code of device ID (from `qianbao security devices`) is refused from now on, "
     "including codes already shown. Revoking this profile's own device removes its seed file.",
     {{0}},
     cli_run_security_revoke_device},
    {"security freeze",
     "",
     0,
     0,
     "freeze the wallet after losing a phone",
     "Stops all money leaving the wallet and logs out every other session. Lift it with "
     "`qianbao security unfreeze`.",
     {{0}},
     cli_run_security_freeze},
    {"security unfreeze",
     "",
     0,
     0,
     "lift a freeze you made",
     "Needs the login password and an SMS code: `qianbao sms-code --purpose unfreeze`. A "
     "freeze made by an operator can only be lifted by an operator." S_SECRET_NOTE,
     {{"code", "CODE", false, NULL, "the SMS code of purpose unfreeze" S_SECRET}, S_PASSWORD_STDIN},
     cli_run_security_unfreeze},
    {"device", "", 0, 0, "make this computer a payment-code device", NULL, {{0}}, NULL},
    {"device add",
     "",
     0,
     0,
     "provision this profile to make payment codes offline",
     "Needs the payment password. The server answers the device's seed once; it is stored in "
     "$XDG_CONFIG_HOME/qianbao/paycode/PROFILE (mode 0600) and never shown. One device per "
     "profile; at most five per user.",
     {{"name", "NAME", false, NULL, "the device's name (default: qianbao CLI)"},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_device_add},
    {"paycode",
     "",
     0,
     0,
     "show a payment code (付款码) for the till, offline",
     "Computes an 18-digit payment code from the stored seed (docs/paycode.md); no network is "
     "needed. Each code pays once, within about two minutes. Up to ten codes a minute. On a "
     "terminal it is drawn as a QR code above its digits; piped, only the digits are written.",
     {{"at", "SECONDS", false, NULL, "the code of another moment, in Unix seconds (for testing)"}},
     cli_run_paycode},
    {"paycode pending",
     "",
     0,
     0,
     "list till payments waiting for your payment password",
     "A code over what codes may pay without the password (`PUT /v1/me/payment-code-settings`; "
     "¥200 and five a day by default) waits at the till for you to confirm it, 30 seconds at "
     "most; then it is revoked and nothing is paid.",
     {{0}},
     cli_run_paycode_pending},
    {"paycode limits",
     "",
     0,
     0,
     "show or change what payment codes pay without the password",
     "Without options, shows the amount a code pays at the till without asking for the "
     "payment password, and how many such payments a day (¥200 and five by default, together "
     "with the transfers and order payments made without it). Lowering either needs nothing; "
     "raising one asks for the payment password. --password-free 0 (or none) makes every code "
     "wait for the password (`qianbao paycode pending`).",
     {{"password-free", "AMOUNT", false, NULL,
       "the most a code pays alone, in yuan; 0 or none: nothing"},
      {"daily-count", "N", false, NULL, "how many codes a day may pay alone"},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_paycode_limits},
    {"paycode confirm",
     "ID",
     1,
     1,
     "pay a till payment that waits for your payment password",
     "ID is from `qianbao paycode pending`. The till sees the payment succeed when it next asks.",
     {S_PAYMENT_PASSWORD_STDIN, S_IDEMPOTENCY_KEY},
     cli_run_paycode_confirm},
    {"kyc",
     "",
     0,
     0,
     "verify your real name (KYC level 2)",
     "Checks the real name and the resident id number (18 characters) with the verification "
     "service. Only the last four characters of the number are ever shown again." S_SECRET_NOTE,
     {{"name", "NAME", true, NULL, "the real name"},
      {"id-number", "NUMBER", false, NULL, "the resident id number" S_SECRET}},
     cli_run_kyc},
    {"password", "", 0, 0, "manage the login password", NULL, {{0}}, NULL},
    {"password set",
     "",
     0,
     0,
     "change the login password",
     "Asks for the current password, then for the new one twice (8 to 128 bytes, not all "
     "digits), from the terminal without echo. Forgot it? Log in with an SMS code (`qianbao "
     "sms-code PHONE --purpose login`, then `qianbao login --phone PHONE --login-code CODE`), "
     "ask for another with `qianbao sms-code --purpose reset_password`, and give it with --code "
     "instead of the current password. Every other session of the account is logged "
     "out." S_SECRET_NOTE,
     {{"code", "CODE", false, NULL,
       "an SMS code of purpose reset_password, instead of the current password" S_SECRET_DASH},
      {"password-stdin", NULL, false, NULL,
       "read from standard input instead of the terminal, a line each: the current password "
       "(not with --code), then the new one"}},
     cli_run_password_set},
    {"phone-change",
     "NEW_PHONE",
     1,
     1,
     "move the wallet to a new phone number",
     "Ask for a code to the new phone first, logged in as the wallet to move: `qianbao "
     "sms-code NEW_PHONE --purpose change_phone` (no code goes to a phone that is registered "
     "already; the message names the wallet by its masked phone). The payment password "
     "is read from the terminal without echo, or from standard input with --password-stdin; a "
     "wrong one counts towards its lock, as a payment's does. From then on the wallet logs in, "
     "gets its codes and is paid with the new phone; the old one finds nobody. Every session "
     "stays logged in, and the profile takes the new phone." S_SECRET_NOTE,
     {{"code", "CODE", false, NULL,
       "the SMS code of purpose change_phone sent to NEW_PHONE" S_SECRET},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_phone_change},
    {"close-account",
     "",
     0,
     0,
     "close the wallet for good",
     "Without --code, says whether the wallet could close now and lists what stands in the "
     "way. Only an empty wallet closes: withdraw the balance first (mind the fee), wait for "
     "top-ups and withdrawals still at the bank, delayed transfers and for red packets you sent to "
     "finish or expire; an owner "
     "of a merchant cannot close. Then ask for a code: `qianbao sms-code --purpose "
     "close_account`. The payment password is read from the terminal without echo, or from "
     "standard input with --password-stdin. Every session ends, cards are unbound, and the phone "
     "may register a new wallet; the profile is removed." S_SECRET_NOTE,
     {{"code", "CODE", false, NULL,
       "the SMS code of purpose close_account: close it now" S_SECRET_DASH},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_close_account},
    {"name-change",
     "NAME",
     1,
     1,
     "change the name others see",
     "The name payers see, masked (张*丰), when they look you up, send you money or a red "
     "packet, and in their bills: 1 to 64 bytes with a visible character. A frozen wallet keeps "
     "its name. The change is in `qianbao security events`.",
     {{0}},
     cli_run_name_change},
    {"payment-password", "", 0, 0, "manage the six-digit payment password", NULL, {{0}}, NULL},
    {"payment-password set",
     "",
     0,
     0,
     "set or reset the payment password",
     "Needs an SMS code: `qianbao sms-code --purpose reset_payment_password`. The six digits "
     "are read from the terminal without echo, twice, or once from standard input with "
     "--password-stdin. Easy ones (123456, 112233, a birth date) are refused. A wallet with "
     "a verified real name resets its payment password with the id number too "
     "(--id-number)." S_SECRET_NOTE,
     {{"code", "CODE", false, NULL, "the SMS code of purpose reset_payment_password" S_SECRET},
      {"id-number", "ID", false, NULL,
       "the id number the wallet was verified with (to reset a verified wallet's "
       "password)" S_SECRET_DASH},
      S_PASSWORD_STDIN},
     cli_run_payment_password_set},
    {"card", "", 0, 0, "manage bound bank cards", NULL, {{0}}, NULL},
    {"card add",
     "",
     0,
     0,
     "bind a debit card",
     "Binding needs an SMS code sent to the card's phone (the one the bank has). On a "
     "terminal, `qianbao card add --holder NAME --phone PHONE` asks for the card number, asks "
     "for the code, then asks you to type it. In scripts, two steps: the same command with "
     "--send-code asks for the code, then again with --code - binds the card. The number is "
     "never shown again: a card is its id, bank and last four digits. Sandbox test cards: "
     "docs/sandbox.md." S_SECRET_NOTE,
     {{"number", "NUMBER", false, NULL, "the card number, 16 to 19 digits" S_SECRET},
      {"holder", "NAME", true, NULL, "the holder's name, as the bank has it"},
      {"phone", "PHONE", true, NULL, "the card's phone number, 11 digits"},
      {"code", "CODE", false, NULL,
       "the SMS code of purpose bind_card, when you have it" S_SECRET_DASH},
      {"send-code", NULL, false, NULL, "only ask for the SMS code, for a script's first step"}},
     cli_run_card_add},
    {"card list",
     "",
     0,
     0,
     "list the bound cards, newest first",
     "STATUS says whether a card can still move money. A card bound before the wallet's real "
     "name was verified, in another name, stays listed as not usable: its top-ups and "
     "withdrawals are refused (CARD_HOLDER_MISMATCH). Remove it with `qianbao card remove ID` "
     "and bind a card in your own name. With --json each card carries usable and "
     "unusable_reason as the server answers them.",
     {S_LIMIT, S_CURSOR},
     cli_run_card_list},
    {"card remove",
     "ID",
     1,
     1,
     "unbind a card",
     "The card is no longer listed nor usable; payments made with it still show it. It may be "
     "bound again later.",
     {{0}},
     cli_run_card_remove},
    {"topup",
     "CARD_ID AMOUNT",
     2,
     2,
     "add money to the balance from a bound card",
     "Takes AMOUNT from the card CARD_ID (from `qianbao card list`) into the balance. Needs "
     "the payment password, read from the terminal without echo or with --password-stdin. "
     "Shows the payment; a payment the bank declined exits 1, one the bank has not confirmed "
     "is PROCESSING (see `qianbao payment show ID`, or pass --wait)." S_MONEY_NOTE,
     {S_PAYMENT_PASSWORD_STDIN,
      {"wait", NULL, false, NULL,
       "wait (up to 120 s) until the bank has answered: SUCCESS or FAILED"},
      S_IDEMPOTENCY_KEY},
     cli_run_topup},
    {"withdraw",
     "CARD_ID AMOUNT|all",
     2,
     2,
     "pay money from the balance out to a bound card",
     "Pays AMOUNT to the card CARD_ID, for a fee that also leaves the balance (0.1 %, at least "
     "0.10, unless the server is set otherwise); `all` pays the most the balance covers with its "
     "fee. The fee is shown before the payment password is asked, and an amount the balance "
     "cannot cover stops there. Amount and fee are held (pending) until the bank answers; a "
     "failed withdrawal releases them. Needs the payment password, as for topup." S_MONEY_NOTE,
     {S_PAYMENT_PASSWORD_STDIN,
      {"wait", NULL, false, NULL,
       "wait (up to 120 s) until the bank has answered: SUCCESS or FAILED"},
      S_IDEMPOTENCY_KEY},
     cli_run_withdraw},
    {"payment", "", 0, 0, "look at one payment", NULL, {{0}}, NULL},
    {"payment show",
     "ID",
     1,
     1,
     "show a top-up, withdrawal or transfer",
     "ID is a payment id (p_...) from topup, withdraw, send or bills.",
     {{0}},
     cli_run_payment_show},
    {"send",
     "TO AMOUNT",
     2,
     2,
     "send money to another user",
     "TO is the payee's mobile number or user id: `qianbao send 13800000000 12.50`. Whom it "
     "reaches is said before anything is asked; nobody, a frozen payee or yourself stops there. "
     "The payment password is asked unless AMOUNT is within your password-free amount and "
     "fewer than five payments went without it today (`qianbao limits`). With --arrival 2h or "
     "24h the money is held on your balance and reaches the payee that much later; until then "
     "`qianbao cancel-transfer` brings it back: time to think again when someone presses you "
     "to pay." S_MONEY_NOTE,
     {{"memo", "TEXT", false, NULL, "a note shown to both of you, up to 128 bytes"},
      {"arrival", "WHEN", false, NULL, "instant (the default), 2h or 24h: when the money arrives"},
      S_PAYMENT_PASSWORD_STDIN,
      S_IDEMPOTENCY_KEY},
     cli_run_send},
    {"cancel-transfer",
     "TRANSFER_ID",
     1,
     1,
     "cancel a transfer you sent with --arrival before it arrives",
     "Brings the money of the delayed transfer TRANSFER_ID (p_..., from `qianbao send` or "
     "`qianbao bills`) back to your balance; its payee never gets it. The limits it charged "
     "are given back (the day's only on the day you sent it). A transfer that arrived cannot "
     "be cancelled: ask its payee to send it back.\n\n" S_KEY_NOTE,
     {S_IDEMPOTENCY_KEY},
     cli_run_cancel_transfer},
    {"payouts",
     "",
     0,
     0,
     "list the transfers merchants sent you that wait for you to take them",
     "A merchant paying you (a reward, cashback, your pay: 商家转账) holds the money until you "
     "take it with `qianbao accept-payout ID`, within 24 hours; then it goes back to the "
     "merchant.",
     {S_LIMIT, S_CURSOR},
     cli_run_payouts},
    {"accept-payout",
     "PAYOUT_ID",
     1,
     1,
     "take a merchant's transfer into your balance (确认收款)",
     "PAYOUT_ID (p_..., from `qianbao payouts`, or the package a merchant's app gave you). "
     "Taking one already taken says so again; one the merchant cancelled, or one older than "
     "24 hours, is closed.",
     {{0}},
     cli_run_accept_payout},
    {"send-back",
     "TRANSFER_ID",
     1,
     1,
     "send a transfer you received back to its sender",
     "Returns all of the transfer TRANSFER_ID (p_..., from `qianbao bills`) to the wallet it came "
     "from, once, within 30 days: money that reached you by mistake, or that you will not take. "
     "No payment password is asked, since the money can only go back where it came from, and "
     "no limit of yours is charged.\n\n" S_KEY_NOTE,
     {{"memo", "TEXT", false, NULL, "a note shown to both of you, up to 128 bytes"},
      S_IDEMPOTENCY_KEY},
     cli_run_send_back},
    {"payees",
     "",
     0,
     0,
     "list whom you paid lately, newest first",
     "Each user you sent a transfer to, once, with your newest payment to them, their name "
     "masked as a payer sees it now, and whether they can be paid now (not while frozen). Read "
     "from your bills: money you received, transfers refused or sent back count for nothing. Pay "
     "one with `qianbao send USER AMOUNT`.",
     {{"limit", "N", false, NULL, "how many, 1 to 20 (default 10)"}},
     cli_run_payees},
    {"receive",
     "[AMOUNT]",
     0,
     1,
     "show your receive code (收款码) as a QR code",
     "Draws your receive code in the terminal for another user to scan with their Qianbao app "
     "or with `qianbao scan`. With AMOUNT (yuan, at most two decimals) the code is for exactly "
     "that amount; without, the payer types the amount. The code is signed by the server: "
     "nobody can change its payee or amount. When standard output is not a terminal only the "
     "payload (qianbao://pay?...) is printed; --json prints the server's answer, with the code "
     "as SVG. --png FILE saves the code as a PNG picture instead.",
     {{"memo", "TEXT", false, NULL, "a note shown to the payer, up to 64 bytes"},
      {"png", "FILE", false, NULL,
       "save the code as a PNG image in FILE (to print or send) instead of showing it"}},
     cli_run_receive},
    {"scan",
     "IMAGE",
     1,
     1,
     "read a QR code from a picture and offer to pay it",
     "IMAGE is a PNG or JPEG file holding a Qianbao QR code: a person's receive code, a "
     "merchant's till code, an order's code_url or a group collection's code. The server says what "
     "it is and who is paid; "
     "an altered code is refused. With --pay it is paid at once (as `qianbao pay`); on a "
     "terminal you are asked first (Enter answers no: nothing is paid, exit 0); otherwise it is "
     "only shown." S_MONEY_NOTE,
     {{"pay", NULL, false, NULL, "pay the code without asking"},
      {"amount", "AMOUNT", false, NULL, "the amount to pay, for a code that has none"},
      {"memo", "TEXT", false, NULL, "a note for a person's receive code, up to 128 bytes"},
      S_PAYMENT_PASSWORD_STDIN,
      S_IDEMPOTENCY_KEY},
     cli_run_scan},
    {"pay",
     "PAYLOAD",
     1,
     1,
     "pay a QR code's payload or an order's code_url",
     "PAYLOAD is the text of a Qianbao QR code (qianbao://pay?...), as `qianbao receive` prints "
     "it or a merchant's code_url. It is shown as the server resolves it, then paid: a "
     "person's receive code as a transfer, a till code or code_url as an order payment, a group "
     "collection's code as your share of it. A code with an amount is paid for exactly that "
     "amount; one without needs --amount." S_MONEY_NOTE,
     {{"amount", "AMOUNT", false, NULL, "the amount to pay, for a code that has none"},
      {"memo", "TEXT", false, NULL, "a note for a person's receive code, up to 128 bytes"},
      S_PAYMENT_PASSWORD_STDIN,
      S_IDEMPOTENCY_KEY},
     cli_run_pay},
    {"limits",
     "",
     0,
     0,
     "show the spending limits and what is left of them",
     "Every payment from the balance counts against each limit; a top-up or a withdrawal only "
     "against the per-payment maximum. Days and years roll over at midnight, Beijing time.",
     {{0}},
     cli_run_limits},
    {"limits set",
     "",
     0,
     0,
     "set your own daily limit, password-free amount and when transfers arrive",
     "Needs the payment password to raise or remove a limit, or to make transfers arrive "
     "sooner; lowering one, turning password-free payments off, or making transfers arrive "
     "later needs none (even while the password is locked). `none` removes your daily limit or "
     "turns password-free payments off: `qianbao limits set --daily 500 --password-free none "
     "--arrival 24h`.",
     {{"daily", "AMOUNT", false, NULL, "your daily limit, or none"},
      {"password-free", "AMOUNT", false, NULL,
       "payments up to this amount need no payment password, five a day; none turns it off"},
      {"arrival", "WHEN", false, NULL,
       "instant, 2h or 24h: when your transfers arrive unless `send --arrival` says"},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_limits_set},
    {"bills",
     "",
     0,
     0,
     "list bills: the payments in and out, newest first",
     "One line per payment: time, type, counterparty, amount (+ in, - out; a withdrawal's fee "
     "beside it), status and the available balance after it. --all follows every page; "
     "--csv writes the server's CSV (RFC 4180, UTF-8), with --all as one document. A page may "
     "hold fewer lines than --limit when the filter is narrow: follow the cursor.",
     {S_BILL_OPTION_LIST},
     cli_run_bills},
    {"notices",
     "",
     0,
     0,
     "list notices: what became of your money after you were answered",
     "Newest first, unread ones marked *: a top-up or withdrawal the bank settled later, a "
     "delayed transfer that arrived or failed, a transfer sent back to you, a merchant's "
     "refund, a red packet's unclaimed rest back, a merchant's transfer waiting for you to "
     "accept it or closed before you did. WITH is the other side (the card, the other user, "
     "the merchant). ABOUT is the payment (`qianbao payment show ID` for a top-up, a withdrawal "
     "or a transfer; `qianbao accept-payout ID` takes a merchant's transfer; a refund is in "
     "`qianbao bills`) or the red packet. With "
     "--mark-read the page's notices and every older one become read; one that came after "
     "the page stays unread.",
     {S_LIMIT, S_CURSOR, {"mark-read", NULL, false, NULL, "mark the notices shown read"}},
     cli_run_notices},
    {"watch",
     "",
     0,
     0,
     "wait for news of your wallet: money in or out, notices, payments to confirm",
     "Prints a line for each payment in or out as soon as the server has it (GET "
     "/v1/me/changes), its amount and the other party, and a line for each other kind of news "
     "saying where to look, and waits for more until interrupted; with --once it exits after "
     "the first news. Each request waits up to --wait seconds (default 25) and is asked again "
     "when nothing came. --since is a cursor a --json answer gave: news since then is shown at "
     "once; without it, news from now on. With --json each answer with news is printed as the "
     "server sent it: {cursor, changed}.",
     {{"once", NULL, false, NULL, "exit after the first news"},
      {"wait", "SECONDS", false, NULL, "how long one request waits, 1..25 (default 25)"},
      {"since", "CURSOR", false, NULL, "show what came since this cursor first"}},
     cli_run_watch},
    {"statement",
     "YYYY-MM|YYYY",
     1,
     1,
     "show a month's or a year's income, expense and top counterparties",
     "The month runs from its first midnight to the next month's, Beijing time; a year (YYYY, "
     "the annual bill) from January 1 to the next. Sums count only money that moved; "
     "withdrawals and delayed transfers still on their way are counted apart.",
     {{0}},
     cli_run_statement},
    {"collect",
     "AMOUNT COUNT",
     2,
     2,
     "ask COUNT friends for AMOUNT each (群收款, AA)",
     "Creates a group collection: share its id in your chat (or show its QR code at the table, "
     "`qianbao collection code ID`), and each friend pays their share once with `qianbao "
     "collection pay ID`, a transfer to you with the title as its memo. "
     "The COUNT-th payment completes it; `qianbao collection close ID` ends it sooner; after "
     "30 days it takes no more. Nothing moves until a friend pays. COUNT is 1 to 100."
     "\n\nAMOUNT is in yuan with at most two decimals (12.50).",
     {{"title", "TEXT", true, NULL,
       "what it is for (周五火锅 AA), up to 64 bytes: each payment's memo"},
      {"idempotency-key", "KEY", false, NULL,
       "send this Idempotency-Key instead of a random one: running the command again with the "
       "same KEY answers the first collection instead of making a second"}},
     cli_run_collect},
    {"collections",
     "",
     0,
     0,
     "list the collections you asked for, newest first",
     "Each with its status (OPEN, COMPLETED, CLOSED, EXPIRED) and how many of those asked paid.",
     {S_LIMIT, S_CURSOR},
     cli_run_collections},
    {"collection", "", 0, 0, "a group collection: show, code, pay, close", NULL, {{0}}, NULL},
    {"collection show",
     "ID",
     1,
     1,
     "show a collection: what each pays and who paid",
     "Anyone with the id may read it; names are masked.",
     {{0}},
     cli_run_collection_show},
    {"collection code",
     "ID",
     1,
     1,
     "show a collection's QR code for friends to scan",
     "Draws the collection's code in the terminal: friends at the table scan it with their "
     "Qianbao app, or pay it with `qianbao scan` or `qianbao pay PAYLOAD`, each their share. "
     "Anyone with the id may show it. A collection completed, closed or expired has none "
     "(COLLECTION_CLOSED). When standard output is not a terminal only the payload "
     "(qianbao://pay?...) is printed; --json prints the server's answer, with the code as SVG.",
     {{"png", "FILE", false, NULL,
       "save the code as a PNG image in FILE (to print or send) instead of showing it"}},
     cli_run_collection_code},
    {"collection pay",
     "ID",
     1,
     1,
     "pay your share of a collection",
     "A transfer of the collection's amount to whoever asked, arriving at once, checked as "
     "`qianbao send` is (payment password, limits, balance). Each friend pays once; paying "
     "again is refused (COLLECTION_PAID), as is a collection completed, closed or expired "
     "(COLLECTION_CLOSED).\n\n" S_KEY_NOTE,
     {S_PAYMENT_PASSWORD_STDIN, S_IDEMPOTENCY_KEY},
     cli_run_collection_pay},
    {"collection close",
     "ID",
     1,
     1,
     "end a collection you asked for: no more payments",
     "What was paid stays paid. Closing one that is completed, closed or expired changes "
     "nothing.",
     {{0}},
     cli_run_collection_close},
    {"redpacket", "", 0, 0, "red packets: send, grab, show, verify", NULL, {{0}}, NULL},
    {"redpacket send",
     "AMOUNT COUNT",
     2,
     2,
     "send a red packet of COUNT shares",
     "A lucky packet (the default) splits AMOUNT at random as friends grab it; with --equal "
     "every share is AMOUNT and the packet holds AMOUNT times COUNT. COUNT is 1 to 100, every "
     "share at least 0.01. The money leaves your balance at once; what nobody grabs comes back "
     "when the packet expires (24 hours after sending unless the operator set another time; "
     "the send prints when). Share the packet's id: `qianbao redpacket grab ID`. A lucky packet "
     "shows its commitment: keep it, and check the split with `qianbao redpacket verify ID` "
     "once the packet is finished." S_MONEY_NOTE,
     {{"equal", NULL, false, NULL, "every share is AMOUNT (普通红包) instead of a lucky split"},
      {"greeting", "TEXT", false, NULL,
       "the greeting, up to 100 bytes (default 恭喜发财，大吉大利)"},
      S_PAYMENT_PASSWORD_STDIN,
      S_IDEMPOTENCY_KEY},
     cli_run_redpacket_send},
    {"redpacket grab",
     "ID",
     1,
     1,
     "grab a share of a red packet",
     "Each user grabs a packet at most once; running it again shows the share you got. The "
     "sender may grab their own packet too.",
     {{0}},
     cli_run_redpacket_grab},
    {"redpacket show",
     "ID",
     1,
     1,
     "show a red packet: what is left and who grabbed what",
     "The claims in the order they were made, numbered from 1 as `grab` numbers your share, "
     "names masked, the luckiest marked once the packet is finished.",
     {{0}},
     cli_run_redpacket_show},
    {"redpacket verify",
     "[ID]",
     0,
     1,
     "check a lucky packet's split against its commitment",
     "Fetches the packet (or reads a saved answer of GET /v1/red-packets/ID with --file), "
     "checks that SHA-256 of the revealed seed is the commitment published when the packet "
     "was sent, recomputes every share from the seed and the claim order here, on your "
     "machine, then checks that what the claims left is what the packet says remains or was "
     "refunded, as its status allows (docs/redpacket.md). Exit status 0 when all of it holds, "
     "5 when a share or a sum does not or the packet's numbers disagree (claims out of claim "
     "order), 1 when the seed is not revealed yet (the packet is still open), 2 when the "
     "--file is no red packet.",
     {{"file", "FILE", false, NULL, "check a saved answer instead of fetching ID"}},
     cli_run_redpacket_verify},
    {"merchant",
     "",
     0,
     0,
     "a merchant's commands: onboarding, orders, bills, payments, analytics",
     NULL,
     {{0}},
     NULL},
    {"merchant notifications",
     "MCHID",
     1,
     1,
     "list the notifications of a merchant you own",
     "Newest first: each notification sent to the merchant's notify_url, its status "
     "(PENDING, DELIVERED, FAILED), how many attempts were made and what the last one got. "
     "Failed attempts are retried 15 s, 15 s, 30 s, 3 m ... 6 h apart, 16 in all.",
     {S_LIMIT, S_CURSOR},
     cli_run_merchant_notifications},
    {"merchant notification-resend",
     "MCHID ID",
     2,
     2,
     "send a notification of a merchant you own again now",
     "Once the merchant's notify_url is mended: a PENDING notification is sent at once instead "
     "of at the retry ladder's next step; a FAILED one (16 attempts made) gets one attempt "
     "more, at most 16 more in all. A delivered one is not sent again. ID is the id that "
     "`qianbao merchant notifications` lists.",
     {{0}},
     cli_run_merchant_notification_resend},
    {"merchant create",
     "",
     0,
     0,
     "onboard a merchant and store its keys in a merchant profile",
     "Asks the server for a merchant owned by the logged-in user (the profile of --profile, "
     "default \"default\") and stores what an SDK is configured with — mchid, appid, the "
     "certificate serial, the private key, the API v3 key, the platform serial and public key "
     "— in a new merchant profile (mode 0600). The keys are shown by the server this once and "
     "printed nowhere. The merchant commands use the profile \"merchant\" unless --profile "
     "names another.",
     {{"name", "NAME", true, NULL, "the merchant's name, 1 to 128 bytes"},
      {"save-as", "PROFILE", false, NULL,
       "the merchant profile to write (default \"merchant\"); it must not exist"},
      {"apps", "N", false, NULL,
       "how many apps (appids) the merchant starts with, 1 to 5 (default 1); the profile keeps "
       "the first"}},
     cli_run_merchant_create},
    {"merchant order", "", 0, 0, "create orders in the WeChat Pay v3 dialect", NULL, {{0}}, NULL},
    {"merchant order native", "AMOUNT", 1, 1, "create a QR-code order and show its code_url",
     S_ORDER_HELP " On a terminal the code_url is drawn as a QR code for the customer to scan.",
     S_ORDER_OPTIONS, cli_run_merchant_order_native},
    {"merchant order jsapi",
     "AMOUNT",
     1,
     1,
     "create an in-app order for one payer (prepay_id)",
     S_ORDER_HELP " The payer is the user whose openid in this merchant's app is --openid "
                  "(the user reads it at GET /v1/me/openids/APPID).",
     {S_ORDER_OPTION_LIST, {"openid", "OPENID", true, NULL, "the payer's openid in this app"}},
     cli_run_merchant_order_jsapi},
    {"merchant order h5",
     "AMOUNT",
     1,
     1,
     "create a mobile-web order and show its h5_url",
     S_ORDER_HELP " On a terminal the h5_url is drawn as a QR code too, to open it on a phone. "
                  "The payer's IP address and the page's kind are the scene WeChat requires of an "
                  "H5 order.",
     {S_ORDER_OPTION_LIST,
      {"payer-ip", "IP", true, NULL, "the payer's IPv4 or IPv6 address, as the web page saw it"},
      {"h5-type", "TYPE", false, NULL, "the page's kind: iOS, Android or Wap (default Wap)"}},
     cli_run_merchant_order_h5},
    {"merchant bill",
     "YYYY-MM-DD",
     1,
     1,
     "download and check a day's trade or fund-flow bill",
     "Asks for the bill of one Asia/Shanghai day (GET /v3/bill/tradebill), downloads it from "
     "the link answered and checks the file's SHA-1 against the one answered before writing "
     "it. The bill is WeChat's CSV: every field prefixed with a backtick, amounts in yuan. A "
     "day is served once it has ended, for three months; a day without trades has no bill "
     "(NO_STATEMENT_EXIST).\n\n"
     "--type FUNDFLOW asks for the fund-flow bill instead (GET /v3/bill/fundflowbill, the "
     "BASIC account): every movement of the merchant's balance that day, payments, fees, "
     "refunds and withdrawals, with the balance after each; it is downloaded and checked the "
     "same way. A day the balance did not move has no fund-flow bill.",
     {{"type", "TYPE", false, "ALL SUCCESS REFUND FUNDFLOW",
       "ALL (default), SUCCESS (payments) or REFUND (refunds) of the trade bill, or FUNDFLOW "
       "(the fund-flow bill)"},
      {"output", "FILE", false, NULL, "write the bill to FILE instead of standard output"}},
     cli_run_merchant_bill},
    {"merchant balance",
     "",
     0,
     0,
     "show the merchant's balance, now or at a day's end",
     "The settlement account as WeChat's balance query answers it (GET "
     "/v3/merchant/fund/balance/BASIC): what the merchant may withdraw (available) and what "
     "withdrawals still at the bank and transfers to users not taken yet hold (pending); the "
     "two make the balance. With --date, the "
     "same at 24:00 (UTC+8) of that day (GET /v3/merchant/fund/dayendbalance/BASIC), the "
     "balance the day's fund-flow bill ends with: a day that has ended, within three months.",
     {{"date", "YYYY-MM-DD", false, NULL, "the day whose end to show, instead of now"}},
     cli_run_merchant_balance},
    {"merchant till-code",
     "[AMOUNT]",
     0,
     1,
     "show your merchant's till code (收款码) for customers to scan",
     "The owner's view (the user profile): the merchant's static code, to print and stand by "
     "the till. A customer scans it with `qianbao scan` or a Qianbao app and pays the merchant; "
     "each payment is an order of its own (trade type NATIVE, notify_url none). With AMOUNT "
     "(yuan) the code is for exactly that amount; without, the customer types it. Piped, only "
     "the payload is printed; --png FILE saves the code as a PNG picture.",
     {{"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"},
      {"png", "FILE", false, NULL,
       "save the code as a PNG image in FILE (to print) instead of showing it"}},
     cli_run_merchant_till_code},
    {"merchant analytics",
     "",
     0,
     0,
     "show a merchant's sales by day and hour",
     "The owner's view (the user profile, not the merchant's): orders made and paid, sales, the "
     "average ticket, payers and repeat payers, and the days and hours that sold, over at most "
     "92 Asia/Shanghai days.",
     {{"from", "YYYY-MM-DD", true, NULL, "the first day"},
      {"to", "YYYY-MM-DD", true, NULL, "the last day"},
      {"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"}},
     cli_run_merchant_analytics},
    {"merchant payments",
     "",
     0,
     0,
     "list the payments your merchant took (收款记录)",
     "The owner's view (the user profile): newest first, each with its order number, amount, "
     "fee, what was refunded of it, its state and the payer's masked name.",
     {{"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"},
      S_LIMIT,
      S_CURSOR},
     cli_run_merchant_payments},
    {"merchant show",
     "",
     0,
     0,
     "show your merchant: status, balance, apps, certificate",
     "The owner's view (the user profile; GET /v1/merchants/me): whether it takes money, its "
     "fee rate, what of its balance may be withdrawn (available) and what withdrawals at the "
     "bank and transfers to users not taken yet hold (pending), its apps, and the serial of the "
     "certificate its /v3 requests name.",
     {{"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"}},
     cli_run_merchant_show},
    {"merchant withdraw",
     "CARD_ID AMOUNT|all",
     2,
     2,
     "pay your merchant's takings out to your bound card",
     "The owner's view (the user profile): pays AMOUNT of the merchant's balance to your card "
     "CARD_ID (POST /v1/merchants/me/withdrawals), as `qianbao withdraw` does from your own "
     "balance: the same fee, also taken from the merchant's balance, shown before your payment "
     "password is asked; `all` pays the most the merchant's balance covers with its fee. Your "
     "own balance is not touched; your own limits apply." S_MONEY_NOTE,
     {{"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"},
      S_PAYMENT_PASSWORD_STDIN,
      {"wait", NULL, false, NULL,
       "wait (up to 120 s) until the bank has answered: SUCCESS or FAILED"},
      S_IDEMPOTENCY_KEY},
     cli_run_merchant_withdraw},
    {"merchant refund",
     "ORDER AMOUNT",
     2,
     2,
     "give a customer's money back from your merchant (退款)",
     "The owner's view (the user profile), for a shop with no server of its own: refunds AMOUNT "
     "(yuan) of the paid order ORDER (its number in `qianbao merchant payments`) to its payer "
     "at once (POST /v1/merchants/me/refunds). The merchant's balance pays it less the fee's "
     "share, which comes back; refunds of an order add up to at most what was paid. Asks for "
     "your payment password. " S_KEY_NOTE,
     {{"reason", "TEXT", false, NULL,
       "why the money goes back, 1 to 80 bytes (on the payer's bill)"},
      {"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"},
      S_IDEMPOTENCY_KEY,
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_merchant_refund},
    {"merchant watch",
     "",
     0,
     0,
     "announce each payment to your merchant as it lands (收款到账)",
     "The owner's view (the user profile), for the phone by the till: a line for each payment as "
     "soon as it is durable (GET /v1/merchants/me/changes), its amount, payer and order, and a "
     "line when only the balance moved (a refund, a withdrawal); it waits for more until "
     "interrupted, with --once it exits after the first news. Each request waits up to --wait "
     "seconds (default 25). --since is a cursor a --json answer gave: what came since then is "
     "shown at once; without it, from now on. With --json each answer with news is printed as "
     "the server sent it: {cursor, changed, payments}.",
     {{"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"},
      {"once", NULL, false, NULL, "exit after the first news"},
      {"wait", "SECONDS", false, NULL, "how long one request waits, 1..25 (default 25)"},
      {"since", "CURSOR", false, NULL, "show what came since this cursor first"}},
     cli_run_merchant_watch},
    {"merchant close",
     "",
     0,
     0,
     "close your merchant for good (商户注销)",
     "The owner's view (the user profile): the merchant takes no payment again, and nothing "
     "opens it again. Only an empty one closes: withdraw its balance first (`qianbao merchant "
     "withdraw CARD_ID all`; `qianbao merchant show` shows it) and wait for the bank to settle. "
     "Its queries and bills still answer. "
     "What is then left, if too little for any withdrawal, goes to your wallet. Asks for your "
     "payment password. Once it is closed, your own wallet may close too (`qianbao "
     "close-account`).",
     {{"mchid", "MCHID", false, NULL, "which of your merchants, when you own several"},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_merchant_close},
    {"merchant apiv3-key-reset",
     "",
     0,
     0,
     "give a merchant a new API v3 key (重置APIv3密钥)",
     "The owner's view (the user profile), when the key leaked: it decrypts the merchant's "
     "notifications and certificates, and from the moment of the reset the old one decrypts "
     "nothing new. The new key goes into the merchant profile named (its mchid says which "
     "merchant) and is printed nowhere. Asks for your payment password.",
     {{"merchant-profile", "NAME", true, NULL, "the merchant's profile, written with the new key"},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_merchant_apiv3_key_reset},
    {"merchant certificate-replace",
     "",
     0,
     0,
     "give a merchant a new API key pair and certificate (商户API证书)",
     "The owner's view (the user profile). The private key signs the merchant's requests, "
     "refunds among them. When it leaked, the old one signs nothing from the moment of the "
     "replacement; for a planned one (the certificate expires, or keys are rotated as a rule) "
     "--keep-old HOURS lets it still sign for that long, while every server of the merchant's "
     "takes the new one. The new private key and serial go into the merchant profile named "
     "(its mchid says which merchant) and are printed nowhere but the serial. Asks for your "
     "payment password.",
     {{"merchant-profile", "NAME", true, NULL, "the merchant's profile, written with the new key"},
      {"keep-old", "HOURS", false, NULL,
       "a planned replacement: the old key still signs for HOURS (1 to 168); never after a leak"},
      S_PAYMENT_PASSWORD_STDIN},
     cli_run_merchant_certificate_replace},
    {"order", "", 0, 0, "look at, close or reverse a merchant's order", NULL, {{0}}, NULL},
    {"order show",
     "OUT_TRADE_NO",
     1,
     1,
     "show an order of the merchant profile",
     "The order as WeChat's query answers it: its state, amount, payer openid and times.",
     {{0}},
     cli_run_order_show},
    {"order close",
     "OUT_TRADE_NO",
     1,
     1,
     "close an unpaid order",
     "Closing a closed or expired order succeeds again; a paid one is refused (ORDERPAID). A "
     "payment-code order is not closed: reverse it.",
     {{0}},
     cli_run_order_close},
    {"order reverse",
     "OUT_TRADE_NO",
     1,
     1,
     "reverse a payment-code sale: its money back to the payer",
     "For a till that lost the answer to a codepay, or a sale the customer called off: a paid "
     "order's money goes back to the payer and the order is REVOKED; one waiting for the payer's "
     "password can no longer be paid. A number no order has yet is closed to a codepay that "
     "arrives later (refused ORDER_NOT_EXIST all the same, exit 1). Reversing again succeeds "
     "again.",
     {{0}},
     cli_run_order_reverse},
    {"refund",
     "OUT_TRADE_NO AMOUNT",
     2,
     2,
     "refund part or all of a paid order",
     "Refunds AMOUNT (in yuan, at most two decimals) of the merchant profile's paid order "
     "OUT_TRADE_NO to its payer's balance, signed as a WeChat Pay v3 merchant signs it (POST "
     "/v3/refund/domestic/refunds; the order's total is read from the order first). The "
     "out_refund_no is the refund's idempotency key: running the command again with the same "
     "number and amount answers the same refund and moves nothing more. Refunds of an order "
     "add up to at most its total; the merchant's balance pays them, less the share of the fee "
     "that comes back. Look at a refund later with `qianbao refund show OUT_REFUND_NO`.",
     {{"out-refund-no", "N", true, NULL,
       "the merchant's refund number, 1 to 64 of 0-9 A-Z a-z _ - | * @"},
      {"reason", "TEXT", false, NULL, "why the money goes back, 1 to 80 bytes"},
      {"notify-url", "URL", false, NULL,
       "where the refund notification goes (default: the order's notify_url)"}},
     cli_run_refund},
    {"refund show",
     "OUT_REFUND_NO",
     1,
     1,
     "show a refund of the merchant profile",
     "The refund as WeChat's query answers it: its order, status, amount and the share of the "
     "fee returned.",
     {{0}},
     cli_run_refund_show},
    {"transfer-bill",
     "OPENID AMOUNT",
     2,
     2,
     "pay a user from the merchant's balance, once they take it (商家转账)",
     "Sends AMOUNT (in yuan: 0.10 up to 200000; from 2000, --user-name) of the merchant "
     "profile's balance to the user OPENID (their openid in the profile's app), signed as a "
     "WeChat Pay v3 merchant signs it (POST /v3/fund-app/mch-transfer/transfer-bills). The "
     "money is held until the user takes "
     "it (`qianbao accept-payout` with the package_info printed), for 24 hours; "
     "`qianbao transfer-bill cancel` gives it back before. The out_bill_no is the transfer's "
     "idempotency key: the same number and body answer the same bill again.",
     {{"out-bill-no", "N", true, NULL, "the merchant's number, 5 to 32 of 0-9 A-Z a-z"},
      {"remark", "TEXT", true, NULL, "what the user is shown, 1 to 32 characters"},
      {"scene", "ID", false, NULL, "the transfer scene, digits (default 1000, 现金营销)"},
      {"perception", "TEXT", false, NULL, "what the user is told the money is (现金奖励...)"},
      {"user-name", "NAME", false, NULL,
       "the payee's verified real name, sealed for the platform; required from 2000"},
      {"notify-url", "URL", false, NULL, "where MCHTRANSFER.BILL.FINISHED goes when it ends"}},
     cli_run_transfer_bill},
    {"transfer-bill show",
     "OUT_BILL_NO",
     1,
     1,
     "show a transfer bill of the merchant profile",
     "The bill as WeChat's query answers it: WAIT_USER_CONFIRM, SUCCESS (taken), CANCELLED or "
     "FAIL (OVERDUE_CLOSE: not taken in 24 hours).",
     {{0}},
     cli_run_transfer_bill_show},
    {"transfer-bill cancel",
     "OUT_BILL_NO",
     1,
     1,
     "cancel a transfer bill its user has not taken",
     "The held amount goes back to the merchant's available balance at once. Cancelling again "
     "answers CANCELLED again; a bill the user took cannot be cancelled.",
     {{0}},
     cli_run_transfer_bill_cancel},
    {"admin", "", 0, 0, "operator commands (need `qianbao login --admin`)", NULL, {{0}}, NULL},
    {"admin users",
     "",
     0,
     0,
     "list users, newest first",
     "Each user with KYC level, status and CNY balance.",
     {{"phone", "PREFIX", false, NULL, "only phones starting with PREFIX"}, S_LIMIT, S_CURSOR},
     cli_run_admin_users},
    {"admin freeze",
     "ID",
     1,
     1,
     "freeze a user",
     "Stops all money leaving the user's wallet and ends every session of the user. Only an "
     "operator can lift it. ID is the user's id (u_...) or mobile number.",
     {{"reason", "TEXT", false, NULL, "why, for the audit line: a ticket number, what was said"}},
     cli_run_admin_freeze},
    {"admin unfreeze",
     "ID",
     1,
     1,
     "lift any freeze of a user",
     "ID is the user's id (u_...) or mobile number.",
     {{"reason", "TEXT", false, NULL, "why, for the audit line: a ticket number, what was said"}},
     cli_run_admin_unfreeze},
    {"admin user-unlock",
     "ID",
     1,
     1,
     "lift the login lock wrong passwords took",
     "For a user who cannot lift it with an SMS code, having lost the phone, once support has "
     "verified who they are. The count of wrong passwords starts over; a lock on one of the "
     "user's trusted devices stays (it may be the lost phone). `qianbao admin user ID` shows "
     "whether logging in is locked. ID is the user's id (u_...) or mobile number.",
     {{"reason", "TEXT", true, NULL,
       "why, for the audit line: a ticket number, how the caller was verified"}},
     cli_run_admin_user_unlock},
    {"admin user-close",
     "ID",
     1,
     1,
     "close an empty wallet for its owner (注销)",
     "For an owner who cannot close it themselves, having lost the phone and its number, once "
     "support has verified who they are. Only an empty wallet closes (the refusal says what "
     "ties it to money); a frozen one does too. For good: sessions end, cards unbind, the phone "
     "is freed. ID is the user's id (u_...) or mobile number.",
     {{"reason", "TEXT", true, NULL,
       "why, for the audit line: a ticket number, how the owner was verified"}},
     cli_run_admin_user_close},
    {"admin kyc-level",
     "ID LEVEL",
     2,
     2,
     "set a user's KYC level (1 to 3)",
     "ID is the user's id (u_...) or mobile number.",
     {{"reason", "TEXT", false, NULL,
       "why, for the audit line: a ticket number, what was checked"}},
     cli_run_admin_kyc_level},
    {"admin sms-outbox",
     "",
     0,
     0,
     "read the development SMS outbox",
     "The SMS messages, newest first, and what became of each (delivered, retrying, "
     "given_up, expired: its code expired before it could be sent). Their codes, and their "
     "text as the phone reads it, are shown only when the daemon runs without an SMS "
     "provider.",
     {{"phone", "PHONE", false, NULL, "only messages to PHONE"}, S_LIMIT, S_CURSOR},
     cli_run_admin_sms_outbox},
    {"admin user",
     "ID",
     1,
     1,
     "show one user: status, balances, whether logging in is locked",
     "For an operator with a user's id (a payment's or a log line's) or mobile number: "
     "KYC level, who froze the wallet, until when wrong passwords lock logging in, the "
     "payment password, the verified id number's last four characters and the balances.",
     {{0}},
     cli_run_admin_user},
    {"admin bills",
     "ID",
     1,
     1,
     "list a user's bills as the user sees them",
     "The user's `qianbao bills`, line for line, with the same filters, pages and CSV."
     " ID is the user's id (u_...) or mobile number.",
     {S_BILL_OPTION_LIST},
     cli_run_admin_bills},
    {"admin security-events",
     "ID",
     1,
     1,
     "list what happened to a user's account",
     "The user's history as `qianbao security events` shows it to the user, newest first, for "
     "answering \"was that me?\" on the phone. ID is the user's id (u_...) or mobile number.",
     {S_LIMIT, S_CURSOR},
     cli_run_admin_security_events},
    {"admin notices",
     "ID",
     1,
     1,
     "list what a user was told about their money",
     "The user's notices as `qianbao notices` shows them to the user (read or not), newest "
     "first, for answering \"what was I told?\". ID is the user's id (u_...) or mobile "
     "number.",
     {S_LIMIT, S_CURSOR},
     cli_run_admin_notices},
    {"admin merchants",
     "",
     0,
     0,
     "list merchants, newest first",
     "Each merchant with its status (ACTIVE or SUSPENDED), owner, fee rate and number of apps; "
     "never a key. `qianbao admin merchant MCHID` shows one with its balance.",
     {{"owner", "ID", false, NULL, "only the merchants of this user (u_... or mobile number)"},
      S_LIMIT,
      S_CURSOR,
      {"all", NULL, false, NULL, "follow every page to the end"}},
     cli_run_admin_merchants},
    {"admin merchant",
     "MCHID",
     1,
     1,
     "show one merchant: status, owner, apps, balance",
     "The merchant's settlement account (available, and pending: held by withdrawals in "
     "flight) and, while it is suspended, since when and the operator's reason.",
     {{0}},
     cli_run_admin_merchant},
    {"admin merchant-suspend",
     "MCHID",
     1,
     1,
     "stop a merchant taking money",
     "Its orders, payment-code sales and users' payments of its orders are refused until "
     "`qianbao admin merchant-resume`; its queries, refunds and bills go on, so that it can "
     "give money back, and its owner's withdrawals of its balance are refused, so that the "
     "money stays for those refunds. Suspending a suspended merchant changes nothing.",
     {{"reason", "TEXT", false, NULL,
       "why, for the audit line and the merchant's record: a ticket number, what was reported"}},
     cli_run_admin_merchant_suspend},
    {"admin merchant-resume",
     "MCHID",
     1,
     1,
     "let a suspended merchant take money again",
     "Clears the suspension's time and reason. Resuming an active merchant changes nothing.",
     {{"reason", "TEXT", false, NULL, "why, for the audit line: a ticket number, what was said"}},
     cli_run_admin_merchant_resume},
    {"admin merchant-apiv3-key",
     "MCHID",
     1,
     1,
     "give a merchant a new API v3 key, the old one having leaked",
     "For a merchant onboarded without an owner: prints the new key this once, to hand to the "
     "merchant; the old one decrypts nothing from now on. A merchant with an owner is refused "
     "(CONFLICT): its owner does it with `qianbao merchant apiv3-key-reset`.",
     {{"reason", "TEXT", true, NULL,
       "why, for the audit trail: a ticket number, how the merchant was verified"}},
     cli_run_admin_merchant_apiv3_key},
    {"admin merchant-certificate",
     "MCHID",
     1,
     1,
     "give a merchant a new API certificate and private key, the old key having leaked",
     "For a merchant onboarded without an owner: prints the serial, the certificate and the "
     "new private key this once, to hand to the merchant; the old key signs nothing from now "
     "on. A merchant with an owner is refused (CONFLICT): its owner does it with `qianbao "
     "merchant certificate-replace`.",
     {{"reason", "TEXT", true, NULL,
       "why, for the audit trail: a ticket number, how the merchant was verified"}},
     cli_run_admin_merchant_certificate},
    {"admin merchant-payouts",
     "MCHID",
     1,
     1,
     "list a merchant's transfers to users, newest first",
     "Each transfer bill with its user, for a report that the merchant's key was stolen to pay "
     "mules: suspend the merchant (`qianbao admin merchant-suspend`), then stop each one still "
     "waiting (`qianbao admin payout-cancel ID`) and look at the users who took the others.",
     {{"waiting", NULL, false, NULL, "only the ones still waiting for their users"},
      S_LIMIT,
      S_CURSOR},
     cli_run_admin_merchant_payouts},
    {"admin operators",
     "",
     0,
     0,
     "list the named operators and whether each is revoked",
     "Each operator's own admin token opens the admin API as `admin:NAME`, the name every "
     "audit line of theirs carries (`by=`). Managing operators needs the root token, the data "
     "directory's admin-token.",
     {S_LIMIT, S_CURSOR},
     cli_run_admin_operators},
    {"admin audit",
     "",
     0,
     0,
     "list what operators did, newest first",
     "The audit trail kept in the database: each operator's change (a freeze, a closing, a "
     "stopped transfer, a merchant suspended, an operator added) with who made it (`admin` for "
     "the root token, `admin:NAME` for a named operator), its target, the reason given, how it "
     "ended and whether it changed anything, and the request's id, which the log's lines carry "
     "as `req=`. A refusal (a wallet frozen already) is listed, changing nothing; a request "
     "refused before it ran is not. The log's audit lines rotate away; these rows stay.",
     {{"by", "NAME", false, NULL,
       "only this operator's: NAME, admin:NAME, admin (the root), or qianbaod (its repairs)"},
      {"action", "ACTION", false, NULL,
       "only this action: user_freeze, user_close, transfer_stop, merchant_suspend, ..."},
      {"target", "ID", false, NULL,
       "only actions on this user id, mchid, payment id or operator's name"},
      {"from", "TIME", false, NULL, "from this time: RFC 3339, or YYYY-MM-DD (UTC+8)"},
      {"to", "TIME", false, NULL, "before this time; a date means the end of that day"},
      S_LIMIT,
      S_CURSOR},
     cli_run_admin_audit},
    {"admin operator-add",
     "NAME",
     1,
     1,
     "give an operator an admin token of their own",
     "NAME is 1 to 32 of a-z, 0-9, '.', '_' and '-', starting with a letter, never used "
     "before. The token is printed this once and never stored in clear: hand it to the "
     "operator, who logs in with `qianbao login --admin-token-file FILE`.",
     {{0}},
     cli_run_admin_operator_add},
    {"admin operator-token",
     "NAME",
     1,
     1,
     "give an operator a new admin token, ending the old one",
     "For a token that was lost, or is due for rotation: the old token opens nothing from the "
     "next request on, and the name, which the audit trail carries, stays. The new token is "
     "printed this once. A revoked operator stays revoked.",
     {{0}},
     cli_run_admin_operator_token},
    {"admin operator-revoke",
     "NAME",
     1,
     1,
     "end an operator's admin token",
     "From the next request on, the token opens nothing. The name stays taken, so that the "
     "audit trail keeps meaning one person. Revoking again changes nothing.",
     {{0}},
     cli_run_admin_operator_revoke},
    {"admin payments",
     "",
     0,
     0,
     "list the top-ups and withdrawals waiting on the bank, or made on a day, oldest first",
     "Each with its user, card, the reference the bank knows it by and when Qianbao asks the "
     "bank again. With --date, every top-up and withdrawal made that day (UTC+8) whatever its "
     "status, with its fee: what Qianbao asked of the bank, to reconcile with the bank's "
     "statement. `qianbao admin payment ID` shows one payment of any kind.",
     {{"date", "YYYY-MM-DD", false, NULL,
       "the top-ups and withdrawals made that day (UTC+8), every status; also today or "
       "yesterday"},
      S_LIMIT,
      S_CURSOR},
     cli_run_admin_payments},
    {"admin reconcile",
     "STATEMENT",
     1,
     1,
     "match a day's top-ups and withdrawals with the bank's statement",
     "Reads the bank's statement of the day (STATEMENT is a file, or - for standard input), a "
     "CSV file with a header row naming at least "
     "bank_ref, type (debit: the card was debited, a top-up; credit: it was credited, a "
     "withdrawal; return: a credit the bank took back, 退票) and amount (yuan, 12.50), and "
     "matches each line by its reference with the "
     "top-ups and withdrawals Qianbao made that day. Prints how many matched and every "
     "difference: a line of no payment of the day, a payment the bank booked that Qianbao has "
     "as FAILED, another type or amount, a reference booked twice, a SUCCESS payment the "
     "statement has not, a return of a withdrawal Qianbao still has as SUCCESS (`qianbao admin "
     "payment-query ID` settles it). A line of no payment of the day is looked for among the "
     "payments "
     "of the days before (a withdrawal the bank credited a day or more after it was made) "
     "and, when it matches one, listed as booked for an earlier day, not counted as a "
     "difference. Payments still waiting on the bank are listed, not counted. Exit "
     "status 0 when nothing differs, 5 when something does.",
     {{"date", "YYYY-MM-DD", false, NULL,
       "the day of the statement (UTC+8): YYYY-MM-DD, today or yesterday (the default)"},
      {"days-back", "N", false, NULL,
       "how many days before it to read whole for the payments of lines of no payment of the "
       "day, 0 to 31 (default 3); a line still left is looked up by its reference"}},
     cli_run_admin_reconcile},
    {"admin payment",
     "ID",
     1,
     1,
     "show any payment by its id",
     "A top-up, withdrawal, transfer or order payment (p_..., from a user's bill or a support "
     "ticket): who made it, its status, the bank's reference and the next check.",
     {{0}},
     cli_run_admin_payment},
    {"admin payment-query",
     "ID",
     1,
     1,
     "ask the bank now what became of a top-up or withdrawal",
     "The bank is asked about the payment (p_...) as the wallet's worker asks, and its answer "
     "applied as the worker's would be: one still PROCESSING settles; a SUCCESS withdrawal the "
     "bank paid and then took back (退票: the card's account closed or frozen), as the day's "
     "statement shows a return, becomes RETURNED, its amount and fee back in the balance it "
     "left, once. Prints what the bank said, whether it changed the payment, and the payment. "
     "The money moves on the bank's word alone.",
     {{"reason", "TEXT", false, NULL, "why, for the audit line: the statement line, a ticket"}},
     cli_run_admin_payment_query},
    {"admin transfer-cancel",
     "ID",
     1,
     1,
     "stop a delayed transfer before it arrives, on a report of fraud",
     "For a payer talked into paying a fraudster, or a stop the police asked for: a transfer "
     "sent to arrive later (p_..., PROCESSING) goes back to its payer at once, FAILED with "
     "TRANSFER_STOPPED, and its payee is never told of it. One that arrived is refused "
     "(TRANSFER_ARRIVED): its payee alone can send it back.",
     {{"reason", "TEXT", true, NULL,
       "why, for the audit line: a ticket number, who reported the fraud"}},
     cli_run_admin_transfer_cancel},
    {"admin payout-cancel",
     "ID",
     1,
     1,
     "stop a merchant's transfer to a user before it is taken, on a report of fraud",
     "For a merchant whose key was stolen to pay mules, or a user tricked into taking money to "
     "pass on: a transfer bill (p_..., WAIT_USER_CONFIRM) goes back to the merchant at once, "
     "FAIL with TRANSFER_RISK, and its user can no longer take it. One taken, cancelled or "
     "closed is refused (CONFLICT).",
     {{"reason", "TEXT", true, NULL,
       "why, for the audit line: a ticket number, who reported the fraud"}},
     cli_run_admin_payout_cancel},
    {"admin red-packet",
     "ID",
     1,
     1,
     "show a red packet with who sent it and who claimed each share",
     "What its sender sees (`qianbao redpacket show`), with the user ids of the sender and "
     "of each claimer, and, while unclaimed money waits in escrow, when it goes back to the "
     "sender. For \"I sent a red packet and nobody got it\".",
     {{0}},
     cli_run_admin_red_packet},
    {"admin collection",
     "ID",
     1,
     1,
     "show a group collection with who asked and who paid, by user id",
     "What its asker sees (`qianbao collection show`), with the user ids of the asker and of "
     "each payer and each payment's id (`qianbao admin payment ID`). For \"I paid my share "
     "and it says I did not\".",
     {{0}},
     cli_run_admin_collection},
    {"admin verify",
     "",
     0,
     0,
     "check the whole ledger: hash chain, balances, holds",
     "Asks the server to recompute the ledger from its first entry: the hash chain, every "
     "entry summing to zero, every balance and checkpoint, the open holds, and all balances "
     "summing to zero per currency. The check reads one snapshot beside the running daemon "
     "and this command waits for it, with a progress bar on a terminal. Exit status 0 when "
     "the ledger adds up, 5 when it does not (the first problem is printed). A check that "
     "passes prints the trial balance it proved: each currency's kinds of account with their "
     "balances and what is held, and each system account (the negative of "
     "system:bank_clearing is what the banks should hold), and the same at the day's close, "
     "the last midnight. If a check is "
     "running already, this one follows it instead of starting another. A check still running "
     "after --timeout ends the wait with exit status 3 (TIMEOUT); it goes on at the server, "
     "and `qianbao admin verify --status` reads it later.",
     {{"detach", NULL, false, NULL,
       "start the check and return at once; `qianbao admin verify --status` reads it later"},
      {"status", NULL, false, NULL, "show the last check's state without starting one"},
      {"timeout", "SECONDS", false, NULL,
       "wait at most this long for the check, 1 to 86400 (default 3600)"}},
     cli_run_admin_verify},
    {"demo",
     "",
     0,
     0,
     "fill a fresh development server with a small demo world",
     "Makes four users (张伟, 李娜, 王芳, 刘洋: registered, verified with made-up identity "
     "numbers, a payment password, sandbox card 9999000000000012 bound and topped up), "
     "transfers between them, a lucky red packet 张伟 sends and the others grab, and a "
     "merchant 张伟 owns with three paid orders, one closed and a partial refund. It uses the "
     "public API like any client, with the operator's token (`qianbao login "
     "--admin-token-file data/admin-token`) to read SMS codes from the development outbox: a "
     "server with an SMS provider is refused. Profiles demo-zhangwei, demo-lina, "
     "demo-wangfang, demo-liuyang and demo-merchant are written (replacing any of those "
     "names) for `qianbao --profile demo-zhangwei bills`. Phones are 170 and eight digits "
     "no user has yet, so running it again makes a second world. --json prints a summary.",
     {{0}},
     cli_run_demo},
    {"version",
     "",
     0,
     0,
     "show the versions of qianbao and of the server",
     "The server's version comes from its /healthz; an unreachable server is reported, not "
     "an error.",
     {{0}},
     cli_run_version},
    {"help", "[COMMAND]", 0, 3, "show help for qianbao or a command", NULL, {{0}}, cli_run_help},
    {"completion",
     "bash",
     1,
     1,
     "print the bash completion script",
     "Load it with `source <(qianbao completion bash)`, or install "
     "scripts/completion/qianbao.bash.",
     {{0}},
     cli_run_completion},
    {"man",
     "",
     0,
     0,
     "print the manual page (roff)",
     "View it with `qianbao man | man -l -`.",
     {{0}},
     cli_run_man},
};

const struct cli_command *cli_commands(size_t *count)
{
    *count = QB_ARRAY_COUNT(S_commands);
    return S_commands;
}

const struct cli_command *cli_command_find(const char *name)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_commands); i++) {
        if (strcmp(S_commands[i].name, name) == 0)
            return &S_commands[i];
    }
    return NULL;
}

const char *cli_arg(const struct cli *cli, const struct cli_args *args, const char *name)
{
    QB_ASSERT(cli->command != NULL);
    for (size_t i = 0; i < CLI_OPTIONS_MAX && cli->command->options[i].name != NULL; i++) {
        if (strcmp(cli->command->options[i].name, name) == 0)
            return args->values[i];
    }
    QB_UNREACHABLE(); /* a run function asked for an option its row does not have */
}
