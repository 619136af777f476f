/*
 * key.c - a (namespace, name) key checked and hashed once for an operation.
 *
 * brain__key_init validates the namespace (NULL means "default") and the
 * name with the rules of name.c and hashes them with the store's seed;
 * brain__key_not_found is the error every lookup gives.  No lookup, lock or
 * store access happens here.
 */
#include "internal.h"

int brain__key_init(brain *b, const char *ns, const char *name, struct brain__key *k, int name_optional)
{
    int rc;
    if (!ns) {
        k->ns = "default";
        k->nslen = 7;
    } else {
        k->ns = ns;
        if ((rc = brain__name_check(ns, BRAIN_NS_MAX, BRAIN_ENAMESPACE, "namespace", &k->nslen)))
            return rc;
    }
    k->name = name;
    k->namelen = 0;
    if (name || !name_optional) {
        if ((rc = brain__name_check(name, BRAIN_NAME_MAX, BRAIN_ENAME, "name", &k->namelen)))
            return rc;
        k->hash = brain__key_hash(b->h->hash_seed, k->ns, k->nslen, name, k->namelen);
    } else {
        k->hash = 0;
    }
    return 0;
}

int brain__key_not_found(brain *b, const struct brain__key *k, int corrupt)
{
    if (corrupt)
        return brain__fail(BRAIN_ECORRUPT,
                       "store '%s': the index is damaged near name '%s'; run `brain check`",
                       b->path, k->name);
    return brain__fail(BRAIN_ENOTFOUND, "name '%s' not found in namespace '%s' of store '%s'",
                   k->name, k->ns, b->path);
}
