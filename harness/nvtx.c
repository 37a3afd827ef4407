/*
 * nvtx.c — see nvtx.h.
 */
#include "nvtx.h"

#ifndef SB_HAVE_NVTX

void nvtx_push(const char *name) { (void)name; }
void nvtx_push_timed(void) {}
void nvtx_pop(void) {}

#else

#include <nvtx3/nvToolsExt.h>

/* The domain and the registered "timed" string, made on first use (with no
 * tool attached NVTX returns NULL handles, which its calls accept). */
static nvtxDomainHandle_t domain(void)
{
    static nvtxDomainHandle_t d;
    static int made;
    if (!made) {
        d = nvtxDomainCreateA(NVTX_DOMAIN);
        made = 1;
    }
    return d;
}

static void push(nvtxEventAttributes_t *a)
{
    a->version = NVTX_VERSION;
    a->size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    nvtxDomainRangePushEx(domain(), a);
}

void nvtx_push(const char *name)
{
    nvtxEventAttributes_t a = { 0 };
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name;
    push(&a);
}

void nvtx_push_timed(void)
{
    static nvtxStringHandle_t timed;
    static int made;
    if (!made) {
        timed = nvtxDomainRegisterStringA(domain(), NVTX_TIMED);
        made = 1;
    }
    nvtxEventAttributes_t a = { 0 };
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = timed;
    push(&a);
}

void nvtx_pop(void)
{
    nvtxDomainRangePop(domain());
}

#endif
