/*
 * gateway_outbox.c — the development gateway: the outbox row is the delivery.
 *
 * Nothing leaves the machine. The message stays in sms_outbox with its
 * code and what it authorises sealed, and the operator reads the message
 * at GET /admin/sms-outbox (sms_outbox_list). The delivery worker still marks each row delivered,
 * so the outbox looks the same as with a real provider, except that the
 * code is kept (the worker knows this gateway by its name, "outbox").
 */
#include <stdlib.h>

#include "sms/sms.h"

static enum qb_error sms_gateway_outbox_send(struct sms_gateway *gateway, const char *phone,
                                             enum sms_purpose purpose, const char *code,
                                             const struct sms_detail *detail)
{
    QB_ASSERT(gateway != NULL && phone != NULL && code != NULL && detail != NULL);
    (void)purpose;
    return QB_OK;
}

static void sms_gateway_outbox_free(struct sms_gateway *gateway) { free(gateway); }

static const struct sms_gateway_ops sms_gateway_outbox_ops = {
    .name = "outbox",
    .send = sms_gateway_outbox_send,
    .free = sms_gateway_outbox_free,
};

struct sms_gateway *sms_gateway_outbox_new(void)
{
    struct sms_gateway *gateway = calloc(1, sizeof *gateway);
    if (gateway == NULL)
        return NULL;
    gateway->ops = &sms_gateway_outbox_ops;
    return gateway;
}
