/*
 * fuzz_jid.c: libFuzzer harness for canto_jid_parse, which sees every address
 * a peer sends. Any input must either parse into a JID whose fields are
 * consistent, or be refused with CANTO_INVALID and a zeroed result; it must
 * never crash, leak or read out of bounds. A parsed JID must also parse again
 * to itself (preparation is idempotent), or comparisons of stored and fresh
 * addresses would disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct canto_jid jid, again, bare;
    if (canto_jid_parse(&jid, (const char *)data, size) != CANTO_OK) {
        if (jid.mem || jid.domain || jid.full)
            abort();
        canto_jid_free(&jid);
        return 0;
    }
    if (!jid.domain || !jid.bare || !jid.full || strlen(jid.domain) > CANTO_JID_PART_MAX)
        abort();
    if (canto_jid_parse_str(&again, jid.full) != CANTO_OK || strcmp(again.full, jid.full) != 0)
        abort();
    canto_jid_bare_of(&bare, &jid);
    if (strcmp(bare.full, jid.bare) != 0)
        abort();
    canto_jid_free(&bare);
    canto_jid_free(&again);
    canto_jid_free(&jid);
    return 0;
}
